#!/usr/bin/env bash
# Shadowing: several clients on one desktop at once. Two VNC clients
# (libvncclient, Raw and ZRLE), then xfreerdp beside a VNC client: each sees
# the desktop exactly, and text typed from one shows in the other's picture.
source "$(dirname "$0")/lib.sh"
need_kvm
for tool in convert xfreerdp Xvfb import xdotool; do
	command -v $tool >/dev/null || skip "$tool is not installed"
done
VNCPIXELS=build/tests/tools/vncpixels
[ -x build/bin/vdi-server ] || fail "build/bin/vdi-server is not built"
[ -x $VNCPIXELS ] || fail "$VNCPIXELS is not built"

start_desktop d --display 1024x768
port=$((24900 + $$ % 1000))
rdp=$((port + 1000))
start_vdi_server $port --vnc-port $port --rdp-port $rdp --data-dir "$WORK/data"
wait_for "$WORK/server.out" "rdp: listening on port $rdp" 10 || { cat "$WORK/server.out"; fail "no RDP listener"; }

# The Notes window's text area, where typing shows.
NOTES="231 178 560 400"

# watch NAME: a VNC client that stays connected and rewrites $WORK/NAME.ppm
# after every update; returns once its first full frame is there.
watch() {
	timeout 60 $VNCPIXELS -e zrle -s 50 127.0.0.1 $port "$WORK/$1.ppm" >"$WORK/$1.out" 2>&1 &
	WATCH_PID=$!
	for ((i = 0; i < 200; i++)); do
		[ -s "$WORK/$1.ppm" ] && break
		sleep 0.05
	done
	[ -s "$WORK/$1.ppm" ] || { cat "$WORK/$1.out" "$WORK/server.out"; fail "VNC client $1 got no frame"; }
	convert "$WORK/$1.ppm" "PNG24:$WORK/$1-first.png" || fail "convert failed"
}
# same A B: equal above the taskbar (the clock ticks in the taskbar).
same() { [ "$(pngstat diff "$1" "$2" 0 0 1024 720)" = 0 ]; }
# follows NAME: the watching client's latest picture is the VM's screen and
# its Notes window has changed since its first frame.
follows() {
	local i
	for ((i = 0; i < 100; i++)); do
		ctl d screenshot "$WORK/ref.png" >/dev/null || fail "screenshot failed"
		convert "$WORK/$1.ppm" "PNG24:$WORK/$1.png" 2>/dev/null &&
			same "$WORK/$1.png" "$WORK/ref.png" &&
			[ "$(pngstat diff "$WORK/$1.png" "$WORK/$1-first.png" $NOTES)" -gt 0 ] && return 0
		sleep 0.1
	done
	echo "$1: $(pngstat diff "$WORK/$1.png" "$WORK/ref.png" 0 0 1024 720) pixels differ from the VM's screen," \
		"$(pngstat diff "$WORK/$1.png" "$WORK/$1-first.png" $NOTES) changed in Notes"
	return 1
}

# Two VNC clients: B watches while A connects, sees the same desktop and types.
watch b
ctl d screenshot "$WORK/ref.png" >/dev/null || fail "screenshot failed"
same "$WORK/b-first.png" "$WORK/ref.png" || fail "VNC client b does not see the desktop"
timeout 30 $VNCPIXELS -e raw -t 'shadow one' -s 1 127.0.0.1 $port "$WORK/a.ppm" >"$WORK/a.out" 2>&1 ||
	{ cat "$WORK/a.out"; fail "VNC client a failed"; }
wait_for "$WORK/d.out" 'text "shadow one"' 20 || { tail -5 "$WORK/d.out"; fail "the guest did not see client a's typing"; }
follows b || fail "client a's typing does not show in client b's picture"
convert "$WORK/a.ppm" "PNG24:$WORK/a.png" || fail "convert failed"
same "$WORK/a.png" "$WORK/b.png" || fail "clients a and b see different pictures"
echo "two VNC clients: both see the desktop; a's typing shows in b's picture"
kill $WATCH_PID
wait $WATCH_PID 2>/dev/null

