#!/usr/bin/env bash
# test-control.sh BUILD: gpushare-control as a drop-in for
# nvidia-cuda-mps-control: daemon start and files, the commands that need no
# server with MPS's exact outputs, bad input answered while everyone else is
# still served, privilege, and a restart after kill -9.
set -u
build=$(cd "$1" && pwd)
work=$(mktemp -d)
export GPUSHARE_PIPE_DIRECTORY="$work/pipe" GPUSHARE_LOG_DIRECTORY="$work/log"
export GPUSHARE_STATE_DIR="$work/state" GPUSHARE_SIM_DIR="$work/sim" GPUSHARE_SIMULATE=a100-sxm4-40gb
export PATH="$build/bin:$PATH"
ctl="$build/bin/gpushare-control"
cleanup() { [ -f "$work/pipe/gpushare-control.pid" ] && kill -9 "$(cat "$work/pipe/gpushare-control.pid")" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
fails=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fails=$((fails + 1)); fi; }

out=$(echo get_server_list | "$ctl"); rc=$?
check "no daemon: the front end says so and exits 1" '[ "$out" = "Cannot find gpushare control daemon process" ] && [ $rc = 1 ]'
check "-d returns once the daemon listens" '"$ctl" -d && [ -S "$work/pipe/control" ]'
check "a second daemon is refused" '! "$ctl" -d 2> /dev/null'
mode() { stat -c %A "$work/pipe/$1"; }
# MPS's modes for the sockets; control_lock and log 0600, pid file 0644 (docs/control.md: another user must not
# hold the lock or write server.log lines)
check "pipe directory entries and modes" '[ "$(mode control)" = srw-rw-rw- ] && [ "$(mode control_privileged)" = srwxr-xr-x ] && [ "$(mode control_lock)" = -rw------- ] && [ "$(mode log)" = prw------- ] && [ "$(mode gpushare-control.pid)" = -rw-r--r-- ] && [ "$(cat "$work/pipe/gpushare-control.pid")" -gt 1 ]'

cat > "$work/cmds" <<'CMDS'
get_server_list
get_default_active_thread_percentage
set_default_active_thread_percentage 33
set_default_active_thread_percentage 150
get_default_active_thread_percentage
set_default_device_pinned_mem_limit 0 20350M
get_default_device_pinned_mem_limit 0
set_default_device_pinned_mem_limit 1 512M
get_default_device_pinned_mem_limit 1
get_default_device_pinned_mem_limit GPU-9e4aeb94-01c0-5173-4811-4ca60f77b3a9
set_default_device_pinned_mem_limit 0 5
set_default_device_pinned_mem_limit 1 0
get_default_device_pinned_mem_limit 1
get_server_status 578
get_client_list 1
ps
set_default_client_priority 2
set_default_client_priority 1
get_default_client_priority
bogus_cmd
get_server_list extra
set_active_thread_percentage 578 50
get_device_pinned_mem_limit 578 0
device_query
CMDS
cat > "$work/want" <<'WANT'
100.0
33.0
33.0
33.0
19G
19G
Server 578 not found
Server 1 not found
Server not found
Invalid priority value - must be 0 or 1!
1
Unknown command "bogus_cmd"
Invalid arguments: get_server_list
Server 578 not found
Server 578 not found
Default
Device Ordinal  PCI IDs        UUID                                      Name                              Attributes
WANT
gpu=$(gpushare-smi --query-gpu=uuid --format=csv,noheader)
printf '%-16s%-15s%-42s%-34s%s\n' 0 0000:10.1c.00 "$gpu" "NVIDIA A100-SXM4-40GB" N/A >> "$work/want"
# gpushare's words go to stderr, and a refused command makes the exit status 1
cat > "$work/want-err" <<'WANT'
gpushare-control: Invalid percentage "150": a number in (0.0, 100.0], e.g. 50 or 33.3; 33.0 stays in force
gpushare-control: No GPU "1": use an index from 0 to 0 or a GPU-<uuid> (nvidia-smi -L)
gpushare-control: No GPU "1": use an index from 0 to 0 or a GPU-<uuid> (nvidia-smi -L)
gpushare-control: Invalid memory limit "5": use an integer and G or M, e.g. 2G or 500M (0: none)
gpushare-control: No GPU "1": use an index from 0 to 0 or a GPU-<uuid> (nvidia-smi -L)
gpushare-control: No GPU "1": use an index from 0 to 0 or a GPU-<uuid> (nvidia-smi -L)
gpushare-control: gpushare-control --help lists the commands
gpushare-control: get_server_list takes 0 arguments, not 1
WANT
sed -i "s/GPU-9e4aeb94-01c0-5173-4811-4ca60f77b3a9/$gpu/" "$work/cmds" # the GPU's UUID names it as its index does
"$ctl" < "$work/cmds" > "$work/got" 2> "$work/got-err"; rc=$?
check "MPS commands answer as nvidia-cuda-mps-control does" 'diff "$work/want" "$work/got"'
check "what gpushare adds is on stderr, and refusals make the exit status 1" 'diff "$work/want-err" "$work/got-err" && [ $rc = 1 ]'
check "commands that all pass exit 0" 'printf "get_server_list\nget_default_client_priority\n" | "$ctl" > /dev/null 2>&1'
check "an unknown command exits 1" '! echo bogus | "$ctl" > /dev/null 2>&1'
check "control.log in MPS's line format" 'grep -qE "^\[[0-9-]{10} [0-9:.]{12} Control +[0-9]+\] Cmd:set_default_active_thread_percentage 33$" "$work/log/control.log"'
check "a refused percentage is logged as MPS logs it" 'grep -q "Invalid percentage, expected between (0.0, 100.0\]" "$work/log/control.log"'

