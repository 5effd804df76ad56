#!/usr/bin/env bash
# test-hostile.sh BUILD: gpushare-control run by root against a hostile local
# user (gs-test1; gs-test2 is a bystander): directories and files planted
# before the daemon starts, its lock and log pipe, thousands of idle
# connections, floods of commands whose answers are never read, a non-root
# quit, and listings that show another user's servers and programs.
set -u
build=$(cd "$1" && pwd)
. "$(dirname "$0")/lib.sh"
if ! test_users; then
	echo "skip: needs root, setpriv and useradd for two real users"
	exit 0
fi
py=/usr/bin/python3 # the users' own python: a shim of root's may be closed to them
[ -x "$py" ] || py=$(command -v python3)
peers="$(cd "$(dirname "$0")" && pwd)/hostile-peers.py"
work=$(mktemp -d)
chmod 755 "$work"
mkdir -m 1777 "$work/tmp" # a /tmp of its own: anyone makes things in it
export GPUSHARE_PIPE_DIRECTORY="$work/pipe" GPUSHARE_LOG_DIRECTORY="$work/log"
export GPUSHARE_STATE_DIR="$work/state" GPUSHARE_SIM_DIR="$work/sim" GPUSHARE_SIMULATE=a100-sxm4-40gb
export PATH="$build/bin:$PATH"
ctl="$build/bin/gpushare-control"
bg=()
cleanup() {
	for p in "${bg[@]}"; do kill -9 "$p" 2> /dev/null; done
	for d in pipe pipe2; do
		[ -f "$work/$d/gpushare-control.pid" ] && kill -9 "$(cat "$work/$d/gpushare-control.pid")" 2> /dev/null
	done
	for u in $user1 $user2; do pkill -9 -U "$u" -f gpushare-server 2> /dev/null; done
	[ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
q() { echo "$*" | "$ctl"; }
as_q() { local u=$1; shift; echo "$*" | as "$u" timeout 5 "$ctl"; }
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }

# ---- 1. directories and files planted by another user ----
mkdir -m 755 "$work/victimdir"
echo secret > "$work/victimdir/a"
chmod 600 "$work/victimdir/a"
victim_ok() { [ "$(stat -c %a:%U "$work/victimdir/a")" = 600:root ] && [ "$(cat "$work/victimdir/a")" = secret ]; }
as $user1 mkdir -m 777 "$work/tmp/X"
as $user1 ln -s "$work/victimdir/a" "$work/tmp/X/control_lock"
for i in $(seq $$ $(($$ + 200))); do as $user1 ln -s "$work/victimdir/a" "$work/tmp/X/gpushare-control.pid.tmp.$i"; done
as $user1 ln -s "$work/victimdir/a" "$work/tmp/X/log"
err=$(GPUSHARE_PIPE_DIRECTORY="$work/tmp/X" timeout 10 "$ctl" -d 2>&1); rc=$?
check "a pipe directory another user made is refused: the daemon does not start" '[ $rc = 1 ] && [ ! -e "$work/tmp/X/control" ]'
check "... with an error naming it, its owner and mode, and what is required" 'echo "$err" | grep -q "$work/tmp/X is owned by $user1 (uid $(id -u $user1)) with mode 0777: it must be owned by root (uid 0) and not writable by group or others"'
check "... and root's file behind the planted symlinks is untouched" victim_ok

as $user1 mkdir -m 755 "$work/tmp/Y"
err=$(GPUSHARE_PIPE_DIRECTORY="$work/tmp/Y/pipe" timeout 10 "$ctl" -d 2>&1); rc=$?
check "a pipe directory inside another user's directory is refused, not made" '[ $rc = 1 ] && [ ! -e "$work/tmp/Y/pipe" ] && echo "$err" | grep -q "$work/tmp/Y above it is owned by $user1"'
as $user1 mkdir -m 777 "$work/tmp/L"
as $user1 ln -s "$work/victimdir/a" "$work/tmp/L/control.log"
err=$(GPUSHARE_LOG_DIRECTORY="$work/tmp/L" GPUSHARE_PIPE_DIRECTORY="$work/pipe-l" timeout 10 "$ctl" -d 2>&1); rc=$?
check "a log directory another user made is refused, nothing written through it" '[ $rc = 1 ] && echo "$err" | grep -q "log directory (GPUSHARE_LOG_DIRECTORY) $work/tmp/L is owned by $user1" && victim_ok && [ ! -e "$work/pipe-l/control" ]'
as $user1 mkdir -m 755 "$work/tmp/S"
err=$(GPUSHARE_STATE_DIR="$work/tmp/S" GPUSHARE_PIPE_DIRECTORY="$work/pipe-s" timeout 10 "$ctl" -d 2>&1); rc=$?
check "a state directory another user owns is refused" '[ $rc = 1 ] && echo "$err" | grep -q "state directory (GPUSHARE_STATE_DIR) $work/tmp/S is owned by $user1"'
as $user1 ln -s "$work/victimdir" "$work/tmp/Z"
err=$(GPUSHARE_PIPE_DIRECTORY="$work/tmp/Z" timeout 10 "$ctl" -d 2>&1); rc=$?
check "a pipe directory that is another user's symlink to root's directory is refused" '[ $rc = 1 ] && [ ! -e "$work/victimdir/control" ] && victim_ok'

# stale entries in root's own directory: removed, never followed
mkdir -m 755 "$work/pipe"
for f in control_lock log gpushare-control.pid "gpushare-control.pid.tmp.$$"; do ln -s "$work/victimdir/a" "$work/pipe/$f"; done
mkdir -m 755 "$work/log"
ln -s "$work/victimdir/a" "$work/log/control.log"
check "root's pipe directory with stale symlinks: the daemon starts" '"$ctl" -d && [ -S "$work/pipe/control" ]'
check "... the symlinks were replaced, not followed" 'victim_ok && [ ! -L "$work/pipe/control_lock" ] && [ ! -L "$work/log/control.log" ] && [ -p "$work/pipe/log" ]'
mode() { stat -c %A "$1"; }
check "pipe directory modes: control 0666, control_privileged 0755, control_lock 0600, log 0600, pid 0644" '[ "$(mode "$work/pipe/control")" = srw-rw-rw- ] && [ "$(mode "$work/pipe/control_privileged")" = srwxr-xr-x ] && [ "$(mode "$work/pipe/control_lock")" = -rw------- ] && [ "$(mode "$work/pipe/log")" = prw------- ] && [ "$(mode "$work/pipe/gpushare-control.pid")" = -rw-r--r-- ]'
check "another user cannot take the lock to keep the daemon from starting" '! as $user1 flock -n -s "$work/pipe/control_lock" true 2> /dev/null'
check "another user cannot write lines into server.log through the log pipe" '! as $user1 sh -c "echo forged > \"$work/pipe/log\"" 2> /dev/null'
q "start_server -uid $(id -u $user1)" > /dev/null
check "a server running as the user still writes server.log through the pipe" 'wait_for "grep -q \"Serving slice - for user $(id -u $user1)\$\" \"$work/log/server.log\""'
srv1=$(q get_server_list | head -1)
kill -9 "$(cat "$work/pipe/gpushare-control.pid")"
"$ctl" -d
check "... and after kill -9 of the daemon, the next one gets its lines" 'wait_for "grep -q \"Server +$srv1\] Reconnected to the control daemon\" \"$work/log/server.log\""'

# ---- 4. quit as another user ----
start=$(date +%s%N)
out=$(echo quit | as $user1 timeout 10 "$ctl"); rc=$?
took=$(( ($(date +%s%N) - start) / 1000000 ))
check "a non-root quit is refused at once, with a message and status 1" '[ "$out" = "Permission denied: quit needs root or the daemon'"'"'s user" ] && [ $rc = 1 ] && [ $took -lt 2000 ]'
out=$(echo "quit -t x" | timeout 10 "$ctl"); rc=$?
check "a quit with bad arguments is refused at once too" '[ "$out" = "Invalid arguments: quit [-t <seconds>]" ] && [ $rc = 1 ]'
check "... and the daemon still runs" '[ "$(q get_default_client_priority)" = 0 ]'

# ---- 5. listings: each user sees their own ----
q "start_server -uid $(id -u $user2)" > /dev/null
as $user2 "$py" - "$work/pipe/control" > "$work/client2" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b"register_client -\n")
got = b""
while b"E " not in got:
    got += s.recv(256)
