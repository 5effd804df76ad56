/* backend-hw.c: NVIDIA's own MIG through NVML, for GPUs whose MIG mode is
 * already on. gpushare-smi never switches a GPU's hardware MIG mode. */
#include "smi.h"

#include <string.h>

#define N (&gs_nvml)

static int hw_set_mig(struct smi_gpu *g, bool on)
{
	(void)g;
	(void)on;
	return NVML_ERROR_NOT_SUPPORTED;
}

static int hw_gi_remaining(struct smi_gpu *g, const struct gs_gi_profile *p, unsigned *count)
{
	return N->nvmlDeviceGetGpuInstanceRemainingCapacity(g->dev, p->id, count);
}

static int hw_gi_list(struct smi_gpu *g, struct smi_gi_view *out, size_t max, size_t *n)
{
	*n = 0;
	for (size_t i = 0; i < g->model.n_gi; i++) {
		nvmlGpuInstance_t gis[GS_MIG_MAX_GI];
		unsigned cnt = GS_MIG_MAX_GI;
		int rc = N->nvmlDeviceGetGpuInstances(g->dev, g->model.gi[i].id, gis, &cnt);
		if (rc)
			return rc;
		for (unsigned k = 0; k < cnt && *n < max; k++) {
			nvmlGpuInstanceInfo_t info;
			if ((rc = N->nvmlGpuInstanceGetInfo(gis[k], &info)))
				return rc;
			struct smi_gi_view *v = &out[(*n)++];
			*v = (struct smi_gi_view){ info.id, (int)info.profileId, info.placement.start,
						   info.placement.size, "" };
			snprintf(v->name, sizeof v->name, "%s", g->model.gi[i].name);
		}
	}
	return NVML_SUCCESS;
}

static int hw_gi_create(struct smi_gpu *g, const struct smi_gi_request *r, unsigned *id)
{
	if (!r->profile)
		return NVML_ERROR_NOT_SUPPORTED; /* custom sizes are soft slices only */
	nvmlGpuInstance_t gi;
	int rc;
	if (r->start >= 0) {
		nvmlGpuInstancePlacement_t pl = { (unsigned)r->start, r->profile->size };
		rc = N->nvmlDeviceCreateGpuInstanceWithPlacement(g->dev, r->profile->id, &pl, &gi);
	} else {
		rc = N->nvmlDeviceCreateGpuInstance(g->dev, r->profile->id, &gi);
	}
	nvmlGpuInstanceInfo_t info;
	if (rc == NVML_SUCCESS && (rc = N->nvmlGpuInstanceGetInfo(gi, &info)) == NVML_SUCCESS)
		*id = info.id;
	return rc;
}

static int hw_gi_destroy(struct smi_gpu *g, unsigned id)
{
	nvmlGpuInstance_t gi;
	int rc = N->nvmlDeviceGetGpuInstanceById(g->dev, id, &gi);
	return rc ? rc : N->nvmlGpuInstanceDestroy(gi);
}

static int hw_ci_profiles(struct smi_gpu *g, unsigned gi_id, struct gs_ci_profile *out, size_t max,
			  size_t *n)
{
	nvmlGpuInstance_t gi;
	int rc = N->nvmlDeviceGetGpuInstanceById(g->dev, gi_id, &gi);
	if (rc)
		return rc;
	*n = 0;
	unsigned biggest = 0;
	for (unsigned p = 0; p < 9 && *n < max; p++) {
		nvmlComputeInstanceProfileInfo_v2_t info;
		memset(&info, 0, sizeof info);
		info.version = nvmlComputeInstanceProfileInfo_v2;
		if (N->nvmlGpuInstanceGetComputeInstanceProfileInfoV(gi, p, NVML_COMPUTE_INSTANCE_ENGINE_PROFILE_SHARED,
								      &info))
			continue;
		struct gs_ci_profile *cp = &out[(*n)++];
		*cp = (struct gs_ci_profile){ .id = info.id, .c = info.sliceCount,
					      .max_instances = info.instanceCount,
					      .sm = info.multiprocessorCount };
		snprintf(cp->name, sizeof cp->name, "%s",
			 strncmp(info.name, "MIG ", 4) == 0 ? info.name + 4 : info.name);
		if (info.sliceCount > biggest)
			biggest = info.sliceCount;
	}
	/* NVML does not flag the default; nvidia-smi marks the whole-GI one */
	for (size_t i = 0; i < *n; i++)
		out[i].is_default = out[i].c == biggest;
	return NVML_SUCCESS;
}

static int hw_ci_remaining(struct smi_gpu *g, unsigned gi_id, unsigned profile, unsigned *count)
{
	nvmlGpuInstance_t gi;
	int rc = N->nvmlDeviceGetGpuInstanceById(g->dev, gi_id, &gi);
	return rc ? rc : N->nvmlGpuInstanceGetComputeInstanceRemainingCapacity(gi, profile, count);
}

