#!/usr/bin/env bash
# broker_suspend_waits.sh — the broker never holds its lock across a call that blocks: while one
# desktop's suspend waits for a VMM that does not answer (stopped with SIGSTOP; the call's limit is a
# minute), another user logs in and gets a desktop. The broker used to hold its one lock across the
# suspend, so every login, greeter and API call waited for it. Once the VMM goes on, the suspend ends.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/broker_lib.sh"

users alice:pw-alice bob:pw-bob
config
cat >>"$WORK/vdi.ini" <<EOF
[pool:office]
memory = 64M
size = 2
on_disconnect = suspend
on_disconnect_after = 2s
EOF
start_broker
wait_running 2

rdp alice --user alice --pass pw-alice --sleep 2 --png "$WORK/alice.png"
da=$(desktop_of alice)
[ -n "$da" ] || { dump_audit; fail "alice got no desktop"; }
pid=$(vmm_pid_of "$da")
# Her desktop's VMM stops answering before the broker asks it to suspend.
kill -STOP "$pid" || fail "cannot stop $da's VMM"
trap 'kill -CONT $pid 2>/dev/null; broker_cleanup' EXIT
wait_audit "event = 'suspend' AND user = 'alice' AND desktop = '$da'" 20
wait_for "$WORK/server.out" "desktop $da: running -> stopping \(suspending to disk\)" 10 ||
	fail "the suspend of $da was not begun"

# Bob logs in while the suspend waits: his client is on his desktop (the one limit here is a hang's).
timeout -k 5 30 "$RDPPIXELS" --host 127.0.0.1 --port $RDP_PORT --size ${W}x$H --user bob --pass pw-bob \
	--sleep 2 --png "$WORK/bob.png" >"$WORK/bob.out" 2>&1 ||
	{ tail -20 "$WORK/bob.out"; tail -20 "$WORK/server.out"; fail "bob's login did not get through while $da suspends"; }
db=$(desktop_of bob)
[ -n "$db" ] && [ "$db" != "$da" ] || fail "bob got '$db'"
[ "$(sql "SELECT state FROM desktops WHERE name = '$da'")" != suspended ] || fail "$da suspended while stopped?"
echo "bob logged in on $db while $da's suspend waited"

# The VMM goes on: it takes the request, and the desktop is suspended.
kill -CONT "$pid"
wait_sql "SELECT state FROM desktops WHERE name = '$da'" suspended 60 ||
	fail "$da is $(sql "SELECT state FROM desktops WHERE name = '$da'"), not suspended"
echo "ok: $da suspended once its VMM went on"
