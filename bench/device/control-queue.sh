#!/usr/bin/env bash
# control-queue.sh: on the GPU machine, under gpushare-control supervising
# NVIDIA MPS: a second user arriving in a slice another user's program holds
# is queued (and runs once the first is done) or, for a slice made with
# -refuse, refused at once; the queue holds across a kill -9 of
# gpushare-control. Users in different slices still run at once.
. bench/device/control-env.sh
t0=$(date +%s%N)
at() { local ms=$((($(date +%s%N) - t0) / 1000000)); printf '%3d.%02d s' $((ms / 1000)) $((ms % 1000 / 10)); }
# job NAME CMD...: runs CMD, logging when it started and ended
job() { local name=$1; shift; echo "$(at) $name starts"; "$@" > /tmp/q_$name 2>&1; echo "$(at) $name ends: $(grep -v '^gpushare\[' /tmp/q_$name | tr '\n' ' ' | cut -c1-150)"; }
gpushare-smi -i 0 -mig 1 > /dev/null
gpushare-control -d
a=$(q "create_slice 64 32G"); b=$(q "create_slice 64 32G -refuse")
echo "a=$a (queue) b=$b (refuse)"

echo "=== a second user in slice a waits for the first"
job root-a gpushare run --slice "$a" -- $d/smid_shared 3 &
sleep 1
job nobody-a as_nobody $PWD/build/bin/gpushare run --slice "$a" -- $d/smid_shared 1 &
sleep 1
echo "$(at) list_clients:"; q list_clients
wait

echo "=== a second user in slice b is refused at once; slice a is free for nobody meanwhile"
job root-b gpushare run --slice "$b" -- $d/smid_shared 3 &
sleep 1
job nobody-b as_nobody $PWD/build/bin/gpushare run --slice "$b" -- $d/smid_shared 1
job nobody-a2 as_nobody $PWD/build/bin/gpushare run --slice "$a" -- $d/smid_shared 1
wait

echo "=== the queue holds across a kill -9 of gpushare-control"
job root-a gpushare run --slice "$a" -- $d/smid_shared 4 &
sleep 1
job nobody-a as_nobody $PWD/build/bin/gpushare run --slice "$a" -- $d/smid_shared 1 &
sleep 0.5
kill -9 "$(cat /tmp/gs-ctl/gpushare-control.pid)"; sleep 0.3; gpushare-control -d; echo "$(at) gpushare-control restarted"
sleep 2.5; echo "$(at) list_clients:"; q list_clients
wait
echo quit | gpushare-control; echo "quit: exit $?"
echo "--- control.log"; grep -v 'Cmd:\|Accepting\|UI closed\|^\[.*\] [0-9]\|PID  ' /tmp/gs-ctl-log/control.log | cut -c1-170 | grep -i "client\|queue\|pending\|refused\|may run\|Starting control\|restart\|Supervising" | tail -30
