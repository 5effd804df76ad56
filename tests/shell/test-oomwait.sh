#!/usr/bin/env bash
# test-oomwait.sh BUILD: waiting instead of failing (create_slice -oom-wait,
# set_slice_oom_wait), on the simulated GPU, as a real non-root user:
# - an allocation past a full slice's limit waits for memory another of its
#   programs frees, and succeeds once it is freed;
# - without a wait it is refused at once; past the wait it is refused, and
#   stderr says why; what the limit could never hold is refused at once;
# - list_slices shows the wait; a bad one is refused and changes nothing.
set -u
build=$(cd "$1" && pwd)
. "$(dirname "$0")/lib.sh"
sim_daemon_test
# app SLICE ARGS...: cuda-app ARGS in SLICE as user1 (stdout and stderr);
# bg OUT ERR SLICE ARGS...: the same in the background, $! its own pid
app() {
	local slice=$1
	shift
	LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" GPUSHARE_SLICE="$slice" \
		setpriv --reuid="$user1" --regid="$(id -g "$user1")" --init-groups -- "$app" "$@"
}
bg() {
	local out=$1 err=$2 slice=$3
	shift 3
	LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" GPUSHARE_SLICE="$slice" \
		setpriv --reuid="$user1" --regid="$(id -g "$user1")" --init-groups -- "$app" "$@" > "$out" 2> "$err" &
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }
hold() { # hold SLICE MIB: a program holding MIB in SLICE, its pid in $holder
	rm -f "$work/hold.out"
	bg "$work/hold.out" "$work/hold.err" "$1" hold "$2"
	holder=$!
	pids+=($holder)
	wait_for 'grep -q "^held" "$work/hold.out" 2> /dev/null' 10
}

"$ctl" -d
s=$(q create_slice 16 2G -users "$user1" -oom-wait 10)
check "list_slices shows the wait" 'q list_slices | grep "$s" | grep -q " queue,oom-wait=10s " && q list_slices --json | grep "$s" | grep -q "\"oom_wait_s\": 10,"'

hold "$s" 1200
t0=$(now_ms)
bg "$work/b.out" "$work/b.err" "$s" alloc 600
b=$!
pids+=($b)
sleep 1
check "an allocation past the full slice's limit waits (it has not returned after 1 s)" 'kill -0 "$b" 2> /dev/null && grep -q "is full: waiting up to 10 s for 600 MiB" "$work/b.err"'
kill -9 "$holder"
wait "$b"
t1=$(now_ms)
check "and succeeds once another program's memory is freed ($((t1 - t0)) ms)" 'grep -qx "ok" "$work/b.out" && [ $((t1 - t0)) -ge 1000 ] && [ $((t1 - t0)) -lt 9000 ]'

q set_slice_oom_wait "$s" 0 > /dev/null
hold "$s" 1200
t0=$(now_ms)
app "$s" alloc 600 > "$work/b.out" 2> "$work/b.err"
t1=$(now_ms)
check "without a wait it is refused at once ($((t1 - t0)) ms)" '! grep -qx "ok" "$work/b.out" && [ $((t1 - t0)) -lt 3000 ] && ! grep -q "waiting" "$work/b.err"'
q set_slice_oom_wait "$s" 1 > /dev/null
t0=$(now_ms)
app "$s" alloc 600 > "$work/b.out" 2> "$work/b.err"
t1=$(now_ms)
check "past its wait it is refused, saying so ($((t1 - t0)) ms)" '! grep -qx "ok" "$work/b.out" && [ $((t1 - t0)) -ge 1000 ] && grep -q "600 MiB did not fit within 1 s; CUDA_ERROR_OUT_OF_MEMORY" "$work/b.err"'
t0=$(now_ms)
app "$s" alloc 4000 > "$work/b.out" 2> "$work/b.err"
t1=$(now_ms)
check "what the slice's limit could never hold is refused at once ($((t1 - t0)) ms)" '! grep -qx "ok" "$work/b.out" && [ $((t1 - t0)) -lt 3000 ] && ! grep -q "waiting" "$work/b.err"'
kill -9 "$holder"

check "bad waits are refused, saying what is right, and change nothing" '! out=$(q set_slice_oom_wait "$s" 100000 2>&1) && [[ "$out" == *"0 (refused at once) to 86400"* ]] && ! q set_slice_oom_wait "$s" soon > /dev/null 2>&1 && ! q create_slice 8 1G -oom-wait -1 > /dev/null 2>&1 && q list_slices --json | grep "$s" | grep -q "\"oom_wait_s\": 1,"'
q quit > /dev/null
finish
