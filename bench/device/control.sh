#!/usr/bin/env bash
# control.sh: on the GPU machine: gpushare-control supervising NVIDIA MPS in
# -multiuser-server mode; root's and nobody's programs started with
# `gpushare run` in two 64-SM slices at once; both registered; quit stops
# both daemons.
set -u
export PATH=/usr/local/nvidia/bin:/usr/local/cuda/bin:$PWD/build/bin:$PATH
d=$PWD/build/bench
state=$(mktemp -d); chmod 0777 "$state"; chmod -R o+rX "$PWD" 2>/dev/null
export GPUSHARE_STATE_DIR=$state GPUSHARE_PIPE_DIRECTORY=/tmp/gs-ctl GPUSHARE_LOG_DIRECTORY=/tmp/gs-ctl-log
unset CUDA_MPS_PIPE_DIRECTORY
trap 'echo quit | gpushare-control > /dev/null 2>&1; CUDA_MPS_PIPE_DIRECTORY=/tmp/gs-ctl/nvidia-mps nvidia-cuda-mps-control <<< quit > /dev/null 2>&1' EXIT
gpushare-smi -i 0 -mig 1 > /dev/null
gpushare-smi mig -cgi 64sm.32gb,64sm.32gb -C > /dev/null
s0=$(gpushare-smi -L | awk '/Device  0/ { print substr($NF, 1, length($NF) - 1) }')
s1=$(gpushare-smi -L | awk '/Device  1/ { print substr($NF, 1, length($NF) - 1) }')
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=/tmp GPUSHARE_STATE_DIR=$state GPUSHARE_PIPE_DIRECTORY=/tmp/gs-ctl "$@"; }
gpushare-control -d; echo "gpushare-control -d: exit $?"
ls -l /tmp/gs-ctl /tmp/gs-ctl/nvidia-mps
echo "alone root:   $(gpushare run --slice $s0 -- $d/smid_shared 2)"
echo "alone nobody: $(as_nobody $PWD/build/bin/gpushare run --slice $s1 -- $d/smid_shared 2 2>&1)"
gpushare run --slice $s0 -- $d/smid_shared 3 > /tmp/c_a &
as_nobody $PWD/build/bin/gpushare run --slice $s1 -- $d/smid_shared 3 > /tmp/c_b 2>&1 &
sleep 1.5
echo "--- list_clients while both run"; echo list_clients | gpushare-control
echo "--- NVIDIA MPS ps while both run"; echo ps | CUDA_MPS_PIPE_DIRECTORY=/tmp/gs-ctl/nvidia-mps nvidia-cuda-mps-control
wait
echo "together root:   $(cat /tmp/c_a)"
echo "together nobody: $(cat /tmp/c_b)"
echo "--- list_slices"; echo list_slices | gpushare-control
echo "--- MPS's commands through gpushare-control (passed to NVIDIA MPS)"
printf 'set_default_active_thread_percentage 50\nget_default_active_thread_percentage\n' | gpushare-control
gpushare run --slice $s0 -- $d/smid_shared 4 > /tmp/c_a &
sleep 2
srv=$(echo get_server_list | gpushare-control); echo "get_server_list: $srv"
echo "get_active_thread_percentage $srv: $(echo "get_active_thread_percentage $srv" | gpushare-control)"
echo "get_client_list $srv: $(echo "get_client_list $srv" | gpushare-control | tr '\n' ' ')"
echo "device_query:"; echo device_query | gpushare-control
wait; echo "in slice under a 50% server: $(cat /tmp/c_a)"
echo quit | gpushare-control; echo "quit: exit $?"
ls /tmp/gs-ctl /tmp/gs-ctl/nvidia-mps 2>&1
echo "--- control.log"; grep -v 'Cmd:\|Accepting\|UI closed' /tmp/gs-ctl-log/control.log | cut -c1-150 | tail -20
