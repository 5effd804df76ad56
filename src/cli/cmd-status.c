/* cmd-status.c: `gpushare status`: every slice, its limits, its memory in
 * use and the processes in it. */
#include "cli.h"
#include "gs.h"
#include "gpus.h"
#include "slices.h"
#include "store.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_line(void *ctx, const char *line)
{
	(void)ctx;
	puts(line);
}

static int status(int argc, char **argv)
{
	bool as_json = argc == 2 && (strcmp(argv[1], "--json") == 0 || strcmp(argv[1], "-o=json") == 0);
	if (argc > 2 || (argc == 2 && !as_json)) {
		fprintf(stderr, "usage: gpushare status [--json]\n");
		return 2;
	}
	char dir[PATH_MAX], why[512], nvml[256];
	struct gs_slice_gpu gpus[GS_STORE_MAX_GPU];
	size_t n_gpus = 0;
	if (gs_gpus_discover(gpus, GS_ARRAY_LEN(gpus), &n_gpus, nvml, sizeof nvml))
		n_gpus = 0; /* the slices all the same, without their GPU indexes */
	if (gs_state_dir(dir, sizeof dir)) {
		fprintf(stderr, "gpushare status: no state directory (GPUSHARE_STATE_DIR, else /var/lib/gpushare for root, "
				"else ~/.local/state/gpushare)\n");
		return 1;
	}
	struct gs_slice_row *rows;
	size_t n;
	if (gs_slices_rows(dir, (uid_t)-1, gpus, n_gpus, &rows, &n, why, sizeof why)) {
		fprintf(stderr, "gpushare status: %s\n", why);
		return 1;
	}
	if (n == 0 && !as_json)
		printf("no slices (create them with gpushare-smi mig -cgi ... -C)\n");
	else
		gs_slices_print(rows, n, as_json, print_line, NULL);
	free(rows);
	return 0;
}

const struct cli_cmd cli_cmd_status = {
	"status", "[--json]", "list slices, their limits, use and processes", status,
	"  --json           the same as JSON (its schema: docs/control.md)\n"
	"  -h, --help       this text\n"
};
