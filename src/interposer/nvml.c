/* nvml.c: what NVML tells a program in a slice about its GPU's memory: the
 * slice's total, used and free (nvmlDeviceGetMemoryInfo and _v2), whether
 * the program links NVML or dlsym's it. */
#include "gpumodel.h"
#include "interposer.h"

#include <dlfcn.h>
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

static nvmlReturn_t (*real_mem)(nvmlDevice_t, nvmlMemory_t *);
static nvmlReturn_t (*real_mem2)(nvmlDevice_t, nvmlMemory_v2_t *);
static nvmlReturn_t (*real_uuid)(nvmlDevice_t, char *, unsigned);

static void *real_nvml(const char *name)
{
	void *h = dlopen("libnvidia-ml.so.1", RTLD_LAZY | RTLD_NOLOAD);
	return h ? gs__dlsym(h, name) : NULL;
}

/* The program's slice on an NVML device's GPU, NULL for none. */
static struct gs__slice *in_slice_any(nvmlDevice_t d)
{
	if (!gs__slice.gpu_uuid[0])
		return &gs__slice;
	if (!real_uuid)
		real_uuid = (nvmlReturn_t(*)(nvmlDevice_t, char *, unsigned))real_nvml("nvmlDeviceGetUUID");
	char uuid[96];
	if (!real_uuid || real_uuid(d, uuid, sizeof uuid) != NVML_SUCCESS)
		return NULL;
	for (unsigned i = 0; i < gs__n_slices; i++)
		if (strcasecmp(uuid, gs__slice_at(i)->gpu_uuid) == 0)
			return gs__slice_at(i);
	return NULL;
}

static struct gs__slice *in_slice(nvmlDevice_t d)
{
	struct gs__slice *s = gs__slice.memory_limited ? in_slice_any(d) : NULL;
	return s && s->memory_limited ? s : NULL;
}

static void slice_view(struct gs__slice *s, unsigned long long *total, unsigned long long *used,
		       unsigned long long *free_b)
{
	gs_ledger_reclaim(s->ledger);
	uint64_t u = gs_ledger_used(s->ledger), limit = gs__limit(s), cap, mine;
	uint64_t left = u < limit ? limit - u : 0;
	/* the process's own cap, when it is the narrower, as cuMemGetInfo tells it */
	gs__process_view(s, &cap, &mine);
	if (cap && cap < limit) {
		limit = cap;
		if (cap - (mine < cap ? mine : cap) < left)
			left = cap - (mine < cap ? mine : cap);
	}
	if (left > limit)
		left = limit;
	*total = limit;
	*free_b = left;
	*used = limit - left;
}

EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t d, nvmlMemory_t *m)
{
	gs__init();
	if (!real_mem)
		real_mem = (nvmlReturn_t(*)(nvmlDevice_t, nvmlMemory_t *))real_nvml("nvmlDeviceGetMemoryInfo");
	if (!real_mem)
		return NVML_ERROR_UNINITIALIZED;
	nvmlReturn_t rc = real_mem(d, m);
	struct gs__slice *s = rc == NVML_SUCCESS ? in_slice(d) : NULL;
	if (s)
		slice_view(s, &m->total, &m->used, &m->free);
	return rc;
}

EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t d, nvmlMemory_v2_t *m)
{
	gs__init();
	if (!real_mem2)
		real_mem2 = (nvmlReturn_t(*)(nvmlDevice_t, nvmlMemory_v2_t *))real_nvml("nvmlDeviceGetMemoryInfo_v2");
	if (!real_mem2)
		return NVML_ERROR_UNINITIALIZED;
	nvmlReturn_t rc = real_mem2(d, m);
	struct gs__slice *s = rc == NVML_SUCCESS ? in_slice(d) : NULL;
	if (s) {
		slice_view(s, &m->total, &m->used, &m->free);
		m->reserved = 0;
	}
	return rc;
}

/* The processes of the slice and what each has charged, in place of every
 * process on the GPU: a program sees its slice, as on a MIG device. */
