#!/usr/bin/env bash
# run.sh [OUT]: the seed's Figure 1 workload under each way of sharing a GPU,
# each run traced (gpushare run --trace) and drawn (gpushare timeline, by SM
# and by slice) into OUT (default build/seed-workload): MODE.json,
# MODE-sm.svg, MODE-slice.svg. Three apps A, B and C (a fourth, D, where a
# mode needs two pairs), each two streams of long and short kernels
# (seed_app.cu; `cuda-app seed` on the simulated GPU), all started together.
# Modes (MODES picks, in this order):
#   timeslice   the seed's Figure 3: the apps take turns on the whole GPU. On
#               NVIDIA's driver three plain processes without MPS (the driver
#               time-slices them); on the simulated GPU, whose kernels run
#               side by side like MPS, a slice of the whole GPU with
#               -timeslice (gpushare's turns)
#   turns       (NVIDIA's driver only) the same slice of -timeslice turns
#   mps         Figures 5 and 7: one slice of the whole GPU, at once (MPS)
#   mig         Figure 10: a slice per app (soft MIG), side by side
#   mig-shared  Figure 11: two slices, A and B at once in one, C and D
#               taking -timeslice turns in the other
# SIM=1: on the simulated A100 (build/ only); else on the GPU machine, after
# bench/device/build.sh or `make`, with nvcc on PATH: builds
# build/bench/seed_app, gpushare-control supervising NVIDIA MPS.
# MS (each app's time, default 400), LONG_US and SHORT_US (20000, 10000),
# BLOCKS (each kernel's, 12), TURN_MS (-timeslice, 1000: longer than an app runs, so that each runs its
# whole time in one turn; with shorter turns a holder's kernels still queued
# when its turn ends run on beside the next holder's, gpushare's turns gating
# launches, not kernels: with 20 ms turns two apps' kernels ran at once 89% of
# the time on the simulated GPU).
set -u
cd "$(dirname "$0")/../.."
repo=$PWD
out=${1:-$repo/build/seed-workload}
ms=${MS:-400} long=${LONG_US:-20000} short=${SHORT_US:-10000} blocks=${BLOCKS:-12} turn=${TURN_MS:-1000}
mkdir -p "$out"
out=$(cd "$out" && pwd)
bin=$(mktemp -d)
if [ "${SIM:-0}" = 1 ]; then
	modes=${MODES:-timeslice mps mig mig-shared}
	sim=$(mktemp -d)
	chmod 755 "$sim"
	export GPUSHARE_PIPE_DIRECTORY=$sim/pipe GPUSHARE_LOG_DIRECTORY=$sim/log GPUSHARE_STATE_DIR=$sim/state
	export GPUSHARE_SIM_DIR=$sim/sim GPUSHARE_SIMULATE=a100-sxm4-40gb PATH=$repo/build/bin:$PATH
	mkdir -p "$sim/sim"
	trap 'echo quit | gpushare-control > /dev/null 2>&1; rm -rf "$sim" "$bin"' EXIT
	prog=$repo/build/tests/cuda-app args="seed $ms $long $short $blocks" all=108
else
	modes=${MODES:-timeslice turns mps mig mig-shared}
	. bench/device/control-env.sh
	trap 'echo quit | gpushare-control > /dev/null 2>&1; CUDA_MPS_PIPE_DIRECTORY=$nv nvidia-cuda-mps-control <<< quit > /dev/null 2>&1; rm -rf "$bin"' EXIT
	mkdir -p build/bench
	[ build/bench/seed_app -nt bench/seed-workload/seed_app.cu ] ||
		nvcc -O2 -arch=sm_90 -std=c++17 -o build/bench/seed_app bench/seed-workload/seed_app.cu || exit 1
	prog=$repo/build/bench/seed_app args="$ms $long $short $blocks" all=$(build/bench/seed_app sms)
fi
# the apps by name: the trace's program is the executable's name (comm)
for x in A B C D; do ln -s "$prog" "$bin/$x"; done
q() { echo "$*" | gpushare-control; }
# job TRACE [--no-mps] -- SLICE:APP...: the apps at once, each in its slice
# (- for none), as one traced job; then its two figures
job() {
	local name=$1 opt=() cmd="" x
	shift
	[ "$1" = --no-mps ] && opt=(--no-mps) && shift
	shift # --
	for x in "$@"; do
		if [ "${x%%:*}" = - ]; then
			cmd+="$bin/${x#*:} $args > /dev/null & "
		else
			cmd+="gpushare run --slice ${x%%:*} -- $bin/${x#*:} $args > /dev/null & "
		fi
	done
	rm -rf "$out/$name.json" "$out/$name.json.d"
	gpushare run "${opt[@]}" --trace "$out/$name.json" -- sh -c "${cmd}wait" || return 1
	gpushare timeline "$out/$name.json" -o "$out/$name-sm.svg" &&
		gpushare timeline "$out/$name.json" --by slice -o "$out/$name-slice.svg"
}
daemon_up() {
	[ -n "${daemon:-}" ] && return 0
	gpushare-smi -i 0 -mig 1 > /dev/null
	gpushare-control -d || exit 1
	daemon=1
}
slice() { # slice NAME SMS MEMORY [OPTIONS]: made, gone when the mode ends
	q create_slice "$2" "$3" -name "$1" "${@:4}" > /dev/null && made+=("$1")
}
rc=0
for mode in $modes; do
	echo "== $mode"
	made=()
	case $mode in
	timeslice)
		if [ "${SIM:-0}" = 1 ]; then
			daemon_up
			slice whole "$all" 30G -timeslice "$turn"
			job timeslice -- whole:A whole:B whole:C
		else
			# before gpushare-control starts NVIDIA MPS: plain processes
			job timeslice --no-mps -- -:A -:B -:C
		fi ;;
	turns)
		daemon_up
		slice whole "$all" 30G -timeslice "$turn"
		job turns -- whole:A whole:B whole:C ;;
	mps)
		daemon_up
		slice whole "$all" 30G
		job mps -- whole:A whole:B whole:C ;;
	mig)
		daemon_up
		for x in A B C; do slice "own-$x" $((2 * blocks)) 8G; done
		job mig -- own-A:A own-B:B own-C:C ;;
	mig-shared)
		daemon_up
		slice mps-AB $((4 * blocks)) 15G
		slice turns-CD $((4 * blocks)) 15G -timeslice "$turn"
		job mig-shared -- mps-AB:A mps-AB:B turns-CD:C turns-CD:D ;;
	*)
		echo "run.sh: no mode $mode (timeslice turns mps mig mig-shared)" >&2
		rc=1 ;;
	esac || rc=1
	for x in "${made[@]}"; do q destroy_slice "$x" > /dev/null; done
done
ls "$out"
exit $rc
