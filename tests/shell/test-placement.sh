#!/usr/bin/env bash
# test-placement.sh BUILD: with gpushare-control running, the daemon decides
# where a program runs, whatever its environment, for two real non-root
# users (gs-test1, gs-test2) on the simulated GPU:
# - a slice's ledger is the daemon's file: another user cannot write it, and
#   the slice's own user runs there from the first program on (the daemon
#   passes the ledger);
# - a program that names no slice runs in the GPU's remainder, is listed, and
#   cannot take what slices are guaranteed; a user's default slice holds it;
# - the environment narrows and never widens; a personal store cannot add a
#   slice on the daemon's GPU;
# - gpushare run --memory/--sms makes a job slice shared by the whole job
#   (forked, exec'd, detached, environment wiped), placed on its own SMs,
#   removed when the job ends, a kill -9 of gpushare run included;
# - a slice bound to a cgroup holds every process in it.
set -u
build=$(cd "$1" && pwd)
. "$(dirname "$0")/lib.sh"
if ! test_users; then
	echo "skip: needs root, setpriv and useradd for two real users"
	exit 0
fi
need_preload
sim_env
# where programs are placed and confined, not elastic SMs (test-elastic.sh): nothing lent
export GPUSHARE_CONTROL_LEND_IDLE_MS=0
mkdir -m 1777 "$work/sim" "$work/tmp" # the simulated GPU, every user's as a real one is; the users' files
app="$build/tests/cuda-app"
cg=""
cleanup() {
	[ -f "$work/pipe/gpushare-control.pid" ] && kill -9 "$(cat "$work/pipe/gpushare-control.pid")" 2> /dev/null
	pkill -9 -f "$app" 2> /dev/null
	pkill -9 -f "gpushare-server" -U 0,"$(id -u gs-test1)","$(id -u gs-test2)" 2> /dev/null
	[ -n "$cg" ] && rmdir "$cg" 2> /dev/null
	[ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
q() { echo "$*" | "$ctl"; }
# cuda as USER ARGS...: cuda-app under libgpushare.so as a user, with what the
# caller exported; prints what it says
cuda() {
	local u=$1
	shift
	LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" as "$u" "$app" "$@" 2>&1
}
val() { awk -v k="$1" '$1 == k { print $2 }'; }

"$ctl" -d
a=$(q create_slice 28 8G -users "$user1")
check "create_slice made a slice for gs-test1" '[[ "$a" == MIG-* ]]'

# the ledger is the daemon's: readable, written only through the fd it passes
ledger=$(ls "$work/state"/ledger-* | head -1)
check "a slice's ledger belongs to the daemon's user, 0644, made with the slice" '[ "$(stat -c "%U %a" "$ledger")" = "root 644" ]'
# opens: "denied" when the user may not open the file so, "opened" when they may
opens() { as "$1" "$py" -c "
try:
    open('$2', '$3'); print('opened')
except PermissionError:
    print('denied')"; }
check "another user cannot open the ledger for writing" '[ "$(opens "$user2" "$ledger" r+b)" = denied ] && [ "$(opens "$user2" "$ledger" rb)" = opened ]'
check "nor can the slice's own user: only the daemon's fd writes it" '[ "$(opens "$user1" "$ledger" r+b)" = denied ]'
out=$(GPUSHARE_SLICE=$a cuda "$user1" info)
check "the slice's user runs there from the first program on" '[ "$(echo "$out" | val mem_total_mib)" = 8192 ] && [ "$(echo "$out" | val sms)" = 28 ]'
out=$(GPUSHARE_SLICE=$a cuda "$user2" info)
check "another user naming the slice is refused" 'echo "$out" | grep -qi "slice $a is not open to user $(id -u "$user2")"'

# a program queued behind another user's holds nothing of the slice: its
# ledger comes with its admission
q set_slice_users "$a" "$user1,$user2" > /dev/null
(GPUSHARE_SLICE=$a LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" exec setpriv --reuid="$user1" \
	--regid="$(id -g "$user1")" --init-groups "$app" hold 100 > "$work/q1.out" 2>&1) &
q1=$!
wait_for 'grep -q held "$work/q1.out" 2> /dev/null'
got=$(as "$user2" "$py" - "$work/pipe/control" "$a" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(1.5)
s.sendall(b"register_client " + sys.argv[2].encode() + b" -\n")
fds, text = [], b""
try:
    while True:
        data, f, _, _ = socket.recv_fds(s, 4096, 4)
        if not data: break
        text += data; fds += f
except socket.timeout:
    pass
print("queued" if b"R queued" in text else "not-queued", "fds=%d" % len(fds))
PY
)
check "a program queued behind another user gets no ledger before its admission" '[ "$got" = "queued fds=0" ]'
kill $q1; wait $q1 2> /dev/null
q set_slice_users "$a" "$user1" > /dev/null

# the remainder: what no slice is guaranteed
out=$(cuda "$user2" info)
check "a program naming no slice runs in the remainder (GPU less guarantees)" '[ "$(echo "$out" | val mem_total_mib)" = 32768 ]'
check "... on the SMs no slice holds, in whole groups of the GPU's split" '[ "$(echo "$out" | val sms)" = 56 ] && [ "$(cuda "$user2" smid)" = "smid distinct 56 range 28-83" ]'
check "... and cannot take what slices are guaranteed" '[ "$(cuda "$user2" alloc 33000)" = "refused 2" ] && [ "$(cuda "$user2" alloc 30000)" = ok ]'
(LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" exec setpriv --reuid="$user2" \
	--regid="$(id -g "$user2")" --init-groups "$app" hold 1000 > "$work/rem.out" 2>&1) &
rem=$!
wait_for 'grep -q held "$work/rem.out" 2> /dev/null'
check "a remainder program is listed, in slice -, with what it holds" 'q list_clients | grep -qE "^$rem +$user2 +[0-9]+ +1[0-9]{3}MiB +0 +- +- +cuda-app$"'
check "... and list_slices shows the GPU's remainder, its limit and its process" 'q list_slices | grep -qE "^- +0 +\(remainder\) +- +- +- +32768MiB +0MiB +1[0-9]{3}MiB +\* +- +- +yes +$rem\(cuda-app\)$"'
kill $rem; wait $rem 2> /dev/null

# the environment narrows, never widens; a user's default slice
check "set_slice_default is for admins" 'echo "set_slice_default $a $user1" | as "$user1" "$ctl" 2>&1 | grep -q "Permission denied"'
q set_slice_default "$a" "$user1"
check "a user's default slice holds their programs that name none" '[ "$(cuda "$user1" info | val mem_total_mib)" = 8192 ]'
check "GPUSHARE_MEMORY_LIMIT narrows the slice for the process" '[ "$(GPUSHARE_MEMORY_LIMIT=2G cuda "$user1" info | val mem_total_mib)" = 2048 ] && [ "$(GPUSHARE_MEMORY_LIMIT=2G cuda "$user1" alloc 3000)" = "refused 2" ]'
check "... and never widens it" '[ "$(GPUSHARE_MEMORY_LIMIT=20G cuda "$user1" info | val mem_total_mib)" = 8192 ]'
q set_slice_default "$a" -
mkdir -p "$work/own" && chown "$user2" "$work/own"
as "$user2" env GPUSHARE_STATE_DIR="$work/own" gpushare-smi -i 0 -mig 1 > /dev/null
as "$user2" env GPUSHARE_STATE_DIR="$work/own" gpushare-smi mig -cgi 7g.40gb -C > /dev/null
own=$(as "$user2" env GPUSHARE_STATE_DIR="$work/own" gpushare-smi -L | awk '/MIG/ { print substr($NF, 1, length($NF) - 1) }' | head -1)
out=$(GPUSHARE_STATE_DIR="$work/own" GPUSHARE_SLICE=$own cuda "$user2" info)
check "a personal store's slice does not count while the daemon runs" '[[ "$own" == MIG-* ]] && echo "$out" | grep -q "Slice $own not found"'

# job slices: gpushare run --memory/--sms
run() { as "$1" env LD_LIBRARY_PATH= gpushare run --no-mps --memory "$2" --sms "$3" -- "${@:4}"; }
# the two refused exit; the one that fits holds on (10 s at most for a loaded machine)
out=$(run "$user1" 2G 16 bash -c "for i in 1 2 3; do '$app' hold 1500 & done; for t in \$(seq 200); do [ \$(jobs -rp | wc -l) -le 1 ] && break; sleep 0.05; done; sleep 0.5; kill \$(jobs -p); wait" 2>&1)
check "a job slice is the whole job's: of 3 programs holding 1500 MiB in 2G, one fits" '[ "$(echo "$out" | grep -c "^held$")" = 1 ]'
# (the daemon's pipe directory stands for the default one a node's daemon uses)
out=$(run "$user1" 2G 16 bash -c "env -i '$(command -v env)' GPUSHARE_PIPE_DIRECTORY='$work/pipe' GPUSHARE_SIM_DIR='$work/sim' GPUSHARE_SIMULATE=a100-sxm4-40gb LD_PRELOAD='$build/lib/libgpushare.so' LD_LIBRARY_PATH='$build/lib/gpushare-sim' '$app' info" 2>&1)
check "a job's program with its environment wiped stays in the job slice" '[ "$(echo "$out" | val mem_total_mib)" = 2048 ] && [ "$(echo "$out" | val sms)" = 16 ]'
out=$(run "$user1" 2G 16 bash -c "(setsid env -u GPUSHARE_SLICE '$app' info > '$work/tmp/detached' 2>&1 &); sleep 0.5" 2>&1; cat "$work/tmp/detached")
check "a detached, double-forked program stays in the job slice" '[ "$(echo "$out" | val mem_total_mib)" = 2048 ]'
check "the job slices are gone once their jobs ended" 'wait_for "! q list_slices | grep -qE \" 2048MiB \"" 3'
as "$user1" env LD_LIBRARY_PATH= gpushare run --no-mps --memory 2G --sms 16 -- "$app" hold 500 > "$work/job.out" 2>&1 &
job=$!
wait_for 'grep -q held "$work/job.out" 2> /dev/null'
held_pid=$(pgrep -f "$app hold 500" | head -1)
check "a job slice is listed while the job runs, open to its user alone" 'q list_slices | grep -qE " 2048MiB .* $user1 "'
sa=$(GPUSHARE_SLICE=$a cuda "$user1" smid) sj=$(run "$user1" 1G 8 "$app" smid 2>&1)
check "a job slice's SMs are its own, not the named slice's" '[ "$sa" = "smid distinct 28 range 0-27" ] && [[ "$sj" =~ ^"smid distinct 8 range "([0-9]+)-([0-9]+)$ ]] && [ "${BASH_REMATCH[1]}" -ge 28 ]'
kill -9 $job; wait $job 2> /dev/null
sleep 1.5
check "after a kill -9 of gpushare run the slice stays while its program holds memory" 'q list_slices | grep -q " 2048MiB "'
kill "$held_pid"
check "... and goes once it ends" 'wait_for "! q list_slices | grep -q \" 2048MiB \"" 5'
# shedding the job: its processes outlive a kill -9 of gpushare run
cgroot=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
if [ -n "$cgroot" ] && mkdir "$cgroot/gs-probe-$$" 2> /dev/null && rmdir "$cgroot/gs-probe-$$"; then
	as "$user1" env LD_LIBRARY_PATH= gpushare run --no-mps --memory 2G --sms 16 -- bash -c "'$app' hold 300 & sleep 2.5; '$app' info; kill \$!" > "$work/shed.out" 2>&1 &
	job=$!
	wait_for 'grep -q held "$work/shed.out" 2> /dev/null'
	kill -9 $job; wait $job 2> /dev/null
	wait_for 'grep -q mem_total_mib "$work/shed.out"' 6
	check "a job's program started after a kill -9 of gpushare run is still in the job slice (its cgroup)" '[ "$(val mem_total_mib < "$work/shed.out")" = 2048 ]'
	check "... and the job slice goes once the job's last process has" 'wait_for "! q list_slices | grep -q \" 2048MiB \"" 5'
else
	echo "skip shedding a job: no cgroup v2 hierarchy the daemon may write here (the job is bound by its ancestry alone)"
fi
jobs=()
for i in 1 2 3 4; do run "$user1" 1G 8 sleep 4 > /dev/null 2>&1 & jobs+=($!); done
wait_for '[ "$(q list_slices | grep -c " 1024MiB ")" = 4 ]'
check "a user's fifth job slice at once is refused, saying why" 'run "$user1" 1G 8 true 2>&1 | grep -q "has 4 job slices already"'
kill "${jobs[@]}" 2> /dev/null; wait "${jobs[@]}" 2> /dev/null
wait_for '! q list_slices | grep -q " 1024MiB "'
check "create_job_slice larger than the GPU is refused, saying what it has" 'run "$user1" 100G 16 true 2>&1 | grep -q "40960 MiB"'

# a slice bound to a cgroup: every process in it, whatever it asks
root=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
if [ -n "$root" ] && mkdir "$root/gs-test-$$" 2> /dev/null; then
	cg="$root/gs-test-$$"
	b=$(q create_slice 16 4G -users "$user1" -cgroup "/${cg#"$root"/}")
	check "create_slice -cgroup makes a bound slice" '[[ "$b" == MIG-* ]]'
	check "a bad cgroup path is refused, saying what is right" 'q create_slice 16 1G -cgroup ../x 2>&1 | grep -q "an absolute cgroup v2 path"'
	out=$(sh -c "echo \$\$ > '$cg/cgroup.procs'; GPUSHARE_SLICE=$a LD_PRELOAD='$build/lib/libgpushare.so' LD_LIBRARY_PATH='$build/lib/gpushare-sim' exec setpriv --reuid=$user2 --regid=$(id -g "$user2") --init-groups '$app' info" 2>&1)
	check "every process of the cgroup is in its slice, whatever it names and whoever runs it" '[ "$(echo "$out" | val mem_total_mib)" = 4096 ]'
	grep -q "asked for slice $a: its cgroup's slice is $b" "$work/log/control.log"
	check "control.log says a program's request was overruled by its cgroup" '[ $? = 0 ]'
else
	echo "skip cgroup binding: no writable cgroup v2 hierarchy here"
fi
q quit > /dev/null
finish
