/* backend-soft.c: gpushare's own MIG-style slices, kept in the slice store.
 * Same placement and IDs as NVIDIA's (the shared engine), on any GPU, plus
 * custom sizes; each change is one locked read-modify-write of the store. */
#include "ledger.h"
#include "smi.h"
#include "store.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char state_dir[PATH_MAX - 128];

/* Loads the store; with lockfd, under the store lock kept for save(). The
 * caller frees *st. */
static int load(struct smi_gpu *g, struct gs_store **st, struct gs_store_gpu **sg, int *lockfd)
{
	char why[512];
	if (!state_dir[0] && gs_state_dir(state_dir, sizeof state_dir))
		return NVML_ERROR_INVALID_ARGUMENT;
	*st = malloc(sizeof **st);
	if (!*st)
		return NVML_ERROR_UNKNOWN;
	if (lockfd && (*lockfd = gs_store_lock(state_dir)) < 0) {
		fprintf(stderr, "gpushare-smi: cannot lock %s: %s\n", state_dir, strerror(-*lockfd));
		return NVML_ERROR_NO_PERMISSION;
	}
	if (gs_store_load(state_dir, *st, why, sizeof why)) {
		fprintf(stderr, "gpushare-smi: %s\n", why);
		if (lockfd)
			close(*lockfd);
		return NVML_ERROR_UNKNOWN;
	}
	*sg = gs_store_gpu(*st, g->uuid, lockfd != NULL);
	if (!*sg) {
		static struct gs_store_gpu empty;
		memset(&empty, 0, sizeof empty);
		*sg = &empty;
		if (lockfd) {
			close(*lockfd);
			return NVML_ERROR_INSUFFICIENT_RESOURCES;
		}
	}
	return NVML_SUCCESS;
}

static int save(struct gs_store *st, int lockfd, int rc)
{
	if (rc == NVML_SUCCESS) {
		int e = gs_store_save(state_dir, st);
		if (e) {
			fprintf(stderr, "gpushare-smi: cannot write %s/slices: %s\n", state_dir, strerror(-e));
			rc = NVML_ERROR_NO_PERMISSION;
		}
	}
	close(lockfd);
	return rc;
}

static int soft_set_mig(struct smi_gpu *g, bool on)
{
	struct gs_store *st;
	struct gs_store_gpu *sg;
	int fd, rc = load(g, &st, &sg, &fd);
	if (rc == NVML_SUCCESS) {
		if (!on && sg->layout.n_gi)
			rc = NVML_ERROR_IN_USE;
		else
			sg->mig = on;
		rc = save(st, fd, rc);
	}
	free(st);
	return rc;
}

static int soft_gi_remaining(struct smi_gpu *g, const struct gs_gi_profile *p, unsigned *count)
{
	struct gs_store *st;
	struct gs_store_gpu *sg;
	int rc = load(g, &st, &sg, NULL);
	if (rc == NVML_SUCCESS)
		*count = gs_mig_gi_remaining(&g->model, &sg->layout, p);
	free(st);
	return rc;
}

static int soft_gi_list(struct smi_gpu *g, struct smi_gi_view *out, size_t max, size_t *n)
{
	struct gs_store *st;
	struct gs_store_gpu *sg;
	int rc = load(g, &st, &sg, NULL);
	*n = 0;
	for (size_t i = 0; rc == NVML_SUCCESS && i < sg->layout.n_gi && *n < max; i++) {
		const struct gs_mig_gi *gi = &sg->layout.gi[i];
		struct smi_gi_view *v = &out[(*n)++];
		*v = (struct smi_gi_view){ gi->id, gi->profile_id, gi->start, gi->size, "" };
		gs_mig_gi_name(&g->model, gi, v->name, sizeof v->name);
	}
	free(st);
	return rc;
}

