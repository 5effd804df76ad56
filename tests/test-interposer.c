/* test-interposer.c: the interposer linked straight into a test binary (as a
 * program linked to libcuda would reach it), over the simulated driver, so
 * its tables and logic run under the sanitizers. */
#include "test.h"

#include "interposer.h"

#include <dlfcn.h>
#include <pthread.h>
#include <string.h>

/* the interposer's exported wrappers, as a program linked to libcuda sees them */
CUresult cuInit(unsigned int);
CUresult cuDevicePrimaryCtxRetain(CUcontext *, CUdevice);
CUresult cuCtxSetCurrent(CUcontext);
CUresult cuCtxGetCurrent(CUcontext *);
CUresult cuMemAlloc_v2(CUdeviceptr *, size_t);
CUresult cuMemFree_v2(CUdeviceptr);
CUresult cuMemGetInfo_v2(size_t *, size_t *);
CUresult cuDeviceGetAttribute(int *, int, CUdevice);
CUresult cuModuleLoadData(CUmodule *, const void *);
CUresult cuModuleGetFunction(CUfunction *, CUmodule, const char *);
CUresult cuLaunchKernel(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, CUstream,
			void **, void **);
CUresult cuMemcpyDtoH_v2(void *, CUdeviceptr, size_t);
CUresult cuGetProcAddress_v2(const char *, void **, int, cuuint64_t, CUdriverProcAddressQueryResult *);
void *gs__dlsym_override(void *, const char *);
#define dlsym gs__dlsym_override

static void primary_current(void)
{
	CUcontext c;
	ASSERT_INT_EQ(cuInit(0), 0);
	ASSERT_INT_EQ(cuDevicePrimaryCtxRetain(&c, 0), 0);
	ASSERT_INT_EQ(cuCtxSetCurrent(c), 0);
}

static void memory_limit_refuses_and_changes_nothing(void **state)
{
	(void)state;
	setenv("GPUSHARE_MEMORY_LIMIT", "64M", 1);
	primary_current();
	CUdeviceptr a, b;
	size_t f, t;
	ASSERT_INT_EQ(cuMemAlloc_v2(&a, 48 << 20), 0);
	ASSERT_INT_EQ(cuMemAlloc_v2(&b, 32 << 20), CUDA_ERROR_OUT_OF_MEMORY);
	ASSERT_INT_EQ(cuMemGetInfo_v2(&f, &t), 0);
	ASSERT_INT_EQ(t, 64 << 20);
	ASSERT_INT_EQ(f, 16 << 20);
	ASSERT_INT_EQ(cuMemFree_v2(a), 0);
	ASSERT_INT_EQ(cuMemFree_v2(a), CUDA_ERROR_INVALID_VALUE); /* a double free is the driver's error, nothing given back twice */
	ASSERT_INT_EQ(cuMemGetInfo_v2(&f, &t), 0);
	ASSERT_INT_EQ(f, 64 << 20);
	ASSERT_INT_EQ(cuMemAlloc_v2(&b, 32 << 20), 0);
}

static void lookups_hand_out_wrappers(void **state)
{
	(void)state;
	primary_current();
	void *p;
	CUdriverProcAddressQueryResult st;
	ASSERT_INT_EQ(cuGetProcAddress_v2("cuMemAlloc", &p, 12000, 0, &st), 0);
	assert_ptr_equal(p, (void *)cuMemAlloc_v2);
	ASSERT_INT_EQ(cuGetProcAddress_v2("cuGetProcAddress", &p, 12000, 0, &st), 0);
	assert_ptr_equal(p, (void *)cuGetProcAddress_v2);
	ASSERT_INT_EQ(cuGetProcAddress_v2("cuLaunchKernel", &p, 12000, CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM, &st), 0);
	assert_ptr_equal(p, gs__wrap_by_name("cuLaunchKernel_ptsz"));
	void *h = dlopen(getenv("GPUSHARE_REAL_LIBCUDA"), RTLD_NOW | RTLD_LOCAL);
	assert_non_null(h);
	assert_ptr_equal(dlsym(h, "cuMemFree_v2"), (void *)cuMemFree_v2);
	assert_ptr_equal(dlsym(h, "cuGetProcAddress_v2"), (void *)cuGetProcAddress_v2);
	/* everything else passes through untouched */
	assert_ptr_equal(dlsym(h, "gpushare_simulated"), gs__dlsym(h, "gpushare_simulated"));
	assert_null(gs__wrap_by_name("cuNotAFunction"));
}

