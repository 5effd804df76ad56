#!/usr/bin/env bash
# suspend.sh: issue 12, "over-commit that keeps its promises", on the GPU
# machine: gpushare-control's suspend/resume (the driver's checkpoint API) and
# memory turns, measured. Run from the repository's root, as root:
#   bash bench/device/build.sh && bash bench/device/suspend.sh
# and on the simulated GPU (small sizes, no nvidia-smi, PyTorch, JAX or NVIDIA
# MPS), to check the script itself after `make -j2 runtime`:
#   SIM=1 bash bench/device/suspend.sh
# Prints a header, then one "RESULT <name> key=value ..." line per
# measurement; other lines say what goes on. Unless said otherwise the
# daemon runs with GPUSHARE_NO_MPS=1 (the checkpoint API refuses clients of
# NVIDIA MPS) and the programs are started with `gpushare run "${run_opts[@]}"`:
#   a. suspend/resume of a driver-API program (hold) holding 1, 8, 32, 100 GiB
#   b. the same for PyTorch and JAX holding 8 GiB
#   c. a deterministic PyTorch training run and a CUDA-graph replay loop,
#      each suspended and resumed 10 times while it runs, against the same
#      runs uninterrupted (SHA-256 of the final weights)
#   d. lending memory: a borrower (-overcommit -borrow-memory on) holds
#      part of an owner's guarantee; the owner's allocation within it: how
#      long until it succeeds (the borrower suspended meanwhile), then the
#      borrower resumed without being asked once the owner ends, its data
#      read back
#   g. a daemon kill -9 while a program is suspended; a suspended program
#      killed (SIGKILL): its memory and its entries gone
#   e. memory turns: two jobs in two -mem-turn slices, against one after
#      the other
#   f. under the NVIDIA MPS gpushare-control supervises: suspend refused
# VIA=swap runs a, b, c, e and g under the NVIDIA MPS gpushare-control
# supervises instead, the programs its plain clients, suspended by their
# interposer's swap (docs/control.md, "Suspending NVIDIA MPS's clients"); f
# is then left out. SECTIONS (default "a b c d g e f") picks sections.
# Every step has a time limit; a section that would not fit in BUDGET_S
# seconds is skipped, saying so. Settings (environment): SIZES, BIG_GIB,
# FW_GIB, STEPS, PACE, CYCLES, MT_GIB, TURN_S, JOB_S, LEND_GIB and FREE_GIB
# (d: what the borrower holds, what no slice is guaranteed), HOST_GIB (the host's
# memory: a checkpoint lives there, and at a turn's switch both jobs do),
# BUDGET_S, SUSPEND_OUT (a directory to keep the programs' output and the
# daemon's logs in; else a temporary one, named at the end).
set -u
cd "$(dirname "$0")/../.." || exit 1
SIM=${SIM:-0}
T0=$(date +%s)
sim() { [ "$SIM" = 1 ]; }

if sim; then
	SIZES=${SIZES:-0.25 0.5 1} BIG_GIB=${BIG_GIB:-2} MT_GIB=${MT_GIB:-1} TURN_S=${TURN_S:-2} JOB_S=${JOB_S:-3}
	G_GIB=${G_GIB:-0.5} BUDGET_S=${BUDGET_S:-300} HOST_GIB=${HOST_GIB:-16} LEND_GIB=${LEND_GIB:-2} FREE_GIB=${FREE_GIB:-1}
	export GS_BENCH_TMP=${GS_BENCH_TMP:-$(mktemp -d)}
	export GPUSHARE_SIMULATE=${GPUSHARE_SIMULATE:-h200-sxm-141gb} GPUSHARE_SIM_DIR=$GS_BENCH_TMP/sim
	mkdir -p "$GPUSHARE_SIM_DIR" && chmod 1777 "$GPUSHARE_SIM_DIR"
else
	SIZES=${SIZES:-1 8 32} BIG_GIB=${BIG_GIB:-100} MT_GIB=${MT_GIB:-24} TURN_S=${TURN_S:-8} JOB_S=${JOB_S:-16}
	G_GIB=${G_GIB:-8} BUDGET_S=${BUDGET_S:-400} HOST_GIB=${HOST_GIB:-128} LEND_GIB=${LEND_GIB:-16} FREE_GIB=${FREE_GIB:-4}
fi
VIA=${VIA:-checkpoint} SECTIONS=${SECTIONS:-a b c d g e f}
case $VIA in
checkpoint) dmode=nomps run_opts=(--no-mps) ;;
swap)
	dmode=mps run_opts=() SECTIONS=${SECTIONS//f/}
	export GPUSHARE_CONTROL_SWAP=all # every program, also where the simulated GPU has no MPS
	sim && export GPUSHARE_SIM_CHECKPOINT=refuse ;; # as NVIDIA's driver refuses an MPS client
*) echo "VIA=$VIA: give checkpoint (the driver's checkpoint API, without MPS) or swap (the interposer's, under MPS)"; exit 2 ;;
esac
FW_GIB=${FW_GIB:-8} STEPS=${STEPS:-200} PACE=${PACE:-0.1} CYCLES=${CYCLES:-10}
SUSP_WAIT=180 # seconds a suspend or a resume may take (100 GiB at 1.7 GB/s: about 65)

# shellcheck source=bench/device/control-env.sh
. bench/device/control-env.sh
src=$PWD/bench/device
log=$GPUSHARE_LOG_DIRECTORY/control.log
pidfile=$GPUSHARE_PIPE_DIRECTORY/gpushare-control.pid
out=${SUSPEND_OUT:-$(mktemp -d)}
mkdir -p "$out"
# shellcheck source=bench/device/hold-env.sh
. bench/device/hold-env.sh

