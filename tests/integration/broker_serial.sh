#!/usr/bin/env bash
# broker_serial.sh — the desktops' serial console is a debugging aid, not a keystroke log: a pool's
# desktops have none by default (no RUN/NAME.serial, vdi-vmm runs with --serial none); a pool with
# serial = file writes RUN/NAME.serial with mode 0600, which stops growing at serial_max however much
# the guest writes (typing text makes the in-tree guest log every keystroke's line), and the file is
# removed when its desktop is deleted through the admin API.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/broker_lib.sh"
command -v curl >/dev/null || skip "curl is not installed"
API=$((40000 + RANDOM % 20000))
users admin:adminpw:ops
config "admins = @ops"
sed -i "s/^listen = off$/listen = 127.0.0.1:$API/" "$WORK/vdi.ini"
cat >>"$WORK/vdi.ini" <<EOF2
[pool:quiet]
memory = 64
size = 1
[pool:loud]
memory = 64
size = 1
serial = file
serial_max = 4K
EOF2
start_broker
wait_running 2
call() {
	curl -s -m 20 -o "$WORK/reply.json" -w '%{http_code}' --cacert "$DATA/tls.crt" -u admin:adminpw "$@"
}

# The default: no console file, and the VMM was told so.
[ ! -e "$RUN/quiet-1.serial" ] || fail "a pool without serial = file has $RUN/quiet-1.serial"
tr '\0' ' ' <"/proc/$(vmm_pid_of quiet-1)/cmdline" | grep -q -- '--serial none' ||
	fail "quiet-1's VMM runs without --serial none: $(tr '\0' ' ' <"/proc/$(vmm_pid_of quiet-1)/cmdline")"
[ "$(call https://127.0.0.1:$API/api/v1/pools/quiet)" = 200 ] || fail "GET pools/quiet failed"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["serial"] == "off" and d["serial_max"] == 1048576, d' \
	"$WORK/reply.json" || fail "pool quiet's serial settings: $(cat "$WORK/reply.json")"

# serial = file: 0600, capped at 4 KiB.
f=$RUN/loud-1.serial
wait_serial loud-1 'desktop ready'
[ "$(stat -c %a "$f")" = 600 ] || fail "$f has mode $(stat -c %a "$f"), not 600"
before=$(stat -c %s "$f")
[ "$before" -lt 4096 ] || fail "the boot alone filled the 4 KiB console ($before bytes)"
echo "loud-1's console: mode 600, $before bytes after boot"
line="the quick brown fox jumps over the lazy dog 0123456789"
dctl loud-1 type "$line" >/dev/null || fail "typing into loud-1 failed"
wait_serial loud-1 "text \"$line\""
dctl loud-1 type " and more text past the cap, which must not show" >/dev/null || fail "typing failed"
for ((i = 0; i < 100; i++)); do
	[ "$(stat -c %s "$f")" -ge 4096 ] && break
	sleep 0.1
done
dctl loud-1 type " still more" >/dev/null || fail "typing failed"
dctl loud-1 screenshot "$WORK/shot.png" >/dev/null || fail "loud-1 does not answer after its cap"
size=$(stat -c %s "$f")
[ "$size" = 4096 ] || fail "the console is $size bytes, not its cap of 4096"
expect_not "$f" 'still more'
grep -q 'output reached its cap' "$RUN/loud-1.log" || fail "the VMM did not say its console reached the cap"
echo "loud-1's console stopped at $size bytes"

# Deleted through the API: the console goes with the desktop.
[ "$(call -X DELETE https://127.0.0.1:$API/api/v1/desktops/loud-1)" -lt 300 ] ||
	fail "DELETE desktops/loud-1: $(cat "$WORK/reply.json")"
wait_audit "event = 'desktop_deleted' AND desktop = 'loud-1'" 20
# Gone with it (the pool may give its replacement the same name: then the file is the replacement's,
# new, without what was typed into the old one).
for ((i = 0; i < 100; i++)); do
	grep -q 'quick brown fox' "$f" 2>/dev/null || break
	sleep 0.1
done
[ ! -e "$f" ] || expect_not "$f" 'quick brown fox'
[ -e "$f" ] && echo "a new loud-1 has a new console" || echo "loud-1's console was removed with it"
echo "broker_serial: all checks passed"
