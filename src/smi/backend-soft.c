/* backend-soft.c: gpushare's own MIG-style slices, kept in the slice store.
 * Same placement and IDs as NVIDIA's (the shared engine), on any GPU, plus
 * custom sizes; every change is one transaction of the slice layer, which
 * also places the instance's SMs and refuses to remove one a program runs in. */
#include "ledger.h"
#include "slice.h"
#include "smi.h"
#include "smrun.h"
#include "store.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char state_dir[PATH_MAX - 128];

/* Loads the store for reading. The caller frees *st. */
static int load(struct smi_gpu *g, struct gs_store **st, struct gs_store_gpu **sg)
{
	char why[512];
	if (!state_dir[0] && gs_state_dir(state_dir, sizeof state_dir))
		return NVML_ERROR_INVALID_ARGUMENT;
	*st = malloc(sizeof **st);
	if (!*st)
		return NVML_ERROR_UNKNOWN;
	if (gs_store_load(state_dir, *st, why, sizeof why)) {
		fprintf(stderr, "gpushare-smi: %s\n", why);
		return NVML_ERROR_UNKNOWN;
	}
	*sg = gs_store_gpu(*st, g->uuid, false);
	if (!*sg) {
		static struct gs_store_gpu empty;
		memset(&empty, 0, sizeof empty);
		*sg = &empty;
	}
	return NVML_SUCCESS;
}

/* A change of one GPU's MIG layout: op runs in a slice-layer transaction
 * and answers with an NVML code; anything but success changes nothing. */
struct change {
	struct smi_gpu *g;
	int (*op)(struct change *c, struct gs_store_gpu *sg);
	const struct smi_gi_request *req;
	unsigned a, b, *out;
	bool on;
	int nvml;
};

static int run_op(struct gs_slice_txn *t, void *arg)
{
	struct change *c = arg;
	struct gs_store_gpu *sg = gs_store_gpu(t->st, c->g->uuid, true);
	c->nvml = sg ? c->op(c, sg) : NVML_ERROR_INSUFFICIENT_RESOURCES;
	return c->nvml == NVML_SUCCESS ? 0 : -EAGAIN;
}

static int edit(struct smi_gpu *g, struct change *c)
{
	char why[512];
	if (!state_dir[0] && gs_state_dir(state_dir, sizeof state_dir))
		return NVML_ERROR_INVALID_ARGUMENT;
	struct gs_slice_gpu sgpu = { .index = g->index, .model = g->model };
	snprintf(sgpu.uuid, sizeof sgpu.uuid, "%s", g->uuid);
	c->g = g;
	c->nvml = NVML_ERROR_UNKNOWN;
	int rc = gs_slice_edit(state_dir, &sgpu, 1, run_op, c, why, sizeof why);
	if (rc == 0 || rc == -EAGAIN)
		return c->nvml;
	fprintf(stderr, "gpushare-smi: %s\n", why);
	return rc == -EBUSY ? NVML_ERROR_IN_USE : rc == -EACCES || rc == -EPERM ? NVML_ERROR_NO_PERMISSION
									      : NVML_ERROR_UNKNOWN;
}

static int op_set_mig(struct change *c, struct gs_store_gpu *sg)
{
	if (!c->on && sg->layout.n_gi)
		return NVML_ERROR_IN_USE;
	sg->mig = c->on;
	return NVML_SUCCESS;
}

static int soft_set_mig(struct smi_gpu *g, bool on)
{
	struct change c = { .op = op_set_mig, .on = on };
	return edit(g, &c);
}

static int soft_gi_remaining(struct smi_gpu *g, const struct gs_gi_profile *p, unsigned *count)
{
	struct gs_store *st = NULL;
	struct gs_store_gpu *sg;
	int rc = load(g, &st, &sg);
	if (rc == NVML_SUCCESS)
		*count = gs_mig_gi_remaining(&g->model, &sg->layout, p);
	free(st);
	return rc;
}

static int soft_gi_free(struct smi_gpu *g, unsigned *sm, uint32_t *mib)
{
	struct gs_store *st = NULL;
	struct gs_store_gpu *sg;
	int rc = load(g, &st, &sg);
	if (rc == NVML_SUCCESS)
		gs_mig_free(&g->model, &sg->layout, sm, mib);
	free(st);
	return rc;
}

