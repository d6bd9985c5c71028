#!/usr/bin/env bash
# client_kiosk.sh — vdi-client --kiosk keeps its session through a network loss: connected over RDP through a
# TCP relay, full screen on the desktop, it types text into the guest; the relay then cuts every connection and
# refuses new ones for a few seconds. The window shows the "reconnecting" banner over the last picture (its
# pixels change; the client says so), and the client comes back by itself, through the reconnect ticket its
# private channel gave it, to the same desktop with the typed text, the window again the desktop's screen pixel
# for pixel. Without --kiosk the same loss ends the client with exit 9 and a one-line reason.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/broker_lib.sh"
source "$(dirname "$0")/client_lib.sh"

client_server
RELAY_PORT=$((RDP_PORT + 3100))
# The relay: every connection to RELAY_PORT piped to the RDP port; SIGUSR1 cuts them all and refuses new ones
# for 4 s (the network is down).
python3 -c '
import os, select, signal, socket, sys, threading, time
lport, dport = int(sys.argv[1]), int(sys.argv[2])
conns, down_until, lock = [], [0.0], threading.Lock()
def cut(*_):
    down_until[0] = time.time() + 4
    with lock:
        for c in conns:
            try: c.shutdown(socket.SHUT_RDWR)
            except OSError: pass
signal.signal(signal.SIGUSR1, cut)
def pipe(a, b):
    try:
        while True:
            r, _, _ = select.select([a, b], [], [])
            for s in r:
                d = s.recv(65536)
                if not d: raise OSError
                (b if s is a else a).sendall(d)
    except OSError:
        pass
    for s in (a, b):
        try: s.close()
        except OSError: pass
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", lport)); l.listen(8)
while True:
    try: c, _ = l.accept()
    except InterruptedError: continue
    if time.time() < down_until[0]:
        c.close(); continue
    try: u = socket.create_connection(("127.0.0.1", dport))
    except OSError:
        c.close(); continue
    with lock: conns.extend([c, u])
    threading.Thread(target=pipe, args=(c, u), daemon=True).start()
' $RELAY_PORT $RDP_PORT &
relay=$!
for ((i = 0; i < 50; i++)); do ss -Htln "sport = :$RELAY_PORT" | grep -q . && break; sleep 0.1; done
trap 'kill $relay 2>/dev/null; broker_cleanup' EXIT

# Full screen: the desktop follows the screen's 1280x1024.
W=1280 H=1024
CLIENT_TIMEOUT=150
start_client kiosk --kiosk --password-file "$WORK/alice.pw" --trust-on-first-use "rdp://alice@127.0.0.1:$RELAY_PORT"
out=$WORK/kiosk.out
win=$(client_window) || { cat "$out"; fail "no vdi-client window"; }
[ "$(DISPLAY=$XDISPLAY xdotool getwindowgeometry "$win" | grep -o 'Geometry: .*')" = "Geometry: 1280x1024" ] ||
	fail "the kiosk window does not cover the screen"
wait_audit "event = 'connect' AND user = 'alice' AND detail = 'rdp'"
d=$(desktop_of alice)
[ -n "$d" ] || fail "alice got no desktop"
wait_shows "$win" "$d" "kiosk, full screen" || { cat "$out"; fail "the kiosk window is not the desktop"; }
wait_for "$out" "a reconnect ticket for pool office" 20 || { cat "$out"; fail "no reconnect ticket"; }
DISPLAY=$XDISPLAY xdotool windowfocus --sync "$win" 2>/dev/null
DISPLAY=$XDISPLAY xdotool type --delay 40 'Kiosk note 7'
wait_serial "$d" 'text "Kiosk note 7"' 15
wait_shows "$win" "$d" "after typing" || fail "the window does not show the typed text"
cp "$WORK/$d-now.png" "$WORK/typed.png"

# The network goes away.
kill -USR1 $relay
wait_for "$out" "vdi-client: reconnecting in 1 s" 15 || { cat "$out"; fail "the client did not start reconnecting"; }
for ((i = 0; i < 20; i++)); do
	grab "$win" "$WORK/lost.png" && [ "$(pngcount "$WORK/lost.png" 24 32 48)" -gt 1000 ] && break
	sleep 0.2
done
banner=$(pngcount "$WORK/lost.png" 24 32 48)
echo "while the network is away: $banner banner pixels, $(pngstat diff "$WORK/lost.png" "$WORK/typed.png" 0 0 $W $H) pixels differ from the last picture"
[ "$banner" -gt 1000 ] || fail "no reconnecting banner over the picture"
[ "$(pngstat diff "$WORK/lost.png" "$WORK/typed.png" 0 0 $W $((H - 48)))" -lt 100000 ] ||
	fail "the banner is not over the last picture"

# Back by itself, on the same desktop, the typed text still there.
wait_audit "event = 'reconnect' AND user = 'alice'" 40 || { cat "$out"; dump_audit; fail "the client did not reconnect"; }
wait_shows "$win" "$d" "back after the network loss" || { cat "$out"; fail "the window is not the desktop again"; }
[ "$(desktop_of alice)" = "$d" ] || fail "alice came back to another desktop"
[ "$(pngstat diff "$WORK/$d-now.png" "$WORK/typed.png" 0 0 $W $((H - 48)))" = 0 ] ||
	fail "the desktop lost the typed text"
[ "$(audit_count "event = 'login_ok' AND user = 'alice' AND detail = 'ticket'")" -ge 2 ] ||
	{ dump_audit; fail "the reconnect did not log in with a ticket"; }
kill -0 $client_pid || fail "the kiosk client ended"
kill -TERM $client_pid
wait $client_pid

# Without --kiosk a network loss ends the client with 9 and its reason.
start_client plain --password-file "$WORK/alice.pw" "rdp://alice@127.0.0.1:$RELAY_PORT"
win=$(client_window) || { cat "$WORK/plain.out"; fail "no vdi-client window"; }
wait_for "$WORK/plain.out" "channel open over rdp" 30 || { cat "$WORK/plain.out"; fail "no channel"; }
kill -USR1 $relay
wait $client_pid
rc=$?
echo "without --kiosk: exit $rc: $(tail -1 "$WORK/plain.out")"
[ $rc = 9 ] || { cat "$WORK/plain.out"; fail "a network loss without --kiosk gave exit $rc"; }
grep -q "the RDP connection broke" "$WORK/plain.out" || fail "no reason for the network loss"
! grep -q reconnecting "$WORK/plain.out" || fail "the client reconnected without --kiosk"
echo "client_kiosk: all checks passed"
