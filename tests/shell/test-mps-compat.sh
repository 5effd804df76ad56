#!/usr/bin/env bash
# test-mps-compat.sh BUILD: gpushare-control installed as nvidia-cuda-mps-control
# (lib/gpushare/mps-compat/, first on PATH) takes the exact command sequence
# NVIDIA's Kubernetes MPS daemons send, and its limits are hard for a CUDA
# program given the same pipe directory.
#
# The sequences, read from (re-check them there):
#   NVIDIA/k8s-device-plugin cmd/mps-control-daemon/mps/daemon.go: Start runs
#     `nvidia-cuda-mps-control -d` with an environment of CUDA_MPS_PIPE_DIRECTORY
#     and CUDA_MPS_LOG_DIRECTORY only (exec.Command, Env set), then for each
#     device index `set_default_device_pinned_mem_limit <index> <MiB>M` and
#     `set_default_active_thread_percentage <100/replicas>` (%d), each written to
#     a fresh `nvidia-cuda-mps-control` on stdin WITHOUT a newline (EchoPipeToControl);
#     AssertHealthy sends `get_default_active_thread_percentage`; Stop sends `quit`;
#     it tails <log>/control.log. cmd/mps-control-daemon/mps/root.go: pipe and
#     log dirs are <root>/<resource>/pipe and .../log.
#   NVIDIA/k8s-dra-driver-gpu templates/mps-control-daemon.tmpl.yaml: `nvidia-cuda-mps-control -d`,
#     `echo set_default_active_thread_percentage <n> | nvidia-cuda-mps-control`,
#     `echo set_default_device_pinned_mem_limit <id> <limit> | nvidia-cuda-mps-control`
#     with <id> a GPU UUID and <limit> "<MiB>M" (api/nvidia.com/resource/v1beta1/sharing.go
#     MpsPerDevicePinnedMemoryLimit.Normalize, Megabyte); clients get
#     CUDA_MPS_PIPE_DIRECTORY (cmd/gpu-kubelet-plugin/sharing.go).
# The simulated GPU needs GPUSHARE_SIMULATE, GPUSHARE_SIM_DIR and GPUSHARE_STATE_DIR
# besides the plugin's two variables; nothing else is in the daemon's environment.
set -u
build=$(cd "$1" && pwd)
. "$(dirname "$0")/lib.sh"
need_preload
work=$(mktemp -d)
chmod 755 "$work"
pipe="$work/mps/nvidia.com/gpu/pipe" logs="$work/mps/nvidia.com/gpu/log"
sim=(GPUSHARE_SIMULATE=a100-sxm4-40gb GPUSHARE_SIM_DIR="$work/sim" GPUSHARE_STATE_DIR="$work/state")
cleanup() { [ -f "$pipe/gpushare-control.pid" ] && kill -9 "$(cat "$pipe/gpushare-control.pid")" 2> /dev/null; rm -rf "$work"; }
trap cleanup EXIT
unset GPUSHARE_PIPE_DIRECTORY GPUSHARE_LOG_DIRECTORY
val() { awk -v k="$1" '$1 == k { print $2 }'; }

make -s install BUILD="$build" DESTDIR="$work/root" PREFIX=/usr > "$work/make.log" 2>&1
compat="$work/root/usr/lib/gpushare/mps-compat"
check "make install links nvidia-cuda-mps-control to gpushare-control in lib/gpushare/mps-compat/" '[ "$(readlink -f "$compat/nvidia-cuda-mps-control")" = "$(readlink -f "$work/root/usr/bin/gpushare-control")" ]'
check "... and nothing of NVIDIA's name in bin/" '[ ! -e "$work/root/usr/bin/nvidia-cuda-mps-control" ]'
export PATH="$compat:$PATH"
check "first on PATH, it is the nvidia-cuda-mps-control found" '[ "$(command -v nvidia-cuda-mps-control)" = "$compat/nvidia-cuda-mps-control" ]'
mkdir -p "$pipe" "$logs"
# what the device plugin's Go code does: the daemon, then one process per command
mps() { env -i CUDA_MPS_PIPE_DIRECTORY="$pipe" CUDA_MPS_LOG_DIRECTORY="$logs" "${sim[@]}" "$(command -v nvidia-cuda-mps-control)" "$@"; }
send() { printf '%s' "$1" | mps; } # no newline, as EchoPipeToControl writes
check "nvidia-cuda-mps-control -d starts it in CUDA_MPS_PIPE_DIRECTORY" 'mps -d && [ -S "$pipe/control" ] && [ -f "$pipe/gpushare-control.pid" ]'
check "... logging to CUDA_MPS_LOG_DIRECTORY/control.log, which the plugin tails" 'wait_for "[ -s \"$logs/control.log\" ]"'
check "set_default_device_pinned_mem_limit 0 2048M (no newline)" 'send "set_default_device_pinned_mem_limit 0 2048M" > "$work/out" && true'
check "set_default_active_thread_percentage 50 (100/2 replicas)" 'send "set_default_active_thread_percentage 50" > "$work/out"'
check "the health check, get_default_active_thread_percentage, answers 50.0" '[ "$(send get_default_active_thread_percentage)" = 50.0 ]'
check "get_default_device_pinned_mem_limit 0 reads it back as MPS does" '[ "$(send "get_default_device_pinned_mem_limit 0")" = 2G ]'

