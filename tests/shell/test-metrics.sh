#!/usr/bin/env bash
# test-metrics.sh BUILD: gpushare-control's Prometheus metrics, scraped by
# Debian's real prometheus on loopback, on the simulated GPU, with two real
# non-root users (gs-test1, gs-test2):
# - GPUSHARE_CONTROL_METRICS=127.0.0.1:<port> serves them; slices, programs
#   holding memory in them and one queued behind another user;
# - a program's kernel launches reach its slice's gpushare_slice_launches_total;
# - GPU busy seconds: a program launching kernels for about 1 s, then idle,
#   has about 1 s (what it measured itself), one that only holds memory
#   about 0; two such programs overlapping by half add the union of their
#   busy time to their slice's and the GPU's counters, not the sum, and the
#   slice keeps it once they have gone;
# - a program going idle more often than 50 times a second: its own busy
#   seconds exact all the same, its slice's counting the spells it left untold;
# - prometheus (scrape_interval 1s, its storage in the test's directory) holds
#   per slice the ledgers' figures list_slices --json prints (memory limit,
#   guarantee, use, SMs), per process its memory, and per slice and user the
#   registered and queued programs list_clients --json lists;
# - a malformed address, and one in use: a line in control.log saying what
#   is wrong and what would be right, the daemon serving commands all the same;
# - anything but GET (or HEAD) of /metrics: 405 (with Allow) or 404, nothing changed;
# - a flood of HTTP connections (held open, and requests without pause) does
#   not keep the daemon from answering commands, and metrics come back after.
set -u
build=$(cd "$1" && pwd)
. "$(dirname "$0")/lib.sh"
if ! command -v prometheus > /dev/null; then
	echo "skip: prometheus is not installed (Debian's prometheus package; scripts/deps.sh installs it)"
	exit 0
fi
if ! test_users; then
	echo "skip: needs root, setpriv and useradd for two real users"
	exit 0
fi
need_preload
if grep -qa "built without libmicrohttpd" "$build/bin/gpushare-control"; then
	echo "skip: this gpushare-control was built without libmicrohttpd (libmicrohttpd-dev)"
	exit 0
fi
sim_env
export GPUSHARE_CONTROL_LEND_IDLE_MS=0
mkdir -m 1777 "$work/sim"
app="$build/tests/cuda-app"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2> /dev/null; done
	for d in "$work/pipe" "$work/bad/pipe"; do
		[ -f "$d/gpushare-control.pid" ] && kill -9 "$(cat "$d/gpushare-control.pid")" 2> /dev/null
	done
	[ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"
}
trap cleanup EXIT
q() { echo "$*" | "$ctl"; }
# free loopback ports: bound by the kernel's choice, then let go
free_port() { "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
mport=$(free_port)
pport=$(free_port)
# hold NAME USER SLICE MiB: a CUDA program holding MiB in a slice, as USER
hold() {
	LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" GPUSHARE_SLICE="$3" \
		setpriv --reuid="$2" --regid="$(id -g "$2")" --init-groups -- "$app" hold "$4" > "$work/$1.out" 2> "$work/$1.err" &
	pids+=($!)
	eval "pid_$1=$!"
}
# fetch URL: its body (exit 1 where it does not answer 200)
fetch() { "$py" -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' "$1" 2> /dev/null; }
# promq EXPR: Prometheus' answer to an instant query, JSON
promq() { fetch "http://127.0.0.1:$pport/api/v1/query?query=$1"; }
# value EXPR: the value of its one series
value() { promq "$1" | "$py" -c 'import json, sys; print(json.load(sys.stdin)["data"]["result"][0]["value"][1])' 2> /dev/null; }
# http METHOD PATH [PORT]: "<status> <Allow header>" of one request
http() {
	"$py" - "$1" "$2" "${3:-$mport}" << 'PY'
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[3]), timeout=5)
c.request(sys.argv[1], sys.argv[2], body="x" if sys.argv[1] in ("POST", "PUT") else None)
r = c.getresponse()
print(r.status, r.getheader("Allow") or "-")
PY
}

