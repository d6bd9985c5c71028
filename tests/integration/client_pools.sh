#!/usr/bin/env bash
# client_pools.sh — the broker's user API and pool choice: a user entitled to two pools sees both (with
# their states) in GET /api/v1/me/pools; vdi-client --pool picks the second and lands on a desktop of that
# pool through a one-time ticket (no second password, no login screen), the window showing it exactly;
# without --pool and with several pools, --no-dialog lists them and exits 2. A ticket works once, only for
# its user, and only for pools the user may use; the admin routes stay closed to non-admins.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/broker_lib.sh"
source "$(dirname "$0")/client_lib.sh"
command -v curl >/dev/null || skip "curl is not installed"

users alice:pw-alice bob:pw-bob
config
sed -i "s/^listen = off$/listen = 127.0.0.1:$API_PORT/" "$WORK/vdi.ini"
cat >>"$WORK/vdi.ini" <<EOF
[pool:office]
memory = 64M
size = 1
[pool:lab]
memory = 64M
size = 1
entitlement = alice
EOF
start_broker
wait_running 2
start_xvfb
echo pw-alice >"$WORK/alice.pw"

API="https://127.0.0.1:$API_PORT/api/v1"
# api USER:PASS METHOD PATH: the status, then the body, on one line.
api() { curl -s --cacert "$DATA/tls.crt" -u "$1" -X "$2" -H 'Content-Type: application/json' \
	-w ' %{http_code}' "$API$3"; }

out=$(api alice:pw-alice GET /me/pools)
echo "alice's pools: $out"
python3 -c 'import json,sys; d=json.loads(sys.argv[1].rsplit(" ",1)[0]); s={p["name"]:p["state"] for p in d["pools"]}
assert s == {"office": "ready", "lab": "ready"}, s' "$out" || fail "alice's pools are not office and lab, ready"
out=$(api bob:pw-bob GET /me/pools)
[[ "$out" == *'"name": "office"'* || "$out" == *'"name":"office"'* ]] && [[ "$out" != *lab* ]] ||
	fail "bob's pools: $out"
[[ "$(api bob:pw-bob POST /me/pools/lab/ticket)" == *" 403" ]] || fail "bob got a ticket for lab"
[[ "$(api alice:pw-alice POST /me/pools/nowhere/ticket)" == *" 404" ]] || fail "a ticket for no pool"
[[ "$(api bob:pw-bob GET /pools)" == *" 403" ]] || fail "the admin routes are open to bob"
[[ "$(api alice:wrong GET /me/pools)" == *" 401" ]] || fail "a wrong password reached the user API"

# Several pools, no --pool, no dialog: the list and exit 2.
run_client list --password-file "$WORK/alice.pw" --trust-on-first-use rdp://alice@127.0.0.1:$RDP_PORT
[ "$client_rc" = 2 ] || { cat "$WORK/list.out"; fail "several pools without --pool: exit $client_rc"; }
grep -q "^lab" "$WORK/list.out" && grep -q "^office" "$WORK/list.out" || fail "the pools were not listed"

# --pool lab: on a desktop of lab, through a ticket.
start_client lab --password-file "$WORK/alice.pw" --trust-on-first-use --pool lab rdp://alice@127.0.0.1:$RDP_PORT
win=$(client_window) || { cat "$WORK/lab.out"; fail "no vdi-client window"; }
wait_sql "SELECT pool FROM desktops WHERE assigned_user = 'alice'" lab 30 || { dump_audit; fail "alice has no lab desktop"; }
d=$(desktop_of alice)
wait_shows "$win" "$d" "alice on lab through vdi-client" || fail "the window does not show $d"
[ "$(audit_count "event = 'login_ok' AND user = 'alice' AND pool = 'lab' AND detail = 'ticket'")" = 1 ] ||
	{ dump_audit; fail "the ticket login is not audited"; }
[ "$(audit_count "event = 'login_ok' AND user = 'alice' AND detail = 'file'")" -ge 1 ] || fail "no API login audited"
kill -TERM $client_pid; wait $client_pid

# A ticket works once, and only for its user.
t=$(api bob:pw-bob POST /me/pools/office/ticket)
[[ "$t" == *" 201" ]] || fail "bob's ticket: $t"
ticket=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1].rsplit(" ",1)[0])["ticket"])' "$t")
rdp alice-with-bobs --user alice --pass "$ticket" --sleep 1
[ "$(audit_count "detail = 'ticket' AND user = 'alice' AND pool = 'office'")" = 0 ] || fail "alice used bob's ticket"
t=$(api bob:pw-bob POST /me/pools/office/ticket)
ticket=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1].rsplit(" ",1)[0])["ticket"])' "$t")
rdp bob1 --user bob --pass "$ticket" --sleep 2 --png "$WORK/bob1.png"
db=$(desktop_of bob)
[ -n "$db" ] || { dump_audit; fail "bob's ticket did not log him in"; }
shows "$WORK/bob1.png" "$db" "bob through his ticket"
rdp bob2 --user bob --pass "$ticket" --sleep 1
[ "$(audit_count "event = 'login_ok' AND user = 'bob' AND detail = 'ticket'")" = 1 ] || fail "a ticket worked twice"
[ "$(audit_count "event = 'login_failed' AND user = 'bob'")" -ge 1 ] || fail "the used ticket was not refused"
echo "ok: pools listed, chosen through a ticket, tickets once and only for their user"
