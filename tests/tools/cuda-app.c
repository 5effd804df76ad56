/* cuda-app.c: a CUDA driver-API program for tests, reaching the driver the way
 * real programs do: `dlsym` (PyTorch, Triton: dlopen libcuda.so.1 and dlsym
 * names) or `procaddr` (the CUDA runtime: dlsym cuGetProcAddress_v2 and look
 * everything up through it, per-thread-default-stream forms included).
 *
 *   cuda-app [--via dlsym|procaddr] info
 *   cuda-app [--via ...] alloc MiB            allocate MiB at once; prints ok or the error
 *   cuda-app [--via ...] fill MiB             allocate MiB chunks until refused; prints MiB got
 *   cuda-app [--via ...] hold MiB             allocate, print "held", wait for SIGTERM;
 *                                             each SIGUSR1: one more allocation, "alloc <rc>";
 *                                             each SIGUSR2: a new context's SMs, "smid distinct ..."
 *   cuda-app [--via ...] paths                every allocation path, charged and given back
 *   cuda-app [--via ...] smid [threads] [own|mask] SM ids kernels ran on (per thread; own: cuCtxCreate;
 *                                             mask: a launch callback of its own asks for every TPC)
 *   cuda-app [--via ...] smidloop [ms]        the SM-id kernel every 200 us for ms (0: until killed),
 *                                             a "smid distinct ..." line whenever its SMs change,
 *                                             "launched <n>" on stderr every 100 launches
 *   cuda-app [--via ...] launchloop ms        a small kernel as fast as it goes for ms; then each
 *                                             millisecond (CLOCK_MONOTONIC) it launched in, "at <ms>"
 *   cuda-app [--via ...] paced n rate         n launches of a one-block kernel of 2 us, the i-th at
 *                                             i/rate s (CLOCK_MONOTONIC, waited for busily); "launches <n>"
 *   cuda-app [--via ...] longsync ms          one kernel of ms, waited for in cuCtxSynchronize: "synced"
 *   cuda-app [--via ...] burst busy_ms idle_ms  kernels of a millisecond, each waited for, for busy_ms;
 *                                             "burst <from> <to>" (CLOCK_MONOTONIC ns: the first launch,
 *                                             the last wait's end), then idle_ms without a launch, "idle",
 *                                             and only its context until SIGTERM
 *   cuda-app [--via ...] pulse n on_us off_us  n rounds of a kernel of on_us, waited for, and off_us
 *                                             without a launch; "pulse <from> <to> <busy>" (ns: the
 *                                             first launch, the last wait's end, launch to wait's end
 *                                             summed), then only its context until SIGTERM
 *   cuda-app [--via ...] kernels n us blocks [sync]  n kernels named "work" of us per wave and
 *                                             blocks blocks, every other one by cuLaunchKernelEx, with
 *                                             a context synchronisation every sync (0: at the end);
 *                                             an allocation and a free first; "launches <n>"
 *   cuda-app [--via ...] seed ms long_us short_us blocks  the seed's Figure 1 app for ms: two streams,
 *                                             rounds of a long kernel, a short one, a second long one
 *                                             behind the first, and once the short one has ended a
 *                                             second short one, after a kernel "warm" of 1 us;
 *                                             "rounds <n>"
 *   cuda-app [--via ...] train                info, then 20 kernels of 100 us on every SM (the docs'
 *                                             stand-in for python train.py)
 *   cuda-app [--via ...] fork MiB             the parent holds MiB, a forked child allocates too
 *   cuda-app [--via ...] idle                 only its context: prints "ready", waits for SIGTERM
 *   cuda-app [--via ...] vmm MiB              only cuMemCreate: prints "vmm <rc>", waits for SIGTERM
 *   cuda-app [--via ...] pattern MiB [ms]     MiB in two allocations and a small one, each filled with a
 *                                             known pattern: prints "held", then each SIGUSR1 reads them all
 *                                             back (the first by cuMemcpyAsync): "check ok" or "check bad <allocation> <offset>",
 *                                             then "gpu GPU-<uuid>": its device 0's
 *   cuda-app [--via ...] twodev MiB0 MiB1 [hold]  two devices, each through its primary: "dev<d> sms <n> smid
 *                                             <distinct> <lo>-<hi> mem_total_mib <t> mem_free_mib <f>", then
 *                                             MiB0 on device 0 and MiB1 on device 1 ("alloc<d> <rc>"), peer
 *                                             access both ways and a copy each way between them by
 *                                             cuMemcpyPeer and cuMemcpyPeerAsync ("peer ok", or what failed),
 *                                             each device's free memory again ("free<d> <MiB>"); hold: "held",
 *                                             then waits for SIGTERM
 *   cuda-app [--via ...] fill2 MiB             MiB chunks on device 0 until refused, then on device 1:
 *                                             "got0 <MiB>", "got1 <MiB>"
 */
#include "gs-cuda.h"
#include "gs-nvml.h"

#include <dlfcn.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void *lib;
static gs_cuGetProcAddress_v2_t gpa;
static bool via_procaddr;

static void *fn(const char *name)
{
	void *p = NULL;
	if (via_procaddr) {
		CUdriverProcAddressQueryResult st;
		gpa(name, &p, 13000, CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM, &st);
	} else {
		static const char *const versioned[][2] = {
			{ "cuMemAlloc", "cuMemAlloc_v2" }, { "cuMemFree", "cuMemFree_v2" },
			{ "cuMemGetInfo", "cuMemGetInfo_v2" }, { "cuDeviceTotalMem", "cuDeviceTotalMem_v2" },
			{ "cuMemAllocPitch", "cuMemAllocPitch_v2" }, { "cuCtxCreate", "cuCtxCreate_v2" },
			{ "cuCtxDestroy", "cuCtxDestroy_v2" }, { "cuArrayCreate", "cuArrayCreate_v2" },
			{ "cuArray3DCreate", "cuArray3DCreate_v2" }, { "cuMemcpyDtoH", "cuMemcpyDtoH_v2" },
			{ "cuStreamDestroy", "cuStreamDestroy_v2" }, { "cuCtxPopCurrent", "cuCtxPopCurrent_v2" },
			{ "cuMemcpyHtoD", "cuMemcpyHtoD_v2" },
		};
		for (size_t i = 0; i < sizeof versioned / sizeof versioned[0]; i++)
			if (strcmp(name, versioned[i][0]) == 0)
				name = versioned[i][1];
		p = dlsym(lib, name);
	}
	if (!p) {
		fprintf(stderr, "cuda-app: no %s\n", name);
		exit(3);
	}
	return p;
}

