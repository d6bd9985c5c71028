#!/usr/bin/env bash
# load_floods.sh — idle connections on every port no longer shut real users out. 300 idle TCP
# connections each to RDP, VNC and the API (from 127.0.0.2, .3 and .4: loopback is all of 127/8) are
# held while a real RDP login, a real VeNCrypt login and admin API calls succeed; one more connection
# from a flooding address is refused politely (VNC: the RFB failure reason; RDP and the API: closed at
# once); once the server holds max_connections less the admins' reserve, ordinary clients hear "the
# server is full" while an admin from admin_addresses (::1) still gets the API. Then, on small time
# limits, clients that trickle a byte a second are closed: in RDP's X.224/TLS step, VNC's handshake,
# the API's TLS handshake, and at the login screen; vdi-server never aborts. A flood of refusals makes
# one log line, not one each.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/broker_lib.sh"
VDICTL=$PWD/build/bin/vdictl
[ -x "$VDICTL" ] || fail "$VDICTL is not built (make all)"
[ "$(ulimit -Hn)" -ge 4096 ] || skip "the hard descriptor limit is $(ulimit -Hn); this test needs 4096"
python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null ||
	skip "no IPv6 loopback (::1) for the admin address"
API_PORT=$((RDP_PORT + 4000))
N=300
FLOOD="python3 tests/integration/conn_flood.py"

users alice:pw-alice bob:pw-bob root:pw-root
echo pw-root >"$WORK/root.pw"
# limits_config HANDSHAKE LOGIN GREETER API_IDLE: the test's configuration with these time limits.
limits_config() {
	config "admins = root"
	sed -i -e "s/^bind = .*/bind = ::/" \
		-e "s/^greeter_size = .*/&\nmax_connections = 1000\nmax_connections_per_address = $N\nnew_connections_per_second = 200\nadmin_addresses = ::1\nhandshake_timeout = $1\nlogin_timeout = $2\ngreeter_timeout = $3/" \
		-e "s/^listen = off/listen = $API_PORT\nidle_timeout = $4/" "$WORK/vdi.ini"
	cat >>"$WORK/vdi.ini" <<EOF2
[pool:office]
memory = 64M
size = 2
EOF2
}
# api NAME URL-HOST: vdictl desktops as root through https://URL-HOST:API_PORT.
api() {
	timeout -k 5 60 "$VDICTL" --api "https://$2:$API_PORT" --cacert "$DATA/tls.crt" --user root \
		--password-file "$WORK/root.pw" desktops >"$WORK/$1.out" 2>&1
}
# flood NAME PORT SOURCE COUNT: COUNT idle connections held in the background until unflood; waits for
# the summary line in $WORK/NAME.out.
floods=()
flood() {
	mkfifo "$WORK/$1.hold"
	$FLOOD hold "$2" "$3" "$4" <"$WORK/$1.hold" >"$WORK/$1.out" 2>&1 &
	floods+=($!)
	eval "exec {fd_$1}>\"$WORK/$1.hold\""
	local i
	for ((i = 0; i < 1200; i++)); do
		grep -q '^held' "$WORK/$1.out" && break
		sleep 0.1
	done
	grep '^held\|^reason' "$WORK/$1.out" | sed "s/^/$1: /"
	grep -q '^held' "$WORK/$1.out" || { cat "$WORK/$1.out"; fail "flood $1 gave no summary"; }
}
held() { sed -n 's/^held \([0-9]*\) .*/\1/p' "$WORK/$1.out"; }
alive() { kill -0 "$server" 2>/dev/null || { tail -30 "$WORK/server.out"; fail "vdi-server died ($1)"; }; }

# ---- caps, with time limits long enough to hold the floods ----
limits_config 10m 10m 10m 10m
start_broker
wait_running 2

flood rdp $RDP_PORT 127.0.0.2 $N
flood vnc $VNC_PORT 127.0.0.3 $N
flood api $API_PORT 127.0.0.4 $N
[ "$(held rdp)" = $N ] && [ "$(held vnc)" = $N ] && [ "$(held api)" = $N ] ||
	fail "the floods were not all held (each address may hold $N)"
alive "floods held"
echo "vdi-server holds $(ls /proc/$server/fd | wc -l) descriptors, $(ls /proc/$server/fd | awk '$1 < 1024' | wc -l) below 1024"

# One more from a flooding address: refused, politely where the protocol allows.
flood over_vnc $VNC_PORT 127.0.0.2 1
grep -q "^reason: too many connections from your address" "$WORK/over_vnc.out" ||
	fail "VNC over the per-address cap: no RFB failure reason"
