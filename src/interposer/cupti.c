/* cupti.c: the CUPTI backend of kernel traces (cupti.h). NVIDIA's CUPTI
 * times each kernel on the GPU (its activity records) for about a tenth of
 * what a pair of CUDA events around the launch costs
 * (bench/results/h100-cupti-probe-2026-12-07.txt). It is the toolkit's, not
 * the driver's: loaded with dlopen where it exists, the trace falling back
 * to events where not. A record names its kernel by correlation id only,
 * so the launch callbacks of CUPTI's callback API give the launching
 * thread its launch's ids as the driver enters it (gs__cupti_ids), which the
 * trace keeps beside the launch. */
#include "cupti.h"
#include "interposer.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BUF_SIZE (1u << 20) /* about 4800 kernel records: at 100k launches/s, one each 50 ms */
#define BUF_HEAD 64         /* our header before the part CUPTI fills */
#define FREE_KEEP 16        /* empty buffers kept for CUPTI's next requests */

__thread struct gs__cupti_ids gs__cupti_ids GS__TLS;

/* A buffer: the header, then BUF_SIZE bytes for CUPTI. */
struct buf {
	struct buf *next;
	size_t valid;
};

static struct {
#define CUPTI_PTR(ret, name, params) ret(*name) params;
	GS_CUPTI_API(CUPTI_PTR)
	char library[256];
	const void *base;        /* where the library is mapped */
	CUcontext ctx;
	CUpti_SubscriberHandle sub;
	bool on, closed;
	/* the writer's calls and the exit flush: none after CUPTI is closed */
	pthread_mutex_t call_lock;
	/* CUPTI's clock - CLOCK_MONOTONIC, sampled (the writer's) */
	int64_t offset;
	double err_us;
	/* buffers CUPTI handed back, and empty ones (either thread: queue_lock) */
	pthread_mutex_t queue_lock;
	struct buf *done, **done_tail, *empty;
	unsigned n_empty;
	/* what the exit flush gave, read while CUPTI was still up */
	struct late {
		uint32_t id;
		uint64_t start, end;
	} *late;
	size_t n_late, cap_late;
	unsigned long dropped;
} C = { .queue_lock = PTHREAD_MUTEX_INITIALIZER, .call_lock = PTHREAD_MUTEX_INITIALIZER, .done_tail = &C.done };

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static const char *result(CUptiResult rc)
{
	const char *s = NULL;
	if (!C.cuptiGetResultString || C.cuptiGetResultString(rc, &s) != CUPTI_SUCCESS || !s)
		return "a CUPTI error";
	return s;
}

/* On the launching thread, inside the driver's launch: no lock, no
 * system call. */
static void api_callback(void *userdata, CUpti_CallbackDomain domain, CUpti_CallbackId cbid, const void *data)
{
	(void)userdata;
	(void)cbid;
	const CUpti_CallbackData *d = data;
	if (domain == CUPTI_CB_DOMAIN_DRIVER_API) {
		if (d->callbackSite == CUPTI_API_ENTER)
			gs__cupti_ids.driver = d->correlationId;
	} else if (domain == CUPTI_CB_DOMAIN_RUNTIME_API) {
		gs__cupti_ids.runtime = d->callbackSite == CUPTI_API_ENTER ? d->correlationId : 0;
	}
}

/* CUPTI asks for a buffer (on a launching thread, now and then): one kept
 * empty, else a new one, owned by CUPTI until it hands it back. */
static void buffer_requested(uint8_t **buffer, size_t *size, size_t *max_records)
{
	pthread_mutex_lock(&C.queue_lock);
	struct buf *b = C.empty;
	if (b) {
		C.empty = b->next;
		C.n_empty--;
	}
	pthread_mutex_unlock(&C.queue_lock);
	if (!b)
		b = aligned_alloc(BUF_HEAD, BUF_HEAD + BUF_SIZE);
	*buffer = b ? (uint8_t *)b + BUF_HEAD : NULL;
	*size = b ? BUF_SIZE : 0;
	*max_records = 0;
}

/* CUPTI hands a buffer back (its thread, or one that flushes): queued for
 * the trace's writer, which reads it in gs__cupti_poll. */
static void buffer_completed(CUcontext ctx, uint32_t stream, uint8_t *buffer, size_t size, size_t valid)
{
	(void)ctx;
	(void)stream;
	(void)size;
	if (!buffer)
		return;
	struct buf *b = (struct buf *)(buffer - BUF_HEAD);
	b->valid = valid;
	b->next = NULL;
	pthread_mutex_lock(&C.queue_lock);
	*C.done_tail = b;
	C.done_tail = &b->next;
	pthread_mutex_unlock(&C.queue_lock);
}

static void recycle(struct buf *b)
{
	pthread_mutex_lock(&C.queue_lock);
	bool keep = C.n_empty < FREE_KEEP;
	if (keep) {
		b->next = C.empty;
		C.empty = b;
		C.n_empty++;
	}
	pthread_mutex_unlock(&C.queue_lock);
	if (!keep)
		free(b);
}

