# lib.sh — shared helpers for integration tests (sourced). A test exits 0 to
# pass, 77 to skip (its last line saying why), anything else to fail.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
VMM=$PWD/build/bin/vdi-vmm
WORK=$(mktemp -d /tmp/vdi-test.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$WORK"' EXIT

fail() { echo "FAIL: $*"; exit 1; }
skip() { echo "skip: $*"; exit 77; }

need_kvm() {
	[ -e /dev/kvm ] || skip "/dev/kvm is absent on this machine"
	[ -r /dev/kvm ] && [ -w /dev/kvm ] || skip "no permission on /dev/kvm"
}

# run_vmm NAME ARGS...: runs vdi-vmm (bounded by a timeout), serial to
# $WORK/NAME.out, diagnostics to $WORK/NAME.err, status in $WORK/NAME.rc.
run_vmm() {
	local name=$1; shift
	timeout -k 5 ${VMM_TIMEOUT:-60} "$VMM" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"
	echo $? >"$WORK/$name.rc"
	echo "--- $name: exit $(cat "$WORK/$name.rc")"; cat "$WORK/$name.out" "$WORK/$name.err"
}
rc_of() { cat "$WORK/$1.rc"; }

# expect FILE REGEX: the file has a line matching the extended regex.
expect() { grep -Eq -- "$2" "$1" || fail "$(basename "$1") lacks /$2/"; }
expect_not() { ! grep -Eq -- "$2" "$1" || fail "$(basename "$1") has /$2/"; }
expect_rc() { [ "$(rc_of "$1")" = "$2" ] || fail "$1 exited $(rc_of "$1"), expected $2"; }

# wait_for FILE REGEX SECONDS
wait_for() {
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		grep -Eq -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# start_vmm NAME ARGS...: vdi-vmm in the background with its control socket
# at $WORK/NAME.sock, serial in $WORK/NAME.out, diagnostics in NAME.err;
# its pid in VMM_PID. Returns once the socket is there.
start_vmm() {
	local name=$1 i; shift
	timeout -k 5 ${VMM_TIMEOUT:-120} "$VMM" --control "$WORK/$name.sock" "$@" \
		>"$WORK/$name.out" 2>"$WORK/$name.err" &
	VMM_PID=$!
	for ((i = 0; i < 100; i++)); do
		[ -S "$WORK/$name.sock" ] && return 0
		sleep 0.05
	done
	cat "$WORK/$name.err"
	fail "vdi-vmm $name: no control socket"
}
# ctl NAME ARGS...: vdi-vmm ctl on NAME's socket.
ctl() { local name=$1; shift; "$VMM" ctl "$WORK/$name.sock" "$@"; }
# start_desktop NAME ARGS...: the desktop guest, up and drawn.
start_desktop() {
	local name=$1; shift
	start_vmm "$name" --mem 256 --guest desktop "$@"
	wait_for "$WORK/$name.out" 'desktop ready [0-9]+x[0-9]+' 60 || {
		cat "$WORK/$name.out" "$WORK/$name.err"; fail "the desktop did not come up"; }
}
pngstat() { python3 tests/integration/pngstat.py "$@"; }

# start_vdi_server PORT ARGS...: vdi-server serving desktop d (start_desktop d)
# with ARGS, output in $WORK/server.out, pid in $server; returns once PORT
# listens.
start_vdi_server() {
	local port=$1 i; shift
	build/bin/vdi-server --desktop "$WORK/d.sock" "$@" >"$WORK/server.out" 2>&1 &
	server=$!
	for ((i = 0; i < 100; i++)); do
		ss -Htln "sport = :$port" | grep -q . && return 0
		sleep 0.05
	done
	cat "$WORK/server.out"
	fail "vdi-server is not listening on $port"
}
# stop_vdi_server: SIGTERM must end vdi-server cleanly (exit 0).
stop_vdi_server() {
	local rc
	kill -TERM "$server"
	wait "$server"
	rc=$?
	[ $rc = 0 ] || { cat "$WORK/server.out"; fail "vdi-server exited $rc on SIGTERM"; }
}
