/* ctx.c: SM slices through green contexts. Each device the slice applies to
 * gets one green context over the slice's SMs, made lazily the first time a
 * thread is seen on the device's real primary context. The CUDA runtime makes
 * the primary current through paths no wrapper sees, so every wrapped call
 * first checks the thread's current context (gs__ctx_check: one driver query
 * and one thread-local compare) and swaps the green context in when it finds
 * the real primary. Contexts a program creates itself become green contexts
 * of the same SMs. */
#include "interposer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool gs__sm_active;
__thread CUcontext gs__tls_ok GS__TLS;
unsigned gs__gen = 1;
__thread unsigned gs__tls_gen GS__TLS;

enum { DEV_UNKNOWN = 0, DEV_READY = 1, DEV_NOT_IN_SLICE = 2, DEV_FAILED = 3 };

struct dev {
	int state;
	CUcontext primary;       /* the real primary, retained once by us */
	CUgreenCtx green;
	CUcontext green_ctx;
	CUdevResourceDesc desc;  /* the slice's SMs, for every green context made */
	CUdevResource res;       /* the same SMs as one resource */
	unsigned sms, sm_first;  /* sm_first: where they start in the GPU's numbering (traces) */
};

/* Counts of the slow paths, logged at exit (GPUSHARE_LOG) to show they stay rare. */
struct gs__stats gs__stats;
static struct dev devs[GS__MAX_DEV];

/* Contexts made for cuCtxCreate, to destroy their green context with them. */
static struct {
	CUcontext ctx;
	CUgreenCtx green;
} created[64];
static pthread_mutex_t created_lock = PTHREAD_MUTEX_INITIALIZER;

/* The program's slice on a device's GPU (1 + its index), 0 for none. */
static int slice_applies(CUdevice dev)
{
	if (!gs__slice.gpu_uuid[0])
		return 1;
	CUuuid u;
	CUresult rc = gs__real.cuDeviceGetUuid_v2 ? gs__real.cuDeviceGetUuid_v2(&u, dev)
						  : gs__real.cuDeviceGetUuid(&u, dev);
	if (rc != CUDA_SUCCESS)
		return 0;
	char s[GS_UUID_STR];
	gs_uuid_format((const struct gs_uuid *)u.bytes, s);
	for (unsigned i = 0; i < gs__n_slices; i++)
		if (strcasecmp(gs__slice_at(i)->gpu_uuid + 4, s) == 0)
			return (int)i + 1;
	return 0;
}

struct gs__slice *gs__slice_of(CUdevice dev)
{
	static int known[GS__MAX_DEV]; /* 0 unknown, -1 in no slice, else 1 + the slice's index */
	if (!gs__slice.gpu_uuid[0])
		return &gs__slice;
	if (dev < 0 || dev >= GS__MAX_DEV)
		return NULL;
	int k = __atomic_load_n(&known[dev], __ATOMIC_RELAXED);
	if (!k) {
		k = slice_applies(dev);
		k = k ? k : -1;
		__atomic_store_n(&known[dev], k, __ATOMIC_RELAXED);
	}
	return k > 0 ? gs__slice_at((unsigned)k - 1) : NULL;
}

bool gs__slice_device(CUdevice dev)
{
	return gs__slice_of(dev) != NULL;
}

static unsigned round_to(unsigned n, unsigned gran)
{
	n = n / gran * gran;
	return n < gran ? gran : n;
}

/* The slice's SMs as a resource descriptor: its run of groups in one split
 * of the GPU into groups of the layout's grid, which every process of the
 * GPU makes alike (smrun.h). Groups of one split were measured disjoint
 * across processes under MPS on the H100; a split per slice, or runs of the
 * smallest groups, were not (docs/interposer.md). */
