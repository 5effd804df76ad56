/* launchcb.c: a program's own launch-descriptor callbacks cannot widen its
 * slice. Through the driver's launch-callback table (GS_CU_LAUNCH_CB_TABLE_ID)
 * a program may rewrite each launch's descriptor, and a TPC mask written
 * there overrides its green context: on the H200 a program confined to 64
 * SMs took all 132, also under NVIDIA's MPS
 * (bench/results/h200-tpcmask-probe-2026-12-03.txt). So the program gets a
 * copy of the table whose subscribe entry puts a guard before each of its
 * callbacks: while gpushare decides the program's SMs, the guard does not
 * run it for the launch descriptor (domain 0xb); every other domain, and a
 * program gpushare does not confine, is as the driver has it. Nothing of
 * this is on the launch path unless the program subscribed. The libcupti a
 * trace loaded (cupti.c) is not the program: what it subscribes (CUPTI's
 * kernel timing may need the launch descriptor) is not guarded. */
#include "cupti.h"
#include "interposer.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#define MAX_TABLE 32 /* entries copied at most (the driver's has 12) */
#define MAX_SUBS 16  /* a program's callbacks (libsmctrl subscribes one) */

static const CUuuid launch_cb_id = GS_CU_LAUNCH_CB_TABLE_ID;
static const void *table_copy[MAX_TABLE];
static int (*real_subscribe)(uint32_t *handle, gs_cu_launch_cb cb, void *userdata);

static struct sub {
	gs_cu_launch_cb cb;
	void *userdata;
} subs[MAX_SUBS];
static unsigned n_subs;

/* whether gpushare, not the program, decides where its kernels run */
static bool confined(void)
{
	return gs__slice.sm_limited || gs__slice.placed;
}

static void guard(void *userdata, int domain, int cbid, const void *params)
{
	const struct sub *s = userdata;
	if (domain == GS_CU_LAUNCH_CB_DOMAIN && confined()) {
		static bool said;
		if (!__atomic_exchange_n(&said, true, __ATOMIC_RELAXED))
			gs__log("a launch-descriptor callback of the program's is not run: a TPC mask it wrote "
				"would take SMs outside its slice");
		return;
	}
	s->cb(s->userdata, domain, cbid, params);
}

static int subscribe(uint32_t *handle, gs_cu_launch_cb cb, void *userdata)
{
	if (!cb || gs__cupti_owns((const void *)cb))
		return real_subscribe(handle, cb, userdata);
	unsigned i = __atomic_fetch_add(&n_subs, 1, __ATOMIC_RELAXED);
	if (i >= MAX_SUBS)
		return CUDA_ERROR_OUT_OF_MEMORY;
	subs[i] = (struct sub){ cb, userdata };
	return real_subscribe(handle, guard, &subs[i]);
}

/* The copy is made once, of the size the driver's own first entry gives. A
 * table of another shape is not handed out: the program could use it
 * unguarded. */
static const void **guarded_table(const void **real)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static const void **copy;
	pthread_mutex_lock(&lock);
	size_t bytes = (size_t)(uintptr_t)real[0], n = bytes / sizeof(void *);
	if (!copy && bytes % sizeof(void *) == 0 && n > GS_CU_LAUNCH_CB_ENABLE && n <= MAX_TABLE) {
		memcpy(table_copy, real, bytes);
		real_subscribe = (int (*)(uint32_t *, gs_cu_launch_cb, void *))real[GS_CU_LAUNCH_CB_SUBSCRIBE];
		table_copy[GS_CU_LAUNCH_CB_SUBSCRIBE] = (const void *)subscribe;
		copy = table_copy;
	}
	pthread_mutex_unlock(&lock);
	return copy;
}

CUresult gs__hook_cuGetExportTable(const void **table, const CUuuid *id);
CUresult gs__hook_cuGetExportTable(const void **table, const CUuuid *id)
{
	if (!gs__real.cuGetExportTable)
		return CUDA_ERROR_NOT_INITIALIZED;
	CUresult rc = gs__real.cuGetExportTable(table, id);
	if (rc || !table || !*table || !id || memcmp(id->bytes, launch_cb_id.bytes, sizeof id->bytes))
		return rc;
	const void **copy = guarded_table((const void **)*table);
	if (!copy) {
		gs__log("the driver's launch-callback table is not of the shape gpushare knows: not given out");
		*table = NULL;
		return CUDA_ERROR_NOT_SUPPORTED;
	}
	*table = copy;
	return CUDA_SUCCESS;
}
