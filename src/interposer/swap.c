/* swap.c: the interposer moves the program's device memory to the host and
 * back itself, for gpushare-control's suspend of programs whose driver
 * refuses the checkpoint API (clients of NVIDIA MPS). Allocations of
 * cuMemAlloc and cuMemAllocPitch of at least the VMM granularity are backed
 * by virtual memory management (addresses reserved, physical memory made,
 * mapped and granted), so that their physical memory can be given back
 * while their addresses stay reserved, and new memory mapped at the very
 * same addresses later: the pointers the program holds stay valid.
 *
 * "S swap out" (register.c's watcher) closes a gate every wrapped call waits
 * at (the slow path of GS__WRAP: the usual call still costs one load and a
 * branch), lets the calls already past it finish, synchronises the
 * program's contexts, copies every region to host memory and releases its
 * physical memory; "S swap in" maps new memory, copies the data back and
 * opens the gate. Each answers the daemon with a line ("swapped out <bytes>
 * <regions>", "swapped in", "swap_failed <CUresult> <why>"); the daemon
 * takes the bytes out of the slice's ledger and puts them back, as for a
 * checkpoint. What is not moved stays on the GPU and in the ledger: the
 * context's own memory, allocations under the granularity (the driver packs
 * those into shared pages: each would take a whole granule here), pools
 * (cuMemAllocAsync), managed memory, arrays, and what the program mapped
 * itself with cuMemCreate/cuMemMap.
 *
 * The one lock (the table's) is taken on allocation and free, never on a
 * launch; the swap holds it throughout, while every wrapped call waits at
 * the gate anyway. */
#include "interposer.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* calls that were past the gate when it closed: a few driver calls */
#define GRACE_US 50000

bool gs__swap_on;

/* A region's copy on the host: anonymous memory in huge pages where the
 * kernel gives them, since faulting in 4 KiB pages bounds the copy out
 * (24 GiB in 6 million faults: 1.6 GiB/s on an H100's host). */
static void *host_alloc(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	(void)madvise(p, size, MADV_HUGEPAGE); /* advice: refused where THP is off */
	return p;
}

static void host_free(void *p, size_t size)
{
	if (p)
		munmap(p, size);
}

/* Each device's granularity: 0 not asked yet, 1 none (no VMM). */
static size_t granule[GS__MAX_DEV];

/* One allocation backed by VMM. host: its data while swapped out (its
 * physical memory released, h 0), else NULL. */
struct region {
	CUdeviceptr va;          /* 0: empty slot; TOMB: deleted */
	size_t size, phys;       /* asked for; reserved and mapped (granules) */
	CUmemGenericAllocationHandle h;
	CUcontext ctx;           /* where it was made (its kernels' context), NULL: gone */
	int dev;
	void *host;
};
#define TOMB ((CUdeviceptr)1)

static struct {
	pthread_mutex_t lock;
	struct region *slots;
	size_t cap, used;        /* used: live and deleted slots */
	size_t live;
	bool out;                /* swapped out: the regions' data on the host */
	uint64_t out_bytes;      /* what was taken out of the ledger's charge */
	size_t out_regions;
} T = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* ---- the table: open addressing by address, T.lock held ---- */

static size_t slot_of(CUdeviceptr va)
{
	uint64_t k = va >> 21; /* granule-aligned */
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	return (size_t)k & (T.cap - 1);
}

static void put_locked(const struct region *r)
{
	for (size_t i = slot_of(r->va);; i = (i + 1) & (T.cap - 1))
		if (T.slots[i].va <= TOMB) {
			T.used += T.slots[i].va == 0;
			T.slots[i] = *r;
			T.live++;
			return;
		}
}

static bool room_locked(void)
{
	if ((T.used + 1) * 2 <= T.cap)
		return true;
	size_t cap = T.cap ? (T.live + 1) * 4 > T.cap ? T.cap * 2 : T.cap : 256;
	struct region *old = T.slots, *n = calloc(cap, sizeof *n);
	if (!n)
		return false;
	size_t oldcap = T.cap;
	T.slots = n;
	T.cap = cap;
	T.used = T.live = 0;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].va > TOMB)
			put_locked(&old[i]);
	free(old);
	return true;
}

