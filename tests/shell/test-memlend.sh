#!/usr/bin/env bash
# test-memlend.sh BUILD: lending memory with a promise (create_slice
# -borrow-memory on, set_slice_borrow_memory), on the simulated A100-40GB,
# with two real non-root users: gs-test1 owns a slice guaranteed 30 GiB,
# gs-test2 runs programs in over-committed slices that borrow it.
# - above its guarantee a borrower takes memory another slice is guaranteed
#   and does not use; an over-committed slice without the attribute may not;
# - an owner's allocation within its guarantee while borrowers hold it:
#   borrowers are suspended (lowest priority first, then the latest
#   started) until it fits, the owner's call succeeds (the wait measured),
#   and once the owner frees the borrowers are resumed, their data intact;
# - the attribute refused for a slice that is not over-committed and for a
#   critical one (and critical refused for a borrower), bad values refused;
#   the daemon refuses a reclaim for more than the guarantee, or from a
#   connection that is no registered program of a slice;
# - a borrower killed while suspended, an owner killed while it waits, the
#   daemon killed while a borrower is suspended for an owner: the ledgers
#   right, the borrower resumed by the next daemon when it registers again;
# - the driver refusing what the ledgers have room for (memory no slice
#   accounts) while borrowers hold memory: the owner asks it back too;
# - an owner whose borrowers cannot be suspended (opted out of the swap, or
#   more than the host's memory takes) waits, then is refused after
#   GPUSHARE_RECLAIM_WAIT seconds, saying why;
# - with TPC masks, whose programs the driver refuses to checkpoint (the
#   simulated one as the real one), borrowers are backed for the swap and
#   moved by their interposers; what a swap leaves on the GPU (a context)
#   is not counted as freed: the next borrower is suspended too.
# Until that last part the daemon confines by green contexts
# (GPUSHARE_CONTROL_SM_MASKS=off), so that borrowers go by checkpoint.
set -u
build=$(cd "$1" && pwd)
. "$(dirname "$0")/lib.sh"
sim_daemon_test
export GPUSHARE_CONTROL_SM_MASKS=off
bg() { # bg NAME USER SLICE ARGS...: cuda-app ARGS in SLICE as USER, $NAME its pid
	local name=$1 user=$2 slice=$3
	shift 3
	rm -f "$work/$name.out"
	LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" GPUSHARE_SLICE="$slice" \
		GPUSHARE_LOG="$work/tmp/$name.log" \
		setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups -- "$app" "$@" > "$work/$name.out" 2> "$work/$name.err" &
	pids+=($!)
	eval "$name=$!"
}
fg() { # fg USER SLICE ARGS...: cuda-app ARGS in SLICE as USER, its output
	local user=$1 slice=$2
	shift 2
	LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" GPUSHARE_SLICE="$slice" \
		setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups -- "$app" "$@" 2> "$work/fg.err"
}
state() { # state PID: its state in list_clients
	q list_clients --json | "$py" -c "
import json, sys
c = [x for x in json.load(sys.stdin)['clients'] if x['pid'] == $1]
print(c[0]['state'] if c else 'gone')"
}
used() { # used SLICE: MiB its ledger holds
	q list_slices --json | "$py" -c "
import json, sys
print([x for x in json.load(sys.stdin)['slices'] if x['slice'] == '$1'][0]['used_bytes'] >> 20)"
}
held() { wait_for "grep -qs '^held' '$work/$1.out'" 10; }
is() { wait_for "[ \"\$(state $1)\" = '$2' ]" "${3:-10}"; }
gone() { kill -9 "$1" 2> /dev/null; wait "$1" 2> /dev/null; }
log="$work/log/control.log"

