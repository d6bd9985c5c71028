#!/usr/bin/env bash
# A libvncclient client (tests/tools/vncpixels.c) with Raw and with ZRLE,
# both lossless: the frame it receives equals the VM's scanout pixel for
# pixel, at 1024x768 and after a resize to 800x600.
source "$(dirname "$0")/lib.sh"
need_kvm
command -v convert >/dev/null || skip "ImageMagick (convert) is not installed"
VNCPIXELS=build/tests/tools/vncpixels
[ -x build/bin/vdi-server ] || fail "build/bin/vdi-server is not built"
[ -x $VNCPIXELS ] || fail "$VNCPIXELS is not built"

start_desktop d --display 1024x768
port=$((22900 + $$ % 1000))
start_vdi_server $port --vnc-port $port --rdp-port 0 --data-dir "$WORK/data"

# exact ENCODING W H: the client's frame equals the scanout everywhere but
# the clock at the taskbar's right end, which ticks between the two pictures.
# A retry covers a tick that lands inside the compared area.
exact() {
	local enc=$1 w=$2 h=$3 i a b
	for ((i = 0; i < 5; i++)); do
		timeout 30 $VNCPIXELS -e "$enc" 127.0.0.1 $port "$WORK/$enc.ppm" >"$WORK/client.out" 2>&1 ||
			{ cat "$WORK/client.out" "$WORK/server.out"; fail "vncpixels ($enc) failed"; }
		ctl d screenshot "$WORK/ref.png" >/dev/null || fail "screenshot failed"
		convert "$WORK/$enc.ppm" "PNG24:$WORK/$enc.png" || fail "convert failed"
		[ "$(pngstat size "$WORK/$enc.png")" = "$w $h" ] || { sleep 0.2; continue; }
		a=$(pngstat diff "$WORK/$enc.png" "$WORK/ref.png" 0 0 "$w" $((h - 48)))
		b=$(pngstat diff "$WORK/$enc.png" "$WORK/ref.png" 0 $((h - 48)) $((w - 130)) 48)
		echo "$enc at ${w}x$h: $a pixels differ above the taskbar, $b in the taskbar left of the clock"
		[ "$a" = 0 ] && [ "$b" = 0 ] && return 0
		sleep 0.2
	done
	fail "the $enc frame is not the VM's screen (size $(pngstat size "$WORK/$enc.png"))"
}

exact raw 1024 768
exact zrle 1024 768
# Not a blank picture that happens to match a blank screen.
[ "$(pngstat colours "$WORK/ref.png")" -gt 100 ] || fail "the VM's screen is blank"

ctl d display 800x600 >/dev/null || fail "display failed"
wait_for "$WORK/d.out" 'display 800x600' 20 || fail "the guest did not follow to 800x600"
exact raw 800 600
exact zrle 800 600

stop_vdi_server
ctl d poweroff >/dev/null
wait $VMM_PID
