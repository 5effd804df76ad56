/* test-cuda-sim.c: the simulated CUDA driver, loaded as programs load
 * libcuda.so.1 (dlopen + cuGetProcAddress): devices, contexts, green-context
 * SM partitions, per-launch TPC masks, memory accounted across processes,
 * kernel timing. */
#include "test.h"

#include "gs-cuda.h"
#include "tpcmap.h"

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
typedef CUresult (*f_getexport)(const void **, const CUuuid *);

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
	/* CUDA 13 runtimes ask at 13000 and get the forms that take a context */
	ASSERT_INT_EQ(get_proc("cuCtxSynchronize", &p, 12080, 0, &st), 0);
	assert_ptr_equal(p, dlsym(lib, "cuCtxSynchronize"));
	ASSERT_INT_EQ(get_proc("cuCtxSynchronize", &p, 13000, 0, &st), 0);
	assert_ptr_equal(p, dlsym(lib, "cuCtxSynchronize_v2"));
	ASSERT_INT_EQ(get_proc("cuCtxGetDevice", &p, 13000, 0, &st), 0);
	assert_ptr_equal(p, dlsym(lib, "cuCtxGetDevice_v2"));
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

typedef CUresult (*f_reserve)(CUdeviceptr *, size_t, size_t, CUdeviceptr, unsigned long long);
typedef CUresult (*f_range)(CUdeviceptr, size_t);
typedef CUresult (*f_create)(CUmemGenericAllocationHandle *, size_t, const CUmemAllocationProp *, unsigned long long);
typedef CUresult (*f_map)(CUdeviceptr, size_t, size_t, CUmemGenericAllocationHandle, unsigned long long);
typedef CUresult (*f_access)(CUdeviceptr, size_t, const CUmemAccessDesc *, size_t);
typedef CUresult (*f_htod)(CUdeviceptr, const void *, size_t);
typedef CUresult (*f_dtoh)(void *, CUdeviceptr, size_t);

typedef CUresult (*f_peer_copy)(CUdeviceptr, CUcontext, CUdeviceptr, CUcontext, size_t);

/* Two devices are peers: access enabled once each way, a copy between their
 * contexts' memory gives the bytes, and a range that is not the named
 * context's device memory is refused. */
static void peer_copy_between_two_devices(void **state)
{
	(void)state;
	setenv("GPUSHARE_SIMULATE", "a100-sxm4-40gb,a100-sxm4-40gb", 1);
	load();
	CUcontext c0, c1;
	ASSERT_INT_EQ(FN(cuDevicePrimaryCtxRetain, f_ctx_retain)(&c0, 0), 0);
	ASSERT_INT_EQ(FN(cuDevicePrimaryCtxRetain, f_ctx_retain)(&c1, 1), 0);
	int can;
	ASSERT_INT_EQ(FN(cuDeviceCanAccessPeer, CUresult(*)(int *, CUdevice, CUdevice))(&can, 0, 1), 0);
	ASSERT_INT_EQ(can, 1);
	ASSERT_INT_EQ(FN(cuDeviceCanAccessPeer, CUresult(*)(int *, CUdevice, CUdevice))(&can, 0, 0), 0);
	ASSERT_INT_EQ(can, 0);
	CUresult (*peer_on)(CUcontext, unsigned) = (CUresult(*)(CUcontext, unsigned))sym("cuCtxEnablePeerAccess");
	f_ctx peer_off = FN(cuCtxDisablePeerAccess, f_ctx);
	CUdeviceptr a, b;
	ASSERT_INT_EQ(FN(cuCtxSetCurrent, f_ctx)(c1), 0);
	ASSERT_INT_EQ(FN(cuMemAlloc, f_alloc)(&b, 1 << 20), 0);
	ASSERT_INT_EQ(FN(cuCtxSetCurrent, f_ctx)(c0), 0);
	ASSERT_INT_EQ(FN(cuMemAlloc, f_alloc)(&a, 1 << 20), 0);
	ASSERT_INT_EQ(peer_on(c1, 0), 0);
	ASSERT_INT_EQ(peer_on(c1, 0), CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED);
	ASSERT_INT_EQ(peer_on(c0, 0), CUDA_ERROR_PEER_ACCESS_UNSUPPORTED);
	ASSERT_INT_EQ(FN(cuMemcpyHtoD, f_htod)(a, "peer", 5), 0);
	f_peer_copy copy = FN(cuMemcpyPeer, f_peer_copy);
	ASSERT_INT_EQ(copy(b, c1, a, c0, 5), 0);
	ASSERT_INT_EQ(copy(b, c0, a, c0, 5), CUDA_ERROR_INVALID_VALUE); /* b is not device 0's */
	char back[5] = "";
	ASSERT_INT_EQ(FN(cuCtxSetCurrent, f_ctx)(c1), 0);
	ASSERT_INT_EQ(FN(cuMemcpyDtoH, f_dtoh)(back, b, 5), 0);
	ASSERT_STR_EQ(back, "peer");
	ASSERT_INT_EQ(FN(cuMemcpyPeerAsync, CUresult(*)(CUdeviceptr, CUcontext, CUdeviceptr, CUcontext, size_t,
							  CUstream))(a + 8, c0, b, c1, 5, NULL), 0);
	ASSERT_INT_EQ(FN(cuCtxSetCurrent, f_ctx)(c0), 0);
	ASSERT_INT_EQ(peer_off(c1), 0);
	ASSERT_INT_EQ(peer_off(c1), CUDA_ERROR_PEER_ACCESS_NOT_ENABLED);
	ASSERT_INT_EQ(FN(cuMemcpyDtoH, f_dtoh)(back, a + 8, 5), 0);
	ASSERT_STR_EQ(back, "peer");
}

