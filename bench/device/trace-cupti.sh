#!/usr/bin/env bash
# trace-cupti.sh: on the GPU machine, issue 13's cost of a traced launch, the
# two backends side by side in one run. bench/device/launch (ns per call,
# the median of 400 batches of 256 empty kernels, runtime and driver API)
# runs under libgpushare.so (a memory limit, no daemon), in ROUNDS rounds
# (default 7) of three processes in rotating order:
#   untraced  no trace
#   events    GPUSHARE_TRACE_FILE, GPUSHARE_TRACE_TIMING=events
#   cupti     GPUSHARE_TRACE_FILE, GPUSHARE_TRACE_TIMING=cupti (the toolkit's
#             libcupti, GPUSHARE_CUPTI_LIBRARY)
# part 1 without NVIDIA MPS, part 2 as clients of a private NVIDIA MPS (its
# own CUDA_MPS_PIPE_DIRECTORY and log directory, stopped at the end of the
# part); the median of each, and of events - untraced and cupti - untraced
# taken round by round. Every traced run's counts are checked: the backend
# named in the trace, kernels + failed + dropped = launches = what the
# program launched (205800). Then, in each part, bench/device/launchrate
# (100k launches/s for 2 s) traced by each backend: CUPTI must drop none.
# Part 3: the same launch in a 64-SM slice confined by TPC masks
# (gpushare-control, no MPS), untraced against traced by CUPTI: CUPTI's
# records in a masked slice, every kernel with its GPU time.
# Every program is pinned to CPUS (default 2,3: two, so that a trace's
# writer thread need not take the launching thread's; CPUS=2 pins as
# launch-masks.sh did for its +3.7 us). Writes OUT (default
# bench/results/<gpu>-trace-cupti-<date>.txt), naming the GPU and driver.
# Run from the repository's root after bench/device/build.sh:
#   bash bench/device/trace-cupti.sh
. bench/device/control-env.sh
lib=$PWD/build/lib/libgpushare.so
rounds=${ROUNDS:-7}
pin="taskset -c ${CPUS:-2,3}"
expect=205800 # launch.cu: 1000 to warm up, 400 x 256 by the runtime, 400 x 256 by the driver API
cupti=${GPUSHARE_CUPTI_LIBRARY:-$(find /usr/local/cuda*/ -name 'libcupti.so' 2> /dev/null | head -1)}
export GPUSHARE_CUPTI_LIBRARY=$cupti
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader -i 0)
driver=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader -i 0)
key=$(echo "$gpu" | grep -oiE 'h100|h200|a100|b200' | head -1 | tr A-Z a-z)
out=${OUT:-bench/results/${key:-gpu}-trace-cupti-$(date +%F).txt}
t=$(mktemp -d)
mkdir -p "$(dirname "$out")"
exec > >(tee "$out") 2>&1

