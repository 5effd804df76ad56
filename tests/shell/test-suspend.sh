#!/usr/bin/env bash
# test-suspend.sh BUILD: suspend and resume (gpushare-control suspend /
# resume <pid|slice>) on the simulated GPU, whose driver implements the
# checkpoint API, with real non-root users:
# - a suspended program's memory leaves its slice's ledger and the GPU, its
#   CUDA calls wait, another program may use the memory; resumed, it has its
#   memory back and its waiting call goes on;
# - a resume waits while the memory is not free, and goes on once it is;
# - a program that exits while suspended is forgotten, the ledgers right;
# - a daemon killed while a program is suspended: the next one resumes it
#   when it registers again;
# - a bad target is refused; a user other than root may not suspend;
# - a daemon killed while its helper checkpoints a program: the next one
#   waits for that helper before it resumes it;
# - a suspend whose memory would not fit in the host's, or past its memory
#   cgroup's limit, is refused, saying so, and the program runs on; a bad
#   GPUSHARE_CONTROL_HOST_RESERVE is named;
# - with TPC masks, whose programs the driver refuses to checkpoint (the
#   simulated one as the real one), a program not backed for the swap is
#   refused, control.log saying why and what would do, and runs on.
# Until that last part the daemon confines by green contexts
# (GPUSHARE_CONTROL_SM_MASKS=off), which the checkpoint API takes.
set -u
build=$(cd "$1" && pwd)
. "$(dirname "$0")/lib.sh"
sim_daemon_test
export GPUSHARE_CONTROL_SM_MASKS=off
# bg NAME SLICE ARGS...: cuda-app ARGS in SLICE as user1, $NAME its pid
bg() {
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
print(c[0]['state'] + ' ' + str(c[0]['host_bytes'] >> 20) if c else 'gone')"
}
used() { # used SLICE: MiB its ledger holds
	q list_slices --json | "$py" -c "
import json, sys
print([x for x in json.load(sys.stdin)['slices'] if x['slice'] == '$1'][0]['used_bytes'] >> 20)"
}

"$ctl" -d
s=$(q create_slice 16 4G -users "$user1")
bg a "$s" hold 1000
wait_for 'grep -q "^held" "$work/a.out"' 10
before=$(used "$s")
check "a program holds 1000 MiB and its context in the slice ($before MiB)" '[ "$before" -ge 1000 ]'
gpu_used() { gpushare-smi --query-gpu=memory.used --format=csv,noheader,nounits | head -1; }
gpu_before=$(gpu_used)
check "suspend <pid> answers at once" '[ "$(q suspend "$a")" = "Suspending 1 client(s)" ]'
check "list_clients: suspended, its memory on the host" 'wait_for "[ \"\$(state $a | cut -d\" \" -f1)\" = suspended ]" 10 && [ "$(state "$a" | cut -d" " -f2)" -ge 1000 ] && q list_clients | grep "^$a " | grep -q " [0-9]*M@host "'
check "gpushare top shows it suspended, its memory on the host" 'gpushare top -b -n 1 | grep -E "^ +$a " | grep -E -q " suspended +[0-9]+MiB@host "'
check "its memory left the slice's ledger" '[ "$(used "$s")" -lt 100 ]'
check "and the GPU (NVML: $gpu_before MiB used before, $(gpu_used) now)" '[ $((gpu_before - $(gpu_used))) -ge 1000 ]'
kill -USR1 "$a" # one more allocation: waits while suspended
sleep 0.5
check "its CUDA calls wait" '! grep -q "^alloc" "$work/a.out"'
bg b "$s" alloc 3000
wait "$b"
check "another program uses the memory meanwhile" 'grep -qx ok "$work/b.out"'
check "resume <pid>" '[ "$(q resume "$a")" = "Resuming 1 client(s)" ] && wait_for "[ \"\$(state $a)\" = \"running 0\" ]" 10'
check "resumed: its memory is back in the ledger, its waiting call went on" 'wait_for "grep -q \"^alloc 0\" \"$work/a.out\"" 5 && [ "$(used "$s")" -ge 1000 ]'