#define CALL(name, type, ...) ((type)fn(#name))(__VA_ARGS__)
#define CHECK(x) do { CUresult r_ = (x); if (r_) { fprintf(stderr, "cuda-app: %s = %d\n", #x, r_); exit(4); } } while (0)

/* cuCtxSynchronize as the runtime reaches it: looked up at 13000 it is
 * CUDA 13's, of a context (NULL: the current one) */
static CUresult ctx_sync(void)
{
	return via_procaddr ? ((CUresult(*)(CUcontext))fn("cuCtxSynchronize"))(NULL)
			    : ((CUresult(*)(void))fn("cuCtxSynchronize"))();
}

typedef CUresult (*t_u)(unsigned);
typedef CUresult (*t_ctxdev)(CUcontext *, CUdevice);
typedef CUresult (*t_ctx)(CUcontext);
typedef CUresult (*t_alloc)(CUdeviceptr *, size_t);
typedef CUresult (*t_free)(CUdeviceptr);
typedef CUresult (*t_info)(size_t *, size_t *);

/* As the runtime does: the primary context of device 0, current. */
static void setup(void)
{
	CHECK(CALL(cuInit, t_u, 0));
	CUcontext c;
	CHECK(CALL(cuDevicePrimaryCtxRetain, t_ctxdev, &c, 0));
	CHECK(CALL(cuCtxSetCurrent, t_ctx, c));
}

static size_t free_mib(void)
{
	size_t f, t;
	CHECK(CALL(cuMemGetInfo, t_info, &f, &t));
	return f >> 20;
}

static int info(void)
{
	int n, sms;
	size_t f, t, total;
	CHECK(CALL(cuDeviceGetCount, CUresult(*)(int *), &n));
	CHECK(CALL(cuDeviceGetAttribute, CUresult(*)(int *, int, CUdevice), &sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, 0));
	CHECK(CALL(cuMemGetInfo, t_info, &f, &t));
	CHECK(CALL(cuDeviceTotalMem, CUresult(*)(size_t *, CUdevice), &total, 0));
	const char *pct = getenv("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE");
	printf("mps_pct %s\n", pct ? pct : "-");
	const char *mps_pipe = getenv("CUDA_MPS_PIPE_DIRECTORY");
	printf("mps_pipe %s\n", mps_pipe && *mps_pipe ? mps_pipe : "-");
	printf("devices %d\nsms %d\nmem_total_mib %zu\nmem_free_mib %zu\ndevice_total_mib %zu\n", n, sms, t >> 20, f >> 20,
	       total >> 20);
	/* what NVML says, as a monitoring library in the program would ask */
	void *nv = dlopen("libnvidia-ml.so.1", RTLD_NOW);
	if (nv) {
		nvmlReturn_t (*init)(void) = (nvmlReturn_t(*)(void))dlsym(nv, "nvmlInit_v2");
		nvmlReturn_t (*get)(unsigned, nvmlDevice_t *) = (nvmlReturn_t(*)(unsigned, nvmlDevice_t *))dlsym(nv, "nvmlDeviceGetHandleByIndex_v2");
		nvmlReturn_t (*mem)(nvmlDevice_t, nvmlMemory_t *) = (nvmlReturn_t(*)(nvmlDevice_t, nvmlMemory_t *))dlsym(nv, "nvmlDeviceGetMemoryInfo");
		nvmlDevice_t d;
		nvmlMemory_t m;
		char uuid[96];
		CUuuid cu;
		/* the NVML device that is CUDA device 0 */
		CHECK(CALL(cuDeviceGetUuid, CUresult(*)(CUuuid *, CUdevice), &cu, 0));
		nvmlReturn_t (*getuuid)(nvmlDevice_t, char *, unsigned) = (nvmlReturn_t(*)(nvmlDevice_t, char *, unsigned))dlsym(nv, "nvmlDeviceGetUUID");
		if (init && get && mem && getuuid && init() == 0) {
			for (unsigned i = 0; get(i, &d) == 0; i++) {
				getuuid(d, uuid, sizeof uuid);
				char want[8];
				snprintf(want, sizeof want, "%02x%02x", (unsigned char)cu.bytes[0], (unsigned char)cu.bytes[1]);
				if (strncmp(uuid + 4, want, 4) == 0 && mem(d, &m) == 0) {
					printf("nvml_total_mib %llu\n", m.total >> 20);
					nvmlReturn_t (*attrs)(nvmlDevice_t, nvmlDeviceAttributes_t *) =
						(nvmlReturn_t(*)(nvmlDevice_t, nvmlDeviceAttributes_t *))dlsym(nv, "nvmlDeviceGetAttributes_v2");
					nvmlDeviceAttributes_t a;
					if (attrs && attrs(d, &a) == 0)
						printf("nvml_sms %u\n", a.multiprocessorCount);
					nvmlReturn_t (*procs)(nvmlDevice_t, unsigned *, nvmlProcessInfo_t *) =
						(nvmlReturn_t(*)(nvmlDevice_t, unsigned *, nvmlProcessInfo_t *))dlsym(nv, "nvmlDeviceGetComputeRunningProcesses_v3");
					nvmlProcessInfo_t pi[64];
					unsigned np = 64;
					if (procs && procs(d, &np, pi) == 0)
						printf("nvml_processes %u\n", np);
					break;
				}
			}
		}
	}
	return 0;
}

static int alloc_once(size_t mib)
{
	CUdeviceptr p;
	CUresult rc = CALL(cuMemAlloc, t_alloc, &p, mib << 20);
	printf(rc ? "refused %d\n" : "ok\n", rc);
	return rc ? 1 : 0;
}

static int fill(size_t chunk, bool async)
{
	size_t got = 0;
	CUdeviceptr p;
	while ((async ? CALL(cuMemAllocAsync, CUresult(*)(CUdeviceptr *, size_t, CUstream), &p, chunk << 20, NULL)
		      : CALL(cuMemAlloc, t_alloc, &p, chunk << 20)) == CUDA_SUCCESS)
		got += chunk;
	printf("got %zu\n", got);
	return 0;
}

static volatile sig_atomic_t poked;
static void on_usr(int sig)
{
	poked = sig;
}
static void *smid_thread(void *arg);
static bool own_ctx;

