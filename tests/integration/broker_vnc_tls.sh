#!/usr/bin/env bash
# broker_vnc_tls.sh — vnc_security = tls: a VNC client that offers no TLS is refused (an RFB 3.8 client
# finds only VeNCrypt offered, an RFB 3.3 client is told why, a plain WebSocket is closed) and no login
# screen is ever shown to it; a client through VeNCrypt X509Plain lands on its desktop.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/broker_lib.sh"

users alice:pw-alice
config
sed -i 's/^\[server\]$/[server]\nvnc_security = tls/' "$WORK/vdi.ini"
cat >>"$WORK/vdi.ini" <<EOF
[pool:office]
memory = 64M
size = 1
EOF
start_broker
wait_running 1
grep -q 'vnc: listening on port .*TLS required' "$WORK/server.out" || fail "the VNC server does not require TLS"

# A client that takes no security (libvncclient offering None alone).
! timeout -k 5 30 "$VNCPIXELS" -e raw 127.0.0.1 $VNC_PORT "$WORK/none.ppm" >"$WORK/none.out" 2>&1 ||
	fail "a VNC client without TLS connected"
grep -q 'Received security type 19' "$WORK/none.out" || { cat "$WORK/none.out"; fail "VeNCrypt was not offered"; }
! grep -q 'Received security type 1$' "$WORK/none.out" || fail "None was offered although TLS is required"

# An RFB 3.3 client, which cannot choose: security type 0 and the reason.
reason=$(timeout 20 python3 - $VNC_PORT <<'EOF'
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
def recv(n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            sys.exit("closed after %r" % b)
        b += c
    return b
assert recv(12) == b"RFB 003.008\n"
s.sendall(b"RFB 003.003\n")
assert struct.unpack(">I", recv(4))[0] == 0, "not refused"
n = struct.unpack(">I", recv(4))[0]
print(recv(n).decode())
EOF
) || fail "the RFB 3.3 client was not refused with a reason"
echo "RFB 3.3 client: '$reason'"
[[ "$reason" == *"requires TLS"* ]] || fail "the refusal does not say TLS is required"

# A plain WebSocket upgrade (noVNC over ws://): closed without an answer.
curl -s --max-time 5 -o "$WORK/ws.out" -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
	-H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' \
	"http://127.0.0.1:$VNC_PORT/websockify" && fail "a plain WebSocket got an answer"
grep -q 'a client without TLS (plain WebSocket?), refused' "$WORK/server.out" || fail "no refusal of the plain WebSocket logged"

# Nobody without TLS saw the login screen or logged in.
[ "$(audit_count "event IN ('login_ok', 'login_failed', 'connect')")" = 0 ] ||
	{ dump_audit; fail "a client without TLS got as far as the broker"; }

# VeNCrypt X509Plain: straight to the desktop.
vnc alice -u alice -w pw-alice -a "$DATA/tls.crt" -s 2 -p "$WORK/alice.png"
da=$(desktop_of alice)
[ -n "$da" ] || { dump_audit; fail "alice got no desktop"; }
shows "$WORK/alice.png" "$da" "alice's VeNCrypt client"
echo "broker_vnc_tls: all checks passed"
