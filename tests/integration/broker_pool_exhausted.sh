#!/usr/bin/env bash
# broker_pool_exhausted.sh — a pool of one desktop: the first user gets it; a second user stays on the
# greeter with "no desktop available in pool solo" in red (audit no_desktop) and gets nothing, while the
# first keeps hers; once her session has timed out (disconnect_timeout), the second user gets the desktop.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/broker_lib.sh"

users alice:pw-alice bob:pw-bob
config
cat >>"$WORK/vdi.ini" <<EOF2
[pool:solo]
serial = file
memory = 64M
size = 1
disconnect_timeout = 4s
EOF2
start_broker
wait_running 1

# alice stays connected while bob tries.
rdp alice --user alice --pass pw-alice --sleep 2 --wait-stable 1 --png "$WORK/alice.png" --sleep 6 &
a=$!
wait_audit "event = 'connect' AND user = 'alice'"
rdp bob --user bob --pass pw-bob --sleep 2 --wait-stable 1 --png "$WORK/bob.png"
wait $a || fail "alice's client failed"
wait_audit "event = 'no_desktop' AND user = 'bob' AND pool = 'solo'"
[ "$(error_pixels "$WORK/bob.png")" -gt 50 ] || fail "bob sees no red message"
[ -z "$(desktop_of bob)" ] || fail "bob got a desktop from a full pool"
# alice kept hers while bob was refused (her session may have timed out since, on a slow machine).
[ "$(sql "SELECT count(*) FROM audit WHERE user = 'alice' AND event IN ('logoff', 'session_end') AND
	id < (SELECT id FROM audit WHERE event = 'no_desktop' AND user = 'bob')")" = 0 ] ||
	{ dump_audit; fail "alice lost her desktop before bob was refused"; }
[ "$(sql "SELECT count(*) FROM desktops")" = 1 ] || fail "the pool grew beyond its size"
shows "$WORK/alice.png" solo-1 "alice"
[ "$(audit_count "user = 'bob' AND event IN ('assign', 'connect')")" = 0 ] || fail "bob was assigned a desktop"

# alice's client is gone; her session ends after 4 s and the desktop is free for bob.
wait_audit "event = 'session_end' AND user = 'alice'" 20
rdp bob2 --user bob --pass pw-bob --sleep 4 --wait-stable 1 --png "$WORK/bob2.png"
[ "$(desktop_of bob)" = solo-1 ] || { dump_audit; fail "bob did not get the freed desktop"; }
wait_serial solo-1 '^vdi-guest: label "bob"$'
shows "$WORK/bob2.png" solo-1 "bob, once alice's session ended"
echo "broker_pool_exhausted: all checks passed"
