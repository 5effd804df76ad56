/* cuda-sim.c: libcuda.so.1 for simulated GPUs: devices and attributes from
 * the GPU model, primary, ordinary and green contexts with SM ranges, memory
 * accounted across the processes of a GPU (a ledger in the sim dir), streams,
 * events, and kernels that occupy their context's SMs for a given time
 * (a per-GPU SM timeline shared by processes, so disjoint SM ranges run side
 * by side and overlapping ones wait for each other, as under MPS; a kernel
 * of fewer blocks than its SMs takes only as many, those free first;
 * GPUSHARE_SIM_TIMESLICE=1 plays a process that is no MPS client, as
 * NVIDIA's time-slicing runs it: no other process's kernel runs on its
 * context's SMs while one of its own does, each running to its end).
 * An event is timed when its stream reaches it: recorded just before a
 * kernel, at the kernel's start (which may wait for SMs other processes
 * hold), as a GPU's front end reaches it when the kernel gets the GPU.
 * A profiling tool (the simulated CUPTI, cupti-sim.c) attaches through
 * gs_sim_tool_attach (sim-tool.h) and is told of every launch and its
 * kernel's start and end.
 *
 * A module image is text: "gpushare-sim-module" then "kernel <name> <usec>"
 * lines, usec being the run time of one wave of blocks. The kernel named
 * "gs_smid" writes the SM each block ran on into the uint32 array given as
 * its first parameter, the simulated %smid. */
#include "gs-cuda.h"
#include "gs-cupti-launches.h"
#include "sim-tool.h"
#include "smrun.h"
#include "simstate.h"
#include "tpcmap.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))
/* prototypes of every exported function, from the one list */
#define SIM_DECL(base, sym, ver, params, args) EXPORT CUresult sym params;
GS_CUDA_API(SIM_DECL, SIM_DECL)

#define MAGIC_CTX 0x63747821u
#define MAGIC_STREAM 0x73747221u
#define MAGIC_EVENT 0x65767421u
#define MAGIC_MOD 0x6d6f6421u
#define MAGIC_FUNC 0x66756e21u
#define MAGIC_GREEN 0x67726e21u
#define MAX_SMS 256
#define MAX_KERNELS 32

struct CUstream_st {
	uint32_t magic;
	struct CUctx_st *ctx;
	uint64_t busy_until;
	struct CUevent_st *pending; /* the event recorded last, if nothing came after it */
};

struct CUctx_st {
	uint32_t magic;
	int dev;
	bool primary, green;
	unsigned sm_start, sm_count;
	int refs;
	unsigned flags;
	uint64_t peers;            /* devices whose memory it may reach (cuCtxEnablePeerAccess), a bit each */
	struct CUstream_st stream; /* the NULL stream */
};

struct CUgreenCtx_st {
	uint32_t magic;
	struct CUctx_st ctx;
};

struct CUdevResourceDesc_st {
	int dev;
	unsigned sm_start, sm_count;
};

struct CUevent_st {
	uint32_t magic;
	uint64_t t;
	bool recorded;
	struct CUstream_st *on;  /* the stream it waits on as its last work (pending) */
};

struct CUfunc_st {
	uint32_t magic;
	char name[64];
	uint64_t ns;
};

struct CUmod_st {
	uint32_t magic;
	size_t n;
	struct CUfunc_st f[MAX_KERNELS];
};

/* A stream-ordered memory pool: memory it reserved (charged to the GPU)
 * and the part of it in use; freed blocks stay reserved until the pool is
 * trimmed or, with the default release threshold of 0, synchronised. */
struct CUmemPoolHandle_st {
	uint32_t magic;
	int dev;
	uint64_t reserved, used, threshold;
};
#define MAGIC_POOL 0x706f6f6cu
#define POOL_CHUNK (2ull << 20)

/* The SMs of one GPU, shared by its processes: each one's last kernel's
 * end, process and whether that process time-slices (GPUSHARE_SIM_TIMESLICE). */
struct sm_timeline {
	uint32_t magic;
	pthread_mutex_t lock;
	uint64_t busy_until[MAX_SMS];
	int32_t owner[MAX_SMS];
	uint8_t alone[MAX_SMS];
};

struct dev {
	struct CUmemPoolHandle_st pool; /* the default pool */
	bool context_charged;    /* the memory a context takes, once per process */
	struct gs_sim_gpu gpu;
	struct gs_ledger *mem;
	struct sm_timeline *sms;
	struct CUctx_st primary;
	int16_t tpc[GS_TPC_BITS]; /* mask bit -> first SM of its pair, -1 dead */
};

struct alloc {
	uintptr_t ptr;
	size_t size;
	int dev;
	struct CUmemPoolHandle_st *pool; /* stream-ordered allocations */
};

static struct {
	pthread_once_t once;
	CUresult init_rc;
	bool initialized;
	int n;
	struct dev dev[GS_SIM_MAX_GPU];
	pthread_mutex_t lock; /* allocations */
	struct alloc *allocs;
	size_t n_allocs, cap_allocs;
} S = { .once = PTHREAD_ONCE_INIT, .lock = PTHREAD_MUTEX_INITIALIZER };

/* this process, for the SM timeline (a forked child is another) */
static int32_t self_pid;
static bool self_alone; /* GPUSHARE_SIM_TIMESLICE: time-sliced, not an MPS client */
static void self_forked(void)
{
	self_pid = (int32_t)getpid();
}

static __thread struct CUctx_st *tls_stack[16];
static __thread int tls_depth;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t t)
{
	for (uint64_t n = now_ns(); n < t; n = now_ns()) {
		struct timespec ts = { (time_t)((t - n) / 1000000000ull), (long)((t - n) % 1000000000ull) };
		nanosleep(&ts, NULL);
	}
}

static struct sm_timeline *open_timeline(const struct gs_sim_gpu *g)
{
	char dir[PATH_MAX - 64], path[PATH_MAX];
	if (gs_sim_dir(dir, sizeof dir))
		return NULL;
	snprintf(path, sizeof path, "%s/sms-%s", dir, g->uuid);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	if (fd < 0)
		return NULL;
	fchmod(fd, 0666); /* one simulated GPU for every user, whatever their umask */
	struct sm_timeline *t = MAP_FAILED;
	struct stat st;
	if (flock(fd, LOCK_EX) == 0 && fstat(fd, &st) == 0 &&
	    (st.st_size == sizeof *t || ftruncate(fd, sizeof *t) == 0))
		t = mmap(NULL, sizeof *t, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (t != MAP_FAILED && t->magic != 0x736d746c) {
		pthread_mutexattr_t a;
		pthread_mutexattr_init(&a);
		pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
		pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
		pthread_mutex_init(&t->lock, &a);
		t->magic = 0x736d746c;
	}
	flock(fd, LOCK_UN);
	close(fd);
	return t == MAP_FAILED ? NULL : t;
}

/* The devices CUDA_VISIBLE_DEVICES leaves (indexes and GPU UUIDs; MIG devices
 * of soft slices are the interposer's to map to their GPU). */
static void sim_init(void)
{
	const char *ts = getenv("GPUSHARE_SIM_TIMESLICE");
	self_alone = ts && strcmp(ts, "1") == 0;
	self_pid = (int32_t)getpid();
	pthread_atfork(NULL, NULL, self_forked);
	struct gs_sim_gpu all[GS_SIM_MAX_GPU];
	size_t n;
	char err[256];
	if (gs_sim_gpus(all, GS_SIM_MAX_GPU, &n, err, sizeof err)) {
		fprintf(stderr, "gpushare simulated CUDA: %s\n", err);
		S.init_rc = CUDA_ERROR_NO_DEVICE;
		return;
	}
	struct gs_topo_gpu tg[GS_SIM_MAX_GPU];
	for (size_t i = 0; i < n; i++)
		snprintf(tg[i].uuid, sizeof tg[i].uuid, "%s", all[i].uuid);
	struct gs_topo topo = { n, 0, tg, NULL };
	struct gs_cvd_device vis[GS_SIM_MAX_GPU];
	size_t nv;
	gs_cvd_resolve(getenv("CUDA_VISIBLE_DEVICES"), &topo, vis, GS_SIM_MAX_GPU, &nv, err, sizeof err);
	for (size_t i = 0; i < nv; i++) {
		struct dev *d = &S.dev[S.n];
		d->gpu = all[vis[i].gpu];
		if (gs_sim_memory(&d->gpu, &d->mem) || !(d->sms = open_timeline(&d->gpu))) {
			fprintf(stderr, "gpushare simulated CUDA: cannot open the state of %s\n", d->gpu.uuid);
			S.init_rc = CUDA_ERROR_UNKNOWN;
			return;
		}
		d->primary = (struct CUctx_st){ .magic = MAGIC_CTX, .dev = S.n, .primary = true,
						.sm_count = d->gpu.model->sm_count };
		d->primary.stream = (struct CUstream_st){ MAGIC_STREAM, &d->primary, 0, NULL };
		d->pool = (struct CUmemPoolHandle_st){ .magic = MAGIC_POOL, .dev = S.n };
		gs_tpcmap_fill(d->gpu.model, d->tpc);
		S.n++;
	}
	S.initialized = true;
}

static void held(void);
#define NEED_INIT() do { if (!S.initialized) return S.init_rc ? S.init_rc : CUDA_ERROR_NOT_INITIALIZED; held(); } while (0)
#define NEED_DEV(d) do { NEED_INIT(); if ((d) < 0 || (d) >= S.n) return CUDA_ERROR_INVALID_DEVICE; } while (0)

static const struct gs_gpu_model *model(int dev)
{
	return S.dev[dev].gpu.model;
}

static unsigned sm_granularity(int dev)
{
	return gs_smrun_unit(model(dev));
}

static struct CUctx_st *current(void)
{
	return tls_depth ? tls_stack[tls_depth - 1] : NULL;
}

static bool valid_ctx(const struct CUctx_st *c)
{
	return c && c->magic == MAGIC_CTX;
}

EXPORT CUresult cuInit(unsigned int flags)
{
	if (flags)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_once(&S.once, sim_init);
	return S.init_rc;
}

EXPORT CUresult cuDriverGetVersion(int *v)
{
	if (!v)
		return CUDA_ERROR_INVALID_VALUE;
	/* GPUSHARE_SIM_DRIVER_VERSION plays an older driver (12020: no green contexts) */
	const char *e = getenv("GPUSHARE_SIM_DRIVER_VERSION");
	*v = e && *e ? atoi(e) : 13000;
	return CUDA_SUCCESS;
}

EXPORT CUresult cuDeviceGetCount(int *count)
{
	NEED_INIT();
	if (!count)
		return CUDA_ERROR_INVALID_VALUE;
	*count = S.n;
	return CUDA_SUCCESS;
}

EXPORT CUresult cuDeviceGet(CUdevice *device, int ordinal)
{
	NEED_INIT();
	if (!device)
		return CUDA_ERROR_INVALID_VALUE;
	if (ordinal < 0 || ordinal >= S.n)
		return CUDA_ERROR_INVALID_DEVICE;
	*device = ordinal;
	return CUDA_SUCCESS;
}

EXPORT CUresult cuDeviceGetName(char *name, int len, CUdevice dev)
{
	NEED_DEV(dev);
	if (!name || len <= 0)
		return CUDA_ERROR_INVALID_VALUE;
	snprintf(name, (size_t)len, "%s", model(dev)->name);
	return CUDA_SUCCESS;
}

static CUresult get_uuid(CUuuid *uuid, CUdevice dev)
{
	NEED_DEV(dev);
	struct gs_uuid u;
	if (!uuid || gs_uuid_parse(S.dev[dev].gpu.uuid + 4, &u))
		return CUDA_ERROR_INVALID_VALUE;
	memcpy(uuid->bytes, u.b, 16);
	return CUDA_SUCCESS;
}

EXPORT CUresult cuDeviceGetUuid(CUuuid *uuid, CUdevice dev)
{
	return get_uuid(uuid, dev);
}

EXPORT CUresult cuDeviceGetUuid_v2(CUuuid *uuid, CUdevice dev)
{
	return get_uuid(uuid, dev);
}

EXPORT CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev)
{
	NEED_DEV(dev);
	if (!bytes)
		return CUDA_ERROR_INVALID_VALUE;
	*bytes = (size_t)model(dev)->memory_mib << 20;
	return CUDA_SUCCESS;
}

EXPORT CUresult cuDeviceGetAttribute(int *pi, int attrib, CUdevice dev)
{
	NEED_DEV(dev);
	if (!pi || attrib <= 0 || attrib >= CU_DEVICE_ATTRIBUTE_MAX)
		return CUDA_ERROR_INVALID_VALUE;
	const struct gs_gpu_model *m = model(dev);
	bool hopper = m->cc_major >= 9;
	switch (attrib) {
	case CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT: *pi = (int)m->sm_count; break;
	case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR: *pi = (int)m->cc_major; break;
	case CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR: *pi = (int)m->cc_minor; break;
	case CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK: *pi = 1024; break;
	case CU_DEVICE_ATTRIBUTE_WARP_SIZE: *pi = 32; break;
	case CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR: *pi = m->cc_minor == 9 ? 1536 : 2048; break;
	case CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE: *pi = hopper ? 50331648 : 41943040; break;
	case CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR: *pi = hopper ? 233472 : 167936; break;
	case CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_MULTIPROCESSOR: *pi = 65536; break;
	case CU_DEVICE_ATTRIBUTE_PCI_BUS_ID: *pi = 0x10 + dev; break;
	case CU_DEVICE_ATTRIBUTE_UNIFIED_ADDRESSING:
	case CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED: *pi = 1; break;
	default: *pi = 0; break;
	}
	return CUDA_SUCCESS;
}

EXPORT CUresult cuDeviceGetPCIBusId(char *bus, int len, CUdevice dev)
{
	NEED_DEV(dev);
	if (!bus || len <= 0)
		return CUDA_ERROR_INVALID_VALUE;
	snprintf(bus, (size_t)len, "%s", S.dev[dev].gpu.bus_id);
	return CUDA_SUCCESS;
}

/* ---- contexts ---- */

/* A context holds device memory of its own, as NVIDIA's do (smaller here). */
#define CONTEXT_BYTES (256ull << 20)

static void charge_context(int dev)
{
	if (!__atomic_exchange_n(&S.dev[dev].context_charged, true, __ATOMIC_SEQ_CST))
		gs_ledger_charge(S.dev[dev].mem, CONTEXT_BYTES);
}

static void push(struct CUctx_st *c)
{
	if (tls_depth < (int)GS_ARRAY_LEN(tls_stack))
		tls_stack[tls_depth++] = c;
}

EXPORT CUresult cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev)
{
	NEED_DEV(dev);
	if (!pctx)
		return CUDA_ERROR_INVALID_VALUE;
	__atomic_add_fetch(&S.dev[dev].primary.refs, 1, __ATOMIC_SEQ_CST);
	charge_context(dev);
	*pctx = &S.dev[dev].primary;
	return CUDA_SUCCESS;
}

EXPORT CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev)
{
	NEED_DEV(dev);
	struct CUctx_st *p = &S.dev[dev].primary;
	if (__atomic_load_n(&p->refs, __ATOMIC_SEQ_CST) <= 0)
		return CUDA_ERROR_INVALID_CONTEXT;
	__atomic_sub_fetch(&p->refs, 1, __ATOMIC_SEQ_CST);
	return CUDA_SUCCESS;
}

EXPORT CUresult cuDevicePrimaryCtxReset_v2(CUdevice dev)
{
	NEED_DEV(dev);
	__atomic_store_n(&S.dev[dev].primary.refs, 0, __ATOMIC_SEQ_CST);
	return CUDA_SUCCESS;
}

