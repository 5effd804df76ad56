/* cupti-sim.c: libcupti.so for the simulated GPU: the part of CUPTI's
 * activity and callback APIs that a trace's CUPTI backend uses (gs-cupti.h),
 * fed by the simulated driver (sim-tool.h): each launch's driver API
 * callbacks with its correlation id, and a kernel record with the kernel's
 * simulated start and end, on CUPTI's own clock (CLOCK_MONOTONIC moved to
 * real time, as the ns since 1970 NVIDIA's CUPTI gives). As NVIDIA's, it
 * fills buffers the client hands it and hands back a buffer only once each
 * of its kernels has ended (cuptiActivityFlushAll without a flag), or at
 * once with the records of kernels still running zeroed (a forced flush).
 * GPUSHARE_SIM_CUPTI, comma-separated, plays CUPTI's failures for tests:
 * "busy" (another tool subscribed: cuptiSubscribe refuses), "drop=N" (every
 * Nth kernel record lost, counted by cuptiActivityGetNumDroppedRecords).
 * "runtime" and "runtime-apart" play a program that launches through the
 * CUDA runtime: each launch inside a runtime call (cudaLaunchKernel's
 * callbacks, while they are enabled) whose driver call has the runtime
 * call's correlation id, or (apart) an id of its own, the kernel's record
 * carrying the runtime's. The runtime call's exit comes when the thread
 * next launches, since a real one ends after the driver call (and the
 * interposer's wrapper around it) returns. */
#include "gs-cupti.h"
#include "sim-tool.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EXPORT __attribute__((visibility("default")))
/* prototypes of every exported function, from the one list */
#define SIM_DECL(ret, name, params) EXPORT ret name params;
GS_CUPTI_API(SIM_DECL)

#define MAX_CBID 1024
#define CBID_RUNTIME_LAUNCH 211 /* cudaLaunchKernel_v7000 (gs-cupti-launches.h) */
#define RECORD_SIZE ((sizeof(gs_cupti_kernel) + 7) & ~(size_t)7)

struct buf {
	uint8_t *p;
	size_t size, valid;
	uint64_t last_end;       /* the latest end of its kernels (CUPTI clock) */
	struct buf *next;
};

static struct {
	pthread_mutex_t lock;
	pthread_once_t once;
	CUptiResult attach_rc;
	int64_t offset;          /* CUPTI's clock - CLOCK_MONOTONIC */
	bool busy;
	unsigned drop_every;
	CUpti_BuffersCallbackRequestFunc requested;
	CUpti_BuffersCallbackCompleteFunc completed;
	bool kernels;            /* kernel records enabled */
	bool subscribed;
	CUpti_CallbackFunc cb;
	void *userdata;
	uint8_t enabled[MAX_CBID]; /* driver API callbacks on */
	int runtime;               /* 0, else 1 shared ids or 2 apart: launches inside runtime calls */
	bool runtime_on;           /* cudaLaunchKernel's callback enabled */
	uint32_t next_correlation;
	unsigned long records;
	size_t dropped;
	struct buf *cur, *full, **full_tail;
} C = { .lock = PTHREAD_MUTEX_INITIALIZER, .once = PTHREAD_ONCE_INIT, .full_tail = &C.full };

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint32_t api_enter(uint32_t cbid);
static void api_exit(uint32_t cbid, uint32_t correlation);
static void kernel(const struct gs_sim_kernel *k);
static const struct gs_sim_tool tool = { api_enter, api_exit, kernel };

/* Once: the simulated driver already loaded in the process (by its soname,
 * or the file GPUSHARE_REAL_LIBCUDA names), else no CUPTI at all. */
static void attach(void)
{
	const char *env = getenv("GPUSHARE_SIM_CUPTI");
	if (env) {
		C.busy = strstr(env, "busy") != NULL;
		const char *d = strstr(env, "drop=");
		C.drop_every = d ? (unsigned)strtoul(d + 5, NULL, 10) : 0;
		C.runtime = strstr(env, "runtime-apart") ? 2 : strstr(env, "runtime") ? 1 : 0;
	}
	C.offset = (int64_t)(clock_ns(CLOCK_REALTIME) - clock_ns(CLOCK_MONOTONIC));
	void *h = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_NOLOAD);
	const char *real = getenv("GPUSHARE_REAL_LIBCUDA");
	if (!h && real && *real)
		h = dlopen(real, RTLD_LAZY | RTLD_NOLOAD);
	gs_sim_tool_attach_t f = h ? (gs_sim_tool_attach_t)dlsym(h, GS_SIM_TOOL_ATTACH) : NULL;
	int rc = f ? f(&tool) : -1;
	/* -EBUSY: a launch callback holds the driver's callbacks (TPC masks) */
	C.attach_rc = rc == 0 ? CUPTI_SUCCESS : rc == -EBUSY ? CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED
							 : CUPTI_ERROR_NOT_INITIALIZED;
}

