#!/usr/bin/env bash
# overhead.sh BUILD [LIBDIR]: ns the interposer adds per driver call, native
# and preloaded runs interleaved five times. LIBDIR: where libcuda.so.1 is
# (default: NVIDIA's if the loader finds it, else the simulated one).
set -eu
build=$(cd "${1:-build}" && pwd)
cc -O2 -std=c11 -D_GNU_SOURCE -Isrc/include -o "$build/overhead" bench/overhead.c -ldl
libdir=${2:-}
[ -z "$libdir" ] && ! ldconfig -p | grep -q 'libcuda.so.1 ' && libdir="$build/lib/gpushare-sim"
export LD_LIBRARY_PATH="${libdir}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
for r in 1 2 3 4 5; do
	echo "native            $("$build/overhead")"
	echo "preload, no slice $(LD_PRELOAD="$build/lib/libgpushare.so" "$build/overhead")"
	echo "preload, slice    $(LD_PRELOAD="$build/lib/libgpushare.so" GPUSHARE_SMS=4096 GPUSHARE_MEMORY_LIMIT=1G "$build/overhead")"
done
