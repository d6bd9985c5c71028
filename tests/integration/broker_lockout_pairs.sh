#!/usr/bin/env bash
# broker_lockout_pairs.sh — the lockout cannot be turned against a user, and a flood of bad logins does not
# flood the audit: an attacker at 127.0.0.2 types five wrong passwords for alice into the VNC login screen
# and then her right one, and is shown "locked out" (its pair is locked: audit lockout, locked_refused);
# alice herself, from 127.0.0.1, logs in over RDP at once and lands on her desktop. The attacker's address
# is still refused through the API (429, Retry-After). 200 bad API logins from 127.0.0.3 with names that
# are no users (a password typed into the name field) add a bounded number of audit records and log lines,
# the rest counted in summary records written when vdi-server stops, and the names appear nowhere in clear
# (an "unknown:" hash instead). After a restart with [audit] retention = 30d a record 100 days old is
# gone and the recent ones are kept.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/broker_lib.sh"
command -v curl >/dev/null || skip "curl is not installed"
SRCADDR=$PWD/build/tests/tools/srcaddr.so
[ -f "$SRCADDR" ] || fail "$SRCADDR is not built (make all)"
API=$((RDP_PORT + 2))

users alice:pw-alice
config "lockout_attempts = 5
lockout_window = 10m
lockout_duration = 10m"
sed -i "s/^listen = off\$/listen = 127.0.0.1:$API/" "$WORK/vdi.ini"
# The flood below is the lockout's to answer, not the per-address connection rate's.
sed -i "s/^\[server\]\$/[server]\nnew_connections_per_second = 10000/" "$WORK/vdi.ini"
printf '[pool:office]\nmemory = 64M\nsize = 1\ndisconnect_timeout = 60s\n' >>"$WORK/vdi.ini"
start_broker
wait_running 1

# The attacker, at 127.0.0.2: five wrong passwords, then alice's real one.
LD_PRELOAD=$SRCADDR VDI_SOURCE_ADDRESS=127.0.0.2 \
	vnc attacker -s 1 -p "$WORK/greeter.png" -t 'alice\nguess-1\n' -s 1 -p "$WORK/wrong1.png" \
	-t 'guess-2\n' -s 1 -t 'guess-3\n' -s 1 -t 'guess-4\n' -s 1 -t 'guess-5\n' -s 1 -t 'pw-alice\n' -s 1 \
	-p "$WORK/locked.png"
dump_audit | grep -v desktop_state
[ "$(audit_count "event = 'login_failed' AND user = 'alice' AND address = '127.0.0.2'")" = 5 ] ||
	fail "not 5 failed logins from 127.0.0.2 audited"
[ "$(audit_count "event = 'lockout' AND user = 'alice' AND address = '127.0.0.2' AND
	detail = 'user from this address locked out for 600 s'")" = 1 ] || fail "the pair's lockout is not audited"
[ "$(audit_count "event = 'locked_refused' AND user = 'alice' AND address = '127.0.0.2'")" = 1 ] ||
	fail "the right password from the attacker's address was not refused as locked"
[ "$(audit_count "event = 'login_ok'")" = 0 ] || fail "a login succeeded from the attacker's address"
for p in wrong1 locked; do
	[ "$(error_pixels "$WORK/$p.png")" -gt 50 ] || fail "$p: no red message on the greeter"
done
box=$(pngbox "$WORK/wrong1.png" "$WORK/locked.png")
[ "$box" != none ] || fail "the attacker was shown the wrong-password message, not the locked-out one"

# Alice, from her own address, is not locked out by the attacker's failures.
rdp alice --user alice --pass pw-alice --sleep 2 --wait-stable 1 --png "$WORK/alice.png"
wait_audit "event = 'login_ok' AND user = 'alice' AND address = '127.0.0.1'"
da=$(desktop_of alice)
[ -n "$da" ] || { dump_audit; fail "alice got no desktop while her name was locked at 127.0.0.2"; }
shows "$WORK/alice.png" "$da" "alice from 127.0.0.1"

# The attacker's address is still locked for alice, through the API too, and told how long.
code=$(curl -s --interface 127.0.0.2 --cacert "$DATA/tls.crt" -u alice:pw-alice -D "$WORK/h429" -o "$WORK/b429" \
	-w '%{http_code}' "https://127.0.0.1:$API/api/v1/me/pools")
[ "$code" = 429 ] || fail "the API let alice in from the locked address ($code)"
grep -qi '^retry-after: [1-9]' "$WORK/h429" || fail "no Retry-After: $(cat "$WORK/h429")"
grep -q 'locked out after too many failed logins, try again in [1-9][0-9]* s' "$WORK/b429" ||
	fail "the API's answer is $(cat "$WORK/b429")"