GPUSHARE_CONTROL_METRICS=127.0.0.1:$mport "$ctl" -d
check "the daemon serves metrics where GPUSHARE_CONTROL_METRICS says, and says so in control.log" \
	'grep -q "Serving metrics on http://127.0.0.1:$mport/metrics (32 connections, 16 from one address, closed after 10 s idle)" "$work/log/control.log" && [ "$(http GET /metrics)" = "200 -" ] && [ "$(http HEAD /metrics)" = "200 -" ]'

a=$(q create_slice 32 8G -name train -users "$user1,$user2")
b=$(q create_slice 16 6G -name infer -users "$user2" -overcommit -guarantee 2G)
check "two slices: one for both users, an over-committed one for the second" '[[ "$a" == MIG-* && "$b" == MIG-* ]]'
hold a1 "$user1" "$a" 64
hold a2 "$user1" "$a" 100
hold b1 "$user2" "$b" 64
hold r1 "$user2" "" 16
check "programs hold memory: two of the first user's in one slice, the second user's in the other and in the GPU's remainder" \
	'wait_for "grep -qs ^held \"$work/a1.out\" && grep -qs ^held \"$work/a2.out\" && grep -qs ^held \"$work/b1.out\" && grep -qs ^held \"$work/r1.out\"" 20'
hold a3 "$user2" "$a" 32
check "the second user's program in the first user's slice is queued" \
	'wait_for "q list_clients | grep -Eq \"^ *$pid_a3 +$user2 +queued \"" 10'

cat > "$work/prometheus.yml" << EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: gpushare
    static_configs:
      - targets: ['127.0.0.1:$mport']
EOF
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prometheus" \
	--web.listen-address="127.0.0.1:$pport" > "$work/prometheus.log" 2>&1 &
pids+=($!)
prom=$!
# prom_query EXPR: the instant vector Prometheus holds for EXPR, as JSON
cat > "$work/compare.py" << 'PY'
# compare.py PROMETHEUS SLICES_JSON CLIENTS_JSON: every ledger figure of
# list_slices --json, and the clients of list_clients --json, equal what
# Prometheus holds; prints the first difference and exits 1 otherwise.
import json, sys, urllib.parse, urllib.request
prom, slices, clients = sys.argv[1], json.load(open(sys.argv[2]))["slices"], json.load(open(sys.argv[3]))["clients"]
def query(expr):
    url = "http://%s/api/v1/query?%s" % (prom, urllib.parse.urlencode({"query": expr}))
    d = json.load(urllib.request.urlopen(url, timeout=5))
    assert d["status"] == "success", d
    return {tuple(sorted((k, v) for k, v in r["metric"].items() if k not in ("__name__", "job", "instance"))):
            float(r["value"][1]) for r in d["data"]["result"]}
def key(**kw):  # Prometheus keeps no label of an empty value
    return tuple(sorted((k, v) for k, v in kw.items() if v != ""))
want = {}
for s in slices:
    k = dict(gpu_uuid=s["gpu_uuid"], slice=s["slice"], slice_name=s["name"] or "")
    want.setdefault("gpushare_slice_memory_limit_bytes", {})[key(**k)] = s["memory_bytes"]
    want.setdefault("gpushare_slice_memory_guarantee_bytes", {})[key(**k)] = s["guarantee_bytes"]
    want.setdefault("gpushare_slice_memory_used_bytes", {})[key(**k)] = s["used_bytes"]
    want.setdefault("gpushare_slice_busy", {})[key(**k)] = int(s["busy"])
    if not s["remainder"]:
        want.setdefault("gpushare_slice_sms", {})[key(**k)] = s["sms"]
    for p in s["processes"]:
        want.setdefault("gpushare_process_memory_used_bytes", {})[key(
            pid=str(p["pid"]), user=p["user"] or "", command=p["command"], **k)] = p["used_bytes"]
