#!/usr/bin/env bash
# H.264 at the video region's own size: drawserver plays noisy video in a
# 640x360 region of a 1024x768 desktop; a client offering AVC420 (rdppixels
# --gfx --avc) gets AVC420 commands whose destRect is the region's box
# (its edges out to 16-pixel macroblocks), not the whole desktop, with every
# region rectangle inside it, and the pictures copied onto the desktop from
# the stream's own surface; the rest of the desktop stays exact, and once
# the video stops the whole picture is. With VDI_RDP_AVC=all the one H.264
# stream covers the whole desktop instead, and the picture is close to it
# (H.264's tolerance: nothing is re-sent losslessly). H.264 keeps to its
# byte budget (24 KiB a frame for a client, a stream's share by its area,
# at least a quarter): the region's frames average within it, and with the
# budget off (VDI_RDP_AVC_KB=0) the same video takes more.
source "$(dirname "$0")/lib.sh"
DRAW=build/tests/tools/drawserver
RDPPIXELS=build/tests/tools/rdppixels
[ -x $DRAW ] || fail "$DRAW is not built"
[ -x $RDPPIXELS ] || fail "$RDPPIXELS is not built"

W=1024 H=768
# drawserver's layout: the video 40 pixels in from the bottom right corner.
VX=$((W - 680)) VY=$((H - 400)) VW=640 VH=360
# Its box: out to multiples of 16.
BOX_W=$(((VX + VW + 15) / 16 * 16 - VX / 16 * 16))
BOX_H=$(((VY + VH + 15) / 16 * 16 - VY / 16 * 16))

# close NAME LIMIT A B [X Y W H]: the mean absolute difference of each
# channel under LIMIT.
close() {
	local mad
	mad=$(pngstat mad "$3" "$4" "${@:5}")
	echo "$1: mean differences $mad"
	awk -v l="$2" '{ exit !($1 < l && $2 < l && $3 < l) }' <<<"$mad"
}

# run NAME exact|lossy [ENV...]: a drawserver with the video on, one client
# during it and after it stops; its pictures against drawserver's, exact
# or close, and its counters.
run() {
	local name=$1 how=$2 port=$((27900 + ($$ + RANDOM) % 1000)) c
	shift 2
	rm -f "$WORK/cmd"
	mkfifo "$WORK/cmd"
	env "$@" $DRAW --rdp-port $port --data-dir "$WORK/data" --size ${W}x$H <"$WORK/cmd" \
		>"$WORK/$name-draw.out" 2>"$WORK/$name-draw.err" &
	local draw=$!
	exec 3>"$WORK/cmd"
	wait_for "$WORK/$name-draw.out" '^ready$' 20 || { cat "$WORK/$name-draw.err"; fail "$name: drawserver did not start"; }
	echo "video on" >&3
	timeout -k 5 120 $RDPPIXELS --port $port --user tester --size ${W}x$H --gfx --avc \
		--ignore $VX,$VY,$VW,$VH --sleep 3 --wait-stable 1 --png "$WORK/$name-video.png" \
		--ignore none --sleep 1 --wait-stable 1 --png "$WORK/$name-still.png" --stats >"$WORK/$name.out" 2>&1 &
	c=$!
	wait_for "$WORK/$name.out" "^png $WORK/$name-video.png" 60 ||
		{ cat "$WORK/$name.out" "$WORK/$name-draw.err"; fail "$name: no picture during the video"; }
	echo "png $WORK/$name-ref-video.png" >&3
	wait_for "$WORK/$name-draw.out" "^png $WORK/$name-ref-video.png\$" 10 || fail "$name: drawserver wrote no picture"
	echo "video off" >&3
	wait $c || { cat "$WORK/$name.out" "$WORK/$name-draw.err"; fail "$name: rdppixels failed"; }
	echo "png $WORK/$name-ref-still.png" >&3
	wait_for "$WORK/$name-draw.out" "^png $WORK/$name-ref-still.png\$" 10 || fail "$name: drawserver wrote no picture"
	echo quit >&3
	exec 3>&-
	wait $draw || fail "$name: drawserver did not stop cleanly"
	grep '^stat' "$WORK/$name.out" | grep -v ' 0$' | tr '\n' ' '; echo
	! grep -q 'avc420_decompress failure' "$WORK/$name.out" || fail "$name: the client could not decode H.264"
	if [ "$how" = lossy ]; then
		close "$name, the rest during the video" 3 "$WORK/$name-video.png" "$WORK/$name-ref-video.png" 0 0 $W $VY ||
			fail "$name: the desktop above the video is not close during it"
		close "$name, the rest after the video" 3 "$WORK/$name-still.png" "$WORK/$name-ref-still.png" 0 0 $W $VY ||
			fail "$name: the desktop above the video is not close once it stopped"
		# The video's blue is mostly per-pixel chroma noise, which 4:2:0 averages away.
		close "$name, its last video frame" 32 "$WORK/$name-still.png" "$WORK/$name-ref-still.png" \
			$VX $VY $VW $VH || fail "$name: the video's last frame is not close"
		return
	fi
	local d=0 r
	for r in "0 0 $W $VY" "0 $VY $VX $((H - VY))" "$((VX + VW)) $VY $((W - VX - VW)) $((H - VY))" \
		"$VX $((VY + VH)) $VW $((H - VY - VH))"; do
		d=$((d + $(pngstat diff "$WORK/$name-video.png" "$WORK/$name-ref-video.png" $r)))
	done
	echo "$name: during the video, $d pixels differ outside it"
	[ "$d" = 0 ] || fail "$name: the rest of the desktop is not exact during the video"
	local colours
	colours=$(pngstat colours "$WORK/$name-video.png" $VX $VY $VW $VH)
	[ "$colours" -gt 1000 ] || fail "$name: the video region shows $colours colours, not video"
	d=$(pngstat diff "$WORK/$name-still.png" "$WORK/$name-ref-still.png")
	echo "$name: after the video stopped, $d pixels differ"
	[ "$d" = 0 ] || fail "$name: the picture is not exact once the video stopped"
}
stat() { sed -n "s/^stat $2 //p" "$WORK/$1.out"; }