# facts FILE: a trace's backend and counts (its otherData, at the end), the
# kernels without GPU time and their median duration (us)
facts() {
	[ -s "$1" ] || return 0
	python3 - "$1" << 'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
g = doc["otherData"]["gpushare"]
parts = g.get("processes", [g])
k = [e for e in doc["traceEvents"] if e.get("cat") == "kernel"]
d = sorted(e["dur"] for e in k if e["args"]["gpu_time"])
print("timing %s launches %d kernels %d failed %d dropped %d untimed %d median_dur_us %.2f clock_error_us %s"
      " cupti_lost %s cupti_dropped_records %s unmatched_records %s" % (
      ",".join(sorted(set(p.get("timing", "?") for p in parts))), g["launches"], g["kernels"],
      sum(p.get("failed", 0) for p in parts), g["dropped"], sum(1 for e in k if not e["args"]["gpu_time"]),
      d[len(d) // 2] if d else -1, ",".join(str(p.get("clock_error_us")) for p in parts),
      sum(p.get("cupti_lost", 0) for p in parts), sum(p.get("cupti_dropped_records", 0) for p in parts),
      sum(p.get("unmatched_records", 0) for p in parts)) +
      "".join(" note: " + p["timing_note"] for p in parts if p.get("timing_note")))
EOF
}
# verdict WANT EXPECT FACTS: whether a trace holds what it should
verdict() {
	local want=$1 n=$2 timing="" launches="" kernels=0 failed=0 dropped=0 _
	read -r _ timing _ launches _ kernels _ failed _ dropped _ <<< "$3"
	if [ -z "$timing" ]; then echo "BAD (no trace)"
	elif [ "$timing" != "$want" ]; then echo "BAD (timed by $timing, not $want)"
	elif [ "$launches" != "$n" ] || [ $((kernels + failed + dropped)) != "$launches" ]; then echo "BAD (counts)"
	else echo "ok"; fi
}

# a round: the three variants in rotating order (ENV: the MPS part's)
rounds() {
	local part=$1
	for round in $(seq "$rounds"); do
		local v
		for k in 0 1 2; do
			v=$(( (round + k) % 3 ))
			case $v in
			0) r[0]=$(LD_PRELOAD=$lib GPUSHARE_MEMORY_LIMIT=70G $pin "$d/launch") ;;
			1) r[1]=$(LD_PRELOAD=$lib GPUSHARE_MEMORY_LIMIT=70G GPUSHARE_TRACE_TIMING=events \
				GPUSHARE_TRACE_FILE="$t/$part-events-$round.json" $pin "$d/launch") ;;
			2) r[2]=$(LD_PRELOAD=$lib GPUSHARE_MEMORY_LIMIT=70G GPUSHARE_TRACE_TIMING=cupti \
				GPUSHARE_LOG="$t/$part-cupti-$round.log" GPUSHARE_TRACE_FILE="$t/$part-cupti-$round.json" $pin "$d/launch") ;;
			esac
		done
		echo "round $round untraced ${r[0]} | events ${r[1]} | cupti ${r[2]}"
	done | tee "$t/$part.rounds"
	awk -F'|' '
	function med(a, n,   i, j, x) { for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
	{ for (k = 1; k <= 3; k++) { split($k, f, " "); o = (k == 1) ? 3 : 1; rt[k, NR] = f[o + 2]; dr[k, NR] = f[o + 4] } }
	END { n = NR; split("untraced events cupti", name, " ")
		for (k = 1; k <= 3; k++) { for (i = 1; i <= n; i++) { x[i] = rt[k, i]; y[i] = dr[k, i] }
			printf "median %-8s runtime_launch_ns %.1f driver_launch_ns %.1f\n", name[k], med(x, n), med(y, n) }
		for (k = 2; k <= 3; k++) { for (i = 1; i <= n; i++) { x[i] = rt[k, i] - rt[1, i]; y[i] = dr[k, i] - dr[1, i] }
			printf "%s_minus_untraced runtime_ns %.1f driver_ns %.1f (median of %d round differences)\n", name[k], med(x, n), med(y, n), n }
	}' "$t/$part.rounds"
	for round in $(seq "$rounds"); do
		for b in events cupti; do
			f=$(facts "$t/$part-$b-$round.json")
			echo "trace round $round $b: $f: $(verdict "$b" "$expect" "$f")"
			rm -f "$t/$part-$b-$round.json"
		done
	done
	grep -h "trace: kernels timed" "$t/$part-cupti-1.log" 2> /dev/null | sed 's/^/log of cupti round 1: /'
	for b in events cupti; do
		res=$(LD_PRELOAD=$lib GPUSHARE_MEMORY_LIMIT=70G GPUSHARE_TRACE_TIMING=$b \
			GPUSHARE_TRACE_FILE="$t/$part-rate-$b.json" $pin "$d/launchrate")
		f=$(facts "$t/$part-rate-$b.json")
		n=$(echo "$res" | awk '{ print $2 }')
		v=$(verdict "$b" "$n" "$f")
		[ "$b" = cupti ] && [ "$v" = ok ] && [ "$(echo "$f" | awk '{ print $10 }')" != 0 ] && v="BAD (dropped at 100k/s)"
		echo "launchrate $b: $res | $f: $v"
		rm -f "$t/$part-rate-$b.json"
	done
}

