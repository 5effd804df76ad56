#!/usr/bin/env bash
# elastic-table.sh: on the GPU machine, every row of the elastic-SM table
# (issue 11, docs/elastic.md) side by side in one run, gpushare-control
# supervising NVIDIA MPS, two 64-SM slices a and b (TPC masks):
#  1 a busy beside b idle, kernels/s of smid_shared vs one process alone on
#    the whole GPU (no MPS);
#  2 both busy, isolated, each vs alone in its slice;
#  3 both busy, best-effort, the sum vs two unlimited MPS processes, each vs
#    alone in its slice;
#  4 an idle owner starting again: a victim's kernel every 20 ms in b beside
#    a borrower in a, p99 vs alone, and the borrower's kernel time;
#  5 a latency-critical victim (memory-bound, b) beside a memory-bound
#    aggressor (a): isolated neighbours, a best-effort at its floor, a
#    -priority low;
#  6 weights 3:1 between two over-committed 128-SM slices, the share over 10 s;
#  7 what a launch costs (bench/device/launch: CPU time of the calls), a
#    plain MPS client vs a program in a masked slice, 9 interleaved rounds,
#    medians;
#  8 PyTorch's training step and a CUDA-graph replay in a lending slice vs
#    native (no MPS) and vs a plain MPS client;
# then PyTorch training in a and an inference loop in b under each policy,
# and turns inside a slice (-timeslice 50).
. bench/device/control-env.sh
rate() { awk '{ print $NF }'; }
ratio() { awk -v x="$1" -v y="$2" 'BEGIN { printf "%.3f", x / y }'; }
med() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
to() { timeout 120 "$@"; }
r() { to gpushare run --slice "$1" -- $d/smid_shared "${2:-3}"; }
pol() { q "set_slice_sm_policy $a $1" > /dev/null; q "set_slice_sm_policy $b ${2:-$1}" > /dev/null; }
field() { tr ' ' '\n' | awk -v k="$1" 'p { print; exit } $0 == k { p = 1 }'; }
gpushare-smi -i 0 -mig 1 > /dev/null
gpushare-control -d; echo "gpushare-control -d: exit $?"
grep -E "SMs confined" /tmp/gs-ctl-log/control.log
a=$(q "create_slice 64 30G") b=$(q "create_slice 64 30G")
r "$a" 0.5 > /dev/null; r "$b" 0.5 > /dev/null # MPS warm

echo "=== 1-3: kernels/s of smid_shared"
native=$(to $d/smid_shared 3 | rate)
CUDA_MPS_PIPE_DIRECTORY=$nv to $d/smid_shared 3 > /tmp/m1 & CUDA_MPS_PIPE_DIRECTORY=$nv to $d/smid_shared 3 > /tmp/m2; wait
m1=$(rate < /tmp/m1) m2=$(rate < /tmp/m2)
echo "alone_native $native mps_nolimit_2proc $m1 $m2"
lend=$(r "$a" | rate)
echo "row1 busy_a_beside_idle_b $lend vs_native $(ratio "$lend" "$native")"
pol -isolated
ia=$(r "$a" | rate) ib=$(r "$b" | rate)
r "$a" > /tmp/a & r "$b" > /tmp/b; wait
echo "row2 isolated alone $ia $ib both $(rate < /tmp/a) $(rate < /tmp/b) each_vs_alone $(ratio "$(rate < /tmp/a)" "$ia") $(ratio "$(rate < /tmp/b)" "$ib")"
pol -best-effort
r "$a" > /tmp/a & r "$b" > /tmp/b; wait
ea=$(rate < /tmp/a) eb=$(rate < /tmp/b)
echo "row3 best_effort both $ea $eb sum_vs_mps_nolimit $(ratio "$(awk -v x="$ea" -v y="$eb" 'BEGIN { print x + y }')" "$(awk -v x="$m1" -v y="$m2" 'BEGIN { print x + y }')") each_vs_alone_in_slice $(ratio "$ea" "$ia") $(ratio "$eb" "$ib")"

