/* mem.c: memory slices. Every device allocation path is charged to the
 * slice's ledger (shared by all its processes) before or right after the
 * driver allocates, and refused with CUDA_ERROR_OUT_OF_MEMORY, nothing
 * changed, over the limit; frees give back exactly what was charged. What a
 * program sees (cuMemGetInfo, cuDeviceTotalMem) is the slice. */
#include "interposer.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* What each live allocation was charged: an open-addressing table, one
 * short lock per shard, never held across a driver call. */
#define SHARDS 16
#define SHARD_SLOTS 4096
struct slot {
	uintptr_t key;   /* 0 empty, 1 deleted */
	uint64_t bytes;
};
static struct shard {
	pthread_mutex_t lock;
	size_t used;
	struct slot *slots;
	size_t cap;
} shards[SHARDS] = {
#define S PTHREAD_MUTEX_INITIALIZER
	{ S, 0, NULL, 0 }, { S, 0, NULL, 0 }, { S, 0, NULL, 0 }, { S, 0, NULL, 0 },
	{ S, 0, NULL, 0 }, { S, 0, NULL, 0 }, { S, 0, NULL, 0 }, { S, 0, NULL, 0 },
	{ S, 0, NULL, 0 }, { S, 0, NULL, 0 }, { S, 0, NULL, 0 }, { S, 0, NULL, 0 },
	{ S, 0, NULL, 0 }, { S, 0, NULL, 0 }, { S, 0, NULL, 0 }, { S, 0, NULL, 0 },
#undef S
};

/* shard by the low bits of the hash, probe by the high ones */
static size_t hash(uintptr_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	return (size_t)k;
}

static void put_locked(struct shard *s, uintptr_t key, uint64_t bytes);

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
		if (old[i].key > 1)
			put_locked(s, old[i].key, old[i].bytes);
	free(old);
	return true;
}

static void put_locked(struct shard *s, uintptr_t key, uint64_t bytes)
{
	for (size_t i = (hash(key) >> 8) & (s->cap - 1);; i = (i + 1) & (s->cap - 1))
		if (s->slots[i].key <= 1) {
			s->slots[i] = (struct slot){ key, bytes };
			s->used++;
			return;
		}
}

static bool table_put(uintptr_t key, uint64_t bytes)
{
	struct shard *s = &shards[hash(key) % SHARDS];
	pthread_mutex_lock(&s->lock);
	bool ok = (s->used + 1) * 2 <= s->cap || grow(s);
	if (ok)
		put_locked(s, key, bytes);
	pthread_mutex_unlock(&s->lock);
	return ok;
}

/* Removes key; returns what it was charged, or 0 when it was not ours. */
static uint64_t table_take(uintptr_t key)
{
	struct shard *s = &shards[hash(key) % SHARDS];
	uint64_t bytes = 0;
	pthread_mutex_lock(&s->lock);
	for (size_t i = s->cap ? (hash(key) >> 8) & (s->cap - 1) : 0; s->cap && s->slots[i].key; i = (i + 1) & (s->cap - 1))
		if (s->slots[i].key == key) {
			bytes = s->slots[i].bytes;
			s->slots[i].key = 1;
			break;
		}
	pthread_mutex_unlock(&s->lock);
	return bytes;
}

/* The device memory the driver took for this process's context before any
 * allocation we saw (NVML's per-process figure, less what we charged), charged
 * once per process; a fork inherits it as done, its parent's context being
 * the one that holds it. Skipped, and logged, when it does not fit. */
/* what this process holds, its context included (as MPS counts it), against
 * its server's pinned memory limit */
static uint64_t process_bytes;

static void charge_context_once(void)
{
	static int done;
	/* a plain load first: this sits on every allocation */
	if (__atomic_load_n(&done, __ATOMIC_RELAXED) || __atomic_exchange_n(&done, 1, __ATOMIC_ACQ_REL))
		return;
	uint64_t held = gs__nvml_process_bytes(gs__slice.gpu_uuid);
	struct gs_ledger_usage u[GS_LEDGER_SLOTS / 16];
	size_t n = gs_ledger_usage(gs__slice.ledger, u, GS_ARRAY_LEN(u));
	for (size_t i = 0; i < n; i++)
		if (u[i].pid == getpid())
			held = held > u[i].bytes ? held - u[i].bytes : 0;
	if (!held)
		return;
	if (gs_ledger_charge(gs__slice.ledger, held)) {
		gs__log("the context's %llu MiB do not fit in the slice; not charged", (unsigned long long)(held >> 20));
	} else {
		__atomic_add_fetch(&process_bytes, held, __ATOMIC_RELAXED);
		gs__log("charged the context's %llu MiB to the slice", (unsigned long long)(held >> 20));
	}
}

