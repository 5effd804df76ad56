#!/usr/bin/env bash
# test-top.sh BUILD: gpushare top on the simulated GPU, with programs of two
# real non-root users (gs-test1, gs-test2) in two slices:
# - gpushare top -b -n 1 prints each slice with the memory limit, guarantee
#   and use, and the SMs, list_slices --json gives, and each process with
#   its user, state and memory;
# - BUSY%: 0% for programs that only hold memory, about 100% in the second
#   frame for one launching kernels all the while;
# - on a terminal (tmux, its screen read with capture-pane): the rows, a
#   program killed gone from the screen within 2 s, lines cut to the width,
#   a short window saying how many lines it cannot show; q and Ctrl-C exit
#   0 leaving the terminal as it was (stty, the shell's screen back);
# - as the second user: their own processes, not the first user's;
# - no daemon: batch mode exits 1 saying so; on a terminal it says so and
#   shows the frame once a daemon runs;
# - an answer past the bound, and one that is not JSON: refused, saying so.
set -u
build=$(cd "$1" && pwd)
. "$(dirname "$0")/lib.sh"
if ! test_users; then
	echo "skip: needs root, setpriv and useradd for two real users"
	exit 0
fi
need_preload
sim_env
mkdir -m 1777 "$work/sim"
app="$build/tests/cuda-app"
top="$build/bin/gpushare top"
sock="$work/tmux"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2> /dev/null; done
	[ -f "$work/pipe/gpushare-control.pid" ] && kill -9 "$(cat "$work/pipe/gpushare-control.pid")" 2> /dev/null
	command -v tmux > /dev/null && tmux -S "$sock" kill-server 2> /dev/null
	[ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
q() { echo "$*" | "$ctl"; }
# hold NAME USER SLICE MiB: a CUDA program holding MiB in a slice, as USER
hold() {
	LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" GPUSHARE_SLICE="$3" \
		setpriv --reuid="$2" --regid="$(id -g "$2")" --init-groups -- "$app" hold "$4" > "$work/$1.out" 2> "$work/$1.err" &
	pids+=($!)
	eval "pid_$1=$!"
}

"$ctl" -d
a=$(q create_slice 32 8G -name train -users "$user1")
b=$(q create_slice 16 6G -name infer -users "$user2" -overcommit -guarantee 2G)
check "two slices, one for each user" '[[ "$a" == MIG-* && "$b" == MIG-* ]]'
hold a1 "$user1" "$a" 64
hold a2 "$user1" "$a" 32
hold b1 "$user2" "$b" 100
check "programs hold memory: two of the first user's in one slice, one of the second user's in the other" \
	'wait_for "grep -qs ^held \"$work/a1.out\" && grep -qs ^held \"$work/a2.out\" && grep -qs ^held \"$work/b1.out\"" 20'
# each attached to its server (a client registers before its server is up)
wait_for "[ \"\$(q list_clients --json | grep -c '\"server\": [0-9]')\" = 3 ]" 10

# --- (1) batch: the figures are list_slices --json's
$top -b -n 1 > "$work/top.out" 2> "$work/top.err"
rc=$?
q list_slices --json > "$work/slices.json"
q list_clients --json > "$work/clients.json"
cat > "$work/compare.py" << 'PY'
# compare.py TOP_OUT SLICES_JSON CLIENTS_JSON [ONLY_UID]: each slice's line of
# the frame holds list_slices' figures (in MiB, as list_slices prints them),
# each program's line its user, state and memory; prints the first
# difference and exits 1.
import json, sys
lines = open(sys.argv[1]).read().splitlines()
slices = json.load(open(sys.argv[2]))["slices"]
clients = json.load(open(sys.argv[3]))["clients"]
rows = {l.split()[0]: l.split() for l in lines if l.strip()}
def fail(why):
    print(why); sys.exit(1)
mib = lambda b: "%dMiB" % (b >> 20)
for s in slices:
    r = rows.get(s["slice"])
    if not r:
        fail("no line for slice %s" % s["slice"])
    # SLICE NAME SMs NOW LENT MEMORY GUARANTEE USED POLICY SHARING BUSY
    want = [s["slice"], s["name"] or "-", str(s["sms"]), None, None, mib(s["memory_bytes"]), mib(s["guarantee_bytes"]),
            mib(s["used_bytes"]), s["policy"], None, "yes" if s["busy"] else "no"]
    for i, w in enumerate(want):
        if w is not None and r[i] != w:
            fail("slice %s: column %d is %s, list_slices says %s" % (s["slice"], i, r[i], w))
    for p in s["processes"]:
        pr = rows.get(str(p["pid"]))
        # PID USER STATE MEMORY BUSY% COMMAND
        if not pr or pr[1] != p["user"] or pr[3] != mib(p["used_bytes"]) or pr[5] != p["command"]:
            fail("process %d: %s, list_slices says %s" % (p["pid"], pr, p))
for c in clients:
    pr = rows.get(str(c["pid"]))
    state = "queued" if c["queued"] else "running" if c["server"] else "registered"
    if not pr or pr[2] != state:
        fail("program %d: %s, list_clients says %s" % (c["pid"], pr, state))
print("equal: %d slices, %d programs" % (len(slices), len(clients)))
PY
check "gpushare top -b -n 1 exits 0 with one frame" '[ $rc = 0 ] && [ "$(grep -c "^gpushare top - " "$work/top.out")" = 1 ] && [ ! -s "$work/top.err" ]'
check "each slice's SMs, memory limit, guarantee and use, and each process's user, state and memory, are the daemon's" \
	'"$py" "$work/compare.py" "$work/top.out" "$work/slices.json" "$work/clients.json" > "$work/compare.out" 2>&1'
cat "$work/compare.out"
check "the slices are grouped under their GPU, with how its SMs are confined (list_sms)" \
	'grep -Eq "^GPU 0  GPU-[0-9a-f-]+  SMs: " "$work/top.out"'
check "the slices show the SMs their launches may use now (list_sms)" \
	'grep -E "^$a " "$work/top.out" | awk "{ exit !(\$4 ~ /^[0-9]+\$/) }"'
check "the frame holds no control byte" '! grep -q "$(printf "\033")" "$work/top.out"'
# BUSY%: field 5 of a process's line
busy_pct() { awk -v pid="$2" '$1 == pid { v = $5 } END { sub("%", "", v); print v }' "$1"; }
check "programs that only hold memory: BUSY% 0%" \
	'[ "$(busy_pct "$work/top.out" "$pid_a1")" = 0 ] && [ "$(busy_pct "$work/top.out" "$pid_b1")" = 0 ]'
LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" GPUSHARE_SLICE="$a" \
	setpriv --reuid="$user1" --regid="$(id -g "$user1")" --init-groups -- "$app" burst 4000 0 > "$work/burst.out" 2>&1 &
pids+=($!)
pid_burst=$!
wait_for "q list_clients | grep -Eq \"^$pid_burst \"" 10
$top -b -n 2 -d 1 > "$work/busy.out"
second=$(awk '/^gpushare top - /{n++} n == 2' "$work/busy.out")
check "a program launching kernels all the while: BUSY% about 100 in the second frame, the others 0%" \
	'[ "$(busy_pct <(echo "$second") "$pid_burst")" -ge 90 ] && [ "$(busy_pct <(echo "$second") "$pid_a1")" = 0 ]' ||
	cat "$work/busy.out"
kill "$pid_burst"
$top -b -n 2 -d 0.2 > "$work/top2.out"
check "-n 2 -d 0.2: two frames" '[ "$(grep -c "^gpushare top - " "$work/top2.out")" = 2 ]'
check "a bad option is refused with the usage, status 2" \
	'$top -b -d 0 > /dev/null 2> "$work/bad.err"; [ $? = 2 ] && grep -q "seconds between frames" "$work/bad.err"'
check "without a terminal and without -b: refused, saying to give -b" \
	'$top < /dev/null > /dev/null 2> "$work/tty.err"; [ $? = 2 ] && grep -q "give -b" "$work/tty.err"'

# --- (3) the second user sees their own processes only
as "$user2" $top -b -n 1 > "$work/top-user2.out" 2>&1
rc=$?
check "as the second user: exit 0, both slices" '[ $rc = 0 ] && grep -q "^$a " "$work/top-user2.out" && grep -q "^$b " "$work/top-user2.out"'
check "as the second user: their program, not the first user's" \
	'grep -Eq "^ +$pid_b1 +$user2 " "$work/top-user2.out" && ! grep -Eq "^ +($pid_a1|$pid_a2) " "$work/top-user2.out" && ! grep -q "$user1 " "$work/top-user2.out"'

# --- (2) on a terminal, in tmux
if ! command -v tmux > /dev/null; then
	echo "skip: tmux is not installed (scripts/deps.sh installs it): gpushare top on a terminal"
else
	screen() { tmux -S "$sock" capture-pane -p -t "$1"; }
	# the terminal's settings after top as before, but for the size (its
	# first line), which the test changes
	same_stty() { cmp -s <(tail -n +2 "$work/$1.before") <(tail -n +2 "$work/$1.after"); }
	# a shell in tmux that runs top between two stty -a, then says how it
	# exited (bash: a Ctrl-C that top takes does not end it, as it would sh)
	term() {
		tmux -S "$sock" new-session -d -s "$1" -x "$2" -y "$3" \
			"env PATH='$PATH' GPUSHARE_PIPE_DIRECTORY='$GPUSHARE_PIPE_DIRECTORY' bash -c 'echo shell-before; stty -a > $work/$1.before; $top ${4:-}; echo top-exit=\$?; stty -a > $work/$1.after; sleep 600'"
	}
	term top 200 40
	check "on a terminal: the frame, each slice and each process" \
		'wait_for "screen top | grep -q \"^$b \"" 5 && screen top | grep -q "^gpushare top - .* - q quits" &&
		 screen top | grep -q "^$a " && screen top | grep -Eq "^ +$pid_a1 +$user1 +running " &&
		 screen top | grep -Eq "^ +$pid_a2 +$user1 +running " && screen top | grep -Eq "^ +$pid_b1 +$user2 +running "'
	check "the shell's screen is not shown beneath it (the other screen)" '! screen top | grep -q shell-before'
	kill -9 "$pid_a2"
	t0=$(date +%s%N)
	check "a program killed: its row goes within 2 s, the others stay" \
		'wait_for "! screen top | grep -Eq \"^ +$pid_a2 \"" 3 && [ $(( ($(date +%s%N) - t0) / 1000000 )) -le 2500 ] &&
		 screen top | grep -Eq "^ +$pid_a1 +$user1 +running "'
	tmux -S "$sock" resize-window -t top -x 60 -y 6
	check "a 60x6 window: every line cut to 60 columns, never wrapped, the last saying how many more" \
		'wait_for "screen top | grep -q \"more lines: a taller terminal shows them\"" 3 &&
		 [ "$(screen top | awk "length > 60" | wc -l)" = 0 ] && [ "$(screen top | grep -c "^MIG-")" -ge 1 ] &&
		 screen top | grep -q "^MIG-[0-9a-f-]\{36\} trai"'
	tmux -S "$sock" send-keys -t top q
	check "q: top exits 0" 'wait_for "screen top | grep -q top-exit=0" 3'
	check "q: the terminal is as it was (stty -a the same, the shell's screen back)" \
		'same_stty top && screen top | grep -q shell-before && ! screen top | grep -q "^gpushare top - "'
	term ctrlc 120 30
	wait_for "screen ctrlc | grep -q '^SLICE'" 5
	tmux -S "$sock" send-keys -t ctrlc C-c
	check "Ctrl-C: top exits 0, the terminal as it was" \
		'wait_for "screen ctrlc | grep -q top-exit=0" 3 && same_stty ctrlc'
	term frames 120 30 "-n 2 -d 0.2"
	check "-n 2 on a terminal: two frames, then exit 0" 'wait_for "screen frames | grep -q top-exit=0" 3'
fi

# --- (4) no daemon
for p in "${pids[@]}"; do kill -9 "$p" 2> /dev/null; done
wait 2> /dev/null
q quit > /dev/null
$top -b -n 1 > "$work/nodaemon.out" 2> "$work/nodaemon.err"
rc=$?
check "no daemon: batch mode exits 1, saying so and where it looked" \
	'[ $rc = 1 ] && [ ! -s "$work/nodaemon.out" ] &&
	 grep -q "^gpushare top: gpushare-control is not running: no daemon at .*$work/pipe/control (gpushare-control -d starts it)" "$work/nodaemon.err"'
cat "$work/nodaemon.err"
if command -v tmux > /dev/null; then
	term wait 200 30
	check "no daemon, on a terminal: says so and keeps trying" \
		'wait_for "screen wait | grep -q \"gpushare-control is not running.* - trying again every 1 s\"" 3'
	"$ctl" -d
	check "... and shows the frame once a daemon runs" 'wait_for "screen wait | grep -q \"^$a \"" 4'
	tmux -S "$sock" send-keys -t wait q
	check "... q exits 0" 'wait_for "screen wait | grep -q top-exit=0" 3'
	q quit > /dev/null
fi

# --- bounds: a daemon that answers too much, or not JSON (a stand-in on the socket)
mkdir -m 700 "$work/fake"
cat > "$work/fake.py" << 'PY'
# fake.py SOCKET MODE: answers every command as gpushare-control's protocol
# does, with MODE's answer: "big" (2 MiB of R lines), "bad" (not JSON).
import os, socket, sys
path, mode = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX)
s.bind(path)
s.listen(4)
while True:
    c, _ = s.accept()
    f = c.makefile("rwb")
    for line in f:
        if mode == "big":
            f.write(b"".join(b"R " + b"x" * 1023 + b"\n" for _ in range(2048)))
        else:
            f.write(b'R {"version": 1, "slices": [\nR {"slice": 12\n')
        f.write(b"E 0\n")
        f.flush()
    c.close()
PY
for mode in big bad; do
	rm -f "$work/fake/control"
	"$py" "$work/fake.py" "$work/fake/control" "$mode" &
	pids+=($!)
	fake=$!
	wait_for "[ -S '$work/fake/control' ]" 5
	GPUSHARE_PIPE_DIRECTORY="$work/fake" $top -b -n 1 > "$work/$mode.out" 2> "$work/$mode.err"
	echo "$?" > "$work/$mode.rc"
	kill "$fake"
	wait "$fake" 2> /dev/null
	cat "$work/$mode.err"
done
check "an answer past 1 MiB: refused with a message, exit 1" \
	'[ "$(cat "$work/big.rc")" = 1 ] && grep -q "answer to \"list_slices --json\" is larger than 1048576 bytes: refused" "$work/big.err"'
check "an answer that is not JSON: refused saying where, exit 1" \
	'[ "$(cat "$work/bad.rc")" = 1 ] && grep -q "answer to \"list_slices --json\" is not JSON: .* at byte " "$work/bad.err"'
finish
