# The control socket: status, pause, resume, stats, power off; SIGTERM ends the VM.
. "$(dirname "$0")/lib.sh"
need_kvm
sock=$WORK/vm.sock
ctl() { "$VMM" ctl "$sock" "$@"; }

"$VMM" --mem 64 --cpus 2 --guest desktop --cmdline idle --control "$sock" >"$WORK/vm.out" 2>"$WORK/vm.err" &
pid=$!
wait_for "$WORK/vm.out" '^vdi-guest: idle$' 30 || { cat "$WORK/vm.out" "$WORK/vm.err"; fail "guest did not reach idle"; }
[ -S "$sock" ] || fail "no control socket at $sock"

ctl status >"$WORK/status" || fail "status failed"
cat "$WORK/status"
expect "$WORK/status" '^state running$'
expect "$WORK/status" '^vcpus 2$'
expect "$WORK/status" '^mem_mib 64$'
expect "$WORK/status" "^pid $pid\$"

[ "$(ctl pause)" = ok ] || fail "pause failed"
ctl status | grep -q '^state paused$' || fail "not paused after pause"
[ "$(ctl pause)" = ok ] || fail "pausing twice failed"
[ "$(ctl resume)" = ok ] || fail "resume failed"
ctl status | grep -q '^state running$' || fail "not running after resume"

ctl stats >"$WORK/stats" || fail "stats failed"
cat "$WORK/stats"
io=$(awk '$1=="exits.io"{print $2}' "$WORK/stats")
[ "${io:-0}" -gt 0 ] || fail "no I/O exits counted"
intr=$(awk '$1=="exits.intr"{print $2}' "$WORK/stats")
[ "${intr:-0}" -gt 0 ] || fail "pause kicked no vCPU out of KVM_RUN"
touched=$(awk '$1=="guest_ram_touched_bytes"{print $2}' "$WORK/stats")
rss=$(awk '$1=="vmm_rss_bytes"{print $2}' "$WORK/stats")
[ "${touched:-0}" -gt 0 ] && [ "$touched" -lt $((64 << 20)) ] || fail "guest RAM touched $touched out of range"
[ "${rss:-0}" -gt "$touched" ] || fail "RSS $rss not above touched guest RAM $touched"

# A malformed request gets an error reply; the VM keeps running.
python3 - "$sock" <<'PY' || fail "malformed request not answered with an error"
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
for bad in (b"\x01", struct.pack("<HHIiI", 99, 16, 7, 0, 0), struct.pack("<HHIiI", 1, 999, 8, 0, 0),
            struct.pack("<HHIiI", 1, 16, 9, 0, 100)):
    s.send(bad)
    rep = s.recv(65536)
    ver, typ, rid, result, length = struct.unpack_from("<HHIiI", rep)
    assert typ == 1 and result < 0, (bad, rep)
PY
ctl status | grep -q '^state running$' || fail "VM not running after malformed requests"

[ "$(ctl poweroff)" = ok ] || fail "poweroff failed"
wait $pid; rc=$?
[ $rc = 0 ] || fail "vdi-vmm exited $rc after poweroff"
[ ! -e "$sock" ] || fail "control socket left behind"

# SIGTERM stops the VM; exit status 128+15.
"$VMM" --guest desktop --cmdline idle >"$WORK/t.out" 2>"$WORK/t.err" &
pid=$!
wait_for "$WORK/t.out" '^vdi-guest: idle$' 30 || fail "second guest did not reach idle"
kill -TERM $pid
wait $pid; rc=$?
[ $rc = 143 ] || fail "vdi-vmm exited $rc on SIGTERM, expected 143"
echo ok
