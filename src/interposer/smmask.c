/* smmask.c: SM confinement by per-launch TPC masks, where gpushare-control
 * calibrated the GPU (its registration answer has a "mask" line). The
 * interposer subscribes a launch-descriptor callback of its own (the
 * driver's table, not the guarded copy programs get: launchcb.c) that writes
 * the slice's current mask into every launch's task descriptor. The daemon
 * pushes a new mask when the slice may borrow idle SMs or must give them
 * back (elastic.c); the launch path reads it with two loads and no lock.
 *
 * Activity, which decides when the slice lends its SMs, is activity.c's.
 *
 * A launch the callback sees outside a wrapped kernel launch (a CUDA graph
 * being uploaded, whose kernels keep the mask of their upload:
 * bench/results/h200-tpcmask-paths-2026-12-03.txt) gets the slice's own
 * SMs only, so no graph keeps SMs its slice was lent. */
#include "interposer.h"

#include <pthread.h>
#include <string.h>

#define TMD_VERSION_OFF 72
#define TMD_VERSION_HOPPER 0x40
#define TMD_ENABLE_BIT 0x80000000u
#define TMD_MASK_OFF 304
#define RING 8

bool gs__mask_on;
__thread bool gs__mask_in_launch GS__TLS;

static struct {
	uint32_t own[4];             /* disabled words: every bit but the slice's own */
	uint32_t ring[RING][4];      /* disabled words, the current one at index cur % RING */
	unsigned cur;
	unsigned idle_ms;            /* the daemon's idle interval (0: nothing lent) */
	pthread_mutex_t lock;        /* subscribing, and the daemon's coming and going */
} M = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void forked_child(void);

static void disabled(const uint32_t enabled[4], uint32_t out[4])
{
	for (int w = 0; w < 4; w++)
		out[w] = ~enabled[w];
}

/* Whether a set of enabled bits holds some of the slice's own: every mask
 * the daemon sends does; one that did not could leave no live TPC. */
static bool holds_own(const uint32_t enabled[4])
{
	for (int w = 0; w < 4; w++)
		if (enabled[w] & ~M.own[w])
			return true;
	return false;
}

void gs__mask_set(const uint32_t enabled[4])
{
	if (!gs__mask_on)
		return;
	if (!holds_own(enabled)) {
		gs__log("gpushare-control pushed a TPC mask with none of the slice's own TPCs: ignored");
		return;
	}
	unsigned next = __atomic_load_n(&M.cur, __ATOMIC_RELAXED) + 1;
	disabled(enabled, M.ring[next % RING]);
	__atomic_store_n(&M.cur, next, __ATOMIC_RELEASE);
}

static void launch_cb(void *userdata, int domain, int cbid, const void *params)
{
	(void)userdata, (void)cbid;
	void *const *p = params;
	if (domain != GS_CU_LAUNCH_CB_DOMAIN || !p || (uintptr_t)p[0] < 5 * sizeof(void *) || !p[4])
		return;
	unsigned char *tmd = p[4];
	if (tmd[TMD_VERSION_OFF] != TMD_VERSION_HOPPER) {
		static bool said;
		if (!__atomic_exchange_n(&said, true, __ATOMIC_RELAXED))
			gs__log("a launch's task descriptor is of version 0x%x, not 0x40: its TPC mask is not written",
				tmd[TMD_VERSION_OFF]);
		return;
	}
	uint32_t m[4];
	memcpy(m, M.own, sizeof m);
	if (gs__mask_in_launch) {
		/* the current mask, unless a new one was published while it was
		 * copied (a torn copy could mix two): then the slice's own */
		unsigned cur = __atomic_load_n(&M.cur, __ATOMIC_ACQUIRE);
		uint32_t copy[4];
		memcpy(copy, M.ring[cur % RING], sizeof copy);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&M.cur, __ATOMIC_RELAXED) == cur)
			memcpy(m, copy, sizeof m);
	}
	gs__act_note(); /* every kernel the driver launches, cooperative ones too */
	uint32_t w0;
	memcpy(tmd + TMD_MASK_OFF, m, 16);
	memcpy(&w0, tmd, sizeof w0);
	w0 |= TMD_ENABLE_BIT;
	memcpy(tmd, &w0, sizeof w0);
}

