#!/usr/bin/env bash
# broker_restart.sh — kill -9 of vdi-server while a user is connected: the desktops' VMMs keep running;
# the next vdi-server adopts them (same pids, nothing provisioned or restarted), keeps the session as
# disconnected, and the user reconnecting lands on the same desktop with its screen as it was.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/broker_lib.sh"

users alice:pw-alice
config
cat >>"$WORK/vdi.ini" <<EOF2
[pool:office]
serial = file
memory = 64M
size = 2
disconnect_timeout = 60s
EOF2
start_broker
wait_running 2

# alice types, takes a picture and stays connected.
timeout 60 "$RDPPIXELS" --host 127.0.0.1 --port $RDP_PORT --size ${W}x$H --ignore $((W - 130)),$((H - 48)),130,48 \
	--user alice --pass pw-alice --sleep 2 --type 'survives a restart' --sleep 1 --wait-stable 1 \
	--png "$WORK/before.png" --sleep 50 >"$WORK/client.out" 2>&1 &
client=$!
wait_for "$WORK/client.out" "^png $WORK/before.png" 20 || { cat "$WORK/client.out"; fail "alice's client took no picture"; }
da=$(desktop_of alice)
[ -n "$da" ] || { dump_audit; fail "alice got no desktop"; }
wait_serial "$da" 'text "survives a restart"'
shows "$WORK/before.png" "$da" "before the restart"
pids_before=$(sql "SELECT name || ':' || vmm_pid FROM desktops ORDER BY name")
last_audit=$(sql "SELECT max(id) FROM audit")

kill -9 "$server"
wait "$server" 2>/dev/null
echo "vdi-server killed; the VMMs: $pids_before"
for p in $(sql "SELECT vmm_pid FROM desktops"); do
	kill -0 "$p" 2>/dev/null || fail "VMM $p died with vdi-server"
done
wait $client 2>/dev/null  # its connection broke with the server

start_broker server2
for d in $(sql "SELECT name FROM desktops"); do
	wait_for "$WORK/server2.out" "desktop $d adopted \(vdi-vmm pid [0-9]+\)" 20 ||
		{ cat "$WORK/server2.out"; fail "$d was not adopted"; }
done
wait_running 2
pids_after=$(sql "SELECT name || ':' || vmm_pid FROM desktops ORDER BY name")
echo "after the restart: $pids_after"
[ "$pids_after" = "$pids_before" ] || fail "the desktops' VMMs changed across the restart"
[ "$(audit_count "id > $last_audit AND event = 'desktop_state'")" = 0 ] ||
	{ dump_audit; fail "a desktop changed state across the restart"; }
[ "$(sql "SELECT state || ':' || (SELECT name FROM desktops WHERE id = desktop_id) FROM sessions WHERE user = 'alice'")" = "disconnected:$da" ] ||
	fail "alice's session is not kept, disconnected, on $da"
[ "$(desktop_of alice)" = "$da" ] || fail "alice's desktop assignment was lost"

rdp after --user alice --pass pw-alice --sleep 2 --wait-stable 1 --png "$WORK/after.png"
[ "$(audit_count "id > $last_audit AND event = 'reconnect' AND user = 'alice' AND desktop = '$da'")" = 1 ] ||
	{ dump_audit; fail "alice's reconnect to $da after the restart is not audited"; }
shows "$WORK/after.png" "$da" "after the restart"
a=$(pngstat diff "$WORK/after.png" "$WORK/before.png" 0 0 $W $((H - 48)))
b=$(pngstat diff "$WORK/after.png" "$WORK/before.png" 0 $((H - 48)) $((W - 130)) 48)
echo "after the restart: $a + $b pixels differ from the picture before it"
[ "$a" = 0 ] && [ "$b" = 0 ] || fail "the screen is not as alice left it"
echo "broker_restart: all checks passed"
