/* main.c: gpushare, the command that runs programs in slices. */
#include "cli.h"
#include "gs.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct cli_cmd *const commands[] = { &cli_cmd_run,    &cli_cmd_status, &cli_cmd_top,
						  &cli_cmd_mps_stop, &cli_cmd_preload, &cli_cmd_apply,
						  &cli_cmd_assert, &cli_cmd_export, &cli_cmd_cdi,
						  &cli_cmd_timeline };

int cli_exe_dir(char *out, unsigned long len)
{
	ssize_t n = readlink("/proc/self/exe", out, len - 1);
	if (n <= 0)
		return -1;
	out[n] = '\0';
	char *slash = strrchr(out, '/');
	if (slash)
		*slash = '\0';
	return 0;
}

int cli_lib_path(char *out, unsigned long len)
{
	const char *env = getenv("GPUSHARE_LIB");
	char dir[PATH_MAX];
	if (env && *env) {
		snprintf(out, len, "%s", env);
	} else {
		if (cli_exe_dir(dir, sizeof dir))
			return -ENOENT;
		/* the build tree's layout, else the installed one */
		snprintf(out, len, "%s/../lib/libgpushare.so", dir);
		if (access(out, R_OK))
			snprintf(out, len, "%s/../lib/gpushare/libgpushare.so", dir);
	}
	return access(out, R_OK) ? -errno : 0;
}

void cli_mps_pipe_dir(char *out, unsigned long len)
{
	const char *d = getenv("GPUSHARE_MPS_PIPE_DIRECTORY");
	if (d && *d)
		snprintf(out, len, "%s", d);
	else
		snprintf(out, len, "/tmp/gpushare-mps-%ld", (long)geteuid());
}

static void usage(FILE *f)
{
	fprintf(f, "usage: gpushare <command> [args]\n\n");
	for (size_t i = 0; i < GS_ARRAY_LEN(commands); i++)
		fprintf(f, "  gpushare %s %s\n      %s\n", commands[i]->name, commands[i]->args, commands[i]->usage);
}

static bool is_help(const char *a)
{
	return strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0;
}

int main(int argc, char **argv)
{
	if (argc < 2 || is_help(argv[1])) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("gpushare %s\n", GS_VERSION);
		return 0;
	}
	for (size_t i = 0; i < GS_ARRAY_LEN(commands); i++) {
		const struct cli_cmd *c = commands[i];
		if (strcmp(argv[1], c->name))
			continue;
		/* gpushare <command> --help, before the command's own options (not
		 * after run's --, where the options are the program's) */
		if (argc >= 3 && is_help(argv[2])) {
			printf("usage: gpushare %s %s\n    %s\n", c->name, c->args, c->usage);
			if (c->options)
				printf("\n%s", c->options);
			return 0;
		}
		return c->run(argc - 1, argv + 1);
	}
	fprintf(stderr, "gpushare: unknown command \"%s\"\n", argv[1]);
	usage(stderr);
	return 2;
}
