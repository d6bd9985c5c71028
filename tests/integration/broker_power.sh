#!/usr/bin/env bash
# The power scheduler with real desktops: a pool keeps its spare count
# running as a user takes one (the next spare starts, no more); at most
# power_ops starts and stops are under way at once; a user who finds no
# spare gets a desktop started for him and lands on it; a user who
# disconnects has the desktop suspended to disk after on_disconnect_after
# (its VMM gone, the store says suspended) and, reconnecting, finds it
# resumed exactly as it was (the same screen, the typed text); a schedule
# window raises the spare count at its start and lowers it at its end,
# on a test clock running 20 times faster than real time (VDI_TEST_CLOCK);
# a client left idle for idle_timeout is disconnected and its desktop
# suspended.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/broker_lib.sh"
users alice:alicepw bob:bobpw
config
cat >>"$WORK/vdi.ini" <<'EOF2'
power_ops = 2
[pool:p]
serial = file
memory = 64
entitlement = alice
size = 3
spare = 1
on_disconnect = suspend
on_disconnect_after = 2s
disconnect_timeout = 0
idle_timeout = 15s
[pool:s]
serial = file
memory = 64
size = 2
spare = 0
entitlement = bob
schedule = mon-fri 07:00-07:05 spare=2
EOF2
# The [server] key must be in [server]: power_ops went after [api].
python3 - "$WORK/vdi.ini" <<'PY'
import sys
p = sys.argv[1]
t = open(p).read().replace("power_ops = 2\n", "")
t = t.replace("[server]\n", "[server]\npower_ops = 2\n", 1)
open(p, "w").write(t)
PY
# Monday 16 Nov 2026 06:59:00 UTC, 20 test seconds a second: the window
# opens after ~3 s and closes after ~18 s.
ENV_PREFIX=(TZ=UTC VDI_TEST_CLOCK=1794812340,20)
start_broker

# One spare in p, none in s (outside its window yet).
wait_sql "SELECT count(*) FROM desktops WHERE pool = 'p' AND state = 'running'" 1 30 ||
	fail "pool p does not keep 1 spare running"
[ "$(sql "SELECT count(*) FROM desktops WHERE pool = 'p'")" = 1 ] || fail "pool p made more than its spare"

# The schedule window opens: s gets 2 spares; it closes: they stop.
# power_ops = 2: never more than 2 starts or stops under way at once.
most=0
for ((i = 0; i < 300; i++)); do
	busy=$(sql "SELECT count(*) FROM desktops WHERE state IN ('starting', 'stopping', 'provisioning')" 2>/dev/null)
	[ "${busy:-0}" -gt $most ] && most=$busy
	[ "$(sql "SELECT count(*) FROM desktops WHERE pool = 's' AND state = 'running'" 2>/dev/null)" = 2 ] && break
	sleep 0.1
done
[ $most -le 2 ] || fail "$most power operations were under way at once (power_ops = 2)"
wait_sql "SELECT count(*) FROM desktops WHERE pool = 's' AND state = 'running'" 2 30 ||
	{ sql 'SELECT name, state FROM desktops'; fail "the window did not raise s's spares to 2"; }
echo "window open: pool s runs 2 spares"
wait_sql "SELECT count(*) FROM desktops WHERE pool = 's' AND state = 'running'" 0 40 ||
	{ sql 'SELECT name, state FROM desktops'; fail "the window's end did not stop s's spares"; }
echo "window closed: pool s runs none"

# bob logs in to s with no spare running: a desktop starts for him at once
# and he lands on it.
rdp b1 --user bob --pass bobpw --sleep 2 --wait-stable 1 --png "$WORK/b1.png"
bobs=$(desktop_of bob)
[ -n "$bobs" ] || fail "bob got no desktop"
shows "$WORK/b1.png" "$bobs" "bob on a desktop started for him"

# alice takes p's spare; the next spare starts (2 running, no third).
rdp a1 --user alice --pass alicepw --wait-stable 1 --type "kept across suspend" --wait-stable 1 --png "$WORK/a1.png"
mine=$(desktop_of alice)
[ -n "$mine" ] || fail "alice got no desktop"
wait_serial "$mine" 'text "kept across suspend"'
wait_sql "SELECT count(*) FROM desktops WHERE pool = 'p' AND state = 'running'" 2 30 ||
	fail "no new spare after alice took one"
sleep 1
[ "$(sql "SELECT count(*) FROM desktops WHERE pool = 'p'")" = 2 ] || fail "pool p made more than one new spare"
dctl "$mine" screenshot "$WORK/before.png" >/dev/null || fail "screenshot failed"

# Disconnected (the client has ended): after 2 s it is suspended.
wait_sql "SELECT state FROM desktops WHERE name = '$mine'" suspended 30 ||
	{ dump_audit; fail "$mine was not suspended after alice disconnected"; }
p=$(vmm_pid_of "$mine"); [ "${p:-0}" = 0 ] || fail "a suspended desktop still has a VMM ($p)"
[ -f "$DATA/snapshots/$mine/state" ] || fail "no snapshot of $mine"
wait_audit "event = 'suspend' AND desktop = '$mine'"
echo "$mine suspended after the disconnect"

# alice reconnects: resumed, as it was.
# The checks run while alice is still connected: once she leaves,
# on_disconnect suspends the desktop again.
rdp a2 --user alice --pass alicepw --wait-stable 2 --png "$WORK/a2.png" --sleep 3 &
a2=$!
for ((i = 0; i < 300; i++)); do [ -s "$WORK/a2.png" ] && break; sleep 0.1; done
[ -s "$WORK/a2.png" ] || fail "alice's second client has no picture"
[ "$(desktop_of alice)" = "$mine" ] || fail "alice came back to $(desktop_of alice), not $mine"
[ "$(sql "SELECT state FROM desktops WHERE name = '$mine'")" = running ] || fail "$mine is not running"
[ ! -d "$DATA/snapshots/$mine" ] || fail "the spent snapshot of $mine was kept"
shows "$WORK/a2.png" "$mine" "alice after the resume"
d=$(pngstat diff "$WORK/before.png" "$WORK/a2.png" 0 0 $W $((H - 48)))
echo "screen before the suspend / after the resume: $d pixels differ above the taskbar"
[ "$d" = 0 ] || fail "the resumed desktop does not look as it did"
wait $a2 || fail "alice's second client failed"
# She left: suspended again, then the next client finds it resumed.
wait_sql "SELECT state FROM desktops WHERE name = '$mine'" suspended 30 || fail "$mine was not suspended again"

# Nobody at the keyboard for idle_timeout: the server ends the connection
# (well before the client would), and on_disconnect suspends the desktop.
start=$(date +%s)
timeout -k 5 40 "$RDPPIXELS" --host 127.0.0.1 --port $RDP_PORT --size ${W}x$H --user alice --pass alicepw \
	--wait-stable 1 --sleep 30 >"$WORK/a3.out" 2>&1
took=$(($(date +%s) - start))
echo "an idle client was disconnected after $took s"
[ $took -lt 28 ] || fail "the idle client was not disconnected"
wait_audit "event = 'idle_disconnect' AND user = 'alice'"
wait_sql "SELECT state FROM desktops WHERE name = '$mine'" suspended 30 || fail "$mine was not suspended after the idle disconnect"
echo "ok"
