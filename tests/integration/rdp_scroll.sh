#!/usr/bin/env bash
# Scrolling text and a moving window on the test drawing server
# (tests/tools/drawserver.c), seen by libfreerdp clients (rdppixels) with
# the graphics pipeline and without it: after the changes, each client's
# picture equals the server's surface exactly. The server copies moved
# content on the client: SurfaceToSurface over GFX, ScrBlt orders without.
source "$(dirname "$0")/lib.sh"
DRAW=build/tests/tools/drawserver
RDPPIXELS=build/tests/tools/rdppixels
[ -x $DRAW ] || fail "$DRAW is not built"
[ -x $RDPPIXELS ] || fail "$RDPPIXELS is not built"

port=$((29900 + $$ % 1000))
mkfifo "$WORK/cmd"
$DRAW --rdp-port $port --data-dir "$WORK/data" --size 1024x768 <"$WORK/cmd" >"$WORK/draw.out" 2>"$WORK/draw.err" &
DRAW_PID=$!
exec 3>"$WORK/cmd"
wait_for "$WORK/draw.out" '^ready$' 20 || { cat "$WORK/draw.err"; fail "drawserver did not start"; }
cmd() { echo "$*" >&3; }
stat() { sed -n "s/^stat $2 //p" "$WORK/$1.out"; }

# moves NAME ARGS...: a client's first picture, then scrolls and drags while it watches, then its last picture
# against drawserver's own.
moves() {
	local name=$1 c i d
	shift
	timeout -k 5 90 $RDPPIXELS --port $port --size 1024x768 "$@" --wait-stable 1 --png "$WORK/$name-first.png" \
		--sleep 1 --wait-stable 1 --png "$WORK/$name-last.png" --stats >"$WORK/$name.out" 2>&1 &
	c=$!
	wait_for "$WORK/$name.out" "^png $WORK/$name-first.png" 30 || { cat "$WORK/$name.out"; fail "$name: no first picture"; }
	for ((i = 0; i < 10; i++)); do
		cmd "scroll $((3 + i * 7))"
		cmd "drag $((i * 4 - 10)) $((6 - i))"
		sleep 0.05
	done
	wait $c || { cat "$WORK/$name.out" "$WORK/draw.err"; fail "rdppixels ($name) failed"; }
	rm -f "$WORK/ref.png"
	cmd "png $WORK/ref.png"
	wait_for "$WORK/draw.out" "^png $WORK/ref.png\$" 10 || fail "drawserver wrote no picture"
	d=$(pngstat diff "$WORK/$name-first.png" "$WORK/ref.png")
	[ "$d" -gt 1000 ] || fail "$name: the scene hardly changed ($d pixels)"
	d=$(pngstat diff "$WORK/$name-last.png" "$WORK/ref.png")
	echo "$name: after scrolls and drags, $d pixels differ;" \
		"$(stat $name surface_to_surface) SurfaceToSurface copies, $(stat $name codec_planar) planar tiles," \
		"$(stat $name scrblt) ScrBlt orders, $(stat $name bitmap_rects) bitmap rectangles"
	[ "$d" = 0 ] || fail "$name: the picture is not exact after scrolls and drags"
}

moves gfx --gfx --no-avc
[ "$(stat gfx surface_to_surface)" -gt 0 ] || fail "gfx: no SurfaceToSurface copies for scrolls and drags"
moves bitmap --no-gfx
[ "$(stat bitmap scrblt)" -gt 0 ] || fail "bitmap: no ScrBlt orders for scrolls and drags"

cmd quit
wait $DRAW_PID || fail "drawserver did not stop cleanly"
