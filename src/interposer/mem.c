/* mem.c: memory slices. Every path that takes device memory, the contexts
 * included, is charged to the slice's ledger (shared by all its processes)
 * before the driver allocates, and refused with CUDA_ERROR_OUT_OF_MEMORY, nothing
 * changed, over the limit; frees give back exactly what was charged. What a
 * program sees (cuMemGetInfo, cuDeviceTotalMem) is the slice. */
#include "interposer.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What each live allocation was charged: open-addressing tables, one short
 * lock per shard, never held across a driver call. A table that cannot grow
 * refuses the allocation (CUDA_ERROR_OUT_OF_MEMORY): nothing is ever
 * allocated without a record of its charge. Device pointers and arrays share
 * one table; VMM handles, which the driver numbers as it likes, have their
 * own. */
#define SHARDS 16
#define SHARD_SLOTS 4096
enum { SLOT_EMPTY, SLOT_DELETED, SLOT_LIVE };
struct slot {
	uintptr_t key;
	uint64_t bytes;
	int state;
	unsigned slice;  /* gs__slice_at's index: the slice it was charged to */
};
struct shard {
	pthread_mutex_t lock;
	size_t used;     /* live and deleted slots */
	struct slot *slots;
	size_t cap;
};
struct table {
	struct shard s[SHARDS];
};
#define S { PTHREAD_MUTEX_INITIALIZER, 0, NULL, 0 }
#define TABLE_INIT { { S, S, S, S, S, S, S, S, S, S, S, S, S, S, S, S } }
static struct table allocs = TABLE_INIT, handles = TABLE_INIT;
#undef S

/* shard by the low bits of the hash, probe by the high ones */
static size_t hash(uintptr_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	return (size_t)k;
}

static void put_locked(struct shard *s, uintptr_t key, uint64_t bytes, unsigned slice)
{
	for (size_t i = (hash(key) >> 8) & (s->cap - 1);; i = (i + 1) & (s->cap - 1))
		if (s->slots[i].state != SLOT_LIVE) {
			s->used += s->slots[i].state == SLOT_EMPTY;
			s->slots[i] = (struct slot){ key, bytes, SLOT_LIVE, slice };
			return;
		}
}

static bool grow(struct shard *s)
{
	size_t cap = s->cap ? s->cap * 2 : SHARD_SLOTS;
	struct slot *old = s->slots, *n = calloc(cap, sizeof *n);
	if (!n)
		return false;
	size_t oldcap = s->cap;
	s->slots = n;
	s->cap = cap;
	s->used = 0;
	for (size_t i = 0; i < oldcap; i++)
		if (old[i].state == SLOT_LIVE)
			put_locked(s, old[i].key, old[i].bytes, old[i].slice);
	free(old);
	return true;
}

/* false when the table cannot grow: the caller undoes the allocation */
static bool table_put(struct table *t, uintptr_t key, uint64_t bytes, const struct gs__slice *sl)
{
	struct shard *s = &t->s[hash(key) % SHARDS];
	pthread_mutex_lock(&s->lock);
	bool ok = (s->used + 1) * 2 <= s->cap || grow(s);
	if (ok)
		put_locked(s, key, bytes, gs__slice_index(sl));
	pthread_mutex_unlock(&s->lock);
	return ok;
}

/* What key was charged (0: not ours) and to which slice (*sl, when asked);
 * removed from the table if take. */
static uint64_t table_find(struct table *t, uintptr_t key, bool take, struct gs__slice **sl)
{
	struct shard *s = &t->s[hash(key) % SHARDS];
	uint64_t bytes = 0;
	if (sl)
		*sl = &gs__slice;
	pthread_mutex_lock(&s->lock);
	for (size_t i = s->cap ? (hash(key) >> 8) & (s->cap - 1) : 0; s->cap && s->slots[i].state != SLOT_EMPTY;
	     i = (i + 1) & (s->cap - 1))
		if (s->slots[i].state == SLOT_LIVE && s->slots[i].key == key) {
			bytes = s->slots[i].bytes;
			if (sl)
				*sl = gs__slice_at(s->slots[i].slice);
			if (take)
				s->slots[i].state = SLOT_DELETED;
			break;
		}
	pthread_mutex_unlock(&s->lock);
	return bytes;
}

/* Removes key; returns what it was charged (to *sl), or 0 when it was not ours. */
static uint64_t table_take(struct table *t, uintptr_t key, struct gs__slice **sl)
{
	return table_find(t, key, true, sl);
}

/* What key was charged (0: not ours), left in the table. */
static uint64_t table_get(struct table *t, uintptr_t key)
{
	return table_find(t, key, false, NULL);
}

/* This process's own cap in a slice: its server's pinned limit (NVIDIA's
 * MPS enforces it itself), narrowed by GPUSHARE_MEMORY_LIMIT; 0: none.
 * What it holds there, its contexts included (as MPS counts it), is the
 * slice's process_bytes: a limit per device, as MPS's pinned limit is. */
static uint64_t process_cap(const struct gs__slice *s)
{
	uint64_t cap = gs__client.mps ? 0 : gs__slice_server_limit(s);
	if (s->process_limit && (!cap || s->process_limit < cap))
		cap = s->process_limit;
	return cap;
}

/* The most this process can be given, for what it is told: its cap and,
 * under NVIDIA's MPS, the pinned limit MPS enforces itself (whose free
 * memory the driver already reports). 0: none. */
static uint64_t process_view_cap(const struct gs__slice *s)
{
	uint64_t cap = process_cap(s), server = gs__slice_server_limit(s);
	if (gs__client.mps && server && (!cap || server < cap))
		cap = server;
	return cap;
}

void gs__process_view(const struct gs__slice *s, uint64_t *cap, uint64_t *held)
{
	*cap = process_view_cap(s);
	*held = __atomic_load_n(&s->process_bytes, __ATOMIC_RELAXED);
}

