#!/usr/bin/env bash
# Snapshots that cannot be used are refused, each with a one-line reason and
# exit status 1, before any guest runs: a truncated memory file, a flipped
# byte in the state, a missing state, another vdi-vmm build, another format
# version, another CPU feature set, bad magic, flags that clash with --restore.
source "$(dirname "$0")/lib.sh"
need_kvm
start_desktop d
ctl d snapshot "$WORK/good" --pause || fail "snapshot --pause failed"
ctl d status | grep -q '^state paused$' || fail "not paused after snapshot --pause"
ctl d snapshot "$WORK/good" || fail "a second snapshot into the same directory failed"
ctl d resume >/dev/null
ctl d poweroff >/dev/null
wait $VMM_PID

# copy NAME: a copy of the good snapshot to spoil.
copy() { cp -r "$WORK/good" "$WORK/$1"; }
# refused NAME REGEX: --restore of it exits 1 with one line matching REGEX.
refused() {
	run_vmm "$1.run" --restore "$WORK/$1" --serial none
	expect_rc "$1.run" 1
	expect "$WORK/$1.run.err" "$2"
	[ "$(wc -l <"$WORK/$1.run.err")" = 1 ] || fail "$1: more than one line of error"
}
copy short
truncate -s -4096 "$WORK/short/memory"
refused short 'refused: .*memory is [0-9]+ bytes.*truncated'
copy flipped
python3 - "$WORK/flipped/state" <<'PY'
import sys
p = sys.argv[1]
d = bytearray(open(p, "rb").read())
d[len(d) // 2] ^= 0x10
open(p, "wb").write(d)
PY
refused flipped 'refused: section [0-9]+ \([a-z0-9-]+ [0-9]+\): checksum mismatch'
copy cut
truncate -s 5000 "$WORK/cut/state"
refused cut 'refused: truncated'
copy nostate
rm "$WORK/nostate/state"
refused nostate 'nostate/state: No such file'
# Another build and another format version, with the header's checksum
# made right again so only the field itself is wrong.
reseal() {
	python3 - "$@" <<'PY'
import sys, struct, zlib
p, off, data = sys.argv[1], int(sys.argv[2]), bytes.fromhex(sys.argv[3])
d = bytearray(open(p, "rb").read())
d[off:off + len(data)] = data
d[124:128] = struct.pack("<I", zlib.crc32(bytes(d[:124])))
open(p, "wb").write(d)
PY
}
copy build
reseal "$WORK/build/state" 20 00112233
refused build 'refused: made by another vdi-vmm build \(00112233'
copy version
reseal "$WORK/version/state" 8 02000000
refused version 'refused: snapshot format version 2; this vdi-vmm reads version 1'
copy cpu
reseal "$WORK/cpu/state" 88 0102030405060708
refused cpu 'refused: taken on a different CPU feature set \(CPUID fingerprint 0807060504030201'
copy magic
reseal "$WORK/magic/state" 0 58
refused magic 'refused: not a vdi-vmm snapshot'
run_vmm mem --restore "$WORK/good" --mem 128
expect_rc mem 1
expect "$WORK/mem.err" '--restore takes the guest'
run_vmm clone --clone --guest desktop
expect_rc clone 1
expect "$WORK/clone.err" '--clone needs --restore'
# The good one still restores.
start_vmm ok --restore "$WORK/good" --clone
ctl ok status | grep -q '^state running$' || fail "the good snapshot does not restore"
ctl ok poweroff >/dev/null
wait $VMM_PID
