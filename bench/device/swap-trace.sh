#!/usr/bin/env bash
# swap-trace.sh: on the GPU machine, what the interposer's swap backing and
# its kernel traces cost and do on NVIDIA's driver (issues 12 and 13):
#  1 an allocation and its free (cuMemAlloc + cuMemFree, 2 MiB to 1 GiB):
#    native, under libgpushare.so, and with the allocations backed by virtual
#    memory management for the swap (bench/swap-alloc.sh; no daemon, no MPS);
#  2 PyTorch handing a CUDA tensor to a spawned child (torch.multiprocessing:
#    cudaIpc*) with that backing and with GPUSHARE_SWAP=off; which programs
#    the daemon has backed by default (a -mem-turn slice's only);
#  3 a launch's CPU time in a slice traced against untraced
#    (bench/device/launch, 5 interleaved rounds, under gpushare-control and
#    NVIDIA MPS);
#  4 the seed's mixed workload: PyTorch training in slice a beside a
#    latency-sensitive inference loop in slice b, traced as one job, drawn
#    by SM and by slice (OUT: the directory for the trace and figures).
# Run from the repository's root after bench/device/build.sh:
#   OUT=dir bash bench/device/swap-trace.sh
# (PARTS="2 3": only those parts).
set -u
out=${OUT:?OUT: a directory for the trace and the figures}
export PATH=$PWD/build/bin:$PATH
lib=$PWD/build/lib/libgpushare.so
py=$(mktemp --suffix=.py)
cat > "$py" << 'EOF'
import sys
import torch
import torch.multiprocessing as mp

def child(t, q):
    q.put(float(t.sum().item()))

if __name__ == "__main__":
    mp.set_start_method("spawn")
    t = torch.ones(1 << 22, device="cuda")  # 16 MiB: a segment of the caching allocator's own
    q = mp.Queue()
    p = mp.Process(target=child, args=(t, q), daemon=True)
    try:
        p.start()  # the tensor is pickled here: cudaIpcGetMemHandle
    except Exception as e:
        print("ipc_child_sum none FAILED in the parent:", str(e).splitlines()[0][:200], flush=True)
        p.kill()
        sys.exit(0)
    p.join(60)
    got = q.get(timeout=5) if p.exitcode == 0 else None
    print("ipc_child_sum", got, "ok" if got == float(1 << 22) else "FAILED (child exit %s)" % p.exitcode, flush=True)
EOF

parts=${PARTS:-1 2 3 4} # which parts to run (2b goes with 2)
has() { [[ " $parts " == *" $1 "* ]]; }
if has 1; then
	echo "=== 1: us per cuMemAlloc + cuMemFree (no daemon)"
	bash bench/swap-alloc.sh build 2>&1
fi

if has 2; then
echo "=== 2: a CUDA tensor handed to a spawned child"
echo "swap backing (GPUSHARE_SWAP=on): $(LD_PRELOAD=$lib GPUSHARE_MEMORY_LIMIT=8G GPUSHARE_SWAP=on timeout -k 5 90 python3 -u "$py" 2>&1 | grep -E "ipc_child_sum" | tail -1 | cut -c 1-300)"
echo "no backing (GPUSHARE_SWAP=off):  $(LD_PRELOAD=$lib GPUSHARE_MEMORY_LIMIT=8G GPUSHARE_SWAP=off timeout -k 5 90 python3 -u "$py" 2>&1 | grep -E "ipc_child_sum" | tail -1 | cut -c 1-300)"
fi
rm -f "$py"

. bench/device/control-env.sh
med() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
field() { tr ' ' '\n' | awk -v k="$1" 'p { print; exit } $0 == k { p = 1 }'; }
gpushare-smi -i 0 -mig 1 > /dev/null
gpushare-control -d; echo "gpushare-control -d: exit $?"
a=$(q "create_slice 64 30G") b=$(q "create_slice 64 30G")
timeout 60 gpushare run --slice "$a" -- "$d/launch" > /dev/null # MPS warm
if has 2; then
echo "=== 2b: the default GPUSHARE_CONTROL_SWAP (turns): which clients of NVIDIA MPS are backed"
m=$(q "create_slice 16 8G -overcommit -mem-turn 60")
GPUSHARE_LOG=/tmp/gl-plain.log timeout 60 gpushare run --slice "$a" -- "$d/launch" > /dev/null
GPUSHARE_LOG=/tmp/gl-turn.log timeout 60 gpushare run --slice "$m" -- "$d/launch" > /dev/null
echo "backed: plain slice $(grep -c 'backed by virtual memory' /tmp/gl-plain.log) mem-turn slice $(grep -c 'backed by virtual memory' /tmp/gl-turn.log)"
q "destroy_slice $m" > /dev/null
fi
if has 3; then
echo "=== 3: launch cost in a slice, traced vs untraced, ns per call"
for round in 1 2 3 4 5; do
	p=$(timeout 120 gpushare run --slice "$a" -- "$d/launch")
	t=$(timeout 120 gpushare run --slice "$a" --trace "/tmp/launch-$round.json" -- "$d/launch" 2>&1 | tr '\n' ' ')
	echo "round $round untraced $p | traced $t"
	echo "$p" | field runtime_launch_ns >> /tmp/pl; echo "$t" | field runtime_launch_ns >> /tmp/tl
	echo "$p" | field driver_launch_ns >> /tmp/pd; echo "$t" | field driver_launch_ns >> /tmp/td
done
echo "runtime_launch_median untraced $(med < /tmp/pl) traced $(med < /tmp/tl)"
echo "driver_launch_median untraced $(med < /tmp/pd) traced $(med < /tmp/td)"
rm -f /tmp/pl /tmp/tl /tmp/pd /tmp/td /tmp/launch-*.json
fi
has 4 || exit 0

echo "=== 4: PyTorch training in a beside inference in b, one traced job"
job="gpushare run --slice $a -- python3 bench/device/torch_pair.py train 3 & sleep 4; gpushare run --slice $b -- python3 bench/device/torch_pair.py infer 2; wait"
timeout 200 gpushare run --trace "$out/seed-mixed.json" -- sh -c "$job" 2>&1 | tail -4
python3 - "$out/seed-mixed.json" << 'EOF'
import collections, json, sys
doc = json.load(open(sys.argv[1]))
ev = doc["traceEvents"] if isinstance(doc, dict) else doc
k = [e for e in ev if e.get("ph") == "X"]
by = collections.Counter(str(e.get("args", {}).get("slice", e.get("pid"))) for e in k)
print("kernel events", len(k), "by slice", dict(by))
parts = doc.get("otherData", {}) if isinstance(doc, dict) else {}
print("otherData", json.dumps(parts)[:600])
EOF
gpushare timeline "$out/seed-mixed.json" -o "$out/seed-mixed-by-sm.svg"; echo "timeline --by sm: exit $?"
gpushare timeline "$out/seed-mixed.json" --by slice -o "$out/seed-mixed-by-slice.svg"; echo "timeline --by slice: exit $?"
ls -la "$out"
gzip -9 "$out/seed-mixed.json"