static struct region *find_locked(CUdeviceptr va)
{
	for (size_t i = T.cap ? slot_of(va) : 0; T.cap && T.slots[i].va; i = (i + 1) & (T.cap - 1))
		if (T.slots[i].va == va)
			return &T.slots[i];
	return NULL;
}

/* ---- backing allocations ---- */

static CUmemAllocationProp prop_of(int dev)
{
	return (CUmemAllocationProp){ .type = CU_MEM_ALLOCATION_TYPE_PINNED,
				      .location = { CU_MEM_LOCATION_TYPE_DEVICE, dev } };
}

static size_t granularity(CUdevice dev)
{
	if (dev < 0 || dev >= GS__MAX_DEV)
		return 0;
	size_t g = __atomic_load_n(&granule[dev], __ATOMIC_RELAXED);
	if (!g) {
		CUmemAllocationProp prop = prop_of(dev);
		if (gs__real.cuMemGetAllocationGranularity(&g, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM) || !g ||
		    (g & (g - 1)))
			g = 1;
		__atomic_store_n(&granule[dev], g, __ATOMIC_RELAXED);
	}
	return g > 1 ? g : 0;
}

/* Physical memory of phys bytes mapped at va and granted to dev: 0, or the
 * driver's error with nothing left made (h 0). */
static CUresult back(CUdeviceptr va, size_t phys, int dev, CUmemGenericAllocationHandle *h)
{
	CUmemAllocationProp prop = prop_of(dev);
	CUmemAccessDesc rw = { { CU_MEM_LOCATION_TYPE_DEVICE, dev }, CU_MEM_ACCESS_FLAGS_PROT_READWRITE };
	CUresult rc = gs__real.cuMemCreate(h, phys, &prop, 0);
	if (rc) {
		*h = 0;
		return rc;
	}
	rc = gs__real.cuMemMap(va, phys, 0, *h, 0);
	if (rc == CUDA_SUCCESS && (rc = gs__real.cuMemSetAccess(va, phys, &rw, 1)))
		gs__real.cuMemUnmap(va, phys);
	if (rc) {
		gs__real.cuMemRelease(*h);
		*h = 0;
	}
	return rc;
}

static void unback(CUdeviceptr va, size_t phys, CUmemGenericAllocationHandle h)
{
	gs__real.cuMemUnmap(va, phys);
	gs__real.cuMemRelease(h);
}

bool gs__swap_backs(size_t bytes)
{
	CUdevice dev;
	if (!__atomic_load_n(&gs__swap_on, __ATOMIC_RELAXED) || gs__real.cuCtxGetDevice(&dev))
		return false;
	size_t g = granularity(dev);
	return g && bytes >= g && bytes <= SIZE_MAX - g;
}