/* Holds MiB; each SIGUSR1 makes one more call, whose result it prints. */
static int hold(size_t mib)
{
	CUdeviceptr p;
	signal(SIGUSR1, on_usr);
	signal(SIGUSR2, on_usr);
	CHECK(CALL(cuMemAlloc, t_alloc, &p, mib << 20));
	printf("held\n");
	fflush(stdout);
	for (;;) {
		pause();
		if (poked == SIGUSR1)
			printf("alloc %d\n", (int)CALL(cuMemAlloc, t_alloc, &p, 1 << 20));
		if (poked == SIGUSR2) {
			own_ctx = true; /* a context of its own, created now */
			smid_thread(NULL);
		}
		poked = 0;
		fflush(stdout);
	}
}

/* Memory holding a known pattern, read back and checked bitwise at each
 * SIGUSR1 (the calls wait while the program is swapped out). */
static unsigned char pattern_byte(size_t k, size_t i)
{
	return (unsigned char)(i * 131 + k * 7 + (i >> 16));
}

static int pattern(size_t mib, size_t kernel_ms)
{
	size_t size[3] = { (mib / 2 << 20) + 4097, (mib - mib / 2) << 20, 100 << 10 };
	CUdeviceptr p[3];
	signal(SIGUSR1, on_usr);
	for (size_t k = 0; k < 3; k++) {
		unsigned char *buf = malloc(size[k]);
		if (!buf)
			return 1;
		for (size_t i = 0; i < size[k]; i++)
			buf[i] = pattern_byte(k, i);
		CHECK(CALL(cuMemAlloc, t_alloc, &p[k], size[k]));
		CHECK(CALL(cuMemcpyHtoD, CUresult(*)(CUdeviceptr, const void *, size_t), p[k], buf, size[k]));
		free(buf);
	}
	if (kernel_ms) { /* one kernel of kernel_ms, not waited for: work in flight */
		char image[96];
		snprintf(image, sizeof image, "gpushare-sim-module\nkernel work %zu\n", kernel_ms * 1000);
		CUmodule mod;
		CUfunction f;
		CHECK(CALL(cuModuleLoadData, CUresult(*)(CUmodule *, const void *), &mod, image));
		CHECK(CALL(cuModuleGetFunction, CUresult(*)(CUfunction *, CUmodule, const char *), &f, mod, "work"));
		CHECK(CALL(cuLaunchKernel, CUresult(*)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, CUstream, void **, void **),
			   f, 1, 1, 1, 32, 1, 1, 0, NULL, NULL, NULL));
	}
	printf("held\n");
	fflush(stdout);
	for (;;) {
		pause();
		if (poked != SIGUSR1)
			continue;
		poked = 0;
		const char *verdict = "ok";
		char bad[64];
		for (size_t k = 0; k < 3 && verdict[0] == 'o'; k++) {
			unsigned char *buf = malloc(size[k]);
			/* the first by cuMemcpyAsync (as the runtime's cudaMemcpyAsync), the others by cuMemcpyDtoH */
			CUresult rc = !buf ? 2
				      : k ? CALL(cuMemcpyDtoH, CUresult(*)(void *, CUdeviceptr, size_t), buf, p[k], size[k])
					  : CALL(cuMemcpyAsync, CUresult(*)(CUdeviceptr, CUdeviceptr, size_t, void *),
						 (CUdeviceptr)(uintptr_t)buf, p[k], size[k], NULL);
			if (!rc && !k)
				rc = CALL(cuStreamSynchronize, CUresult(*)(void *), NULL);
			for (size_t i = 0; !rc && i < size[k]; i++)
				if (buf[i] != pattern_byte(k, i)) {
					snprintf(bad, sizeof bad, "bad %zu %zu", k, i);
					verdict = bad;
					break;
				}
			if (rc) {
				snprintf(bad, sizeof bad, "bad %zu rc %d", k, (int)rc);
				verdict = bad;
			}
			free(buf);
		}
		printf("check %s\n", verdict);
		/* and the GPU its device 0 is now (a migrate moves it) */
		CUuuid u;
		if (CALL(cuDeviceGetUuid, CUresult(*)(CUuuid *, CUdevice), &u, 0) == CUDA_SUCCESS) {
			printf("gpu GPU-");
			for (int b = 0; b < 16; b++)
				printf("%02x%s", (unsigned char)u.bytes[b], b == 3 || b == 5 || b == 7 || b == 9 ? "-" : "");
			printf("\n");
		}
		fflush(stdout);
	}
}