names = {(s["gpu_uuid"].lower(), s["slice"].lower()): s["name"] or "" for s in slices}
for c in clients:
    m = "gpushare_slice_queued_clients" if c["queued"] else "gpushare_slice_clients"
    k = key(gpu_uuid=c["gpu_uuid"], slice=c["slice"], user=c["user"],
            slice_name=names.get((c["gpu_uuid"].lower(), c["slice"].lower()), ""))
    want.setdefault(m, {})[k] = want.get(m, {}).get(k, 0) + 1
for m in ("gpushare_slice_clients", "gpushare_slice_queued_clients", "gpushare_process_memory_used_bytes"):
    want.setdefault(m, {})
for m, series in sorted(want.items()):
    got = query(m)
    if got != {k: float(v) for k, v in series.items()}:
        print("%s: Prometheus holds %s, the daemon says %s" % (m, got, series))
        sys.exit(1)
print("equal: %d metrics, %d series" % (len(want), sum(len(v) for v in want.values())))
PY
prom_equal() {
	q list_slices --json > "$work/slices.json" && q list_clients --json > "$work/clients.json" &&
		"$py" "$work/compare.py" "127.0.0.1:$pport" "$work/slices.json" "$work/clients.json" > "$work/compare.out" 2>&1
}
check "prometheus starts on loopback, its storage in the test's directory" \
	'wait_for "fetch http://127.0.0.1:$pport/-/ready > /dev/null" 30 && [ -d "$work/prometheus" ]'
check "... and scrapes the daemon" 'wait_for "[ \"\$(value up)\" = 1 ]" 20'
check "what prometheus holds equals the ledgers (list_slices --json) and the clients (list_clients --json)" \
	'wait_for prom_equal 20 || { cat "$work/compare.out"; false; }'
check "... a process series for each program holding memory, by pid" \
	'[ "$(promq gpushare_process_memory_used_bytes | "$py" -c "import json, sys; print(*sorted(int(r[\"metric\"][\"pid\"]) for r in json.load(sys.stdin)[\"data\"][\"result\"]))")" = "$(printf "%s\n" "$pid_a1" "$pid_a2" "$pid_b1" "$pid_r1" | sort -n | xargs)" ]'
check "... and the queued program, under its slice and user" \
	'[ "$(value "gpushare_slice_queued_clients{slice=\"$a\",slice_name=\"train\",user=\"$user2\"}")" = 1 ]'
# the Grafana dashboard: every query of every panel is one the real
# prometheus evaluates (\$gpu: all GPUs), over metrics the daemon serves
check "contrib/grafana/gpushare.json: every panel's query is valid PromQL over the daemon's metrics and has data" '"$py" - "$(cd "$(dirname "$0")/../.." && pwd)/contrib/grafana/gpushare.json" "$pport" "$mport" << "EOF"
import json, re, sys, urllib.parse, urllib.request
dash = json.load(open(sys.argv[1]))
served = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[3], timeout=5).read().decode()
names = set(re.findall(r"^(gpushare_[a-z_]+)", served, re.M))
for panel in dash["panels"]:
    for t in panel["targets"]:
        expr = t["expr"].replace("$gpu", ".*")
        for m in re.findall(r"gpushare_[a-z_]+", expr):
            assert m in names, (panel["title"], m, "not served")
        q = "http://127.0.0.1:%s/api/v1/query?%s" % (sys.argv[2], urllib.parse.urlencode({"query": expr}))
        r = json.load(urllib.request.urlopen(q, timeout=5))
        assert r["status"] == "success", (panel["title"], expr, r)
        if "rate(" not in expr:
            assert r["data"]["result"], (panel["title"], expr, "no data")