# ---- helpers ----
progs=() groups=() sampler=
cleanup() {
	local p
	[ -n "$sampler" ] && kill "$sampler" 2> /dev/null
	for p in "${progs[@]}"; do kill -9 "$p" 2> /dev/null; done
	for p in "${groups[@]}"; do kill -9 -- "-$p" 2> /dev/null; done
	echo quit | timeout 30 gpushare-control > /dev/null 2>&1
	p=$(cat "$pidfile" 2> /dev/null) && [ -n "$p" ] && kill -9 "$p" 2> /dev/null
	CUDA_MPS_PIPE_DIRECTORY=$nv timeout 20 nvidia-cuda-mps-control <<< quit > /dev/null 2>&1
	cp "$GPUSHARE_LOG_DIRECTORY"/*.log "$out/" 2> /dev/null
	echo "# programs' output and the daemon's logs: $out"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP
now() { date +%s.%N; }
elapsed() { echo $(($(date +%s) - T0)); }
fits() { [ $(($(elapsed) + $1)) -le "$BUDGET_S" ]; } # fits SECONDS: still in the budget
dt() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
rate() { awk -v g="$1" -v s="$2" 'BEGIN { if (s + 0 > 0) printf "%.2f", g / s; else printf "?" }'; }
qt() { echo "$*" | timeout 20 gpushare-control; } # a command to the daemon, with a time limit
# wait_until SECONDS CMD...: CMD every 0.1 s until it passes (0) or the time is up (1)
wait_until() {
	local end=$(($(date +%s%N) + $1 * 1000000000))
	shift
	until "$@"; do
		[ "$(date +%s%N)" -ge "$end" ] && return 1
		sleep 0.1
	done
}
smi_used() { # MiB used on GPU 0
	if sim; then
		timeout 20 gpushare-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -n 1
	else
		timeout 20 nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -n 1
	fi
}
rss_mib() { awk '/^VmRSS/ { print int($2 / 1024) }' "/proc/$1/status" 2> /dev/null || echo "?"; }
avail_mib() { awk '/^MemAvailable/ { print int($2 / 1024) }' /proc/meminfo; }
log_lines() { wc -l < "$log" 2> /dev/null || echo 0; }
log_since() { # log_since FROM REGEX: control.log's lines after line FROM matching REGEX, on one line
	tail -n +"$(($1 + 1))" "$log" 2> /dev/null | grep -E "$2" | tail -n 3 | cut -c 1-300 | tr '\n' ' '
}
logdt() { # logdt FROM A B: seconds from control.log's first line after FROM matching regex A to the next matching B
	tail -n +"$(($1 + 1))" "$log" 2> /dev/null | python3 -c '
import datetime, re, sys
a, b, ta = re.compile(sys.argv[1]), re.compile(sys.argv[2]), None
for line in sys.stdin:
    try:
        ts = datetime.datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S.%f")
    except ValueError:
        continue
    if ta is None and a.search(line):
        ta = ts
    elif ta is not None and b.search(line):
        print("%.2f" % (ts - ta).total_seconds())
        break
else:
    print("?")' "$2" "$3"
}
clients_json() { echo "list_clients --json" | timeout 20 gpushare-control 2> /dev/null; }
state() { # state PID: its state in list_clients (spaces as _), or gone
	clients_json | python3 -c '
import json, sys
try:
    c = [x for x in json.load(sys.stdin)["clients"] if x["pid"] == int(sys.argv[1])]
except ValueError:
    print("?")
    sys.exit()
print(c[0]["state"].replace(" ", "_") if c else "gone")' "$1"
}
host_mib() { # host_mib PID: what list_clients says it holds on the host
	clients_json | python3 -c '
import json, sys
try:
    c = [x for x in json.load(sys.stdin)["clients"] if x["pid"] == int(sys.argv[1])]
except ValueError:
    c = []
print(c[0]["host_bytes"] >> 20 if c and c[0].get("host_bytes") is not None else "?")' "$1"
}
is_state() { [ "$(state "$1")" = "$2" ]; }
# settled PID WANT FROM: in state WANT, or control.log says (after line FROM) the driver refused
settled() {
	is_state "$1" "$2" || tail -n +"$(($3 + 1))" "$log" 2> /dev/null | grep -Eq "Client $1 not (suspended|resumed)"
}
# launch NAME LIMIT CMD...: CMD in the background under timeout LIMIT, its
# output in $out/NAME.out and .err; $lpid: the timeout's pid (its process group)
launch() {
	local name=$1 limit=$2
	shift 2
	: > "$out/$name.out"
	timeout -k 5 "$limit" "$@" > "$out/$name.out" 2> "$out/$name.err" &
	lpid=$!
	groups+=("$lpid")
}
ready_or_gone() { grep -q '^ready pid=' "$1" || ! kill -0 "$2" 2> /dev/null; }
# ready NAME LPID [S]: waits for NAME's "ready pid=" line; $pid: the program's pid
ready() {
	local f=$out/$1.out
	pid=
	if ! wait_until "${3:-120}" ready_or_gone "$f" "$2" || ! grep -q '^ready pid=' "$f"; then
		echo "  $1: no ready line: $(tail -n 4 "$f" "$out/$1.err" 2> /dev/null | tr '\n' ' ' | cut -c 1-600)"
		return 1
	fi
	pid=$(sed -n 's/^ready pid=\([0-9]*\).*/\1/p' "$f" | head -n 1)
	progs+=("$pid")
}
# stop NAME PID LPID: SIGTERM, then what is left of its process group SIGKILLed
stop() {
	[ -n "$2" ] && kill -TERM "$2" 2> /dev/null
	wait_until 15 gone "$3" || kill -9 -- "-$3" 2> /dev/null
	wait "$3" 2> /dev/null
}
gone() { ! kill -0 "$1" 2> /dev/null; }
verify_more() { [ "$(grep -c '^verify ' "$1")" -gt "$2" ]; }
verify() { # verify NAME PID: reads its data back (SIGUSR1): OK(bad=0), CORRUPT(bad=N), GONE or NONE
	local f=$out/$1.out n
	n=$(grep -c '^verify ' "$f")
	kill -USR1 "$2" 2> /dev/null || { echo GONE; return; }
	if wait_until 120 verify_more "$f" "$n"; then
		grep '^verify ' "$f" | tail -n 1 | awk '{ print $2 "(" $3 ")" }'
	else
		echo NONE
	fi
}
start_daemon() { # start_daemon "$dmode"|mps
	if [ "$1" = nomps ]; then
		GPUSHARE_NO_MPS=1 timeout 60 gpushare-control -d
	else
		env -u GPUSHARE_NO_MPS timeout 60 gpushare-control -d
	fi
	echo "# gpushare-control -d ($1): exit $?"
}
stop_daemon() {
	local p
	p=$(cat "$pidfile" 2> /dev/null)
	qt quit > /dev/null 2>&1
	[ -n "$p" ] && ! wait_until 30 gone "$p" && kill -9 "$p" 2> /dev/null
	rm -f "$pidfile"
}
mib_of() { awk -v g="$1" 'BEGIN { printf "%d", g * 1024 }'; }