CUresult gs__swap_alloc(CUdeviceptr *dptr, size_t bytes)
{
	CUdevice dev;
	CUcontext ctx = NULL;
	CUresult rc = gs__real.cuCtxGetDevice(&dev);
	if (rc)
		return rc;
	size_t g = granularity(dev), phys = (bytes + g - 1) / g * g;
	gs__real.cuCtxGetCurrent(&ctx);
	CUdeviceptr va;
	if ((rc = gs__real.cuMemAddressReserve(&va, phys, g, 0, 0)))
		return rc == CUDA_ERROR_INVALID_VALUE ? CUDA_ERROR_OUT_OF_MEMORY : rc;
	struct region r = { va, bytes, phys, 0, ctx, dev, NULL };
	if ((rc = back(va, phys, dev, &r.h))) {
		gs__real.cuMemAddressFree(va, phys);
		return rc;
	}
	pthread_mutex_lock(&T.lock);
	bool ok = room_locked();
	if (ok)
		put_locked(&r);
	pthread_mutex_unlock(&T.lock);
	if (!ok) {
		unback(va, phys, r.h);
		gs__real.cuMemAddressFree(va, phys);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	*dptr = va;
	return CUDA_SUCCESS;
}

CUresult gs__swap_free(CUdeviceptr va, CUstream s, bool *ours)
{
	pthread_mutex_lock(&T.lock);
	struct region *p = find_locked(va), r = p ? *p : (struct region){ 0 };
	if (p) {
		p->va = TOMB;
		T.live--;
	}
	pthread_mutex_unlock(&T.lock);
	*ours = p != NULL;
	if (!p)
		return CUDA_SUCCESS;
	if (r.host) {
		host_free(r.host, r.size); /* freed while swapped out (a call that was past the gate) */
	} else {
		/* as cuMemFree: not while kernels may still use it; a stream's
		 * free after that stream's work */
		if (s)
			gs__real.cuStreamSynchronize(s);
		else
			gs__real.cuCtxSynchronize();
		unback(r.va, r.phys, r.h);
	}
	return gs__real.cuMemAddressFree(r.va, r.phys);
}

void gs__swap_ctx_gone(CUcontext ctx)
{
	pthread_mutex_lock(&T.lock);
	for (size_t i = 0; i < T.cap; i++)
		if (T.slots[i].va > TOMB && T.slots[i].ctx == ctx)
			T.slots[i].ctx = NULL; /* copied through its device's primary */
	pthread_mutex_unlock(&T.lock);
}

/* ---- the gate ---- */

static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_open = PTHREAD_COND_INITIALIZER;

static void gate(bool closed)
{
	pthread_mutex_lock(&gate_lock);
	if (closed)
		__atomic_or_fetch(&gs__wrap_flags, GS__WRAP_GATE, __ATOMIC_SEQ_CST);
	else
		__atomic_and_fetch(&gs__wrap_flags, ~(unsigned)GS__WRAP_GATE, __ATOMIC_SEQ_CST);
	pthread_cond_broadcast(&gate_open);
	pthread_mutex_unlock(&gate_lock);
}

void gs__swap_gate(void)
{
	int was;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &was);
	pthread_mutex_lock(&gate_lock);
	while (__atomic_load_n(&gs__wrap_flags, __ATOMIC_SEQ_CST) & GS__WRAP_GATE)
		pthread_cond_wait(&gate_open, &gate_lock);
	pthread_mutex_unlock(&gate_lock);
	pthread_setcancelstate(was, NULL);
}

/* ---- moving ---- */

/* The context a region's copies run in: its own, else its device's
 * primary (retained into *primary, once per device, released by the
 * caller). */
static CUresult use_ctx(const struct region *r, CUcontext primary[GS__MAX_DEV])
{
	CUcontext c = r->ctx;
	if (!c && r->dev >= 0 && r->dev < GS__MAX_DEV) {
		if (!primary[r->dev] && gs__real.cuDevicePrimaryCtxRetain(&primary[r->dev], r->dev))
			primary[r->dev] = NULL;
		c = primary[r->dev];
	}
	return c ? gs__real.cuCtxSetCurrent(c) : CUDA_ERROR_INVALID_CONTEXT;
}

static void release_primaries(CUcontext primary[GS__MAX_DEV])
{
	for (int d = 0; d < GS__MAX_DEV; d++)
		if (primary[d])
			gs__real.cuDevicePrimaryCtxRelease_v2(d);
}

/* A swap's synchronisation, on a thread of its own so that the swap can
 * give up on it: a kernel that runs for long, or a host function on a
 * stream that waits for a thread the gate holds, would otherwise keep the
 * gate closed for good. The thread frees the job where the swap gave up. */
struct sync_job {
	pthread_mutex_t lock;
	pthread_cond_t done_cv;
	bool done, abandoned;
	CUresult rc;
	size_t n;
	CUcontext ctx[32];
};

