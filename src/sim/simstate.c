/* simstate.c: identities and shared state of the simulated GPUs. */
#include "simstate.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int gs_sim_gpus(struct gs_sim_gpu *out, size_t max, size_t *n, char *err, size_t errlen)
{
	const char *env = getenv("GPUSHARE_SIMULATE");
	const char *uuids = getenv("GPUSHARE_SIM_UUIDS");
	char keys[256], ulist[1024];
	/* "1" (or empty) asks for simulation with the default model */
	if (!env || !*env || strcmp(env, "1") == 0)
		env = gs_model_default()->key;
	if (snprintf(keys, sizeof keys, "%s", env) >= (int)sizeof keys)
		return gs_fail(err, errlen, -EINVAL, "GPUSHARE_SIMULATE is too long");
	snprintf(ulist, sizeof ulist, "%s", uuids ? uuids : "");
	*n = 0;
	char *save = NULL, *usave = NULL;
	char *u = strtok_r(ulist, ",", &usave);
	for (char *k = strtok_r(keys, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
		const struct gs_gpu_model *m = gs_model_find(k);
		if (!m)
			return gs_fail(err, errlen, -EINVAL,
				       "GPUSHARE_SIMULATE: unknown GPU model \"%s\" (see gpushare-smi --models)", k);
		if (*n == max)
			return gs_fail(err, errlen, -EINVAL, "GPUSHARE_SIMULATE: more than %zu GPUs", max);
		struct gs_sim_gpu *g = &out[*n];
		g->index = (unsigned)*n;
		g->model = m;
		if (u) {
			struct gs_uuid parsed;
			if (strncmp(u, "GPU-", 4) || gs_uuid_parse(u + 4, &parsed))
				return gs_fail(err, errlen, -EINVAL,
					       "GPUSHARE_SIM_UUIDS: \"%s\" is not a GPU-<uuid>", u);
			snprintf(g->uuid, sizeof g->uuid, "GPU-%s", u + 4);
			u = strtok_r(NULL, ",", &usave);
		} else {
			char words[96], s[GS_UUID_STR];
			struct gs_uuid id;
			snprintf(words, sizeof words, "gpushare-sim/%s/%zu", m->key, *n);
			gs_uuid_derive(&id, words);
			gs_uuid_format(&id, s);
			snprintf(g->uuid, sizeof g->uuid, "GPU-%s", s);
		}
		snprintf(g->bus_id, sizeof g->bus_id, "00000000:%02X:1C.0", 0x10 + (unsigned)*n);
		(*n)++;
	}
	if (*n == 0)
		return gs_fail(err, errlen, -EINVAL, "GPUSHARE_SIMULATE names no GPU");
	return 0;
}

int gs_sim_dir(char *out, size_t len)
{
	const char *env = getenv("GPUSHARE_SIM_DIR");
	int n = env && *env ? snprintf(out, len, "%s", env)
			    : snprintf(out, len, "/tmp/gpushare-sim-%ld", (long)geteuid());
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return gs_mkdir_p(out, 0755);
}

int gs_sim_memory(const struct gs_sim_gpu *g, struct gs_ledger **out)
{
	char dir[PATH_MAX - 64], path[PATH_MAX];
	int rc = gs_sim_dir(dir, sizeof dir);
	if (rc)
		return rc;
	snprintf(path, sizeof path, "%s/mem-%s", dir, g->uuid);
	/* the simulated GPU's memory is every user's, as a real GPU's is */
	return gs_ledger_open(path, (uint64_t)g->model->memory_mib << 20, 0666, out);
}
