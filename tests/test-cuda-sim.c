/* test-cuda-sim.c: the simulated CUDA driver, loaded as programs load
 * libcuda.so.1 (dlopen + cuGetProcAddress): devices, contexts, green-context
 * SM partitions, memory accounted across processes, kernel timing. */
#include "test.h"

#include "gs-cuda.h"

#include <dlfcn.h>
#include <signal.h>
#include <string.h>
#include <time.h>

static void *lib;
static gs_cuGetProcAddress_v2_t get_proc;

#define FN(name, type) ((type)sym(#name))
static void *sym(const char *name)
{
	void *p = NULL;
	CUdriverProcAddressQueryResult st;
	if (get_proc(name, &p, 13000, 0, &st) != CUDA_SUCCESS)
		fail_msg("cuGetProcAddress(%s) failed", name);
	return p;
}

typedef CUresult (*f_init)(unsigned);
typedef CUresult (*f_int)(int *);
typedef CUresult (*f_ctx_retain)(CUcontext *, CUdevice);
typedef CUresult (*f_ctx)(CUcontext);
typedef CUresult (*f_alloc)(CUdeviceptr *, size_t);
typedef CUresult (*f_free)(CUdeviceptr);
typedef CUresult (*f_meminfo)(size_t *, size_t *);
typedef CUresult (*f_attr)(int *, int, CUdevice);

static void load(void)
{
	lib = dlopen(getenv("GPUSHARE_SIM_CUDA"), RTLD_NOW | RTLD_LOCAL);
	assert_non_null(lib);
	get_proc = (gs_cuGetProcAddress_v2_t)dlsym(lib, "cuGetProcAddress_v2");
	assert_non_null(get_proc);
	ASSERT_INT_EQ(FN(cuInit, f_init)(0), CUDA_SUCCESS);
}

static CUcontext primary(void)
{
	CUcontext c;
	ASSERT_INT_EQ(FN(cuDevicePrimaryCtxRetain, f_ctx_retain)(&c, 0), 0);
	ASSERT_INT_EQ(FN(cuCtxSetCurrent, f_ctx)(c), 0);
	return c;
}

static void proc_address_resolves_versions_and_ptds(void **state)
{
	(void)state;
	setenv("GPUSHARE_SIMULATE", "h100-sxm5-80gb", 1);
	load();
	void *p, *q;
	CUdriverProcAddressQueryResult st;
	ASSERT_INT_EQ(get_proc("cuMemAlloc", &p, 12000, 0, &st), 0);
	assert_ptr_equal(p, dlsym(lib, "cuMemAlloc_v2"));
	ASSERT_INT_EQ(get_proc("cuLaunchKernel", &p, 12000, CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM, &st), 0);
	assert_ptr_equal(p, dlsym(lib, "cuLaunchKernel_ptsz"));
	ASSERT_INT_EQ(get_proc("cuLaunchKernel", &q, 12000, 0, &st), 0);
	assert_ptr_equal(q, dlsym(lib, "cuLaunchKernel"));
	ASSERT_INT_EQ(get_proc("cuCtxCreate", &p, 12000, 0, &st), 0);
	assert_ptr_equal(p, dlsym(lib, "cuCtxCreate_v3"));
	ASSERT_INT_EQ(get_proc("cuGreenCtxCreate", &p, 12000, 0, &st), CUDA_ERROR_NOT_FOUND);
	ASSERT_INT_EQ(st, CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT);
	ASSERT_INT_EQ(get_proc("cuNoSuchThing", &p, 13000, 0, &st), CUDA_ERROR_NOT_FOUND);
	ASSERT_INT_EQ(st, CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND);
	ASSERT_INT_EQ(get_proc("cuGetProcAddress", &p, 12000, 0, &st), 0);
	assert_ptr_equal(p, (void *)get_proc);
}

