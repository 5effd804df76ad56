#!/usr/bin/env bash
# perf.sh: on the GPU machine, side by side in one run: what the interposer
# costs (launch, training step), whether slices under MPS keep their
# throughput (equal and unequal sizes), and how well a slice protects a
# latency-sensitive victim, against time-slicing and MPS with limits.
set -u
export PATH=/usr/local/nvidia/bin:/usr/local/cuda/bin:$PWD/build/bin:$PATH
export GPUSHARE_MPS_PIPE_DIRECTORY=/tmp/gs-mps-bench
unset CUDA_MPS_PIPE_DIRECTORY
d=build/bench lib=$PWD/build/lib/libgpushare.so
stop_mps() { CUDA_MPS_PIPE_DIRECTORY=$GPUSHARE_MPS_PIPE_DIRECTORY timeout 20 nvidia-cuda-mps-control <<< quit > /dev/null 2>&1; }
trap stop_mps EXIT
rate() { awk '{ print $NF }'; }
slices() { # STATE-DIR SIZES...: soft slices, prints their MIG UUIDs
	local dir=$1; shift
	GPUSHARE_STATE_DIR=$dir gpushare-smi -i 0 -mig 1 > /dev/null
	GPUSHARE_STATE_DIR=$dir gpushare-smi mig -cgi "$(IFS=,; echo "$*")" -C > /dev/null
	GPUSHARE_STATE_DIR=$dir gpushare-smi -L | awk '/Device/ { print substr($NF, 1, length($NF) - 1) }'
}

echo "=== launch cost (no MPS): native | interposer loaded, no slice | in a 128-SM slice; ns per call"
for r in 1 2 3; do
	echo "round $r native $($d/launch) | preload $(LD_PRELOAD=$lib $d/launch) | slice $(LD_PRELOAD=$lib GPUSHARE_SMS=128 GPUSHARE_MEMORY_LIMIT=78G $d/launch)"
done
echo "wrapped calls per launch loop (GPUSHARE_TRACE):"
GPUSHARE_TRACE=1 GPUSHARE_LOG=stderr LD_PRELOAD=$lib GPUSHARE_SMS=128 GPUSHARE_MEMORY_LIMIT=78G $d/launch 2>&1 | grep -E 'calls|slow' | sort -k4 -n -r | head -8

echo "=== PyTorch training step (no MPS), alternating native | in a 128-SM slice"
for r in 1 2 3 4; do
	echo "round $r native $(python3 bench/device/train_step.py) | slice $(LD_PRELOAD=$lib GPUSHARE_SMS=128 GPUSHARE_MEMORY_LIMIT=78G python3 bench/device/train_step.py)"
done

echo "=== baselines without MPS (kernels/s of a fixed compute kernel; victim latency)"
echo "alone_whole_gpu $($d/smid_shared 2 | rate)"
$d/smid_shared 2 > /tmp/a & $d/smid_shared 2 > /tmp/b; wait
echo "timeslice_2proc $(rate < /tmp/a) $(rate < /tmp/b)"
echo "victim_alone $($d/victim)"
$d/aggressor compute 6 > /tmp/agg & sleep 1.5; echo "victim_timeslice_compute $($d/victim) $(wait; cat /tmp/agg)"

st=$(mktemp -d); mapfile -t eq < <(slices $st 64sm.32gb 64sm.32gb)
su=$(mktemp -d); mapfile -t un < <(slices $su 64sm.24gb 32sm.24gb 32sm.24gb)
echo "=== under NVIDIA MPS (gpushare run starts it): two 64-SM slices"
export GPUSHARE_STATE_DIR=$st
gpushare run --slice ${eq[0]} -- $d/smid_shared 0.5 > /dev/null # MPS's first client warms the server
echo "s0_alone $(gpushare run --slice ${eq[0]} -- $d/smid_shared 2 | rate) s1_alone $(gpushare run --slice ${eq[1]} -- $d/smid_shared 2 | rate)"
gpushare run --slice ${eq[0]} -- $d/smid_shared 2 > /tmp/a & gpushare run --slice ${eq[1]} -- $d/smid_shared 2 > /tmp/b; wait
echo "s0_s1_together $(rate < /tmp/a) $(rate < /tmp/b)"
export CUDA_MPS_PIPE_DIRECTORY=$GPUSHARE_MPS_PIPE_DIRECTORY
$d/smid_shared 2 > /tmp/a & $d/smid_shared 2 > /tmp/b; wait
echo "mps_nolimit_2proc $(rate < /tmp/a) $(rate < /tmp/b)"
CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=50 $d/smid_shared 2 > /tmp/a & CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=50 $d/smid_shared 2 > /tmp/b; wait
echo "mps_50_50_2proc $(rate < /tmp/a) $(rate < /tmp/b)"
unset CUDA_MPS_PIPE_DIRECTORY
echo "=== under MPS: slices of 64, 32 and 32 SMs"
export GPUSHARE_STATE_DIR=$su
alone=""; for i in 0 1 2; do alone="$alone $(gpushare run --slice ${un[$i]} -- $d/smid_shared 2 | rate)"; done
gpushare run --slice ${un[0]} -- $d/smid_shared 2 > /tmp/a & gpushare run --slice ${un[1]} -- $d/smid_shared 2 > /tmp/b & gpushare run --slice ${un[2]} -- $d/smid_shared 2 > /tmp/c; wait
echo "alone$alone together $(rate < /tmp/a) $(rate < /tmp/b) $(rate < /tmp/c)"

echo "=== victim latency under MPS (p50/p99 us)"
export GPUSHARE_STATE_DIR=$st CUDA_MPS_PIPE_DIRECTORY=$GPUSHARE_MPS_PIPE_DIRECTORY
echo "victim_mps_alone $($d/victim)"
$d/aggressor compute 6 > /tmp/agg & sleep 1.5; echo "victim_mps_nolimit_compute $($d/victim) $(wait; cat /tmp/agg)"
CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=50 $d/aggressor compute 6 > /tmp/agg & sleep 1.5
echo "victim_mps_50_50_compute $(CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=50 $d/victim) $(wait; cat /tmp/agg)"
unset CUDA_MPS_PIPE_DIRECTORY
echo "victim_slice_alone $(gpushare run --slice ${eq[0]} -- $d/victim)"
gpushare run --slice ${eq[1]} -- $d/aggressor compute 6 > /tmp/agg & sleep 1.5
echo "victim_slices_compute $(gpushare run --slice ${eq[0]} -- $d/victim) $(wait; cat /tmp/agg)"
echo "victim_slice_alone_again $(gpushare run --slice ${eq[0]} -- $d/victim)"
echo "victim_mem_slice_alone $(gpushare run --slice ${eq[0]} -- $d/victim mem)"
gpushare run --slice ${eq[1]} -- $d/aggressor mem 6 > /tmp/agg & sleep 1.5
echo "victim_mem_slices_mem $(gpushare run --slice ${eq[0]} -- $d/victim mem) $(wait; cat /tmp/agg)"
CUDA_MPS_PIPE_DIRECTORY=$GPUSHARE_MPS_PIPE_DIRECTORY CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=50 $d/aggressor mem 6 > /tmp/agg & sleep 1.5
echo "victim_mem_mps_50_50_mem $(CUDA_MPS_PIPE_DIRECTORY=$GPUSHARE_MPS_PIPE_DIRECTORY CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=50 $d/victim mem) $(wait; cat /tmp/agg)"
gpushare mps-stop
