#!/usr/bin/env bash
# test-stress.sh BUILD: kill -9 at random instants, GPUSHARE_STRESS_KILLS
# times (1000 by default), of gpushare-control, of its servers and of
# programs (tests/tools/cuda-app under libgpushare.so, two users) while
# slices are created, resized, given and destroyed through the daemon and
# programs register. After every kill the store, read under its lock
# (tests/tools/slice-dump), must hold every slice whole (its GPU and compute
# instance, SMs of its own, its memory wholly guaranteed, its ledger, whose
# limit never exceeds the slice's) and open only to the user it was given
# to; a program of the other user must never get in. At the end, with
# everything stopped: every ledger and the simulated GPU's memory back to
# 0, every slice removable, nothing left behind. Needs root (two users).
set -u
build=$(cd "$1" && pwd)
. "$(dirname "$0")/lib.sh"
if ! test_users; then
	echo "skip: needs root, setpriv and useradd to run programs as two users"
	exit 0
fi
need_preload
sim_env
mkdir "$work/p"
app="$build/tests/cuda-app"
dump="$build/tests/slice-dump"
want=${GPUSHARE_STRESS_KILLS:-1000}
# a slice's user follows its memory: even MiB for user1, odd for user2;
# every command below keeps a slice's parity and its user
uid1=$(id -u "$user1") uid2=$(id -u "$user2")
live=()
daemon_pid() { cat "$work/pipe/gpushare-control.pid" 2> /dev/null; }
# every server any daemon started, from its log
server_pids() { sed -nE 's/.*Starting new server ([0-9]+) .*/\1/p' "$work/log/control.log" 2> /dev/null; }
# ours PID: a live process of this test, a child of this shell or one
# whose environment names our pipe directory (the daemon, its servers):
# never a process that took the number of one gone
ours() {
	local st e
	[ -n "${1:-}" ] && { read -r st < "/proc/$1/stat"; } 2> /dev/null || return 1
	st=${st##*) }
	[ "${st:0:1}" != Z ] || return 1
	st=${st#* }
	[ "${st%% *}" = $$ ] && return 0
	while IFS= read -r -d '' e; do
		[ "$e" = "GPUSHARE_PIPE_DIRECTORY=$work/pipe" ] && return 0
	done 2> /dev/null < "/proc/$1/environ"
	return 1
}
kill_ours() {
	local p
	for p in "$@"; do ours "$p" && kill -9 "$p" 2> /dev/null; done
}
cleanup() {
	kill_ours "${live[@]}" $(jobs -p) $(daemon_pid) $(server_pids)
	wait 2> /dev/null
	[ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
q() { echo "$*" | "$ctl"; }
exec {sleeper}<> <(:)
# pause S: S seconds (fractions of a millisecond too) without a process
pause() { read -t "$1" -u "$sleeper" _ 2> /dev/null; }
# alive PID: a process, not a zombie
alive() {
	local st
	[ -n "${1:-}" ] && { read -r st < "/proc/$1/stat"; } 2> /dev/null || return 1
	st=${st##*) }
	[ "${st:0:1}" != Z ]
}
start_daemon() {
	local i
	for i in $(seq 100); do
		"$ctl" -d 2> /dev/null && return 0
		pause 0.01
	done
	return 1
}

# The store's invariants, from slice-dump: one line per violation, tagged
# parse/whole/access/ledger, into the file found; "<uuid> <parity>" of
# every slice on stdout; with final=1, also ledgers not settled or not 0.
cat > "$work/check.awk" << 'AWK'
# a violation, to the file named by found
function v(why) { print why > found }
BEGIN { printf "" > found }
$1 == "unreadable" { v("parse: " $0) }
$1 == "gi" { n++; id[n] = $3; sm[$3] = $7; start[$3] = $9; mib[$3] = $11; guar[$3] = $13; cis[$3] = $15; led[$3] = $17 }
$1 == "ci" { ci[$3] = $5; cism[$3] = $7; users[$3] = $9 }
$1 == "ledger" && final && ($6 != 0 || $8 != 0 || $10 != 0) { v("zero: " $0) }
END {
	total = 0
	for (i = 1; i <= n; i++) {
		g = id[i]
		total += mib[g]
		if (cis[g] != 1 || !(g in ci)) v("whole: GPU instance " g " has " cis[g] " compute instances")
		if (start[g] == "-" || sm[g] % 8 || start[g] + sm[g] > sms) v("whole: GPU instance " g ": " sm[g] " SMs from " start[g])
		if (cism[g] != sm[g]) v("whole: GPU instance " g ": " sm[g] " SMs, its compute instance " cism[g])
		if (guar[g] != mib[g]) v("whole: GPU instance " g ": " mib[g] " MiB, " guar[g] " guaranteed")
		for (k = 1; k < i; k++)
			if (start[g] < start[id[k]] + sm[id[k]] && start[id[k]] < start[g] + sm[g])
				v("whole: GPU instances " g " and " id[k] " share SMs")
		if (g in ci && users[g] != (mib[g] % 2 ? u2 : u1))
			v("access: slice " ci[g] " (" mib[g] " MiB) is open to " users[g])
		if (led[g] == "none") v("ledger: GPU instance " g " has no ledger")
		else if (led[g] > mib[g] * 1048576) v("ledger: GPU instance " g ": ledger limit " led[g] " above its " mib[g] " MiB")
		else if (final && led[g] != mib[g] * 1048576) v("settled: GPU instance " g ": ledger limit " led[g] ", " mib[g] " MiB")
		if (g in ci) print ci[g] " " mib[g] % 2
	}
	if (total > mem) v("whole: " total " MiB of slices on a GPU of " mem)
}
AWK
# check_store [final]: the invariants now, violations appended to $vfile
# with the kill they followed; slices: "<uuid> <parity>" of every slice
vfile=$work/violations what=start
check_store() {
	"$dump" "$work/state" > "$work/dump"
	mapfile -t slices < <(awk -v u1="$uid1" -v u2="$uid2" -v sms=108 -v mem=40960 -v final="${1:-0}" \
		-v found="$work/found" -f "$work/check.awk" "$work/dump")
	if [ -s "$work/found" ]; then
		sed "s/^/after kill $kills ($what): /" "$work/found" >> "$vfile"
		[ -e "$work/first-violation" ] || cp "$work/dump" "$work/first-violation"
	fi
}

users=("$user1" "$user2") uids=("$uid1" "$uid2") gids=("$(id -g "$user1")" "$(id -g "$user2")")
refuse=("" " -refuse") busy=(queue refuse) modes=(hold alloc)
# program NAME SLICE PARITY MODE MiB: cuda-app in a slice as the user of
# that parity, in the background
n_prog=0
program() {
	(GPUSHARE_SLICE=$2 LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" \
		exec setpriv --reuid="${uids[$3]}" --regid="${gids[$3]}" --clear-groups "$app" "$4" "$5" \
		> "$work/p/$1.out" 2> "$work/p/$1.err") &
	live+=($!)
}
sizes() { sm=$((8 * (1 + RANDOM % 3))) mib=$((256 * (1 + RANDOM % 6) + $1)); }

start_daemon || { echo "FAIL the daemon starts"; exit 1; }
# the shell's notices of the jobs it killed go to shell.err, shown without them
exec {stderr}>&2 2> "$work/shell.err"
gpushare-smi -i 0 -mig 1 > /dev/null
chmod -R a+rwX "$work/sim"
: > "$work/violations"
kills=0 daemon_kills=0 program_kills=0 server_kills=0 what=resizes
slices=() live=()
t0=$(date +%s)

# programs that start while their slice shrinks and grows: none may set its
# ledger to a limit it read before the change
vfile=$work/violations-resize
: > "$vfile"
r=$(q "create_slice 8 2048M -users $user1")
for i in $(seq 60); do
	for k in 1 2 3 4; do program "r$i-$k" "$r" 0 info 0; done
	q "resize_slice $r 8 $((i % 2 ? 256 : 2048))M" > /dev/null
	wait "${live[@]}"
	live=()
	check_store
done
check "programs starting while their slice is resized never lift its ledger above it" '[[ $r == MIG-* ]] && [ ! -s "$vfile" ]'
vfile=$work/violations what=start
check_store
while [ "$kills" -lt "$want" ]; do
	alive "$(daemon_pid)" || start_daemon || { echo "FAIL the daemon restarts after kill $kills"; break; }
	# 1 to 3 changes in one connection, in the background
	cmds=""
	for ((c = 1 + RANDOM % 3; c > 0; c--)); do
		r=$((RANDOM % 100))
		if [ ${#slices[@]} = 0 ] || [ $r -lt 35 ]; then
			p=$((RANDOM % 2))
			sizes $p
			cmds+="create_slice $sm ${mib}M -users ${users[p]}${refuse[RANDOM % 2]}"$'\n'
			continue
		fi
		read -r uuid p <<< "${slices[RANDOM % ${#slices[@]}]}"
		if [ $r -lt 60 ]; then
			sizes $p
			cmds+="resize_slice $uuid $sm ${mib}M"$'\n'
		elif [ $r -lt 75 ]; then
			cmds+="destroy_slice $uuid"$'\n'
		else
			cmds+="set_slice_users $uuid ${users[p]} ${busy[RANDOM % 2]}"$'\n'
		fi
	done
	(printf '%s' "$cmds" | "$ctl" > /dev/null 2>&1) &
	# registrations: a program of the slice's user, now and then one of the other user's
	if [ ${#slices[@]} != 0 ] && [ $((RANDOM % 2)) = 0 ]; then
		read -r uuid p <<< "${slices[RANDOM % ${#slices[@]}]}"
		n_prog=$((n_prog + 1))
		if [ $((RANDOM % 5)) = 0 ]; then
			program "intruder$n_prog" "$uuid" $((1 - p)) alloc 16
		else
			program "p$n_prog" "$uuid" "$p" "${modes[RANDOM % 2]}" 64
		fi
	fi
	# a random instant: a tenth of a millisecond to 30 ms
	r=$((RANDOM % 10))
	if [ $r -lt 3 ]; then pause "0.000$((1 + RANDOM % 9))"
	elif [ $r -lt 7 ]; then pause "0.00$((1 + RANDOM % 9))"
	else pause "0.0$((1 + RANDOM % 3))$((RANDOM % 10))"; fi
	# the daemon, a server or a program
	still=()
	for p in "${live[@]}"; do alive "$p" && still+=("$p"); done
	live=("${still[@]}")
	r=$((RANDOM % 100))
	victim=""
	if [ ${#live[@]} != 0 ] && { [ $r -lt 40 ] || [ ${#live[@]} -gt 6 ]; }; then
		victim=${live[RANDOM % ${#live[@]}]} what=program
	elif [ $r -lt 50 ]; then
		mapfile -t srv < <(server_pids)
		[ ${#srv[@]} != 0 ] && victim=${srv[RANDOM % ${#srv[@]}]} what=server
		ours "$victim" || victim=""
	fi
	[ -z "$victim" ] && victim=$(daemon_pid) what=daemon
	if ours "$victim" && kill -9 "$victim" 2> /dev/null; then
		kills=$((kills + 1))
		case $what in
		daemon) daemon_kills=$((daemon_kills + 1)) ;;
		server) server_kills=$((server_kills + 1)) ;;
		*) program_kills=$((program_kills + 1)) ;;
		esac
		while alive "$victim"; do pause 0.001; done
	fi
	check_store
	# the store as every reader parses it
	if [ $((kills % 50)) = 0 ] && ! gpushare-smi -L > /dev/null 2>&1; then
		echo "after kill $kills: parse: gpushare-smi -L fails" >> "$work/violations"
	fi
done
echo "$kills kills ($daemon_kills of the daemon, $server_kills of servers, $program_kills of programs), $n_prog programs, $(($(date +%s) - t0)) s"

# everything stopped: programs, and the changes still in flight
kill_ours "${live[@]}" $(jobs -p)
wait
live=()
alive "$(daemon_pid)" || start_daemon
what=end
check "the daemon runs after every kill" 'alive "$(daemon_pid)"'
check_store
check "after every kill the store parses (gpushare-smi -L too)" '! grep -q ": parse: " "$work/violations"'
check "after every kill every slice is whole: its instances, SMs of its own, memory guaranteed" '! grep -q ": whole: " "$work/violations"'
check "after every kill every slice is open only to the user it was given to" '! grep -q ": access: " "$work/violations"'
check "after every kill every slice has its ledger, never above its memory" '! grep -q ": ledger: " "$work/violations"'
intruders=$(cat "$work/p/"intruder*.out 2> /dev/null | grep -cE "^(ok|held)")
check "a program of another user never got into a slice ($(ls "$work/p" | grep -c "^intruder.*out") tried)" '[ "$intruders" = 0 ]'
check "every killed program leaves the daemon's lists" 'wait_for "[ \"\$(q list_clients | wc -l)\" = 1 ]" 10'
# one change settles what a killed one left; then the ledgers as at rest
if [ ${#slices[@]} != 0 ]; then
	read -r uuid p <<< "${slices[0]}"
	q "set_slice_users $uuid ${users[p]}" > /dev/null
fi
vfile=$work/violations-at-rest
: > "$vfile"
check_store 1
check "every ledger is back to 0, no process charged" '! grep -q ": zero: " "$work/violations-at-rest"'
check "the next change settles every ledger's limit to its slice's memory" '! grep -q ": settled: " "$work/violations-at-rest"'
check "no violation at rest" '[ ! -s "$work/violations-at-rest" ]'
: > "$work/destroy"
for s in "${slices[@]}"; do q "destroy_slice ${s% *}" > /dev/null 2>> "$work/destroy" || echo "destroy_slice ${s% *}: exit $?" >> "$work/destroy"; done
check "every slice can be destroyed once its programs are gone (${#slices[@]})" '[ ! -s "$work/destroy" ] && ! grep -q "^ci " <("$dump" "$work/state")'
check "... and no ledger or temporary file is left in the state dir (the GPU's TPC map and what confines it stay)" '[ "$(ls "$work/state" | grep -v "^tpcmap-GPU-" | sort | tr "\n" " ")" = "confinement lock slices " ]'
daemon=$(daemon_pid)
q "quit -t 5" > /dev/null
gone() {
	local p
	for p in "$@"; do wait_for "! ours $p" || return 1; done
}
check "quit: the daemon and every server it started are gone" '[ -n "$daemon" ] && gone "$daemon" $(server_pids)'
"$dump" "$work/state" "$work/sim"/mem-GPU-* > "$work/dump"
check "the simulated GPU's memory is all free" 'awk "/^ledger .*\/mem-GPU-/ { n++; if (\$6 != 0 || \$10 != 0) bad = 1 } END { exit !(n == 1 && !bad) }" "$work/dump"'
exec 2>&"$stderr"
grep -v " Killed  " "$work/shell.err" >&2
if [ "$fails" != 0 ]; then
	cat "$work/violations-resize" "$work/violations" "$work/violations-at-rest" 2> /dev/null | head -20
	[ -e "$work/first-violation" ] && { echo "-- the store at the first violation:"; cat "$work/first-violation"; }
fi
finish
