#!/usr/bin/env bash
# swap-alloc.sh BUILD [LIBDIR]: us per cuMemAlloc + cuMemFree, native, under
# the interposer, and under the interposer with its allocations backed by
# virtual memory management for the swap (GPUSHARE_SWAP=on), interleaved
# three times. LIBDIR: where libcuda.so.1 is (default: NVIDIA's if the loader
# finds it, else the simulated one). Not a timed test: the figures go to
# bench/results by hand.
set -eu
build=$(cd "${1:-build}" && pwd)
cc -O2 -std=c11 -D_GNU_SOURCE -Isrc/include -o "$build/swap-alloc" bench/swap-alloc.c -ldl
libdir=${2:-}
[ -z "$libdir" ] && ! ldconfig -p | grep -q 'libcuda.so.1 ' && libdir="$build/lib/gpushare-sim"
export LD_LIBRARY_PATH="${libdir}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if [ -n "$libdir" ] && [ -z "${GPUSHARE_SIM_DIR:-}" ]; then
	GPUSHARE_SIM_DIR=$(mktemp -d)
	export GPUSHARE_SIM_DIR
	trap 'rm -rf "$GPUSHARE_SIM_DIR"' EXIT
fi
for r in 1 2 3; do
	echo "native              $("$build/swap-alloc")"
	echo "preload, slice      $(LD_PRELOAD="$build/lib/libgpushare.so" GPUSHARE_SWAP=off GPUSHARE_MEMORY_LIMIT=8G "$build/swap-alloc")"
	echo "preload, slice, VMM $(LD_PRELOAD="$build/lib/libgpushare.so" GPUSHARE_SWAP=on GPUSHARE_MEMORY_LIMIT=8G "$build/swap-alloc")"
done
