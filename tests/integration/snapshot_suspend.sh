#!/usr/bin/env bash
# Suspend to disk and resume: a desktop with typed text is snapshotted with
# --stop (vdi-vmm exits 0), then restored by a new vdi-vmm; its screen is
# the same pixels except the clock, which goes on, and typing continues the
# same line of text.
source "$(dirname "$0")/lib.sh"
need_kvm
start_desktop d --display 1024x768
ctl d type "hello snap" >/dev/null || fail "type failed"
wait_for "$WORK/d.out" 'text "hello snap"' 20 || fail "the guest did not see the text"
ctl d screenshot "$WORK/before.png" >/dev/null || fail "screenshot failed"
ctl d snapshot "$WORK/snap" --stop || fail "snapshot --stop failed"
wait $VMM_PID
rc=$?
cat "$WORK/d.err"
[ $rc = 0 ] || fail "vdi-vmm exited $rc after suspending, expected 0"
expect "$WORK/d.err" 'snapshot of 256 MiB RAM'
expect "$WORK/d.err" 'suspended to '
[ -f "$WORK/snap/state" ] && [ -f "$WORK/snap/memory" ] || fail "no state or memory file"
ls "$WORK/snap" -a | grep -q tmp && fail "temporary files left behind"
mem_size=$(stat -c %s "$WORK/snap/memory")
mem_used=$(du -k "$WORK/snap/memory" | cut -f1)
echo "memory file: $mem_size bytes, $mem_used KiB on disk"
[ "$mem_size" = $((256 << 20)) ] || fail "memory file is not the guest's 256 MiB"
[ "$mem_used" -lt $((64 << 10)) ] || fail "memory file is not sparse ($mem_used KiB)"

start_vmm r --restore "$WORK/snap"
ctl r status >"$WORK/status" || { cat "$WORK/r.err"; fail "the restored VM does not answer"; }
expect "$WORK/status" '^state running$'
ctl r screenshot "$WORK/after.png" >/dev/null || fail "screenshot failed"
# The taskbar is the bottom 34 rows; its clock sits at the right.
above=$(pngstat diff "$WORK/before.png" "$WORK/after.png" 0 0 1024 734)
label=$(pngstat diff "$WORK/before.png" "$WORK/after.png" 0 734 880 34)
total=$(pngstat diff "$WORK/before.png" "$WORK/after.png")
echo "pixels changed: $above above the taskbar, $label beside the clock, $total in all"
[ "$above" = 0 ] && [ "$label" = 0 ] || fail "the restored screen differs outside the clock"
sleep 2.5
ctl r screenshot "$WORK/later.png" >/dev/null || fail "screenshot failed"
ticked=$(pngstat diff "$WORK/after.png" "$WORK/later.png" 880 734 144 34)
echo "clock pixels changed 2.5 s after the restore: $ticked"
[ "$ticked" -gt 0 ] || fail "the clock does not advance after the restore"
ctl r type " more" >/dev/null || fail "type after restore failed"
wait_for "$WORK/r.out" 'text "hello snap more"' 20 || { cat "$WORK/r.out"; fail "typing did not continue the text"; }
ctl r key enter >/dev/null
wait_for "$WORK/r.out" 'line "hello snap more"' 10 || fail "no line after Enter"
ctl r poweroff >/dev/null
wait $VMM_PID
expect_not "$WORK/r.err" 'broken|refused'
