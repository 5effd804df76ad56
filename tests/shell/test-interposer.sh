#!/usr/bin/env bash
# test-interposer.sh BUILD: libgpushare.so confines unmodified driver-API
# programs on the simulated GPU, through both ways programs reach the driver
# (dlsym on libcuda.so.1, and cuGetProcAddress as the CUDA runtime does).
set -u
build=$(cd "$1" && pwd)
work=$(mktemp -d)
cleanup() { pkill -9 -f "$build/tests/cuda-app" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
export PATH="$build/bin:$PATH" GPUSHARE_STATE_DIR="$work/state" GPUSHARE_SIM_DIR="$work/sim"
export GPUSHARE_SIMULATE=a100-sxm4-40gb
app="$build/tests/cuda-app"
preload="$build/lib/libgpushare.so"
if nm -D "$preload" | grep -q __asan_init; then
	# A sanitizer runtime cannot start behind a preloaded library that
	# overrides dlsym; under sanitizers tests/test-interposer.c runs the same
	# logic linked into its binary, and `make test` runs this script.
	echo "skip LD_PRELOAD of a sanitized interposer (covered by test-interposer)"
	exit 0
fi
fails=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fails=$((fails + 1)); fi; }
# run a program in a slice (preload + simulated driver), exec'ed so kill reaches it
in_slice() { local s=$1; shift; (GPUSHARE_SLICE=$s LD_PRELOAD="$preload" LD_LIBRARY_PATH="$build/lib/gpushare-sim" exec "$@"); }
with_env() { (LD_PRELOAD="$preload" LD_LIBRARY_PATH="$build/lib/gpushare-sim" exec env "$@"); }
val() { awk -v k="$1" '$1 == k { print $2 }'; }

gpushare-smi -i 0 -mig 1 > /dev/null
gpushare-smi mig -cgi 4g.20gb,2g.10gb -C > /dev/null
s0=$(gpushare-smi -L | awk '/Device  0/ { print substr($NF, 1, length($NF) - 1) }')
s1=$(gpushare-smi -L | awk '/Device  1/ { print substr($NF, 1, length($NF) - 1) }')

for via in dlsym procaddr; do
	out=$(in_slice "$s0" "$app" --via $via info)
	check "$via: cuMemGetInfo total is the slice's 20096 MiB" '[ "$(echo "$out" | val mem_total_mib)" = 20096 ]'
	check "$via: cuDeviceTotalMem is the slice's" '[ "$(echo "$out" | val device_total_mib)" = 20096 ]'
	check "$via: NVML memory total is the slice's" '[ "$(echo "$out" | val nvml_total_mib)" = 20096 ]'
	check "$via: MULTIPROCESSOR_COUNT is the slice's 56" '[ "$(echo "$out" | val sms)" = 56 ]'
	check "$via: NVML's device attributes show the slice's SMs" '[ "$(echo "$out" | val nvml_sms)" = 56 ]'
	check "$via: NVML lists the slice's processes only" '[ "$(echo "$out" | val nvml_processes)" = 1 ]'
	check "$via: every allocation path charged and given back" 'in_slice "$s0" "$app" --via $via paths > "$work/paths" && ! grep -q FAIL "$work/paths"'
	check "$via: fill stops at the limit (19 GiB chunks of 1 GiB)" '[ "$(in_slice "$s0" "$app" --via $via fill 1024 | val got)" = 19456 ]'
	check "$via: stream-ordered allocations stop at the limit too" '[ "$(in_slice "$s0" "$app" --via $via fillasync 1024 | val got)" = 19456 ]'
done
check "$via: the context's memory (256 MiB on the simulated GPU) is charged to the slice" '[ "$(echo "$out" | val mem_free_mib)" = 19840 ]'
out=$(GPUSHARE_SIM_DRIVER_VERSION=12020 in_slice "$s0" "$app" info)
check "a driver without green contexts: MPS thread percentage instead (56 of 108 SMs)" '[ "$(echo "$out" | val mps_pct)" = 52 ]'
out=$(LD_LIBRARY_PATH="$build/lib/gpushare-sim" "$app" info)
check "without the interposer the whole GPU is seen" '[ "$(echo "$out" | val mem_total_mib)" = 40960 ] && [ "$(echo "$out" | val sms)" = 108 ]'
out=$(CUDA_VISIBLE_DEVICES=$s1 LD_PRELOAD="$preload" LD_LIBRARY_PATH="$build/lib/gpushare-sim" "$app" info)
check "CUDA_VISIBLE_DEVICES=MIG-<uuid> of a soft slice selects it" '[ "$(echo "$out" | val mem_total_mib)" = 9984 ] && [ "$(echo "$out" | val sms)" = 28 ]'

