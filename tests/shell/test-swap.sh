#!/usr/bin/env bash
# test-swap.sh BUILD: suspend and resume through the interposer's own swap
# (for programs whose driver refuses the checkpoint API: NVIDIA MPS's
# clients), on the simulated GPU with its checkpoint API refused as for an
# MPS client (GPUSHARE_SIM_CHECKPOINT=refuse) and the daemon swapping every
# program (GPUSHARE_CONTROL_SWAP=all), with real non-root users:
# - a program holding memory with a known pattern is swapped out: its bytes
#   leave its slice's ledger (its context's stay) and the GPU, list_clients
#   shows them on the host; another program uses that memory meanwhile;
# - a call it makes while out waits, and succeeds once it is swapped in,
#   its pattern intact bitwise (the program checks and prints "check ok"),
#   its copies pipelined through pinned buffers and threads, or the
#   driver's own with GPUSHARE_SWAP_THREADS=0 (a bad value said);
# - a swap in waits while the memory is not free;
# - a program that exits while swapped out leaves the ledgers right;
# - work that does not finish within GPUSHARE_SWAP_SYNC_S: the suspend is
#   given up, saying why, and the program runs on;
# - a daemon killed while a program is swapped out: the next one swaps it in
#   when it registers again;
# - a program that opted out (GPUSHARE_SWAP=off) is said not suspended and
#   runs on;
# - the default backs no program outside NVIDIA MPS; bad values of
#   GPUSHARE_CONTROL_SWAP and GPUSHARE_SWAP are said and change nothing.
set -u
build=$(cd "$1" && pwd)
. "$(dirname "$0")/lib.sh"
sim_daemon_test
export GPUSHARE_CONTROL_SWAP=all GPUSHARE_SIM_CHECKPOINT=refuse
# bg NAME SLICE ARGS...: cuda-app ARGS in SLICE as user1, $NAME its pid
bg() {
	local name=$1 slice=$2
	shift 2
	rm -f "$work/$name.out"
	LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" GPUSHARE_SLICE="$slice" \
		GPUSHARE_LOG="$work/tmp/$name.log" \
		setpriv --reuid="$user1" --regid="$(id -g "$user1")" --init-groups -- "$app" "$@" > "$work/$name.out" 2> "$work/$name.err" &
	pids+=($!)
	eval "$name=$!"
}
state() { # state PID: its state in list_clients and its MiB on the host
	q list_clients --json | "$py" -c "
import json, sys
c = [x for x in json.load(sys.stdin)['clients'] if x['pid'] == $1]
print(c[0]['state'] + ' ' + str(c[0]['host_bytes'] >> 20) if c else 'gone')"
}
used() { # used SLICE: MiB its ledger holds
	q list_slices --json | "$py" -c "
import json, sys
print([x for x in json.load(sys.stdin)['slices'] if x['slice'] == '$1'][0]['used_bytes'] >> 20)"
}
gpu_used() { gpushare-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -1; }
suspended() { wait_for "[ \"\$(state $1 | cut -d' ' -f1)\" = suspended ]" 10; }