static nvmlReturn_t (*real_procs)(nvmlDevice_t, unsigned *, nvmlProcessInfo_t *);

EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t d, unsigned *count, nvmlProcessInfo_t *infos)
{
	gs__init();
	if (!real_procs)
		real_procs = (nvmlReturn_t(*)(nvmlDevice_t, unsigned *, nvmlProcessInfo_t *))real_nvml(
			"nvmlDeviceGetComputeRunningProcesses_v3");
	if (!real_procs)
		return NVML_ERROR_UNINITIALIZED;
	struct gs__slice *s = count ? in_slice(d) : NULL;
	if (!s)
		return real_procs(d, count, infos);
	struct gs_ledger_usage u[64];
	size_t n = gs_ledger_usage(s->ledger, u, 64);
	if (!infos || *count < n) {
		*count = (unsigned)n;
		return n ? NVML_ERROR_INSUFFICIENT_SIZE : NVML_SUCCESS;
	}
	for (size_t i = 0; i < n; i++)
		infos[i] = (nvmlProcessInfo_t){ (unsigned)u[i].pid, u[i].bytes, 0xffffffffu, 0xffffffffu };
	*count = (unsigned)n;
	return NVML_SUCCESS;
}

/* A device's SMs and memory are the slice's. */
static nvmlReturn_t (*real_attrs)(nvmlDevice_t, nvmlDeviceAttributes_t *);

EXPORT nvmlReturn_t nvmlDeviceGetAttributes_v2(nvmlDevice_t d, nvmlDeviceAttributes_t *a)
{
	gs__init();
	if (!real_attrs)
		real_attrs = (nvmlReturn_t(*)(nvmlDevice_t, nvmlDeviceAttributes_t *))real_nvml("nvmlDeviceGetAttributes_v2");
	if (!real_attrs)
		return NVML_ERROR_UNINITIALIZED;
	nvmlReturn_t rc = real_attrs(d, a);
	struct gs__slice *s = rc == NVML_SUCCESS && a ? in_slice_any(d) : NULL;
	if (s && (s->memory_limited || s->sm_limited)) {
		uint64_t limit = gs__limit(s), cap, mine;
		gs__process_view(s, &cap, &mine);
		if (cap && cap < limit)
			limit = cap;
		if (s->memory_limited && (limit >> 20) < a->memorySizeMB)
			a->memorySizeMB = limit >> 20;
		/* the device of that slice: its green context's SMs (devices are
		 * in the slices' order, CUDA_VISIBLE_DEVICES being theirs) */
		unsigned sms = gs__ctx_sms((CUdevice)gs__slice_index(s));
		if (s->sm_limited && (sms ? sms : s->sms) < a->multiprocessorCount)
			a->multiprocessorCount = sms ? sms : s->sms;
	}
	return rc;
}

/* NVML, loaded and initialised for the interposer's own questions. */
static void *own_nvml(const char *name)
{
	static void *h;
	static bool tried;
	if (!tried) {
		tried = true;
		h = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
		nvmlReturn_t (*init)(void) = h ? (nvmlReturn_t(*)(void))gs__dlsym(h, "nvmlInit_v2") : NULL;
		if (!init || init() != NVML_SUCCESS)
			h = NULL;
	}
	return h ? gs__dlsym(h, name) : NULL;
}

static bool own_device(const char *gpu_uuid, nvmlDevice_t *d)
{
	nvmlReturn_t (*by_uuid)(const char *, nvmlDevice_t *) =
		(nvmlReturn_t(*)(const char *, nvmlDevice_t *))own_nvml("nvmlDeviceGetHandleByUUID");
	nvmlReturn_t (*by_index)(unsigned, nvmlDevice_t *) =
		(nvmlReturn_t(*)(unsigned, nvmlDevice_t *))own_nvml("nvmlDeviceGetHandleByIndex_v2");
	if (gpu_uuid && *gpu_uuid)
		return by_uuid && by_uuid(gpu_uuid, d) == NVML_SUCCESS;
	return by_index && by_index(0, d) == NVML_SUCCESS;
}

