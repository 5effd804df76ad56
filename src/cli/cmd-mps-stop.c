/* cmd-mps-stop.c: `gpushare mps-stop`: stops the NVIDIA MPS control daemon
 * that `gpushare run` started (its servers finish their clients first). */
#include "cli.h"
#include "gs.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int mps_stop(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	char pipe[PATH_MAX];
	const char *user = getenv("CUDA_MPS_PIPE_DIRECTORY");
	if (user && *user)
		snprintf(pipe, sizeof pipe, "%s", user);
	else
		cli_mps_pipe_dir(pipe, sizeof pipe);
	if (!gs_mps_running(pipe)) {
		fprintf(stderr, "gpushare: no MPS control daemon in %s\n", pipe);
		return 1;
	}
	setenv("CUDA_MPS_PIPE_DIRECTORY", pipe, 1);
	FILE *p = popen("nvidia-cuda-mps-control", "w");
	if (!p || fputs("quit\n", p) < 0) {
		fprintf(stderr, "gpushare: cannot run nvidia-cuda-mps-control\n");
		return 1;
	}
	int rc = pclose(p);
	printf("stopped NVIDIA MPS in %s\n", pipe);
	return rc ? 1 : 0;
}

const struct cli_cmd cli_cmd_mps_stop = { "mps-stop", "", "stop the NVIDIA MPS daemon gpushare run started", mps_stop,
					  NULL };