static void *sync_thread(void *arg)
{
	struct sync_job *j = arg;
	CUresult rc = CUDA_SUCCESS;
	for (size_t i = 0; i < j->n && rc == CUDA_SUCCESS; i++)
		if ((rc = gs__real.cuCtxSetCurrent(j->ctx[i])) == CUDA_SUCCESS)
			rc = gs__real.cuCtxSynchronize();
	pthread_mutex_lock(&j->lock);
	j->rc = rc;
	j->done = true;
	bool mine = j->abandoned;
	pthread_cond_signal(&j->done_cv);
	pthread_mutex_unlock(&j->lock);
	if (mine)
		free(j);
	return NULL;
}

/* Seconds a swap waits for the program's work to finish
 * (GPUSHARE_SWAP_SYNC_S, 1 to 86400, default 60). */
static unsigned sync_limit_s(void)
{
	static unsigned limit;
	unsigned v = __atomic_load_n(&limit, __ATOMIC_RELAXED);
	if (v)
		return v;
	v = 60;
	const char *env = secure_getenv("GPUSHARE_SWAP_SYNC_S");
	if (env && *env) {
		char *end;
		long t = strtol(env, &end, 10);
		if (*end || t < 1 || t > 86400)
			gs__log("GPUSHARE_SWAP_SYNC_S=\"%.32s\" is not a number of seconds from 1 to 86400: %u", env, v);
		else
			v = (unsigned)t;
	}
	__atomic_store_n(&limit, v, __ATOMIC_RELAXED);
	return v;
}

/* Every kernel and copy of the program done: each context its regions were
 * made in, once, within sync_limit_s() (CUDA_ERROR_TIMEOUT past it: the
 * swap is given up, the program runs on). T.lock held. */
static CUresult sync_all(void)
{
	struct sync_job *j = calloc(1, sizeof *j);
	if (!j)
		return CUDA_ERROR_OUT_OF_MEMORY;
	pthread_mutex_init(&j->lock, NULL);
	pthread_cond_init(&j->done_cv, NULL);
	for (size_t i = 0; i < T.cap; i++) {
		struct region *r = &T.slots[i];
		if (r->va <= TOMB || r->host || !r->ctx)
			continue;
		size_t k = 0;
		while (k < j->n && j->ctx[k] != r->ctx)
			k++;
		if (k == j->n && j->n < GS_ARRAY_LEN(j->ctx))
			j->ctx[j->n++] = r->ctx;
	}
	pthread_t t;
	pthread_attr_t attr;
	sigset_t all, was;
	sigfillset(&all);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_sigmask(SIG_BLOCK, &all, &was);
	bool started = pthread_create(&t, &attr, sync_thread, j) == 0;
	pthread_sigmask(SIG_SETMASK, &was, NULL);
	pthread_attr_destroy(&attr);
	if (!started) {
		sync_thread(j); /* here, without a limit */
		CUresult rc = j->rc;
		free(j);
		return rc;
	}
	struct timespec end;
	clock_gettime(CLOCK_REALTIME, &end);
	end.tv_sec += sync_limit_s();
	pthread_mutex_lock(&j->lock);
	while (!j->done && pthread_cond_timedwait(&j->done_cv, &j->lock, &end) == 0)
		;
	bool done = j->done;
	CUresult rc = done ? j->rc : CUDA_ERROR_TIMEOUT;
	j->abandoned = !done;
	pthread_mutex_unlock(&j->lock);
	if (done)
		free(j);
	return rc;
}

/* The answer line into out (len bytes), the log told too. */
static void say(char *out, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *out, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out, len, fmt, ap);
	va_end(ap);
	gs__log("swap: %s", out);
}

/* Whether a region is still to move: out, on the GPU; in, on the host
 * and not yet mapped again. */
static bool to_move(const struct region *r, bool in)
{
	return r->va > TOMB && (in ? r->host && !r->h : !r->host);
}

