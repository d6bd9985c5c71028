#!/usr/bin/env bash
# client_channel.sh — vdi's private channel end to end: vdi-client over RDP (the dynamic channel) and over VNC
# (the side stream beside VeNCrypt) opens it against a real vdi-server: both sides say hello (the client prints
# the server's name and protocol version, the server logs the client's), the server sends a reconnect ticket for
# the session's pool, and an admin's logoff through the API ends the client (exit 0) with the server's reason
# printed. The channel outlives the pre-login time limits (set to 3 s here): a session is not a slow handshake.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/broker_lib.sh"
source "$(dirname "$0")/client_lib.sh"

users alice:pw-alice admin:adminpw:ops
config "admins = @ops"
sed -i "s/^listen = off$/listen = 127.0.0.1:$API_PORT/" "$WORK/vdi.ini"
sed -i 's/^\[server\]$/[server]\nhandshake_timeout = 3s\nlogin_timeout = 3s/' "$WORK/vdi.ini"
cat >>"$WORK/vdi.ini" <<EOF
[pool:office]
memory = 64M
size = 1
EOF
start_broker
wait_running 1
start_xvfb
echo pw-alice >"$WORK/alice.pw"
V() { VDI_PASSWORD=adminpw build/bin/vdictl --api "https://127.0.0.1:$API_PORT" --user admin --cacert "$DATA/tls.crt" "$@"; }

# wait_line FILE TEXT SECONDS: until FILE has a line containing TEXT.
wait_line() {
	local i
	for ((i = 0; i < $3 * 5; i++)); do
		grep -qF -- "$2" "$1" && return 0
		sleep 0.2
	done
	return 1
}

for proto in rdp vnc; do
	port=$RDP_PORT
	[ $proto = vnc ] && port=$VNC_PORT
	start_client $proto --password-file "$WORK/alice.pw" --trust-on-first-use $proto://alice@127.0.0.1:$port
	out=$WORK/$proto.out
	wait_line "$out" "vdi-client: channel open over $proto: server 'vdi-server', protocol version 1" 30 ||
		{ cat "$out"; tail -20 "$WORK/server.out"; fail "$proto: the client did not report the channel open"; }
	wait_line "$out" "a reconnect ticket for pool office" 20 ||
		{ cat "$out"; fail "$proto: no reconnect ticket came over the channel"; }
	grep -q "the channel's client is 'vdi-client', protocol version 1" "$WORK/server.out" ||
		fail "$proto: the server did not log the client's hello"
	echo "$proto: $(grep 'channel open' "$out")"
	sleep 5 # past the time limits
	grep -q "time limit" "$WORK/server.out" && { grep "time limit" "$WORK/server.out"; fail "$proto: a time limit closed a session"; }
	# The admin logs alice off: the client hears why and ends by itself.
	for ((i = 0; i < 50; i++)); do V sessions | grep -q 'alice.*connected' && break; sleep 0.2; done
	id=$(V --json sessions | python3 -c 'import json,sys; print([s["id"] for s in json.load(sys.stdin)["sessions"] if s["user"] == "alice"][0])') ||
		fail "$proto: no session of alice's"
	V session logoff "$id" >/dev/null || fail "$proto: the admin's logoff failed"
	wait $client_pid
	rc=$?
	echo "$proto: exit $rc: $(tail -1 "$out")"
	[ $rc = 0 ] || { cat "$out"; fail "$proto: the logged off client exited $rc"; }
	grep -q "vdi-client: the server ended the connection: logged off by an admin" "$out" ||
		{ cat "$out"; fail "$proto: the client did not print the server's reason"; }
	wait_sql "SELECT count(*) FROM sessions" 0 20 || fail "$proto: the session outlived its logoff"
done
grep -q "side stream ended" "$WORK/server.out" || fail "the VNC side stream was never served"
echo "ok: the private channel over RDP and VNC: hello both ways, a reconnect ticket, the logoff's reason"