gpu = dash["templating"]["list"][1]["definition"]
assert gpu == "label_values(gpushare_gpu_info, gpu_uuid)" and "gpushare_gpu_info" in names
EOF'
kill "$pid_a2"
check "a program gone: prometheus follows the ledger" 'wait_for "q list_slices | grep -q \"^$a.* $pid_a1(cuda-app)\$\" && prom_equal" 20 || { cat "$work/compare.out"; false; }'
# kernel launches: counted by the interposer, said to the daemon twice a
# second and at exit
# (the second user's, in its own slice: the first user's has one of the
# second's queued)
LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" GPUSHARE_SLICE="$b" \
	setpriv --reuid="$user2" --regid="$(id -g "$user2")" --init-groups -- "$app" kernels 300 10 1 > "$work/k.out" 2>&1
served_launches() { fetch "http://127.0.0.1:$mport/metrics" | sed -nE "s/^gpushare_slice_launches_total\{.*slice=\"$b\".*\} ([0-9]+)$/\1/p"; }
check "a program's 300 launches, once it has gone, in its slice's gpushare_slice_launches_total" \
	'grep -q "^launches 300$" "$work/k.out" && wait_for "[ \"\$(served_launches)\" = 300 ]" 5'
check "... and prometheus has them" 'wait_for "[ \"\$(value "gpushare_slice_launches_total{slice=\\\"$b\\\"}")\" = 300 ]" 10'
# GPU busy seconds: two programs in the second user's slice, each busy about
# 1 s (kernels of 1 ms, each waited for), the second started half-way
# through the first's; the first user's programs only hold memory
gpu_uuid=$(q list_slices --json | "$py" -c 'import json, sys; print(json.load(sys.stdin)["slices"][0]["gpu_uuid"])')
served() { fetch "http://127.0.0.1:$mport/metrics" | sed -nE "s/^$1\{$2\} ([0-9.]+)$/\1/p"; }
slice_before=$(served gpushare_slice_gpu_busy_seconds_total "gpu_uuid=\"$gpu_uuid\",slice=\"$b\",slice_name=\"infer\"")
gpu_before=$(served gpushare_gpu_busy_seconds_total "gpu_uuid=\"$gpu_uuid\"")
burst() {
	LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" GPUSHARE_SLICE="$b" \
		setpriv --reuid="$user2" --regid="$(id -g "$user2")" --init-groups -- "$app" burst 1000 1000 > "$work/$1.out" 2>&1 &
	pids+=($!)
	eval "pid_$1=$!"
}
burst x1
wait_for 'grep -qs . "$work/x1.out" || q list_clients | grep -Eq "^$pid_x1 "' 10
sleep 0.5
burst x2
check "two programs busy about 1 s each, overlapping, then idle" \
	'wait_for "grep -qs ^idle \"$work/x1.out\" && grep -qs ^idle \"$work/x2.out\"" 20'
