/* cmd-lgi.c: `mig -lgi`: the GPU instances, by profile then ID. */
#include "smi.h"

static const char *lgi_sep = "+---------------------------------------------------------+\n";

static int run_lgi(struct smi_ctx *c)
{
	bool enabled = false;
	size_t rows = 0;
	for (size_t i = 0; i < c->n_gpu; i++)
		enabled |= c->selected[i] && (c->gpus[i].hw_mig || c->gpus[i].soft_mig);
	if (!enabled) {
		fprintf(c->out, "No MIG-enabled devices found.\n");
		return SMI_OK;
	}
	for (size_t i = 0; i < c->n_gpu; i++) {
		struct smi_gpu *g = &c->gpus[i];
		if (!c->selected[i])
			continue;
		struct smi_gi_view v[GS_MIG_MAX_GI];
		size_t n;
		int rc = smi_sorted_gis(g, v, GS_MIG_MAX_GI, &n);
		if (rc)
			return smi_exit_code(rc);
		for (size_t k = 0; k < n; k++, rows++) {
			if (!rows) {
				fputs(lgi_sep, c->out);
				fputs("| GPU instances:                                          |\n"
				      "| GPU   Name               Profile  Instance   Placement  |\n"
				      "|                            ID       ID       Start:Size |\n"
				      "|=========================================================|\n", c->out);
			}
			bool custom = v[k].profile_id == GS_MIG_CUSTOM;
			char name[40], place[16] = "-", prof[8] = "-";
			snprintf(name, sizeof name, "MIG %s", v[k].name);
			if (!custom) {
				snprintf(place, sizeof place, "%u:%u", v[k].start, v[k].size);
				snprintf(prof, sizeof prof, "%d", v[k].profile_id);
			}
			fprintf(c->out, "|%4u  %-18s%6s%9u%10s%-8s|\n", g->index, name, prof, v[k].id, "", place);
			fputs(lgi_sep, c->out);
		}
	}
	if (!rows) {
		fprintf(c->err, "No GPU instances found: Not Found\n");
		return SMI_ENOTFOUND;
	}
	return SMI_OK;
}

const struct smi_cmd smi_cmd_lgi = { "-lgi", true, false, "List GPU instances.", run_lgi };