static void mig_uuid(struct smi_gpu *g, unsigned gi, unsigned ci, char *out, size_t len)
{
	unsigned max = 0;
	out[0] = '\0';
	if (N->nvmlDeviceGetMaxMigDeviceCount(g->dev, &max))
		return;
	for (unsigned i = 0; i < max; i++) {
		nvmlDevice_t m;
		unsigned a, b;
		if (N->nvmlDeviceGetMigDeviceHandleByIndex(g->dev, i, &m))
			continue;
		if (!N->nvmlDeviceGetGpuInstanceId(m, &a) && !N->nvmlDeviceGetComputeInstanceId(m, &b) &&
		    a == gi && b == ci) {
			N->nvmlDeviceGetUUID(m, out, (unsigned)len);
			return;
		}
	}
}

static int hw_ci_list(struct smi_gpu *g, struct smi_ci_view *out, size_t max, size_t *n)
{
	struct smi_gi_view gis[GS_MIG_MAX_GI];
	size_t ngi;
	int rc = hw_gi_list(g, gis, GS_MIG_MAX_GI, &ngi);
	*n = 0;
	for (size_t i = 0; rc == NVML_SUCCESS && i < ngi; i++) {
		nvmlGpuInstance_t gi;
		struct gs_ci_profile cps[9];
		size_t np;
		if ((rc = N->nvmlDeviceGetGpuInstanceById(g->dev, gis[i].id, &gi)) ||
		    (rc = hw_ci_profiles(g, gis[i].id, cps, 9, &np)))
			break;
		for (size_t p = 0; p < np; p++) {
			nvmlComputeInstance_t cis[8];
			unsigned cnt = 8;
			if (N->nvmlGpuInstanceGetComputeInstances(gi, cps[p].id, cis, &cnt))
				continue;
			for (unsigned k = 0; k < cnt && *n < max; k++) {
				nvmlComputeInstanceInfo_t info;
				if (N->nvmlComputeInstanceGetInfo_v2(cis[k], &info))
					continue;
				struct smi_ci_view *v = &out[(*n)++];
				*v = (struct smi_ci_view){ gis[i].id, info.id, info.profileId, info.placement.start,
							   info.placement.size, cps[p].sm, "", "" };
				snprintf(v->name, sizeof v->name, "%s", cps[p].name);
				mig_uuid(g, v->gi, v->id, v->uuid, sizeof v->uuid);
			}
		}
	}
	return rc;
}

static int hw_ci_create(struct smi_gpu *g, unsigned gi_id, unsigned profile, unsigned *ci)
{
	nvmlGpuInstance_t gi;
	nvmlComputeInstance_t h;
	nvmlComputeInstanceInfo_t info;
	int rc = N->nvmlDeviceGetGpuInstanceById(g->dev, gi_id, &gi);
	if (!rc)
		rc = N->nvmlGpuInstanceCreateComputeInstance(gi, profile, &h);
	if (!rc && !(rc = N->nvmlComputeInstanceGetInfo_v2(h, &info)))
		*ci = info.id;
	return rc;
}

static int hw_ci_destroy(struct smi_gpu *g, unsigned gi_id, unsigned ci)
{
	nvmlGpuInstance_t gi;
	int rc = N->nvmlDeviceGetGpuInstanceById(g->dev, gi_id, &gi);
	if (rc)
		return rc;
	for (unsigned p = 0; p < 9; p++) {
		nvmlComputeInstance_t cis[8];
		unsigned cnt = 8;
		if (N->nvmlGpuInstanceGetComputeInstances(gi, p, cis, &cnt))
			continue;
		for (unsigned k = 0; k < cnt; k++) {
			nvmlComputeInstanceInfo_t info;
			if (!N->nvmlComputeInstanceGetInfo_v2(cis[k], &info) && info.id == ci)
				return N->nvmlComputeInstanceDestroy(cis[k]);
		}
	}
	return NVML_ERROR_NOT_FOUND;
}

static uint64_t hw_gi_used_bytes(struct smi_gpu *g, unsigned gi_id)
{
	unsigned max = 0;
	if (N->nvmlDeviceGetMaxMigDeviceCount(g->dev, &max))
		return 0;
	for (unsigned i = 0; i < max; i++) {
		nvmlDevice_t m;
		unsigned a;
		nvmlMemory_t mem;
		if (!N->nvmlDeviceGetMigDeviceHandleByIndex(g->dev, i, &m) &&
		    !N->nvmlDeviceGetGpuInstanceId(m, &a) && a == gi_id &&
		    !N->nvmlDeviceGetMemoryInfo(m, &mem))
			return mem.used;
	}
	return 0;
}

const struct smi_backend smi_backend_hw = {
	.name = "hw",
	.set_mig = hw_set_mig,
	.gi_remaining = hw_gi_remaining,
	.gi_list = hw_gi_list,
	.gi_create = hw_gi_create,
	.gi_destroy = hw_gi_destroy,
	.ci_profiles = hw_ci_profiles,
	.ci_remaining = hw_ci_remaining,
	.ci_list = hw_ci_list,
	.ci_create = hw_ci_create,
	.ci_destroy = hw_ci_destroy,
	.gi_used_bytes = hw_gi_used_bytes,
};
