#!/usr/bin/env bash
# broker_logoff.sh — dedicated assignment sticks across logoffs (here: the disconnect timeout passing):
# the desktop stays its user's, another user gets another one, and the owner gets hers back as she left
# it. (on_logoff = refresh and delete: broker_logoff_refresh.sh, broker_logoff_delete.sh.)
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/broker_lib.sh"

users alice:pw-alice bob:pw-bob
config
cat >>"$WORK/vdi.ini" <<EOF2
[pool:ded]
serial = file
memory = 64M
size = 2
assignment = dedicated
disconnect_timeout = 3s
EOF2
start_broker
wait_running 2

login alice1 alice 'dedicated to alice'
da=$(desktop_of alice)
[ -n "$da" ] || { dump_audit; fail "alice got no desktop"; }
wait_serial "$da" 'text "dedicated to alice"'
logged_off alice
[ "$(sql "SELECT detail FROM audit WHERE event = 'logoff' AND user = 'alice'")" = keep ] || fail "the logoff is not 'keep'"
[ "$(desktop_of alice)" = "$da" ] || fail "alice's dedicated desktop was unassigned at logoff"
[ "$(sql "SELECT count(*) FROM sessions")" = 0 ] || fail "alice's session outlived her logoff"

login bob1 bob
db=$(desktop_of bob)
echo "dedicated: alice has $da, bob got $db"
[ -n "$db" ] && [ "$db" != "$da" ] || { dump_audit; fail "bob got alice's dedicated desktop ($db)"; }
shows "$WORK/bob1.png" "$db" "bob on his own desktop"
wait_serial "$db" '^vdi-guest: label "bob"$'
expect_not "$(serial "$da")" 'label "bob"'

login alice2 alice
[ "$(desktop_of alice)" = "$da" ] || fail "alice did not get her dedicated desktop back"
[ "$(audit_count "event = 'connect' AND user = 'alice' AND desktop = '$da'")" = 2 ] ||
	{ dump_audit; fail "alice's two connects to $da are not audited"; }
[ "$(audit_count "event = 'assign' AND user = 'alice'")" = 1 ] || fail "alice's desktop was assigned anew"
shows "$WORK/alice2.png" "$da" "alice back on her desktop"
[ "$(pngstat diff "$WORK/alice2.png" "$WORK/alice1.png" 0 0 $W $((H - 48)))" = 0 ] ||
	fail "alice's dedicated desktop is not as she left it"
echo "broker_logoff: all checks passed"