# ... while from 127.0.0.1 alice's password works there.
code=$(curl -s --cacert "$DATA/tls.crt" -u alice:pw-alice -o /dev/null -w '%{http_code}' \
	"https://127.0.0.1:$API/api/v1/me/pools")
[ "$code" = 200 ] || fail "alice from 127.0.0.1 got $code from the API"

# A flood: 200 bad logins from 127.0.0.3, each with a name that is no user.
before=$(sql "SELECT count(*) FROM audit")
lines_before=$(grep -c 'audit:' "$WORK/server.out")
for ((i = 0; i < 200; i++)); do
	# Options hold for one URL up to "next".
	[ "$i" -gt 0 ] && echo next
	printf 'silent\ninterface = 127.0.0.3\ncacert = "%s"\n' "$DATA/tls.crt"
	echo "url = \"https://127.0.0.1:$API/api/v1/me/pools\""
	echo "user = \"Typed-Secret-$i:x\""
	echo "output = /dev/null"
	echo "write-out = \"%{http_code}\\n\""
done >"$WORK/flood.curl"
curl -K "$WORK/flood.curl" >"$WORK/flood.codes"
[ "$(wc -l <"$WORK/flood.codes")" = 200 ] || fail "not 200 answers to the flood"
echo "flood answers: $(sort "$WORK/flood.codes" | uniq -c | tr '\n' ' ')"
[ "$(grep -c '^401$' "$WORK/flood.codes")" = 20 ] || fail "not 20 failures before the address was locked out"
[ "$(grep -c '^429$' "$WORK/flood.codes")" = 180 ] || fail "not 180 refusals while the address was locked out"
added=$(($(sql "SELECT count(*) FROM audit") - before))
lines=$(($(grep -c 'audit:' "$WORK/server.out") - lines_before))
echo "the flood added $added audit records and $lines log lines"
[ "$added" -le 12 ] || { dump_audit | tail -30; fail "200 bad logins added $added audit records"; }
[ "$lines" -le 12 ] || fail "200 bad logins wrote $lines audit log lines"
[ "$(audit_count "address = '127.0.0.3' AND event = 'lockout' AND detail = 'address locked out for 600 s'")" = 1 ] ||
	fail "the address's lockout is not audited"

# The names typed are nowhere in clear: neither in the database nor in the log.
[ "$(audit_count "user LIKE '%Typed-Secret%' OR detail LIKE '%Typed-Secret%'")" = 0 ] ||
	fail "an unknown user name is in the audit in clear"
expect_not "$WORK/server.out" 'Typed-Secret'
[ "$(audit_count "address = '127.0.0.3' AND user GLOB 'unknown:[0-9a-f]*' AND length(user) = 32")" -ge 1 ] ||
	fail "no unknown:HASH name in the audit"

# Stopping vdi-server writes what was counted: summary records whose counts make up the 200.
kill -TERM "$server"
wait "$server" 2>/dev/null
server=""
sql "SELECT event, user, detail FROM audit WHERE address = '127.0.0.3'"
one_by_one=$(audit_count "address = '127.0.0.3' AND event IN ('login_failed', 'locked_refused') AND user IS NOT NULL")
summed=$(sql "SELECT coalesce(sum(CAST(detail AS INTEGER)), 0) FROM audit WHERE address = '127.0.0.3' AND
	event IN ('login_failed', 'locked_refused') AND user IS NULL AND detail LIKE '% more from this address %'")
[ $((one_by_one + summed)) = 200 ] || fail "$one_by_one records and $summed counted do not make the 200 attempts"

# Retention: a record 100 days old goes at the next start, recent ones stay.
sql "INSERT INTO audit(time, event, detail) VALUES(strftime('%s', 'now') - 100 * 86400, 'login_failed', 'very old')"
recent=$(sql "SELECT count(*) FROM audit WHERE coalesce(detail, '') != 'very old'")
printf '[audit]\nretention = 30d\n' >>"$WORK/vdi.ini"
start_broker server2
wait_sql "SELECT count(*) FROM audit WHERE detail = 'very old'" 0 20 || fail "the old record outlived the retention"
[ "$(sql "SELECT count(*) FROM audit WHERE coalesce(detail, '') != 'very old'")" -ge "$recent" ] || fail "recent records were removed"
wait_for "$WORK/server2.out" 'audit: removed 1 records older than the retention of 30 days' 10 ||
	fail "the removal is not in the log"
echo "broker_lockout_pairs: all checks passed"