/* Virtual memory management as NVIDIA's: physical memory charged to the GPU
 * when made, the reserved addresses usable only mapped and granted, the data
 * living in the physical memory (mapped again elsewhere, it is there), and
 * memory released while mapped charged until its last unmap. */
static void vmm_maps_physical_memory_at_reserved_addresses(void **state)
{
	(void)state;
	setenv("GPUSHARE_SIMULATE", "l4", 1);
	load();
	primary();
	const size_t G = 2u << 20;
	CUmemAllocationProp prop = { .type = CU_MEM_ALLOCATION_TYPE_PINNED, .location = { CU_MEM_LOCATION_TYPE_DEVICE, 0 } };
	CUmemAccessDesc rw = { { CU_MEM_LOCATION_TYPE_DEVICE, 0 }, CU_MEM_ACCESS_FLAGS_PROT_READWRITE };
	size_t g, free0, free1, total;
	f_meminfo info = FN(cuMemGetInfo, f_meminfo);
	f_reserve reserve = FN(cuMemAddressReserve, f_reserve);
	f_range addr_free = FN(cuMemAddressFree, f_range), unmap = FN(cuMemUnmap, f_range);
	f_create create = FN(cuMemCreate, f_create);
	f_map map = FN(cuMemMap, f_map);
	f_access access = FN(cuMemSetAccess, f_access);
	CUresult (*release)(CUmemGenericAllocationHandle) = FN(cuMemRelease, CUresult(*)(CUmemGenericAllocationHandle));
	f_htod htod = FN(cuMemcpyHtoD, f_htod);
	f_dtoh dtoh = FN(cuMemcpyDtoH, f_dtoh);
	ASSERT_INT_EQ(FN(cuMemGetAllocationGranularity, CUresult(*)(size_t *, const CUmemAllocationProp *,
								      CUmemAllocationGranularity_flags))(&g, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM), 0);
	ASSERT_INT_EQ(g, G);
	ASSERT_INT_EQ(info(&free0, &total), 0);
	CUdeviceptr va, va2;
	CUmemGenericAllocationHandle h;
	ASSERT_INT_EQ(reserve(&va, 3 * G, 0, 0, 0), 0);
	ASSERT_INT_EQ(va % G, 0);
	ASSERT_INT_EQ(info(&free1, &total), 0);
	ASSERT_INT_EQ(free1, free0); /* addresses take no memory */
	ASSERT_INT_EQ(create(&h, G + 1, &prop, 0), CUDA_ERROR_INVALID_VALUE); /* not a multiple of the granularity */
	ASSERT_INT_EQ(create(&h, 2 * G, &prop, 0), 0);
	ASSERT_INT_EQ(info(&free1, &total), 0);
	ASSERT_INT_EQ(free0 - free1, 2 * G);
	ASSERT_INT_EQ(htod(va, "abc", 4), CUDA_ERROR_INVALID_VALUE); /* nothing mapped */
	ASSERT_INT_EQ(map(va + 2 * G, 2 * G, 0, h, 0), CUDA_ERROR_INVALID_VALUE); /* past the reservation */
	ASSERT_INT_EQ(map(va, 2 * G, 0, h, 0), 0);
	ASSERT_INT_EQ(map(va, 2 * G, 0, h, 0), CUDA_ERROR_INVALID_VALUE); /* mapped already */
	ASSERT_INT_EQ(htod(va, "abc", 4), CUDA_ERROR_INVALID_VALUE); /* no access yet */
	ASSERT_INT_EQ(access(va, G, &rw, 1), CUDA_ERROR_INVALID_VALUE); /* part of a mapping */
	ASSERT_INT_EQ(access(va, 2 * G, &rw, 1), 0);
	ASSERT_INT_EQ(htod(va + G, "abc", 4), 0);
	ASSERT_INT_EQ(htod(va + 2 * G - 2, "abc", 4), CUDA_ERROR_INVALID_VALUE); /* runs past the mapping */
	/* the data is the physical memory's: mapped again at another reservation */
	ASSERT_INT_EQ(reserve(&va2, 2 * G, 0, 0, 0), 0);
	ASSERT_INT_EQ(map(va2, 2 * G, 0, h, 0), 0);
	ASSERT_INT_EQ(access(va2, 2 * G, &rw, 1), 0);
	char back[4] = "";
	ASSERT_INT_EQ(dtoh(back, va2 + G, 4), 0);
	ASSERT_STR_EQ(back, "abc");
	ASSERT_INT_EQ(addr_free(va2, 2 * G), CUDA_ERROR_INVALID_VALUE); /* still mapped */
	ASSERT_INT_EQ(unmap(va2, 2 * G), 0);
	ASSERT_INT_EQ(addr_free(va2, 2 * G), 0);
	/* released while mapped: charged until unmapped */
	ASSERT_INT_EQ(release(h), 0);
	ASSERT_INT_EQ(release(h), CUDA_ERROR_INVALID_VALUE);
	ASSERT_INT_EQ(info(&free1, &total), 0);
	ASSERT_INT_EQ(free0 - free1, 2 * G);
	ASSERT_INT_EQ(dtoh(back, va + G, 4), 0);
	ASSERT_INT_EQ(unmap(va, 2 * G), 0);
	ASSERT_INT_EQ(info(&free1, &total), 0);
	ASSERT_INT_EQ(free1, free0);
	ASSERT_INT_EQ(dtoh(back, va + G, 4), CUDA_ERROR_INVALID_VALUE); /* unmapped, the range still reserved */
	/* new physical memory at the same addresses: fresh, usable again */
	ASSERT_INT_EQ(create(&h, 2 * G, &prop, 0), 0);
	ASSERT_INT_EQ(map(va, 2 * G, 0, h, 0), 0);
	ASSERT_INT_EQ(access(va, 2 * G, &rw, 1), 0);
	ASSERT_INT_EQ(htod(va + G, "xyz", 4), 0);
	ASSERT_INT_EQ(dtoh(back, va + G, 4), 0);
	ASSERT_STR_EQ(back, "xyz");
	ASSERT_INT_EQ(unmap(va, 2 * G), 0);
	ASSERT_INT_EQ(release(h), 0);
	ASSERT_INT_EQ(addr_free(va, 3 * G), 0);
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
	ASSERT_INT_EQ(FN(cuCtxSynchronize, CUresult(*)(CUcontext))(NULL), 0);
	double ms = ms_since(&t0);
	assert_true(ms >= 5.9 && ms < 60);
	ASSERT_INT_EQ(FN(cuModuleLoadData, CUresult(*)(CUmodule *, const void *))(&m, "\x7f" "ELF"), CUDA_ERROR_INVALID_IMAGE);
}

