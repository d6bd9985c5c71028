#!/usr/bin/env bash
# SurfaceToSurface for scrolls and window drags: xfreerdp with the graphics
# pipeline (/gfx: AVC420 not offered, so every command is lossless) under
# Xvfb against tests/tools/drawserver, whose text panel scrolls and whose
# window is dragged on command. After each burst of scrolls and drags the
# xfreerdp window equals the server's picture exactly, and at disconnect the
# server's count says moved content went as SurfaceToSurface copies. With
# VDI_RDP_MOTION=off the picture is as exact and no copy is made.
source "$(dirname "$0")/lib.sh"
for tool in xfreerdp Xvfb import xdotool; do
	command -v $tool >/dev/null || skip "$tool is not installed"
done
DRAW=build/tests/tools/drawserver
[ -x $DRAW ] || fail "$DRAW is not built"
PORT=$((20000 + RANDOM % 20000))
XDISPLAY=:$((100 + RANDOM % 800))
W=1024 H=768

Xvfb $XDISPLAY -screen 0 1280x1024x24 -nolisten tcp -noreset >"$WORK/xvfb.log" 2>&1 &
sleep 1

# start_draw: drawserver reading commands from $WORK/cmd (fd 3 writes them).
start_draw() {
	rm -f "$WORK/cmd" && mkfifo "$WORK/cmd"
	"$DRAW" --rdp-port $PORT --vnc-port 0 --data-dir "$WORK/data" --size ${W}x$H <"$WORK/cmd" \
		>"$WORK/draw.out" 2>"$WORK/draw.err" &
	DRAW_PID=$!
	exec 3>"$WORK/cmd"
	wait_for "$WORK/draw.out" '^ready' 10 || { cat "$WORK/draw.err"; fail "drawserver did not start"; }
}
stop_draw() {
	echo quit >&3
	exec 3>&-
	wait $DRAW_PID || fail "drawserver did not stop cleanly"
}
start_client() {
	DISPLAY=$XDISPLAY xfreerdp /v:127.0.0.1:$PORT /u:alice /p:secret /cert:ignore /size:${W}x$H /bpp:32 /gfx \
		>"$WORK/xfreerdp.log" 2>&1 &
	CLIENT_PID=$!
	wait_for "$WORK/draw.err" "rdp: GFX surface ${W}x$H" 20 || {
		cat "$WORK/draw.err" "$WORK/xfreerdp.log"; fail "the client did not get a GFX surface"; }
	win=$(DISPLAY=$XDISPLAY xdotool search --sync --class xfreerdp | tail -1)
	[ -n "$win" ] || fail "no xfreerdp window"
}
# stop_client: the client goes; the server's counts at disconnect in $counts, $moves.
stop_client() {
	kill $CLIENT_PID
	wait $CLIENT_PID 2>/dev/null
	wait_for "$WORK/draw.err" 'rdp: GFX sent [0-9]* frames' 10 || { cat "$WORK/draw.err"; fail "no GFX counts"; }
	counts=$(grep 'rdp: GFX sent [0-9]* frames' "$WORK/draw.err" | tail -1)
	echo "$counts"
	moves=$(sed -n 's/.* \([0-9]*\) SurfaceToSurface moves.*/\1/p' <<<"$counts")
	[ -n "$moves" ] || fail "the counts do not say how many SurfaceToSurface moves were made"
}
# exact WHAT: the window equals the server's picture, pixel for pixel, once settled.
n=0
exact() {
	local value=
	n=$((n + 1))
	echo "png $WORK/srv$n.png" >&3
	wait_for "$WORK/draw.out" "^png $WORK/srv$n.png" 10 || fail "drawserver wrote no picture"
	for ((i = 0; i < 20; i++)); do
		sleep 0.5
		DISPLAY=$XDISPLAY import -window "$win" -depth 8 -type TrueColor -define png:color-type=2 \
			"$WORK/rdp.png" 2>/dev/null || continue
		[ "$(pngstat size "$WORK/rdp.png")" = "$W $H" ] || continue
		value=$(pngstat diff "$WORK/rdp.png" "$WORK/srv$n.png")
		[ "$value" = 0 ] && break
	done
	echo "xfreerdp window ($1): $value pixels differ from the server's picture"
	[ "$value" = 0 ] || { cat "$WORK/draw.err"; fail "the xfreerdp window is not the server's picture ($1)"; }
}
# burst: scrolls and drags, a frame or so apart, so some arrive one by one
# and some merged.
burst() {
	for step in 1 2 3 4 5 6; do
		echo "scroll $((step * 7))" >&3
		echo "drag $((step * 5 - 12)) $((9 - step * 3))" >&3
		sleep 0.1
	done
	echo "scroll 1" >&3
	echo "drag 37 -12" >&3
}

start_draw
start_client
exact "first frame"
burst
exact "after scrolls and drags"
burst
exact "after more scrolls and drags"
stop_client
[ "$moves" -ge 2 ] || fail "only $moves SurfaceToSurface moves for 14 scrolls and 14 drags"
stop_draw

# Off: the same picture without copies.
VDI_RDP_MOTION=off start_draw
start_client
burst
exact "moves off, after scrolls and drags"
stop_client
[ "$moves" = 0 ] || fail "$moves SurfaceToSurface moves with VDI_RDP_MOTION=off"
stop_draw
