/* cmd-cci.c: `mig -gi N -cci [profile,..]`: create compute instances (the
 * default profile when none is named) in each chosen GPU instance. */
#include "smi.h"

#include <string.h>

static bool find_profile(const struct gs_ci_profile *cps, size_t n, const char *tok, size_t *out)
{
	const char *name = strncmp(tok, "MIG ", 4) == 0 ? tok + 4 : tok;
	unsigned long long id;
	bool numeric = gs_parse_uint(tok, 100, &id) == 0;
	for (size_t i = 0; i < n; i++)
		if ((numeric && cps[i].id == id) || (!numeric && strcmp(cps[i].name, name) == 0)) {
			*out = i;
			return true;
		}
	return false;
}

static int run_cci(struct smi_ctx *c)
{
	unsigned want[GS_MIG_MAX_GI];
	size_t n_want;
	int bad = smi_instance_filters(c, want, &n_want, NULL, NULL);
	if (bad)
		return bad;
	for (size_t i = 0; i < c->n_gpu; i++) {
		struct smi_gpu *g = &c->gpus[i];
		if (!c->selected[i])
			continue;
		struct smi_gi_view v[GS_MIG_MAX_GI];
		size_t n;
		int rc = g->backend->gi_list(g, v, GS_MIG_MAX_GI, &n);
		if (rc)
			return smi_exit_code(rc);
		if (!c->gi_ids) {
			for (size_t k = 0; k < n; k++)
				want[k] = v[k].id;
			n_want = n;
		}
		if (n_want == 0) {
			fprintf(c->err, "No GPU instances found: Not Found\n");
			return SMI_ENOTFOUND;
		}
		for (size_t w = 0; w < n_want; w++) {
			struct gs_ci_profile cps[9];
			size_t np, chosen[16], nc = 0;
			if ((rc = g->backend->ci_profiles(g, want[w], cps, 9, &np))) {
				fprintf(c->err, "Unable to create a compute instance on GPU %2u GPU instance ID %2u: %s\n",
					g->index, want[w], smi_strerror(rc));
				fprintf(c->err, "Failed to create compute instances: %s\n", smi_strerror(rc));
				return smi_exit_code(rc);
			}
			/* resolve every name first: a bad one changes nothing */
			if (c->arg && *c->arg) {
				char buf[256];
				snprintf(buf, sizeof buf, "%s", c->arg);
				char *save = NULL;
				for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
					if (nc == GS_ARRAY_LEN(chosen) || !find_profile(cps, np, t, &chosen[nc])) {
						fprintf(c->err, "Unable to create a compute instance on GPU %2u GPU instance ID %2u using profile %s: %s\n",
							g->index, want[w], t, smi_strerror(NVML_ERROR_NOT_FOUND));
						fprintf(c->err, "Failed to create compute instances: %s\n",
							smi_strerror(NVML_ERROR_NOT_FOUND));
						return SMI_ENOTFOUND;
					}
					nc++;
				}
			} else {
				for (size_t k = 0; k < np; k++)
					if (cps[k].is_default)
						chosen[nc++] = k;
			}
			for (size_t k = 0; k < nc; k++) {
				const struct gs_ci_profile *p = &cps[chosen[k]];
				unsigned ci;
				if ((rc = g->backend->ci_create(g, want[w], p->id, &ci))) {
					fprintf(c->err, "Unable to create a compute instance on GPU %2u GPU instance ID %2u using profile %u: %s\n",
						g->index, want[w], p->id, smi_strerror(rc));
					fprintf(c->err, "Failed to create compute instances: %s\n", smi_strerror(rc));
					return smi_exit_code(rc);
				}
				fprintf(c->out, "Successfully created compute instance ID %2u on GPU %2u GPU instance ID %2u using profile MIG %s (ID %2u)\n",
					ci, g->index, want[w], p->name, p->id);
			}
		}
	}
	return SMI_OK;
}

const struct smi_cmd smi_cmd_cci = { "-cci", true, true, "Create compute instances.", run_cci };
