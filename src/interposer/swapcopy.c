/* swapcopy.c: the swap's copies between device memory and its host copy,
 * pipelined. The driver's own copy to pageable memory runs at a fraction
 * of what the link carries (3.9 GiB/s out and 9.5 back on an H100's host,
 * with huge pages): it stages through a pinned buffer of its own and copies
 * on one thread, and the host copy's pages are faulted in and zeroed on
 * that thread too.
 *
 * Here the region goes in 16 MiB chunks through a ring of eight pinned
 * staging buffers: the GPU's copy engine fills (or empties) one buffer on
 * a stream of ours while a few threads copy others to (from) the host copy,
 * faulting its pages in side by side (19.4 GiB/s out, 32.0 back with 8
 * threads). Only the calling thread calls the driver; the threads only run
 * memcpy. Chunks go through the ring in order; a context change (a region
 * of another context) drains it first, since a stream and its events
 * belong to one context.
 *
 * GPUSHARE_SWAP_THREADS (0-16; default half the program's CPUs, 1 to 8)
 * says how many threads copy; 0 keeps the driver's own copies, as does a
 * swap too small to gain from the pipeline and one whose staging memory
 * the driver will not pin. */
#include "interposer.h"

#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK ((size_t)16 << 20)
#define SLOTS 8
#define MAX_THREADS 16
/* out: copies in flight on the stream at once before the oldest is waited for */
#define DMA_DEPTH 2

enum { FREE, DMA, CPU, FILLED };

struct slot {
	void *stage;             /* CHUNK bytes, pinned */
	CUevent ev;              /* recorded after the slot's copy on the stream */
	int state;
	void *host;              /* the chunk's place in the host copy */
	CUdeviceptr dev;
	size_t n;
};

struct gs__copy {
	bool out;                /* device to host */
	int threads;             /* 0: the driver's own copies */
	pthread_t tid[MAX_THREADS];
	int started;
	pthread_mutex_t lock;
	pthread_cond_t cond;     /* a slot's state changed, or work for the threads */
	struct slot s[SLOTS];
	size_t next;             /* chunks handed to the ring so far */
	size_t issued;           /* in: chunks whose copy to the GPU went out */
	int queue[SLOTS];        /* slots for the threads, in order */
	size_t qhead, qlen;
	bool stop;
	bool staged, direct;     /* the staging buffers made; none to be had */
	CUcontext ctx;           /* the stream's and events' */
	CUstream stream;
	CUresult rc;
};

/* Half the CPUs the program may run on (a job's cpuset bounds it), 1 to 8:
 * on an H100's 16-CPU host 2, 4 and 8 threads copied out at 9.2, 13.9 and
 * 19.4 GiB/s (bench/results/h100-swap-pipelined-2026-12-07.txt). */
static int default_threads(void)
{
	cpu_set_t set;
	int n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : (int)sysconf(_SC_NPROCESSORS_ONLN);
	n /= 2;
	return n < 1 ? 1 : n > 8 ? 8 : n;
}

static int threads_wanted(void)
{
	static int n = -1;
	int v = __atomic_load_n(&n, __ATOMIC_RELAXED);
	if (v >= 0)
		return v;
	v = default_threads();
	const char *env = secure_getenv("GPUSHARE_SWAP_THREADS");
	if (env && *env) {
		char *end;
		long t = strtol(env, &end, 10);
		if (*end || t < 0 || t > MAX_THREADS)
			gs__log("GPUSHARE_SWAP_THREADS=\"%.32s\" is not a number of threads from 0 (the driver's own copy) "
				"to %d: %d (half the CPUs, at most 8)", env, MAX_THREADS, v);
		else
			v = (int)t;
	}
	__atomic_store_n(&n, v, __ATOMIC_RELAXED);
	return v;
}

