# client_lib.sh — helpers for vdi-client's end-to-end tests (sourced after lib.sh and broker_lib.sh): a
# vdi-server with its user API on a port of its own and one pool of the in-tree desktop, Xvfb, vdi-client
# started in it, its window found and grabbed, and a port that speaks garbage.
CLIENT=$PWD/build/bin/vdi-client
[ -x "$CLIENT" ] || fail "$CLIENT is not built (make all)"
for _t in Xvfb import xdotool python3; do
	command -v $_t >/dev/null || skip "$_t is not installed"
done
API_PORT=$((RDP_PORT + 2000))
XDISPLAY=:$((100 + $$ % 800))
export HOME=$WORK/home
mkdir -p "$HOME"

# client_server: vdi-server with users alice (pw-alice), its API on 127.0.0.1:$API_PORT and one pool "office"
# of one in-tree desktop, started and running.
client_server() {
	users alice:pw-alice bob:pw-bob
	config
	sed -i "s/^listen = off$/listen = 127.0.0.1:$API_PORT/" "$WORK/vdi.ini"
	cat >>"$WORK/vdi.ini" <<EOF
[pool:office]
serial = file
memory = 64M
size = 1
disconnect_timeout = 60s
EOF
	start_broker
	wait_running 1
	start_xvfb
	echo pw-alice >"$WORK/alice.pw"
	echo not-her-password >"$WORK/wrong.pw"
}

# start_xvfb: the X server vdi-client runs in, on $XDISPLAY, answering.
start_xvfb() {
	Xvfb $XDISPLAY -screen 0 1280x1024x24 -nolisten tcp -noreset >"$WORK/xvfb.log" 2>&1 &
	local i
	for ((i = 0; i < 50; i++)); do
		DISPLAY=$XDISPLAY xdotool getdisplaygeometry >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	cat "$WORK/xvfb.log"
	fail "Xvfb did not start"
}

# start_client NAME ARGS...: vdi-client in Xvfb (at most $CLIENT_TIMEOUT s, default 60), its output in $WORK/NAME.out, its pid in
# $client_pid.
start_client() {
	local name=$1
	shift
	DISPLAY=$XDISPLAY timeout -k 5 ${CLIENT_TIMEOUT:-60} "$CLIENT" --no-dialog --api "https://127.0.0.1:$API_PORT" \
		--known-hosts "$WORK/known_hosts" "$@" >"$WORK/$name.out" 2>&1 &
	client_pid=$!
}
# start_client_ui NAME ARGS...: as start_client, but a person's run: no --no-dialog, so failures go back to the
# connect screen and questions are asked in the window.
start_client_ui() {
	local name=$1
	shift
	DISPLAY=$XDISPLAY timeout -k 5 ${CLIENT_TIMEOUT:-60} "$CLIENT" --api "https://127.0.0.1:$API_PORT" \
		--known-hosts "$WORK/known_hosts" "$@" >"$WORK/$name.out" 2>&1 &
	client_pid=$!
}
# pixcount PNG R G B: pixels of exactly that colour; pixdiff A B [X Y W H]: pixels that differ (all of them when
# the sizes differ). Through PIL, quick on a loaded machine.
pixcount() {
	/usr/bin/python3 -c 'import sys; from PIL import Image
im = Image.open(sys.argv[1]).convert("RGB"); want = tuple(int(v) for v in sys.argv[2:5])
print(sum(n for n, c in im.getcolors(1 << 24) if c == want))' "$@"
}
pixdiff() {
	/usr/bin/python3 -c 'import sys; from PIL import Image, ImageChops
a, b = (Image.open(p).convert("RGB") for p in sys.argv[1:3])
if a.size != b.size: print(a.size[0] * a.size[1]); sys.exit()
if len(sys.argv) > 3:
    x, y, w, h = (int(v) for v in sys.argv[3:7]); box = (x, y, min(x + w, a.size[0]), min(y + h, a.size[1]))
    a, b = a.crop(box), b.crop(box)
r, g, b = ImageChops.difference(a, b).split()
m = ImageChops.lighter(ImageChops.lighter(r, g), b)
print(m.size[0] * m.size[1] - m.histogram()[0])' "$@"
}
# wait_vm_size DESKTOP WxH: until the desktop's screen (vdi-vmm ctl screenshot) is that size, within 40 tries.
wait_vm_size() {
	local i
	for ((i = 0; i < 40; i++)); do
		dctl "$1" screenshot "$WORK/size.png" >/dev/null &&
			[ "$(/usr/bin/python3 -c 'import sys; from PIL import Image; print("%dx%d" % Image.open(sys.argv[1]).size)' \
				"$WORK/size.png")" = "$2" ] && return 0
		sleep 0.25
	done
	return 1
}
# window_size WINDOW: its size as xdotool sees it, WxH.
window_size() { DISPLAY=$XDISPLAY xdotool getwindowgeometry "$1" | sed -n 's/.*Geometry: //p'; }
# wait_window_size WINDOW WxH: until the window is that size, within 10 s.
wait_window_size() {
	local i
	for ((i = 0; i < 40; i++)); do
		[ "$(window_size "$1")" = "$2" ] && return 0
		sleep 0.25
	done
	return 1
}
# wait_screen WINDOW PNG: until the window shows one of vdi-client's own screens (mostly its background colour),
# grabbed into PNG, within 40 tries.
wait_screen() {
	local i
	for ((i = 0; i < 40; i++)); do
		grab "$1" "$2" && [ "$(pixcount "$2" 32 40 48)" -gt 300000 ] && return 0
		sleep 0.25
	done
	return 1
}
# run_client NAME ARGS...: vdi-client to its end; its exit status in $client_rc (bounded: 40 s).
run_client() {
	local name=$1
	shift
	DISPLAY=$XDISPLAY timeout -k 5 40 "$CLIENT" --no-dialog --api "https://127.0.0.1:$API_PORT" \
		--known-hosts "$WORK/known_hosts" "$@" >"$WORK/$name.out" 2>&1
	client_rc=$?
	echo "$name: exit $client_rc: $(tail -1 "$WORK/$name.out")"
}

