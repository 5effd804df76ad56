#!/usr/bin/env bash
# elastic-launch.sh: on the GPU machine, what a launch costs under the
# supervised NVIDIA MPS (bench/device/launch, ns per call, best of 7 loops
# each): a plain MPS client, a program in a 64-SM slice confined by TPC
# masks, and one in the same slice confined by a green context (it asks
# for fewer SMs, CUDA_DEVICE_SM_LIMIT=40, which keeps green contexts). Five rounds,
# interleaved.
. bench/device/control-env.sh
gpushare-smi -i 0 -mig 1 > /dev/null
gpushare-control -d; echo "gpushare-control -d: exit $?"
a=$(q "create_slice 64 40G")
gpushare run --slice "$a" -- $d/launch > /dev/null # MPS warm
for round in 1 2 3 4 5; do
	echo "round $round mps $(CUDA_MPS_PIPE_DIRECTORY=$nv $d/launch) | masks $(gpushare run --slice "$a" -- $d/launch) | green $(CUDA_DEVICE_SM_LIMIT=40 gpushare run --slice "$a" -- $d/launch)"
done
GPUSHARE_LOG=stderr CUDA_DEVICE_SM_LIMIT=40 gpushare run --slice "$a" -- $d/launch 2>&1 | grep -E "green|TPC" | head -2
