#!/usr/bin/env bash
# The admin API of a real vdi-server, through vdictl (and curl for requests
# vdictl would never send): pools listed and created with progress, desktops
# listed, screenshotted (the PNG equals the VM's own screenshot exactly),
# refreshed (a new VMM), powered off (which holds it off across a restart
# of vdi-server) and on, deleted (the pool makes a new
# one), a session seen after an RDP login and logged off by the admin (the
# client is disconnected, the session gone), audit events and metrics;
# non-admins, wrong passwords, unknown settings and malformed JSON get clear
# errors; a pool from the configuration file cannot be deleted.
source "$(dirname "$0")/lib.sh"
need_kvm
command -v curl >/dev/null || skip "curl is not installed"
DATA=$WORK/data
API=$((20000 + RANDOM % 20000))
RDP=$((API + 1))
mkdir -p "$DATA"
build/tests/tools/authcheck --backend file --users "$DATA/users" --add admin:adminpw:ops --add alice:alicepw \
	</dev/null >/dev/null || fail "cannot add users"
cat >"$WORK/vdi.conf" <<CONF
[server]
data_dir = $DATA
bind = 127.0.0.1
rdp_port = $RDP
vnc_port = 0
[auth]
admins = @ops
[api]
listen = 127.0.0.1:$API
[pool:demo]
memory = 64
size = 2
CONF
build/bin/vdi-server --config "$WORK/vdi.conf" >"$WORK/server.out" 2>&1 &
server=$!
cleanup_vmms() {
	kill "$server" 2>/dev/null
	wait "$server" 2>/dev/null
	for s in "$DATA"/run/*.sock; do [ -S "$s" ] && "$VMM" ctl "$s" poweroff >/dev/null 2>&1; done
}
trap 'cleanup_vmms; rm -rf "$WORK"' EXIT
wait_for "$WORK/server.out" "vdi-server ready" 20 || { cat "$WORK/server.out"; fail "vdi-server did not start"; }

V() { VDI_PASSWORD=adminpw build/bin/vdictl --api https://127.0.0.1:$API --user admin --cacert "$DATA/tls.crt" "$@"; }
# desktops running: wait until N desktops of the pool run
running() {
	local i
	for ((i = 0; i < 100; i++)); do
		[ "$(V --json desktops --pool "$1" | python3 -c 'import json,sys; print(sum(d["state"]=="running" for d in json.load(sys.stdin)["desktops"]))')" = "$2" ] && return 0
		sleep 0.2
	done
	V desktops
	return 1
}
field() { # field DESKTOP KEY
	V --json desktop show "$1" | python3 -c "import json,sys; print(json.load(sys.stdin)['$2'])"
}
running demo 2 || fail "the pool's 2 desktops do not run"
V pools | grep -Eq '^demo +desktop' || fail "pools lists no demo"

# Screenshot: exactly the VM's own picture (taken while the guest is idle;
# the taskbar clock is left out).
V desktop screenshot demo-1 -o "$WORK/api.png" >/dev/null || fail "screenshot failed"
"$VMM" ctl "$DATA/run/demo-1.sock" screenshot "$WORK/vm.png" >/dev/null || fail "vdi-vmm screenshot failed"
[ "$(pngstat size "$WORK/api.png")" = "1024 768" ] || fail "the screenshot is $(pngstat size "$WORK/api.png")"
[ "$(pngstat diff "$WORK/api.png" "$WORK/vm.png" 0 0 1024 720)" = 0 ] || fail "the API's screenshot differs from the VM's"

# A pool created through the API, with progress; deleted again.
V pool create extra size=1 memory=64 >"$WORK/create.out" || { cat "$WORK/create.out"; fail "pool create failed"; }
grep -q "creating pool extra: 1/1 desktops" "$WORK/create.out" || fail "no progress shown: $(cat "$WORK/create.out")"
running extra 1 || fail "the new pool's desktop does not run"
V pool delete extra >/dev/null || fail "pool delete failed"
for ((i = 0; i < 50; i++)); do V pools | grep -q '^extra ' || break; sleep 0.2; done
! V pools | grep -q '^extra ' || fail "pool extra is still there"
out=$(V pool delete demo 2>&1) && fail "a configured pool was deleted"
echo "$out" | grep -q "defined in the configuration file" || fail "unclear error: $out"

# An admin overrides a configured pool's spares at run time: one spare
# fewer stops a free desktop, one more starts it again.
V pool set demo spare=1 >/dev/null || fail "pool set failed"
running demo 1 || fail "spare=1 did not leave 1 desktop running"
V pool show demo | grep -Eq '^ *spare *: *1$|"spare": 1|spare +1' || V --json pool show demo | grep -q '"spare": 1' ||
	fail "the pool does not show spare 1"
V pool set demo spare=2 >/dev/null || fail "pool set failed"
running demo 2 || fail "spare=2 did not bring the second desktop back"

# Suspend and resume by hand: the desktop goes to disk and comes back.
V desktop suspend demo-1 >/dev/null || fail "suspend failed"
for ((i = 0; i < 100; i++)); do [ "$(field demo-1 state)" = suspended ] && break; sleep 0.1; done
[ "$(field demo-1 state)" = suspended ] || fail "demo-1 is $(field demo-1 state), not suspended"
[ -f "$DATA/snapshots/demo-1/state" ] || fail "no snapshot of demo-1"
out=$(V desktop suspend demo-1 2>&1) && fail "a suspended desktop was suspended again"
V desktop resume demo-1 >/dev/null || fail "resume failed"
running demo 2 || fail "demo-1 did not resume"

# Refresh: a new VMM; power off and on.
pid=$(field demo-2 vmm_pid)
V desktop refresh demo-2 >/dev/null || fail "refresh failed"
for ((i = 0; i < 100; i++)); do
	[ "$(field demo-2 state)" = running ] && [ "$(field demo-2 vmm_pid)" != "$pid" ] && break
	sleep 0.2
done
[ "$(field demo-2 vmm_pid)" != "$pid" ] || fail "refresh kept VMM $pid"
V desktop poweroff demo-2 >/dev/null || fail "poweroff failed"
for ((i = 0; i < 100; i++)); do [ "$(field demo-2 state)" = stopped ] && break; sleep 0.1; done
[ "$(field demo-2 state)" = stopped ] || fail "demo-2 is $(field demo-2 state), not stopped"
[ "$(field demo-2 held)" = True ] || fail "demo-2 is not held off by the admin's poweroff"
# The admin's hold outlives a restart of vdi-server: the pool wants both
# desktops running, yet demo-2 stays off.
kill "$server" && wait "$server" || fail "vdi-server did not stop on SIGTERM"
build/bin/vdi-server --config "$WORK/vdi.conf" >"$WORK/server2.out" 2>&1 &
server=$!
wait_for "$WORK/server2.out" "vdi-server ready" 20 || { cat "$WORK/server2.out"; fail "vdi-server did not start again"; }
for ((i = 0; i < 30; i++)); do
	[ "$(field demo-2 state)" = stopped ] || fail "demo-2 went $(field demo-2 state) after the restart"
	sleep 0.1
done
[ "$(field demo-2 held)" = True ] || fail "demo-2's hold did not survive the restart"
V desktop poweron demo-2 >/dev/null || fail "poweron failed"
running demo 2 || fail "demo-2 did not come back"
[ "$(field demo-2 held)" = False ] || fail "demo-2 is still held after the admin's poweron"

# A session: alice logs in over RDP; the admin sees it and logs her off.
build/tests/tools/rdppixels --port $RDP --user alice --pass alicepw --size 800x600 --timeout 40 \
	--wait-stable 1 --sleep 30 >"$WORK/rdp.out" 2>&1 &
client=$!
for ((i = 0; i < 100; i++)); do V sessions | grep -q alice && break; sleep 0.2; done
V sessions | grep -Eq 'alice +demo +demo-[12] +connected +rdp' || {
	V sessions; V desktops; V events --limit 60; fail "no connected session for alice"; }
id=$(V --json sessions | python3 -c 'import json,sys; print(json.load(sys.stdin)["sessions"][0]["id"])')
V session logoff "$id" >/dev/null || fail "logoff failed"
for ((i = 0; i < 50; i++)); do kill -0 $client 2>/dev/null || break; sleep 0.2; done
! kill -0 $client 2>/dev/null || fail "the client is still connected after logoff"
V sessions | grep -q alice && fail "the session outlived its logoff"

# Delete: the pool keeps its size with a new desktop.
V desktop delete demo-1 >/dev/null || fail "delete failed"
for ((i = 0; i < 100; i++)); do V desktops | grep -q '^demo-3 ' && break; sleep 0.2; done
V desktops | grep -q '^demo-3 ' || { V desktops; fail "no replacement desktop"; }
! V desktops | grep -q '^demo-1 ' || fail "demo-1 is still listed"

# The audit log and metrics.
V events --limit 1000 >"$WORK/events.out"
for e in login_ok assign connect session_end admin desktop_deleted desktop_state; do
	grep -q " $e " "$WORK/events.out" || fail "no $e event"
done
# The replacement desktop may still be starting: metrics once both run.
running demo 2 || fail "demo-3 did not come up"
V metrics | grep -q '^vdi_desktops{state="running"} 2' || { V metrics; fail "metrics do not count 2 running desktops"; }

# Errors, clearly.
out=$(VDI_PASSWORD=alicepw build/bin/vdictl --api https://127.0.0.1:$API --user alice --cacert "$DATA/tls.crt" pools 2>&1) &&
	fail "a non-admin listed pools"
echo "$out" | grep -qi "403\|not an admin\|forbidden" || fail "non-admin: $out"
out=$(VDI_PASSWORD=nope build/bin/vdictl --api https://127.0.0.1:$API --user admin --cacert "$DATA/tls.crt" pools 2>&1) &&
	fail "a wrong password listed pools"
echo "$out" | grep -qi "401\|wrong\|password" || fail "wrong password: $out"
out=$(V pool create other colour=red 2>&1) && fail "an unknown setting was accepted"
echo "$out" | grep -q "colour: unknown setting" || fail "unknown setting: $out"
code=$(curl -s -o "$WORK/bad.json" -w '%{http_code}' --cacert "$DATA/tls.crt" -u admin:adminpw \
	-H 'Content-Type: application/json' -d '{"name": "x", ' https://127.0.0.1:$API/api/v1/pools)
[ "$code" = 400 ] || fail "malformed JSON got HTTP $code"
grep -q '"error"' "$WORK/bad.json" || fail "malformed JSON: no error message"
echo "ok"
