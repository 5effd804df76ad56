#!/usr/bin/env bash
# perf.sh: on the GPU machine, side by side in one run: what the interposer
# costs (launch, training step), whether two slices under MPS keep their
# throughput, and how well a slice protects a latency-sensitive victim,
# against native, time-slicing and MPS with active-thread limits.
set -u
export PATH=/usr/local/nvidia/bin:/usr/local/cuda/bin:$PWD/build/bin:$PATH
export GPUSHARE_STATE_DIR=$(mktemp -d) GPUSHARE_MPS_PIPE_DIRECTORY=/tmp/gs-mps-bench
unset CUDA_MPS_PIPE_DIRECTORY
d=build/bench lib=$PWD/build/lib/libgpushare.so
stop_mps() { CUDA_MPS_PIPE_DIRECTORY=$GPUSHARE_MPS_PIPE_DIRECTORY timeout 20 nvidia-cuda-mps-control <<< quit > /dev/null 2>&1; }
trap stop_mps EXIT
gpushare-smi -i 0 -mig 1 > /dev/null
gpushare-smi mig -cgi 64sm.32gb,64sm.32gb -C > /dev/null
s0=$(gpushare-smi -L | awk '/Device  0/ { print substr($NF, 1, length($NF) - 1) }')
s1=$(gpushare-smi -L | awk '/Device  1/ { print substr($NF, 1, length($NF) - 1) }')
say() { echo "$*"; }

say "=== launch cost (no MPS), 3 rounds: native | interposer loaded, no slice | in a 132-SM slice (context check active)"
for r in 1 2 3; do
	say "native $($d/launch)"
	say "preload $(LD_PRELOAD=$lib $d/launch)"
	say "slice $(LD_PRELOAD=$lib GPUSHARE_SMS=132 GPUSHARE_MEMORY_LIMIT=78G $d/launch)"
done

say "=== PyTorch training step (no MPS), alternating: native | in a whole-GPU slice"
for r in 1 2 3; do
	say "native $(python3 bench/device/train_step.py)"
	say "slice $(LD_PRELOAD=$lib GPUSHARE_SMS=132 GPUSHARE_MEMORY_LIMIT=78G python3 bench/device/train_step.py)"
done

say "=== throughput without MPS (kernels/s of the fixed compute kernel)"
say "alone_native $($d/smid_shared 3)"
$d/smid_shared 3 > /tmp/ts_a & $d/smid_shared 3 > /tmp/ts_b; wait
say "timeslice_2proc_a $(cat /tmp/ts_a)"; say "timeslice_2proc_b $(cat /tmp/ts_b)"

say "=== victim latency without MPS"
say "victim_alone $($d/victim)"
$d/aggressor compute 7 > /tmp/agg & sleep 1.5; say "victim_timeslice_compute $($d/victim) $(wait; cat /tmp/agg)"

say "=== under NVIDIA MPS (started by gpushare run)"
say "s0_alone $(gpushare run --slice $s0 -- $d/smid_shared 3)"
say "s1_alone $(gpushare run --slice $s1 -- $d/smid_shared 3)"
gpushare run --slice $s0 -- $d/smid_shared 3 > /tmp/m_a & gpushare run --slice $s1 -- $d/smid_shared 3 > /tmp/m_b; wait
say "s0_together $(cat /tmp/m_a)"; say "s1_together $(cat /tmp/m_b)"
gpushare run --slice $s0 -- $d/smid_shared 3 > /tmp/m_a & gpushare run --slice $s0 -- $d/smid_shared 3 > /tmp/m_b; wait
say "same_slice_a $(cat /tmp/m_a)"; say "same_slice_b $(cat /tmp/m_b)"
export CUDA_MPS_PIPE_DIRECTORY=$GPUSHARE_MPS_PIPE_DIRECTORY
say "mps_nolimit_alone $($d/smid_shared 3)"
$d/smid_shared 3 > /tmp/m_a & $d/smid_shared 3 > /tmp/m_b; wait
say "mps_nolimit_2proc_a $(cat /tmp/m_a)"; say "mps_nolimit_2proc_b $(cat /tmp/m_b)"

say "=== victim latency under MPS"
say "victim_mps_alone $($d/victim)"
say "victim_slice_alone $(gpushare run --slice $s0 -- $d/victim)"
$d/aggressor compute 7 > /tmp/agg & sleep 1.5; say "victim_mps_nolimit_compute $($d/victim) $(wait; cat /tmp/agg)"
CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=50 $d/aggressor compute 7 > /tmp/agg & sleep 1.5
say "victim_mps_50_50_compute $(CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=50 $d/victim) $(wait; cat /tmp/agg)"
gpushare run --slice $s1 -- $d/aggressor compute 7 > /tmp/agg & sleep 1.5
say "victim_slices_compute $(gpushare run --slice $s0 -- $d/victim) $(wait; cat /tmp/agg)"
say "victim_mem_slice_alone $(gpushare run --slice $s0 -- $d/victim mem)"
CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=50 $d/aggressor mem 7 > /tmp/agg & sleep 1.5
say "victim_mem_mps_50_50_mem $(CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=50 $d/victim mem) $(wait; cat /tmp/agg)"
gpushare run --slice $s1 -- $d/aggressor mem 7 > /tmp/agg & sleep 1.5
say "victim_mem_slices_mem $(gpushare run --slice $s0 -- $d/victim mem) $(wait; cat /tmp/agg)"
gpushare run --slice $s1 -- $d/aggressor mem 7 > /tmp/agg & sleep 1.5
say "victim_compute_slices_mem $(gpushare run --slice $s0 -- $d/victim) $(wait; cat /tmp/agg)"
gpushare status
unset CUDA_MPS_PIPE_DIRECTORY
gpushare mps-stop
