#!/usr/bin/env bash
# The RDP server picks H.264 by itself (no VDI_RDP_AVC override): the test
# drawing server (tests/tools/drawserver.c) plays noisy video in a 640x360
# region beside static content. A client offering AVC420 (rdppixels --gfx
# --avc) receives AVC420 commands for the video while the static region
# stays exact; once the video stops, its lossy picture is refined until the
# whole picture is exact. A client not offering AVC420 gets no H.264 and an
# exact picture.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/drawserver_lib.sh"
unset VDI_RDP_AVC
port=$((26900 + $$ % 1000))
mkfifo "$WORK/cmd"
$DRAW --rdp-port $port --data-dir "$WORK/data" --size ${W}x$H <"$WORK/cmd" >"$WORK/draw.out" 2>"$WORK/draw.err" &
DRAW_PID=$!
exec 3>"$WORK/cmd"
wait_for "$WORK/draw.out" '^ready$' 20 || { cat "$WORK/draw.err"; fail "drawserver did not start"; }
cmd() { echo "$*" >&3; }
# ref NAME: drawserver's own picture, as $WORK/NAME.png.
ref() {
	rm -f "$WORK/$1.png"
	cmd "png $WORK/$1.png"
	wait_for "$WORK/draw.out" "^png $WORK/$1.png\$" 10 || { cat "$WORK/draw.err"; fail "drawserver wrote no $1.png"; }
}
# static_diff A B: pixels that differ outside the video region.
static_diff() {
	local n=0 r
	for r in "0 0 $W $VY" "0 $VY $VX $((H - VY))" "$((VX + VW)) $VY $((W - VX - VW)) $((H - VY))" \
		"$VX $((VY + VH)) $VW $((H - VY - VH))"; do
		n=$((n + $(pngstat diff "$1" "$2" $r)))
	done
	echo $n
}

# client NAME ARGS...: during the video, a picture once the static part is
# stable (NAME-video.png); the test then stops the video; then a picture once
# everything is stable (NAME-still.png), and the counters.
client() {
	local name=$1 c
	shift
	cmd "video on"
	timeout -k 5 120 $RDPPIXELS --port $port --user tester --size ${W}x$H "$@" \
		--ignore $VX,$VY,$VW,$VH --sleep 3 --wait-stable 1 --png "$WORK/$name-video.png" \
		--ignore none --sleep 1 --wait-stable 1 --png "$WORK/$name-still.png" --stats >"$WORK/$name.out" 2>&1 &
	c=$!
	wait_for "$WORK/$name.out" "^png $WORK/$name-video.png" 60 ||
		{ cat "$WORK/$name.out" "$WORK/draw.err"; fail "$name: no picture during the video"; }
	ref "$name-ref-video"
	cmd "video off"
	wait $c || { cat "$WORK/$name.out" "$WORK/draw.err"; fail "rdppixels ($name) failed"; }
	ref "$name-ref-still"
	grep '^stat' "$WORK/$name.out" | grep -v ' 0$' | tr '\n' ' '; echo
	d=$(static_diff "$WORK/$name-video.png" "$WORK/$name-ref-video.png")
	echo "$name: during the video, $d pixels differ outside it"
	[ "$d" = 0 ] || fail "$name: the static region is not exact during the video"
	colours=$(pngstat colours "$WORK/$name-video.png" $VX $VY $VW $VH)
	[ "$colours" -gt 1000 ] || fail "$name: the video region shows $colours colours, not video"
	d=$(pngstat diff "$WORK/$name-still.png" "$WORK/$name-ref-still.png")
	echo "$name: after the video stopped, $d pixels differ"
	[ "$d" = 0 ] || fail "$name: the picture is not exact once the video stopped"
}

client avc --gfx --avc
[ "$(stat avc gfx)" = 1 ] || fail "avc: the client did not use the graphics pipeline"
[ "$(stat avc codec_avc420)" -ge 10 ] || fail "avc: only $(stat avc codec_avc420) AVC420 commands for seconds of video"
grep -q "rdp: GFX sent .* [1-9][0-9]* AVC420 frames" "$WORK/draw.err" || fail "avc: the server counted no AVC420 frames"

client planar --gfx --no-avc
[ "$(stat planar gfx)" = 1 ] || fail "planar: the client did not use the graphics pipeline"
[ "$(stat planar codec_avc420)" = 0 ] || fail "planar: H.264 went to a client that did not offer it"
[ "$(stat planar codec_planar)" -gt 100 ] || fail "planar: only $(stat planar codec_planar) planar tiles for seconds of video"

cmd quit
wait $DRAW_PID || fail "drawserver did not stop cleanly"