static CUresult slice_desc(CUdevice dev, CUdevResourceDesc *desc, unsigned *sm_first)
{
	*sm_first = 0;
	const struct gs__slice *sl = gs__slice_of(dev);
	if (!sl)
		return CUDA_ERROR_INVALID_DEVICE;
	double pct = gs__slice_pct(sl);
	CUdevResource all, rest, groups[256];
	CUresult rc = gs__real.cuDeviceGetDevResource(dev, &all, CU_DEV_RESOURCE_TYPE_SM);
	if (rc)
		return rc;
	unsigned gran = all.sm.smCoscheduledAlignment > all.sm.minSmPartitionSize ? all.sm.smCoscheduledAlignment
										 : all.sm.minSmPartitionSize;
	if (gran == 0)
		gran = 1;
	unsigned want = round_to(sl->sms, gran), cap = want;
	if (pct > 0 && pct < 100 && !gs__client.mps) {
		/* the server's active thread percentage of the slice's SMs (as
		 * MPS's is of the GPU its clients see), provisioned as MPS does
		 * (whole TPCs), from the front of the slice's own SMs */
		cap = (unsigned)((want < all.sm.smCount ? want : all.sm.smCount) * pct / 100.0) & ~1u;
		cap -= cap % gran;
		cap = cap < gran ? gran : cap;
	}
	if (want >= all.sm.smCount && cap >= all.sm.smCount)
		return gs__real.cuDevResourceGenerateDesc(desc, &all, 1);
	unsigned g = round_to(sl->sm_grid ? sl->sm_grid : want, gran);
	if (cap < want || want % g)
		g = gran; /* a part of the slice (a server's percentage, fewer SMs asked for): groups as fine as the GPU allows */
	unsigned n = all.sm.smCount / g;
	if (n > GS_ARRAY_LEN(groups))
		n = GS_ARRAY_LEN(groups);
	if ((rc = gs__real.cuDevSmResourceSplitByCount(groups, &n, &all, &rest, 0, g)))
		return rc;
	unsigned first = sl->sm_start / g, count = (cap < want ? cap : want) / g;
	if (count == 0)
		count = 1;
	if (first + count > n)
		first = n > count ? n - count : 0; /* the layout changed under us: stay on the GPU */
	*sm_first = first * g;
	return gs__real.cuDevResourceGenerateDesc(desc, groups + first, count);
}

static CUresult make_green(CUdevice dev, CUdevResourceDesc desc, CUgreenCtx *g, CUcontext *ctx)
{
	CUresult rc = gs__real.cuGreenCtxCreate(g, desc, dev, CU_GREEN_CTX_DEFAULT_STREAM);
	if (!rc && (rc = gs__real.cuCtxFromGreenCtx(ctx, *g)))
		gs__real.cuGreenCtxDestroy(*g);
	return rc;
}

/* The device's state, set up on first use. No lock is held across driver
 * calls: racing threads each build one and the loser drops its own. */
