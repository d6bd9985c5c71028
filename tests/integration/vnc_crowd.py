#!/usr/bin/env python3
"""vnc_crowd.py PORT N — N anonymous VNC clients at the login screen, each through the whole RFB 3.8
handshake (security None), ServerInit, SetEncodings Raw and a full-frame request whose picture it reads
to the end; then it holds every connection open until its standard input closes. Prints "holding N
WxH" once all are in; a client the server refused or closed fails the run with the reason."""
import socket
import struct
import sys


def recv(s, n):
    b = bytearray()
    while len(b) < n:
        c = s.recv(min(n - len(b), 1 << 20))
        if not c:
            raise EOFError("closed after %d of %d bytes" % (len(b), n))
        b += c
    return bytes(b)


def client(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    version = recv(s, 12)
    if not version.startswith(b"RFB 003."):
        raise EOFError("not RFB: %r" % version)
    s.sendall(b"RFB 003.008\n")
    n = recv(s, 1)[0]
    if n == 0:
        raise EOFError("refused: " + recv(s, struct.unpack(">I", recv(s, 4))[0]).decode())
    types = recv(s, n)
    if 1 not in types:
        raise EOFError("no None security offered: %r" % types)
    s.sendall(b"\x01")
    if struct.unpack(">I", recv(s, 4))[0] != 0:
        raise EOFError("refused: " + recv(s, struct.unpack(">I", recv(s, 4))[0]).decode())
    s.sendall(b"\x01")  # ClientInit, shared
    w, h = struct.unpack(">HH", recv(s, 4))
    recv(s, 16)  # pixel format: 32 bpp
    recv(s, struct.unpack(">I", recv(s, 4))[0])  # name
    s.sendall(struct.pack(">BxHi", 2, 1, 0))  # SetEncodings: Raw
    s.sendall(struct.pack(">BBHHHH", 3, 0, 0, 0, w, h))  # the whole frame
    covered = 0
    while covered < w * h:
        kind = recv(s, 1)[0]
        if kind != 0:
            raise EOFError("message %d before the frame" % kind)
        (nrects,) = struct.unpack(">xH", recv(s, 3))
        for _ in range(nrects):
            x, y, rw, rh, enc = struct.unpack(">HHHHi", recv(s, 12))
            if enc != 0:
                continue  # a pseudo-encoding (cursor, desktop size) carries no pixels here
            recv(s, rw * rh * 4)
            covered += rw * rh
    return s, w, h


def main():
    port, n = int(sys.argv[1]), int(sys.argv[2])
    held = []
    for i in range(n):
        try:
            s, w, h = client(port)
        except (OSError, EOFError) as e:
            sys.exit("client %d of %d: %s" % (i + 1, n, e))
        held.append(s)
    print("holding %d %dx%d" % (len(held), w, h), flush=True)
    sys.stdin.read()


main()
