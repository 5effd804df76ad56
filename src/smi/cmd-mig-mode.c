/* cmd-mig-mode.c: `-i N -mig 0|1`. On a GPU without NVIDIA MIG turned on this
 * switches gpushare's soft MIG mode; a GPU's hardware MIG mode is never
 * touched (that stays nvidia-smi's job). */
#include "smi.h"

#include <string.h>

static int run_mig_mode(struct smi_ctx *c)
{
	if (!c->arg || (strcmp(c->arg, "0") && strcmp(c->arg, "1"))) {
		fprintf(c->err, "Invalid MIG mode \"%s\": use 0 (disable) or 1 (enable).\n", c->arg ? c->arg : "");
		return SMI_EINVAL;
	}
	bool on = c->arg[0] == '1';
	int exit_code = SMI_OK;
	for (size_t i = 0; i < c->n_gpu; i++) {
		struct smi_gpu *g = &c->gpus[i];
		if (!c->selected[i])
			continue;
		if (g->hw_mig) {
			if (on) {
				fprintf(c->out, "Enabled MIG Mode for GPU %s\n", g->bus_id);
			} else {
				fprintf(c->err, "GPU %s runs NVIDIA MIG; gpushare-smi does not change a GPU's hardware "
						"MIG mode (use nvidia-smi -i %u -mig 0).\n", g->bus_id, g->index);
				exit_code = SMI_ENOTSUP;
			}
			continue;
		}
		int rc = g->backend->set_mig(g, on);
		if (rc) {
			fprintf(c->err, "Unable to %s MIG Mode for GPU %s: %s\n", on ? "enable" : "disable",
				g->bus_id, smi_strerror(rc));
			exit_code = smi_exit_code(rc);
			continue;
		}
		g->soft_mig = on;
		fprintf(c->out, "%s MIG Mode for GPU %s\n", on ? "Enabled" : "Disabled", g->bus_id);
	}
	if (exit_code == SMI_OK)
		fprintf(c->out, "All done.\n");
	return exit_code;
}

const struct smi_cmd smi_cmd_mig_mode = { "-mig", false, true, "Enable (1) or disable (0) MIG mode.",
					  run_mig_mode };