# a resume waits while the memory is not free
q suspend "$s" > /dev/null
wait_for "[ \"\$(state $a | cut -d' ' -f1)\" = suspended ]" 10
bg c "$s" hold 3000
wait_for 'grep -q "^held" "$work/c.out"' 10
q resume "$s" > /dev/null
sleep 0.5
check "resume <slice> while its memory is taken: it waits, saying so" '[ "$(state "$a" | cut -d" " -f1-4)" = "resuming (waiting for memory)" ] && grep -q "waits to resume" "$work/log/control.log"'
kill -9 "$c"
wait "$c" 2> /dev/null
check "and goes on once the memory is freed" 'wait_for "[ \"\$(state $a)\" = \"running 0\" ]" 10 && [ "$(used "$s")" -ge 1000 ]'

# a program that exits while suspended
q suspend "$a" > /dev/null
wait_for "[ \"\$(state $a | cut -d' ' -f1)\" = suspended ]" 10
kill -9 "$a"
wait "$a" 2> /dev/null
check "a suspended program killed: forgotten, the ledger right, the file of suspended programs empty" 'wait_for "[ \"\$(state $a)\" = gone ] && [ ! -s \"$work/state/suspended\" ]" 5 && [ "$(used "$s")" -lt 100 ]'

# the daemon killed while a program is suspended
bg a "$s" hold 1000
wait_for 'grep -q "^held" "$work/a.out"' 10
q suspend "$a" > /dev/null
wait_for "[ \"\$(state $a | cut -d' ' -f1)\" = suspended ]" 10
kill -USR1 "$a"
kill -9 "$(cat "$work/pipe/gpushare-control.pid")"
rm -f "$work/pipe/gpushare-control.pid"
sleep 0.3
"$ctl" -d
check "a daemon killed while one is suspended: the next one resumes it when it registers again" 'wait_for "grep -q \"^alloc 0\" \"$work/a.out\"" 10 && [ "$(state "$a")" = "running 0" ] && grep -q "was suspended before: resuming it" "$work/log/control.log"'

# a suspended program's own allocation that waits for memory (-oom-wait)
# does not take back what it gave up: its resume finds its memory free
w=$(q create_slice 16 4G -users "$user1" -oom-wait 30)
bg ow "$w" hold 3000
wait_for 'grep -q "^held" "$work/ow.out"' 10
bg nb "$w" hold 584
wait_for 'grep -q "^held" "$work/nb.out"' 10
kill -USR1 "$ow" # 1 MiB more: the slice is full, it waits
wait_for 'grep -q "waiting up to 30 s" "$work/ow.err"' 5 > /dev/null
q suspend "$ow" > /dev/null
wait_for "[ \"\$(state $ow | cut -d' ' -f1)\" = suspended ]" 10
sleep 0.3
check "a suspended program's waiting allocation takes nothing of what it gave up ($(used "$w") MiB in use, its neighbour's)" '[ "$(used "$w")" -le 840 ]'
q resume "$ow" > /dev/null
check "and it resumes at once, its memory free for it" 'wait_for "[ \"\$(state $ow)\" = \"running 0\" ]" 5'
kill -9 "$nb"
wait "$nb" 2> /dev/null
check "its waiting allocation goes through once its neighbour's memory is freed" 'wait_for "grep -q \"^alloc 0\" \"$work/ow.out\"" 10'
kill -9 "$ow"
wait "$ow" 2> /dev/null

# a registration whose process is gone while its connection lives (a
# child holds it): its pid may be another's by now, nobody to suspend
s2=$(q create_slice 16 1G -users "$user2")
as "$user2" "$py" - "$work/pipe/control" "$s2" > "$work/ghost.out" << 'EOF' &
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(("register_client %s\n" % sys.argv[2]).encode())
answer = b""
while b"\nE " not in b"\n" + answer:
    answer += s.recv(4096)