"$ctl" -d
o=$(q create_slice 32 30G -name owner -users "$user1")
b=$(q create_slice 32 40G -name lend-b -users "$user2" -overcommit -borrow-memory on)
l=$(q create_slice 16 40G -name lend-l -users "$user2" -overcommit -borrow-memory on -priority low)
n=$(q create_slice 16 40G -name plain -users "$user2" -overcommit)
check "list_slices shows the attribute (POLICY, --json borrow_memory)" 'q list_slices | grep "$b" | grep -q "queue,borrow-memory" && q list_slices --json | grep "$b" | grep -q "\"borrow_memory\": true" && q list_slices --json | grep "$n" | grep -q "\"borrow_memory\": false"'
check "the store keeps it (a borrowmem record)" 'grep -q "^borrowmem " "$work/state/slices"'

# refusals
check "a slice made without -overcommit may not borrow, saying why" '! out=$(q create_slice 8 2G -borrow-memory on 2>&1) && [[ "$out" == *"Only an over-committed slice borrows memory"* ]]'
check "nor set so later" '! out=$(q set_slice_borrow_memory owner on 2>&1) && [[ "$out" == *"guaranteed its whole limit"* ]]'
check "a critical slice may not borrow: the owner's promise comes first" '! out=$(q create_slice 8 2G -overcommit -priority critical -borrow-memory on 2>&1) && [[ "$out" == *"owner'"'"'s promise comes first"* ]]'
check "nor may a borrower be made critical" '! out=$(q set_slice_sm_policy lend-l -priority critical 2>&1) && [[ "$out" == *"critical slice may not borrow memory"* ]]'
check "a bad value is refused" '! out=$(q set_slice_borrow_memory plain yes 2>&1) && [[ "$out" == *"on or off"* ]]'
check "set_slice_borrow_memory on and off, logged" 'q set_slice_borrow_memory plain on && q list_slices | grep "$n" | grep -q borrow-memory && q set_slice_borrow_memory plain off && ! q list_slices | grep "$n" | grep -q borrow-memory && grep -q "set_slice_borrow_memory $n off" "$log"'
check "a reclaim from a connection that is no program of a slice is refused" 'out=$(echo "reclaim 1000" | "$ctl" 2>&1); [[ "$out" == *"only a program registered in a slice may ask"* ]] && wait_for "grep -q \"refused: only a program registered in a slice may ask\" \"$log\"" 3'

# peer USER SLICE BYTES: a raw connection of USER registered in SLICE asks
# "reclaim BYTES"; prints the answer's line (or what refused it)
peer() {
	as "$1" "$py" - "$work/pipe/control" "$2" "$3" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(10)
s.sendall(b"register_client " + sys.argv[2].encode() + b" -\n")
buf = b""
def line():
    global buf
    while b"\n" not in buf:
        d = s.recv(4096)
        if not d: return None
        buf += d
    l, buf = buf.split(b"\n", 1)
    return l.decode()
while True:
    l = line()
    if l is None or l.startswith("C ") or (l.startswith("E ") and l != "E 0"):
        print("refused", l); sys.exit()
    if l == "E 0": break
s.sendall(b"reclaim " + sys.argv[3].encode() + b"\n")
while True:
    l = line()
    if l is None or l.startswith("S reclaimed"):
        print(l); break
PY
}
check "a program of the owner's slice asking back more than its guarantee is refused" '[ "$(peer "$user1" owner $((31 << 30)))" = "S reclaimed 0" ] && grep -q "refused: more than its slice'"'"'s guarantee" "$log"'
check "a borrower's program (guaranteed nothing) asking is refused" '[ "$(peer "$user2" lend-b 1048576)" = "S reclaimed 0" ]'
check "another user's program cannot register in the owner's slice to ask for it" 'peer "$user2" owner 1048576 | grep -q "^refused"'
# flood USER SLICE N: a raw connection registered in SLICE asks "reclaim 1" N times at once; prints the answers it got
flood() {
	as "$1" "$py" - "$work/pipe/control" "$2" "$3" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(10)
s.sendall(b"register_client " + sys.argv[2].encode() + b" -\n")
buf = b""
while b"E 0\n" not in buf and not buf.startswith(b"C "):
    d = s.recv(4096)
    if not d: break
    buf += d
n = int(sys.argv[3])
s.sendall(b"reclaim 1\n" * n)
got = 0
try:
    while got < n:
        d = s.recv(65536)
        if not d: break
        got += d.count(b"S reclaimed")
except socket.timeout:
    pass
print(got)
PY
}
check "a program asking over and over is answered each time, and refused past 20 a second, said once" '[ "$(flood "$user1" owner 200)" = 200 ] && [ "$(grep -c "Reclaims by pid .* refused for the rest of this second: more than 20 a second" "$log")" -ge 1 ] && [ "$(grep -c "Reclaim of 1 bytes by pid" "$log")" -le 40 ]'
check "nothing was suspended for them" '! grep -q "Reclaim for client" "$log"'

