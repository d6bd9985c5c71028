#!/usr/bin/env bash
# run.sh — `make bench`: performance figures beside the anchors the issues name.
# Not a test: nothing here passes or fails on time.
cd "$(dirname "$0")/../.."
echo "== vdi-vmm ($(nproc) cores, $(uname -r))"
build/tests/bench/vmm_boot build/bin/vdi-vmm
echo "== the desktop guest's screen"
build/tests/bench/desktop build/bin/vdi-vmm
build/tests/bench/gpu_transfer
build/tests/bench/display
echo "== the broker: logons, connect to a desktop, memory per connection"
build/tests/bench/broker build/bin/vdi-vmm build/bin/vdi-server
tests/bench/greeter_memory.sh --quiet 500 500
echo "== the broker under load: 1,000 connection attempts at once, a logon storm (VDI_BENCH_STORM users)"
build/tests/bench/load build/bin/vdi-vmm build/bin/vdi-server burst,storm
echo "== snapshots and instant clones: time to a running desktop, memory per idle clone"
build/tests/bench/clone build/bin/vdi-vmm