child = os.fork()
if child == 0:
    time.sleep(30)  # the connection stays, its registering process is gone
    os._exit(0)
print(os.getpid(), child, flush=True)
os._exit(0)
EOF
wait_for '[ -s "$work/ghost.out" ]' 10
read -r ghost ghost_child < "$work/ghost.out"
pids+=("$ghost_child")
sleep 0.2
check "a connection whose registering process is gone is nobody to suspend" '[ "$(q suspend "$s2")" = "Suspending 0 client(s), others not running" ] && ! grep -q "Suspending client $ghost" "$work/log/control.log"'
kill -9 "$ghost_child" 2> /dev/null
check "suspend of no client is refused" '! out=$(q suspend 999999 2>&1) && [[ "$out" == *"no such client"* ]]'
check "nor of something that is neither a PID nor a slice" '! out=$(q suspend nonesuch 2>&1) && [[ "$out" == *"neither a client"* ]]'
check "a user other than root may not suspend" '! echo "suspend $a" | as "$user2" "$ctl" > /dev/null 2>&1 && [ "$(state "$a")" = "running 0" ]'
kill -9 "$a"
q quit > /dev/null
wait_for '[ ! -e "$work/pipe/gpushare-control.pid" ]' 10

# a daemon killed while its helper checkpoints (1.5 s here): the next one
# waits for that helper before it resumes, so that two never move it at once
export GPUSHARE_SIM_CHECKPOINT_MS=1500
"$ctl" -d
bg k "$s" pattern 500
wait_for 'grep -qs "^held" "$work/k.out"' 10
k_before=$(used "$s")
q suspend "$k" > /dev/null
sleep 0.3
kill -9 "$(cat "$work/pipe/gpushare-control.pid")"
rm -f "$work/pipe/gpushare-control.pid"
check "the suspended file names the helper at work on it" 'grep -qE "^$k .* helper [0-9]+ [0-9]+$" "$work/state/suspended"'
"$ctl" -d
check "a daemon killed while its helper checkpoints: the next one waits for that helper, then resumes the program" 'wait_for "grep -q \"Client $k waits to resume: the helper [0-9]* of a daemon before this one still works on it\" \"$work/log/control.log\"" 10 && wait_for "[ \"\$(state $k)\" = \"running 0\" ]" 20'
kill -USR1 "$k"
check "its data intact, its slice's ledger as before ($k_before MiB)" 'wait_for "grep -qx \"check ok\" \"$work/k.out\"" 10 && [ "$(used "$s")" = "$k_before" ]'
kill -9 "$k"
unset GPUSHARE_SIM_CHECKPOINT_MS
q quit > /dev/null
wait_for '[ ! -e "$work/pipe/gpushare-control.pid" ]' 10

# the host's memory: a suspend that would not fit there is refused, saying
# so, and the program runs on (the simulated GPU's host: 3000 MiB)
GPUSHARE_SIM_HOST_MIB=3000 GPUSHARE_CONTROL_HOST_RESERVE=512M "$ctl" -d
s4=$(q create_slice 16 8G -users "$user1")
bg h1 "$s4" pattern 1400
bg h2 "$s4" pattern 1400
wait_for 'grep -qs "^held" "$work/h1.out" && grep -qs "^held" "$work/h2.out"' 10
q suspend "$h1" > /dev/null
wait_for "[ \"\$(state $h1 | cut -d' ' -f1)\" = suspended ]" 10
out=$(q suspend "$h2" 2>&1)
check "a suspend whose memory would not fit in the host's is refused, saying what fits ($out)" \
	'[[ "$out" == *"suspend $h2: not suspended: client $h2: its 1"*" MiB do not fit in the host'"'"'s memory: 1"*" MiB available, 512 MiB of them kept free (GPUSHARE_CONTROL_HOST_RESERVE)" ]] && grep -q "Client $h2 not suspended: its 1[0-9]* MiB do not fit in the host" "$work/log/control.log"'