static int soft_gi_list(struct smi_gpu *g, struct smi_gi_view *out, size_t max, size_t *n)
{
	struct gs_store *st = NULL;
	struct gs_store_gpu *sg;
	int rc = load(g, &st, &sg);
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

static int op_gi_create(struct change *c, struct gs_store_gpu *sg)
{
	const struct smi_gi_request *r = c->req;
	const struct gs_gpu_model *m = &c->g->model;
	if (!sg->mig)
		return NVML_ERROR_NOT_SUPPORTED;
	unsigned unit = gs_smrun_unit(m), sm = r->profile ? r->profile->sm : gs_smrun_round(unit, r->sm);
	int rc = r->profile ? gs_mig_gi_create(m, &sg->layout, r->profile, r->start, c->out)
			    : gs_mig_gi_create_custom(m, &sg->layout, sm, r->memory_mib, r->overcommit, c->out);
	if (rc)
		return rc;
	struct gs_mig_gi *gi = gs_mig_gi_find(&sg->layout, *c->out);
	unsigned start;
	if (r->profile ? gs_smrun_place_profile(m, &sg->layout, gi, r->overcommit, &start)
		       : gs_smrun_place(unit, m->sm_count, &sg->layout, NULL, gs_smrun_round(unit, gi->sm), r->overcommit, &start))
		return NVML_ERROR_INSUFFICIENT_RESOURCES; /* no run of free SMs left */
	gi->sm_start = start;
	gi->sm_placed = true;
	if (!r->profile && sm != r->sm)
		fprintf(stderr, "gpushare-smi: %u SMs rounded down to %u: this GPU's SMs are handed out in units of %u\n",
			r->sm, sm, unit);
	return NVML_SUCCESS;
}

static int soft_gi_create(struct smi_gpu *g, const struct smi_gi_request *r, unsigned *id)
{
	struct change c = { .op = op_gi_create, .req = r, .out = id };
	return edit(g, &c);
}

static int op_gi_destroy(struct change *c, struct gs_store_gpu *sg)
{
	return sg->mig ? gs_mig_gi_destroy(&sg->layout, c->a) : NVML_ERROR_NOT_SUPPORTED;
}

static int soft_gi_destroy(struct smi_gpu *g, unsigned id)
{
	struct change c = { .op = op_gi_destroy, .a = id };
	return edit(g, &c);
}

static int soft_ci_profiles(struct smi_gpu *g, unsigned gi, struct gs_ci_profile *out, size_t max,
			    size_t *n)
{
	struct gs_store *st = NULL;
	struct gs_store_gpu *sg;
	int rc = load(g, &st, &sg);
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
	struct gs_store *st = NULL;
	struct gs_store_gpu *sg;
	int rc = load(g, &st, &sg);
	if (rc == NVML_SUCCESS)
		*count = gs_mig_ci_remaining(&g->model, &sg->layout, gi, profile);
	free(st);
	return rc;
}

static int soft_ci_list(struct smi_gpu *g, struct smi_ci_view *out, size_t max, size_t *n)
{
	struct gs_store *st = NULL;
	struct gs_store_gpu *sg;
	int rc = load(g, &st, &sg);
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

static int op_ci_create(struct change *c, struct gs_store_gpu *sg)
{
	return gs_mig_ci_create(&c->g->model, &sg->layout, c->a, c->b, c->out);
}

static int soft_ci_create(struct smi_gpu *g, unsigned gi, unsigned profile, unsigned *ci)
{
	struct change c = { .op = op_ci_create, .a = gi, .b = profile, .out = ci };
	return edit(g, &c);
}

/* The memory ledger of a GPU instance, when any process has used it. */
static struct gs_ledger *gi_ledger(const char *gpu_uuid, const struct gs_mig_gi *gi)
{
	char path[PATH_MAX];
	struct gs_ledger *l = NULL;
	if (!gi || gs_store_ledger_path(state_dir, gpu_uuid, gi, path, sizeof path) || gs_ledger_open_ro(path, &l))
		return NULL;
	return l;
}

static int op_ci_destroy(struct change *c, struct gs_store_gpu *sg)
{
	/* a process still running in the GPU instance keeps it: the slice
	 * layer refuses (In use) */
	return gs_mig_ci_destroy(&sg->layout, c->a, c->b);
}

static int soft_ci_destroy(struct smi_gpu *g, unsigned gi, unsigned ci)
{
	struct change c = { .op = op_ci_destroy, .a = gi, .b = ci };
	return edit(g, &c);
}

static uint64_t soft_gi_used_bytes(struct smi_gpu *g, unsigned gi_id)
{
	struct gs_store *st = NULL;
	struct gs_store_gpu *sg;
	uint64_t used = 0;
	if (load(g, &st, &sg) == NVML_SUCCESS) {
		const struct gs_mig_gi *gi = gs_mig_gi_find(&sg->layout, gi_id);
		if (gi && gs_nvml.simulated) {
			/* the idle memory a simulated GI shows, as NVIDIA's driver does;
			 * on a real GPU a soft GI holds only what its processes allocate */
			const struct gs_gpu_model *m = &g->model;
			uint64_t slices = gi->size ? gi->size
				: m->memory_mib ? ((uint64_t)gi->memory_mib * 8 + m->memory_mib - 1) / m->memory_mib : 1;
			used = (uint64_t)m->gi_overhead_kib * slices << 10;
		}
		struct gs_ledger *l = gi_ledger(g->uuid, gi);
		if (l) {
			used += gs_ledger_live(l);
			gs_ledger_close(l);
		}
	}
	free(st);
	return used;
}

int smi_soft_processes(struct smi_gpu *g, struct smi_process *out, size_t max, size_t *n)
{
	struct gs_store *st = NULL;
	struct gs_store_gpu *sg;
	int rc = load(g, &st, &sg);
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
	.gi_free = soft_gi_free,
};