int gs__nvml_process_bytes(const char *gpu_uuid, uint64_t *bytes)
{
	nvmlDevice_t d;
	nvmlReturn_t (*procs)(nvmlDevice_t, unsigned *, nvmlProcessInfo_t *) =
		(nvmlReturn_t(*)(nvmlDevice_t, unsigned *, nvmlProcessInfo_t *))own_nvml("nvmlDeviceGetComputeRunningProcesses_v3");
	if (!procs || !own_device(gpu_uuid, &d))
		return -ENOENT;
	nvmlProcessInfo_t p[256];
	unsigned n = 256;
	if (procs(d, &n, p) != NVML_SUCCESS)
		return -EIO;
	for (unsigned i = 0; i < n; i++)
		if (p[i].pid == (unsigned)getpid()) {
			*bytes = p[i].usedGpuMemory;
			return 0;
		}
	return -ENOENT;
}

uint64_t gs__nvml_total_bytes(const char *gpu_uuid)
{
	nvmlDevice_t d;
	nvmlMemory_t m;
	nvmlReturn_t (*info)(nvmlDevice_t, nvmlMemory_t *) =
		(nvmlReturn_t(*)(nvmlDevice_t, nvmlMemory_t *))own_nvml("nvmlDeviceGetMemoryInfo");
	if (!info || !own_device(gpu_uuid, &d) || info(d, &m) != NVML_SUCCESS)
		return 0;
	return m.total;
}

unsigned gs__nvml_sm_count(const char *gpu_uuid)
{
	nvmlDevice_t d;
	nvmlDeviceAttributes_t a;
	nvmlReturn_t (*attrs)(nvmlDevice_t, nvmlDeviceAttributes_t *) =
		(nvmlReturn_t(*)(nvmlDevice_t, nvmlDeviceAttributes_t *))own_nvml("nvmlDeviceGetAttributes_v2");
	if (!own_device(gpu_uuid, &d))
		return 0;
	if (attrs && attrs(d, &a) == NVML_SUCCESS && a.multiprocessorCount)
		return a.multiprocessorCount;
	/* a whole GPU (not a MIG device) has no attributes on a real driver:
	 * its model's count, by the name NVML gives */
	nvmlReturn_t (*name)(nvmlDevice_t, char *, unsigned) =
		(nvmlReturn_t(*)(nvmlDevice_t, char *, unsigned))own_nvml("nvmlDeviceGetName");
	char text[96];
	const struct gs_gpu_model *m = name && name(d, text, sizeof text) == NVML_SUCCESS ? gs_model_by_name(text) : NULL;
	return m ? m->sm_count : 0;
}

void *gs__nvml_wrap(const char *name, void *real)
{
	if (strcmp(name, "nvmlDeviceGetAttributes_v2") == 0) {
		real_attrs = (nvmlReturn_t(*)(nvmlDevice_t, nvmlDeviceAttributes_t *))real;
		return (void *)nvmlDeviceGetAttributes_v2;
	}
	if (strcmp(name, "nvmlDeviceGetComputeRunningProcesses_v3") == 0) {
		real_procs = (nvmlReturn_t(*)(nvmlDevice_t, unsigned *, nvmlProcessInfo_t *))real;
		return (void *)nvmlDeviceGetComputeRunningProcesses_v3;
	}
	if (strcmp(name, "nvmlDeviceGetMemoryInfo") == 0) {
		real_mem = (nvmlReturn_t(*)(nvmlDevice_t, nvmlMemory_t *))real;
		return (void *)nvmlDeviceGetMemoryInfo;
	}
	if (strcmp(name, "nvmlDeviceGetMemoryInfo_v2") == 0) {
		real_mem2 = (nvmlReturn_t(*)(nvmlDevice_t, nvmlMemory_v2_t *))real;
		return (void *)nvmlDeviceGetMemoryInfo_v2;
	}
	return real;
}
