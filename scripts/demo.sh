#!/usr/bin/env bash
# demo.sh BUILD: shows gpushare-smi at work on this machine's GPU, or on the
# simulated A100-SXM4-40GB of the seed when there is none: turns soft MIG on,
# creates 4g, 2g and 1g instances with their compute instances, lists them,
# and cleans up. State goes to a temporary directory; nothing persists.
set -eu
build=$(cd "${1:-build}" && pwd)
export PATH="$build/bin:$PATH"
export GPUSHARE_STATE_DIR=$(mktemp -d) GPUSHARE_SIM_DIR=$(mktemp -d)
trap 'rm -rf "$GPUSHARE_STATE_DIR" "$GPUSHARE_SIM_DIR"' EXIT
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