# measure NAME LABEL PID GIB: suspend, nvidia-smi while suspended, resume,
# its data read back; one RESULT line
measure() {
	local name=$1 label=$2 p=$3 gib=$4 from before during after host rss t0 t1 t2 t3 ans ls lr
	from=$(log_lines)
	before=$(smi_used)
	t0=$(now)
	ans=$(qt suspend "$p" 2>&1)
	if ! wait_until "$SUSP_WAIT" settled "$p" suspended "$from" || ! is_state "$p" suspended; then
		echo "RESULT $label gib=$gib suspend=FAILED answer=\"$ans\" state=$(state "$p") log: $(log_since "$from" "[Cc]lient $p( |$)") data=$(verify "$name" "$p")"
		return 1
	fi
	t1=$(now)
	sleep 1
	during=$(smi_used) host=$(host_mib "$p") rss=$(rss_mib "$p")
	t2=$(now)
	ans=$(qt resume "$p" 2>&1)
	if ! wait_until "$SUSP_WAIT" settled "$p" running "$from" || ! is_state "$p" running; then
		echo "RESULT $label gib=$gib suspend_wall_s=$(dt "$t0" "$t1") resume=FAILED answer=\"$ans\" state=$(state "$p") log: $(log_since "$from" "[Cc]lient $p( |$)") nvidia_smi_mib before=$before suspended=$during"
		return 1
	fi
	t3=$(now)
	after=$(smi_used)
	ls=$(logdt "$from" "Suspending client $p( |\$)" "Client $p suspended:")
	lr=$(logdt "$from" "Resuming client $p( |\$)" "Client $p resumed\$")
	echo "RESULT $label gib=$gib suspend_s=$ls ($(rate "$gib" "$ls") GiB/s) resume_s=$lr ($(rate "$gib" "$lr") GiB/s)" \
		"wall_suspend_s=$(dt "$t0" "$t1") wall_resume_s=$(dt "$t2" "$t3") nvidia_smi_mib before=$before suspended=$during after=$after" \
		"host_mib=$host rss_mib=$rss data=$(verify "$name" "$p")"
}

# ---- header ----
echo "=== gpushare: suspend, resume and memory turns (issue 12, over-commit that keeps its promises)"
if sim; then
	echo "gpu: simulated $GPUSHARE_SIMULATE: $(gpushare-smi --query-gpu=name,memory.total --format=csv,noheader | head -n 1)"
else
	echo "gpu: $(timeout 20 nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -n 1)"
fi
echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "command: bash bench/device/build.sh && bash bench/device/suspend.sh (SIM=$SIM, gpushare $(git rev-parse --short HEAD 2> /dev/null || echo '?'))"
echo "host: $(nproc) CPUs, MemTotal $(awk '/^MemTotal/ { print int($2 / 1048576) }' /proc/meminfo) GiB now, HOST_GIB=$HOST_GIB taken as its memory"
echo "settings: VIA=$VIA SECTIONS='$SECTIONS' SIZES='$SIZES' BIG_GIB=$BIG_GIB FW_GIB=$FW_GIB STEPS=$STEPS PACE=$PACE CYCLES=$CYCLES G_GIB=$G_GIB MT_GIB=$MT_GIB TURN_S=$TURN_S JOB_S=$JOB_S BUDGET_S=$BUDGET_S"
if ! sim; then
	echo "# NVIDIA MPS processes before: $(pgrep -c -f nvidia-cuda-mps || true); gpu processes: $(timeout 20 nvidia-smi --query-compute-apps=pid,process_name --format=csv,noheader | tr '\n' ' ')"
