#!/usr/bin/env bash
# test-slurm.sh BUILD: gpushare under real Slurm. Debian's slurmctld and
# slurmd (and munged, as Slurm needs it) started here as a one-node cluster
# on loopback, the simulated A100-40GB presented as a gpu gres with shards,
# gpushare's SPANK plugin in plugstack.conf, jobs of two real users
# (gs-test1, gs-test2) submitted with srun and sbatch:
# - --gpushare=<size|profile|share> and --gres=shard:N give a job one slice,
#   slurm-<job id>, of that size, open to its user alone, listed with the job
#   id by list_slices and list_clients, shared by all its steps;
# - the job's programs are held by it whatever their environment, and an
#   allocation past it is refused;
# - two users' jobs run at once on the one GPU, in disjoint slices;
# - a job that does not fit runs nothing: the reason on its output and in its
#   Comment (scontrol show job), the node stays up; shards past the node's
#   keep a job pending;
# - the slice goes at the job's end: finished, scancel'ed, its processes
#   killed with SIGKILL.
set -u
build=$(cd "$1" && pwd)
repo=$(cd "$(dirname "$0")/../.." && pwd)
. "$(dirname "$0")/lib.sh"
for p in slurmctld slurmd srun sbatch scontrol munged; do
	if ! command -v "$p" > /dev/null; then
		echo "skip: $p is not installed (scripts/deps.sh installs Slurm and munge)"
		exit 0
	fi
done
if ! test_users; then
	echo "skip: needs root, setpriv and useradd for two real users"
	exit 0
fi
if [ ! -f "$build/lib/slurm/gpushare.so" ]; then
	echo "skip: the Slurm plugin was not built (no slurm/spank.h: libslurm-dev)"
	exit 0
fi
need_preload
cgroot=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
if [ -z "$cgroot" ] || ! mkdir "$cgroot/gpushare-test.$$" 2> /dev/null; then
	echo "skip: no cgroup v2 hierarchy to hold a job's processes in (gpushare refuses such jobs)"
	exit 0
fi
rmdir "$cgroot/gpushare-test.$$"
sim_env
mkdir -m 1777 "$work/sim" "$work/out"
sl=$work/slurm
mkdir -p "$sl/state" "$sl/spool" "$sl/log" "$sl/munge"
chmod 755 "$sl/munge"
app="$build/tests/cuda-app"
node=$(hostname -s)