void gs__cupti_reanchor(void)
{
	if (!C.on)
		return;
	pthread_mutex_lock(&C.call_lock);
	uint64_t ts = 0, before = mono_ns();
	bool ok = !C.closed && C.cuptiGetTimestamp(&ts) == CUPTI_SUCCESS;
	uint64_t after = mono_ns();
	pthread_mutex_unlock(&C.call_lock);
	if (!ok)
		return;
	C.offset = (int64_t)(ts - (before + (after - before) / 2));
	double err = (double)(after - before) / 2000.0;
	if (err > C.err_us)
		C.err_us = err;
}

double gs__cupti_clock_error_us(void)
{
	return C.err_us;
}

static struct buf *take_done(void)
{
	pthread_mutex_lock(&C.queue_lock);
	struct buf *b = C.done;
	C.done = NULL;
	C.done_tail = &C.done;
	pthread_mutex_unlock(&C.queue_lock);
	return b;
}

/* Each kernel record of the buffers to each (the buffers recycled): its
 * correlation id and its times in CLOCK_MONOTONIC ns, 0 when CUPTI has
 * none. */
static unsigned long parse(struct buf *b, void (*each)(void *arg, uint32_t id, uint64_t start, uint64_t end),
			   void *arg)
{
	unsigned long n = 0;
	while (b) {
		struct buf *next = b->next;
		CUpti_Activity *r = NULL;
		while (C.cuptiActivityGetNextRecord((uint8_t *)b + BUF_HEAD, b->valid, &r) == CUPTI_SUCCESS) {
			if (r->kind != CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL && r->kind != CUPTI_ACTIVITY_KIND_KERNEL)
				continue;
			const gs_cupti_kernel *k = (const gs_cupti_kernel *)r;
			bool timed = k->start && k->end && k->end >= k->start;
			each(arg, k->correlationId, timed ? (uint64_t)((int64_t)k->start - C.offset) : 0,
			     timed ? (uint64_t)((int64_t)k->end - C.offset) : 0);
			n++;
		}
		recycle(b);
		b = next;
	}
	return n;
}

/* The exit flush's records, kept (under queue_lock) for the trace to read
 * after CUPTI's teardown; one the memory cannot keep is lost, and counted
 * as dropped by the trace (its launch never matched). */
static void keep_late(void *arg, uint32_t id, uint64_t start, uint64_t end)
{
	(void)arg;
	pthread_mutex_lock(&C.queue_lock);
	if (C.n_late == C.cap_late) {
		size_t cap = C.cap_late ? 2 * C.cap_late : 4096;
		struct late *l = realloc(C.late, cap * sizeof *l);
		if (l)
			C.late = l, C.cap_late = cap;
	}
	if (C.n_late < C.cap_late)
		C.late[C.n_late++] = (struct late){ id, start, end };
	pthread_mutex_unlock(&C.queue_lock);
}

/* At exit, before CUPTI's own teardown and the CUDA runtime's (both
 * registered after the trace began): the context's kernels waited for,
 * then every buffer asked for. */
static void at_exit(void)
{
	if (!C.on)
		return;
	pthread_mutex_lock(&C.call_lock);
	if (C.closed) {
		pthread_mutex_unlock(&C.call_lock);
		return;
	}
	CUcontext cur = NULL, popped;
	if (gs__real.cuCtxGetCurrent && gs__real.cuCtxGetCurrent(&cur) == CUDA_SUCCESS && cur && gs__real.cuCtxSynchronize)
		gs__real.cuCtxSynchronize();
	if (C.ctx && C.ctx != cur && gs__real.cuCtxPushCurrent_v2 && gs__real.cuCtxPushCurrent_v2(C.ctx) == CUDA_SUCCESS) {
		if (gs__real.cuCtxSynchronize)
			gs__real.cuCtxSynchronize();
		gs__real.cuCtxPopCurrent_v2(&popped);
	}
	C.cuptiActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED);
	size_t n = 0;
	if (C.cuptiActivityGetNumDroppedRecords(NULL, 0, &n) == CUPTI_SUCCESS)
		C.dropped += n;
	parse(take_done(), keep_late, NULL);
	C.closed = true;
	pthread_mutex_unlock(&C.call_lock);
}

/* The library: the one GPUSHARE_CUPTI_LIBRARY names, else the first of
 * these the loader finds (the toolkit's is seldom on its path: hence the
 * toolkit's usual places). Every function of GS_CUPTI_API, or none. */
