#!/usr/bin/env bash
# test-output.sh BUILD: what people and scripts read: refusals on stderr with
# a non-zero exit, slice names usable wherever a UUID is, the tables' user
# names, GPU, policy, busy and command columns, their JSON forms, and every
# program's --help and --version.
set -u
build=$(cd "$1" && pwd)
. "$(dirname "$0")/lib.sh"
need_preload
sim_env
trap 'echo quit | "$ctl" > /dev/null 2>&1; rm -rf "$work"' EXIT
q() { echo "$*" | "$ctl"; }
app="$build/tests/cuda-app"

# ---- every program: --help and --version, unknown options refused ----
for p in gpushare gpushare-smi gpushare-control; do
	check "$p --version says which gpushare it is" '[ "$("$p" --version)" = "$p 0.9.0" ]'
	check "$p --help exits 0 with its usage" '"$p" --help | grep -qi "usage\|$p"'
done
check "gpushare run --help says what run takes" 'gpushare run --help | grep -q -- "--memory SIZE" && gpushare run --help | grep -q -- "--slice S"'
check "gpushare status --help and preload --help" 'gpushare status --help | grep -q -- --json && gpushare preload --help | grep -q "status "'
check "gpushare-control -h lists user commands, not the protocol's messages" 'gpushare-control -h | grep -q "^  create_slice " && ! gpushare-control -h | grep -Eq "register_client|server_ready"'
check "gpushare-control with an unknown option exits 2" '! gpushare-control -x > /dev/null 2>&1; [ "$(gpushare-control -x 2> /dev/null; echo $?)" = "$(printf "Unrecognized option\n2")" ]'

"$ctl" -d
# ---- a script can tell failure from a UUID ----
slice=$(q "create_slice 200 8G" 2> "$work/err"); rc=$?
check "a refused create_slice prints nothing on stdout, why on stderr, and exits 1" '[ -z "$slice" ] && [ $rc = 1 ] && grep -q "^gpushare-control: GPU 0 has 108 SMs and 40960 MiB" "$work/err"'
slice=$(q "create_slice 32 8G -name train-a -users root,nobody"); rc=$?
check "create_slice -name prints the slice's UUID alone and exits 0" '[[ "$slice" =~ ^MIG-[0-9a-f-]{36}$ ]] && [ $rc = 0 ]'
check "a second slice of the same name is refused" 'q "create_slice 8 1G -name train-a" 2>&1 | grep -q "A slice named train-a exists already ($slice)"'
check "a name that could be taken for a UUID is refused, saying what is right" 'q "create_slice 8 1G -name MIG-x" 2>&1 | grep -q "Invalid slice name \"MIG-x\": 1 to 31 letters" && q "create_slice 8 1G -name 42" 2>&1 | grep -q "not a UUID" && q "create_slice 8 1G -name cafe" 2>&1 | grep -q "Invalid slice name \"cafe\""'
check "the name works where the UUID does" '[ "$(q "resize_slice train-a 32 4G")" = "Resized slice $slice: 32 SMs from SM 0, 4096 MiB" ]'

