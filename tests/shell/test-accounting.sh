#!/usr/bin/env bash
# test-accounting.sh BUILD: every path that takes GPU memory is charged to
# the slice before it is used, contexts included, across real processes
# (tests/tools/cuda-app under libgpushare.so on the simulated GPU, whose
# contexts take 256 MiB): programs whose context does not fit are refused at
# init, context charges respect other slices' guarantees, a program using
# only cuMemCreate has its context charged, and a slice's ledger is empty
# once its programs are gone.
set -u
build=$(cd "$1" && pwd)
. "$(dirname "$0")/lib.sh"
preload="$build/lib/libgpushare.so"
if nm -D "$preload" | grep -q __asan_init; then
	echo "skip LD_PRELOAD of a sanitized interposer (covered by test-interposer)"
	exit 0
fi
work=$(mktemp -d)
pids=()
cleanup() { [ ${#pids[@]} -gt 0 ] && kill -9 "${pids[@]}" 2> /dev/null; rm -rf "$work"; }
trap cleanup EXIT
export PATH="$build/bin:$PATH" GPUSHARE_STATE_DIR="$work/state" GPUSHARE_SIM_DIR="$work/sim"
export GPUSHARE_SIMULATE=a100-sxm4-40gb
app="$build/tests/cuda-app"
# start NAME SLICE ARGS...: cuda-app in a slice, in the background
start() {
	local name=$1 slice=$2
	shift 2
	(GPUSHARE_SLICE=$slice LD_PRELOAD="$preload" LD_LIBRARY_PATH="$build/lib/gpushare-sim" \
		exec "$app" "$@" > "$work/$name.out" 2> "$work/$name.err") &
	pids+=($!)
}
once() { local s=$1; shift; (GPUSHARE_SLICE=$s LD_PRELOAD="$preload" LD_LIBRARY_PATH="$build/lib/gpushare-sim" exec "$app" "$@"); }
# the USED column of gpushare status for a slice, in MiB
used() { gpushare status | awk -v s="$1" '$1 == s { sub("MiB", "", $9); print $9 }'; }
slice() { gpushare-smi -L | awk -v n="$1" '$0 ~ "Device +" n ":" { print substr($NF, 1, length($NF) - 1) }'; }
# settled N PREFIX: every one of N programs is ready or has exited
settled() { local i n=0; for i in $(seq "$1"); do { grep -q "ready\|vmm" "$work/$2$i.out" || ! kill -0 "${pids[$((i - 1 + ${3:-0}))]}"; } 2> /dev/null && n=$((n + 1)); done; [ $n = "$1" ]; }
stop_all() { kill -9 "${pids[@]}" 2> /dev/null; wait 2> /dev/null; pids=(); }

gpushare-smi -i 0 -mig 1 > /dev/null
gpushare-smi mig -cgi 8sm.1gb -C > /dev/null
small=$(slice 0)

# 12 programs in a 1 GiB slice: 4 contexts of 256 MiB fit, the rest are refused at init
for i in $(seq 12); do start p$i "$small" idle; done
check "12 programs in a 1 GiB slice settle" 'wait_for "settled 12 p" 10'
ready=$(cat "$work"/p*.out | grep -c ready)
check "only the 4 whose context fits run (got $ready)" '[ "$ready" = 4 ]'
check "the slice never holds more than its 1024 MiB (holds $(used "$small"))" '[ "$(used "$small")" -le 1024 ]'
check "the others were refused at init with CUDA_ERROR_OUT_OF_MEMORY, saying the slice is full" \
	'[ "$(cat "$work"/p*.err | grep -c "gpushare: slice .* is full: a CUDA context")" = 8 ] && [ "$(cat "$work"/p*.err | grep -c "cuDevicePrimaryCtxRetain.* = 2")" = 8 ]'
stop_all
check "once the programs are gone the slice's ledger is empty" 'wait_for "[ \"\$(used $small)\" = 0 ]"'

# what a program frees everything of, and what it holds when it exits, all goes back
check "every allocation path is charged and given back" 'once "$small" paths > "$work/paths" && ! grep -q FAIL "$work/paths"'
check "after it exits the slice's ledger is empty" 'wait_for "[ \"\$(used $small)\" = 0 ]"'

# a program that only uses cuMemCreate (VMM) has its context charged too
start v1 "$small" vmm 512
check "a VMM-only program runs" 'wait_for "grep -q \"vmm 0\" $work/v1.out"'
check "its context is charged with its memory (768 MiB used: $(used "$small"))" '[ "$(used "$small")" = 768 ]'
start v2 "$small" vmm 512
check "a second is refused what its context and memory would pass" 'wait_for "grep -q \"vmm 2\" $work/v2.out || ! kill -0 ${pids[1]} 2> /dev/null" && [ "$(used "$small")" -le 1024 ]'
stop_all
gpushare-smi mig -dci > /dev/null && gpushare-smi mig -dgi > /dev/null

# contexts go through the guarantee check: an idle guaranteed slice keeps all of its 20 GiB
gpushare-smi mig -cgi 20sm.20gb -C > /dev/null
gpushare-smi mig --overcommit -cgi 20sm.40gb -C > /dev/null
guaranteed=$(slice 0) over=$(slice 1)
start h0 "$over" hold $((20480 - 256 - 100))
check "the over-committed slice fills what no other slice is guaranteed" 'wait_for "grep -q held $work/h0.out"'
for i in 1 2 3 4; do start c$i "$over" idle; done
check "its further programs settle" 'wait_for "settled 4 c 1" 10'
check "their contexts are refused past the guarantee of the other slice" '! grep -q ready "$work"/c*.out && [ "$(used "$over")" -le 20480 ]'
check "the idle guaranteed slice still gets all of its memory" '[ "$(once "$guaranteed" alloc $((20480 - 256)))" = ok ]'
stop_all
finish