EXPORT CUresult cuDevicePrimaryCtxGetState(CUdevice dev, unsigned int *flags, int *active)
{
	NEED_DEV(dev);
	if (!flags || !active)
		return CUDA_ERROR_INVALID_VALUE;
	*flags = S.dev[dev].primary.flags;
	*active = S.dev[dev].primary.refs > 0;
	return CUDA_SUCCESS;
}

EXPORT CUresult cuDevicePrimaryCtxSetFlags_v2(CUdevice dev, unsigned int flags)
{
	NEED_DEV(dev);
	S.dev[dev].primary.flags = flags;
	return CUDA_SUCCESS;
}

static CUresult ctx_create(CUcontext *pctx, unsigned flags, CUdevice dev)
{
	NEED_DEV(dev);
	if (!pctx)
		return CUDA_ERROR_INVALID_VALUE;
	struct CUctx_st *c = calloc(1, sizeof *c);
	if (!c)
		return CUDA_ERROR_OUT_OF_MEMORY;
	charge_context(dev);
	*c = (struct CUctx_st){ .magic = MAGIC_CTX, .dev = dev, .sm_count = model(dev)->sm_count,
				.refs = 1, .flags = flags };
	c->stream = (struct CUstream_st){ MAGIC_STREAM, c, 0, NULL };
	push(c);
	*pctx = c;
	return CUDA_SUCCESS;
}

EXPORT CUresult cuCtxCreate_v2(CUcontext *pctx, unsigned int flags, CUdevice dev)
{
	return ctx_create(pctx, flags, dev);
}

EXPORT CUresult cuCtxCreate_v3(CUcontext *pctx, void *affinity, int n, unsigned int flags, CUdevice dev)
{
	(void)affinity;
	(void)n;
	return ctx_create(pctx, flags, dev);
}

EXPORT CUresult cuCtxCreate_v4(CUcontext *pctx, void *params, unsigned int flags, CUdevice dev)
{
	(void)params;
	return ctx_create(pctx, flags, dev);
}

EXPORT CUresult cuCtxDestroy_v2(CUcontext ctx)
{
	NEED_INIT();
	if (!valid_ctx(ctx) || ctx->primary || ctx->green)
		return CUDA_ERROR_INVALID_CONTEXT;
	for (int i = 0; i < tls_depth; i++)
		if (tls_stack[i] == ctx) {
			memmove(&tls_stack[i], &tls_stack[i + 1], (size_t)(tls_depth - i - 1) * sizeof ctx);
			tls_depth--;
			i--;
		}
	ctx->magic = 0;
	free(ctx);
	return CUDA_SUCCESS;
}

EXPORT CUresult cuCtxSetCurrent(CUcontext ctx)
{
	NEED_INIT();
	if (ctx && !valid_ctx(ctx))
		return CUDA_ERROR_INVALID_CONTEXT;
	if (!ctx) {
		if (tls_depth)
			tls_depth--;
		return CUDA_SUCCESS;
	}
	if (tls_depth)
		tls_stack[tls_depth - 1] = ctx;
	else
		push(ctx);
	return CUDA_SUCCESS;
}

EXPORT CUresult cuCtxGetCurrent(CUcontext *pctx)
{
	NEED_INIT();
	if (!pctx)
		return CUDA_ERROR_INVALID_VALUE;
	*pctx = current();
	return CUDA_SUCCESS;
}

EXPORT CUresult cuCtxPushCurrent_v2(CUcontext ctx)
{
	NEED_INIT();
	if (!valid_ctx(ctx))
		return CUDA_ERROR_INVALID_CONTEXT;
	push(ctx);
	return CUDA_SUCCESS;
}

EXPORT CUresult cuCtxPopCurrent_v2(CUcontext *pctx)
{
	NEED_INIT();
	if (!tls_depth)
		return CUDA_ERROR_INVALID_CONTEXT;
	struct CUctx_st *c = tls_stack[--tls_depth];
	if (pctx)
		*pctx = c;
	return CUDA_SUCCESS;
}

EXPORT CUresult cuCtxGetDevice(CUdevice *dev)
{
	NEED_INIT();
	struct CUctx_st *c = current();
	if (!dev)
		return CUDA_ERROR_INVALID_VALUE;
	if (!c)
		return CUDA_ERROR_INVALID_CONTEXT;
	*dev = c->dev;
	return CUDA_SUCCESS;
}

/* CUDA 13's: of the context given, or the current one (NULL) */
EXPORT CUresult cuCtxGetDevice_v2(CUdevice *dev, CUcontext ctx)
{
	NEED_INIT();
	if (ctx && ctx->magic != MAGIC_CTX)
		return CUDA_ERROR_INVALID_CONTEXT;
	if (!ctx)
		return cuCtxGetDevice(dev);
	if (!dev)
		return CUDA_ERROR_INVALID_VALUE;
	*dev = ctx->dev;
	return CUDA_SUCCESS;
}

static struct CUstream_st *stream_of(CUstream s, struct CUctx_st *c);
static void pool_trim(struct CUmemPoolHandle_st *p, uint64_t keep);

static CUresult ctx_sync(struct CUctx_st *c)
{
	/* every stream of the context is done by the latest of its SMs */
	uint64_t until = c->stream.busy_until;
	struct sm_timeline *t = S.dev[c->dev].sms;
	for (unsigned i = 0; i < c->sm_count && c->sm_start + i < MAX_SMS; i++)
		if (t->busy_until[c->sm_start + i] > until)
			until = t->busy_until[c->sm_start + i];
	sleep_until(until);
	pool_trim(&S.dev[c->dev].pool, S.dev[c->dev].pool.threshold);
	return CUDA_SUCCESS;
}

EXPORT CUresult cuCtxSynchronize(void)
{
	NEED_INIT();
	struct CUctx_st *c = current();
	return c ? ctx_sync(c) : CUDA_ERROR_INVALID_CONTEXT;
}

/* CUDA 13's: the context given, or the current one (NULL) */
EXPORT CUresult cuCtxSynchronize_v2(CUcontext ctx)
{
	NEED_INIT();
	if (ctx && ctx->magic != MAGIC_CTX)
		return CUDA_ERROR_INVALID_CONTEXT;
	struct CUctx_st *c = ctx ? ctx : current();
	return c ? ctx_sync(c) : CUDA_ERROR_INVALID_CONTEXT;
}

/* ---- green contexts ---- */

#define RES_MAGIC 0x67734d53u /* kept in CUdevResource's internal padding */

static void res_set(CUdevResource *r, int dev, unsigned start, unsigned count)
{
	memset(r, 0, sizeof *r);
	r->type = CU_DEV_RESOURCE_TYPE_SM;
	uint32_t v[3] = { RES_MAGIC, (uint32_t)dev, start };
	memcpy(r->_internal_padding, v, sizeof v);
	r->sm.smCount = count;
	r->sm.minSmPartitionSize = sm_granularity(dev);
	r->sm.smCoscheduledAlignment = sm_granularity(dev);
}

static bool res_get(const CUdevResource *r, int *dev, unsigned *start)
{
	uint32_t v[3];
	memcpy(v, r->_internal_padding, sizeof v);
	if (r->type != CU_DEV_RESOURCE_TYPE_SM || v[0] != RES_MAGIC || (int)v[1] >= S.n)
		return false;
	*dev = (int)v[1];
	*start = v[2];
	return true;
}

EXPORT CUresult cuDeviceGetDevResource(CUdevice dev, CUdevResource *res, int type)
{
	NEED_DEV(dev);
	if (!res)
		return CUDA_ERROR_INVALID_VALUE;
	if (type != CU_DEV_RESOURCE_TYPE_SM)
		return CUDA_ERROR_INVALID_RESOURCE_TYPE;
	res_set(res, dev, 0, model(dev)->sm_count);
	return CUDA_SUCCESS;
}

EXPORT CUresult cuCtxGetDevResource(CUcontext ctx, CUdevResource *res, int type)
{
	NEED_INIT();
	if (!valid_ctx(ctx))
		return CUDA_ERROR_INVALID_CONTEXT;
	if (!res)
		return CUDA_ERROR_INVALID_VALUE;
	if (type != CU_DEV_RESOURCE_TYPE_SM)
		return CUDA_ERROR_INVALID_RESOURCE_TYPE;
	res_set(res, ctx->dev, ctx->sm_start, ctx->sm_count);
	return CUDA_SUCCESS;
}

EXPORT CUresult cuGreenCtxGetDevResource(CUgreenCtx g, CUdevResource *res, int type)
{
	NEED_INIT();
	if (!g || g->magic != MAGIC_GREEN)
		return CUDA_ERROR_INVALID_HANDLE;
	return cuCtxGetDevResource(&g->ctx, res, type);
}

EXPORT CUresult cuDevSmResourceSplitByCount(CUdevResource *result, unsigned int *nbGroups, const CUdevResource *input,
					    CUdevResource *remaining, unsigned int useFlags, unsigned int minCount)
{
	NEED_INIT();
	int dev;
	unsigned start;
	if (!nbGroups || !input || useFlags || !res_get(input, &dev, &start))
		return CUDA_ERROR_INVALID_VALUE;
	unsigned gran = sm_granularity(dev), size = minCount ? minCount : gran;
	size = (size + gran - 1) / gran * gran;
	unsigned possible = input->sm.smCount / size;
	if (possible == 0)
		return CUDA_ERROR_INVALID_RESOURCE_CONFIGURATION;
	if (!result) {
		*nbGroups = possible;
		return CUDA_SUCCESS;
	}
	unsigned groups = *nbGroups < possible ? *nbGroups : possible;
	if (groups == 0)
		return CUDA_ERROR_INVALID_VALUE;
	for (unsigned i = 0; i < groups; i++)
		res_set(&result[i], dev, start + i * size, size);
	if (remaining)
		res_set(remaining, dev, start + groups * size, input->sm.smCount - groups * size);
	*nbGroups = groups;
	return CUDA_SUCCESS;
}

EXPORT CUresult cuDevResourceGenerateDesc(CUdevResourceDesc *desc, CUdevResource *res, unsigned int n)
{
	NEED_INIT();
	if (!desc || !res || n == 0)
		return CUDA_ERROR_INVALID_VALUE;
	int dev;
	unsigned start, count = 0, lo = UINT32_MAX, hi = 0;
	for (unsigned i = 0; i < n; i++) {
		if (!res_get(&res[i], &dev, &start))
			return CUDA_ERROR_INVALID_RESOURCE_TYPE;
		lo = start < lo ? start : lo;
		hi = start + res[i].sm.smCount > hi ? start + res[i].sm.smCount : hi;
		count += res[i].sm.smCount;
	}
	if (hi - lo != count)
		return CUDA_ERROR_INVALID_RESOURCE_CONFIGURATION; /* the sim keeps SM sets contiguous */
	struct CUdevResourceDesc_st *d = malloc(sizeof *d);
	if (!d)
		return CUDA_ERROR_OUT_OF_MEMORY;
	*d = (struct CUdevResourceDesc_st){ dev, lo, count };
	*desc = d;
	return CUDA_SUCCESS;
}

EXPORT CUresult cuGreenCtxCreate(CUgreenCtx *g, CUdevResourceDesc desc, CUdevice dev, unsigned int flags)
{
	NEED_DEV(dev);
	if (!g || !desc || desc->dev != dev || !(flags & CU_GREEN_CTX_DEFAULT_STREAM))
		return CUDA_ERROR_INVALID_VALUE;
	struct CUgreenCtx_st *gc = calloc(1, sizeof *gc);
	if (!gc)
		return CUDA_ERROR_OUT_OF_MEMORY;
	gc->magic = MAGIC_GREEN;
	gc->ctx = (struct CUctx_st){ .magic = MAGIC_CTX, .dev = dev, .green = true,
				     .sm_start = desc->sm_start, .sm_count = desc->sm_count, .refs = 1 };
	gc->ctx.stream = (struct CUstream_st){ MAGIC_STREAM, &gc->ctx, 0, NULL };
	*g = gc;
	return CUDA_SUCCESS;
}

EXPORT CUresult cuGreenCtxDestroy(CUgreenCtx g)
{
	NEED_INIT();
	if (!g || g->magic != MAGIC_GREEN)
		return CUDA_ERROR_INVALID_HANDLE;
	for (int i = 0; i < tls_depth; i++)
		if (tls_stack[i] == &g->ctx)
			tls_stack[i] = NULL;
	g->magic = 0;
	g->ctx.magic = 0;
	free(g);
	return CUDA_SUCCESS;
}

EXPORT CUresult cuCtxFromGreenCtx(CUcontext *pctx, CUgreenCtx g)
{
	NEED_INIT();
	if (!pctx || !g || g->magic != MAGIC_GREEN)
		return CUDA_ERROR_INVALID_VALUE;
	*pctx = &g->ctx;
	return CUDA_SUCCESS;
}

/* ---- memory ---- */

static CUresult need_ctx(struct CUctx_st **c)
{
	NEED_INIT();
	*c = current();
	return valid_ctx(*c) ? CUDA_SUCCESS : CUDA_ERROR_INVALID_CONTEXT;
}

EXPORT CUresult cuMemGetInfo_v2(size_t *free_b, size_t *total)
{
	struct CUctx_st *c;
	CUresult rc = need_ctx(&c);
	if (rc)
		return rc;
	if (!free_b || !total)
		return CUDA_ERROR_INVALID_VALUE;
	struct gs_ledger *l = S.dev[c->dev].mem;
	gs_ledger_reclaim(l);
	uint64_t lim = gs_ledger_limit(l), used = gs_ledger_used(l);
	*total = (size_t)lim;
	*free_b = (size_t)(used < lim ? lim - used : 0);
	return CUDA_SUCCESS;
}

/* Takes bytes of device memory: charged to the GPU, backed by lazily
 * committed host memory so that copies work. */
static CUresult dev_alloc(int dev, size_t bytes, uintptr_t *out)
{
	if (bytes == 0)
		return CUDA_ERROR_INVALID_VALUE;
	if (gs_ledger_charge(S.dev[dev].mem, bytes))
		return CUDA_ERROR_OUT_OF_MEMORY;
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		gs_ledger_uncharge(S.dev[dev].mem, bytes);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	pthread_mutex_lock(&S.lock);
	if (S.n_allocs == S.cap_allocs) {
		size_t cap = S.cap_allocs ? S.cap_allocs * 2 : 64;
		struct alloc *a = realloc(S.allocs, cap * sizeof *a);
		if (!a) {
			pthread_mutex_unlock(&S.lock);
			munmap(p, bytes);
			gs_ledger_uncharge(S.dev[dev].mem, bytes);
			return CUDA_ERROR_OUT_OF_MEMORY;
		}
		S.allocs = a;
		S.cap_allocs = cap;
	}
	S.allocs[S.n_allocs++] = (struct alloc){ (uintptr_t)p, bytes, dev, NULL };
	pthread_mutex_unlock(&S.lock);
	*out = (uintptr_t)p;
	return CUDA_SUCCESS;
}

static CUresult dev_free(uintptr_t p)
{
	pthread_mutex_lock(&S.lock);
	for (size_t i = 0; i < S.n_allocs; i++) {
		if (S.allocs[i].ptr == p) {
			struct alloc a = S.allocs[i];
			S.allocs[i] = S.allocs[--S.n_allocs];
			pthread_mutex_unlock(&S.lock);
			munmap((void *)a.ptr, a.size);
			gs_ledger_uncharge(S.dev[a.dev].mem, a.size);
			return CUDA_SUCCESS;
		}
	}
	pthread_mutex_unlock(&S.lock);
	return CUDA_ERROR_INVALID_VALUE;
}

static bool vmm_range_ok(uintptr_t p, size_t n);

/* Whether [p, p + n) is device memory the caller may copy to and from: an
 * allocation's, or mapped addresses whose access was granted. */
