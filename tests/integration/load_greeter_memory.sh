#!/usr/bin/env bash
# load_greeter_memory.sh — idle clients at the login screen cost vdi-server little memory, and it is given
# back when they go. 200 VNC clients (whole handshakes with the cursor as a shape, the picture read) are
# held, then 200 RDP clients (libfreerdp, TLS, the picture received): each VNC client may add at most
# 1 MiB of RSS (they share one picture of the login screen; 9 MiB each before), each RDP client at most
# 8 MiB (the picture shared, encoders' buffers only while sending; 16 MiB before; most of the rest is
# FreeRDP's per-connection compression state). Once every client closed, RSS comes back within 32 MiB
# of where it started (the allocator's free memory trimmed; a burst once left RSS at its peak). Last, a
# client types into its login screen, which makes that one its own; 20 more VNC clients after it still
# cost under 1 MiB each (the others go on sharing the picture).
source "$(dirname "$0")/lib.sh"
CROWD=$PWD/build/tests/tools/greeter_crowd
SERVER=$PWD/build/bin/vdi-server
for b in "$CROWD" "$SERVER"; do [ -x "$b" ] || fail "$b is not built (make all)"; done
[ "$(ulimit -Hn)" -ge 4096 ] || skip "the hard descriptor limit is $(ulimit -Hn); this test needs 4096"
ulimit -n "$(ulimit -Hn)"
N=200
VNC_MIB_MAX=1
RDP_MIB_MAX=8
BACK_MIB_MAX=32
RDP_PORT=$((35000 + ($$ % 1000) * 2))
VNC_PORT=$((RDP_PORT + 1))
cat >"$WORK/vdi.ini" <<EOF
[server]
data_dir = $WORK/data
bind = 127.0.0.1
rdp_port = $RDP_PORT
vnc_port = $VNC_PORT
vmm = $VMM
greeter_size = 1024x768
[auth]
backend = file
[api]
listen = off
EOF
"$SERVER" --config "$WORK/vdi.ini" >"$WORK/server.out" 2>&1 &
server=$!
wait_for "$WORK/server.out" 'vdi-server ready' 30 || { cat "$WORK/server.out"; fail "vdi-server did not start"; }
alive() { kill -0 "$server" 2>/dev/null || { tail -30 "$WORK/server.out"; fail "vdi-server died ($1)"; }; }
rss() { awk '$1 == "Rss:" { print $2 }' "/proc/$server/smaps_rollup"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.2f", k / 1024 }'; }

# crowd NAME ARGS...: greeter_crowd held in the background until uncrowd NAME; waits for "holding".
crowd() {
	local name=$1
	shift
	mkfifo "$WORK/$name.hold"
	"$CROWD" "$@" <"$WORK/$name.hold" >"$WORK/$name.out" 2>&1 &
	eval "crowd_$name=$!"
	eval "exec {fd_$name}>\"$WORK/$name.hold\""
	local i
	for ((i = 0; i < 1500; i++)); do
		grep -q '^holding' "$WORK/$name.out" || ! kill -0 "$(eval echo \$crowd_$name)" 2>/dev/null && break
		sleep 0.1
	done
	grep -q "^holding" "$WORK/$name.out" ||
		{ grep -v '^\[' "$WORK/$name.out" | tail -5; grep -i "refus\|error\|warn" "$WORK/server.out" | grep -v "^\\[" | tail -5; fail "crowd $name did not all reach the login screen"; }
}
uncrowd() {
	eval "exec {fd_$1}>&-"
	wait "$(eval echo \$crowd_$1)"
}
# per NAME BEFORE AFTER COUNT MAX: the cost of one connection, checked against MAX MiB.
per() {
	local cost
	cost=$(awk -v a="$2" -v b="$3" -v n="$4" 'BEGIN { printf "%.2f", (b - a) / n / 1024 }')
	echo "$1: RSS $(mib "$2") -> $(mib "$3") MiB with $4 idle at the login screen: $cost MiB a connection"
	awk -v c="$cost" -v m="$5" 'BEGIN { exit !(c <= m) }' || fail "$1: $cost MiB a connection, over $5 MiB"
}

sleep 1
start=$(rss)
crowd vnc --vnc "$VNC_PORT" $N
sleep 1
alive "VNC crowd"
with_vnc=$(rss)
per vnc "$start" "$with_vnc" $N $VNC_MIB_MAX

crowd rdp --rdp "$RDP_PORT" $N
sleep 1
alive "RDP crowd"
with_rdp=$(rss)
per rdp "$with_vnc" "$with_rdp" $N $RDP_MIB_MAX

uncrowd rdp # first: it holds a copy of the VNC crowd's pipe
uncrowd vnc
alive "crowds gone"
# The last connection's close trims; give the threads a moment to end.
for ((i = 0; i < 50; i++)); do
	[ "$(rss)" -le $((start + BACK_MIB_MAX * 1024)) ] && break
	sleep 0.2
done
after=$(rss)
echo "after all closed: RSS $(mib "$after") MiB (started at $(mib "$start"), peak $(mib "$with_rdp"))"
[ "$after" -le $((start + BACK_MIB_MAX * 1024)) ] ||
	fail "RSS stayed at $(mib "$after") MiB after the clients closed, over $(mib "$start") + $BACK_MIB_MAX MiB"

# A client that types gets a login screen of its own; the others go on sharing theirs.
python3 - "$VNC_PORT" >"$WORK/typist.out" 2>&1 <<'EOF' &
import socket, struct, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
def recv(n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError
        b += c
    return b
recv(12); s.sendall(b"RFB 003.008\n")
recv(recv(1)[0]); s.sendall(b"\x01"); recv(4); s.sendall(b"\x01")
recv(20); recv(struct.unpack(">I", recv(4))[0])
for ch in b"alice":
    s.sendall(struct.pack(">BBxxI", 4, 1, ch) + struct.pack(">BBxxI", 4, 0, ch))
print("typed", flush=True)
time.sleep(60)
EOF
typist=$!
wait_for "$WORK/typist.out" typed 20 || fail "the typing client did not get through: $(cat "$WORK/typist.out")"
sleep 1
base=$(rss)
crowd more --vnc "$VNC_PORT" 20
sleep 1
per "vnc after a client typed" "$base" "$(rss)" 20 $VNC_MIB_MAX
uncrowd more
kill $typist 2>/dev/null
wait $typist 2>/dev/null
alive "the end"
! grep -q 'AddressSanitizer\|buffer overflow' "$WORK/server.out" || fail "vdi-server reported an overflow"
kill "$server"
wait "$server"
echo "ok: $N VNC and $N RDP clients idle at the login screen within their memory bounds, and RSS back after"
