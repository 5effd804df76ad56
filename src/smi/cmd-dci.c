/* cmd-dci.c: `mig -dci [-gi N] [-ci M]`: destroy compute instances. */
#include "smi.h"

static int run_dci(struct smi_ctx *c)
{
	unsigned gis[GS_MIG_MAX_GI], cis[GS_MIG_MAX_CI];
	size_t ngi, nci;
	int bad = smi_instance_filters(c, gis, &ngi, cis, &nci);
	if (bad)
		return bad;
	int exit_code = SMI_OK, last = 0;
	bool any = false;
	for (size_t i = 0; i < c->n_gpu; i++) {
		struct smi_gpu *g = &c->gpus[i];
		if (!c->selected[i])
			continue;
		struct smi_ci_view v[GS_MIG_MAX_CI];
		size_t n;
		int rc = g->backend->ci_list(g, v, GS_MIG_MAX_CI, &n);
		if (rc)
			return smi_exit_code(rc);
		/* explicitly named instances that do not exist are reported */
		if (c->gi_ids && c->ci_ids)
			for (size_t a = 0; a < ngi; a++)
				for (size_t b = 0; b < nci; b++) {
					bool found = false;
					for (size_t k = 0; k < n; k++)
						found |= v[k].gi == gis[a] && v[k].id == cis[b];
					if (!found) {
						any = true;
						last = NVML_ERROR_NOT_FOUND;
						exit_code = SMI_ENOTFOUND;
						fprintf(c->err, "Unable to destroy compute instance ID %2u from GPU %2u GPU instance ID %2u: %s\n",
							cis[b], g->index, gis[a], smi_strerror(last));
					}
				}
		for (size_t k = 0; k < n; k++) {
			if ((c->gi_ids && !smi_listed(gis, ngi, v[k].gi)) || (c->ci_ids && !smi_listed(cis, nci, v[k].id)))
				continue;
			any = true;
			if ((rc = g->backend->ci_destroy(g, v[k].gi, v[k].id))) {
				fprintf(c->err, "Unable to destroy compute instance ID %2u from GPU %2u GPU instance ID %2u: %s\n",
					v[k].id, g->index, v[k].gi, smi_strerror(rc));
				last = rc;
				exit_code = smi_exit_code(rc);
			} else {
				fprintf(c->out, "Successfully destroyed compute instance ID %2u from GPU %2u GPU instance ID %2u\n",
					v[k].id, g->index, v[k].gi);
			}
		}
	}
	return smi_destroyed(c, any, last, exit_code, "compute instances");
}

const struct smi_cmd smi_cmd_dci = { "-dci", true, false, "Destroy compute instances.", run_dci };
