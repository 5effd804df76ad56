/* swap-alloc.c: what backing an allocation with virtual memory management
 * (the interposer's swap, GPUSHARE_SWAP=on) costs per cuMemAlloc + cuMemFree
 * pair, against the same pair without it: loops of allocations of a few
 * sizes, through whatever libcuda.so.1 the loader finds (NVIDIA's or the
 * simulated one). Run it with and without LD_PRELOAD=libgpushare.so;
 * bench/swap-alloc.sh does, interleaved. Prints the best us per pair over 5
 * rounds for each size. */
#include "gs-cuda.h"

#include <dlfcn.h>
#include <stdio.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(void)
{
	void *lib = dlopen("libcuda.so.1", RTLD_NOW);
	if (!lib)
		return 1;
	gs_cuGetProcAddress_v2_t gpa = (gs_cuGetProcAddress_v2_t)dlsym(lib, "cuGetProcAddress_v2");
	CUresult (*init)(unsigned);
	CUresult (*retain)(CUcontext *, CUdevice);
	CUresult (*set)(CUcontext);
	CUresult (*alloc)(CUdeviceptr *, size_t);
	CUresult (*release)(CUdeviceptr);
	CUdriverProcAddressQueryResult st;
	gpa("cuInit", (void **)&init, 12000, 0, &st);
	gpa("cuDevicePrimaryCtxRetain", (void **)&retain, 12000, 0, &st);
	gpa("cuCtxSetCurrent", (void **)&set, 12000, 0, &st);
	gpa("cuMemAlloc", (void **)&alloc, 12000, 0, &st);
	gpa("cuMemFree", (void **)&release, 12000, 0, &st);
	CUcontext c;
	if (init(0) || retain(&c, 0) || set(c))
		return 1;
	static const size_t sizes[] = { 64 << 10, 2 << 20, 64 << 20, 1 << 30 };
	enum { N = 2000 };
	for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
		double best = 1e18;
		for (int r = 0; r < 5; r++) {
			CUdeviceptr p;
			double t0 = now();
			for (int i = 0; i < N; i++)
				if (alloc(&p, sizes[k]) || release(p))
					return 2;
			double us = (now() - t0) / N / 1e3;
			best = us < best ? us : best;
		}
		printf("%s%zu KiB %.2f us", k ? "  " : "", sizes[k] >> 10, best);
	}
	printf("\n");
	return 0;
}
