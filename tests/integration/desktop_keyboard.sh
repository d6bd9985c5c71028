#!/usr/bin/env bash
# Typing through the control socket: the guest's serial console shows the
# text exactly, and the text window's pixels change.
source "$(dirname "$0")/lib.sh"
need_kvm
start_desktop d --display 1024x768
ctl d screenshot "$WORK/before.png" >/dev/null || fail "screenshot failed"
ctl d type "hello world" || fail "type failed"
wait_for "$WORK/d.out" 'text "hello world"' 20 || fail "the guest did not see 'hello world'"
ctl d screenshot "$WORK/after.png" >/dev/null || fail "screenshot failed"
changed=$(pngstat diff "$WORK/before.png" "$WORK/after.png" 0 0 1024 720)
echo "pixels changed above the taskbar: $changed"
[ "$changed" -gt 100 ] || fail "the text window did not change"
ctl d key enter >/dev/null || fail "key enter failed"
wait_for "$WORK/d.out" 'line "hello world"' 10 || fail "no line after Enter"
# Shifted characters and punctuation, then Backspace.
ctl d type 'Hi, VDI! (1+1=2)' >/dev/null || fail "type failed"
wait_for "$WORK/d.out" 'text "Hi, VDI! \(1\+1=2\)"' 10 || fail "shifted text wrong"
ctl d key backspace >/dev/null
wait_for "$WORK/d.out" 'text "Hi, VDI! \(1\+1=2"$' 10 || fail "backspace did not delete"
# Bad requests are refused and change nothing.
ctl d key nosuchkey && fail "an unknown key name was accepted"
ctl d type $'\x01' && fail "a control character was typed"
ctl d status >/dev/null || fail "the VMM is not answering"
ctl d poweroff >/dev/null
wait $VMM_PID
expect_not "$WORK/d.err" 'broken'