threads=$(($(nproc) / 2)) # the default number of threads that copy
[ "$threads" -lt 1 ] && threads=1
[ "$threads" -gt 8 ] && threads=8
"$ctl" -d
s=$(q create_slice 16 4G -users "$user1")
gpu_idle=$(gpu_used)
bg a "$s" --via procaddr pattern 1000
wait_for 'grep -qs "^held" "$work/a.out"' 10
check "the daemon asked the program to back its memory for the swap" 'grep -q "backed by virtual memory management" "$work/tmp/a.log"'
before=$(used "$s")
gpu_before=$(gpu_used)
check "it holds its 1000 MiB and its context in the slice ($before MiB)" '[ "$before" -ge 1256 ]'
check "suspend <pid> answers at once" '[ "$(q suspend "$a")" = "Suspending 1 client(s)" ]'
check "list_clients: suspended, its 1000 MiB on the host" 'suspended "$a" && [ "$(state "$a")" = "suspended 1000" ]'
check "through its interposer, the driver's checkpoint not asked" 'grep -q "Client $a suspended: 1000 MiB on the host (2 allocations moved by its interposer), 256 MiB stay on the GPU" "$work/log/control.log" && ! grep -q "Suspending client $a$" "$work/log/control.log"'
check "its memory left the slice's ledger, its context's stays ($(used "$s") MiB)" '[ "$(used "$s")" -ge 256 ] && [ "$(used "$s")" -lt 300 ]'
check "and the GPU (NVML: $gpu_before MiB used before, $(gpu_used) now)" '[ $((gpu_before - $(gpu_used))) -ge 1000 ]'
kill -USR1 "$a" # reads its memory back: waits while it is out
sleep 0.5
check "its CUDA calls wait" '! grep -q "^check" "$work/a.out"'
bg b "$s" alloc 3000
wait "$b"
check "another program uses the memory meanwhile (it would not fit beside the 1000 MiB)" 'grep -qx ok "$work/b.out"'
check "resume <pid>" '[ "$(q resume "$a")" = "Resuming 1 client(s)" ] && wait_for "[ \"\$(state $a)\" = \"running 0\" ]" 10'
check "swapped in: its waiting call went on, its pattern intact bitwise" 'wait_for "grep -q \"^check\" \"$work/a.out\"" 5 && grep -qx "check ok" "$work/a.out"'
check "its memory is back in the ledger and on the GPU" '[ "$(used "$s")" -ge 1256 ] && [ "$(gpu_used)" -ge $((gpu_before - 10)) ]'
check "both ways its copies went through pinned staging buffers and $threads threads (GPUSHARE_SWAP_THREADS's default: half its $(nproc) CPUs, 1 to 8)" 'grep -q "swap: copies out go through pinned staging buffers and $threads threads" "$work/tmp/a.log" && grep -q "swap: copies in go through pinned staging buffers and $threads threads" "$work/tmp/a.log"'

# a swap in waits while the memory is not free
q suspend "$s" > /dev/null
suspended "$a"
bg c "$s" hold 3000
wait_for 'grep -qs "^held" "$work/c.out"' 10
q resume "$s" > /dev/null
sleep 0.5
check "resume while its memory is taken: it waits, saying so" '[ "$(state "$a" | cut -d" " -f1-4)" = "resuming (waiting for memory)" ] && grep -q "Client $a waits to resume" "$work/log/control.log"'
kill -9 "$c"
wait "$c" 2> /dev/null
check "and goes on once the memory is freed, its pattern intact" 'wait_for "[ \"\$(state $a)\" = \"running 0\" ]" 10 && kill -USR1 "$a" && wait_for "[ \$(grep -c \"^check ok\" \"$work/a.out\") = 2 ]" 5'

# a program that exits while swapped out
q suspend "$a" > /dev/null
suspended "$a"
kill -9 "$a"
wait "$a" 2> /dev/null
check "a swapped-out program killed: forgotten, the ledger and the GPU right, the file of suspended programs empty" 'wait_for "[ \"\$(state $a)\" = gone ] && [ ! -s \"$work/state/suspended\" ]" 5 && [ "$(used "$s")" -lt 100 ] && [ "$(gpu_used)" -le $((gpu_idle + 10)) ]'

# the daemon killed while a program is swapped out
GPUSHARE_SWAP_THREADS=0 bg d "$s" pattern 600
wait_for 'grep -qs "^held" "$work/d.out"' 10
q suspend "$d" > /dev/null
suspended "$d"
check "the suspended file says it went by the swap" 'grep -q "^$d .* swap$" "$work/state/suspended"'
kill -USR1 "$d"
kill -9 "$(cat "$work/pipe/gpushare-control.pid")"
rm -f "$work/pipe/gpushare-control.pid"
sleep 0.3
"$ctl" -d
check "a daemon killed while one is swapped out: the next one swaps it in when it registers again" 'wait_for "grep -q \"^check\" \"$work/d.out\"" 10 && grep -qx "check ok" "$work/d.out" && [ "$(state "$d")" = "running 0" ] && grep -q "was suspended before: resuming it" "$work/log/control.log"'
check "its memory back in the ledger once" '[ "$(used "$s")" -ge 856 ] && [ "$(used "$s")" -lt 900 ]'
kill -9 "$d"
wait "$d" 2> /dev/null
check "GPUSHARE_SWAP_THREADS=0: the driver's own copies, both ways" 'grep -q "swap: copies out are the driver.s own" "$work/tmp/d.log" && grep -q "swap: copies in are the driver.s own" "$work/tmp/d.log"'

