#!/usr/bin/env bash
# test-migrate.sh BUILD: migrate <pid> <gpu> [-slice <slice>] on two
# simulated GPUs, whose driver restores a checkpoint onto another GPU
# (CUcheckpointRestoreArgs.gpuPairs), with real non-root users:
# - a program with known data in device memory moved from GPU 0 to GPU 1
#   reads it back intact, its device 0 now GPU 1; its memory is in the
#   target slice's ledger and gone from the source's, GPU 1's used memory
#   rose and GPU 0's fell; list_clients and list_slices show it there; the
#   answer says the time per GiB; and it moves back;
# - without -slice, a program alone in its job slice moves with the slice,
#   made again at the same SMs;
# - refusals (same GPU, unknown pid or GPU, a suspended program, another
#   user's program, a slice its user may not use, one without room, an
#   NVIDIA MPS client, contexts on two GPUs) say why and change nothing;
# - a daemon killed with -9 while the checkpoint runs: the next one waits
#   for its helper, then resumes the program where it was; killed while the
#   restore runs: the next one finishes the move, the program on GPU 1 with
#   its data; the ledgers right each time; a program killed while migrating
#   frees all;
# - a program with a slice on each GPU is refused, saying why;
# - with TPC masks, whose programs the driver refuses to checkpoint (the
#   simulated one as the real one), migrate is refused, its answer and
#   control.log saying why and naming GPUSHARE_CONTROL_SM_MASKS=off, and the
#   program runs on where it was.
# Until that last part the daemon confines by green contexts
# (GPUSHARE_CONTROL_SM_MASKS=off), which the checkpoint API takes.
set -u
build=$(cd "$1" && pwd)
. "$(dirname "$0")/lib.sh"
sim_daemon_test
export GPUSHARE_SIMULATE=a100-sxm4-40gb,a100-sxm4-40gb
export GPUSHARE_CONTROL_SM_MASKS=off
# bg NAME USER SLICE ARGS...: cuda-app ARGS in SLICE as USER, $NAME its pid
bg() {
	local name=$1 user=$2 slice=$3
	shift 3
	rm -f "$work/$name.out"
	LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" GPUSHARE_SLICE="$slice" \
		setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups -- "$app" "$@" > "$work/$name.out" 2> "$work/$name.err" &
	pids+=($!)
	eval "$name=$!"
}
client() { # client PID FIELD: a field of its list_clients --json entry
	q list_clients --json | "$py" -c "
import json, sys
c = [x for x in json.load(sys.stdin)['clients'] if x['pid'] == $1]
print(c[0]['$2'] if c else 'gone')"
}
used() { # used SLICE: MiB its ledger holds
	q list_slices --json | "$py" -c "
import json, sys
s = [x for x in json.load(sys.stdin)['slices'] if x['slice'] == '$1']
print(s[0]['used_bytes'] >> 20 if s else 'gone')"
}
gpu_used() { gpushare-smi --query-gpu=memory.used --format=csv,noheader,nounits | sed -n "$(($1 + 1))p"; }
uuid_of() { gpushare-smi --query-gpu=uuid --format=csv,noheader | sed -n "$(($1 + 1))p"; }
checked() { # checked NAME: asks the program to read its data back, prints its verdict and GPU
	local n
	n=$(grep -c '^check' "$work/$1.out")
	kill -USR1 "${!1}"
	wait_for "[ \$(grep -c '^gpu' '$work/$1.out') -gt $n ]" 10
	grep '^check' "$work/$1.out" | tail -1
	grep '^gpu' "$work/$1.out" | tail -1
}

