#!/usr/bin/env bash
# run.sh [OUT]: the seed's Figure 1 workload under each way of sharing a GPU,
# each run traced (gpushare run --trace) and drawn (gpushare timeline, by SM
# and by slice) into OUT (default build/seed-workload): MODE.json,
# MODE-sm.svg, MODE-slice.svg (and MODE-sm.png, MODE-slice.png where
# chromium is: scripts/svg-png.sh), and MODE-slices.json (list_slices --json
# while its slices were there). Three apps A, B and C (a fourth, D, where a
# mode needs two pairs), each two streams of long and short kernels
# (seed_app.cu; `cuda-app seed` on the simulated GPU), all started together.
# Modes (MODES picks, in this order):
#   timeslice   Figure 3: three plain processes, no MPS: NVIDIA's driver
#               time-slices them (on the simulated GPU, GPUSHARE_SIM_TIMESLICE=1
#               plays that: no two processes' kernels at once, each to its end)
#   turns       the same through gpushare: a slice of the whole GPU with
#               -timeslice TURN_MS, under MPS
#   mps         Figures 5 and 7: one slice of the whole GPU, at once (MPS)
#   mig         Figure 10: a slice per app (soft MIG), side by side
#   mig-shared  Figure 11: two slices, A and B at once in one (MPS), C and D
#               time-sliced in the other (on NVIDIA's driver -timeslice
#               turns; on the simulated GPU as in timeslice)
# SIM=1: on the simulated A100 (build/ only); else on the GPU machine, after
# bench/device/build.sh or `make`, with nvcc on PATH: builds
# build/bench/seed_app, gpushare-control supervising NVIDIA MPS.
# MS (each app's time, default 400), LONG_US and SHORT_US (20000, 10000),
# BLOCKS (each kernel's, 12), TURN_MS (-timeslice, 20). gpushare's turns gate
# launches, not kernels: kernels a program queued before its turn ended still
# run beside the next holder's (with these kernels, most of the time).
set -u
here=$PWD
cd "$(dirname "$0")/../.."
repo=$PWD
out=${1:-$repo/build/seed-workload}
[ "${out#/}" = "$out" ] && out=$here/$out # relative to where it was run
ms=${MS:-400} long=${LONG_US:-20000} short=${SHORT_US:-10000} blocks=${BLOCKS:-12} turn=${TURN_MS:-20}
mkdir -p "$out"
out=$(cd "$out" && pwd)
bin=$(mktemp -d)
if [ "${SIM:-0}" = 1 ]; then
	modes=${MODES:-timeslice turns mps mig mig-shared}
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
# job TRACE [--no-mps] -- SLICE:APP[:alone]...: the apps at once, each in
# its slice (- for none), as one traced job; then its two figures. alone: on
# the simulated GPU, the app is no MPS client (GPUSHARE_SIM_TIMESLICE=1)
job() {
	local name=$1 opt=() cmd="" x env app
	shift
	[ "$1" = --no-mps ] && opt=(--no-mps) && shift
	shift # --
	for x in "$@"; do
		app=${x#*:} env=""
		[ "${app#*:}" = alone ] && [ "${SIM:-0}" = 1 ] && env="GPUSHARE_SIM_TIMESLICE=1 "
		app=${app%%:*}
		if [ "${x%%:*}" = - ]; then
			cmd+="$env$bin/$app $args > /dev/null & "
		else
			cmd+="${env}gpushare run --slice ${x%%:*} -- $bin/$app $args > /dev/null & "
		fi
	done
	rm -rf "$out/$name.json" "$out/$name.json.d"
	gpushare run "${opt[@]}" --trace "$out/$name.json" -- sh -c "${cmd}wait" || return 1
	gpushare timeline "$out/$name.json" -o "$out/$name-sm.svg" &&
		gpushare timeline "$out/$name.json" --by slice -o "$out/$name-slice.svg" || return 1
	# and as a browser draws them, where there is Chromium
	if command -v chromium > /dev/null; then
		scripts/svg-png.sh "$out/$name-sm.svg" "$out/$name-sm.png" &&
			scripts/svg-png.sh "$out/$name-slice.svg" "$out/$name-slice.png"
	fi
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
		# on NVIDIA's driver before gpushare-control starts NVIDIA MPS
		job timeslice --no-mps -- -:A:alone -:B:alone -:C:alone ;;
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
		# -isolated: MIG lends no SMs (gpushare's slices do by default)
		for x in A B C; do slice "own-$x" $((2 * blocks)) 8G -isolated; done
		job mig -- own-A:A own-B:B own-C:C ;;
	mig-shared)
		daemon_up
		slice mps-AB $((4 * blocks)) 15G -isolated
		if [ "${SIM:-0}" = 1 ]; then
			slice turns-CD $((4 * blocks)) 15G -isolated
		else
			slice turns-CD $((4 * blocks)) 15G -isolated -timeslice "$turn"
		fi
		job mig-shared -- mps-AB:A mps-AB:B turns-CD:C:alone turns-CD:D:alone ;;
	*)
		echo "run.sh: no mode $mode (timeslice turns mps mig mig-shared)" >&2
		rc=1 ;;
	esac || rc=1
	# the slices as they were (their SMs), for the test to hold the trace against
	[ ${#made[@]} -gt 0 ] && q list_slices --json > "$out/$mode-slices.json"
	for x in "${made[@]}"; do q destroy_slice "$x" > /dev/null; done
done
ls "$out"
exit $rc
