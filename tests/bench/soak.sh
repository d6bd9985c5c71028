#!/usr/bin/env bash
# soak.sh — `make soak` (not in CI): 10,000 idle connections at the login screen, VNC and RDP
# alternately, held against one vdi-server while a real login is timed; vdi-server's RSS, descriptors
# and threads with them held. VDI_SOAK_CONNS changes the count. The client side's descriptors are
# raised to the hard limit (each worker process holds 2,000 connections); vdi-server raises its own.
# It stops at the first limit it meets (the server's refusals, a run of failures, the host's memory
# under 4 GiB available) and says which. Not a test: it passes or fails nothing.
cd "$(dirname "$0")/../.."
ulimit -n "$(ulimit -Hn)"
echo "== soak: $(nproc) cores, $(free -g | awk '/^Mem/ {print $2}') GiB, descriptor limit $(ulimit -n) (hard $(ulimit -Hn))"
exec build/tests/bench/load build/bin/vdi-vmm build/bin/vdi-server soak
