#!/usr/bin/env python3
"""rfb_wss.py PORT CA.pem OUT.ppm — an RFB client over WebSocket through TLS,
as noVNC speaks with encrypt=1: the server's certificate checked against CA,
the WebSocket upgrade, RFB 3.8 with no security, Raw pixels, then one
whole-screen update written as OUT.ppm. Exit status 0 when it got it."""
import base64
import os
import socket
import ssl
import struct
import sys

port, ca, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=20), server_hostname="127.0.0.1")
key = base64.b64encode(os.urandom(16)).decode()
s.sendall(("GET /websockify HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Origin: https://127.0.0.1\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
           "Sec-WebSocket-Protocol: binary\r\n\r\n" % key).encode())
head = b""
while b"\r\n\r\n" not in head:
    c = s.recv(1)
    if not c:
        sys.exit("closed during the upgrade: %r" % head)
    head += c
if not head.startswith(b"HTTP/1.1 101"):
    sys.exit("no upgrade: %r" % head)

buf = b""


def raw(n):
    global buf
    while len(buf) < n:
        c = s.recv(65536)
        if not c:
            sys.exit("the server closed the connection")
        buf += c
    d, buf = buf[:n], buf[n:]
    return d


data = b""


def recv(n):
    """n RFB bytes out of the server's (unmasked) WebSocket frames."""
    global data
    while len(data) < n:
        b0, b1 = raw(2)
        ln = b1 & 0x7f
        if ln == 126:
            ln = struct.unpack(">H", raw(2))[0]
        elif ln == 127:
            ln = struct.unpack(">Q", raw(8))[0]
        payload = raw(ln)
        if b0 & 0x0f == 8:
            sys.exit("the server closed the WebSocket")
        if b0 & 0x0f in (0, 1, 2):
            data += payload
    d, data = data[:n], data[n:]
    return d


def send(p):
    """A client frame: binary, masked."""
    m = os.urandom(4)
    hdr = bytes([0x82, 0x80 | len(p)]) if len(p) < 126 else bytes([0x82, 0xfe]) + struct.pack(">H", len(p))
    s.sendall(hdr + m + bytes(c ^ m[i % 4] for i, c in enumerate(p)))


if recv(12) != b"RFB 003.008\n":
    sys.exit("not RFB 3.8")
send(b"RFB 003.008\n")
n = recv(1)[0]
if 1 not in recv(n):
    sys.exit("no None security offered")
send(b"\x01")
if struct.unpack(">I", recv(4))[0] != 0:
    sys.exit("security failed")
send(b"\x01")  # ClientInit: shared
w, h = struct.unpack(">HH", recv(4))
recv(16)
recv(struct.unpack(">I", recv(4))[0])
send(struct.pack(">BxxxBBBBHHHBBBxxx", 0, 32, 24, 0, 1, 255, 255, 255, 16, 8, 0))
# Raw, and the cursor as a shape (else the server draws it into the pixels)
send(struct.pack(">BxHii", 2, 2, 0, -239))
send(struct.pack(">BBHHHH", 3, 0, 0, 0, w, h))
pix = bytearray(w * h * 4)
got = 0
while got < w * h:
    t = recv(1)[0]
    if t != 0:
        sys.exit("message %d before the update" % t)
    recv(1)
    for _ in range(struct.unpack(">H", recv(2))[0]):
        x, y, rw, rh, enc = struct.unpack(">HHHHi", recv(12))
        if enc != 0:  # pseudo-encodings: the cursor shape, the desktop size
            if enc == -239:  # rich cursor: pixels and mask
                recv(rw * rh * 4 + (rw + 7) // 8 * rh)
            continue
        for row in range(rh):
            off = ((y + row) * w + x) * 4
            pix[off:off + rw * 4] = recv(rw * 4)
        got += rw * rh
with open(out, "wb") as f:
    f.write(b"P6\n%d %d\n255\n" % (w, h))
    f.write(bytes(b for i in range(0, len(pix), 4) for b in (pix[i + 2], pix[i + 1], pix[i])))
print("wss: %dx%d desktop received" % (w, h))