# a borrower above its guarantee: only with the attribute
check "above its guarantee an over-committed slice may not take another's unused guarantee" '[ "$(fg "$user2" plain alloc 15000)" = "refused 2" ]'
check "a borrower may (15000 MiB of the 10240 not guaranteed to anyone)" '[ "$(fg "$user2" lend-b alloc 15000)" = ok ]'
# a borrower borrows only from slices that may take it back: of its priority or above
q set_slice_sm_policy owner -priority low > /dev/null
check "not from a slice of lower priority than its own (a normal borrower, a low owner)" '[ "$(fg "$user2" lend-b alloc 15000)" = "refused 2" ]'
check "a low borrower still may" '[ "$(fg "$user2" lend-l alloc 15000)" = ok ]'
q set_slice_sm_policy owner -priority normal > /dev/null

# an owner within its guarantee while borrowers hold it
# l1 (low priority) started first, b1 (normal) holding most, b2 (normal) last
bg l1 "$user2" lend-l pattern 600
held l1
bg b1 "$user2" lend-b hold 12000
held b1
bg b2 "$user2" lend-b pattern 600
held b2
check "three borrowers hold 13200 MiB and their contexts, 3000 of them guaranteed to the owner" '[ "$(used "$b")" -ge 13000 ] && [ "$(used "$l")" -ge 800 ]'
check "borrowing turned off while the slice holds borrowed memory is refused, saying why" '! out=$(q set_slice_borrow_memory lend-b off 2>&1) && [[ "$out" == *"past its guarantee, borrowed"* ]] && q list_slices | grep "$b" | grep -q borrow-memory'
check "an owner's program asking back what it does not hold is refused, and nobody is suspended" '[ "$(peer "$user1" owner 1048576)" = "S reclaimed 0" ] && grep -q "refused: more than the program holds" "$log" && sleep 0.3 && [ "$(state "$l1")" = running ] && [ "$(state "$b2")" = running ]'
t0=$(date +%s%N)
bg o1 "$user1" owner hold 28000
held o1
t1=$(date +%s%N)
waited=$(( (t1 - t0) / 1000000 ))
echo "     (the owner's 28000 MiB came after $waited ms, its start included)"
check "the owner's allocation within its guarantee succeeds" 'grep -q "^held" "$work/o1.out"'
check "it waited, saying so" 'grep -q "held by slices that borrow memory; waiting" "$work/o1.err"'
check "the low-priority borrower is suspended first, then the latest started normal one; the other runs" 'is "$l1" suspended && is "$b2" suspended && [ "$(state "$b1")" = running ]'
check "control.log says who was suspended for whom, in that order" 'grep "Reclaim for client $o1" "$log" | grep -n suspending | grep -q "client $l1 of borrowing slice $l (priority low" && [ "$(grep "Reclaim for client $o1" "$log" | grep suspending | head -1 | grep -c "client $l1 ")" = 1 ] && grep -q "Reclaim for client $o1 .*suspending client $b2 of borrowing slice $b (priority normal" "$log"'
check "the owner asked on its connection" 'grep -q "Cmd:reclaim " "$log" && grep -q "Client $o1 of slice $o asks" "$log"'
check "the borrowers stay suspended while the owner holds its memory" 'sleep 3 && [ "$(state "$l1")" = suspended ] && [ "$(state "$b2")" = suspended ]'
kill -TERM "$o1"
wait "$o1" 2> /dev/null
check "the owner freed: the borrowers are resumed" 'is "$l1" running 10 && is "$b2" running 10 && grep -q "Resuming client $b2 of borrowing slice $b" "$log"'
kill -USR1 "$l1" "$b2"
check "their data intact bitwise" 'wait_for "grep -q \"^check\" \"$work/l1.out\" && grep -q \"^check\" \"$work/b2.out\"" 5 && grep -qx "check ok" "$work/l1.out" && grep -qx "check ok" "$work/b2.out"'