echo "# issue 13: a traced launch's cost, CUDA events against CUPTI (bench/device/trace-cupti.sh)"
echo "# GPU: $gpu, driver $driver, $(date +%F); libcupti: ${cupti:-none found}; git $(git rev-parse --short HEAD 2> /dev/null)"
echo "# $rounds rounds, each program pinned (${pin})"
"$d/launch" > /dev/null # warm

echo "=== 1: without NVIDIA MPS"
rounds nomps

echo "=== 2: clients of a private NVIDIA MPS"
mps=$(mktemp -d)
mkdir -p "$mps/pipe" "$mps/log"
export CUDA_MPS_PIPE_DIRECTORY=$mps/pipe CUDA_MPS_LOG_DIRECTORY=$mps/log
# stopped also where the script ends early (control-env.sh's daemons too)
trap 'echo quit | CUDA_MPS_PIPE_DIRECTORY=$mps/pipe nvidia-cuda-mps-control > /dev/null 2>&1; echo quit | gpushare-control > /dev/null 2>&1; CUDA_MPS_PIPE_DIRECTORY=$nv nvidia-cuda-mps-control <<< quit > /dev/null 2>&1' EXIT
nvidia-cuda-mps-control -d && echo "nvidia-cuda-mps-control -d: started in $mps"
LD_PRELOAD=$lib GPUSHARE_MEMORY_LIMIT=70G "$d/launch" > /dev/null # warm: the server starts
echo "MPS servers: $(echo get_server_list | nvidia-cuda-mps-control)"
rounds mps
echo quit | nvidia-cuda-mps-control
sleep 1
echo "MPS stopped: $(pgrep -c -f nvidia-cuda-mps-server || true) servers left"
unset CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY
rm -rf "$mps"

echo "=== 3: a 64-SM slice confined by TPC masks, no MPS (gpushare-control)"
export GPUSHARE_NO_MPS=1
gpushare-smi -i 0 -mig 1 > /dev/null
gpushare-control -d; echo "gpushare-control -d: exit $?"
a=$(q "create_slice 64 40G")
gpushare run --no-mps --slice "$a" -- "$d/launch" > /dev/null # warm
for round in $(seq "$rounds"); do
	m=$($pin gpushare run --no-mps --slice "$a" -- "$d/launch")
	c=$(GPUSHARE_LOG=stderr GPUSHARE_TRACE_TIMING=cupti $pin gpushare run --no-mps --trace "$t/masked-$round.json" --slice "$a" -- "$d/launch" 2> "$t/masked-$round.log")
	[ "$round" = 1 ] && grep -h "trace:" "$t/masked-1.log" | head -3 | sed 's/^/log of masked cupti round 1: /' >&2
	echo "round $round masked $m | masked_cupti $c"
done | tee "$t/masked.rounds"
awk -F'|' '
function med(a, n,   i, j, x) { for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
{ split($1, f, " "); split($2, g, " "); x[NR] = g[3] - f[5]; y[NR] = g[5] - f[7] }
END { printf "masked: cupti_minus_untraced runtime_ns %.1f driver_ns %.1f (median of %d round differences)\n", med(x, NR), med(y, NR), NR }' "$t/masked.rounds"
for round in $(seq "$rounds"); do
	f=$(facts "$t/masked-$round.json")
	echo "trace masked round $round cupti: $f: $(verdict cupti "$expect" "$f")"
	rm -f "$t/masked-$round.json"
done
rm -rf "$t"
echo "results in $out"
