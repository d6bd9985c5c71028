#!/usr/bin/env bash
# client_errors.sh — what a person sees of vdi-client's choices and refusals, against a real vdi-server: a user
# entitled to two pools gets the pick list, moves to the second with the arrow key and Enter, and lands on that
# pool's desktop (the window equals its screen). Errors a person can act on, each with its exit status under
# --no-dialog: a user entitled to no pool (6), a pool the user may not use (6), a pool whose desktops are all
# taken (7), five wrong passwords (4 each) and then the right one from the same address: locked out (5, with the
# time left). Interactively the locked-out login returns to the connect screen with that message in red
# under the fields (the rest of the screen as before), and closing the window then exits 5.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/broker_lib.sh"
source "$(dirname "$0")/client_lib.sh"

users alice:pw-alice bob:pw-bob carol:pw-carol dave:pw-dave
config "lockout_attempts = 5
lockout_window = 120s
lockout_duration = 300s"
sed -i "s/^listen = off$/listen = 127.0.0.1:$API_PORT/" "$WORK/vdi.ini"
cat >>"$WORK/vdi.ini" <<EOF2
[pool:office]
memory = 64M
size = 1
entitlement = alice bob
disconnect_timeout = 120s
[pool:lab]
memory = 64M
size = 1
entitlement = alice dave
disconnect_timeout = 120s
EOF2
start_broker
wait_running 2
start_xvfb
for u in alice bob carol dave; do echo "pw-$u" >"$WORK/$u.pw"; done
echo guess >"$WORK/wrong.pw"
key() { DISPLAY=$XDISPLAY xdotool key --delay 80 "$@"; }
CLIENT_TIMEOUT=150

# The pick list: office first (highlighted), then lab; Down and Enter choose lab.
start_client_ui pick --password-file "$WORK/alice.pw" --trust-on-first-use "rdp://alice@127.0.0.1:$RDP_PORT"
win=$(client_window) || { cat "$WORK/pick.out"; fail "no vdi-client window"; }
wait_screen "$win" "$WORK/list.png" || { cat "$WORK/pick.out"; fail "no pick list"; }
sleep 0.5
grab "$win" "$WORK/list.png"
DISPLAY=$XDISPLAY xdotool windowfocus --sync "$win" 2>/dev/null
key Down
sleep 0.5
grab "$win" "$WORK/list2.png"
# The highlight (58,110,165) moved from the first row (y 90..118) to the second (118..146).
hl1=$(pixcount "$WORK/list.png" 58 110 165) hl2=$(pixcount "$WORK/list2.png" 58 110 165)
moved=$(pixdiff "$WORK/list.png" "$WORK/list2.png" 0 90 1024 56)
echo "pick list: $hl1 highlight pixels, after Down $hl2; $moved pixels of the two rows changed"
[ "$hl1" -gt 10000 ] && [ "$moved" -gt 10000 ] || fail "the pick list did not show or follow the arrow key"
[ "$(pixdiff "$WORK/list.png" "$WORK/list2.png" 0 150 1024 600)" = 0 ] || fail "more than the rows changed"
key Return
wait_sql "SELECT pool FROM desktops WHERE assigned_user = 'alice'" lab 30 || { cat "$WORK/pick.out"; dump_audit; fail "alice did not land on lab"; }
d=$(desktop_of alice)
wait_shows "$win" "$d" "alice on the second pool, picked from the list" || fail "the window is not $d"
kill -TERM $client_pid
wait $client_pid

# Not entitled: to any pool (6), to the pool asked for (6).
run_client carol --password-file "$WORK/carol.pw" "rdp://carol@127.0.0.1:$RDP_PORT"
[ $client_rc = 6 ] && grep -q 'carol may use no pool' "$WORK/carol.out" || fail "carol, entitled to nothing: exit $client_rc"
run_client boblab --password-file "$WORK/bob.pw" --pool lab "rdp://bob@127.0.0.1:$RDP_PORT"
[ $client_rc = 6 ] && grep -q 'bob may not use pool lab' "$WORK/boblab.out" || fail "bob on lab: exit $client_rc"
# Exhausted: lab's one desktop is alice's.
run_client davelab --password-file "$WORK/dave.pw" --pool lab "rdp://dave@127.0.0.1:$RDP_PORT"
[ $client_rc = 7 ] && grep -q 'pool lab has no desktop available for dave' "$WORK/davelab.out" ||
	fail "dave on a full lab: exit $client_rc"
[ "$(audit_count "user = 'dave' AND event IN ('assign', 'connect', 'no_desktop')")" = 0 ] ||
	fail "dave's refused attempt reached the broker's login"

# Locked out: five wrong passwords, then the right one.
for i in 1 2 3 4 5; do
	run_client "wrong$i" --password-file "$WORK/wrong.pw" --pool office "rdp://bob@127.0.0.1:$RDP_PORT"
	[ $client_rc = 4 ] || fail "wrong password $i: exit $client_rc"
done
run_client locked --password-file "$WORK/bob.pw" --pool office "rdp://bob@127.0.0.1:$RDP_PORT"
[ $client_rc = 5 ] || fail "the right password after five wrong ones: exit $client_rc"
left=$(grep -o 'try again in [0-9]* s' "$WORK/locked.out" | grep -o '[0-9]*')
[ -n "$left" ] && [ "$left" -gt 0 ] && [ "$left" -le 300 ] || fail "the lockout message gives no time left"
[ "$(audit_count "event = 'lockout' AND user = 'bob'")" -ge 1 ] || fail "no lockout audited"

# Interactively: the connect screen, then the same refusal on it.
start_client_ui lockedui "rdp://bob@127.0.0.1:$RDP_PORT"
win=$(client_window) || { cat "$WORK/lockedui.out"; fail "no vdi-client window"; }
wait_screen "$win" "$WORK/plain.png" || fail "no connect screen"
DISPLAY=$XDISPLAY xdotool windowfocus --sync "$win" 2>/dev/null
DISPLAY=$XDISPLAY xdotool type --delay 60 pw-bob
key Return
wait_for "$WORK/lockedui.out" "bob is locked out after too many failed logins; try again in [0-9]* s" 20 ||
	{ cat "$WORK/lockedui.out"; fail "no lockout message"; }
for ((i = 0; i < 20; i++)); do
	sleep 0.25
	grab "$win" "$WORK/refused.png" && [ "$(pixdiff "$WORK/refused.png" "$WORK/plain.png" 0 490 1024 278)" -gt 500 ] && break
done
above=$(pixdiff "$WORK/refused.png" "$WORK/plain.png" 0 0 1024 490)
below=$(pixdiff "$WORK/refused.png" "$WORK/plain.png" 0 490 1024 278)
echo "the lockout on the connect screen: $below pixels of the message area changed, $above above it"
[ "$above" = 0 ] && [ "$below" -gt 500 ] || fail "the connect screen does not show the lockout in its message area"
[ "$(pixcount "$WORK/refused.png" 255 112 112)" -gt 100 ] || fail "the message is not in red"
kill -TERM $client_pid
wait $client_pid
rc=$?
echo "closing after the lockout: exit $rc"
[ $rc = 5 ] || { cat "$WORK/lockedui.out"; fail "closing after a lockout gave exit $rc"; }
echo "client_errors: all checks passed"
