#!/usr/bin/env bash
# test-k8s.sh BUILD: gpushare-device-plugin under a kubelet, without a
# cluster: fake-kubelet.py speaks the kubelet's side of the device plugin API
# (v1beta1, real gRPC from the API's proto) and starts a container's process
# with exactly what Allocate answered (its environment, its mounts bound in a
# mount namespace of its own, as a real user), on the simulated A100-40GB:
# - every lasting slice is a device of gpushare.io/<size>, one registration
#   per size; ListAndWatch follows slices made and removed, and the daemon
#   going (Unhealthy) and coming back;
# - GetPreferredAllocation and Allocate; the container's program lands in its
#   slice (its SMs, its memory, an allocation past it refused), two
#   containers of two users side by side in disjoint slices;
# - a kubelet that restarts (its sockets gone) gets the plugin again; a
#   plugin killed with SIGKILL and started again registers again;
# - bad requests get a clear gRPC error and the plugin keeps serving; a
#   plugin directory others may write, or a bad path, is refused at start;
# - gpushare cdi generate writes the same edits as a CDI spec.
set -u
build=$(cd "$1" && pwd)
repo=$(cd "$(dirname "$0")/../.." && pwd)
. "$(dirname "$0")/lib.sh"
plugin=$build/bin/gpushare-device-plugin
if [ ! -x "$plugin" ]; then
	echo "skip: gpushare-device-plugin was not built (no gRPC++: scripts/deps.sh installs libgrpc++-dev)"
	exit 0
fi
if ! "$py" -c 'import grpc' 2> /dev/null || ! command -v grpc_python_plugin > /dev/null; then
	echo "skip: no python3-grpcio or grpc_python_plugin for the fake kubelet (scripts/deps.sh installs them)"
	exit 0
fi
if ! test_users || ! command -v unshare > /dev/null; then
	echo "skip: needs root, setpriv, unshare and useradd for two real users' containers"
	exit 0
fi
need_preload
sim_env
dp=$work/device-plugins
mkdir -m 0750 "$dp"
mkdir "$work/py"
protoc -I"$repo/src/k8s" --python_out="$work/py" --grpc_python_out="$work/py" \
	--plugin=protoc-gen-grpc_python="$(command -v grpc_python_plugin)" "$repo/src/k8s/deviceplugin.proto"