# a client as the plugin's pods run: the pipe directory, the interposer preloaded
client() { (env -u GPUSHARE_PIPE_DIRECTORY CUDA_MPS_PIPE_DIRECTORY="$pipe" "${sim[@]}" LD_PRELOAD="$work/root/usr/lib/gpushare/libgpushare.so" LD_LIBRARY_PATH="$work/root/usr/lib/gpushare/sim" "$@"); }
out=$(client "$build/tests/cuda-app" info)
check "a client sees the 2048M pinned limit as its memory" '[ "$(echo "$out" | val mem_total_mib)" = 2048 ]'
check "the pinned limit is hard: 3000 MiB refused, 1500 MiB allocated" '[ "$(client "$build/tests/cuda-app" alloc 3000)" = "refused 2" ] && [ "$(client "$build/tests/cuda-app" alloc 1500)" = ok ]'
check "the thread percentage is applied: 50% of the 108 SMs, kernels on 54" '[ "$(echo "$out" | val sms)" = 54 ] && [ "$(client "$build/tests/cuda-app" smid)" = "smid distinct 54 range 0-53" ]'
check "the client registered with it (ps lists it as a client)" 'grep -q "register" "$logs/control.log" || grep -qi "client" "$logs/control.log"'

check "quit stops it (Stop)" 'send quit > /dev/null && wait_for "[ ! -f \"$pipe/gpushare-control.pid\" ]"'
check "a client finds no daemon afterwards and runs on its own" '[ "$(client "$build/tests/cuda-app" info | val mem_total_mib)" = 40960 ]'

# the DRA driver's sequence: echo (a newline), the device named by its UUID
uuid=$(env "${sim[@]}" "$work/root/usr/bin/gpushare-smi" -L | awk '/^GPU 0/ { print substr($NF, 1, length($NF) - 1) }')
check "DRA: nvidia-cuda-mps-control -d" 'mps -d && [ -S "$pipe/control" ]'
check "DRA: echo set_default_active_thread_percentage 25 | nvidia-cuda-mps-control" 'echo "set_default_active_thread_percentage 25" | mps > /dev/null && [ "$(send get_default_active_thread_percentage)" = 25.0 ]'
check "DRA: echo set_default_device_pinned_mem_limit <GPU-uuid> 1024M | nvidia-cuda-mps-control" 'echo "set_default_device_pinned_mem_limit $uuid 1024M" | mps > /dev/null && [ "$(send "get_default_device_pinned_mem_limit $uuid")" = 1G ]'
out=$(client "$build/tests/cuda-app" info)
check "DRA: a client gets 1024 MiB, hard" '[ "$(echo "$out" | val mem_total_mib)" = 1024 ] && [ "$(client "$build/tests/cuda-app" alloc 1100)" = "refused 2" ] && [ "$(client "$build/tests/cuda-app" alloc 700)" = ok ]'
check "DRA: and 25% of the SMs: kernels on 26 (whole TPCs of 27)" '[ "$(echo "$out" | val sms)" = 26 ] && [ "$(client "$build/tests/cuda-app" smid)" = "smid distinct 26 range 0-25" ]'
check "DRA: quit" 'echo quit | mps > /dev/null && wait_for "[ ! -f \"$pipe/gpushare-control.pid\" ]"'
finish
