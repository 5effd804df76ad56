/* cmd-status.c: plain `gpushare-smi`: nvidia-smi's status table, its MIG
 * devices block (hardware or soft slices) and the processes. */
#include "ledger.h"
#include "smi.h"
#include "store.h"

#include <limits.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


static const char *line91 =
	"+-----------------------------------------------------------------------------------------+\n";
static const char *gpu_sep =
	"+-----------------------------------------+------------------------+----------------------+\n";
static const char *mig_sep =
	"+------------------+----------------------------------+-----------+-----------------------+\n";

/* Bytes to MiB rounded to nearest, as nvidia-smi prints usage. */
static unsigned long long mib(uint64_t bytes)
{
	return (bytes + (1u << 19)) >> 20;
}

static void padded(FILE *out, const char *text)
{
	fprintf(out, "| %-87s |\n", text);
}

static void header(struct smi_ctx *c)
{
	char drv[80] = "N/A", line[128];
	int cuda = 0;
	gs_nvml.nvmlSystemGetDriverVersion(drv, sizeof drv);
	gs_nvml.nvmlSystemGetCudaDriverVersion(&cuda);
	time_t now = time(NULL);
	char date[64];
	strftime(date, sizeof date, "%a %b %e %H:%M:%S %Y", localtime(&now));
	fprintf(c->out, "%s\n", date);
	fputs(line91, c->out);
	snprintf(line, sizeof line, "GPUSHARE-SMI %-9s Driver Version: %-12s CUDA Version: %d.%d %s", GS_VERSION,
		 drv, cuda / 1000, cuda % 1000 / 10, gs_nvml.simulated ? "(simulated GPU)" : "");
	padded(c->out, line);
	fputs(gpu_sep, c->out);
	fputs("| GPU  Name                 Persistence-M | Bus-Id          Disp.A | Volatile Uncorr. ECC |\n"
	      "| Fan  Temp   Perf          Pwr:Usage/Cap |           Memory-Usage | GPU-Util  Compute M. |\n"
	      "|                                         |                        |               MIG M. |\n"
	      "|=========================================+========================+======================|\n",
	      c->out);
}

static bool mig_on(const struct smi_gpu *g)
{
	return g->hw_mig || g->soft_mig;
}

static uint64_t gpu_used(struct smi_gpu *g)
{
	nvmlMemory_t mem = { 0 };
	gs_nvml.nvmlDeviceGetMemoryInfo(g->dev, &mem);
	/* a real GPU reports what it holds; the simulated one adds up its GIs */
	if (!g->soft_mig || !gs_nvml.simulated)
		return mem.used;
	uint64_t used = 0;
	struct smi_gi_view v[GS_MIG_MAX_GI];
	size_t n;
	if (g->backend->gi_list(g, v, GS_MIG_MAX_GI, &n) == 0)
		for (size_t i = 0; i < n; i++)
			used += g->backend->gi_used_bytes(g, v[i].id);
	return used;
}

static void gpu_rows(struct smi_ctx *c, struct smi_gpu *g)
{
	unsigned temp = 0, mw = 0, cap = 0;
	int pstate = 0, persist = 0;
	nvmlMemory_t mem = { 0 };
	gs_nvml.nvmlDeviceGetTemperature(g->dev, NVML_TEMPERATURE_GPU, &temp);
	gs_nvml.nvmlDeviceGetPowerUsage(g->dev, &mw);
	gs_nvml.nvmlDeviceGetEnforcedPowerLimit(g->dev, &cap);
	gs_nvml.nvmlDeviceGetPerformanceState(g->dev, &pstate);
	gs_nvml.nvmlDeviceGetPersistenceMode(g->dev, &persist);
	gs_nvml.nvmlDeviceGetMemoryInfo(g->dev, &mem);
	char used[24], total[24], pst[8];
	snprintf(used, sizeof used, "%lluMiB", mib(gpu_used(g)));
	snprintf(total, sizeof total, "%lluMiB", mem.total >> 20);
	snprintf(pst, sizeof pst, "P%d", pstate);
	bool mig = mig_on(g);
	fprintf(c->out, "|%4u  %-30.30s%3s  |   %-16s %3s |%21s |\n", g->index, g->name,
		persist ? "On" : "Off", g->bus_id, "Off", mig ? "On" : "0");
	fprintf(c->out, "| %-4s %3uC    %-3s%14uW / %4uW |%11s / %9s |%8s%13s |\n", "N/A", temp, pst,
		mw / 1000, cap / 1000, used, total, mig ? "N/A" : "0%", "Default");
	fprintf(c->out, "|%41s|%24s|%21s |\n", "", "",
		mig ? "Enabled" : g->hw_mig_capable || g->model.mem_slices ? "Disabled" : "N/A");
	fputs(gpu_sep, c->out);
}

