#!/usr/bin/env bash
# test-timeslice.sh BUILD: a timeslice slice's programs take turns
# (create_slice -timeslice MS), gpushare-control giving the turn, on the
# simulated A100 (green contexts) and H200 (TPC masks), as real non-root
# users:
# - two programs launching as fast as they go in a slice of 40 ms turns
#   launch in turns: the milliseconds each launched in barely overlap, they
#   alternate about every 40 ms, and each gets about half; without turns
#   they launch at once; so do they with every CPU kept busy;
# - a program with nothing to launch passes its turn on;
# - the daemon killed while one waits for its turn: the gate opens;
# - list_slices shows the turn; a bad -timeslice is refused.
set -u
build=$(cd "$1" && pwd)
. "$(dirname "$0")/lib.sh"
sim_daemon_test
# run NAME SLICE ARGS...: cuda-app ARGS in SLICE as user1, in the background
run() {
	local name=$1 slice=$2
	shift 2
	rm -f "$work/$name.out"
	LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" GPUSHARE_SLICE="$slice" \
		setpriv --reuid="$user1" --regid="$(id -g "$user1")" --init-groups -- "$app" "$@" > "$work/$name.out" 2> "$work/$name.err" &
	pids+=($!)
	eval "pid_$name=$!"
}
# turns A B: two launchloops' milliseconds (files in $work) compared, as
# "<overlap %> <switches> <A's share %>" over the time both ran
turns() {
	"$py" - "$work/$1" "$work/$2" << 'EOF'
import sys
a, b = ({int(l.split()[1]) for l in open(f) if l.startswith("at ")} for f in sys.argv[1:3])
lo, hi = max(min(a), min(b)), min(max(a), max(b))
a = {t for t in a if lo <= t <= hi}
b = {t for t in b if lo <= t <= hi}
both = a | b
runs, last = 0, None
for t in sorted(both):
    who = "ab" if t in a and t in b else "a" if t in a else "b"
    if who != "ab" and who != last:
        runs, last = runs + 1, who
print(100 * len(a & b) // max(1, len(both)), runs, 100 * len(a) // max(1, len(a) + len(b)))
EOF
}
both_loops() { # both_loops SLICE MS
	run x "$1" launchloop "$2"
	run y "$1" launchloop "$2"
	wait "$pid_x" "$pid_y"
}

for gpu in ${GPUS:-a100-sxm4-40gb h200-sxm-141gb}; do
	export GPUSHARE_SIMULATE=$gpu
	rm -rf "$work/state" "$work/sim"/* "$work/log"
	"$ctl" -d
	how=$([ $gpu = a100-sxm4-40gb ] && echo "green contexts" || echo "TPC masks")
	t=$(q create_slice 48 8G -users "$user1" -timeslice 40)
	check "$gpu: a slice of 40 ms turns, shown in list_slices" 'q list_slices | grep "$t" | grep -q "shared,timeslice=40ms" && q list_slices --json | grep -q "\"timeslice_ms\": 40"'
	both_loops "$t" 3000
	read -r overlap switches share <<< "$(turns x.out y.out)"
	check "$gpu ($how): two busy programs launch in turns: ${overlap}% of milliseconds both, $switches turns in 3 s, $share% to one" '[ "$overlap" -le 10 ] && [ "$switches" -ge 25 ] && [ "$switches" -le 150 ] && [ "$share" -ge 30 ] && [ "$share" -le 70 ]'
	# every CPU kept busy: a launching thread kept off the CPU is late,
	# not idle, and the turns still last their 40 ms (docs/elastic.md)
	spin=()
	for _ in $(seq "$(nproc)"); do
		sh -c 'while :; do :; done' &
		spin+=($!)
	done
	pids+=("${spin[@]}")
	both_loops "$t" 3000
	kill "${spin[@]}"
	read -r overlap switches share <<< "$(turns x.out y.out)"
	check "$gpu ($how): so do they with every CPU busy: ${overlap}% of milliseconds both, $switches turns in 3 s, $share% to one" '[ "$overlap" -le 10 ] && [ "$switches" -ge 25 ] && [ "$switches" -le 150 ] && [ "$share" -ge 30 ] && [ "$share" -le 70 ]'
	q set_slice_sm_policy "$t" -timeslice off > /dev/null
	both_loops "$t" 1500
	read -r overlap switches share <<< "$(turns x.out y.out)"
	check "$gpu: -timeslice off: they launch at once (${overlap}% of milliseconds both)" '[ "$overlap" -ge 20 ]'
	# a program that launches nothing passes its turn on, however long
	q set_slice_sm_policy "$t" -timeslice 1000 > /dev/null
	run h "$t" hold 16
	wait_for 'grep -q "^held" "$work/h.out"' > /dev/null
	run x "$t" launchloop 1500
	wait "$pid_x"
	n=$(grep -c "^at " "$work/x.out")
	# a turn held for nothing would stop it for up to a second: its
	# longest stretch without a launch says (on a busy host it also
	# launches in fewer of the milliseconds, kept off the CPU)
	gap=$(awk '/^at / { if (seen && $2 - last > gap) gap = $2 - last; last = $2; seen = 1 } END { print gap + 0 }' "$work/x.out")
	check "$gpu: beside a program with nothing to launch that holds a turn of 1 s, one launches all the time ($n of 1500 ms, at most $gap ms apart)" '[ "$n" -ge 600 ] && [ "$gap" -le 100 ]'
	kill -9 "$pid_h"
	q set_slice_sm_policy "$t" -timeslice 40 > /dev/null
	# the daemon gone while one waits: nobody gives the turn, the gate opens
	run x "$t" launchloop 3500
	run y "$t" launchloop 3500
	sleep 1
	kill -9 "$(cat "$work/pipe/gpushare-control.pid")"
	# from 0.8 s after the kill on: the milliseconds both launched in
	from=$(($("$py" -c 'import time; print(int(time.monotonic() * 1000))') + 800)) # launchloop's clock
	wait "$pid_x" "$pid_y"
	for f in x y; do awk -v from="$from" '$1 == "at" && $2 >= from' "$work/$f.out" > "$work/$f.late"; done
	# neither waits any more: each launched in a good part of them (a gate
	# left closed: none), at once where a loaded machine's two cores let them
	read -r nx ny <<< "$(wc -l < "$work/x.late") $(wc -l < "$work/y.late")"
	read -r overlap switches share <<< "$(turns x.late y.late 2> /dev/null || echo 0 0 0)"
	check "$gpu: the daemon killed while one waits: the gate opens, both launch ($nx and $ny of the last 1700 ms, ${overlap}% of them both)" '[ "$nx" -ge 400 ] && [ "$ny" -ge 400 ]'
	rm -f "$work/pipe/gpushare-control.pid"
done

"$ctl" -d
t=$(q create_slice 48 8G)
check "a time slice beyond 1000 ms is refused, saying what is right, and changes nothing" '! out=$(q set_slice_sm_policy "$t" -timeslice 5000 2>&1) && [[ "$out" == *"1 to 1000"* ]] && q list_slices | grep "$t" | grep -q " shared "'
check "so is one that is no number" '! out=$(q create_slice 8 1G -timeslice fast 2>&1) && [[ "$out" == *"or off"* ]]'
q quit > /dev/null
finish
