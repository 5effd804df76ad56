#!/usr/bin/env bash
# test-hostile.sh BUILD: gpushare-control run by root against a hostile local
# user (gs-test1; gs-test2 is a bystander), on the simulated GPU: pipe, log
# and state directories planted before the daemon starts (full of symlinks
# to a file of root's, owned by the user, symlinked, the default
# /tmp/gpushare made by the user first), its lock and log pipe, a non-root
# quit, listings that must not show another user's programs and servers,
# 5000 idle connections, 1000 connections flooding commands whose answers
# they never read (past the user's limits, and all taken), and a daemon that
# does not answer. Needs root, setpriv and useradd; some 30 s.
set -u
build=$(cd "$1" && pwd)
. "$(dirname "$0")/lib.sh"
if ! test_users; then
	echo "skip: needs root, setpriv and useradd for two real users"
	exit 0
fi
peers="$(cd "$(dirname "$0")" && pwd)/hostile-peers.py"
# a sanitized interposer cannot be preloaded (test-interposer covers it)
preload=yes
# bounds on answers and on the daemon's growth; a sanitized daemon is slower
# and keeps freed memory in quarantine (256 MiB), so its bounds are wider
answer_s=1 grow_kb=65536
if sanitized; then
	preload= answer_s=3 grow_kb=$((384 << 10))
	echo "     (sanitized build: answers within $answer_s s, growth under $((grow_kb >> 10)) MiB)"
