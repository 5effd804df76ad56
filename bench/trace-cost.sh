#!/usr/bin/env bash
# trace-cost.sh BUILD: what kernel traces add to a launch on the simulated
# driver (bench/trace-cost.c), native, preloaded and preloaded with
# GPUSHARE_TRACE_FILE, its kernels timed by CUDA events and by the simulated
# CUPTI (GPUSHARE_TRACE_TIMING), interleaved three times.
set -eu
build=$(cd "${1:-build}" && pwd)
cc -O2 -std=c11 -D_GNU_SOURCE -Isrc/include -o "$build/trace-cost" bench/trace-cost.c -ldl
export LD_LIBRARY_PATH="$build/lib/gpushare-sim" GPUSHARE_SIM_DIR=$(mktemp -d) GPUSHARE_STATE_DIR=$(mktemp -d)
trap 'rm -rf "$GPUSHARE_SIM_DIR" "$GPUSHARE_STATE_DIR"' EXIT
for r in 1 2 3; do
	echo "native           $("$build/trace-cost")"
	echo "preload          $(LD_PRELOAD="$build/lib/libgpushare.so" "$build/trace-cost")"
	for t in events cupti; do
		echo "traced, $t $(printf '%*s' $((7 - ${#t})) '')$(LD_PRELOAD="$build/lib/libgpushare.so" GPUSHARE_TRACE_TIMING=$t \
			GPUSHARE_TRACE_FILE="$GPUSHARE_SIM_DIR/t-%p.json" "$build/trace-cost")"
	done
done