flood over_rdp $RDP_PORT 127.0.0.3 1
flood over_api $API_PORT 127.0.0.2 1
[ "$(held over_rdp)" = 0 ] && [ "$(held over_api)" = 0 ] || fail "RDP or API over the per-address cap was held"
grep -q "rdp: refusing ::ffff:127.0.0.3\|rdp: refusing 127.0.0.3" "$WORK/server.out" ||
	fail "no log line of the RDP refusal"

# Real users from 127.0.0.1 beside the floods.
rdp alice --user alice --pass pw-alice --sleep 2 --wait-stable 1 --png "$WORK/alice.png"
da=$(desktop_of alice)
[ -n "$da" ] || fail "alice got no desktop over RDP beside the floods"
shows "$WORK/alice.png" "$da" "alice over RDP beside $((3 * N)) idle connections"
vnc bob -u bob -w pw-bob -a "$DATA/tls.crt" -s 2 -p "$WORK/bob.png"
db=$(desktop_of bob)
[ -n "$db" ] || fail "bob got no desktop over VNC beside the floods"
shows "$WORK/bob.png" "$db" "bob over VeNCrypt beside the floods"
api api_v4 127.0.0.1 || { cat "$WORK/api_v4.out"; fail "vdictl from 127.0.0.1 failed beside the floods"; }
grep -q "$da" "$WORK/api_v4.out" || fail "vdictl's desktop list lacks $da"
api api_admin '[::1]' || { cat "$WORK/api_admin.out"; fail "vdictl from ::1 failed beside the floods"; }
alive "logins beside the floods"

# Fill the server to its cap for ordinary addresses (1000 less the admins' 16).
flood fill $VNC_PORT 127.0.0.5 $N
echo "fill: $(held fill) more held"
grep -q "^reason: the server is full" "$WORK/fill.out" || fail "no 'the server is full' once at the cap"
# Those refusals make one log line, not one each (their count comes a minute later).
refused=$((N - $(held fill))) lines=$(grep -c 'vnc: refusing [:f]*127\.0\.0\.5: the server is full' "$WORK/server.out")
[ "$refused" -gt 1 ] && [ "$lines" = 1 ] || fail "$lines log lines for $refused refusals of 127.0.0.5; one expected"
flood full_user $VNC_PORT 127.0.0.1 1
grep -q "^reason: the server is full" "$WORK/full_user.out" || fail "an ordinary client was not told the server is full"
api api_full '[::1]' || { cat "$WORK/api_full.out"; fail "the admin (::1) was shut out of a full server"; }
echo "the admin address got the API with the server full"
alive "server full"
for f in "${floods[@]}"; do kill "$f" 2>/dev/null; done
wait "${floods[@]}" 2>/dev/null
alive "floods gone"
kill "$server"
wait "$server"
server=""
! grep -q 'FD_SETSIZE\|buffer overflow\|AddressSanitizer' "$WORK/server.out" || fail "vdi-server reported an overflow"

# ---- small time limits: slow clients are closed ----
limits_config 2s 4s 3s 2s
start_broker server2
for kind in rdp vnc tls greeter; do
	case $kind in
	rdp) port=$RDP_PORT ;;
	tls) port=$API_PORT ;;
	*) port=$VNC_PORT ;;
	esac
	$FLOOD slow $kind $port >"$WORK/slow_$kind.out" 2>&1 &
	eval "slow_$kind=\$!"
done
for kind in rdp vnc tls greeter; do
	eval "wait \$slow_$kind"
	echo "slow $kind: $(tail -1 "$WORK/slow_$kind.out")"
	grep -q "^closed by the server" "$WORK/slow_$kind.out" || fail "a slow $kind client was not closed"
done
grep -q "no TLS handshake within its time limit" "$WORK/server2.out" || fail "no log of the TLS handshake limit"
grep -q "no VNC handshake within its time limit" "$WORK/server2.out" || fail "no log of the VNC handshake limit"
grep -q "no TLS handshake and request within its time limit" "$WORK/server2.out" ||
	fail "no log of the API's handshake limit"
grep -q "nothing typed at the login screen" "$WORK/server2.out" || fail "no log of the login screen's limit"
kill -0 "$server" 2>/dev/null || { tail -30 "$WORK/server2.out"; fail "vdi-server died with slow clients"; }
echo "ok: floods held beside real logins and admin calls, refusals polite, slow clients closed"