/* Whether allocations on the current context's device count to the slice. */
static bool counted(void)
{
	if (!gs__slice.memory_limited)
		return false;
	if (gs__slice.gpu_uuid[0]) {
		CUdevice dev;
		if (gs__real.cuCtxGetDevice(&dev) != CUDA_SUCCESS || !gs__slice_device(dev))
			return false;
	}
	charge_context_once();
	return true;
}

static CUresult charge(uint64_t bytes)
{
	uint64_t cap = gs__client.mps ? 0 : gs__client.memory_limit;
	if (cap && __atomic_add_fetch(&process_bytes, bytes, __ATOMIC_RELAXED) > cap) {
		__atomic_sub_fetch(&process_bytes, bytes, __ATOMIC_RELAXED);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	bool ledger_ok = gs_ledger_charge(gs__slice.ledger, bytes) == 0;
	if (ledger_ok && !gs__guarantee_admits(gs_ledger_used(gs__slice.ledger))) {
		gs_ledger_uncharge(gs__slice.ledger, bytes);
		ledger_ok = false;
	}
	if (!ledger_ok) {
		if (cap)
			__atomic_sub_fetch(&process_bytes, bytes, __ATOMIC_RELAXED);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	return CUDA_SUCCESS;
}

static void uncharge(uint64_t bytes)
{
	if (!bytes)
		return;
	if (gs__client.memory_limit && !gs__client.mps)
		__atomic_sub_fetch(&process_bytes, bytes, __ATOMIC_RELAXED);
	gs_ledger_uncharge(gs__slice.ledger, bytes);
}

/* charge, allocate, remember; undo the charge when the driver refuses */
#define CHARGED_ALLOC(bytes, key_after, call) \
	do { \
		gs__ctx_check(); \
		if (!counted()) \
			return call; \
		uint64_t n_ = (bytes); \
		if (charge(n_)) \
			return CUDA_ERROR_OUT_OF_MEMORY; \
		CUresult rc_ = call; \
		if (rc_ != CUDA_SUCCESS || !table_put((uintptr_t)(key_after), n_)) \
			uncharge(n_); \
		return rc_; \
	} while (0)

#define UNCHARGED_FREE(key, call) \
	do { \
		uint64_t n_ = table_take((uintptr_t)(key)); \
		CUresult rc_ = call; \
		if (rc_ == CUDA_SUCCESS) \
			uncharge(n_); \
		else if (n_) \
			table_put((uintptr_t)(key), n_); \
		return rc_; \
	} while (0)

CUresult gs__hook_cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytes);
CUresult gs__hook_cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytes)
{
	if (!dptr)
		return gs__real.cuMemAlloc_v2(dptr, bytes);
	CHARGED_ALLOC(bytes, *dptr, gs__real.cuMemAlloc_v2(dptr, bytes));
}

CUresult gs__hook_cuMemAllocManaged(CUdeviceptr *dptr, size_t bytes, unsigned int flags);
CUresult gs__hook_cuMemAllocManaged(CUdeviceptr *dptr, size_t bytes, unsigned int flags)
{
	if (!dptr)
		return gs__real.cuMemAllocManaged(dptr, bytes, flags);
	CHARGED_ALLOC(bytes, *dptr, gs__real.cuMemAllocManaged(dptr, bytes, flags));
}

