#!/usr/bin/env bash
# An exact-pixel libfreerdp client (tests/tools/rdppixels.c) against
# vdi-server serving the desktop guest: with the graphics pipeline (AVC420
# not offered: planar, uncompressed and solid fills are lossless) and
# without it (planar bitmap updates), its decoded picture equals the VM's
# scanout pixel for pixel, before and after typing into the Notes window,
# whose text reaches the guest.
source "$(dirname "$0")/lib.sh"
need_kvm
RDPPIXELS=build/tests/tools/rdppixels
[ -x build/bin/vdi-server ] || fail "build/bin/vdi-server is not built"
[ -x $RDPPIXELS ] || fail "$RDPPIXELS is not built"

W=1024 H=768
start_desktop d --display ${W}x$H
port=$((25900 + $$ % 1000))
start_vdi_server $port --vnc-port 0 --rdp-port $port --data-dir "$WORK/data"

# rdppixels NAME ARGS...: the client at W x H as alice, output in $WORK/NAME.out.
# The clock at the taskbar's right end ticks every second: it may change
# while the rest of the picture is stable.
rdppixels() {
	local name=$1; shift
	timeout -k 5 90 $RDPPIXELS --port $port --user alice --pass secret --size ${W}x$H \
		--ignore $((W - 130)),$((H - 48)),130,48 "$@" --stats >"$WORK/$name.out" 2>&1 ||
		{ cat "$WORK/$name.out" "$WORK/server.out"; fail "rdppixels ($name) failed"; }
}
stat() { sed -n "s/^stat $2 //p" "$WORK/$1.out"; }

# exact PNG WHAT: the client's picture equals the scanout everywhere but the clock.
exact() {
	local a b
	ctl d screenshot "$WORK/vm.png" >/dev/null || fail "screenshot failed"
	[ "$(pngstat size "$1")" = "$W $H" ] || fail "$2: the client's picture is $(pngstat size "$1"), not $W x $H"
	a=$(pngstat diff "$1" "$WORK/vm.png" 0 0 $W $((H - 48)))
	b=$(pngstat diff "$1" "$WORK/vm.png" 0 $((H - 48)) $((W - 130)) 48)
	echo "$2: $a pixels differ above the taskbar, $b in the taskbar left of the clock"
	[ "$a" = 0 ] && [ "$b" = 0 ] || fail "$2: the RDP picture is not the VM's screen"
}

# session NAME TEXT MODE...: a first picture, then TEXT typed as scancodes in the same session and a second picture.
session() {
	local name=$1 text=$2; shift 2
	rdppixels "$name-before" "$@" --wait-stable 1 --png "$WORK/$name-before.png"
	exact "$WORK/$name-before.png" "$name, first picture"
	rdppixels "$name" "$@" --wait-stable 1 --type "$text" --wait-stable 1 --png "$WORK/$name-after.png"
	wait_for "$WORK/d.out" "text \".*$(sed 's/[][\.*^$+?(){}|]/\\&/g' <<<"$text")\"" 20 || { tail -5 "$WORK/d.out"; fail "$name: the guest did not see '$text'"; }
	exact "$WORK/$name-after.png" "$name, after typing"
}

session gfx "Hello, GFX 1+1=2!" --gfx --no-avc
[ "$(stat gfx gfx)" = 1 ] || fail "the client with GFX did not use the graphics pipeline"
[ "$(stat gfx gfx_frames)" -ge 2 ] || fail "only $(stat gfx gfx_frames) GFX frames"
[ "$(stat gfx codec_planar)" -gt 0 ] || fail "no planar tiles in GFX"
[ "$(stat gfx codec_avc420)" = 0 ] || fail "H.264 went to a client that did not offer it"
grep '^stat' "$WORK/gfx.out" | grep -v ' 0$' | tr '\n' ' '; echo

session bitmap "bitmaps (ok)" --no-gfx
[ "$(stat bitmap gfx)" = 0 ] || fail "the client without GFX got the graphics pipeline"
[ "$(stat bitmap bitmap_updates)" -gt 0 ] || fail "no bitmap updates without GFX"
grep '^stat' "$WORK/bitmap.out" | grep -v ' 0$' | tr '\n' ' '; echo
# Not a blank picture that happens to match a blank screen.
[ "$(pngstat colours "$WORK/vm.png")" -gt 100 ] || fail "the VM's screen is blank"

stop_vdi_server
ctl d poweroff >/dev/null
wait $VMM_PID
