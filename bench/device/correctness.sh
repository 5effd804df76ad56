#!/usr/bin/env bash
# correctness.sh: on the GPU machine: gpushare-smi against nvidia-smi on the
# real H100 (read-only: MIG stays disabled), and real programs in slices
# (nvcc static/shared cudart, driver API, PyTorch, JAX, CuPy, Triton).
set -u
export PATH=/usr/local/nvidia/bin:/usr/local/cuda/bin:$PWD/build/bin:$PATH
export GPUSHARE_STATE_DIR=$(mktemp -d)
d=build/bench
t() { echo "\$ $*"; timeout 120 "$@" 2>&1; echo "[exit $?]"; }

echo "=== gpushare-smi and nvidia-smi on this GPU (MIG disabled, read-only)"
t nvidia-smi --query-gpu=name,memory.total,mig.mode.current,driver_version --format=csv
nvidia-smi mig -lgip > /tmp/nv-lgip.txt 2>&1; nvidia-smi mig -lgipp > /tmp/nv-lgipp.txt 2>&1
gpushare-smi mig -lgip > /tmp/gs-lgip.txt 2>&1; gpushare-smi mig -lgipp > /tmp/gs-lgipp.txt 2>&1
GPUSHARE_SIMULATE=h100-sxm5-80gb GPUSHARE_SIM_DIR=$(mktemp -d) gpushare-smi mig -lgip > /tmp/gs-sim-lgip.txt 2>&1
cat /tmp/nv-lgip.txt /tmp/nv-lgipp.txt
echo "--- diff nvidia-smi -lgip vs gpushare-smi -lgip (real NVML, soft backend)"; diff /tmp/nv-lgip.txt /tmp/gs-lgip.txt && echo IDENTICAL
echo "--- diff nvidia-smi -lgipp vs gpushare-smi -lgipp"; diff /tmp/nv-lgipp.txt /tmp/gs-lgipp.txt && echo IDENTICAL
echo "--- diff nvidia-smi -lgip vs simulated h100-sxm5-80gb"; diff /tmp/nv-lgip.txt /tmp/gs-sim-lgip.txt && echo IDENTICAL
t nvidia-smi -L
t gpushare-smi -L
t gpushare-smi -q
t gpushare-smi -i 0 -mig 1
t gpushare-smi mig -cgi 3g.40gb,4g.40gb -C
t gpushare-smi mig -lgi
t gpushare-smi
t gpushare-smi mig -dci
t gpushare-smi mig -dgi
t nvidia-smi --query-gpu=mig.mode.current --format=csv,noheader

echo "=== two 64-SM slices of 32 GiB (soft, custom size)"
t gpushare-smi mig -cgi 64sm.32gb,64sm.32gb -C
s0=$(gpushare-smi -L | awk '/Device  0/ { print substr($NF, 1, length($NF) - 1) }')
s1=$(gpushare-smi -L | awk '/Device  1/ { print substr($NF, 1, length($NF) - 1) }')
echo "s0=$s0 s1=$s1"
echo "=== nvcc programs and the driver API, alone and in slices"
for p in smid_static smid_shared; do
	t $d/$p 0.5
	t gpushare run --no-mps --slice "$s0" -- $d/$p 0.5
	t gpushare run --no-mps --slice "$s1" -- $d/$p 0.5
done
t $d/drvapi $d/smid_kernel.ptx
t gpushare run --no-mps --slice "$s0" -- $d/drvapi $d/smid_kernel.ptx
t env CUDA_VISIBLE_DEVICES="$s1" LD_PRELOAD=$PWD/build/lib/libgpushare.so $d/smid_shared 0.5
echo "=== PyTorch"
t python3 bench/device/torch_slice.py
t gpushare run --no-mps --slice "$s0" -- python3 bench/device/torch_slice.py
for sms in 64 32 16; do t gpushare run --no-mps --memory 20G --sms $sms -- python3 bench/device/torch_slice.py; done
echo "=== JAX (preallocates 75% of what it is told the GPU has)"
cat > /tmp/jx.py <<'PY'
import jax, jax.numpy as jnp
d = jax.devices()[0]
x = jnp.ones((4096, 4096)); y = (x @ x).block_until_ready()
print("jax", d.device_kind, "bytes_limit_mib", d.memory_stats()["bytes_limit"] >> 20, "sum", float(y[0, 0]))
PY
t python3 /tmp/jx.py
t gpushare run --no-mps --slice "$s0" -- python3 /tmp/jx.py
echo "=== CuPy"
cat > /tmp/cp.py <<'PY'
import cupy
free, total = cupy.cuda.runtime.memGetInfo()
print("cupy total_mib", total >> 20, "free_mib", free >> 20, "sms", cupy.cuda.Device(0).attributes["MultiProcessorCount"])
try:
    a = cupy.empty(int(total * 1.02), dtype=cupy.uint8); print("cupy past limit: ok")
except cupy.cuda.memory.OutOfMemoryError:
    print("cupy past limit: oom")
PY
t python3 /tmp/cp.py
t gpushare run --no-mps --slice "$s0" -- python3 /tmp/cp.py
echo "=== CuPy with the stream-ordered (cudaMallocAsync) allocator"
cat > /tmp/cpa.py <<'PY'
import cupy
cupy.cuda.set_allocator(cupy.cuda.MemoryAsyncPool().malloc)
free, total = cupy.cuda.runtime.memGetInfo()
got = []
try:
    while True:
        got.append(cupy.empty(1 << 30, dtype=cupy.uint8))
except cupy.cuda.memory.OutOfMemoryError:
    pass
print("cupy async total_mib", total >> 20, "got_gib", len(got))
PY
t gpushare run --no-mps --slice "$s0" -- python3 /tmp/cpa.py
t env GPUSHARE_LOG=stderr GPUSHARE_TRACE=1 gpushare run --no-mps --slice "$s0" -- python3 bench/device/torch_slice.py
echo "=== Triton"
cat > /tmp/tr.py <<'PY'
import torch, triton, triton.language as tl
@triton.jit
def add(x, y, o, n, B: tl.constexpr):
    i = tl.program_id(0) * B + tl.arange(0, B); m = i < n
    tl.store(o + i, tl.load(x + i, mask=m) + tl.load(y + i, mask=m), mask=m)
n = 1 << 24; x = torch.ones(n, device="cuda"); y = torch.ones(n, device="cuda"); o = torch.empty_like(x)
add[(triton.cdiv(n, 1024),)](x, y, o, n, B=1024); torch.cuda.synchronize()
print("triton ok", float(o.sum()), "total_mib", torch.cuda.mem_get_info()[1] >> 20)
PY
t gpushare run --no-mps --slice "$s0" -- python3 /tmp/tr.py
echo "=== bad configuration is refused"
t gpushare run --no-mps --memory 12Q -- true
t env GPUSHARE_MEMORY_LIMIT=12Q LD_PRELOAD=$PWD/build/lib/libgpushare.so python3 -c "import torch; print(torch.cuda.is_available())"
t gpushare-smi mig -dci
t gpushare-smi mig -dgi
t gpushare-smi -i 0 -mig 0