/* ---- per-launch TPC masks through the launch-descriptor callback ---- */

static const CUuuid tpc_table_id = { { (char)0x2c, (char)0x8e, (char)0x0a, (char)0xd8, (char)0x07, (char)0x10,
				       (char)0xab, (char)0x4e, (char)0x90, (char)0xdd, (char)0x54, (char)0x71,
				       (char)0x9f, (char)0xe5, (char)0xf7, (char)0x4b } };

typedef void (*f_tpc_cb)(void *, int, int, const void *);
typedef int (*f_subscribe)(uint32_t *, f_tpc_cb, void *);
typedef int (*f_enable)(uint32_t, uint32_t, int, int);

/* what the callback writes at the next launch, as a policy would */
static struct {
	uint32_t mask[4];
	bool enable_bit;
	unsigned calls;
	bool tmd_ok; /* params and TMD looked as on Hopper, mask words zeroed */
	void *userdata;
} cb_state;

static void tpc_callback(void *userdata, int domain, int cbid, const void *params)
{
	cb_state.calls++;
	cb_state.userdata = userdata;
	unsigned char *tmd = *((void *const *)params + 4);
	uint32_t size, words[4], w0;
	memcpy(&size, params, sizeof size);
	memcpy(words, tmd + 304, sizeof words);
	cb_state.tmd_ok = domain == 0xb && cbid == 1 && size >= 5 * sizeof(void *) && tmd[72] == 0x40 &&
			  !(words[0] | words[1] | words[2] | words[3]);
	memcpy(tmd + 304, cb_state.mask, sizeof cb_state.mask);
	memcpy(&w0, tmd, sizeof w0);
	if (cb_state.enable_bit)
		w0 |= 0x80000000u;
	memcpy(tmd, &w0, sizeof w0);
}