# a bad GPUSHARE_SWAP_THREADS is said, and the default kept
GPUSHARE_SWAP_THREADS=many bg g "$s" pattern 200
wait_for 'grep -qs "^held" "$work/g.out"' 10
q suspend "$g" > /dev/null
suspended "$g"
kill -USR1 "$g"
q resume "$g" > /dev/null
check "GPUSHARE_SWAP_THREADS=many: said in the program's log, the default kept, its pattern intact" 'wait_for "grep -q \"^check\" \"$work/g.out\"" 10 && grep -qx "check ok" "$work/g.out" && grep -q "GPUSHARE_SWAP_THREADS=\"many\" is not a number of threads from 0 (the driver.s own copy) to 16: $threads (half the CPUs, at most 8)" "$work/tmp/g.log" && grep -q "copies in go through pinned staging buffers and $threads threads" "$work/tmp/g.log"'
kill -9 "$g"
wait "$g" 2> /dev/null

# work that does not finish in time: the swap is given up, the program runs on
GPUSHARE_SWAP_SYNC_S=1 bg h "$s" pattern 200 4000
wait_for 'grep -qs "^held" "$work/h.out"' 10
q suspend "$h" > /dev/null
check "a kernel still running after GPUSHARE_SWAP_SYNC_S=1: not suspended, saying why, and it runs on, its pattern intact" 'wait_for "grep -q \"Client $h not suspended: its interposer could not move its memory: its work did not finish within 1 s (GPUSHARE_SWAP_SYNC_S) (909)\" \"$work/log/control.log\"" 5 && [ "$(state "$h")" = "running 0" ] && kill -USR1 "$h" && wait_for "grep -qx \"check ok\" \"$work/h.out\"" 10'
kill -9 "$h"
wait "$h" 2> /dev/null

# a program that opted out of the swap
GPUSHARE_SWAP=off bg e "$s" hold 500
wait_for 'grep -qs "^held" "$work/e.out"' 10
q suspend "$e" > /dev/null
check "a program that opted out (GPUSHARE_SWAP=off) is not suspended, said once, and runs on" 'wait_for "grep -q \"Client $e not suspended: its interposer could not move its memory: not enabled\" \"$work/log/control.log\"" 5 && [ "$(state "$e")" = "running 0" ] && kill -USR1 "$e" && wait_for "grep -q \"^alloc 0\" \"$work/e.out\"" 5'
kill -9 "$e"
wait "$e" 2> /dev/null
q quit > /dev/null

# the default backs only a -mem-turn slice's clients of NVIDIA MPS (none here:
# the simulated GPU has no MPS); a bad value is said and the default kept
wait_for '[ ! -e "$work/pipe/gpushare-control.pid" ]' 10
GPUSHARE_CONTROL_SWAP=sometimes "$ctl" -d
GPUSHARE_SWAP=maybe bg f "$s" hold 100
wait_for 'grep -qs "^held" "$work/f.out"' 10
check "GPUSHARE_CONTROL_SWAP=sometimes: said in control.log, the default (turns) kept" 'grep -q "GPUSHARE_CONTROL_SWAP=\"sometimes\" is none of turns, mps, all, off: turns" "$work/log/control.log"'
check "by default a program outside NVIDIA MPS is not backed (the checkpoint suspends it)" '! grep -q "backed by virtual memory management" "$work/tmp/f.log"'
check "GPUSHARE_SWAP=maybe: said in the program's log, and ignored" 'grep -q "GPUSHARE_SWAP=\"maybe\" is none of on, off, 1, 0: ignored (no backing)" "$work/tmp/f.log"'
kill -9 "$f"
wait "$f" 2> /dev/null
q quit > /dev/null
finish
