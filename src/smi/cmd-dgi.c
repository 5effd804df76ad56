/* cmd-dgi.c: `mig -dgi [-gi N,..]`: destroy GPU instances (all when no -gi). */
#include "smi.h"

#include <string.h>

static int run_dgi(struct smi_ctx *c)
{
	int exit_code = SMI_OK, last = 0;
	bool any = false;
	unsigned want[GS_MIG_MAX_GI];
	size_t n_want;
	int bad = smi_instance_filters(c, want, &n_want, NULL, NULL);
	if (bad)
		return bad;
	for (size_t i = 0; i < c->n_gpu; i++) {
		struct smi_gpu *g = &c->gpus[i];
		if (!c->selected[i])
			continue;
		unsigned ids[GS_MIG_MAX_GI];
		size_t n = n_want;
		if (c->gi_ids) {
			memcpy(ids, want, n * sizeof ids[0]);
		} else {
			struct smi_gi_view v[GS_MIG_MAX_GI];
			int rc = g->backend->gi_list(g, v, GS_MIG_MAX_GI, &n);
			if (rc)
				return smi_exit_code(rc);
			for (size_t k = 0; k < n; k++)
				ids[k] = v[k].id;
			/* nvidia-smi walks GIs in ID order */
			for (size_t a = 0; a < n; a++)
				for (size_t b = a + 1; b < n; b++)
					if (ids[b] < ids[a]) {
						unsigned t = ids[a];
						ids[a] = ids[b];
						ids[b] = t;
					}
		}
		for (size_t k = 0; k < n; k++) {
			any = true;
			int rc = g->backend->gi_destroy(g, ids[k]);
			if (rc) {
				fprintf(c->err, "Unable to destroy GPU instance ID %2u from GPU %2u: %s\n", ids[k],
					g->index, smi_strerror(rc));
				last = rc;
				exit_code = smi_exit_code(rc);
			} else {
				fprintf(c->out, "Successfully destroyed GPU instance ID %2u from GPU %2u\n", ids[k],
					g->index);
			}
		}
	}
	return smi_destroyed(c, any, last, exit_code, "GPU instances");
}

const struct smi_cmd smi_cmd_dgi = { "-dgi", true, false, "Destroy GPU instances.", run_dgi };