echo "=== 4: an idle owner starting again (victim: a 16-block kernel every 20 ms in b)"
pol -shared
alone=$(to gpushare run --slice "$b" -- $d/victim work 20 200)
to gpushare run --slice "$a" -- $d/aggressor compute 7 > /tmp/agg & sleep 1.5
beside=$(to gpushare run --slice "$b" -- $d/victim work 20 200); wait
kps=$(rate < /tmp/agg)
echo "row4 victim_alone $alone beside_borrower $beside borrower_kernel_us $(awk -v k="$kps" 'BEGIN { printf "%.0f", 1e6 / k }') p99_vs_alone $(ratio "$(echo "$beside" | field p99_us)" "$(echo "$alone" | field p99_us)")"

echo "=== 5: a latency-critical victim (reads 32 MiB per kernel, b) beside a memory-bound aggressor (a)"
beside() { # LABEL: the victim while the aggressor copies in a
	to gpushare run --slice "$a" -- $d/aggressor mem 5 > /tmp/agg & local agg=$!
	sleep 1.5; local out; out=$(to gpushare run --slice "$b" -- $d/victim mem); wait $agg
	echo "row5 $1 $out $(cat /tmp/agg) p50_vs_alone $(ratio "$(echo "$out" | field p50_us)" "$(echo "$valone" | field p50_us)") p99_vs_alone $(ratio "$(echo "$out" | field p99_us)" "$(echo "$valone" | field p99_us)")"
}
for round in 1 2; do
	pol -isolated
	valone=$(to gpushare run --slice "$b" -- $d/victim mem)
	echo "row5 round $round victim_alone $valone"
	beside "round $round isolated_neighbours"
	q "set_slice_sm_policy $b -shared -priority critical" > /dev/null
	q "set_slice_sm_policy $a -best-effort" > /dev/null
	beside "round $round critical_beside_best_effort_floor16"
	q "set_slice_sm_policy $a -best-effort -floor 2" > /dev/null
	beside "round $round critical_beside_best_effort_floor2"
	q "set_slice_sm_policy $a -best-effort -priority low" > /dev/null
	beside "round $round critical_beside_low"
	q "set_slice_sm_policy $a -shared -priority normal" > /dev/null
done
echo "aggressor_mem_alone_in_a $(to gpushare run --slice "$a" -- $d/aggressor mem 2)"
q "set_slice_sm_policy $b -shared -priority normal" > /dev/null

echo "=== 6: weights 3:1 between two over-committed 128-SM slices on the same SMs (10 s)"
q "destroy_slice $a" > /dev/null; q "destroy_slice $b" > /dev/null
wa=$(q "create_slice 128 40G -weight 3") wb=$(q "create_slice 128 40G -overcommit")
r "$wa" 0.5 > /dev/null; r "$wb" 0.5 > /dev/null
r "$wa" 10 > /tmp/a & sleep 0.2; r "$wb" 10 > /tmp/b; wait
echo "row6 weights_3_1 $(rate < /tmp/a) $(rate < /tmp/b) share_a $(awk -v x="$(rate < /tmp/a)" -v y="$(rate < /tmp/b)" 'BEGIN { printf "%.3f", x / (x + y) }')"
q "set_slice_sm_policy $wb -weight 3" > /dev/null
r "$wa" 5 > /tmp/a & r "$wb" 5 > /tmp/b; wait
echo "row6 weights_3_3 $(rate < /tmp/a) $(rate < /tmp/b) share_a $(awk -v x="$(rate < /tmp/a)" -v y="$(rate < /tmp/b)" 'BEGIN { printf "%.3f", x / (x + y) }')"
q "destroy_slice $wa" > /dev/null; q "destroy_slice $wb" > /dev/null
a=$(q "create_slice 64 30G") b=$(q "create_slice 64 30G")

