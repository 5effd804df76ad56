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
# - both backends of GPU times: CUPTI (the simulated GPU's libcupti.so,
#   beside its libcuda.so.1: what auto finds here) and CUDA events
#   (GPUSHARE_TRACE_TIMING=events) give the same kernels, times, counts and
#   tracks, each named in the trace; CUPTI refused (another tool subscribed,
#   no libcupti) falls back to events, saying why once; records CUPTI
#   dropped are counted; at 100 000 launches/s CUPTI drops none;
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
# untimed (kernels without GPU time), timing (each part's backend, "a b"),
# note (the first part's timing_note), cupti_dropped (records CUPTI
# dropped), tracks (the track names, sorted, without pids and addresses)
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
parts = g.get("processes", [g])
timing = " ".join(sorted(p.get("timing", "?") for p in parts))
note = next((p["timing_note"] for p in parts if "timing_note" in p), "").replace("'", "")
tracks = ",".join(sorted(e["args"]["name"].split(" ")[0] + (" stream" if "stream" in e["args"]["name"] else "")
                         for e in doc["traceEvents"] if e.get("ph") == "M"))
sms = [set(range(int(b.split("-")[0]), int(b.split("-")[-1]) + 1)) for b in bands]
disjoint = all(not (sms[i] & sms[j]) for i in range(len(sms)) for j in range(i + 1, len(sms)))
print(f"valid=1 kernels={len(k)} launches={g['launches']} dropped={g['dropped']} pids={len(by)}"
      f" overlap_us={best:.1f} together_us={total:.1f} bands='{' '.join(bands)}' disjoint={int(disjoint)}"
      f" untimed={sum(1 for e in k if not e['args']['gpu_time'])} timing='{timing}' note='{note}'"
      f" cupti_dropped={sum(p.get('cupti_dropped_records', 0) for p in parts)} tracks='{tracks}'")
EOF
}

# kernels TRACE: each kernel of a one-process trace, in order of its start:
# name, grid, block, duration (us, rounded), start after the first (us, rounded)
kernels() {
	"$py" - "$1" << 'EOF'
import json, sys
k = sorted((e for e in json.load(open(sys.argv[1]))["traceEvents"] if e.get("cat") == "kernel"), key=lambda e: e["ts"])
for e in k:
    a = e["args"]
    print(e["name"], a["grid"], a["block"], round(e["dur"]), round(e["ts"] - k[0]["ts"]))
EOF
}

# (a) whole-GPU kernels of two programs: one at a time
gpushare run --trace a.json -- sh -c "$app kernels 40 200 216 4 > a1.out & $app kernels 40 200 216 4 > a2.out; wait" 2> a.err
eval "$(facts a.json)"
check "a job of two programs: one trace document, valid JSON (python3 -m json.tool)" '[ "$valid" = 1 ] && "$py" -m json.tool a.json > /dev/null'
check "its parts are gone, merged: $kernels kernels of $pids programs, $launches launches" '[ ! -e a.json.d ] && [ "$pids" = 2 ] && [ "$kernels" = 80 ] && [ "$launches" = 80 ] && [ "$untimed" = 0 ]'
check "gpushare run says where the trace is" 'grep -q "trace of 2 processes in a.json: 80 kernels" a.err'
check "each part says its kernels were timed by CUPTI (the simulated GPU's libcupti.so): $timing" '[ "$timing" = "cupti cupti" ]'
# (each process's clock reference is within a microsecond or so of the others')
check "kernels of the whole GPU from two programs never run at once (at most ${overlap_us} us, ${together_us} us in all)" '[ "${overlap_us%.*}" -lt 5 ] && [ "${together_us%.*}" -lt 50 ]'
check "allocations and frees are instant events" '[ "$(grep -c "\"cat\":\"memory\"" a.json)" = 4 ]'

# the same two programs, timed by CUDA events instead
GPUSHARE_TRACE_TIMING=events gpushare run --trace a-events.json -- sh -c "$app kernels 40 200 216 4 > /dev/null & $app kernels 40 200 216 4 > /dev/null; wait" 2> /dev/null
cupti_tracks=$tracks
eval "$(facts a-events.json)"
check "GPUSHARE_TRACE_TIMING=events: each part timed by events ($timing), $kernels kernels of $pids programs, $launches launches, none dropped" \
	'[ "$valid" = 1 ] && [ "$timing" = "events events" ] && [ "$kernels" = 80 ] && [ "$launches" = 80 ] && [ "$dropped" = 0 ] && [ "$untimed" = 0 ] && [ "$pids" = 2 ]'
