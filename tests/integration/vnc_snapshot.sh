#!/usr/bin/env bash
# vncsnapshot through vdi-server's VNC server: the picture matches the VM's
# scanout within JPEG's tolerance, and follows the VM to a new display size.
source "$(dirname "$0")/lib.sh"
need_kvm
command -v vncsnapshot >/dev/null || skip "vncsnapshot is not installed"
command -v convert >/dev/null || skip "ImageMagick (convert) is not installed"
[ -x build/bin/vdi-server ] || fail "build/bin/vdi-server is not built"

start_desktop d --display 1024x768
port=$((15900 + $$ % 1000))
start_vdi_server $port --vnc-port $port --rdp-port 0 --data-dir "$WORK/data"

# snap NAME: a vncsnapshot picture as 8-bit RGB PNG (what pngstat reads).
snap() {
	timeout 20 vncsnapshot -quiet -nocursor -quality 100 "127.0.0.1::$port" "$WORK/$1.jpg" ||
		{ cat "$WORK/server.out"; fail "vncsnapshot failed"; }
	convert "$WORK/$1.jpg" "PNG24:$WORK/$1.png" || fail "convert failed"
}
# matches A B: mean absolute difference per channel under 4 of 255.
matches() {
	read -r dr dg db < <(pngstat mad "$WORK/$1.png" "$WORK/$2.png") || return 1
	echo "mean difference $1 / $2: $dr $dg $db"
	awk -v r="$dr" -v g="$dg" -v b="$db" 'BEGIN { exit !(r < 4 && g < 4 && b < 4) }'
}

snap a
ctl d screenshot "$WORK/ref.png" >/dev/null || fail "screenshot failed"
[ "$(pngstat size "$WORK/a.png")" = "1024 768" ] || fail "snapshot is $(pngstat size "$WORK/a.png")"
matches a ref || fail "the VNC picture is not the VM's screen"
# Not a blank picture that happens to match a blank screen.
[ "$(pngstat colours "$WORK/ref.png")" -gt 100 ] || fail "the VM's screen is blank"

ctl d display 800x600 >/dev/null || fail "display failed"
wait_for "$WORK/d.out" 'display 800x600' 20 || fail "the guest did not follow to 800x600"
for ((i = 0; i < 50; i++)); do
	snap b
	[ "$(pngstat size "$WORK/b.png")" = "800 600" ] && break
	sleep 0.2
done
[ "$(pngstat size "$WORK/b.png")" = "800 600" ] || fail "snapshot is $(pngstat size "$WORK/b.png") after the resize"
ctl d screenshot "$WORK/ref2.png" >/dev/null || fail "screenshot failed"
matches b ref2 || fail "the VNC picture at 800x600 is not the VM's screen"

# Garbage and a client that hangs up at once do not take the server down.
head -c 4096 /dev/urandom >"/dev/tcp/127.0.0.1/$port" 2>/dev/null
printf 'RFB 003.008\n' >"/dev/tcp/127.0.0.1/$port" 2>/dev/null
snap c
[ "$(pngstat size "$WORK/c.png")" = "800 600" ] || fail "the server did not survive bad clients"

stop_vdi_server
ctl d poweroff >/dev/null
wait $VMM_PID