/* Subscribes and enables tpc_callback through the export table. */
static void tpc_hook(bool enable)
{
	const void *table = NULL;
	f_getexport get = FN(cuGetExportTable, f_getexport);
	CUuuid other = tpc_table_id;
	other.bytes[0] ^= 1;
	ASSERT_INT_EQ(get(&table, &other), CUDA_ERROR_INVALID_VALUE);
	assert_null(table);
	ASSERT_INT_EQ(get(&table, &tpc_table_id), CUDA_SUCCESS);
	void *const *entries = table;
	ASSERT_INT_EQ((uintptr_t)entries[0], 0x60); /* its size in bytes, as the driver's */
	ASSERT_INT_EQ(((int (*)(void))entries[1])(), CUDA_ERROR_NOT_SUPPORTED);
	uint32_t h = 0;
	ASSERT_INT_EQ(((f_subscribe)entries[3])(&h, tpc_callback, &cb_state), 0);
	assert_true(h != 0);
	ASSERT_INT_EQ(((f_enable)entries[6])(1, h + 100, 0xb, 0x1), CUDA_ERROR_INVALID_HANDLE);
	if (enable)
		ASSERT_INT_EQ(((f_enable)entries[6])(1, h, 0xb, 0x1), 0);
}

/* The simulated H200's primary context, current; with hook, its launches
 * go through tpc_callback (subscribed and enabled). */
static void h200_primary(bool hook)
{
	setenv("GPUSHARE_SIMULATE", "h200-sxm-141gb", 1);
	load();
	primary();
	if (hook)
		tpc_hook(true);
}

/* A mask that disables every TPC but the given bits. */
static void enable_only(const unsigned *bits, size_t n)
{
	memset(cb_state.mask, 0xff, sizeof cb_state.mask);
	for (size_t i = 0; i < n; i++)
		cb_state.mask[bits[i] / 32] &= ~(1u << (bits[i] % 32));
	cb_state.enable_bit = true;
}

