/* gpu.c: finding NVML (NVIDIA's or the simulated one), the GPUs, and which
 * MIG backend serves each; helpers shared by the commands. */
#include "smi.h"
#include "store.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

static int load_nvml(FILE *err)
{
	char why[512];
	int rc = gs_nvml_load(why, sizeof why);
	if (rc)
		fprintf(err, "%s\n", why);
	return rc;
}

const char *smi_strerror(int rc)
{
	return gs_nvml.nvmlErrorString ? gs_nvml.nvmlErrorString(rc) : gs_mig_strerror(rc);
}

void smi_hint(struct smi_ctx *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fflush(c->out);
	fputs("gpushare-smi: ", c->err);
	vfprintf(c->err, fmt, ap);
	fputc('\n', c->err);
	va_end(ap);
}

int smi_exit_code(int rc)
{
	switch (rc) {
	case NVML_SUCCESS: return SMI_OK;
	case NVML_ERROR_INVALID_ARGUMENT: return SMI_EINVAL;
	case NVML_ERROR_NOT_SUPPORTED: return SMI_ENOTSUP;
	case NVML_ERROR_NO_PERMISSION: return SMI_EPERM;
	case NVML_ERROR_NOT_FOUND: return SMI_ENOTFOUND;
	default: return SMI_EOTHER;
	}
}

/* Builds the hw backend's model from what NVML reports of the profiles. */
static void model_from_nvml(struct smi_gpu *g)
{
	const struct gs_gpu_model *known = gs_model_by_name(g->name);
	if (known)
		g->model = *known;
	g->model.n_gi = 0;
	g->model.gi = g->profiles;
	if (!gs_nvml.nvmlDeviceGetGpuInstanceProfileInfoV)
		return;
	for (unsigned e = 0; e < 0x12 && g->model.n_gi < GS_ARRAY_LEN(g->profiles); e++) {
		nvmlGpuInstanceProfileInfo_v2_t info;
		memset(&info, 0, sizeof info);
		info.version = nvmlGpuInstanceProfileInfo_v2;
		if (gs_nvml.nvmlDeviceGetGpuInstanceProfileInfoV(g->dev, e, &info) != NVML_SUCCESS)
			continue;
		size_t k = g->model.n_gi++;
		struct gs_gi_profile *p = &g->profiles[k];
		const char *nm = strncmp(info.name, "MIG ", 4) == 0 ? info.name + 4 : info.name;
		snprintf(g->profile_names[k], GS_PROFILE_NAME_MAX, "%s", nm);
		const struct gs_gi_profile *kp = known ? gs_model_gi_by_id(known, info.id) : NULL;
		*p = (struct gs_gi_profile){
			.id = info.id, .nvml_enum = e, .name = g->profile_names[k], .g = info.sliceCount,
			.max_instances = info.instanceCount, .memory_mib = (uint32_t)info.memorySizeMB,
			.sm = info.multiprocessorCount, .ce = info.copyEngineCount, .dec = info.decoderCount,
			.enc = info.encoderCount, .jpeg = info.jpegCount, .ofa = info.ofaCount,
			.ci_full_id = kp ? kp->ci_full_id : 0 };
		nvmlGpuInstancePlacement_t pl[8];
		unsigned n = 8;
		if (gs_nvml.nvmlDeviceGetGpuInstancePossiblePlacements_v2 &&
		    gs_nvml.nvmlDeviceGetGpuInstancePossiblePlacements_v2(g->dev, info.id, pl, &n) == 0)
			for (unsigned i = 0; i < n; i++) {
				p->starts |= (uint8_t)(1u << pl[i].start);
				p->size = pl[i].size;
			}
	}
	/* nvidia-smi lists profiles in this order whatever their enum order */
	static const unsigned order[] = { 19, 20, 15, 14, 9, 5, 0 };
	struct gs_gi_profile sorted[16];
	size_t n = 0;
	for (size_t o = 0; o < GS_ARRAY_LEN(order); o++)
		for (size_t i = 0; i < g->model.n_gi; i++)
			if (g->profiles[i].id == order[o])
				sorted[n++] = g->profiles[i];
	for (size_t i = 0; i < g->model.n_gi; i++) {
		bool listed = false;
		for (size_t o = 0; o < GS_ARRAY_LEN(order); o++)
			listed |= g->profiles[i].id == order[o];
		if (!listed)
			sorted[n++] = g->profiles[i];
	}
	memcpy(g->profiles, sorted, n * sizeof sorted[0]);
}