# limits across processes, and SIGKILL reclaim
(GPUSHARE_SLICE=$s0 LD_PRELOAD="$preload" LD_LIBRARY_PATH="$build/lib/gpushare-sim" \
	exec "$app" hold 15000 > "$work/hold") &
holder=$!
for i in $(seq 50); do grep -q held "$work/hold" 2>/dev/null && break; sleep 0.1; done
check "a second process is refused what would pass the shared limit" '[ "$(in_slice "$s0" "$app" alloc 6000)" = "refused 2" ]'
check "a second process gets what fits" '[ "$(in_slice "$s0" "$app" alloc 4000)" = ok ]'
check "the other slice is not affected" '[ "$(in_slice "$s1" "$app" alloc 9000)" = ok ]'
check "destroying a slice in use is refused" '! gpushare-smi mig -gi 2 -ci 0 -dci > /dev/null 2>&1'
check "gpushare-smi shows the slice's process, its context included" 'gpushare-smi | grep -q "cuda-app .*15256MiB"'
kill -9 $holder; wait $holder 2>/dev/null
check "after SIGKILL the holder's memory is reclaimed" '[ "$(in_slice "$s0" "$app" alloc 15000)" = ok ]'
check "after SIGKILL the slice can be destroyed" 'gpushare-smi mig -gi 3 -ci 0 -dci > /dev/null && gpushare-smi mig -gi 3 -cci > /dev/null'
s1=$(gpushare-smi -L | awk '/Device  1/ { print substr($NF, 1, length($NF) - 1) }')

# SMs: disjoint groups, every thread, own contexts
check "slice 0 kernels run on 56 SMs" '[ "$(in_slice "$s0" "$app" smid)" = "smid distinct 56 range 0-55" ]'
check "slice 1 kernels run on 28 other SMs" '[ "$(in_slice "$s1" "$app" --via procaddr smid)" = "smid distinct 28 range 56-83" ]'
check "every thread of a program is confined" '[ "$(in_slice "$s1" "$app" smid 8 | sort -u)" = "smid distinct 28 range 56-83" ]'
check "contexts made with cuCtxCreate are confined" '[ "$(in_slice "$s0" "$app" smid 3 own | sort -u)" = "smid distinct 56 range 0-55" ]'
# a TPC mask of the program's own (a launch callback, as libsmctrl's) would
# override its green context and take every SM (as on the H200): in a slice
# it is not run
out=$(LD_LIBRARY_PATH="$build/lib/gpushare-sim" GPUSHARE_SLICE= "$app" smid 1 mask 2>&1)
check "without gpushare a program's launch callback runs (its TPC mask: all 108 SMs)" '[ "$out" = "smid distinct 108 range 0-107" ]'
check "in a slice, a program's own TPC mask takes no SM outside it (dlsym, cuGetProcAddress)" \
	'[ "$(in_slice "$s1" "$app" smid 1 mask)" = "smid distinct 28 range 56-83" ] && [ "$(in_slice "$s1" "$app" --via procaddr smid 1 mask)" = "smid distinct 28 range 56-83" ]'

# fork: the child charges the same slice
out=$(in_slice "$s0" "$app" fork 8000)
check "a forked child allocates within the slice" 'echo "$out" | grep -q "child alloc 0"'
check "a forked child is refused past the slice" 'in_slice "$s0" "$app" fork 12000 | grep -q "child alloc 2"'

# explicit limits and bad values
out=$(with_env GPUSHARE_MEMORY_LIMIT=3G GPUSHARE_SMS=24 "$app" info)
check "GPUSHARE_MEMORY_LIMIT / GPUSHARE_SMS without a store" '[ "$(echo "$out" | val mem_total_mib)" = 3072 ] && [ "$(echo "$out" | val sms)" = 24 ]'
for bad in GPUSHARE_MEMORY_LIMIT=12Q GPUSHARE_MEMORY_LIMIT=0 GPUSHARE_SMS=0 GPUSHARE_SMS=lots GPUSHARE_SLICE=MIG-bogus \
	   GPUSHARE_SLICE=MIG-00000000-0000-0000-0000-000000000000 "GPUSHARE_SLICE=$s0 GPUSHARE_SMS=8" \
	   "CUDA_VISIBLE_DEVICES=$s0 GPUSHARE_MEMORY_LIMIT=1G" GPUSHARE_SLICE=no-such-name; do
	out=$(with_env $bad "$app" info 2>&1)
	check "refused with a message: $bad" 'echo "$out" | grep -q "^gpushare: .*CUDA is refused" && echo "$out" | grep -q "cuInit 100"'