# xfreerdp (without GFX: planar is lossless) beside a VNC client.
Xvfb -displayfd 3 -screen 0 1280x1024x24 -nolisten tcp -noreset 3>"$WORK/xvfb.display" >"$WORK/xvfb.out" 2>&1 &
for ((i = 0; i < 100; i++)); do
	[ -s "$WORK/xvfb.display" ] && break
	sleep 0.05
done
export DISPLAY=":$(cat "$WORK/xvfb.display")"
xdotool getdisplaygeometry >/dev/null 2>&1 || { cat "$WORK/xvfb.out"; fail "Xvfb did not start"; }
xfreerdp /v:127.0.0.1:$rdp /u:alice /p:secret /cert:ignore /size:1024x768 /bpp:32 -gfx >"$WORK/xfreerdp.out" 2>&1 &
wait_for "$WORK/server.out" 'rdp: .* active at 1024x768' 20 || {
	cat "$WORK/server.out" "$WORK/xfreerdp.out"; fail "xfreerdp did not become active"; }
win=$(xdotool search --sync --class xfreerdp | tail -1)
[ -n "$win" ] || fail "no xfreerdp window"
watch c

# rdp_matches: xfreerdp's window is the VM's screen (a few pixels' slack
# for an update still on its way).
rdp_matches() {
	local i differ
	for ((i = 0; i < 20; i++)); do
		sleep 0.25
		import -window "$win" -depth 8 -type TrueColor -define png:color-type=2 "$WORK/rdp.png" 2>/dev/null || continue
		ctl d screenshot "$WORK/ref.png" >/dev/null || fail "screenshot failed"
		[ "$(pngstat size "$WORK/rdp.png")" = "1024 768" ] || continue
		differ=$(pngstat diff "$WORK/rdp.png" "$WORK/ref.png" 0 0 1024 720)
		[ "$differ" -lt 100 ] && return 0
	done
	echo "xfreerdp window $(pngstat size "$WORK/rdp.png"), pixels differing from the scanout: ${differ:-?}"
	return 1
}
rdp_matches || fail "the xfreerdp window does not show the desktop"
cp "$WORK/rdp.png" "$WORK/rdp-first.png"
same "$WORK/c-first.png" "$WORK/ref.png" || fail "VNC client c does not see the desktop beside xfreerdp"

# Typed into xfreerdp: shows in the VNC client's picture.
xdotool windowactivate --sync "$win" 2>/dev/null || xdotool windowfocus --sync "$win"
xdotool type --delay 30 'rdp two'
wait_for "$WORK/d.out" 'text ".*rdp two"' 20 || { tail -5 "$WORK/d.out"; fail "the guest did not see xfreerdp's typing"; }
follows c || fail "xfreerdp's typing does not show in the VNC client's picture"

# Typed from VNC: shows in xfreerdp's window.
timeout 30 $VNCPIXELS -t ' vnc three' -s 2 127.0.0.1 $port "$WORK/e.ppm" >"$WORK/e.out" 2>&1 ||
	{ cat "$WORK/e.out"; fail "VNC client e failed"; }
wait_for "$WORK/d.out" 'text ".* vnc three"' 20 || { tail -5 "$WORK/d.out"; fail "the guest did not see client e's typing"; }
rdp_matches || fail "the VNC client's typing does not show in xfreerdp's window"
[ "$(pngstat diff "$WORK/rdp.png" "$WORK/rdp-first.png" $NOTES)" -gt 0 ] || fail "xfreerdp's Notes window did not change"
echo "xfreerdp and VNC: both see the desktop; typing in each shows in the other"
kill $WATCH_PID
wait $WATCH_PID 2>/dev/null

stop_vdi_server
ctl d poweroff >/dev/null
wait $VMM_PID
