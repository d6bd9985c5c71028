#!/usr/bin/env bash
# broker_entitlement.sh — pools are for the users and @groups they name: a user entitled to none stays on
# the greeter with a red message (audit not_entitled) and gets no desktop; a user entitled to one lands
# on it and never on the other; a user entitled to two is shown the pool list and gets the pool picked
# (VNC: Down, Enter picks the second; RDP: Enter the first).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/broker_lib.sh"

users alice:pw-alice:staff bob:pw-bob eve:pw-eve carol:pw-carol:lab dave:pw-dave:staff,lab
config
cat >>"$WORK/vdi.ini" <<EOF
[pool:office]
serial = file
memory = 64M
size = 2
entitlement = @staff
disconnect_timeout = 60s

[pool:lab]
serial = file
memory = 64M
size = 2
entitlement = @lab dave
disconnect_timeout = 60s
EOF
# alice may use office, carol lab, dave both (by group and by name), bob and eve none.
start_broker
wait_running 4

rdp greeter --wait-stable 1 --png "$WORK/greeter.png"

# bob: no pool at all.
rdp bob --user bob --pass pw-bob --sleep 2 --wait-stable 1 --png "$WORK/bob.png"
wait_audit "event = 'not_entitled' AND user = 'bob'"
[ "$(error_pixels "$WORK/bob.png")" -gt 50 ] || fail "bob sees no red message"
[ "$(pngstat diff "$WORK/bob.png" "$WORK/greeter.png")" -gt 0 ] || fail "bob sees the plain greeter"
[ -z "$(desktop_of bob)" ] || fail "bob got a desktop of a pool he may not use"
[ "$(audit_count "user = 'bob' AND event IN ('assign', 'connect')")" = 0 ] || fail "bob was assigned a desktop"
# The message names the user: eve's differs from bob's.
rdp eve --user eve --pass pw-eve --sleep 2 --wait-stable 1 --png "$WORK/eve.png"
wait_audit "event = 'not_entitled' AND user = 'eve'"
box=$(pngbox "$WORK/bob.png" "$WORK/eve.png")
echo "bob's and eve's messages differ within $box"
[ "$box" != none ] || fail "the not-entitled message does not name the user"

# alice: office only, at once, even when she asks with a VNC client.
vnc alice -s 1 -t 'alice\npw-alice\n' -s 3 -p "$WORK/alice.png"
da=$(desktop_of alice)
[ "$(sql "SELECT pool FROM desktops WHERE assigned_user = 'alice'")" = office ] ||
	{ dump_audit; fail "alice got '$da', not an office desktop"; }
shows "$WORK/alice.png" "$da" "alice"
[ "$(audit_count "user = 'alice' AND pool = 'lab'")" = 0 ] || fail "alice came near the lab pool"

# dave may use both: the pool list, Down, Enter: the second, lab.
vnc dave -s 1 -t 'dave\npw-dave\n' -s 1.5 -p "$WORK/list.png" -t '\d' -s 0.5 -p "$WORK/list-down.png" \
	-t '\n' -s 3 -p "$WORK/dave.png"
[ "$(pngstat diff "$WORK/list.png" "$WORK/greeter.png")" -gt 1000 ] || fail "dave was not shown the pool list"
[ "$(error_pixels "$WORK/list.png")" = 0 ] || fail "the pool list shows an error"
box=$(pngbox "$WORK/list.png" "$WORK/list-down.png")
echo "Down moved the selection within $box"
[ "$box" != none ] || fail "Down did not move the selection in the pool list"
dd=$(desktop_of dave)
[ "$(sql "SELECT pool FROM desktops WHERE assigned_user = 'dave'")" = lab ] ||
	{ dump_audit; fail "dave picked the second pool (lab) and got '$dd'"; }
[ "$(audit_count "event = 'connect' AND user = 'dave' AND pool = 'lab' AND desktop = '$dd' AND detail = 'vnc'")" = 1 ] ||
	{ dump_audit; fail "dave's connect to lab is not audited"; }
shows "$WORK/dave.png" "$dd" "dave on lab"
wait_serial "$dd" '^vdi-guest: label "dave"$'

# carol, in @lab only, over RDP: straight to lab, never office.
rdp carol --user carol --pass pw-carol --sleep 2 --wait-stable 1 --png "$WORK/carol.png"
dc=$(desktop_of carol)
[ "$(sql "SELECT pool FROM desktops WHERE assigned_user = 'carol'")" = lab ] ||
	{ dump_audit; fail "carol got '$dc', not a lab desktop"; }
shows "$WORK/carol.png" "$dc" "carol on lab"
[ "$(audit_count "user = 'carol' AND pool = 'office'")" = 0 ] || fail "carol came near the office pool"
echo "broker_entitlement: all checks passed"
