/* cmd-lcip.c: `mig -lcip [-gi N]`: compute instance profiles of GPU instances. */
#include "smi.h"

static const char *lcip_sep =
	"+--------------------------------------------------------------------------------------+\n";

static int run_lcip(struct smi_ctx *c)
{
	unsigned want[GS_MIG_MAX_GI];
	size_t n_want;
	int bad = smi_instance_filters(c, want, &n_want, NULL, NULL);
	if (bad)
		return bad;
	bool header = false;
	for (size_t i = 0; i < c->n_gpu; i++) {
		struct smi_gpu *g = &c->gpus[i];
		if (!c->selected[i])
			continue;
		struct smi_gi_view v[GS_MIG_MAX_GI];
		size_t n;
		int rc = smi_sorted_gis(g, v, GS_MIG_MAX_GI, &n);
		if (rc)
			return smi_exit_code(rc);
		for (size_t w = 0; w < (c->gi_ids ? n_want : n); w++) {
			unsigned gid = c->gi_ids ? want[w] : v[w].id;
			struct gs_ci_profile cps[9];
			size_t np;
			if ((rc = g->backend->ci_profiles(g, gid, cps, 9, &np))) {
				fprintf(c->err, "Failed to get compute instance profiles for GPU %2u GPU instance ID %2u: %s\n",
					g->index, gid, smi_strerror(rc));
				return smi_exit_code(rc);
			}
			const struct gs_gi_profile *gp = NULL;
			for (size_t k = 0; k < n; k++)
				if (v[k].id == gid && v[k].profile_id != GS_MIG_CUSTOM)
					gp = gs_model_gi_by_id(&g->model, (unsigned)v[k].profile_id);
			if (!header) {
				fputs(lcip_sep, c->out);
				fputs("| Compute instance profiles:                                                           |\n"
				      "| GPU     GPU       Name             Profile  Instances   Exclusive       Shared       |\n"
				      "|       Instance                       ID     Free/Total     SM       DEC   ENC   OFA  |\n"
				      "|         ID                                                          CE    JPEG       |\n"
				      "|======================================================================================|\n",
				      c->out);
				header = true;
			}
			for (size_t k = 0; k < np; k++) {
				unsigned free = 0;
				if ((rc = g->backend->ci_remaining(g, gid, cps[k].id, &free)))
					return smi_exit_code(rc);
				char name[40], id[8], inst[16];
				snprintf(name, sizeof name, "MIG %s", cps[k].name);
				snprintf(id, sizeof id, "%u%s", cps[k].id, cps[k].is_default ? "*" : "");
				snprintf(inst, sizeof inst, "%u/%u", free, cps[k].max_instances);
				fprintf(c->out, "|%4u%7u       %-21s%-7s%-14s%-10u%-6u%-6u%-4u|\n", g->index, gid, name,
					id, inst, cps[k].sm, gp ? gp->dec : 0, gp ? gp->enc : 0, gp ? gp->ofa : 0);
				fprintf(c->out, "|%70s%-6u%-10u|\n", "", gp ? gp->ce : 0, gp ? gp->jpeg : 0);
				fputs(lcip_sep, c->out);
			}
		}
	}
	if (!header) {
		fprintf(c->err, "No GPU instances found: Not Found\n");
		return SMI_ENOTFOUND;
	}
	return SMI_OK;
}

const struct smi_cmd smi_cmd_lcip = { "-lcip", true, false, "List compute instance profiles.", run_lcip };
