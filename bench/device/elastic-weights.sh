#!/usr/bin/env bash
# elastic-weights.sh: on the GPU machine, with gpushare-control supervising
# NVIDIA MPS: weights between two over-committed 128-SM slices on the same
# SMs (kernels/s of smid_shared over 10 s each, both at once: 3:1 should
# give a share of 75/25, equal weights 50/50; also with a kernel of 16 waves), and turns inside a slice
# (-timeslice 50: two programs in one slice, each against alone in it, and
# what a launch costs in a slice with turns against one without). list_sms
# while both weighted slices run shows the masks their launches get.
. bench/device/control-env.sh
rate() { awk '{ print $NF }'; }
r() { gpushare run --slice "$1" -- $d/smid_shared "${2:-10}"; }
gpushare-smi -i 0 -mig 1 > /dev/null
gpushare-control -d; echo "gpushare-control -d: exit $?"
a=$(q "create_slice 128 40G -weight 3") b=$(q "create_slice 128 40G -overcommit")
q list_slices
r "$a" 0.5 > /dev/null; r "$b" 0.5 > /dev/null # MPS warm
echo "=== weights: each alone, then both at once (10 s)"
echo "alone_a $(r "$a" 3 | rate) alone_b $(r "$b" 3 | rate)"
# a kernel of 16 waves (8448 blocks), whose rate follows its SMs
wr() { gpushare run --slice "$1" -- $d/smid_shared "${2:-10}" 8448; }
echo "alone_a_16_waves $(wr "$a" 3 | rate)"
wr "$a" > /tmp/a & sleep 0.2; wr "$b" > /tmp/b; wait
echo "16_waves weights_3_1 $(rate < /tmp/a) $(rate < /tmp/b) share_a $(awk -v x="$(rate < /tmp/a)" -v y="$(rate < /tmp/b)" 'BEGIN { printf "%.3f", x / (x + y) }')"
[ "${WAVES_ONLY:-0}" = 1 ] && exit 0 # the 16-wave share alone
for round in 1 2; do
	r "$a" > /tmp/a & sleep 0.2; r "$b" > /tmp/b & sleep 4; q list_sms; wait
	echo "round $round weights_3_1 $(rate < /tmp/a) $(rate < /tmp/b) share_a $(awk -v x="$(rate < /tmp/a)" -v y="$(rate < /tmp/b)" 'BEGIN { printf "%.3f", x / (x + y) }')"
done
q "set_slice_sm_policy $b -weight 3" > /dev/null
r "$a" > /tmp/a & r "$b" > /tmp/b; wait
echo "weights_3_3 $(rate < /tmp/a) $(rate < /tmp/b) share_a $(awk -v x="$(rate < /tmp/a)" -v y="$(rate < /tmp/b)" 'BEGIN { printf "%.3f", x / (x + y) }')"
q "destroy_slice $a" > /dev/null; q "destroy_slice $b" > /dev/null
echo "=== turns inside a 64-SM slice (-timeslice 50): two programs, each vs alone"
t=$(q "create_slice 64 40G -timeslice 50") u=$(q "create_slice 64 40G")
r "$t" 0.5 > /dev/null; r "$u" 0.5 > /dev/null
echo "alone_in_timeslice $(r "$t" 5 | rate) alone_in_plain $(r "$u" 5 | rate)"
for round in 1 2; do
	r "$t" > /tmp/a & r "$t" > /tmp/b; wait
	echo "round $round timeslice_two $(rate < /tmp/a) $(rate < /tmp/b)"
	r "$u" > /tmp/a & r "$u" > /tmp/b; wait
	echo "round $round mps_two_in_plain $(rate < /tmp/a) $(rate < /tmp/b)"
done
echo "=== launch cost: alone in the timeslice slice (holds the turn) vs the plain slice, ns per call"
for round in 1 2 3; do
	echo "round $round plain $(gpushare run --slice "$u" -- $d/launch) | turns $(gpushare run --slice "$t" -- $d/launch)"
done
grep -E "turns of|TPC masks" /tmp/gs-ctl-log/*.log | tail -3
