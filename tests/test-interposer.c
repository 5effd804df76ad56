/* test-interposer.c: the interposer linked straight into a test binary (as a
 * program linked to libcuda would reach it), over the simulated driver, so
 * its tables and logic run under the sanitizers. */
#include "test.h"

#include "idmap.h"
#include "interposer.h"
#include "json.h"

#include <dlfcn.h>
#include <errno.h>
#include <sys/wait.h>
#include <unistd.h>
#include <pthread.h>
#include <stdio.h>
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
CUresult cuCtxCreate_v2(CUcontext *, unsigned, CUdevice);
CUresult cuCtxDestroy_v2(CUcontext);
CUresult cuDevicePrimaryCtxReset_v2(CUdevice);
CUresult cuMemAllocPitch_v2(CUdeviceptr *, size_t *, size_t, size_t, unsigned);
CUresult cuMemAllocManaged(CUdeviceptr *, size_t, unsigned);
CUresult cuMemAllocAsync(CUdeviceptr *, size_t, CUstream);
CUresult cuMemFreeAsync(CUdeviceptr, CUstream);
CUresult cuCtxSynchronize(void);
CUresult cuMemPoolCreate(CUmemoryPool *, const void *);
CUresult cuMemPoolDestroy(CUmemoryPool);
CUresult cuMemPoolTrimTo(CUmemoryPool, size_t);
CUresult cuMemAllocFromPoolAsync(CUdeviceptr *, size_t, CUmemoryPool, CUstream);
CUresult cuMemCreate(CUmemGenericAllocationHandle *, size_t, const CUmemAllocationProp *, unsigned long long);
CUresult cuMemRelease(CUmemGenericAllocationHandle);
CUresult cuArrayCreate_v2(CUarray *, const CUDA_ARRAY_DESCRIPTOR *);
CUresult cuArrayDestroy(CUarray);
CUresult cuMipmappedArrayCreate(CUmipmappedArray *, const CUDA_ARRAY3D_DESCRIPTOR *, unsigned);
CUresult cuMipmappedArrayDestroy(CUmipmappedArray);
CUresult cuMemcpyHtoD_v2(CUdeviceptr, const void *, size_t);
void *gs__dlsym_override(void *, const char *);
#define dlsym gs__dlsym_override

static void primary_current(void)
{
	CUcontext c;
	ASSERT_INT_EQ(cuInit(0), 0);
	ASSERT_INT_EQ(cuDevicePrimaryCtxRetain(&c, 0), 0);
	ASSERT_INT_EQ(cuCtxSetCurrent(c), 0);
}

/* the simulated driver's context: 256 MiB, measured through NVML or, where
 * the test finds no NVML, the interposer's first guess of the same size */
#define CTX_MIB 256
#define MIB(n) ((uint64_t)(n) << 20)

static uint64_t used(void)
{
	return gs_ledger_used(gs__slice.ledger);
}

static void memory_limit_refuses_and_changes_nothing(void **state)
{
	(void)state;
	setenv("GPUSHARE_MEMORY_LIMIT", "320M", 1);
	primary_current();
	CUdeviceptr a, b;
	size_t f, t;
	ASSERT_INT_EQ(cuMemAlloc_v2(&a, 48 << 20), 0);
	ASSERT_INT_EQ(cuMemAlloc_v2(&b, 32 << 20), CUDA_ERROR_OUT_OF_MEMORY);
	ASSERT_INT_EQ(cuMemGetInfo_v2(&f, &t), 0);
	ASSERT_INT_EQ(t, 320 << 20);
	ASSERT_INT_EQ(f, 16 << 20);
	ASSERT_INT_EQ(cuMemFree_v2(a), 0);
	ASSERT_INT_EQ(cuMemFree_v2(a), CUDA_ERROR_INVALID_VALUE); /* a double free is the driver's error, nothing given back twice */
	ASSERT_INT_EQ(cuMemGetInfo_v2(&f, &t), 0);
	ASSERT_INT_EQ(f, 64 << 20);
	ASSERT_INT_EQ(cuMemAlloc_v2(&b, 32 << 20), 0);
}

