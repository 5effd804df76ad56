# shellcheck shell=bash disable=SC2034
# hold-env.sh: sourced by the device scripts that move a held program's
# memory (suspend.sh, migrate.sh), after control-env.sh and with sim()
# defined: hold (the driver-API program) and mod (its kernel), built here
# for the simulated GPU, from build/bench (bench/device/build.sh) on a real
# one; exits where either is missing.
if sim; then
	hold=$PWD/build/bench-sim/hold mod=$PWD/build/bench-sim/hold_sim.mod cuda_inc=
	for f in /usr/local/cuda/include /usr/local/cuda-*/include; do
		[ -e "$f/cuda.h" ] && { cuda_inc=$f; break; }
	done
	mkdir -p build/bench-sim
	printf 'gpushare-sim-module\nkernel hold_work 125\n' > "$mod"
	if ! g++ -O2 -std=c++17 -I"$cuda_inc" -o "$hold" bench/device/hold.cpp -Lbuild/lib/gpushare-sim -lcuda -lpthread; then
		echo "cannot build hold for the simulated GPU (cuda.h in $cuda_inc?)"
		exit 1
	fi
else
	hold=$d/hold mod=$d/hold_kernel.ptx
fi
for f in "$hold" "$mod" build/bin/gpushare-control build/lib/libgpushare.so; do
	[ -e "$f" ] || { echo "missing $f: run bench/device/build.sh first"; exit 1; }
done
