#!/usr/bin/env bash
# grid.sh: on the GPU machine, under NVIDIA MPS: do two programs whose green
# contexts come from different splits of the GPU (grids of 64 and 32 SMs)
# still get disjoint SMs when their runs are disjoint? Program A runs on SMs
# [0,64) of a store split by 64; program B on [64,96) of a store split by 32
# (disjoint), then on [0,32) of it (overlapping A: the control). Each pair
# runs side by side against each program alone (kernels/s of a fixed compute
# kernel). The answer decides whether the slice layer must refuse a change of
# grid while programs run.
set -u
export PATH=/usr/local/nvidia/bin:/usr/local/cuda/bin:$PWD/build/bin:$PATH
d=build/bench
export CUDA_MPS_PIPE_DIRECTORY=/tmp/gs-grid-mps CUDA_MPS_LOG_DIRECTORY=/tmp/gs-grid-mps-log
unset GPUSHARE_PIPE_DIRECTORY
mkdir -p $CUDA_MPS_PIPE_DIRECTORY $CUDA_MPS_LOG_DIRECTORY
nvidia-cuda-mps-control -d
trap 'nvidia-cuda-mps-control <<< quit > /dev/null 2>&1' EXIT
rate() { awk '{ print $NF }'; }
store() { # DIR SIZES: a store with these slices; prints their MIG UUIDs
	GPUSHARE_STATE_DIR=$1 gpushare-smi -i 0 -mig 1 > /dev/null
	GPUSHARE_STATE_DIR=$1 gpushare-smi mig -cgi "$2" -C > /dev/null
	GPUSHARE_STATE_DIR=$1 gpushare-smi -L | awk '/Device/ { print substr($NF, 1, length($NF) - 1) }'
}
s64=$(mktemp -d) s32=$(mktemp -d)
mapfile -t a < <(store $s64 64sm.8gb,64sm.8gb)        # runs 0-63, 64-127: grid 64
mapfile -t b < <(store $s32 64sm.8gb,32sm.8gb,32sm.8gb) # runs 0-63, 64-95, 96-127: grid 32
run_in() { GPUSHARE_STATE_DIR=$1 GPUSHARE_SLICE=$2 LD_PRELOAD=$PWD/build/lib/libgpushare.so "${@:3}"; }
run_in $s64 ${a[0]} $d/smid_shared 0.5 > /dev/null # warms MPS's server
echo "A (grid 64, SMs 0-63) alone: $(run_in $s64 ${a[0]} $d/smid_shared 2 | rate) kernels/s; its SMs: $(run_in $s64 ${a[0]} $d/smid_shared 0.2 | head -1)"
echo "B (grid 32, SMs 64-95) alone: $(run_in $s32 ${b[1]} $d/smid_shared 2 | rate)"
for r in 1 2; do
	run_in $s64 ${a[0]} $d/smid_shared 2 > /tmp/ga & run_in $s32 ${b[1]} $d/smid_shared 2 > /tmp/gb; wait
	echo "round $r disjoint runs, different grids: A $(rate < /tmp/ga) B $(rate < /tmp/gb)"
	run_in $s64 ${a[0]} $d/smid_shared 2 > /tmp/ga & run_in $s32 ${b[0]} $d/smid_shared 2 > /tmp/gb; wait
	echo "round $r control, the same SMs 0-63 (B in the 64-SM slice of the grid-32 store): A $(rate < /tmp/ga) B $(rate < /tmp/gb)"
done
