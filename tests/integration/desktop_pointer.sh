#!/usr/bin/env bash
# The pointer: moving it brings a cursor-position event out of the control
# socket (the guest moves its hardware cursor); clicks and the wheel reach
# the guest.
source "$(dirname "$0")/lib.sh"
need_kvm
start_desktop d --display 1024x768
ctl d events 8 >"$WORK/events" &
events=$!
sleep 0.5
ctl d pointer 300 200 >/dev/null || fail "pointer failed"
ctl d pointer 300 200 left >/dev/null || fail "pointer failed"
ctl d pointer 300 200 >/dev/null
ctl d pointer 700 500 right >/dev/null
ctl d pointer 700 500 >/dev/null
ctl d pointer 1023 767 middle >/dev/null # the far corner, exactly
ctl d pointer 5000 5000 >/dev/null        # beyond it: clamped to the corner
ctl d wheel 3 >/dev/null || fail "wheel failed"
ctl d wheel -1 >/dev/null
ctl d wheel 0 2 >/dev/null
wait_for "$WORK/d.out" 'hwheel 2' 10 || fail "no hwheel"
expect "$WORK/d.out" 'button left down at 300,200$'
expect "$WORK/d.out" 'button left up at 300,200$'
expect "$WORK/d.out" 'button right down at 700,500$'
expect "$WORK/d.out" 'button right up'
expect "$WORK/d.out" 'button middle down at 1023,767$'
expect "$WORK/d.out" 'button middle up at 1023,767$'
expect "$WORK/d.out" 'wheel 3'
expect "$WORK/d.out" 'wheel -1'
wait $events
cat "$WORK/events"
expect "$WORK/events" '^cursor-image [0-9]+x[0-9]+ hot'
expect "$WORK/events" '^cursor 300,200 visible'
expect "$WORK/events" '^cursor 700,500 visible'
ctl d pointer 300 200 bogus && fail "an unknown button was accepted"
ctl d pointer -5 1 && fail "a negative position was accepted"
ctl d poweroff >/dev/null
wait $VMM_PID