fi
timeout 30 gpushare-smi -i 0 -mig 1 > /dev/null
start_daemon "$dmode"
python3 -c 'import torch' 2> /dev/null && have_torch=1 || have_torch=0

# ---- a. a driver-API program ----
sec_a() {
	echo "=== a. suspend/resume of a driver-API program (hold), VIA=$VIA"
	local gib mib limit
	for gib in $SIZES $BIG_GIB; do
		if awk -v g="$gib" -v h="$HOST_GIB" 'BEGIN { exit !(g > 0.85 * h) }'; then
			echo "RESULT a_driver_api gib=$gib skipped: its checkpoint would not fit in the host's $HOST_GIB GiB"
			continue
		fi
		if ! fits "$(awk -v g="$gib" 'BEGIN { printf "%d", 20 + g }')"; then
			echo "RESULT a_driver_api gib=$gib skipped: time budget ($(elapsed) s of $BUDGET_S)"
			continue
		fi
		mib=$(mib_of "$gib")
		limit=$((2 * SUSP_WAIT + 120))
		launch "a$gib" "$limit" gpushare run "${run_opts[@]}" -- "$hold" "$mod" "$mib"
		if ready "a$gib" "$lpid" 120; then
			echo "  $(head -n 1 "$out/a$gib.out")"
			measure "a$gib" a_driver_api "$pid" "$gib"
		else
			echo "RESULT a_driver_api gib=$gib FAILED: did not start"
		fi
		stop "a$gib" "$pid" "$lpid"
	done
}

# ---- b. PyTorch and JAX ----
sec_b() {
	echo "=== b. PyTorch and JAX holding $FW_GIB GiB (JAX: XLA_PYTHON_CLIENT_PREALLOCATE=false)"
	if sim || [ "$have_torch" = 0 ]; then
		echo "RESULT b_pytorch skipped: no PyTorch on a real GPU here"
		echo "RESULT b_jax skipped: no JAX on a real GPU here"
		return
	fi
	local fw
	for fw in torch jax; do
		if ! fits 30; then
			echo "RESULT b_$fw skipped: time budget"
			continue
		fi
		launch "b_$fw" 400 env XLA_PYTHON_CLIENT_PREALLOCATE=false gpushare run "${run_opts[@]}" -- python3 "$src/suspend_hold.py" "$fw" "$FW_GIB"
		if ready "b_$fw" "$lpid" 180; then
			echo "  $(head -n 1 "$out/b_$fw.out")"
			measure "b_$fw" "b_$fw" "$pid" "$FW_GIB"
		else
			echo "RESULT b_$fw FAILED: did not start"
		fi
		stop "b_$fw" "$pid" "$lpid"
	done
}