static bool dev_range_ok(uintptr_t p, size_t n)
{
	bool ok = false;
	pthread_mutex_lock(&S.lock);
	for (size_t i = 0; i < S.n_allocs && !ok; i++)
		ok = p >= S.allocs[i].ptr && n <= S.allocs[i].size && p - S.allocs[i].ptr <= S.allocs[i].size - n;
	if (!ok)
		ok = vmm_range_ok(p, n);
	pthread_mutex_unlock(&S.lock);
	return ok;
}

EXPORT CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytes)
{
	struct CUctx_st *c;
	CUresult rc = need_ctx(&c);
	if (rc)
		return rc;
	if (!dptr)
		return CUDA_ERROR_INVALID_VALUE;
	uintptr_t p;
	if ((rc = dev_alloc(c->dev, bytes, &p)) == CUDA_SUCCESS)
		*dptr = p;
	return rc;
}

EXPORT CUresult cuMemAllocPitch_v2(CUdeviceptr *dptr, size_t *pitch, size_t width, size_t height, unsigned int elem)
{
	if (!pitch || (elem != 4 && elem != 8 && elem != 16) || width == 0 || height == 0)
		return CUDA_ERROR_INVALID_VALUE;
	size_t p = (width + 511) / 512 * 512;
	if (height > SIZE_MAX / p)
		return CUDA_ERROR_OUT_OF_MEMORY;
	CUresult rc = cuMemAlloc_v2(dptr, p * height);
	if (rc == CUDA_SUCCESS)
		*pitch = p;
	return rc;
}

EXPORT CUresult cuMemAllocManaged(CUdeviceptr *dptr, size_t bytes, unsigned int flags)
{
	(void)flags;
	return cuMemAlloc_v2(dptr, bytes);
}

EXPORT CUresult cuMemFree_v2(CUdeviceptr dptr)
{
	NEED_INIT();
	if (dptr == 0)
		return CUDA_SUCCESS;
	return dev_free((uintptr_t)dptr);
}

static struct CUstream_st *stream_of(CUstream s, struct CUctx_st *c)
{
	/* NULL, CU_STREAM_LEGACY (1) and CU_STREAM_PER_THREAD (2) are the context's own */
	if ((uintptr_t)s <= 2)
		return c ? &c->stream : NULL;
	return s->magic == MAGIC_STREAM ? s : NULL;
}

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;

/* Takes n bytes of a pool, reserving (and charging) more when its free
 * part is too small. */
static CUresult pool_take(struct CUmemPoolHandle_st *p, size_t n)
{
	pthread_mutex_lock(&pool_lock);
	CUresult rc = CUDA_SUCCESS;
	if (p->reserved - p->used < n) {
		uint64_t grow = (n - (p->reserved - p->used) + POOL_CHUNK - 1) / POOL_CHUNK * POOL_CHUNK;
		if (gs_ledger_charge(S.dev[p->dev].mem, grow))
			rc = CUDA_ERROR_OUT_OF_MEMORY;
		else
			p->reserved += grow;
	}
	if (rc == CUDA_SUCCESS)
		p->used += n;
	pthread_mutex_unlock(&pool_lock);
	return rc;
}

/* Gives the unused reserve above keep back to the GPU. */
static void pool_trim(struct CUmemPoolHandle_st *p, uint64_t keep)
{
	pthread_mutex_lock(&pool_lock);
	uint64_t floor = p->used > keep ? p->used : keep;
	floor = (floor + POOL_CHUNK - 1) / POOL_CHUNK * POOL_CHUNK;
	if (p->reserved > floor) {
		gs_ledger_uncharge(S.dev[p->dev].mem, p->reserved - floor);
		p->reserved = floor;
	}
	pthread_mutex_unlock(&pool_lock);
}

static CUresult pool_alloc(CUdeviceptr *dptr, size_t bytes, struct CUmemPoolHandle_st *p, CUstream s)
{
	struct CUctx_st *c;
	CUresult rc = need_ctx(&c);
	if (rc)
		return rc;
	if (!stream_of(s, c))
		return CUDA_ERROR_INVALID_HANDLE;
	if (!dptr || !bytes || !p || p->magic != MAGIC_POOL)
		return CUDA_ERROR_INVALID_VALUE;
	if ((rc = pool_take(p, bytes)))
		return rc;
	void *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	pthread_mutex_lock(&S.lock);
	if (m != MAP_FAILED && S.n_allocs == S.cap_allocs) {
		size_t cap = S.cap_allocs ? S.cap_allocs * 2 : 64;
		struct alloc *a = realloc(S.allocs, cap * sizeof *a);
		if (a) {
			S.allocs = a;
			S.cap_allocs = cap;
		}
	}
	bool ok = m != MAP_FAILED && S.n_allocs < S.cap_allocs;
	if (ok)
		S.allocs[S.n_allocs++] = (struct alloc){ (uintptr_t)m, bytes, p->dev, p };
	pthread_mutex_unlock(&S.lock);
	if (!ok) {
		if (m != MAP_FAILED)
			munmap(m, bytes);
		pthread_mutex_lock(&pool_lock);
		p->used -= bytes;
		pthread_mutex_unlock(&pool_lock);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	*dptr = (uintptr_t)m;
	return CUDA_SUCCESS;
}

EXPORT CUresult cuMemAllocAsync(CUdeviceptr *dptr, size_t bytes, CUstream s)
{
	struct CUctx_st *c;
	CUresult rc = need_ctx(&c);
	return rc ? rc : pool_alloc(dptr, bytes, &S.dev[c->dev].pool, s);
}

EXPORT CUresult cuMemAllocAsync_ptsz(CUdeviceptr *dptr, size_t bytes, CUstream s)
{
	return cuMemAllocAsync(dptr, bytes, s);
}

EXPORT CUresult cuMemFreeAsync(CUdeviceptr dptr, CUstream s)
{
	(void)s;
	NEED_INIT();
	pthread_mutex_lock(&S.lock);
	for (size_t i = 0; i < S.n_allocs; i++) {
		if (S.allocs[i].ptr == dptr && S.allocs[i].pool) {
			struct alloc a = S.allocs[i];
			S.allocs[i] = S.allocs[--S.n_allocs];
			pthread_mutex_unlock(&S.lock);
			munmap((void *)a.ptr, a.size);
			pthread_mutex_lock(&pool_lock);
			a.pool->used -= a.size; /* stays reserved until trimmed or synchronised */
			pthread_mutex_unlock(&pool_lock);
			return CUDA_SUCCESS;
		}
	}
	pthread_mutex_unlock(&S.lock);
	return cuMemFree_v2(dptr); /* memory from cuMemAlloc may be freed here too */
}

EXPORT CUresult cuMemFreeAsync_ptsz(CUdeviceptr dptr, CUstream s)
{
	return cuMemFreeAsync(dptr, s);
}

EXPORT CUresult cuMemAllocFromPoolAsync(CUdeviceptr *dptr, size_t bytes, CUmemoryPool pool, CUstream s)
{
	return pool_alloc(dptr, bytes, pool, s);
}

EXPORT CUresult cuMemAllocFromPoolAsync_ptsz(CUdeviceptr *dptr, size_t bytes, CUmemoryPool pool, CUstream s)
{
	return cuMemAllocFromPoolAsync(dptr, bytes, pool, s);
}

EXPORT CUresult cuMemPoolTrimTo(CUmemoryPool pool, size_t keep)
{
	NEED_INIT();
	if (!pool || pool->magic != MAGIC_POOL)
		return CUDA_ERROR_INVALID_VALUE;
	pool_trim(pool, keep);
	return CUDA_SUCCESS;
}

EXPORT CUresult cuMemPoolGetAttribute(CUmemoryPool pool, int attr, void *value)
{
	NEED_INIT();
	if (!pool || pool->magic != MAGIC_POOL || !value)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&pool_lock);
	uint64_t v = attr == CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT ? pool->reserved
		   : attr == CU_MEMPOOL_ATTR_USED_MEM_CURRENT ? pool->used
		   : attr == CU_MEMPOOL_ATTR_RELEASE_THRESHOLD ? pool->threshold : 0;
	pthread_mutex_unlock(&pool_lock);
	memcpy(value, &v, sizeof v);
	return CUDA_SUCCESS;
}

EXPORT CUresult cuMemPoolCreate(CUmemoryPool *pool, const void *props)
{
	struct CUctx_st *c;
	CUresult rc = need_ctx(&c);
	if (rc)
		return rc;
	if (!pool || !props)
		return CUDA_ERROR_INVALID_VALUE;
	struct CUmemPoolHandle_st *p = calloc(1, sizeof *p);
	if (!p)
		return CUDA_ERROR_OUT_OF_MEMORY;
	*p = (struct CUmemPoolHandle_st){ .magic = MAGIC_POOL, .dev = c->dev };
	*pool = p;
	return CUDA_SUCCESS;
}

EXPORT CUresult cuMemPoolDestroy(CUmemoryPool pool)
{
	NEED_INIT();
	if (!pool || pool->magic != MAGIC_POOL || pool == &S.dev[pool->dev].pool)
		return CUDA_ERROR_INVALID_VALUE;
	pool_trim(pool, 0);
	pool->magic = 0;
	free(pool);
	return CUDA_SUCCESS;
}

EXPORT CUresult cuDeviceGetDefaultMemPool(CUmemoryPool *pool, CUdevice dev)
{
	NEED_DEV(dev);
	if (!pool)
		return CUDA_ERROR_INVALID_VALUE;
	*pool = &S.dev[dev].pool;
	return CUDA_SUCCESS;
}

EXPORT CUresult cuDeviceGetMemPool(CUmemoryPool *pool, CUdevice dev)
{
	return cuDeviceGetDefaultMemPool(pool, dev);
}

/* ---- virtual memory management ----
 * Physical memory (cuMemCreate) is a memory file charged to the GPU, its
 * handle the record's address; a reservation is a range of inaccessible
 * address space; cuMemMap maps the file there (still inaccessible),
 * cuMemSetAccess makes it readable and writable by copies and kernels, and
 * cuMemUnmap puts the inaccessible range back. Physical memory released
 * while mapped lives (and stays charged) until its last mapping goes, as
 * NVIDIA's does. Sizes, addresses and offsets are multiples of the
 * granularity, 2 MiB as on NVIDIA's GPUs. */
#define VMM_GRANULARITY (2ull << 20)
#define MAGIC_PHYS 0x70687321u

struct phys {
	uint32_t magic;
	int dev, fd;
	size_t size;
	unsigned maps;
	bool released;
};
struct resv {
	uintptr_t va;
	size_t size;
};
struct vmap {
	uintptr_t va;
	size_t size;
	struct phys *p;
	bool access;
};
static struct {
	struct phys **phys;
	struct resv *resv;
	struct vmap *map;
	size_t n_phys, n_resv, n_map, cap_phys, cap_resv, cap_map;
} V; /* under S.lock */

/* Room for one more in a list of V, S.lock held. */
static bool vmm_room(void **list, size_t n, size_t *cap, size_t elem)
{
	if (n < *cap)
		return true;
	size_t c = *cap ? *cap * 2 : 16;
	void *l = realloc(*list, c * elem);
	if (!l)
		return false;
	*list = l;
	*cap = c;
	return true;
}

static bool vmm_aligned(uintptr_t v)
{
	return v % VMM_GRANULARITY == 0;
}

static struct phys *phys_find(CUmemGenericAllocationHandle h, size_t *at)
{
	for (size_t i = 0; i < V.n_phys; i++)
		if ((uintptr_t)V.phys[i] == h) {
			if (at)
				*at = i;
			return V.phys[i];
		}
	return NULL;
}

/* The file closed and its charge given back once it is released and
 * mapped nowhere; S.lock held. */
static void phys_maybe_free(struct phys *p)
{
	size_t at;
	if (!p->released || p->maps || !phys_find((uintptr_t)p, &at))
		return;
	V.phys[at] = V.phys[--V.n_phys];
	gs_ledger_uncharge(S.dev[p->dev].mem, p->size);
	close(p->fd);
	p->magic = 0;
	free(p);
}

EXPORT CUresult cuMemGetAllocationGranularity(size_t *granularity, const CUmemAllocationProp *prop,
					      CUmemAllocationGranularity_flags option)
{
	NEED_INIT();
	if (!granularity || !prop || prop->type != CU_MEM_ALLOCATION_TYPE_PINNED ||
	    prop->location.type != CU_MEM_LOCATION_TYPE_DEVICE || prop->location.id < 0 || prop->location.id >= S.n ||
	    (option != CU_MEM_ALLOC_GRANULARITY_MINIMUM && option != CU_MEM_ALLOC_GRANULARITY_RECOMMENDED))
		return CUDA_ERROR_INVALID_VALUE;
	*granularity = VMM_GRANULARITY;
	return CUDA_SUCCESS;
}