static int soft_gi_create(struct smi_gpu *g, const struct smi_gi_request *r, unsigned *id)
{
	struct gs_store *st;
	struct gs_store_gpu *sg;
	int fd, rc = load(g, &st, &sg, &fd);
	if (rc) {
		free(st);
		return rc;
	}
	if (!sg->mig)
		rc = NVML_ERROR_NOT_SUPPORTED;
	else if (r->profile)
		rc = gs_mig_gi_create(&g->model, &sg->layout, r->profile, r->start, id);
	else
		rc = gs_mig_gi_create_custom(&g->model, &sg->layout, r->sm, r->memory_mib, r->overcommit, id);
	rc = save(st, fd, rc);
	free(st);
	return rc;
}

static int soft_gi_destroy(struct smi_gpu *g, unsigned id)
{
	struct gs_store *st;
	struct gs_store_gpu *sg;
	int fd, rc = load(g, &st, &sg, &fd);
	if (rc == NVML_SUCCESS)
		rc = save(st, fd, sg->mig ? gs_mig_gi_destroy(&sg->layout, id) : NVML_ERROR_NOT_SUPPORTED);
	free(st);
	return rc;
}

static int soft_ci_profiles(struct smi_gpu *g, unsigned gi, struct gs_ci_profile *out, size_t max,
			    size_t *n)
{
	struct gs_store *st;
	struct gs_store_gpu *sg;
	int rc = load(g, &st, &sg, NULL);
	if (rc == NVML_SUCCESS) {
		const struct gs_mig_gi *p = gs_mig_gi_find(&sg->layout, gi);
		if (p)
			*n = gs_mig_ci_profiles(&g->model, p, out, max);
		else
			rc = NVML_ERROR_NOT_FOUND;
	}
	free(st);
	return rc;
}

static int soft_ci_remaining(struct smi_gpu *g, unsigned gi, unsigned profile, unsigned *count)
{
	struct gs_store *st;
	struct gs_store_gpu *sg;
	int rc = load(g, &st, &sg, NULL);
	if (rc == NVML_SUCCESS)
		*count = gs_mig_ci_remaining(&g->model, &sg->layout, gi, profile);
	free(st);
	return rc;
}

static int soft_ci_list(struct smi_gpu *g, struct smi_ci_view *out, size_t max, size_t *n)
{
	struct gs_store *st;
	struct gs_store_gpu *sg;
	int rc = load(g, &st, &sg, NULL);
	*n = 0;
	for (size_t i = 0; rc == NVML_SUCCESS && i < sg->layout.n_ci && *n < max; i++) {
		const struct gs_mig_ci *ci = &sg->layout.ci[i];
		struct smi_ci_view *v = &out[(*n)++];
		*v = (struct smi_ci_view){ ci->gi, ci->id, ci->profile_id, ci->start, ci->size, ci->sm,
					   "", "" };
		struct gs_ci_profile cps[8];
		size_t np = gs_mig_ci_profiles(&g->model, gs_mig_gi_find(&sg->layout, ci->gi), cps, 8);
		for (size_t k = 0; k < np; k++)
			if (cps[k].id == ci->profile_id)
				snprintf(v->name, sizeof v->name, "%s", cps[k].name);
		gs_store_ci_uuid(g->uuid, ci, v->uuid);
	}
	free(st);
	return rc;
}

static int soft_ci_create(struct smi_gpu *g, unsigned gi, unsigned profile, unsigned *ci)
{
	struct gs_store *st;
	struct gs_store_gpu *sg;
	int fd, rc = load(g, &st, &sg, &fd);
	if (rc == NVML_SUCCESS)
		rc = save(st, fd, gs_mig_ci_create(&g->model, &sg->layout, gi, profile, ci));
	free(st);
	return rc;
}

/* The memory ledger of a GPU instance, when any process has used it. */
static struct gs_ledger *gi_ledger(const char *gpu_uuid, const struct gs_mig_gi *gi)
{
	char path[PATH_MAX];
	struct gs_ledger *l = NULL;
	if (!gi || gs_store_ledger_path(state_dir, gpu_uuid, gi, path, sizeof path) || access(path, F_OK) ||
	    gs_ledger_open(path, 0, &l))
		return NULL;
	return l;
}