/* Each path: free memory drops by at least what was asked, comes back whole. */
static int paths(void)
{
	int bad = 0;
	size_t before = free_mib();
#define EXPECT_DROP(what, mib) do { size_t now_ = free_mib(); if (before - now_ < (mib)) { printf("FAIL %s: free %zu -> %zu\n", what, before, now_); bad++; } else printf("ok %s charged\n", what); } while (0)
#define EXPECT_BACK(what) do { size_t now_ = free_mib(); if (now_ != before) { printf("FAIL %s: free %zu after, %zu before\n", what, now_, before); bad++; } else printf("ok %s given back\n", what); } while (0)
	CUdeviceptr p;
	size_t pitch;
	CHECK(CALL(cuMemAllocPitch, CUresult(*)(CUdeviceptr *, size_t *, size_t, size_t, unsigned), &p, &pitch, 1000, 65536, 4));
	EXPECT_DROP("cuMemAllocPitch", 62);
	CHECK(CALL(cuMemFree, t_free, p));
	EXPECT_BACK("cuMemAllocPitch");
	CHECK(CALL(cuMemAllocManaged, CUresult(*)(CUdeviceptr *, size_t, unsigned), &p, 64 << 20, 1));
	EXPECT_DROP("cuMemAllocManaged", 64);
	CHECK(CALL(cuMemFree, t_free, p));
	EXPECT_BACK("cuMemAllocManaged");
	CHECK(CALL(cuMemAllocAsync, CUresult(*)(CUdeviceptr *, size_t, CUstream), &p, 64 << 20, NULL));
	EXPECT_DROP("cuMemAllocAsync", 64);
	CHECK(CALL(cuMemFreeAsync, CUresult(*)(CUdeviceptr, CUstream), p, NULL));
	CHECK(ctx_sync());
	EXPECT_BACK("cuMemAllocAsync (released at synchronisation)");
	/* a pool that keeps what it frees: its cache stays charged until trimmed */
	CUmemoryPool pool;
	unsigned char props[88] = { 0 };
	CHECK(CALL(cuMemPoolCreate, CUresult(*)(CUmemoryPool *, const void *), &pool, props));
	CHECK(CALL(cuMemAllocFromPoolAsync, CUresult(*)(CUdeviceptr *, size_t, CUmemoryPool, CUstream), &p, 128 << 20, pool, NULL));
	EXPECT_DROP("cuMemAllocFromPoolAsync", 128);
	CHECK(CALL(cuMemFreeAsync, CUresult(*)(CUdeviceptr, CUstream), p, NULL));
	EXPECT_DROP("a pool's cache of freed blocks", 128);
	CHECK(CALL(cuMemPoolTrimTo, CUresult(*)(CUmemoryPool, size_t), pool, 0));
	EXPECT_BACK("cuMemPoolTrimTo");
	CHECK(CALL(cuMemPoolDestroy, CUresult(*)(CUmemoryPool), pool));
	CUmemAllocationProp prop = { .type = 1, .location = { 1, 0 } };
	CUmemGenericAllocationHandle h;
	CHECK(CALL(cuMemCreate, CUresult(*)(CUmemGenericAllocationHandle *, size_t, const CUmemAllocationProp *, unsigned long long), &h, 64 << 20, &prop, 0));
	EXPECT_DROP("cuMemCreate", 64);
	CHECK(CALL(cuMemRelease, CUresult(*)(CUmemGenericAllocationHandle), h));
	EXPECT_BACK("cuMemCreate");
	CUarray a;
	CUDA_ARRAY_DESCRIPTOR ad = { 4096, 4096, CU_AD_FORMAT_FLOAT, 4 };
	CHECK(CALL(cuArrayCreate, CUresult(*)(CUarray *, const CUDA_ARRAY_DESCRIPTOR *), &a, &ad));
	EXPECT_DROP("cuArrayCreate", 256);
	CHECK(CALL(cuArrayDestroy, CUresult(*)(CUarray), a));
	EXPECT_BACK("cuArrayCreate");
	CUDA_ARRAY3D_DESCRIPTOR a3 = { 256, 256, 256, CU_AD_FORMAT_HALF, 2, 0 };
	CHECK(CALL(cuArray3DCreate, CUresult(*)(CUarray *, const CUDA_ARRAY3D_DESCRIPTOR *), &a, &a3));
	EXPECT_DROP("cuArray3DCreate", 64);
	CHECK(CALL(cuArrayDestroy, CUresult(*)(CUarray), a));
	EXPECT_BACK("cuArray3DCreate");
	CUmipmappedArray m;
	CUDA_ARRAY3D_DESCRIPTOR md = { 4096, 4096, 0, CU_AD_FORMAT_UNSIGNED_INT8, 4, 0 };
	CHECK(CALL(cuMipmappedArrayCreate, CUresult(*)(CUmipmappedArray *, const CUDA_ARRAY3D_DESCRIPTOR *, unsigned), &m, &md, 13));
	EXPECT_DROP("cuMipmappedArrayCreate", 64);
	CHECK(CALL(cuMipmappedArrayDestroy, CUresult(*)(CUmipmappedArray), m));
	EXPECT_BACK("cuMipmappedArrayCreate");
	return bad ? 1 : 0;
}

static CUfunction smid_fn;

/* As libsmctrl does: every TPC enabled in each launch's descriptor (the
 * enable bit, bit 31 of word 0, and no TPC disabled at 304..319). */
static void every_tpc(void *userdata, int domain, int cbid, const void *params)
{
	(void)userdata;
	(void)cbid;
	unsigned char *tmd = domain == GS_CU_LAUNCH_CB_DOMAIN ? ((void *const *)params)[4] : NULL;
	if (!tmd || tmd[72] != 0x40)
		return;
	uint32_t w0;
	memcpy(&w0, tmd, sizeof w0);
	w0 |= 0x80000000u;
	memcpy(tmd, &w0, sizeof w0);
	memset(tmd + 304, 0, 16);
}

static int ask_every_tpc(void)
{
	static const CUuuid id = GS_CU_LAUNCH_CB_TABLE_ID;
	const void **table = NULL;
	CHECK(CALL(cuGetExportTable, CUresult(*)(const void **, const CUuuid *), (const void **)&table, &id));
	uint32_t handle;
	int rc = ((int (*)(uint32_t *, gs_cu_launch_cb, void *))table[GS_CU_LAUNCH_CB_SUBSCRIBE])(&handle, every_tpc, NULL);
	if (!rc)
		rc = ((int (*)(uint32_t, uint32_t, int, int))table[GS_CU_LAUNCH_CB_ENABLE])(1, handle, GS_CU_LAUNCH_CB_DOMAIN, 1);
	if (rc)
		fprintf(stderr, "cuda-app: the launch callback: %d\n", rc);
	return rc;
}

static void *smid_thread(void *arg)
{
	(void)arg;
	CUcontext own = NULL;
	if (own_ctx) {
		CHECK(CALL(cuCtxCreate, CUresult(*)(CUcontext *, unsigned, CUdevice), &own, 0, 0));
	} else {
		/* a new thread: the runtime binds the primary to it */
		CUcontext c;
		CHECK(CALL(cuDevicePrimaryCtxRetain, t_ctxdev, &c, 0));
		CHECK(CALL(cuCtxSetCurrent, t_ctx, c));
	}
	CUmodule mod;
	CHECK(CALL(cuModuleLoadData, CUresult(*)(CUmodule *, const void *), &mod, "gpushare-sim-module\nkernel gs_smid 5\n"));
	CUfunction f;
	CHECK(CALL(cuModuleGetFunction, CUresult(*)(CUfunction *, CUmodule, const char *), &f, mod, "gs_smid"));
	enum { BLOCKS = 2048 };
	CUdeviceptr out;
	CHECK(CALL(cuMemAlloc, t_alloc, &out, BLOCKS * 4));
	void *params[] = { &out };
	CHECK(CALL(cuLaunchKernel, CUresult(*)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, CUstream, void **, void **),
		   f, BLOCKS, 1, 1, 128, 1, 1, 0, NULL, params, NULL));
	static uint32_t ids[BLOCKS];
	uint32_t mine[BLOCKS];
	CHECK(CALL(cuMemcpyDtoH, CUresult(*)(void *, CUdeviceptr, size_t), mine, out, sizeof mine));
	unsigned char seen[1024] = { 0 };
	unsigned distinct = 0, lo = 1023, hi = 0;
	for (unsigned i = 0; i < BLOCKS; i++) {
		distinct += !seen[mine[i]];
		seen[mine[i]] = 1;
		lo = mine[i] < lo ? mine[i] : lo;
		hi = mine[i] > hi ? mine[i] : hi;
	}
	(void)ids;
	(void)smid_fn;
	printf("smid distinct %u range %u-%u\n", distinct, lo, hi);
	if (own)
		CHECK(CALL(cuCtxDestroy, t_ctx, own));
	return NULL;
}