/* Owned by the list V.phys until cuMemRelease and its last unmap. */
EXPORT CUresult cuMemCreate(CUmemGenericAllocationHandle *h, size_t size, const CUmemAllocationProp *prop,
			    unsigned long long flags)
{
	NEED_INIT();
	if (!h || !prop || flags || prop->type != CU_MEM_ALLOCATION_TYPE_PINNED ||
	    prop->location.type != CU_MEM_LOCATION_TYPE_DEVICE || prop->location.id < 0 || prop->location.id >= S.n ||
	    size == 0 || !vmm_aligned(size))
		return CUDA_ERROR_INVALID_VALUE;
	int dev = prop->location.id;
	if (gs_ledger_charge(S.dev[dev].mem, size))
		return CUDA_ERROR_OUT_OF_MEMORY;
	struct phys *p = calloc(1, sizeof *p);
	int fd = p ? memfd_create("gpushare-sim-vmm", MFD_CLOEXEC) : -1;
	if (fd < 0 || ftruncate(fd, (off_t)size)) {
		if (fd >= 0)
			close(fd);
		free(p);
		gs_ledger_uncharge(S.dev[dev].mem, size);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	*p = (struct phys){ MAGIC_PHYS, dev, fd, size, 0, false };
	pthread_mutex_lock(&S.lock);
	bool ok = vmm_room((void **)&V.phys, V.n_phys, &V.cap_phys, sizeof *V.phys);
	if (ok)
		V.phys[V.n_phys++] = p;
	pthread_mutex_unlock(&S.lock);
	if (!ok) {
		close(fd);
		free(p);
		gs_ledger_uncharge(S.dev[dev].mem, size);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	*h = (uintptr_t)p;
	return CUDA_SUCCESS;
}

EXPORT CUresult cuMemRelease(CUmemGenericAllocationHandle h)
{
	NEED_INIT();
	pthread_mutex_lock(&S.lock);
	struct phys *p = phys_find(h, NULL);
	CUresult rc = p && !p->released ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
	if (rc == CUDA_SUCCESS) {
		p->released = true;
		phys_maybe_free(p);
	}
	pthread_mutex_unlock(&S.lock);
	return rc;
}

/* The address is a hint, as NVIDIA's: taken where it is free. */
EXPORT CUresult cuMemAddressReserve(CUdeviceptr *ptr, size_t size, size_t alignment, CUdeviceptr addr,
				    unsigned long long flags)
{
	NEED_INIT();
	if (!ptr || flags || size == 0 || !vmm_aligned(size) || (alignment & (alignment - 1)) || !vmm_aligned(addr))
		return CUDA_ERROR_INVALID_VALUE;
	size_t align = alignment > VMM_GRANULARITY ? alignment : VMM_GRANULARITY;
	if (size > SIZE_MAX - align)
		return CUDA_ERROR_OUT_OF_MEMORY;
	int prot_none = PROT_NONE, anon = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
	char *m = addr ? mmap((void *)(uintptr_t)addr, size, prot_none, anon | MAP_FIXED_NOREPLACE, -1, 0) : MAP_FAILED;
	uintptr_t va;
	if (m != MAP_FAILED) {
		va = (uintptr_t)m;
	} else {
		/* an aligned range out of a larger one, the rest given back */
		m = mmap(NULL, size + align, prot_none, anon, -1, 0);
		if (m == MAP_FAILED)
			return CUDA_ERROR_OUT_OF_MEMORY;
		va = ((uintptr_t)m + align - 1) / align * align;
		if (va > (uintptr_t)m)
			munmap(m, va - (uintptr_t)m);
		if ((uintptr_t)m + size + align > va + size)
			munmap((void *)(va + size), (uintptr_t)m + size + align - (va + size));
	}
	pthread_mutex_lock(&S.lock);
	bool ok = vmm_room((void **)&V.resv, V.n_resv, &V.cap_resv, sizeof *V.resv);
	if (ok)
		V.resv[V.n_resv++] = (struct resv){ va, size };
	pthread_mutex_unlock(&S.lock);
	if (!ok) {
		munmap((void *)va, size);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	*ptr = va;
	return CUDA_SUCCESS;
}

/* A whole reservation, nothing mapped in it any more. */
EXPORT CUresult cuMemAddressFree(CUdeviceptr ptr, size_t size)
{
	NEED_INIT();
	CUresult rc = CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&S.lock);
	for (size_t i = 0; i < V.n_resv; i++)
		if (V.resv[i].va == ptr && V.resv[i].size == size) {
			bool mapped = false;
			for (size_t k = 0; k < V.n_map && !mapped; k++)
				mapped = V.map[k].va >= ptr && V.map[k].va < ptr + size;
			if (mapped)
				break;
			V.resv[i] = V.resv[--V.n_resv];
			munmap((void *)(uintptr_t)ptr, size);
			rc = CUDA_SUCCESS;
			break;
		}
	pthread_mutex_unlock(&S.lock);
	return rc;
}

/* Whether [va, va + size) lies in one reservation; S.lock held. */
static bool vmm_reserved(uintptr_t va, size_t size)
{
	for (size_t i = 0; i < V.n_resv; i++)
		if (va >= V.resv[i].va && size <= V.resv[i].size && va - V.resv[i].va <= V.resv[i].size - size)
			return true;
	return false;
}

static bool vmm_overlaps(uintptr_t va, size_t size)
{
	for (size_t k = 0; k < V.n_map; k++)
		if (va < V.map[k].va + V.map[k].size && V.map[k].va < va + size)
			return true;
	return false;
}

EXPORT CUresult cuMemMap(CUdeviceptr ptr, size_t size, size_t offset, CUmemGenericAllocationHandle h,
			 unsigned long long flags)
{
	NEED_INIT();
	if (flags || size == 0 || !vmm_aligned(ptr) || !vmm_aligned(size) || !vmm_aligned(offset))
		return CUDA_ERROR_INVALID_VALUE;
	CUresult rc = CUDA_SUCCESS;
	pthread_mutex_lock(&S.lock);
	struct phys *p = phys_find(h, NULL);
	if (!p || p->released)
		rc = CUDA_ERROR_INVALID_HANDLE;
	else if (offset > p->size || size > p->size - offset || !vmm_reserved(ptr, size) || vmm_overlaps(ptr, size) ||
		 !vmm_room((void **)&V.map, V.n_map, &V.cap_map, sizeof *V.map))
		rc = CUDA_ERROR_INVALID_VALUE;
	else if (mmap((void *)(uintptr_t)ptr, size, PROT_NONE, MAP_SHARED | MAP_FIXED, p->fd, (off_t)offset) == MAP_FAILED)
		rc = CUDA_ERROR_OUT_OF_MEMORY;
	if (rc == CUDA_SUCCESS) {
		V.map[V.n_map++] = (struct vmap){ ptr, size, p, false };
		p->maps++;
	}
	pthread_mutex_unlock(&S.lock);
	return rc;
}

/* Every mapping in [ptr, ptr + size), which they must fill whole; f on
 * each, S.lock held. */
static CUresult vmm_each(uintptr_t ptr, size_t size, bool (*f)(size_t at, const void *arg), const void *arg)
{
	size_t covered = 0;
	for (size_t k = 0; k < V.n_map; k++)
		if (V.map[k].va >= ptr && V.map[k].va - ptr < size) {
			if (V.map[k].size > size - (V.map[k].va - ptr))
				return CUDA_ERROR_INVALID_VALUE; /* one sticking out: part of a mapping */
			covered += V.map[k].size;
		} else if (V.map[k].va < ptr && V.map[k].va + V.map[k].size > ptr) {
			return CUDA_ERROR_INVALID_VALUE;
		}
	if (covered != size || size == 0)
		return CUDA_ERROR_INVALID_VALUE;
	for (size_t k = 0; k < V.n_map;)
		if (V.map[k].va >= ptr && V.map[k].va - ptr < size && f(k, arg))
			; /* f removed entry k: the next one is there now */
		else
			k++;
	return CUDA_SUCCESS;
}

static bool vmm_grant(size_t at, const void *arg)
{
	bool rw = *(const bool *)arg;
	V.map[at].access = rw && mprotect((void *)V.map[at].va, V.map[at].size, PROT_READ | PROT_WRITE) == 0;
	if (!rw)
		mprotect((void *)V.map[at].va, V.map[at].size, PROT_NONE);
	return false;
}

EXPORT CUresult cuMemSetAccess(CUdeviceptr ptr, size_t size, const CUmemAccessDesc *desc, size_t count)
{
	NEED_INIT();
	if (!desc || count == 0)
		return CUDA_ERROR_INVALID_VALUE;
	bool rw = false;
	for (size_t i = 0; i < count; i++) {
		if (desc[i].location.type != CU_MEM_LOCATION_TYPE_DEVICE || desc[i].location.id < 0 ||
		    desc[i].location.id >= S.n ||
		    (desc[i].flags != CU_MEM_ACCESS_FLAGS_PROT_NONE && desc[i].flags != CU_MEM_ACCESS_FLAGS_PROT_READ &&
		     desc[i].flags != CU_MEM_ACCESS_FLAGS_PROT_READWRITE))
			return CUDA_ERROR_INVALID_VALUE;
		rw |= desc[i].flags == CU_MEM_ACCESS_FLAGS_PROT_READWRITE; /* copies read and write: one device's RW */
	}
	pthread_mutex_lock(&S.lock);
	CUresult rc = vmm_each(ptr, size, vmm_grant, &rw);
	pthread_mutex_unlock(&S.lock);
	return rc;
}

static bool vmm_drop(size_t at, const void *arg)
{
	(void)arg;
	struct vmap m = V.map[at];
	/* the range stays reserved: inaccessible again */
	mmap((void *)m.va, m.size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
	V.map[at] = V.map[--V.n_map];
	m.p->maps--;
	phys_maybe_free(m.p);
	return true;
}

EXPORT CUresult cuMemUnmap(CUdeviceptr ptr, size_t size)
{
	NEED_INIT();
	pthread_mutex_lock(&S.lock);
	CUresult rc = vmm_each(ptr, size, vmm_drop, NULL);
	pthread_mutex_unlock(&S.lock);
	return rc;
}

/* Mappings with access cover [p, p + n) without a gap; S.lock held. */
static bool vmm_range_ok(uintptr_t p, size_t n)
{
	uintptr_t at = p, end = p + n;
	if (n == 0 || end < p)
		return false;
	while (at < end) {
		size_t k;
		for (k = 0; k < V.n_map; k++)
			if (V.map[k].access && at >= V.map[k].va && at - V.map[k].va < V.map[k].size)
				break;
		if (k == V.n_map)
			return false;
		at = V.map[k].va + V.map[k].size;
	}
	return true;
}

static size_t format_bytes(int f)
{
	switch (f) {
	case CU_AD_FORMAT_UNSIGNED_INT8: case CU_AD_FORMAT_SIGNED_INT8: return 1;
	case CU_AD_FORMAT_UNSIGNED_INT16: case CU_AD_FORMAT_SIGNED_INT16: case CU_AD_FORMAT_HALF: return 2;
	case CU_AD_FORMAT_UNSIGNED_INT32: case CU_AD_FORMAT_SIGNED_INT32: case CU_AD_FORMAT_FLOAT: return 4;
	default: return 0;
	}
}

static CUresult array_alloc(size_t w, size_t h, size_t d, int format, unsigned channels, unsigned levels, void **out)
{
	struct CUctx_st *c;
	CUresult rc = need_ctx(&c);
	if (rc)
		return rc;
	size_t elem = format_bytes(format) * channels;
	if (elem == 0 || w == 0 || (channels != 1 && channels != 2 && channels != 4))
		return CUDA_ERROR_INVALID_VALUE;
	size_t bytes = 0;
	for (unsigned l = 0; l < (levels ? levels : 1); l++) {
		size_t lw = w >> l ? w >> l : 1, lh = h >> l ? h >> l : 1, ld = d >> l ? d >> l : 1;
		bytes += lw * (h ? lh : 1) * (d ? ld : 1) * elem;
	}
	uintptr_t p;
	if ((rc = dev_alloc(c->dev, bytes, &p)) == CUDA_SUCCESS)
		*out = (void *)p;
	return rc;
}

EXPORT CUresult cuArrayCreate_v2(CUarray *a, const CUDA_ARRAY_DESCRIPTOR *d)
{
	if (!a || !d)
		return CUDA_ERROR_INVALID_VALUE;
	return array_alloc(d->Width, d->Height, 0, d->Format, d->NumChannels, 1, (void **)a);
}

EXPORT CUresult cuArray3DCreate_v2(CUarray *a, const CUDA_ARRAY3D_DESCRIPTOR *d)
{
	if (!a || !d)
		return CUDA_ERROR_INVALID_VALUE;
	return array_alloc(d->Width, d->Height, d->Depth, d->Format, d->NumChannels, 1, (void **)a);
}

EXPORT CUresult cuArrayDestroy(CUarray a)
{
	NEED_INIT();
	return dev_free((uintptr_t)a) ? CUDA_ERROR_INVALID_HANDLE : CUDA_SUCCESS;
}

EXPORT CUresult cuMipmappedArrayCreate(CUmipmappedArray *a, const CUDA_ARRAY3D_DESCRIPTOR *d, unsigned int levels)
{
	if (!a || !d || levels == 0)
		return CUDA_ERROR_INVALID_VALUE;
	return array_alloc(d->Width, d->Height, d->Depth, d->Format, d->NumChannels, levels, (void **)a);
}

EXPORT CUresult cuMipmappedArrayDestroy(CUmipmappedArray a)
{
	NEED_INIT();
	return dev_free((uintptr_t)a) ? CUDA_ERROR_INVALID_HANDLE : CUDA_SUCCESS;
}

EXPORT CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void *src, size_t n)
{
	NEED_INIT();
	if (!src || !dev_range_ok((uintptr_t)dst, n))
		return CUDA_ERROR_INVALID_VALUE;
	memcpy((void *)(uintptr_t)dst, src, n);
	return CUDA_SUCCESS;
}

EXPORT CUresult cuMemcpyHtoD_v2_ptds(CUdeviceptr dst, const void *src, size_t n)
{
	return cuMemcpyHtoD_v2(dst, src, n);
}

EXPORT CUresult cuMemcpyDtoH_v2(void *dst, CUdeviceptr src, size_t n)
{
	struct CUctx_st *c;
	CUresult rc = need_ctx(&c);
	if (rc)
		return rc;
	if (!dst || !dev_range_ok((uintptr_t)src, n))
		return CUDA_ERROR_INVALID_VALUE;
	sleep_until(c->stream.busy_until); /* a synchronous copy waits for the NULL stream */
	memcpy(dst, (const void *)(uintptr_t)src, n);
	return CUDA_SUCCESS;
}

EXPORT CUresult cuMemcpyDtoH_v2_ptds(void *dst, CUdeviceptr src, size_t n)
{
	return cuMemcpyDtoH_v2(dst, src, n);
}

/* Waits until the work queued on s before now is done (async false: the
 * context's NULL stream, as a synchronous call does). */
static CUresult stream_drain(CUstream s, bool async)
{
	struct CUctx_st *c;
	CUresult rc = need_ctx(&c);
	if (rc)
		return rc;
	struct CUstream_st *st = async ? stream_of(s, c) : &c->stream;
	if (!st)
		return CUDA_ERROR_INVALID_HANDLE;
	sleep_until(st->busy_until);
	return CUDA_SUCCESS;
}

/* An asynchronous copy: done once its stream's work before it is (the
 * simulated GPU copies at once, so the copy itself takes no time). */
static CUresult copy_async(void *dst, const void *src, uintptr_t dev, size_t n, CUstream s)
{
	if (!dst || !src || !dev_range_ok(dev, n))
		return S.initialized ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
	CUresult rc = stream_drain(s, true);
	if (!rc)
		memcpy(dst, src, n);
	return rc;
}

EXPORT CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void *src, size_t n, CUstream s)
{
	return copy_async((void *)(uintptr_t)dst, src, (uintptr_t)dst, n, s);
}

EXPORT CUresult cuMemcpyHtoDAsync_v2_ptsz(CUdeviceptr dst, const void *src, size_t n, CUstream s)
{
	return cuMemcpyHtoDAsync_v2(dst, src, n, s);
}

EXPORT CUresult cuMemcpyDtoHAsync_v2(void *dst, CUdeviceptr src, size_t n, CUstream s)
{
	return copy_async(dst, (const void *)(uintptr_t)src, (uintptr_t)src, n, s);
}

EXPORT CUresult cuMemcpyDtoHAsync_v2_ptsz(void *dst, CUdeviceptr src, size_t n, CUstream s)
{
	return cuMemcpyDtoHAsync_v2(dst, src, n, s);
}

/* Copies and sets within device memory (unified addresses: the simulated
 * device's memory is the process's), after the stream's work before them;
 * s NULL: the synchronous call's (the NULL stream's). */
/* A side of a copy: host memory (unchecked, as the driver's unified
 * copies take it), or device memory wholly. */
static bool side_ok(uintptr_t p, size_t n)
{
	return p && (!dev_range_ok(p, 1) || dev_range_ok(p, n));
}

static CUresult dev_op(CUstream s, bool async, bool dtod, uintptr_t dst, uintptr_t src, size_t n, int unit,
		       unsigned int v)
{
	if (unit && n > SIZE_MAX / (size_t)unit)
		return CUDA_ERROR_INVALID_VALUE;
	size_t bytes = unit ? n * (size_t)unit : n;
	/* a set: all of it in device memory, aligned to its unit; a copy: each
	 * side that starts in device memory all in it, and one side at least */
	bool ok = unit ? dev_range_ok(dst, bytes) && dst % (uintptr_t)unit == 0
		       : side_ok(dst, bytes) && side_ok(src, bytes) && (dev_range_ok(dst, 1) || dev_range_ok(src, 1));
	if (!ok || (dtod && !(dev_range_ok(dst, bytes) && dev_range_ok(src, bytes))))
		return S.initialized ? CUDA_ERROR_INVALID_VALUE : CUDA_ERROR_NOT_INITIALIZED;
	CUresult rc = stream_drain(s, async);
	if (rc)
		return rc;
	if (unit == 1)
		memset((void *)dst, (int)v, bytes);
	else if (unit == 4)
		for (size_t i = 0; i < n; i++)
			((uint32_t *)dst)[i] = v;
	else
		memmove((void *)dst, (const void *)src, bytes);
	return CUDA_SUCCESS;
}

#define DEV_OP(sym, params, call) \
	EXPORT CUresult sym params; \
	EXPORT CUresult sym params { return call; }
DEV_OP(cuMemcpy, (CUdeviceptr d, CUdeviceptr src, size_t n), dev_op(NULL, false, false, d, src, n, 0, 0))
DEV_OP(cuMemcpy_ptds, (CUdeviceptr d, CUdeviceptr src, size_t n), dev_op(NULL, false, false, d, src, n, 0, 0))
DEV_OP(cuMemcpyAsync, (CUdeviceptr d, CUdeviceptr src, size_t n, CUstream s), dev_op(s, true, false, d, src, n, 0, 0))
DEV_OP(cuMemcpyAsync_ptsz, (CUdeviceptr d, CUdeviceptr src, size_t n, CUstream s), dev_op(s, true, false, d, src, n, 0, 0))
DEV_OP(cuMemcpyDtoD_v2, (CUdeviceptr d, CUdeviceptr src, size_t n), dev_op(NULL, false, true, d, src, n, 0, 0))
DEV_OP(cuMemcpyDtoD_v2_ptds, (CUdeviceptr d, CUdeviceptr src, size_t n), dev_op(NULL, false, true, d, src, n, 0, 0))
DEV_OP(cuMemcpyDtoDAsync_v2, (CUdeviceptr d, CUdeviceptr src, size_t n, CUstream s), dev_op(s, true, true, d, src, n, 0, 0))
DEV_OP(cuMemcpyDtoDAsync_v2_ptsz, (CUdeviceptr d, CUdeviceptr src, size_t n, CUstream s),
       dev_op(s, true, true, d, src, n, 0, 0))
DEV_OP(cuMemsetD32_v2, (CUdeviceptr d, unsigned int v, size_t n), dev_op(NULL, false, false, d, 0, n, 4, v))
DEV_OP(cuMemsetD32_v2_ptds, (CUdeviceptr d, unsigned int v, size_t n), dev_op(NULL, false, false, d, 0, n, 4, v))
DEV_OP(cuMemsetD8Async, (CUdeviceptr d, unsigned char v, size_t n, CUstream s), dev_op(s, true, false, d, 0, n, 1, v))
DEV_OP(cuMemsetD8Async_ptsz, (CUdeviceptr d, unsigned char v, size_t n, CUstream s), dev_op(s, true, false, d, 0, n, 1, v))
DEV_OP(cuMemsetD32Async, (CUdeviceptr d, unsigned int v, size_t n, CUstream s), dev_op(s, true, false, d, 0, n, 4, v))
DEV_OP(cuMemsetD32Async_ptsz, (CUdeviceptr d, unsigned int v, size_t n, CUstream s), dev_op(s, true, false, d, 0, n, 4, v))
#undef DEV_OP

/* A host function on a stream: run once the stream's work before it is
 * done, on the calling thread (NVIDIA's driver runs it on a thread of its
 * own; a function that waits for the caller would hang here). */
static CUresult host_func(CUstream s, CUhostFn fn, void *data)
{
	CUresult rc = fn ? stream_drain(s, true) : CUDA_ERROR_INVALID_VALUE;
	if (!rc)
		fn(data);
	return rc;
}

EXPORT CUresult cuLaunchHostFunc(CUstream s, CUhostFn fn, void *data)
{
	return host_func(s, fn, data);
}

EXPORT CUresult cuLaunchHostFunc_ptsz(CUstream s, CUhostFn fn, void *data)
{
	return host_func(s, fn, data);
}

/* Page-locked host memory: ordinary memory here, each block kept in a
 * list so that cuMemFreeHost refuses a pointer it did not give. */
static struct host_block {
	void *p;
	struct host_block *next;
} *host_blocks;
static pthread_mutex_t host_lock = PTHREAD_MUTEX_INITIALIZER;

EXPORT CUresult cuMemHostAlloc(void **pp, size_t bytes, unsigned int flags)
{
	struct CUctx_st *c;
	CUresult rc = need_ctx(&c); /* as NVIDIA's driver: pinning needs a current context */
	if (rc)
		return rc;
	if (!pp || bytes == 0 || (flags & ~0x7u)) /* PORTABLE, DEVICEMAP, WRITECOMBINED */
		return CUDA_ERROR_INVALID_VALUE;
	struct host_block *b = malloc(sizeof *b);
	if (!b || !(b->p = malloc(bytes))) {
		free(b);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	pthread_mutex_lock(&host_lock);
	b->next = host_blocks;
	host_blocks = b;
	pthread_mutex_unlock(&host_lock);
	*pp = b->p;
	return CUDA_SUCCESS;
}

EXPORT CUresult cuMemFreeHost(void *p)
{
	NEED_INIT();
	pthread_mutex_lock(&host_lock);
	struct host_block **at = &host_blocks;
	while (*at && (*at)->p != p)
		at = &(*at)->next;
	struct host_block *b = *at;
	if (b)
		*at = b->next;
	pthread_mutex_unlock(&host_lock);
	if (!b)
		return CUDA_ERROR_INVALID_VALUE;
	free(b->p);
	free(b);
	return CUDA_SUCCESS;
}

EXPORT CUresult cuMemsetD8_v2(CUdeviceptr dst, unsigned char v, size_t n)
{
	NEED_INIT();
	if (!dev_range_ok((uintptr_t)dst, n))
		return CUDA_ERROR_INVALID_VALUE;
	memset((void *)(uintptr_t)dst, v, n);
	return CUDA_SUCCESS;
}

EXPORT CUresult cuMemsetD8_v2_ptds(CUdeviceptr dst, unsigned char v, size_t n)
{
	return cuMemsetD8_v2(dst, v, n);
}

/* ---- peers: two devices of the process, as NVLink or PCIe peers are ----
 * Every pair of distinct simulated devices may be peers. A copy between
 * contexts (cuMemcpyPeer) needs no peer access, as on NVIDIA's driver,
 * which stages it through the host where the devices are not peers; it
 * checks that each range is device memory of its context's device. */

/* The device whose memory [p, p + n) is, -1 when it is none's. */
static int dev_of_range(uintptr_t p, size_t n)
{
	int dev = -1;
	pthread_mutex_lock(&S.lock);
	for (size_t i = 0; i < S.n_allocs && dev < 0; i++)
		if (p >= S.allocs[i].ptr && n <= S.allocs[i].size && p - S.allocs[i].ptr <= S.allocs[i].size - n)
			dev = S.allocs[i].dev;
	pthread_mutex_unlock(&S.lock);
	if (dev < 0 && dev_range_ok(p, n))
		dev = -2; /* mapped VMM memory: its device is not recorded, taken as any */
	return dev;
}

EXPORT CUresult cuDeviceCanAccessPeer(int *can, CUdevice dev, CUdevice peer)
{
	NEED_INIT();
	if (!can)
		return CUDA_ERROR_INVALID_VALUE;
	if (dev < 0 || dev >= S.n || peer < 0 || peer >= S.n)
		return CUDA_ERROR_INVALID_DEVICE;
	*can = dev != peer;
	return CUDA_SUCCESS;
}

EXPORT CUresult cuCtxEnablePeerAccess(CUcontext peer, unsigned int flags)
{
	struct CUctx_st *c;
	CUresult rc = need_ctx(&c);
	if (rc)
		return rc;
	if (flags)
		return CUDA_ERROR_INVALID_VALUE;
	if (!valid_ctx(peer))
		return CUDA_ERROR_INVALID_CONTEXT;
	if (peer->dev == c->dev || peer->dev >= 64)
		return CUDA_ERROR_PEER_ACCESS_UNSUPPORTED;
	uint64_t bit = 1ull << peer->dev;
	if (__atomic_fetch_or(&c->peers, bit, __ATOMIC_ACQ_REL) & bit)
		return CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED;
	return CUDA_SUCCESS;
}

EXPORT CUresult cuCtxDisablePeerAccess(CUcontext peer)
{
	struct CUctx_st *c;
	CUresult rc = need_ctx(&c);
	if (rc)
		return rc;
	if (!valid_ctx(peer))
		return CUDA_ERROR_INVALID_CONTEXT;
	uint64_t bit = peer->dev < 64 ? 1ull << peer->dev : 0;
	if (!bit || !(__atomic_fetch_and(&c->peers, ~bit, __ATOMIC_ACQ_REL) & bit))
		return CUDA_ERROR_PEER_ACCESS_NOT_ENABLED;
	return CUDA_SUCCESS;
}

/* A copy between two contexts' memory, after the work of stream s (NULL:
 * both contexts' NULL streams), done at once. */
static CUresult peer_copy(CUdeviceptr dst, CUcontext dc, CUdeviceptr src, CUcontext sc, size_t n, CUstream s)
{
	NEED_INIT();
	if (!valid_ctx(dc) || !valid_ctx(sc))
		return CUDA_ERROR_INVALID_CONTEXT;
	if (n == 0)
		return CUDA_SUCCESS;
	int ddev = dev_of_range((uintptr_t)dst, n), sdev = dev_of_range((uintptr_t)src, n);
	if (ddev == -1 || sdev == -1 || (ddev >= 0 && ddev != dc->dev) || (sdev >= 0 && sdev != sc->dev))
		return CUDA_ERROR_INVALID_VALUE;
	struct CUstream_st *st = s ? stream_of(s, current()) : NULL;
	if (s && !st)
		return CUDA_ERROR_INVALID_HANDLE;
	sleep_until(st ? st->busy_until : dc->stream.busy_until > sc->stream.busy_until ? dc->stream.busy_until
											 : sc->stream.busy_until);
	memmove((void *)(uintptr_t)dst, (const void *)(uintptr_t)src, n);
	return CUDA_SUCCESS;
}

EXPORT CUresult cuMemcpyPeer(CUdeviceptr dst, CUcontext dc, CUdeviceptr src, CUcontext sc, size_t n)
{
	return peer_copy(dst, dc, src, sc, n, NULL);
}

EXPORT CUresult cuMemcpyPeer_ptds(CUdeviceptr dst, CUcontext dc, CUdeviceptr src, CUcontext sc, size_t n)
{
	return peer_copy(dst, dc, src, sc, n, NULL);
}

EXPORT CUresult cuMemcpyPeerAsync(CUdeviceptr dst, CUcontext dc, CUdeviceptr src, CUcontext sc, size_t n, CUstream s)
{
	return peer_copy(dst, dc, src, sc, n, s);
}

EXPORT CUresult cuMemcpyPeerAsync_ptsz(CUdeviceptr dst, CUcontext dc, CUdeviceptr src, CUcontext sc, size_t n,
				       CUstream s)
{
	return peer_copy(dst, dc, src, sc, n, s);
}

/* ---- streams and events ---- */

EXPORT CUresult cuStreamCreate(CUstream *s, unsigned int flags)
{
	(void)flags;
	struct CUctx_st *c;
	CUresult rc = need_ctx(&c);
	if (rc)
		return rc;
	if (!s)
		return CUDA_ERROR_INVALID_VALUE;
	struct CUstream_st *st = malloc(sizeof *st);
	if (!st)
		return CUDA_ERROR_OUT_OF_MEMORY;
	*st = (struct CUstream_st){ MAGIC_STREAM, c, 0, NULL };
	*s = st;
	return CUDA_SUCCESS;
}

EXPORT CUresult cuStreamCreateWithPriority(CUstream *s, unsigned int flags, int prio)
{
	(void)prio;
	return cuStreamCreate(s, flags);
}

EXPORT CUresult cuStreamDestroy_v2(CUstream s)
{
	NEED_INIT();
	if ((uintptr_t)s <= 2 || s->magic != MAGIC_STREAM)
		return CUDA_ERROR_INVALID_HANDLE;
	if (s->pending)
		s->pending->on = NULL;
	s->magic = 0;
	free(s);
	return CUDA_SUCCESS;
}

EXPORT CUresult cuStreamSynchronize(CUstream s)
{
	NEED_INIT();
	struct CUstream_st *st = stream_of(s, current());
	if (!st)
		return CUDA_ERROR_INVALID_HANDLE;
	sleep_until(st->busy_until);
	pool_trim(&S.dev[st->ctx->dev].pool, S.dev[st->ctx->dev].pool.threshold);
	return CUDA_SUCCESS;
}

EXPORT CUresult cuStreamSynchronize_ptsz(CUstream s)
{
	return cuStreamSynchronize(s);
}

/* No stream is ever captured into a graph here. */
EXPORT CUresult cuStreamIsCapturing(CUstream s, int *status)
{
	NEED_INIT();
	if (!status || !stream_of(s, current()))
		return CUDA_ERROR_INVALID_VALUE;
	*status = 0;
	return CUDA_SUCCESS;
}

EXPORT CUresult cuStreamIsCapturing_ptsz(CUstream s, int *status)
{
	return cuStreamIsCapturing(s, status);
}

/* An event no longer its stream's last work. */
static void event_unpend(struct CUevent_st *e)
{
	if (e->on && e->on->pending == e)
		e->on->pending = NULL;
	e->on = NULL;
}

EXPORT CUresult cuEventCreate(CUevent *e, unsigned int flags)
{
	(void)flags;
	NEED_INIT();
	if (!e)
		return CUDA_ERROR_INVALID_VALUE;
	struct CUevent_st *ev = calloc(1, sizeof *ev);
	if (!ev)
		return CUDA_ERROR_OUT_OF_MEMORY;
	ev->magic = MAGIC_EVENT;
	*e = ev;
	return CUDA_SUCCESS;
}

EXPORT CUresult cuEventRecord(CUevent e, CUstream s)
{
	NEED_INIT();
	struct CUstream_st *st = stream_of(s, current());
	if (!e || e->magic != MAGIC_EVENT || !st)
		return CUDA_ERROR_INVALID_HANDLE;
	uint64_t n = now_ns();
	e->t = st->busy_until > n ? st->busy_until : n;
	e->recorded = true;
	event_unpend(e);
	e->on = st;
	st->pending = e;
	return CUDA_SUCCESS;
}

EXPORT CUresult cuEventRecord_ptsz(CUevent e, CUstream s)
{
	return cuEventRecord(e, s);
}

EXPORT CUresult cuEventSynchronize(CUevent e)
{
	NEED_INIT();
	if (!e || e->magic != MAGIC_EVENT)
		return CUDA_ERROR_INVALID_HANDLE;
	sleep_until(e->t);
	return CUDA_SUCCESS;
}

EXPORT CUresult cuEventQuery(CUevent e)
{
	NEED_INIT();
	if (!e || e->magic != MAGIC_EVENT)
		return CUDA_ERROR_INVALID_HANDLE;
	return !e->recorded || now_ns() >= e->t ? CUDA_SUCCESS : CUDA_ERROR_NOT_READY;
}

EXPORT CUresult cuEventElapsedTime(float *ms, CUevent start, CUevent end)
{
	NEED_INIT();
	if (!ms || !start || !end || start->magic != MAGIC_EVENT || end->magic != MAGIC_EVENT)
		return CUDA_ERROR_INVALID_HANDLE;
	if (!start->recorded || !end->recorded)
		return CUDA_ERROR_INVALID_HANDLE;
	if (now_ns() < end->t)
		return CUDA_ERROR_NOT_READY;
	*ms = (float)((double)((int64_t)(end->t - start->t)) / 1e6);
	return CUDA_SUCCESS;
}

EXPORT CUresult cuEventElapsedTime_v2(float *ms, CUevent start, CUevent end)
{
	return cuEventElapsedTime(ms, start, end);
}

EXPORT CUresult cuEventDestroy_v2(CUevent e)
{
	NEED_INIT();
	if (!e || e->magic != MAGIC_EVENT)
		return CUDA_ERROR_INVALID_HANDLE;
	event_unpend(e);
	e->magic = 0;
	free(e);
	return CUDA_SUCCESS;
}

/* ---- modules and launches ---- */

EXPORT CUresult cuModuleLoadData(CUmodule *m, const void *image)
{
	struct CUctx_st *c;
	CUresult rc = need_ctx(&c);
	if (rc)
		return rc;
	if (!m || !image)
		return CUDA_ERROR_INVALID_VALUE;
	const char *text = image;
	if (strncmp(text, "gpushare-sim-module\n", 20))
		return CUDA_ERROR_INVALID_IMAGE;
	struct CUmod_st *mod = calloc(1, sizeof *mod);
	if (!mod)
		return CUDA_ERROR_OUT_OF_MEMORY;
	mod->magic = MAGIC_MOD;
	for (const char *line = strchr(text, '\n'); line && *++line; line = strchr(line, '\n')) {
		char name[64];
		double usec;
		if (mod->n == MAX_KERNELS || sscanf(line, "kernel %63s %lf", name, &usec) != 2 || usec < 0) {
			free(mod);
			return CUDA_ERROR_INVALID_IMAGE;
		}
		struct CUfunc_st *f = &mod->f[mod->n++];
		f->magic = MAGIC_FUNC;
		snprintf(f->name, sizeof f->name, "%s", name);
		f->ns = (uint64_t)(usec * 1000.0);
	}
	*m = mod;
	return CUDA_SUCCESS;
}

EXPORT CUresult cuModuleGetFunction(CUfunction *f, CUmodule m, const char *name)
{
	NEED_INIT();
	if (!f || !m || !name || m->magic != MAGIC_MOD)
		return CUDA_ERROR_INVALID_VALUE;
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->f[i].name, name) == 0) {
			*f = &m->f[i];
			return CUDA_SUCCESS;
		}
	return CUDA_ERROR_NOT_FOUND;
}

