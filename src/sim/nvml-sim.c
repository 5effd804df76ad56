/* nvml-sim.c: libnvidia-ml.so.1 for simulated GPUs. Device facts come from the
 * GPU model; the hardware MIG layout lives in a slice store in the sim dir and
 * is placed by the same engine gpushare's soft slices use; memory in use comes
 * from the simulated CUDA driver's ledger. */
#include "gs-nvml.h"
#include "mig.h"
#include "simstate.h"
#include "slice.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

struct nvmlDevice_st {
	unsigned gpu;
	bool mig;
	unsigned gi, ci;
};
struct nvmlGpuInstance_st {
	unsigned gpu, id;
};
struct nvmlComputeInstance_st {
	unsigned gpu, gi, ci;
};

#define MAX_GI_ID 15
#define MAX_CI_ID 8

static struct {
	pthread_once_t once;
	int init_rc;
	int refs;
	size_t n;
	struct gs_sim_gpu gpu[GS_SIM_MAX_GPU];
	struct gs_gpu_model model[GS_SIM_MAX_GPU]; /* with the board's slice order */
	char dir[PATH_MAX - 64];
	struct nvmlDevice_st dev[GS_SIM_MAX_GPU];
	struct nvmlDevice_st mig[GS_SIM_MAX_GPU][GS_MIG_MAX_CI];
	struct nvmlGpuInstance_st gi[GS_SIM_MAX_GPU][MAX_GI_ID];
	struct nvmlComputeInstance_st ci[GS_SIM_MAX_GPU][MAX_GI_ID][MAX_CI_ID];
} S = { .once = PTHREAD_ONCE_INIT };

static void sim_init(void)
{
	char err[256];
	if (gs_sim_gpus(S.gpu, GS_SIM_MAX_GPU, &S.n, err, sizeof err) ||
	    gs_sim_dir(S.dir, sizeof S.dir)) {
		fprintf(stderr, "gpushare simulated NVML: %s\n", err);
		S.init_rc = NVML_ERROR_DRIVER_NOT_LOADED;
		return;
	}
	for (unsigned g = 0; g < S.n; g++) {
		S.model[g] = *S.gpu[g].model;
		if (gs_model_apply_slice_order(&S.model[g])) {
			fprintf(stderr, "gpushare simulated NVML: GPUSHARE_SLICE_ORDER must be identity or swapped\n");
			S.init_rc = NVML_ERROR_DRIVER_NOT_LOADED;
			return;
		}
		S.dev[g] = (struct nvmlDevice_st){ .gpu = g };
		for (unsigned i = 0; i < MAX_GI_ID; i++) {
			S.gi[g][i] = (struct nvmlGpuInstance_st){ g, i };
			for (unsigned c = 0; c < MAX_CI_ID; c++)
				S.ci[g][i][c] = (struct nvmlComputeInstance_st){ g, i, c };
		}
	}
}

