/* cmd-status.c: `gpushare status`: every slice, its limits, its memory in
 * use and the processes in it. */
#include "cli.h"
#include "gs.h"
#include "slices.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

static void print_line(void *ctx, const char *line)
{
	(void)ctx;
	puts(line);
}

static void count_line(void *ctx, const char *line)
{
	(void)line;
	(*(int *)ctx)++;
}

static int status(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	char dir[PATH_MAX];
	int lines = 0;
	if (gs_state_dir(dir, sizeof dir) || gs_slices_report(dir, (uid_t)-1, count_line, &lines)) {
		fprintf(stderr, "gpushare: cannot read the slices in %s\n", dir);
		return 1;
	}
	if (lines <= 1) {
		printf("no slices (create them with gpushare-smi mig -cgi ... -C)\n");
		return 0;
	}
	gs_slices_report(dir, (uid_t)-1, print_line, NULL);
	return 0;
}

const struct cli_cmd cli_cmd_status = { "status", "", "list slices, their limits, use and processes", status };
