/* cmd-query.c: `--query-gpu=<fields> --format=csv[,noheader][,nounits]`,
 * `-q` (which MIG backend serves each GPU, how its slices' SMs are kept) and
 * `--models`. */
#include "smi.h"
#include "tpcmask.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct field {
	const char *name;
	void (*print)(struct smi_gpu *g, bool units, char *out, size_t len);
};

static void f_index(struct smi_gpu *g, bool u, char *o, size_t n) { (void)u; snprintf(o, n, "%u", g->index); }
static void f_name(struct smi_gpu *g, bool u, char *o, size_t n) { (void)u; snprintf(o, n, "%s", g->name); }
static void f_uuid(struct smi_gpu *g, bool u, char *o, size_t n) { (void)u; snprintf(o, n, "%s", g->uuid); }
static void f_bus(struct smi_gpu *g, bool u, char *o, size_t n) { (void)u; snprintf(o, n, "%s", g->bus_id); }

static void mem_field(struct smi_gpu *g, bool u, char *o, size_t n, int which)
{
	nvmlMemory_t m = { 0 };
	gs_nvml.nvmlDeviceGetMemoryInfo(g->dev, &m);
	unsigned long long v = which == 0 ? m.total : which == 1 ? m.used : m.free;
	snprintf(o, n, "%llu%s", v >> 20, u ? " MiB" : "");
}
static void f_total(struct smi_gpu *g, bool u, char *o, size_t n) { mem_field(g, u, o, n, 0); }
static void f_used(struct smi_gpu *g, bool u, char *o, size_t n) { mem_field(g, u, o, n, 1); }
static void f_free(struct smi_gpu *g, bool u, char *o, size_t n) { mem_field(g, u, o, n, 2); }

static void f_mig(struct smi_gpu *g, bool u, char *o, size_t n)
{
	(void)u;
	if (g->hw_mig || g->soft_mig)
		snprintf(o, n, "Enabled");
	else if (g->hw_mig_capable || g->model.mem_slices || g->backend == &smi_backend_soft)
		snprintf(o, n, "Disabled");
	else
		snprintf(o, n, "[N/A]");
}
static void f_sms(struct smi_gpu *g, bool u, char *o, size_t n) { (void)u; snprintf(o, n, "%u", g->model.sm_count); }
static void f_backend(struct smi_gpu *g, bool u, char *o, size_t n) { (void)u; snprintf(o, n, "%s", g->backend->name); }

static const struct field fields[] = {
	{ "index", f_index }, { "name", f_name }, { "gpu_name", f_name }, { "uuid", f_uuid },
	{ "gpu_uuid", f_uuid }, { "pci.bus_id", f_bus }, { "memory.total", f_total },
	{ "memory.used", f_used }, { "memory.free", f_free }, { "mig.mode.current", f_mig },
	{ "mig.mode.pending", f_mig }, { "gpushare.backend", f_backend },
	{ "gpushare.sm_count", f_sms },
};

static const struct field *find_field(const char *name)
{
	for (size_t i = 0; i < GS_ARRAY_LEN(fields); i++)
		if (strcmp(fields[i].name, name) == 0)
			return &fields[i];
	return NULL;
}

