#!/usr/bin/env bash
# kube-env.sh: on the GPU machine, what Kubernetes setups hand a program,
# enforced by gpushare on the real GPU under NVIDIA's MPS:
# (1) gpushare-control run as `nvidia-cuda-mps-control` (the installed link)
#     with the command sequence NVIDIA's k8s-device-plugin MPS daemon sends
#     (-d; set_default_device_pinned_mem_limit 0 <MiB>M;
#     set_default_active_thread_percentage <n>): a plain client (no slice)
#     gets that memory as a hard limit and that share of the SMs;
# (2) HAMi's CUDA_DEVICE_MEMORY_LIMIT / CUDA_DEVICE_SM_LIMIT and KAI's
#     GPU_PORTION narrowing a PyTorch program in a slice and outside one.
set -u
export PATH=/usr/local/nvidia/bin:/usr/local/cuda/bin:$PWD/build/bin:$PATH
d=$PWD/build/bench
lib=$PWD/build/lib/libgpushare.so
compat=$(mktemp -d)
ln -s "$PWD/build/bin/gpushare-control" "$compat/nvidia-cuda-mps-control"
pipe=/tmp/gs-k8s-pipe log=/tmp/gs-k8s-log
rm -rf "$pipe" "$log"
state=$(mktemp -d)
stop() {
	echo quit | CUDA_MPS_PIPE_DIRECTORY=$pipe "$compat/nvidia-cuda-mps-control" > /dev/null 2>&1
	echo quit | CUDA_MPS_PIPE_DIRECTORY=$pipe/nvidia-mps nvidia-cuda-mps-control > /dev/null 2>&1
	echo quit | gpushare-control > /dev/null 2>&1
	echo quit | CUDA_MPS_PIPE_DIRECTORY=/tmp/gs-ctl/nvidia-mps nvidia-cuda-mps-control > /dev/null 2>&1
	sleep 1
}
trap stop EXIT

echo "== (1) as nvidia-cuda-mps-control, the k8s-device-plugin sequence"
env -i PATH="$compat:$PATH" CUDA_MPS_PIPE_DIRECTORY=$pipe CUDA_MPS_LOG_DIRECTORY=$log GPUSHARE_STATE_DIR=$state \
	"$compat/nvidia-cuda-mps-control" -d
echo "-d: exit $?"
printf 'set_default_device_pinned_mem_limit 0 8192M' | CUDA_MPS_PIPE_DIRECTORY=$pipe "$compat/nvidia-cuda-mps-control"
printf 'set_default_active_thread_percentage 50' | CUDA_MPS_PIPE_DIRECTORY=$pipe "$compat/nvidia-cuda-mps-control"
echo "get_default_active_thread_percentage: $(echo get_default_active_thread_percentage |
	CUDA_MPS_PIPE_DIRECTORY=$pipe "$compat/nvidia-cuda-mps-control")"
client() { CUDA_MPS_PIPE_DIRECTORY=$pipe GPUSHARE_STATE_DIR=$state LD_PRELOAD=$lib "$@"; }
echo "client fill (8192M pinned):      $(client $d/fill)"
echo "client smid (50% of 132 SMs):    $(client $d/smid_shared 1)"
echo "client torch:                    $(client python3 bench/device/torch_slice.py)"
echo "plain MPS client, no gpushare:   $(CUDA_MPS_PIPE_DIRECTORY=$pipe/nvidia-mps $d/fill)"
tail -n 5 "$log/control.log"
stop

echo "== (2) HAMi's and KAI's variables, under gpushare-control"
. bench/device/control-env.sh
gpushare-smi -i 0 -mig 1 > /dev/null
s=$(gpushare-smi mig -cgi 64sm.40gb -C > /dev/null; gpushare-smi -L | grep -o 'MIG-[0-9a-f-]*' | head -1)
gpushare-control -d
run() { env "$@" LD_PRELOAD=$lib python3 bench/device/torch_slice.py; }
echo "no slice, nothing:                           $(run X=1)"
echo "no slice, CUDA_DEVICE_MEMORY_LIMIT=6g:       $(run CUDA_DEVICE_MEMORY_LIMIT=6g)"
echo "no slice, CUDA_DEVICE_MEMORY_LIMIT_0=3g:     $(run CUDA_DEVICE_MEMORY_LIMIT=6g CUDA_DEVICE_MEMORY_LIMIT_0=3g)"
echo "no slice, CUDA_DEVICE_SM_LIMIT=25:           $(run CUDA_DEVICE_SM_LIMIT=25)"
echo "no slice, GPU_PORTION=0.25:                  $(run GPU_PORTION=0.25)"
echo "slice 64sm.40gb:                             $(run GPUSHARE_SLICE=$s)"
echo "slice, CUDA_DEVICE_MEMORY_LIMIT=10g SM 25:   $(run GPUSHARE_SLICE=$s CUDA_DEVICE_MEMORY_LIMIT=10g CUDA_DEVICE_SM_LIMIT=25)"
echo "slice, CUDA_DEVICE_MEMORY_LIMIT=100g:        $(run GPUSHARE_SLICE=$s CUDA_DEVICE_MEMORY_LIMIT=100g)"
echo "bad value CUDA_DEVICE_MEMORY_LIMIT=4x:       $(run CUDA_DEVICE_MEMORY_LIMIT=4x 2>&1 | tail -n 2 | cut -c1-240)"
echo "smid, slice + SM_LIMIT=25:                   $(GPUSHARE_SLICE=$s CUDA_DEVICE_SM_LIMIT=25 LD_PRELOAD=$lib $d/smid_shared 1)"