static void mig_block(struct smi_ctx *c)
{
	bool any = false;
	for (size_t i = 0; i < c->n_gpu; i++)
		any |= c->selected[i] && mig_on(&c->gpus[i]);
	if (!any)
		return;
	fputc('\n', c->out);
	fputs(line91, c->out);
	padded(c->out, "MIG devices:");
	fputs(mig_sep, c->out);
	fputs("| GPU  GI  CI  MIG |              Shared Memory-Usage |        Vol|        Shared         |\n"
	      "|      ID  ID  Dev |                Shared BAR1-Usage | SM     Unc| CE ENC  DEC  OFA  JPG |\n"
	      "|                  |                                  |        ECC|                       |\n"
	      "|==================+==================================+===========+=======================|\n",
	      c->out);
	size_t rows = 0;
	for (size_t i = 0; i < c->n_gpu; i++) {
		struct smi_gpu *g = &c->gpus[i];
		if (!c->selected[i] || !mig_on(g))
			continue;
		struct smi_ci_view v[GS_MIG_MAX_CI];
		struct smi_gi_view gis[GS_MIG_MAX_GI];
		size_t n, ngi;
		if (smi_mig_devices(g, v, GS_MIG_MAX_CI, &n) || g->backend->gi_list(g, gis, GS_MIG_MAX_GI, &ngi))
			continue;
		for (size_t k = 0; k < n; k++) {
			const struct smi_gi_view *gv = NULL;
			for (size_t q = 0; q < ngi; q++)
				if (gis[q].id == v[k].gi)
					gv = &gis[q];
			const struct gs_gi_profile *p = gv && gv->profile_id != GS_MIG_CUSTOM
				? gs_model_gi_by_id(&g->model, (unsigned)gv->profile_id) : NULL;
			uint32_t gi_mib = p ? p->memory_mib : 0;
			unsigned slices = p ? p->size : 1;
			if (!p && g->backend == &smi_backend_soft) {
				/* custom size: read its memory from the store view */
				struct gs_store st;
				char dir[PATH_MAX];
				if (gs_state_dir(dir, sizeof dir) == 0 && gs_store_load(dir, &st, NULL, 0) == 0) {
					struct gs_store_gpu *sg = gs_store_gpu(&st, g->uuid, false);
					struct gs_mig_gi *gi = sg ? gs_mig_gi_find(&sg->layout, v[k].gi) : NULL;
					if (gi)
						gi_mib = gi->memory_mib;
				}
			}
			char used[24], total[24], b1u[24], b1t[24];
			snprintf(used, sizeof used, "%lluMiB", mib(g->backend->gi_used_bytes(g, v[k].gi)));
			snprintf(total, sizeof total, "%uMiB", gi_mib);
			snprintf(b1u, sizeof b1u, "0MiB");
			snprintf(b1t, sizeof b1t, "%lluMiB", (unsigned long long)g->model.bar1_slice_kib * slices / 1024);
			fprintf(c->out, "|%3u%5u%4u%4zu  |%19s / %8s    |%3u      0 |%3u%4u%5u%5u%5u |\n", g->index,
				v[k].gi, v[k].id, k, used, total, v[k].sm, p ? p->ce : 0, p ? p->enc : 0,
				p ? p->dec : 0, p ? p->ofa : 0, p ? p->jpeg : 0);
			fprintf(c->out, "|%18s|%19s / %8s    |%11s|%23s|\n", "", b1u, b1t, "", "");
			fputs(mig_sep, c->out);
			rows++;
		}
	}
	if (!rows) {
		padded(c->out, "No MIG devices found");
		fputs(line91, c->out);
	}
}

static void process_row(struct smi_ctx *c, unsigned gpu, const char *gi, const char *ci, pid_t pid,
			uint64_t bytes)
{
	char comm[64] = "[Not Found]", path[64], usage[24];
	snprintf(path, sizeof path, "/proc/%ld/comm", (long)pid);
	FILE *f = fopen(path, "r");
	if (f) {
		if (fgets(comm, sizeof comm, f))
			comm[strcspn(comm, "\n")] = '\0';
		fclose(f);
	}
	snprintf(usage, sizeof usage, "%lluMiB", mib(bytes));
	fprintf(c->out, "|  %3u  %4s %4s  %14ld  %5s   %-36.36s%10s |\n", gpu, gi, ci, (long)pid, "C", comm, usage);
}

static void processes(struct smi_ctx *c)
{
	fputc('\n', c->out);
	fputs(line91, c->out);
	padded(c->out, "Processes:");
	fputs("|  GPU   GI   CI              PID   Type   Process name                        GPU Memory |\n"
	      "|        ID   ID                                                               Usage      |\n"
	      "|=========================================================================================|\n",
	      c->out);
	size_t rows = 0;
	for (size_t i = 0; i < c->n_gpu; i++) {
		struct smi_gpu *g = &c->gpus[i];
		if (!c->selected[i])
			continue;
		if (g->soft_mig) {
			struct smi_process p[256];
			size_t n;
			if (smi_soft_processes(g, p, GS_ARRAY_LEN(p), &n))
				continue;
			for (size_t k = 0; k < n; k++, rows++) {
				char gi[8], ci[8];
				snprintf(gi, sizeof gi, "%u", p[k].gi);
				snprintf(ci, sizeof ci, p[k].ci < 0 ? "-" : "%d", p[k].ci);
				process_row(c, g->index, gi, ci, p[k].pid, p[k].bytes);
			}
			continue;
		}
		nvmlProcessInfo_t p[64];
		unsigned n = 64;
		if (gs_nvml.nvmlDeviceGetComputeRunningProcesses_v3 &&
		    gs_nvml.nvmlDeviceGetComputeRunningProcesses_v3(g->dev, &n, p) == NVML_SUCCESS)
			for (unsigned k = 0; k < n; k++, rows++)
				process_row(c, g->index, "N/A", "N/A", (pid_t)p[k].pid, p[k].usedGpuMemory);
	}
	if (!rows)
		padded(c->out, " No running processes found");
	fputs(line91, c->out);
}

static int run_status(struct smi_ctx *c)
{
	header(c);
	for (size_t i = 0; i < c->n_gpu; i++)
		if (c->selected[i])
			gpu_rows(c, &c->gpus[i]);
	mig_block(c);
	processes(c);
	return SMI_OK;
}

const struct smi_cmd smi_cmd_status = { "", false, false, "Show the status table.", run_status };