static unsigned launch_smids(unsigned *lo, unsigned *hi)
{
	CUmodule m;
	CUfunction f;
	CUdeviceptr out;
	uint32_t ids[512];
	assert_int_equal(cuModuleLoadData(&m, "gpushare-sim-module\nkernel gs_smid 1\n"), 0);
	assert_int_equal(cuModuleGetFunction(&f, m, "gs_smid"), 0);
	assert_int_equal(cuMemAlloc_v2(&out, sizeof ids), 0);
	void *params[] = { &out };
	assert_int_equal(cuLaunchKernel(f, 512, 1, 1, 64, 1, 1, 0, NULL, params, NULL), 0);
	assert_int_equal(cuMemcpyDtoH_v2(ids, out, sizeof ids), 0);
	return gs_test_distinct_sms(ids, 512, lo, hi);
}

static void primary_made_current_behind_our_back_is_swapped(void **state)
{
	(void)state;
	setenv("GPUSHARE_SIMULATE", "h100-sxm5-80gb", 1);
	setenv("GPUSHARE_SMS", "16", 1);
	ASSERT_INT_EQ(cuInit(0), 0);
	CUcontext real_primary, cur;
	/* as the CUDA runtime does: the real primary, bound without any wrapper */
	ASSERT_INT_EQ(gs__real.cuDevicePrimaryCtxRetain(&real_primary, 0), 0);
	ASSERT_INT_EQ(gs__real.cuCtxSetCurrent(real_primary), 0);
	unsigned lo, hi;
	ASSERT_INT_EQ(launch_smids(&lo, &hi), 16);
	ASSERT_INT_EQ(cuCtxGetCurrent(&cur), 0);
	assert_ptr_not_equal(cur, real_primary);
	int sms;
	ASSERT_INT_EQ(cuDeviceGetAttribute(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, 0), 0);
	ASSERT_INT_EQ(sms, 16);
	/* bound again behind our back: the next non-launch call swaps it back */
	ASSERT_INT_EQ(gs__real.cuCtxSetCurrent(real_primary), 0);
	CUdeviceptr p;
	ASSERT_INT_EQ(cuMemAlloc_v2(&p, 4096), 0);
	ASSERT_INT_EQ(launch_smids(&lo, &hi), 16);
}

static void *thread_body(void *arg)
{
	unsigned lo, hi;
	CUcontext c;
	(void)arg;
	if (gs__real.cuDevicePrimaryCtxRetain(&c, 0) || gs__real.cuCtxSetCurrent(c))
		return (void *)1;
	return (void *)(uintptr_t)(launch_smids(&lo, &hi) != 24);
}

static void every_thread_is_confined(void **state)
{
	(void)state;
	setenv("GPUSHARE_SIMULATE", "h100-sxm5-80gb", 1);
	setenv("GPUSHARE_SMS", "24", 1);
	ASSERT_INT_EQ(cuInit(0), 0);
	pthread_t t[6];
	for (int i = 0; i < 6; i++)
		pthread_create(&t[i], NULL, thread_body, NULL);
	for (int i = 0; i < 6; i++) {
		void *r;
		pthread_join(t[i], &r);
		ASSERT_INT_EQ((uintptr_t)r, 0);
	}
}

static void bad_configuration_refuses_cuda(void **state)
{
	(void)state;
	setenv("GPUSHARE_MEMORY_LIMIT", "lots", 1);
	ASSERT_INT_EQ(cuInit(0), CUDA_ERROR_NO_DEVICE);
	assert_true(gs__slice.refused);
}

int main(void)
{
	char dir[] = "/tmp/gs-test-interposer-XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	setenv("GPUSHARE_SIM_DIR", dir, 1);
	setenv("GPUSHARE_STATE_DIR", dir, 1);
	if (gs_test_sim_cuda("GPUSHARE_REAL_LIBCUDA"))
		return 1;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(memory_limit_refuses_and_changes_nothing),
		cmocka_unit_test(lookups_hand_out_wrappers),
		cmocka_unit_test(primary_made_current_behind_our_back_is_swapped),
		cmocka_unit_test(every_thread_is_confined),
		cmocka_unit_test(bad_configuration_refuses_cuda),
	};
	int rc = GS_RUN_ISOLATED(tests);
	return rc || gs_test_rmdir(dir) ? 1 : 0;
}
