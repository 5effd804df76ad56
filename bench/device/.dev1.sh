set -u
export PATH=/usr/local/nvidia/bin:/usr/local/cuda/bin:$PATH
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/gpu.txt
bash bench/device/build.sh > $OUT/build.log 2>&1 || { tail -20 $OUT/build.log; exit 1; }
cupti=$(dirname "$(find /usr/local/cuda*/ -name 'libcupti.so' 2> /dev/null | head -1)")
cupti_inc=$(dirname "$(find /usr/local/cuda*/ -name cupti.h 2> /dev/null | head -1)")
nvcc -O2 -arch=sm_90 -std=c++17 -cudart shared -I"$cupti_inc" -o build/bench/ckpt-callback bench/device/ckpt-callback.cu -L"$cupti" -Xlinker -rpath="$cupti" -lcupti -lcuda >> $OUT/build.log 2>&1
{ cat $OUT/gpu.txt; date -u; for s in NSELDK NSEDK NCX NSLDK; do echo "== steps $s"; timeout 60 build/bench/ckpt-callback $s; done; } > $OUT/ckpt-callback.txt 2>&1
cat $OUT/ckpt-callback.txt
mkdir -p $OUT/d
SUSPEND_OUT=$OUT/d SECTIONS=d BUDGET_S=200 timeout 240 bash bench/device/suspend.sh > $OUT/suspend-d-masks.txt 2>&1
grep -E "RESULT|FAIL|refus" $OUT/suspend-d-masks.txt | head -20
mkdir -p $OUT/c
GPUSHARE_CONTROL_SM_MASKS=off SUSPEND_OUT=$OUT/c SECTIONS=c BUDGET_S=240 timeout 280 bash bench/device/suspend.sh > $OUT/suspend-c-masksoff.txt 2>&1
grep -E "RESULT|FAIL" $OUT/suspend-c-masksoff.txt | head -20
cd $OUT && tar czf logs.tgz d c && rm -rf d c