# a borrower killed while suspended
bg o2 "$user1" owner hold 28000
held o2
is "$b2" suspended
gone "$b2"
check "a borrower killed while suspended: forgotten, its slice's ledger holds only the other's" 'is "$b2" gone 5 && [ "$(used "$b")" -ge 12000 ] && [ "$(used "$b")" -lt 12600 ]'
gone "$o2"
check "its owner gone: the other borrower resumed, the owner's ledger empty" 'is "$l1" running 10 && wait_for "[ \"\$(used $o)\" -lt 10 ]" 5'

# the daemon killed while a borrower is suspended for an owner
bg o3 "$user1" owner hold 28000
held o3
is "$l1" suspended
check "the suspended file names the borrower" 'grep -q "^$l1 " "$work/state/suspended"'
kill -9 "$(cat "$work/pipe/gpushare-control.pid")"
rm -f "$work/pipe/gpushare-control.pid"
sleep 0.3
"$ctl" -d
check "the next daemon tries to resume it when it registers again; it waits while the owner holds its memory" 'wait_for "grep -q \"Client $l1 was suspended before: resuming it\" \"$log\"" 10 && sleep 1 && [ "$(state "$l1")" != running ]'
gone "$o3"
kill -USR1 "$l1"
check "the owner gone, it is resumed, its data intact" 'is "$l1" running 15 && wait_for "grep -c \"^check ok\" \"$work/l1.out\" | grep -qx 2" 5'
check "the ledgers right: the owner's empty, the borrowers' their programs'" '[ "$(used "$o")" -lt 10 ] && [ "$(used "$l")" -ge 800 ] && [ "$(used "$l")" -lt 900 ]'

# the driver refuses what the ledgers have room for (memory no slice
# accounts: here a program without the interposer), while borrowers hold
# memory: the owner asks what it allocates back, then tries again
LD_LIBRARY_PATH="$build/lib/gpushare-sim" setpriv --reuid="$user2" --regid="$(id -g "$user2")" --init-groups -- \
	"$app" hold 10000 > "$work/rogue.out" 2>&1 &
rogue=$!
pids+=($rogue)
held rogue
out=$(fg "$user1" owner alloc 20000)
check "an allocation within the guarantee the driver refuses, borrowers holding memory: they are suspended and it succeeds" '[ "$out" = ok ] && grep -q "held by slices that borrow memory" "$work/fg.err" && grep -q "asks [0-9]* MiB of its guarantee back (0 MiB short by the ledgers" "$log"'
check "... and resumed once it is gone" 'is "$l1" running 10 && is "$b1" running 10'
gone "$rogue"
gone "$l1"
gone "$b1"
q quit > /dev/null
wait_for '[ ! -e "$work/pipe/gpushare-control.pid" ]' 10

