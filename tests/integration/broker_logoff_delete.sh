#!/usr/bin/env bash
# broker_logoff_delete.sh — on_logoff = delete: when the session ends (disconnect timeout), the desktop
# is powered off and deleted (audit desktop_deleted), and the pool provisions a replacement: a desktop of
# a new name on a new VMM, fresh; the next login lands on the replacement.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/broker_lib.sh"

users dave:pw-dave
config
cat >>"$WORK/vdi.ini" <<EOF2
[pool:temp]
serial = file
memory = 64M
size = 1
on_logoff = delete
disconnect_timeout = 3s
EOF2
start_broker
wait_running 1

id1=$(sql "SELECT id FROM desktops") name1=$(sql "SELECT name FROM desktops") p1=$(vmm_pid_of temp-1)
login dave1 dave 'delete me'
[ "$(desktop_of dave)" = "$name1" ] || fail "dave did not get $name1"
logged_off dave
[ "$(sql "SELECT detail FROM audit WHERE event = 'logoff' AND user = 'dave'")" = delete ] ||
	fail "the logoff is not a delete"
wait_audit "event = 'desktop_deleted' AND desktop = '$name1'" 20
# The replacement: provisioned once the logoff deleted the old one, running on another VMM.
wait_audit "event = 'desktop_state' AND detail = 'provisioning -> starting' AND
	desktop != '$name1' AND id > (SELECT id FROM audit WHERE event = 'logoff')" 20
wait_sql "SELECT count(*) FROM desktops WHERE state = 'running' AND vmm_pid != $p1" 1 20 ||
	{ sql 'SELECT * FROM desktops'; fail "no replacement desktop runs"; }
[ "$(sql "SELECT count(*) FROM desktops")" = 1 ] || fail "the pool holds more than its one desktop"
id2=$(sql "SELECT id FROM desktops") name2=$(sql "SELECT name FROM desktops") p2=$(sql "SELECT vmm_pid FROM desktops")
echo "delete: $name1 (id $id1, pid $p1) was replaced by $name2 (id $id2, pid $p2)"
! kill -0 "$p1" 2>/dev/null || fail "the deleted desktop's VMM $p1 still runs"
[ -z "$(desktop_of dave)" ] || fail "the replacement is assigned to dave already"
[ "$id2" != "$id1" ] || echo "note: the replacement reuses the deleted desktop's store id $id1"
wait_serial "$name2" 'desktop ready'
expect_not "$(serial "$name2")" 'delete me'

login dave2 dave
[ "$(desktop_of dave)" = "$name2" ] || fail "dave did not get the replacement"
shows "$WORK/dave2.png" "$name2" "dave on the replacement"
# The audit log tells desktops apart by name: the replacement has a new one.
[ "$name2" != "$name1" ] || fail "the replacement reuses the deleted desktop's name $name1"
echo "broker_logoff_delete: all checks passed"
