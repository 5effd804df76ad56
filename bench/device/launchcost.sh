#!/usr/bin/env bash
# launchcost.sh: on the GPU machine: launch loops native, with the interposer
# and no slice, in a green context of 128 SMs, and in one of all 132; the
# wrapped calls and slow paths of a slice run (GPUSHARE_TRACE).
set -u
export PATH=/usr/local/nvidia/bin:/usr/local/cuda/bin:$PATH
d=build/bench lib=$PWD/build/lib/libgpushare.so
for r in 1 2 3; do
	echo "round $r"
	echo "  native   $($d/launch)"
	echo "  preload  $(LD_PRELOAD=$lib $d/launch)"
	echo "  green128 $(LD_PRELOAD=$lib GPUSHARE_SMS=128 $d/launch)"
	echo "  green132 $(LD_PRELOAD=$lib GPUSHARE_SMS=132 $d/launch)"
	echo "  memonly  $(LD_PRELOAD=$lib GPUSHARE_MEMORY_LIMIT=70G $d/launch)"
done
GPUSHARE_TRACE=1 GPUSHARE_LOG=stderr LD_PRELOAD=$lib GPUSHARE_SMS=128 $d/launch 2>&1 | grep -E 'calls|slow|green'