/* The pitch is the driver's choice: charge what it took, or give it back. */
CUresult gs__hook_cuMemAllocPitch_v2(CUdeviceptr *dptr, size_t *pitch, size_t w, size_t h, unsigned int elem);
CUresult gs__hook_cuMemAllocPitch_v2(CUdeviceptr *dptr, size_t *pitch, size_t w, size_t h, unsigned int elem)
{
	gs__ctx_check();
	bool slice = counted();
	CUresult rc = gs__real.cuMemAllocPitch_v2(dptr, pitch, w, h, elem);
	if (rc != CUDA_SUCCESS || !slice)
		return rc;
	uint64_t bytes = (uint64_t)*pitch * h;
	if (charge(bytes) || !table_put(*dptr, bytes)) {
		gs__real.cuMemFree_v2(*dptr);
		return CUDA_ERROR_OUT_OF_MEMORY;
	}
	return rc;
}

CUresult gs__hook_cuMemFree_v2(CUdeviceptr dptr);
CUresult gs__hook_cuMemFree_v2(CUdeviceptr dptr)
{
	UNCHARGED_FREE(dptr, gs__real.cuMemFree_v2(dptr));
}

/* Stream-ordered memory: what each pool has reserved is charged, its cache
 * of freed blocks included, as it grows and as it shrinks (trimmed, or
 * released at synchronisation), not each allocation. */
#define MAX_POOLS 64
struct pool_charge {
	CUmemoryPool pool;
	uint64_t charged;
};
static struct pool_charge pools[MAX_POOLS];
static size_t n_pools;
static pthread_mutex_t pools_lock = PTHREAD_MUTEX_INITIALIZER;

/* Charges or gives back the change in a pool's reserve. On a growth past the
 * limit nothing is charged and CUDA_ERROR_OUT_OF_MEMORY is returned, with the
 * amount charged before in *before. */
static CUresult pool_sync(CUmemoryPool pool, uint64_t *before)
{
	uint64_t reserved;
	if (!pool || gs__real.cuMemPoolGetAttribute(pool, CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT, &reserved))
		return CUDA_SUCCESS;
	CUresult rc = CUDA_SUCCESS;
	pthread_mutex_lock(&pools_lock);
	size_t i = 0;
	while (i < n_pools && pools[i].pool != pool)
		i++;
	if (i == n_pools && n_pools < MAX_POOLS)
		pools[n_pools++] = (struct pool_charge){ pool, 0 };
	if (i < n_pools) {
		if (before)
			*before = pools[i].charged;
		if (reserved > pools[i].charged) {
			if (charge(reserved - pools[i].charged))
				rc = CUDA_ERROR_OUT_OF_MEMORY;
			else
				pools[i].charged = reserved;
		} else {
			uncharge(pools[i].charged - reserved);
			pools[i].charged = reserved;
		}
	}
	pthread_mutex_unlock(&pools_lock);
	return rc;
}

static void pools_sync_all(void)
{
	CUmemoryPool known[MAX_POOLS];
	pthread_mutex_lock(&pools_lock);
	size_t n = n_pools;
	for (size_t i = 0; i < n; i++)
		known[i] = pools[i].pool;
	pthread_mutex_unlock(&pools_lock);
	for (size_t i = 0; i < n; i++)
		pool_sync(known[i], NULL);
}

static CUmemoryPool current_pool(void)
{
	CUdevice dev;
	CUmemoryPool pool = NULL;
	if (gs__real.cuCtxGetDevice(&dev) == CUDA_SUCCESS)
		gs__real.cuDeviceGetMemPool(&pool, dev);
	return pool;
}

/* After a pool allocation: charge the growth, or undo the allocation. */
static CUresult pool_charged(CUresult rc, CUmemoryPool pool, CUdeviceptr p, CUstream s)
{
	uint64_t before = 0;
	if (rc != CUDA_SUCCESS || pool_sync(pool, &before) == CUDA_SUCCESS)
		return rc;
	gs__real.cuMemFreeAsync(p, s);
	gs__real.cuStreamSynchronize(s);
	gs__real.cuMemPoolTrimTo(pool, before);
	pool_sync(pool, NULL);
	return CUDA_ERROR_OUT_OF_MEMORY;
}

