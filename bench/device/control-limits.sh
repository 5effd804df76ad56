#!/usr/bin/env bash
# control-limits.sh: on the GPU machine, gpushare-control supervising NVIDIA
# MPS (-multiuser-server): (1) whether NVIDIA's MPS takes a client's pinned
# memory limit from CUDA_MPS_PINNED_DEVICE_MEM_LIMIT set in the process
# before cuInit, by UUID and by ordinal; (2) gpushare-control's default
# limits reaching clients in slices through libgpushare.so (memory, then the
# active thread percentage against a 64-SM green context); (3) two users'
# programs in two slices at once, registered; (4) kill -9 of gpushare-control
# with a program running: the new daemon adopts NVIDIA's MPS and the program
# registers again; (5) quit stops both daemons.
. bench/device/control-env.sh
uuid=$(nvidia-smi --query-gpu=uuid --format=csv,noheader | head -1)
gpushare-smi -i 0 -mig 1 > /dev/null
gpushare-smi mig -cgi 64sm.32gb,64sm.32gb -C > /dev/null
s0=$(gpushare-smi -L | awk '/Device  0/ { print substr($NF, 1, length($NF) - 1) }')
s1=$(gpushare-smi -L | awk '/Device  1/ { print substr($NF, 1, length($NF) - 1) }')
gpushare-control -d; echo "gpushare-control -d: exit $?"

echo "== (1) NVIDIA MPS and CUDA_MPS_PINNED_DEVICE_MEM_LIMIT (no gpushare in the process)"
echo "no limit:        $(CUDA_MPS_PIPE_DIRECTORY=$nv $d/fill)"
echo "by UUID 2048M:   $(CUDA_MPS_PIPE_DIRECTORY=$nv CUDA_MPS_PINNED_DEVICE_MEM_LIMIT=$uuid=2048M $d/fill)"
echo "by ordinal 2048M: $(CUDA_MPS_PIPE_DIRECTORY=$nv CUDA_MPS_PINNED_DEVICE_MEM_LIMIT=0=2048M $d/fill)"

echo "== (2) gpushare-control's defaults reach clients in slices"
echo "slice 32 GB, no default:            $(gpushare run --slice $s0 -- $d/fill)"
printf 'set_default_device_pinned_mem_limit 0 4G\n' | gpushare-control
echo "slice 32 GB, default 4G:            $(GPUSHARE_LOG=stderr gpushare run --slice $s0 -- $d/fill 2> /tmp/fill.log)"
grep -h "NVIDIA MPS limits\|registered" /tmp/fill.log | cut -c1-200
echo "alone, 64-SM slice, 100%:           $(gpushare run --slice $s0 -- $d/smid_shared 1)"
printf 'set_default_active_thread_percentage 25\n' | gpushare-control
echo "64-SM slice, default 25% (33 SMs):  $(gpushare run --slice $s0 -- $d/smid_shared 1)"
echo "no slice, default 25% env only:     $(CUDA_MPS_PIPE_DIRECTORY=$nv CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=25 $d/smid_shared 1)"
printf 'set_default_active_thread_percentage 100\n' | gpushare-control

echo "== (3) two users in two slices at once"
echo "alone root:      $(gpushare run --slice $s0 -- $d/smid_shared 2)"
echo "alone nobody:    $(as_nobody $PWD/build/bin/gpushare run --slice $s1 -- $d/smid_shared 2 2>&1)"
gpushare run --slice $s0 -- $d/smid_shared 3 > /tmp/c_a &
as_nobody $PWD/build/bin/gpushare run --slice $s1 -- $d/smid_shared 3 > /tmp/c_b 2>&1 &
sleep 1.5
echo "--- list_clients while both run"; echo list_clients | gpushare-control
wait
echo "together root:   $(cat /tmp/c_a)"
echo "together nobody: $(cat /tmp/c_b)"

echo "== (4) kill -9 of gpushare-control with a program running"
gpushare run --slice $s0 -- $d/smid_shared 6 > /tmp/c_a &
sleep 1.5
echo "--- list_clients before"; echo list_clients | gpushare-control
kill -9 "$(cat /tmp/gs-ctl/gpushare-control.pid)"; sleep 0.3
gpushare-control -d; echo "restart: exit $?"; sleep 1
echo "--- list_clients after the restart"; echo list_clients | gpushare-control
echo "--- NVIDIA MPS still the same: get_server_list through gpushare-control: $(echo get_server_list | gpushare-control | tr '\n' ' ')"
wait
echo "program across the restart: $(cat /tmp/c_a)"
echo quit | gpushare-control; echo "quit: exit $?"
ls /tmp/gs-ctl 2>&1; pgrep -a nvidia-cuda-mps || echo "no NVIDIA MPS process left"
echo "--- control.log"; grep -v 'Cmd:\|Accepting\|UI closed' /tmp/gs-ctl-log/control.log | cut -c1-160 | tail -30
