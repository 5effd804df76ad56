#!/usr/bin/env bash
# elastic-critical.sh: on the GPU machine, a latency-critical victim (slice b,
# memory-bound: it reads 32 MiB per kernel) beside a memory-bound
# best-effort aggressor (slice a), for floors of 8, 4 and 2 SMs (whole TPCs), against
# the victim alone and beside the aggressor in an isolated slice; the
# aggressor's GB/s in each case. Two rounds, interleaved.
. bench/device/control-env.sh
gpushare-smi -i 0 -mig 1 > /dev/null
gpushare-control -d; echo "gpushare-control -d: exit $?"
a=$(q "create_slice 64 40G") b=$(q "create_slice 64 40G")
v() { gpushare run --slice "$b" -- $d/victim mem; }
beside() { # LABEL: the victim while the aggressor copies in a
	gpushare run --slice "$a" -- $d/aggressor mem 5 > /tmp/agg & local agg=$!
	sleep 1.5; local out; out=$(v); wait $agg
	echo "$1 $out $(cat /tmp/agg)"
}
v > /dev/null # MPS warm
for round in 1 2; do
	q "set_slice_sm_policy $a -isolated" > /dev/null; q "set_slice_sm_policy $b -isolated" > /dev/null
	echo "round $round victim_mem_alone $(v)"
	beside "round $round isolated_neighbours"
	q "set_slice_sm_policy $b -shared -priority critical" > /dev/null
	for f in 8 4 2; do
		q "set_slice_sm_policy $a -best-effort -floor $f" > /dev/null
		beside "round $round critical_beside_best_effort_floor$f"
	done
done
q list_slices