# bad input: answered, and the daemon serves the next peer
long=$(head -c 20000 /dev/zero | tr '\0' x)
check "an oversized line gets an error" '[ "$(printf "%s\nget_default_active_thread_percentage\n" "$long" | "$ctl")" = "$(printf "Command too long\n33.0")" ]'
check "binary input gets an error" 'printf "\001\002\377\n" | "$ctl" | grep -q "Command holds binary data"'
# a peer that never reads its answers and never ends its line does not block others
python3 - "$work/pipe/control" <<'PY' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.send(b"get_server_list"); time.sleep(3)
PY
stuck=$!
sleep 0.3
check "a stuck peer does not block the daemon" '[ "$(echo get_default_client_priority | timeout 2 "$ctl")" = 1 ]'
kill $stuck 2>/dev/null; wait $stuck 2>/dev/null
if command -v setpriv > /dev/null && [ "$(id -u)" = 0 ]; then
	chmod 755 "$work" "$work/pipe"
	out=$(echo "set_default_active_thread_percentage 10" | setpriv --reuid=65534 --regid=65534 --clear-groups "$ctl" 2>&1)
	check "a non-root user cannot change settings" 'echo "$out" | grep -q "Permission denied" && [ "$(echo get_default_active_thread_percentage | "$ctl")" = 33.0 ]'
	out=$(echo "get_default_active_thread_percentage" | setpriv --reuid=65534 --regid=65534 --clear-groups "$ctl")
	check "a non-root user can query" '[ "$out" = 33.0 ]'
fi

