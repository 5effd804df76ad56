#!/usr/bin/env bash
# final.sh: on the GPU machine: the ns the interposer adds per driver call
# with NVIDIA's driver, and the victim/aggressor isolation of two 64-SM
# slices under MPS, three rounds alternating with the victim alone.
set -u
export PATH=/usr/local/nvidia/bin:/usr/local/cuda/bin:$PWD/build/bin:$PATH
export GPUSHARE_STATE_DIR=$(mktemp -d) GPUSHARE_MPS_PIPE_DIRECTORY=/tmp/gs-mps-final
unset CUDA_MPS_PIPE_DIRECTORY
d=build/bench
stop_mps() { CUDA_MPS_PIPE_DIRECTORY=$GPUSHARE_MPS_PIPE_DIRECTORY timeout 20 nvidia-cuda-mps-control <<< quit > /dev/null 2>&1; }
trap stop_mps EXIT
echo "=== ns per driver call, NVIDIA driver 580 (bench/overhead.sh)"
bash bench/overhead.sh build
echo "=== runtime launches (bench/device/launch.cu), 3 rounds"
for r in 1 2 3; do echo "native $($d/launch) | slice $(LD_PRELOAD=$PWD/build/lib/libgpushare.so GPUSHARE_SMS=128 GPUSHARE_MEMORY_LIMIT=78G $d/launch)"; done
gpushare-smi -i 0 -mig 1 > /dev/null
gpushare-smi mig -cgi 64sm.32gb,64sm.32gb -C > /dev/null
s0=$(gpushare-smi -L | awk '/Device  0/ { print substr($NF, 1, length($NF) - 1) }')
s1=$(gpushare-smi -L | awk '/Device  1/ { print substr($NF, 1, length($NF) - 1) }')
gpushare run --slice $s0 -- $d/smid_shared 1 > /dev/null
echo "=== victim in slice 0, under MPS: alone | with a compute aggressor in slice 1 | with a memory aggressor in slice 1"
for r in 1 2 3; do
	a=$(gpushare run --slice $s0 -- $d/victim)
	gpushare run --slice $s1 -- $d/aggressor compute 5 > /tmp/agg & sleep 1.2
	b=$(gpushare run --slice $s0 -- $d/victim); wait; b="$b $(cat /tmp/agg)"
	gpushare run --slice $s1 -- $d/aggressor mem 5 > /tmp/agg & sleep 1.2
	c=$(gpushare run --slice $s0 -- $d/victim); wait; c="$c $(cat /tmp/agg)"
	echo "round $r alone $a | compute $b | mem $c"
done
export CUDA_MPS_PIPE_DIRECTORY=$GPUSHARE_MPS_PIPE_DIRECTORY
for r in 1 2; do
	a=$(CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=50 $d/victim)
	CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=50 $d/aggressor compute 5 > /tmp/agg & sleep 1.2
	b=$(CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=50 $d/victim); wait; b="$b $(cat /tmp/agg)"
	echo "mps 50/50 round $r alone $a | compute $b"
done
