#!/usr/bin/env bash
# launch-masks.sh: on the GPU machine, what TPC masks add to a launch, with
# no NVIDIA MPS in the way (under MPS a launch costs about 3 us and its
# rounds spread by a microsecond: elastic-launch.sh). gpushare-control runs
# with GPUSHARE_NO_MPS=1; bench/device/launch (ns per call, the median of
# 400 batches of 256) runs, interleaved over ROUNDS rounds (default 15):
#   native   no interposer
#   preload  libgpushare.so with a memory limit only: the wrappers, no masks
#   masks    in a 64-SM slice confined by TPC masks (the launch callback
#            writes the slice's mask into every launch's descriptor)
#   traced   the same slice, traced (gpushare run --trace): issue 13's cost
#            without MPS
# and prints the median over rounds of each, and of masks - preload and
# traced - masks taken round by round. Every program is pinned to one CPU
# (CPU, default 2: taskset), which narrows the spread between processes;
# then bench/device/maskcost (the mechanism in one process, callback on and
# off between batches).
. bench/device/control-env.sh
export GPUSHARE_NO_MPS=1
lib=$PWD/build/lib/libgpushare.so
rounds=${ROUNDS:-15}
pin="taskset -c ${CPU:-2}"
gpushare-smi -i 0 -mig 1 > /dev/null
gpushare-control -d; echo "gpushare-control -d: exit $?"
a=$(q "create_slice 64 40G")
gpushare run --no-mps --slice "$a" -- $d/launch > /dev/null # warm
GPUSHARE_LOG=stderr gpushare run --no-mps --slice "$a" -- $d/launch 2>&1 | grep -iE 'TPC|green|mask' | head -3
t=$(mktemp -d)
for round in $(seq "$rounds"); do
	n=$($pin $d/launch) p=$(LD_PRELOAD=$lib GPUSHARE_MEMORY_LIMIT=70G $pin $d/launch)
	m=$($pin gpushare run --no-mps --slice "$a" -- $d/launch)
	tr=$($pin gpushare run --no-mps --trace "$t/trace-$round.json" --slice "$a" -- $d/launch)
	echo "round $round native $n | preload $p | masks $m | traced $tr"
done | tee "$t/rounds"
# fields: runtime_launch_ns is $3 of each part, driver_launch_ns $5
awk -F'|' '
function med(a, n,   i, j, x) { for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x }
	return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
{ for (k = 1; k <= 4; k++) { split($k, f, " "); o = (k == 1) ? 2 : 0; rt[k, NR] = f[o + 3]; dr[k, NR] = f[o + 5] } }
END { n = NR; split("native preload masks traced", name, " ")
	for (k = 1; k <= 4; k++) { for (i = 1; i <= n; i++) { x[i] = rt[k, i]; y[i] = dr[k, i] }
		printf "median %-8s runtime %.1f driver %.1f\n", name[k], med(x, n), med(y, n) }
	for (i = 1; i <= n; i++) { x[i] = rt[3, i] - rt[2, i]; y[i] = dr[3, i] - dr[2, i] }
	printf "masks_minus_preload runtime %.1f driver %.1f (median of %d round differences)\n", med(x, n), med(y, n), n
	for (i = 1; i <= n; i++) { x[i] = rt[4, i] - rt[3, i]; y[i] = dr[4, i] - dr[3, i] }
	printf "traced_minus_masks runtime %.1f driver %.1f (median of %d round differences)\n", med(x, n), med(y, n), n
}' "$t/rounds"
for _ in 1 2; do echo "maskcost (one process, pinned): $($pin $d/maskcost)"; done
