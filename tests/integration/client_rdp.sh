#!/usr/bin/env bash
# client_rdp.sh — vdi-client over RDP against a real vdi-server and desktop under Xvfb: with autologon and the
# graphics pipeline its window shows the desktop's screen pixel for pixel, the certificate it trusted on first
# use is remembered, text typed into its window reaches the guest, resizing the window resizes the desktop, quitting ends it with 0; a wrong
# password ends it with 4 (from the user API), a port that speaks garbage with 9, a closed port with 3, a
# changed certificate with 8, all without hanging.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/broker_lib.sh"
source "$(dirname "$0")/client_lib.sh"

client_server
start_client rdp --password-file "$WORK/alice.pw" --trust-on-first-use --size 1024x768 \
	"rdp://alice@127.0.0.1:$RDP_PORT"
win=$(client_window) || { cat "$WORK/rdp.out"; fail "no vdi-client window"; }
wait_audit "event = 'connect' AND user = 'alice' AND detail = 'rdp'"
d=$(desktop_of alice)
[ -n "$d" ] || fail "alice got no desktop"
wait_shows "$win" "$d" "vdi-client over RDP with GFX" || { cat "$WORK/rdp.out"; fail "the window is not the desktop"; }
grep -q 'rdp: GFX surface 1024x768' "$WORK/server.out" || fail "the server did not use the graphics pipeline"
grep -q "^127.0.0.1:$RDP_PORT [0-9A-F:]\{95\}$" "$WORK/known_hosts" || fail "the RDP certificate was not remembered"

# Typing: the keys reach the guest as scancodes.
DISPLAY=$XDISPLAY xdotool windowfocus --sync "$win" 2>/dev/null
DISPLAY=$XDISPLAY xdotool type --delay 40 'Hello RDP 42!'
wait_serial "$d" 'text "Hello RDP 42!"' 15
echo "typed text reached $d: $(grep -o 'text "Hello RDP 42!"' "$(serial "$d")" | tail -1)"
wait_shows "$win" "$d" "after typing" || fail "the window does not follow the desktop after typing"

# Resizing the window resizes the desktop (the display control channel), and the window shows it.
DISPLAY=$XDISPLAY xdotool windowsize "$win" 800 600
wait_for "$WORK/server.out" "rdp: the client's monitor is now 800x600" 10 || fail "no resize request reached the server"
for ((i = 0; i < 40; i++)); do
	dctl "$d" screenshot "$WORK/resized.png" >/dev/null && [ "$(pngstat size "$WORK/resized.png")" = "800 600" ] && break
	sleep 0.25
done
[ $i -lt 40 ] || fail "the desktop did not become 800x600"
W=800 H=600 wait_shows "$win" "$d" "after resizing to 800x600" || fail "the window does not show the resized desktop"

# Quitting (SDL turns SIGTERM into the same quit event as closing the window; Xvfb has no window manager
# to send WM_DELETE_WINDOW) ends the client with 0.
kill -TERM $client_pid
wait $client_pid
rc=$?
echo "quitting: exit $rc"
[ $rc = 0 ] || { cat "$WORK/rdp.out"; fail "quitting gave exit $rc"; }

# A wrong password: 4, from the user API, before any RDP.
run_client wrong --password-file "$WORK/wrong.pw" --trust-on-first-use "rdp://alice@127.0.0.1:$RDP_PORT"
[ $client_rc = 4 ] || fail "a wrong password gave exit $client_rc"
grep -q 'wrong user name or password' "$WORK/wrong.out" || fail "no clear message for a wrong password"

# Garbage instead of RDP: 9 with one line, quickly; a closed port: 3.
GPORT=$((RDP_PORT + 3000))
garbage_server $GPORT
start=$SECONDS
run_client garbage --password-file "$WORK/alice.pw" --trust-on-first-use "rdp://alice@127.0.0.1:$GPORT"
[ $client_rc = 9 ] || fail "a garbage server gave exit $client_rc"
[ $((SECONDS - start)) -lt 25 ] || fail "the garbage server took $((SECONDS - start)) s"
[ "$(wc -l <"$WORK/garbage.out")" = 1 ] || { cat "$WORK/garbage.out"; fail "more than one line for garbage"; }
kill $garbage_pid
run_client closed --password-file "$WORK/alice.pw" --trust-on-first-use "rdp://alice@127.0.0.1:$GPORT"
[ $client_rc = 3 ] || fail "a closed port gave exit $client_rc"

# A changed certificate (another one remembered for this host and port): 8, naming both fingerprints.
sed -i "s/^127.0.0.1:$RDP_PORT .*/127.0.0.1:$RDP_PORT 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF/" \
	"$WORK/known_hosts"
run_client changed --password-file "$WORK/alice.pw" "rdp://alice@127.0.0.1:$RDP_PORT"
[ $client_rc = 8 ] || fail "a changed certificate gave exit $client_rc"
grep -q 'CHANGED: it was SHA-256 00:11:22.*, now [0-9A-F:]\{95\}' "$WORK/changed.out" ||
	fail "the message does not name both fingerprints"
echo "client_rdp: all checks passed"
