#!/usr/bin/env bash
# cdp-fence.sh: on the GPU machine, whether kernels launched from the GPU
# can be fenced (bench/device/cdp-fence.cu: the pending-launch limit asked
# before the first launch, a callback masking host launches to 8 SMs), and
# under NVIDIA MPS with CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=10 (no mask)
# where the children run.
set -u
export PATH=/usr/local/nvidia/bin:/usr/local/cuda/bin:$PATH
d=build/bench; mkdir -p $d
nvcc --version | tail -2
nvcc -O2 -arch=sm_90 -rdc=true -o $d/cdp-fence bench/device/cdp-fence.cu -lcudadevrt -lcuda
for l in default 0 1 32; do timeout 20 $d/cdp-fence $l; echo "exit $?"; done
echo "== under NVIDIA MPS, 10% active threads, no mask"
p=$(mktemp -d); export CUDA_MPS_PIPE_DIRECTORY=$p CUDA_MPS_LOG_DIRECTORY=$p
nvidia-cuda-mps-control -d
CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=10 timeout 20 $d/cdp-fence default nomask; echo "exit $?"
CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=10 timeout 20 $d/cdp-fence 0 nomask; echo "exit $?"
echo quit | nvidia-cuda-mps-control
unset CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY
