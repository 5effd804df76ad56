#!/usr/bin/env bash
# test-elastic.sh BUILD: elastic SMs on the simulated H200 (132 SMs, its TPC
# map as irregular as the real one's), gpushare-control deciding, two real
# non-root users (gs-test1, gs-test2):
# - the daemon calibrates the GPU's TPC map at start, keeps it, and
#   gpushare-smi -q says the SMs are confined by TPC masks;
# - a busy slice beside an idle one runs on the idle one's SMs too, and
#   gives them back from its next launches once the owner launches again,
#   a SIGKILL of the owner giving them to it again, an owner waiting in
#   cuCtxSynchronize for its long kernel keeping them, and an owner whose mask
#   does not change when it is busy again (it does not borrow) lends them
#   again once idle;
# - busy slices on the same SMs split them by weight (3:1), share them all
#   at equal weights;
# - an isolated slice neither lends nor borrows; best-effort slices share
#   each other's SMs while both are busy; a busy critical slice shrinks a
#   best-effort neighbour to its floor, and a low-priority one's launches
#   wait while it is busy (also after the daemon was killed and came back;
#   a killed daemon lifts the pause);
# - the busy time their reports give (list_clients --json): a program that
#   launched once is busy for about an idle interval, one waiting for its
#   long kernel all the time since it was admitted;
# - nobody else's report moves a slice's SMs: sm_busy and sm_idle from a
#   connection that is not a registered program of the GPU change nothing.
set -u
build=$(cd "$1" && pwd)
. "$(dirname "$0")/lib.sh"
if ! test_users; then
	echo "skip: needs root, setpriv and useradd for two real users"
	exit 0
fi
need_preload
sim_env
# a loaded 2-core test machine can stall a program for milliseconds: an idle
# interval well above that, so that busy programs stay busy
export GPUSHARE_SIMULATE=h200-sxm-141gb GPUSHARE_CONTROL_LEND_IDLE_MS=50
mkdir -m 1777 "$work/sim" "$work/tmp"
app="$build/tests/cuda-app"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2> /dev/null; done
	[ -f "$work/pipe/gpushare-control.pid" ] && kill -9 "$(cat "$work/pipe/gpushare-control.pid")" 2> /dev/null
	pkill -9 -f "$app" 2> /dev/null
	[ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
q() { echo "$*" | "$ctl"; }
# loop NAME USER SLICE: the SM-id kernel in a loop in a slice, its lines in $work/NAME.out
loop() {
	rm -f "$work/$1.out" # an earlier loop's lines are never read as this one's
	LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" GPUSHARE_SLICE="$3" \
		setpriv --reuid="$2" --regid="$(id -g "$2")" --init-groups -- "$app" smidloop > "$work/$1.out" 2> "$work/$1.err" &
	pids+=($!)
	eval "pid_$1=$!"
}
last() { tail -1 "$work/$1.out" 2> /dev/null; }
is() { wait_for "[ \"\$(last $1)\" = \"smid distinct $2\" ]" "${3:-10}"; }

"$ctl" -d
check "the daemon calibrated the simulated H200's TPC map" 'grep -q "GPU 0: SMs confined by TPC masks (132 SMs on 66 live TPC bits" "$work/log/control.log"'
check "and keeps it in its state directory" '[ -f "$work/state/tpcmap-$(gpushare-smi --query-gpu=uuid --format=csv,noheader | head -1)" ]'
check "gpushare-smi -q says the SMs are confined by TPC masks" 'gpushare-smi -q | grep -q "SM Confinement *: TPC mask"'

a=$(q create_slice 64 8G -users "$user1")
b=$(q create_slice 64 8G -users "$user2")
check "two 64-SM slices for two users" '[[ "$a" == MIG-* && "$b" == MIG-* ]]'

loop a "$user1" "$a"
check "a busy slice beside an idle one runs on the whole GPU: its 64, the idle one's 64 and the 4 in no slice" 'is a "132 range 0-131"'
loop b "$user2" "$b"
check "the owner launching again: the borrower is back on its own 64 SMs (and the 4 free)" 'is a "68 range 0-131"'
check "and the owner on its 64 (and the 4 free)" 'is b "68 range 64-131"'
check "list_sms: both busy, each on its own 64 and the 4 free, nothing lent" '[ "$(q list_sms | awk -v a="$a" -v b="$b" "\$2 == a || \$2 == b { print \$3, \$4, \$5, \$6 }" | sort -u)" = "64 68 yes no" ]'
kill -9 "$pid_b"
check "the owner killed: its SMs are lent again" 'is a "132 range 0-131"'
check "list_sms --json: the borrower on 132, the owner idle and lent" 'q list_sms --json | "$py" -c "
import json, sys
d = json.load(sys.stdin)[\"gpus\"][0]
s = {x[\"slice\"]: x for x in d[\"slices\"]}
assert d[\"tpc_masks\"] and s[\"$a\"][\"sms_now\"] == 132 and s[\"$a\"][\"busy\"], s
assert s[\"$b\"][\"lent\"] and not s[\"$b\"][\"busy\"] and s[\"$b\"][\"own_sms\"] == 64, s"'
# a program that is there but launches nothing
LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" GPUSHARE_SLICE="$b" \
	setpriv --reuid="$user2" --regid="$(id -g "$user2")" --init-groups -- "$app" hold 16 > "$work/h.out" 2>&1 &
pids+=($!) pid_h=$!
wait_for 'grep -q "^held" "$work/h.out"' > /dev/null
check "a program in the owner's slice that launches nothing leaves its SMs lent" 'sleep 0.3; [ "$(last a)" = "smid distinct 132 range 0-131" ]'
before=$(wc -l < "$work/a.out")
kill -USR2 "$pid_h"
check "its launch runs on its slice's own SMs" 'wait_for "grep -q \"^smid distinct 64 range 64-127\" \"$work/h.out\"" 10'
check "takes them from the borrower, and once it is idle again they are lent again" 'is a "132 range 0-131" && tail -n +$((before + 1)) "$work/a.out" | grep -q "^smid distinct 68 range 0-131"'
# client_busy PID TEST: TEST (python) holds of its busy seconds b and its admitted seconds t
client_busy() { q list_clients --json | "$py" -c "
import json, sys
c = {x[\"pid\"]: x for x in json.load(sys.stdin)[\"clients\"]}[$1]
b, t = c[\"gpu_busy_seconds\"], c[\"admitted_seconds\"]
assert $2, (b, t)"; }
check "its busy time: about the idle interval of its one launch, not the time it is there" \
	'sleep 0.3; client_busy "$pid_h" "0 < b < 0.3 and t > 0.5"'
kill -9 "$pid_h"
# an owner whose one long kernel runs while it waits in cuCtxSynchronize
# launches nothing for longer than the idle interval, yet is busy
LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" GPUSHARE_SLICE="$b" \
	setpriv --reuid="$user2" --regid="$(id -g "$user2")" --init-groups -- "$app" longsync 1500 > "$work/l.out" 2>&1 &
pids+=($!) pid_l=$!
wait_for 'grep -q "^launched" "$work/l.out"' > /dev/null
b_is() { q list_sms --json | "$py" -c "
import json, sys
s = {x[\"slice\"]: x for x in json.load(sys.stdin)[\"gpus\"][0][\"slices\"]}
assert (s[\"$b\"][\"busy\"], s[\"$b\"][\"lent\"]) == ($1, $2), s"; }
check "an owner waiting for its long kernel is busy, its SMs not lent" 'sleep 0.6 && b_is True False && ! grep -q synced "$work/l.out"'
check "... busy all the time since it was admitted (list_clients --json)" 'client_busy "$pid_l" "abs(b - t) < 0.15 and t > 0.5"'
check "and lends them again once its kernel is done" 'wait_for "grep -q synced \"$work/l.out\"" 10 && wait_for "b_is False True" 10'
# the same through the lookups of a CUDA 13 runtime: cuCtxSynchronize at
# 13000 is the form that takes a context (cudaDeviceSynchronize's)
LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" GPUSHARE_SLICE="$b" \
	setpriv --reuid="$user2" --regid="$(id -g "$user2")" --init-groups -- "$app" --via procaddr longsync 1500 > "$work/l.out" 2>&1 &
pids+=($!) pid_l=$!
wait_for 'grep -q "^launched" "$work/l.out"' > /dev/null
check "also waiting in CUDA 13's cuCtxSynchronize (a context's, looked up at 13000)" 'sleep 0.6 && b_is True False && ! grep -q synced "$work/l.out" && wait_for "grep -q synced \"$work/l.out\"" 10 && wait_for "b_is False True" 10'
kill -9 "$pid_a" 2> /dev/null

# someone else's reports change nothing
loop a "$user1" "$a"
is a "132 range 0-131" > /dev/null
for cmd in sm_busy sm_idle; do
	printf '%s\n' "$cmd" | as "$user2" "$py" -c "
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect('$work/pipe/control'); s.sendall(sys.stdin.buffer.read()); s.recv(100)"
done
sleep 0.2
check "sm_busy and sm_idle from a connection that is no registered program move nothing" '[ "$(last a)" = "smid distinct 132 range 0-131" ]'
kill -9 "$pid_a"

# isolated
gone() { wait_for "q destroy_slice $1 > /dev/null 2>&1" 10; } # once the daemon has seen its programs go
gone "$b"
c=$(q create_slice 64 8G -users "$user1" -isolated)
loop c "$user1" "$c"
check "an isolated slice borrows nothing" 'is c "64 range 64-127" && sleep 0.3 && [ "$(last c)" = "smid distinct 64 range 64-127" ]'
loop a "$user1" "$a"
check "and lends nothing: its busy neighbour keeps its own and the 4 free SMs" 'is a "68 range 0-131"'
kill -9 "$pid_a" "$pid_c"
gone "$c"

# best-effort slices share while both are busy
q set_slice_sm_policy "$a" -best-effort > /dev/null
d=$(q create_slice 64 8G -users "$user2" -best-effort)
loop a "$user1" "$a"
loop d "$user2" "$d"
check "two busy best-effort slices each run on both their SMs (and the 4 free)" 'is a "132 range 0-131" && is d "132 range 0-131"'
kill -9 "$pid_d"
q set_slice_sm_policy "$d" -shared -priority critical > /dev/null
loop d "$user2" "$d"
check "a busy critical neighbour shrinks a best-effort slice to its floor (a quarter: 16 SMs)" 'is a "16 range 0-51"'
check "and the critical one runs on the rest" 'is d "116 range 4-131"'
count() { grep "^launched" "$work/$1.err" | tail -1; }
still() { local n; n=$(count "$1"); sleep 0.5; [ "$(count "$1")" = "$n" ]; }
q set_slice_sm_policy "$a" -priority low > /dev/null
check "list_slices shows the low priority" 'q list_slices | grep "$a" | grep -q "best-effort,low" && q list_slices --json | grep -q "\"priority\": \"low\""'
check "a low-priority slice beside a busy critical one launches nothing" 'sleep 0.2 && still a'
check "while the critical one goes on" '! still d'
q set_slice_sm_policy "$a" -priority normal > /dev/null
check "made normal again: it launches again, on its floor" 'is a "16 range 0-51"'
q set_slice_sm_policy "$a" -priority low > /dev/null
sleep 0.2
kill -9 "$pid_d"
check "the critical one gone: the low-priority one launches again, on the whole GPU" 'is a "132 range 0-131"'
check "a bad priority is refused, saying what is right" '! out=$(q set_slice_sm_policy "$a" -priority high 2>&1) && [[ "$out" == *"critical"*"normal"*"low"* ]]'
loop d "$user2" "$d"
check "paused again beside a new critical program" 'sleep 0.3 && still a'
check "list_sms: the paused slice's SMs go to the critical one" 'wait_for "is d \"132 range 0-131\"" 10'
kill -9 "$pid_a"
loop a "$user1" "$a"
check "a low-priority program that starts beside a busy critical one waits to launch (a second at most)" 'sleep 0.8 && [ ! -s "$work/a.out" ]'
kill -9 "$(cat "$work/pipe/gpushare-control.pid")"
check "the daemon killed: nobody is left to lift the pause, so it goes" '! still a'
"$ctl" -d
check "a new daemon pauses it again" 'wait_for "still a" 10'
kill -9 "$pid_d"
check "and lifts the pause when the critical one goes" 'is a "132 range 0-131"'
kill -9 "$pid_a"
gone "$d"
gone "$a"

# an owner that does not borrow gets no new mask when it is busy again,
# yet says idle again once it is (its watcher is woken by its launch)
a=$(q create_slice 64 8G -users "$user1")
b=$(q create_slice 64 8G -users "$user2" -borrow off)
loop a "$user1" "$a"
LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" GPUSHARE_SLICE="$b" \
	setpriv --reuid="$user2" --regid="$(id -g "$user2")" --init-groups -- "$app" hold 16 > "$work/h2.out" 2>&1 &
pids+=($!) pid_h=$!
wait_for 'grep -q "^held" "$work/h2.out"' > /dev/null
check "a busy slice beside an idle one that does not borrow: on the whole GPU" 'is a "132 range 0-131"'
before=$(wc -l < "$work/a.out")
kill -USR2 "$pid_h"
check "the owner's one launch takes its SMs back, on its own 64" 'wait_for "grep -q \"^smid distinct 64 range 64-127\" \"$work/h2.out\"" 10'
check "and idle again, it lends them again" 'is a "132 range 0-131" && tail -n +$((before + 1)) "$work/a.out" | grep -q "^smid distinct 68 range 0-131"'
kill -9 "$pid_h" "$pid_a"
gone "$a"
gone "$b"

# weights: two slices on the same 128 SMs (over-committed), 3:1
sms_of() { wait_for "[ \"\$(last $1 | cut -d' ' -f3)\" = $2 ]" 10; }
a=$(q create_slice 128 8G -users "$user1" -weight 3)
b=$(q create_slice 128 8G -users "$user2" -overcommit)
check "list_slices shows the weight" 'q list_slices | grep "$a" | grep -q "shared,weight=3" && q list_slices --json | "$py" -c "
import json, sys
s = {x[\"slice\"]: x for x in json.load(sys.stdin)[\"slices\"]}
assert s[\"$a\"][\"weight\"] == 3 and s[\"$b\"][\"weight\"] == 1, s"'
loop a "$user1" "$a"
loop b "$user2" "$b"
check "busy on the same SMs, weights 3:1 split them: 96 and 32 (and both the 4 in no slice)" 'sms_of a 100 && sms_of b 36'
q set_slice_sm_policy "$b" -weight 3 > /dev/null
check "equal weights: both on all 132, as MPS shares them" 'sms_of a 132 && sms_of b 132'
kill -9 "$pid_b"
q set_slice_sm_policy "$b" -weight 1 > /dev/null
check "the light one gone: the heavy one on all 132" 'sms_of a 132'
check "a weight out of range is refused, saying what is right, and changes nothing" '! out=$(q set_slice_sm_policy "$b" -weight 101 2>&1) && [[ "$out" == *"from 1 to 100"* ]] && q list_slices --json | grep -q "\"weight\": 1,"'
kill -9 "$pid_a"

q quit
wait_for '! q list_slices > /dev/null 2>&1' 10
# the switch that turns masks off: green contexts on every GPU, said in the log
GPUSHARE_CONTROL_SM_MASKS=off "$ctl" -d
check "GPUSHARE_CONTROL_SM_MASKS=off: the daemon keeps green contexts and says why" 'grep -q "GPU 0: SMs confined by green contexts, no lending: TPC masks turned off (GPUSHARE_CONTROL_SM_MASKS=off)" "$work/log/control.log"'
c=$(q create_slice 32 4G -overcommit)
loop c "$user1" "$c"
check "a program of a 32-SM slice runs on its 32 SMs all the same (green context)" 'wait_for "last c | grep -q \"^smid distinct 32 \"" 10'
check "gpushare-smi -q says green context, and why, though the TPC map is kept" 'gpushare-smi -q | grep -q "SM Confinement *: green context (TPC masks turned off (GPUSHARE_CONTROL_SM_MASKS=off))" && ls "$work/state" | grep -q tpc'
kill -9 "$pid_c"
q quit
finish