static struct dev *dev_get(CUdevice dev)
{
	if (dev < 0 || dev >= GS__MAX_DEV)
		return NULL;
	struct dev *d = &devs[dev];
	int st = __atomic_load_n(&d->state, __ATOMIC_ACQUIRE);
	if (st != DEV_UNKNOWN)
		return st == DEV_READY ? d : NULL;
	const struct gs__slice *sl = gs__slice_of(dev);
	if (!sl || !sl->sm_limited) {
		__atomic_store_n(&d->state, DEV_NOT_IN_SLICE, __ATOMIC_RELEASE);
		return NULL;
	}
	struct dev mine = { 0 };
	CUresult rc = gs__real.cuDevicePrimaryCtxRetain(&mine.primary, dev);
	if (!rc)
		rc = slice_desc(dev, &mine.desc, &mine.sm_first);
	if (!rc)
		rc = make_green(dev, mine.desc, &mine.green, &mine.green_ctx);
	if (!rc && (rc = gs__real.cuGreenCtxGetDevResource(mine.green, &mine.res, CU_DEV_RESOURCE_TYPE_SM)))
		gs__real.cuGreenCtxDestroy(mine.green);
	mine.sms = mine.res.sm.smCount;
	if (rc) {
		gs__log("device %d: no green context (CUDA error %d); its SMs are not limited", dev, rc);
		int expect = DEV_UNKNOWN;
		__atomic_compare_exchange_n(&d->state, &expect, DEV_FAILED, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
		return NULL;
	}
	static pthread_mutex_t publish = PTHREAD_MUTEX_INITIALIZER;
	pthread_mutex_lock(&publish); /* guards only the copy below */
	bool won = d->state == DEV_UNKNOWN;
	if (won) {
		d->primary = mine.primary;
		d->green = mine.green;
		d->green_ctx = mine.green_ctx;
		d->desc = mine.desc;
		d->res = mine.res;
		d->sms = mine.sms;
		d->sm_first = mine.sm_first;
		__atomic_store_n(&d->state, DEV_READY, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&publish);
	if (!won)
		gs__real.cuGreenCtxDestroy(mine.green);
	else
		gs__log("device %d: slice %s runs on %u SMs (green context)", dev, sl->name, mine.sms);
	__atomic_add_fetch(&gs__gen, 1, __ATOMIC_RELEASE); /* every thread checks its context again */
	return won || d->state == DEV_READY ? d : NULL;
}

static struct dev *dev_of_primary(CUcontext ctx)
{
	for (int i = 0; i < GS__MAX_DEV; i++)
		if (__atomic_load_n(&devs[i].state, __ATOMIC_ACQUIRE) == DEV_READY && devs[i].primary == ctx)
			return &devs[i];
	return NULL;
}

/* Contexts seen not to be a primary: no need to probe them again. */
static CUcontext not_primary[64];
static unsigned not_primary_next;

static bool known_not_primary(CUcontext ctx)
{
	for (int i = 0; i < GS__MAX_DEV; i++)
		if (__atomic_load_n(&devs[i].state, __ATOMIC_ACQUIRE) == DEV_READY && devs[i].green_ctx == ctx)
			return true;
	for (size_t i = 0; i < GS_ARRAY_LEN(not_primary); i++)
		if (__atomic_load_n(&not_primary[i], __ATOMIC_RELAXED) == ctx)
			return true;
	return false;
}

/* The green context to use in place of ctx (ctx itself when it is fine). */
static CUcontext substitute(CUcontext ctx)
{
	if (!gs__sm_active || !ctx || known_not_primary(ctx))
		return ctx;
	struct dev *d = dev_of_primary(ctx);
	if (!d) {
		__atomic_add_fetch(&gs__stats.probes, 1, __ATOMIC_RELAXED);
		/* not known yet: is it a primary of a device we have not set up? */
		CUcontext cur;
		CUdevice dev;
		if (gs__real.cuCtxGetCurrent(&cur) || gs__real.cuCtxPushCurrent_v2(ctx))
			return ctx;
		CUresult rc = gs__real.cuCtxGetDevice(&dev);
		gs__real.cuCtxPopCurrent_v2(&cur);
		if (rc || !(d = dev_get(dev)) || d->primary != ctx) {
			unsigned slot = __atomic_fetch_add(&not_primary_next, 1, __ATOMIC_RELAXED);
			__atomic_store_n(&not_primary[slot % GS_ARRAY_LEN(not_primary)], ctx, __ATOMIC_RELAXED);
			return ctx;
		}
	}
	return d->green_ctx;
}

void gs__ctx_slow(void)
{
	__atomic_add_fetch(&gs__stats.slow, 1, __ATOMIC_RELAXED);
	CUcontext cur;
	if (gs__real.cuCtxGetCurrent(&cur) != CUDA_SUCCESS)
		return;
	CUcontext want = substitute(cur);
	if (want != cur && gs__real.cuCtxSetCurrent(want) == CUDA_SUCCESS)
		cur = want;
	gs__tls_ok = cur;
	gs__tls_gen = __atomic_load_n(&gs__gen, __ATOMIC_ACQUIRE);
}

unsigned gs__ctx_sms(CUdevice dev)
{
	if (gs__mask_on)
		return gs__slice_device(dev) ? gs__slice.sms : 0; /* its own; lent SMs come and go (one slice only) */
	struct dev *d = gs__sm_active ? dev_get(dev) : NULL;
	return d ? d->sms : 0;
}

void gs__ctx_sm_span(CUdevice dev, unsigned *first, unsigned *count)
{
	struct dev *d = gs__sm_active && !gs__mask_on ? dev_get(dev) : NULL;
	int all = 0;
	if (gs__mask_on && gs__slice_device(dev)) {
		*first = gs__slice.sm_start, *count = gs__slice.sms; /* its own; lent ones are in the mask */
	} else if (d) {
		*first = d->sm_first, *count = d->sms;
	} else {
		*first = 0;
		*count = gs__real.cuDeviceGetAttribute && !gs__real.cuDeviceGetAttribute(
								  &all, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev) && all > 0
				 ? (unsigned)all
				 : 0;
	}
}

/* ---- hooks ---- */

CUresult gs__hook_cuInit(unsigned int flags);
CUresult gs__hook_cuInit(unsigned int flags)
{
	if (gs__slice.refused)
		return CUDA_ERROR_NO_DEVICE;
	CUresult rc = gs__real.cuInit ? gs__real.cuInit(flags) : CUDA_ERROR_NO_DEVICE;
	if (rc == CUDA_SUCCESS)
		gs__mask_subscribe();
	return rc;
}

CUresult gs__hook_cuCtxSetCurrent(CUcontext ctx);
CUresult gs__hook_cuCtxSetCurrent(CUcontext ctx)
{
	ctx = substitute(ctx);
	CUresult rc = gs__real.cuCtxSetCurrent(ctx);
	if (rc == CUDA_SUCCESS)
		gs__tls_ok = ctx;
	return rc;
}

CUresult gs__hook_cuCtxPushCurrent_v2(CUcontext ctx);
CUresult gs__hook_cuCtxPushCurrent_v2(CUcontext ctx)
{
	ctx = substitute(ctx);
	CUresult rc = gs__real.cuCtxPushCurrent_v2(ctx);
	if (rc == CUDA_SUCCESS)
		gs__tls_ok = ctx;
	return rc;
}

CUresult gs__hook_cuCtxPopCurrent_v2(CUcontext *pctx);
CUresult gs__hook_cuCtxPopCurrent_v2(CUcontext *pctx)
{
	CUresult rc = gs__real.cuCtxPopCurrent_v2(pctx);
	if (rc == CUDA_SUCCESS && gs__sm_active)
		gs__ctx_slow(); /* what is current now may be a real primary */
	return rc;
}

/* The primary a program retains is the slice's green context; its memory
 * (the primary's and the green context's) is charged before it is handed
 * out, and a context that does not fit is refused. */
CUresult gs__hook_cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev);
CUresult gs__hook_cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev)
{
	struct gs__ctx_charge t;
	if (!pctx)
		return gs__real.cuDevicePrimaryCtxRetain(pctx, dev);
	CUresult rc = gs__ctx_charge_begin(dev, true, &t);
	if (rc)
		return rc;
	rc = gs__real.cuDevicePrimaryCtxRetain(pctx, dev);
	struct dev *d = rc == CUDA_SUCCESS && gs__sm_active ? dev_get(dev) : NULL;
	if (gs__ctx_charge_end(&t, rc == CUDA_SUCCESS, NULL)) {
		gs__real.cuDevicePrimaryCtxRelease_v2(dev);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	if (d)
		*pctx = d->green_ctx;
	return rc;
}

static CUresult own_context(CUcontext *pctx, CUdevice dev)
{
	struct dev *d = gs__sm_active ? dev_get(dev) : NULL;
	if (!d)
		return CUDA_ERROR_NOT_SUPPORTED; /* the caller creates an ordinary one */
	/* the slice's size now: resize_slice reaches contexts created
	 * afterwards, as MPS's limits do */
	static pthread_mutex_t sms_lock = PTHREAD_MUTEX_INITIALIZER;
	CUdevResourceDesc desc;
	unsigned sm_first;
	pthread_mutex_lock(&sms_lock);
	gs__config_refresh_sms(gs__slice_of(dev));
	CUresult rc = slice_desc(dev, &desc, &sm_first);
	pthread_mutex_unlock(&sms_lock);
	CUgreenCtx g;
	CUcontext ctx;
	if (rc || (rc = make_green(dev, desc, &g, &ctx)))
		return rc;
	pthread_mutex_lock(&created_lock);
	size_t i = 0;
	while (i < GS_ARRAY_LEN(created) && created[i].ctx)
		i++;
	if (i < GS_ARRAY_LEN(created))
		created[i].ctx = ctx, created[i].green = g;
	pthread_mutex_unlock(&created_lock);
	if (i == GS_ARRAY_LEN(created)) {
		gs__real.cuGreenCtxDestroy(g);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	if ((rc = gs__real.cuCtxPushCurrent_v2(ctx)) == CUDA_SUCCESS)
		gs__tls_ok = ctx;
	*pctx = ctx;
	return rc;
}

/* Destroys a context made for cuCtxCreate (its green context with it). */
static CUresult destroy_context(CUcontext ctx)
{
	CUgreenCtx g = NULL;
	pthread_mutex_lock(&created_lock);
	for (size_t i = 0; i < GS_ARRAY_LEN(created); i++)
		if (created[i].ctx && created[i].ctx == ctx) {
			g = created[i].green;
			created[i].ctx = NULL;
		}
	pthread_mutex_unlock(&created_lock);
	if (!g)
		return gs__real.cuCtxDestroy_v2(ctx);
	CUcontext cur;
	if (gs__real.cuCtxGetCurrent(&cur) == CUDA_SUCCESS && cur == ctx)
		gs__real.cuCtxPopCurrent_v2(&cur);
	gs__tls_ok = (CUcontext)(uintptr_t)1;
	return gs__real.cuGreenCtxDestroy(g);
}

/* A context of its own: a green context of the slice's SMs (or the driver's
 * own where SMs are not limited), its memory charged before it is handed out. */
#define CTX_CREATE(call) \
	do { \
		if (!pctx) \
			return CUDA_ERROR_INVALID_VALUE; \
		struct gs__ctx_charge t_; \
		CUresult rc_ = gs__ctx_charge_begin(dev, false, &t_); \
		if (rc_) \
			return rc_; \
		rc_ = own_context(pctx, dev); \
		if (rc_ == CUDA_ERROR_NOT_SUPPORTED) \
			rc_ = call; \
		if (gs__ctx_charge_end(&t_, rc_ == CUDA_SUCCESS, rc_ == CUDA_SUCCESS ? *pctx : NULL)) { \
			destroy_context(*pctx); \
			return CUDA_ERROR_OUT_OF_MEMORY; \
		} \
		return rc_; \
	} while (0)

CUresult gs__hook_cuCtxCreate_v2(CUcontext *pctx, unsigned int flags, CUdevice dev);
CUresult gs__hook_cuCtxCreate_v2(CUcontext *pctx, unsigned int flags, CUdevice dev)
{
	CTX_CREATE(gs__real.cuCtxCreate_v2(pctx, flags, dev));
}

CUresult gs__hook_cuCtxCreate_v3(CUcontext *pctx, void *affinity, int n, unsigned int flags, CUdevice dev);
CUresult gs__hook_cuCtxCreate_v3(CUcontext *pctx, void *affinity, int n, unsigned int flags, CUdevice dev)
{
	CTX_CREATE(gs__real.cuCtxCreate_v3(pctx, affinity, n, flags, dev));
}

CUresult gs__hook_cuCtxCreate_v4(CUcontext *pctx, void *params, unsigned int flags, CUdevice dev);
CUresult gs__hook_cuCtxCreate_v4(CUcontext *pctx, void *params, unsigned int flags, CUdevice dev)
{
	CTX_CREATE(gs__real.cuCtxCreate_v4(pctx, params, flags, dev));
}

CUresult gs__hook_cuCtxDestroy_v2(CUcontext ctx);
CUresult gs__hook_cuCtxDestroy_v2(CUcontext ctx)
{
	CUresult rc = destroy_context(ctx);
	if (rc == CUDA_SUCCESS)
		gs__ctx_uncharge(ctx);
	return rc;
}

/* The launch path: a thread-local compare. A thread's context is verified by
 * its first wrapped call and by every non-launch call after it; the runtime
 * binds a thread's primary once, so launches need not ask the driver. */
static inline void launch_check(void)
{
	if (__builtin_expect(gs__sm_active && gs__tls_gen != __atomic_load_n(&gs__gen, __ATOMIC_RELAXED), 0))
		gs__ctx_slow();
}

/* The driver's launch, traced (trace.c) where GPUSHARE_TRACE_FILE asks:
 * off, one predictable branch. */
#define TRACED(call, fn, s, gx, gy, gz, bx, by, bz, ptsz) \
	if (__builtin_expect(gs__trace_on, 0)) { \
		int slot_ = gs__trace_begin(&(const struct gs__trace_launch){ \
			(fn), (s), { (gx), (gy), (gz) }, { (bx), (by), (bz) }, (ptsz) }); \
		rc = call; \
		gs__trace_end(slot_, rc); \
	} else { \
		rc = call; \
	}
/* What every kernel launch does before the driver's: the thread's context,
 * its turn, activity, the count, and the mask callback told it is a launch. */
static inline void launch_enter(void)
{
	launch_check();
	gs__turn_gate();
	gs__act_hook();
	gs__count_launch();
	gs__mask_in_launch = true;
}

/* whether a hook's suffix is the per-thread default stream's */
#define PTSZ(suffix) (sizeof(#suffix) > 1)

#define LAUNCH_HOOKS(suffix) \
	CUresult gs__hook_cuLaunchKernel##suffix(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, \
						 unsigned by, unsigned bz, unsigned shmem, CUstream s, void **p, void **e); \
	CUresult gs__hook_cuLaunchKernel##suffix(CUfunction f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, \
						 unsigned by, unsigned bz, unsigned shmem, CUstream s, void **p, void **e) \
	{ \
		launch_enter(); \
		CUresult rc; \
		TRACED(gs__real.cuLaunchKernel##suffix(f, gx, gy, gz, bx, by, bz, shmem, s, p, e), f, s, gx, gy, gz, bx, \
		       by, bz, PTSZ(suffix)) \
		gs__mask_in_launch = false; \
		return rc; \
	} \
	CUresult gs__hook_cuLaunchKernelEx##suffix(const CUlaunchConfig *cfg, CUfunction f, void **p, void **e); \
	CUresult gs__hook_cuLaunchKernelEx##suffix(const CUlaunchConfig *cfg, CUfunction f, void **p, void **e) \
	{ \
		launch_enter(); \
		CUresult rc; \
		if (!cfg) \
			rc = gs__real.cuLaunchKernelEx##suffix(cfg, f, p, e); \
		else \
			TRACED(gs__real.cuLaunchKernelEx##suffix(cfg, f, p, e), f, cfg->hStream, cfg->gridDimX, \
			       cfg->gridDimY, cfg->gridDimZ, cfg->blockDimX, cfg->blockDimY, cfg->blockDimZ, PTSZ(suffix)) \
		gs__mask_in_launch = false; \
		return rc; \
	} \
	CUresult gs__hook_cuLaunchCooperativeKernel##suffix(CUfunction f, unsigned gx, unsigned gy, unsigned gz, \
							    unsigned bx, unsigned by, unsigned bz, unsigned shmem, \
							    CUstream s, void **p); \
	CUresult gs__hook_cuLaunchCooperativeKernel##suffix(CUfunction f, unsigned gx, unsigned gy, unsigned gz, \
							    unsigned bx, unsigned by, unsigned bz, unsigned shmem, \
							    CUstream s, void **p) \
	{ \
		launch_enter(); \
		CUresult rc; \
		TRACED(gs__real.cuLaunchCooperativeKernel##suffix(f, gx, gy, gz, bx, by, bz, shmem, s, p), f, s, gx, gy, \
		       gz, bx, by, bz, PTSZ(suffix)) \
		gs__mask_in_launch = false; \
		return rc; \
	} \
	/* a graph's kernels keep the mask of its upload (the slice's own): \
	 * counted as launches, so a slice replaying graphs is busy */ \
	CUresult gs__hook_cuGraphLaunch##suffix(CUgraphExec g, CUstream s); \
	CUresult gs__hook_cuGraphLaunch##suffix(CUgraphExec g, CUstream s) \
	{ \
		launch_check(); \
		gs__turn_gate(); \
		gs__act_note(); \
		gs__count_launch(); \
		return gs__real.cuGraphLaunch##suffix(g, s); \
	}