# ---- tables: names, GPU, policy, busy, command ----
GPUSHARE_SLICE=train-a LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" "$app" hold 1000 > "$work/hold" 2>&1 &
holder=$!
wait_for 'grep -q held "$work/hold"'
check "GPUSHARE_SLICE takes a slice's name" 'grep -q held "$work/hold"'
check "list_slices: GPU, name, users by name, policy, busy and the process by name" 'q list_slices | grep -qE "^$slice +0 +train-a +[0-9]+ +0 +32 +4096MiB +4096MiB +[0-9]+MiB  root,nobody +queue +shared +yes +$holder\(cuda-app\)$"'
check "list_clients: the user by name, GPU and command" 'q list_clients | grep -qE "^$holder +root +[0-9]+ +[0-9]+MiB +0 +$slice +- +cuda-app$"'
check "gpushare status shows the same table" 'gpushare status | grep -qE "^$slice +0 +train-a .* yes +$holder\(cuda-app\)$"'
json_ok() { "$py" -c "$1" "$2"; }
q "list_slices --json" > "$work/slices.json"
check "list_slices --json is JSON with the documented fields" 'json_ok "
import json, sys
d = json.load(open(sys.argv[1]))
s = [x for x in d[\"slices\"] if x[\"slice\"] == \"$slice\"][0]
assert d[\"version\"] == 1
assert s[\"name\"] == \"train-a\" and s[\"gpu\"] == 0 and s[\"sms\"] == 32 and s[\"memory_bytes\"] == 4 << 30
assert s[\"everyone\"] is False and [u[\"name\"] for u in s[\"users\"]] == [\"root\", \"nobody\"]
assert s[\"policy\"] == \"queue\" and s[\"busy\"] is True and s[\"job\"] is False
assert [s[k] for k in (\"sm_mode\", \"lend\", \"borrow\", \"priority\", \"floor_sms\")] == [\"shared\", True, True, \"normal\", 0]
p = s[\"processes\"][0]
assert p[\"pid\"] == $holder and p[\"command\"] == \"cuda-app\" and p[\"user\"] == \"root\" and p[\"used_bytes\"] > 0
" "$work/slices.json"'
q "list_clients --json" > "$work/clients.json"
check "list_clients --json is JSON with the documented fields" 'json_ok "
import json, sys
d = json.load(open(sys.argv[1]))
c = [x for x in d[\"clients\"] if x[\"pid\"] == $holder][0]
assert c[\"user\"] == \"root\" and c[\"command\"] == \"cuda-app\" and c[\"slice\"] == \"$slice\" and c[\"gpu\"] == 0
assert isinstance(c[\"server\"], int) and c[\"queued\"] is False and c[\"used_bytes\"] > 0
" "$work/clients.json"'
gpushare status --json > "$work/status.json"
check "gpushare status --json is the same JSON" 'json_ok "
import json, sys
d = json.load(open(sys.argv[1]))
assert [s[\"name\"] for s in d[\"slices\"] if s[\"slice\"] == \"$slice\"] == [\"train-a\"]
" "$work/status.json"'
check "a bad list option is refused" '! q "list_slices --yaml" > /dev/null 2>&1 && ! q "list_clients -x" > /dev/null 2>&1'
if test_users; then
	check "another user sees the slice BUSY, not whose processes hold it" 'echo list_slices | as "$user1" "$ctl" | grep -qE "^$slice +0 +train-a .* yes +-$"'
fi
kill "$holder"; wait "$holder" 2> /dev/null

# ---- more processes than a row lists: said, and the JSON stays whole ----
crowd=$(q "create_slice 8 12G -name crowd") # 34 contexts of 256 MiB each on the simulated GPU
many=()
for i in $(seq 34); do
	GPUSHARE_SLICE=crowd LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" "$app" hold 8 > "$work/many.$i" 2>&1 &
	many+=($!)
done
wait_for '[ "$(cat "$work"/many.* | grep -c held)" = 34 ]' 20
q "list_slices --json" > "$work/many.json"
check "34 processes: the table lists 32 and says how many more" 'q list_slices | grep -E "^$crowd " | grep -q ",+2 more$"'
check "... and the JSON is whole, saying how many it left out" 'json_ok "
import json, sys
d = json.load(open(sys.argv[1]))
s = [x for x in d[\"slices\"] if x[\"slice\"] == \"$crowd\"][0]
assert len(s[\"processes\"]) == 32 and s[\"processes_omitted\"] == 2
" "$work/many.json"'
kill "${many[@]}"; wait "${many[@]}" 2> /dev/null
wait_for 'q "destroy_slice crowd" > /dev/null 2>&1'

# ---- gpushare run takes the name; destroy_slice says what it did ----
check "gpushare run --slice takes a slice's name" 'gpushare run --no-mps --slice train-a -- "$app" info | grep -qx "sms 32"'
check "gpushare run refuses a name that is no slice" '! gpushare run --slice no-such -- true 2> "$work/err" && grep -q "no slice \"no-such\"" "$work/err"'
check "destroy_slice by name says what it did" 'wait_for "q \"destroy_slice train-a\" > $work/out 2>&1" && [ "$(cat "$work/out")" = "Destroyed slice $slice" ]'
check "... and the name is free again" '[[ "$(q "create_slice 8 1G -name train-a")" == MIG-* ]]'

# ---- a store cut short says so, wherever it is read ----
cp "$work/state/slices" "$work/slices.good"
head -n -2 "$work/slices.good" > "$work/state/slices" # cut at a line boundary
cut_said() { grep -q "$work/state/slices: truncated after line [0-9]* (no \"end\" line): the store is unreadable; restore it or remove it to start empty" "$1"; }
out=$(GPUSHARE_SLICE=train-a LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" "$app" info 2>&1)
check "a program is refused, told the store is cut short and where, not \"no such slice\"" 'echo "$out" > "$work/o1"; cut_said "$work/o1" && grep -q "CUDA is refused" "$work/o1" && ! grep -qi "not found" "$work/o1"'
check "list_slices, gpushare status and gpushare-smi say the same" 'q list_slices > /dev/null 2> "$work/o2"; gpushare status 2> "$work/o3"; gpushare-smi -L > /dev/null 2> "$work/o4"; cut_said "$work/o2" && cut_said "$work/o3" && cut_said "$work/o4"'
check "no change is made to a store that cannot be read" '! q "create_slice 8 1G" > /dev/null 2>&1 && [ "$(head -n -2 "$work/slices.good")" = "$(cat "$work/state/slices")" ]'
sed 's/train-a/train-b/' "$work/slices.good" > "$work/state/slices" # a byte changed, the end line kept
check "a changed byte is a checksum mismatch" 'q list_slices 2>&1 | grep -q "checksum mismatch"'
cp "$work/slices.good" "$work/state/slices"
check "restored, it is read again" 'q list_slices | grep -q " train-a "'
finish
