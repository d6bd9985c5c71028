#!/usr/bin/env bash
# api_vdictl.sh — the real vdictl against the real admin API (broker/api over HTTPS, the users file)
# with apiserver's in-memory backend: every command, --json, screenshots, progress of a long
# operation, suspend and resume, pool settings (numbers, strings, a repeated key as an array),
# wrong password, non-admin, TLS verification with --cacert and against another cert.
source "$(dirname "$0")/lib.sh"
VDICTL=$PWD/build/bin/vdictl
APISERVER=$PWD/build/tests/tools/apiserver
[ -x "$VDICTL" ] && [ -x "$APISERVER" ] || fail "build vdictl and apiserver first (make all)"
command -v openssl >/dev/null || skip "the openssl command is not installed"

mkcert() { # NAME
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
		-addext subjectAltName=IP:127.0.0.1 -keyout "$WORK/$1.key" -out "$WORK/$1.crt" 2>/dev/null ||
		fail "openssl could not make a certificate"
}
mkcert server
mkcert other
printf 'admin-pw\n' >"$WORK/admin.pw"
printf 'bob-pw\n' >"$WORK/bob.pw"

"$APISERVER" --cert "$WORK/server.crt" --key "$WORK/server.key" --users "$WORK/users" \
	--add root:admin-pw:admins --add bob:bob-pw >"$WORK/api.out" 2>"$WORK/api.err" &
wait_for "$WORK/api.out" '^listening on [0-9]+' 10 || { cat "$WORK/api.err"; fail "apiserver did not start"; }
PORT=$(sed -n 's/^listening on //p' "$WORK/api.out")
API=https://127.0.0.1:$PORT

# v NAME ARGS...: vdictl as root with the right CA; stdout in NAME.out, stderr NAME.err, status NAME.rc.
v() {
	local name=$1; shift
	(cd "$WORK" && timeout 60 "$VDICTL" --api "$API" --cacert "$WORK/server.crt" --user root \
		--password-file "$WORK/admin.pw" "$@") >"$WORK/$name.out" 2>"$WORK/$name.err" </dev/null
	echo $? >"$WORK/$name.rc"
	echo "--- vdictl $*: exit $(cat "$WORK/$name.rc")"; cat "$WORK/$name.out" "$WORK/$name.err"
}
ok() { expect_rc "$1" 0; }

# Lists are aligned tables.
v pools pools; ok pools
expect "$WORK/pools.out" '^NAME +TEMPLATE +SIZE +ASSIGNMENT +STATE$'
expect "$WORK/pools.out" '^demo +desktop +2 +floating +ready$'
expect "$WORK/pools.out" '^lab +desktop +1 +dedicated +ready$'
v pools_list pools list; ok pools_list
cmp -s "$WORK/pools.out" "$WORK/pools_list.out" || fail "pools and pools list differ"
v pool_show pool show demo; ok pool_show
expect "$WORK/pool_show.out" '^assignment +floating$'
v pool_json --json pool show lab; ok pool_json
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["assignment"]=="dedicated", d' \
	"$WORK/pool_json.out" || fail "--json pool show is not the pool's JSON"
v pool_missing pool show nope; expect_rc pool_missing 1
expect "$WORK/pool_missing.err" 'no pool nope \(HTTP 404\)'

# A long operation shows its progress and ends with the pool there.
v create pool create big size=4 template=desktop assignment=floating; ok create
expect "$WORK/create.out" '^creating pool big: 1/4 desktops$'
expect "$WORK/create.out" '^creating pool big: 4/4 desktops$'
expect "$WORK/create.out" '^created pool big$'
v big_desktops desktops --pool big; ok big_desktops
[ "$(grep -c '^big-[1-4] ' "$WORK/big_desktops.out")" = 4 ] || fail "pool big lacks its 4 desktops"
expect_not "$WORK/big_desktops.out" '^demo-'
v create_dup pool create big; expect_rc create_dup 1
expect "$WORK/create_dup.err" 'pool big exists'
v create_bad pool create bad size=many; expect_rc create_bad 1
expect "$WORK/create_bad.err" 'field "size"'
v set pool set big size=5 note=hello; ok set
v set_show --json pool show big; ok set_show
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["size"]==5 and d["note"]=="hello", d' \
	"$WORK/set_show.out" || fail "pool set did not change size and note"