/* Launches the SM-id kernel every 200 us for ms milliseconds (0: until
 * killed), printing a line each time the SMs it ran on change. */
static int smidloop(size_t ms)
{
	CUmodule mod;
	CHECK(CALL(cuModuleLoadData, CUresult(*)(CUmodule *, const void *), &mod, "gpushare-sim-module\nkernel gs_smid 5\n"));
	CUfunction f;
	CHECK(CALL(cuModuleGetFunction, CUresult(*)(CUfunction *, CUmodule, const char *), &f, mod, "gs_smid"));
	enum { BLOCKS = 2048 };
	CUdeviceptr out;
	CHECK(CALL(cuMemAlloc, t_alloc, &out, BLOCKS * 4));
	void *params[] = { &out };
	char last[64] = "";
	uint64_t launched = 0;
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		CHECK(CALL(cuLaunchKernel, CUresult(*)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, CUstream, void **, void **),
			   f, BLOCKS, 1, 1, 128, 1, 1, 0, NULL, params, NULL));
		uint32_t ids[BLOCKS];
		CHECK(CALL(cuMemcpyDtoH, CUresult(*)(void *, CUdeviceptr, size_t), ids, out, sizeof ids));
		if (++launched % 100 == 0)
			fprintf(stderr, "launched %" PRIu64 "\n", launched);
		unsigned char seen[1024] = { 0 };
		unsigned distinct = 0, lo = 1023, hi = 0;
		for (unsigned i = 0; i < BLOCKS; i++) {
			distinct += !seen[ids[i] & 1023];
			seen[ids[i] & 1023] = 1;
			lo = ids[i] < lo ? ids[i] : lo;
			hi = ids[i] > hi ? ids[i] : hi;
		}
		char line[64];
		snprintf(line, sizeof line, "smid distinct %u range %u-%u", distinct, lo, hi);
		if (strcmp(line, last)) {
			printf("%s\n", line);
			fflush(stdout);
			snprintf(last, sizeof last, "%s", line);
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (ms && (size_t)((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000) >= ms)
			return 0;
		struct timespec pause_200us = { 0, 200000 };
		nanosleep(&pause_200us, NULL);
	}
}

/* launchloop: a one-block kernel as fast as it goes for ms, then each
 * CLOCK_MONOTONIC millisecond in which one was launched ("at <ms>"), so
 * that programs taking turns can be compared, and "launches <n>". */
static int launchloop(size_t ms)
{
	CUmodule mod;
	CHECK(CALL(cuModuleLoadData, CUresult(*)(CUmodule *, const void *), &mod, "gpushare-sim-module\nkernel gs_smid 5\n"));
	CUfunction f;
	CHECK(CALL(cuModuleGetFunction, CUresult(*)(CUfunction *, CUmodule, const char *), &f, mod, "gs_smid"));
	CUdeviceptr out;
	CHECK(CALL(cuMemAlloc, t_alloc, &out, 4));
	void *params[] = { &out };
	enum { MAX_MS = 20000 };
	static unsigned char hit[MAX_MS];
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	uint64_t start = (uint64_t)t0.tv_sec * 1000 + (uint64_t)t0.tv_nsec / 1000000, n = 0;
	for (;;) {
		CHECK(CALL(cuLaunchKernel, CUresult(*)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, CUstream, void **, void **),
			   f, 1, 1, 1, 32, 1, 1, 0, NULL, params, NULL));
		n++;
		clock_gettime(CLOCK_MONOTONIC, &t);
		uint64_t now = (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
		if (now - start >= ms || now - start >= MAX_MS)
			break;
		hit[now - start] = 1;
	}
	for (uint64_t i = 0; i < ms && i < MAX_MS; i++)
		if (hit[i])
			printf("at %" PRIu64 "\n", start + i);
	printf("launches %" PRIu64 "\n", n);
	return 0;
}

/* paced: launches at a given rate (traces at 100k launches/s:
 * tests/shell/test-trace.sh). */
static int paced(size_t n, double rate)
{
	CUmodule mod;
	CHECK(CALL(cuModuleLoadData, CUresult(*)(CUmodule *, const void *), &mod, "gpushare-sim-module\nkernel tick 2\n"));
	CUfunction f;
	CHECK(CALL(cuModuleGetFunction, CUresult(*)(CUfunction *, CUmodule, const char *), &f, mod, "tick"));
	typedef CUresult (*t_launch)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
				     CUstream, void **, void **);
	t_launch launch = (t_launch)fn("cuLaunchKernel");
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	double t0 = (double)t.tv_sec + (double)t.tv_nsec / 1e9;
	for (size_t i = 0; i < n; i++) {
		double at = t0 + (double)i / rate, now;
		do {
			clock_gettime(CLOCK_MONOTONIC, &t);
			now = (double)t.tv_sec + (double)t.tv_nsec / 1e9;
		} while (now < at);
		CHECK(launch(f, 1, 1, 1, 32, 1, 1, 0, NULL, NULL, NULL));
	}
	CHECK(ctx_sync());
	printf("launches %zu\n", n);
	return 0;
}

/* longsync: one kernel that runs for ms (the simulated GPU's durations),
 * then cuCtxSynchronize waits for it: a program busy without launching. */
static int longsync(size_t ms)
{
	char image[96];
	snprintf(image, sizeof image, "gpushare-sim-module\nkernel gs_smid %zu\n", ms * 1000);
	CUmodule mod;
	CHECK(CALL(cuModuleLoadData, CUresult(*)(CUmodule *, const void *), &mod, image));
	CUfunction f;
	CHECK(CALL(cuModuleGetFunction, CUresult(*)(CUfunction *, CUmodule, const char *), &f, mod, "gs_smid"));
	CUdeviceptr out;
	CHECK(CALL(cuMemAlloc, t_alloc, &out, 4));
	void *params[] = { &out };
	CHECK(CALL(cuLaunchKernel, CUresult(*)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, CUstream, void **, void **),
		   f, 1, 1, 1, 32, 1, 1, 0, NULL, params, NULL));
	printf("launched\n");
	fflush(stdout);
	CHECK(ctx_sync());
	printf("synced\n");
	return 0;
}

