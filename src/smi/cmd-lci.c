/* cmd-lci.c: `mig -lci [-gi N] [-ci M]`: the compute instances. */
#include "smi.h"

static const char *lci_sep = "+--------------------------------------------------------------------+\n";

static int run_lci(struct smi_ctx *c)
{
	unsigned gis[GS_MIG_MAX_GI], cis[GS_MIG_MAX_CI];
	size_t ngi, nci;
	int bad = smi_instance_filters(c, gis, &ngi, cis, &nci);
	if (bad)
		return bad;
	bool header = false;
	for (size_t i = 0; i < c->n_gpu; i++) {
		struct smi_gpu *g = &c->gpus[i];
		if (!c->selected[i])
			continue;
		struct smi_ci_view v[GS_MIG_MAX_CI];
		size_t n;
		int rc = smi_sorted_cis(g, v, GS_MIG_MAX_CI, &n);
		if (rc)
			return smi_exit_code(rc);
		for (size_t k = 0; k < n; k++) {
			if ((c->gi_ids && !smi_listed(gis, ngi, v[k].gi)) || (c->ci_ids && !smi_listed(cis, nci, v[k].id)))
				continue;
			if (!header) {
				fputs(lci_sep, c->out);
				fputs("| Compute instances:                                                 |\n"
				      "| GPU     GPU       Name             Profile   Instance   Placement  |\n"
				      "|       Instance                       ID        ID       Start:Size |\n"
				      "|         ID                                                         |\n"
				      "|====================================================================|\n",
				      c->out);
				header = true;
			}
			char name[40], place[16];
			snprintf(name, sizeof name, "MIG %s", v[k].name);
			snprintf(place, sizeof place, "%u:%u", v[k].start, v[k].size);
			fprintf(c->out, "|%4u%7u       %-21s%-10u%-11u%-8s|\n", g->index, v[k].gi, name,
				v[k].profile_id, v[k].id, place);
			fputs(lci_sep, c->out);
		}
	}
	if (!header) {
		fprintf(c->err, "No compute instances found: Not Found\n");
		return SMI_ENOTFOUND;
	}
	return SMI_OK;
}

const struct smi_cmd smi_cmd_lci = { "-lci", true, false, "List compute instances.", run_lci };