#define POOL_HOOKS(suffix) \
	CUresult gs__hook_cuMemAllocAsync##suffix(CUdeviceptr *dptr, size_t bytes, CUstream s); \
	CUresult gs__hook_cuMemAllocAsync##suffix(CUdeviceptr *dptr, size_t bytes, CUstream s) \
	{ \
		gs__ctx_check(); \
		bool slice = counted(); /* before: the context is measured with nothing allocated */ \
		CUresult rc = gs__real.cuMemAllocAsync##suffix(dptr, bytes, s); \
		return slice && dptr ? pool_charged(rc, current_pool(), *dptr, s) : rc; \
	} \
	CUresult gs__hook_cuMemAllocFromPoolAsync##suffix(CUdeviceptr *dptr, size_t bytes, CUmemoryPool pool, CUstream s); \
	CUresult gs__hook_cuMemAllocFromPoolAsync##suffix(CUdeviceptr *dptr, size_t bytes, CUmemoryPool pool, CUstream s) \
	{ \
		gs__ctx_check(); \
		bool slice = counted(); \
		CUresult rc = gs__real.cuMemAllocFromPoolAsync##suffix(dptr, bytes, pool, s); \
		return slice && dptr ? pool_charged(rc, pool, *dptr, s) : rc; \
	} \
	CUresult gs__hook_cuStreamSynchronize##suffix(CUstream s); \
	CUresult gs__hook_cuStreamSynchronize##suffix(CUstream s) \
	{ \
		gs__ctx_check(); \
		CUresult rc = gs__real.cuStreamSynchronize##suffix(s); \
		if (__atomic_load_n(&n_pools, __ATOMIC_RELAXED)) \
			pools_sync_all(); /* a release threshold gives reserve back here */ \
		return rc; \
	}
POOL_HOOKS()
POOL_HOOKS(_ptsz)

CUresult gs__hook_cuCtxSynchronize(void);
CUresult gs__hook_cuCtxSynchronize(void)
{
	gs__ctx_check();
	CUresult rc = gs__real.cuCtxSynchronize();
	if (__atomic_load_n(&n_pools, __ATOMIC_RELAXED))
		pools_sync_all();
	return rc;
}

CUresult gs__hook_cuMemPoolTrimTo(CUmemoryPool pool, size_t keep);
CUresult gs__hook_cuMemPoolTrimTo(CUmemoryPool pool, size_t keep)
{
	CUresult rc = gs__real.cuMemPoolTrimTo(pool, keep);
	if (rc == CUDA_SUCCESS && gs__slice.memory_limited)
		pool_sync(pool, NULL);
	return rc;
}

CUresult gs__hook_cuMemPoolDestroy(CUmemoryPool pool);
CUresult gs__hook_cuMemPoolDestroy(CUmemoryPool pool)
{
	CUresult rc = gs__real.cuMemPoolDestroy(pool);
	if (rc != CUDA_SUCCESS)
		return rc;
	pthread_mutex_lock(&pools_lock);
	for (size_t i = 0; i < n_pools; i++)
		if (pools[i].pool == pool) {
			uncharge(pools[i].charged);
			pools[i] = pools[--n_pools];
			break;
		}
	pthread_mutex_unlock(&pools_lock);
	return rc;
}

CUresult gs__hook_cuMemCreate(CUmemGenericAllocationHandle *h, size_t size, const CUmemAllocationProp *prop,
			      unsigned long long flags);
CUresult gs__hook_cuMemCreate(CUmemGenericAllocationHandle *h, size_t size, const CUmemAllocationProp *prop,
			      unsigned long long flags)
{
	if (!h || !prop || !gs__slice.memory_limited || !gs__slice_device(prop->location.id))
		return gs__real.cuMemCreate(h, size, prop, flags);
	if (charge(size))
		return CUDA_ERROR_OUT_OF_MEMORY;
	CUresult rc = gs__real.cuMemCreate(h, size, prop, flags);
	if (rc != CUDA_SUCCESS || !table_put((uintptr_t)*h, size))
		uncharge(size);
	return rc;
}

CUresult gs__hook_cuMemRelease(CUmemGenericAllocationHandle h);
CUresult gs__hook_cuMemRelease(CUmemGenericAllocationHandle h)
{
	UNCHARGED_FREE(h, gs__real.cuMemRelease(h));
}

static uint64_t format_bytes(int f)
{
	switch (f) {
	case CU_AD_FORMAT_UNSIGNED_INT8: case CU_AD_FORMAT_SIGNED_INT8: return 1;
	case CU_AD_FORMAT_UNSIGNED_INT16: case CU_AD_FORMAT_SIGNED_INT16: case CU_AD_FORMAT_HALF: return 2;
	default: return 4;
	}
}