LAUNCH_HOOKS()
LAUNCH_HOOKS(_ptsz)

/* The runtime asks this about ten times per launch: a thread-local compare. */
CUresult gs__hook_cuCtxGetCurrent(CUcontext *pctx);
CUresult gs__hook_cuCtxGetCurrent(CUcontext *pctx)
{
	launch_check();
	return gs__real.cuCtxGetCurrent(pctx);
}

CUresult gs__hook_cuDevicePrimaryCtxReset_v2(CUdevice dev);
CUresult gs__hook_cuDevicePrimaryCtxReset_v2(CUdevice dev)
{
	CUresult rc = gs__real.cuDevicePrimaryCtxReset_v2(dev);
	if (rc == CUDA_SUCCESS)
		gs__ctx_uncharge_primary(dev); /* the driver freed it; a retain makes it anew */
	__atomic_add_fetch(&gs__gen, 1, __ATOMIC_RELEASE);
	return rc;
}

CUresult gs__hook_cuDeviceGetAttribute(int *pi, int attrib, CUdevice dev);
CUresult gs__hook_cuDeviceGetAttribute(int *pi, int attrib, CUdevice dev)
{
	CUresult rc = gs__real.cuDeviceGetAttribute(pi, attrib, dev);
	if (rc == CUDA_SUCCESS && attrib == CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT) {
		unsigned sms = gs__ctx_sms(dev);
		if (sms)
			*pi = (int)sms;
	}
	return rc;
}

/* A program partitioning SMs itself partitions the slice's. */
CUresult gs__hook_cuDeviceGetDevResource(CUdevice dev, CUdevResource *res, int type);
CUresult gs__hook_cuDeviceGetDevResource(CUdevice dev, CUdevResource *res, int type)
{
	CUresult rc = gs__real.cuDeviceGetDevResource(dev, res, type);
	struct dev *d = rc == CUDA_SUCCESS && type == CU_DEV_RESOURCE_TYPE_SM && gs__sm_active ? dev_get(dev) : NULL;
	if (d)
		*res = d->res;
	return rc;
}
