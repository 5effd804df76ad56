#!/usr/bin/env bash
# test-abi.sh BUILD: gpushare declares the CUDA driver ABI itself (it must
# build without the toolkit); where the toolkit's cuda.h exists, every layout
# and constant gpushare relies on must equal NVIDIA's.
set -u
build=$1
inc=""
for d in /usr/local/cuda/include /usr/include; do [ -f "$d/cuda.h" ] && inc=$d && break; done
if [ -z "$inc" ]; then echo "skip no cuda.h on this machine (gpushare builds without it)"; exit 0; fi
mkdir -p "$build/abi"
cc -std=c11 -I"$inc" -o "$build/abi/nvidia" tests/abi/layout.c &&
cc -std=c11 -DUSE_GS -Isrc/include -o "$build/abi/gpushare" tests/abi/layout.c || exit 1
if diff <("$build/abi/nvidia") <("$build/abi/gpushare"); then
	echo "ok   $("$build/abi/nvidia" | wc -l) layouts and constants match $inc/cuda.h"
else
	echo "FAIL gpushare's CUDA declarations differ from $inc/cuda.h"; exit 1
fi