/* Bytes of an array (every mip level); the driver may pad, never less. */
static uint64_t array_bytes(size_t w, size_t h, size_t d, int format, unsigned channels, unsigned levels)
{
	uint64_t total = 0, elem = format_bytes(format) * (channels ? channels : 1);
	for (unsigned l = 0; l < (levels ? levels : 1); l++) {
		uint64_t lw = w >> l ? w >> l : 1, lh = h >> l ? h >> l : 1, ld = d >> l ? d >> l : 1;
		total += lw * (h ? lh : 1) * (d ? ld : 1) * elem;
	}
	return total;
}

CUresult gs__hook_cuArrayCreate_v2(CUarray *a, const CUDA_ARRAY_DESCRIPTOR *d);
CUresult gs__hook_cuArrayCreate_v2(CUarray *a, const CUDA_ARRAY_DESCRIPTOR *d)
{
	if (!a || !d)
		return gs__real.cuArrayCreate_v2(a, d);
	CHARGED_ALLOC(array_bytes(d->Width, d->Height, 0, d->Format, d->NumChannels, 1), *a,
		      gs__real.cuArrayCreate_v2(a, d));
}

CUresult gs__hook_cuArray3DCreate_v2(CUarray *a, const CUDA_ARRAY3D_DESCRIPTOR *d);
CUresult gs__hook_cuArray3DCreate_v2(CUarray *a, const CUDA_ARRAY3D_DESCRIPTOR *d)
{
	if (!a || !d)
		return gs__real.cuArray3DCreate_v2(a, d);
	CHARGED_ALLOC(array_bytes(d->Width, d->Height, d->Depth, d->Format, d->NumChannels, 1), *a,
		      gs__real.cuArray3DCreate_v2(a, d));
}

CUresult gs__hook_cuArrayDestroy(CUarray a);
CUresult gs__hook_cuArrayDestroy(CUarray a)
{
	UNCHARGED_FREE(a, gs__real.cuArrayDestroy(a));
}

CUresult gs__hook_cuMipmappedArrayCreate(CUmipmappedArray *a, const CUDA_ARRAY3D_DESCRIPTOR *d, unsigned int levels);
CUresult gs__hook_cuMipmappedArrayCreate(CUmipmappedArray *a, const CUDA_ARRAY3D_DESCRIPTOR *d, unsigned int levels)
{
	if (!a || !d)
		return gs__real.cuMipmappedArrayCreate(a, d, levels);
	CHARGED_ALLOC(array_bytes(d->Width, d->Height, d->Depth, d->Format, d->NumChannels, levels), *a,
		      gs__real.cuMipmappedArrayCreate(a, d, levels));
}

CUresult gs__hook_cuMipmappedArrayDestroy(CUmipmappedArray a);
CUresult gs__hook_cuMipmappedArrayDestroy(CUmipmappedArray a)
{
	UNCHARGED_FREE(a, gs__real.cuMipmappedArrayDestroy(a));
}

/* ---- what the program sees ---- */

CUresult gs__hook_cuMemGetInfo_v2(size_t *free_b, size_t *total);
CUresult gs__hook_cuMemGetInfo_v2(size_t *free_b, size_t *total)
{
	gs__ctx_check();
	CUresult rc = gs__real.cuMemGetInfo_v2(free_b, total);
	if (rc != CUDA_SUCCESS || !counted())
		return rc;
	pools_sync_all();
	gs_ledger_reclaim(gs__slice.ledger); /* processes of the slice that died */
	uint64_t limit = gs__slice_limit(), used = gs_ledger_used(gs__slice.ledger);
	uint64_t left = used < limit ? limit - used : 0;
	if (left < *free_b)
		*free_b = (size_t)left;
	*total = (size_t)limit;
	return rc;
}

CUresult gs__hook_cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev);
CUresult gs__hook_cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev)
{
	CUresult rc = gs__real.cuDeviceTotalMem_v2(bytes, dev);
	if (rc == CUDA_SUCCESS && gs__slice.memory_limited && gs__slice_device(dev) && gs__slice_limit() < *bytes)
		*bytes = (size_t)gs__slice_limit();
	return rc;
}
