#!/usr/bin/env bash
# xfreerdp (without GFX, 32 bpp) over TLS under Xvfb shows the desktop: a
# screenshot of its window matches the VM's scanout (planar is lossless),
# text typed into its window and a click reach the guest, and the guest's
# cursor becomes the client's pointer. Offering RemoteFX (/rfx), it gets
# frames paced by its acknowledgements and shows the desktop as well.
source "$(dirname "$0")/lib.sh"
need_kvm
for tool in xfreerdp Xvfb import xdotool; do
	command -v $tool >/dev/null || skip "$tool is not installed"
done
SERVER=$PWD/build/bin/vdi-server
PORT=$((20000 + RANDOM % 20000))
XDISPLAY=:$((100 + RANDOM % 800))

start_desktop d --display 1024x768
"$SERVER" --desktop "$WORK/d.sock" --vnc-port 0 --rdp-port $PORT --data-dir "$WORK/data" \
	>"$WORK/server.out" 2>"$WORK/server.err" &
SERVER_PID=$!
wait_for "$WORK/server.err" "rdp: listening on port $PORT" 10 || { cat "$WORK/server.err"; fail "no RDP listener"; }
[ -s "$WORK/data/tls.crt" ] && [ -s "$WORK/data/tls.key" ] || fail "no certificate generated"
[ "$(stat -c %a "$WORK/data/tls.key")" = 600 ] || fail "the key is not mode 0600"

Xvfb $XDISPLAY -screen 0 1280x1024x24 -nolisten tcp -noreset >"$WORK/xvfb.log" 2>&1 &
sleep 1

# connect ARGS...: xfreerdp without GFX and these arguments, active on the
# server (its line in server.err the Nth such), its window in $win.
active=0
connect() {
	DISPLAY=$XDISPLAY xfreerdp /v:127.0.0.1:$PORT /u:alice /p:secret /cert:ignore /size:1024x768 /bpp:32 -gfx "$@" \
		>"$WORK/xfreerdp.log" 2>&1 &
	CLIENT_PID=$!
	active=$((active + 1))
	for ((i = 0; i < 40; i++)); do
		[ "$(grep -c 'rdp: .* active at 1024x768' "$WORK/server.err")" -ge $active ] && break
		sleep 0.5
	done
	[ $i -lt 40 ] || { cat "$WORK/server.err" "$WORK/xfreerdp.log"; fail "xfreerdp $* did not become active"; }
	win=$(DISPLAY=$XDISPLAY xdotool search --sync --class xfreerdp | tail -1)
	[ -n "$win" ] || fail "no xfreerdp window"
}

# shows_desktop WHAT: the window's contents (the xfreerdp window is the only
# top-level one, its client area found by xdotool) match the scanout once
# the picture has settled.
shows_desktop() {
	local ok= i differ=
	for ((i = 0; i < 20; i++)); do
		sleep 0.5
		DISPLAY=$XDISPLAY import -window "$win" -depth 8 -type TrueColor -define png:color-type=2 "$WORK/rdp.png" \
			2>/dev/null || continue
		ctl d screenshot "$WORK/vm.png" >/dev/null || fail "screenshot failed"
		[ "$(pngstat size "$WORK/rdp.png")" = "1024 768" ] || continue
		# Everything but the bottom strip, where the clock may tick between the two shots.
		differ=$(pngstat diff "$WORK/rdp.png" "$WORK/vm.png" 0 0 1024 720)
		[ "$differ" -lt 100 ] && { ok=1; break; }
	done
	echo "xfreerdp window ($1) $(pngstat size "$WORK/rdp.png"), pixels differing from the scanout: ${differ:-?}"
	[ -n "$ok" ] || { cat "$WORK/server.err"; fail "the xfreerdp window ($1) does not show the desktop"; }
}

connect
expect "$WORK/server.err" "connected as user 'alice'"
expect_not "$WORK/server.err" 'secret'
shows_desktop "bitmap updates"

DISPLAY=$XDISPLAY xdotool windowactivate --sync "$win" 2>/dev/null || DISPLAY=$XDISPLAY xdotool windowfocus --sync "$win"
DISPLAY=$XDISPLAY xdotool type --delay 50 'hello rdp'
wait_for "$WORK/d.out" 'text "hello rdp"' 20 || { tail -5 "$WORK/d.out"; fail "the guest did not see 'hello rdp'"; }

# The pointer: a click in the window reaches the guest at that spot.
DISPLAY=$XDISPLAY xdotool mousemove --window "$win" 300 200 click 1
wait_for "$WORK/d.out" 'button left up at 300,200$' 10 || fail "the click did not reach the guest"
expect "$WORK/d.out" 'button left down at 300,200$'

# The pointer image: the guest's cursor becomes xfreerdp's X cursor.
read -r cw ch chx chy < <(ctl d events 1 | sed -n 's/^cursor-image \([0-9]*\)x\([0-9]*\) hot \([0-9]*\),\([0-9]*\).*/\1 \2 \3 \4/p')
read -r xw xh xhx xhy opaque < <(DISPLAY=$XDISPLAY python3 tests/integration/xcursor.py)
echo "guest cursor ${cw}x$ch hot $chx,$chy; X cursor ${xw}x$xh hot $xhx,$xhy with $opaque opaque pixels"
[ "$xw $xh $xhx $xhy" = "$cw $ch $chx $chy" ] || fail "xfreerdp does not show the guest's cursor"
[ "$opaque" -gt 0 ] || fail "xfreerdp's cursor is invisible"

kill $CLIENT_PID
wait_for "$WORK/server.err" 'rdp: .* disconnected' 10 || fail "the server did not see the client go"
wait $CLIENT_PID 2>/dev/null

connect /rfx
expect "$WORK/server.err" 'rdp: bitmap updates at 1024x768 with RemoteFX for photographic tiles and ScrBlt for moves, frames paced by acknowledgements'
shows_desktop "RemoteFX offered"
kill $CLIENT_PID
kill -TERM $SERVER_PID
wait $SERVER_PID || fail "vdi-server did not stop cleanly"
ctl d poweroff >/dev/null
wait $VMM_PID
