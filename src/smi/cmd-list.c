/* cmd-list.c: `-L`: GPUs and their MIG devices with UUIDs. */
#include "smi.h"

static int run_list(struct smi_ctx *c)
{
	for (size_t i = 0; i < c->n_gpu; i++) {
		struct smi_gpu *g = &c->gpus[i];
		if (!c->selected[i])
			continue;
		fprintf(c->out, "GPU %u: %s (UUID: %s)\n", g->index, g->name, g->uuid);
		if (!g->hw_mig && !g->soft_mig)
			continue;
		struct smi_ci_view v[GS_MIG_MAX_CI];
		size_t n;
		int rc = smi_mig_devices(g, v, GS_MIG_MAX_CI, &n);
		if (rc)
			return smi_exit_code(rc);
		for (size_t k = 0; k < n; k++) {
			char name[40];
			snprintf(name, sizeof name, "MIG %s", v[k].name);
			fprintf(c->out, "  %-16sDevice %2zu: (UUID: %s)\n", name, k, v[k].uuid);
		}
	}
	return SMI_OK;
}

const struct smi_cmd smi_cmd_list = { "-L", false, false, "List GPUs and MIG devices.", run_list };