static void *copier(void *arg)
{
	struct gs__copy *c = arg;
	pthread_mutex_lock(&c->lock);
	for (;;) {
		while (!c->qlen && !c->stop)
			pthread_cond_wait(&c->cond, &c->lock);
		if (!c->qlen)
			break;
		struct slot *s = &c->s[c->queue[c->qhead]];
		c->qhead = (c->qhead + 1) % SLOTS;
		c->qlen--;
		pthread_mutex_unlock(&c->lock);
		if (c->out)
			memcpy(s->host, s->stage, s->n);
		else
			memcpy(s->stage, s->host, s->n);
		pthread_mutex_lock(&c->lock);
		s->state = c->out ? FREE : FILLED;
		pthread_cond_broadcast(&c->cond);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

/* c->lock held: the slot to the threads. */
static void hand(struct gs__copy *c, struct slot *s)
{
	s->state = CPU;
	c->queue[(c->qhead + c->qlen++) % SLOTS] = (int)(s - c->s);
	pthread_cond_broadcast(&c->cond);
}

/* c->lock held, released around the driver's wait: slot s's copy on the
 * stream done; out, its chunk to the threads. */
static void dma_done(struct gs__copy *c, struct slot *s)
{
	pthread_mutex_unlock(&c->lock);
	CUresult rc = gs__real.cuEventSynchronize(s->ev);
	pthread_mutex_lock(&c->lock);
	if (rc && !c->rc)
		c->rc = rc;
	if (c->out && !rc)
		hand(c, s);
	else
		s->state = FREE;
}

/* c->lock held: in, the filled chunks' copies to the GPU, in order. */
static void issue_filled(struct gs__copy *c)
{
	while (c->issued < c->next) {
		struct slot *s = &c->s[c->issued % SLOTS];
		if (s->state != FILLED)
			return;
		CUresult rc = c->rc ? c->rc : gs__real.cuMemcpyHtoDAsync_v2(s->dev, s->stage, s->n, c->stream);
		if (!rc)
			rc = gs__real.cuEventRecord(s->ev, c->stream);
		if (rc && !c->rc)
			c->rc = rc;
		s->state = rc ? FREE : DMA;
		c->issued++;
	}
}

/* c->lock held: out, every copy on the stream older than slot s's, and
 * its, done. */
static void dma_until(struct gs__copy *c, struct slot *s)
{
	for (size_t k = 0; k < SLOTS; k++) {
		struct slot *o = &c->s[(c->next + k) % SLOTS]; /* oldest first */
		if (o->state == DMA)
			dma_done(c, o);
		if (o == s)
			return;
	}
}

/* c->lock held: slot s free for the next chunk. */
static void take(struct gs__copy *c, struct slot *s)
{
	while (s->state != FREE) {
		if (!c->out)
			issue_filled(c);
		if (s->state == DMA && c->out)
			dma_until(c, s);
		else if (s->state == DMA)
			dma_done(c, s);
		else if (s->state != FREE)
			pthread_cond_wait(&c->cond, &c->lock); /* the threads' copy, or (in) an older chunk's */
	}
}

/* Every chunk handed so far done, its context current. */
static void drain(struct gs__copy *c)
{
	pthread_mutex_lock(&c->lock);
	while (!c->out && c->issued < c->next) {
		issue_filled(c);
		if (c->issued < c->next)
			pthread_cond_wait(&c->cond, &c->lock);
	}
	for (size_t k = 0; k < SLOTS; k++)
		take(c, &c->s[(c->next + k) % SLOTS]);
	pthread_mutex_unlock(&c->lock);
}

/* The stream and events of the context the chunks went in, gone; every
 * chunk done first. */
static void ctx_objects_free(struct gs__copy *c)
{
	if (!c->ctx)
		return;
	CUcontext was = NULL;
	gs__real.cuCtxGetCurrent(&was);
	gs__real.cuCtxSetCurrent(c->ctx);
	drain(c);
	/* a copy whose event could not be recorded is not waited for by its slot */
	if (c->stream)
		gs__real.cuStreamSynchronize(c->stream);
	for (int i = 0; i < SLOTS; i++)
		if (c->s[i].ev) {
			gs__real.cuEventDestroy_v2(c->s[i].ev);
			c->s[i].ev = NULL;
		}
	if (c->stream)
		gs__real.cuStreamDestroy_v2(c->stream);
	c->stream = NULL;
	c->ctx = NULL;
	gs__real.cuCtxSetCurrent(was);
}

/* The stream and events in the current context. */
static CUresult ctx_objects(struct gs__copy *c)
{
	CUcontext cur = NULL;
	CUresult rc = gs__real.cuCtxGetCurrent(&cur);
	if (rc || !cur)
		return rc ? rc : CUDA_ERROR_INVALID_CONTEXT;
	if (cur == c->ctx)
		return CUDA_SUCCESS;
	ctx_objects_free(c);
	c->ctx = cur;
	if ((rc = gs__real.cuStreamCreate(&c->stream, CU_STREAM_NON_BLOCKING))) {
		c->stream = NULL;
		return rc;
	}
	for (int i = 0; i < SLOTS && !rc; i++)
		if ((rc = gs__real.cuEventCreate(&c->s[i].ev, CU_EVENT_DISABLE_TIMING)))
			c->s[i].ev = NULL;
	return rc;
}

struct gs__copy *gs__copy_begin(bool out, uint64_t total)
{
	int threads = threads_wanted();
	if (!threads || total < 2 * CHUNK || !gs__real.cuMemHostAlloc || !gs__real.cuMemFreeHost ||
	    !gs__real.cuMemcpyDtoHAsync_v2 || !gs__real.cuMemcpyHtoDAsync_v2)
		return NULL;
	struct gs__copy *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->out = out;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	/* threads with every signal blocked: a signal of the program's is not theirs to take */
	sigset_t all, was;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &was);
	while (c->started < threads && pthread_create(&c->tid[c->started], NULL, copier, c) == 0)
		c->started++;
	pthread_sigmask(SIG_SETMASK, &was, NULL);
	if (!c->started) {
		gs__copy_end(c);
		return NULL;
	}
	c->threads = c->started;
	return c;
}

/* The staging buffers, made at the first region (pinning needs a current
 * context); false: none to be had, the driver's own copies then. */
static bool staged(struct gs__copy *c)
{
	if (c->staged || c->direct)
		return c->staged;
	for (int i = 0; i < SLOTS; i++)
		if (gs__real.cuMemHostAlloc(&c->s[i].stage, CHUNK, CU_MEMHOSTALLOC_PORTABLE)) {
			c->s[i].stage = NULL;
			gs__log("swap: no pinned staging memory (%zu MiB): the driver's own copies", (SLOTS * CHUNK) >> 20);
			for (int k = 0; k < i; k++) {
				gs__real.cuMemFreeHost(c->s[k].stage);
				c->s[k].stage = NULL;
			}
			c->direct = true;
			return false;
		}
	return c->staged = true;
}

CUresult gs__copy_region(struct gs__copy *c, void *host, CUdeviceptr dev, size_t size)
{
	if (!c->rc && !staged(c))
		return c->out ? gs__real.cuMemcpyDtoH_v2(host, dev, size) : gs__real.cuMemcpyHtoD_v2(dev, host, size);
	CUresult rc = c->rc ? c->rc : ctx_objects(c);
	if (rc) {
		c->rc = rc;
		return rc;
	}
	pthread_mutex_lock(&c->lock);
	for (size_t off = 0; off < size && !c->rc; off += CHUNK) {
		struct slot *s = &c->s[c->next % SLOTS];
		take(c, s);
		if (c->rc)
			break;
		s->host = (char *)host + off;
		s->dev = dev + off;
		s->n = size - off < CHUNK ? size - off : CHUNK;
		c->next++;
		if (c->out) {
			rc = gs__real.cuMemcpyDtoHAsync_v2(s->stage, s->dev, s->n, c->stream);
			if (!rc)
				rc = gs__real.cuEventRecord(s->ev, c->stream);
			if (rc) {
				c->rc = rc;
				break;
			}
			s->state = DMA;
			/* the oldest copy waited for once DMA_DEPTH are in flight */
			size_t inflight = 0;
			for (int i = 0; i < SLOTS; i++)
				inflight += c->s[i].state == DMA;
			if (inflight > DMA_DEPTH)
				dma_until(c, &c->s[(c->next - inflight) % SLOTS]);
		} else {
			hand(c, s);
			issue_filled(c);
		}
	}
	rc = c->rc;
	pthread_mutex_unlock(&c->lock);
	return rc;
}

CUresult gs__copy_end(struct gs__copy *c)
{
	if (!c)
		return CUDA_SUCCESS;
	ctx_objects_free(c);
	pthread_mutex_lock(&c->lock);
	c->stop = true;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	for (int i = 0; i < c->started; i++)
		pthread_join(c->tid[i], NULL);
	for (int i = 0; i < SLOTS; i++)
		if (c->s[i].stage)
			gs__real.cuMemFreeHost(c->s[i].stage);
	CUresult rc = c->rc;
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	free(c);
	return rc;
}

int gs__copy_threads(const struct gs__copy *c)
{
	return c && !c->direct ? c->threads : 0;
}