static int soft_ci_destroy(struct smi_gpu *g, unsigned gi, unsigned ci)
{
	struct gs_store *st;
	struct gs_store_gpu *sg;
	int fd, rc = load(g, &st, &sg, &fd);
	if (rc) {
		free(st);
		return rc;
	}
	if (gs_mig_ci_find(&sg->layout, gi, ci)) {
		/* a process still runs in the GPU instance: its slices stay */
		struct gs_ledger *l = gi_ledger(g->uuid, gs_mig_gi_find(&sg->layout, gi));
		struct gs_ledger_usage u;
		if (l && gs_ledger_usage(l, &u, 1))
			rc = NVML_ERROR_IN_USE;
		gs_ledger_close(l);
	}
	if (rc == NVML_SUCCESS)
		rc = gs_mig_ci_destroy(&sg->layout, gi, ci);
	rc = save(st, fd, rc);
	free(st);
	return rc;
}

static uint64_t soft_gi_used_bytes(struct smi_gpu *g, unsigned gi_id)
{
	struct gs_store *st;
	struct gs_store_gpu *sg;
	uint64_t used = 0;
	if (load(g, &st, &sg, NULL) == NVML_SUCCESS) {
		const struct gs_mig_gi *gi = gs_mig_gi_find(&sg->layout, gi_id);
		if (gi && smi_nvml.simulated) {
			/* the idle memory a simulated GI shows, as NVIDIA's driver does;
			 * on a real GPU a soft GI holds only what its processes allocate */
			const struct gs_gpu_model *m = &g->model;
			uint64_t slices = gi->size ? gi->size
				: m->memory_mib ? ((uint64_t)gi->memory_mib * 8 + m->memory_mib - 1) / m->memory_mib : 1;
			used = (uint64_t)m->gi_overhead_kib * slices << 10;
		}
		struct gs_ledger *l = gi_ledger(g->uuid, gi);
		if (l) {
			gs_ledger_reclaim(l);
			used += gs_ledger_used(l);
			gs_ledger_close(l);
		}
	}
	free(st);
	return used;
}

int smi_soft_processes(struct smi_gpu *g, struct smi_process *out, size_t max, size_t *n)
{
	struct gs_store *st;
	struct gs_store_gpu *sg;
	int rc = load(g, &st, &sg, NULL);
	*n = 0;
	for (size_t i = 0; rc == NVML_SUCCESS && i < sg->layout.n_gi; i++) {
		const struct gs_mig_gi *gi = &sg->layout.gi[i];
		struct gs_ledger *l = gi_ledger(g->uuid, gi);
		if (!l)
			continue;
		struct gs_ledger_usage u[64];
		size_t nu = gs_ledger_usage(l, u, 64);
		gs_ledger_close(l);
		int ci = -1, cis = 0;
		for (size_t k = 0; k < sg->layout.n_ci; k++)
			if (sg->layout.ci[k].gi == gi->id) {
				ci = (int)sg->layout.ci[k].id;
				cis++;
			}
		for (size_t q = 0; q < nu && *n < max; q++)
			out[(*n)++] = (struct smi_process){ gi->id, cis == 1 ? ci : -1, u[q].pid, u[q].bytes };
	}
	free(st);
	return rc;
}

const struct smi_backend smi_backend_soft = {
	.name = "soft",
	.set_mig = soft_set_mig,
	.gi_remaining = soft_gi_remaining,
	.gi_list = soft_gi_list,
	.gi_create = soft_gi_create,
	.gi_destroy = soft_gi_destroy,
	.ci_profiles = soft_ci_profiles,
	.ci_remaining = soft_ci_remaining,
	.ci_list = soft_ci_list,
	.ci_create = soft_ci_create,
	.ci_destroy = soft_ci_destroy,
	.gi_used_bytes = soft_gi_used_bytes,
};