static uint64_t mono_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* burst: a program busy on the GPU for busy_ms, then idle (its busy time,
 * tests/shell/test-metrics.sh). */
static int burst(size_t busy_ms, size_t idle_ms)
{
	CUmodule mod;
	CHECK(CALL(cuModuleLoadData, CUresult(*)(CUmodule *, const void *), &mod, "gpushare-sim-module\nkernel work 1000\n"));
	CUfunction f;
	CHECK(CALL(cuModuleGetFunction, CUresult(*)(CUfunction *, CUmodule, const char *), &f, mod, "work"));
	typedef CUresult (*t_launch)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
				     CUstream, void **, void **);
	t_launch launch = (t_launch)fn("cuLaunchKernel");
	uint64_t from = mono_ns(), to = from;
	while (to - from < (uint64_t)busy_ms * 1000000u) {
		CHECK(launch(f, 1, 1, 1, 128, 1, 1, 0, NULL, NULL, NULL));
		CHECK(ctx_sync());
		to = mono_ns();
	}
	printf("burst %" PRIu64 " %" PRIu64 "\n", from, to);
	fflush(stdout);
	struct timespec idle = { (time_t)(idle_ms / 1000), (long)(idle_ms % 1000) * 1000000 };
	nanosleep(&idle, NULL);
	printf("idle\n");
	fflush(stdout);
	for (;;)
		pause();
}

/* pulse: a program that goes busy and idle more often than its interposer
 * tells (tests/shell/test-metrics.sh). */
static int pulse(size_t n, size_t on_us, size_t off_us)
{
	char image[96];
	snprintf(image, sizeof image, "gpushare-sim-module\nkernel work %zu\n", on_us);
	CUmodule mod;
	CHECK(CALL(cuModuleLoadData, CUresult(*)(CUmodule *, const void *), &mod, image));
	CUfunction f;
	CHECK(CALL(cuModuleGetFunction, CUresult(*)(CUfunction *, CUmodule, const char *), &f, mod, "work"));
	typedef CUresult (*t_launch)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
				     CUstream, void **, void **);
	t_launch launch = (t_launch)fn("cuLaunchKernel");
	uint64_t from = mono_ns(), to = from, busy = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t t0 = mono_ns();
		CHECK(launch(f, 1, 1, 1, 128, 1, 1, 0, NULL, NULL, NULL));
		CHECK(ctx_sync());
		to = mono_ns();
		busy += to - t0;
		struct timespec off = { (time_t)(off_us / 1000000), (long)(off_us % 1000000) * 1000 };
		nanosleep(&off, NULL);
	}
	printf("pulse %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", from, to, busy);
	fflush(stdout);
	for (;;)
		pause();
}

/* kernels: what a trace records (tests/shell/test-trace.sh). */
static int kernels(size_t n, double us, unsigned blocks, size_t sync)
{
	char image[96];
	snprintf(image, sizeof image, "gpushare-sim-module\nkernel work %.3f\n", us);
	CUmodule mod;
	CHECK(CALL(cuModuleLoadData, CUresult(*)(CUmodule *, const void *), &mod, image));
	CUfunction f;
	CHECK(CALL(cuModuleGetFunction, CUresult(*)(CUfunction *, CUmodule, const char *), &f, mod, "work"));
	CUdeviceptr p;
	CHECK(CALL(cuMemAlloc, t_alloc, &p, 1 << 20));
	CHECK(CALL(cuMemFree, t_free, p));
	typedef CUresult (*t_launch)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
				     CUstream, void **, void **);
	typedef CUresult (*t_launch_ex)(const CUlaunchConfig *, CUfunction, void **, void **);
	t_launch launch = (t_launch)fn("cuLaunchKernel");
	t_launch_ex launch_ex = (t_launch_ex)fn("cuLaunchKernelEx");
	CUlaunchConfig cfg = { .gridDimX = blocks, .gridDimY = 1, .gridDimZ = 1, .blockDimX = 128, .blockDimY = 1,
			       .blockDimZ = 1 };
	for (size_t i = 0; i < n; i++) {
		CHECK(i % 2 ? launch_ex(&cfg, f, NULL, NULL) : launch(f, blocks, 1, 1, 128, 1, 1, 0, NULL, NULL, NULL));
		if (sync && (i + 1) % sync == 0)
			CHECK(ctx_sync());
	}
	CHECK(ctx_sync());
	printf("launches %zu\n", n);
	return 0;
}

/* seed: the workload of the seed's Figure 1, one app of it (its kernels
 * "long" on one stream, "short" on the other; bench/seed-workload/). */
static int seed(size_t ms, double long_us, double short_us, unsigned blocks)
{
	char image[128];
	snprintf(image, sizeof image, "gpushare-sim-module\nkernel long %.3f\nkernel short %.3f\nkernel warm 1\n",
		 long_us, short_us);
	CUmodule mod;
	CHECK(CALL(cuModuleLoadData, CUresult(*)(CUmodule *, const void *), &mod, image));
	CUfunction lf, sf, wf;
	CHECK(CALL(cuModuleGetFunction, CUresult(*)(CUfunction *, CUmodule, const char *), &wf, mod, "warm"));
	CHECK(CALL(cuModuleGetFunction, CUresult(*)(CUfunction *, CUmodule, const char *), &lf, mod, "long"));
	CHECK(CALL(cuModuleGetFunction, CUresult(*)(CUfunction *, CUmodule, const char *), &sf, mod, "short"));
	typedef CUresult (*t_launch)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
				     CUstream, void **, void **);
	typedef CUresult (*t_sync)(CUstream);
	t_launch launch = (t_launch)fn("cuLaunchKernel");
	t_sync sync = (t_sync)fn("cuStreamSynchronize");
	CUstream s[2];
	for (int i = 0; i < 2; i++)
		CHECK(CALL(cuStreamCreate, CUresult(*)(CUstream *, unsigned), &s[i], 1 /* non-blocking */));
	/* a first kernel of a microsecond: in a -timeslice slice, the launch
	 * after a program said idle (as it may while it starts) can slip past a
	 * turn passing on; then its next launches wait for the turn */
	CHECK(launch(wf, 1, 1, 1, 32, 1, 1, 0, s[0], NULL, NULL));
	CHECK(sync(s[0]));
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	size_t rounds = 0;
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((size_t)((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000) >= ms)
			break;
		CHECK(launch(lf, blocks, 1, 1, 128, 1, 1, 0, s[0], NULL, NULL)); /* A1 */
		CHECK(launch(sf, blocks, 1, 1, 128, 1, 1, 0, s[1], NULL, NULL)); /* A2 */
		CHECK(launch(lf, blocks, 1, 1, 128, 1, 1, 0, s[0], NULL, NULL)); /* A3 */
		CHECK(sync(s[1]));
		CHECK(launch(sf, blocks, 1, 1, 128, 1, 1, 0, s[1], NULL, NULL)); /* A4, later */
		CHECK(sync(s[0]));
		CHECK(sync(s[1]));
		rounds++;
	}
	printf("rounds %zu\n", rounds);
	return 0;
}