export PYTHONPATH=$work/py
kubelet="$py $repo/tests/shell/fake-kubelet.py"
state=$work/kubelet.json
app=$build/tests/cuda-app
lib=$build/lib/libgpushare.so
mkdir -m 1777 "$work/sim"
kpid="" ppid=""
cleanup() {
	[ -n "$ppid" ] && kill "$ppid" 2> /dev/null
	[ -n "$kpid" ] && kill "$kpid" 2> /dev/null
	echo quit | "$ctl" > /dev/null 2>&1
	pkill -9 -f "$app hold" 2> /dev/null
	wait 2> /dev/null
	[ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
start_kubelet() { rm -f "$state"; $kubelet serve "$dp" "$state" & kpid=$!; wait_for "[ -f $state ] && [ -S $dp/kubelet.sock ]" 10; }
# the plugin as contrib/k8s/gpushare-device-plugin.yaml runs it: its
# DaemonSet's options, each given this test's path in place of the node's
manifest=$repo/contrib/k8s/gpushare-device-plugin.yaml
dsargs=$("$py" -c '
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))["spec"]["template"]["spec"]["containers"][0]
assert c["command"][-1] == "/usr/local/bin/gpushare-device-plugin", c["command"]
print(*c["args"][::2])' "$manifest")
declare -A here=([--dir]=$dp [--library]=$lib [--pipe]=$work/pipe [--state]=$work/state)
args=()
for o in $dsargs; do args+=("$o" "${here[$o]:-}"); done
check "the DaemonSet's options ($dsargs) are the plugin's" \
	'[ -n "$dsargs" ] && (for o in $dsargs; do [ -n "${here[$o]:-}" ] && "$plugin" --help 2>&1 | grep -q -- "^ *$o " || exit 1; done)'
start_plugin() {
	"$plugin" "${args[@]}" 2>> "$work/plugin.log" &
	ppid=$!
}
# js EXPR: a python expression on the kubelet's state s
js() { "$py" -c "import json; s = json.load(open('$state')); print($1)" 2> /dev/null; }
devices() { js "' '.join(sorted(s['devices'].get('$1', {})))"; }
health() { js "' '.join(sorted(set(s['devices'].get('$1', {}).values())))"; }
val() { awk -v k="$1" '$1 == k { print $2 }'; }
# the image's own environment: a PATH, and the simulated driver where the
# NVIDIA runtime would mount the real one
image="PATH=/usr/bin:/bin LD_LIBRARY_PATH=$build/lib/gpushare-sim GPUSHARE_SIMULATE=a100-sxm4-40gb GPUSHARE_SIM_DIR=$work/sim"

# refused at start: a directory others may write, a path that is none
mkdir -m 1777 "$work/open"
out=$("$plugin" --dir "$work/open" 2>&1); rc=$?
check "a plugin directory others may write is refused, saying why" '[ $rc = 1 ] && echo "$out" | grep -q "only its owner may write"'
out=$("$plugin" --dir "$dp" --library lib.so 2>&1); rc=$?
check "a library path that is not absolute is refused, saying what is wrong" '[ $rc = 2 ] && echo "$out" | grep -q "the library \"lib.so\" is not an absolute path"'
out=$("$plugin" --frobnicate 2>&1); rc=$?
check "an unknown option: the usage" '[ $rc = 2 ] && echo "$out" | grep -q "^usage: gpushare-device-plugin"'

"$ctl" -d
s1=$(echo "create_slice 28 10G -users $user1" | "$ctl")
s2=$(echo "create_slice 28 10G -users $user2" | "$ctl")
gpushare-smi -i 0 -mig 1 > /dev/null 2>&1
gpushare-smi mig -cgi 1g.5gb -C > /dev/null
s3=$(gpushare-smi -L | awk '/1g.5gb/ { gsub(/[()]/, ""); print $NF }')
job=$(echo "attach_job other 0 14sm.2gb $$" | "$ctl" 2> /dev/null)

start_kubelet
start_plugin
resources() { js "' '.join(sorted(r['resource'] for r in s['registered'] if r['version'] == 'v1beta1' and r['preferred']))"; }
check "the plugin registers a resource per slice size, v1beta1, with a preferred allocation" \
	'wait_for "[ \"\$(resources)\" = \"gpushare.io/1g.5gb gpushare.io/28sm.10gb\" ]" 10'
want=$(echo "$s1 $s2" | tr ' ' '\n' | sort | xargs)
check "ListAndWatch: the two 28-SM slices, healthy" \
	'wait_for "[ \"\$(devices gpushare.io/28sm.10gb)\" = \"$want\" ]" 10 && [ "$(health gpushare.io/28sm.10gb)" = Healthy ]'
check "ListAndWatch: the 1g.5gb slice, as its MIG UUID" '[ -n "$s3" ] && wait_for "[ \"\$(devices gpushare.io/1g.5gb)\" = $s3 ]" 5'
check "a job slice (attach_job) is not offered" '[ -n "$job" ] && [ -z "$(js "[r for r in s[\"registered\"] if \"14sm\" in r[\"resource\"]]" | tr -d "[]")" ]'
echo "detach_job other" | "$ctl" > /dev/null
check "the plugin's sockets are its owner's alone (0600)" \
	'[ "$(stat -c %a "$dp/gpushare-28sm.10gb.sock")" = 600 ]'

# a container asking gpushare.io/28sm.10gb: 1
ids=$($kubelet allocate "$dp" "$state" gpushare.io/28sm.10gb 1 "$work/a1.json")
other=$($kubelet allocate "$dp" "$state" gpushare.io/28sm.10gb 1 "$work/a2.json")
check "a container gets one of the slices, a second container the other" \
	'[ -n "$ids" ] && [ -n "$other" ] && [ "$ids" != "$other" ] && [ "$(echo "$ids $other" | tr " " "\n" | sort | xargs)" = "$want" ]'
pref='{"container_requests": [{"available_deviceIDs": ["'$s2'", "'$s1'"], "allocation_size": 1}]}'
p1=$($kubelet call "$dp" gpushare-28sm.10gb.sock GetPreferredAllocation "$pref")
check "GetPreferredAllocation: one of them, the same for the same question" \
	'echo "$p1" | grep -qE "^ok .*(\"$s1\"|\"$s2\")" && [ "$($kubelet call "$dp" gpushare-28sm.10gb.sock GetPreferredAllocation "$pref")" = "$p1" ]'
a() { "$py" -c "import json, sys; r = json.load(open(sys.argv[1])); print($2)" "$1"; }
check "Allocate: the slice, libgpushare.so preloaded, the pipe directory, a CDI name" \
	'[ "$(a "$work/a1.json" "r[\"envs\"][\"GPUSHARE_SLICE\"]")" = "$ids" ] &&
	 [ "$(a "$work/a1.json" "r[\"envs\"][\"LD_PRELOAD\"]")" = "$lib" ] &&
	 [ "$(a "$work/a1.json" "r[\"envs\"][\"GPUSHARE_PIPE_DIRECTORY\"]")" = "$work/pipe" ] &&
	 [ "$(a "$work/a1.json" "r[\"cdiDevices\"][0][\"name\"]")" = "gpushare.io/slice=$ids" ]'
check "Allocate: libgpushare.so mounted read-only, the pipe directory read-write" \
	'[ "$(a "$work/a1.json" "\" \".join(\"%s:%s\" % (m[\"hostPath\"], m.get(\"readOnly\", False)) for m in r[\"mounts\"])")" = "$lib:True $work/pipe:False" ]'
owner() { [ "$1" = "$s1" ] && echo "$user1" || echo "$user2"; }
u=$(owner "$ids")
out=$($kubelet run "$work/a1.json" "$u" $image -- "$app" info 2>&1)
check "the container's program runs in its slice: 28 SMs, 10240 MiB" \
	'[ "$(echo "$out" | val sms)" = 28 ] && [ "$(echo "$out" | val mem_total_mib)" = 10240 ]'
out=$($kubelet run "$work/a1.json" "$u" $image -- "$app" alloc 11000 2>&1)
check "an allocation past its slice is refused" '! echo "$out" | grep -qx ok'
out=$($kubelet run "$work/a1.json" "$(owner "$other")" $image -- "$app" info 2>&1)
check "a container of another user is refused the slice (the daemon checks its user)" \
	'[ "$(echo "$out" | val mem_total_mib)" != 10240 ]'

# two containers, two users, side by side
$kubelet call "$dp" gpushare-28sm.10gb.sock Allocate "{\"container_requests\": [{\"devices_ids\": [\"$other\"]}]}" > "$work/a2.raw"
check "Allocate of the other slice answers the same edits for it" \
	'"$py" -c "import json, sys; a = json.loads(open(sys.argv[1]).read()[3:])[\"containerResponses\"][0]; b = json.load(open(sys.argv[2])); sys.exit(a != b)" "$work/a2.raw" "$work/a2.json"'
$kubelet run "$work/a1.json" "$u" $image -- "$app" hold 1000 > "$work/c1.out" 2>&1 &
$kubelet run "$work/a2.json" "$(owner "$other")" $image -- "$app" hold 2000 > "$work/c2.out" 2>&1 &
check "two users' containers hold their memory at once" \
	'wait_for "grep -q held $work/c1.out && grep -q held $work/c2.out" 10'
clients=$(echo list_clients | "$ctl")
check "each is listed in its own slice" \
	'echo "$clients" | grep -q "$ids" && echo "$clients" | grep -q "$other"'
ranges=$(echo "list_slices --json" | "$ctl" | "$py" -c '
import json, sys
for s in json.load(sys.stdin)["slices"]:
    if s["slice"] in sys.argv[1:]: print(s["sm_start"], s["sms"])' "$ids" "$other" | xargs)
check "their SMs are disjoint ($ranges)" \
	'read -r a0 an b0 bn <<< "$ranges"; [ -n "$bn" ] && { [ $((a0 + an)) -le "$b0" ] || [ $((b0 + bn)) -le "$a0" ]; }'
pkill -f "$app hold"
wait_for '! pgrep -f "$app hold" > /dev/null'

# bad requests: an error that says what is wrong; the plugin keeps serving
out=$($kubelet call "$dp" gpushare-28sm.10gb.sock Allocate '{"container_requests": [{"devices_ids": ["MIG-nope"]}]}')
check "Allocate of an unknown device: INVALID_ARGUMENT naming it" 'echo "$out" | grep -q "^INVALID_ARGUMENT: no slice MIG-nope of gpushare.io/28sm.10gb"'
out=$($kubelet call "$dp" gpushare-28sm.10gb.sock Allocate "{\"container_requests\": [{\"devices_ids\": [\"$s1\", \"$s2\"]}]}")
check "Allocate of two slices for one container: refused, saying to ask for one" 'echo "$out" | grep -q "^INVALID_ARGUMENT: a container runs in one gpushare slice"'
many=$("$py" -c 'import json; print(json.dumps({"container_requests": [{"devices_ids": ["x"]}] * 65}))')
out=$($kubelet call "$dp" gpushare-28sm.10gb.sock Allocate "$many")
check "too many container requests: refused" 'echo "$out" | grep -q "^INVALID_ARGUMENT: too many container requests"'
rm -f "$state.allocated"
check "the plugin still serves" '$kubelet allocate "$dp" "$state" gpushare.io/28sm.10gb 1 "$work/a3.json" > /dev/null'

# slices coming and going
s4=$(echo "create_slice 28 10G -users $user1" | "$ctl")
check "a new slice of that size: ListAndWatch sends it" 'wait_for "devices gpushare.io/28sm.10gb | grep -q $s4" 10'
echo "destroy_slice $s4" | "$ctl" > /dev/null
check "a slice removed: ListAndWatch takes it out" 'wait_for "! devices gpushare.io/28sm.10gb | grep -q $s4" 10'
s5=$(echo "create_slice 14 4G -users $user1" | "$ctl")
check "a slice of a new size: a new resource registers" \
	'wait_for "[ \"\$(devices gpushare.io/14sm.4gb)\" = $s5 ]" 10'
echo quit | "$ctl" > /dev/null
check "the daemon gone: its devices Unhealthy" 'wait_for "[ \"\$(health gpushare.io/28sm.10gb)\" = Unhealthy ]" 10'
"$ctl" -d
check "the daemon back: Healthy again" 'wait_for "[ \"\$(health gpushare.io/28sm.10gb)\" = Healthy ]" 10'

# the kubelet restarts: its directory's sockets go, the plugin registers again
kill "$kpid"; wait "$kpid" 2> /dev/null
n=$(grep -c "registered gpushare.io/28sm.10gb" "$work/plugin.log")
start_kubelet
check "a restarted kubelet gets the plugin again, with its devices" \
	'wait_for "[ \$(grep -c \"registered gpushare.io/28sm.10gb\" $work/plugin.log) -gt $n ]" 15 &&
	 wait_for "[ \"\$(devices gpushare.io/28sm.10gb)\" = \"$want\" ]" 5'
# the plugin killed with SIGKILL (its sockets left behind) and started again
kill -9 "$ppid"; wait "$ppid" 2> /dev/null
check "a plugin killed with SIGKILL: the kubelet drops its devices" 'wait_for "[ -z \"\$(devices gpushare.io/28sm.10gb)\" ]" 10'
start_plugin
check "started again, it serves over its stale socket and registers again" \
	'wait_for "[ \"\$(devices gpushare.io/28sm.10gb)\" = \"$want\" ]" 15'
ln -s /etc/passwd "$dp/gpushare-99sm.1gb.sock"
kill "$ppid"; wait "$ppid" 2> /dev/null; ppid=""
check "stopped, it removes its sockets and nothing else (a link left alone)" \
	'[ ! -e "$dp/gpushare-28sm.10gb.sock" ] && [ -L "$dp/gpushare-99sm.1gb.sock" ] && [ -f /etc/passwd ]'

# the same edits as a CDI spec
gpushare cdi generate --output "$work/gpushare.json" --library "$lib" --pipe "$work/pipe" > "$work/cdi.out"
check "gpushare cdi generate: a CDI spec of kind gpushare.io/slice, a device per lasting slice" \
	'grep -q "^wrote $work/gpushare.json: 4 slices as gpushare.io/slice=<uuid>$" "$work/cdi.out" &&
	 "$py" -c "
import json, sys
s = json.load(open(sys.argv[1]))
names = sorted(d[\"name\"] for d in s[\"devices\"])
assert s[\"cdiVersion\"] == \"0.5.0\" and s[\"kind\"] == \"gpushare.io/slice\", s
assert names == sorted(sys.argv[2:]), names
" "$work/gpushare.json" $s1 $s2 $s3 $s5'
check "its edits for a slice are Allocate's" '"$py" -c "
import json, sys
spec = json.load(open(sys.argv[1])); r = json.load(open(sys.argv[2]))
d = [d for d in spec[\"devices\"] if d[\"name\"] == sys.argv[3]][0][\"containerEdits\"]
assert sorted(d[\"env\"]) == sorted(k + \"=\" + v for k, v in r[\"envs\"].items()), d
assert [(m[\"hostPath\"], \"ro\" in m[\"options\"]) for m in d[\"mounts\"]] == [(m[\"hostPath\"], m.get(\"readOnly\", False)) for m in r[\"mounts\"]]
" "$work/gpushare.json" "$work/a1.json" "$ids"'
# the GPU's device nodes, where they are (character devices; anything else
# named like one is not passed)
mkdir "$work/dev"
mknod "$work/dev/nvidia0" c 1 3 && mknod "$work/dev/nvidiactl" c 1 3 && touch "$work/dev/nvidia-uvm"
gpushare cdi generate --output - --library "$lib" --pipe "$work/pipe" --dev "$work/dev" > "$work/dev.json"
check "the GPU's character devices are passed, at /dev/<name>; a plain file named like one is not" '"$py" -c "
import json, sys
d = json.load(open(sys.argv[1]))[\"devices\"][0][\"containerEdits\"][\"deviceNodes\"]
assert d == [{\"path\": \"/dev/nvidia0\", \"hostPath\": sys.argv[2] + \"/nvidia0\", \"permissions\": \"rw\"},
             {\"path\": \"/dev/nvidiactl\", \"hostPath\": sys.argv[2] + \"/nvidiactl\", \"permissions\": \"rw\"}], d
" "$work/dev.json" "$work/dev"'
out=$(gpushare cdi generate --output - --library "$work/a b.so" 2>&1); rc=$?
check "a library path with a space (LD_PRELOAD would split it): refused" '[ $rc = 2 ] && echo "$out" | grep -q "holds .*a space"'
out=$(gpushare cdi generate --output "$work/x.json" --pipe relative 2>&1); rc=$?
check "a bad path: refused, saying what is wrong, nothing written" \
	'[ $rc = 2 ] && echo "$out" | grep -q "the pipe directory \"relative\" is not an absolute path" && [ ! -e "$work/x.json" ]'
finish
