#!/usr/bin/env bash
# split.sh: on the GPU machine, under NVIDIA MPS: which way of splitting the
# SMs gives two 64-SM slices that do not slow each other (each alone, then
# both at once), and how often the context check leaves its fast path.
set -u
export PATH=/usr/local/nvidia/bin:/usr/local/cuda/bin:$PWD/build/bin:$PATH
export GPUSHARE_STATE_DIR=$(mktemp -d) GPUSHARE_MPS_PIPE_DIRECTORY=/tmp/gs-mps-split
unset CUDA_MPS_PIPE_DIRECTORY
d=build/bench lib=$PWD/build/lib/libgpushare.so
stop_mps() { CUDA_MPS_PIPE_DIRECTORY=$GPUSHARE_MPS_PIPE_DIRECTORY timeout 20 nvidia-cuda-mps-control <<< quit > /dev/null 2>&1; }
trap stop_mps EXIT
gpushare-smi -i 0 -mig 1 > /dev/null
gpushare-smi mig -cgi 64sm.32gb,64sm.32gb -C > /dev/null
s0=$(gpushare-smi -L | awk '/Device  0/ { print substr($NF, 1, length($NF) - 1) }')
s1=$(gpushare-smi -L | awk '/Device  1/ { print substr($NF, 1, length($NF) - 1) }')
rate() { awk '{ print $NF }'; }
echo "=== launch cost and slow-path counts (no MPS)"
echo "native $($d/launch)"
GPUSHARE_LOG=stderr LD_PRELOAD=$lib GPUSHARE_SMS=132 GPUSHARE_MEMORY_LIMIT=78G $d/launch 2>&1 | tail -3
echo "=== two 64-SM slices under MPS, kernels/s: s0 alone, s1 alone, s0 and s1 together"
for mode in combine uniform sequential; do
	export GPUSHARE_SM_SPLIT=$mode
	a0=$(gpushare run --slice $s0 -- $d/smid_shared 2 | rate)
	a0b=$(gpushare run --slice $s0 -- $d/smid_shared 2 | rate)
	a1=$(gpushare run --slice $s1 -- $d/smid_shared 2 | rate)
	gpushare run --slice $s0 -- $d/smid_shared 2 > /tmp/x0 & gpushare run --slice $s1 -- $d/smid_shared 2 > /tmp/x1; wait
	echo "$mode alone $a0 $a0b $a1 together $(rate < /tmp/x0) $(rate < /tmp/x1)"
done
echo "=== the same without MPS (green contexts of two processes time-slice)"
export GPUSHARE_SM_SPLIT=combine
gpushare run --no-mps --slice $s0 -- $d/smid_shared 2 > /tmp/x0 & gpushare run --no-mps --slice $s1 -- $d/smid_shared 2 > /tmp/x1; wait
echo "no_mps together $(rate < /tmp/x0) $(rate < /tmp/x1)"
