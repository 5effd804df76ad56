#!/usr/bin/env bash
# control-programs.sh: on the GPU machine, real programs in slices made by
# gpushare-control (supervising NVIDIA MPS): nvcc static and shared cudart,
# the driver API, PyTorch, JAX, CuPy, Triton, each registered with the
# daemon; a user not listed for a slice refused; memory guarantees against
# the real GPU's memory (an over-committed slice stops where the other
# slice's guarantee begins); terminate_client passed to NVIDIA's MPS.
. bench/device/control-env.sh
t() { echo "\$ ${*: -3}"; timeout 120 "$@" 2>&1 | grep -v "^gpushare\[" | tail -4; echo "[exit ${PIPESTATUS[0]}]"; }
gpushare-smi -i 0 -mig 1 > /dev/null
gpushare-control -d; echo "gpushare-control -d: exit $?"
a=$(q "create_slice 64 40G -users root")
b=$(q "create_slice 64 70G -overcommit")
echo "a=$a b=$b"; q list_slices

echo "=== programs in slice a, registered with gpushare-control"
t gpushare run --slice "$a" -- $d/smid_static 0.5
t gpushare run --slice "$a" -- $d/smid_shared 0.5
t gpushare run --slice "$a" -- $d/drvapi $d/smid_kernel.ptx
t gpushare run --slice "$a" -- python3 bench/device/torch_slice.py
cat > /tmp/jx.py <<'PY'
import jax, jax.numpy as jnp
d = jax.devices()[0]
x = jnp.ones((4096, 4096)); y = (x @ x).block_until_ready()
print("jax", d.device_kind, "bytes_limit_mib", d.memory_stats()["bytes_limit"] >> 20, "sum", float(y[0, 0]))
PY
t gpushare run --slice "$a" -- python3 /tmp/jx.py
cat > /tmp/cp.py <<'PY'
import cupy
free, total = cupy.cuda.runtime.memGetInfo()
print("cupy total_mib", total >> 20, "sms", cupy.cuda.Device(0).attributes["MultiProcessorCount"])
PY
t gpushare run --slice "$a" -- python3 /tmp/cp.py
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
t gpushare run --slice "$a" -- python3 /tmp/tr.py
echo "--- control.log: registrations"; grep -c "NEW CLIENT" /tmp/gs-ctl-log/control.log

echo "=== a user not listed for slice a"
t setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=/tmp GPUSHARE_STATE_DIR=$state GPUSHARE_PIPE_DIRECTORY=/tmp/gs-ctl $PWD/build/bin/gpushare run --slice "$a" -- $d/smid_shared 0.5

echo "=== guarantees on the real GPU: b (70G limit, guarantee 0) beside a (40G guaranteed)"
echo "GPU memory: $(nvidia-smi --query-gpu=memory.total --format=csv,noheader)"
t gpushare run --slice "$b" -- $d/fill
q "set_slice_guarantee $b 30G"; q list_slices
t gpushare run --slice "$b" -- $d/fill
echo "--- a still gets its own while b holds all it may"
gpushare run --slice "$b" -- python3 -c "import torch,time; x=[torch.empty(1<<30,dtype=torch.uint8,device='cuda') for _ in range(38)]; print('b holds 38 GiB', flush=True); time.sleep(8)" &
sleep 6
t gpushare run --slice "$a" -- $d/fill
wait

echo "=== terminate_client, passed to NVIDIA's MPS"
gpushare run --slice "$a" -- $d/smid_shared 6 > /tmp/term.out 2>&1 &
sleep 2
srv=$(q get_server_list | head -1); cl=$(q "get_client_list $srv" | head -1)
echo "server $srv client $cl: terminate_client -> $(q "terminate_client $srv $cl")"
wait; echo "the program: $(tail -2 /tmp/term.out | tr '\n' ' ')"
q "destroy_slice $b"; q list_slices
echo quit | gpushare-control; echo "quit: exit $?"
