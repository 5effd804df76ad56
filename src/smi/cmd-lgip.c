/* cmd-lgip.c: `mig -lgip`, the GPU instance profiles with free counts, and
 * `mig -lgipp`, their possible placements. */
#include "smi.h"

static const char *lgip_sep =
	"+-------------------------------------------------------------------------------+\n";

static int run_lgip(struct smi_ctx *c)
{
	fputs(lgip_sep, c->out);
	fputs("| GPU instance profiles:                                                        |\n"
	      "| GPU   Name               ID    Instances   Memory     P2P    SM    DEC   ENC  |\n"
	      "|                                Free/Total   GiB              CE    JPEG  OFA  |\n"
	      "|===============================================================================|\n",
	      c->out);
	int rows = 0;
	for (size_t i = 0; i < c->n_gpu; i++) {
		struct smi_gpu *g = &c->gpus[i];
		if (!c->selected[i])
			continue;
		for (size_t k = 0; k < g->model.n_gi; k++) {
			const struct gs_gi_profile *p = &g->model.gi[k];
			unsigned free = 0;
			int rc = g->backend->gi_remaining(g, p, &free);
			if (rc)
				return smi_exit_code(rc);
			char name[40], inst[16], mem[16];
			snprintf(name, sizeof name, "MIG %s", p->name);
			snprintf(inst, sizeof inst, "%u/%u", free, p->max_instances);
			snprintf(mem, sizeof mem, "%.2f", p->memory_mib / 1024.0);
			fprintf(c->out, "|%4u  %-18s%4u     %-11s%-11s%-7s%-7u%-6u%-4u|\n", g->index, name, p->id,
				inst, mem, "No", p->sm, p->dec, p->enc);
			fprintf(c->out, "|%62s%2u     %-6u%-4u|\n", "", p->ce, p->jpeg, p->ofa);
			fputs(lgip_sep, c->out);
			rows++;
		}
	}
	if (!rows)
		fputs("| No MIG-supported devices found.                                               |\n", c->out),
			fputs(lgip_sep, c->out);
	return SMI_OK;
}

static int run_lgipp(struct smi_ctx *c)
{
	for (size_t i = 0; i < c->n_gpu; i++) {
		struct smi_gpu *g = &c->gpus[i];
		if (!c->selected[i])
			continue;
		for (size_t k = 0; k < g->model.n_gi; k++) {
			const struct gs_gi_profile *p = &g->model.gi[k];
			char list[32] = "";
			int n = 0;
			size_t len = 0;
			for (unsigned s = 0; s < 8; s++)
				if (p->starts >> s & 1) {
					len += (size_t)snprintf(list + len, sizeof list - len, "%s%u", n ? "," : "", s);
					n++;
				}
			fprintf(c->out, "GPU %2u Profile ID %2u %s {%s}:%u\n", g->index, p->id,
				n == 1 ? "Placement :" : "Placements:", list, p->size);
		}
	}
	return SMI_OK;
}

const struct smi_cmd smi_cmd_lgip = { "-lgip", true, false, "List GPU instance profiles.", run_lgip };
const struct smi_cmd smi_cmd_lgipp = { "-lgipp", true, false,
				       "List GPU instance possible placements.", run_lgipp };