static int smid(int threads)
{
	pthread_t t[64];
	if (threads < 1 || threads > 64)
		threads = 1;
	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, smid_thread, NULL);
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	return 0;
}

static int forked(size_t mib)
{
	CUdeviceptr p;
	CHECK(CALL(cuMemAlloc, t_alloc, &p, mib << 20));
	size_t parent_free = free_mib();
	pid_t pid = fork();
	if (pid == 0) {
		/* a child charges its own memory to the same slice */
		CUdeviceptr q;
		CUresult rc = CALL(cuMemAlloc, t_alloc, &q, mib << 20);
		printf("child alloc %d\n", rc);
		fflush(stdout);
		_exit(rc ? 1 : 0);
	}
	int st;
	waitpid(pid, &st, 0);
	printf("parent free before %zu after %zu\n", parent_free, free_mib());
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

/* Device d's primary, current. */
static CUcontext use_device(int d)
{
	CUcontext c;
	CHECK(CALL(cuDevicePrimaryCtxRetain, t_ctxdev, &c, d));
	CHECK(CALL(cuCtxSetCurrent, t_ctx, c));
	return c;
}

/* The SMs the current context's kernels run on: distinct ids, lowest, highest. */
static void smids(unsigned *distinct, unsigned *lo, unsigned *hi)
{
	CUmodule mod;
	CHECK(CALL(cuModuleLoadData, CUresult(*)(CUmodule *, const void *), &mod, "gpushare-sim-module\nkernel gs_smid 5\n"));
	CUfunction f;
	CHECK(CALL(cuModuleGetFunction, CUresult(*)(CUfunction *, CUmodule, const char *), &f, mod, "gs_smid"));
	enum { BLOCKS = 2048 };
	CUdeviceptr out;
	CHECK(CALL(cuMemAlloc, t_alloc, &out, BLOCKS * 4));
	void *params[] = { &out };
	CHECK(CALL(cuLaunchKernel, CUresult(*)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, CUstream, void **, void **),
		   f, BLOCKS, 1, 1, 128, 1, 1, 0, NULL, params, NULL));
	uint32_t mine[BLOCKS];
	CHECK(CALL(cuMemcpyDtoH, CUresult(*)(void *, CUdeviceptr, size_t), mine, out, sizeof mine));
	CHECK(CALL(cuMemFree, t_free, out));
	unsigned char seen[1024] = { 0 };
	*distinct = 0, *lo = 1023, *hi = 0;
	for (unsigned i = 0; i < BLOCKS; i++) {
		*distinct += !seen[mine[i] & 1023];
		seen[mine[i] & 1023] = 1;
		*lo = mine[i] < *lo ? mine[i] : *lo;
		*hi = mine[i] > *hi ? mine[i] : *hi;
	}
}

typedef CUresult (*t_peer)(CUdeviceptr, CUcontext, CUdeviceptr, CUcontext, size_t);
typedef CUresult (*t_peer_async)(CUdeviceptr, CUcontext, CUdeviceptr, CUcontext, size_t, CUstream);

/* A copy each way between the two devices' memory: whether the bytes came. */
static bool peer_copies(CUcontext c0, CUcontext c1, CUdeviceptr a, CUdeviceptr b)
{
	char sent[64], back[64] = "";
	snprintf(sent, sizeof sent, "bytes from device 0 to device 1, pid %ld", (long)getpid());
	use_device(0);
	CUresult rc = CALL(cuCtxEnablePeerAccess, CUresult(*)(CUcontext, unsigned), c1, 0);
	use_device(1);
	CUresult rc1 = CALL(cuCtxEnablePeerAccess, CUresult(*)(CUcontext, unsigned), c0, 0);
	if (rc || rc1) {
		printf("peer access %d %d\n", rc, rc1);
		return false;
	}
	use_device(0);
	CHECK(CALL(cuMemcpyHtoD, CUresult(*)(CUdeviceptr, const void *, size_t), a, sent, sizeof sent));
	if ((rc = CALL(cuMemcpyPeer, t_peer, b, c1, a, c0, sizeof sent))) {
		printf("cuMemcpyPeer %d\n", rc);
		return false;
	}
	use_device(1);
	CHECK(CALL(cuMemcpyDtoH, CUresult(*)(void *, CUdeviceptr, size_t), back, b, sizeof back));
	if (memcmp(sent, back, sizeof sent)) {
		printf("cuMemcpyPeer gave other bytes\n");
		return false;
	}
	/* and back into device 0's memory, on device 1's stream, by the async form */
	if ((rc = CALL(cuMemcpyPeerAsync, t_peer_async, a + 64, c0, b, c1, sizeof sent, NULL)) || (rc = ctx_sync())) {
		printf("cuMemcpyPeerAsync %d\n", rc);
		return false;
	}
	use_device(0);
	memset(back, 0, sizeof back);
	CHECK(CALL(cuMemcpyDtoH, CUresult(*)(void *, CUdeviceptr, size_t), back, a + 64, sizeof back));
	return memcmp(sent, back, sizeof sent) == 0 || (printf("cuMemcpyPeerAsync gave other bytes\n"), false);
}

