#!/usr/bin/env bash
# broker_reconnect.sh — a user types into her desktop over RDP, closes the client, and reconnects over
# RDP and then over VNC: each time she lands on the same desktop (audited as a reconnect) with what she
# typed still in its Notes window, the picture equal to the desktop's screen and to what she left.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/broker_lib.sh"

# The Notes window's text area, where typing shows.
NOTES="231 178 560 400"

users alice:pw-alice
config
cat >>"$WORK/vdi.ini" <<EOF
[pool:office]
serial = file
memory = 64M
size = 2
disconnect_timeout = 60s
EOF
start_broker
wait_running 2

rdp first --user alice --pass pw-alice --sleep 3 --type 'typed before the disconnect' --sleep 1 --wait-stable 1 \
	--png "$WORK/first.png"
da=$(desktop_of alice)
[ -n "$da" ] || { dump_audit; fail "alice got no desktop"; }
other=$(sql "SELECT name FROM desktops WHERE name != '$da'")
wait_serial "$da" 'text "typed before the disconnect"'
shows "$WORK/first.png" "$da" "first RDP connection"
# The text is on the screen: her Notes window differs from the untouched desktop's.
dctl "$other" screenshot "$WORK/untouched.png" >/dev/null || fail "screenshot of $other failed"
[ "$(pngstat diff "$WORK/first.png" "$WORK/untouched.png" $NOTES)" -gt 100 ] || fail "the typed text is not shown"
wait_audit "event = 'disconnect' AND user = 'alice' AND desktop = '$da' AND detail = 'rdp'"
[ "$(sql "SELECT state FROM sessions WHERE user = 'alice'")" = disconnected ] ||
	fail "alice's session is not kept as disconnected"

# same_as_first PNG WHAT: the picture is what alice left (all but the clock).
same_as_first() {
	local a b
	a=$(pngstat diff "$1" "$WORK/first.png" 0 0 $W $((H - 48)))
	b=$(pngstat diff "$1" "$WORK/first.png" 0 $((H - 48)) $((W - 130)) 48)
	echo "$2: $a + $b pixels differ from what alice left"
	[ "$a" = 0 ] && [ "$b" = 0 ] || fail "$2: not the screen alice left"
}

rdp again --user alice --pass pw-alice --sleep 2 --wait-stable 1 --png "$WORK/again.png"
[ "$(audit_count "event = 'reconnect' AND user = 'alice' AND desktop = '$da' AND detail = 'rdp'")" = 1 ] ||
	{ dump_audit; fail "the RDP reconnect is not audited on $da"; }
[ "$(desktop_of alice)" = "$da" ] || fail "alice's desktop changed to $(desktop_of alice)"
shows "$WORK/again.png" "$da" "RDP reconnect"
same_as_first "$WORK/again.png" "RDP reconnect"
wait_audit "event = 'disconnect' AND user = 'alice' AND id > (SELECT max(id) FROM audit WHERE event = 'reconnect')"

# VNC: the greeter first, then the same desktop.
vnc vnc -s 1 -t 'alice\npw-alice\n' -s 4 -p "$WORK/vnc.png"
[ "$(audit_count "event = 'reconnect' AND user = 'alice' AND desktop = '$da' AND detail = 'vnc'")" = 1 ] ||
	{ dump_audit; fail "the VNC reconnect is not audited on $da"; }
shows "$WORK/vnc.png" "$da" "VNC reconnect"
same_as_first "$WORK/vnc.png" "VNC reconnect"
[ "$(audit_count "event = 'assign' AND user = 'alice'")" = 1 ] || fail "alice was assigned more than once"
echo "broker_reconnect: all checks passed"
