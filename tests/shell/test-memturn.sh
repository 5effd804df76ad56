#!/usr/bin/env bash
# test-memturn.sh BUILD: time-sharing a GPU's memory (create_slice
# -mem-turn SECONDS), on the simulated A100-40GB, as a real non-root user:
# two slices that each need most of the GPU's memory take turns: the one
# arriving second waits before it allocates anything, the holder's programs
# are suspended when its time is up and the other's resumed, and round again;
# alone, a slice keeps the turn; a turn's seconds count from when its
# programs run again. The daemon confines by green contexts
# (GPUSHARE_CONTROL_SM_MASKS=off), so that the turns go by checkpoint; then,
# with TPC masks, whose programs the driver refuses to checkpoint, the same
# turns go by the interposer's swap.
set -u
build=$(cd "$1" && pwd)
. "$(dirname "$0")/lib.sh"
sim_daemon_test
export GPUSHARE_CONTROL_SM_MASKS=off
bg() { # bg NAME SLICE ARGS...: cuda-app ARGS in SLICE as user1, $NAME its pid
	local name=$1 slice=$2
	shift 2
	rm -f "$work/$name.out"
	LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" GPUSHARE_SLICE="$slice" \
		setpriv --reuid="$user1" --regid="$(id -g "$user1")" --init-groups -- "$app" "$@" > "$work/$name.out" 2> "$work/$name.err" &
	pids+=($!)
	eval "$name=$!"
}
state() { # state PID: its state in list_clients
	q list_clients --json | "$py" -c "
import json, sys
c = [x for x in json.load(sys.stdin)['clients'] if x['pid'] == $1]
print(c[0]['state'] if c else 'gone')"
}
used() { # used SLICE: MiB its ledger holds
	q list_slices --json | "$py" -c "
import json, sys
print([x for x in json.load(sys.stdin)['slices'] if x['slice'] == '$1'][0]['used_bytes'] >> 20)"
}
gpu_used() { gpushare-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -1; }

"$ctl" -d
x=$(q create_slice 16 30G -users "$user1" -overcommit -mem-turn 2)
y=$(q create_slice 16 30G -users "$user1" -overcommit -mem-turn 2)
check "list_slices shows the memory turn" 'q list_slices | grep "$x" | grep -q "queue,mem-turn=2s" && q list_slices --json | grep "$y" | grep -q "\"mem_turn_s\": 2"'
bg a "$x" hold 25000
wait_for 'grep -q "^held" "$work/a.out" 2> /dev/null' 10
bg b "$y" hold 25000
sleep 0.5
check "the second job, beside one that holds the turn, waits before it allocates anything, its context's memory too ($(used "$y") MiB)" '! grep -q "^held" "$work/b.out" && [ "$(state "$b")" = suspended ] && [ "$(state "$a")" = running ] && [ "$(used "$y")" = 0 ]'
check "the holder's time up: it is suspended, the other runs and gets its 25000 MiB" 'wait_for "grep -q \"^held\" \"$work/b.out\"" 10 && [ "$(state "$a")" = suspended ] && [ "$(state "$b")" = running ]'
check "never both on the GPU: $(gpu_used) of 40960 MiB used" '[ "$(gpu_used)" -le 40960 ]'
check "then the first again" 'wait_for "[ \"\$(state $a)\" = running ] && [ \"\$(state $b)\" = suspended ]" 10'
check "and round again" 'wait_for "[ \"\$(state $b)\" = running ] && [ \"\$(state $a)\" = suspended ]" 10'
check "control.log names each turn" '[ "$(grep -c "holds the memory turn" "$work/log/control.log")" -ge 3 ]'
kill -9 "$b"
wait "$b" 2> /dev/null
check "alone, a slice keeps the turn: its program runs on" 'wait_for "[ \"\$(state $a)\" = running ]" 10 && sleep 3 && [ "$(state "$a")" = running ]'
check "a bad memory turn is refused, saying what is right" '! out=$(q set_slice_mem_turn "$x" 100000 2>&1) && [[ "$out" == *"0 (none) to 86400"* ]]'
kill -9 "$a"
q quit > /dev/null
wait_for '[ ! -e "$work/pipe/gpushare-control.pid" ]' 10

