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
# budget off (VDI_RDP_AVC_KB=0) the same video takes more; under a budget
# too small for it, the video's quantiser rises, each rise a new key frame
# the client decodes on from.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/drawserver_lib.sh"
CLIENT=(--gfx --avc)

# The video's H.264 box: out to multiples of 16.
BOX_W=$(((VX + VW + 15) / 16 * 16 - VX / 16 * 16))
BOX_H=$(((VY + VH + 15) / 16 * 16 - VY / 16 * 16))

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

# A budget the video cannot keep at its first quantiser (2 KiB a frame for
# the client, the region's share of it): the stream restarts at coarser
# ones, and the client decodes on through each restart's key frame.
run tight exact VDI_RDP_AVC_KB=2
grep 'on at QP' "$WORK/tight-draw.err" | head -3
n=$(grep -c 'rdp: H.264 .* against a budget of [0-9]*; on at QP' "$WORK/tight-draw.err")
[ "$n" -ge 1 ] || fail "tight: the video's quantiser never rose"
[ "$(stat tight codec_avc420)" -gt $((n + 10)) ] || fail "tight: only $(stat tight codec_avc420) AVC420 commands"

run all lossy VDI_RDP_AVC=all
[ "$(stat all codec_avc420)" -ge 10 ] || fail "all: only $(stat all codec_avc420) AVC420 commands"
[ "$(stat all avc420_dest)" = "${W}x$H" ] || fail "all: AVC420 pictures up to $(stat all avc420_dest), not the desktop"
[ "$(stat all avc420_rects_outside)" = 0 ] || fail "all: AVC420 region rectangles outside the destRect"
[ "$(stat all surface_to_other)" = 0 ] || fail "all: the whole-desktop stream went through another surface"
