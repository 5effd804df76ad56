#!/usr/bin/env bash
# checkpoint-confine.sh: on the GPU machine, which of gpushare's ways of
# holding a program to its SMs the driver's checkpoint API takes: a
# driver-API program (hold, 1 GiB) outside every slice, in a 32-SM slice
# held by TPC masks (the launch-descriptor callback), in the same slice by
# a green context (it asks for fewer SMs: CUDA_DEVICE_SM_LIMIT=16), and
# under GPUSHARE_CONTROL_SM_MASKS=off (every slice by green contexts);
# gpushare-control without NVIDIA MPS (GPUSHARE_NO_MPS=1) suspends and
# resumes each, then the program reads its memory back.
. bench/device/control-env.sh
export GPUSHARE_NO_MPS=1
gpushare-smi -i 0 -mig 1 > /dev/null
t=$(mktemp -d)
try() { # try NAME CMD...: hold started by CMD, suspended, resumed, checked
	local name=$1 pid=
	shift
	"$@" $d/hold $d/hold_kernel.ptx 1024 > "$t/$name.out" 2> "$t/$name.err" &
	for _ in $(seq 100); do
		pid=$(sed -n 's/^ready pid=\([0-9]*\).*/\1/p' "$t/$name.out")
		[ -n "$pid" ] && break
		sleep 0.2
	done
	[ -z "$pid" ] && { echo "$name: no ready line: $(tail -n 3 "$t/$name.err")"; return; }
	echo "$name: suspend: $(echo "suspend $pid" | timeout 10 gpushare-control | tr '\n' ' ')"
	sleep 4 # the checkpoint of 1 GiB: about a second
	echo "$name: $(grep "lient $pid" "$GPUSHARE_LOG_DIRECTORY/control.log" | grep -iE 'suspended|not suspended|refuse|moves' | tail -n 2 | tr '\n' ' ')"
	echo "$name: clients: $(echo list_clients | timeout 10 gpushare-control | grep -w "$pid" | tr -s ' ')"
	echo "$name: resume: $(echo "resume $pid" | timeout 10 gpushare-control | tr '\n' ' ')"
	sleep 3
	kill -USR1 "$pid"; sleep 1; echo "$name: $(grep -m1 verify "$t/$name.out")"
	kill -9 "$pid" 2> /dev/null; sleep 0.5
	grep -iE 'green|TPC|checkpoint' "$t/$name.err" | head -3 | sed "s/^/$name: /"
}
gpushare-control -d; echo "gpushare-control -d: exit $?"
s=$(q "create_slice 32 10G")
try plain gpushare run --no-mps --
try masks env GPUSHARE_LOG=stderr gpushare run --no-mps --slice "$s" --
try green env GPUSHARE_LOG=stderr CUDA_DEVICE_SM_LIMIT=16 gpushare run --no-mps --slice "$s" --
grep -iE 'suspend|checkpoint|801' "$GPUSHARE_LOG_DIRECTORY/control.log" | tail -8
echo quit | gpushare-control; sleep 1
GPUSHARE_CONTROL_SM_MASKS=off gpushare-control -d; echo "GPUSHARE_CONTROL_SM_MASKS=off gpushare-control -d: exit $?"
s=$(q "create_slice 32 10G")
try masks_off env GPUSHARE_LOG=stderr gpushare run --no-mps --slice "$s" --
grep -iE 'confined|masks' "$GPUSHARE_LOG_DIRECTORY/control.log" | head -3