/* Charges bytes to the slice: the server's pinned memory limit, the slice's
 * limit and the other slices' guarantees, or CUDA_ERROR_OUT_OF_MEMORY and
 * nothing changes. Every charge, contexts included, comes through here.
 * With reclaim, one within the guarantee that borrowers hold waits while
 * gpushare-control takes it back (lend.c); without (a charge made with a
 * lock held, or while other threads wait for a context), it does not. */
static CUresult charge_to(struct gs__slice *s, uint64_t bytes, bool reclaim)
{
	if (!bytes)
		return CUDA_SUCCESS;
	/* suspended (gpushare-control's suspend): its allocations wait, as its
	 * driver calls do, rather than take back the memory it gave up */
	while (s->ledger && gs_ledger_held_here(s->ledger))
		usleep(1000);
	uint64_t cap = process_cap(s);
	if (cap && __atomic_add_fetch(&s->process_bytes, bytes, __ATOMIC_RELAXED) > cap) {
		__atomic_sub_fetch(&s->process_bytes, bytes, __ATOMIC_RELAXED);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	bool ledger_ok = gs_ledger_charge(s->ledger, bytes) == 0;
	/* the dead's charges, which the ledger reclaims only past the slice's
	 * limit, count for nothing here either: reclaimed, then looked at again */
	if (ledger_ok && !gs__guarantee_admits_in(s, gs_ledger_used(s->ledger)) &&
	    (!gs_ledger_reclaim(s->ledger) || !gs__guarantee_admits_in(s, gs_ledger_used(s->ledger)))) {
		gs_ledger_uncharge(s->ledger, bytes);
		ledger_ok = false;
	}
	/* within the guarantee, what borrowers hold of it is asked back; the
	 * charge stays meanwhile, so that no borrower takes it again (the first
	 * slice's connection asks: a further slice takes only its guarantee) */
	uint64_t short_by = ledger_ok && reclaim && s == &gs__slice ? gs__guarantee_shortfall(gs_ledger_used(s->ledger)) : 0;
	if (short_by && !gs__lend_reclaim(short_by)) {
		gs_ledger_uncharge(s->ledger, bytes);
		ledger_ok = false;
	}
	if (!ledger_ok) {
		if (cap)
			__atomic_sub_fetch(&s->process_bytes, bytes, __ATOMIC_RELAXED);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	return CUDA_SUCCESS;
}

static CUresult charge(struct gs__slice *s, uint64_t bytes)
{
	return charge_to(s, bytes, true);
}

static CUresult charge_now(struct gs__slice *s, uint64_t bytes)
{
	return charge_to(s, bytes, false);
}

/* An allocation's charge, before the driver allocates: where the slice is
 * made with -oom-wait, one that does not fit waits, up to that long, for
 * memory the slice's programs free (a check every few milliseconds, at most
 * 50), then is refused as ever. Never for what the slice's limit could not
 * hold at all. The store is read once per refusal, so a change of the wait
 * holds for running programs. */
static pthread_mutex_t wait_lock = PTHREAD_MUTEX_INITIALIZER;

static CUresult charge_or_wait(struct gs__slice *s, uint64_t bytes)
{
	CUresult rc = charge(s, bytes);
	uint64_t cap = process_cap(s);
	if (rc == CUDA_SUCCESS || !s->ledger || bytes > gs__limit(s) ||
	    (cap && __atomic_load_n(&s->process_bytes, __ATOMIC_RELAXED) + bytes > cap))
		return rc; /* never to fit, or past this process's own cap: nothing to wait for */
	/* the store's wait, read again at most once a second (allocators probe
	 * smaller sizes after a refusal) */
	pthread_mutex_lock(&wait_lock);
	if (!s->oom_read_ns || gs_now_ns() - s->oom_read_ns > 1000000000ull) {
		s->oom_wait_s = gs__config_oom_wait(s);
		s->oom_read_ns = gs_now_ns();
	}
	unsigned secs = s->oom_wait_s;
	pthread_mutex_unlock(&wait_lock);
	if (!secs)
		return rc;
	uint64_t end = gs_now_ns() + (uint64_t)secs * 1000000000ull;
	fprintf(stderr, "gpushare: slice %s is full: waiting up to %u s for %llu MiB (%llu of its %llu MiB in use)\n",
		s->name, secs, (unsigned long long)(bytes >> 20),
		(unsigned long long)(gs_ledger_used(s->ledger) >> 20), (unsigned long long)(gs__limit(s) >> 20));
	gs__log("waiting up to %u s for %llu MiB: the slice is full", secs, (unsigned long long)(bytes >> 20));
	unsigned pause_us = 1000;
	while ((rc = charge(s, bytes)) != CUDA_SUCCESS && gs_now_ns() < end) {
		usleep(pause_us);
		pause_us = pause_us < 50000 ? pause_us * 2 : 50000;
	}
	if (rc == CUDA_SUCCESS)
		gs__log("the %llu MiB waited for fit", (unsigned long long)(bytes >> 20));
	else
		fprintf(stderr, "gpushare: slice %s: %llu MiB did not fit within %u s; CUDA_ERROR_OUT_OF_MEMORY\n",
			s->name, (unsigned long long)(bytes >> 20), secs);
	return rc;
}

static void uncharge(struct gs__slice *s, uint64_t bytes)
{
	if (!bytes)
		return;
	if (process_cap(s))
		__atomic_sub_fetch(&s->process_bytes, bytes, __ATOMIC_RELAXED);
	gs_ledger_uncharge(s->ledger, bytes);
}

/* ---- contexts ----
 * A context takes device memory when the driver makes it. Every call that
 * makes one (ctx.c: primary retain, cuCtxCreate, the slice's green contexts)
 * charges a first guess before the driver runs, so a full slice refuses the
 * context without it being made, then replaces the guess by what the context
 * took: NVML's figure for the process less everything else it has charged
 * (the guess when NVML cannot tell). A primary made behind our back (the
 * runtime binding it on a thread) is charged the same way at its first
 * allocation. A context that does not fit makes the call that made it fail
 * with CUDA_ERROR_OUT_OF_MEMORY, and stderr says the slice is full. */
#define CONTEXT_GUESS (256ull << 20)

enum { PRIMARY_UNCHARGED, PRIMARY_CHARGING, PRIMARY_CHARGED };
static int primary_state[GS__MAX_DEV];
static uint64_t primary_bytes[GS__MAX_DEV];

/* Contexts made with cuCtxCreate and what each was charged. */
static struct own_ctx {
	CUcontext ctx;
	uint64_t bytes;
	struct gs__slice *slice;
} *own_ctxs;
static size_t n_own, cap_own;
static pthread_mutex_t own_lock = PTHREAD_MUTEX_INITIALIZER;

/* The slice a device's memory is charged to, NULL when none limits it. */
static struct gs__slice *ctx_counted(CUdevice dev)
{
	if (dev < 0 || dev >= GS__MAX_DEV)
		return NULL;
	struct gs__slice *s = gs__slice_of(dev);
	return s && s->memory_limited ? s : NULL;
}

static void slice_full(const struct gs__slice *s, uint64_t bytes)
{
	uint64_t used = gs_ledger_used(s->ledger), limit = gs__limit(s);
	fprintf(stderr,
		"gpushare: slice %s is full: a CUDA context needs %llu MiB and %llu of its %llu MiB are in use; "
		"CUDA_ERROR_OUT_OF_MEMORY\n",
		s->name, (unsigned long long)(bytes >> 20), (unsigned long long)(used >> 20),
		(unsigned long long)(limit >> 20));
	gs__log("refused a context of %llu MiB: the slice is full (%llu of %llu MiB in use)",
		(unsigned long long)(bytes >> 20), (unsigned long long)(used >> 20), (unsigned long long)(limit >> 20));
}

/* What the context just made took: NVML's figure for the process less what
 * it charged besides the guess (pre) held for this context. */
static uint64_t context_bytes(const struct gs__slice *s, uint64_t pre)
{
	uint64_t nv;
	if (gs__nvml_process_bytes(s->gpu_uuid, &nv))
		return pre ? pre : CONTEXT_GUESS; /* NVML cannot tell: the guess stands */
	uint64_t mine = gs_ledger_held(s->ledger), other = mine > pre ? mine - pre : 0;
	return nv > other ? nv - other : 0;
}

/* Takes the right to charge a device's primary: false when it is charged. */
static bool primary_claim(CUdevice dev)
{
	for (;;) {
		int st = __atomic_load_n(&primary_state[dev], __ATOMIC_ACQUIRE);
		if (st == PRIMARY_CHARGED)
			return false;
		if (st == PRIMARY_UNCHARGED &&
		    __atomic_compare_exchange_n(&primary_state[dev], &st, PRIMARY_CHARGING, false, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			return true;
		sched_yield(); /* another thread is charging it: a few driver calls */
	}
}

CUresult gs__ctx_charge_begin(CUdevice dev, bool primary, struct gs__ctx_charge *t)
{
	*t = (struct gs__ctx_charge){ .dev = dev, .primary = primary };
	struct gs__slice *s = ctx_counted(dev);
	if (!s || (primary && !primary_claim(dev)))
		return CUDA_SUCCESS;
	if (charge_now(s, CONTEXT_GUESS)) { /* other threads wait for the primary meanwhile */
		if (primary)
			__atomic_store_n(&primary_state[dev], PRIMARY_UNCHARGED, __ATOMIC_RELEASE);
		slice_full(s, CONTEXT_GUESS);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	t->counted = true;
	t->guess = CONTEXT_GUESS;
	return CUDA_SUCCESS;
}

static bool own_put(CUcontext ctx, uint64_t bytes, struct gs__slice *s)
{
	pthread_mutex_lock(&own_lock);
	bool ok = true;
	if (n_own == cap_own) {
		size_t cap = cap_own ? cap_own * 2 : 16;
		struct own_ctx *n = realloc(own_ctxs, cap * sizeof *n);
		if ((ok = n != NULL))
			own_ctxs = n, cap_own = cap;
	}
	if (ok)
		own_ctxs[n_own++] = (struct own_ctx){ ctx, bytes, s };
	pthread_mutex_unlock(&own_lock);
	return ok;
}

/* Removes ctx; what it was charged (to *s, when asked), 0 when it is not ours. */
static uint64_t own_take(CUcontext ctx, bool take, struct gs__slice **s)
{
	uint64_t bytes = 0;
	pthread_mutex_lock(&own_lock);
	for (size_t i = 0; i < n_own; i++)
		if (own_ctxs[i].ctx == ctx) {
			bytes = own_ctxs[i].bytes ? own_ctxs[i].bytes : 1;
			if (s)
				*s = own_ctxs[i].slice;
			if (take) {
				bytes = own_ctxs[i].bytes;
				own_ctxs[i] = own_ctxs[--n_own];
			}
			break;
		}
	pthread_mutex_unlock(&own_lock);
	return bytes;
}

CUresult gs__ctx_charge_end(struct gs__ctx_charge *t, bool made, CUcontext own)
{
	if (!t->counted)
		return CUDA_SUCCESS;
	t->counted = false;
	struct gs__slice *s = ctx_counted(t->dev);
	uint64_t bytes = made ? context_bytes(s, t->guess) : 0;
	bool fits = bytes <= t->guess || charge_now(s, bytes - t->guess) == CUDA_SUCCESS;
	if (fits && bytes < t->guess)
		uncharge(s, t->guess - bytes);
	if (fits && made && !t->primary && !own_put(own, bytes, s)) {
		uncharge(s, bytes);
		bytes = 0;
		made = fits = false;
	} else if (!fits) {
		uncharge(s, t->guess);
		slice_full(s, bytes);
	}
	if (t->primary) {
		primary_bytes[t->dev] = fits && made ? bytes : 0;
		__atomic_store_n(&primary_state[t->dev], fits && made ? PRIMARY_CHARGED : PRIMARY_UNCHARGED,
				 __ATOMIC_RELEASE);
	}
	if (fits && made) {
		__atomic_add_fetch(&gs__stats.contexts, 1, __ATOMIC_RELAXED);
		gs__log("charged a context's %llu MiB to the slice", (unsigned long long)(bytes >> 20));
	}
	return fits ? CUDA_SUCCESS : CUDA_ERROR_OUT_OF_MEMORY;
}

void gs__ctx_uncharge(CUcontext ctx)
{
	gs__swap_ctx_gone(ctx); /* its VMM-backed allocations live on (swap.c) */
	struct gs__slice *s = &gs__slice;
	uint64_t bytes = own_take(ctx, true, &s);
	uncharge(s, bytes);
}

void gs__ctx_uncharge_primary(CUdevice dev)
{
	int st = PRIMARY_CHARGED;
	if (dev < 0 || dev >= GS__MAX_DEV ||
	    !__atomic_compare_exchange_n(&primary_state[dev], &st, PRIMARY_CHARGING, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE))
		return; /* not charged, or being charged by a retain racing the reset */
	struct gs__slice *s = ctx_counted(dev);
	if (s)
		uncharge(s, primary_bytes[dev]);
	primary_bytes[dev] = 0;
	__atomic_store_n(&primary_state[dev], PRIMARY_UNCHARGED, __ATOMIC_RELEASE);
}

/* The context of the calling thread, when its device's primary was made
 * without a call we wrap: charged at its first allocation, or the
 * allocation is refused. A context made with cuCtxCreate is charged already. */
static CUresult primary_in_use(struct gs__slice *s, CUdevice dev)
{
	if (__builtin_expect(__atomic_load_n(&primary_state[dev], __ATOMIC_ACQUIRE) == PRIMARY_CHARGED, 1))
		return CUDA_SUCCESS;
	CUcontext cur;
	if (gs__real.cuCtxGetCurrent(&cur) == CUDA_SUCCESS && cur && own_take(cur, false, NULL))
		return CUDA_SUCCESS;
	if (!primary_claim(dev))
		return CUDA_SUCCESS;
	uint64_t bytes = context_bytes(s, 0);
	CUresult rc = charge(s, bytes);
	primary_bytes[dev] = rc ? 0 : bytes;
	__atomic_store_n(&primary_state[dev], rc ? PRIMARY_UNCHARGED : PRIMARY_CHARGED, __ATOMIC_RELEASE);
	if (rc)
		slice_full(s, bytes);
	else
		gs__log("charged a context's %llu MiB to the slice at its first use", (unsigned long long)(bytes >> 20));
	return rc;
}

/* Whether allocations on the current context's device count to a slice
 * (*s: which one, the device's): 1 they do, 0 they do not, -1 they do but
 * the context does not fit (the allocation is refused). The device's slice
 * is a load once known: no lock, no system call. */
static int counted(struct gs__slice **s)
{
	*s = &gs__slice;
	if (!gs__slice.memory_limited)
		return 0;
	CUdevice dev;
	if (gs__real.cuCtxGetDevice(&dev) != CUDA_SUCCESS || !(*s = ctx_counted(dev))) {
		*s = &gs__slice;
		return gs__slice.gpu_uuid[0] ? 0 : 1;
	}
	return primary_in_use(*s, dev) == CUDA_SUCCESS ? 1 : -1;
}

/* charge, allocate, remember; undo the charge when the driver refuses, and
 * the allocation (undo) when it cannot be remembered */
#define CHARGED_ALLOC(tab, bytes, key_after, call, undo) \
	do { \
		gs__ctx_check(); \
		struct gs__slice *s_; \
		int c_ = counted(&s_); \
		if (c_ < 0) \
			return CUDA_ERROR_OUT_OF_MEMORY; \
		uint64_t n_ = (bytes); \
		if (c_ == 0) { \
			CUresult r_ = call; \
			if (r_ == CUDA_SUCCESS) \
				gs__trace_mem(__func__ + 9, n_, (uintptr_t)(key_after)); \
			return r_; \
		} \
		if (charge_or_wait(s_, n_)) \
			return CUDA_ERROR_OUT_OF_MEMORY; \
		CUresult rc_ = call; \
		for (int try_ = 0; rc_ == CUDA_ERROR_OUT_OF_MEMORY && try_ < 3 && s_ == &gs__slice && \
				   gs__lend_driver_oom(n_); try_++) \
			rc_ = call; /* what a borrower held of the guarantee, given back */ \
		if (rc_ != CUDA_SUCCESS) { \
			uncharge(s_, n_); \
		} else if (!table_put((tab), (uintptr_t)(key_after), n_, s_)) { \
			undo; \
			uncharge(s_, n_); \
			rc_ = CUDA_ERROR_OUT_OF_MEMORY; \
		} else { \
			gs__trace_mem(__func__ + 9, n_, (uintptr_t)(key_after)); \
		} \
		return rc_; \
	} while (0)

#define UNCHARGED_FREE(tab, key, call) \
	do { \
		struct gs__slice *s_; \
		uint64_t n_ = table_take((tab), (uintptr_t)(key), &s_); \
		CUresult rc_ = call; \
		if (rc_ == CUDA_SUCCESS) { \
			uncharge(s_, n_); \
			gs__trace_mem(__func__ + 9, n_, (uintptr_t)(key)); \
		} else if (n_ && !table_put((tab), (uintptr_t)(key), n_, s_)) \
			uncharge(s_, n_); /* still allocated, but no longer ours to give back */ \
		return rc_; \
	} while (0)

/* Device memory from the driver, or backed by VMM where the swap may move
 * it (swap.c): charged alike, freed by the one that made it. */
static CUresult dev_alloc(CUdeviceptr *dptr, size_t bytes)
{
	return gs__swap_backs(bytes) ? gs__swap_alloc(dptr, bytes) : gs__real.cuMemAlloc_v2(dptr, bytes);
}

static CUresult dev_free(CUdeviceptr p, CUstream s, bool async)
{
	bool ours;
	CUresult rc = gs__swap_free(p, s, &ours);
	if (ours)
		return rc;
	return async ? gs__real.cuMemFreeAsync(p, s) : gs__real.cuMemFree_v2(p);
}

uint64_t gs__mem_charged(CUdeviceptr p)
{
	return table_get(&allocs, p);
}

CUresult gs__hook_cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytes);
CUresult gs__hook_cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytes)
{
	if (!dptr)
		return gs__real.cuMemAlloc_v2(dptr, bytes);
	CHARGED_ALLOC(&allocs, bytes, *dptr, dev_alloc(dptr, bytes), dev_free(*dptr, NULL, false));
}

/* Managed memory is charged whole: it may all migrate to the device. */
CUresult gs__hook_cuMemAllocManaged(CUdeviceptr *dptr, size_t bytes, unsigned int flags);
CUresult gs__hook_cuMemAllocManaged(CUdeviceptr *dptr, size_t bytes, unsigned int flags)
{
	if (!dptr)
		return gs__real.cuMemAllocManaged(dptr, bytes, flags);
	CHARGED_ALLOC(&allocs, bytes, *dptr, gs__real.cuMemAllocManaged(dptr, bytes, flags), gs__real.cuMemFree_v2(*dptr));
}

/* The driver's pitch for width: where the swap backs the rows, the pitch
 * is asked of the driver with one row (allocated and freed), so that the
 * program sees the pitch it would have had. */
static CUresult pitch_alloc(CUdeviceptr *dptr, size_t *pitch, size_t w, size_t h, unsigned int elem)
{
	if (!__atomic_load_n(&gs__swap_on, __ATOMIC_RELAXED))
		return gs__real.cuMemAllocPitch_v2(dptr, pitch, w, h, elem);
	CUdeviceptr row;
	CUresult rc = gs__real.cuMemAllocPitch_v2(&row, pitch, w, 1, elem);
	if (rc != CUDA_SUCCESS)
		return rc;
	gs__real.cuMemFree_v2(row);
	if (h > SIZE_MAX / *pitch)
		return CUDA_ERROR_OUT_OF_MEMORY;
	return gs__swap_backs(*pitch * h) ? gs__swap_alloc(dptr, *pitch * h)
					  : gs__real.cuMemAllocPitch_v2(dptr, pitch, w, h, elem);
}

/* The pitch is the driver's choice: the least it can take (width x height)
 * is charged before, the padding after, or the allocation is given back. */
CUresult gs__hook_cuMemAllocPitch_v2(CUdeviceptr *dptr, size_t *pitch, size_t w, size_t h, unsigned int elem);
CUresult gs__hook_cuMemAllocPitch_v2(CUdeviceptr *dptr, size_t *pitch, size_t w, size_t h, unsigned int elem)
{
	gs__ctx_check();
	struct gs__slice *sl;
	int c = counted(&sl);
	uint64_t least;
	if (c <= 0 || !dptr || !pitch)
		return c < 0 ? CUDA_ERROR_OUT_OF_MEMORY : gs__real.cuMemAllocPitch_v2(dptr, pitch, w, h, elem);
	if (__builtin_mul_overflow((uint64_t)w, (uint64_t)h, &least) || charge_or_wait(sl, least))
		return CUDA_ERROR_OUT_OF_MEMORY;
	CUresult rc = pitch_alloc(dptr, pitch, w, h, elem);
	if (rc != CUDA_SUCCESS) {
		uncharge(sl, least);
		return rc;
	}
	uint64_t bytes = (uint64_t)*pitch * h;
	if (bytes > least && charge(sl, bytes - least)) {
		uncharge(sl, least);
		dev_free(*dptr, NULL, false);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	bytes = bytes > least ? bytes : least;
	if (!table_put(&allocs, *dptr, bytes, sl)) {
		uncharge(sl, bytes);
		dev_free(*dptr, NULL, false);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	return rc;
}

CUresult gs__hook_cuMemFree_v2(CUdeviceptr dptr);
CUresult gs__hook_cuMemFree_v2(CUdeviceptr dptr)
{
	UNCHARGED_FREE(&allocs, dptr, dev_free(dptr, NULL, false));
}

/* cuMemFreeAsync may free memory of cuMemAlloc too: its charge goes back
 * (memory the swap backs, after the stream's work). */
#define FREE_ASYNC_HOOK(suffix) \
	CUresult gs__hook_cuMemFreeAsync##suffix(CUdeviceptr dptr, CUstream s); \
	CUresult gs__hook_cuMemFreeAsync##suffix(CUdeviceptr dptr, CUstream s) \
	{ \
		gs__ctx_check(); \
		bool ours_; \
		CUresult swap_rc_ = gs__swap_free(dptr, s, &ours_); \
		if (ours_) { \
			struct gs__slice *s_; \
			uint64_t n_ = table_take(&allocs, dptr, &s_); \
			uncharge(s_, n_); \
			if (swap_rc_ == CUDA_SUCCESS) \
				gs__trace_mem(__func__ + 9, n_, (uintptr_t)dptr); \
			return swap_rc_; \
		} \
		UNCHARGED_FREE(&allocs, dptr, gs__real.cuMemFreeAsync##suffix(dptr, s)); \
	}
FREE_ASYNC_HOOK()
FREE_ASYNC_HOOK(_ptsz)

/* Stream-ordered memory: what each pool has reserved is charged, its cache
 * of freed blocks included, as it grows and as it shrinks (trimmed, or
 * released at synchronisation), not each allocation. An allocation charges
 * what the pool may have to grow by before the driver runs; the growth the
 * driver chose is settled after. Pools are tracked from cuMemPoolCreate (or
 * their first allocation) in a table that grows; one that cannot be tracked
 * is refused. */
struct pool_charge {
	CUmemoryPool pool;
	uint64_t charged;
	struct gs__slice *slice; /* its device's */
};
static struct pool_charge *pools;
static size_t n_pools, cap_pools;
static pthread_mutex_t pools_lock = PTHREAD_MUTEX_INITIALIZER;

/* Room for one more pool; called with pools_lock held. */
static bool pools_room_locked(void)
{
	if (n_pools < cap_pools)
		return true;
	size_t cap = cap_pools ? cap_pools * 2 : 16;
	struct pool_charge *n = realloc(pools, cap * sizeof *n);
	if (!n)
		return false;
	pools = n;
	cap_pools = cap;
	return true;
}

/* The pool's entry, made when new (charged to slice add); -1 when it
 * cannot be. Lock held. */
static long pool_find_locked(CUmemoryPool pool, struct gs__slice *add)
{
	for (size_t i = 0; i < n_pools; i++)
		if (pools[i].pool == pool)
			return (long)i;
	if (!add || !pools_room_locked())
		return -1;
	pools[n_pools] = (struct pool_charge){ pool, 0, add };
	return (long)n_pools++;
}

/* Charges or gives back the change in a pool's reserve, using first pre,
 * which the caller charged before allocating. On a growth past the limit
 * nothing more is charged, pre is given back and CUDA_ERROR_OUT_OF_MEMORY is
 * returned, with the amount charged before in *before; likewise for a pool
 * that cannot be tracked. */
static CUresult pool_sync(CUmemoryPool pool, uint64_t *before, uint64_t pre, struct gs__slice *s)
{
	uint64_t reserved;
	if (!pool || gs__real.cuMemPoolGetAttribute(pool, CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT, &reserved)) {
		uncharge(s, pre);
		return CUDA_SUCCESS;
	}
	CUresult rc = CUDA_SUCCESS;
	pthread_mutex_lock(&pools_lock);
	long i = pool_find_locked(pool, s);
	if (i < 0) {
		rc = CUDA_ERROR_OUT_OF_MEMORY;
	} else {
		struct pool_charge *p = &pools[i];
		if (before)
			*before = p->charged;
		if (reserved > p->charged) {
			uint64_t grow = reserved - p->charged, use = pre < grow ? pre : grow;
			if (grow > use && charge_now(p->slice, grow - use)) { /* pools_lock held */
				rc = CUDA_ERROR_OUT_OF_MEMORY;
			} else {
				p->charged = reserved;
				pre -= use;
			}
		} else {
			uncharge(p->slice, p->charged - reserved);
			p->charged = reserved;
		}
	}
	pthread_mutex_unlock(&pools_lock);
	uncharge(s, pre);
	return rc;
}

static void pools_sync_all(void)
{
	for (size_t i = 0;; i++) {
		pthread_mutex_lock(&pools_lock);
		CUmemoryPool p = i < n_pools ? pools[i].pool : NULL;
		struct gs__slice *s = i < n_pools ? pools[i].slice : NULL;
		pthread_mutex_unlock(&pools_lock);
		if (!p)
			return;
		pool_sync(p, NULL, 0, s);
	}
}

static CUmemoryPool current_pool(void)
{
	CUdevice dev;
	CUmemoryPool pool = NULL;
	if (gs__real.cuCtxGetDevice(&dev) == CUDA_SUCCESS)
		gs__real.cuDeviceGetMemPool(&pool, dev);
	return pool;
}

/* What a pool may grow by to hand out bytes: what its free part lacks. */
static uint64_t pool_need(CUmemoryPool pool, size_t bytes)
{
	uint64_t reserved, used;
	if (!pool || gs__real.cuMemPoolGetAttribute(pool, CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT, &reserved) ||
	    gs__real.cuMemPoolGetAttribute(pool, CU_MEMPOOL_ATTR_USED_MEM_CURRENT, &used))
		return bytes;
	uint64_t spare = reserved > used ? reserved - used : 0;
	return bytes > spare ? bytes - spare : 0;
}

/* After a pool allocation: settle the growth, or undo the allocation. */
static CUresult pool_charged(CUresult rc, CUmemoryPool pool, CUdeviceptr p, CUstream s, uint64_t pre,
			     struct gs__slice *sl)
{
	uint64_t before = 0;
	if (rc != CUDA_SUCCESS) {
		uncharge(sl, pre);
		return rc;
	}
	if (pool_sync(pool, &before, pre, sl) == CUDA_SUCCESS)
		return rc;
	gs__real.cuMemFreeAsync(p, s);
	gs__real.cuStreamSynchronize(s);
	gs__real.cuMemPoolTrimTo(pool, before);
	pool_sync(pool, NULL, 0, sl);
	return CUDA_ERROR_OUT_OF_MEMORY;
}

#define POOL_ALLOC(pool_expr, call) \
	do { \
		gs__ctx_check(); \
		struct gs__slice *s_; \
		int c_ = counted(&s_); \
		if (c_ <= 0 || !dptr) \
			return c_ < 0 ? CUDA_ERROR_OUT_OF_MEMORY : call; \
		CUmemoryPool pool_ = (pool_expr); \
		uint64_t pre_ = pool_need(pool_, bytes); \
		if (charge_or_wait(s_, pre_)) \
			return CUDA_ERROR_OUT_OF_MEMORY; \
		return pool_charged(call, pool_, *dptr, s, pre_, s_); \
	} while (0)

/* A wait for the GPU, the program busy while it lasts (activity.c), also
 * when the thread is cancelled in it. */
static void wait_cancelled(void *counted)
{
	gs__act_wait_end(counted != NULL);
}
#define WAITED(call) \
	({ \
		bool counted_ = gs__act_wait_begin(); \
		CUresult rc_; \
		pthread_cleanup_push(wait_cancelled, counted_ ? (void *)1 : NULL); \
		rc_ = (call); \
		pthread_cleanup_pop(0); \
		gs__act_wait_end(counted_); \
		rc_; \
	})

#define POOL_HOOKS(suffix) \
	CUresult gs__hook_cuMemAllocAsync##suffix(CUdeviceptr *dptr, size_t bytes, CUstream s); \
	CUresult gs__hook_cuMemAllocAsync##suffix(CUdeviceptr *dptr, size_t bytes, CUstream s) \
	{ \
		POOL_ALLOC(current_pool(), gs__real.cuMemAllocAsync##suffix(dptr, bytes, s)); \
	} \
	CUresult gs__hook_cuMemAllocFromPoolAsync##suffix(CUdeviceptr *dptr, size_t bytes, CUmemoryPool pool, CUstream s); \
	CUresult gs__hook_cuMemAllocFromPoolAsync##suffix(CUdeviceptr *dptr, size_t bytes, CUmemoryPool pool, CUstream s) \
	{ \
		POOL_ALLOC(pool, gs__real.cuMemAllocFromPoolAsync##suffix(dptr, bytes, pool, s)); \
	} \
	CUresult gs__hook_cuStreamSynchronize##suffix(CUstream s); \
	CUresult gs__hook_cuStreamSynchronize##suffix(CUstream s) \
	{ \
		gs__ctx_check(); \
		CUresult rc = WAITED(gs__real.cuStreamSynchronize##suffix(s)); \
		if (__atomic_load_n(&n_pools, __ATOMIC_RELAXED)) \
			pools_sync_all(); /* a release threshold gives reserve back here */ \
		return rc; \
	}
POOL_HOOKS()
POOL_HOOKS(_ptsz)

/* A context's synchronize: the program busy while it waits (activity.c),
 * and a release threshold gives the pools' reserve back after it. */
static CUresult ctx_synced(CUresult rc)
{
	if (__atomic_load_n(&n_pools, __ATOMIC_RELAXED))
		pools_sync_all();
	return rc;
}

CUresult gs__hook_cuCtxSynchronize(void);
CUresult gs__hook_cuCtxSynchronize(void)
{
	gs__ctx_check();
	return ctx_synced(WAITED(gs__real.cuCtxSynchronize()));
}

/* What a CUDA 13 runtime's cudaDeviceSynchronize reaches (the lookup of
 * "cuCtxSynchronize" at version 13000). */
CUresult gs__hook_cuCtxSynchronize_v2(CUcontext ctx);
CUresult gs__hook_cuCtxSynchronize_v2(CUcontext ctx)
{
	gs__ctx_check();
	return ctx_synced(WAITED(gs__real.cuCtxSynchronize_v2(ctx)));
}

/* Not memory's, but the other waits for the GPU are here: a program
 * waiting for an event is busy (activity.c). */
CUresult gs__hook_cuEventSynchronize(CUevent e);
CUresult gs__hook_cuEventSynchronize(CUevent e)
{
	gs__ctx_check();
	return WAITED(gs__real.cuEventSynchronize(e));
}

/* A pool reserves nothing when made (a maximum size only bounds its
 * growth, charged as it happens); it is tracked from here, and refused when
 * it cannot be. */
CUresult gs__hook_cuMemPoolCreate(CUmemoryPool *pool, const void *props);
CUresult gs__hook_cuMemPoolCreate(CUmemoryPool *pool, const void *props)
{
	gs__ctx_check();
	struct gs__slice *sl;
	if (counted(&sl) <= 0 || !pool)
		return gs__real.cuMemPoolCreate(pool, props);
	pthread_mutex_lock(&pools_lock);
	bool room = pools_room_locked();
	pthread_mutex_unlock(&pools_lock);
	if (!room)
		return CUDA_ERROR_OUT_OF_MEMORY;
	CUresult rc = gs__real.cuMemPoolCreate(pool, props);
	if (rc != CUDA_SUCCESS)
		return rc;
	pthread_mutex_lock(&pools_lock);
	long i = pool_find_locked(*pool, sl); /* the current device's: where the runtime makes its pools */
	pthread_mutex_unlock(&pools_lock);
	if (i < 0) {
		gs__real.cuMemPoolDestroy(*pool);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	return rc;
}

CUresult gs__hook_cuMemPoolTrimTo(CUmemoryPool pool, size_t keep);
CUresult gs__hook_cuMemPoolTrimTo(CUmemoryPool pool, size_t keep)
{
	CUresult rc = gs__real.cuMemPoolTrimTo(pool, keep);
	if (rc == CUDA_SUCCESS && gs__slice.memory_limited)
		pool_sync(pool, NULL, 0, NULL);
	return rc;
}

CUresult gs__hook_cuMemPoolDestroy(CUmemoryPool pool);
CUresult gs__hook_cuMemPoolDestroy(CUmemoryPool pool)
{
	CUresult rc = gs__real.cuMemPoolDestroy(pool);
	if (rc != CUDA_SUCCESS)
		return rc;
	pthread_mutex_lock(&pools_lock);
	long i = pool_find_locked(pool, NULL);
	if (i >= 0) {
		uncharge(pools[i].slice, pools[i].charged);
		pools[i] = pools[--n_pools];
	}
	pthread_mutex_unlock(&pools_lock);
	return rc;
}

/* Physical memory of the VMM API: charged when it is on a device of the
 * slice (host locations are not device memory), with the device's context. */
CUresult gs__hook_cuMemCreate(CUmemGenericAllocationHandle *h, size_t size, const CUmemAllocationProp *prop,
			      unsigned long long flags);
CUresult gs__hook_cuMemCreate(CUmemGenericAllocationHandle *h, size_t size, const CUmemAllocationProp *prop,
			      unsigned long long flags)
{
	gs__ctx_check();
	struct gs__slice *sl = h && prop && prop->location.type == CU_MEM_LOCATION_TYPE_DEVICE
				       ? ctx_counted(prop->location.id) : NULL;
	if (!sl)
		return gs__real.cuMemCreate(h, size, prop, flags);
	if (primary_in_use(sl, prop->location.id) || charge(sl, size))
		return CUDA_ERROR_OUT_OF_MEMORY;
	CUresult rc = gs__real.cuMemCreate(h, size, prop, flags);
	if (rc != CUDA_SUCCESS) {
		uncharge(sl, size);
	} else if (!table_put(&handles, (uintptr_t)*h, size, sl)) {
		gs__real.cuMemRelease(*h);
		uncharge(sl, size);
		rc = CUDA_ERROR_OUT_OF_MEMORY;
	}
	return rc;
}

CUresult gs__hook_cuMemRelease(CUmemGenericAllocationHandle h);
CUresult gs__hook_cuMemRelease(CUmemGenericAllocationHandle h)
{
	UNCHARGED_FREE(&handles, h, gs__real.cuMemRelease(h));
}

static uint64_t format_bytes(int f)
{
	switch (f) {
	case CU_AD_FORMAT_UNSIGNED_INT8: case CU_AD_FORMAT_SIGNED_INT8: return 1;
	case CU_AD_FORMAT_UNSIGNED_INT16: case CU_AD_FORMAT_SIGNED_INT16: case CU_AD_FORMAT_HALF: return 2;
	default: return 4;
	}
}

/* Bytes of an array (every mip level); the driver may pad, never less.
 * UINT64_MAX, which never fits, when the sizes overflow. */
static uint64_t array_bytes(size_t w, size_t h, size_t d, int format, unsigned channels, unsigned levels)
{
	uint64_t total = 0, elem = format_bytes(format) * (channels ? channels : 1);
	for (unsigned l = 0; l < (levels ? levels : 1) && l < 64; l++) {
		uint64_t lw = w >> l ? w >> l : 1, lh = h >> l ? h >> l : 1, ld = d >> l ? d >> l : 1, b;
		if (__builtin_mul_overflow(lw, h ? lh : 1, &b) || __builtin_mul_overflow(b, d ? ld : 1, &b) ||
		    __builtin_mul_overflow(b, elem, &b) || __builtin_add_overflow(total, b, &total))
			return UINT64_MAX;
	}
	return total;
}

CUresult gs__hook_cuArrayCreate_v2(CUarray *a, const CUDA_ARRAY_DESCRIPTOR *d);
CUresult gs__hook_cuArrayCreate_v2(CUarray *a, const CUDA_ARRAY_DESCRIPTOR *d)
{
	if (!a || !d)
		return gs__real.cuArrayCreate_v2(a, d);
	CHARGED_ALLOC(&allocs, array_bytes(d->Width, d->Height, 0, d->Format, d->NumChannels, 1), *a,
		      gs__real.cuArrayCreate_v2(a, d), gs__real.cuArrayDestroy(*a));
}

CUresult gs__hook_cuArray3DCreate_v2(CUarray *a, const CUDA_ARRAY3D_DESCRIPTOR *d);
CUresult gs__hook_cuArray3DCreate_v2(CUarray *a, const CUDA_ARRAY3D_DESCRIPTOR *d)
{
	if (!a || !d)
		return gs__real.cuArray3DCreate_v2(a, d);
	CHARGED_ALLOC(&allocs, array_bytes(d->Width, d->Height, d->Depth, d->Format, d->NumChannels, 1), *a,
		      gs__real.cuArray3DCreate_v2(a, d), gs__real.cuArrayDestroy(*a));
}

CUresult gs__hook_cuArrayDestroy(CUarray a);
CUresult gs__hook_cuArrayDestroy(CUarray a)
{
	UNCHARGED_FREE(&allocs, a, gs__real.cuArrayDestroy(a));
}

CUresult gs__hook_cuMipmappedArrayCreate(CUmipmappedArray *a, const CUDA_ARRAY3D_DESCRIPTOR *d, unsigned int levels);
CUresult gs__hook_cuMipmappedArrayCreate(CUmipmappedArray *a, const CUDA_ARRAY3D_DESCRIPTOR *d, unsigned int levels)
{
	if (!a || !d)
		return gs__real.cuMipmappedArrayCreate(a, d, levels);
	CHARGED_ALLOC(&allocs, array_bytes(d->Width, d->Height, d->Depth, d->Format, d->NumChannels, levels), *a,
		      gs__real.cuMipmappedArrayCreate(a, d, levels), gs__real.cuMipmappedArrayDestroy(*a));
}

CUresult gs__hook_cuMipmappedArrayDestroy(CUmipmappedArray a);
CUresult gs__hook_cuMipmappedArrayDestroy(CUmipmappedArray a)
{
	UNCHARGED_FREE(&allocs, a, gs__real.cuMipmappedArrayDestroy(a));
}

/* ---- what the program sees ---- */

CUresult gs__hook_cuMemGetInfo_v2(size_t *free_b, size_t *total);
CUresult gs__hook_cuMemGetInfo_v2(size_t *free_b, size_t *total)
{
	gs__ctx_check();
	CUresult rc = gs__real.cuMemGetInfo_v2(free_b, total);
	struct gs__slice *s;
	if (rc != CUDA_SUCCESS || counted(&s) == 0)
		return rc;
	pools_sync_all();
	gs_ledger_reclaim(s->ledger); /* processes of the slice that died */
	uint64_t limit = gs__limit(s), used = gs_ledger_used(s->ledger);
	uint64_t left = used < limit ? limit - used : 0, cap = process_cap(s);
	if (cap) {
		/* this process's own cap, when it is the narrower */
		uint64_t mine = __atomic_load_n(&s->process_bytes, __ATOMIC_RELAXED);
		if (cap < limit)
			limit = cap;
		if (cap - (mine < cap ? mine : cap) < left)
			left = cap - (mine < cap ? mine : cap);
	}
	uint64_t view = process_view_cap(s);
	if (view && view < limit)
		limit = view;
	if (left > limit)
		left = limit;
	if (left < *free_b)
		*free_b = (size_t)left;
	*total = (size_t)limit;
	return rc;
}

CUresult gs__hook_cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev);
CUresult gs__hook_cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev)
{
	CUresult rc = gs__real.cuDeviceTotalMem_v2(bytes, dev);
	struct gs__slice *s = rc == CUDA_SUCCESS ? ctx_counted(dev) : NULL;
	if (!s)
		return rc;
	uint64_t limit = gs__limit(s), cap = process_view_cap(s);
	if (cap && cap < limit)
		limit = cap;
	if (limit < *bytes)
		*bytes = (size_t)limit;
	return rc;
}