EXPORT CUresult cuFuncGetName(const char **name, CUfunction f)
{
	NEED_INIT();
	if (!name || !f || f->magic != MAGIC_FUNC)
		return CUDA_ERROR_INVALID_HANDLE;
	*name = f->name;
	return CUDA_SUCCESS;
}

EXPORT CUresult cuModuleUnload(CUmodule m)
{
	NEED_INIT();
	if (!m || m->magic != MAGIC_MOD)
		return CUDA_ERROR_INVALID_HANDLE;
	m->magic = 0;
	free(m);
	return CUDA_SUCCESS;
}

/* ---- the launch-descriptor callback (an export table), as on Hopper ----
 *
 * cuGetExportTable with TPC_TABLE_ID gives a table of functions; entry 3
 * subscribes a callback (handle out), entry 6 enables it for a domain and
 * callback id. Enabled for domain 0xb, id 1 ("before the launch descriptor
 * is uploaded"), it runs at every launch with params whose first word is
 * their size and whose 5th pointer is the task descriptor (TMD), where it may
 * write a disabled-TPC mask (h200-findings.md; libsmctrl is the reference
 * user). Our reading of the Hopper TMD (version byte 0x40 at offset 72):
 * - the mask is 128 bits in four 32-bit words at 304, 308 (TPCs 0-63) and
 *   312, 316 (TPCs 64-127); bit i of word 304 + 4 * (i / 32) is TPC i, and
 *   a set bit disables it. Bit 31 of word 304 is TPC 31 like any other;
 * - the "enable bit" the findings name ("bit 31 of the first word") is bit
 *   31 of the TMD's first word, offset 0 (libsmctrl sets it there, beside
 *   the mask words), not of word 304: a mask without it is ignored. */