fi
sim_env
mkdir -m 1777 "$work/tmp" "$work/tmp2" # /tmps of their own: anyone makes things in them
# small limits, to see idle connections closed and peers that never read dropped
export GPUSHARE_CONTROL_IDLE_TIMEOUT=4 GPUSHARE_CONTROL_USER_OUTPUT_LIMIT=1024
servers=""
cleanup() {
	local p f
	for p in $(jobs -p); do kill -9 "$p" 2> /dev/null; done # the users' programs and peers still running
	for f in "$work"/pipe*/gpushare-control.pid "$work"/tmp*/*/gpushare-control.pid; do
		[ -f "$f" ] && kill -9 "$(cat "$f")" 2> /dev/null
	done
	# the servers, by their pids: those we saw, those the daemons recorded
	for p in $servers $(awk '$1 == "server" { print $2 }' "$work"/pipe*/control-servers 2> /dev/null); do
		[ "$(cat "/proc/$p/comm" 2> /dev/null)" = gpushare-server ] && kill -9 "$p"
	done
	[ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
q() { echo "$*" | timeout 10 "$ctl"; }
as_q() { local u=$1; shift; echo "$*" | as "$u" timeout 10 "$ctl"; }
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
stop() { kill -9 "$1" 2> /dev/null; wait "$1" 2> /dev/null; } # and reap it, quietly
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
# the servers of a user, as root lists them
servers_of() { q get_server_list | while read -r p; do [ "$(stat -c %U "/proc/$p" 2> /dev/null)" = "$1" ] && echo "$p"; done; }

# ---- 1. directories and files planted by another user ----
mkdir -m 755 "$work/victimdir"
echo secret > "$work/victimdir/a"
chmod 600 "$work/victimdir/a"
victim=$(stat -c '%a %U %s %Y %i' "$work/victimdir/a")
victim_ok() {
	[ "$(stat -c '%a %U %s %Y %i' "$work/victimdir/a")" = "$victim" ] && [ "$(cat "$work/victimdir/a")" = secret ] &&
		[ "$(ls "$work/victimdir")" = a ]
}
# plant DIR: as user1, every name the daemon makes in a pipe or log
# directory, a symlink to root's file; the temporary files (NAME.tmp.PID) for
# the next 300 pids
plant() {
	as $user1 sh -c 'v=$1 d=$2 i=$3
		for f in control control_privileged control_lock log gpushare-control.pid control-servers control-settings control.log server.log; do
			ln -s "$v" "$d/$f" || exit 1
		done
		while [ $i -lt $(($3 + 300)) ]; do
			for f in gpushare-control.pid control-servers control-settings; do ln -s "$v" "$d/$f.tmp.$i" || exit 1; done
			i=$((i + 1))
		done' sh "$work/victimdir/a" "$1" "$(sh -c 'echo $$')"
}
# start VAR=VALUE...: gpushare-control -d with those in its environment; err, rc
start() { err=$(env GPUSHARE_LOG_DIRECTORY="$work/log0" "$@" timeout 10 "$ctl" -d 2>&1); rc=$?; }
need="it must be owned by root (uid 0) and not writable by group or others"

as $user1 mkdir -m 777 "$work/tmp/X"
plant "$work/tmp/X"
start GPUSHARE_PIPE_DIRECTORY="$work/tmp/X"
check "a pipe directory another user made, full of symlinks to root's file: the daemon does not start" '[ $rc = 1 ] && [ ! -S "$work/tmp/X/control" ]'
check "... with an error naming it, its owner and mode, and what is required" 'echo "$err" | grep -qF "pipe directory (GPUSHARE_PIPE_DIRECTORY) $work/tmp/X is owned by $user1 (uid $(id -u $user1)) with mode 0777: $need"'
check "... and root's file behind the symlinks is untouched" victim_ok
as $user1 mkdir -m 755 "$work/tmp/X2"
start GPUSHARE_PIPE_DIRECTORY="$work/tmp/X2"
check "a pipe directory another user owns, not writable by others: refused" '[ $rc = 1 ] && [ ! -e "$work/tmp/X2/control" ] && echo "$err" | grep -qF "$work/tmp/X2 is owned by $user1 (uid $(id -u $user1)) with mode 0755: $need"'
plant "$work/tmp"
start GPUSHARE_PIPE_DIRECTORY="$work/tmp"
check "a pipe directory of root's that anyone writes in (a /tmp), symlinks planted: refused, root's file untouched" '[ $rc = 1 ] && echo "$err" | grep -qF "$work/tmp is owned by root (uid 0) with mode 1777: $need" && victim_ok'
as $user1 mkdir -m 755 "$work/tmp/Y"
start GPUSHARE_PIPE_DIRECTORY="$work/tmp/Y/pipe"
check "a pipe directory inside another user's directory is refused, not made" '[ $rc = 1 ] && [ ! -e "$work/tmp/Y/pipe" ] && echo "$err" | grep -qF "$work/tmp/Y above it is owned by $user1"'
as $user1 ln -s "$work/victimdir" "$work/tmp/Z"
start GPUSHARE_PIPE_DIRECTORY="$work/tmp/Z"
check "a pipe directory that is another user's symlink to root's directory is refused, nothing made behind it" '[ $rc = 1 ] && echo "$err" | grep -qF "$work/tmp/Z is a symlink: it must be a directory owned by root" && victim_ok'
ln -s "$work/victimdir" "$work/rootlink"
start GPUSHARE_PIPE_DIRECTORY="$work/rootlink"
check "... and so is one that is root's own symlink" '[ $rc = 1 ] && echo "$err" | grep -qF "$work/rootlink is a symlink" && victim_ok'
as $user1 mkdir -m 777 "$work/tmp/L"
plant "$work/tmp/L"
start GPUSHARE_LOG_DIRECTORY="$work/tmp/L" GPUSHARE_PIPE_DIRECTORY="$work/pipe-l"
check "a log directory another user made is refused, nothing written through it" '[ $rc = 1 ] && echo "$err" | grep -qF "log directory (GPUSHARE_LOG_DIRECTORY) $work/tmp/L is owned by $user1" && victim_ok && [ ! -e "$work/pipe-l" ]'
as $user1 mkdir -m 755 "$work/tmp/S"
start GPUSHARE_STATE_DIR="$work/tmp/S" GPUSHARE_PIPE_DIRECTORY="$work/pipe-s"
check "a state directory another user owns is refused" '[ $rc = 1 ] && echo "$err" | grep -qF "state directory (GPUSHARE_STATE_DIR) $work/tmp/S is owned by $user1" && [ ! -e "$work/pipe-s" ]'
# the default pipe directory, /tmp/gpushare, made by another user first: in
# a mount namespace whose /tmp is tmp2, so the machine's /tmp is not touched
if unshare -m true 2> /dev/null; then
	as $user1 mkdir -m 777 "$work/tmp2/gpushare"
	plant "$work/tmp2/gpushare"
	# the daemon from inside the new /tmp: the build tree may be under the old one
	install -m 755 "$ctl" "$work/tmp2/gs-ctl"
	err=$(env -u GPUSHARE_PIPE_DIRECTORY GPUSHARE_LOG_DIRECTORY=/tmp/log0 unshare -m sh -c \
		'mount --bind "$1" /tmp && exec timeout 10 /tmp/gs-ctl -d' sh "$work/tmp2" 2>&1); rc=$?
	check "the default /tmp/gpushare made by another user: refused, root's file untouched" '[ $rc = 1 ] && echo "$err" | grep -qF "pipe directory (GPUSHARE_PIPE_DIRECTORY) /tmp/gpushare is owned by $user1" && [ ! -S "$work/tmp2/gpushare/control" ] && victim_ok'
else
	echo "skip the default /tmp/gpushare made by another user: no mount namespace (unshare -m) here"
fi

# stale entries in root's own directories: removed, never followed
mkdir -m 755 "$work/pipe" "$work/log"
for f in control_lock log gpushare-control.pid "gpushare-control.pid.tmp.$$"; do ln -s "$work/victimdir/a" "$work/pipe/$f"; done
ln -s "$work/victimdir/a" "$work/log/control.log"
check "root's pipe directory with stale symlinks: the daemon starts" '"$ctl" -d && [ -S "$work/pipe/control" ]'
pid=$(cat "$work/pipe/gpushare-control.pid")
check "... the symlinks were replaced, not followed" 'victim_ok && [ ! -L "$work/pipe/control_lock" ] && [ ! -L "$work/log/control.log" ] && [ -p "$work/pipe/log" ] && [ ! -L "$work/pipe/gpushare-control.pid" ]'
mode() { stat -c %A "$1"; }
check "pipe directory modes: control 0666, control_privileged 0755, control_lock 0600, log 0600, pid 0644" '[ "$(mode "$work/pipe/control")" = srw-rw-rw- ] && [ "$(mode "$work/pipe/control_privileged")" = srwxr-xr-x ] && [ "$(mode "$work/pipe/control_lock")" = -rw------- ] && [ "$(mode "$work/pipe/log")" = prw------- ] && [ "$(mode "$work/pipe/gpushare-control.pid")" = -rw-r--r-- ]'
check "another user cannot take the lock to keep the daemon from starting" '! as $user1 flock -n -s "$work/pipe/control_lock" true 2> /dev/null'
check "another user cannot write lines into server.log through the log pipe" '! as $user1 sh -c "echo forged > \"$work/pipe/log\"" 2> /dev/null && ! grep -q forged "$work/log/server.log"'
q "start_server -uid $(id -u $user1)" > /dev/null
check "a server running as the user still writes server.log through the pipe" 'wait_for "grep -q \"Serving slice - for user $(id -u $user1)\$\" \"$work/log/server.log\""'
srv1=$(servers_of $user1)
servers="$servers $srv1"
kill -9 "$pid"
"$ctl" -d
pid=$(cat "$work/pipe/gpushare-control.pid")
check "... and after kill -9 of the daemon, the next one gets its lines" '[ -n "$srv1" ] && wait_for "grep -Eq \"Server +$srv1\] Reconnected to the control daemon\" \"$work/log/server.log\""'

# ---- 2. quit as another user ----
start_ns=$(date +%s%N)
out=$(echo quit | as $user1 timeout 10 "$ctl" 2>&1); rc=$?
took=$(ms_since $start_ns)
check "a non-root quit is refused at once, with a message and status 1" '[ "$out" = "gpushare-control: Permission denied: quit needs root or the daemon'"'"'s user" ] && [ $rc = 1 ] && [ $took -lt 2000 ]'
out=$(echo "quit -t x" | timeout 10 "$ctl"); rc=$?
check "a quit with bad arguments is refused at once too" '[ "$out" = "Invalid arguments: quit [-t <seconds>]" ] && [ $rc = 1 ]'
check "... and the daemon still runs and answers" 'kill -0 "$pid" && [ "$(q get_default_client_priority)" = 0 ] && [ "$(as_q $user2 get_default_client_priority)" = 0 ]'

# ---- 3. listings: each user sees their own programs and servers ----
if [ -n "$preload" ]; then
	gpushare-smi -i 0 -mig 1 > /dev/null
	chmod -R a+rwX "$work/sim"
	slice1=$(q "create_slice 20 4G -users $user1")
	slice2=$(q "create_slice 20 4G -users $user2")
	# app NAME SLICE USER: cuda-app holding 100 MiB in a slice, as a user
	app() {
		GPUSHARE_LOG=stderr GPUSHARE_SLICE=$2 LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" \
			as_bg "$3" "$build/tests/cuda-app" hold 100 > "$work/$1.out" 2> "$work/$1.err"
		eval "$1=$!"
	}
	app app1 "$slice1" $user1
	app app2 "$slice2" $user2
	check "a program of each user runs in its slice" 'wait_for "grep -q held \"$work/app1.out\" && grep -q held \"$work/app2.out\"" 10'
	srv_a1=$(q "get_server_list" | while read -r s; do q "get_client_list $s" | grep -qx "$app1" && echo "$s"; done)
	srv_a2=$(q "get_server_list" | while read -r s; do q "get_client_list $s" | grep -qx "$app2" && echo "$s"; done)
	servers="$servers $srv_a1 $srv_a2"
	check "root sees every user's programs and servers" 'q ps | grep -q "^$app1 " && q ps | grep -q "^$app2 " && q get_device_client_list | grep -q "^$app1\." && q get_device_client_list | grep -q "^$app2\." && [ "$(q get_server_list | sort | tr "\n" " ")" = "$(printf "%s\n" $srv1 $srv_a1 $srv_a2 | sort | tr "\n" " ")" ]'
	check "ps and get_device_client_list as $user2: its own program, none of $user1's" 'as_q $user2 ps | grep -q "^$app2 " && ! as_q $user2 ps | grep -q "^$app1 " && as_q $user2 get_device_client_list | grep -q "^$app2\." && ! as_q $user2 get_device_client_list | grep -q "^$app1\."'
	check "... nor in list_clients, get_server_list, device_query" 'as_q $user2 list_clients | grep -q "^$app2 " && ! as_q $user2 list_clients | grep -q "^$app1 " && [ "$(as_q $user2 get_server_list)" = "$srv_a2" ] && q device_query | grep -qx "Server $srv_a1" && as_q $user2 device_query | grep -qx "Server $srv_a2" && ! as_q $user2 device_query | grep -Eqx "Server ($srv1|$srv_a1)"'
	check "... and the same the other way round for $user1" '! as_q $user1 ps | grep -q "^$app2 " && as_q $user1 ps | grep -q "^$app1 " && ! as_q $user1 get_device_client_list | grep -q "^$app2\." && [ "$(as_q $user1 get_server_list | sort | tr "\n" " ")" = "$(printf "%s\n" $srv1 $srv_a1 | sort | tr "\n" " ")" ]'
	check "another user's server is not found for them, nor can they end its program" '[ "$(as_q $user1 get_client_list $srv_a2)" = "Server $srv_a2 not found" ] && [ "$(as_q $user1 get_server_status $srv_a2)" = "Server $srv_a2 not found" ] && [ "$(as_q $user1 terminate_client $srv_a2 $app2 2>&1)" = "gpushare-control: Permission denied: terminate_client needs root or the daemon'"'"'s user" ] && q ps | grep -q "^$app2 "'
	kill "$app1" "$app2"
	wait "$app1" "$app2" 2> /dev/null
	# locks: the store's cannot be opened by another user; a ledger they can
	# read they may flock, which must stop nobody
	check "another user cannot open the store's lock (0600) to hold it" '[ "$(stat -c %a "$work/state/lock")" = 600 ] && [ "$(as $user1 "$py" -c "
try:
    open(\"$work/state/lock\"); print(\"opened\")
except PermissionError:
    print(\"denied\")")" = denied ]'
	ledger=$(ls "$work/state"/ledger-* | head -1)
	as_bg $user1 "$py" -c "import fcntl, time; f = open('$ledger'); fcntl.flock(f, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(30)" > "$work/flock.out"
	locker=$!
	wait_for 'grep -q locked "$work/flock.out"'
	start_ns=$(date +%s%N)
	out=$(GPUSHARE_SLICE=$slice2 LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" as $user2 timeout 10 "$build/tests/cuda-app" alloc 10 2>&1)
	made=$(q "create_slice 8 1G")
	took=$(ms_since $start_ns)
	check "a ledger flocked by another user stops neither a program nor a change" '[ "$out" = ok ] && [[ "$made" == MIG-* ]] && [ $took -lt 3000 ] && q "destroy_slice $made" > /dev/null'
	kill $locker; wait $locker 2> /dev/null
else
	echo "skip listings of programs: a sanitized interposer cannot be preloaded"
fi
# the user's servers go, so that the limits below count its connections only
for s in $(servers_of $user1); do q "shutdown_server $s -f" > /dev/null; done
check "root shuts down the user's servers" 'wait_for "[ -z \"\$(servers_of $user1)\" ]"'

# ---- 4. 5000 idle connections of one user ----
as_bg $user1 "$py" "$peers" idle "$work/pipe/control" 5000 $((GPUSHARE_CONTROL_IDLE_TIMEOUT + 1)) > "$work/idle" 2>&1
idle=$!
wait_for 'grep -q "^after-connect" "$work/idle"' 30
start_ns=$(date +%s%N)
out=$(echo get_default_client_priority | timeout $answer_s "$ctl"); rc=$?
took=$(ms_since $start_ns)
check "5000 idle connections of a user: root's commands are answered promptly" '[ $rc = 0 ] && [ "$out" = 0 ] && [ $took -lt $((answer_s * 1000)) ]'
check "... and the other user's commands too" '[ "$(echo get_default_client_priority | as $user2 timeout $answer_s "$ctl")" = 0 ]'
check "... the user got its 64, the rest were refused with one clear line" 'grep -qxF "after-connect open=64 closed=0 [Too many connections for user $user1 (limit 64)]=4936" "$work/idle"'
out=$(echo get_server_list | as $user1 timeout 5 "$ctl"); rc=$?
check "... and the user's front end says so and exits 1" '[ "$out" = "Too many connections for user $user1 (limit 64)" ] && [ $rc = 1 ]'
check "connections that never send a command are closed after the idle timeout, saying so" 'wait_for "grep -q ^after-hold \"$work/idle\"" 15 && grep -qxF "after-hold open=0 closed=0 [No command within $GPUSHARE_CONTROL_IDLE_TIMEOUT s: closed]=64 [Too many connections for user $user1 (limit 64)]=4936" "$work/idle" && grep -q "Closing an idle connection of user $user1" "$work/log/control.log"'
check "... the daemon still runs and serves the user again" 'kill -0 "$pid" && [ "$(as_q $user1 get_default_client_priority)" = 0 ]'
stop $idle

# ---- 5. 1000 connections flooding commands, never reading an answer ----
# flood SOCKET SECONDS LINE: 1000 connections of user1 sending LINE
flood() {
	as_bg $user1 "$py" "$peers" flood "$1" 1000 "$2" "$3" > "$work/flood" 2>&1
	flood=$!
}
# served Q: root's and user2's commands (through Q and as_Q) answered promptly
served() {
	local start_ns=$(date +%s%N) out
	out=$($1 get_default_client_priority) && [ "$out" = 0 ] && [ "$(ms_since $start_ns)" -lt $((answer_s * 1000)) ] &&
		[ "$(as_$1 $user2 get_default_client_priority)" = 0 ]
}
q1() { echo "$*" | timeout $answer_s "$ctl"; }
as_q1() { local u=$1; shift; echo "$*" | as "$u" timeout $answer_s "$ctl"; }
# the user's limit lets 64 of them in, each sending device_query without
# pause: past the user's 1 MiB of unread answers they are dropped
rss0=$(rss_kb "$pid")
flood "$work/pipe/control" 2 device_query
check "1000 connections of a user flooding device_query: the daemon takes 64 and drops those past the user's output limit" 'wait_for "grep -q \"Dropping a connection of user $user1 (pid $flood): [0-9]* bytes of answers unread (limits 1048576 per connection, 1048576 per user)\" \"$work/log/control.log\"" 10'
check "... while it floods, root and the other user are answered promptly" 'served q1'
wait_for 'grep -q ^flooded "$work/flood"' 10
rss1=$(rss_kb "$pid")
echo "     daemon VmRSS before $rss0 kB, after $rss1 kB; $(cat "$work/flood")"
check "... the peers were dropped, those left only held" 'grep -Eq "^flooded sent=[0-9]+ taken=64 refused=936 dropped=([1-9]|[1-5][0-9]|6[0-3])$" "$work/flood"'
check "... the daemon's memory stayed bounded" '[ $((rss1 - rss0)) -lt $grow_kb ]'
stop $flood
check "the daemon lets go of the rest when they go and serves the user again" 'wait_for "[ \"\$(as_q1 $user1 get_default_client_priority)\" = 0 ]"'
# a daemon of its own that lets the user have all 1000: each gets its turn
# of a few commands, so root's turn comes at once
export2=(GPUSHARE_PIPE_DIRECTORY="$work/pipe2" GPUSHARE_LOG_DIRECTORY="$work/log2" GPUSHARE_STATE_DIR="$work/state2")
env "${export2[@]}" GPUSHARE_CONTROL_USER_CONNECTIONS=1100 GPUSHARE_CONTROL_LOG_MAX=1 "$ctl" -d
pid2=$(cat "$work/pipe2/gpushare-control.pid")
q2() { echo "$*" | env "${export2[@]}" timeout $answer_s "$ctl"; }
as_q2() { local u=$1; shift; echo "$*" | as "$u" env "${export2[@]}" timeout $answer_s "$ctl"; }
q2 device_query > /dev/null # what its first answers take counted before
rss0=$(rss_kb "$pid2")
flood "$work/pipe2/control" 2 get_default_client_priority
wait_for '[ "$(cat "$work/log2/control.log"* | grep -c "Cmd:get_default_client_priority")" -ge 10000 ]' 10
check "1000 connections of a user (its limit raised) flooding: root and the other user are answered promptly" 'served q2 && sleep 0.5 && served q2'
wait_for 'grep -q ^flooded "$work/flood"' 10
rss1=$(rss_kb "$pid2")
echo "     daemon VmRSS before $rss0 kB, after $rss1 kB; $(cat "$work/flood")"
check "... all 1000 taken, the daemon's memory stayed bounded" 'grep -Eq "^flooded sent=[0-9]+ taken=1000 refused=0 " "$work/flood" && [ $((rss1 - rss0)) -lt $grow_kb ]'
stop $flood
check "... it lets go of them and serves the user again" 'wait_for "[ \"\$(as_q2 $user1 get_default_client_priority)\" = 0 ]"'
# a user's 60000 commands in a row make the daemon log megabytes
yes get_default_client_priority | head -60000 | as $user1 env "${export2[@]}" timeout 20 "$ctl" > /dev/null
check "... its logs stay bounded: control.log went to control.log.1 past GPUSHARE_CONTROL_LOG_MAX (1 MiB)" 'wait_for "[ -s \"$work/log2/control.log.1\" ]" 5 && [ "$(stat -c %s "$work/log2/control.log")" -lt $((4 << 20)) ] && [ "$(stat -c %s "$work/log2/control.log.1")" -lt $((4 << 20)) ]'
# (a sanitized daemon may still be working through the 60000 lines above)
check "... and quits when root says so" 'echo quit | env "${export2[@]}" timeout 10 "$ctl" > /dev/null && wait_for "! kill -0 $pid2 2> /dev/null" 10'

# ---- 6. a daemon that does not answer: time limits, clear messages ----
kill -STOP "$pid"
start_ns=$(date +%s%N)
out=$(echo get_server_list | GPUSHARE_CONTROL_TIMEOUT=2 timeout 10 "$ctl"); rc=$?
took=$(ms_since $start_ns)
check "a daemon that does not answer: the front end says so after GPUSHARE_CONTROL_TIMEOUT" '[ "$out" = "The gpushare control daemon did not answer within 2 s" ] && [ $rc = 1 ] && [ $took -lt 4000 ]'
if [ -n "$preload" ]; then
	start_ns=$(date +%s%N)
	out=$(LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" GPUSHARE_MEMORY_LIMIT=1G timeout 30 "$build/tests/cuda-app" info 2>&1); rc=$?
	took=$(ms_since $start_ns)
	check "... a program's registration gives up after 10 s with a message, and CUDA is refused (never run outside the rules)" 'echo "$out" | grep -q "gpushare-control ($work/pipe/control) did not answer within 10 s; CUDA is refused" && echo "$out" | grep -q "^cuInit " && [ $took -lt 15000 ]'
fi
kill -CONT "$pid"
check "the daemon answers again once it runs" '[ "$(q get_default_client_priority)" = 0 ]'
check "quit: every server goes, then the daemon" 'q quit > /dev/null && wait_for "! kill -0 $pid 2> /dev/null" 2'
finish