print("registered", got, flush=True)
time.sleep(3600)
PY
client2=$! # setpriv execs python: the same pid
bg+=($client2)
wait_for '[ -s "$work/client2" ]'
srv2=$(q get_server_list | while read -r p; do [ "$(stat -c %U /proc/$p)" = $user2 ] && echo $p; done)
check "root sees every user's servers" '[ "$(q get_server_list | wc -l)" -ge 3 ]'
check "a user sees only their own servers" '[ "$(as_q $user1 get_server_list)" = "$srv1" ] && [ "$(as_q $user2 get_server_list)" = "$srv2" ]'
check "another user's server is not found for them" '[ "$(as_q $user1 get_client_list $srv2)" = "Server $srv2 not found" ] && [ "$(as_q $user1 get_server_status $srv2)" = "Server $srv2 not found" ]'
check "ps, get_device_client_list, list_clients, device_query: another user's program and server are hidden" '! as_q $user1 ps | grep -q "^$client2 " && ! as_q $user1 get_device_client_list | grep -q "^$client2" && ! as_q $user1 list_clients | grep -q "^$client2 " && ! as_q $user1 device_query | grep -q "Server $srv2"'
check "... and shown to their user and to root" 'as_q $user2 ps | grep -q "^$client2 " && q ps | grep -q "^$client2 " && q get_device_client_list | grep -q "^$client2.1" && q list_clients | grep -q "^$client2 " && q device_query | grep -q "Server $srv2"'
kill -9 $client2

