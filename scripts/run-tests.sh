#!/usr/bin/env bash
# run-tests.sh BUILD: the whole suite: unit tests (cmocka, fork-isolated),
# golden replays of nvidia-smi transcripts, process-level tests (crashes,
# concurrency) and a short bounded fuzzing run of every parser.
set -u
build=${1:-build}
status=0
section() { printf '\n== %s\n' "$1"; }
section "unit tests"
for t in "$build"/tests/test-*; do
	case "$t" in *.d) continue ;; esac
	echo "-- $(basename "$t")"
	"$t" || status=1
done
section "golden transcripts"
for t in tests/golden/*.txt; do
	tests/golden/replay.sh "$build" "$t" || status=1
done
section "process tests"
# bash reports the programs a test kills on purpose (kill -9 is how crash
# safety is tested) as "line N: PID Killed ...": not an error, left out
for t in tests/shell/test-*.sh; do
	echo "-- $(basename "$t")"
	"$t" "$build" 2>&1 | grep --line-buffered -vE '^[^ ]+: line [0-9]+: +[0-9]+ Killed '
	[ "${PIPESTATUS[0]}" = 0 ] || status=1
done
section "fuzzing (bounded)"
scripts/fuzz.sh "$build" "${GPUSHARE_FUZZ_SECONDS:-10}" || status=1
echo
[ $status = 0 ] && echo "ALL TESTS PASSED" || echo "SOME TESTS FAILED"
exit $status