# ---- c. deterministic runs suspended while they run ----
last_step() { grep '^step ' "$out/$1.out" | tail -n 1 | awk '{ print $2 }'; }
has_step() { [ "$(last_step "$1")" ] && [ "$(last_step "$1")" -ge "$2" ]; }
all_in() { # all_in WANT FROM PID...: each settled in WANT
	local want=$1 from=$2 p
	shift 2
	for p in "$@"; do settled "$p" "$want" "$from" || return 1; done
}
sha_of() { sed -n 's/^\(sha256\|digest\) \([0-9a-f]*\).*/\2/p' "$out/$1.out" | head -n 1; }
sec_c() {
	echo "=== c. deterministic PyTorch runs ($STEPS steps, ${PACE}s apart) suspended and resumed $CYCLES times while they run"
	if [ "$have_torch" = 0 ] && ! sim; then
		echo "RESULT c_train skipped: no PyTorch here"
		echo "RESULT c_cuda_graph skipped: no PyTorch here"
		return
	fi
	sim && echo "# simulated GPU: hold's steps mode stands in for both PyTorch runs (a digest of read-backs, not weights)"
	if ! fits 60; then
		echo "RESULT c_train skipped: time budget"
		echo "RESULT c_cuda_graph skipped: time budget"
		return
	fi
	local m pt='' pg='' from i cycles=0 t_end at="" frozen=yes s1 s2 p label
	local sus=() res=() t0 t1
	local -A lps=()
	export CUBLAS_WORKSPACE_CONFIG=:4096:8
	for m in ref_train ref_graph int_train int_graph; do
		if sim; then
			launch "c_$m" 300 gpushare run "${run_opts[@]}" -- "$hold" "$mod" 64 "steps:$STEPS:$(awk -v p="$PACE" 'BEGIN { printf "%d", p * 1000 }')"
		else
			launch "c_$m" 300 gpushare run "${run_opts[@]}" -- python3 "$src/suspend_train.py" "${m#*_}" "$STEPS" "$PACE"
		fi
		lps[$m]=$lpid
	done
	ready c_int_train "${lps[int_train]}" 120 && pt=$pid
	ready c_int_graph "${lps[int_graph]}" 120 && pg=$pid
	if [ -z "$pt" ] || [ -z "$pg" ] || ! wait_until 120 has_step c_int_train 3 || ! wait_until 120 has_step c_int_graph 3; then
		echo "RESULT c_train FAILED: the runs did not start: $(tail -n 3 "$out/c_int_train.err" "$out/c_int_graph.err" | tr '\n' ' ' | cut -c 1-600)"
	else
		t_end=$(($(date +%s) + 150))
		for i in $(seq 1 "$CYCLES"); do
			[ "$(date +%s)" -ge "$t_end" ] && { echo "  cycle $i: out of time"; break; }
			if ! is_state "$pt" running || ! is_state "$pg" running; then
				echo "  cycle $i: not both running ($(state "$pt"), $(state "$pg"))"
				break
			fi
			from=$(log_lines)
			t0=$(now)
			qt suspend "$pt" > /dev/null
			qt suspend "$pg" > /dev/null
			if ! wait_until 90 all_in suspended "$from" "$pt" "$pg" || ! is_state "$pt" suspended || ! is_state "$pg" suspended; then
				echo "  cycle $i: not suspended ($(state "$pt"), $(state "$pg")): $(log_since "$from" "not suspended")"
				qt resume "$pt" > /dev/null 2>&1
				qt resume "$pg" > /dev/null 2>&1
				break
			fi
			t1=$(now)
			sus+=("$(dt "$t0" "$t1")")
			s1="$(last_step c_int_train)/$(last_step c_int_graph)"
			sleep 0.5
			s2="$(last_step c_int_train)/$(last_step c_int_graph)"
			[ "$s1" = "$s2" ] || frozen=no
			at="$at,$s1"
			t0=$(now)
			qt resume "$pt" > /dev/null
			qt resume "$pg" > /dev/null
			if ! wait_until 90 all_in running "$from" "$pt" "$pg" || ! is_state "$pt" running || ! is_state "$pg" running; then
				echo "  cycle $i: not resumed ($(state "$pt"), $(state "$pg")): $(log_since "$from" "not resumed")"
				break
			fi
			t1=$(now)
			res+=("$(dt "$t0" "$t1")")
			cycles=$i
			sleep 0.5
		done
	fi
	for p in "${lps[@]}"; do
		wait_until 200 gone "$p" || kill -9 -- "-$p" 2> /dev/null
		wait "$p" 2> /dev/null
	done
	local med_s med_r
	med_s=$(printf '%s\n' "${sus[@]}" | sort -n | awk '{ a[NR] = $1 } END { print NR ? a[int((NR + 1) / 2)] : "?" }')
	med_r=$(printf '%s\n' "${res[@]}" | sort -n | awk '{ a[NR] = $1 } END { print NR ? a[int((NR + 1) / 2)] : "?" }')
	for m in train graph; do
		local ref int verdict
		ref=$(sha_of "c_ref_$m") int=$(sha_of "c_int_$m")
		if [ -z "$ref" ] || [ -z "$int" ]; then
			verdict="NO_RESULT ref_err: $(tail -n 2 "$out/c_ref_$m.err" | tr '\n' ' ' | cut -c 1-300) int_err: $(tail -n 2 "$out/c_int_$m.err" | tr '\n' ' ' | cut -c 1-300)"
		elif [ "$ref" = "$int" ]; then
			verdict=IDENTICAL
		else
			verdict=DIFFERENT
		fi
		label=train
		[ "$m" = graph ] && label=cuda_graph
		echo "RESULT c_$label cycles=$cycles/$CYCLES weights=$verdict sha256_uninterrupted=${ref:0:16} sha256_suspended=${int:0:16} steps_at_each_suspend(train/graph)=${at#,} no_step_while_suspended=$frozen median_wall_suspend_s=$med_s median_wall_resume_s=$med_r (both runs at once)"
	done
}

