#!/usr/bin/env bash
# client_vnc.sh — vdi-client over VNC against a real vdi-server and desktop under Xvfb: it logs in through
# VeNCrypt X509Plain (the certificate trusted on first use, then checked by libvncclient too) straight to the
# desktop; with --lossless its window shows the desktop's screen pixel for pixel, with Tight's JPEG (the
# default) within a small error; typed text reaches the guest; Ctrl+Alt+Enter makes the window full screen and
# back and a window resize resizes the VM (SetDesktopSize), the window showing it each time; a wrong password
# ends it with 4, a port that speaks garbage or closes mid-handshake with 9, an unknown certificate under
# --no-dialog without --trust-on-first-use with 8.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/broker_lib.sh"
source "$(dirname "$0")/client_lib.sh"

client_server
CLIENT_TIMEOUT=150
# Without --trust-on-first-use an unknown certificate is refused under --no-dialog.
run_client untrusted --password-file "$WORK/alice.pw" "vnc://alice@127.0.0.1:$VNC_PORT"
[ $client_rc = 8 ] || fail "an unknown certificate gave exit $client_rc"
grep -q 'is not trusted' "$WORK/untrusted.out" || fail "no clear message for an unknown certificate"

start_client vnc --password-file "$WORK/alice.pw" --trust-on-first-use --lossless --size 1024x768 \
	"vnc://alice@127.0.0.1:$VNC_PORT"
win=$(client_window) || { cat "$WORK/vnc.out"; fail "no vdi-client window"; }
wait_audit "event = 'connect' AND user = 'alice' AND detail = 'vnc'"
grep -q 'vnc: 127.0.0.1: RFB 3.8, VeNCrypt X509Plain with a user name' "$WORK/server.out" ||
	fail "vdi-client did not log in through VeNCrypt"
d=$(desktop_of alice)
[ -n "$d" ] || fail "alice got no desktop"
wait_shows "$win" "$d" "vdi-client over VNC, lossless" || { cat "$WORK/vnc.out"; fail "the window is not the desktop"; }
grep -q "^127.0.0.1:$VNC_PORT [0-9A-F:]\{95\}$" "$WORK/known_hosts" || fail "the VNC certificate was not remembered"

DISPLAY=$XDISPLAY xdotool windowfocus --sync "$win" 2>/dev/null
DISPLAY=$XDISPLAY xdotool type --delay 40 'Hello VNC 42!'
wait_serial "$d" 'text "Hello VNC 42!"' 15
echo "typed text reached $d: $(grep -o 'text "Hello VNC 42!"' "$(serial "$d")" | tail -1)"
wait_shows "$win" "$d" "after typing" || fail "the window does not follow the desktop after typing"

# Ctrl+Alt+Enter: full screen (Xvfb's 1280x1024, no window manager) and back; the desktop follows the window
# through SetDesktopSize each way.
DISPLAY=$XDISPLAY xdotool key ctrl+alt+Return
wait_window_size "$win" 1280x1024 || fail "Ctrl+Alt+Enter did not make the window full screen: $(window_size "$win")"
wait_vm_size "$d" 1280x1024 || fail "the desktop did not follow the full-screen window"
W=1280 H=1024 wait_shows "$win" "$d" "full screen" || fail "the full-screen window does not show the desktop"
DISPLAY=$XDISPLAY xdotool key ctrl+alt+Return
wait_window_size "$win" 1024x768 || fail "Ctrl+Alt+Enter did not leave full screen: $(window_size "$win")"
wait_vm_size "$d" 1024x768 || fail "the desktop did not follow the window back"
echo "Ctrl+Alt+Enter: full screen at 1280x1024 and back to 1024x768, the desktop with it"
# A resized window resizes the desktop.
DISPLAY=$XDISPLAY xdotool windowsize "$win" 800 600
wait_vm_size "$d" 800x600 || fail "the desktop did not become 800x600 over VNC"
W=800 H=600 wait_shows "$win" "$d" "after resizing to 800x600" || fail "the window does not show the resized desktop"
DISPLAY=$XDISPLAY xdotool windowsize "$win" 1024 768
wait_vm_size "$d" 1024x768 || fail "the desktop did not become 1024x768 again"
kill -TERM $client_pid
wait $client_pid
rc=$?
echo "quitting: exit $rc"
[ $rc = 0 ] || { cat "$WORK/vnc.out"; fail "quitting gave exit $rc"; }

# The default, Tight with JPEG: the gradient background is photographic, so JPEG (quality 9) may change
# pixels, but by little.
start_client jpeg --password-file "$WORK/alice.pw" --size 1024x768 "vnc://alice@127.0.0.1:$VNC_PORT"
win=$(client_window) || { cat "$WORK/jpeg.out"; fail "no vdi-client window"; }
sleep 4
grab "$win" "$WORK/jpeg.png" || fail "cannot grab the window"
dctl "$d" screenshot "$WORK/jpeg-vm.png" >/dev/null || fail "screenshot of $d failed"
read -r differ maxerr < <(/usr/bin/python3 - "$WORK/jpeg.png" "$WORK/jpeg-vm.png" <<'PY'
import sys
from PIL import Image, ImageChops
a, b = (Image.open(p).convert("RGB").crop((0, 0, 1024, 720)) for p in sys.argv[1:3])
d = ImageChops.difference(a, b)
print(sum(1 for p in d.getdata() if p != (0, 0, 0)), max(max(e) for e in d.getextrema()))
PY
)
echo "vdi-client over VNC with JPEG: $differ pixels differ above the taskbar, by at most $maxerr"
[ "$maxerr" -le 12 ] || fail "JPEG changed pixels by up to $maxerr"
kill -TERM $client_pid
wait $client_pid

run_client wrong --password-file "$WORK/wrong.pw" "vnc://alice@127.0.0.1:$VNC_PORT"
[ $client_rc = 4 ] || fail "a wrong password gave exit $client_rc"

GPORT=$((VNC_PORT + 3000))
garbage_server $GPORT
run_client garbage --password-file "$WORK/alice.pw" --trust-on-first-use "vnc://alice@127.0.0.1:$GPORT"
[ $client_rc = 9 ] || fail "a garbage server gave exit $client_rc"
[ "$(wc -l <"$WORK/garbage.out")" = 1 ] || { cat "$WORK/garbage.out"; fail "more than one line for garbage"; }
kill $garbage_pid
# A server that closes in the middle of the RFB handshake.
python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8)
while True:
    c, _ = s.accept(); c.sendall(b"RFB 003.008\n"); c.recv(12); c.close()
' $GPORT &
for ((i = 0; i < 50; i++)); do ss -Htln "sport = :$GPORT" | grep -q . && break; sleep 0.1; done
run_client midway --password-file "$WORK/alice.pw" --trust-on-first-use "vnc://alice@127.0.0.1:$GPORT"
[ $client_rc = 9 ] || fail "a server closing mid-handshake gave exit $client_rc"
echo "client_vnc: all checks passed"