# borrowers that cannot be suspended (opted out of the swap the daemon uses)
GPUSHARE_CONTROL_SWAP=all "$ctl" -d
GPUSHARE_SWAP=off bg x1 "$user2" lend-b hold 20000
check "a borrower that opted out of the swap holds 20000 MiB, 9760 of them the owner's" 'held x1 && [ "$(used "$b")" -ge 20000 ]'
t0=$(date +%s)
out=$(GPUSHARE_RECLAIM_WAIT=3 fg "$user1" owner alloc 25000)
t1=$(date +%s)
check "an owner whose borrowers cannot be suspended waits GPUSHARE_RECLAIM_WAIT, then is refused saying why" '[ "$out" != ok ] && [ $((t1 - t0)) -ge 3 ] && grep -q "were not given back within 3 s" "$work/fg.err" && grep -q "Client $x1 not suspended: its interposer could not move its memory: not enabled" "$log"' || { echo "     owner: $out, $((t1 - t0)) s: $(tail -n 2 "$work/fg.err" | tr '\n' ' ')"; }
check "and nothing of it stays charged" 'wait_for "[ \"\$(used $o)\" -lt 10 ]" 5'
bg o4 "$user1" owner hold 25000
wait_for 'grep -qs "waiting up to" "$work/o4.err"' 10
gone "$o4"
check "an owner killed while it waits: its charge gone, the borrower runs on untouched" 'wait_for "[ \"\$(used $o)\" -lt 10 ]" 5 && [ "$(state "$x1")" = running ] && [ "$(used "$b")" -ge 20000 ]'
gone "$x1"
q quit > /dev/null
wait_for '[ ! -e "$work/pipe/gpushare-control.pid" ]' 10

# a borrower whose memory the host cannot take (the simulated host: 4000
# MiB) is not suspended: the owner waits, then is refused, and the reclaim
# says why
GPUSHARE_SIM_HOST_MIB=4000 "$ctl" -d
bg x2 "$user2" lend-b hold 20000
check "a borrower holds 20000 MiB, the owner's among them" 'held x2 && [ "$(used "$b")" -ge 20000 ]'
out=$(GPUSHARE_RECLAIM_WAIT=2 fg "$user1" owner alloc 25000)
check "an owner whose borrower the host cannot take waits, then is refused; control.log says the host's memory cannot take it" \
	'[ "$out" != ok ] && grep -q "Client $x2 not suspended: its 20[0-9]* MiB do not fit in the host" "$log" && grep -q "1 borrower(s) hold memory on GPU .*, but the host.s memory (or their cgroups.) cannot take it; nothing taken back" "$log" && [ "$(state "$x2")" = running ]'
gone "$x2"
q quit > /dev/null
wait_for '[ ! -e "$work/pipe/gpushare-control.pid" ]' 10

# TPC masks: the borrowers' checkpoint refused, their interposers swap them
unset GPUSHARE_CONTROL_SM_MASKS
"$ctl" -d
bg p1 "$user2" plain hold 9000
held p1
bg m1 "$user2" lend-b pattern 600
held m1
bg m2 "$user2" lend-l pattern 600
held m2
check "with TPC masks the borrowers are told to back their memory for the swap" 'grep -q "backed by virtual memory management" "$work/tmp/m1.log" && grep -q "backed by virtual memory management" "$work/tmp/m2.log"'
bg o5 "$user1" owner hold 30400
held o5
check "an owner's 30400 MiB, 664 MiB more than the GPU has: it succeeds" 'grep -q "^held" "$work/o5.out"'
check "the low-priority borrower went first, by its interposer's swap, its context left on the GPU" 'is "$m2" suspended && grep -q "Client $m2 suspended: 600 MiB on the host (2 allocations moved by its interposer), [0-9]* MiB stay on the GPU" "$log"'
check "what stayed is not counted as freed: the next borrower is suspended too" 'grep -q "Reclaim for client $o5 .*borrowers free [0-9]* MiB less than they held" "$log" && is "$m1" suspended && grep -q "Reclaim for client $o5 .*suspending client $m1 " "$log"'
check "a program that borrows nothing is left alone" '[ "$(state "$p1")" = running ]'
gone "$o5"
check "the owner gone, both are swapped back in" 'is "$m1" running 15 && is "$m2" running 15'
kill -USR1 "$m1" "$m2"
check "their data intact bitwise" 'wait_for "grep -q \"^check\" \"$work/m1.out\" && grep -q \"^check\" \"$work/m2.out\"" 5 && grep -qx "check ok" "$work/m1.out" && grep -qx "check ok" "$work/m2.out"'
gone "$m1"
gone "$m2"
gone "$p1"
q quit > /dev/null
finish
