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

/* The GPU's profiles, "1g.5gb (19), 2g.10gb (14), ...", into out. */
static void profile_list(const struct smi_gpu *g, char *out, size_t len)
{
	size_t at = 0;
	out[0] = '\0';
	for (size_t i = 0; i < g->model.n_gi && at < len; i++)
		at += (size_t)snprintf(out + at, len - at, "%s%s (%u)", i ? ", " : "", g->model.gi[i].name,
				       g->model.gi[i].id);
}

static int parse_tuple(struct smi_ctx *c, struct smi_gpu *g, const char *tok, struct gi_token *t)
{
	struct gs_profile_arg a;
	char why[160];
	if (gs_profile_arg_parse(&g->model, tok, &a, why, sizeof why)) {
		fprintf(c->err, "%s\n", why);
		if (strncmp(why, "Invalid GPU instance profile", 28))
			return SMI_EINVAL;
		char list[512];
		profile_list(g, list, sizeof list);
		if (list[0])
			smi_hint(c, "GPU %u (%s) has the profiles %s, and custom sizes such as %usm.%ugb", g->index,
				 g->name, list, g->model.sm_count / 2, g->model.memory_mib / 2048);
		else
			smi_hint(c, "GPU %u (%s) has custom sizes only, such as %usm.%ugb", g->index, g->name,
				 g->model.sm_count / 2, g->model.memory_mib / 2048);
		return SMI_EINVAL;
	}
	snprintf(t->text, sizeof t->text, "%.*s", (int)strcspn(tok, ":"), tok);
	t->req = (struct smi_gi_request){ a.profile, a.start, a.sm, a.memory_mib, c->overcommit };
	return SMI_OK;
}

/* After nvidia-smi's message for a GI that could not be made: what would
 * have worked. */
static void gi_hint(struct smi_ctx *c, struct smi_gpu *g, const struct gi_token *t, int rc)
{
	const struct smi_gi_request *r = &t->req;
	unsigned sm = r->profile ? r->profile->sm : r->sm;
	uint32_t mib = r->profile ? r->profile->memory_mib : r->memory_mib;
	if (rc == NVML_ERROR_NOT_SUPPORTED && !g->soft_mig && !g->hw_mig) {
		smi_hint(c, "MIG mode is off on GPU %u: turn it on with gpushare-smi -i %u -mig 1", g->index, g->index);
	} else if (rc == NVML_ERROR_NOT_SUPPORTED && !r->profile) {
		smi_hint(c, "custom sizes are gpushare's slices: GPU %u runs NVIDIA's MIG, which has only its profiles",
			 g->index);
	} else if (rc == NVML_ERROR_INVALID_ARGUMENT && (sm > g->model.sm_count || mib > g->model.memory_mib)) {
		smi_hint(c, "GPU %u (%s) has %u SMs and %u MiB: %s asks for %u SMs and %u MiB", g->index, g->name,
			 g->model.sm_count, g->model.memory_mib, t->text, sm, mib);
	} else if (rc == NVML_ERROR_INVALID_ARGUMENT && r->profile && r->start >= 0) {
		char starts[64] = "";
		for (unsigned s = 0, at = 0; s < 8; s++)
			if (r->profile->starts >> s & 1)
				at += (unsigned)snprintf(starts + at, sizeof starts - at, "%s%u", at ? "," : "", s);
		smi_hint(c, "%s may start at %s (mig -lgipp lists the placements)", r->profile->name, starts);
	} else if (rc == NVML_ERROR_INSUFFICIENT_RESOURCES) {
		char fit[512] = "";
		size_t at = 0;
		for (size_t i = 0; i < g->model.n_gi && at < sizeof fit; i++) {
			unsigned n = 0;
			if (g->backend->gi_remaining(g, &g->model.gi[i], &n) == 0 && n)
				at += (size_t)snprintf(fit + at, sizeof fit - at, "%s%s (%u more)", at ? ", " : "",
						       g->model.gi[i].name, n);
		}
		unsigned free_sm;
		uint32_t free_mib;
		if (g->backend->gi_free && g->backend->gi_free(g, &free_sm, &free_mib) == 0)
			smi_hint(c, "GPU %u has %u of %u SMs and %u of %u MiB free%s%s%s", g->index, free_sm,
				 g->model.sm_count, free_mib, g->model.memory_mib, fit[0] ? "; profiles that fit: " : "", fit,
				 r->profile ? "" : "; --overcommit goes past the GPU's memory");
		else
			smi_hint(c, "GPU %u: %s%s", g->index, fit[0] ? "profiles that fit: " : "no profile fits any more",
				 fit);
	}
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
				gi_hint(c, g, &toks[k], rc);
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