EXPORT nvmlReturn_t nvmlInit_v2(void)
{
	pthread_once(&S.once, sim_init);
	if (S.init_rc)
		return S.init_rc;
	__atomic_add_fetch(&S.refs, 1, __ATOMIC_SEQ_CST);
	return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlInit(void);
EXPORT nvmlReturn_t nvmlInit(void)
{
	return nvmlInit_v2();
}

EXPORT nvmlReturn_t nvmlShutdown(void)
{
	if (__atomic_load_n(&S.refs, __ATOMIC_SEQ_CST) <= 0)
		return NVML_ERROR_UNINITIALIZED;
	__atomic_sub_fetch(&S.refs, 1, __ATOMIC_SEQ_CST);
	return NVML_SUCCESS;
}

EXPORT const char *nvmlErrorString(nvmlReturn_t r)
{
	switch (r) {
	case NVML_SUCCESS: return "Success";
	case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
	case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
	case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
	case NVML_ERROR_NO_PERMISSION: return "Insufficient Permissions";
	case NVML_ERROR_NOT_FOUND: return "Not Found";
	case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
	case NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
	case NVML_ERROR_RESET_REQUIRED: return "GPU requires reset";
	case NVML_ERROR_IN_USE: return "In use by another client";
	case NVML_ERROR_INSUFFICIENT_RESOURCES: return "Insufficient Resources";
	default: return "Unknown Error";
	}
}

static bool ready(void)
{
	return __atomic_load_n(&S.refs, __ATOMIC_SEQ_CST) > 0;
}

#define CHECK_INIT() do { if (!ready()) return NVML_ERROR_UNINITIALIZED; } while (0)
#define CHECK_DEV(d) do { CHECK_INIT(); if (!(d) || (d)->gpu >= S.n) return NVML_ERROR_INVALID_ARGUMENT; } while (0)

static const struct gs_gpu_model *model_of(unsigned gpu)
{
	return &S.model[gpu];
}

/* The hardware MIG state of one GPU, read (changes go through hw_edit). */
static nvmlReturn_t load(unsigned gpu, struct gs_store *st, struct gs_store_gpu **g)
{
	char err[256];
	if (gs_store_load(S.dir, st, err, sizeof err)) {
		fprintf(stderr, "gpushare simulated NVML: %s\n", err);
		return NVML_ERROR_UNKNOWN;
	}
	*g = gs_store_gpu(st, S.gpu[gpu].uuid, true);
	return *g ? NVML_SUCCESS : NVML_ERROR_UNKNOWN;
}

/* load() on a store of its own: *st is the caller's to free (NULL after a
 * failure, which frees it here). */
static nvmlReturn_t open_store(unsigned gpu, struct gs_store **st, struct gs_store_gpu **g)
{
	*st = malloc(sizeof **st);
	nvmlReturn_t rc = *st ? load(gpu, *st, g) : NVML_ERROR_UNKNOWN;
	if (rc) {
		free(*st);
		*st = NULL;
	}
	return rc;
}

/* A change of one GPU's MIG state, as one transaction of the slice layer
 * (gs_slice_edit: the store's lock, load, change, atomic save), the one way
 * the store is changed. op returns an NVML status; only NVML_SUCCESS is
 * written. */
struct hw_change {
	unsigned gpu;
	nvmlReturn_t (*op)(struct gs_store_gpu *g, void *arg);
	void *arg;
	nvmlReturn_t rc;
};

static int hw_change_fn(struct gs_slice_txn *t, void *arg)
{
	struct hw_change *c = arg;
	struct gs_store_gpu *g = gs_store_gpu(t->st, S.gpu[c->gpu].uuid, true);
	c->rc = g ? c->op(g, c->arg) : NVML_ERROR_UNKNOWN;
	return c->rc == NVML_SUCCESS ? 0 : 1;
}

static nvmlReturn_t hw_edit(unsigned gpu, nvmlReturn_t (*op)(struct gs_store_gpu *g, void *arg), void *arg)
{
	struct hw_change c = { gpu, op, arg, NVML_SUCCESS };
	char err[256] = "";
	if (gs_slice_edit(S.dir, NULL, 0, hw_change_fn, &c, err, sizeof err) < 0) {
		fprintf(stderr, "gpushare simulated NVML: %s\n", err[0] ? err : "cannot change the MIG state");
		return NVML_ERROR_UNKNOWN;
	}
	return c.rc;
}

EXPORT nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length)
{
	CHECK_INIT();
	if (!version || (unsigned)snprintf(version, length, "580.sim") >= length)
		return NVML_ERROR_INSUFFICIENT_SIZE;
	return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlSystemGetCudaDriverVersion(int *version)
{
	CHECK_INIT();
	if (!version)
		return NVML_ERROR_INVALID_ARGUMENT;
	*version = 13000;
	return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count)
{
	CHECK_INIT();
	if (!count)
		return NVML_ERROR_INVALID_ARGUMENT;
	*count = (unsigned)S.n;
	return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device)
{
	CHECK_INIT();
	if (index >= S.n || !device)
		return NVML_ERROR_INVALID_ARGUMENT;
	*device = &S.dev[index];
	return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetHandleByUUID(const char *uuid, nvmlDevice_t *device)
{
	CHECK_INIT();
	if (!uuid || !device)
		return NVML_ERROR_INVALID_ARGUMENT;
	for (unsigned i = 0; i < S.n; i++)
		if (strcasecmp(S.gpu[i].uuid, uuid) == 0) {
			*device = &S.dev[i];
			return NVML_SUCCESS;
		}
	return NVML_ERROR_NOT_FOUND;
}

EXPORT nvmlReturn_t nvmlDeviceGetAttributes_v2(nvmlDevice_t d, nvmlDeviceAttributes_t *a)
{
	CHECK_DEV(d);
	if (!a)
		return NVML_ERROR_INVALID_ARGUMENT;
	const struct gs_gpu_model *m = model_of(d->gpu);
	memset(a, 0, sizeof *a);
	a->multiprocessorCount = m->sm_count;
	a->memorySizeMB = m->memory_mib;
	return NVML_SUCCESS;
}

static nvmlReturn_t copy_str(char *dst, unsigned len, const char *src)
{
	if (!dst || strlen(src) >= len)
		return NVML_ERROR_INSUFFICIENT_SIZE;
	memcpy(dst, src, strlen(src) + 1);
	return NVML_SUCCESS;
}

static void mig_device_name(nvmlDevice_t d, char *out, size_t len);
static void mig_device_uuid(nvmlDevice_t d, char *out, size_t len);

EXPORT nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t d, char *name, unsigned int length)
{
	CHECK_DEV(d);
	if (d->mig) {
		char buf[96];
		mig_device_name(d, buf, sizeof buf);
		return copy_str(name, length, buf);
	}
	return copy_str(name, length, model_of(d->gpu)->name);
}

EXPORT nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t d, char *uuid, unsigned int length)
{
	CHECK_DEV(d);
	if (d->mig) {
		char buf[64];
		mig_device_uuid(d, buf, sizeof buf);
		return copy_str(uuid, length, buf);
	}
	return copy_str(uuid, length, S.gpu[d->gpu].uuid);
}

