/* gpus.c: NVML and the GPUs (see gpus.h). */
#include "gpus.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct gs_nvml gs_nvml;

/* The simulated NVML beside the running program: build/bin ->
 * build/lib/gpushare-sim, <prefix>/bin -> <prefix>/lib/gpushare/sim, or
 * GPUSHARE_SIM_LIB_DIR. */
static void *open_sim_nvml(void)
{
	char path[PATH_MAX];
	const char *dir = getenv("GPUSHARE_SIM_LIB_DIR");
	if (dir && *dir) {
		snprintf(path, sizeof path, "%s/libnvidia-ml.so.1", dir);
		return dlopen(path, RTLD_NOW | RTLD_LOCAL);
	}
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		return NULL;
	exe[n] = '\0';
	char *slash = strrchr(exe, '/');
	if (!slash)
		return NULL;
	*slash = '\0';
	const char *rel[] = { "../lib/gpushare-sim", "../lib/gpushare/sim" };
	for (size_t i = 0; i < GS_ARRAY_LEN(rel); i++) {
		snprintf(path, sizeof path, "%s/%s/libnvidia-ml.so.1", exe, rel[i]);
		void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		if (h)
			return h;
	}
	return NULL;
}

static int bind_nvml(void *h)
{
	gs_nvml.handle = h;
	gs_nvml.simulated = dlsym(h, "gpushare_simulated") != NULL;
#define GS_NVML_BIND(name, params) gs_nvml.name = (nvmlReturn_t(*) params)dlsym(h, #name);
	GS_NVML_FUNCS(GS_NVML_BIND)
#undef GS_NVML_BIND
	gs_nvml.nvmlErrorString = (const char *(*)(nvmlReturn_t))dlsym(h, "nvmlErrorString");
	if (!gs_nvml.nvmlInit_v2 || !gs_nvml.nvmlDeviceGetCount_v2 || !gs_nvml.nvmlDeviceGetHandleByIndex_v2 ||
	    !gs_nvml.nvmlErrorString)
		return -ENOSYS;
	return gs_nvml.nvmlInit_v2() == NVML_SUCCESS ? 0 : -ENODEV;
}

int gs_nvml_load(char *err, size_t errlen)
{
	static int loaded = 1;
	if (loaded <= 0)
		return loaded;
	const char *sim = getenv("GPUSHARE_SIMULATE");
	if (!sim || !*sim) {
		void *h = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
		if (h && bind_nvml(h) == 0)
			return loaded = 0;
		if (h)
			dlclose(h);
	}
	void *h = open_sim_nvml();
	if (!h) {
		loaded = gs_fail(err, errlen, -ENOENT,
				 "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver, "
				 "and gpushare's simulated GPU library was not found (%s).",
				 dlerror());
		return loaded;
	}
	if ((loaded = bind_nvml(h)))
		gs_fail(err, errlen, loaded, "%s: the simulated NVML failed to start", program_invocation_short_name);
	return loaded;
}

int gs_gpus_model(nvmlDevice_t dev, const char *name, struct gs_gpu_model *out)
{
	const struct gs_gpu_model *m = gs_model_by_name(name);
	if (m) {
		*out = *m;
		return gs_model_apply_slice_order(out) ? -EINVAL : 0;
	}
	/* a GPU gpushare has no table for: custom sizes only */
	nvmlMemory_t mem = { 0 };
	if (gs_nvml.nvmlDeviceGetMemoryInfo)
		gs_nvml.nvmlDeviceGetMemoryInfo(dev, &mem);
	*out = (struct gs_gpu_model){ .key = "unknown", .name = name, .memory_mib = (uint32_t)(mem.total >> 20) };
	nvmlDeviceAttributes_t a;
	memset(&a, 0, sizeof a);
	if (gs_nvml.nvmlDeviceGetAttributes_v2 && gs_nvml.nvmlDeviceGetAttributes_v2(dev, &a) == NVML_SUCCESS)
		out->sm_count = a.multiprocessorCount;
	const char *sms = getenv("GPUSHARE_GPU_SMS");
	unsigned long long v;
	if (sms && gs_parse_uint(sms, 100000, &v) == 0)
		out->sm_count = (unsigned)v;
	return 0;
}

int gs_gpus_discover(struct gs_slice_gpu *out, size_t max, size_t *n, char *err, size_t errlen)
{
	*n = 0;
	int rc = gs_nvml_load(err, errlen);
	if (rc)
		return rc;
	unsigned count = 0;
	gs_nvml.nvmlDeviceGetCount_v2(&count);
	for (unsigned i = 0; i < count && *n < max; i++) {
		struct gs_slice_gpu *g = &out[*n];
		nvmlDevice_t dev;
		memset(g, 0, sizeof *g);
		if (gs_nvml.nvmlDeviceGetHandleByIndex_v2(i, &dev) ||
		    gs_nvml.nvmlDeviceGetUUID(dev, g->uuid, sizeof g->uuid) ||
		    gs_nvml.nvmlDeviceGetName(dev, g->name, sizeof g->name))
			continue;
		g->index = i;
		nvmlPciInfo_t pci;
		bool have_pci = gs_nvml.nvmlDeviceGetPciInfo_v3 && gs_nvml.nvmlDeviceGetPciInfo_v3(dev, &pci) == 0;
		if (have_pci)
			snprintf(g->bus, sizeof g->bus, "%s", pci.busId);
		/* the model's name points into g: g lives as long as its model */
		if ((rc = gs_gpus_model(dev, g->name, &g->model)))
			return gs_fail(err, errlen, rc, "GPUSHARE_SLICE_ORDER must be identity or swapped.");
		if (have_pci && pci.pciDeviceId)
			g->model.pci_id = pci.pciDeviceId; /* the board's own, where a model guessed */
		(*n)++;
	}
	return 0;
}