/* The bytes a swap would copy. T.lock held. */
static uint64_t to_move_locked(bool in)
{
	uint64_t n = 0;
	for (size_t i = 0; i < T.cap; i++)
		if (to_move(&T.slots[i], in))
			n += T.slots[i].size;
	return n;
}

/* Where a walk through the regions to move is: a context at a time, since
 * the copy pipeline drains at a change of context. */
struct walk {
	size_t at;
	bool in, group;          /* group: ctx and dev say whose regions come */
	CUcontext ctx;
	int dev;
};

/* The walk's next region: of the context being walked, the next still to
 * move; when it has none left, the first still to move of any. Moving it
 * makes it not to move, so each region comes once. T.lock held. */
static struct region *next_to_move(struct walk *w)
{
	for (int pass = 0; pass < 2; pass++) {
		for (; w->group && w->at < T.cap; w->at++) {
			struct region *r = &T.slots[w->at];
			if (to_move(r, w->in) && r->ctx == w->ctx && (r->ctx || r->dev == w->dev)) {
				w->at++;
				return r;
			}
		}
		w->group = false;
		for (size_t i = 0; i < T.cap && !w->group; i++)
			if (to_move(&T.slots[i], w->in))
				*w = (struct walk){ i, w->in, true, T.slots[i].ctx, T.slots[i].dev };
	}
	return NULL;
}

/* Said once per direction: how the copies go. */
static void log_pipe(const struct gs__copy *pipe, const char *dir)
{
	static bool said[2];
	bool *s = &said[dir[0] == 'i'];
	if (__atomic_exchange_n(s, true, __ATOMIC_RELAXED))
		return;
	if (gs__copy_threads(pipe))
		gs__log("swap: copies %s go through pinned staging buffers and %d threads", dir, gs__copy_threads(pipe));
	else
		gs__log("swap: copies %s are the driver's own (GPUSHARE_SWAP_THREADS=0, or too few bytes)", dir);
}

/* Out: the gate closed, every region's data on the host and its physical
 * memory released. All or nothing: a copy that fails gives back what was
 * copied, and the gate opens again. */
static void swap_out(char *out, size_t len)
{
	gate(true);
	usleep(GRACE_US); /* calls that were past the gate: see docs/interposer.md on what this cannot catch */
	pthread_mutex_lock(&T.lock);
	if (T.out) {
		pthread_mutex_unlock(&T.lock);
		say(out, len, "swapped out %llu %zu", (unsigned long long)T.out_bytes, T.out_regions);
		return;
	}
	CUcontext primary[GS__MAX_DEV] = { 0 };
	CUresult rc = sync_all();
	char why_sync[96] = "synchronize";
	if (rc == CUDA_ERROR_TIMEOUT)
		snprintf(why_sync, sizeof why_sync, "its work did not finish within %u s (GPUSHARE_SWAP_SYNC_S)",
			 sync_limit_s());
	const char *why = why_sync;
	struct gs__copy *pipe = rc ? NULL : gs__copy_begin(true, to_move_locked(false));
	size_t i;
	struct region *m;
	for (struct walk w = { .in = false }; rc == CUDA_SUCCESS && (m = next_to_move(&w));) {
		if (!(m->host = host_alloc(m->size))) {
			rc = CUDA_ERROR_OUT_OF_MEMORY;
			why = "host memory";
		} else if ((rc = use_ctx(m, primary)) ||
			   (rc = pipe ? gs__copy_region(pipe, m->host, m->va, m->size)
				      : gs__real.cuMemcpyDtoH_v2(m->host, m->va, m->size))) {
			why = "copy to host";
		}
	}
	log_pipe(pipe, "out");
	CUresult copied = gs__copy_end(pipe); /* before a host copy is freed: the threads write them */
	if (!rc && copied) {
		rc = copied;
		why = "copy to host";
	}
	if (rc) {
		for (size_t k = 0; k < T.cap; k++)
			if (T.slots[k].va > TOMB && T.slots[k].host) {
				host_free(T.slots[k].host, T.slots[k].size);
				T.slots[k].host = NULL;
			}
		release_primaries(primary);
		pthread_mutex_unlock(&T.lock);
		gate(false);
		say(out, len, "swap_failed %d %s", rc, why);
		return;
	}
	uint64_t bytes = 0;
	size_t n = 0;
	for (i = 0; i < T.cap; i++) {
		struct region *r = &T.slots[i];
		if (r->va <= TOMB || !r->host)
			continue;
		if (gs__real.cuMemUnmap(r->va, r->phys)) {
			host_free(r->host, r->size); /* it stays on the GPU, as memory that is not moved */
			r->host = NULL;
			continue;
		}
		gs__real.cuMemRelease(r->h);
		r->h = 0;
		bytes += gs__mem_charged(r->va);
		n++;
	}
	release_primaries(primary);
	T.out = true;
	T.out_bytes = bytes;
	T.out_regions = n;
	pthread_mutex_unlock(&T.lock);
	say(out, len, "swapped out %llu %zu", (unsigned long long)bytes, n);
}