static void devices_follow_the_model_and_visible_devices(void **state)
{
	(void)state;
	setenv("GPUSHARE_SIMULATE", "a100-sxm4-40gb,h100-sxm5-80gb", 1);
	setenv("CUDA_VISIBLE_DEVICES", "1", 1);
	load();
	int n, v;
	ASSERT_INT_EQ(FN(cuDeviceGetCount, f_int)(&n), 0);
	ASSERT_INT_EQ(n, 1);
	char name[64];
	ASSERT_INT_EQ(FN(cuDeviceGetName, CUresult(*)(char *, int, CUdevice))(name, 64, 0), 0);
	ASSERT_STR_EQ(name, "NVIDIA H100 80GB HBM3");
	ASSERT_INT_EQ(FN(cuDeviceGetAttribute, f_attr)(&v, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, 0), 0);
	ASSERT_INT_EQ(v, 132);
	ASSERT_INT_EQ(FN(cuDeviceGetAttribute, f_attr)(&v, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, 0), 0);
	ASSERT_INT_EQ(v, 9);
	size_t total;
	ASSERT_INT_EQ(FN(cuDeviceTotalMem, CUresult(*)(size_t *, CUdevice))(&total, 0), 0);
	ASSERT_INT_EQ(total, 81559ULL << 20);
	CUdevice d;
	ASSERT_INT_EQ(FN(cuDeviceGet, CUresult(*)(CUdevice *, int))(&d, 1), CUDA_ERROR_INVALID_DEVICE);
	unsetenv("CUDA_VISIBLE_DEVICES");
}

static void calls_before_init_are_refused(void **state)
{
	(void)state;
	lib = dlopen(getenv("GPUSHARE_SIM_CUDA"), RTLD_NOW | RTLD_LOCAL);
	f_int count = (f_int)dlsym(lib, "cuDeviceGetCount");
	int n;
	ASSERT_INT_EQ(count(&n), CUDA_ERROR_NOT_INITIALIZED);
}

