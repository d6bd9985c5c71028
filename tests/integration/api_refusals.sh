#!/usr/bin/env bash
# api_refusals.sh — the admin API of a real vdi-server refuses what its checks must not let through,
# with a clear JSON error and nothing done: names with a NUL (%00, which would otherwise end the name:
# "demo%00" read as "demo") or outside their characters, bodies not declared application/json (415:
# no pool is created from a text/plain body), and query strings of 600 or thousands of parameters or a
# huge path, answered at once (400/414) instead of left to the idle timeout. Normal requests still
# work afterwards, on the same server.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/broker_lib.sh"
command -v curl >/dev/null || skip "curl is not installed"
API=$((40000 + RANDOM % 20000))
users admin:adminpw:ops
config "admins = @ops"
sed -i "s/^listen = off$/listen = 127.0.0.1:$API/" "$WORK/vdi.ini"
cat >>"$WORK/vdi.ini" <<EOF2
[pool:demo]
memory = 64
size = 1
EOF2
start_broker
wait_running 1

# call METHOD PATH [CURL-ARGS...]: the status; the body in $WORK/reply.json. Bounded well below the
# API's 30 s idle timeout, so an unanswered request fails the test.
call() {
	local method=$1 path=$2
	shift 2
	curl -s -m 20 -o "$WORK/reply.json" -w '%{http_code}' --cacert "$DATA/tls.crt" -u admin:adminpw \
		-X "$method" "$@" "https://127.0.0.1:$API$path"
}
error() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["error"])' "$WORK/reply.json"; }
# expect STATUS ERROR-REGEX METHOD PATH [CURL-ARGS...]
expect() {
	local want=$1 re=$2 got
	shift 2
	got=$(call "$@") || true
	[ "$got" = "$want" ] || fail "$1 ${2:0:80}: status $got, not $want ($(head -c 300 "$WORK/reply.json" 2>/dev/null))"
	error | grep -Eq -- "$re" || fail "$1 ${2:0:80}: unclear error: $(error)"
	echo "$1 ${2:0:60}: $got $(error)"
}
pools() { call GET /api/v1/pools >/dev/null && python3 -c 'import json,sys; print(" ".join(sorted(p["name"] for p in json.load(open(sys.argv[1]))["pools"])))' "$WORK/reply.json"; }

[ "$(call GET /api/v1/pools/demo)" = 200 ] || fail "GET pools/demo: $(cat "$WORK/reply.json")"

# NUL bytes and characters outside a name's set, in paths, queries and bodies.
expect 400 'NUL byte' GET '/api/v1/pools/demo%00'
expect 400 'NUL byte' GET '/api/v1/pools/demo%00x'
expect 400 'NUL byte' DELETE '/api/v1/desktops/demo-1%00'
expect 400 'NUL byte' GET '/api/v1/desktops?pool=demo%00'
expect 400 'bad %-escape' GET '/api/v1/pools/demo%zz'
expect 400 'bad pool name: de mo' GET '/api/v1/pools/de%20mo'
expect 400 'bad pool name: a.b' GET '/api/v1/pools/a.b'
expect 400 'bad pool name: \?\?' GET '/api/v1/pools/%C3%A9'
expect 400 'bad desktop name' POST '/api/v1/desktops/demo-1%0A/poweroff'
expect 400 'bad user name: a;b' DELETE '/api/v1/users/a%3Bb'
expect 400 'query "pool" must be a pool name' GET '/api/v1/desktops?pool=a.b'
expect 400 'must be a pool name' POST /api/v1/pools -H 'Content-Type: application/json' \
	--data-binary '{"name": "bad.name", "size": 1}'
expect 400 'bad JSON body' POST /api/v1/pools -H 'Content-Type: application/json' \
	--data-binary '{"name": "nul\u0000x", "size": 1}'

# Bodies of another type: 415, nothing created or changed.
expect 415 'Content-Type application/json, not text/plain' POST /api/v1/pools -H 'Content-Type: text/plain' \
	--data-binary '{"name": "sneaky", "size": 1, "memory": 64}'
expect 415 'not application/x-www-form-urlencoded' POST /api/v1/pools \
	--data '{"name": "sneaky2", "size": 1, "memory": 64}'
expect 415 'not none' POST /api/v1/pools -H 'Content-Type:' --data-binary '{"name": "sneaky3", "size": 1}'
expect 415 'Content-Type' PATCH /api/v1/pools/demo -H 'Content-Type: text/plain' --data-binary '{"spare": 0}'
[ "$(pools)" = demo ] || fail "a refused request created a pool: $(pools)"
call GET /api/v1/pools/demo >/dev/null
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["spare"] == 1, d' "$WORK/reply.json" ||
	fail "a refused PATCH changed the pool"

# 600 query parameters, then thousands, then a path of 4 KiB: each answered with an error status.
q=$(python3 -c 'print("&".join("p%d=%d" % (i, i) for i in range(600)))')
expect 400 'more than 16 query parameters' GET "/api/v1/events?$q"
q=$(python3 -c 'print("&".join("a%d" % (i % 10) for i in range(5000)))')
expect 400 'more than 16 query parameters' GET "/api/v1/events?$q"
expect 414 'longer than' GET "/api/v1/pools/$(head -c 4096 /dev/zero | tr '\0' a)"

# Still serving: a normal request, and a pool created the right way (then deleted).
[ "$(call GET /api/v1/events?limit=5)" = 200 ] || fail "GET events after the refusals: $(cat "$WORK/reply.json")"
[ "$(call POST /api/v1/pools -H 'Content-Type: application/json; charset=utf-8' \
	--data-binary '{"name": "good", "size": 1, "memory": 64, "min": 0, "spare": 0}')" = 202 ] ||
	fail "a JSON pool was not created: $(cat "$WORK/reply.json")"
[ "$(pools)" = "demo good" ] || fail "pools after a good create: $(pools)"
[ "$(call DELETE /api/v1/pools/good)" = 204 ] || [ "$(call GET /api/v1/pools/good)" = 404 ] ||
	fail "pool good could not be deleted: $(cat "$WORK/reply.json")"
echo "api_refusals: all checks passed"