static int load(char *why, size_t len)
{
	static const char *const names[] = { "libcupti.so", "libcupti.so.13", "libcupti.so.12",
					     "/usr/local/cuda/lib64/libcupti.so",
					     "/usr/local/cuda/extras/CUPTI/lib64/libcupti.so" };
	const char *env = secure_getenv("GPUSHARE_CUPTI_LIBRARY");
	void *h = NULL;
	const char *name = NULL;
	if (env && *env) {
		name = env;
		h = dlopen(env, RTLD_NOW | RTLD_LOCAL);
	} else {
		for (size_t i = 0; !h && i < sizeof names / sizeof names[0]; i++)
			h = dlopen(name = names[i], RTLD_NOW | RTLD_LOCAL);
	}
	if (!h) {
		const char *e = dlerror();
		snprintf(why, len, "no libcupti (%s)", env && *env ? e : "not on the loader's path nor in /usr/local/cuda");
		return -ENOENT;
	}
#define CUPTI_SYM(ret, fn, params) \
	if (!(C.fn = (ret(*) params)gs__dlsym(h, #fn))) { \
		snprintf(why, len, "%s has no %s", name, #fn); \
		dlclose(h); \
		return -ENOSYS; \
	}
	GS_CUPTI_API(CUPTI_SYM)
	Dl_info info;
	C.base = dladdr((const void *)C.cuptiActivityEnable, &info) ? info.dli_fbase : NULL;
	snprintf(C.library, sizeof C.library, "%s", C.base && info.dli_fname ? info.dli_fname : name);
	return 0;
}

int gs__cupti_start(CUcontext ctx, char *why, size_t len)
{
	int rc = load(why, len);
	if (rc)
		return rc;
	C.ctx = ctx;
	CUptiResult r;
	uint64_t ts;
	if ((r = C.cuptiGetTimestamp(&ts)) != CUPTI_SUCCESS) {
		snprintf(why, len, "%s: cuptiGetTimestamp: %s", C.library, result(r));
		return -EIO;
	}
	if ((r = C.cuptiActivityRegisterCallbacks(buffer_requested, buffer_completed)) != CUPTI_SUCCESS) {
		snprintf(why, len, "%s: cuptiActivityRegisterCallbacks: %s", C.library, result(r));
		return -EIO;
	}
	if ((r = C.cuptiSubscribe(&C.sub, api_callback, NULL)) != CUPTI_SUCCESS) {
		snprintf(why, len, "%s: cuptiSubscribe: %s%s", C.library, result(r),
			 r == CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED ? " (another tool, a profiler, holds CUPTI)" : "");
		return -EBUSY;
	}
	/* the driver's cuLaunchKernel at least; the others and the runtime's
	 * where this CUPTI knows them */
	bool launch = false;
#define ENABLE_DRIVER(fn, id) \
	if (C.cuptiEnableCallback(1, C.sub, CUPTI_CB_DOMAIN_DRIVER_API, id) == CUPTI_SUCCESS && id == 307) \
		launch = true;
#define ENABLE_RUNTIME(fn, id) C.cuptiEnableCallback(1, C.sub, CUPTI_CB_DOMAIN_RUNTIME_API, id);
	GS_CUPTI_DRIVER_LAUNCHES(ENABLE_DRIVER)
	GS_CUPTI_RUNTIME_LAUNCHES(ENABLE_RUNTIME)
	if (!launch) {
		snprintf(why, len, "%s: no callback for cuLaunchKernel", C.library);
		C.cuptiUnsubscribe(C.sub);
		return -ENOSYS;
	}
	if ((r = C.cuptiActivityEnable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL)) != CUPTI_SUCCESS) {
		snprintf(why, len, "%s: cuptiActivityEnable(CONCURRENT_KERNEL): %s", C.library, result(r));
		C.cuptiUnsubscribe(C.sub);
		return -EIO;
	}
	C.on = true;
	gs__cupti_reanchor();
	atexit(at_exit);
	return 0;
}

const char *gs__cupti_library(void)
{
	return C.library;
}

unsigned long gs__cupti_poll(int flush, void (*each)(void *arg, uint32_t id, uint64_t start, uint64_t end),
			     void *arg)
{
	if (!C.on)
		return 0;
	if (flush == GS__CUPTI_FLUSH_FORCED)
		at_exit(); /* once: nothing reaches CUPTI after it */
	pthread_mutex_lock(&C.call_lock);
	if (C.closed) {
		pthread_mutex_unlock(&C.call_lock);
		pthread_mutex_lock(&C.queue_lock);
		struct late *l = C.late;
		size_t n = C.n_late;
		C.late = NULL, C.n_late = C.cap_late = 0;
		pthread_mutex_unlock(&C.queue_lock);
		for (size_t i = 0; i < n; i++)
			each(arg, l[i].id, l[i].start, l[i].end);
		free(l);
		return n;
	}
	if (flush == GS__CUPTI_FLUSH_DONE)
		C.cuptiActivityFlushAll(0);
	unsigned long n = parse(take_done(), each, arg);
	size_t dropped = 0;
	if (C.cuptiActivityGetNumDroppedRecords(NULL, 0, &dropped) == CUPTI_SUCCESS)
		C.dropped += dropped;
	pthread_mutex_unlock(&C.call_lock);
	return n;
}

unsigned long gs__cupti_dropped(void)
{
	return C.dropped;
}

void gs__cupti_forked(void)
{
	C.on = false;
	pthread_mutex_init(&C.call_lock, NULL);
	pthread_mutex_init(&C.queue_lock, NULL);
	C.done = NULL;
	C.done_tail = &C.done;
}

bool gs__cupti_owns(const void *fn)
{
	Dl_info info;
	return C.base && fn && dladdr(fn, &info) && info.dli_fbase == C.base;
}
