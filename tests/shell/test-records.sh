#!/usr/bin/env bash
# test-records.sh BUILD: accounting records (the log directory's
# accounting.log), on the simulated GPU, as two real non-root users: a line
# for every program that ran, as it goes (a SIGKILL included), with its user,
# command, slice, start and end, the most memory it held and its
# GPU-seconds, and the seconds it was busy on the GPU (about 1 for a program
# launching kernels for 1 s, about 0 for one that only holds memory); a name
# a program gives itself cannot break the format.
set -u
build=$(cd "$1" && pwd)
. "$(dirname "$0")/lib.sh"
sim_daemon_test
log="$work/log/accounting.log"
# record PID: its line as python's dict, or nothing
record() {
	"$py" - "$log" "$1" << 'EOF'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["pid"] == int(sys.argv[2]):
        print(repr(r))
EOF
}
has() { # has PID PYTHON-CONDITION-ON-r
	"$py" -c "r = $(record "$1"); import sys; sys.exit(0 if ($2) else 1)" 2> /dev/null
}

"$ctl" -d
s=$(q create_slice 24 8G -users "$user1" -name train)
LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" GPUSHARE_SLICE="$s" \
	setpriv --reuid="$user1" --regid="$(id -g "$user1")" --init-groups -- "$app" hold 700 > "$work/a.out" 2>&1 &
a=$!
pids+=($a)
wait_for 'grep -q "^held" "$work/a.out"' 10
sleep 1
kill -TERM "$a"
wait "$a" 2> /dev/null
check "a line when a program goes, with its user, command and slice" 'wait_for "has $a \"r[\\\"user\\\"] == \\\"$user1\\\" and r[\\\"command\\\"] == \\\"cuda-app\\\" and r[\\\"slice\\\"] == \\\"$s\\\"\"" 5'
check "its time there (over a second) and the most memory it held (700 MiB and its context)" 'has "$a" "r[\"seconds\"] >= 1 and r[\"peak_memory_bytes\"] >= 700 << 20 and r[\"end\"] > r[\"start\"]"'
check "its GPU-seconds: its time times its slice's part of the GPU's SMs (24 of 108)" 'has "$a" "r[\"sms\"] == 24 and r[\"gpu_sms\"] == 108 and abs(r[\"gpu_seconds\"] - r[\"seconds\"] * 24 / 108) < 0.01"'
check "... busy on the GPU about 0 s: it only held memory" 'has "$a" "r[\"busy_seconds\"] < 0.05 and r[\"busy_gpu_seconds\"] <= r[\"busy_seconds\"]"'

# a program killed, in the remainder, with a name chosen to break the format
cp "$app" "$work/tmp/x\"y"
chmod 755 "$work/tmp/x\"y"
LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" \
	setpriv --reuid="$user2" --regid="$(id -g "$user2")" --init-groups -- "$work/tmp/x\"y" hold 100 > "$work/b.out" 2>&1 &
b=$!
pids+=($b)
wait_for 'grep -q "^held" "$work/b.out"' 10
kill -9 "$b"
wait "$b" 2> /dev/null
check "a SIGKILLed program of the remainder gets its line too, its odd name made safe" 'wait_for "has $b \"r[\\\"user\\\"] == \\\"$user2\\\" and r[\\\"slice\\\"] == \\\"-\\\" and \\\"\\\\\\\"\\\" not in r[\\\"command\\\"]\"" 5'
check "every line is one JSON object of version 1" '"$py" -c "
import json, sys
n = 0
for line in open(\"$log\"):
    assert json.loads(line)[\"version\"] == 1
    n += 1
assert n == 2, n"'
# a program launching kernels for about 1 s, then idle
LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" GPUSHARE_SLICE="$s" \
	setpriv --reuid="$user1" --regid="$(id -g "$user1")" --init-groups -- "$app" burst 1000 300 > "$work/c.out" 2>&1 &
c=$!
pids+=($c)
wait_for 'grep -q "^idle" "$work/c.out"' 20
kill -TERM "$c"
wait "$c" 2> /dev/null
busy=$(awk '/^burst/ { printf "%.6f\n", ($3 - $2) / 1e9 }' "$work/c.out")
check "a program busy about 1 s: busy_seconds what it measured ($busy), busy_gpu_seconds its slice's part of that, both under its time there" \
	'wait_for "has $c \"abs(r[\\\"busy_seconds\\\"] - $busy) < 0.1 and abs(r[\\\"busy_gpu_seconds\\\"] - r[\\\"busy_seconds\\\"] * 24 / 108) < 0.01 and r[\\\"busy_seconds\\\"] < r[\\\"seconds\\\"]\"" 5'
check "the log is the daemon's, writable by nobody else" '[ "$(stat -c %U:%a "$log")" = root:644 ]'
q quit > /dev/null
finish