check "and the same tracks as CUPTI's ($tracks)" '[ "$tracks" = "$cupti_tracks" ]'
check "events: kernels of the whole GPU still never run at once (at most ${overlap_us} us)" '[ "${overlap_us%.*}" -lt 5 ] && [ "${together_us%.*}" -lt 50 ]'
# one program, both ways: the same kernels at the same times (queued at
# once, each starts as the one before it ends)
for t in cupti events; do
	LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" GPUSHARE_TRACE_TIMING=$t \
		GPUSHARE_LOG="$work/one-$t.log" GPUSHARE_TRACE_FILE="$work/one-$t.json" "$app" kernels 30 150 216 > /dev/null
	kernels "one-$t.json" > "one-$t.kernels"
done
check "one program traced by each backend: the same $(wc -l < one-cupti.kernels) kernels, grids, durations and starts (us)" \
	'[ "$(wc -l < one-cupti.kernels)" = 30 ] && diff one-cupti.kernels one-events.kernels'
check "the log names the backend once" '[ "$(grep -c "timed by CUPTI" one-cupti.log)" = 1 ] && [ "$(grep -c "timed by CUDA events (GPUSHARE_TRACE_TIMING=events)" one-events.log)" = 1 ]'

# CUPTI refused: events, saying why
LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" GPUSHARE_SIM_CUPTI=busy \
	GPUSHARE_LOG="$work/busy.log" GPUSHARE_TRACE_FILE="$work/busy.json" "$app" kernels 10 50 8 > /dev/null
eval "$(facts busy.json)"
check "another tool holds CUPTI: the trace falls back to events ($timing: $note)" \
	'[ "$timing" = events ] && [ "$kernels" = 10 ] && [ "$untimed" = 0 ] && [[ "$note" == *cuptiSubscribe* ]]'
check "and the log says so, once" '[ "$(grep -c "timed by CUDA events (not CUPTI: .*MULTIPLE_SUBSCRIBERS" busy.log)" = 1 ]'
LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" GPUSHARE_CUPTI_LIBRARY="$work/none/libcupti.so" \
	GPUSHARE_TRACE_TIMING=cupti GPUSHARE_LOG="$work/nolib.log" GPUSHARE_TRACE_FILE="$work/nolib.json" "$app" kernels 10 50 8 > /dev/null
eval "$(facts nolib.json)"
check "GPUSHARE_TRACE_TIMING=cupti without a libcupti: events ($timing: $note)" \
	'[ "$timing" = events ] && [ "$kernels" = 10 ] && [ "$untimed" = 0 ] && [[ "$note" == "no libcupti"* ]] && grep -q "GPUSHARE_TRACE_TIMING=cupti, but no libcupti" nolib.log'
# records CUPTI dropped (no buffer for them): their launches are counted
LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" GPUSHARE_SIM_CUPTI=drop=7 \
	GPUSHARE_TRACE_FILE="$work/drop.json" "$app" kernels 700 5 8 > /dev/null
eval "$(facts drop.json)"
check "CUPTI dropped $cupti_dropped records: $kernels kernels + $dropped dropped = $launches launches" \
	'[ "$cupti_dropped" = 100 ] && [ "$dropped" = 100 ] && [ "$kernels" = 600 ] && [ "$launches" = 700 ] && [ "$untimed" = 0 ]'
# launches through the CUDA runtime (played by the simulated CUPTI): each
# driver call inside a runtime call, with the runtime call's correlation id
# or one of its own, its kernel's record carrying the runtime's: every
# kernel named by the launch it came from, none lost
for how in runtime runtime-apart; do
	LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" GPUSHARE_SIM_CUPTI=$how \
		GPUSHARE_TRACE_FILE="$work/$how.json" "$app" paced 3000 10000 > /dev/null
	eval "$(facts "$how.json")"
	eval "${how//-/_}=\"$kernels $launches $dropped $untimed $timing\""
done
check "runtime launches whose driver calls share their id: $runtime (kernels launches dropped untimed timing)" '[ "$runtime" = "3000 3000 0 0 cupti" ]'
check "runtime launches whose driver calls have ids of their own: $runtime_apart" '[ "$runtime_apart" = "3000 3000 0 0 cupti" ]'

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

# 100 000 launches a second for a second, timed by CUPTI: none dropped
LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" \
	GPUSHARE_TRACE_FILE="$work/rate.json" "$app" paced 100000 100000 > rate.out
eval "$(facts rate.json)"
check "100000 launches/s by CUPTI: $kernels kernel events, $dropped dropped, of $launches" \
	'[ "$timing" = cupti ] && [ "$launches" = 100000 ] && [ "$kernels" = 100000 ] && [ "$dropped" = 0 ] && [ "$untimed" = 0 ]'

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