/* In: new physical memory at the same addresses, the data copied back, the
 * gate opened. All or nothing: memory that does not fit (another program
 * holds it) is given back and the program stays out. */
static void swap_in(char *out, size_t len)
{
	pthread_mutex_lock(&T.lock);
	CUcontext primary[GS__MAX_DEV] = { 0 };
	CUresult rc = CUDA_SUCCESS;
	const char *why = "map";
	struct gs__copy *pipe = T.out ? gs__copy_begin(false, to_move_locked(true)) : NULL;
	struct region *r;
	for (struct walk w = { .in = true }; T.out && rc == CUDA_SUCCESS && (r = next_to_move(&w));) {
		if ((rc = back(r->va, r->phys, r->dev, &r->h)))
			why = rc == CUDA_ERROR_OUT_OF_MEMORY ? "out of memory" : "map";
		else if ((rc = use_ctx(r, primary)) ||
			 (rc = pipe ? gs__copy_region(pipe, r->host, r->va, r->size)
				    : gs__real.cuMemcpyHtoD_v2(r->va, r->host, r->size)))
			why = "copy to the GPU";
	}
	log_pipe(pipe, "in");
	CUresult copied = gs__copy_end(pipe); /* before a mapping is released: copies go to it */
	if (!rc && copied) {
		rc = copied;
		why = "copy to the GPU";
	}
	if (rc) {
		/* back out: what was mapped in this pass is released, the data stays on the host */
		for (size_t k = 0; k < T.cap; k++)
			if (T.slots[k].va > TOMB && T.slots[k].host && T.slots[k].h) {
				unback(T.slots[k].va, T.slots[k].phys, T.slots[k].h);
				T.slots[k].h = 0;
			}
		release_primaries(primary);
		pthread_mutex_unlock(&T.lock);
		say(out, len, "swap_failed %d %s", rc, why);
		return;
	}
	for (size_t k = 0; k < T.cap; k++)
		if (T.slots[k].va > TOMB && T.slots[k].host) {
			host_free(T.slots[k].host, T.slots[k].size);
			T.slots[k].host = NULL;
		}
	release_primaries(primary);
	T.out = false;
	T.out_bytes = 0;
	T.out_regions = 0;
	pthread_mutex_unlock(&T.lock);
	gate(false);
	say(out, len, "swapped in");
}

/* ---- the worker: the daemon's commands in order ---- */

static struct {
	pthread_mutex_t lock;
	pthread_cond_t more;
	char queue[8];           /* 'o' out, 'i' in */
	size_t n;
	bool started;
} W = { .lock = PTHREAD_MUTEX_INITIALIZER, .more = PTHREAD_COND_INITIALIZER };

void gs__swap_now(bool out, char *answer, size_t len)
{
	CUcontext was = NULL; /* the copies make other contexts current: the caller's back after */
	gs__real.cuCtxGetCurrent(&was);
	if (out && !__atomic_load_n(&gs__swap_on, __ATOMIC_RELAXED))
		say(answer, len, "swap_failed %d %s", CUDA_ERROR_NOT_SUPPORTED, "not enabled");
	else if (out)
		swap_out(answer, len);
	else
		swap_in(answer, len);
	gs__real.cuCtxSetCurrent(was);
}

