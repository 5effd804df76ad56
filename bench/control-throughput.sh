#!/usr/bin/env bash
# control-throughput.sh BUILD: commands per second gpushare-control answers
# (each logged to control.log as MPS logs them), 1, 8 and 32 clients each
# keeping 16 commands in flight; then what registering costs a program at
# CUDA init. The daemon runs in a temporary pipe dir.
set -eu
build=$(cd "${1:-build}" && pwd)
work=$(mktemp -d); trap 'echo quit | "$build/bin/gpushare-control" > /dev/null 2>&1; rm -rf "$work"' EXIT
export GPUSHARE_PIPE_DIRECTORY="$work/pipe" GPUSHARE_LOG_DIRECTORY="$work/log" GPUSHARE_STATE_DIR="$work/state"
cc -O2 -o "$work/control-throughput" bench/control-throughput.c -lpthread
"$build/bin/gpushare-control" -d
for c in 1 8 32; do "$work/control-throughput" "$work/pipe" "$c" 20000; done
"$work/control-throughput" "$work/pipe" register 2000
