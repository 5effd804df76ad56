/* cmd-cgi.c: `mig -cgi <profile>[:start],... [-C]`: create GPU instances in
 * the order given, each with nvidia-smi's message; `-C` adds the default
 * compute instance. gpushare extension: "<N>sm.<size>" custom sizes (soft). */
#include "profile-arg.h"
#include "smi.h"

#include <string.h>

struct gi_token {
	char text[64];
	struct smi_gi_request req;
};

static int parse_tuple(struct smi_ctx *c, struct smi_gpu *g, const char *tok, struct gi_token *t)
{
	struct gs_profile_arg a;
	char why[160];
	if (gs_profile_arg_parse(&g->model, tok, &a, why, sizeof why)) {
		fprintf(c->err, "%s\n", why);
		return SMI_EINVAL;
	}
	snprintf(t->text, sizeof t->text, "%.*s", (int)strcspn(tok, ":"), tok);
	t->req = (struct smi_gi_request){ a.profile, a.start, a.sm, a.memory_mib, c->overcommit };
	return SMI_OK;
}

static int run_cgi(struct smi_ctx *c)
{
	if (!c->arg || !*c->arg) {
		fprintf(c->err, "-cgi needs a comma-separated list of profiles.\n");
		return SMI_EINVAL;
	}
	int exit_code = SMI_OK;
	for (size_t i = 0; i < c->n_gpu; i++) {
		struct smi_gpu *g = &c->gpus[i];
		if (!c->selected[i])
			continue;
		/* parse the whole list first: a bad tuple changes nothing */
		struct gi_token toks[16];
		size_t n = 0;
		char buf[512];
		snprintf(buf, sizeof buf, "%s", c->arg);
		char *save = NULL;
		for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			if (n == GS_ARRAY_LEN(toks)) {
				fprintf(c->err, "Too many profiles in one -cgi.\n");
				return SMI_EINVAL;
			}
			int rc = parse_tuple(c, g, t, &toks[n++]);
			if (rc)
				return rc;
		}
		for (size_t k = 0; k < n; k++) {
			unsigned id = 0;
			int rc = g->backend->gi_create(g, &toks[k].req, &id);
			const struct gs_gi_profile *p = toks[k].req.profile;
			if (rc) {
				fprintf(c->err, "Unable to create a GPU instance on GPU %2u using profile %s: %s\n",
					g->index, toks[k].text, smi_strerror(rc));
				fprintf(c->err, "Failed to create GPU instances: %s\n", smi_strerror(rc));
				return smi_exit_code(rc);
			}
			if (p)
				fprintf(c->out, "Successfully created GPU instance ID %2u on GPU %2u using profile MIG %s (ID %2u)\n",
					id, g->index, p->name, p->id);
			else
				fprintf(c->out, "Successfully created GPU instance ID %2u on GPU %2u using custom profile %s\n",
					id, g->index, toks[k].text);
			if (!c->default_ci)
				continue;
			struct gs_ci_profile cps[8];
			size_t np = 0;
			if ((rc = g->backend->ci_profiles(g, id, cps, 8, &np)) == 0) {
				for (size_t q = 0; q < np; q++) {
					if (!cps[q].is_default)
						continue;
					unsigned ci;
					rc = g->backend->ci_create(g, id, cps[q].id, &ci);
					if (rc == 0)
						fprintf(c->out, "Successfully created compute instance ID %2u on GPU %2u GPU instance ID %2u using profile MIG %s (ID %2u)\n",
							ci, g->index, id, cps[q].name, cps[q].id);
				}
			}
			if (rc) {
				fprintf(c->err, "Unable to create a compute instance on GPU %2u GPU instance ID %2u: %s\n",
					g->index, id, smi_strerror(rc));
				exit_code = smi_exit_code(rc);
			}
		}
	}
	return exit_code;
}

const struct smi_cmd smi_cmd_cgi = { "-cgi", true, true, "Create GPU instances.", run_cgi };