/* The answer to the daemon: the socket is the daemon's to drain, so a few
 * tries; one that never arrives is asked again (the daemon's resume). */
static void tell(const char *answer)
{
	char line[192];
	snprintf(line, sizeof line, "%s\n", answer);
	for (int i = 0; i < 50 && !gs__notify(line) && gs__connected(); i++)
		usleep(20000);
}

static void *worker(void *arg)
{
	(void)arg;
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	for (;;) {
		pthread_mutex_lock(&W.lock);
		while (!W.n)
			pthread_cond_wait(&W.more, &W.lock);
		char c = W.queue[0];
		memmove(W.queue, W.queue + 1, --W.n);
		pthread_mutex_unlock(&W.lock);
		char answer[160];
		gs__swap_now(c == 'o', answer, sizeof answer);
		tell(answer);
	}
	return NULL;
}

void gs__swap_command(bool out)
{
	pthread_mutex_lock(&W.lock);
	if (!W.started) {
		/* a stack of the default size: the driver's copies run on it */
		pthread_attr_t attr;
		pthread_t t;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		W.started = pthread_create(&t, &attr, worker, NULL) == 0;
		pthread_attr_destroy(&attr);
	}
	if (!W.started) {
		pthread_mutex_unlock(&W.lock);
		char answer[64];
		say(answer, sizeof answer, "swap_failed %d %s", CUDA_ERROR_OUT_OF_MEMORY, "no thread");
		tell(answer);
		return;
	}
	if (W.n == sizeof W.queue)
		memmove(W.queue, W.queue + 1, --W.n); /* the daemon asks one at a time: the oldest goes */
	W.queue[W.n++] = out ? 'o' : 'i';
	pthread_cond_signal(&W.more);
	pthread_mutex_unlock(&W.lock);
}

/* A forked child is not the registered process, and CUDA does not carry
 * over a fork: its calls never wait for a swap of the parent's. */
static void forked_child(void)
{
	pthread_mutex_init(&W.lock, NULL);
	W.n = 0;
	W.started = false;
	pthread_mutex_init(&gate_lock, NULL);
	pthread_mutex_init(&T.lock, NULL);
	__atomic_and_fetch(&gs__wrap_flags, ~(unsigned)GS__WRAP_GATE, __ATOMIC_SEQ_CST);
}

void gs__swap_setup(bool asked)
{
	const char *env = secure_getenv("GPUSHARE_SWAP");
	bool on = asked;
	if (env && (strcmp(env, "off") == 0 || strcmp(env, "0") == 0))
		on = false;
	else if (env && (strcmp(env, "on") == 0 || strcmp(env, "1") == 0))
		on = true;
	else if (env && *env)
		gs__log("GPUSHARE_SWAP=\"%.32s\" is none of on, off, 1, 0: ignored (%s)", env,
			on ? "gpushare-control asked for the backing" : "no backing");
	if (on && (!gs__real.cuMemAddressReserve || !gs__real.cuMemAddressFree || !gs__real.cuMemMap ||
		   !gs__real.cuMemUnmap || !gs__real.cuMemSetAccess || !gs__real.cuMemCreate || !gs__real.cuMemRelease ||
		   !gs__real.cuMemGetAllocationGranularity)) {
		gs__log("swap: the driver has no virtual memory management: this program's memory cannot be moved");
		on = false;
	}
	static bool atfork;
	if (on && !atfork) {
		atfork = true;
		pthread_atfork(NULL, NULL, forked_child);
	}
	if (on) {
		gs__log("swap: allocations of at least the VMM granularity are backed by virtual memory management, so "
			"that gpushare-control can move them to the host");
	}
	__atomic_store_n(&gs__swap_on, on, __ATOMIC_RELAXED);
}