static CUptiResult ready(void)
{
	pthread_once(&C.once, attach);
	return C.attach_rc;
}

EXPORT CUptiResult cuptiGetTimestamp(uint64_t *timestamp)
{
	if (!timestamp)
		return CUPTI_ERROR_INVALID_PARAMETER;
	CUptiResult rc = ready();
	if (rc == CUPTI_SUCCESS)
		*timestamp = clock_ns(CLOCK_MONOTONIC) + (uint64_t)C.offset;
	return rc;
}

EXPORT CUptiResult cuptiActivityRegisterCallbacks(CUpti_BuffersCallbackRequestFunc requested,
						  CUpti_BuffersCallbackCompleteFunc completed)
{
	if (!requested || !completed)
		return CUPTI_ERROR_INVALID_PARAMETER;
	CUptiResult rc = ready();
	if (rc)
		return rc;
	pthread_mutex_lock(&C.lock);
	C.requested = requested, C.completed = completed;
	pthread_mutex_unlock(&C.lock);
	return CUPTI_SUCCESS;
}

static CUptiResult set_kernels(CUpti_ActivityKind kind, bool on)
{
	if (kind != CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL && kind != CUPTI_ACTIVITY_KIND_KERNEL)
		return CUPTI_ERROR_NOT_SUPPORTED;
	CUptiResult rc = ready();
	if (rc)
		return rc;
	pthread_mutex_lock(&C.lock);
	C.kernels = on;
	pthread_mutex_unlock(&C.lock);
	return CUPTI_SUCCESS;
}

EXPORT CUptiResult cuptiActivityEnable(CUpti_ActivityKind kind)
{
	return set_kernels(kind, true);
}

EXPORT CUptiResult cuptiActivityDisable(CUpti_ActivityKind kind)
{
	return set_kernels(kind, false);
}

EXPORT CUptiResult cuptiActivityGetNextRecord(uint8_t *buffer, size_t valid, CUpti_Activity **record)
{
	if (!buffer || !record)
		return CUPTI_ERROR_INVALID_PARAMETER;
	uint8_t *next = *record ? (uint8_t *)*record + RECORD_SIZE : buffer;
	if (next + RECORD_SIZE > buffer + valid)
		return CUPTI_ERROR_MAX_LIMIT_REACHED;
	*record = (CUpti_Activity *)next;
	return CUPTI_SUCCESS;
}

/* Whether a buffer goes back now: all its kernels ended, or forced (the
 * records of kernels still running then zeroed, as CUPTI's have no time). */
static bool done(struct buf *b, bool forced, uint64_t now)
{
	if (b->last_end <= now)
		return true;
	if (!forced)
		return false;
	for (size_t o = 0; o + RECORD_SIZE <= b->valid; o += RECORD_SIZE) {
		gs_cupti_kernel *k = (gs_cupti_kernel *)(b->p + o);
		if (k->end > now)
			k->start = k->end = 0;
	}
	return true;
}

/* Detaches the buffers to hand back (under the lock), in order. */
static struct buf *take_done(bool forced, uint64_t now)
{
	struct buf *out = NULL, **tail = &out;
	for (struct buf **b = &C.full; *b;) {
		struct buf *x = *b;
		if (!done(x, forced, now)) {
			b = &x->next;
			continue;
		}
		*b = x->next;
		x->next = NULL;
		*tail = x;
		tail = &x->next;
	}
	C.full_tail = &C.full;
	while (*C.full_tail)
		C.full_tail = &(*C.full_tail)->next;
	if (C.cur && C.cur->valid && done(C.cur, forced, now)) {
		*tail = C.cur;
		C.cur = NULL;
	}
	return out;
}

EXPORT CUptiResult cuptiActivityFlushAll(uint32_t flag)
{
	CUptiResult rc = ready();
	if (rc)
		return rc;
	pthread_mutex_lock(&C.lock);
	CUpti_BuffersCallbackCompleteFunc completed = C.completed;
	struct buf *done = completed ? take_done(flag & CUPTI_ACTIVITY_FLAG_FLUSH_FORCED,
						  clock_ns(CLOCK_MONOTONIC) + (uint64_t)C.offset)
				     : NULL;
	pthread_mutex_unlock(&C.lock);
	if (!completed)
		return CUPTI_ERROR_INVALID_PARAMETER;
	while (done) {
		struct buf *next = done->next;
		completed(NULL, 0, done->p, done->size, done->valid);
		free(done);
		done = next;
	}
	return CUPTI_SUCCESS;
}

EXPORT CUptiResult cuptiActivityGetNumDroppedRecords(CUcontext context, uint32_t streamId, size_t *dropped)
{
	(void)context;
	(void)streamId;
	if (!dropped)
		return CUPTI_ERROR_INVALID_PARAMETER;
	pthread_mutex_lock(&C.lock);
	*dropped = C.dropped;
	C.dropped = 0;
	pthread_mutex_unlock(&C.lock);
	return CUPTI_SUCCESS;
}

EXPORT CUptiResult cuptiSubscribe(CUpti_SubscriberHandle *subscriber, CUpti_CallbackFunc callback, void *userdata)
{
	if (!subscriber)
		return CUPTI_ERROR_INVALID_PARAMETER;
	CUptiResult rc = ready();
	if (rc)
		return rc;
	pthread_mutex_lock(&C.lock);
	if (C.busy || C.subscribed) {
		pthread_mutex_unlock(&C.lock);
		return CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED;
	}
	C.subscribed = true;
	C.cb = callback, C.userdata = userdata;
	memset(C.enabled, 0, sizeof C.enabled);
	pthread_mutex_unlock(&C.lock);
	*subscriber = (CUpti_SubscriberHandle)&C;
	return CUPTI_SUCCESS;
}

EXPORT CUptiResult cuptiUnsubscribe(CUpti_SubscriberHandle subscriber)
{
	if (subscriber != (CUpti_SubscriberHandle)&C)
		return CUPTI_ERROR_INVALID_PARAMETER;
	pthread_mutex_lock(&C.lock);
	C.subscribed = false;
	pthread_mutex_unlock(&C.lock);
	return CUPTI_SUCCESS;
}

EXPORT CUptiResult cuptiEnableCallback(uint32_t enable, CUpti_SubscriberHandle subscriber, CUpti_CallbackDomain domain,
				       CUpti_CallbackId cbid)
{
	if (subscriber != (CUpti_SubscriberHandle)&C || cbid >= MAX_CBID ||
	    (domain != CUPTI_CB_DOMAIN_DRIVER_API && domain != CUPTI_CB_DOMAIN_RUNTIME_API))
		return CUPTI_ERROR_INVALID_PARAMETER;
	/* the simulated GPU has no runtime: its callbacks come only where a
	 * runtime is played, cudaLaunchKernel's */
	if (domain == CUPTI_CB_DOMAIN_DRIVER_API)
		__atomic_store_n(&C.enabled[cbid], enable != 0, __ATOMIC_RELAXED);
	else if (cbid == CBID_RUNTIME_LAUNCH)
		__atomic_store_n(&C.runtime_on, enable != 0, __ATOMIC_RELAXED);
	return CUPTI_SUCCESS;
}

EXPORT CUptiResult cuptiGetResultString(CUptiResult result, const char **str)
{
	if (!str)
		return CUPTI_ERROR_INVALID_PARAMETER;
	switch (result) {
	case CUPTI_SUCCESS: *str = "CUPTI_SUCCESS"; break;
	case CUPTI_ERROR_NOT_INITIALIZED: *str = "CUPTI_ERROR_NOT_INITIALIZED"; break;
	case CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED: *str = "CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED"; break;
	case CUPTI_ERROR_NOT_SUPPORTED: *str = "CUPTI_ERROR_NOT_SUPPORTED"; break;
	case CUPTI_ERROR_INVALID_PARAMETER: *str = "CUPTI_ERROR_INVALID_PARAMETER"; break;
	default: *str = "CUPTI_ERROR_UNKNOWN"; break;
	}
	return CUPTI_SUCCESS;
}

/* ---- what the simulated driver tells ---- */

static void callback(CUpti_CallbackDomain domain, uint32_t cbid, int site, uint32_t correlation)
{
	if (domain == CUPTI_CB_DOMAIN_DRIVER_API &&
	    (cbid >= MAX_CBID || !__atomic_load_n(&C.enabled[cbid], __ATOMIC_RELAXED)))
		return;
	CUpti_CallbackFunc cb = C.cb;
	if (!cb)
		return;
	CUpti_CallbackData data = { .callbackSite = site, .correlationId = correlation };
	cb(C.userdata, domain, cbid, &data);
}

/* the played runtime call the thread is in, 0: none; and the id its
 * driver call was given, for that call's exit */
static __thread uint32_t runtime_open, driver_id;

static uint32_t api_enter(uint32_t cbid)
{
	if (runtime_open) { /* its exit, told only while the callback is on */
		if (__atomic_load_n(&C.runtime_on, __ATOMIC_RELAXED))
			callback(CUPTI_CB_DOMAIN_RUNTIME_API, CBID_RUNTIME_LAUNCH, CUPTI_API_EXIT, runtime_open);
		runtime_open = 0;
	}
	uint32_t id = __atomic_add_fetch(&C.next_correlation, 1, __ATOMIC_RELAXED);
	if (!C.runtime || !__atomic_load_n(&C.runtime_on, __ATOMIC_RELAXED)) {
		callback(CUPTI_CB_DOMAIN_DRIVER_API, cbid, CUPTI_API_ENTER, id);
		return id;
	}
	runtime_open = id;
	callback(CUPTI_CB_DOMAIN_RUNTIME_API, CBID_RUNTIME_LAUNCH, CUPTI_API_ENTER, id);
	uint32_t driver = C.runtime == 2 ? __atomic_add_fetch(&C.next_correlation, 1, __ATOMIC_RELAXED) : id;
	driver_id = driver;
	callback(CUPTI_CB_DOMAIN_DRIVER_API, cbid, CUPTI_API_ENTER, driver);
	return id; /* the record carries the outermost call's */
}

static void api_exit(uint32_t cbid, uint32_t correlation)
{
	/* the driver call's own id, as at its entry */
	callback(CUPTI_CB_DOMAIN_DRIVER_API, cbid, CUPTI_API_EXIT, runtime_open ? driver_id : correlation);
}

/* A record into the current buffer, a new one asked of the client when it
 * is full (in the launching thread, as NVIDIA's CUPTI does); none given:
 * the record is dropped, and counted. */
static void kernel(const struct gs_sim_kernel *k)
{
	pthread_mutex_lock(&C.lock);
	if (!C.kernels) {
		pthread_mutex_unlock(&C.lock);
		return;
	}
	C.records++;
	if (C.drop_every && C.records % C.drop_every == 0) {
		C.dropped++;
		pthread_mutex_unlock(&C.lock);
		return;
	}
	if (C.cur && C.cur->size - C.cur->valid < RECORD_SIZE) {
		*C.full_tail = C.cur;
		C.full_tail = &C.cur->next;
		C.cur = NULL;
	}
	if (!C.cur && C.requested) {
		struct buf *b = calloc(1, sizeof *b);
		size_t max = 0;
		if (b)
			C.requested(&b->p, &b->size, &max);
		if (b && b->p && b->size >= RECORD_SIZE && ((uintptr_t)b->p & 7) == 0)
			C.cur = b;
		else
			free(b);
	}
	if (!C.cur) {
		C.dropped++;
		pthread_mutex_unlock(&C.lock);
		return;
	}
	gs_cupti_kernel *r = (gs_cupti_kernel *)(C.cur->p + C.cur->valid);
	memset(r, 0, RECORD_SIZE);
	r->kind = CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL;
	r->start = k->start + (uint64_t)C.offset;
	r->end = k->end + (uint64_t)C.offset;
	r->completed = r->end;
	r->deviceId = k->device;
	r->contextId = k->context;
	r->streamId = k->stream;
	r->gridX = (int32_t)k->grid[0], r->gridY = (int32_t)k->grid[1], r->gridZ = (int32_t)k->grid[2];
	r->blockX = (int32_t)k->block[0], r->blockY = (int32_t)k->block[1], r->blockZ = (int32_t)k->block[2];
	r->correlationId = k->correlation;
	r->name = k->name;
	C.cur->valid += RECORD_SIZE;
	if (r->end > C.cur->last_end)
		C.cur->last_end = r->end;
	pthread_mutex_unlock(&C.lock);
}
