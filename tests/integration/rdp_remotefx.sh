#!/usr/bin/env bash
# RemoteFX for a client without the graphics pipeline: drawserver plays
# noisy video in a 640x360 region of a 1024x768 desktop; a client that
# offers RemoteFX (rdppixels --no-gfx --rfx) gets the video's tiles as
# RemoteFX surface bits once planar showed them photographic, and the rest
# of the desktop exact as planar bitmap updates, every frame between frame
# markers (which the client acknowledges); once the video stops, its tiles
# are sent again as planar and the whole picture is exact. A client that
# does not offer RemoteFX gets planar alone, at more bytes a frame.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/drawserver_lib.sh"

# sent NAME: bytes a frame the server sent that client (from its log line).
sent() {
	sed -n 's/.*rdp: sent \([0-9]*\) bitmap frames: .*, \([0-9]*\) bytes$/\2 \1/p' "$WORK/$1-draw.err" |
		awk '{ print int($1 / $2) }'
}

CLIENT=(--no-gfx --rfx)
run rfx exact
n=$(stat rfx surface_bits_rfx)
[ "$n" -ge 10 ] || fail "rfx: only $n RemoteFX surface bits for seconds of video"
[ "$(stat rfx bitmap_updates)" -gt 0 ] || fail "rfx: no planar bitmap updates for the rest of the desktop"
[ "$(stat rfx surface_bits_other)" = 0 ] || fail "rfx: surface bits in a codec other than RemoteFX"
[ "$(stat rfx frame_ends)" -ge "$n" ] || fail "rfx: $(stat rfx frame_ends) frames ended by a marker for $n RemoteFX commands"
grep -q 'rdp: bitmap updates at 1024x768 with RemoteFX for photographic tiles and ScrBlt for moves, frames paced by acknowledgements' \
	"$WORK/rfx-draw.err" || fail "rfx: the server did not take RemoteFX and frame acknowledgements"
grep -q 'rdp: sent [0-9]* bitmap frames: [0-9]* planar tiles, [0-9]* RemoteFX tiles ([1-9][0-9]* refined)' \
	"$WORK/rfx-draw.err" || fail "rfx: no RemoteFX tile was refined as planar"

CLIENT=(--no-gfx)
run planar exact
[ "$(stat planar surface_bits_rfx)" = 0 ] || fail "planar: RemoteFX went to a client that did not offer it"
rfx=$(sent rfx) planar=$(sent planar)
echo "bytes a frame: $rfx with RemoteFX, $planar with planar alone"
[ "$rfx" -gt 0 ] && [ "$planar" -gt $((rfx * 3 / 2)) ] || fail "RemoteFX did not save bytes on video ($rfx against $planar)"
