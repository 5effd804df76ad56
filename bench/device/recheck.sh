#!/usr/bin/env bash
# recheck.sh: on the GPU machine: confinement of runtime, driver-API and
# PyTorch programs with cuCtxGetCurrent handed out unwrapped, and the ns per
# driver call with NVIDIA's driver.
set -u
export PATH=/usr/local/nvidia/bin:/usr/local/cuda/bin:$PWD/build/bin:$PATH
export GPUSHARE_STATE_DIR=$(mktemp -d)
d=build/bench
gpushare-smi -i 0 -mig 1 > /dev/null
gpushare-smi mig -cgi 64sm.32gb,32sm.16gb -C > /dev/null
s0=$(gpushare-smi -L | awk '/Device  0/ { print substr($NF, 1, length($NF) - 1) }')
s1=$(gpushare-smi -L | awk '/Device  1/ { print substr($NF, 1, length($NF) - 1) }')
for p in smid_static smid_shared; do
	echo "$p s0: $(gpushare run --no-mps --slice $s0 -- $d/$p 0.5)"
	echo "$p s1: $(gpushare run --no-mps --slice $s1 -- $d/$p 0.5)"
done
echo "drvapi s1: $(gpushare run --no-mps --slice $s1 -- $d/drvapi $d/smid_kernel.ptx)"
echo "torch s1: $(gpushare run --no-mps --slice $s1 -- python3 bench/device/torch_slice.py)"
bash bench/overhead.sh build
for r in 1 2 3; do echo "native $($d/launch) | slice $(LD_PRELOAD=$PWD/build/lib/libgpushare.so GPUSHARE_SMS=128 GPUSHARE_MEMORY_LIMIT=78G $d/launch)"; done