#define TPC_DOMAIN GS_CU_LAUNCH_CB_DOMAIN
#define TPC_CBID_PRE_UPLOAD 1
#define TPC_MAX_SUBSCRIBERS 8
#define TPC_TABLE_ENTRIES 12 /* 0x60 bytes, entry 0 included, as on driver 580 */
#define TMD_SIZE 512
#define TMD_VERSION_OFF 72
#define TMD_VERSION_HOPPER 0x40
#define TMD_ENABLE_OFF 0
#define TMD_ENABLE_BIT 0x80000000u
#define TMD_MASK_OFF 304

typedef gs_cu_launch_cb tpc_callback;

static const CUuuid TPC_TABLE_ID = GS_CU_LAUNCH_CB_TABLE_ID;

static struct {
	pthread_mutex_t lock;
	unsigned n;
	struct {
		tpc_callback fn;
		void *userdata;
		bool enabled;
	} sub[TPC_MAX_SUBSCRIBERS];
} T = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void cb_mark(void);
static const struct gs_sim_tool *tool;

/* handle = index + 1, so that 0 is never a handle. The driver's callbacks
 * have one subscriber, a launch callback's or a profiling tool's (CUPTI):
 * with a tool attached, none (as on the H100, where CUPTI beside gpushare's
 * masks answers CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED:
 * bench/results/h100-trace-cupti-2026-12-07b.txt). */
static int tpc_subscribe(uint32_t *handle, tpc_callback fn, void *userdata)
{
	if (!handle || !fn)
		return CUDA_ERROR_INVALID_VALUE;
	pthread_mutex_lock(&T.lock);
	if (__atomic_load_n(&tool, __ATOMIC_ACQUIRE)) {
		pthread_mutex_unlock(&T.lock);
		return CUDA_ERROR_NOT_SUPPORTED;
	}
	if (T.n == TPC_MAX_SUBSCRIBERS) {
		pthread_mutex_unlock(&T.lock);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	T.sub[T.n].fn = fn;
	T.sub[T.n].userdata = userdata;
	T.sub[T.n].enabled = false;
	*handle = ++T.n;
	cb_mark();
	pthread_mutex_unlock(&T.lock);
	return CUDA_SUCCESS;
}

/* The checkpoint API refuses a process that ever subscribed a launch
 * callback, or had CUPTI attached (CUDA_ERROR_NOT_SUPPORTED, as the real
 * driver: bench/results/h100-ckpt-callback-2026-12-07.txt; disabling either
 * undoes nothing there, nor here). The
 * checkpointer is another process: <sim dir>/launch-cb-<pid>, written by the
 * process itself with its start time, tells it (cb_marked below). */
static void cb_mark(void)
{
	static bool marked;
	char dir[PATH_MAX], path[PATH_MAX + 32], text[64];
	uint64_t start;
	if (marked || gs_sim_dir(dir, sizeof dir) || gs_proc_start(getpid(), &start))
		return;
	marked = true;
	snprintf(path, sizeof path, "%s/launch-cb-%d", dir, (int)getpid());
	int n = snprintf(text, sizeof text, "start %" PRIu64 "\n", start);
	gs_file_replace(path, text, (size_t)n);
}

/* Only the pre-upload launch callback exists here: enabling another domain
 * or id is accepted (the real driver has many) and has no effect. */
static int tpc_enable(uint32_t enable, uint32_t handle, int domain, int cbid)
{
	int rc = CUDA_SUCCESS;
	pthread_mutex_lock(&T.lock);
	if (handle == 0 || handle > T.n)
		rc = CUDA_ERROR_INVALID_HANDLE;
	else if (domain == TPC_DOMAIN && cbid == TPC_CBID_PRE_UPLOAD)
		T.sub[handle - 1].enabled = enable != 0;
	pthread_mutex_unlock(&T.lock);
	return rc;
}

/* The table's other entries: what they do on the real driver is unknown. */
static int tpc_unknown_entry(void)
{
	return CUDA_ERROR_NOT_SUPPORTED;
}

static void *tpc_table[TPC_TABLE_ENTRIES];
static pthread_once_t tpc_table_once = PTHREAD_ONCE_INIT;

static void tpc_table_init(void)
{
	for (size_t i = 1; i < TPC_TABLE_ENTRIES; i++)
		tpc_table[i] = (void *)tpc_unknown_entry;
	tpc_table[0] = (void *)(uintptr_t)sizeof tpc_table; /* the real table's first entry: its size */
	tpc_table[GS_CU_LAUNCH_CB_SUBSCRIBE] = (void *)tpc_subscribe;
	tpc_table[GS_CU_LAUNCH_CB_ENABLE] = (void *)tpc_enable;
}

/* Needs no cuInit, as the runtime asks for tables before it. An id this
 * library has no table for gets CUDA_ERROR_INVALID_VALUE and *table NULL
 * (the real driver answers unknown ids with an error too);
 * GPUSHARE_SIM_NO_LAUNCH_CALLBACK=1 makes a driver without the
 * launch-descriptor callback's table. */
EXPORT CUresult cuGetExportTable(const void **table, const CUuuid *id)
{
	if (!table || !id)
		return CUDA_ERROR_INVALID_VALUE;
	*table = NULL;
	const char *none = getenv("GPUSHARE_SIM_NO_LAUNCH_CALLBACK");
	if (memcmp(id->bytes, TPC_TABLE_ID.bytes, sizeof id->bytes) || (none && strcmp(none, "1") == 0))
		return CUDA_ERROR_INVALID_VALUE;
	pthread_once(&tpc_table_once, tpc_table_init);
	*table = tpc_table;
	return CUDA_SUCCESS;
}

static uint32_t tmd_word(const unsigned char *tmd, size_t off)
{
	uint32_t w;
	memcpy(&w, tmd + off, sizeof w);
	return w;
}

/* Runs the enabled launch callbacks on a fresh TMD and marks in use[] the SMs
 * the kernel may take: the context's range [*first, *last) when no callback
 * set an enabled mask, else those of the enabled live TPCs on the whole GPU,
 * [*first, *last) widened to it: a mask overrides a green context, as on the
 * H200 (a program in a 64-SM green context took all 132 SMs,
 * bench/results/h200-tpcmask-probe-2026-12-03.txt). Returns how many SMs
 * are marked, 0 when the mask leaves none: a real GPU never runs such a
 * launch (it hangs), so the caller fails it instead. The callbacks run with
 * no lock held. */
static unsigned tpc_select(const struct dev *d, unsigned *first, unsigned *last, bool use[MAX_SMS],
			   uint32_t mask[4], bool *masked)
{
	tpc_callback fn[TPC_MAX_SUBSCRIBERS];
	void *ud[TPC_MAX_SUBSCRIBERS];
	unsigned n = 0;
	pthread_mutex_lock(&T.lock);
	for (unsigned i = 0; i < T.n; i++)
		if (T.sub[i].enabled) {
			fn[n] = T.sub[i].fn;
			ud[n++] = T.sub[i].userdata;
		}
	pthread_mutex_unlock(&T.lock);
	*masked = false;
	memset(mask, 0, 4 * sizeof *mask);
	unsigned count = 0;
	if (n) {
		_Alignas(8) unsigned char tmd[TMD_SIZE] = { 0 };
		tmd[TMD_VERSION_OFF] = TMD_VERSION_HOPPER;
		/* size, then four pointers, the 5th being the TMD */
		void *params[6] = { (void *)(uintptr_t)sizeof params, NULL, NULL, NULL, tmd, NULL };
		for (unsigned i = 0; i < n; i++)
			fn[i](ud[i], TPC_DOMAIN, TPC_CBID_PRE_UPLOAD, params);
		*masked = (tmd_word(tmd, TMD_ENABLE_OFF) & TMD_ENABLE_BIT) != 0;
		for (unsigned w = 0; w < 4; w++)
			mask[w] = tmd_word(tmd, TMD_MASK_OFF + 4 * w);
	}
	if (*masked) {
		*first = 0;
		*last = d->primary.sm_count < MAX_SMS ? d->primary.sm_count : MAX_SMS;
	}
	for (unsigned i = *first; i < *last; i++)
		use[i] = !*masked;
	if (*masked)
		for (unsigned b = 0; b < GS_TPC_BITS; b++) {
			int sm = d->tpc[b];
			if (sm < 0 || (mask[b / 32] >> (b % 32)) & 1)
				continue;
			for (unsigned k = (unsigned)sm; k < (unsigned)sm + 2 && k < *last; k++)
				use[k] = true;
		}
	for (unsigned i = *first; i < *last; i++)
		count += use[i];
	return count;
}

/* A kernel of fewer blocks than its SMs: only the n SMs of use[] free
 * first stay marked (one block per SM), and [*first, *last) shrinks to
 * them, so that the launch looks at no other. Under the timeline's lock. */
static void fewest(const struct sm_timeline *t, unsigned *first, unsigned *last, bool use[MAX_SMS], unsigned n)
{
	unsigned pick[MAX_SMS], k = 0;
	for (unsigned i = *first; i < *last; i++) {
		if (!use[i])
			continue;
		/* insertion into the n free first so far */
		unsigned j = k < n ? k++ : n;
		while (j > 0 && t->busy_until[pick[j - 1]] > t->busy_until[i]) {
			if (j < n)
				pick[j] = pick[j - 1];
			j--;
		}
		if (j < n)
			pick[j] = i;
	}
	memset(use + *first, 0, *last - *first);
	unsigned lo = MAX_SMS, hi = 0;
	for (unsigned i = 0; i < k; i++) {
		use[pick[i]] = true;
		lo = pick[i] < lo ? pick[i] : lo;
		hi = pick[i] > hi ? pick[i] : hi;
	}
	if (k)
		*first = lo, *last = hi + 1;
}

/* The profiling tool (the simulated CUPTI) from now on; refused (-EBUSY)
 * where a launch callback holds the driver's callbacks (tpc_subscribe). */
EXPORT int gs_sim_tool_attach(const struct gs_sim_tool *t);
EXPORT int gs_sim_tool_attach(const struct gs_sim_tool *t)
{
	pthread_mutex_lock(&T.lock);
	bool taken = t && T.n > 0;
	if (!taken)
		__atomic_store_n(&tool, t, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&T.lock);
	if (taken)
		return -EBUSY;
	if (t)
		cb_mark(); /* a process with CUPTI is refused a checkpoint too */
	return 0;
}

static CUresult launch(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
		       unsigned bz, CUstream s, void **params, uint32_t correlation)
{
	NEED_INIT();
	struct CUctx_st *c = current();
	struct CUstream_st *st = stream_of(s, c);
	if ((uintptr_t)s > 2 && st)
		c = st->ctx;
	if (!valid_ctx(c))
		return CUDA_ERROR_INVALID_CONTEXT;
	if (!st)
		return CUDA_ERROR_INVALID_HANDLE;
	if (!f || f->magic != MAGIC_FUNC)
		return CUDA_ERROR_INVALID_HANDLE;
	uint64_t blocks = (uint64_t)gx * gy * gz;
	if (blocks == 0 || (uint64_t)bx * by * bz == 0 || (uint64_t)bx * by * bz > 1024)
		return CUDA_ERROR_INVALID_VALUE;
	unsigned span = c->sm_count ? c->sm_count : 1;
	unsigned first = c->sm_start, last = c->sm_start + span > MAX_SMS ? MAX_SMS : c->sm_start + span;
	/* the SMs the kernel runs on: the context's, less what a TPC mask set
	 * by a launch callback disables */
	bool use[MAX_SMS] = { false };
	uint32_t mask[4];
	bool masked;
	unsigned sms = tpc_select(&S.dev[c->dev], &first, &last, use, mask, &masked);
	if (sms == 0) {
		/* a real GPU never runs it and the launch hangs: fail it here */
		fprintf(stderr,
			"gpushare simulated CUDA: TPC mask %08x %08x %08x %08x leaves no live TPC in SMs %u-%u; "
			"a real GPU would hang on this launch\n",
			mask[0], mask[1], mask[2], mask[3], first, last - 1);
		return CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES;
	}
	bool may[MAX_SMS]; /* the SMs it may use, before fewest takes some */
	unsigned lo = first, hi = last;
	memcpy(may, use, sizeof may);
	uint64_t waves = (blocks + sms - 1) / sms, dur = waves * f->ns;
	struct sm_timeline *t = S.dev[c->dev].sms;
	if (pthread_mutex_lock(&t->lock) == EOWNERDEAD)
		pthread_mutex_consistent(&t->lock);
	if (blocks < sms)
		fewest(t, &first, &last, use, (unsigned)blocks);
	uint64_t start = now_ns();
	if (st->busy_until > start)
		start = st->busy_until;
	for (unsigned i = first; i < last; i++)
		if (use[i] && t->busy_until[i] > start)
			start = t->busy_until[i];
	/* time-slicing: another process's kernels on the SMs it may use end
	 * first, where either side is no MPS client */
	for (unsigned i = lo; i < hi; i++)
		if (may[i] && t->owner[i] != self_pid && (self_alone || t->alone[i]) && t->busy_until[i] > start)
			start = t->busy_until[i];
	for (unsigned i = first; i < last; i++)
		if (use[i]) {
			t->busy_until[i] = start + dur;
			t->owner[i] = self_pid;
			t->alone[i] = self_alone;
		}
	pthread_mutex_unlock(&t->lock);
	st->busy_until = start + dur;
	if (st->pending) {
		st->pending->t = start; /* reached when the kernel gets its SMs */
		event_unpend(st->pending);
	}
	const struct gs_sim_tool *t_ = __atomic_load_n(&tool, __ATOMIC_ACQUIRE);
	if (correlation && t_)
		t_->kernel(&(const struct gs_sim_kernel){ .correlation = correlation,
							  .device = (uint32_t)c->dev,
							  .context = (uint32_t)((uintptr_t)c >> 4),
							  .stream = (uint32_t)((uintptr_t)st >> 4),
							  .start = start,
							  .end = start + dur,
							  .grid = { gx, gy, gz },
							  .block = { bx, by, bz },
							  .name = f->name });
	if (strcmp(f->name, "gs_smid") == 0 && params && params[0]) {
		CUdeviceptr out = *(CUdeviceptr *)params[0];
		if (!dev_range_ok((uintptr_t)out, blocks * sizeof(uint32_t)))
			return CUDA_ERROR_INVALID_VALUE;
		uint32_t *ids = (uint32_t *)(uintptr_t)out;
		uint32_t list[MAX_SMS];
		unsigned n = 0;
		for (unsigned i = first; i < last; i++)
			if (use[i])
				list[n++] = i;
		for (uint64_t b = 0; b < blocks; b++)
			ids[b] = list[b % n];
	}
	return CUDA_SUCCESS;
}

/* A launch as the tool sees it: entry (its correlation id), the kernel,
 * exit; each exported launch is one call of the driver's API (cbid). */
#define CBID(name, id) enum { CBID_##name = id };
GS_CUPTI_DRIVER_LAUNCHES(CBID)
static CUresult api_launch(uint32_t cbid, CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
			   unsigned by, unsigned bz, CUstream s, void **params)
{
	const struct gs_sim_tool *t = __atomic_load_n(&tool, __ATOMIC_ACQUIRE);
	uint32_t correlation = t ? t->api_enter(cbid) : 0;
	CUresult rc = launch(f, gx, gy, gz, bx, by, bz, s, params, correlation);
	if (t)
		t->api_exit(cbid, correlation);
	return rc;
}

EXPORT CUresult cuLaunchKernel(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx,
			       unsigned int by, unsigned int bz, unsigned int shmem, CUstream s, void **params,
			       void **extra)
{
	(void)shmem;
	(void)extra;
	return api_launch(CBID_cuLaunchKernel, f, gx, gy, gz, bx, by, bz, s, params);
}

EXPORT CUresult cuLaunchKernel_ptsz(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx,
				    unsigned int by, unsigned int bz, unsigned int shmem, CUstream s, void **params,
				    void **extra)
{
	(void)shmem;
	(void)extra;
	return api_launch(CBID_cuLaunchKernel_ptsz, f, gx, gy, gz, bx, by, bz, s, params);
}

static CUresult launch_ex(uint32_t cbid, const CUlaunchConfig *cfg, CUfunction f, void **params)
{
	if (!cfg)
		return CUDA_ERROR_INVALID_VALUE;
	return api_launch(cbid, f, cfg->gridDimX, cfg->gridDimY, cfg->gridDimZ, cfg->blockDimX, cfg->blockDimY,
			  cfg->blockDimZ, cfg->hStream, params);
}

EXPORT CUresult cuLaunchKernelEx(const CUlaunchConfig *cfg, CUfunction f, void **params, void **extra)
{
	(void)extra;
	return launch_ex(CBID_cuLaunchKernelEx, cfg, f, params);
}

EXPORT CUresult cuLaunchKernelEx_ptsz(const CUlaunchConfig *cfg, CUfunction f, void **params, void **extra)
{
	(void)extra;
	return launch_ex(CBID_cuLaunchKernelEx_ptsz, cfg, f, params);
}

/* A cooperative launch runs as any other here (every block is resident on
 * a simulated GPU). */
EXPORT CUresult cuLaunchCooperativeKernel(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz,
					  unsigned int bx, unsigned int by, unsigned int bz, unsigned int shmem, CUstream s,
					  void **params)
{
	(void)shmem;
	return api_launch(CBID_cuLaunchCooperativeKernel, f, gx, gy, gz, bx, by, bz, s, params);
}

EXPORT CUresult cuLaunchCooperativeKernel_ptsz(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz,
					       unsigned int bx, unsigned int by, unsigned int bz, unsigned int shmem,
					       CUstream s, void **params)
{
	(void)shmem;
	return api_launch(CBID_cuLaunchCooperativeKernel_ptsz, f, gx, gy, gz, bx, by, bz, s, params);
}

/* ---- the checkpoint API, as NVIDIA's (called by another process, such
 * as gpushare-control's suspend): Lock holds every CUDA call of process pid
 * (a flag on its slots of the GPUs' memory ledgers, which its calls look at:
 * held() below), Checkpoint takes its device memory out of the GPUs' ledgers
 * (kept in <sim dir>/checkpoint-<pid>, as if copied to host), Restore puts
 * it back when it fits (CUDA_ERROR_OUT_OF_MEMORY, nothing changed, when it
 * does not), Unlock lets its calls go on. Only its own user or root may.
 *
 * Restore may remap the process's GPUs (gpuPairs, as NVIDIA's): its memory
 * goes back on the new GPU of each pair, and Unlock leaves a remap file
 * (<sim dir>/remap-<pid>) for the process itself, whose held calls read it:
 * each of its devices that was an old GPU becomes the new one (its memory
 * ledger, SM timeline and identity), so that its device 0 is the new GPU
 * from then on. Its holds stay up until it has read the file. */
static bool remap_apply(void);

static void held(void)
{
	for (int d = 0; d < S.n; d++)
		while (S.dev[d].mem && gs_ledger_held_here(S.dev[d].mem)) {
			if (remap_apply()) {
				d = -1; /* every device again: they may have changed */
				break;
			}
			usleep(1000);
		}
}

static CUresult sim_path(const char *what, int pid, char *path, size_t len)
{
	char dir[PATH_MAX];
	if (gs_sim_dir(dir, sizeof dir) || snprintf(path, len, "%s/%s-%d", dir, what, pid) >= (int)len)
		return CUDA_ERROR_UNKNOWN;
	return CUDA_SUCCESS;
}

/* A file of the sim dir that only its writer's user or root wrote, and
 * nobody else may write: what it says holds. The caller closes it. */
static FILE *trusted_open(const char *path, uid_t writer_a, uid_t writer_b)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
	if (!f) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if (fstat(fd, &st) || (st.st_uid != writer_a && st.st_uid != writer_b) || (st.st_mode & 022)) {
		fclose(f);
		errno = EPERM;
		return NULL;
	}
	return f;
}

