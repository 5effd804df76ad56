#!/usr/bin/env bash
# elastic.sh: on the GPU machine, elastic SMs side by side in one run, with
# gpushare-control supervising NVIDIA MPS: the TPC map it calibrated, then
# kernels/s of a fixed compute kernel (smid_shared) and a latency victim's
# p50/p99 in two 64-SM slices, shared (the default), isolated, best-effort
# and critical, against one process alone on the GPU and two unlimited MPS
# processes; real programs in a masked slice; the launch cost.
. bench/device/control-env.sh
rate() { awk '{ print $NF }'; }
r() { gpushare run --slice "$1" -- $d/smid_shared "${2:-3}"; }
pol() { q "set_slice_sm_policy $a $1" > /dev/null; q "set_slice_sm_policy $b ${2:-$1}" > /dev/null; }
gpushare-smi -i 0 -mig 1 > /dev/null
gpushare-control -d; echo "gpushare-control -d: exit $?"
grep -E "SMs confined|calibrat" /tmp/gs-ctl-log/control.log
gpushare-smi -q | grep -i "confinement"
cp "$state"/tpcmap-* "$OUT/" 2> /dev/null; head -8 "$state"/tpcmap-* 2> /dev/null
a=$(q "create_slice 64 40G") b=$(q "create_slice 64 40G")
echo "a=$a b=$b"; q list_slices
r "$a" 0.5 > /dev/null; r "$b" 0.5 > /dev/null # MPS warm
grep -E "TPC masks|green context" /tmp/gs-ctl-log/*.log | tail -3
echo "=== baselines: one process alone on the whole GPU (no MPS); two unlimited MPS processes"
echo "alone_native $($d/smid_shared 3)"
CUDA_MPS_PIPE_DIRECTORY=$nv $d/smid_shared 3 > /tmp/m1 & CUDA_MPS_PIPE_DIRECTORY=$nv $d/smid_shared 3 > /tmp/m2; wait
echo "mps_nolimit_2proc $(rate < /tmp/m1) $(rate < /tmp/m2)"
echo "=== shared slices (default): a busy, b idle; then both busy"
r "$a" > /tmp/x & sleep 1.5; echo "--- list_sms while a runs and b is idle"; q list_sms; wait
for round in 1 2; do
	echo "round $round busy_a_idle_b $(r "$a")"
	r "$a" > /tmp/a & r "$b" > /tmp/b; wait
	echo "round $round both_busy $(rate < /tmp/a) $(rate < /tmp/b)"
done
echo "=== isolated: alone in its slice; both busy"
pol -isolated
for round in 1 2; do
	echo "round $round iso_alone_a $(r "$a" | rate) iso_alone_b $(r "$b" | rate)"
	r "$a" > /tmp/a & r "$b" > /tmp/b; wait
	echo "round $round iso_both $(rate < /tmp/a) $(rate < /tmp/b)"
done
echo "=== best-effort: both busy (each on both slices' SMs)"
pol -best-effort
for round in 1 2; do
	r "$a" > /tmp/a & r "$b" > /tmp/b; wait
	echo "round $round be_both $(rate < /tmp/a) $(rate < /tmp/b)"
done
echo "=== an idle owner starting again: victim in b, one kernel every 20 ms (each after an idle interval)"
pol -shared
echo "victim_b_alone_20ms $(gpushare run --slice "$b" -- $d/victim work 20 200)"
gpushare run --slice "$a" -- $d/aggressor compute 8 > /tmp/agg & sleep 1.5
echo "victim_b_20ms_beside_borrower $(gpushare run --slice "$b" -- $d/victim work 20 200) $(wait; cat /tmp/agg)"
echo "aggressor alone in a (b idle, borrowing): $(gpushare run --slice "$a" -- $d/aggressor compute 3)"
echo "=== latency-critical victim (b) beside a memory-bound best-effort aggressor (a)"
pol -isolated
echo "victim_mem_alone $(gpushare run --slice "$b" -- $d/victim mem)"
gpushare run --slice "$a" -- $d/aggressor mem 6 > /tmp/agg & sleep 1.5
echo "victim_mem_beside_isolated_aggressor $(gpushare run --slice "$b" -- $d/victim mem) $(wait; cat /tmp/agg)"
q "set_slice_sm_policy $a -best-effort" > /dev/null; q "set_slice_sm_policy $b -shared -priority critical" > /dev/null
gpushare run --slice "$a" -- $d/aggressor mem 6 > /tmp/agg & sleep 1.5
echo "victim_mem_critical_beside_be_floor16 $(gpushare run --slice "$b" -- $d/victim mem) $(wait; cat /tmp/agg)"
q "set_slice_sm_policy $a -best-effort -floor 8" > /dev/null
gpushare run --slice "$a" -- $d/aggressor mem 6 > /tmp/agg & sleep 1.5
echo "victim_mem_critical_beside_be_floor8 $(gpushare run --slice "$b" -- $d/victim mem) $(wait; cat /tmp/agg)"
echo "aggressor_mem_alone_be_a $(gpushare run --slice "$a" -- $d/aggressor mem 3)"
echo "=== real programs in a masked slice"
pol -isolated
t() { echo "\$ ${*: -2}"; timeout 120 "$@" 2>&1 | grep -v "^gpushare\[" | tail -3; echo "[exit ${PIPESTATUS[0]}]"; }
t gpushare run --slice "$a" -- $d/smid_static 0.5
t gpushare run --slice "$a" -- $d/drvapi $d/smid_kernel.ptx
t gpushare run --slice "$a" -- python3 bench/device/torch_slice.py
cat > /tmp/graph.py <<'PY'
import torch
x = torch.ones(1 << 20, device="cuda"); s = torch.cuda.Stream()
with torch.cuda.stream(s):
    y = x * 2
torch.cuda.synchronize()
g = torch.cuda.CUDAGraph()
with torch.cuda.graph(g):
    y = x * 2 + 1
for _ in range(10):
    g.replay()
torch.cuda.synchronize()
print("cuda graph replay ok", float(y.sum()) == 3.0 * (1 << 20), "sms", torch.cuda.get_device_properties(0).multi_processor_count)
PY
t gpushare run --slice "$a" -- python3 /tmp/graph.py
GPUSHARE_LOG=stderr gpushare run --slice "$a" -- $d/smid_shared 0.2 2>&1 | grep -E "TPC|green|runs on" | head -3
echo "=== launch cost under MPS: no gpushare | in a masked slice (ns per call)"
for round in 1 2; do
	echo "round $round mps $(CUDA_MPS_PIPE_DIRECTORY=$nv $d/launch) | slice $(gpushare run --slice "$a" -- $d/launch)"
done
echo "--- control.log, last lines"; tail -5 /tmp/gs-ctl-log/control.log