# ---- d. lending memory ----
total_mib() { # MiB of GPU 0
	if sim; then
		timeout 20 gpushare-smi --query-gpu=memory.total --format=csv,noheader,nounits | head -n 1
	else
		timeout 20 nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits | head -n 1
	fi
}
# An owner slice guaranteed all of the GPU but FREE_GIB; a borrower slice
# (-overcommit -borrow-memory on, guaranteed nothing) whose program holds
# LEND_GIB, more than is free, its pattern written. The owner's program then
# allocates its guarantee less a margin (not written: the allocation alone
# is timed, hold's alloc_s); the borrower must be suspended for it. Once the
# owner ends, the borrower is resumed without being asked and reads its
# data back.
sec_d() {
	echo "=== d. an owner's guaranteed allocation while a borrower holds its memory (LEND_GIB=$LEND_GIB, FREE_GIB=$FREE_GIB, VIA=$VIA)"
	if awk -v g="$LEND_GIB" -v h="$HOST_GIB" 'BEGIN { exit !(g > 0.85 * h) }'; then
		echo "RESULT d_memory_lending skipped: the borrower's checkpoint would not fit in the host's $HOST_GIB GiB"
		return
	fi
	if ! fits $((60 + 2 * LEND_GIB)); then
		echo "RESULT d_memory_lending skipped: time budget ($(elapsed) s of $BUDGET_S)"
		return
	fi
	local total free_mib own_mib margin_mib want_mib lend_mib o b lb lo pb po from t0 t1 t2 t3 alloc susp res data order
	total=$(total_mib) free_mib=$(mib_of "$FREE_GIB") lend_mib=$(mib_of "$LEND_GIB")
	margin_mib=$((free_mib < 2048 ? free_mib / 2 : 2048)) # the owner's context and the driver's own beside it
	own_mib=$((total - free_mib)) want_mib=$((total - free_mib - margin_mib))
	if [ -z "$total" ] || [ "$lend_mib" -le "$free_mib" ] || [ "$want_mib" -le 0 ]; then
		echo "RESULT d_memory_lending FAILED: sizes: GPU $total MiB, FREE_GIB=$FREE_GIB must be less than LEND_GIB=$LEND_GIB"
		return
	fi
	o=$(qt "create_slice 64 ${own_mib}M -name lend-owner")
	b=$(qt "create_slice 32 ${total}M -overcommit -borrow-memory on -priority low -name lend-borrower")
	if [ -z "$o" ] || [ -z "$b" ]; then
		echo "RESULT d_memory_lending FAILED: slices not made ($(qt list_slices 2>&1 | tail -n 3 | tr '\n' ' '))"
		[ -n "$o" ] && qt destroy_slice "$o" > /dev/null
		[ -n "$b" ] && qt destroy_slice "$b" > /dev/null
		return
	fi
	qt list_slices | grep -E "^SLICE|lend-" | sed 's/^/  /'
	launch d_borrower $((4 * SUSP_WAIT + 240)) gpushare run "${run_opts[@]}" --slice "$b" -- "$hold" "$mod" "$lend_mib"
	lb=$lpid
	if ! ready d_borrower "$lb" 180; then
		echo "RESULT d_memory_lending FAILED: the borrower did not get its $lend_mib MiB ($free_mib MiB free of guarantees): $(tail -n 2 "$out/d_borrower.err" | tr '\n' ' ' | cut -c 1-300)"
		stop d_borrower "" "$lb"
		qt destroy_slice "$o" > /dev/null
		qt destroy_slice "$b" > /dev/null
		return
	fi
	pb=$pid
	echo "  borrower: $(head -n 1 "$out/d_borrower.out"), $((lend_mib - free_mib)) MiB of it the owner's"
	from=$(log_lines)
	t0=$(now)
	launch d_owner $((2 * SUSP_WAIT + 240)) gpushare run "${run_opts[@]}" --slice "$o" -- "$hold" "$mod" "$want_mib" nofill
	lo=$lpid
	if ! ready d_owner "$lo" $((SUSP_WAIT + 60)); then
		echo "RESULT d_memory_lending FAILED: the owner's $want_mib MiB did not come: $(tail -n 2 "$out/d_owner.err" | tr '\n' ' ' | cut -c 1-300) borrower $(state "$pb") log: $(log_since "$from" "eclaim|Client $pb ")"
		stop d_owner "" "$lo"
		stop d_borrower "$pb" "$lb"
		qt destroy_slice "$o" > /dev/null
		qt destroy_slice "$b" > /dev/null
		return
	fi
	po=$pid
	t1=$(now)
	alloc=$(sed -n 's/^ready .*alloc_s=\([0-9.]*\).*/\1/p' "$out/d_owner.out" | head -n 1)
	susp=$(logdt "$from" "Reclaim for client $po .*suspending client $pb " "Client $pb suspended:")
	order=$(tail -n +"$((from + 1))" "$log" | grep -c "Reclaim for client $po .*suspending client")
	local during
	during=$(smi_used)
	echo "  owner: $(head -n 1 "$out/d_owner.out"); borrower $(state "$pb"), $(host_mib "$pb") MiB on the host; stderr: $(grep -m1 'borrow memory' "$out/d_owner.err" | cut -c 1-160)"
	from=$(log_lines)
	t2=$(now)
	stop d_owner "$po" "$lo"
	if wait_until $((SUSP_WAIT + 30)) is_state "$pb" running; then
		t3=$(now)
		res=$(dt "$t2" "$t3")
		data=$(verify d_borrower "$pb")
	else
		res="FAILED(state $(state "$pb"))" data=$(verify d_borrower "$pb")
	fi
	echo "RESULT d_memory_lending gpu_mib=$total owner_guarantee_mib=$own_mib owner_alloc_mib=$want_mib borrowed_mib=$((lend_mib - free_mib))" \
		"owner_alloc_s=${alloc:-?} owner_wall_s=$(dt "$t0" "$t1") borrower_suspend_s=$susp borrowers_suspended=$order" \
		"nvidia_smi_mib_both=$during auto_resume_after_owner_s=$res borrower_data=$data" \
		"log: $(log_since 0 "Resuming client $pb of borrowing" | sed -e 's/^\[[^]]*\] //' -e 's/MIG-\([0-9a-f]\{8\}\)[0-9a-f-]*/MIG-\1/g' | cut -c 1-200)"
	stop d_borrower "$pb" "$lb"
	qt destroy_slice "$o" > /dev/null
	qt destroy_slice "$b" > /dev/null
}

