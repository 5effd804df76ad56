#!/usr/bin/env bash
# test-seed-workload.sh BUILD: the seed's Figure 1 workload
# (bench/seed-workload/run.sh SIM=1: apps A, B, C, two streams each of long
# and short kernels) under each way of sharing, on the simulated A100, its
# traces held to what the seed's figures show:
# - time-slicing (Figure 3; a slice of the whole GPU with -timeslice): no two
#   apps' kernels ever run at once;
# - MPS (Figures 5 and 7; one slice, at once): the apps' kernels run at once,
#   all three together;
# - MIG (Figure 10; an -isolated slice per app): each app's kernels on its
#   own slice's SMs, the three bands and the TPC masks of their launches
#   disjoint, and at once;
# - MIG shared again (Figure 11): A and B at once in one slice, C and D
#   taking turns in the other, the two slices' SMs disjoint;
# - each figure (by SM and by slice) is well-formed SVG.
set -u
build=$(cd "$1" && pwd)
. "$(dirname "$0")/lib.sh"
need_preload
repo=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# run.sh takes the build tree as build/ of the repository it is in
if [ "$build" != "$repo/build" ]; then
	echo "skip: bench/seed-workload/run.sh runs the build in $repo/build, not $build"
	exit 0
fi
SIM=1 MS="${MS:-300}" "$repo/bench/seed-workload/run.sh" "$out" > "$out/run.log" 2>&1
check "run.sh SIM=1: every mode traced and drawn" 'for m in timeslice mps mig mig-shared; do [ -s "$out/$m.json" ] && [ -s "$out/$m-sm.svg" ] && [ -s "$out/$m-slice.svg" ] || exit 1; done' ||
	cat "$out/run.log"
# CUPTI and TPC masks share the driver's one callback subscriber (as on the H100)
check "outside slices the kernels are timed by CUPTI; in slices held by TPC masks by events, the trace saying why" \
	'grep -q "\"timing\":\"cupti\"" "$out/timeslice.json" && ! grep -q "\"timing\":\"cupti\"" "$out/mig.json" && grep -q "CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED" "$out/mig.json"' ||
	grep -o '"timing[a-z_]*":"[^"]*"' "$out/timeslice.json" "$out/mig.json" | sort | uniq -c

# facts MODE: what MODE's trace says, as shell assignments: apps (with
# kernels), kernels, and for GROUP (apps given as "A,B", default all):
# together (ms during which two of them ran at once), most (the most of them
# at once), span (ms from the first kernel to the last end), window (ms
# while every one of them was running: a machine under load starts them
# apart); inside (1: every
# kernel's SMs within its app's slice's, from MODE-slices.json) and disjoint
# (1: no SM in two slices' kernels, no TPC in two slices' launch masks)
facts() {
	"$py" - "$out/$1.json" "$out/$1-slices.json" "${2:-}" << 'EOF2'
import json, os, sys
doc = json.load(open(sys.argv[1]))
k = [e for e in doc["traceEvents"] if e.get("ph") == "X" and e.get("cat") == "kernel"]
group = set(sys.argv[3].split(",")) if sys.argv[3] else None
apps = {e["args"]["app"] for e in k}
edges = sorted((t, d, e["args"]["app"]) for e in k if not group or e["args"]["app"] in group
               for t, d in ((e["ts"], 1), (e["ts"] + e["dur"], -1)))
running, together, most, since = {}, 0.0, 0, None
for t, d, a in edges:
    if since is not None:
        together += t - since
    running[a] = running.get(a, 0) + d
    n = sum(1 for v in running.values() if v > 0)
    most = max(most, n)
    since = t if n >= 2 else None
span = edges[-1][0] - edges[0][0] if edges else 0
# the time all of them ran (from the last one's first kernel to the first one's last end)
first, last = {}, {}
for t, d, a in edges:
    first.setdefault(a, t)
    last[a] = t
window = max(0.0, min(last.values()) - max(first.values())) if edges else 0
def sms(s):
    a, _, b = s.partition("-")
    return set(range(int(a), int(b or a) + 1))
inside, bands, masks = 1, {}, {}
if os.path.exists(sys.argv[2]):
    sl = {s["slice"]: set(range(s["sm_start"], s["sm_start"] + s["sms"])) for s in json.load(open(sys.argv[2]))["slices"]}
    for e in k:
        own = sl.get(e["args"]["slice"])
        inside &= int(own is not None and sms(e["args"]["sms"]) <= own)
        bands.setdefault(e["args"]["slice"], set()).update(sms(e["args"]["sms"]))
        # under TPC masks (the simulated A100's soft slices), the TPCs the launch was let use
        masks[e["args"]["slice"]] = masks.get(e["args"]["slice"], 0) | int(e["args"].get("tpc_mask", "0"), 16)
b, m = list(bands.values()), list(masks.values())
disjoint = int(len(b) > 1 and all(not (b[i] & b[j]) and not (m[i] & m[j]) for i in range(len(b)) for j in range(i + 1, len(b))))
print(f"apps={len(apps)} kernels={len(k)} together={together / 1000:.2f} most={most} span={span / 1000:.1f} window={window / 1000:.1f}"
      f" inside={inside} disjoint={disjoint} slices={len(bands)}")
EOF2
}

eval "$(facts timeslice)"
check "time-slicing: $kernels kernels of $apps apps, never two apps' at once ($together ms of $span)" '[ "$apps" = 3 ] && [ "$kernels" -ge 12 ] && awk -v x="$together" "BEGIN { exit !(x < 0.1) }"'
eval "$(facts mps)"
check "MPS: $kernels kernels of $apps apps at once ($together ms together of the $window all ran, $most at most)" '[ "$apps" = 3 ] && [ "$most" -ge 3 ] && awk -v x="$together" -v s="$window" "BEGIN { exit !(s > 100 && x > 0.9 * s) }"'
eval "$(facts mig)"
check "MIG: each app's kernels on its slice's SMs ($slices slices), the bands and launch masks disjoint" '[ "$apps" = 3 ] && [ "$slices" = 3 ] && [ "$inside" = 1 ] && [ "$disjoint" = 1 ]'
check "and the apps ran at once ($together ms together of the $window all ran, $most at most)" '[ "$most" = 3 ] && awk -v x="$together" -v s="$window" "BEGIN { exit !(s > 100 && x > 0.9 * s) }"'
eval "$(facts mig-shared)"
check "MIG shared again: two slices' kernels on their own SMs, bands and masks disjoint" '[ "$apps" = 4 ] && [ "$slices" = 2 ] && [ "$inside" = 1 ] && [ "$disjoint" = 1 ]'
eval "$(facts mig-shared A,B)"
check "A and B, in the slice shared at once, ran at once ($together ms of the $window both ran)" 'awk -v x="$together" -v s="$window" "BEGIN { exit !(s > 100 && x > 0.9 * s) }"'
eval "$(facts mig-shared C,D)"
check "C and D, in the slice of turns, never at once ($together ms of $span)" 'awk -v x="$together" "BEGIN { exit !(x < 0.1) }"'

for m in timeslice mps mig mig-shared; do
	xmllint --noout "$out/$m-sm.svg" "$out/$m-slice.svg" 2> /dev/null || bad="${bad:-} $m"
done
check "every figure is well-formed SVG (xmllint)${bad:+: not$bad}" '[ -z "${bad:-}" ]'
finish
