/* cmd-status.c: `gpushare status`: every slice, its limits, its memory in
 * use and the processes in it. */
#include "cli.h"
#include "gs.h"
#include "ledger.h"
#include "store.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int status(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	static struct gs_store st;
	char dir[PATH_MAX - 128], err[256];
	if (gs_state_dir(dir, sizeof dir) || gs_store_load(dir, &st, err, sizeof err)) {
		fprintf(stderr, "gpushare: %s\n", err);
		return 1;
	}
	printf("%-42s %3s %3s %5s %10s %10s  %s\n", "SLICE", "GI", "CI", "SMs", "MEMORY", "USED", "PROCESSES");
	size_t n = 0;
	for (size_t g = 0; g < st.n_gpu; g++) {
		const struct gs_store_gpu *sg = &st.gpu[g];
		for (size_t k = 0; k < sg->layout.n_ci; k++) {
			const struct gs_mig_ci *ci = &sg->layout.ci[k];
			const struct gs_mig_gi *gi = NULL;
			for (size_t i = 0; i < sg->layout.n_gi; i++)
				if (sg->layout.gi[i].id == ci->gi)
					gi = &sg->layout.gi[i];
			if (!gi)
				continue;
			uint32_t mib = gi->memory_mib;
			char uuid[GS_UUID_STR + 4], path[PATH_MAX], procs[256] = "-";
			gs_store_ci_uuid(sg->uuid, ci, uuid);
			/* memory and processes are the GPU instance's, shared by its CIs */
			gs_store_ledger_path(dir, sg->uuid, gi, path, sizeof path);
			uint64_t used = 0;
			struct gs_ledger *l;
			if (access(path, F_OK) == 0 && gs_ledger_open(path, 0, &l) == 0) {
				struct gs_ledger_usage u[16];
				size_t nu = gs_ledger_usage(l, u, 16);
				used = gs_ledger_used(l);
				size_t len = 0;
				for (size_t q = 0; q < nu && len < sizeof procs - 16; q++)
					len += (size_t)snprintf(procs + len, sizeof procs - len, "%s%ld", q ? "," : "", (long)u[q].pid);
				gs_ledger_close(l);
			}
			printf("%-42s %3u %3u %5u %7uMiB %7lluMiB  %s\n", uuid, ci->gi, ci->id, ci->sm, mib,
			       (unsigned long long)(used >> 20), procs);
			n++;
		}
	}
	if (!n)
		printf("no slices (create them with gpushare-smi mig -cgi ... -C)\n");
	return 0;
}

const struct cli_cmd cli_cmd_status = { "status", "", "list slices, their limits, use and processes", status };
