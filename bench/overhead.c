/* overhead.c: the nanoseconds libgpushare.so adds to a driver call, measured
 * on the CPU: tight loops of cuCtxGetCurrent (the runtime makes ten per
 * launch) and cuLaunchKernel's wrapper path, through whatever libcuda.so.1
 * the loader finds (NVIDIA's or the simulated one). Run it with and without
 * LD_PRELOAD=libgpushare.so; bench/overhead.sh does, interleaved. Prints the
 * best ns per call over 9 rounds. */
#include "gs-cuda.h"

#include <dlfcn.h>
#include <stdbool.h>
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
	CUresult (*get)(CUcontext *);
	CUresult (*count)(int *);
	CUdriverProcAddressQueryResult st;
	gpa("cuInit", (void **)&init, 12000, 0, &st);
	gpa("cuDevicePrimaryCtxRetain", (void **)&retain, 12000, 0, &st);
	gpa("cuCtxSetCurrent", (void **)&set, 12000, 0, &st);
	gpa("cuCtxGetCurrent", (void **)&get, 12000, 0, &st);
	gpa("cuDeviceGetCount", (void **)&count, 12000, 0, &st);
	CUcontext c;
	if (init(0) || retain(&c, 0) || set(c))
		return 1;
	/* on the simulated driver a launch costs little enough to see ours */
	CUresult (*load)(CUmodule *, const void *);
	CUresult (*getf)(CUfunction *, CUmodule, const char *);
	CUresult (*launch)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, CUstream,
			   void **, void **);
	gpa("cuModuleLoadData", (void **)&load, 12000, 0, &st);
	gpa("cuModuleGetFunction", (void **)&getf, 12000, 0, &st);
	gpa("cuLaunchKernel", (void **)&launch, 12000, 0, &st);
	CUmodule m;
	CUfunction f = NULL;
	bool sim = dlsym(lib, "gpushare_simulated") != NULL;
	if (sim && (load(&m, "gpushare-sim-module\nkernel nop 0\n") || getf(&f, m, "nop")))
		return 1;
	enum { N = 5000000 };
	double best_get = 1e9, best_count = 1e9, best_launch = 1e9;
	int n;
	for (int r = 0; r < 9; r++) {
		double t0 = now();
		for (int i = 0; i < N; i++)
			get(&c);
		double t1 = now();
		for (int i = 0; i < N; i++)
			count(&n);
		double t2 = now();
		if ((t1 - t0) / N < best_get)
			best_get = (t1 - t0) / N;
		if ((t2 - t1) / N < best_count)
			best_count = (t2 - t1) / N;
		for (int i = 0; sim && i < N / 10; i++)
			launch(f, 1, 1, 1, 32, 1, 1, 0, NULL, NULL, NULL);
		double t3 = now();
		if (sim && (t3 - t2) / (N / 10) < best_launch)
			best_launch = (t3 - t2) / (N / 10);
	}
	printf("cuCtxGetCurrent_ns %.2f cuDeviceGetCount_ns %.2f", best_get, best_count);
	if (sim)
		printf(" cuLaunchKernel_ns %.2f", best_launch);
	printf("\n");
	return 0;
}
