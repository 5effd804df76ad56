#!/usr/bin/env bash
# test-trace.sh BUILD: kernel traces (GPUSHARE_TRACE_FILE, gpushare run
# --trace) and gpushare timeline, on the simulated A100 (108 SMs), whose
# kernels take simulated time on the SMs they are given:
# - two programs launching kernels of the whole GPU take turns on it (as
#   without MPS): no two programs' kernels overlap in GPU time;
# - two programs of small kernels (8 blocks) run at once on different SMs
#   (as under MPS): their kernels overlap;
# - two slices: each program's kernels ran on its slice's SMs, the two
#   bands disjoint, and they overlap in time;
# - every process of a job (a shell's children) writes its part, merged
#   into one JSON document; a process killed by SIGKILL keeps its complete
#   events;
# - 100 000 launches: each one is a kernel event or counted as dropped;
# - the figure is well-formed SVG with a colour per program;
# - a trace file is never written through a link or over a file.
set -u
build=$(cd "$1" && pwd)
. "$(dirname "$0")/lib.sh"
repo=$(cd "$(dirname "$0")/../.." && pwd)
if sanitized; then
	# the interposer cannot be preloaded; what reads traces can run, on the
	# fuzzing corpus's (test-interposer writes one under the sanitizers)
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
	for f in whole cut-short; do
		"$build/bin/gpushare" timeline "$repo/fuzz/corpus/trace/$f.json" -o "$work/$f.svg" 2> "$work/$f.err"
		echo "rc $?" >> "$work/$f.err"
	done
	check "sanitized: gpushare timeline draws a trace" 'xmllint --noout "$work/whole.svg"'
	check "sanitized: and refuses one cut short, saying where" 'grep -q "byte" "$work/cut-short.err" && grep -q "rc 1" "$work/cut-short.err"'
	echo "skip: the rest needs the interposer preloaded (a sanitized one cannot be)"
	finish
fi
sim_env
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/sim" "$work/state"
app="$build/tests/cuda-app"
cd "$work"

# facts TRACE: what a trace says, as shell assignments: valid (the document
# parses), kernels, launches and dropped (its counts), pids (programs with
# kernels), overlap_us (the longest time two programs' kernels ran at once),
# together_us (all the time two ran at once),
# bands (each program's SMs, "a-b a-b"), disjoint (1: no SM in two bands),
# untimed (kernels without GPU time)
facts() {
	"$py" - "$1" << 'EOF'
import json, sys
try:
    doc = json.load(open(sys.argv[1]))
except Exception as e:
    print("valid=0"); sys.exit(0)
k = [e for e in doc["traceEvents"] if e.get("ph") == "X" and e.get("cat") == "kernel"]
g = doc["otherData"]["gpushare"]
by = {}
for e in k:
    by.setdefault(e["args"]["pid"], []).append((e["ts"], e["ts"] + e["dur"]))
# the most any two programs' kernels overlap: a sweep over every start and end
edges = sorted((t, d, p) for p, iv in by.items() for a, b in iv for t, d in ((a, 1), (b, -1)))
running, best, total, since = {}, 0.0, 0.0, None
for t, d, p in edges:
    if since is not None:
        best, total = max(best, t - since), total + (t - since)
    running[p] = running.get(p, 0) + d
    since = t if sum(1 for v in running.values() if v > 0) >= 2 else None
bands = sorted({e["args"]["pid"]: e["args"]["sms"] for e in k}.values())
sms = [set(range(int(b.split("-")[0]), int(b.split("-")[-1]) + 1)) for b in bands]
disjoint = all(not (sms[i] & sms[j]) for i in range(len(sms)) for j in range(i + 1, len(sms)))
print(f"valid=1 kernels={len(k)} launches={g['launches']} dropped={g['dropped']} pids={len(by)}"
      f" overlap_us={best:.1f} together_us={total:.1f} bands='{' '.join(bands)}' disjoint={int(disjoint)}"
      f" untimed={sum(1 for e in k if not e['args']['gpu_time'])}")
EOF
}

# (a) whole-GPU kernels of two programs: one at a time
gpushare run --trace a.json -- sh -c "$app kernels 40 200 216 4 > a1.out & $app kernels 40 200 216 4 > a2.out; wait" 2> a.err
eval "$(facts a.json)"
check "a job of two programs: one trace document, valid JSON (python3 -m json.tool)" '[ "$valid" = 1 ] && "$py" -m json.tool a.json > /dev/null'
check "its parts are gone, merged: $kernels kernels of $pids programs, $launches launches" '[ ! -e a.json.d ] && [ "$pids" = 2 ] && [ "$kernels" = 80 ] && [ "$launches" = 80 ] && [ "$untimed" = 0 ]'
check "gpushare run says where the trace is" 'grep -q "trace of 2 processes in a.json: 80 kernels" a.err'
# (each process's clock reference is within a microsecond or so of the others')
check "kernels of the whole GPU from two programs never run at once (at most ${overlap_us} us, ${together_us} us in all)" '[ "${overlap_us%.*}" -lt 5 ] && [ "${together_us%.*}" -lt 50 ]'
check "allocations and frees are instant events" '[ "$(grep -c "\"cat\":\"memory\"" a.json)" = 4 ]'

# (b) small kernels: at once, on different SMs
gpushare run --trace b.json -- sh -c "$app kernels 200 200 8 4 > /dev/null & $app kernels 200 200 8 4 > /dev/null; wait" 2> /dev/null
eval "$(facts b.json)"
check "small kernels (8 blocks) of two programs run at once: ${together_us} us together" '[ "$valid" = 1 ] && [ "$kernels" = 400 ] && [ "${together_us%.*}" -ge 5000 ]'