kill -USR1 "$h2"
check "and it runs on, its data intact" 'wait_for "grep -qx \"check ok\" \"$work/h2.out\"" 5 && [ "$(state "$h2")" = "running 0" ]'
q resume "$h1" > /dev/null
wait_for "[ \"\$(state $h1)\" = \"running 0\" ]" 10
check "with the first back on the GPU, there is room for it" '[ "$(q suspend "$h2")" = "Suspending 1 client(s)" ] && wait_for "[ \"\$(state $h2 | cut -d\" \" -f1)\" = suspended ]" 10'
kill -9 "$h1" "$h2"
q quit > /dev/null
wait_for '[ ! -e "$work/pipe/gpushare-control.pid" ]' 10
# its memory cgroup: the host copy is charged there, and past its limit the
# kernel would kill it, so a suspend that would go past it is refused too
v1=/sys/fs/cgroup/memory$(awk -F: '$2 == "memory" { print $3 }' /proc/self/cgroup)
mcg="$v1/gs-test-mem-$$"
if [ -e "$v1/memory.limit_in_bytes" ] && mkdir "$mcg" 2> /dev/null; then
	"$ctl" -d
	bg h4 "$s4" pattern 1400
	wait_for 'grep -qs "^held" "$work/h4.out"' 10
	echo "$h4" > "$mcg/cgroup.procs"
	echo $(($(cat "$mcg/memory.usage_in_bytes") + (256 << 20))) > "$mcg/memory.limit_in_bytes"
	out=$(q suspend "$h4" 2>&1)
	check "a suspend past its memory cgroup's limit is refused, saying so ($out)" \
		'[[ "$out" == *"client $h4: its 1"*" MiB do not fit in its memory cgroup'"'"'s limit: "*" MiB free in $mcg" ]] && [ "$(state "$h4")" = "running 0" ]'
	kill -9 "$h4"
	wait "$h4" 2> /dev/null
	q quit > /dev/null
	wait_for '[ ! -e "$work/pipe/gpushare-control.pid" ]' 10
	rmdir "$mcg"
else
	echo "skip a suspend past its memory cgroup's limit: no cgroup v1 memory hierarchy to make one in here"
fi
GPUSHARE_CONTROL_HOST_RESERVE=lots "$ctl" -d
q list_slices > /dev/null
check "a bad GPUSHARE_CONTROL_HOST_RESERVE is named in control.log, with what would be right" 'bg h3 "$s4" pattern 10; wait_for "grep -qs \"^held\" \"$work/h3.out\"" 10; q suspend "$h3" > /dev/null; grep -q "GPUSHARE_CONTROL_HOST_RESERVE=\"lots\" is no size (such as 4G or 512M): 2G kept free" "$work/log/control.log"'
kill -9 "$h3"
q quit > /dev/null
wait_for '[ ! -e "$work/pipe/gpushare-control.pid" ]' 10

unset GPUSHARE_CONTROL_SM_MASKS
"$ctl" -d
s3=$(q create_slice 16 4G -users "$user1")
bg m "$s3" pattern 100
wait_for 'grep -qs "^held" "$work/m.out"' 10
q suspend "$m" > /dev/null
check "with TPC masks a program not backed for the swap is refused, saying why and what would do" 'wait_for "grep -q \"Client $m not suspended: the driver refuses to checkpoint a program held by TPC masks (801); back its memory for the swap (GPUSHARE_CONTROL_SWAP=all) or confine by green contexts (GPUSHARE_CONTROL_SM_MASKS=off)\" \"$work/log/control.log\"" 10'
kill -USR1 "$m"
check "and it runs on, its data intact" 'wait_for "grep -qx \"check ok\" \"$work/m.out\"" 5 && [ "$(state "$m")" = "running 0" ]'
kill -9 "$m"
q quit > /dev/null
finish