# ---- 2. denial of service ----
# idle connections: 5000 of user1's, which never send a command
as $user1 "$py" "$peers" idle "$work/pipe/control" 5000 11 > "$work/idle" 2>&1 &
bg+=($!)
wait_for 'grep -q "^after-connect" "$work/idle"' 60
start=$(date +%s%N)
out=$(echo get_server_list | timeout 1 "$ctl")
took=$(( ($(date +%s%N) - start) / 1000000 ))
check "5000 idle connections of a user: root's get_server_list answers within a second" '[ -n "$out" ] && [ $took -lt 1000 ]'
check "... and the other user's commands too" '[ "$(echo get_default_client_priority | as $user2 timeout 1 "$ctl")" = 0 ]'
check "... the user got 64, the rest were refused with one clear line" 'grep -q "^after-connect open=64 refused=4936 closed=0 lines=\[.Too many connections for user $user1 (limit 64).\]" "$work/idle"'
out=$(echo get_server_list | as $user1 timeout 5 "$ctl"); rc=$?
check "... and the user's front end says so and exits 1" '[ "$out" = "Too many connections for user $user1 (limit 64)" ] && [ $rc = 1 ]'
check "connections that never send a command are closed after 10 s, saying so" 'wait_for "grep -q \"^after-hold open=0 refused=5000 closed=0\" \"$work/idle\"" 15 && grep -q "^after-hold .*No command within 10 s: closed" "$work/idle"'
check "... the user is served again" '[ "$(as_q $user1 get_default_client_priority)" = 0 ]'
kill -9 "${bg[-1]}"

# a flood of commands whose answers are never read
pid=$(cat "$work/pipe/gpushare-control.pid")
as $user1 "$py" "$peers" flood "$work/pipe/control" 1000 6 device_query > "$work/flood" 2>&1 &
bg+=($!)
sleep 3
start=$(date +%s%N)
out=$(echo get_server_list | timeout 1 "$ctl")
took=$(( ($(date +%s%N) - start) / 1000000 ))
check "1000 connections flooding commands: root still answered within a second" '[ -n "$out" ] && [ $took -lt 1000 ]'
check "... and the other user too" '[ "$(echo get_default_client_priority | as $user2 timeout 1 "$ctl")" = 0 ]'
wait_for 'grep -q flooded "$work/flood"' 10
rss=$(rss_kb "$pid")
echo "     daemon VmRSS after the flood: $rss kB ($(cat "$work/flood"))"
check "... the daemon stays under 64 MB" '[ "$rss" -lt 65536 ]'
kill -9 "${bg[-1]}"
check "the daemon lets go of them and serves the user again" 'wait_for "[ \"\$(as_q $user1 get_default_client_priority)\" = 0 ]"'

# ---- 3. a daemon that does not answer: time limits, clear messages ----
kill -STOP "$pid"
start=$(date +%s%N)
out=$(echo get_server_list | GPUSHARE_CONTROL_TIMEOUT=2 timeout 10 "$ctl"); rc=$?
took=$(( ($(date +%s%N) - start) / 1000000 ))
check "a daemon that does not answer: the front end says so after GPUSHARE_CONTROL_TIMEOUT" '[ "$out" = "The gpushare control daemon did not answer within 2 s" ] && [ $rc = 1 ] && [ $took -lt 4000 ]'
if ! nm -D "$build/lib/libgpushare.so" | grep -q __asan_init; then
	start=$(date +%s%N)
	out=$(LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" GPUSHARE_MEMORY_LIMIT=1G timeout 30 "$build/tests/cuda-app" info 2>&1); rc=$?
	took=$(( ($(date +%s%N) - start) / 1000000 ))
	check "... a program's registration gives up after 10 s with a message, and the program runs" '[ $rc = 0 ] && echo "$out" | grep -q "gpushare-control ($work/pipe/control) did not answer within 10 s; running unregistered" && [ $took -lt 15000 ]'
fi
kill -CONT "$pid"
check "the daemon answers again once it runs" '[ "$(q get_default_client_priority)" = 0 ]'

q quit > /dev/null
finish