# Power settings: numbers go as integers, words as strings, a repeated key as an array of strings
# in the order given; vdictl checks none of them, the server does.
v power pool set demo min=1 spare=2 'schedule=mon-fri 07:00-18:30 spare=2' on_disconnect=suspend \
	on_disconnect_after=600 'schedule=sat 09:00-12:00 min=0 spare=1' idle_timeout=3600 label=007 \
	flag=true neg=-5; ok power
expect "$WORK/power.out" '^updated pool demo$'
v power_show --json pool show demo; ok power_show
python3 - "$WORK/power_show.out" <<'EOF2' || fail "pool set did not send the power settings as given"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["min"] == 1 and d["spare"] == 2 and d["on_disconnect_after"] == 600, d
assert d["idle_timeout"] == 3600 and d["neg"] == -5, d
assert d["schedule"] == ["mon-fri 07:00-18:30 spare=2", "sat 09:00-12:00 min=0 spare=1"], d
assert d["on_disconnect"] == "suspend" and d["label"] == "007" and d["flag"] == "true", d
EOF2
v power_text pool show demo; ok power_text
expect "$WORK/power_text.out" '^schedule +mon-fri 07:00-18:30 spare=2; sat 09:00-12:00 min=0 spare=1$'
v one_window pool set demo 'schedule=daily 08:00-17:00 spare=1'; ok one_window
v one_show --json pool show demo; ok one_show
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["schedule"]=="daily 08:00-17:00 spare=1", d' \
	"$WORK/one_show.out" || fail "a single schedule= was not sent as one string"
v spare_bad pool set demo spare=two; expect_rc spare_bad 1
expect "$WORK/spare_bad.err" 'field "spare" must be a whole number \(HTTP 400\)'
v set_noargs pool set demo; expect_rc set_noargs 2
v set_nokey pool set demo =3; expect_rc set_nokey 2
v pdel pool delete big; ok pdel
expect "$WORK/pdel.out" '^deleted pool big$'
v pdel_busy pool delete demo; expect_rc pdel_busy 1
expect "$WORK/pdel_busy.err" 'has sessions \(HTTP 409\)'

# Desktops.
v desktops desktops; ok desktops
expect "$WORK/desktops.out" '^NAME +POOL +STATE +USER$'
expect "$WORK/desktops.out" '^demo-1 +demo +running +alice$'
v dshow desktop show demo-2; ok dshow
expect "$WORK/dshow.out" '^state +stopped$'
v on desktop poweron demo-2; ok on
v off desktop poweroff lab-1; ok off
v refresh desktop refresh demo-1; ok refresh
v dafter --json desktops; ok dafter
python3 - "$WORK/dafter.out" <<'EOF' || fail "power actions did not change the desktops' states"
import json, sys
d = {x["name"]: x["state"] for x in json.load(open(sys.argv[1]))["desktops"]}
assert d["demo-2"] == "running" and d["lab-1"] == "stopped", d
EOF

# Suspend and resume: the state follows, and the wrong state is the server's 409.
v susp desktop suspend demo-1; ok susp
expect "$WORK/susp.out" '^suspending desktop demo-1$'
v susp_show desktop show demo-1; ok susp_show
expect "$WORK/susp_show.out" '^state +suspended$'
v susp_again desktop suspend demo-1; expect_rc susp_again 1
expect "$WORK/susp_again.err" 'desktop demo-1 is suspended, not running \(HTTP 409\)'
v resume_run desktop resume lab-1; expect_rc resume_run 1
expect "$WORK/resume_run.err" 'desktop lab-1 is stopped, not suspended \(HTTP 409\)'
v resume desktop resume demo-1; ok resume
expect "$WORK/resume.out" '^resuming desktop demo-1$'
v resume_json --json desktop show demo-1; ok resume_json
python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["state"]=="running"' "$WORK/resume_json.out" ||
	fail "demo-1 is not running after resume"
