#!/usr/bin/env bash
# rdp_rdesktop.sh — rdesktop 1.9 (Debian's RDP client outside FreeRDP's family) under Xvfb against a real
# vdi-server with a pool: without credentials it shows the greeter, exactly as a FreeRDP client sees it, and
# the user name and password typed into it take the user to a desktop; with credentials (-u/-p, sent inside
# TLS) the user lands straight on a desktop. Each time the rdesktop window is the desktop's screen pixel
# for pixel (at -a 32: planar bitmaps with their alpha plane, as rdesktop asks; at its default depth, the X
# display's 24, rdesktop takes the server's 32 bpp but draws it garbled) and what is typed reaches the guest. rdesktop's Erect Domain Request, which FreeRDP's parser
# refuses, passes through the front (display/rdp_front.c).
source "$(dirname "$0")/lib.sh"
for tool in rdesktop Xvfb import xdotool; do
	command -v $tool >/dev/null || skip "$tool is not installed"
done
source "$(dirname "$0")/broker_lib.sh"
XDISPLAY=:$((100 + RANDOM % 800))

users alice:pw-alice bob:pw-bob
config
cat >>"$WORK/vdi.ini" <<EOF
[pool:office]
serial = file
memory = 64M
size = 2
disconnect_timeout = 30m
EOF
start_broker
Xvfb $XDISPLAY -screen 0 1280x1024x24 -nolisten tcp -noreset >"$WORK/xvfb.log" 2>&1 &
wait_running 2
for ((i = 0; i < 100; i++)); do
	DISPLAY=$XDISPLAY xdotool getdisplaygeometry >/dev/null 2>&1 && break
	sleep 0.2
done
[ $i -lt 100 ] || fail "Xvfb did not start"

# The greeter as a FreeRDP client sees it, for comparison.
rdp greeter --wait-stable 1 --png "$WORK/greeter.png"

# rdesktop NAME ARGS...: rdesktop at W x H (bounded), its output in $WORK/NAME.log, its window in $win. Its
# first connection asks whether to trust the server's self-signed certificate: yes (kept in $HOME).
export HOME=$WORK/home
mkdir -p "$HOME"
rdesktop_run() {
	local name=$1 i; shift
	echo yes | DISPLAY=$XDISPLAY timeout -k 5 60 rdesktop -g ${W}x$H -a 32 -T "$name" "$@" 127.0.0.1:$RDP_PORT \
		>"$WORK/$name.log" 2>&1 &
	CLIENT_PID=$!
	win=
	for ((i = 0; i < 100; i++)); do
		win=$(DISPLAY=$XDISPLAY xdotool search --name "^$name\$" 2>/dev/null | tail -1)
		[ -n "$win" ] && break
		kill -0 $CLIENT_PID 2>/dev/null || break
		sleep 0.2
	done
	[ -n "$win" ] || { cat "$WORK/$name.log"; tail -20 "$WORK/server.out"; fail "rdesktop ($name) opened no window"; }
	DISPLAY=$XDISPLAY xdotool windowfocus --sync "$win" 2>/dev/null
}
# window PNG: the rdesktop window's picture.
window() {
	DISPLAY=$XDISPLAY import -window "$win" -depth 8 -type TrueColor -define png:color-type=2 "$1" 2>/dev/null
}
# shows_greeter: until the window is the greeter FreeRDP's client saw, pixel for pixel.
shows_greeter() {
	local i d=
	for ((i = 0; i < 40; i++)); do
		sleep 0.5
		window "$WORK/rd-greeter.png" || continue
		d=$(pngstat diff "$WORK/rd-greeter.png" "$WORK/greeter.png" 2>/dev/null) && [ "$d" = 0 ] && break
	done
	echo "rdesktop's greeter: ${d:-?} pixels differ from the greeter a FreeRDP client saw"
	[ "$d" = 0 ] || fail "rdesktop does not show the greeter"
}
# shows_desktop DESKTOP WHAT: until the window is DESKTOP's screen, pixel for pixel (but the ticking clock).
shows_desktop() {
	local i d=
	for ((i = 0; i < 40; i++)); do
		sleep 0.5
		window "$WORK/rd-$1.png" || continue
		d=$(screen_diff "$WORK/rd-$1.png" "$1") && [ "$d" = 0 ] && break
	done
	echo "$2: ${d:-?} pixels differ from $1's screen"
	[ "$d" = 0 ] || { tail -20 "$WORK/server.out"; fail "$2 is not $1's screen"; }
}
type_text() { DISPLAY=$XDISPLAY xdotool type --window "$win" --delay 60 "$1"; }
key() { DISPLAY=$XDISPLAY xdotool key --window "$win" "$1"; }
close_client() {
	kill $CLIENT_PID 2>/dev/null
	wait $CLIENT_PID 2>/dev/null
	wait_for "$WORK/server.out" "rdp: 127.0.0.1 disconnected" 10 || fail "the server did not see rdesktop go"
}

# No credentials: the greeter; bob types his name and password into it and lands on a desktop.
rdesktop_run plain
wait_for "$WORK/server.out" "Erect Domain Request with bare 16-bit integers \(rdesktop's\) re-encoded" 20 ||
	{ cat "$WORK/plain.log"; tail -20 "$WORK/server.out"; fail "rdesktop's connection did not reach the MCS domain"; }
shows_greeter
type_text bob
key Return
type_text pw-bob
key Return
wait_audit "event = 'connect' AND user = 'bob' AND detail = 'rdp'"
db=$(desktop_of bob)
[ -n "$db" ] || { dump_audit; fail "bob got no desktop"; }
wait_serial "$db" '^vdi-guest: label "bob"$'
shows_desktop "$db" "bob's rdesktop window after the greeter"
type_text 'typed by bob'
wait_serial "$db" 'text "typed by bob"'
close_client

# Credentials in the client (inside TLS): alice lands on the other desktop at once.
rdesktop_run alice -u alice -p pw-alice
wait_audit "event = 'connect' AND user = 'alice' AND detail = 'rdp'"
da=$(desktop_of alice)
[ -n "$da" ] && [ "$da" != "$db" ] || { dump_audit; fail "alice got '$da' (bob has '$db')"; }
expect_not "$WORK/server.out" 'pw-alice'
wait_serial "$da" '^vdi-guest: label "alice"$'
shows_desktop "$da" "alice's rdesktop window"
type_text 'hello rdesktop'
wait_serial "$da" 'text "hello rdesktop"'
close_client
echo "rdp_rdesktop: all checks passed"
