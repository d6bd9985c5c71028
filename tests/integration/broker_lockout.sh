#!/usr/bin/env bash
# broker_lockout.sh — five wrong passwords typed into one VNC client's greeter lock the user out: the
# sixth attempt, with the right password, shows a different red message ("locked out, try again in N s")
# and gets no desktop (audit: login_failed x5, lockout, locked_refused); once the configured duration has
# passed, the right password over RDP lands on a desktop.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/broker_lib.sh"

DURATION=5
users alice:pw-alice
config "lockout_attempts = 5
lockout_window = 60s
lockout_duration = ${DURATION}s"
cat >>"$WORK/vdi.ini" <<EOF
[pool:office]
memory = 64M
size = 1
disconnect_timeout = 60s
EOF
start_broker
wait_running 1

# After each Enter the greeter is busy until the answer; a second's pause lets it come back. The user
# name stays in its field and the focus in the password field after a failure.
vnc guess -s 1 -p "$WORK/greeter.png" -t 'alice\nguess-1\n' -s 1 -p "$WORK/wrong1.png" \
	-t 'guess-2\n' -s 1 -t 'guess-3\n' -s 1 -t 'guess-4\n' -s 1 -t 'guess-5\n' -s 1 -p "$WORK/wrong5.png" \
	-t 'pw-alice\n' -s 1 -p "$WORK/locked.png"
dump_audit | grep -v desktop_state
[ "$(audit_count "event = 'login_failed' AND user = 'alice'")" = 5 ] || fail "not 5 failed logins audited"
[ "$(audit_count "event = 'lockout' AND user = 'alice'")" = 1 ] || fail "the lockout is not audited once"
[ "$(audit_count "event = 'locked_refused' AND user = 'alice'")" = 1 ] ||
	fail "the sixth attempt is not audited as refused while locked"
[ "$(audit_count "event = 'login_ok'")" = 0 ] || fail "a login succeeded while locked out"
[ -z "$(desktop_of alice)" ] || fail "alice got a desktop while locked out"
expect "$WORK/server.out" 'audit: event=lockout user=alice'

# What the user saw: red messages; the fifth wrong password's message is the first one's; the locked-out
# message is another one, in the same place.
for p in wrong1 wrong5 locked; do
	[ "$(error_pixels "$WORK/$p.png")" -gt 50 ] || fail "$p: no red message on the greeter"
done
[ "$(pngstat diff "$WORK/wrong1.png" "$WORK/wrong5.png")" = 0 ] || fail "the fifth failure looks unlike the first"
box=$(pngbox "$WORK/wrong1.png" "$WORK/locked.png")
echo "locked out: the message changed in the box $box (wrong password: $(pngbox "$WORK/greeter.png" "$WORK/wrong1.png"))"
[ "$box" != none ] || fail "the locked-out attempt shows the wrong-password message"
read -r _ _ _ bh <<<"$box"
[ "$bh" -lt 40 ] || fail "more than the message line changed when locked out ($box)"

# After the duration the right password works (the lockout counted from the fifth failure).
sleep $((DURATION + 1))
rdp after --user alice --pass pw-alice --sleep 2 --wait-stable 1 --png "$WORK/after.png"
wait_audit "event = 'login_ok' AND user = 'alice'"
da=$(desktop_of alice)
[ -n "$da" ] || { dump_audit; fail "alice got no desktop after the lockout"; }
shows "$WORK/after.png" "$da" "after the lockout"
echo "broker_lockout: all checks passed"
