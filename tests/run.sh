#!/usr/bin/env bash
# run.sh — every test CI runs: unit tests (cmocka, ASan+UBSan), a short smoke
# run of each fuzz target, and the integration tests. Ends with one line
# "N passed, N failed, N skipped". Logs go to build/test-logs/.
set -u
cd "$(dirname "$0")/.."
logs=build/test-logs
mkdir -p "$logs"
passed=0 failed=0 skipped=0

report() { # name status detail
	printf '%-7s %s%s\n' "$2" "$1" "${3:+  ($3)}"
}

# Unit tests: count cmocka's own test cases.
for t in build/tests/unit/test_*; do
	[ -x "$t" ] || continue
	name=unit/$(basename "$t")
	log=$logs/$(basename "$t").log
	"$t" >"$log" 2>&1
	rc=$?
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -1)
	p=${p:-0} f=${f:-0}
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then f=1; fi # crashed before its summary
	passed=$((passed + p)) failed=$((failed + f))
	if [ "$f" = 0 ]; then report "$name" ok "$p cases"; else
		report "$name" FAILED "$f of $((p + f)) cases; see $log"
		grep -E '^\[  (FAILED|ERROR) |ERROR: |runtime error' "$log" | head -20 | sed 's/^/    /'
	fi
done

# Fuzz smoke: a bounded number of runs of each target.
for t in build/tests/fuzz/fuzz_*; do
	[ -x "$t" ] || continue
	name=fuzz/$(basename "$t")
	log=$logs/$(basename "$t").log
	corpus=build/corpus/$(basename "$t")
	seeds=tests/fuzz/corpus/$(basename "$t")
	[ -d "$seeds" ] || seeds=
	mkdir -p "$corpus"
	if "$t" -runs=20000 -max_total_time=30 "$corpus" $seeds >"$log" 2>&1; then
		passed=$((passed + 1)); report "$name" ok "smoke run"
	else
		failed=$((failed + 1)); report "$name" FAILED "see $log"
		tail -20 "$log" | sed 's/^/    /'
	fi
done

# Integration tests: exit 0 passes, 77 skips (last line says why), else fails.
integration_start=$SECONDS
for t in tests/integration/*.sh; do
	[ -f "$t" ] || continue
	case $t in */lib.sh | */*_lib.sh) continue ;; esac # helpers, sourced by tests
	name=integration/$(basename "$t" .sh)
	log=$logs/$(basename "$t" .sh).log
	start=$SECONDS
	bash "$t" >"$log" 2>&1
	rc=$?
	took="$((SECONDS - start)) s"
	if [ $rc = 0 ]; then
		passed=$((passed + 1)); report "$name" ok "$took"
	elif [ $rc = 77 ]; then
		skipped=$((skipped + 1)); report "$name" skipped "$(tail -1 "$log")"
	else
		failed=$((failed + 1)); report "$name" FAILED "see $log"
		tail -15 "$log" | sed 's/^/    /'
	fi
done

echo "integration tests took $((SECONDS - integration_start)) s"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