static void context_that_does_not_fit_is_refused_when_retained(void **state)
{
	(void)state;
	setenv("GPUSHARE_MEMORY_LIMIT", "200M", 1);
	CUcontext c;
	ASSERT_INT_EQ(cuInit(0), 0);
	ASSERT_INT_EQ(cuDevicePrimaryCtxRetain(&c, 0), CUDA_ERROR_OUT_OF_MEMORY);
	ASSERT_INT_EQ(cuCtxCreate_v2(&c, 0, 0), CUDA_ERROR_OUT_OF_MEMORY);
	ASSERT_INT_EQ(used(), 0);
}

static void every_context_is_charged_once(void **state)
{
	(void)state;
	setenv("GPUSHARE_MEMORY_LIMIT", "1G", 1);
	CUcontext p1, p2, own;
	ASSERT_INT_EQ(cuInit(0), 0);
	ASSERT_INT_EQ(cuDevicePrimaryCtxRetain(&p1, 0), 0);
	ASSERT_INT_EQ(used(), MIB(CTX_MIB));
	ASSERT_INT_EQ(cuDevicePrimaryCtxRetain(&p2, 0), 0); /* the same primary: not again */
	ASSERT_INT_EQ(cuCtxSetCurrent(p1), 0);
	CUdeviceptr a;
	ASSERT_INT_EQ(cuMemAlloc_v2(&a, 1 << 20), 0); /* nor at its first use */
	ASSERT_INT_EQ(used(), MIB(CTX_MIB + 1));
	/* a context of its own is charged what it took (the simulated driver's
	 * contexts after the first take nothing more), before it is handed out */
	ASSERT_INT_EQ(cuCtxCreate_v2(&own, 0, 0), 0);
	uint64_t with_own = used();
	assert_true(with_own >= MIB(CTX_MIB + 1) && with_own <= MIB(2 * CTX_MIB + 1));
	ASSERT_INT_EQ(cuCtxDestroy_v2(own), 0);
	ASSERT_INT_EQ(used(), MIB(CTX_MIB + 1));
	ASSERT_INT_EQ(cuMemFree_v2(a), 0);
	ASSERT_INT_EQ(cuDevicePrimaryCtxReset_v2(0), 0);
	ASSERT_INT_EQ(used(), 0);
}

static void vmm_only_program_has_its_context_charged(void **state)
{
	(void)state;
	setenv("GPUSHARE_MEMORY_LIMIT", "1G", 1);
	ASSERT_INT_EQ(cuInit(0), 0);
	/* the context made without a wrapped call, as a runtime may */
	CUcontext c;
	ASSERT_INT_EQ(gs__real.cuDevicePrimaryCtxRetain(&c, 0), 0);
	ASSERT_INT_EQ(gs__real.cuCtxSetCurrent(c), 0);
	CUmemAllocationProp prop = { .type = 1, .location = { 1, 0 } };
	CUmemGenericAllocationHandle h;
	ASSERT_INT_EQ(cuMemCreate(&h, 64 << 20, &prop, 0), 0);
	ASSERT_INT_EQ(used(), MIB(CTX_MIB + 64));
	ASSERT_INT_EQ(cuMemCreate(&h, 800 << 20, &prop, 0), CUDA_ERROR_OUT_OF_MEMORY);
	ASSERT_INT_EQ(used(), MIB(CTX_MIB + 64));
}

/* ---- the interposer's own swap (swap.c) ---- */

static size_t gpu_free(void)
{
	size_t f, t;
	ASSERT_INT_EQ(gs__real.cuMemGetInfo_v2(&f, &t), 0); /* the simulated GPU's, not the slice's */
	return f;
}

struct reader {
	CUcontext ctx;
	CUdeviceptr p;
	size_t n;
	unsigned char *buf;
	CUresult rc;
	int done;
};