static int run_query_gpu(struct smi_ctx *c)
{
	bool header = true, units = true;
	if (!c->format) {
		fprintf(c->err, "--query-gpu needs --format=csv\n");
		return SMI_EINVAL;
	}
	char fmt[128];
	snprintf(fmt, sizeof fmt, "%s", c->format);
	char *save = NULL;
	bool csv = false;
	for (char *t = strtok_r(fmt, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (strcmp(t, "csv") == 0)
			csv = true;
		else if (strcmp(t, "noheader") == 0)
			header = false;
		else if (strcmp(t, "nounits") == 0)
			units = false;
		else {
			fprintf(c->err, "\"%s\" is not a valid format option.\n", t);
			return SMI_EINVAL;
		}
	}
	if (!csv) {
		fprintf(c->err, "--format must include csv\n");
		return SMI_EINVAL;
	}
	const struct field *want[32];
	size_t n = 0;
	char q[512];
	snprintf(q, sizeof q, "%s", c->query);
	for (char *t = strtok_r(q, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (n == GS_ARRAY_LEN(want) || !(want[n] = find_field(t))) {
			fprintf(c->err, "Field \"%s\" is not a valid field to query.\n\n", t);
			return SMI_EINVAL;
		}
		n++;
	}
	if (header)
		for (size_t k = 0; k < n; k++)
			fprintf(c->out, "%s%s", want[k]->name, k + 1 < n ? ", " : "\n");
	for (size_t i = 0; i < c->n_gpu; i++) {
		if (!c->selected[i])
			continue;
		for (size_t k = 0; k < n; k++) {
			char v[128];
			want[k]->print(&c->gpus[i], units, v, sizeof v);
			fprintf(c->out, "%s%s", v, k + 1 < n ? ", " : "\n");
		}
	}
	return SMI_OK;
}

/* Whether the daemon said it confines g by green contexts although a TPC
 * map is kept (its "confinement" file: GPUSHARE_CONTROL_SM_MASKS=off), and
 * why. */
static bool confined_green(const struct smi_ctx *c, const struct smi_gpu *g, const struct stat *dir, char *why,
			   size_t len)
{
	char path[PATH_MAX], err[256], *text = NULL;
	size_t n = 0;
	bool green = false;
	if (snprintf(path, sizeof path, "%s/confinement", c->state_dir) >= (int)sizeof path ||
	    gs_file_read_owned(path, dir->st_uid, 64 * 1024, &text, &n, err, sizeof err))
		return false;
	size_t ul = strlen(g->uuid);
	for (char *line = text, *end; line < text + n; line = end + 1) {
		end = memchr(line, '\n', (size_t)(text + n - line));
		if (!end)
			end = text + n;
		if ((size_t)(end - line) > ul + 7 && !strncmp(line, g->uuid, ul) && !strncmp(line + ul, " green ", 7)) {
			snprintf(why, len, "%.*s", (int)(end - line - ul - 7), line + ul + 7);
			green = true;
			break;
		}
	}
	free(text);
	return green;
}

/* How a slice's programs are kept on its SMs: by a TPC mask at each launch
 * where gpushare-control has calibrated the GPU (its map in the state
 * directory, of the driver in force), else by green contexts alone. */
static void sm_confinement(const struct smi_ctx *c, const struct smi_gpu *g, char *out, size_t len)
{
	char name[96], path[PATH_MAX], why[600], *text = NULL;
	size_t n = 0;
	struct stat st;
	if (gs_tpc_file_name(g->uuid, name, sizeof name) ||
	    snprintf(path, sizeof path, "%s/%s", c->state_dir, name) >= (int)sizeof path || stat(c->state_dir, &st)) {
		snprintf(out, len, "green context (no TPC map: gpushare-control has not calibrated this GPU)");
		return;
	}
	/* the daemon's own file: owned by the state directory's owner */
	int rc = gs_file_read_owned(path, st.st_uid, 64 * 1024, &text, &n, why, sizeof why);
	if (rc == -ENOENT) {
		snprintf(out, len, "green context (no TPC map: gpushare-control has not calibrated this GPU)");
		return;
	}
	if (rc) {
		snprintf(out, len, "green context (TPC map refused: %s)", why);
		return;
	}
	static struct gs_tpc_calib map;
	char reason[600], now[64], *proc = NULL;
	if (confined_green(c, g, &st, reason, sizeof reason))
		snprintf(out, len, "green context (%s)", reason);
	else if (gs_tpc_failed_parse(text, n, reason, sizeof reason) == 0)
		snprintf(out, len, "green context (TPC mask calibration failed: %s)", reason);
	else if (gs_tpc_calib_parse(text, n, &map, why, sizeof why))
		snprintf(out, len, "green context (TPC map refused: %s)", why);
	else if (gs_file_read("/proc/driver/nvidia/version", 4096, &proc, NULL) == 0 &&
		 gs_tpc_driver_token(proc, now, sizeof now) == 0 && strcmp(now, map.driver))
		snprintf(out, len, "green context (TPC map of driver %s, the driver is %s: gpushare-control "
			 "calibrates again when it starts)", map.driver, now);
	else
		snprintf(out, len, "TPC mask (%u TPCs calibrated, driver %s)", gs_tpc_live_count(&map), map.driver);
	free(proc);
	free(text);
}

static int run_query(struct smi_ctx *c)
{
	fprintf(c->out, "\n==============GPUSHARE-SMI LOG==============\n\n");
	fprintf(c->out, "Attached GPUs                             : %zu\n", c->n_gpu);
	fprintf(c->out, "Simulated                                 : %s\n", gs_nvml.simulated ? "Yes" : "No");
	fprintf(c->out, "State Directory                           : %s\n", c->state_dir);
	for (size_t i = 0; i < c->n_gpu; i++) {
		struct smi_gpu *g = &c->gpus[i];
		if (!c->selected[i])
			continue;
		char mig[16];
		f_mig(g, false, mig, sizeof mig);
		fprintf(c->out, "GPU %s\n", g->bus_id);
		fprintf(c->out, "    Product Name                          : %s\n", g->name);
		fprintf(c->out, "    GPU UUID                              : %s\n", g->uuid);
		fprintf(c->out, "    MIG Mode\n        Current                           : %s\n", mig);
		fprintf(c->out, "    MIG Backend                           : %s\n",
			g->backend == &smi_backend_hw ? "hw (NVIDIA MIG through NVML)"
						      : "soft (gpushare slices: green contexts + memory ledger)");
		char how[800];
		sm_confinement(c, g, how, sizeof how);
		fprintf(c->out, "    SM Confinement                        : %s\n", how);
	}
	return SMI_OK;
}

static int run_models(struct smi_ctx *c)
{
	for (size_t i = 0; i < gs_model_count(); i++) {
		const struct gs_gpu_model *m = gs_model_at(i);
		fprintf(c->out, "%-16s %-24s %3u SMs %7u MiB  %s\n", m->key, m->name, m->sm_count, m->memory_mib,
			m->n_gi ? "MIG profiles" : "no MIG (soft slices: custom sizes)");
	}
	return SMI_OK;
}

const struct smi_cmd smi_cmd_query_gpu = { "--query-gpu", false, true, "Query GPU fields (csv).", run_query_gpu };
const struct smi_cmd smi_cmd_query = { "-q", false, false, "Show each GPU's MIG backend.", run_query };
const struct smi_cmd smi_cmd_models = { "--models", false, false, "List the GPU models gpushare knows.",
					run_models };