done

# Kubernetes schedulers' variables (HAMi, KAI): they only narrow, the smallest wins, and they are given beside a slice
out=$(with_env CUDA_DEVICE_MEMORY_LIMIT=4096m "$app" info)
check "CUDA_DEVICE_MEMORY_LIMIT=4096m: 4096 MiB seen by CUDA and NVML" '[ "$(echo "$out" | val mem_total_mib)" = 4096 ] && [ "$(echo "$out" | val nvml_total_mib)" = 4096 ]'
check "CUDA_DEVICE_MEMORY_LIMIT: an allocation past it is refused" '[ "$(with_env CUDA_DEVICE_MEMORY_LIMIT=4g "$app" alloc 5000)" = "refused 2" ] && [ "$(with_env CUDA_DEVICE_MEMORY_LIMIT=4g "$app" alloc 3000)" = ok ]'
check "CUDA_DEVICE_MEMORY_LIMIT_0 overrides the general one for device 0" '[ "$(with_env CUDA_DEVICE_MEMORY_LIMIT=4g CUDA_DEVICE_MEMORY_LIMIT_0=2g "$app" info | val mem_total_mib)" = 2048 ]'
check "... a bare number is bytes, as HAMi-core reads it" '[ "$(with_env CUDA_DEVICE_MEMORY_LIMIT_0=1073741824 "$app" info | val mem_total_mib)" = 1024 ]'
check "beside GPUSHARE_MEMORY_LIMIT the smaller wins, either way" '[ "$(with_env CUDA_DEVICE_MEMORY_LIMIT=2g GPUSHARE_MEMORY_LIMIT=3G "$app" info | val mem_total_mib)" = 2048 ] && [ "$(with_env CUDA_DEVICE_MEMORY_LIMIT=3g GPUSHARE_MEMORY_LIMIT=2G "$app" info | val mem_total_mib)" = 2048 ]'
check "CUDA_DEVICE_SM_LIMIT=50: kernels on 54 of the 108 SMs" '[ "$(with_env CUDA_DEVICE_SM_LIMIT=50 "$app" smid)" = "smid distinct 54 range 0-53" ] && [ "$(with_env CUDA_DEVICE_SM_LIMIT=50 "$app" info | val sms)" = 54 ]'
check "CUDA_DEVICE_SM_LIMIT=0 and =100 are no limit (HAMi)" '[ "$(with_env CUDA_DEVICE_SM_LIMIT=0 "$app" info | val sms)" = 108 ] && [ "$(with_env CUDA_DEVICE_SM_LIMIT=100 "$app" info | val sms)" = 108 ]'
check "GPU_PORTION=0.25: a quarter of the 40 GiB, allocations stop there" '[ "$(with_env GPU_PORTION=0.25 "$app" info | val mem_total_mib)" = 10240 ] && [ "$(with_env GPU_PORTION=0.25 "$app" alloc 11000)" = "refused 2" ]'
out=$(with_env GPUSHARE_SLICE="$s0" CUDA_DEVICE_MEMORY_LIMIT=4g CUDA_DEVICE_SM_LIMIT=25 "$app" info 2>&1)
check "beside GPUSHARE_SLICE (no \"not both\"): the slice narrowed to 4096 MiB (NVML too), 26 SMs" '[ "$(echo "$out" | val mem_total_mib)" = 4096 ] && [ "$(echo "$out" | val nvml_total_mib)" = 4096 ] && [ "$(echo "$out" | val sms)" = 26 ]'
check "... kernels on 26 SMs of the slice's own" '[ "$(with_env GPUSHARE_SLICE="$s0" CUDA_DEVICE_SM_LIMIT=25 "$app" smid)" = "smid distinct 26 range 0-25" ]'
check "... an allocation past it refused" '[ "$(with_env GPUSHARE_SLICE="$s0" CUDA_DEVICE_MEMORY_LIMIT=4g "$app" alloc 5000)" = "refused 2" ]'
check "a value wider than the slice changes nothing" '[ "$(with_env GPUSHARE_SLICE="$s0" CUDA_DEVICE_MEMORY_LIMIT=30g GPU_PORTION=1 CUDA_DEVICE_SM_LIMIT=90 "$app" info | val mem_total_mib)" = 20096 ] && [ "$(with_env GPUSHARE_SLICE="$s0" CUDA_DEVICE_SM_LIMIT=90 "$app" info | val sms)" = 56 ]'
check "CUDA_VISIBLE_DEVICES naming a slice, with CUDA_DEVICE_MEMORY_LIMIT_0" '[ "$(with_env CUDA_VISIBLE_DEVICES="$s1" CUDA_DEVICE_MEMORY_LIMIT_0=1g "$app" info | val mem_total_mib)" = 1024 ]'
for bad in CUDA_DEVICE_MEMORY_LIMIT=4x CUDA_DEVICE_MEMORY_LIMIT=0 CUDA_DEVICE_MEMORY_LIMIT_0=-1g CUDA_DEVICE_SM_LIMIT=150 \
	   CUDA_DEVICE_SM_LIMIT=half GPU_PORTION=1.5 GPU_PORTION=0 GPU_PORTION=50% "GPUSHARE_SLICE=$s0 CUDA_DEVICE_MEMORY_LIMIT=lots"; do
	out=$(with_env $bad "$app" info 2>&1)
	var=${bad##* }; var=${var%%=*}
	check "refused, the variable named: $bad" 'echo "$out" | grep -q "^gpushare: $var=\"" && echo "$out" | grep -q "CUDA is refused" && echo "$out" | grep -q "cuInit 100"'
done

# gpushare run: the same, set up for the program
out=$(gpushare run --slice "$s1" -- "$app" info)
check "gpushare run --slice puts a program in the slice" '[ "$(echo "$out" | val mem_total_mib)" = 9984 ] && [ "$(echo "$out" | val sms)" = 28 ]'
out=$(gpushare run --memory 1G --sms 8 -- "$app" info)
check "gpushare run --memory --sms" '[ "$(echo "$out" | val mem_total_mib)" = 1024 ] && [ "$(echo "$out" | val sms)" = 8 ]'
check "gpushare run refuses an unknown slice before starting" '! gpushare run --slice MIG-0000 -- true 2> /dev/null'
check "gpushare run refuses a bad size" '! gpushare run --memory 1Q -- true 2> /dev/null'
check "gpushare status lists both slices" '[ "$(gpushare status | grep -c "^MIG-")" = 2 ]'

# compute instances of one GPU instance share its memory, as on MIG
gpushare-smi mig -dci > /dev/null && gpushare-smi mig -dgi > /dev/null
gpushare-smi mig -cgi 2g.10gb > /dev/null && gpushare-smi mig -gi 3 -cci 1c.2g.10gb,1c.2g.10gb > /dev/null
c0=$(gpushare-smi -L | awk '/Device  0/ { print substr($NF, 1, length($NF) - 1) }')
c1=$(gpushare-smi -L | awk '/Device  1/ { print substr($NF, 1, length($NF) - 1) }')
(GPUSHARE_SLICE=$c0 LD_PRELOAD="$preload" LD_LIBRARY_PATH="$build/lib/gpushare-sim" exec "$app" hold 6000 > "$work/hold2") &
holder=$!
for i in $(seq 50); do grep -q held "$work/hold2" 2>/dev/null && break; sleep 0.1; done
check "CIs of one GI share its memory: the other CI is refused what would pass it" '[ "$(in_slice "$c1" "$app" alloc 4000)" = "refused 2" ] && [ "$(in_slice "$c1" "$app" alloc 3000)" = ok ]'
check "CIs of one GI run on their own SMs, where its placement (4:2) puts them" '[ "$(in_slice "$c1" "$app" smid)" = "smid distinct 14 range 70-83" ]'
kill -9 $holder; wait $holder 2>/dev/null

# a program that never touches CUDA is unaffected
check "a program without CUDA runs as before" '[ "$(LD_PRELOAD="$preload" sh -c "echo hi")" = hi ]'
check "a program that dlsyms other things is unaffected" '[ "$(LD_PRELOAD="$preload" python3 -c "import ctypes; print(ctypes.CDLL(None).strlen(b\"four\"))")" = 4 ]'
exit $((fails > 0))