cleanup() {
	scancel -u "$user1" 2> /dev/null; scancel -u "$user2" 2> /dev/null
	for f in "$sl/slurmd.pid" "$sl/slurmctld.pid" "$sl/munge/munged.pid" "$work/pipe/gpushare-control.pid"; do
		[ -f "$f" ] && kill "$(cat "$f")" 2> /dev/null
	done
	sleep 0.5
	for f in "$sl/slurmd.pid" "$sl/slurmctld.pid" "$sl/munge/munged.pid" "$work/pipe/gpushare-control.pid"; do
		[ -f "$f" ] && kill -9 "$(cat "$f")" 2> /dev/null
	done
	pkill -9 -f "$app" 2> /dev/null
	rmdir "$cgroot"/gpushare.jobs/slurm-* 2> /dev/null
	[ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT

# two free loopback ports for slurmctld and slurmd
read -r pctl pd < <("$py" -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')

dd if=/dev/urandom of="$sl/munge/munge.key" bs=1024 count=1 2> /dev/null
chmod 400 "$sl/munge/munge.key"
munged -f --socket="$sl/munge/munge.sock" --key-file="$sl/munge/munge.key" --log-file="$sl/log/munged.log" \
	--pid-file="$sl/munge/munged.pid" --seed-file="$sl/munge/seed"

touch "$sl/nvidia0" # the GPU gres' device file: the simulated GPU has none
cat > "$sl/slurm.conf" <<EOF
ClusterName=gpushare-test
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$sl/munge/munge.sock
CredType=cred/munge
SlurmctldPort=$pctl
SlurmdPort=$pd
StateSaveLocation=$sl/state
SlurmdSpoolDir=$sl/spool
SlurmctldPidFile=$sl/slurmctld.pid
SlurmdPidFile=$sl/slurmd.pid
SlurmctldLogFile=$sl/log/slurmctld.log
SlurmdLogFile=$sl/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
GresTypes=gpu,shard
PlugStackConfig=$sl/plugstack.conf
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName=$node NodeAddr=127.0.0.1 CPUs=8 RealMemory=1000 Gres=gpu:1,shard:4 State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=10 State=UP
EOF
cat > "$sl/gres.conf" <<EOF
AutoDetect=off
NodeName=$node Name=gpu File=$sl/nvidia0
NodeName=$node Name=shard Count=4 File=$sl/nvidia0
EOF
# a shard is a quarter of the GPU
echo "required $build/lib/slurm/gpushare.so pipe=$work/pipe shard=0.25" > "$sl/plugstack.conf"
export SLURM_CONF=$sl/slurm.conf

"$ctl" -d
slurmctld -i
slurmd -N "$node"
check "slurmctld and slurmd run, the node is idle" 'wait_for "sinfo -h -o %T 2> /dev/null | grep -qx idle" 20'

# what the users' jobs run with: the interposer, the simulated GPU
export LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim"
val() { awk -v k="$1" '$1 == k { print $2 }'; }
cd "$work/out"
run_as() { local u=$1; shift; as "$u" "$@"; }
q() { echo "$*" | LD_PRELOAD= "$ctl"; }
slices_json() { q list_slices --json; }
# slice_field JOB KEY: a field of job's slice in list_slices --json
slice_field() {
	slices_json | "$py" -c '
import json, sys
for s in json.load(sys.stdin)["slices"]:
    if s.get("name") == "slurm-" + sys.argv[1]:
        k = sys.argv[2]
        print(",".join(u["name"] for u in s["users"]) if k == "users" else s[k])' "$1" "$2"
}
gone() { [ -z "$(slice_field "$1" slice)" ]; }

# a job of its own size: its slice, its limits
out=$(run_as "$user1" srun --gpushare=28sm.8gb "$app" info 2>&1)
check "srun --gpushare=28sm.8gb: the job's program gets 28 SMs and 8192 MiB" \
	'[ "$(echo "$out" | val sms)" = 28 ] && [ "$(echo "$out" | val mem_total_mib)" = 8192 ]'
out=$(run_as "$user1" srun --gpushare=16sm.4gb "$app" alloc 5000 2>&1)
check "an allocation past the job's slice is refused" 'echo "$out" | grep -qv "^ok" && ! echo "$out" | grep -qx ok'
out=$(run_as "$user1" srun --gpushare=16sm.4gb env -u GPUSHARE_SLICE -u GPUSHARE_PIPE_DIRECTORY GPUSHARE_PIPE_DIRECTORY="$work/pipe" "$app" info 2>&1)
check "a program that drops the slice's variable is still in it (the job's cgroup)" '[ "$(echo "$out" | val mem_total_mib)" = 4096 ]'
out=$(run_as "$user1" srun --gpushare=3g.20gb "$app" info 2>&1)
check "an NVIDIA profile as the size: 3g.20gb's 42 SMs and 20096 MiB" \
	'[ "$(echo "$out" | val sms)" = 42 ] && [ "$(echo "$out" | val mem_total_mib)" = 20096 ]'
out=$(run_as "$user1" srun --gres=shard:2 "$app" info 2>&1)
check "--gres=shard:2 with shard=0.25: half the GPU (54 SMs, 20480 MiB)" \
	'[ "$(echo "$out" | val sms)" = 54 ] && [ "$(echo "$out" | val mem_total_mib)" = 20480 ]'
out=$(run_as "$user1" srun --gpushare=zz9 true 2>&1)
check "a size that is none says what a size is, and runs nothing" 'echo "$out" | grep -q "Invalid size \"zz9\": <SMs>sm.<N>gb"'

# two users at once, each in a slice of its own (a shard's 26 SMs, and twice
# that: SM counts of running slices are multiples of each other)
j1=$(run_as "$user1" sbatch --parsable -o "$work/out/%j.out" --gres=shard:1 --wrap "$app hold 1000")
j2=$(run_as "$user2" sbatch --parsable -o "$work/out/%j.out" --gpushare=52sm.20gb --wrap "$app hold 2000")
check "two users' jobs hold their GPU memory at the same time" \
	'wait_for "grep -q held $work/out/$j1.out 2> /dev/null && grep -q held $work/out/$j2.out 2> /dev/null" 20'
check "each job's slice is named after it and open to its user alone" \
	'[ "$(slice_field "$j1" users)" = "$user1" ] && [ "$(slice_field "$j2" users)" = "$user2" ]'
s1=$(slice_field "$j1" sm_start) n1=$(slice_field "$j1" sms) s2=$(slice_field "$j2" sm_start) n2=$(slice_field "$j2" sms)
check "their SMs are disjoint ($s1+$n1, $s2+$n2)" '[ -n "$s1" ] && [ -n "$s2" ] && { [ $((s1 + n1)) -le "$s2" ] || [ $((s2 + n2)) -le "$s1" ]; }'
check "list_clients shows each job's program in its slurm-<job> slice" \
	'q list_clients | grep -q "slurm-$j1" && q list_clients | grep -q "slurm-$j2"'
check "a step of the same job runs in the job's slice" \
	'[ "$(run_as "$user1" srun --jobid="$j1" --overlap "$app" info 2>&1 | val mem_total_mib)" = 10240 ]'

# one that does not fit runs nothing and says why
j3=$(run_as "$user1" sbatch --parsable -o "$work/out/%j.out" --gpushare=0.5 --wrap "touch $work/out/ran")
wait_for '[ "$(scontrol show job "$j3" | grep -o "JobState=[A-Z]*")" = JobState=FAILED ]' 20
check "a job that does not fit beside them fails" 'scontrol show job "$j3" | grep -q "JobState=FAILED"'
check "its Comment says why (scontrol show job)" 'scontrol show job "$j3" | grep -q "Comment=gpushare: job $j3: no slice of 0.5: ."'
check "its output says why, and its script never ran" 'grep -q "gpushare: job $j3: no slice" "$work/out/$j3.out" && [ ! -e "$work/out/ran" ]'
out=$(run_as "$user2" srun --gpushare=0.5 touch "$work/out/ran" 2>&1)
check "srun of one that does not fit: the reason on the user's terminal, nothing runs" \
	'echo "$out" | grep -q "gpushare: job [0-9]*: no slice of 0.5" && [ ! -e "$work/out/ran" ]'
check "the node stays up for other jobs" '[ "$(sinfo -h -o %T)" != drained ] && ! sinfo -h -o %T | grep -q drain'
j4=$(run_as "$user2" sbatch --parsable -o /dev/null --gres=shard:4 --wrap true)
sleep 2
check "a job asking for more shards than are free waits (pending, Resources)" \
	'scontrol show job "$j4" | grep -q "JobState=PENDING Reason=Resources"'
scancel "$j4"

# the slice goes at the job's end, however it ends
scancel "$j1"
check "scancel: the job's slice is gone" 'wait_for "gone $j1" 15'
pkill -9 -U "$user2" -f "$app hold"
check "a job whose program is killed with SIGKILL: its slice is gone" 'wait_for "gone $j2" 15'
j5=$(run_as "$user1" sbatch --parsable -o /dev/null --gpushare=16sm.4gb --wrap "sleep 1")
wait_for '[ -n "$(slice_field "$j5" slice)" ]' 10
check "a job that ends by itself: its slice is gone" 'wait_for "gone $j5" 15'
# the jobs of README.md and docs/slurm.md, as written, as a user: `python train.py` stands
# for a CUDA program (the simulated one, printing what it sees), as in
# test-docs.sh
mkdir -p "$work/bin"
printf '#!/bin/sh\n[ "$*" = train.py ] && exec %s info\necho "python stand-in: only train.py" >&2; exit 2\n' "$app" \
	> "$work/bin/python"
chmod 755 "$work/bin" "$work/bin/python"
for doc in README.md docs/slurm.md; do
jobs=$(awk '/test-slurm.sh runs the jobs below/ { f = 1; next } f && /^```sh/ { b = 1; next } b && /^```/ { exit } b' \
	"$repo/$doc")
check "$doc has its block of jobs" '[ "$(echo "$jobs" | wc -l)" -ge 4 ]'
while IFS= read -r line; do
	out=$(cd "$work/out" && PATH="$work/bin:$PATH" as "$user1" bash -c "$line" 2>&1)
	echo "$line:"; echo "$out" | sed "s/^/    /"
	case $line in
	sbatch*)
		id=$(echo "$out" | grep -o "Submitted batch job [0-9]*" | grep -o "[0-9]*$")
		wait_for '[ -s "$work/out/slurm-$id.out" ] && grep -q mem_total "$work/out/slurm-$id.out"' 15
		out=$(cat "$work/out/slurm-$id.out" 2> /dev/null) ;;
	esac
	want=
	case $line in
	*28sm.8gb*) want="28 8192" ;;
	*3g.20gb*) want="42 20096" ;;
	*shard:2*) want="54 20480" ;;
	*0.25*) want="26 10240" ;;
	esac
	check "$doc: $line (SMs and MiB: $want)" \
		'[ -n "$want" ] && [ "$(echo "$out" | val sms) $(echo "$out" | val mem_total_mib)" = "$want" ]'
done <<< "$jobs"
done

check "no slice is left behind" '[ "$(q list_slices | grep -c "^MIG-")" = 0 ]'
check "the daemon's log shows each job attached and detached" \
	'grep -q "attach_job slurm-$j1: process" "$work/log/control.log" && grep -q "detach_job slurm-$j1" "$work/log/control.log"'
finish
