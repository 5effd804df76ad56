#!/usr/bin/env bash
# tpcmask-guard.sh: on the GPU machine, a program's own launch-descriptor
# callback (a TPC mask asking for every SM, as libsmctrl writes it) cannot
# take SMs outside its gpushare slice: tpcmask-probe.cu's modes E (its
# primary context), A (TPC bits 0-7 only) and W (a green context of its own)
# without gpushare, then in a 64-SM slice under gpushare-control with
# NVIDIA's MPS (%smid is virtualized under MPS: distinct counts, not ids,
# are what to compare).
. bench/device/control-env.sh
nvcc -O2 -arch=sm_90 -std=c++17 -o $d/tpcmask-probe bench/device/tpcmask-probe.cu -lcuda || exit 1
echo "== without gpushare"
for m in N E A W; do timeout 60 $d/tpcmask-probe $m; done
gpushare-smi -i 0 -mig 1 > /dev/null
gpushare-control -d
s=$(q "create_slice 64 40G")
echo "== in slice $s (64 SMs), under gpushare-control and NVIDIA MPS"
rm -f /tmp/gs-probe.log
for m in N E A W; do GPUSHARE_LOG=/tmp/gs-probe.log timeout 60 gpushare run --slice "$s" -- $d/tpcmask-probe $m; done
echo "== the interposer's log"; grep -h "callback\|registered" /tmp/gs-probe.log | cut -c1-200 | head -8
q quit > /dev/null
