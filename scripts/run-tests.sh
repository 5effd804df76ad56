#!/usr/bin/env bash
# run-tests.sh BUILD: the whole suite: unit tests (cmocka, fork-isolated),
# golden replays of nvidia-smi transcripts, process-level tests (crashes,
# concurrency) and a short bounded fuzzing run of every parser.
#
# Each test program's output goes to BUILD/test-logs/<name>.log; the
# terminal gets one line per program (what ran, how many checks passed,
# what was skipped) and, for a program that failed, its failed checks and
# the end of its log. Nothing that looks like an error is printed when all
# passed: the noise of a passing run (framework banners, the messages of
# commands refused on purpose, bash's "Killed" for a kill -9 done on purpose)
# stays in the logs.
set -u
build=${1:-build}
logs="$build/test-logs"
rm -rf "$logs"; mkdir -p "$logs"
failed=()
section() { printf '\n== %s\n' "$1"; }

# report NAME STATUS LOG SUMMARY: one line, and on failure what failed
report() {
	local name=$1 status=$2 log=$3 summary=$4
	if [ "$status" = 0 ]; then
		printf 'ok   %-26s %s\n' "$name" "$summary"
		grep -E '^skip' "$log" | sed 's/^/       /'
	else
		printf 'FAIL %-26s %s (exit %s; log: %s)\n' "$name" "$summary" "$status" "$log"
		grep -E '^(FAIL|\[  FAILED  \]|\[  ERROR   \])' "$log" | sed 's/^/       /'
		echo "       --- last lines of the log:"
		tail -n 25 "$log" | sed 's/^/       | /'
		failed+=("$name")
	fi
}

section "unit tests"
for t in "$build"/tests/test-*; do
	case "$t" in *.d) continue ;; esac
	name=$(basename "$t"); log="$logs/$name.log"
	"$t" > "$log" 2>&1; status=$?
	passed=$(sed -nE 's/^\[  PASSED  \] ([0-9]+) test.*/\1/p' "$log" | awk '{ n += $1 } END { print n + 0 }')
	report "$name" "$status" "$log" "$passed tests passed"
done

section "golden transcripts"
for t in tests/golden/*.txt; do
	name=$(basename "$t"); log="$logs/golden-$name.log"
	tests/golden/replay.sh "$build" "$t" > "$log" 2>&1; status=$?
	report "$name" "$status" "$log" "$(grep -c '^\$ ' "$t") commands as recorded"
done

section "process tests"
for t in tests/shell/test-*.sh; do
	name=$(basename "$t"); log="$logs/$name.log"
	start=$SECONDS
	"$t" "$build" > "$log" 2>&1; status=$?
	ok=$(grep -c '^ok ' "$log"); bad=$(grep -c '^FAIL' "$log"); skipped=$(grep -c '^skip' "$log")
	# a test that reported no failure but exited non-zero still fails
	report "$name" "$status" "$log" "$ok checks passed, $bad failed, $skipped skipped ($((SECONDS - start)) s)"
done

section "fuzzing (bounded)"
log="$logs/fuzz.log"
scripts/fuzz.sh "$build" "${GPUSHARE_FUZZ_SECONDS:-10}" > "$log" 2>&1; status=$?
report "fuzz targets" "$status" "$log" "$(grep -c '^== fuzz-' "$log") targets, ${GPUSHARE_FUZZ_SECONDS:-10} s each, no crash"

echo
if [ ${#failed[@]} = 0 ]; then
	echo "ALL TESTS PASSED (logs in $logs)"
	exit 0
fi
echo "SOME TESTS FAILED: ${failed[*]} (logs in $logs)"
exit 1