EXPORT nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t d, nvmlPciInfo_t *pci)
{
	CHECK_DEV(d);
	if (!pci)
		return NVML_ERROR_INVALID_ARGUMENT;
	memset(pci, 0, sizeof *pci);
	snprintf(pci->busId, sizeof pci->busId, "%s", S.gpu[d->gpu].bus_id);
	snprintf(pci->busIdLegacy, sizeof pci->busIdLegacy, "%s", S.gpu[d->gpu].bus_id + 4);
	pci->bus = 0x10 + d->gpu;
	pci->device = 0x1c;
	pci->pciDeviceId = model_of(d->gpu)->pci_id;
	return NVML_SUCCESS;
}

/* Idle memory the driver keeps per GI, scaled by the GI's share of slices. */
static uint64_t gi_overhead(const struct gs_gpu_model *m, const struct gs_mig_gi *gi)
{
	unsigned slices = gi->size ? gi->size
			 : (unsigned)(((uint64_t)gi->memory_mib * m->mem_slices + m->memory_mib - 1) / m->memory_mib);
	return (uint64_t)m->gi_overhead_kib * slices << 10;
}

static nvmlReturn_t memory(nvmlDevice_t d, unsigned long long *total, unsigned long long *used)
{
	const struct gs_gpu_model *m = model_of(d->gpu);
	struct gs_store *st;
	struct gs_store_gpu *g;
	nvmlReturn_t rc = open_store(d->gpu, &st, &g);
	if (rc)
		return rc;
	*total = (unsigned long long)m->memory_mib << 20;
	*used = 0;
	for (size_t i = 0; i < g->layout.n_gi; i++) {
		const struct gs_mig_gi *gi = &g->layout.gi[i];
		if (d->mig && gi->id != d->gi)
			continue;
		*used += gi_overhead(m, gi);
		if (d->mig)
			*total = (unsigned long long)gi->memory_mib << 20;
	}
	free(st);
	if (!d->mig) {
		struct gs_ledger *l;
		if (gs_sim_memory(&S.gpu[d->gpu], &l) == 0) {
			gs_ledger_reclaim(l);
			*used += gs_ledger_used(l);
			gs_ledger_close(l);
		}
	}
	if (*used > *total)
		*used = *total;
	return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t d, nvmlMemory_t *mem)
{
	CHECK_DEV(d);
	if (!mem)
		return NVML_ERROR_INVALID_ARGUMENT;
	nvmlReturn_t rc = memory(d, &mem->total, &mem->used);
	mem->free = mem->total - mem->used;
	return rc;
}

EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t d, nvmlMemory_v2_t *mem)
{
	CHECK_DEV(d);
	if (!mem || mem->version != nvmlMemory_v2)
		return NVML_ERROR_INVALID_ARGUMENT;
	nvmlReturn_t rc = memory(d, &mem->total, &mem->used);
	mem->reserved = 0;
	mem->free = mem->total - mem->used;
	return rc;
}