static CUfunction kernel(const char *name)
{
	CUmodule m;
	CUfunction f;
	const char *image = "gpushare-sim-module\nkernel gs_smid 10\nkernel spin 20000\n";
	ASSERT_INT_EQ(FN(cuModuleLoadData, CUresult(*)(CUmodule *, const void *))(&m, image), 0);
	ASSERT_INT_EQ(FN(cuModuleGetFunction, CUresult(*)(CUfunction *, CUmodule, const char *))(&f, m, name), 0);
	return f;
}

/* Launches gs_smid on 1024 blocks and marks the SMs they report in seen[];
 * returns the launch's result. */
static CUresult smids(bool seen[256])
{
	static CUdeviceptr out;
	if (!out)
		ASSERT_INT_EQ(FN(cuMemAlloc, f_alloc)(&out, 1024 * sizeof(uint32_t)), 0);
	void *params[] = { &out };
	memset(seen, 0, 256);
	CUresult rc = FN(cuLaunchKernel, f_launch)(kernel("gs_smid"), 1024, 1, 1, 128, 1, 1, 0, NULL, params, NULL);
	if (rc)
		return rc;
	uint32_t ids[1024];
	ASSERT_INT_EQ(FN(cuMemcpyDtoH, CUresult(*)(void *, CUdeviceptr, size_t))(ids, out, sizeof ids), 0);
	for (size_t i = 0; i < 1024; i++) {
		assert_true(ids[i] < 256);
		seen[ids[i]] = true;
	}
	return CUDA_SUCCESS;
}

static unsigned count_seen(const bool seen[256])
{
	unsigned n = 0;
	for (unsigned i = 0; i < 256; i++)
		n += seen[i];
	return n;
}

static void tpc_map_covers_every_sm_once_on_each_model(void **state)
{
	(void)state;
	for (size_t i = 0; i < gs_model_count(); i++) {
		const struct gs_gpu_model *m = gs_model_at(i);
		int16_t map[GS_TPC_BITS];
		unsigned times[256] = { 0 }, dead = 0;
		gs_tpcmap_fill(m, map);
		for (unsigned b = 0; b < GS_TPC_BITS; b++) {
			if (map[b] < 0) {
				dead++;
				continue;
			}
			assert_true(map[b] % 2 == 0 && (unsigned)map[b] + 1 < m->sm_count);
			times[map[b]]++;
			times[map[b] + 1]++;
		}
		for (unsigned sm = 0; sm < m->sm_count; sm++)
			ASSERT_INT_EQ(times[sm], 1);
		ASSERT_INT_EQ(dead, GS_TPC_BITS - m->sm_count / 2);
		ASSERT_INT_EQ(gs_tpcmap_sm(m, GS_TPC_BITS), -1);
	}
	/* the H200's first bits as measured; 64 live bits in 0-79, SMs 128-131 above */
	const struct gs_gpu_model *h200 = gs_model_find("h200-sxm-141gb");
	assert_non_null(h200);
	const int first[10] = { 0, 16, 32, 48, -1, -1, -1, -1, -1, 2 };
	for (unsigned b = 0; b < 10; b++)
		ASSERT_INT_EQ(gs_tpcmap_sm(h200, b), first[b]);
	unsigned live = 0;
	for (unsigned b = 0; b < GS_TPC_BITS; b++) {
		int sm = gs_tpcmap_sm(h200, b);
		live += b < 80 && sm >= 0;
		if (sm >= 128)
			assert_true(b >= 80);
	}
	ASSERT_INT_EQ(live, 64);
}

static void tpc_mask_limits_the_sms_a_kernel_reports(void **state)
{
	(void)state;
	h200_primary(true);
	bool seen[256];
	/* bits 0-7: four live TPCs (bits 4-7 are dead on the H200) */
	const unsigned low8[] = { 0, 1, 2, 3, 4, 5, 6, 7 };
	enable_only(low8, 8);
	ASSERT_INT_EQ(smids(seen), CUDA_SUCCESS);
	assert_true(cb_state.tmd_ok);
	assert_ptr_equal(cb_state.userdata, &cb_state);
	ASSERT_INT_EQ(count_seen(seen), 8);
	const unsigned want[] = { 0, 1, 16, 17, 32, 33, 48, 49 };
	for (size_t i = 0; i < 8; i++)
		assert_true(seen[want[i]]);
	/* a new mask takes effect at the next launch */
	const unsigned two[] = { 0, 9 };
	enable_only(two, 2);
	ASSERT_INT_EQ(smids(seen), CUDA_SUCCESS);
	assert_true(cb_state.tmd_ok); /* each launch starts from a zeroed mask */
	ASSERT_INT_EQ(count_seen(seen), 4);
	for (unsigned sm = 0; sm < 4; sm++)
		assert_true(seen[sm]);
	ASSERT_INT_EQ(cb_state.calls, 2);
	/* the mask words without the enable bit (TMD word 0, bit 31) do nothing */
	cb_state.enable_bit = false;
	ASSERT_INT_EQ(smids(seen), CUDA_SUCCESS);
	ASSERT_INT_EQ(count_seen(seen), 132);
}

