#!/usr/bin/env python3
"""conn_flood.py — clients that take a server's connections without logging in.

  hold PORT SOURCE N [HOST]   N connections to HOST (127.0.0.1) from address SOURCE, opened one after the
                              other and left idle; then, once each had a moment to be refused, prints
                              "held H closed C" and, for refusals that gave a reason (VNC's RFB 3.3
                              failure), "reason: TEXT" lines; holds the rest open until stdin closes.
  slow KIND PORT              one client that sends a byte a second (never completing its step) and
                              prints "closed by the server after N bytes" when the server closes it,
                              or "still open after N bytes" after 90. KIND: rdp (an X.224 request),
                              vnc (its RFB version), tls (a TLS ClientHello), greeter (a whole RFB
                              handshake with security None, then nothing at the login screen).
"""
import socket
import select
import struct
import sys
import time


def rfb_failure(data):
    """The reason of an RFB 3.3 failure ("RFB 003.003\\n", security 0, length, reason), or None."""
    if not data.startswith(b"RFB 003.003\n") or len(data) < 20:
        return None
    if struct.unpack(">I", data[12:16])[0] != 0:
        return None
    n = struct.unpack(">I", data[16:20])[0]
    return data[20:20 + n].decode(errors="replace")


def hold(port, source, n, host):
    socks = []
    for _ in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind((source, 0))
        s.settimeout(10)
        try:
            s.connect((host, port))
        except OSError as e:
            print("connect: %s" % e, flush=True)
            s.close()
            continue
        socks.append(s)
    time.sleep(1.5)
    held, closed, reasons = [], 0, {}
    for s in socks:
        data = b""
        s.setblocking(False)
        eof = False
        try:
            while True:
                c = s.recv(4096)
                if not c:
                    eof = True
                    break
                data += c
        except BlockingIOError:
            pass
        except OSError:
            eof = True
        why = rfb_failure(data)
        if why is not None:
            reasons[why] = reasons.get(why, 0) + 1
        if eof or why is not None:
            closed += 1
            s.close()
        else:
            held.append(s)
    print("held %d closed %d" % (len(held), closed), flush=True)
    for why, count in sorted(reasons.items()):
        print("reason: %s (%d)" % (why, count), flush=True)
    sys.stdin.read()


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError
        b += c
    return b


# An X.224 Connection Request asking for TLS, and the start of a TLS ClientHello: bytes enough to
# trickle for longer than any limit under test.
X224 = bytes.fromhex("030000130ee000000000000100080001000000") * 8
HELLO = bytes.fromhex("16030100c8010000c40303") + bytes(range(256))


def slow(kind, port):
    s = socket.create_connection(("127.0.0.1", port), timeout=90)
    payload = {"rdp": X224, "tls": HELLO, "vnc": b"RFB 003.008\n" * 8}.get(kind, b"")
    if kind in ("vnc", "greeter"):
        recv_exact(s, 12)
    if kind == "greeter":
        s.sendall(b"RFB 003.008\n")
        types = recv_exact(s, recv_exact(s, 1)[0])
        if 1 not in types:
            sys.exit("no None security offered")
        s.sendall(b"\x01")
        recv_exact(s, 4)
        s.sendall(b"\x01")
        w, h = struct.unpack(">HH", recv_exact(s, 4))
        recv_exact(s, 16)
        recv_exact(s, struct.unpack(">I", recv_exact(s, 4))[0])
        print("at the login screen (%dx%d)" % (w, h), flush=True)
    sent = 0
    for _ in range(90):
        if payload:
            try:
                s.send(payload[sent % len(payload):sent % len(payload) + 1])
                sent += 1
            except OSError:
                break
        r, _, _ = select.select([s], [], [], 1.0)
        if r:
            try:
                while True:
                    s.setblocking(False)
                    c = s.recv(65536)
                    if not c:
                        print("closed by the server after %d bytes" % sent, flush=True)
                        return
            except BlockingIOError:
                s.setblocking(True)
            except OSError:
                print("closed by the server after %d bytes" % sent, flush=True)
                return
    print("still open after %d bytes" % sent, flush=True)


def main():
    if len(sys.argv) >= 5 and sys.argv[1] == "hold":
        hold(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5] if len(sys.argv) > 5 else "127.0.0.1")
    elif len(sys.argv) == 4 and sys.argv[1] == "slow":
        slow(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(__doc__)


main()
