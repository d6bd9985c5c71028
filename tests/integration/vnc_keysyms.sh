#!/usr/bin/env bash
# A plain RFB 3.8 client (a few lines of Python) on vdi-server's VNC server:
# keysyms become keys on a US keyboard, with Shift added where a character
# needs it; the wheel and the middle button arrive; SetDesktopSize resizes
# the VM; a malformed message closes only that client; WebSocket answers.
source "$(dirname "$0")/lib.sh"
need_kvm
[ -x build/bin/vdi-server ] || fail "build/bin/vdi-server is not built"

start_desktop d --display 1024x768
port=$((17900 + $$ % 1000))
start_vdi_server $port --vnc-port $port --rdp-port 0 --data-dir "$WORK/data"

# rfb STEP: connects, does STEP, prints the server's size.
rfb() {
	timeout 20 python3 - "$port" "$1" <<'EOF'
import socket, struct, sys, time
port, step = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port))
def recv(n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            sys.exit("server closed the connection")
        b += c
    return b
assert recv(12) == b"RFB 003.008\n"
s.sendall(b"RFB 003.008\n")
types = recv(recv(1)[0])
assert 1 in types, types
s.sendall(b"\x01")
assert recv(4) == b"\0\0\0\0"
s.sendall(b"\x01")  # shared
w, h = struct.unpack(">HH", recv(4))
recv(16)
recv(struct.unpack(">I", recv(4))[0])
print(w, h)
def key(sym, down):
    s.sendall(struct.pack(">BBHI", 4, down, 0, sym))
def ptr(mask, x, y):
    s.sendall(struct.pack(">BBHH", 5, mask, x, y))
if step == "type":
    for ch in "Hi, vdi!":
        key(ord(ch), 1)
        key(ord(ch), 0)
    # Shift held by the client: an upper-case keysym goes as the key alone.
    key(0xFFE1, 1)
    key(ord("Q"), 1)
    key(ord("Q"), 0)
    key(0xFFE1, 0)
    ptr(0, 400, 300)
    ptr(2, 400, 300)  # middle
    ptr(0, 400, 300)
    ptr(16, 400, 300)  # wheel down
    ptr(0, 400, 300)
    ptr(0, 9000, 9000)  # beyond the screen: the far corner
    ptr(1, 9000, 9000)
    ptr(0, 9000, 9000)
elif step == "resize":
    s.sendall(struct.pack(">BBHHBB", 251, 0, 800, 600, 1, 0) + struct.pack(">IHHHHI", 0, 0, 0, 800, 600, 0))
elif step == "bad":
    # A QEMU message of a subtype we cannot parse, then an unknown message type.
    s.sendall(struct.pack(">BBHII", 255, 7, 1, 0, 0))
    s.sendall(b"\xc8" * 64)
time.sleep(0.5)
EOF
}

size=$(rfb type) || { cat "$WORK/server.out"; fail "the RFB client failed"; }
[ "$size" = "1024 768" ] || fail "ServerInit says $size"
wait_for "$WORK/d.out" 'text "Hi, vdi!Q"' 20 || { tail -5 "$WORK/d.out"; fail "keysyms did not type 'Hi, vdi!Q'"; }
wait_for "$WORK/d.out" 'button middle down at 400,300$' 10 || fail "no middle click"
wait_for "$WORK/d.out" 'wheel -1' 10 || fail "no wheel down"
wait_for "$WORK/d.out" 'button left down at 1023,767$' 10 || fail "no click clamped to the far corner"

rfb bad >/dev/null 2>&1
rfb resize >/dev/null || { cat "$WORK/server.out"; fail "the server did not survive a bad client"; }
wait_for "$WORK/d.out" 'display 800x600' 20 || fail "SetDesktopSize did not resize the VM"
for ((i = 0; i < 50; i++)); do
	size=$(rfb none) || fail "the RFB client failed"
	[ "$size" = "800 600" ] && break
	sleep 0.1
done
[ "$size" = "800 600" ] || fail "ServerInit says $size after the resize"

# WebSocket on the same port (noVNC): the upgrade is accepted and the RFB
# greeting comes in a binary frame (libvncserver insists on an Origin, as
# browsers send).
timeout 10 python3 - "$port" <<'EOF' || fail "no WebSocket on the VNC port"
import base64, os, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
key = base64.b64encode(os.urandom(16)).decode()
s.sendall(("GET /websockify HTTP/1.1\r\nHost: localhost\r\nOrigin: http://localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: binary\r\n\r\n").encode())
b = b""
while b"\r\n\r\n" not in b or len(b) < b.index(b"\r\n\r\n") + 4 + 14:
    c = s.recv(4096)
    if not c:
        break
    b += c
head, _, body = b.partition(b"\r\n\r\n")
assert head.startswith(b"HTTP/1.1 101"), head
assert body[:2] == b"\x82\x0c" and body[2:14] == b"RFB 003.008\n", body[:14]
EOF

stop_vdi_server
ctl d poweroff >/dev/null
wait $VMM_PID