# near A B TOLERANCE: |A - B| <= TOLERANCE
near() { "$py" -c 'import sys; a, b, t = map(float, sys.argv[1:]); sys.exit(abs(a - b) > t)' "$@"; }
# measured NAME: the seconds a program was busy, as it measured itself
measured() { awk '/^burst/ { printf "%.6f\n", ($3 - $2) / 1e9 }' "$work/$1.out"; }
# union: the seconds of the union of both programs' busy intervals
union() { "$py" -c 'import sys
(a0, a1), (b0, b1) = [map(int, open(f).read().split()[1:3]) for f in sys.argv[1:]]
print((max(a1, b1) - min(a0, b0) - max(0, max(a0, b0) - min(a1, b1))) / 1e9)' "$work/x1.out" "$work/x2.out"; }
sleep 1.5 # scraped
process_busy() { value "gpushare_process_gpu_busy_seconds_total{pid=\"$1\"}"; }
check "gpushare_process_gpu_busy_seconds_total, through prometheus: each program about 1 s, what it measured itself ($(process_busy "$pid_x1"), $(measured x1); $(process_busy "$pid_x2"), $(measured x2))" \
	'near "$(process_busy "$pid_x1")" "$(measured x1)" 0.1 && near "$(process_busy "$pid_x2")" "$(measured x2)" 0.1 && near "$(process_busy "$pid_x1")" 1 0.2'
check "... a program that only holds memory: about 0 ($(process_busy "$pid_b1"))" 'near "$(process_busy "$pid_b1")" 0 0.05'
slice_busy() { value "gpushare_slice_gpu_busy_seconds_total{slice=\"$b\"}"; }
grown() { "$py" -c 'import sys; print(float(sys.argv[1]) - float(sys.argv[2]))' "$1" "$2"; }
check "gpushare_slice_gpu_busy_seconds_total: the union of the two, not the sum ($(grown "$(slice_busy)" "$slice_before") of $(union))" \
	'near "$(grown "$(slice_busy)" "$slice_before")" "$(union)" 0.1 && near "$(union)" 1.5 0.3'
check "gpushare_gpu_busy_seconds_total: the same union, nothing else being busy on the GPU" \
	'near "$(grown "$(value "gpushare_gpu_busy_seconds_total{gpu_uuid=\"$gpu_uuid\"}")" "$gpu_before")" "$(union)" 0.1'
kept=$(slice_busy)
kill "$pid_x1" "$pid_x2"
wait "$pid_x1" "$pid_x2" 2> /dev/null
check "both gone: their process series go, the slice keeps their time" \
	'wait_for "[ -z \"\$(process_busy $pid_x1)\" ]" 10 && near "$(slice_busy)" "$kept" 0.01'
# a program busy 5 ms and idle 5 ms, 200 times: more idle spells than the
# 50 a second its interposer tells; those it leaves untold come off its own
# time, and its slice counts them busy (each spell known to about a
# look of 2 ms: within 0.2 s of what it measured, on a busy machine too)
slice_before=$(slice_busy)
LD_PRELOAD="$build/lib/libgpushare.so" LD_LIBRARY_PATH="$build/lib/gpushare-sim" GPUSHARE_SLICE="$b" \
	setpriv --reuid="$user2" --regid="$(id -g "$user2")" --init-groups -- "$app" pulse 200 5000 5000 > "$work/pulse.out" 2>&1 &
pids+=($!)
pid_pulse=$!
wait_for 'grep -qs ^pulse "$work/pulse.out"' 20
sleep 1.5 # scraped
pulse_busy=$(awk '/^pulse/ { printf "%.6f\n", $4 / 1e9 }' "$work/pulse.out")
pulse_span=$(awk '/^pulse/ { printf "%.6f\n", ($3 - $2) / 1e9 }' "$work/pulse.out")
check "a program busy half of 2 s in 200 spells: its busy seconds what it measured ($(process_busy "$pid_pulse") of $pulse_busy)" \
	'near "$(process_busy "$pid_pulse")" "$pulse_busy" 0.2'
check "... its slice's grew by more, the idle spells it did not tell counted busy ($(grown "$(slice_busy)" "$slice_before") of $pulse_span)" \
	'"$py" -c "import sys; s, p, t = map(float, sys.argv[1:]); sys.exit(not (p + 0.25 < s <= t + 0.1))" "$(grown "$(slice_busy)" "$slice_before")" "$(process_busy "$pid_pulse")" "$pulse_span"'
kill "$pid_pulse"
check "counters count registrations and commands" \
	'wait_for "[ \"\$(value gpushare_control_registrations_total)\" -ge 4 ] && [ \"\$(value gpushare_control_commands_total)\" -ge 10 ]" 10'

check "POST, PUT and DELETE: 405, saying GET is what is served" \
	'[ "$(http POST /metrics)" = "405 GET, HEAD" ] && [ "$(http PUT /metrics)" = "405 GET, HEAD" ] && [ "$(http DELETE /metrics)" = "405 GET, HEAD" ]'
check "any other path: 404" '[ "$(http GET /)" = "404 -" ] && [ "$(http GET /metrics/x)" = "404 -" ] && [ "$(http GET /api/v1/query)" = "404 -" ]'
check "... and nothing changed: the slices are as they were" '[ "$(q list_slices | grep -c "^MIG-")" = 2 ]'

# a flood: as a user, 200 connections held open and 4 clients asking without
# pause, for 6 s
cat > "$work/flood.py" << 'PY'
import socket, sys, threading, time
port, secs = int(sys.argv[1]), float(sys.argv[2])
end = time.time() + secs
held = []
for _ in range(200):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=1)
        s.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # never finished
        held.append(s)
    except OSError:
        pass
