#!/usr/bin/env bash
# test-multigpu.sh BUILD: a program given a slice of each of two simulated
# GPUs (CUDA_VISIBLE_DEVICES=MIG-<a>,MIG-<b>, gpushare run --slice a,b):
# - it sees two devices, each with its slice's memory and SMs (its kernels on
#   exactly them), is refused past each limit on its own;
# - its memory is in each slice's ledger: list_clients shows it in both,
#   list_slices and the metrics count each device's in its slice;
# - peer access and copies each way between its two slices (cuMemcpyPeer,
#   cuMemcpyPeerAsync) give the bytes and charge nothing;
# - two slices of one GPU, or slices mixed with a whole GPU, are refused
#   with a message saying what would do; a list naming a slice its user may
#   not use refuses the whole program (no registration of it stays);
# - a suspend by the interposer's swap is refused for such a program, saying
#   why;
# - without the daemon, the same from the store.
set -u
build=${1:-build}
. "$(dirname "$0")/lib.sh"
sim_daemon_test
export GPUSHARE_SIMULATE=a100-sxm4-40gb,a100-sxm4-40gb
export TMPDIR="$work/tmp" LD_LIBRARY_PATH="$build/lib/gpushare-sim"
preload="$build/lib/libgpushare.so"
mport=$((20000 + RANDOM % 20000))
GPUSHARE_CONTROL_METRICS=127.0.0.1:$mport "$ctl" -d
sa=$(q create_slice 32 8G -name two-a -users "$user1")
sb=$(q create_slice 16 4G -gpu 1 -name two-b -users "$user1")
sc=$(q create_slice 16 4G -gpu 1 -name two-c)
check "slices made on each GPU" '[ -n "$sa" ] && [ -n "$sb" ] && [ -n "$sc" ] && q list_slices | grep -q "^$sb *1 two-b"'

# the two slices, through gpushare run --slice a,b
out="$work/twodev.out"
as "$user1" env PATH="$PATH" gpushare run --slice two-a,two-b -- "$app" twodev 1000 500 hold > "$out" 2>&1 &
pids+=($!)
wait_for "grep -q held '$out'" 10
pid=$(pgrep -u "$user1" -f "$app twodev" | head -1)
check "it sees two devices" 'grep -q "^devices 2$" "$out"'
check "device 0 has slice a's 32 SMs, its kernels ran on them, and its 8192 MiB" \
	'grep -Eq "^dev0 sms 32 smid 32 [0-9]+-[0-9]+ mem_total_mib 8192 " "$out"'
check "device 1 has slice b's 16 SMs, its kernels ran on them, and its 4096 MiB" \
	'grep -Eq "^dev1 sms 16 smid 16 [0-9]+-[0-9]+ mem_total_mib 4096 " "$out"'
check "a peer copy each way between the two slices gives the bytes" 'grep -q "^peer ok$" "$out"'
free0=$(sed -n 's/^dev0 .* mem_free_mib //p' "$out"); free1=$(sed -n 's/^dev1 .* mem_free_mib //p' "$out")
check "each device's allocation is charged to its own slice, the peer copies to none" \
	'[ "$(sed -n "s/^free0 //p" "$out")" = $((free0 - 1000)) ] && [ "$(sed -n "s/^free1 //p" "$out")" = $((free1 - 500)) ]'
clients=$(q list_clients)
check "list_clients shows the program in both slices" \
	'echo "$clients" | grep -Eq "^$pid +$user1 .* 0 +$sa " && echo "$clients" | grep -Eq "^$pid +$user1 .* 1 +$sb "'
slices=$(q list_slices --json)
used() { echo "$slices" | "$py" -c 'import json, sys; print(next(s["used_bytes"] >> 20 for s in json.load(sys.stdin)["slices"] if s["slice"] == sys.argv[1]))' "$1"; }
check "each slice's ledger holds what the program took on its device" \
	'[ "$(used "$sa")" -ge 1000 ] && [ "$(used "$sb")" -ge 500 ] && [ "$(used "$sb")" -lt 1000 ] && [ "$(used "$sc")" = 0 ]'
# scrape METRIC SLICE: whether the metrics have METRIC of the program in SLICE
scrape() {
	"$py" -c 'import urllib.request, sys; print(urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1]).read().decode())' "$mport" |
		grep -E "^$1\{.*slice=\"$2\".*pid=\"$pid\"" | grep -q .
}
check "the metrics count the process's memory in each slice" \
	'wait_for "scrape gpushare_process_memory_used_bytes $sa && scrape gpushare_process_memory_used_bytes $sb" 5'
