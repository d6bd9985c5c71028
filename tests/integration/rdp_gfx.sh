#!/usr/bin/env bash
# xfreerdp with the graphics pipeline under Xvfb, the server set to use H.264
# for every change (VDI_RDP_AVC=all). With /gfx, whose capabilities leave
# AVC420 out, the server sends GFX frames (not bitmap updates) and no H.264:
# the window matches the VM's scanout exactly (planar, uncompressed and solid
# fills are lossless); typing reaches the guest and acknowledged frames keep
# the picture following. With /gfx:avc420 the window matches within H.264's
# tolerance and AVC420 frames were sent. Resizing the window of a client
# with /dynamic-resolution resizes the VM's display (the disp channel), and
# the GFX surface follows.
source "$(dirname "$0")/lib.sh"
need_kvm
for tool in xfreerdp Xvfb import xdotool; do
	command -v $tool >/dev/null || skip "$tool is not installed"
done
SERVER=$PWD/build/bin/vdi-server
PORT=$((20000 + RANDOM % 20000))
XDISPLAY=:$((100 + RANDOM % 800))

start_desktop d --display 1024x768
Xvfb $XDISPLAY -screen 0 1280x1024x24 -nolisten tcp -noreset >"$WORK/xvfb.log" 2>&1 &
sleep 1

start_server() {
	"$SERVER" --desktop "$WORK/d.sock" --vnc-port 0 --rdp-port $PORT --data-dir "$WORK/data" \
		>"$WORK/server.out" 2>"$WORK/server.err" &
	SERVER_PID=$!
	wait_for "$WORK/server.err" "rdp: listening on port $PORT" 10 || { cat "$WORK/server.err"; fail "no RDP listener"; }
}
# wait_count PATTERN N: until server.err has N lines matching PATTERN.
wait_count() {
	for ((i = 0; i < 100; i++)); do
		[ "$(grep -c "$1" "$WORK/server.err")" -ge "$2" ] && return 0
		sleep 0.2
	done
	return 1
}
# start_client N ARGS...: the Nth GFX client of the server, at W x H.
start_client() {
	local n=$1; shift
	DISPLAY=$XDISPLAY xfreerdp /v:127.0.0.1:$PORT /u:alice /p:secret /cert:ignore /size:${W}x$H /bpp:32 "$@" \
		>"$WORK/xfreerdp.log" 2>&1 &
	CLIENT_PID=$!
	wait_count "rdp: GFX surface ${W}x$H" $n || {
		cat "$WORK/server.err" "$WORK/xfreerdp.log"; fail "the client did not get a GFX surface ($*)"; }
	win=$(DISPLAY=$XDISPLAY xdotool search --sync --class xfreerdp | tail -1)
	[ -n "$win" ] || fail "no xfreerdp window"
}
# type_text TEXT: types TEXT into the client's window until the guest shows it (once more, the window
# found afresh, if the keys went to no window: a busy X server may not have given it the focus yet).
type_text() {
	local try
	for try in 1 2; do
		win=$(DISPLAY=$XDISPLAY xdotool search --onlyvisible --class xfreerdp | tail -1)
		DISPLAY=$XDISPLAY xdotool windowactivate --sync "$win" 2>/dev/null ||
			DISPLAY=$XDISPLAY xdotool windowfocus --sync "$win"
		DISPLAY=$XDISPLAY xdotool type --delay 50 "$1"
		wait_for "$WORK/d.out" "text \".*$1\"" $((try * 15)) && return 0
		echo "the guest did not see '$1' (try $try)"
	done
	tail -5 "$WORK/d.out"
	DISPLAY=$XDISPLAY xdotool search --class xfreerdp getwindowgeometry %@ 2>&1 | head -12
	grep -v 'GFX frame\|GFX surface' "$WORK/server.err" | tail -15
	fail "the guest did not see '$1'"
}
# stop_client N: the client goes; the server logs its frame counts, the Nth such line.
stop_client() {
	kill $CLIENT_PID
	wait $CLIENT_PID 2>/dev/null
	wait_count 'rdp: GFX sent [0-9]* frames' $1
	counts=$(grep 'rdp: GFX sent [0-9]* frames' "$WORK/server.err" | sed -n "$1p")
	echo "$counts"
	[ -n "$counts" ] || fail "no GFX frame count at disconnect"
	frames=$(sed -n 's/.*rdp: GFX sent \([0-9]*\) frames.*/\1/p' <<<"$counts")
	avc=$(sed -n 's/.* \([0-9]*\) AVC420 frames.*/\1/p' <<<"$counts")
}
# compare METRIC LIMIT WHAT: the window against the scanout once settled,
# all but the bottom strip, where the clock may tick between the two shots.
compare() {
	local ok= value=
	for ((i = 0; i < 20; i++)); do
		sleep 0.5
		DISPLAY=$XDISPLAY import -window "$win" -depth 8 -type TrueColor -define png:color-type=2 "$WORK/rdp.png" 2>/dev/null ||
			continue
		ctl d screenshot "$WORK/vm.png" >/dev/null || fail "screenshot failed"
		[ "$(pngstat size "$WORK/rdp.png")" = "$W $H" ] || continue
		if [ "$1" = diff ]; then
			value=$(pngstat diff "$WORK/rdp.png" "$WORK/vm.png" 0 0 $W $((H - 48)))
			[ "$value" -lt "$2" ] && { ok=1; break; }
		else
			value=$(pngstat mad "$WORK/rdp.png" "$WORK/vm.png" 0 0 $W $((H - 48)))
			awk -v l="$2" '{ exit !($1 < l && $2 < l && $3 < l) }' <<<"$value" && { ok=1; break; }
		fi
	done
	echo "xfreerdp window ($3) $(pngstat size "$WORK/rdp.png"): $1 against the scanout: ${value:-?}"
	[ -n "$ok" ] || { cat "$WORK/server.err"; fail "the xfreerdp window does not show the desktop ($3)"; }
}

# Planar, uncompressed and solid fills: exact.
W=1024 H=768
VDI_RDP_AVC=all start_server
start_client 1 /gfx /dynamic-resolution
compare diff 100 "gfx, first frame"
type_text 'hello gfx'
compare diff 100 "gfx, after typing"

# The window resized: the client's new monitor layout becomes the VM's size.
DISPLAY=$XDISPLAY xdotool windowsize "$win" 800 600
W=800 H=600
wait_for "$WORK/d.out" 'display 800x600' 20 || { cat "$WORK/server.err"; fail "the VM did not follow the window's size"; }
wait_count 'rdp: GFX surface 800x600' 1 || fail "no GFX surface at the new size"
expect "$WORK/server.err" "the client.s monitor is now 800x600"
compare diff 100 "gfx, resized"
stop_client 1
[ "$frames" -ge 2 ] || fail "only $frames GFX frames were sent"
[ "$frames" -lt 300 ] || fail "$frames GFX frames for a few changes: the server spins"
[ "$avc" = 0 ] || fail "H.264 went to a client that did not offer it"

# H.264 for every change: close, and really AVC420.
start_client 2 /gfx:avc420
compare mad 3 "avc420, first frame"
type_text 'hello avc'
compare mad 3 "avc420, after typing"
stop_client 2
[ "${avc:-0}" -ge 2 ] || fail "only ${avc:-0} AVC420 frames were sent"
[ "$frames" -lt 300 ] || fail "$frames GFX frames for a few changes: the server spins"
kill -TERM $SERVER_PID
wait $SERVER_PID || fail "vdi-server did not stop cleanly"

ctl d poweroff >/dev/null
wait $VMM_PID
