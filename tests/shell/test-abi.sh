#!/usr/bin/env bash
# test-abi.sh BUILD: gpushare declares the CUDA driver ABI and the part of
# CUPTI's it uses itself (it must build without the toolkit); where the
# toolkit's cuda.h and cupti.h exist, every layout and constant gpushare
# relies on must equal NVIDIA's.
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
cupti=""
for d in "$inc" "$inc/../extras/CUPTI/include"; do [ -f "$d/cupti.h" ] && cupti=$d && break; done
if [ -z "$cupti" ]; then echo "skip no cupti.h beside $inc/cuda.h (gpushare builds without it)"; exit 0; fi
cc -std=c11 -I"$inc" -I"$cupti" -Isrc/include -o "$build/abi/nvidia-cupti" tests/abi/cupti-layout.c &&
cc -std=c11 -DUSE_GS -Isrc/include -o "$build/abi/gpushare-cupti" tests/abi/cupti-layout.c || exit 1
if diff <("$build/abi/nvidia-cupti") <("$build/abi/gpushare-cupti"); then
	echo "ok   $("$build/abi/nvidia-cupti" | wc -l) CUPTI layouts and constants match $cupti/cupti.h"
else
	echo "FAIL gpushare's CUPTI declarations differ from $cupti/cupti.h"; exit 1
fi