static void *read_back(void *arg)
{
	struct reader *r = arg;
	r->rc = cuCtxSetCurrent(r->ctx);
	if (r->rc == CUDA_SUCCESS)
		r->rc = cuMemcpyDtoH_v2(r->buf, r->p, r->n);
	__atomic_store_n(&r->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* Swapped out, a program's VMM-backed memory leaves the GPU (not its small
 * allocations, nor its context); its calls wait at the gate; swapped in, the
 * same pointers hold the same bytes and the waiting call goes on. */
static void swap_moves_memory_and_keeps_pointers(void **state)
{
	(void)state;
	setenv("GPUSHARE_MEMORY_LIMIT", "1G", 1);
	setenv("GPUSHARE_SWAP", "on", 1);
	primary_current();
	assert_true(gs__swap_on);
	const size_t big = (8u << 20) + 12345, small = 64 << 10;
	CUdeviceptr a, b, c;
	size_t pitch;
	size_t free0 = gpu_free();
	ASSERT_INT_EQ(cuMemAlloc_v2(&a, big), 0);
	ASSERT_INT_EQ(free0 - gpu_free(), 10u << 20); /* rounded up to whole granules of 2 MiB */
	ASSERT_INT_EQ(cuMemAlloc_v2(&b, small), 0);
	ASSERT_INT_EQ(cuMemAllocPitch_v2(&c, &pitch, 1000, 4096, 4), 0);
	ASSERT_INT_EQ(pitch, 1024); /* the driver's pitch */
	ASSERT_INT_EQ(used(), MIB(CTX_MIB) + big + small + 1024 * 4096);
	unsigned char *pat = malloc(big), *back = calloc(1, big);
	for (size_t i = 0; i < big; i++)
		pat[i] = (unsigned char)(i * 7 + (i >> 12));
	ASSERT_INT_EQ(cuMemcpyHtoD_v2(a, pat, big), 0);
	ASSERT_INT_EQ(cuMemcpyHtoD_v2(c + 4000, "pitch", 6), 0);
	size_t free1 = gpu_free();
	char answer[160];
	gs__swap_now(true, answer, sizeof answer);
	char want[64];
	snprintf(want, sizeof want, "swapped out %zu 2", big + 1024 * 4096);
	ASSERT_STR_EQ(answer, want);
	ASSERT_INT_EQ(gpu_free() - free1, (10u << 20) + (4u << 20));
	assert_true(gs__wrap_flags & GS__WRAP_GATE);
	gs__swap_now(true, answer, sizeof answer); /* asked again: the same answer, nothing moves */
	ASSERT_STR_EQ(answer, want);
	struct reader r = { NULL, a, big, back, -1, 0 };
	ASSERT_INT_EQ(gs__real.cuCtxGetCurrent(&r.ctx), 0);
	pthread_t t;
	ASSERT_INT_EQ(pthread_create(&t, NULL, read_back, &r), 0);
	usleep(100000);
	ASSERT_INT_EQ(__atomic_load_n(&r.done, __ATOMIC_SEQ_CST), 0); /* it waits at the gate */
	gs__swap_now(false, answer, sizeof answer);
	ASSERT_STR_EQ(answer, "swapped in");
	pthread_join(t, NULL);
	ASSERT_INT_EQ(r.rc, 0);
	assert_memory_equal(back, pat, big);
	ASSERT_INT_EQ(gpu_free(), free1);
	char word[6] = "";
	ASSERT_INT_EQ(cuMemcpyDtoH_v2(word, c + 4000, 6), 0);
	ASSERT_STR_EQ(word, "pitch");
	gs__swap_now(false, answer, sizeof answer); /* in already: nothing to do */
	ASSERT_STR_EQ(answer, "swapped in");
	ASSERT_INT_EQ(cuMemFree_v2(a), 0);
	ASSERT_INT_EQ(cuMemFree_v2(a), CUDA_ERROR_INVALID_VALUE);
	ASSERT_INT_EQ(cuMemFree_v2(b), 0);
	ASSERT_INT_EQ(cuMemFreeAsync(c, NULL), 0);
	ASSERT_INT_EQ(used(), MIB(CTX_MIB));
	ASSERT_INT_EQ(gpu_free(), free0);
	free(pat);
	free(back);
}

/* Memory that does not fit when it comes back: nothing changes, the program
 * stays out (its data on the host) until it fits. */
static void swap_in_that_does_not_fit_stays_out(void **state)
{
	(void)state;
	setenv("GPUSHARE_SWAP", "on", 1);
	primary_current();
	CUdeviceptr a;
	ASSERT_INT_EQ(cuMemAlloc_v2(&a, 64 << 20), 0);
	ASSERT_INT_EQ(cuMemcpyHtoD_v2(a + 100, "kept", 5), 0);
	char answer[160];
	gs__swap_now(true, answer, sizeof answer);
	ASSERT_INT_EQ(strncmp(answer, "swapped out ", 12), 0);
	/* another program takes the GPU's memory meanwhile */
	CUdeviceptr hog;
	ASSERT_INT_EQ(gs__real.cuMemAlloc_v2(&hog, gpu_free() - (32 << 20)), 0);
	gs__swap_now(false, answer, sizeof answer);
	ASSERT_STR_EQ(answer, "swap_failed 2 out of memory");
	assert_true(gs__wrap_flags & GS__WRAP_GATE);
	ASSERT_INT_EQ(gs__real.cuMemFree_v2(hog), 0);
	gs__swap_now(false, answer, sizeof answer);
	ASSERT_STR_EQ(answer, "swapped in");
	char word[5] = "";
	ASSERT_INT_EQ(cuMemcpyDtoH_v2(word, a + 100, 5), 0);
	ASSERT_STR_EQ(word, "kept");
}

/* Without the swap asked for, nothing is backed by VMM and a swap is refused. */
static void swap_off_refuses(void **state)
{
	(void)state;
	setenv("GPUSHARE_SWAP", "off", 1);
	primary_current();
	assert_false(gs__swap_on);
	char answer[160];
	gs__swap_now(true, answer, sizeof answer);
	ASSERT_STR_EQ(answer, "swap_failed 801 not enabled");
	assert_false(gs__wrap_flags & GS__WRAP_GATE);
}

static void ledger_returns_to_zero(void **state);
static void ledger_returns_to_zero_with_the_swap(void **state)
{
	setenv("GPUSHARE_SWAP", "on", 1);
	ledger_returns_to_zero(state);
}

static void pools_past_the_64th_are_charged(void **state)
{
	(void)state;
	setenv("GPUSHARE_MEMORY_LIMIT", "1G", 1);
	primary_current();
	unsigned char props[88] = { 0 };
	unsigned ok = 0;
	for (int i = 0; i < 200; i++) {
		CUmemoryPool pool;
		CUdeviceptr p;
		ASSERT_INT_EQ(cuMemPoolCreate(&pool, props), 0);
		CUresult rc = cuMemAllocFromPoolAsync(&p, 8 << 20, pool, NULL);
		ok += rc == CUDA_SUCCESS;
		assert_true(used() <= MIB(1024));
	}
	ASSERT_INT_EQ(ok, (1024 - CTX_MIB) / 8);
}

/* Every allocating path, refused or not, with its free: nothing is left
 * charged but the context, and nothing at all once the context goes. */
static void ledger_returns_to_zero(void **state)
{
	(void)state;
	setenv("GPUSHARE_MEMORY_LIMIT", "1G", 1);
	primary_current();
	uint64_t base = used();
	ASSERT_INT_EQ(base, MIB(CTX_MIB));
	CUdeviceptr p, big;
	size_t pitch;
	ASSERT_INT_EQ(cuMemAlloc_v2(&big, 2000u << 20), CUDA_ERROR_OUT_OF_MEMORY);
	ASSERT_INT_EQ(cuMemAllocPitch_v2(&p, &pitch, 1000, 65536, 4), 0);
	ASSERT_INT_EQ(used(), base + (uint64_t)pitch * 65536);
	ASSERT_INT_EQ(cuMemFree_v2(p), 0);
	ASSERT_INT_EQ(cuMemAllocPitch_v2(&p, &pitch, 1 << 20, 1 << 12, 4), CUDA_ERROR_OUT_OF_MEMORY);
	ASSERT_INT_EQ(cuMemAllocPitch_v2(&p, &pitch, 0, 10, 4), CUDA_ERROR_INVALID_VALUE); /* the driver's refusal */
	ASSERT_INT_EQ(cuMemAllocManaged(&p, 64 << 20, 1), 0);
	ASSERT_INT_EQ(cuMemFreeAsync(p, NULL), 0); /* memory of cuMemAlloc* freed stream-ordered */
	ASSERT_INT_EQ(used(), base);
	ASSERT_INT_EQ(cuMemAllocAsync(&p, 64 << 20, NULL), 0);
	ASSERT_INT_EQ(cuMemAllocAsync(&big, 2000u << 20, NULL), CUDA_ERROR_OUT_OF_MEMORY);
	ASSERT_INT_EQ(cuMemFreeAsync(p, NULL), 0);
	ASSERT_INT_EQ(cuCtxSynchronize(), 0);
	ASSERT_INT_EQ(used(), base);
	unsigned char props[88] = { 0 };
	CUmemoryPool pool;
	ASSERT_INT_EQ(cuMemPoolCreate(&pool, props), 0);
	ASSERT_INT_EQ(cuMemAllocFromPoolAsync(&p, 128 << 20, pool, NULL), 0);
	ASSERT_INT_EQ(cuMemAllocFromPoolAsync(&big, 2000u << 20, pool, NULL), CUDA_ERROR_OUT_OF_MEMORY);
	ASSERT_INT_EQ(cuMemFreeAsync(p, NULL), 0);
	ASSERT_INT_EQ(cuMemPoolDestroy(pool), 0);
	ASSERT_INT_EQ(used(), base);
	CUmemAllocationProp prop = { .type = 1, .location = { 1, 0 } };
	CUmemGenericAllocationHandle h;
	ASSERT_INT_EQ(cuMemCreate(&h, 64 << 20, &prop, 0), 0);
	ASSERT_INT_EQ(cuMemRelease(h), 0);
	ASSERT_INT_EQ(cuMemRelease(h), CUDA_ERROR_INVALID_VALUE);
	CUarray a;
	CUDA_ARRAY_DESCRIPTOR ad = { 4096, 4096, CU_AD_FORMAT_FLOAT, 4 };
	ASSERT_INT_EQ(cuArrayCreate_v2(&a, &ad), 0);
	ASSERT_INT_EQ(cuArrayDestroy(a), 0);
	CUDA_ARRAY_DESCRIPTOR huge = { (size_t)1 << 40, (size_t)1 << 40, CU_AD_FORMAT_FLOAT, 4 };
	ASSERT_INT_EQ(cuArrayCreate_v2(&a, &huge), CUDA_ERROR_OUT_OF_MEMORY); /* sizes that overflow */
	CUmipmappedArray m;
	CUDA_ARRAY3D_DESCRIPTOR md = { 4096, 4096, 0, CU_AD_FORMAT_UNSIGNED_INT8, 4, 0 };
	ASSERT_INT_EQ(cuMipmappedArrayCreate(&m, &md, 13), 0);
	ASSERT_INT_EQ(cuMipmappedArrayDestroy(m), 0);
	ASSERT_INT_EQ(used(), base);
	CUcontext own;
	ASSERT_INT_EQ(cuCtxCreate_v2(&own, 0, 0), 0);
	ASSERT_INT_EQ(cuCtxDestroy_v2(own), 0);
	ASSERT_INT_EQ(cuDevicePrimaryCtxReset_v2(0), 0);
	ASSERT_INT_EQ(used(), 0);
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

/* The simulated NVML, for tests whose limits need the GPU's size: loaded by
 * its path, it is the library the interposer's dlopen("libnvidia-ml.so.1")
 * then finds (by its soname). Each test runs in a process of its own. */
static void with_sim_nvml(void)
{
	char path[4200];
	snprintf(path, sizeof path, "%s", getenv("GPUSHARE_REAL_LIBCUDA"));
	char *slash = strrchr(path, '/');
	assert_non_null(slash);
	snprintf(slash, sizeof path - (size_t)(slash - path), "/libnvidia-ml.so.1");
	assert_non_null(dlopen(path, RTLD_NOW | RTLD_GLOBAL));
}

static void hami_memory_limit_narrows_and_is_refused_past(void **state)
{
	(void)state;
	setenv("GPUSHARE_MEMORY_LIMIT", "1G", 1);
	setenv("CUDA_DEVICE_MEMORY_LIMIT", "768m", 1);
	setenv("CUDA_DEVICE_MEMORY_LIMIT_0", "512m", 1); /* the device's own value, and the smallest: it wins */
	primary_current();
	CUdeviceptr a, b;
	size_t f, t;
	ASSERT_INT_EQ(cuMemGetInfo_v2(&f, &t), 0);
	ASSERT_INT_EQ(t, 512 << 20);
	ASSERT_INT_EQ(cuMemAlloc_v2(&a, 200 << 20), 0);
	ASSERT_INT_EQ(cuMemAlloc_v2(&b, 100 << 20), CUDA_ERROR_OUT_OF_MEMORY);
	ASSERT_INT_EQ(cuMemFree_v2(a), 0);
}

static void hami_wider_than_the_limit_changes_nothing(void **state)
{
	(void)state;
	setenv("GPUSHARE_MEMORY_LIMIT", "320M", 1);
	setenv("CUDA_DEVICE_MEMORY_LIMIT", "4g", 1);
	setenv("GPU_PORTION", "1", 1);
	setenv("CUDA_DEVICE_SM_LIMIT", "100", 1);
	primary_current();
	size_t f, t;
	int sms;
	ASSERT_INT_EQ(cuMemGetInfo_v2(&f, &t), 0);
	ASSERT_INT_EQ(t, 320 << 20);
	ASSERT_INT_EQ(cuDeviceGetAttribute(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, 0), 0);
	ASSERT_INT_EQ(sms, 108);
}

static void hami_sm_limit_and_gpu_portion_alone(void **state)
{
	(void)state;
	setenv("CUDA_DEVICE_SM_LIMIT", "25", 1);
	setenv("GPU_PORTION", "0.125", 1);
	with_sim_nvml();
	primary_current();
	size_t f, t;
	int sms;
	ASSERT_INT_EQ(cuMemGetInfo_v2(&f, &t), 0);
	ASSERT_INT_EQ(t, 5120ull << 20); /* an eighth of the simulated A100's 40 GiB */
	ASSERT_INT_EQ(cuDeviceGetAttribute(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, 0), 0);
	ASSERT_INT_EQ(sms, 26); /* 27 of 108, in the GPU's whole TPCs */
}

static void malformed_hami_value_refuses_cuda(void **state)
{
	(void)state;
	setenv("CUDA_DEVICE_MEMORY_LIMIT", "4x", 1);
	ASSERT_INT_EQ(cuInit(0), CUDA_ERROR_NO_DEVICE);
	assert_true(gs__slice.refused);
}

static void gpu_portion_without_the_gpus_size_refuses_cuda(void **state)
{
	(void)state;
	setenv("GPU_PORTION", "0.5", 1); /* no NVML here: never unlimited */
	ASSERT_INT_EQ(cuInit(0), CUDA_ERROR_NO_DEVICE);
	assert_true(gs__slice.refused);
}

static void bad_configuration_refuses_cuda(void **state)
{
	(void)state;
	setenv("GPUSHARE_MEMORY_LIMIT", "lots", 1);
	ASSERT_INT_EQ(cuInit(0), CUDA_ERROR_NO_DEVICE);
	assert_true(gs__slice.refused);
}

/* A traced program's launches (a child of the test, whose trace is written
 * at its exit), timed by events or by CUPTI (the simulated GPU's, beside its
 * libcuda): every one a kernel event with GPU time on its slice's SMs, its
 * allocation and free instant events, the counts and the backend in
 * otherData. */
static void traced_launches(const char *timing)
{
	char pattern[256], path[256], cupti[4200];
	snprintf(pattern, sizeof pattern, "%s/trace-%%p.json", getenv("GPUSHARE_SIM_DIR"));
	snprintf(cupti, sizeof cupti, "%s", getenv("GPUSHARE_REAL_LIBCUDA"));
	char *slash = strrchr(cupti, '/');
	assert_non_null(slash);
	snprintf(slash + 1, sizeof cupti - (size_t)(slash + 1 - cupti), "libcupti.so");
	pid_t pid = fork();
	if (pid == 0) {
		setenv("GPUSHARE_TRACE_TIMING", timing, 1);
		setenv("GPUSHARE_CUPTI_LIBRARY", cupti, 1);
		setenv("GPUSHARE_TRACE_FILE", pattern, 1);
		setenv("GPUSHARE_SIMULATE", "h100-sxm5-80gb", 1);
		setenv("GPUSHARE_SMS", "24", 1);
		primary_current();
		CUmodule m;
		CUfunction f;
		CUdeviceptr p;
		if (cuModuleLoadData(&m, "gpushare-sim-module\nkernel step 50\n") || cuModuleGetFunction(&f, m, "step") ||
		    cuMemAlloc_v2(&p, 1 << 20) || cuMemFree_v2(p))
			_exit(2);
		for (int i = 0; i < 10; i++)
			if (cuLaunchKernel(f, 48, 1, 1, 128, 1, 1, 0, NULL, NULL, NULL))
				_exit(3);
		exit(0); /* in flight: waited for at exit */
	}
	int st;
	ASSERT_INT_EQ(waitpid(pid, &st, 0), pid);
	ASSERT_INT_EQ(WIFEXITED(st) ? WEXITSTATUS(st) : -1, 0);
	snprintf(path, sizeof path, "%s/trace-%ld.json", getenv("GPUSHARE_SIM_DIR"), (long)pid);
	char *text;
	size_t len;
	ASSERT_INT_EQ(gs_file_read(path, 1 << 20, &text, &len), 0);
	static struct gs_json_node nodes[4096];
	struct gs_json j;
	char err[128];
	ASSERT_INT_EQ(gs_json_parse(&j, text, len, nodes, GS_ARRAY_LEN(nodes), err, sizeof err), 0);
	int kernels = 0, memory = 0;
	double last_end = 0;
	for (int e = gs_json_first(&j, gs_json_get(&j, 0, "traceEvents")); e >= 0; e = gs_json_next(&j, e)) {
		char cat[16] = "", sms[16] = "";
		bool timed = false;
		double ts, dur;
		gs_json_string(&j, gs_json_get(&j, e, "cat"), cat, sizeof cat);
		memory += strcmp(cat, "memory") == 0;
		if (strcmp(cat, "kernel"))
			continue;
		kernels++;
		int args = gs_json_get(&j, e, "args");
		gs_json_string(&j, gs_json_get(&j, args, "sms"), sms, sizeof sms);
		gs_json_bool(&j, gs_json_get(&j, args, "gpu_time"), &timed);
		ASSERT_INT_EQ(gs_json_double(&j, gs_json_get(&j, e, "ts"), &ts), 0);
		ASSERT_INT_EQ(gs_json_double(&j, gs_json_get(&j, e, "dur"), &dur), 0);
		assert_string_equal(sms, "0-23");
		assert_true(timed);
		assert_true(dur > 99 && dur < 101); /* 48 blocks on 24 SMs: two waves of 50 us */
		assert_true(ts >= last_end - 0.01); /* one stream: one after the other */
		last_end = ts + dur;
	}
	ASSERT_INT_EQ(kernels, 10);
	ASSERT_INT_EQ(memory, 2);
	int g = gs_json_get(&j, gs_json_get(&j, 0, "otherData"), "gpushare");
	char used[16] = "";
	gs_json_string(&j, gs_json_get(&j, g, "timing"), used, sizeof used);
	assert_string_equal(used, timing);
	uint64_t launches = 0, dropped = 1;
	ASSERT_INT_EQ(gs_json_u64(&j, gs_json_get(&j, g, "launches"), &launches), 0);
	ASSERT_INT_EQ(gs_json_u64(&j, gs_json_get(&j, g, "dropped"), &dropped), 0);
	ASSERT_INT_EQ(launches, 10);
	ASSERT_INT_EQ(dropped, 0);
	free(text);
	unlink(path);
}

static int odd_value(void *arg, uint32_t id, void *val)
{
	(void)id;
	*(unsigned *)arg += 1;
	return (uintptr_t)val % 2;
}

/* The CUPTI backend's table of launches by correlation id: every id found
 * after others around it went (ids of one hash home, so that removals shift
 * their neighbours back), a sweep removes just what it is told, and the table
 * refuses past its bound instead of growing. */
static void idmap_finds_every_id_after_removals(void **state)
{
	(void)state;
	struct gs__idmap m;
	gs__idmap_init(&m, 1u << 16);
	enum { N = 20000 };
	for (uint32_t i = 1; i <= N; i++)
		ASSERT_INT_EQ(gs__idmap_put(&m, i * 1024, (void *)(uintptr_t)i), 0);
	for (uint32_t i = 1; i <= N; i += 3)
		ASSERT_INT_EQ((uintptr_t)gs__idmap_take(&m, i * 1024), i);
	for (uint32_t i = 1; i <= N; i++)
		if (i % 3 != 1) {
			void *v = gs__idmap_take(&m, i * 1024);
			ASSERT_INT_EQ((uintptr_t)v, i);
			ASSERT_INT_EQ(gs__idmap_put(&m, i * 1024, v), 0);
		}
	ASSERT_INT_EQ(gs__idmap_put(&m, 2048, (void *)1), -EEXIST); /* one value per id */
	ASSERT_INT_EQ((uintptr_t)gs__idmap_take(&m, 2048), 2);
	assert_null(gs__idmap_take(&m, 2048));
	ASSERT_INT_EQ(gs__idmap_put(&m, 2048, (void *)2), 0);
	assert_null(gs__idmap_take(&m, 1024)); /* taken already */
	assert_null(gs__idmap_take(&m, 0));
	unsigned seen = 0;
	size_t before = m.n;
	gs__idmap_sweep(&m, odd_value, &seen);
	assert_true(seen >= before);
	for (uint32_t i = 1; i <= N; i++)
		if (i % 3 != 1)
			ASSERT_INT_EQ((uintptr_t)gs__idmap_take(&m, i * 1024), i % 2 ? 0 : i);
	ASSERT_INT_EQ(m.n, 0);
	gs__idmap_free(&m);
	gs__idmap_init(&m, 2048);
	int rc = 0;
	uint32_t id = 1;
	while ((rc = gs__idmap_put(&m, id, &m)) == 0)
		id++;
	ASSERT_INT_EQ(rc, -ENOMEM);
	ASSERT_INT_EQ(id - 1, 1024); /* half the bound */
	gs__idmap_free(&m);
}

static void trace_times_every_launch_by_events(void **state)
{
	(void)state;
	traced_launches("events");
}

static void trace_times_every_launch_by_cupti(void **state)
{
	(void)state;
	traced_launches("cupti");
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
		cmocka_unit_test(context_that_does_not_fit_is_refused_when_retained),
		cmocka_unit_test(every_context_is_charged_once),
		cmocka_unit_test(vmm_only_program_has_its_context_charged),
		cmocka_unit_test(pools_past_the_64th_are_charged),
		cmocka_unit_test(ledger_returns_to_zero),
		cmocka_unit_test(ledger_returns_to_zero_with_the_swap),
		cmocka_unit_test(swap_moves_memory_and_keeps_pointers),
		cmocka_unit_test(swap_in_that_does_not_fit_stays_out),
		cmocka_unit_test(swap_off_refuses),
		cmocka_unit_test(lookups_hand_out_wrappers),
		cmocka_unit_test(primary_made_current_behind_our_back_is_swapped),
		cmocka_unit_test(every_thread_is_confined),
		cmocka_unit_test(bad_configuration_refuses_cuda),
		cmocka_unit_test(hami_memory_limit_narrows_and_is_refused_past),
		cmocka_unit_test(hami_wider_than_the_limit_changes_nothing),
		cmocka_unit_test(hami_sm_limit_and_gpu_portion_alone),
		cmocka_unit_test(malformed_hami_value_refuses_cuda),
		cmocka_unit_test(gpu_portion_without_the_gpus_size_refuses_cuda),
		cmocka_unit_test(idmap_finds_every_id_after_removals),
		cmocka_unit_test(trace_times_every_launch_by_events),
		cmocka_unit_test(trace_times_every_launch_by_cupti),
	};
	int rc = GS_RUN_ISOLATED(tests);
	return rc || gs_test_rmdir(dir) ? 1 : 0;
}
