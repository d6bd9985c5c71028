#!/usr/bin/env bash
# The TigerVNC viewer under Xvfb, connected to vdi-server's VNC server
# through VeNCrypt X509Plain (TLS, the server's certificate checked against
# the one vdi-server generated; the user name and password from the
# environment, as TigerVNC takes them): its window shows the desktop; keys typed into it (xdotool) reach the guest's
# console as text; a click in it reaches the guest at the same position; it
# follows the VM to a new display size.
source "$(dirname "$0")/lib.sh"
need_kvm
for tool in Xvfb xtigervncviewer xdotool import convert; do
	command -v $tool >/dev/null || skip "$tool is not installed"
done
[ -x build/bin/vdi-server ] || fail "build/bin/vdi-server is not built"

start_desktop d --display 1024x768
port=$((16900 + $$ % 1000))
start_vdi_server $port --vnc-port $port --rdp-port 0 --data-dir "$WORK/data"

# Xvfb picks a free display itself (other tests run X servers too).
Xvfb -displayfd 3 -screen 0 1280x1024x24 -nolisten tcp -noreset 3>"$WORK/xvfb.display" >"$WORK/xvfb.out" 2>&1 &
xvfb=$!
for ((i = 0; i < 100; i++)); do
	[ -s "$WORK/xvfb.display" ] && break
	sleep 0.05
done
export DISPLAY=":$(cat "$WORK/xvfb.display")"
xdotool getdisplaygeometry >/dev/null 2>&1 || { cat "$WORK/xvfb.out"; fail "Xvfb did not start"; }

VNC_USERNAME=tester VNC_PASSWORD=secret xtigervncviewer -Shared -RemoteResize=0 -SecurityTypes X509Plain \
	-X509CA "$WORK/data/tls.crt" "127.0.0.1::$port" >"$WORK/viewer.out" 2>&1 &
wid=
for ((i = 0; i < 100; i++)); do
	wid=$(xdotool search --name 'TigerVNC' 2>/dev/null | head -1)
	[ -n "$wid" ] && break
	sleep 0.1
done
[ -n "$wid" ] || {
	kill -0 $xvfb 2>/dev/null || echo "Xvfb on $DISPLAY is gone"
	cat "$WORK/xvfb.out" "$WORK/viewer.out" "$WORK/server.out"
	fail "no TigerVNC window"
}
eval "$(xdotool getwindowgeometry --shell "$wid")"
echo "viewer window $wid at $X,$Y size ${WIDTH}x$HEIGHT"
[ "$WIDTH" = 1024 ] && [ "$HEIGHT" = 768 ] || fail "the viewer's window is ${WIDTH}x$HEIGHT, not the desktop's 1024x768"
grep -q 'vnc: 127.0.0.1: RFB 3.8, VeNCrypt X509Plain with a user name' "$WORK/server.out" ||
	{ cat "$WORK/viewer.out"; fail "the viewer did not come in through VeNCrypt X509Plain"; }

# The window shows the desktop: the VM's screen within the codec's tolerance.
ctl d screenshot "$WORK/ref.png" >/dev/null || fail "screenshot failed"
ok=
for ((i = 0; i < 50; i++)); do
	import -window root -crop "1024x768+$X+$Y" +repage "PNG24:$WORK/shot.png" 2>/dev/null
	read -r dr dg db < <(pngstat mad "$WORK/shot.png" "$WORK/ref.png")
	awk -v r="$dr" -v g="$dg" -v b="$db" 'BEGIN { exit !(r < 4 && g < 4 && b < 4) }' && ok=1 && break
	sleep 0.2
done
echo "mean difference viewer / VM: $dr $dg $db"
[ -n "$ok" ] || fail "the viewer does not show the VM's screen"
read -r tr tg tb < <(pngstat mean "$WORK/shot.png" 0 752 1024 12)
read -r br bg bb < <(pngstat mean "$WORK/shot.png" 0 0 1024 12)
dist=$(((tr - br) * (tr - br) + (tg - bg) * (tg - bg) + (tb - bb) * (tb - bb)))
[ "$dist" -gt 400 ] || fail "no taskbar at the bottom of the viewer's window"

# Keys: typed into the focused viewer window.
xdotool mousemove --window "$wid" 512 300 || fail "xdotool mousemove failed"
xdotool windowfocus --sync "$wid" || fail "xdotool windowfocus failed"
sleep 0.3
xdotool type --delay 30 'hello vnc' || fail "xdotool type failed"
wait_for "$WORK/d.out" 'text "hello vnc"' 20 || { tail -5 "$WORK/d.out"; fail "the guest did not see 'hello vnc'"; }
xdotool type --delay 30 'Hi, VDI!' || fail "xdotool type failed"
wait_for "$WORK/d.out" 'text "hello vncHi, VDI!"' 20 || { tail -5 "$WORK/d.out"; fail "shifted text wrong"; }

# The pointer: a click lands where it was made in the window.
xdotool mousemove --window "$wid" 300 200 click 1 || fail "xdotool click failed"
wait_for "$WORK/d.out" 'button left down at 300,200$' 20 || { tail -5 "$WORK/d.out"; fail "no left click at 300,200"; }
wait_for "$WORK/d.out" 'button left up at 300,200$' 10 || fail "no left release at 300,200"
xdotool mousemove --window "$wid" 700 500 click 3 || fail "xdotool click failed"
wait_for "$WORK/d.out" 'button right down at 700,500$' 20 || fail "no right click at 700,500"
xdotool click 4 || fail "xdotool wheel failed"
wait_for "$WORK/d.out" 'wheel 1' 20 || fail "no wheel"

# The VM changes size: the connected viewer follows (DesktopSize).
ctl d display 800x600 >/dev/null || fail "display failed"
for ((i = 0; i < 100; i++)); do
	eval "$(xdotool getwindowgeometry --shell "$wid")"
	[ "$WIDTH" = 800 ] && [ "$HEIGHT" = 600 ] && break
	sleep 0.1
done
[ "$WIDTH" = 800 ] && [ "$HEIGHT" = 600 ] || fail "the viewer's window stayed ${WIDTH}x$HEIGHT"
ctl d screenshot "$WORK/ref2.png" >/dev/null || fail "screenshot failed"
ok=
for ((i = 0; i < 50; i++)); do
	import -window root -crop "800x600+$X+$Y" +repage "PNG24:$WORK/shot2.png" 2>/dev/null
	read -r dr dg db < <(pngstat mad "$WORK/shot2.png" "$WORK/ref2.png")
	awk -v r="$dr" -v g="$dg" -v b="$db" 'BEGIN { exit !(r < 4 && g < 4 && b < 4) }' && ok=1 && break
	sleep 0.2
done
echo "mean difference viewer / VM at 800x600: $dr $dg $db"
[ -n "$ok" ] || fail "the viewer does not show the VM's screen at 800x600"

stop_vdi_server
ctl d poweroff >/dev/null
wait $VMM_PID
