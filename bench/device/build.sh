#!/usr/bin/env bash
# build.sh: builds gpushare and the device programs on the GPU machine.
set -eu
export PATH=/usr/local/nvidia/bin:/usr/local/cuda/bin:$PATH
make -j16 runtime > /dev/null
d=build/bench; mkdir -p $d; src=bench/device
nvcc -O2 -arch=sm_90 -std=c++17 -cudart static -o $d/smid_static $src/smid.cu
nvcc -O2 -arch=sm_90 -std=c++17 -cudart shared -o $d/smid_shared $src/smid.cu
for p in victim aggressor; do nvcc -O2 -arch=sm_90 -std=c++17 -cudart shared -o $d/$p $src/$p.cu; done
nvcc -O2 -arch=sm_90 -std=c++17 -cudart shared -o $d/launch $src/launch.cu -lcuda
nvcc -O2 -arch=sm_90 -std=c++17 -cudart shared -o $d/maskcost $src/maskcost.cu -lcuda
nvcc -O2 -arch=sm_90 -std=c++17 -cudart shared -o $d/launchrate $src/launchrate.cu
nvcc -O2 -std=c++17 -o $d/drvapi $src/drvapi.cpp -lcuda
nvcc -O2 -std=c++17 -o $d/fill $src/fill.cpp -lcuda
nvcc -arch=sm_90 -ptx -o $d/smid_kernel.ptx $src/smid_kernel.cu
nvcc -O2 -std=c++17 -o $d/hold $src/hold.cpp -lcuda
nvcc -arch=sm_90 -ptx -o $d/hold_kernel.ptx $src/hold_kernel.cu
cupti=$(dirname "$(find /usr/local/cuda*/ -name 'libcupti.so' 2> /dev/null | head -1)")
cupti_inc=$(dirname "$(find /usr/local/cuda*/ -name cupti.h 2> /dev/null | head -1)")
nvcc -O2 -arch=sm_90 -std=c++17 -cudart shared -I"$cupti_inc" -o $d/cupti-probe $src/cupti-probe.cu -L"$cupti" -Xlinker -rpath="$cupti" -lcupti -lcuda ||
	echo "build.sh: no cupti-probe (CUPTI not found)"