kill "$pid"
wait_for "! q list_clients | grep -q '^$pid '" 5
check "gone, it leaves both slices" '! q list_clients | grep -q "^$pid " && [ "$(q list_slices --json | grep -c "\"used_bytes\": 0")" -ge 3 ]'

# each limit on its own, through CUDA_VISIBLE_DEVICES, as the runtime looks calls up
out=$(as "$user1" env LD_PRELOAD="$preload" CUDA_VISIBLE_DEVICES="$sa,$sb" "$app" --via procaddr fill2 256 2>&1)
check "refused past each slice's limit on its own (7936 and 3840 MiB beside the contexts)" \
	'echo "$out" | grep -q "^got0 7936$" && echo "$out" | grep -q "^got1 3840$"'

# what is refused, and what it says
out=$(LD_PRELOAD="$preload" CUDA_VISIBLE_DEVICES="$sb,$sc" "$app" info 2>&1)
check "two slices of one GPU are refused, saying which and what would do" \
	'echo "$out" | grep -q "cuInit 100" && echo "$out" | grep -q "are both of GPU .*: a program has at most one slice of each GPU"'
out=$(LD_PRELOAD="$preload" CUDA_VISIBLE_DEVICES="$sa,$sc,1" "$app" info 2>&1)
check "slices mixed with a whole GPU are refused, saying what would do" \
	'echo "$out" | grep -q "cuInit 100" && echo "$out" | grep -q "names slices and whole GPUs: .*name one slice of each GPU"'
out=$(as "$user2" env LD_PRELOAD="$preload" CUDA_VISIBLE_DEVICES="$sc,$sb" "$app" twodev 1 1 2>&1)
check "a list naming a slice its user may not use refuses the whole program" \
	'echo "$out" | grep -q "cuInit 100" && echo "$out" | grep -q "slice $sb of CUDA_VISIBLE_DEVICES: .*the whole program is refused"'
check "and none of its registrations stays" '! q list_clients | grep -q " $user2 "'
out=$(as "$user2" env PATH="$PATH" gpushare run --slice two-c,two-b -- "$app" info 2>&1)
check "the same through gpushare run --slice" 'echo "$out" | grep -q "cuInit 100"'

# a program of two slices is not moved by its interposer's swap: its suspend
# is refused, saying why, and it runs on
q quit > /dev/null
wait_for '[ ! -e "$GPUSHARE_PIPE_DIRECTORY/gpushare-control.pid" ]' 10
GPUSHARE_CONTROL_SWAP=all GPUSHARE_SIM_CHECKPOINT=refuse "$ctl" -d
out="$work/twodev-swap.out"
as "$user1" env PATH="$PATH" gpushare run --slice two-a,two-b -- "$app" twodev 100 100 hold > "$out" 2>&1 &
pids+=($!)
wait_for "grep -q held '$out'" 10
pid=$(pgrep -u "$user1" -f "$app twodev 100" | head -1)
q suspend "$pid" > /dev/null
check "a suspend of a program of two slices by the swap is refused, saying why, and it runs on" \
	'wait_for "grep -q \"Client $pid not suspended: its interposer could not move its memory: a program with several slices is not moved (801)\" \"$GPUSHARE_LOG_DIRECTORY/control.log\"" 5 && q list_clients --json | grep -q "\"pid\": $pid, .*\"state\": \"running\""'
kill "$pid"

# without the daemon: the slices from the store (root's: its ledgers are root's to write)
q quit > /dev/null
out=$(env LD_PRELOAD="$preload" CUDA_VISIBLE_DEVICES="$sa,$sb" "$app" twodev 1000 500 2>&1)
check "without the daemon: two devices, each its slice's SMs and memory, the peer copies" \
	'grep -Eq "^dev0 sms 32 smid 32 .* mem_total_mib 8192 " <<< "$out" && grep -Eq "^dev1 sms 16 smid 16 .* mem_total_mib 4096 " <<< "$out" && grep -q "^peer ok$" <<< "$out"'
out=$(as "$user2" env LD_PRELOAD="$preload" CUDA_VISIBLE_DEVICES="$sb,$sc" "$app" info 2>&1)
check "without the daemon a slice its user may not use refuses the whole program" \
	'echo "$out" | grep -q "cuInit 100" && echo "$out" | grep -q "not open to user"'
finish