/* What the checkpointer knows of pid: its state, the bytes taken out per
 * GPU (checkpointed) and, restored with pairs, where each device's memory
 * went (to[d]: the device it went to, -1 where it stayed). */
struct ckpt {
	uint64_t bytes[GS_SIM_MAX_GPU];
	int to[GS_SIM_MAX_GPU];
};

static int ckpt_read(int pid, struct ckpt *c)
{
	char path[PATH_MAX];
	memset(c->bytes, 0, sizeof c->bytes);
	for (int d = 0; d < GS_SIM_MAX_GPU; d++)
		c->to[d] = -1;
	if (sim_path("checkpoint", pid, path, sizeof path))
		return CU_PROCESS_STATE_FAILED;
	FILE *f = trusted_open(path, geteuid(), geteuid());
	if (!f) /* none: running; not the checkpointer's own: nothing it says holds */
		return errno == ENOENT ? CU_PROCESS_STATE_RUNNING : CU_PROCESS_STATE_FAILED;
	int state = CU_PROCESS_STATE_FAILED;
	uint64_t start = 0, now = 0;
	if (fscanf(f, "state %d start %" SCNu64, &state, &start) != 2)
		state = CU_PROCESS_STATE_FAILED;
	if (gs_proc_start(pid, &now) || now != start)
		state = CU_PROCESS_STATE_RUNNING; /* another process of that pid: the file was its predecessor's */
	int d;
	for (d = 0; d < GS_SIM_MAX_GPU; d++)
		if (fscanf(f, " %" SCNu64, &c->bytes[d]) != 1)
			break;
	for (d = 0; d < GS_SIM_MAX_GPU; d++)
		if (fscanf(f, " %d", &c->to[d]) != 1 || c->to[d] < -1 || c->to[d] >= S.n)
			break;
	for (; d < GS_SIM_MAX_GPU; d++) /* a file of before the pairs, or a bad number */
		c->to[d] = -1;
	fclose(f);
	return state;
}

static CUresult ckpt_write(int pid, int state, const struct ckpt *c)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	if (sim_path("checkpoint", pid, path, sizeof path))
		return CUDA_ERROR_UNKNOWN;
	if (state == CU_PROCESS_STATE_RUNNING)
		return unlink(path) == 0 || errno == ENOENT ? CUDA_SUCCESS : CUDA_ERROR_UNKNOWN;
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	unlink(tmp);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		if (fd >= 0)
			close(fd);
		return CUDA_ERROR_UNKNOWN;
	}
	uint64_t start = 0;
	gs_proc_start(pid, &start);
	fprintf(f, "state %d start %" PRIu64, state, start);
	for (int d = 0; d < GS_SIM_MAX_GPU; d++)
		fprintf(f, " %" PRIu64, c->bytes[d]);
	for (int d = 0; d < GS_SIM_MAX_GPU; d++)
		fprintf(f, " %d", c->to[d]);
	fputc('\n', f);
	return fclose(f) == 0 && rename(tmp, path) == 0 ? CUDA_SUCCESS : CUDA_ERROR_UNKNOWN;
}

/* Whether pid enabled a launch callback (cb_mark): the file its own user's
 * (or root's), its start time pid's now. */
static bool cb_marked(int pid)
{
	char dir[PATH_MAX], path[PATH_MAX + 32], proc[64], *text = NULL;
	struct stat ps;
	uint64_t start = 0, now = 0;
	snprintf(proc, sizeof proc, "/proc/%d", pid);
	if (gs_sim_dir(dir, sizeof dir) || stat(proc, &ps))
		return false;
	snprintf(path, sizeof path, "%s/launch-cb-%d", dir, pid);
	/* written by the process itself: its user's, writable by nobody else */
	bool ok = gs_file_read_owned(path, ps.st_uid, 64, &text, NULL, NULL, 0) == 0 &&
		  sscanf(text, "start %" SCNu64, &start) == 1 && !gs_proc_start(pid, &now) && now == start;
	free(text);
	return ok;
}

/* Whether the caller may act on pid: its own user's, or root. */
static CUresult ckpt_may(int pid)
{
	char path[64];
	struct stat st;
	snprintf(path, sizeof path, "/proc/%d", pid);
	if (pid <= 0 || stat(path, &st))
		return CUDA_ERROR_INVALID_VALUE;
	return geteuid() == 0 || st.st_uid == geteuid() ? CUDA_SUCCESS : CUDA_ERROR_NOT_PERMITTED;
}

/* Every step's start: the caller may act on pid, and the driver has it in
 * state want (what it knows of it read into c). */
static CUresult ckpt_in(int pid, int want, struct ckpt *c)
{
	CUresult rc = ckpt_may(pid);
	if (rc)
		return rc;
	return ckpt_read(pid, c) == want ? CUDA_SUCCESS : CUDA_ERROR_ILLEGAL_STATE;
}

EXPORT CUresult cuCheckpointProcessGetState(int pid, CUprocessState *state)
{
	NEED_INIT();
	CUresult rc = ckpt_may(pid);
	if (rc || !state)
		return rc ? rc : CUDA_ERROR_INVALID_VALUE;
	struct ckpt c;
	*state = (CUprocessState)ckpt_read(pid, &c);
	return CUDA_SUCCESS;
}

EXPORT CUresult cuCheckpointProcessLock(int pid, CUcheckpointLockArgs *args)
{
	(void)args;
	NEED_INIT();
	struct ckpt c;
	CUresult rc = pid == getpid() ? CUDA_ERROR_ILLEGAL_STATE : ckpt_in(pid, CU_PROCESS_STATE_RUNNING, &c);
	if (rc)
		return rc;
	/* GPUSHARE_SIM_CHECKPOINT=refuse plays NVIDIA's MPS, whose clients the API refuses */
	const char *refuse = getenv("GPUSHARE_SIM_CHECKPOINT");
	if ((refuse && strcmp(refuse, "refuse") == 0) || cb_marked(pid))
		return CUDA_ERROR_NOT_SUPPORTED;
	bool cuda = false;
	for (int d = 0; d < S.n; d++)
		cuda |= S.dev[d].mem && gs_ledger_set_hold(S.dev[d].mem, pid, 0, true) == 0;
	if (!cuda)
		return CUDA_ERROR_INVALID_VALUE; /* no CUDA process */
	return ckpt_write(pid, CU_PROCESS_STATE_LOCKED, &c);
}

/* GPUSHARE_SIM_CHECKPOINT_MS: a checkpoint and a restore take that long
 * each (a real GPU's copy of its memory takes seconds), so that tests can
 * catch a step under way. */
static void copy_time(void)
{
	const char *ms = getenv("GPUSHARE_SIM_CHECKPOINT_MS");
	if (ms && *ms)
		usleep((useconds_t)strtoul(ms, NULL, 10) * 1000u);
}

EXPORT CUresult cuCheckpointProcessCheckpoint(int pid, CUcheckpointCheckpointArgs *args)
{
	(void)args;
	NEED_INIT();
	struct ckpt c;
	CUresult rc = ckpt_in(pid, CU_PROCESS_STATE_LOCKED, &c);
	if (rc)
		return rc;
	copy_time();
	for (int d = 0; d < S.n; d++) {
		c.to[d] = -1;
		if (S.dev[d].mem)
			gs_ledger_take_out(S.dev[d].mem, pid, 0, &c.bytes[d]);
	}
	return ckpt_write(pid, CU_PROCESS_STATE_CHECKPOINTED, &c);
}

static int dev_by_uuid(const CUuuid *u)
{
	char text[GS_UUID_STR];
	gs_uuid_format((const struct gs_uuid *)u->bytes, text);
	for (int d = 0; d < S.n; d++)
		if (strcasecmp(S.dev[d].gpu.uuid + 4, text) == 0)
			return d;
	return -1;
}

/* The GPU pairs of a restore, by NVIDIA's rules (cuda.h): the reserved
 * fields zero; each old GPU one the process was checkpointed on (memory
 * taken out there), named once, and every such GPU named; each new GPU one
 * this driver has, of the same chip, no two old ones onto one new. to[d]:
 * where device d's memory goes. */
