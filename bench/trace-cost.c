/* trace-cost.c: the nanoseconds a launch costs on the CPU with and without
 * kernel traces (GPUSHARE_TRACE_FILE), on the simulated driver: batches of
 * 2000 launches of an empty kernel, the writer given time to catch up
 * between them (untimed), so that every timed launch is traced, not
 * dropped. Prints the median and best ns per launch over 100 batches. */
#include "gs-cuda.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(void)
{
	void *lib = dlopen("libcuda.so.1", RTLD_NOW);
	if (!lib || !dlsym(lib, "gpushare_simulated"))
		return 1; /* on NVIDIA's driver a launch's own cost hides ours: bench/device/ */
	gs_cuGetProcAddress_v2_t gpa = (gs_cuGetProcAddress_v2_t)dlsym(lib, "cuGetProcAddress_v2");
	CUdriverProcAddressQueryResult st;
	CUresult (*init)(unsigned), (*retain)(CUcontext *, CUdevice), (*set)(CUcontext), (*sync)(void);
	CUresult (*load)(CUmodule *, const void *), (*getf)(CUfunction *, CUmodule, const char *);
	CUresult (*launch)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, CUstream,
			   void **, void **);
	gpa("cuInit", (void **)&init, 12000, 0, &st);
	gpa("cuDevicePrimaryCtxRetain", (void **)&retain, 12000, 0, &st);
	gpa("cuCtxSetCurrent", (void **)&set, 12000, 0, &st);
	gpa("cuCtxSynchronize", (void **)&sync, 12000, 0, &st);
	gpa("cuModuleLoadData", (void **)&load, 12000, 0, &st);
	gpa("cuModuleGetFunction", (void **)&getf, 12000, 0, &st);
	gpa("cuLaunchKernel", (void **)&launch, 12000, 0, &st);
	CUcontext c;
	CUmodule m;
	CUfunction f;
	if (init(0) || retain(&c, 0) || set(c) || load(&m, "gpushare-sim-module\nkernel nop 0\n") || getf(&f, m, "nop"))
		return 1;
	enum { BATCHES = 100, N = 2000 };
	double ns[BATCHES];
	for (int b = 0; b < BATCHES; b++) {
		double t0 = now();
		for (int i = 0; i < N; i++)
			launch(f, 1, 1, 1, 32, 1, 1, 0, NULL, NULL, NULL);
		ns[b] = (now() - t0) / N;
		sync();
		struct timespec pause = { 0, 20000000 };
		nanosleep(&pause, NULL);
	}
	qsort(ns, BATCHES, sizeof *ns, cmp);
	printf("cuLaunchKernel_ns median %.1f best %.1f\n", ns[BATCHES / 2], ns[0]);
	return 0;
}