# a turn's seconds count from when its programs run again, not from when
# it was given: with a checkpoint and a restore of 1 s each, each program
# of a 2 s turn runs 2 s
from=$(wc -l < "$work/log/control.log")
since() { tail -n "+$((from + 1))" "$work/log/control.log"; } # this daemon's lines
GPUSHARE_SIM_CHECKPOINT_MS=1000 "$ctl" -d
bg a "$x" hold 25000
wait_for 'grep -q "^held" "$work/a.out" 2> /dev/null' 10
bg b "$y" hold 25000
wait_for 'since | grep -A 100 "programs run again, [1-9]" | grep -q "memory turn is up"' 30 # that turn ended
runs=$(since | "$py" -c "$(cat << 'EOF'
import re, sys, datetime
back, spans = {}, []
for line in sys.stdin:
    m = re.match(r"\[(\S+ \S+) .*slice (MIG-\S+?)('s programs run again|'s memory turn is up)", line)
    if not m:
        continue
    t = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp()
    if "run again" in m.group(3):
        back[m.group(2)] = t
    elif m.group(2) in back:
        spans.append(t - back.pop(m.group(2)))
print(" ".join("%.1f" % x for x in spans) or "none")
EOF
)")
check "with a restore of 1 s, control.log says when a turn's programs run again, and each runs its 2 s from then ($runs s)" \
	'[ "$runs" != none ] && "$py" -c "import sys; sys.exit(not all(1.9 <= float(x) <= 3 for x in sys.argv[1:]))" $runs && since | grep -q "programs run again, 1\.[0-9] s after it got the memory turn"'
kill -9 "$a" "$b"
q quit > /dev/null
wait_for '[ ! -e "$work/pipe/gpushare-control.pid" ]' 10

# a host too small for the holder's memory: its turn's end waits, the
# holder running on and the other waiting, rather than a suspend that
# drives the host out of memory
GPUSHARE_SIM_HOST_MIB=20000 "$ctl" -d
bg a "$x" hold 25000
wait_for 'grep -q "^held" "$work/a.out" 2> /dev/null' 10
bg b "$y" hold 25000
sleep 3
check "a holder whose memory the host cannot take runs on past its turn, the other waits, control.log says why" \
	'[ "$(state "$a")" = running ] && [ "$(state "$b")" = suspended ] && ! grep -q "^held" "$work/b.out" && grep -q "Client $a not suspended: its 25[0-9]* MiB do not fit in the host" "$work/log/control.log" && grep -q "slice $x keeps the memory turn: the host.s memory cannot take its programs.$" "$work/log/control.log"'
kill -9 "$a" "$b"
q quit > /dev/null
wait_for '[ ! -e "$work/pipe/gpushare-control.pid" ]' 10

# with TPC masks (the default where they work) the checkpoint is refused:
# the programs of -mem-turn slices are backed for the swap, which moves them
unset GPUSHARE_CONTROL_SM_MASKS
"$ctl" -d
bg c "$x" pattern 600
wait_for 'grep -q "^held" "$work/c.out" 2> /dev/null' 10
bg d "$y" pattern 600
check "with TPC masks the turns go by the interposer's swap: the holder swapped out, the other runs" 'wait_for "grep -q \"^held\" \"$work/d.out\"" 15 && [ "$(state "$c")" = suspended ] && grep -q "Suspending client $c (its interposer moves its memory)" "$work/log/control.log"'
check "and the first back in its next turn, its data intact" 'wait_for "[ \"\$(state $c)\" = running ]" 15 && kill -USR1 "$c" && wait_for "grep -qx \"check ok\" \"$work/c.out\"" 10'
kill -9 "$c" "$d"
q quit > /dev/null
finish
