#!/usr/bin/env bash
# load_vnc_crowd.sh — 300 anonymous VNC clients at the login screen (whole handshakes, a full picture
# each) no longer abort vdi-server: about 170 used to take its descriptors past 1023, where
# libvncserver's select() bookkeeping aborted the process ("bit out of range 0 - FD_SETSIZE"),
# disconnecting everyone. While they are held, a real user logs in over VeNCrypt and sees the desktop.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/broker_lib.sh"
N=300

[ "$(ulimit -Hn)" -ge 4096 ] || skip "the hard descriptor limit is $(ulimit -Hn); this test needs 4096"
users alice:pw-alice
config
cat >>"$WORK/vdi.ini" <<EOF
[pool:office]
memory = 64M
size = 1
EOF
start_broker
wait_running 1

# The crowd: each connection held open until the test closes the pipe.
mkfifo "$WORK/hold"
python3 tests/integration/vnc_crowd.py $VNC_PORT $N <"$WORK/hold" >"$WORK/crowd.out" 2>&1 &
crowd=$!
exec 3>"$WORK/hold"
for ((i = 0; i < 2400; i++)); do
	grep -q "^holding" "$WORK/crowd.out" || ! kill -0 $crowd 2>/dev/null && break
	sleep 0.1
done
grep -q "^holding $N ${W}x$H" "$WORK/crowd.out" ||
	{ cat "$WORK/crowd.out"; tail -20 "$WORK/server.out"; fail "the crowd did not all get the login screen"; }
kill -0 "$server" 2>/dev/null || { tail -20 "$WORK/server.out"; fail "vdi-server died under $N VNC clients"; }
fds=$(ls /proc/$server/fd | wc -l)
low=$(ls /proc/$server/fd | awk '$1 < 1024' | wc -l)
echo "vdi-server holds $fds descriptors with $N VNC clients at the login screen, $low of them below 1024"
[ "$fds" -gt 1024 ] || fail "only $fds descriptors: the crowd did not take vdi-server past 1023"

# A real login while the crowd is there: straight to the desktop.
vnc alice -u alice -w pw-alice -a "$DATA/tls.crt" -s 2 -p "$WORK/alice.png"
da=$(desktop_of alice)
[ -n "$da" ] || fail "alice got no desktop"
shows "$WORK/alice.png" "$da" "alice through VeNCrypt beside $N idle clients"

exec 3>&-
wait "$crowd"
kill -0 "$server" 2>/dev/null || fail "vdi-server died"
! grep -q 'FD_SETSIZE\|buffer overflow' "$WORK/server.out" || fail "vdi-server reported a descriptor overflow"
echo "ok: $N VNC clients held, a login beside them, vdi-server alive"
