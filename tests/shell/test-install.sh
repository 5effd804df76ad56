#!/usr/bin/env bash
# test-install.sh BUILD: `make install` lays out a tree that works on its own
# (as on a GPU node without the sources): the installed gpushare-smi finds
# the simulated driver, gpushare run finds libgpushare.so and confines a
# program, gpushare-control makes a slice and serves it.
set -u
build=$(cd "$1" && pwd)
work=$(mktemp -d)
export GPUSHARE_STATE_DIR="$work/state" GPUSHARE_SIM_DIR="$work/sim" GPUSHARE_SIMULATE=a100-sxm4-40gb
export GPUSHARE_PIPE_DIRECTORY="$work/pipe" GPUSHARE_LOG_DIRECTORY="$work/log"
cleanup() { [ -f "$work/pipe/gpushare-control.pid" ] && kill -9 "$(cat "$work/pipe/gpushare-control.pid")" 2> /dev/null; rm -rf "$work"; }
trap cleanup EXIT
fails=0
check() { if eval "$2"; then echo "ok   $1"; else echo "FAIL $1"; fails=$((fails + 1)); fi; }

make -s install BUILD="$build" DESTDIR="$work/root" PREFIX=/usr > "$work/make.log" 2>&1
check "make install lays out bin/ and lib/gpushare/" '[ -x "$work/root/usr/bin/gpushare-smi" ] && [ -x "$work/root/usr/bin/gpushare-control" ] && [ -f "$work/root/usr/lib/gpushare/libgpushare.so" ] && [ -f "$work/root/usr/lib/gpushare/sim/libcuda.so.1" ] && [ -f "$work/root/usr/lib/gpushare/sim/libcupti.so" ]'
bin="$work/root/usr/bin"
check "the installed gpushare-smi finds the simulated GPU" '"$bin/gpushare-smi" -L | grep -q "NVIDIA A100-SXM4-40GB"'
out=$(nm -D "$build/lib/libgpushare.so" | grep -q __asan_init && echo skip || "$bin/gpushare" run --memory 2G --sms 16 -- "$build/tests/cuda-app" info 2>&1)
check "the installed gpushare run confines a program" '[ "$out" = skip ] || { echo "$out" | grep -qx "mem_total_mib 2048" && echo "$out" | grep -qx "sms 16"; }'
"$bin/gpushare-smi" -i 0 -mig 1 > /dev/null
"$bin/gpushare-control" -d
check "the installed gpushare-control makes a slice through the installed gpushare-smi" '[[ "$(echo "create_slice 16 2G" | "$bin/gpushare-control")" == MIG-* ]]'
echo quit | "$bin/gpushare-control" > /dev/null
exit $((fails > 0))
