#!/usr/bin/env bash
# output.sh: on the GPU machine, what issue 9 changed where a real GPU and
# NVIDIA's MPS are underneath gpushare-control: (1) a slice made by name and
# programs run by that name (nvcc shared runtime, PyTorch); (2) the server's
# active thread percentage as a part of the slice (50% and 25% of a 64-SM
# slice: 32 and 16 SMs), against the same percentage of a plain MPS client
# (of the GPU); (3) a pinned memory limit: what cuMemGetInfo reports to
# PyTorch and where its allocations stop, also with the user's own higher
# CUDA_MPS_PINNED_DEVICE_MEM_LIMIT, and GPUSHARE_MEMORY_LIMIT lowering it; (4) list_slices / list_clients
# --json while PyTorch runs; (5) a store cut short: PyTorch is refused with
# the reason, the daemon keeps serving; (6) refusals exit 1 with the reason
# on stderr.
. bench/device/control-env.sh
gpushare-control -d; echo "gpushare-control -d: exit $?"
slice=$(q "create_slice 64 40G -name train-a"); echo "create_slice -name train-a: $slice (exit $?)"

echo "== (1) programs by the slice's name"
echo "nvcc shared, --slice train-a:     $(gpushare run --slice train-a -- $d/smid_shared 1)"
echo "PyTorch, GPUSHARE_SLICE=train-a:  $(GPUSHARE_SLICE=train-a LD_PRELOAD=$PWD/build/lib/libgpushare.so python3 bench/device/torch_slice.py 2>&1 | tail -1)"

echo "== (2) active thread percentage: of the slice under gpushare, of the GPU under plain MPS"
for pct in 50 25; do
	q "set_default_active_thread_percentage $pct" > /dev/null
	# a new server takes the new default: the old one is shut down first
	for srv in $(q get_server_list); do q "shutdown_server $srv" > /dev/null; done
	sleep 1
	echo "64-SM slice, $pct% (want $((64 * pct / 100)) SMs): $(GPUSHARE_LOG=stderr gpushare run --slice train-a -- $d/smid_shared 1 2> /tmp/pct.log)"
	grep -h "NVIDIA MPS limits\|registered\|runs on\|green" /tmp/pct.log | cut -c1-220
	echo "plain MPS client, $pct% of 132:      $(CUDA_MPS_PIPE_DIRECTORY=$nv CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=$pct $d/smid_shared 1)"
done
q "set_default_active_thread_percentage 100" > /dev/null
for srv in $(q get_server_list); do q "shutdown_server $srv" > /dev/null; done
sleep 1
echo "64-SM slice, 100%, the user's own CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=80 (more than the slice): $(GPUSHARE_LOG=stderr CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=80 gpushare run --slice train-a -- $d/smid_shared 1 2> /tmp/pct.log)"
grep -h "NVIDIA MPS limits\|runs on\|green" /tmp/pct.log | cut -c1-220
echo "64-SM slice, 100%, the user's own 20 (less): $(CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=20 gpushare run --slice train-a -- $d/smid_shared 1)"

echo "== (3) a default pinned limit of 4G: what PyTorch is told and gets"
q "set_default_device_pinned_mem_limit 0 4G"
for srv in $(q get_server_list); do q "shutdown_server $srv" > /dev/null; done
sleep 1
echo "PyTorch in train-a (40G), limit 4G: $(gpushare run --slice train-a -- python3 bench/device/torch_slice.py 2>&1 | tail -1)"
uuid=$(nvidia-smi --query-gpu=uuid --format=csv,noheader | head -1)
echo "the same, the user's own CUDA_MPS_PINNED_DEVICE_MEM_LIMIT=$uuid=100G: $(CUDA_MPS_PINNED_DEVICE_MEM_LIMIT=$uuid=100G gpushare run --slice train-a -- python3 bench/device/torch_slice.py 2>&1 | tail -1)"
echo "the same, CUDA_VISIBLE_DEVICES=<slice> and GPUSHARE_MEMORY_LIMIT=2G lowering it: $(CUDA_VISIBLE_DEVICES=$slice GPUSHARE_MEMORY_LIMIT=2G LD_PRELOAD=$PWD/build/lib/libgpushare.so python3 bench/device/torch_slice.py 2>&1 | tail -1)"
q "set_default_device_pinned_mem_limit 0 0"

echo "== (4) --json while PyTorch runs"
rm -f /tmp/held
gpushare run --slice train-a -- python3 -c "import torch, time; x = torch.empty(1 << 30, dtype=torch.uint8, device='cuda'); open('/tmp/held', 'w').close(); time.sleep(8)" &
for _ in $(seq 100); do [ -e /tmp/held ] && break; sleep 0.1; done
q list_slices
q list_clients
q "list_slices --json" | python3 -c "import json, sys; d = json.load(sys.stdin); s = [x for x in d['slices'] if x['name'] == 'train-a'][0]; print('list_slices --json: name', s['name'], 'gpu', s['gpu'], 'sms', s['sms'], 'busy', s['busy'], 'processes', [(p['pid'], p['command'], p['used_bytes'] >> 20) for p in s['processes']])"
q "list_clients --json" | python3 -c "import json, sys; d = json.load(sys.stdin); print('list_clients --json:', [(c['pid'], c['user'], c['command'], c['gpu'], c['slice'], (c['used_bytes'] or 0) >> 20) for c in d['clients']])"
wait

echo "== (5) a store cut short"
cp "$state/slices" /tmp/slices.good
head -n -1 /tmp/slices.good > "$state/slices"
echo "PyTorch: $(gpushare run --slice "$slice" -- python3 bench/device/torch_slice.py 2>&1 | grep -m1 gpushare)"
echo "list_slices: $(q list_slices 2>&1; echo "exit $?")"
cp /tmp/slices.good "$state/slices"
echo "restored: $(q list_slices | grep -c train-a) slice named train-a"

echo "== (6) refusals for scripts"
out=$(q "create_slice 200 8G" 2> /tmp/err); rc=$?
echo "create_slice 200 8G: stdout [$out], exit $rc, stderr: $(cat /tmp/err)"
out=$(q "set_default_device_pinned_mem_limit 5 2G" 2> /tmp/err); rc=$?
echo "pinned limit for GPU 5: stdout [$out], exit $rc, stderr: $(cat /tmp/err)"
echo "destroy_slice train-a: $(q "destroy_slice train-a")"
echo quit | gpushare-control; echo "quit: exit $?"
pgrep -a nvidia-cuda-mps || echo "no NVIDIA MPS process left"