v susp_none desktop suspend nope; expect_rc susp_none 1
expect "$WORK/susp_none.err" 'no desktop nope \(HTTP 404\)'
v susp_usage desktop suspend; expect_rc susp_usage 2
v susp_events --json events --event desktop_state; ok susp_events
python3 - "$WORK/susp_events.out" <<'EOF2' || fail "suspend and resume are not in the events"
import json, sys
seq = [e["detail"] for e in json.load(open(sys.argv[1]))["events"] if e["desktop"] == "demo-1"]
assert seq[-2:] == ["suspended", "running"], seq
EOF2

v shot desktop screenshot demo-1 -o "$WORK/shot.png"; ok shot
# pngstat decodes the whole image (zlib and filters), so a broken PNG fails here.
[ "$(pngstat size "$WORK/shot.png")" = "64 48" ] || fail "the screenshot is not a valid 64x48 PNG"
[ "$(pngstat colours "$WORK/shot.png")" -gt 100 ] || fail "the screenshot is not the desktop's gradient"
v shot_none desktop screenshot nope -o "$WORK/none.png"; expect_rc shot_none 1
[ ! -e "$WORK/none.png" ] || fail "a failed screenshot left a file"
v shot_noout desktop screenshot demo-1; expect_rc shot_noout 2
v ddel desktop delete demo-2; ok ddel
v ddel2 desktop delete demo-2; expect_rc ddel2 1

# Sessions.
v sessions sessions; ok sessions
expect "$WORK/sessions.out" '^7 +alice +demo +demo-1 +connected +rdp +192\.0\.2\.7'
v disc session disconnect 7; ok disc
v sess2 sessions list; ok sess2
expect "$WORK/sess2.out" 'disconnected'
v logoff session logoff 7; ok logoff
v sess3 --json sessions; ok sess3
python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["sessions"]==[]' "$WORK/sess3.out" ||
	fail "the session is still listed after logoff"
v badid session logoff x7; expect_rc badid 1
expect "$WORK/badid.err" 'bad session id'

# Users through the users file.
VDI_NEW_PASSWORD=carol-pw v uadd user add carol --groups admins,staff; ok uadd
v users users; ok users
expect "$WORK/users.out" '^carol +admins,staff$'
VDI_NEW_PASSWORD=x v udup user add carol; expect_rc udup 1
expect "$WORK/udup.err" 'user carol exists \(HTTP 409\)'
printf 'carol-new\n' >"$WORK/carol.pw"
v upw user passwd carol --new-password-file "$WORK/carol.pw"; ok upw
(cd "$WORK" && VDI_PASSWORD=carol-new "$VDICTL" --api "$API" --cacert "$WORK/server.crt" --user carol pools) \
	>"$WORK/carol.out" 2>&1 || { cat "$WORK/carol.out"; fail "carol cannot use her new password"; }
v udel user del carol; ok udel
v udel2 user del carol; expect_rc udel2 1
expect "$WORK/udel2.err" 'no user carol'

# Events: paged, filtered, and the API's own audit records are there.
v events events --limit 2; ok events
[ "$(grep -c '^[0-9]' "$WORK/events.out")" = 2 ] || fail "events --limit 2 did not give two rows"
expect "$WORK/events.out" '^1 +20[0-9-]+ [0-9:]+Z +login_ok +alice'
v events_kind events --event api --json; ok events_kind
python3 - "$WORK/events_kind.out" <<'EOF' || fail "events --event api lacks the audit of API changes"
import json, sys
ev = json.load(open(sys.argv[1]))["events"]
assert ev and all(e["event"] == "api" for e in ev), ev
assert any(e["detail"] == "POST /api/v1/pools 202" and e["user"] == "root" for e in ev), ev
EOF
v events_after events --after 3 --limit 1 --json; ok events_after
python3 -c 'import json,sys; assert [e["id"] for e in json.load(open(sys.argv[1]))["events"]]==[4]' \
	"$WORK/events_after.out" || fail "events --after 3 --limit 1 is not event 4"