bool gs__mask_enabled(uint32_t enabled[4])
{
	if (!gs__mask_on)
		return false;
	unsigned cur = __atomic_load_n(&M.cur, __ATOMIC_ACQUIRE);
	disabled(M.ring[cur % RING], enabled); /* a mask published meanwhile: one of the two, for a trace */
	return true;
}

bool gs__mask_setup(const struct gs__placement *pl)
{
	if (!pl->masked)
		return false;
	disabled(pl->own, M.own);
	if (!gs__slice.sm_limited || gs__slice.sms != pl->sms || !holds_own(pl->mask) ||
	    (gs__client.pct > 0 && gs__client.pct < 100 && !gs__client.mps)) {
		/* fewer SMs than the slice's (GPUSHARE_SMS, a server's
		 * percentage): a green context of them; the slice's SMs are
		 * never lent while this program runs */
		gs__log("SMs confined by a green context (this program has fewer SMs than its slice)");
		gs__notify("sm_busy\n");
		return false;
	}
	disabled(pl->mask, M.ring[0]);
	M.idle_ms = pl->idle_ms;
	gs__mask_on = true;
	gs__act_setup(pl->idle_ms); /* 0: nothing is lent, nothing to report */
	pthread_atfork(NULL, NULL, forked_child);
	return true;
}

/* After cuInit: the callback. Without it the program could not be held by
 * masks: it falls back to a green context, and its SMs are never lent. */
void gs__mask_subscribe(void)
{
	static bool done;
	if (!gs__mask_on || __atomic_load_n(&done, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&M.lock);
	if (!done) {
		static const CUuuid id = GS_CU_LAUNCH_CB_TABLE_ID;
		const void **table = NULL;
		uint32_t handle = 0;
		bool ok = false;
		CUresult rc = gs__real.cuGetExportTable ? gs__real.cuGetExportTable((const void **)&table, &id)
							 : CUDA_ERROR_NOT_SUPPORTED;
		size_t n = !rc && table ? (size_t)(uintptr_t)table[0] / sizeof(void *) : 0;
		if (n > GS_CU_LAUNCH_CB_ENABLE) {
			int (*subscribe)(uint32_t *, gs_cu_launch_cb, void *) =
				(int (*)(uint32_t *, gs_cu_launch_cb, void *))table[GS_CU_LAUNCH_CB_SUBSCRIBE];
			int (*enable)(uint32_t, uint32_t, int, int) =
				(int (*)(uint32_t, uint32_t, int, int))table[GS_CU_LAUNCH_CB_ENABLE];
			ok = !subscribe(&handle, launch_cb, NULL) && !enable(1, handle, GS_CU_LAUNCH_CB_DOMAIN, 1);
		}
		if (!ok) {
			gs__log("the launch-descriptor callback cannot be subscribed: SMs confined by a green context");
			gs__mask_on = false;
			gs__act_sync(); /* its launches counted in the hooks */
			gs__sm_active = gs__slice.sm_limited;
			gs__notify("sm_busy\n");
		} else {
			gs__log("slice %s runs on %u SMs (TPC masks; idle SMs lent and borrowed after %u ms)",
				gs__slice.name, gs__slice.sms, M.idle_ms);
		}
		__atomic_store_n(&done, true, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&M.lock);
}

/* The daemon went away: back to the slice's own SMs (lent ones may be
 * another's by now). */
void gs__mask_lost(void)
{
	if (!gs__mask_on)
		return;
	pthread_mutex_lock(&M.lock);
	unsigned next = __atomic_load_n(&M.cur, __ATOMIC_RELAXED) + 1;
	memcpy(M.ring[next % RING], M.own, sizeof M.own);
	__atomic_store_n(&M.cur, next, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&M.lock);
}

/* Registered again with a new daemon: its mask and its slice's own from
 * that daemon's answer. */
void gs__mask_again(const struct gs__placement *pl)
{
	if (!gs__mask_on || !pl->masked)
		return;
	pthread_mutex_lock(&M.lock);
	disabled(pl->own, M.own);
	pthread_mutex_unlock(&M.lock);
	gs__mask_set(pl->mask);
}

/* A forked child is not registered: it keeps its slice's own SMs (the lock
 * may have been held by the parent's watcher). */
static void forked_child(void)
{
	pthread_mutex_init(&M.lock, NULL);
	if (!gs__mask_on)
		return;
	unsigned next = M.cur + 1;
	memcpy(M.ring[next % RING], M.own, sizeof M.own);
	M.cur = next;
}