"$ctl" -d
gpu0=$(uuid_of 0) gpu1=$(uuid_of 1)
a0=$(q create_slice 16 4G -gpu 0 -users "$user1")
a1=$(q create_slice 16 4G -gpu 1 -users "$user1")
bg a "$user1" "$a0" pattern 1000
wait_for 'grep -q "^held" "$work/a.out"' 10
check "a program with known data in device memory on GPU 0 ($(checked a | tr '\n' ' '))" '[ "$(checked a | tr "\n" " ")" = "check ok gpu $gpu0 " ]'
src_before=$(used "$a0") g0_before=$(gpu_used 0) g1_before=$(gpu_used 1)
out=$(q migrate "$a" 1 -slice "$a1" 2>&1)
echo "$out"
check "migrate <pid> 1 -slice <slice> answers when it is done, with the time per GiB" '[[ "$out" == *"Migrated client $a from GPU 0 to GPU 1 (slice $a0 -> $a1): "*" MiB in "*" s/GiB out, "*" s/GiB in)" ]]'
check "it reads its data back intact, its device 0 now GPU 1" '[ "$(checked a | tr "\n" " ")" = "check ok gpu $gpu1 " ]'
check "its memory left the source slice's ledger ($src_before MiB before, $(used "$a0") now) for the target's ($(used "$a1"))" '[ "$(used "$a0")" -lt 10 ] && [ "$(used "$a1")" -ge 1000 ] && [ "$(used "$a1")" -ge "$src_before" ]'
check "simulated GPU 1's used memory rose ($g1_before -> $(gpu_used 1) MiB) and GPU 0's fell ($g0_before -> $(gpu_used 0))" '[ $(( $(gpu_used 1) - g1_before )) -ge 1000 ] && [ $(( g0_before - $(gpu_used 0) )) -ge 1000 ]'
check "list_clients shows it on GPU 1, in the target slice, running" '[ "$(client "$a" gpu)" = 1 ] && [ "$(client "$a" slice)" = "$a1" ] && [ "$(client "$a" state)" = running ] && q list_clients | grep "^$a " | grep -q " 1    $a1"'
check "list_slices shows it in the target slice's processes" 'q list_slices --json | "$py" -c "
import json, sys
s = {x[\"slice\"]: [p[\"pid\"] for p in x[\"processes\"]] for x in json.load(sys.stdin)[\"slices\"]}
sys.exit(0 if $a in s[\"$a1\"] and $a not in s[\"$a0\"] else 1)"'
kill -USR1 "$a" 2> /dev/null
check "its allocations go on, charged to its new slice" 'wait_for "[ \$(grep -c \"^gpu\" \"$work/a.out\") -ge 4 ]" 10 && [ "$(used "$a1")" -ge 1000 ]'
check "and back to GPU 0" 'q migrate "$a" "$gpu0" -slice "$a0" > /dev/null 2>&1 && [ "$(checked a | tr "\n" " ")" = "check ok gpu $gpu0 " ] && [ "$(used "$a1")" -lt 10 ] && [ "$(used "$a0")" -ge 1000 ] && [ "$(client "$a" gpu)" = 0 ]'
check "control.log names each migrate" '[ "$(grep -c "Migrated client $a " "$work/log/control.log")" = 2 ]'

# refusals: each says why, nothing changes
before=$(used "$a0")
refused() { # refused WHAT ARGS...: migrate ARGS refused, saying WHAT, nothing changed
	local what=$1 o
	shift
	! o=$(q migrate "$@" 2>&1) && [[ "$o" == *"$what"* ]] && [ "$(client "$a" gpu)" = 0 ] && [ "$(client "$a" state)" = running ] &&
		[ "$(used "$a0")" = "$before" ] || { echo "  got: $o"; return 1; }
}
check "the same GPU is refused" 'refused "is on GPU 0 already" "$a" 0'
check "an unknown pid is refused" 'refused "no such client" 999999 1'
check "an unknown GPU is refused" 'refused "GPU 7 not found" "$a" 7'
check "a slice of another GPU than the one named is refused" 'refused "is on GPU 0, not GPU 1" "$a" 1 -slice "$a0"'
check "without -slice, a program not in a job slice is refused" 'refused "which is no job slice: name a slice of GPU 1 with -slice" "$a" 1'
b1=$(q create_slice 16 4G -gpu 1 -users "$user2")
check "a slice its user may not use is refused" 'refused "is not open to user" "$a" 1 -slice "$b1"'
small=$(q create_slice 16 1G -gpu 1 -users "$user1")
check "a slice without room for it is refused" 'refused "do not fit in slice $small" "$a" 1 -slice "$small"'
check "another user may not migrate it" '! o=$(echo "migrate $a 1 -slice $a1" | as "$user2" "$ctl" 2>&1) && [[ "$o" == *"Permission denied"* ]] && [ "$(client "$a" gpu)" = 0 ]'
check "nor its own user into a slice of another user" '! o=$(echo "migrate $a 1 -slice $b1" | as "$user1" "$ctl" 2>&1) && [[ "$o" == *"not open to user"* ]]'
check "its own user may" 'echo "migrate $a 1 -slice $a1" | as "$user1" "$ctl" > /dev/null 2>&1 && [ "$(client "$a" gpu)" = 1 ] && q migrate "$a" 0 -slice "$a0" > /dev/null'
t0=$(q create_slice 16 1G -gpu 0 -users "$user1") t1=$(q create_slice 16 1G -gpu 1 -users "$user1")
rm -f "$work/two.out"
as_bg "$user1" env LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" \
	CUDA_VISIBLE_DEVICES="$t0,$t1" "$app" twodev 100 100 hold > "$work/two.out" 2>&1
two=$!
pids+=("$two")
wait_for 'grep -q "^held" "$work/two.out"' 10
check "a program with a slice on each GPU is refused, saying why" '! o=$(q migrate "$two" 1 -slice "$t1" 2>&1) && [[ "$o" == *"Client $two has a slice on each of 2 GPUs: migrate moves programs of one slice"* ]] && [ "$(used "$t0")" -ge 100 ] && [ "$(used "$t1")" -ge 100 ] || { echo "  got: $o"; false; }'
kill -9 "$two"
wait_for '[ "$(client "$two" pid)" = gone ]' 10
q destroy_slice "$t0" > /dev/null
q destroy_slice "$t1" > /dev/null
q suspend "$a" > /dev/null
wait_for "[ \"\$(client $a state)\" = suspended ]" 10
check "a suspended program is refused" '! o=$(q migrate "$a" 1 -slice "$a1" 2>&1) && [[ "$o" == *"is suspended: resume it first"* ]] && [ "$(client "$a" state)" = suspended ]'
q resume "$a" > /dev/null
wait_for "[ \"\$(client $a state)\" = running ]" 10
check "its data is still intact" '[ "$(checked a | head -1)" = "check ok" ]'

# without -slice: a program alone in its job slice moves with the slice,
# made again at the same SMs (its green contexts keep theirs): GPU 1's
# others go
q destroy_slice "$b1" > /dev/null
q destroy_slice "$small" > /dev/null
rm -f "$work/j.out"
as_bg "$user1" env LD_LIBRARY_PATH="$build/lib/gpushare-sim" "$build/bin/gpushare" run --memory 2G --sms 16 -- "$app" pattern 500 > "$work/j.out" 2> "$work/j.err"
pids+=($!)
wait_for 'grep -q "^held" "$work/j.out"' 10
j=$(q list_clients --json | "$py" -c "
import json, sys
print([x['pid'] for x in json.load(sys.stdin)['clients'] if x['pid'] != $a][0])")
job=$(client "$j" slice)
jobs_on() { q list_slices --json | "$py" -c "
import json, sys
print(' '.join(str(x['gpu']) for x in json.load(sys.stdin)['slices'] if x['job']))"; }
check "a program alone in its job slice on GPU 0 (jobs on GPUs: $(jobs_on))" '[ "$(jobs_on)" = 0 ] && [ "$(client "$j" gpu)" = 0 ]'
out=$(q migrate "$j" 1 2>&1)
echo "$out"
check "migrate <pid> 1 moves it with its job slice: the slice made again on GPU 1 at the same SMs, the old one gone" '[[ "$out" == *"Migrated client $j from GPU 0 to GPU 1 (slice $job -> MIG-"* ]] && [ "$(jobs_on)" = 1 ] && [ "$(client "$j" gpu)" = 1 ] && [ "$(used "$(client "$j" slice)")" -ge 500 ]'
check "its data intact, on GPU 1" '[ "$(checked j | tr "\n" " ")" = "check ok gpu $gpu1 " ]'
check "a job slice that does not fit on the target GPU is refused, nothing changed" 'q create_slice 80 30G -gpu 0 > /dev/null && ! o=$(q migrate "$j" 0 2>&1) && [[ "$o" == *"does not fit on GPU 0"* ]] && [ "$(jobs_on)" = 1 ] && [ "$(client "$j" gpu)" = 1 ] || { echo "  got: $o"; false; }'
kill -9 "$j"

# the daemon killed mid-way
restart() { # restart [ENV...]: the daemon killed with -9 and started again
	kill -9 "$(cat "$work/pipe/gpushare-control.pid")"
	rm -f "$work/pipe/gpushare-control.pid"
	sleep 0.3
	env "$@" "$ctl" -d
}
restart GPUSHARE_SIM_CHECKPOINT_MS=1500
wait_for '[ "$(client "$a" state)" = running ]' 10
(q migrate "$a" 1 -slice "$a1" > "$work/m1.out" 2>&1 &)
wait_for 'grep -q "Migrating client $a " "$work/log/control.log"' 10
sleep 0.3
restart
# the next daemon resumes it once the killed one's helper is done with it
check "a daemon killed while the checkpoint runs: the program goes on where it was, its memory on GPU 0, the ledgers right" 'wait_for "[ \"\$(client $a state)\" = running ]" 15 && [ "$(client "$a" gpu)" = 0 ] && [ "$(gpu_used 0)" -ge 1000 ] && [ "$(used "$a0")" -ge 1000 ] && [ "$(used "$a1")" -lt 10 ] && [ "$(checked a | tr "\n" " ")" = "check ok gpu $gpu0 " ] && grep -q "Client $a not migrated: its daemon was killed before its memory was charged" "$work/log/control.log"'
restart GPUSHARE_SIM_CHECKPOINT_MS=1500
wait_for '[ "$(client "$a" state)" = running ]' 10
(q migrate "$a" 1 -slice "$a1" > "$work/m2.out" 2>&1 &)
# its interposer took its new slice: the restore (1.5 s) runs now
wait_for '[ "$(client "$a" slice)" = "$a1" ]' 10
sleep 0.3
restart
check "a daemon killed while the restore runs: the next one finishes the move, the program on GPU 1, its data intact, the ledgers right" 'wait_for "[ \"\$(client $a state)\" = running ]" 15 && [ "$(client "$a" gpu)" = 1 ] && [ "$(used "$a1")" -ge 1000 ] && [ "$(used "$a0")" -lt 10 ] && [ "$(checked a | tr "\n" " ")" = "check ok gpu $gpu1 " ]'
q migrate "$a" 0 -slice "$a0" > /dev/null 2>&1
restart GPUSHARE_SIM_CHECKPOINT_MS=1500
wait_for '[ "$(client "$a" state)" = running ]' 10
n=$(grep -c "Client $a checkpointed" "$work/log/control.log")
(q migrate "$a" 1 -slice "$a1" > "$work/m3.out" 2>&1 &)
wait_for '[ "$(grep -c "Client $a checkpointed" "$work/log/control.log")" -gt "$n" ]' 10
kill -9 "$a"
check "a program killed while migrating: everything it held is freed" 'wait_for "[ \"\$(client $a state)\" = gone ]" 10 && [ "$(used "$a0")" -lt 10 ] && [ "$(used "$a1")" -lt 10 ] && [ "$(gpu_used 0)" -lt 10 ] && [ "$(gpu_used 1)" -lt 10 ] && wait_for "[ ! -s \"$work/state/suspended\" ]" 5 && grep -q "not migrated: it is gone" "$work/m3.out"'
q quit > /dev/null
wait_for '[ ! -e "$work/pipe/gpushare-control.pid" ]' 10

# TPC masks: the driver refuses to checkpoint a masked program
unset GPUSHARE_CONTROL_SM_MASKS
"$ctl" -d
bg m "$user1" "$a0" pattern 100
wait_for 'grep -qs "^held" "$work/m.out"' 10
before=$(used "$a0")
o=$(q migrate "$m" 1 -slice "$a1" 2>&1)
why="the driver refuses to checkpoint a program held by TPC masks (CUDA error 801); migrate moves programs confined by green contexts: start gpushare-control with GPUSHARE_CONTROL_SM_MASKS=off"
check "with TPC masks migrate is refused, the answer saying why and naming GPUSHARE_CONTROL_SM_MASKS=off" '[[ "$o" == *"Client $m not migrated: $why"* ]] || { echo "  got: $o"; false; }'
check "and control.log" 'grep -qF "Client $m not migrated: $why" "$work/log/control.log"'
check "the program runs on where it was, its data intact, its ledger as before" '[ "$(client "$m" state)" = running ] && [ "$(client "$m" gpu)" = 0 ] && [ "$(used "$a0")" = "$before" ] && [ "$(used "$a1")" -lt 10 ] && [ "$(checked m | tr "\n" " ")" = "check ok gpu $gpu0 " ]'
kill -9 "$m"
q quit > /dev/null

# bench/device/migrate.sh, the device run's script, on the simulated GPUs
repo=$(cd "$(dirname "$0")/../.." && pwd)
if [ "$build" = "$repo/build" ]; then
	env -u GPUSHARE_SIMULATE -u GPUSHARE_SIM_DIR SIM=1 SIZES=0.25 GS_BENCH_TMP="$work/bench" MIGRATE_OUT="$work/bench-out" \
		bash "$repo/bench/device/migrate.sh" > "$work/bench.log" 2>&1
	check "bench/device/migrate.sh SIM=1: the program moved to GPU 1 and back, its data intact each time" \
		'grep -E "^RESULT a_driver_api gib=0.25 to_gpu1: .* listed_on=1 data=OK\(bad=0\) to_gpu0: .* listed_on=0 data=OK\(bad=0\)$" "$work/bench.log"' ||
		cat "$work/bench.log"
else
	echo "skip: bench/device/migrate.sh runs the build in $repo/build, not $build"
fi
finish