EXPORT nvmlReturn_t nvmlDeviceGetBAR1MemoryInfo(nvmlDevice_t d, nvmlBAR1Memory_t *bar1)
{
	CHECK_DEV(d);
	if (!bar1)
		return NVML_ERROR_INVALID_ARGUMENT;
	bar1->bar1Total = (unsigned long long)model_of(d->gpu)->bar1_mib << 20;
	bar1->bar1Used = 2ull << 20;
	bar1->bar1Free = bar1->bar1Total - bar1->bar1Used;
	return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t d, int sensor, unsigned int *temp)
{
	CHECK_DEV(d);
	if (sensor != NVML_TEMPERATURE_GPU || !temp)
		return NVML_ERROR_INVALID_ARGUMENT;
	*temp = 40;
	return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t d, unsigned int *mw)
{
	CHECK_DEV(d);
	if (!mw)
		return NVML_ERROR_INVALID_ARGUMENT;
	*mw = 43000;
	return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetEnforcedPowerLimit(nvmlDevice_t d, unsigned int *mw)
{
	CHECK_DEV(d);
	if (!mw)
		return NVML_ERROR_INVALID_ARGUMENT;
	*mw = model_of(d->gpu)->power_cap_w * 1000;
	return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetPerformanceState(nvmlDevice_t d, int *pstate)
{
	CHECK_DEV(d);
	if (!pstate)
		return NVML_ERROR_INVALID_ARGUMENT;
	*pstate = 0;
	return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetPersistenceMode(nvmlDevice_t d, int *mode)
{
	CHECK_DEV(d);
	if (!mode)
		return NVML_ERROR_INVALID_ARGUMENT;
	*mode = NVML_FEATURE_ENABLED;
	return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t d, unsigned int *count,
							     nvmlProcessInfo_t *infos)
{
	CHECK_DEV(d);
	if (!count)
		return NVML_ERROR_INVALID_ARGUMENT;
	struct gs_ledger *l;
	struct gs_ledger_usage u[64];
	size_t n = 0;
	if (!d->mig && gs_sim_memory(&S.gpu[d->gpu], &l) == 0) {
		n = gs_ledger_usage(l, u, 64);
		gs_ledger_close(l);
	}
	if (*count < n || !infos) {
		*count = (unsigned)n;
		return n ? NVML_ERROR_INSUFFICIENT_SIZE : NVML_SUCCESS;
	}
	for (size_t i = 0; i < n; i++)
		infos[i] = (nvmlProcessInfo_t){ (unsigned)u[i].pid, u[i].bytes, 0xffffffffu, 0xffffffffu };
	*count = (unsigned)n;
	return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t d, unsigned int *current, unsigned int *pending)
{
	CHECK_DEV(d);
	if (!current || !pending)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (model_of(d->gpu)->mem_slices == 0)
		return NVML_ERROR_NOT_SUPPORTED;
	struct gs_store *st;
	struct gs_store_gpu *g;
	nvmlReturn_t rc = open_store(d->gpu, &st, &g);
	if (!rc)
		*current = *pending = g->mig ? 1 : 0;
	free(st);
	return rc;
}

static nvmlReturn_t set_mig(struct gs_store_gpu *g, void *arg)
{
	unsigned mode = *(const unsigned *)arg;
	if (mode == 0 && g->layout.n_gi)
		return NVML_ERROR_IN_USE;
	g->mig = mode;
	return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceSetMigMode(nvmlDevice_t d, unsigned int mode, nvmlReturn_t *activation)
{
	CHECK_DEV(d);
	if (mode > 1 || !activation)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (model_of(d->gpu)->mem_slices == 0)
		return NVML_ERROR_NOT_SUPPORTED;
	nvmlReturn_t rc = hw_edit(d->gpu, set_mig, &mode);
	*activation = rc;
	return rc;
}

static const struct gs_gi_profile *profile_by_enum(const struct gs_gpu_model *m, unsigned e)
{
	for (size_t i = 0; i < m->n_gi; i++)
		if (m->gi[i].nvml_enum == e)
			return &m->gi[i];
	return NULL;
}

EXPORT nvmlReturn_t nvmlDeviceGetGpuInstanceProfileInfoV(nvmlDevice_t d, unsigned int profile,
							  nvmlGpuInstanceProfileInfo_v2_t *info)
{
	CHECK_DEV(d);
	if (!info || info->version != nvmlGpuInstanceProfileInfo_v2 || profile >= 0x12)
		return NVML_ERROR_INVALID_ARGUMENT;
	const struct gs_gi_profile *p = profile_by_enum(model_of(d->gpu), profile);
	if (!p)
		return NVML_ERROR_NOT_SUPPORTED;
	unsigned version = info->version;
	memset(info, 0, sizeof *info);
	*info = (nvmlGpuInstanceProfileInfo_v2_t){
		.version = version, .id = p->id, .isP2pSupported = 0, .sliceCount = p->g,
		.instanceCount = p->max_instances, .multiprocessorCount = p->sm,
		.copyEngineCount = p->ce, .decoderCount = p->dec, .encoderCount = p->enc,
		.jpegCount = p->jpeg, .ofaCount = p->ofa, .memorySizeMB = p->memory_mib };
	snprintf(info->name, sizeof info->name, "MIG %s", p->name);
	return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetGpuInstancePossiblePlacements_v2(nvmlDevice_t d, unsigned int profileId,
								    nvmlGpuInstancePlacement_t *pl,
								    unsigned int *count)
{
	CHECK_DEV(d);
	const struct gs_gi_profile *p = gs_model_gi_by_id(model_of(d->gpu), profileId);
	if (!count)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (!p)
		return NVML_ERROR_NOT_SUPPORTED;
	unsigned n = 0;
	for (unsigned s = 0; s < 8; s++)
		if (p->starts >> s & 1) {
			if (pl && n < *count)
				pl[n] = (nvmlGpuInstancePlacement_t){ s, p->size };
			n++;
		}
	if (pl && *count < n) {
		*count = n;
		return NVML_ERROR_INSUFFICIENT_SIZE;
	}
	*count = n;
	return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetGpuInstanceRemainingCapacity(nvmlDevice_t d, unsigned int profileId,
							       unsigned int *count)
{
	CHECK_DEV(d);
	const struct gs_gpu_model *m = model_of(d->gpu);
	const struct gs_gi_profile *p = gs_model_gi_by_id(m, profileId);
	if (!count)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (!p)
		return NVML_ERROR_NOT_SUPPORTED;
	struct gs_store *st;
	struct gs_store_gpu *g;
	nvmlReturn_t rc = open_store(d->gpu, &st, &g);
	if (!rc)
		*count = gs_mig_gi_remaining(m, &g->layout, p);
	free(st);
	return rc;
}

struct gi_create {
	const struct gs_gpu_model *m;
	const struct gs_gi_profile *p;
	int start;
	unsigned id;
};

static nvmlReturn_t gi_create_op(struct gs_store_gpu *g, void *arg)
{
	struct gi_create *c = arg;
	return g->mig ? gs_mig_gi_create(c->m, &g->layout, c->p, c->start, &c->id) : NVML_ERROR_NOT_SUPPORTED;
}

static nvmlReturn_t create_gi(nvmlDevice_t d, unsigned profileId, int start, nvmlGpuInstance_t *out)
{
	CHECK_DEV(d);
	const struct gs_gpu_model *m = model_of(d->gpu);
	const struct gs_gi_profile *p = gs_model_gi_by_id(m, profileId);
	if (!out)
		return NVML_ERROR_INVALID_ARGUMENT;
	if (!p)
		return NVML_ERROR_NOT_SUPPORTED;
	struct gi_create c = { m, p, start, 0 };
	nvmlReturn_t rc = hw_edit(d->gpu, gi_create_op, &c);
	unsigned id = c.id;
	if (!rc)
		*out = &S.gi[d->gpu][id];
	return rc;
}

EXPORT nvmlReturn_t nvmlDeviceCreateGpuInstance(nvmlDevice_t d, unsigned int profileId, nvmlGpuInstance_t *gi)
{
	return create_gi(d, profileId, -1, gi);
}

EXPORT nvmlReturn_t nvmlDeviceCreateGpuInstanceWithPlacement(nvmlDevice_t d, unsigned int profileId,
							      const nvmlGpuInstancePlacement_t *pl,
							      nvmlGpuInstance_t *gi)
{
	if (!pl || pl->start > 7)
		return NVML_ERROR_INVALID_ARGUMENT;
	return create_gi(d, profileId, (int)pl->start, gi);
}

#define CHECK_GI(h) do { CHECK_INIT(); if (!(h) || (h)->gpu >= S.n || (h)->id >= MAX_GI_ID) return NVML_ERROR_INVALID_ARGUMENT; } while (0)

static nvmlReturn_t gi_destroy_op(struct gs_store_gpu *g, void *arg)
{
	const struct nvmlGpuInstance_st *h = arg;
	return gs_mig_gi_destroy(&g->layout, h->id);
}

EXPORT nvmlReturn_t nvmlGpuInstanceDestroy(nvmlGpuInstance_t h)
{
	CHECK_GI(h);
	return hw_edit(h->gpu, gi_destroy_op, h);
}

static int cmp_gi(const void *a, const void *b)
{
	const struct gs_mig_gi *x = a, *y = b;
	return (int)x->id - (int)y->id;
}

EXPORT nvmlReturn_t nvmlDeviceGetGpuInstances(nvmlDevice_t d, unsigned int profileId, nvmlGpuInstance_t *gis,
					       unsigned int *count)
{
	CHECK_DEV(d);
	if (!count || !gis)
		return NVML_ERROR_INVALID_ARGUMENT;
	struct gs_store *st;
	struct gs_store_gpu *g;
	nvmlReturn_t rc = open_store(d->gpu, &st, &g);
	if (rc)
		return rc;
	if (!g->mig) {
		free(st);
		return NVML_ERROR_NOT_SUPPORTED;
	}
	qsort(g->layout.gi, g->layout.n_gi, sizeof g->layout.gi[0], cmp_gi);
	unsigned n = 0;
	for (size_t i = 0; i < g->layout.n_gi; i++)
		if (g->layout.gi[i].profile_id == (int)profileId) {
			if (n < *count)
				gis[n] = &S.gi[d->gpu][g->layout.gi[i].id];
			n++;
		}
	free(st);
	if (n > *count) {
		*count = n;
		return NVML_ERROR_INSUFFICIENT_SIZE;
	}
	*count = n;
	return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetGpuInstanceById(nvmlDevice_t d, unsigned int id, nvmlGpuInstance_t *gi)
{
	CHECK_DEV(d);
	if (!gi || id >= MAX_GI_ID)
		return NVML_ERROR_INVALID_ARGUMENT;
	struct gs_store *st;
	struct gs_store_gpu *g;
	nvmlReturn_t rc = open_store(d->gpu, &st, &g);
	if (!rc && !g->mig)
		rc = NVML_ERROR_NOT_SUPPORTED;
	if (!rc && !gs_mig_gi_find(&g->layout, id))
		rc = NVML_ERROR_NOT_FOUND;
	if (!rc)
		*gi = &S.gi[d->gpu][id];
	free(st);
	return rc;
}

/* Loads the GI behind a handle; *st is the caller's to free. */
static nvmlReturn_t load_gi(nvmlGpuInstance_t h, struct gs_store **st, struct gs_store_gpu **g,
			    struct gs_mig_gi **gi)
{
	nvmlReturn_t rc = open_store(h->gpu, st, g);
	if (!rc && !(*gi = gs_mig_gi_find(&(*g)->layout, h->id)))
		rc = NVML_ERROR_NOT_FOUND;
	return rc;
}

EXPORT nvmlReturn_t nvmlGpuInstanceGetInfo(nvmlGpuInstance_t h, nvmlGpuInstanceInfo_t *info)
{
	CHECK_GI(h);
	if (!info)
		return NVML_ERROR_INVALID_ARGUMENT;
	struct gs_store *st;
	struct gs_store_gpu *g;
	struct gs_mig_gi *gi;
	nvmlReturn_t rc = load_gi(h, &st, &g, &gi);
	if (!rc)
		*info = (nvmlGpuInstanceInfo_t){ &S.dev[h->gpu], gi->id, (unsigned)gi->profile_id,
						 { gi->start, gi->size } };
	free(st);
	return rc;
}

static bool find_ci_profile(const struct gs_gpu_model *m, const struct gs_mig_gi *gi, unsigned id,
			    struct gs_ci_profile *out)
{
	struct gs_ci_profile all[8];
	size_t n = gs_mig_ci_profiles(m, gi, all, 8);
	for (size_t i = 0; i < n; i++)
		if (all[i].id == id) {
			*out = all[i];
			return true;
		}
	return false;
}

EXPORT nvmlReturn_t nvmlGpuInstanceGetComputeInstanceProfileInfoV(nvmlGpuInstance_t h, unsigned int profile,
								    unsigned int engProfile,
								    nvmlComputeInstanceProfileInfo_v2_t *info)
{
	CHECK_GI(h);
	if (!info || info->version != nvmlComputeInstanceProfileInfo_v2 ||
	    engProfile != NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED || profile >= 9)
		return NVML_ERROR_INVALID_ARGUMENT;
	struct gs_store *st;
	struct gs_store_gpu *g;
	struct gs_mig_gi *gi;
	nvmlReturn_t rc = load_gi(h, &st, &g, &gi);
	const struct gs_gpu_model *m = model_of(h->gpu);
	struct gs_ci_profile cp;
	if (!rc && !find_ci_profile(m, gi, profile, &cp))
		rc = NVML_ERROR_NOT_SUPPORTED;
	if (!rc) {
		const struct gs_gi_profile *gp = gs_model_gi_by_id(m, (unsigned)gi->profile_id);
		unsigned version = info->version;
		*info = (nvmlComputeInstanceProfileInfo_v2_t){
			.version = version, .id = cp.id, .sliceCount = cp.c,
			.instanceCount = cp.max_instances, .multiprocessorCount = cp.sm,
			.sharedCopyEngineCount = gp->ce, .sharedDecoderCount = gp->dec,
			.sharedEncoderCount = gp->enc, .sharedJpegCount = gp->jpeg,
			.sharedOfaCount = gp->ofa };
		snprintf(info->name, sizeof info->name, "MIG %s", cp.name);
	}
	free(st);
	return rc;
}

EXPORT nvmlReturn_t nvmlGpuInstanceGetComputeInstanceRemainingCapacity(nvmlGpuInstance_t h,
									 unsigned int profileId,
									 unsigned int *count)
{
	CHECK_GI(h);
	if (!count)
		return NVML_ERROR_INVALID_ARGUMENT;
	struct gs_store *st;
	struct gs_store_gpu *g;
	struct gs_mig_gi *gi;
	nvmlReturn_t rc = load_gi(h, &st, &g, &gi);
	if (!rc)
		*count = gs_mig_ci_remaining(model_of(h->gpu), &g->layout, h->id, profileId);
	free(st);
	return rc;
}

struct ci_create {
	const struct gs_gpu_model *m;
	unsigned gi, profile, id;
};

static nvmlReturn_t ci_create_op(struct gs_store_gpu *g, void *arg)
{
	struct ci_create *c = arg;
	nvmlReturn_t rc = gs_mig_ci_create(c->m, &g->layout, c->gi, c->profile, &c->id);
	return !rc && c->id >= MAX_CI_ID ? NVML_ERROR_INSUFFICIENT_RESOURCES : rc;
}

EXPORT nvmlReturn_t nvmlGpuInstanceCreateComputeInstance(nvmlGpuInstance_t h, unsigned int profileId,
							  nvmlComputeInstance_t *ci)
{
	CHECK_GI(h);
	if (!ci)
		return NVML_ERROR_INVALID_ARGUMENT;
	struct ci_create c = { model_of(h->gpu), h->id, profileId, 0 };
	nvmlReturn_t rc = hw_edit(h->gpu, ci_create_op, &c);
	unsigned id = c.id;
	if (!rc)
		*ci = &S.ci[h->gpu][h->id][id];
	return rc;
}

#define CHECK_CI(h) do { CHECK_INIT(); if (!(h) || (h)->gpu >= S.n || (h)->gi >= MAX_GI_ID || (h)->ci >= MAX_CI_ID) return NVML_ERROR_INVALID_ARGUMENT; } while (0)

static nvmlReturn_t ci_destroy_op(struct gs_store_gpu *g, void *arg)
{
	const struct nvmlComputeInstance_st *h = arg;
	return gs_mig_ci_destroy(&g->layout, h->gi, h->ci);
}

EXPORT nvmlReturn_t nvmlComputeInstanceDestroy(nvmlComputeInstance_t h)
{
	CHECK_CI(h);
	return hw_edit(h->gpu, ci_destroy_op, h);
}

static int cmp_ci(const void *a, const void *b)
{
	const struct gs_mig_ci *x = a, *y = b;
	if (x->gi != y->gi)
		return (int)x->gi - (int)y->gi;
	return (int)x->id - (int)y->id;
}

EXPORT nvmlReturn_t nvmlGpuInstanceGetComputeInstances(nvmlGpuInstance_t h, unsigned int profileId,
							nvmlComputeInstance_t *cis, unsigned int *count)
{
	CHECK_GI(h);
	if (!cis || !count)
		return NVML_ERROR_INVALID_ARGUMENT;
	struct gs_store *st;
	struct gs_store_gpu *g;
	struct gs_mig_gi *gi;
	nvmlReturn_t rc = load_gi(h, &st, &g, &gi);
	if (rc)
		return rc;
	qsort(g->layout.ci, g->layout.n_ci, sizeof g->layout.ci[0], cmp_ci);
	unsigned n = 0;
	for (size_t i = 0; i < g->layout.n_ci; i++) {
		const struct gs_mig_ci *c = &g->layout.ci[i];
		if (c->gi == h->id && c->profile_id == profileId && c->id < MAX_CI_ID) {
			if (n < *count)
				cis[n] = &S.ci[h->gpu][h->id][c->id];
			n++;
		}
	}
	free(st);
	if (n > *count) {
		*count = n;
		return NVML_ERROR_INSUFFICIENT_SIZE;
	}
	*count = n;
	return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlComputeInstanceGetInfo_v2(nvmlComputeInstance_t h, nvmlComputeInstanceInfo_t *info)
{
	CHECK_CI(h);
	if (!info)
		return NVML_ERROR_INVALID_ARGUMENT;
	struct gs_store *st;
	struct gs_store_gpu *g;
	nvmlReturn_t rc = open_store(h->gpu, &st, &g);
	const struct gs_mig_ci *c = rc ? NULL : gs_mig_ci_find(&g->layout, h->gi, h->ci);
	if (!rc && !c)
		rc = NVML_ERROR_NOT_FOUND;
	if (!rc)
		*info = (nvmlComputeInstanceInfo_t){ &S.dev[h->gpu], &S.gi[h->gpu][h->gi], c->id,
						     c->profile_id, { c->start, c->size } };
	free(st);
	return rc;
}

EXPORT nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t d, unsigned int *count)
{
	CHECK_DEV(d);
	if (!count)
		return NVML_ERROR_INVALID_ARGUMENT;
	*count = model_of(d->gpu)->mem_slices ? 7 : 0;
	return NVML_SUCCESS;
}

/* MIG devices are numbered by GI ID, then CI ID (reference B.8). */
EXPORT nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t d, unsigned int index, nvmlDevice_t *mig)
{
	CHECK_DEV(d);
	if (!mig || d->mig || index >= GS_MIG_MAX_CI)
		return NVML_ERROR_INVALID_ARGUMENT;
	struct gs_store *st;
	struct gs_store_gpu *g;
	nvmlReturn_t rc = open_store(d->gpu, &st, &g);
	if (!rc) {
		qsort(g->layout.ci, g->layout.n_ci, sizeof g->layout.ci[0], cmp_ci);
		if (!g->mig || index >= g->layout.n_ci) {
			rc = NVML_ERROR_NOT_FOUND;
		} else {
			const struct gs_mig_ci *c = &g->layout.ci[index];
			S.mig[d->gpu][index] = (struct nvmlDevice_st){ d->gpu, true, c->gi, c->id };
			*mig = &S.mig[d->gpu][index];
		}
	}
	free(st);
	return rc;
}

EXPORT nvmlReturn_t nvmlDeviceGetGpuInstanceId(nvmlDevice_t d, unsigned int *id)
{
	CHECK_DEV(d);
	if (!id || !d->mig)
		return NVML_ERROR_INVALID_ARGUMENT;
	*id = d->gi;
	return NVML_SUCCESS;
}

EXPORT nvmlReturn_t nvmlDeviceGetComputeInstanceId(nvmlDevice_t d, unsigned int *id)
{
	CHECK_DEV(d);
	if (!id || !d->mig)
		return NVML_ERROR_INVALID_ARGUMENT;
	*id = d->ci;
	return NVML_SUCCESS;
}

static void mig_device_name(nvmlDevice_t d, char *out, size_t len)
{
	struct gs_store *st;
	struct gs_store_gpu *g;
	snprintf(out, len, "MIG");
	if (open_store(d->gpu, &st, &g) == NVML_SUCCESS) {
		const struct gs_mig_ci *c = gs_mig_ci_find(&g->layout, d->gi, d->ci);
		struct gs_mig_gi *gi = gs_mig_gi_find(&g->layout, d->gi);
		struct gs_ci_profile cp;
		if (c && gi && find_ci_profile(model_of(d->gpu), gi, c->profile_id, &cp))
			snprintf(out, len, "MIG %s", cp.name);
	}
	free(st);
}

static void mig_device_uuid(nvmlDevice_t d, char *out, size_t len)
{
	struct gs_store *st;
	struct gs_store_gpu *g;
	snprintf(out, len, "MIG-00000000-0000-0000-0000-000000000000");
	if (open_store(d->gpu, &st, &g) == NVML_SUCCESS) {
		const struct gs_mig_ci *c = gs_mig_ci_find(&g->layout, d->gi, d->ci);
		if (c && len >= GS_UUID_STR + 4)
			gs_store_ci_uuid(S.gpu[d->gpu].uuid, c, out);
	}
	free(st);
}

/* Lets gpushare tell the simulated library from NVIDIA's. */
EXPORT extern const int gpushare_simulated;
const int gpushare_simulated = 1;