def ask():
    while time.time() < end:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=1)
            s.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            s.recv(65536)
            s.close()
        except OSError:
            pass
ts = [threading.Thread(target=ask) for _ in range(4)]
for t in ts: t.start()
print("flooding", len(held), flush=True)
for t in ts: t.join()
PY
as_bg "$user1" "$py" "$work/flood.py" "$mport" 6 > "$work/flood.out" 2>&1
pids+=($!)
flood=$!
wait_for 'grep -q flooding "$work/flood.out"' 10
start=$(date +%s%N)
out=$(q get_server_list | wc -l)
took=$(( ($(date +%s%N) - start) / 1000000 ))
check "a flood of HTTP connections: the daemon still answers commands at once (${took} ms)" '[ "$out" -ge 2 ] && [ "$took" -lt 1000 ] && q list_slices > /dev/null'
check "... registers programs" 'hold c1 "$user2" "$b" 8; wait_for "grep -qs ^held \"$work/c1.out\"" 10'
wait "$flood"
check "... and serves metrics again once it is over" 'wait_for "[ \"\$(http GET /metrics)\" = \"200 -\" ]" 15'

# a second daemon of its own directories, with an address that is none
bad_daemon() {
	mkdir -p "$work/bad"
	env GPUSHARE_PIPE_DIRECTORY="$work/bad/pipe" GPUSHARE_LOG_DIRECTORY="$work/bad/log" GPUSHARE_STATE_DIR="$work/bad/state" \
		GPUSHARE_CONTROL_METRICS="$1" "$ctl" "${@:2}"
}
bad_q() { echo "$*" | env GPUSHARE_PIPE_DIRECTORY="$work/bad/pipe" "$ctl"; }
for bad in "localhost:9401" "9401" "127.0.0.1:" "127.0.0.1:99999" "[::1:9401" "127.0.0.1:94x1"; do
	bad_daemon "$bad" -d
	check "GPUSHARE_CONTROL_METRICS=$bad: refused in control.log, saying what would be right; commands served" \
		'grep -qF "GPUSHARE_CONTROL_METRICS=\"$bad\" is not an address to serve metrics on: " "$work/bad/log/control.log" && grep -qF "give host:port with a numeric address, such as 127.0.0.1:9401 or [::1]:9401. No metrics served" "$work/bad/log/control.log" && [ "$(bad_q get_default_active_thread_percentage)" = 100.0 ]'
	[ "$bad" = localhost:9401 ] && check "... in the words docs/metrics.md shows" \
		'grep -qF "$(grep "^GPUSHARE_CONTROL_METRICS=\"localhost:9401\" is not" "$(dirname "$0")/../../docs/metrics.md")" "$work/bad/log/control.log"'
	bad_q quit > /dev/null
	wait_for '[ ! -e "$work/bad/pipe/gpushare-control.pid" ]' 5
	rm -f "$work/bad/log/control.log"
done
bad_daemon "127.0.0.1:$pport" -d
check "an address in use (prometheus's): refused saying so; commands served" \
	'grep -qF "Cannot serve metrics on 127.0.0.1:$pport: Address already in use. No metrics served" "$work/bad/log/control.log" && [ "$(bad_q get_default_active_thread_percentage)" = 100.0 ]'
bad_q quit > /dev/null

for p in "$pid_a1" "$pid_a3" "$pid_b1" "$pid_c1" "$pid_r1" "$prom"; do kill "$p"; done
wait "$prom" 2> /dev/null
check "quit: the daemon lets the port go" 'q quit > /dev/null; wait_for "! \"$py\" -c \"import socket; socket.create_connection((\\\"127.0.0.1\\\", $mport), timeout=1)\" 2> /dev/null" 10'
finish