int smi_discover(struct smi_ctx *c)
{
	if (load_nvml(c->err))
		return SMI_ENVML;
	unsigned count = 0;
	gs_nvml.nvmlDeviceGetCount_v2(&count);
	if (count == 0) {
		fprintf(c->err, "No devices were found\n");
		return SMI_ENOTFOUND;
	}
	if (count > 64)
		count = 64;
	c->gpus = calloc(count, sizeof *c->gpus);
	if (!c->gpus)
		return SMI_EOTHER;
	c->n_gpu = count;
	if (gs_state_dir(c->state_dir, sizeof c->state_dir)) {
		fprintf(c->err, "gpushare-smi: state directory path too long\n");
		return SMI_EINVAL;
	}
	struct gs_store *st = malloc(sizeof *st);
	char why[512];
	if (!st)
		return SMI_EOTHER;
	if (gs_store_load(c->state_dir, st, why, sizeof why)) {
		fprintf(c->err, "gpushare-smi: %s\n", why);
		free(st);
		return SMI_EOTHER;
	}
	for (unsigned i = 0; i < count; i++) {
		struct smi_gpu *g = &c->gpus[i];
		g->index = i;
		gs_nvml.nvmlDeviceGetHandleByIndex_v2(i, &g->dev);
		gs_nvml.nvmlDeviceGetName(g->dev, g->name, sizeof g->name);
		gs_nvml.nvmlDeviceGetUUID(g->dev, g->uuid, sizeof g->uuid);
		nvmlPciInfo_t pci;
		if (gs_nvml.nvmlDeviceGetPciInfo_v3 && gs_nvml.nvmlDeviceGetPciInfo_v3(g->dev, &pci) == 0)
			snprintf(g->bus_id, sizeof g->bus_id, "%s", pci.busId);
		unsigned cur = 0, pend = 0;
		if (gs_nvml.nvmlDeviceGetMigMode &&
		    gs_nvml.nvmlDeviceGetMigMode(g->dev, &cur, &pend) == NVML_SUCCESS) {
			g->hw_mig_capable = true;
			g->hw_mig = cur == 1;
		}
		const struct gs_store_gpu *sg = gs_store_gpu(st, g->uuid, false);
		g->soft_mig = sg && sg->mig;
		if (g->hw_mig) {
			g->backend = &smi_backend_hw;
			model_from_nvml(g);
		} else {
			g->backend = &smi_backend_soft;
			if (gs_gpus_model(g->dev, g->name, &g->model)) {
				fprintf(c->err, "GPUSHARE_SLICE_ORDER must be identity or swapped.\n");
				free(st);
				return SMI_EINVAL;
			}
		}
	}
	free(st);
	return SMI_OK;
}

void smi_release(struct smi_ctx *c)
{
	free(c->gpus);
	c->gpus = NULL;
	if (gs_nvml.handle && gs_nvml.nvmlShutdown)
		gs_nvml.nvmlShutdown();
}

int smi_parse_ids(const char *s, unsigned *ids, size_t max, size_t *n)
{
	char buf[256];
	*n = 0;
	if (snprintf(buf, sizeof buf, "%s", s) >= (int)sizeof buf)
		return -1;
	char *save = NULL;
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		unsigned long long v;
		if (*n == max || gs_parse_uint(t, 1000, &v))
			return -1;
		ids[(*n)++] = (unsigned)v;
	}
	return *n ? 0 : -1;
}

static int profile_rank(const struct smi_gpu *g, int profile_id)
{
	for (size_t i = 0; i < g->model.n_gi; i++)
		if ((int)g->model.gi[i].id == profile_id)
			return (int)i;
	return 1000;
}

static const struct smi_gpu *sort_gpu;

static int cmp_gi_view(const void *a, const void *b)
{
	const struct smi_gi_view *x = a, *y = b;
	int rx = profile_rank(sort_gpu, x->profile_id), ry = profile_rank(sort_gpu, y->profile_id);
	return rx != ry ? rx - ry : (int)x->id - (int)y->id;
}

int smi_sorted_gis(struct smi_gpu *g, struct smi_gi_view *out, size_t max, size_t *n)
{
	int rc = g->backend->gi_list(g, out, max, n);
	if (rc)
		return rc;
	sort_gpu = g;
	qsort(out, *n, sizeof *out, cmp_gi_view);
	return 0;
}

int smi_sorted_cis(struct smi_gpu *g, struct smi_ci_view *out, size_t max, size_t *n)
{
	struct smi_gi_view gis[GS_MIG_MAX_GI];
	size_t ngi;
	struct smi_ci_view all[GS_MIG_MAX_CI];
	size_t nall;
	int rc = smi_sorted_gis(g, gis, GS_MIG_MAX_GI, &ngi);
	if (!rc)
		rc = g->backend->ci_list(g, all, GS_MIG_MAX_CI, &nall);
	if (rc)
		return rc;
	*n = 0;
	for (size_t i = 0; i < ngi; i++)
		for (unsigned prof = 0; prof < 16; prof++)
			for (unsigned id = 0; id < 64; id++)
				for (size_t k = 0; k < nall; k++)
					if (all[k].gi == gis[i].id && all[k].profile_id == prof &&
					    all[k].id == id && *n < max)
						out[(*n)++] = all[k];
	return 0;
}

bool smi_listed(const unsigned *ids, size_t n, unsigned id)
{
	for (size_t i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

int smi_instance_filters(struct smi_ctx *c, unsigned *gis, size_t *ngi, unsigned *cis, size_t *nci)
{
	*ngi = 0;
	if (nci)
		*nci = 0;
	if (c->gi_ids && smi_parse_ids(c->gi_ids, gis, GS_MIG_MAX_GI, ngi)) {
		fprintf(c->err, "Invalid GPU instance ID list \"%s\".\n", c->gi_ids);
		return SMI_EINVAL;
	}
	if (cis && c->ci_ids && smi_parse_ids(c->ci_ids, cis, GS_MIG_MAX_CI, nci)) {
		fprintf(c->err, "Invalid compute instance ID list \"%s\".\n", c->ci_ids);
		return SMI_EINVAL;
	}
	return SMI_OK;
}

int smi_destroyed(struct smi_ctx *c, bool any, int last, int exit_code, const char *what)
{
	if (!any) {
		fprintf(c->err, "No %s found: Not Found\n", what);
		return SMI_ENOTFOUND;
	}
	if (last)
		fprintf(c->err, "Failed to destroy %s: %s\n", what, smi_strerror(last));
	return exit_code;
}

static int cmp_mig_device(const void *a, const void *b)
{
	const struct smi_ci_view *x = a, *y = b;
	return x->gi != y->gi ? (int)x->gi - (int)y->gi : (int)x->id - (int)y->id;
}

int smi_mig_devices(struct smi_gpu *g, struct smi_ci_view *out, size_t max, size_t *n)
{
	int rc = g->backend->ci_list(g, out, max, n);
	if (rc == 0)
		qsort(out, *n, sizeof *out, cmp_mig_device);
	return rc;
}
