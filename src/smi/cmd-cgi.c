/* cmd-cgi.c: `mig -cgi <profile>[:start],... [-C]`: create GPU instances in
 * the order given, each with nvidia-smi's message; `-C` adds the default
 * compute instance. gpushare extension: "<N>sm.<size>" custom sizes (soft). */
#include "smi.h"

#include <stdlib.h>
#include <string.h>

struct gi_token {
	char text[64];
	struct smi_gi_request req;
};

/* Parses "<N>sm.<M>gb" / "<N>sm.<M>mb": a gpushare custom size. */
static bool parse_custom(const char *s, unsigned *sm, uint32_t *mib)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	if (end == s || strncmp(end, "sm.", 3) || v == 0 || v > 100000)
		return false;
	const char *m = end + 3;
	unsigned long long mem;
	char num[24];
	size_t n = strspn(m, "0123456789");
	if (n == 0 || n >= sizeof num)
		return false;
	memcpy(num, m, n);
	num[n] = '\0';
	if (gs_parse_uint(num, 1u << 24, &mem))
		return false;
	if (strcmp(m + n, "gb") == 0)
		mem *= 1024;
	else if (strcmp(m + n, "mb") != 0)
		return false;
	if (mem == 0 || mem > UINT32_MAX)
		return false;
	*sm = (unsigned)v;
	*mib = (uint32_t)mem;
	return true;
}

/* Resolves one tuple for a GPU; returns 0 or prints why and returns an exit code. */
static int parse_tuple(struct smi_ctx *c, struct smi_gpu *g, const char *tok, struct gi_token *t)
{
	snprintf(t->text, sizeof t->text, "%s", tok);
	memset(&t->req, 0, sizeof t->req);
	t->req.start = -1;
	t->req.overcommit = c->overcommit;
	char *colon = strrchr(t->text, ':');
	if (colon) {
		unsigned long long s;
		if (gs_parse_uint(colon + 1, 7, &s)) {
			fprintf(c->err, "Invalid placement start \"%s\" in \"%s\".\n", colon + 1, tok);
			return SMI_EINVAL;
		}
		t->req.start = (int)s;
		*colon = '\0';
	}
	t->req.profile = gs_model_gi_by_name(&g->model, t->text);
	if (t->req.profile)
		return SMI_OK;
	if (parse_custom(t->text, &t->req.sm, &t->req.memory_mib)) {
		if (t->req.start >= 0) {
			fprintf(c->err, "A custom size (%s) takes no placement.\n", t->text);
			return SMI_EINVAL;
		}
		return SMI_OK;
	}
	fprintf(c->err, "Unable to create a GPU instance on GPU %2u using profile %s: %s\n", g->index,
		t->text, "Invalid Argument");
	fprintf(c->err, "Invalid GPU instance profile \"%s\": use a name or ID from -lgip, or <N>sm.<M>gb.\n",
		t->text);
	return SMI_EINVAL;
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
