/* nvml.c: what NVML tells a program in a slice about its GPU's memory: the
 * slice's total, used and free (nvmlDeviceGetMemoryInfo and _v2), whether
 * the program links NVML or dlsym's it. */
#include "interposer.h"

#include <dlfcn.h>
#include <string.h>
#include <strings.h>

#define EXPORT __attribute__((visibility("default")))

static nvmlReturn_t (*real_mem)(nvmlDevice_t, nvmlMemory_t *);
static nvmlReturn_t (*real_mem2)(nvmlDevice_t, nvmlMemory_v2_t *);
static nvmlReturn_t (*real_uuid)(nvmlDevice_t, char *, unsigned);

static void *real_nvml(const char *name)
{
	void *h = dlopen("libnvidia-ml.so.1", RTLD_LAZY | RTLD_NOLOAD);
	return h ? gs__dlsym(h, name) : NULL;
}

static bool in_slice(nvmlDevice_t d)
{
	if (!gs__slice.memory_limited)
		return false;
	if (!gs__slice.gpu_uuid[0])
		return true;
	if (!real_uuid)
		real_uuid = (nvmlReturn_t(*)(nvmlDevice_t, char *, unsigned))real_nvml("nvmlDeviceGetUUID");
	char uuid[96];
	return real_uuid && real_uuid(d, uuid, sizeof uuid) == NVML_SUCCESS &&
	       strcasecmp(uuid, gs__slice.gpu_uuid) == 0;
}

static void slice_view(unsigned long long *total, unsigned long long *used, unsigned long long *free_b)
{
	gs_ledger_reclaim(gs__slice.ledger);
	uint64_t u = gs_ledger_used(gs__slice.ledger), limit = gs__slice.memory_limit;
	*total = limit;
	*used = u < limit ? u : limit;
	*free_b = limit - *used;
}

EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t d, nvmlMemory_t *m)
{
	gs__init();
	if (!real_mem)
		real_mem = (nvmlReturn_t(*)(nvmlDevice_t, nvmlMemory_t *))real_nvml("nvmlDeviceGetMemoryInfo");
	if (!real_mem)
		return NVML_ERROR_UNINITIALIZED;
	nvmlReturn_t rc = real_mem(d, m);
	if (rc == NVML_SUCCESS && in_slice(d))
		slice_view(&m->total, &m->used, &m->free);
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
	if (rc == NVML_SUCCESS && in_slice(d)) {
		slice_view(&m->total, &m->used, &m->free);
		m->reserved = 0;
	}
	return rc;
}

void *gs__nvml_wrap(const char *name, void *real)
{
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
