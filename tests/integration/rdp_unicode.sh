#!/usr/bin/env bash
# Unicode keyboard events from a libfreerdp client (rdppixels --unicode)
# reach the desktop guest through vdi-server: "hello, World!" typed as
# unicode shows in the guest's Notes ("text" on its serial console). The
# server maps unicode to keys of a US layout; what it cannot map (é, €, an
# emoji's surrogate pair) is dropped without disturbing what follows.
source "$(dirname "$0")/lib.sh"
need_kvm
RDPPIXELS=build/tests/tools/rdppixels
[ -x build/bin/vdi-server ] || fail "build/bin/vdi-server is not built"
[ -x $RDPPIXELS ] || fail "$RDPPIXELS is not built"

start_desktop d --display 1024x768
port=$((27900 + $$ % 1000))
start_vdi_server $port --vnc-port 0 --rdp-port $port --data-dir "$WORK/data"

timeout -k 5 90 $RDPPIXELS --port $port --user alice --pass secret --size 1024x768 --gfx --no-avc \
	--ignore 894,720,130,48 --wait-stable 1 --unicode "hello, World!" --wait-stable 1 --key enter \
	--unicode "café €5 😀ok" --wait-stable 1 --stats >"$WORK/client.out" 2>&1 ||
	{ cat "$WORK/client.out" "$WORK/server.out"; fail "rdppixels failed"; }
# FreeRDP's client sends unicode events only to a server whose input
# capabilities say it takes them.
! grep -q "Unicode input not supported by server" "$WORK/client.out" ||
	fail "the server does not announce unicode input (INPUT_FLAG_UNICODE): the client sent none"
wait_for "$WORK/d.out" 'line "hello, World!"' 20 ||
	{ tail -5 "$WORK/d.out"; fail "the guest did not see 'hello, World!' typed as unicode"; }
wait_for "$WORK/d.out" 'text "caf[^"]*5[^"]*ok"' 20 ||
	{ tail -5 "$WORK/d.out"; fail "the guest did not see 'café €5 😀ok' typed as unicode"; }
echo "unicode 'café €5 😀ok' reached the guest as $(grep -o 'text "caf[^"]*ok"' "$WORK/d.out" | tail -1)" \
	"(characters without a US key are dropped)"

stop_vdi_server
ctl d poweroff >/dev/null
wait $VMM_PID
