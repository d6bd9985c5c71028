#!/usr/bin/env bash
# An idle desktop halts its vCPUs rather than polling: over a few seconds
# the whole VMM uses a small fraction of one CPU (a generous bound: a
# polling vCPU would use all of it).
source "$(dirname "$0")/lib.sh"
need_kvm
start_desktop d --cpus 2 --display 1024x768
sleep 1
pid=$(ctl d status | awk '/^pid/ { print $2 }')
ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
t0=$(ticks)
sleep 4
t1=$(ticks)
hz=$(getconf CLK_TCK)
echo "CPU over 4 s: $(( (t1 - t0) * 1000 / hz )) ms"
[ $(( (t1 - t0) * 1000 / hz )) -lt 1000 ] || fail "the idle desktop kept a CPU busy"
ctl d poweroff >/dev/null
wait $VMM_PID