static void memory_is_accounted_across_processes(void **state)
{
	(void)state;
	setenv("GPUSHARE_SIMULATE", "l4", 1);
	load();
	primary();
	f_meminfo info = FN(cuMemGetInfo, f_meminfo);
	f_alloc alloc = FN(cuMemAlloc, f_alloc);
	size_t free0, free1, total;
	ASSERT_INT_EQ(info(&free0, &total), 0);
	ASSERT_INT_EQ(total, 23034ULL << 20);
	int fds[2];
	ASSERT_INT_EQ(pipe(fds), 0);
	pid_t pid = fork();
	if (pid == 0) {
		/* a second process of the same simulated GPU */
		CUdeviceptr p;
		if (alloc(&p, 10ULL << 30) || write(fds[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	char x;
	ASSERT_INT_EQ(read(fds[0], &x, 1), 1);
	ASSERT_INT_EQ(info(&free1, &total), 0);
	ASSERT_INT_EQ(free0 - free1, 10ULL << 30);
	CUdeviceptr p;
	ASSERT_INT_EQ(alloc(&p, free1 + 1), CUDA_ERROR_OUT_OF_MEMORY);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	ASSERT_INT_EQ(info(&free1, &total), 0);
	ASSERT_INT_EQ(free1, free0); /* the killed process's memory came back */
	ASSERT_INT_EQ(alloc(&p, 1 << 20), 0);
	ASSERT_INT_EQ(FN(cuMemcpyHtoD, CUresult(*)(CUdeviceptr, const void *, size_t))(p, "abc", 4), 0);
	char back[4];
	ASSERT_INT_EQ(FN(cuMemcpyDtoH, CUresult(*)(void *, CUdeviceptr, size_t))(back, p, 4), 0);
	ASSERT_STR_EQ(back, "abc");
	ASSERT_INT_EQ(FN(cuMemFree, f_free)(p), 0);
	ASSERT_INT_EQ(FN(cuMemFree, f_free)(p), CUDA_ERROR_INVALID_VALUE);
	ASSERT_INT_EQ(info(&free1, &total), 0);
	ASSERT_INT_EQ(free1, free0);
}

typedef CUresult (*f_getres)(CUdevice, CUdevResource *, int);
typedef CUresult (*f_split)(CUdevResource *, unsigned *, const CUdevResource *, CUdevResource *, unsigned, unsigned);
typedef CUresult (*f_desc)(CUdevResourceDesc *, CUdevResource *, unsigned);
typedef CUresult (*f_green)(CUgreenCtx *, CUdevResourceDesc, CUdevice, unsigned);
typedef CUresult (*f_from_green)(CUcontext *, CUgreenCtx);
typedef CUresult (*f_launch)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
			     CUstream, void **, void **);

static double ms_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static void green_contexts_confine_kernels_to_their_sms(void **state)
{
	(void)state;
	setenv("GPUSHARE_SIMULATE", "h100-sxm5-80gb", 1);
	load();
	primary();
	CUdevResource all, groups[4], rest;
	ASSERT_INT_EQ(FN(cuDeviceGetDevResource, f_getres)(0, &all, CU_DEV_RESOURCE_TYPE_SM), 0);
	ASSERT_INT_EQ(all.sm.smCount, 132);
	ASSERT_INT_EQ(all.sm.minSmPartitionSize, 8);
	unsigned n = 4;
	ASSERT_INT_EQ(FN(cuDevSmResourceSplitByCount, f_split)(groups, &n, &all, &rest, 0, 64), 0);
	ASSERT_INT_EQ(n, 2);
	ASSERT_INT_EQ(rest.sm.smCount, 4);
	CUcontext ctx[2];
	for (int g = 0; g < 2; g++) {
		CUdevResourceDesc d;
		CUgreenCtx gc;
		ASSERT_INT_EQ(FN(cuDevResourceGenerateDesc, f_desc)(&d, &groups[g], 1), 0);
		ASSERT_INT_EQ(FN(cuGreenCtxCreate, f_green)(&gc, d, 0, CU_GREEN_CTX_DEFAULT_STREAM), 0);
		ASSERT_INT_EQ(FN(cuCtxFromGreenCtx, f_from_green)(&ctx[g], gc), 0);
	}
	CUmodule m;
	CUfunction smid, spin;
	const char *image = "gpushare-sim-module\nkernel gs_smid 10\nkernel spin 2000\n";
	ASSERT_INT_EQ(FN(cuModuleLoadData, CUresult(*)(CUmodule *, const void *))(&m, image), 0);
	ASSERT_INT_EQ(FN(cuModuleGetFunction, CUresult(*)(CUfunction *, CUmodule, const char *))(&smid, m, "gs_smid"), 0);
	ASSERT_INT_EQ(FN(cuModuleGetFunction, CUresult(*)(CUfunction *, CUmodule, const char *))(&spin, m, "spin"), 0);
	f_launch launch = FN(cuLaunchKernel, f_launch);
	unsigned lo[2], hi[2];
	for (int g = 0; g < 2; g++) {
		ASSERT_INT_EQ(FN(cuCtxSetCurrent, f_ctx)(ctx[g]), 0);
		CUdeviceptr out;
		ASSERT_INT_EQ(FN(cuMemAlloc, f_alloc)(&out, 1024 * sizeof(uint32_t)), 0);
		void *params[] = { &out };
		ASSERT_INT_EQ(launch(smid, 1024, 1, 1, 128, 1, 1, 0, NULL, params, NULL), 0);
		uint32_t ids[1024];
		ASSERT_INT_EQ(FN(cuMemcpyDtoH, CUresult(*)(void *, CUdeviceptr, size_t))(ids, out, sizeof ids), 0);
		ASSERT_INT_EQ(gs_test_distinct_sms(ids, 1024, &lo[g], &hi[g]), 64);
	}
	assert_true(hi[0] < lo[1]); /* the two groups are disjoint */
	/* 132 blocks of 2 ms waves on 64 SMs: three waves */
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ASSERT_INT_EQ(launch(spin, 132, 1, 1, 256, 1, 1, 0, NULL, NULL, NULL), 0);
	ASSERT_INT_EQ(FN(cuCtxSynchronize, CUresult(*)(void))(), 0);
	double ms = ms_since(&t0);
	assert_true(ms >= 5.9 && ms < 60);
	ASSERT_INT_EQ(FN(cuModuleLoadData, CUresult(*)(CUmodule *, const void *))(&m, "\x7f" "ELF"), CUDA_ERROR_INVALID_IMAGE);
}

int main(void)
{
	char dir[] = "/tmp/gs-test-cuda-sim-XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	setenv("GPUSHARE_SIM_DIR", dir, 1);
	if (gs_test_sim_cuda("GPUSHARE_SIM_CUDA"))
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(proc_address_resolves_versions_and_ptds),
		cmocka_unit_test(devices_follow_the_model_and_visible_devices),
		cmocka_unit_test(calls_before_init_are_refused),
		cmocka_unit_test(memory_is_accounted_across_processes),
		cmocka_unit_test(green_contexts_confine_kernels_to_their_sms),
	};
	int rc = GS_RUN_ISOLATED(tests);
	return rc || gs_test_rmdir(dir) ? 1 : 0;
}