v events_bad events --limit 5000; expect_rc events_bad 1
expect "$WORK/events_bad.err" 'query "limit" must be 1 to 1000'
# --follow prints what arrives later.
(cd "$WORK" && exec timeout 8 "$VDICTL" --api "$API" --cacert "$WORK/server.crt" --user root \
	--password-file "$WORK/admin.pw" events --follow --event desktop_state) >"$WORK/follow.out" 2>&1 &
sleep 2
v late desktop poweroff demo-1; ok late
wait_for "$WORK/follow.out" 'desktop_state +- +demo +demo-1 +stopped' 5 || {
	cat "$WORK/follow.out"; fail "events --follow did not show the new event"; }

# Metrics.
v metrics metrics; ok metrics
expect "$WORK/metrics.out" '^vdi_desktops\{state="running"\} [0-9]+$'
expect "$WORK/metrics.out" '^vdi_auth_logins_total\{result="ok"\} [1-9][0-9]*$'

# Usage errors exit 2.
v usage1 frobnicate; expect_rc usage1 2
v usage2 pool; expect_rc usage2 2
v usage3 --bogus pools; expect_rc usage3 2

# Authentication and authorization.
printf 'wrong\n' >"$WORK/wrong.pw"
"$VDICTL" --api "$API" --cacert "$WORK/server.crt" --user root --password-file "$WORK/wrong.pw" pools \
	>"$WORK/wrong.out" 2>&1
[ $? = 1 ] || fail "a wrong password did not exit 1"
expect "$WORK/wrong.out" 'wrong user name or password'
"$VDICTL" --api "$API" --cacert "$WORK/server.crt" --user bob --password-file "$WORK/bob.pw" pools \
	>"$WORK/bob.out" 2>&1
[ $? = 1 ] || fail "a non-admin did not exit 1"
expect "$WORK/bob.out" 'bob is not an administrator \(HTTP 403\)'

# TLS: another certificate is refused (status 3), no CA is refused, --insecure skips the check,
# and ./vdi-data/tls.crt is the default CA.
"$VDICTL" --api "$API" --cacert "$WORK/other.crt" --user root --password-file "$WORK/admin.pw" pools \
	>"$WORK/other.out" 2>&1
[ $? = 3 ] || fail "a certificate from another CA did not exit 3"
expect "$WORK/other.out" 'certificate is not trusted'
(cd "$WORK" && "$VDICTL" --api "$API" --user root --password-file "$WORK/admin.pw" pools) >"$WORK/noca.out" 2>&1
[ $? = 3 ] || fail "a self-signed certificate was trusted without --cacert"
(cd "$WORK" && "$VDICTL" --api "$API" --insecure --user root --password-file "$WORK/admin.pw" pools) \
	>"$WORK/insecure.out" 2>&1 || fail "--insecure did not connect"
mkdir -p "$WORK/vdi-data" && cp "$WORK/server.crt" "$WORK/vdi-data/tls.crt"
(cd "$WORK" && "$VDICTL" --api "$API" --user root --password-file "$WORK/admin.pw" pools) >"$WORK/dataca.out" 2>&1 ||
	{ cat "$WORK/dataca.out"; fail "./vdi-data/tls.crt was not used as the CA"; }
"$VDICTL" --api "https://localhost:$PORT" --cacert "$WORK/server.crt" --user root \
	--password-file "$WORK/admin.pw" pools >"$WORK/name.out" 2>&1
[ $? = 3 ] || fail "a certificate for 127.0.0.1 was accepted for localhost"

# Nothing listening: connection failure, status 3.
"$VDICTL" --api "https://127.0.0.1:1" --insecure --user root --password-file "$WORK/admin.pw" pools \
	>"$WORK/down.out" 2>&1
[ $? = 3 ] || fail "no server did not exit 3"
expect "$WORK/down.out" 'cannot connect'
echo "api_vdictl: ok"
