#!/usr/bin/env bash
# test-servers.sh BUILD: gpushare-control's servers and slices on the
# simulated GPU, with real programs (tests/tools/cuda-app under
# libgpushare.so) of two users: a server per (slice, user) started by its
# first client and kept after it, users on different slices at once, MPS's
# queue (or a refusal) for a second user on a slice, who may join a slice,
# MPS's per-server commands and their limits reaching new clients,
# terminate_client, shutdown_server -f, slices created, resized and
# destroyed through the daemon, and kill -9 of the daemon with everything
# running. Needs root (servers and programs run as nobody too).
set -u
build=$(cd "$1" && pwd)
. "$(dirname "$0")/lib.sh"
if [ "$(id -u)" != 0 ] || ! command -v setpriv > /dev/null; then
	echo "skip: needs root and setpriv to run programs as two users"
	exit 0
fi
need_preload
sim_env
# where programs are placed and confined, not elastic SMs (test-elastic.sh): nothing lent
export GPUSHARE_CONTROL_LEND_IDLE_MS=0
pids=()
cleanup() {
	kill -9 "${pids[@]}" 2> /dev/null
	[ -f "$work/pipe/gpushare-control.pid" ] && kill -9 "$(cat "$work/pipe/gpushare-control.pid")" 2> /dev/null
	pkill -9 -f "gpushare-server" -U 0,65534 2> /dev/null
	[ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
q() { echo "$*" | "$ctl"; }
# what gpushare-control says on stderr (its refusals), without its name
qe() { echo "$*" | "$ctl" 2>&1 > /dev/null | sed 's/^gpushare-control: //'; }
# wait until a command's output matches
until_out() { for _ in $(seq 50); do q "$1" | grep -qE "$2" && return 0; sleep 0.1; done; return 1; }

# program NAME SLICE USER ARGS...: runs cuda-app in a slice as a user, in the background
program() {
	local name=$1 slice=$2 user=$3
	shift 3
	(GPUSHARE_LOG=stderr GPUSHARE_SLICE=$slice LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" \
		exec setpriv --reuid="$user" --regid="$user" --clear-groups "$build/tests/cuda-app" "$@" \
		> "$work/$name.out" 2> "$work/$name.err") &
	pids+=($!)
	eval "$name=$!"
}
# once: runs cuda-app in a slice as a user and prints what it says
once() {
	local slice=$1 user=$2
	shift 2
	GPUSHARE_SLICE=$slice LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" \
		setpriv --reuid="$user" --regid="$user" --clear-groups "$build/tests/cuda-app" "$@" 2>&1
}
held() { for _ in $(seq 50); do grep -q held "$work/$1.out" 2> /dev/null && return 0; sleep 0.1; done; return 1; }

"$ctl" -d
gpushare-smi -i 0 -mig 1 > /dev/null
chmod -R a+rwX "$work/sim"

# slices through the daemon
a=$(q "create_slice 40 8G")
b=$(q "create_slice 40 8G -users nobody -refuse")
check "create_slice prints the new slice's MIG UUID" '[[ $a == MIG-* ]] && [[ $b == MIG-* ]] && [ "$a" != "$b" ]'
check "create_slice: a size that does not fit is refused, saying why and what is free" 'qe "create_slice 100 8G" | grep -q "do not fit beside the slices of GPU 0: 28 of its 108 SMs and 24576 of its 40960 MiB are free"'
check "create_slice: an unknown user is refused" '[ "$(qe "create_slice 8 1G -users nosuchuser")" = "Unknown user \"nosuchuser\"" ]'
check "create_slice: bad sizes are refused" 'qe "create_slice 0 1G" | grep -q "^Invalid SM count \"0\": a whole number" && qe "create_slice 8 1" | grep -q "Invalid memory limit"'
check "list_slices shows who may join and what a second user gets" 'q list_slices | grep -qE "^$a +0 +- +15 +0 +40 +8192MiB +8192MiB +0MiB  \* +queue " && q list_slices | grep -qE "^$b +0 +- +16 +0 +40 +8192MiB +8192MiB +0MiB  nobody +refuse "'
check "a non-root user cannot create slices" 'echo "create_slice 8 1G" | setpriv --reuid=65534 --regid=65534 --clear-groups "$ctl" 2>&1 | grep -q "Permission denied"'

# a server per (slice, user), started by its first client
check "no program, no server" '[ -z "$(q get_server_list)" ]'
program r1 "$a" 0 hold 100
held r1
srv_a=$(q get_server_list)
check "the first client starts a server for its slice and user" '[ "$(echo "$srv_a" | wc -l)" = 1 ] && [ "$(q "get_server_status $srv_a")" = ACTIVE ] && [ "$(q "get_client_list $srv_a")" = "$r1" ]'
program r2 "$a" 0 hold 100
held r2
check "a second client of the same user and slice joins that server" '[ "$(q get_server_list)" = "$srv_a" ] && [ "$(q "get_client_list $srv_a" | sort | tr "\n" " ")" = "$(printf "%s\n" "$r1" "$r2" | sort | tr "\n" " ")" ]'
program n1 "$b" 65534 hold 100
held n1
srv_b=$(q get_server_list | grep -v "^$srv_a$")
check "another user in another slice runs at the same time, in its own server" '[ -n "$srv_b" ] && grep -q held "$work/r1.out" && [ "$(q "get_client_list $srv_b")" = "$n1" ]'
check "servers run as their users" '[ "$(ps -o user= -p "$srv_a")" = root ] && [ "$(ps -o user= -p "$srv_b")" = nobody ]'
check "ps lists the clients in MPS's columns" 'q ps | head -1 | grep -qx "PID       ID        SERVER         DEVICE                    NAMESPACE      COMMAND        " && q ps | grep -qE "^$r1 +[0-9]+ +$srv_a +GPU-[0-9a-f-]{18} +[0-9]+ +cuda-app +$"'
check "get_device_client_list lists them under their GPU" 'q get_device_client_list | grep -qE "^\[0\] [0-9a-f:.]+, NVIDIA A100-SXM4-40GB$" && q get_device_client_list | grep -qx "$n1.1"'
check "server.log: the server's lines in MPS's format" 'grep -qE "^\[[0-9-]{10} [0-9:.]{12} Server +$srv_a\] Server has started$" "$work/log/server.log" && grep -qE "Server +$srv_a\] Client \{PID: $r1, Context ID: 0\} connected$" "$work/log/server.log" && grep -qE "Other +$srv_b\] Startup$" "$work/log/server.log"'
check "control.log: MPS's lines for clients and servers" 'grep -q "NEW CLIENT $r1 from user 0: Server is not ready, push client to pending list" "$work/log/control.log" && grep -q "NEW SERVER $srv_a: Ready" "$work/log/control.log" && grep -q "NEW CLIENT $r2 from user 0: Server already exists" "$work/log/control.log"'

# who may join, and a second user on a held slice
out=$(once "$b" 1000 info)
check "a user not listed for a slice cannot join it" 'echo "$out" | grep -qi "slice $b is not open to user 1000; CUDA is refused"'
out=$(once "$b" 0 info)
check "a second user on a slice that refuses gets a clear refusal, at once" 'echo "$out" | grep -q "Slice $b is in use by user 65534; CUDA is refused" && [ "$(q "get_client_list $srv_b")" = "$n1" ]'
program n2 "$a" 65534 hold 100
check "a second user on a slice that queues waits, as MPS queues" 'until_out list_clients "^$n2 +nobody +queued " && grep -q "in use by user 0; waiting for it (queued)" "$work/n2.err" && ! grep -q held "$work/n2.out"'
kill -9 "$(cat "$work/pipe/gpushare-control.pid")"
sleep 0.2
"$ctl" -d
check "... and stays queued across a kill -9 of the daemon, never running beside the holder" 'until_out list_clients "^$n2 +nobody +queued " && until_out list_clients "^$r1 +root +$srv_a " && until_out list_clients "^$r2 +root +$srv_a " && ! grep -q held "$work/n2.out"'
kill "$r1" "$r2"; wait "$r1" "$r2" 2> /dev/null
check "... and runs once the first user's clients are done, in a new server" 'held n2 && [ "$(q "get_client_list $(q get_server_list | grep -v "^$srv_b$")")" = "$n2" ]'
check "... the first user's server went the way MPS's goes" 'grep -q "Try shutting down server $srv_a, backoff is disabled" "$work/log/control.log" && grep -q "Server $srv_a exited with status 0" "$work/log/control.log"'
srv_n=$(q get_server_list | grep -v "^$srv_b$")

check "a server shows in ps as what it is: gpushare-server <slice> <user>" 'ps -o comm= -p "$srv_b" | grep -qx gpushare-server && ps -o args= -p "$srv_b" | grep -qE "^gpushare-server $b nobody *$"'

# limits of a server reach clients created afterwards
check "set_active_thread_percentage answers with the value" '[ "$(q "set_active_thread_percentage $srv_b 20")" = 20.0 ] && [ "$(q "get_active_thread_percentage $srv_b")" = 20.0 ] && [ "$(q "set_active_thread_percentage $srv_b 0" 2> /dev/null)" = 20.0 ]'
check "set_device_pinned_mem_limit by ordinal, read back by UUID" '[ -z "$(q "set_device_pinned_mem_limit $srv_b 0 1G")" ] && [ "$(q "get_device_pinned_mem_limit $srv_b $(gpushare-smi --query-gpu=uuid --format=csv,noheader)")" = 1G ]'
out=$(once "$b" 65534 info)
check "the running client keeps its 40 SMs; a new one gets the server's 20% of the slice (8 of its 40 SMs)" 'grep -q "slice $b runs on 40 SMs" "$work/n1.err" && echo "$out" | grep -qx "sms 8"'
check "a new client is held to the server's pinned memory limit, its context counted as MPS counts it" '[ "$(once "$b" 65534 alloc 800)" = "refused 2" ] && [ "$(once "$b" 65534 alloc 700)" = ok ]'
check "server.log records the new limits" 'grep -qE "Server +$srv_b\] Device pinned memory limit for device 0 set to 0x40000000 bytes$" "$work/log/server.log" && grep -qE "Server +$srv_b\] Active Threads Percentage set to 20.0$" "$work/log/server.log"'

# terminate_client, shutdown_server -f
check "terminate_client answers 0" '[ "$(q "terminate_client $srv_b $n1")" = 0 ] && [ "$(q "terminate_client $srv_b 1")" = "Client 1 not found" ]'
kill -USR1 "$n1"
check "a terminated client gets CUDA_ERROR_MPS_CLIENT_TERMINATED from every later call" 'for _ in $(seq 30); do grep -q "^alloc" "$work/n1.out" && break; sleep 0.1; done; grep -qx "alloc 810" "$work/n1.out"'
check "idle servers stay, as MPS keeps them" 'q get_server_list | grep -qx "$srv_b"'

# kill -9 of the daemon with servers and clients running
kill -9 "$(cat "$work/pipe/gpushare-control.pid")"
sleep 0.2
"$ctl" -d
check "after kill -9 a new daemon adopts the running servers" 'until_out get_server_list "^$srv_n$" && q get_server_list | grep -qx "$srv_b"'
check "... and the running clients register again with their servers" 'until_out list_clients "^$n2 +nobody +$srv_n "'
kill -USR1 "$n2"
check "... keeping their limits and running" 'for _ in $(seq 30); do grep -q "^alloc" "$work/n2.out" && break; sleep 0.1; done; grep -qx "alloc 0" "$work/n2.out"'
kill -9 "$n2"; wait "$n2" 2> /dev/null
check "a client killed by SIGKILL leaves every list, its memory reclaimed" 'until_out list_clients "^PID" && ! q list_clients | grep -q "^$n2 " && q list_slices | grep -qE "^$a .* 0MiB  "'
check "shutdown_server of an unknown server" '[ "$(q "shutdown_server 1")" = "Server 1 not found" ]'
q "shutdown_server $srv_n -f" > /dev/null
check "shutdown_server -f takes the server down" 'for _ in $(seq 30); do q get_server_list | grep -qx "$srv_n" || break; sleep 0.1; done; ! q get_server_list | grep -qx "$srv_n"'

# resize and destroy through the daemon
check "resize_slice changes a running slice's memory at once, and says so" 'q "resize_slice $b 40 4G" | grep -qxE "Resized slice $b: 40 SMs from SM [0-9]+, 4096 MiB" && q list_slices | grep -qE "^$b +0 +- +16 +0 +40 +4096MiB +4096MiB "'
check "resize_slice does not take SMs from a slice a program runs in, and says who runs" 'qe "resize_slice $b 20 4G" | grep -q "has 1 running process ($n1): its SMs can only grow in place while they run" && q list_slices | grep -qE "^$b +0 +- +16 +0 +40 "'
check "resize_slice past the GPU is refused and changes nothing" 'qe "resize_slice $b 100 4G" | grep -q "does not fit" && q list_slices | grep -qE "^$b +0 +- +16 +0 +40 +4096MiB +4096MiB "'
check "destroy_slice is refused while a program is in the slice" '[ "$(qe "destroy_slice $b")" = "Slice $b is in use by 1 client(s)" ]'
kill "$n1"; wait "$n1" 2> /dev/null
sleep 0.2
check "destroy_slice once it is empty, saying so; its servers go" '[ "$(q "destroy_slice $b")" = "Destroyed slice $b" ] && ! q list_slices | grep -q "^$b" && for _ in $(seq 30); do q get_server_list | grep -qx "$srv_b" || break; sleep 0.1; done; ! q get_server_list | grep -qx "$srv_b"'
# a resize reaches running programs: memory at once, SMs in contexts they create afterwards
program h1 "$a" 0 hold 1000
held h1
kill -USR2 "$h1"
check "a running program's new context has the slice's 40 SMs" 'for _ in $(seq 30); do grep -q "^smid" "$work/h1.out" && break; sleep 0.1; done; grep -q "^smid distinct 40 " "$work/h1.out"'
check "while it runs, its slice's SMs cannot shrink under it" 'qe "resize_slice $a 20 2G" | grep -q "running process ($h1)"'
q "resize_slice $a 40 1200M" > /dev/null
kill -USR1 "$h1"
check "... and, shrunk below what it holds, its next allocation is refused" 'for _ in $(seq 30); do grep -q "^alloc" "$work/h1.out" && break; sleep 0.1; done; grep -qx "alloc 2" "$work/h1.out"'
kill "$h1"; wait "$h1" 2> /dev/null
check "once it has ended, the slice shrinks: the next program runs on 20 SMs" 'wait_gone() { for _ in $(seq 30); do q "resize_slice $a 20 2G" > /dev/null 2>&1 && return 0; sleep 0.1; done; return 1; }; wait_gone && once "$a" 0 smid | grep -q "^smid distinct 20 "'
# a slice destroyed behind the daemon's back (gpushare-smi by hand): its idle server goes
c=$(q "create_slice 8 1G")
once "$c" 0 alloc 10 > /dev/null
srv_c=$(grep -E "Server +[0-9]+\] Serving slice $c for user 0$" "$work/log/server.log" | sed -E 's/.*Server +([0-9]+)\].*/\1/' | tail -1)
gi_c=$(q list_slices | awk -v c="$c" '$1 == c { print $4 }')
gpushare-smi mig -dci -gi "$gi_c" > /dev/null && gpushare-smi mig -dgi -gi "$gi_c" > /dev/null
check "a slice removed with gpushare-smi: its server goes too" '[ -n "$srv_c" ] && for _ in $(seq 30); do q get_server_list | grep -qx "$srv_c" || break; sleep 0.1; done; ! q get_server_list | grep -qx "$srv_c"'
check "set_slice_users opens a slice to listed users" '[ -z "$(q "set_slice_users $a nobody,1000 refuse")" ] && q list_slices | grep -qE "^$a .* nobody,[^ ]+ +refuse " && qe "set_slice_users $a x,," | grep -q "Unknown user"'

# limits from the environment: no slice of the store, the whole GPU's server
out=$(GPUSHARE_MEMORY_LIMIT=2G GPUSHARE_SMS=16 LD_PRELOAD="$build/lib/libgpushare.so" \
	LD_LIBRARY_PATH="$build/lib/gpushare-sim" "$build/tests/cuda-app" info 2>&1)
check "a program with limits from its environment registers for the whole GPU and runs" 'echo "$out" | grep -qx "mem_total_mib 2048" && grep -q "Cmd:register_client - " "$work/log/control.log"'

# memory guarantees: an over-committed slice takes only what no other slice is guaranteed
g1=$(q "create_slice 20 16G")
g2=$(q "create_slice 20 40G -overcommit")
check "a slice is wholly guaranteed unless over-committed" 'q list_slices | grep -qE "^$g1 .* 16384MiB +16384MiB " && q list_slices | grep -qE "^$g2 .* 40960MiB +0MiB "'
free_for_g2=$((40960 - 16384 - 2048)) # a keeps 2G guaranteed
# room for its context and the next program's (contexts too are held to the guarantees)
program f2 "$g2" 0 hold $((free_for_g2 - 256 - 256 - 100))
held f2
check "past its guarantee a slice allocates only what others are not guaranteed" '[ "$(once "$g2" 0 alloc 300)" = "refused 2" ]'
check "... while a guaranteed slice still gets all of its own" '[ "$(once "$g1" 0 alloc 16000)" = ok ]'
kill "$f2"; wait "$f2" 2> /dev/null
check "set_slice_guarantee: what the GPU cannot hold is refused" '[ "$(qe "set_slice_guarantee $g2 30G")" = "The guarantees of the GPU would exceed its memory" ] && [ "$(qe "set_slice_guarantee $g2 50G")" = "A guarantee cannot exceed the slice'"'"'s memory limit" ]'
check "set_slice_guarantee within the GPU" '[ -z "$(q "set_slice_guarantee $g2 20G")" ] && q list_slices | grep -qE "^$g2 .* 40960MiB +20480MiB "'
check "create_slice -guarantee goes with -overcommit" 'qe "create_slice 8 4G -guarantee 1G" | grep -q "goes with -overcommit" && [[ "$(q "create_slice 8 4G -overcommit -guarantee 1G")" == MIG-* ]]'
check "create_slice -guarantee that does not fit makes no slice" 'n=$(q list_slices | wc -l); qe "create_slice 8 8G -overcommit -guarantee 8G" | grep -q "would exceed" && [ "$(q list_slices | wc -l)" = "$n" ]'

# gpushare-smi changes the daemon's store itself, through the slice layer
# and under its lock; the daemon sees the change
out=$(gpushare-smi mig -cgi 99 2>&1); rc=$?
check "gpushare-smi beside the daemon keeps its own output and exit status, and adds its hint" '[ "$(echo "$out" | head -1)" = "Invalid GPU instance profile \"99\": use a name or ID from -lgip, or <N>sm.<M>gb." ] && echo "$out" | sed -n 2p | grep -q "^gpushare-smi: GPU 0 (NVIDIA A100-SXM4-40GB) has the profiles 1g.5gb (19)" && [ $rc = 2 ]'
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups env PATH="$PATH" gpushare-smi mig -dci 2>&1); rc=$?
check "... and a user who may not change slices is told so, as nvidia-smi tells it (exit 4)" '[ $rc = 4 ] && echo "$out" | grep -q "Insufficient Permissions"'
GPUSHARE_STATE_DIR="$work/own" gpushare-smi -i 0 -mig 1 > /dev/null
check "a gpushare-smi on another state dir changes that store" '[ -f "$work/own/slices" ]'

check "a peer that is not one of our servers cannot pose as one" '[ "$(q server_ready)" = "Not a server of this daemon" ]'
check "a program registers once per connection" '[ "$(printf "register_client -\nregister_client -\n" | "$ctl" | tail -1)" = "Already registered" ]'
check "a non-root user cannot shut servers down or terminate clients" 'printf "shutdown_server $srv_b\nterminate_client $srv_b 1\n" | setpriv --reuid=65534 --regid=65534 --clear-groups "$ctl" 2>&1 | grep -c "Permission denied" | grep -qx 2 && q get_server_list | grep -q .'

# quit waits for the servers; -t forces them down
program r3 "$a" 0 hold 100
held r3
echo "quit -t 1" | "$ctl"; rc=$?
check "quit -t: a server still busy is forced down, the status says so" '[ $rc = 1 ] && [ ! -e "$work/pipe/control" ] && grep -q "did not exit in time" "$work/log/control.log"'
exit $((fails > 0))
