#!/usr/bin/env bash
# broker_vmm_crash.sh — kill -9 of the VMM under a connected user: the desktop is marked failed (audit
# desktop_state running -> failed), the client is switched to the greeter with a red message, pools
# starts the desktop again (a new VMM, still the user's, labelled with her name) and the same client is
# switched back to it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/broker_lib.sh"

users alice:pw-alice
config
cat >>"$WORK/vdi.ini" <<EOF2
[pool:office]
serial = file
memory = 64M
size = 1
disconnect_timeout = 60s
EOF2
start_broker
wait_running 1
p1=$(vmm_pid_of office-1)

# One VNC connection throughout: log in, picture, (the VMM is killed) wait for the greeter's red
# message, picture, then the desktop again.
timeout 60 "$VNCPIXELS" -e raw 127.0.0.1 $VNC_PORT "$WORK/client.ppm" -s 1 -t 'alice\npw-alice\n' -s 3 \
	-p "$WORK/before.png" -c c62828 -p "$WORK/during.png" -s 5 -p "$WORK/after.png" >"$WORK/client.out" 2>&1 &
client=$!
wait_for "$WORK/client.out" "^png $WORK/before.png" 20 || { cat "$WORK/client.out"; fail "no picture before the crash"; }
[ "$(desktop_of alice)" = office-1 ] || { dump_audit; fail "alice did not get office-1"; }
shows "$WORK/before.png" office-1 "before the crash"
last_audit=$(sql "SELECT max(id) FROM audit")
kill -9 "$p1"
wait $client || { cat "$WORK/client.out"; tail -20 "$WORK/server.out"; fail "the client did not see the greeter, then its desktop"; }
grep -E '^(png|colour) ' "$WORK/client.out"

wait_audit "id > $last_audit AND event = 'desktop_state' AND desktop = 'office-1' AND detail = 'running -> failed'"
wait_audit "id > $last_audit AND event = 'desktop_state' AND desktop = 'office-1' AND detail = 'failed -> starting'"
wait_running 1
p2=$(vmm_pid_of office-1)
echo "office-1's VMM: pid $p1, killed; now pid $p2"
[ -n "$p2" ] && [ "$p2" != "$p1" ] || fail "office-1 was not started again"
expect "$WORK/server.out" 'desktop office-1: running -> failed \(its VMM exited unexpectedly, signal 9'

# What alice saw: the greeter with a red message (not her desktop), then her desktop again.
[ "$(error_pixels "$WORK/during.png")" -gt 50 ] || fail "no red message on the greeter"
# All of it: a message cut to fit (ending in "...") fills the fields' width, 308 pixels.
width=$(error_width "$WORK/during.png")
echo "the greeter's message is $width pixels wide"
[ "$width" -lt 300 ] || fail "the greeter's message is cut short ($width pixels wide)"
[ "$(pngstat diff "$WORK/during.png" "$WORK/before.png")" -gt 100000 ] || fail "the client stayed on the dead desktop"
[ "$(desktop_of alice)" = office-1 ] || fail "alice lost her desktop"
wait_serial office-1 '^vdi-guest: label "alice"$'
shows "$WORK/after.png" office-1 "after the restart"
# One connection throughout: no new connect, and its one disconnect when the client ended.
[ "$(audit_count "id > $last_audit AND event IN ('connect', 'reconnect')")" = 0 ] &&
	[ "$(audit_count "id > $last_audit AND event = 'disconnect'")" = 1 ] ||
	{ dump_audit; fail "the connection was dropped or made again"; }
echo "broker_vmm_crash: all checks passed"
