#!/usr/bin/env bash
# placement.sh: on the GPU machine, with gpushare-control supervising NVIDIA
# MPS, the daemon decides where programs run:
# 1. a PyTorch parent and its multiprocessing spawn child (its GPUSHARE_*
#    variables dropped) share one 4G job slice of gpushare run;
# 2. two job slices side by side, each against its throughput alone;
# 3. a program started under /etc/ld.so.preload without any gpushare
#    variable lands in the remainder and cannot take a guaranteed slice's
#    memory (in a private mount namespace, /etc behind an overlay: the
#    machine's own /etc is never touched).
# Run after bench/device/build.sh.
set -u
if [ "${GS_PLACEMENT_NS:-}" = "" ]; then
	exec unshare -m --propagation private env GS_PLACEMENT_NS="$(readlink /proc/self/ns/mnt)" "$0" "$@"
fi
[ "$(readlink /proc/self/ns/mnt)" != "$GS_PLACEMENT_NS" ] || { echo "not in a private mount namespace"; exit 1; }
. bench/device/control-env.sh
trap 'echo quit | gpushare-control > /dev/null 2>&1; for p in $nv /tmp/gpushare-mps-0; do CUDA_MPS_PIPE_DIRECTORY=$p nvidia-cuda-mps-control <<< quit > /dev/null 2>&1; done' EXIT
rate() { awk '{ print $NF }'; }
gpushare-control -d; echo "gpushare-control -d: exit $?"
echo "GPU: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader)"

echo "=== 1. PyTorch parent + spawn child in one 4G job slice (gpushare run --memory 4G --sms 32)"
cat > /tmp/spawn.py <<'PY'
import os, torch, torch.multiprocessing as mp
def child(q):
    total = torch.cuda.mem_get_info()[1]
    try:
        x = torch.empty(int(2.5 * 2**30), dtype=torch.uint8, device="cuda"); r = "got 2.5 GiB"
    except torch.OutOfMemoryError:
        r = "refused 2.5 GiB"
    try:
        y = torch.empty(1 << 30, dtype=torch.uint8, device="cuda"); r2 = "got 1 GiB"
    except torch.OutOfMemoryError:
        r2 = "refused 1 GiB"
    q.put((total >> 20, torch.cuda.get_device_properties(0).multi_processor_count, r, r2))
if __name__ == "__main__":
    x = torch.empty(int(2.5 * 2**30), dtype=torch.uint8, device="cuda")
    total = torch.cuda.mem_get_info()[1]
    print("parent: sees", total >> 20, "MiB,", torch.cuda.get_device_properties(0).multi_processor_count, "SMs; holds 2.5 GiB")
    os.environ.pop("GPUSHARE_SLICE", None)  # the child names no slice
    ctx = mp.get_context("spawn"); q = ctx.Queue(); p = ctx.Process(target=child, args=(q,)); p.start()
    t, sms, r, r2 = q.get(); p.join()
    print("spawn child: sees", t, "MiB,", sms, "SMs;", r, ";", r2)
PY
GPUSHARE_LOG=/tmp/gs-spawn.log gpushare run --memory 4G --sms 32 -- python3 /tmp/spawn.py 2>&1 | grep -v "^gpushare\["
grep "created job slice" /tmp/gs-ctl-log/control.log | tail -1
grep -o "registered with .*" /tmp/gs-spawn.log
echo "--- placements (control.log)"; grep -c "NEW CLIENT" /tmp/gs-ctl-log/control.log
q list_slices

echo "=== 2. two job slices of 64 SMs side by side (kernels/s of a fixed compute kernel)"
gpushare run --memory 8G --sms 64 -- $d/smid_shared 0.5 > /dev/null # warms MPS's server
for round in 1 2 3; do
	a=$(gpushare run --memory 8G --sms 64 -- $d/smid_shared 2 | rate)
	gpushare run --memory 8G --sms 64 -- sleep 3 & hold=$! # so that the next one is placed where B will be
	sleep 0.5
	b=$(gpushare run --memory 8G --sms 64 -- $d/smid_shared 2 | rate)
	wait $hold
	gpushare run --memory 8G --sms 64 -- $d/smid_shared 2 > /tmp/ja & gpushare run --memory 8G --sms 64 -- $d/smid_shared 2 > /tmp/jb; wait
	ta=$(rate < /tmp/ja) tb=$(rate < /tmp/jb)
	echo "round $round alone $a $b together $ta $tb ratio $(awk -v a=$a -v b=$b -v x=$ta -v y=$tb 'BEGIN { printf "%.3f %.3f", x / a, y / b }')"
done
q list_slices | awk 'NR == 1 || /8192MiB/' | head -3
echo "(no job slice is left after the jobs: the line above is the header alone)"

trap 'echo quit | gpushare-control > /dev/null 2>&1; for p in $nv /tmp/gpushare/nvidia-mps /tmp/gpushare-mps-0; do CUDA_MPS_PIPE_DIRECTORY=$p nvidia-cuda-mps-control <<< quit > /dev/null 2>&1; done' EXIT
echo "=== 3. /etc/ld.so.preload, no gpushare variable: the remainder, beside a guaranteed 100G slice"
echo quit | gpushare-control > /dev/null
CUDA_MPS_PIPE_DIRECTORY=$nv nvidia-cuda-mps-control <<< quit > /dev/null 2>&1
w=$(mktemp -d); mkdir -p $w/upper $w/ovl
mount -t overlay overlay -o lowerdir=/etc,upperdir=$w/upper,workdir=$w/ovl /etc && mountpoint -q /etc || { echo "no private /etc"; exit 1; }
# a root-owned prefix, private here (not /opt: Python's packages may live there)
for root in /srv /mnt; do [ -d "$root" ] && break; done
mount -t tmpfs -o mode=0755 gs-prefix "$root"
make -s install PREFIX=$root/gs > /dev/null
mkdir -p /tmp/gpushare && mount -t tmpfs -o mode=0755 gs-pipe /tmp/gpushare # the default pipe directory, private here
export GPUSHARE_PIPE_DIRECTORY=/tmp/gpushare
$root/gs/bin/gpushare-control -d; echo "gpushare-control -d at the default pipe directory: exit $?"
g=$(q create_slice 64 100G); echo "slice $g (100G, guaranteed)"
$root/gs/bin/gpushare preload install; echo "gpushare preload install: exit $?; /etc/ld.so.preload: $(cat /etc/ld.so.preload)"
echo "plain program, no variables: $(env -i PATH="$PATH" $d/fill)"
echo "the same in the slice:       $(env -i PATH="$PATH" GPUSHARE_SLICE=$g $d/fill)"
env $(env | sed -n 's/^\(GPUSHARE_[A-Z_]*\)=.*/-u \1/p') python3 -c "import torch,time; x=torch.empty(1<<30,dtype=torch.uint8,device='cuda'); print('torch holds 1 GiB', flush=True); time.sleep(30)" & torch=$!
for _ in $(seq 40); do q list_clients | grep -qE "[0-9]+MiB +-$" && break; sleep 0.5; done; echo "--- list_clients while a plain PyTorch program (no GPUSHARE_* variable) runs"; q list_clients; kill $torch; wait
$root/gs/bin/gpushare preload remove; echo "gpushare preload remove: exit $?"
echo quit | gpushare-control > /dev/null