run region exact
n=$(stat region codec_avc420)
[ "$n" -ge 10 ] || fail "region: only $n AVC420 commands for seconds of video"
[ "$(stat region avc420_dest)" = "${BOX_W}x$BOX_H" ] ||
	fail "region: AVC420 pictures up to $(stat region avc420_dest), not the video's box ${BOX_W}x$BOX_H"
[ "$(stat region avc420_rects_outside)" = 0 ] || fail "region: AVC420 region rectangles outside the destRect"
[ "$(stat region surface_to_other)" -ge "$n" ] ||
	fail "region: $(stat region surface_to_other) copies from the streams' surfaces for $n AVC420 pictures"
grep -q "rdp: GFX sent .* AVC420 frames in [1-9][0-9]* H.264 streams" "$WORK/region-draw.err" ||
	fail "region: the server counted no H.264 stream"
# The stream's budget: its box's share of 24 KiB, at least a quarter; the
# first frames may borrow half a second of it (at most 30 frames' worth),
# and x264 keeps to it within a tenth.
share=$((24 * 1024 * BOX_W * BOX_H / (W * H)))
[ $share -ge $((24 * 1024 / 4)) ] || share=$((24 * 1024 / 4))
avc=$(( $(stat region avc420_bytes) / n ))
echo "region: $avc bytes an AVC420 frame, budget $share"
[ $avc -le $((share * 11 / 10 + share * 30 / n)) ] || fail "region: $avc bytes an AVC420 frame, over the budget of $share"

run unbudgeted exact VDI_RDP_AVC_KB=0
free=$(( $(stat unbudgeted avc420_bytes) / $(stat unbudgeted codec_avc420) ))
echo "unbudgeted: $free bytes an AVC420 frame"
[ $free -gt $((avc * 3 / 2)) ] || fail "unbudgeted: $free bytes an AVC420 frame, not more than with the budget ($avc)"

run all lossy VDI_RDP_AVC=all
[ "$(stat all codec_avc420)" -ge 10 ] || fail "all: only $(stat all codec_avc420) AVC420 commands"
[ "$(stat all avc420_dest)" = "${W}x$H" ] || fail "all: AVC420 pictures up to $(stat all avc420_dest), not the desktop"
[ "$(stat all avc420_rects_outside)" = 0 ] || fail "all: AVC420 region rectangles outside the destRect"
[ "$(stat all surface_to_other)" = 0 ] || fail "all: the whole-desktop stream went through another surface"
