#!/usr/bin/env bash
# demo.sh BUILD: shows gpushare-smi at work on this machine's GPU, or on the
# simulated A100-SXM4-40GB of the seed when there is none: turns soft MIG on,
# creates 4g, 2g and 1g instances with their compute instances, lists them,
# and cleans up; then gpushare-control: a slice made through the daemon, a
# program in it served by its own server, and MPS's commands. State, pipe
# and log directories are temporary; nothing persists.
set -eu
build=$(cd "${1:-build}" && pwd)
export PATH="$build/bin:$PATH"
export GPUSHARE_STATE_DIR=$(mktemp -d) GPUSHARE_SIM_DIR=$(mktemp -d)
export GPUSHARE_PIPE_DIRECTORY="$GPUSHARE_STATE_DIR/pipe" GPUSHARE_LOG_DIRECTORY="$GPUSHARE_STATE_DIR/log"
export GPUSHARE_NO_MPS=1 # the demo starts no NVIDIA MPS on a real GPU
trap '{ echo quit | gpushare-control || true; } > /dev/null 2>&1; rm -rf "$GPUSHARE_STATE_DIR" "$GPUSHARE_SIM_DIR"' EXIT
run() { printf '\n$ %s\n' "$*"; "$@"; }
run gpushare-smi -q
run gpushare-smi -i 0 -mig 1
run gpushare-smi mig -i 0 -lgip
if gpushare-smi mig -i 0 -lgipp | grep -q 'Profile ID'; then
	run gpushare-smi mig -i 0 -cgi 5,14,19 -C
else
	run gpushare-smi mig -i 0 -cgi 48sm.16gb,24sm.8gb -C
fi
run gpushare-smi mig -i 0 -lgi
run gpushare-smi mig -i 0 -lci
run gpushare-smi -i 0
run gpushare-smi -i 0 -L
run gpushare-smi mig -i 0 -dci
run gpushare-smi mig -i 0 -dgi
run gpushare-smi -i 0 -mig 0

ctl() { printf '\n$ echo "%s" | gpushare-control\n' "$*"; echo "$*" | gpushare-control; }
run gpushare-control -d
gpushare-smi -i 0 -mig 1 > /dev/null
printf '\n$ echo "create_slice 32 8G" | gpushare-control\n'
slice=$(echo "create_slice 32 8G" | gpushare-control)
echo "$slice"
run gpushare run --no-mps --slice "$slice" -- "$build/tests/cuda-app" info
echo
echo "# the program has exited; its server stays for the next one, as MPS's servers do"
ctl get_server_list
ctl "get_client_list $(echo get_server_list | gpushare-control | head -1)"
ctl list_slices
ctl "destroy_slice $slice"
ctl quit
gpushare-smi -i 0 -mig 0 > /dev/null