# ---- g. nothing lost ----
sec_g() {
	echo "=== g. a daemon kill -9 while a program is suspended; a suspended program killed"
	if ! fits 40; then
		echo "RESULT g_daemon_kill9 skipped: time budget"
		echo "RESULT g_sigkill_suspended skipped: time budget"
		return
	fi
	local mib p lp before during after from dp t0 t1 how data rss av1 av2 in_clients in_slices in_file
	mib=$(mib_of "$G_GIB")
	launch g1 $((2 * SUSP_WAIT + 120)) gpushare run "${run_opts[@]}" -- "$hold" "$mod" "$mib"
	lp=$lpid
	if ready g1 "$lp" 120; then
		p=$pid
		before=$(smi_used)
		from=$(log_lines)
		qt suspend "$p" > /dev/null
		if wait_until "$SUSP_WAIT" settled "$p" suspended "$from" && is_state "$p" suspended; then
			during=$(smi_used)
			dp=$(cat "$pidfile")
			kill -9 "$dp"
			wait_until 10 gone "$dp"
			rm -f "$pidfile"
			sleep 0.3
			t0=$(now)
			start_daemon "$dmode"
			how="the new daemon resumed it when it registered again"
			if ! wait_until 120 is_state "$p" running; then
				how="not resumed by the new daemon in 120 s (state $(state "$p")); then resume:"
				qt resume "$p" > /dev/null 2>&1
				wait_until 120 is_state "$p" running && how="$how resumed" || how="$how still $(state "$p")"
			fi
			t1=$(now)
			after=$(smi_used)
			data=$(verify g1 "$p")
			echo "RESULT g_daemon_kill9 gib=$G_GIB $how after_restart_s=$(dt "$t0" "$t1") nvidia_smi_mib before=$before suspended=$during after=$after data=$data log: $(log_since 0 "was suspended before|suspended program")"
		else
			echo "RESULT g_daemon_kill9 FAILED: not suspended (state $(state "$p")): $(log_since "$from" "Client $p ")"
		fi
		stop g1 "$p" "$lp"
	else
		echo "RESULT g_daemon_kill9 FAILED: did not start"
		stop g1 "" "$lp"
	fi

	launch g2 $((2 * SUSP_WAIT + 120)) gpushare run "${run_opts[@]}" -- "$hold" "$mod" "$mib"
	lp=$lpid
	if ! ready g2 "$lp" 120; then
		echo "RESULT g_sigkill_suspended FAILED: did not start"
		stop g2 "" "$lp"
		return
	fi
	p=$pid
	before=$(smi_used)
	from=$(log_lines)
	qt suspend "$p" > /dev/null
	if ! wait_until "$SUSP_WAIT" settled "$p" suspended "$from" || ! is_state "$p" suspended; then
		echo "RESULT g_sigkill_suspended FAILED: not suspended (state $(state "$p"))"
		stop g2 "$p" "$lp"
		return
	fi
	sleep 1
	during=$(smi_used) rss=$(rss_mib "$p") av1=$(avail_mib)
	{
		kill -9 "$p"
		wait_until 30 gone "$lp"
		wait "$lp"
	} 2> /dev/null # no "Killed" notice: that is the point
	sleep 2
	after=$(smi_used) av2=$(avail_mib)
	in_clients=$(state "$p")
	in_slices=$(echo "list_slices --json" | timeout 20 gpushare-control 2> /dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
print("listed" if any(x["pid"] == int(sys.argv[1]) for s in d["slices"] for x in s.get("processes") or []) else "gone")' "$p")
	in_file=clean
	grep -q "^$p " "$GPUSHARE_STATE_DIR/suspended" 2> /dev/null && in_file=listed
	echo "RESULT g_sigkill_suspended gib=$G_GIB list_clients=$in_clients list_slices=$in_slices suspended_file=$in_file nvidia_smi_mib before=$before suspended=$during after_kill=$after host_rss_mib_suspended=$rss host_available_mib suspended=$av1 after_kill=$av2"
}

# ---- e. memory turns ----
ended() { [ -n "$(sed -n 's/^done iters=//p' "$out/$1.out")" ] || gone "$2"; }
done_field() { sed -n "s/^done .*$2=\([0-9.]*\).*/\1/p" "$out/$1.out" | head -n 1; }
verdict_of() { sed -n 's/^done .* verify \([A-Z]*\).*/\1/p' "$out/$1.out" | head -n 1; }
sec_e() {
	echo "=== e. memory turns: two jobs of $MT_GIB GiB each in two -mem-turn $TURN_S slices, against one after the other"
	if awk -v g="$MT_GIB" -v h="$HOST_GIB" 'BEGIN { exit !(2 * g > 0.8 * h) }'; then
		echo "RESULT e_memturn skipped: at a switch both jobs' memory is on the host: 2 x $MT_GIB GiB does not fit in $HOST_GIB GiB"
		return
	fi
	local est=$((3 * JOB_S + 4 * TURN_S + 30))
	if ! fits "$est"; then
		echo "RESULT e_memturn skipped: time budget (needs about $est s, $(elapsed) of $BUDGET_S gone)"
		return
	fi
	local mib sg x y t0 ta tb iters la lb pa='' t_a t_b from e_a e_b peak turns
	mib=$(mib_of "$MT_GIB")
	sg=$(awk -v g="$MT_GIB" 'BEGIN { printf "%d", g + 4 }')
	x=$(qt "create_slice 64 ${sg}G -overcommit -mem-turn $TURN_S -name turn-a")
	y=$(qt "create_slice 64 ${sg}G -overcommit -mem-turn $TURN_S -name turn-b")
	if [ -z "$x" ] || [ -z "$y" ]; then
		echo "RESULT e_memturn FAILED: slices not made"
		[ -n "$x" ] && qt destroy_slice "$x" > /dev/null
		[ -n "$y" ] && qt destroy_slice "$y" > /dev/null
		return
	fi
	qt list_slices | grep -E "^SLICE|turn-" | sed 's/^/  /'
	# one after the other: A for JOB_S seconds (its launches counted), then B for as many
	t0=$(now)
	timeout -k 5 $((JOB_S + 120)) gpushare run "${run_opts[@]}" --slice "$x" -- "$hold" "$mod" "$mib" "secs:$JOB_S" > "$out/e_alone_a.out" 2> "$out/e_alone_a.err"
	ta=$(dt "$t0" "$(now)")
	iters=$(done_field e_alone_a iters)
	if [ -z "$iters" ]; then
		echo "RESULT e_memturn FAILED: job A alone: $(tail -n 3 "$out/e_alone_a.out" "$out/e_alone_a.err" | tr '\n' ' ' | cut -c 1-400)"
		qt destroy_slice "$x" > /dev/null
		qt destroy_slice "$y" > /dev/null
		return
	fi
	t0=$(now)
	timeout -k 5 $((4 * JOB_S + 120)) gpushare run "${run_opts[@]}" --slice "$y" -- "$hold" "$mod" "$mib" "iters:$iters" > "$out/e_alone_b.out" 2> "$out/e_alone_b.err"
	tb=$(dt "$t0" "$(now)")
	echo "  alone: A $(grep '^done' "$out/e_alone_a.out"); B $(grep '^done' "$out/e_alone_b.out")"
	# with turns: A first (it holds the turn), B a second later
	from=$(log_lines)
	(while :; do smi_used; sleep 0.5; done) > "$out/e_smi.txt" 2> /dev/null &
	sampler=$!
	t0=$(now)
	launch e_turn_a $((6 * JOB_S + 12 * TURN_S + 240)) gpushare run "${run_opts[@]}" --slice "$x" -- "$hold" "$mod" "$mib" "iters:$iters"
	la=$lpid
	ready e_turn_a "$la" 120 && pa=$pid
	sleep 1
	launch e_turn_b $((6 * JOB_S + 12 * TURN_S + 240)) gpushare run "${run_opts[@]}" --slice "$y" -- "$hold" "$mod" "$mib" "iters:$iters"
	lb=$lpid
	t_a='' t_b=''
	local limit=$(($(date +%s) + 6 * JOB_S + 12 * TURN_S + 200))
	while [ -z "$t_a" ] || [ -z "$t_b" ]; do
		[ -z "$t_a" ] && ended e_turn_a "$la" && t_a=$(dt "$t0" "$(now)")
		[ -z "$t_b" ] && ended e_turn_b "$lb" && t_b=$(dt "$t0" "$(now)")
		[ "$(date +%s)" -ge "$limit" ] && break
		sleep 0.2
	done
	kill "$sampler" 2> /dev/null
	wait "$sampler" 2> /dev/null
	sampler=
	# B's own total counts from its start, a second after A's
	e_a=$(done_field e_turn_a total_s) e_b=$(done_field e_turn_b total_s)
	peak=$(sort -n "$out/e_smi.txt" | tail -n 1)
	turns=$(tail -n +"$((from + 1))" "$log" | grep -c "holds the memory turn")
	echo "  with turns: A $(grep '^done' "$out/e_turn_a.out"); B $(grep '^done' "$out/e_turn_b.out")"
	echo "  control.log: $(tail -n +"$((from + 1))" "$log" | grep -E "memory turn|waits for" | sed -e 's/^\[[^]]*\] //' -e 's/GPU GPU-[0-9a-f-]*: //' -e 's/MIG-\([0-9a-f]\{8\}\)[0-9a-f-]*/MIG-\1/g' | head -n 6 | tr '\n' ';')"
	echo "RESULT e_memturn gib_each=$MT_GIB turn_s=$TURN_S launches=$iters alone_s a=$ta b=$tb serial=$(awk -v a="$ta" -v b="$tb" 'BEGIN { printf "%.2f", a + b }')" \
		"with_turns_s a=${t_a:-?} b=${t_b:-?} own_s a=${e_a:-?} b=${e_b:-?} makespan_vs_serial=$(awk -v a="${t_a:-0}" -v b="${t_b:-0}" -v x="$ta" -v y="$tb" 'BEGIN { m = a > b ? a : b; if (x + y > 0 && m > 0) printf "%.2f", m / (x + y); else printf "?" }')" \
		"turns_taken=$turns nvidia_smi_peak_mib=${peak:-?} data a=$(verdict_of e_turn_a) b=$(verdict_of e_turn_b)"
	[ -n "$t_a" ] && [ -n "$t_b" ] || echo "  not finished in time: A $(state "${pa:-0}"), B: $(tail -n 2 "$out/e_turn_b.out" | tr '\n' ' ')"
	stop e_turn_a "" "$la"
	stop e_turn_b "" "$lb"
	qt destroy_slice "$x" > /dev/null
	qt destroy_slice "$y" > /dev/null
}

# ---- f. under NVIDIA MPS ----
sec_f() {
	echo "=== f. suspend of a client of the NVIDIA MPS gpushare-control supervises"
	if sim; then
		echo "RESULT f_mps_client skipped: the simulated GPU has no NVIDIA MPS"
		return
	fi
	local p lp from ans
	stop_daemon
	start_daemon mps
	launch f1 300 gpushare run -- "$hold" "$mod" 1024
	lp=$lpid
	if ! ready f1 "$lp" 120; then
		echo "RESULT f_mps_client FAILED: did not start"
		stop f1 "" "$lp"
		return
	fi
	p=$pid
	echo "  NVIDIA MPS: $(pgrep -c -f nvidia-cuda-mps-server || true) server(s); compute apps: $(timeout 20 nvidia-smi --query-compute-apps=pid,process_name --format=csv,noheader | tr '\n' ' ')"
	from=$(log_lines)
	ans=$(qt suspend "$p" 2>&1)
	wait_until 60 settled "$p" suspended "$from"
	sleep 0.5
	echo "RESULT f_mps_client answer=\"$ans\" state_after=$(state "$p") refusal: $(log_since "$from" "Client $p not suspended") data=$(verify f1 "$p")"
	stop f1 "$p" "$lp"
	stop_daemon
}

for sec in $SECTIONS; do
	case $sec in
	[a-g]) "sec_$sec" ;;
	*) echo "SECTIONS: no section $sec (a to g)"; exit 2 ;;
	esac
done
echo "=== done in $(elapsed) s"