echo "=== 7: launch cost, ns per call (CPU time of the calls), 9 interleaved rounds"
for round in 1 2 3 4 5 6 7 8 9; do
	p=$(CUDA_MPS_PIPE_DIRECTORY=$nv to $d/launch) s=$(to gpushare run --slice "$a" -- $d/launch)
	echo "round $round mps $p | slice $s"
	echo "$p" | field runtime_launch_ns >> /tmp/lm; echo "$s" | field runtime_launch_ns >> /tmp/ls
	echo "$p" | field driver_launch_ns >> /tmp/dm; echo "$s" | field driver_launch_ns >> /tmp/ds
done
echo "row7 runtime_launch_median mps $(med < /tmp/lm) slice $(med < /tmp/ls) added_ns $(awk -v x="$(med < /tmp/ls)" -v y="$(med < /tmp/lm)" 'BEGIN { printf "%.1f", x - y }')"
echo "row7 driver_launch_median mps $(med < /tmp/dm) slice $(med < /tmp/ds) added_ns $(awk -v x="$(med < /tmp/ds)" -v y="$(med < /tmp/dm)" 'BEGIN { printf "%.1f", x - y }')"
rm -f /tmp/lm /tmp/ls /tmp/dm /tmp/ds

echo "=== 8: PyTorch step and CUDA-graph replay: native | plain MPS client | slice a shared (b idle: a borrows) | a isolated, two rounds"
for round in 1 2; do
	pol -shared
	echo "round $round native $(to python3 bench/device/torch_pair.py step | tail -1) | mps $(CUDA_MPS_PIPE_DIRECTORY=$nv to python3 bench/device/torch_pair.py step | tail -1) | lending $(to gpushare run --slice "$a" -- python3 bench/device/torch_pair.py step | tail -1) | isolated $(pol -isolated; to gpushare run --slice "$a" -- python3 bench/device/torch_pair.py step | tail -1)"
done

echo "=== PyTorch training in a, inference (a batch-8 forward every 5 ms) in b, under each policy"
echo "alone: train_in_a $(to gpushare run --slice "$a" -- python3 bench/device/torch_pair.py train 6 | tail -1) infer_in_b $(to gpushare run --slice "$b" -- python3 bench/device/torch_pair.py infer 5 | tail -1)"
pair() { # LABEL
	to gpushare run --slice "$a" -- python3 bench/device/torch_pair.py train 14 > /tmp/train &
	local t=$!
	for _ in $(seq 100); do grep -q ready /tmp/train 2> /dev/null && break; sleep 0.1; done
	local infer; infer=$(to gpushare run --slice "$b" -- python3 bench/device/torch_pair.py infer 5 | tail -1)
	wait $t # the training's gpushare run, so no slice is in use after
	echo "$1 $infer $(tail -1 /tmp/train)"
}
pol -shared; pair "policy shared"
pol -isolated; pair "policy isolated"
pol -best-effort; pair "policy best-effort"
q "set_slice_sm_policy $a -best-effort" > /dev/null; q "set_slice_sm_policy $b -shared -priority critical" > /dev/null
pair "policy train_best_effort infer_critical"
q "set_slice_sm_policy $a -best-effort -priority low" > /dev/null
pair "policy train_low infer_critical"

echo "=== turns inside a 64-SM slice (-timeslice 50): two programs, each vs alone"
q "destroy_slice $a"; q "destroy_slice $b"
t=$(q "create_slice 64 30G -timeslice 50")
r "$t" 0.5 > /dev/null
echo "alone_in_timeslice $(r "$t" 5 | rate)"
r "$t" 5 > /tmp/a & r "$t" 5 > /tmp/b; wait
echo "timeslice_two $(rate < /tmp/a) $(rate < /tmp/b)"
q list_slices
grep -E "pause|turns of" /tmp/gs-ctl-log/*.log | tail -3
