#!/usr/bin/env bash
# The size xfreerdp asks for at connect becomes the VM's display size, and
# the client is resized to it with the desktop in its window; the TLS
# certificate generated on the first start is reused on the next.
source "$(dirname "$0")/lib.sh"
need_kvm
for tool in xfreerdp Xvfb import xdotool openssl; do
	command -v $tool >/dev/null || skip "$tool is not installed"
done
SERVER=$PWD/build/bin/vdi-server
PORT=$((20000 + RANDOM % 20000))
XDISPLAY=:$((100 + RANDOM % 800))

start_server() {
	"$SERVER" --desktop "$WORK/d.sock" --vnc-port 0 --rdp-port $PORT --data-dir "$WORK/data" \
		>"$WORK/server.out" 2>"$WORK/server.err" &
	SERVER_PID=$!
	wait_for "$WORK/server.err" "rdp: listening on port $PORT" 10 || { cat "$WORK/server.err"; fail "no RDP listener"; }
}
fingerprint() { openssl x509 -noout -fingerprint -sha256 -in "$WORK/data/tls.crt"; }

start_desktop d --display 1024x768
start_server
expect "$WORK/server.err" 'generated a self-signed certificate'
[ "$(stat -c %a "$WORK/data")" = 700 ] || fail "the data directory is not mode 0700"
[ "$(stat -c %a "$WORK/data/tls.key")" = 600 ] || fail "the key is not mode 0600"
first=$(fingerprint) || fail "tls.crt is not a certificate"

Xvfb $XDISPLAY -screen 0 1280x1024x24 -nolisten tcp -noreset >"$WORK/xvfb.log" 2>&1 &
sleep 1
DISPLAY=$XDISPLAY xfreerdp /v:127.0.0.1:$PORT /u:bob /p:pw /cert:ignore /size:800x600 /bpp:32 -gfx \
	>"$WORK/xfreerdp.log" 2>&1 &
CLIENT_PID=$!
wait_for "$WORK/d.out" 'display 800x600' 20 || { cat "$WORK/server.err"; fail "the VM did not follow the client's size"; }
wait_for "$WORK/server.err" 'rdp: .* active at 800x600' 20 || {
	cat "$WORK/server.err" "$WORK/xfreerdp.log"; fail "the client was not made 800x600"; }
win=$(DISPLAY=$XDISPLAY xdotool search --sync --class xfreerdp | tail -1)
ok=
for ((i = 0; i < 20; i++)); do
	sleep 0.5
	DISPLAY=$XDISPLAY import -window "$win" "$WORK/rdp.png" 2>/dev/null || continue
	ctl d screenshot "$WORK/vm.png" >/dev/null || fail "screenshot failed"
	[ "$(pngstat size "$WORK/rdp.png")" = "800 600" ] || continue
	differ=$(pngstat diff "$WORK/rdp.png" "$WORK/vm.png" 0 0 800 550)
	[ "$differ" -lt 100 ] && { ok=1; break; }
done
echo "xfreerdp window $(pngstat size "$WORK/rdp.png"), pixels differing from the scanout: ${differ:-?}"
[ -n "$ok" ] || fail "the resized xfreerdp window does not show the desktop"
# Stopping the server with the client connected ends its session cleanly.
kill -TERM $SERVER_PID
wait $SERVER_PID || fail "vdi-server did not stop cleanly with a client connected"
expect "$WORK/server.err" 'rdp: .* disconnected'
wait $CLIENT_PID

# The second start reuses the pair.
start_server
expect_not "$WORK/server.err" 'generated a self-signed certificate'
[ "$(fingerprint)" = "$first" ] || fail "the certificate changed on restart"
kill -TERM $SERVER_PID
wait $SERVER_PID || fail "vdi-server did not stop cleanly"

# A key that does not belong to the certificate is refused at start.
openssl genrsa -out "$WORK/data/tls.key" 2048 2>/dev/null
"$SERVER" --desktop "$WORK/d.sock" --vnc-port 0 --rdp-port $PORT --data-dir "$WORK/data" \
	>"$WORK/bad.out" 2>"$WORK/bad.err" && fail "a mismatched key was accepted"
expect "$WORK/bad.err" 'does not belong to'
ctl d poweroff >/dev/null
wait $VMM_PID