static void tpc_mask_dead_bits_are_ignored_and_an_empty_mask_refused(void **state)
{
	(void)state;
	h200_primary(true);
	bool seen[256];
	/* disabling only dead bits changes nothing */
	memset(cb_state.mask, 0, sizeof cb_state.mask);
	cb_state.mask[0] = 0x1f0; /* bits 4-8 */
	cb_state.enable_bit = true;
	ASSERT_INT_EQ(smids(seen), CUDA_SUCCESS);
	ASSERT_INT_EQ(count_seen(seen), 132);
	/* only dead bits enabled: no live TPC, refused (a real GPU hangs) */
	const unsigned dead[] = { 4, 5, 6, 7, 8 };
	enable_only(dead, 5);
	ASSERT_INT_EQ(smids(seen), CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES);
	/* everything disabled */
	enable_only(NULL, 0);
	ASSERT_INT_EQ(smids(seen), CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES);
	const char *name;
	ASSERT_INT_EQ(FN(cuGetErrorName, CUresult(*)(CUresult, const char **))(CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES, &name), 0);
	ASSERT_STR_EQ(name, "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES");
}

static void tpc_mask_without_an_enabled_callback_changes_nothing(void **state)
{
	(void)state;
	h200_primary(false);
	bool seen[256];
	ASSERT_INT_EQ(smids(seen), CUDA_SUCCESS);
	ASSERT_INT_EQ(count_seen(seen), 132);
	tpc_hook(false); /* subscribed, never enabled */
	enable_only(NULL, 0);
	ASSERT_INT_EQ(smids(seen), CUDA_SUCCESS);
	ASSERT_INT_EQ(count_seen(seen), 132);
	ASSERT_INT_EQ(cb_state.calls, 0);
}

/* Two contexts of one process, each launching one 20 ms wave under half of
 * the TPCs: complementary masks overlap in time, the same mask waits. */
static void tpc_masks_complementary_run_side_by_side(void **state)
{
	(void)state;
	h200_primary(true);
	CUcontext ctx[2];
	CUresult (*create)(CUcontext *, unsigned, CUdevice) = (CUresult(*)(CUcontext *, unsigned, CUdevice))dlsym(lib, "cuCtxCreate_v2");
	for (int i = 0; i < 2; i++)
		ASSERT_INT_EQ(create(&ctx[i], 0, 0), 0);
	const struct gs_gpu_model *m = gs_model_find("h200-sxm-141gb");
	uint32_t half[2][4];
	memset(half, 0, sizeof half);
	for (unsigned b = 0; b < GS_TPC_BITS; b++) {
		int sm = gs_tpcmap_sm(m, b);
		/* half 0 disables the TPCs of SMs >= 66, half 1 the others */
		half[sm >= 0 && sm < 66][b / 32] |= 1u << (b % 32);
	}
	f_launch launch = FN(cuLaunchKernel, f_launch);
	CUfunction spin[2];
	for (int i = 0; i < 2; i++) {
		ASSERT_INT_EQ(FN(cuCtxSetCurrent, f_ctx)(ctx[i]), 0);
		spin[i] = kernel("spin");
	}
	cb_state.enable_bit = true;
	for (int same = 0; same < 2; same++) {
		struct timespec t0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (int i = 0; i < 2; i++) {
			ASSERT_INT_EQ(FN(cuCtxSetCurrent, f_ctx)(ctx[i]), 0);
			memcpy(cb_state.mask, half[same ? 0 : i], sizeof cb_state.mask);
			ASSERT_INT_EQ(launch(spin[i], 66, 1, 1, 256, 1, 1, 0, NULL, NULL, NULL), 0);
		}
		for (int i = 0; i < 2; i++) {
			ASSERT_INT_EQ(FN(cuCtxSetCurrent, f_ctx)(ctx[i]), 0);
			ASSERT_INT_EQ(FN(cuCtxSynchronize, CUresult(*)(CUcontext))(NULL), 0);
		}
		double ms = ms_since(&t0);
		if (same)
			assert_true(ms >= 39.9);
		else
			assert_true(ms >= 19.9 && ms < 35);
	}
}

