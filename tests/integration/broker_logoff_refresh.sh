#!/usr/bin/env bash
# broker_logoff_refresh.sh — on_logoff = refresh: when the session ends (disconnect timeout), the desktop
# is restarted from its template: a new VMM (the old one gone), unassigned, what was typed gone from its
# console and its screen; the next login gets a desktop whose picture is a fresh desktop's.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/broker_lib.sh"

# The Notes window's text area, where typing shows.
NOTES="231 178 560 400"

users carol:pw-carol
config
cat >>"$WORK/vdi.ini" <<EOF2
[pool:fresh]
serial = file
memory = 64M
size = 1
on_logoff = refresh
disconnect_timeout = 3s
EOF2
start_broker
wait_running 1
# fresh-1 as the template boots it, before anyone used it (its taskbar label empty).
dctl fresh-1 screenshot "$WORK/untouched.png" >/dev/null || fail "screenshot of fresh-1 failed"

p1=$(vmm_pid_of fresh-1)
login carol1 carol 'refresh me'
[ "$(desktop_of carol)" = fresh-1 ] || fail "carol did not get fresh-1"
wait_serial fresh-1 'text "refresh me"'
[ "$(pngstat diff "$WORK/carol1.png" "$WORK/untouched.png" $NOTES)" -gt 100 ] || fail "carol's text is not shown"
logged_off carol
[ "$(sql "SELECT detail FROM audit WHERE event = 'logoff' AND user = 'carol'")" = refresh ] ||
	fail "the logoff is not a refresh"
wait_audit "event = 'desktop_state' AND desktop = 'fresh-1' AND detail = 'running -> stopping'"
wait_audit "event = 'desktop_state' AND desktop = 'fresh-1' AND detail = 'stopped -> starting'"
wait_sql "SELECT state FROM desktops WHERE name = 'fresh-1'" running 20 || fail "fresh-1 did not come back"
p2=$(vmm_pid_of fresh-1)
echo "refresh: fresh-1's VMM was pid $p1, is $p2"
[ -n "$p2" ] && [ "$p2" != "$p1" ] || fail "fresh-1 was not restarted (pid $p1 -> $p2)"
! kill -0 "$p1" 2>/dev/null || fail "fresh-1's old VMM $p1 still runs"
[ -z "$(desktop_of carol)" ] || fail "the refreshed desktop is still assigned to carol"
wait_serial fresh-1 'desktop ready'
expect_not "$(serial fresh-1)" 'refresh me'

login carol2 carol
[ "$(desktop_of carol)" = fresh-1 ] || fail "carol did not get fresh-1 again"
shows "$WORK/carol2.png" fresh-1 "carol after the refresh"
[ "$(pngstat diff "$WORK/carol2.png" "$WORK/untouched.png" 0 0 $W $((H - 48)))" = 0 ] ||
	fail "the refreshed desktop does not look like the template's (the Notes text survived?)"
echo "broker_logoff_refresh: all checks passed"