# client_window: the id of vdi-client's window (class vdi-client), found within 20 s.
client_window() {
	local w i
	for ((i = 0; i < 40; i++)); do
		w=$(DISPLAY=$XDISPLAY xdotool search --class vdi-client 2>/dev/null | tail -1)
		[ -n "$w" ] && { echo "$w"; return 0; }
		sleep 0.5
	done
	return 1
}

# grab WINDOW PNG: the window's pixels as an 8-bit RGB PNG like vdi-vmm's screenshots.
grab() {
	DISPLAY=$XDISPLAY import -window "$1" -depth 8 -type TrueColor -define png:color-type=2 "$2" 2>/dev/null
}

# wait_shows WINDOW DESKTOP WHAT: until the window shows the desktop's screen (but its ticking clock) pixel for
# pixel, within 20 s; prints the last count of differing pixels.
wait_shows() {
	local i d=
	for ((i = 0; i < 40; i++)); do
		sleep 0.5
		grab "$1" "$WORK/window.png" || continue
		d=$(screen_diff "$WORK/window.png" "$2")
		[ "$d" = 0 ] && break
	done
	echo "$3: $d pixels of the window differ from $2's screen ($(pngstat size "$WORK/window.png"))"
	[ "$d" = 0 ]
}

# garbage_server PORT: a TCP server that answers every connection with bytes of no protocol and keeps it
# open for a while; its pid in $garbage_pid.
garbage_server() {
	python3 -c '
import socket, sys, threading, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8)
def serve(c):
    try:
        c.sendall(b"HTTP/1.0 418 I am not a desktop\r\n\r\n\x00\xff garbage \x17\x03\x03\x00\x02\x01\x00")
        time.sleep(30)
    except OSError:
        pass
    c.close()
while True:
    c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
' "$1" &
	garbage_pid=$!
	local i
	for ((i = 0; i < 50; i++)); do
		ss -Htln "sport = :$1" | grep -q . && return 0
		sleep 0.1
	done
	fail "the garbage server did not listen"
}