static CUresult restore_pairs(const CUcheckpointRestoreArgs *a, const struct ckpt *c, int to[GS_SIM_MAX_GPU])
{
	for (int d = 0; d < GS_SIM_MAX_GPU; d++)
		to[d] = d < S.n && c->bytes[d] ? d : -1;
	if (!a)
		return CUDA_SUCCESS;
	for (size_t i = 0; i < sizeof a->reserved; i++)
		if (a->reserved[i])
			return CUDA_ERROR_INVALID_VALUE;
	if (a->reserved1 || (a->gpuPairsCount && !a->gpuPairs) || a->gpuPairsCount > GS_SIM_MAX_GPU)
		return CUDA_ERROR_INVALID_VALUE;
	if (!a->gpuPairsCount)
		return CUDA_SUCCESS;
	bool named[GS_SIM_MAX_GPU] = { false }, taken[GS_SIM_MAX_GPU] = { false };
	for (unsigned i = 0; i < a->gpuPairsCount; i++) {
		int from = dev_by_uuid(&a->gpuPairs[i].oldUuid), onto = dev_by_uuid(&a->gpuPairs[i].newUuid);
		if (from < 0 || onto < 0 || !c->bytes[from] || named[from] || taken[onto] ||
		    S.dev[from].gpu.model != S.dev[onto].gpu.model)
			return CUDA_ERROR_INVALID_VALUE;
		named[from] = taken[onto] = true;
		to[from] = onto;
	}
	for (int d = 0; d < S.n; d++)
		if (c->bytes[d] && !named[d])
			return CUDA_ERROR_INVALID_VALUE; /* "it must contain every checkpointed GPU" */
	return CUDA_SUCCESS;
}

EXPORT CUresult cuCheckpointProcessRestore(int pid, CUcheckpointRestoreArgs *args)
{
	NEED_INIT();
	struct ckpt c;
	CUresult rc = ckpt_in(pid, CU_PROCESS_STATE_CHECKPOINTED, &c);
	int to[GS_SIM_MAX_GPU];
	if (rc || (rc = restore_pairs(args, &c, to)))
		return rc;
	copy_time();
	int d;
	for (d = 0; d < S.n; d++)
		if (c.bytes[d] && (gs_ledger_put_back(S.dev[to[d]].mem, pid, 0, c.bytes[d]) ||
				   gs_ledger_set_hold(S.dev[to[d]].mem, pid, 0, true)))
			break;
	if (d < S.n) { /* what fitted goes back out: all or nothing */
		for (int k = 0; k <= d && k < S.n; k++) {
			uint64_t again;
			if (c.bytes[k] && (k < d || gs_ledger_pid_bytes(S.dev[to[k]].mem, pid)))
				gs_ledger_take_part(S.dev[to[k]].mem, pid, 0, c.bytes[k], &again);
		}
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	struct ckpt after = { { 0 }, { 0 } };
	for (d = 0; d < GS_SIM_MAX_GPU; d++)
		after.to[d] = d < S.n && c.bytes[d] && to[d] != d ? to[d] : -1;
	return ckpt_write(pid, CU_PROCESS_STATE_LOCKED, &after);
}

/* The remap file: "start <t>" then "<old GPU-uuid> <new GPU-uuid>" lines,
 * read by the process. Pairs not yet read compose with new ones (a process
 * moved twice before its next call goes from where it was to the last). */
struct remap {
	size_t n;
	char from[GS_SIM_MAX_GPU][48], to[GS_SIM_MAX_GPU][48];
};

static bool remap_read(int pid, struct remap *r, uid_t writer)
{
	char path[PATH_MAX];
	r->n = 0;
	FILE *f = sim_path("remap", pid, path, sizeof path) ? NULL : trusted_open(path, writer, 0);
	if (!f)
		return false;
	uint64_t start = 0, now = 0;
	bool ok = fscanf(f, "start %" SCNu64, &start) == 1 && gs_proc_start(pid, &now) == 0 && now == start;
	while (ok && r->n < GS_SIM_MAX_GPU && fscanf(f, " %47s %47s", r->from[r->n], r->to[r->n]) == 2)
		r->n++;
	fclose(f);
	return ok;
}

static CUresult remap_write(int pid, const struct ckpt *c)
{
	struct remap r;
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	if (sim_path("remap", pid, path, sizeof path))
		return CUDA_ERROR_UNKNOWN;
	char proc[64];
	struct stat pst;
	snprintf(proc, sizeof proc, "/proc/%d", pid);
	if (stat(proc, &pst))
		return CUDA_ERROR_INVALID_VALUE;
	if (!remap_read(pid, &r, pst.st_uid)) /* one it has not read yet: its user's, or root's */
		r.n = 0;
	for (int d = 0; d < S.n; d++) {
		if (c->to[d] < 0)
			continue;
		const char *from = S.dev[d].gpu.uuid, *onto = S.dev[c->to[d]].gpu.uuid;
		size_t i;
		for (i = 0; i < r.n && strcmp(r.to[i], from); i++)
			;
		if (i == r.n && r.n < GS_SIM_MAX_GPU)
			snprintf(r.from[r.n++], sizeof r.from[0], "%s", from);
		if (i < r.n)
			snprintf(r.to[i], sizeof r.to[0], "%s", onto);
	}
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	unlink(tmp);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		if (fd >= 0)
			close(fd);
		return CUDA_ERROR_UNKNOWN;
	}
	/* the process's own, so that it can remove it once read (the sim dir
	 * may be sticky) */
	if (geteuid() == 0 && fchown(fd, pst.st_uid, (gid_t)-1)) {
		/* root's then: the process trusts it too, and cannot remove it */
	}
	uint64_t start = 0;
	gs_proc_start(pid, &start);
	fprintf(f, "start %" PRIu64 "\n", start);
	for (size_t i = 0; i < r.n; i++)
		if (strcmp(r.from[i], r.to[i]))
			fprintf(f, "%s %s\n", r.from[i], r.to[i]);
	return fclose(f) == 0 && rename(tmp, path) == 0 ? CUDA_SUCCESS : CUDA_ERROR_UNKNOWN;
}

EXPORT CUresult cuCheckpointProcessUnlock(int pid, CUcheckpointUnlockArgs *args)
{
	(void)args;
	NEED_INIT();
	struct ckpt c;
	CUresult rc = ckpt_in(pid, CU_PROCESS_STATE_LOCKED, &c);
	if (rc)
		return rc;
	bool moved = false;
	for (int d = 0; d < S.n; d++)
		moved |= c.to[d] >= 0;
	/* moved: its holds stay until it has read where it is now */
	if (moved && (rc = remap_write(pid, &c)))
		return rc;
	for (int d = 0; d < S.n && !moved; d++)
		if (S.dev[d].mem)
			gs_ledger_set_hold(S.dev[d].mem, pid, 0, false);
	return ckpt_write(pid, CU_PROCESS_STATE_RUNNING, &c);
}

/* In the moved process, from its held calls: its devices that were an old
 * GPU of the remap file become the new one; its holds are lifted. Whether
 * it found a file to apply. The ledgers and timelines it leaves stay mapped
 * (another thread may be reading them). */
static bool remap_apply(void)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	struct remap r;
	char path[PATH_MAX];
	pthread_mutex_lock(&lock);
	/* written by the checkpointer: root or this process's own user */
	if (!remap_read(getpid(), &r, geteuid())) {
		pthread_mutex_unlock(&lock);
		return false;
	}
	struct gs_sim_gpu all[GS_SIM_MAX_GPU];
	size_t n = 0;
	char err[256];
	if (gs_sim_gpus(all, GS_SIM_MAX_GPU, &n, err, sizeof err))
		n = 0;
	struct dev next[GS_SIM_MAX_GPU];
	memcpy(next, S.dev, sizeof next);
	for (int d = 0; d < S.n; d++)
		for (size_t i = 0; i < r.n; i++) {
			if (strcmp(S.dev[d].gpu.uuid, r.from[i]))
				continue;
			for (size_t g = 0; g < n; g++) {
				struct gs_ledger *mem;
				struct sm_timeline *t;
				if (strcmp(all[g].uuid, r.to[i]) || gs_sim_memory(&all[g], &mem))
					continue;
				gs_ledger_held(mem); /* its slot there known, for held_here */
				if (!(t = open_timeline(&all[g]))) {
					gs_ledger_close(mem);
					continue;
				}
				next[d].gpu = all[g];
				next[d].mem = mem;
				next[d].sms = t;
				gs_tpcmap_fill(all[g].model, next[d].tpc);
			}
		}
	/* locked again since (a checkpoint under way): the holds are that one's */
	struct stat st;
	bool again = !sim_path("checkpoint", getpid(), path, sizeof path) && stat(path, &st) == 0;
	for (int d = 0; d < S.n; d++) {
		S.dev[d].gpu = next[d].gpu;
		memcpy(S.dev[d].tpc, next[d].tpc, sizeof S.dev[d].tpc);
		__atomic_store_n(&S.dev[d].sms, next[d].sms, __ATOMIC_RELEASE);
		if (!again)
			gs_ledger_set_hold(S.dev[d].mem, getpid(), 0, false); /* the GPU it leaves */
		__atomic_store_n(&S.dev[d].mem, next[d].mem, __ATOMIC_RELEASE);
		if (!again)
			gs_ledger_set_hold(S.dev[d].mem, getpid(), 0, false);
	}
	if (!sim_path("remap", getpid(), path, sizeof path))
		unlink(path);
	pthread_mutex_unlock(&lock);
	return true;
}

/* The simulated driver makes no graphs, so no executable graph is valid. */
EXPORT CUresult cuGraphLaunch(CUgraphExec g, CUstream s)
{
	(void)s;
	NEED_INIT();
	return g ? CUDA_ERROR_INVALID_HANDLE : CUDA_ERROR_INVALID_VALUE;
}

EXPORT CUresult cuGraphLaunch_ptsz(CUgraphExec g, CUstream s)
{
	return cuGraphLaunch(g, s);
}

EXPORT CUresult cuOccupancyMaxActiveBlocksPerMultiprocessor(int *n, CUfunction f, int block, size_t shmem)
{
	(void)shmem;
	NEED_INIT();
	if (!n || !f || f->magic != MAGIC_FUNC || block <= 0 || block > 1024)
		return CUDA_ERROR_INVALID_VALUE;
	*n = 2048 / block > 32 ? 32 : 2048 / block;
	return CUDA_SUCCESS;
}

/* ---- errors and lookup ---- */

static const struct {
	CUresult code;
	const char *name, *text;
} errors[] = {
	{ CUDA_SUCCESS, "CUDA_SUCCESS", "no error" },
	{ CUDA_ERROR_INVALID_VALUE, "CUDA_ERROR_INVALID_VALUE", "invalid argument" },
	{ CUDA_ERROR_OUT_OF_MEMORY, "CUDA_ERROR_OUT_OF_MEMORY", "out of memory" },
	{ CUDA_ERROR_NOT_INITIALIZED, "CUDA_ERROR_NOT_INITIALIZED", "initialization error" },
	{ CUDA_ERROR_NO_DEVICE, "CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected" },
	{ CUDA_ERROR_INVALID_DEVICE, "CUDA_ERROR_INVALID_DEVICE", "invalid device ordinal" },
	{ CUDA_ERROR_INVALID_IMAGE, "CUDA_ERROR_INVALID_IMAGE", "device kernel image is invalid" },
	{ CUDA_ERROR_INVALID_CONTEXT, "CUDA_ERROR_INVALID_CONTEXT", "invalid device context" },
	{ CUDA_ERROR_INVALID_HANDLE, "CUDA_ERROR_INVALID_HANDLE", "invalid resource handle" },
	{ CUDA_ERROR_NOT_FOUND, "CUDA_ERROR_NOT_FOUND", "named symbol not found" },
	{ CUDA_ERROR_NOT_READY, "CUDA_ERROR_NOT_READY", "device not ready" },
	{ CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES, "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES",
	  "too many resources requested for launch" },
	{ CUDA_ERROR_NOT_SUPPORTED, "CUDA_ERROR_NOT_SUPPORTED", "operation not supported" },
	{ CUDA_ERROR_INVALID_RESOURCE_TYPE, "CUDA_ERROR_INVALID_RESOURCE_TYPE", "invalid resource type" },
	{ CUDA_ERROR_INVALID_RESOURCE_CONFIGURATION, "CUDA_ERROR_INVALID_RESOURCE_CONFIGURATION",
	  "invalid resource configuration" },
	{ CUDA_ERROR_UNKNOWN, "CUDA_ERROR_UNKNOWN", "unknown error" },
};

/* The text (name false) or the name of an error, as the driver gives them. */
static CUresult error_text(CUresult e, const char **s, bool name)
{
	if (!s)
		return CUDA_ERROR_INVALID_VALUE;
	for (size_t i = 0; i < GS_ARRAY_LEN(errors); i++)
		if (errors[i].code == e) {
			*s = name ? errors[i].name : errors[i].text;
			return CUDA_SUCCESS;
		}
	*s = NULL;
	return CUDA_ERROR_INVALID_VALUE;
}

EXPORT CUresult cuGetErrorString(CUresult e, const char **s)
{
	return error_text(e, s, false);
}

EXPORT CUresult cuGetErrorName(CUresult e, const char **s)
{
	return error_text(e, s, true);
}

struct proc {
	const char *base;
	int version;
	bool ptds;
	void *fn;
};

#define SIM_PROC(base, sym, ver, params, args) { #base, ver, false, (void *)sym },
#define SIM_PROC_PTDS(base, sym, ver, params, args) { #base, ver, true, (void *)sym },
static const struct proc procs[] = { GS_CUDA_API(SIM_PROC, SIM_PROC_PTDS) };

EXPORT CUresult cuGetProcAddress_v2(const char *symbol, void **pfn, int version, cuuint64_t flags,
				    CUdriverProcAddressQueryResult *status);

static CUresult lookup(const char *symbol, void **pfn, int version, cuuint64_t flags,
		       CUdriverProcAddressQueryResult *status)
{
	if (!symbol || !pfn)
		return CUDA_ERROR_INVALID_VALUE;
	CUdriverProcAddressQueryResult st = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
	const struct proc *best = NULL;
	bool ptds = flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM;
	*pfn = NULL;
	if (strcmp(symbol, "cuGetProcAddress") == 0) {
		*pfn = version >= 12000 ? (void *)cuGetProcAddress_v2 : (void *)lookup;
		st = CU_GET_PROC_ADDRESS_SUCCESS;
	}
	for (size_t i = 0; !*pfn && i < GS_ARRAY_LEN(procs); i++) {
		const struct proc *p = &procs[i];
		if (strcmp(p->base, symbol))
			continue;
		if (p->version > version) {
			st = CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT;
			continue;
		}
		/* the newest version the caller knows, its per-thread form when asked */
		if (!best || (p->ptds == ptds && (best->ptds != ptds || p->version > best->version)) ||
		    (p->ptds == best->ptds && p->version > best->version))
			best = p;
	}
	if (best) {
		*pfn = best->fn;
		st = CU_GET_PROC_ADDRESS_SUCCESS;
	}
	if (status)
		*status = st;
	return *pfn ? CUDA_SUCCESS : CUDA_ERROR_NOT_FOUND;
}

EXPORT CUresult cuGetProcAddress_v2(const char *symbol, void **pfn, int version, cuuint64_t flags,
				    CUdriverProcAddressQueryResult *status)
{
	return lookup(symbol, pfn, version, flags, status);
}

EXPORT CUresult cuGetProcAddress(const char *symbol, void **pfn, int version, cuuint64_t flags);
EXPORT CUresult cuGetProcAddress(const char *symbol, void **pfn, int version, cuuint64_t flags)
{
	return lookup(symbol, pfn, version, flags, NULL);
}

/* Every function of the list must exist here with its exact type. */
#define SIM_CHECK(base, sym, ver, params, args) __attribute__((unused)) static CUresult (*const check_##sym) params = sym;
GS_CUDA_API(SIM_CHECK, SIM_CHECK)

/* Lets gpushare tell the simulated library from NVIDIA's. */
EXPORT extern const int gpushare_simulated;
const int gpushare_simulated = 1;