# slices: listed with their use, memory limits changed live
gpushare-smi -i 0 -mig 1 > /dev/null && gpushare-smi mig -cgi 4g.20gb -C > /dev/null
s0=$(gpushare-smi -L | awk '/Device  0/ { print substr($NF, 1, length($NF) - 1) }')
app="$build/tests/cuda-app"
run_in() { (GPUSHARE_SLICE=$s0 LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" exec "$app" "$@"); }
if nm -D "$build/lib/libgpushare.so" | grep -q __asan_init; then
	echo "skip programs in slices: a sanitized interposer cannot be preloaded (test-interposer covers it)"
	echo "set_slice_memory_limit $s0 8G" | "$ctl"
else
(GPUSHARE_SLICE=$s0 LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" exec "$app" hold 6000 > "$work/hold") &
holder=$!
for i in $(seq 50); do grep -q held "$work/hold" 2>/dev/null && break; sleep 0.1; done
check "a program in a slice registers: list_clients shows it, its user, server, memory, GPU, slice and command" 'echo list_clients | "$ctl" | grep -qE "^$holder +$(id -un) +[0-9]+ +6256MiB +0 +$s0 +- +cuda-app$"'
check "list_slices shows a slice, its GPU, memory, use, users, policy, and its process by name" 'echo list_slices | "$ctl" | grep -qE "^$s0 +0 +- +2 +0 +56 +20096MiB +20096MiB +6256MiB  \* +queue +shared +yes +$holder\(cuda-app\)$"'
check "set_slice_memory_limit on an unknown slice" '[ "$(echo "set_slice_memory_limit MIG-00000000 4G" | "$ctl" 2>&1)" = "gpushare-control: Slice MIG-00000000 not found" ]'
check "set_slice_memory_limit with a bad value changes nothing" 'echo "set_slice_memory_limit $s0 4" | "$ctl" 2>&1 | grep -q "Invalid memory limit" && echo list_slices | "$ctl" | grep -q "20096MiB"'
echo "set_slice_memory_limit $s0 8G" | "$ctl"
check "a new limit reaches programs at once: a new process sees it" '[ "$(run_in info | awk "\$1 == \"mem_total_mib\" { print \$2 }")" = 8192 ]'
check "... and the running holder's slice refuses what passes it" '[ "$(run_in alloc 2000)" = "refused 2" ] && [ "$(run_in alloc 1500)" = ok ]'
kill -9 $holder; wait $holder 2>/dev/null
sleep 0.2
check "a client killed by SIGKILL disappears from list_clients" '[ "$(echo list_clients | "$ctl" | wc -l)" = 1 ]'
fi

# SM-sharing policies: made with a slice, listed, changed, refused where they mean nothing
q() { echo "$1" | "$ctl"; }
sharing() { q list_slices | awk -v n="$1" '$3 == n { print $12 }'; }
check "create_slice -isolated -priority critical" '[[ "$(q "create_slice 16 2G -name sp-iso -isolated -priority critical")" =~ ^MIG- ]] && [ "$(sharing sp-iso)" = isolated,critical ]'
check "create_slice -best-effort -floor" '[[ "$(q "create_slice 16 2G -name sp-batch -best-effort -floor 8 -lend on")" =~ ^MIG- ]] && [ "$(sharing sp-batch)" = best-effort,floor=8 ]'
check "create_slice -lend off -borrow on; a slice made without options is shared" 'q "create_slice 8 1G -name sp-quiet -lend off -borrow on" > /dev/null && [ "$(sharing sp-quiet)" = shared,no-lend ] && q "create_slice 2 1G -name sp-plain" > /dev/null && [ "$(sharing sp-plain)" = shared ]'
# where each row's BUSY column starts: one place for every row
busy_at() { q list_slices | sed -n "2,\$p" | while IFS= read -r l; do l=${l%% no *}; echo ${#l}; done | sort -u; }
check "list_slices has a SHARING column, the table aligned" 'q list_slices | head -1 | grep -qE " POLICY +SHARING +BUSY +PROCESSES$" && [ "$(busy_at | wc -l)" = 1 ]'
q "list_slices --json" > "$work/sm.json"
check "list_slices --json: sm_mode, lend, borrow, priority, floor_sms" 'python3 - "$work/sm.json" <<"PY"
import json, sys
d = {s["name"]: s for s in json.load(open(sys.argv[1]))["slices"] if s["name"]}
f = lambda n: [d[n][k] for k in ("sm_mode", "lend", "borrow", "priority", "floor_sms")]
assert f("sp-iso") == ["isolated", False, False, "critical", 0], f("sp-iso")
assert f("sp-batch") == ["best-effort", True, True, "normal", 8], f("sp-batch")
assert f("sp-quiet") == ["shared", False, True, "normal", 0], f("sp-quiet")
assert f("sp-plain") == ["shared", True, True, "normal", 0], f("sp-plain")
PY'
check "set_slice_sm_policy changes what it is given, the rest stays, and is logged" '[ -z "$(q "set_slice_sm_policy sp-quiet -borrow off -priority critical")" ] && [ "$(sharing sp-quiet)" = shared,no-lend,no-borrow,critical ] && grep -qE "set_slice_sm_policy MIG-[0-9a-f-]+: SMs shared,no-lend,no-borrow,critical, were shared,no-lend$" "$work/log/control.log"'
check "set_slice_sm_policy to a new mode starts from its defaults, keeping the priority" 'q "set_slice_sm_policy sp-quiet -best-effort -floor 4" && [ "$(sharing sp-quiet)" = best-effort,floor=4,critical ] && q "set_slice_sm_policy sp-quiet -shared -priority normal" && [ "$(sharing sp-quiet)" = shared ]'
check "a floor is rounded to whole TPCs, and said so" 'q "set_slice_sm_policy sp-quiet -best-effort -floor 5" 2>&1 | grep -q "A floor of 5 SMs rounded to 4" && [ "$(sharing sp-quiet)" = best-effort,floor=4 ]'
before=$(q list_slices)
refused() { local out; out=$(q "$1" 2>&1) && return 1; echo "$out" | grep -qF -- "$2"; }
check "create_slice -isolated -lend on is refused, saying why" 'refused "create_slice 8 1G -name sp-bad -isolated -lend on" "An isolated slice neither lends nor borrows SMs: leave -lend on out, or make the slice -shared"'
no_floor="-floor is a best-effort slice's (the SMs it keeps beside a busy critical slice): add -best-effort"
too_high="A floor of 20 SMs is more than the slice's 16 SMs: give at most 16"
check "create_slice -floor without -best-effort is refused" 'refused "create_slice 8 1G -name sp-bad -floor 4" "$no_floor"'
check "create_slice with two modes is refused" 'refused "create_slice 8 1G -name sp-bad -isolated -best-effort" "a slice has one SM-sharing mode"'
check "create_slice -best-effort -borrow off is refused" 'refused "create_slice 8 1G -name sp-bad -best-effort -borrow off" "A best-effort slice always lends and borrows SMs: -borrow off goes with -shared"'
check "create_slice -lend with a bad value is refused" 'refused "create_slice 8 1G -name sp-bad -lend yes" "Invalid -lend \"yes\": on or off"'
check "a floor above the slice's SMs is refused, saying what would do" 'refused "set_slice_sm_policy sp-batch -floor 20" "$too_high"'
check "set_slice_sm_policy -borrow on of an isolated slice is refused" 'refused "set_slice_sm_policy sp-iso -borrow on" "An isolated slice neither lends nor borrows SMs"'
check "set_slice_sm_policy without an option, or with another, is refused" 'refused "set_slice_sm_policy sp-iso" "takes at least 2 arguments" && refused "set_slice_sm_policy sp-iso -refuse" "(at least one option)" && refused "set_slice_sm_policy sp-nothing -shared" "No slice"'
check "... and the refusals changed nothing" '[ "$before" = "$(q list_slices)" ] && ! q list_slices | grep -q sp-bad'
if command -v setpriv > /dev/null && [ "$(id -u)" = 0 ]; then
	out=$(echo "set_slice_sm_policy sp-iso -shared" | setpriv --reuid=65534 --regid=65534 --clear-groups "$ctl" 2>&1)
	check "a non-root user cannot set_slice_sm_policy" 'echo "$out" | grep -q "Permission denied: set_slice_sm_policy needs root" && [ "$(sharing sp-iso)" = isolated,critical ]'
fi

# a thousand clients registering at once: none lost, all in one server
python3 - "$work/pipe/control" > "$work/many" <<'PY' &
import resource, socket, sys, time, threading
resource.setrlimit(resource.RLIMIT_NOFILE, (4096, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
socks = []
def one(i):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    s.sendall(b"register_client -\n")
    answer = b""
    while b"\nE " not in b"\n" + answer:
        got = s.recv(256)
        assert got
        answer += got
    # placed first (its slice, its ledger), then its server
    assert answer.startswith(b"R slice - ") and b"\nR server " in answer and answer.endswith(b"E 0\n"), answer
    socks.append(s)
threads = [threading.Thread(target=one, args=(i,)) for i in range(1000)]
for t in threads: t.start()
for t in threads: t.join()
print(len(socks), flush=True)
time.sleep(3)
PY
many=$!
for i in $(seq 100); do [ -s "$work/many" ] && break; sleep 0.1; done
check "1000 clients registered concurrently, none lost, one server" '[ "$(cat "$work/many")" = 1000 ] && [ "$(echo list_clients | "$ctl" | awk "\$6 == \"-\"" | wc -l)" = 1000 ] && [ "$(echo get_server_list | "$ctl" | wc -l)" -ge 1 ] && [ "$(echo "get_client_list $(echo get_server_list | "$ctl" | tail -1)" | "$ctl" | wc -l)" = 1000 ]'
kill $many; wait $many 2>/dev/null; sleep 0.3
check "their connections closed, they are gone" '[ "$(echo list_clients | "$ctl" | wc -l)" = 1 ]'

# a server that dies before it is ready: its waiting client is told, once
(
	export GPUSHARE_PIPE_DIRECTORY="$work/pipe2" GPUSHARE_LOG_DIRECTORY="$work/log2" GPUSHARE_FAULT=server-start
	"$ctl" -d
	out=$(echo "register_client -" | timeout 5 "$ctl")
	sleep 0.5
	check "a server that fails to start: the client is refused, no second try" '[ "$(echo "$out" | tail -1)" = "Server failed to start" ] && [ "$(grep -c "Starting new server" "$work/log2/control.log")" = 1 ] && [ -z "$(echo get_server_list | "$ctl")" ] && grep -q "MPS server failed to start" "$work/log2/control.log"'
	echo quit | "$ctl" > /dev/null
	exit $fails
) || fails=$((fails + 1))

# kill -9 and restart: settings come back
kill -9 "$(cat "$work/pipe/gpushare-control.pid")"; sleep 0.2
check "after kill -9 a new daemon starts with the settings it had" '"$ctl" -d && [ "$(echo get_default_client_priority | "$ctl")" = 1 ] && [ "$(echo get_default_active_thread_percentage | "$ctl")" = 33.0 ] && [ "$(echo get_default_device_pinned_mem_limit 0 | "$ctl")" = 19G ]'
check "slices outlive the daemon" 'echo list_slices | "$ctl" | grep -q "8192MiB"'
check "... with their SM policies" '[ "$(sharing sp-iso)" = isolated,critical ] && [ "$(sharing sp-batch)" = best-effort,floor=8 ]'
# a settings file with damaged lines: each is ignored whole, and said so
kill -9 "$(cat "$work/pipe/gpushare-control.pid")"; sleep 0.2
printf 'gpushare-control-settings 1\npct 50junk\npriority 1x\nlimit 0 1073741824\n' > "$work/pipe/control-settings"
check "a damaged settings line is ignored, not read in part" '"$ctl" -d && [ "$(echo get_default_active_thread_percentage | "$ctl")" = 100.0 ] && [ "$(echo get_default_client_priority | "$ctl")" = 0 ] && [ "$(echo get_default_device_pinned_mem_limit 0 | "$ctl")" = 1G ] && grep -q "ignoring \"pct 50junk\"" "$work/log/control.log"'
echo quit | "$ctl"; rc=$?
check "quit stops the daemon with status 0 and removes its sockets" '[ $rc = 0 ] && [ ! -e "$work/pipe/control" ] && [ ! -e "$work/pipe/gpushare-control.pid" ]'
check "quit drops the settings, as MPS does" '"$ctl" -d && [ "$(echo get_default_active_thread_percentage | "$ctl")" = 100.0 ] && echo quit | "$ctl"'
exit $((fails > 0))