/* A mask overrides a green context, as on the H200: the kernel runs on the
 * enabled SMs wherever they are, in its context's range or not. */
static void tpc_mask_overrides_a_green_context(void **state)
{
	(void)state;
	h200_primary(true);
	CUdevResource all, groups[2], rest;
	ASSERT_INT_EQ(FN(cuDeviceGetDevResource, f_getres)(0, &all, CU_DEV_RESOURCE_TYPE_SM), 0);
	unsigned n = 2;
	ASSERT_INT_EQ(FN(cuDevSmResourceSplitByCount, f_split)(groups, &n, &all, &rest, 0, 64), 0);
	ASSERT_INT_EQ(n, 2);
	CUcontext ctx[2];
	for (int g = 0; g < 2; g++) {
		CUdevResourceDesc d;
		CUgreenCtx gc;
		ASSERT_INT_EQ(FN(cuDevResourceGenerateDesc, f_desc)(&d, &groups[g], 1), 0);
		ASSERT_INT_EQ(FN(cuGreenCtxCreate, f_green)(&gc, d, 0, CU_GREEN_CTX_DEFAULT_STREAM), 0);
		ASSERT_INT_EQ(FN(cuCtxFromGreenCtx, f_from_green)(&ctx[g], gc), 0);
	}
	/* bits 0 and 9: SMs 0-3; bit 80: SMs 128-129, outside both groups */
	const unsigned bits[] = { 0, 9, 80 };
	bool seen[256];
	enable_only(bits, 3);
	ASSERT_INT_EQ(gs_tpcmap_sm(gs_model_find("h200-sxm-141gb"), 80), 128);
	for (int g = 0; g < 2; g++) {
		ASSERT_INT_EQ(FN(cuCtxSetCurrent, f_ctx)(ctx[g]), 0);
		ASSERT_INT_EQ(smids(seen), CUDA_SUCCESS);
		ASSERT_INT_EQ(count_seen(seen), 6);
		for (unsigned sm = 0; sm < 4; sm++)
			assert_true(seen[sm]);
		assert_true(seen[128] && seen[129]);
	}
	/* every TPC enabled: a program in a 64-SM green context takes all 132 */
	enable_only(NULL, 0);
	memset(cb_state.mask, 0, sizeof cb_state.mask);
	ASSERT_INT_EQ(smids(seen), CUDA_SUCCESS);
	ASSERT_INT_EQ(count_seen(seen), 132);
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
		cmocka_unit_test(vmm_maps_physical_memory_at_reserved_addresses),
		cmocka_unit_test(peer_copy_between_two_devices),
		cmocka_unit_test(green_contexts_confine_kernels_to_their_sms),
		cmocka_unit_test(tpc_map_covers_every_sm_once_on_each_model),
		cmocka_unit_test(tpc_mask_limits_the_sms_a_kernel_reports),
		cmocka_unit_test(tpc_mask_dead_bits_are_ignored_and_an_empty_mask_refused),
		cmocka_unit_test(tpc_mask_without_an_enabled_callback_changes_nothing),
		cmocka_unit_test(tpc_masks_complementary_run_side_by_side),
		cmocka_unit_test(tpc_mask_overrides_a_green_context),
	};
	int rc = GS_RUN_ISOLATED(tests);
	return rc || gs_test_rmdir(dir) ? 1 : 0;
}
