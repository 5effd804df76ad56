#!/usr/bin/env bash
# migrate.sh: gpushare-control's `migrate <pid> <gpu> -slice <slice>` on a
# machine with two GPUs of one chip: a program's memory checkpointed on GPU 0,
# restored on GPU 1 (CUcheckpointRestoreArgs.gpuPairs) and back, timed, its
# data read back after each move. Run from the repository's root, as root:
#   bash bench/device/build.sh && bash bench/device/migrate.sh
# and on two simulated GPUs (small sizes, no nvidia-smi or PyTorch), to check
# the script itself after `make -j2`:
#   SIM=1 bash bench/device/migrate.sh
# Prints a header, then one "RESULT <name> gib=<G> ..." line per program and
# size: each way's seconds and seconds per GiB as gpushare-control answers
# them, the wall time of the command, nvidia-smi's memory used on each GPU
# before and after, where the program says its device 0 is, and its data
# (OK, CORRUPT(bad=N), GONE, NONE). The daemon runs with GPUSHARE_NO_MPS=1
# and GPUSHARE_CONTROL_SM_MASKS=off: the checkpoint API refuses clients of
# NVIDIA MPS and programs held by TPC masks.
#   a. a driver-API program (hold) holding 1, 8, 32 GiB (SIZES)
#   b. PyTorch holding the same (suspend_hold.py; skipped without PyTorch)
# A slice of SLICE_SMS SMs and SLICE_GIB GiB on each GPU, at the same SMs
# (a program's green contexts keep their SMs across a migrate). Settings:
# SIZES, SLICE_SMS, SLICE_GIB, BUDGET_S, MIGRATE_OUT (a directory to keep the
# programs' output and the daemon's logs in).
set -u
cd "$(dirname "$0")/../.." || exit 1
SIM=${SIM:-0}
T0=$(date +%s)
sim() { [ "$SIM" = 1 ]; }
if sim; then
	SIZES=${SIZES:-0.25 1} SLICE_GIB=${SLICE_GIB:-4} BUDGET_S=${BUDGET_S:-200}
	export GS_BENCH_TMP=${GS_BENCH_TMP:-$(mktemp -d)}
	export GPUSHARE_SIMULATE=${GPUSHARE_SIMULATE:-h200-sxm-141gb,h200-sxm-141gb} GPUSHARE_SIM_DIR=$GS_BENCH_TMP/sim
	mkdir -p "$GPUSHARE_SIM_DIR" && chmod 1777 "$GPUSHARE_SIM_DIR"
	export LD_LIBRARY_PATH=$PWD/build/lib/gpushare-sim${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
else
	SIZES=${SIZES:-1 8 32} SLICE_GIB=${SLICE_GIB:-40} BUDGET_S=${BUDGET_S:-900}
fi
SLICE_SMS=${SLICE_SMS:-64}
export GPUSHARE_CONTROL_TIMEOUT=0 # a migrate is answered when it is done

# shellcheck source=bench/device/control-env.sh
. bench/device/control-env.sh
src=$PWD/bench/device
out=${MIGRATE_OUT:-$(mktemp -d)}
mkdir -p "$out"
# shellcheck source=bench/device/hold-env.sh
. bench/device/hold-env.sh

progs=()
cleanup() {
	local p
	for p in "${progs[@]}"; do kill -9 "$p" 2> /dev/null; done
	echo quit | timeout 30 gpushare-control > /dev/null 2>&1
	cp "$GPUSHARE_LOG_DIRECTORY"/*.log "$out/" 2> /dev/null
	echo "# programs' output and the daemon's logs: $out"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP
now() { date +%s.%N; }
dt() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
fits() { [ $(($(date +%s) - T0 + $1)) -le "$BUDGET_S" ]; }
wait_until() { # wait_until SECONDS CMD...
	local end=$(($(date +%s%N) + $1 * 1000000000))
	shift
	until "$@"; do
		[ "$(date +%s%N)" -ge "$end" ] && return 1
		sleep 0.1
	done
}
smi_used() { # MiB used on GPU $1
	if sim; then
		timeout 20 gpushare-smi --query-gpu=memory.used --format=csv,noheader,nounits | sed -n "$(($1 + 1))p"
	else
		timeout 20 nvidia-smi -i "$1" --query-gpu=memory.used --format=csv,noheader,nounits
	fi
}
verify_more() { [ "$(grep -c '^verify ' "$1")" -gt "$2" ]; }
verify() { # verify FILE PID: its data read back (SIGUSR1)
	local n
	n=$(grep -c '^verify ' "$1")
	kill -USR1 "$2" 2> /dev/null || { echo GONE; return; }
	if wait_until 300 verify_more "$1" "$n"; then
		grep '^verify ' "$1" | tail -n 1 | awk '{ print $2 "(" $3 ")" }'
	else
		echo NONE
	fi
}
gpu_of() { # the GPU index list_clients gives PID
	echo "list_clients --json" | timeout 20 gpushare-control 2> /dev/null | python3 -c '
import json, sys
c = [x for x in json.load(sys.stdin)["clients"] if x["pid"] == int(sys.argv[1])]
print(c[0]["gpu"] if c else "gone")' "$1"
}
# move NAME PID GIB TO SLICE: one migrate, its RESULT fields
move() {
	local name=$1 pid=$2 gib=$3 to=$4 slice=$5 t0 t1 ans u0 u1
	u0="$(smi_used 0)/$(smi_used 1)"
	t0=$(now)
	ans=$(echo "migrate $pid $to -slice $slice" | gpushare-control 2>&1 | tail -n 1)
	t1=$(now)
	u1="$(smi_used 0)/$(smi_used 1)"
	echo "  $ans"
	local out_s in_s
	out_s=$(sed -n 's/.*checkpoint \([0-9.]*\) s.*/\1/p' <<< "$ans")
	in_s=$(sed -n 's/.*restore \([0-9.]*\) s.*/\1/p' <<< "$ans")
	if [[ "$ans" != Migrated* ]]; then
		echo "to_gpu$to=FAILED answer=\"$ans\""
		return 1
	fi
	echo "to_gpu$to: checkpoint_s=$out_s ($(sed -n 's/.* \([0-9.]*\) s\/GiB out.*/\1/p' <<< "$ans") s/GiB) restore_s=$in_s ($(sed -n 's/.* \([0-9.]*\) s\/GiB in.*/\1/p' <<< "$ans") s/GiB) wall_s=$(dt "$t0" "$t1") used_mib_gpu0/1 before=$u0 after=$u1 listed_on=$(gpu_of "$pid") data=$(verify "$out/$name.out" "$pid")"
}

echo "# migrate.sh $(date -u +%FT%TZ) SIM=$SIM sizes=$SIZES"
if ! sim; then
	nvidia-smi --query-gpu=index,name,uuid,memory.total,driver_version --format=csv,noheader
fi
GPUSHARE_NO_MPS=1 GPUSHARE_CONTROL_SM_MASKS=off timeout 60 gpushare-control -d
s0=$(q create_slice "$SLICE_SMS" "${SLICE_GIB}G" -gpu 0) s1=$(q create_slice "$SLICE_SMS" "${SLICE_GIB}G" -gpu 1)
echo "# slices: GPU 0 $s0, GPU 1 $s1"
q list_slices
python3 -c 'import torch' 2> /dev/null && have_torch=1 || have_torch=0

# run NAME GIB CMD...: started in slice 0, moved to GPU 1 and back
run() {
	local name=$1 gib=$2 r1 r2
	shift 2
	if ! fits "$(awk -v g="$gib" 'BEGIN { printf "%d", 30 + 4 * g }')"; then
		echo "RESULT $name gib=$gib skipped: time budget"
		return
	fi
	: > "$out/$name$gib.out"
	gpushare run --no-mps --slice "$s0" -- "$@" > "$out/$name$gib.out" 2> "$out/$name$gib.err" &
	local lpid=$! pid
	if ! wait_until 300 grep -q '^ready pid=' "$out/$name$gib.out"; then
		echo "RESULT $name gib=$gib FAILED: did not start: $(tail -n 3 "$out/$name$gib.err" | tr '\n' ' ')"
		kill -9 "$lpid" 2> /dev/null
		return
	fi
	pid=$(sed -n 's/^ready pid=\([0-9]*\).*/\1/p' "$out/$name$gib.out" | head -n 1)
	progs+=("$pid")
	echo "  $(head -n 1 "$out/$name$gib.out")"
	r1=$(move "$name$gib" "$pid" "$gib" 1 "$s1" | tail -n 1)
	r2=$(move "$name$gib" "$pid" "$gib" 0 "$s0" | tail -n 1)
	echo "RESULT $name gib=$gib $r1 $r2"
	kill -TERM "$pid" 2> /dev/null
	wait_until 30 bash -c "! kill -0 $pid 2> /dev/null" || kill -9 "$pid" 2> /dev/null
}

echo "=== a. a driver-API program (hold)"
for gib in $SIZES; do
	run a_driver_api "$gib" "$hold" "$mod" "$(awk -v g="$gib" 'BEGIN { printf "%d", g * 1024 }')"
done
echo "=== b. PyTorch"
if sim || [ "$have_torch" = 0 ]; then
	echo "RESULT b_pytorch skipped: no PyTorch on a real GPU here"
else
	for gib in $SIZES; do
		gib=${gib%.*}
		[ "$gib" -ge 1 ] || continue
		run b_pytorch "$gib" python3 "$src/suspend_hold.py" torch "$gib"
	done
fi
