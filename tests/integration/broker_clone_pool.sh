#!/usr/bin/env bash
# broker_clone_pool.sh — a new pool with clone = yes: its first desktops wait for the pool's template
# (starting, no VMM yet) instead of booting cold beside it, then all start as instant clones of it
# (their VMMs run --restore TEMPLATE --clone; none boots); a user logs in and gets one, pixel-exact.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/broker_lib.sh"

users dora:pw-dora
config
cat >>"$WORK/vdi.ini" <<EOF
[pool:inst]
memory = 64M
size = 3
spare = 3
clone = yes
EOF
start_broker
# While the template is made, the pool's desktops are starting with no VMM.
wait_audit "event = 'desktop_state' AND pool = 'inst' AND detail = 'provisioning -> starting'" 20
starting=$(sql "SELECT count(*) FROM desktops WHERE pool = 'inst' AND state = 'starting' AND ifnull(vmm_pid, 0) = 0")
echo "desktops waiting for the template: $starting"
[ "$starting" -ge 1 ] || { sql 'SELECT name, state, vmm_pid FROM desktops'; fail "no desktop waits for the template"; }
wait_sql "SELECT count(*) FROM desktops WHERE state = 'running'" 3 120 ||
	{ sql 'SELECT name, state, vmm_pid FROM desktops'; fail "the pool's 3 desktops do not run"; }
grep -q "pool inst has a template for instant clones" "$WORK/server.out" || fail "no template was made"
for d in inst-1 inst-2 inst-3; do
	pid=$(vmm_pid_of $d)
	cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline")
	echo "$d: $cmd"
	case "$cmd" in
	*"--restore $DATA/snapshots/template-inst/"*" --clone "*) ;;
	*) fail "$d is not a clone of the pool's template: $cmd" ;;
	esac
done
[ "$(grep -c 'waiting for its pool.s template' "$WORK/server.out")" -ge 1 ] || fail "no desktop waited"
# A user gets one of them, and sees it.
login dora dora
d=$(desktop_of dora)
[ -n "$d" ] || fail "dora got no desktop"
shows "$WORK/dora.png" "$d" "dora on a clone"
echo "broker_clone_pool: all checks passed"
