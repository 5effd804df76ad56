#!/usr/bin/env bash
# multiuser.sh: on the GPU machine, a probe for gpushare-control: how NVIDIA
# MPS (driver 580) treats two Linux users at once, plain and with
# -multiuser-server, with gpushare slices of 64 SMs for each user: whether
# both run side by side, what the daemon lists, what its logs say.
set -u
export PATH=/usr/local/nvidia/bin:/usr/local/cuda/bin:$PWD/build/bin:$PATH
d=$PWD/build/bench
state=$(mktemp -d); chmod 0777 "$state"; chmod -R o+rX "$PWD" 2>/dev/null
export GPUSHARE_STATE_DIR=$state
gpushare-smi -i 0 -mig 1 > /dev/null
gpushare-smi mig -cgi 64sm.32gb,64sm.32gb -C > /dev/null
s0=$(gpushare-smi -L | awk '/Device  0/ { print substr($NF, 1, length($NF) - 1) }')
s1=$(gpushare-smi -L | awk '/Device  1/ { print substr($NF, 1, length($NF) - 1) }')
lib=$PWD/build/lib/libgpushare.so
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups env HOME=/tmp "$@"; }
echo "=== nvidia-cuda-mps-control -h"; nvidia-cuda-mps-control -h 2>&1 | head -40
for mode in plain multiuser; do
	pipe=/tmp/gs-mu-$mode logs=/tmp/gs-mu-$mode-log
	mkdir -p $pipe $logs; chmod 0755 $pipe
	flag=""; [ $mode = multiuser ] && flag=-multiuser-server
	CUDA_MPS_PIPE_DIRECTORY=$pipe CUDA_MPS_LOG_DIRECTORY=$logs nvidia-cuda-mps-control -d $flag
	echo "=== $mode: started (exit $?)"
	export CUDA_MPS_PIPE_DIRECTORY=$pipe
	echo "root alone:   $(GPUSHARE_SLICE=$s0 LD_PRELOAD=$lib timeout 60 $d/smid_shared 2)"
	echo "nobody alone: $(as_nobody GPUSHARE_STATE_DIR=$state GPUSHARE_SLICE=$s1 LD_PRELOAD=$lib CUDA_MPS_PIPE_DIRECTORY=$pipe timeout 60 $d/smid_shared 2 2>&1)"
	t0=$(date +%s.%N)
	(GPUSHARE_SLICE=$s0 LD_PRELOAD=$lib timeout 60 $d/smid_shared 3 > /tmp/mu_a; date +%s.%N > /tmp/mu_a_end) &
	sleep 0.5
	as_nobody GPUSHARE_STATE_DIR=$state GPUSHARE_SLICE=$s1 LD_PRELOAD=$lib CUDA_MPS_PIPE_DIRECTORY=$pipe timeout 60 $d/smid_shared 3 > /tmp/mu_b 2>&1 &
	sleep 1.5
	echo "servers while both run: $(echo get_server_list | nvidia-cuda-mps-control | tr '\n' ' ')"
	echo "ps while both run:"; echo ps | nvidia-cuda-mps-control
	wait
	t1=$(date +%s.%N)
	echo "root together:   $(cat /tmp/mu_a)"
	echo "nobody together: $(cat /tmp/mu_b)"
	echo "wall for both: $(python3 -c "print(round($t1 - $t0, 2))") s (each runs 3 s + start)"
	echo quit | nvidia-cuda-mps-control; echo "quit exit $?"
	unset CUDA_MPS_PIPE_DIRECTORY
	echo "--- control.log ($mode)"; grep -v 'Cmd:\|Accepting\|NEW UI\|UI closed' $logs/control.log | cut -c1-160 | tail -25
done