# (c) two slices: disjoint SMs
gpushare-smi -i 0 -mig 1 > /dev/null
gpushare-smi mig -cgi 3g.20gb,3g.20gb -C > /dev/null
read -r s1 s2 <<< "$(gpushare-smi -L | grep -o 'MIG-[0-9a-f-]*' | tr '\n' ' ')"
gpushare run --trace c.json -- sh -c "GPUSHARE_SLICE=$s1 $app kernels 200 200 216 4 > /dev/null & GPUSHARE_SLICE=$s2 $app kernels 200 200 216 4 > /dev/null; wait" 2> /dev/null
eval "$(facts c.json)"
check "two slices: each program's kernels on its slice's SMs ($bands), disjoint" '[ "$valid" = 1 ] && [ "$pids" = 2 ] && [ "$disjoint" = 1 ] && [ "$bands" != "0-107 0-107" ]'
check "and they ran at the same time (${together_us} us together)" '[ "${together_us%.*}" -ge 5000 ]'
check "a track per slice, named" '[ "$(grep -c "\"name\":\"slice MIG-" c.json)" = 2 ]'

# the figure
gpushare timeline c.json -o c.svg
check "gpushare timeline writes a well-formed SVG (xmllint)" 'xmllint --noout c.svg'
colours=$(grep -o '<rect class="k"[^>]*' c.svg | grep -o 'fill="#[0-9a-f]*"' | sort -u | wc -l)
check "one colour per program ($colours for 2), each in the legend" '[ "$colours" = 2 ] && [ "$(grep -c "class=\"legend\"" c.svg)" = 2 ]'
check "rows of SMs, a time axis with labels" 'grep -q ">SM 0<" c.svg && grep -q "ms</text>" c.svg'
gpushare timeline c.json -o slices.svg --by slice
check "--by slice: a row per slice" 'xmllint --noout slices.svg && [ "$(grep -c "class=\"row\"" slices.svg)" = 2 ]'
check "a bad --by says what is right" '! out=$(gpushare timeline c.json --by gpu 2>&1) && [[ "$out" == *"sm or slice"* ]]'
printf '{"traceEvents": [' > bad.json
check "a trace that is not JSON is refused, saying where" '! out=$(gpushare timeline bad.json -o x.svg 2>&1) && [[ "$out" == *"byte"* ]] && [ ! -e x.svg ]'

# 100 000 launches: traced or counted as dropped, never lost silently
gpushare run --trace d.json -- "$app" kernels 100000 5 1 > d.out 2> /dev/null
eval "$(facts d.json)"
n=$(awk '/^launches/ { print $2 }' d.out)
check "100000 launches: $kernels kernel events + $dropped dropped = $launches = what the program launched ($n)" '[ "$valid" = 1 ] && [ "$n" = 100000 ] && [ "$launches" = 100000 ] && [ $((kernels + dropped)) = 100000 ]'

# a process killed: its complete events stay
mkdir e.d
LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" GPUSHARE_TRACE_FILE="$work/e.d/%p.json" \
	"$app" smidloop 0 > /dev/null &
victim=$!
wait_for '[ -s "e.d/$victim.json" ] && [ "$(grep -c "\"cat\":\"kernel\"" "e.d/$victim.json")" -ge 5 ]' 5
kill -9 "$victim"
wait "$victim" 2> /dev/null
check "a part cut short by SIGKILL is not valid JSON alone" '! "$py" -m json.tool "e.d/$victim.json" > /dev/null 2>&1'
# merged as gpushare run merges its job's parts: the job copies it among them
gpushare run --trace f.json -- cp "e.d/$victim.json" f.json.d/ 2> f.err
eval "$(facts f.json)"
check "merged, its complete kernel events are kept ($kernels) and it is marked incomplete" '[ "$valid" = 1 ] && [ "$kernels" -ge 5 ] && grep -q "\"incomplete\":1" f.json && grep -q "cut short" f.err'

# files: never through a link, never over a file
echo keep > target
ln -s target link.json
LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" GPUSHARE_TRACE_FILE="$work/link.json" \
	GPUSHARE_LOG="$work/link.log" "$app" kernels 2 10 1 > /dev/null
check "a trace file that is a link is not written through (the target unchanged), the log says why" '[ "$(cat target)" = keep ] && grep -q "cannot create .*link.json" link.log'
gpushare run --trace a.json -- true 2> /dev/null
check "gpushare run --trace over an existing trace's parts directory refuses" 'mkdir a.json.d && ! out=$(gpushare run --trace a.json -- true 2>&1) && [[ "$out" == *"remove it"* ]]'
check "parts are private to the user (mode 600), their directory 700" 'mkdir -m 700 g.d && LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" GPUSHARE_TRACE_FILE="$work/g.d/%p.json" "$app" kernels 2 10 1 > /dev/null && [ "$(stat -c %a g.d/*.json)" = 600 ]'

# off: the GPUSHARE_TRACE call counts still work beside it
out=$(LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" GPUSHARE_TRACE=1 GPUSHARE_LOG=stderr "$app" kernels 3 10 1 2>&1)
check "GPUSHARE_TRACE still counts calls, and writes no trace" '[[ "$out" == *"calls cuLaunchKernel "* ]] && [[ "$out" != *"trace:"* ]]'
finish