static int twodev(size_t mib0, size_t mib1, bool hold_on)
{
	int n;
	CHECK(CALL(cuDeviceGetCount, CUresult(*)(int *), &n));
	printf("devices %d\n", n);
	if (n < 2)
		return 1;
	CUcontext c[2];
	for (int d = 0; d < 2; d++) {
		c[d] = use_device(d);
		int sms;
		size_t f, t;
		unsigned distinct, lo, hi;
		CHECK(CALL(cuDeviceGetAttribute, CUresult(*)(int *, int, CUdevice), &sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, d));
		smids(&distinct, &lo, &hi);
		CHECK(CALL(cuMemGetInfo, t_info, &f, &t));
		printf("dev%d sms %d smid %u %u-%u mem_total_mib %zu mem_free_mib %zu\n", d, sms, distinct, lo, hi, t >> 20,
		       f >> 20);
	}
	CUdeviceptr p[2];
	size_t mib[2] = { mib0 ? mib0 : 1, mib1 ? mib1 : 1 };
	for (int d = 0; d < 2; d++) {
		use_device(d);
		CUresult rc = CALL(cuMemAlloc, t_alloc, &p[d], mib[d] << 20);
		printf("alloc%d %d\n", d, rc);
		if (rc)
			return 1;
	}
	bool ok = peer_copies(c[0], c[1], p[0], p[1]);
	printf(ok ? "peer ok\n" : "peer failed\n");
	for (int d = 0; d < 2; d++) {
		use_device(d);
		printf("free%d %zu\n", d, free_mib());
	}
	fflush(stdout);
	if (!hold_on)
		return ok ? 0 : 1;
	printf("held\n");
	fflush(stdout);
	for (;;)
		pause();
}

static int fill2(size_t chunk)
{
	for (int d = 0; d < 2; d++) {
		use_device(d);
		size_t got = 0;
		CUdeviceptr p;
		while (CALL(cuMemAlloc, t_alloc, &p, chunk << 20) == CUDA_SUCCESS)
			got += chunk;
		printf("got%d %zu\n", d, got);
	}
	return 0;
}

int main(int argc, char **argv)
{
	int i = 1;
	if (i + 1 < argc && strcmp(argv[i], "--via") == 0) {
		via_procaddr = strcmp(argv[i + 1], "procaddr") == 0;
		i += 2;
	}
	if (i >= argc) {
		fprintf(stderr, "usage: cuda-app [--via dlsym|procaddr] info|alloc|fill|hold|paths|smid|fork ...\n");
		return 2;
	}
	lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		fprintf(stderr, "cuda-app: %s\n", dlerror());
		return 3;
	}
	gpa = (gs_cuGetProcAddress_v2_t)dlsym(lib, "cuGetProcAddress_v2");
	if (via_procaddr) {
		/* the runtime asks cuGetProcAddress for itself first */
		void *self = NULL;
		CUdriverProcAddressQueryResult st;
		gpa("cuGetProcAddress", &self, 12000, 0, &st);
		if (self)
			gpa = (gs_cuGetProcAddress_v2_t)self;
	}
	const char *cmd = argv[i];
	size_t arg = i + 1 < argc ? strtoull(argv[i + 1], NULL, 10) : 0;
	CUresult rc = CALL(cuInit, t_u, 0);
	if (rc) {
		printf("cuInit %d\n", rc);
		return 5;
	}
	setup();
	if (strcmp(cmd, "info") == 0)
		return info();
	if (strcmp(cmd, "train") == 0)
		return info() || kernels(20, 100, 216, 0);
	if (strcmp(cmd, "alloc") == 0)
		return alloc_once(arg);
	if (strcmp(cmd, "fill") == 0)
		return fill(arg ? arg : 256, false);
	if (strcmp(cmd, "fillasync") == 0)
		return fill(arg ? arg : 256, true);
	if (strcmp(cmd, "hold") == 0)
		return hold(arg);
	if (strcmp(cmd, "paths") == 0)
		return paths();
	if (strcmp(cmd, "smid") == 0) {
		own_ctx = i + 2 < argc && strcmp(argv[i + 2], "own") == 0;
		if (i + 2 < argc && strcmp(argv[i + 2], "mask") == 0 && ask_every_tpc())
			return 1;
		return smid(arg ? (int)arg : 1);
	}
	if (strcmp(cmd, "smidloop") == 0)
		return smidloop(arg);
	if (strcmp(cmd, "launchloop") == 0)
		return launchloop(arg);
	if (strcmp(cmd, "longsync") == 0)
		return longsync(arg);
	if (strcmp(cmd, "paced") == 0 && i + 2 < argc)
		return paced(arg, strtod(argv[i + 2], NULL));
	if (strcmp(cmd, "fork") == 0)
		return forked(arg);
	if (strcmp(cmd, "pulse") == 0 && i + 3 < argc)
		return pulse(arg, strtoull(argv[i + 2], NULL, 10), strtoull(argv[i + 3], NULL, 10));
	if (strcmp(cmd, "burst") == 0 && i + 2 < argc)
		return burst(arg, strtoull(argv[i + 2], NULL, 10));
	if (strcmp(cmd, "kernels") == 0 && i + 3 < argc)
		return kernels(arg, strtod(argv[i + 2], NULL), (unsigned)strtoul(argv[i + 3], NULL, 10),
			       i + 4 < argc ? strtoull(argv[i + 4], NULL, 10) : 0);
	if (strcmp(cmd, "seed") == 0 && i + 4 < argc)
		return seed(arg, strtod(argv[i + 2], NULL), strtod(argv[i + 3], NULL),
			    (unsigned)strtoul(argv[i + 4], NULL, 10));
	if (strcmp(cmd, "pattern") == 0)
		return pattern(arg, i + 2 < argc ? strtoull(argv[i + 2], NULL, 10) : 0);
	if (strcmp(cmd, "twodev") == 0)
		return twodev(arg, i + 2 < argc ? strtoull(argv[i + 2], NULL, 10) : 0,
			      i + 3 < argc && strcmp(argv[i + 3], "hold") == 0);
	if (strcmp(cmd, "fill2") == 0)
		return fill2(arg ? arg : 256);
	if (strcmp(cmd, "idle") == 0 || strcmp(cmd, "vmm") == 0) {
		if (cmd[0] == 'v') {
			CUmemAllocationProp prop = { .type = 1, .location = { 1, 0 } };
			CUmemGenericAllocationHandle h;
			printf("vmm %d\n", (int)CALL(cuMemCreate, CUresult(*)(CUmemGenericAllocationHandle *, size_t, const CUmemAllocationProp *, unsigned long long), &h, arg << 20, &prop, 0));
		} else {
			printf("ready\n");
		}
		fflush(stdout);
		for (;;)
			pause();
	}
	fprintf(stderr, "cuda-app: unknown command %s\n", cmd);
	return 2;
}
