/* cmd-run.c: `gpushare run [--slice S | --memory SIZE --sms N] [--no-mps] -- CMD`:
 * runs an unmodified program in a slice: preloads libgpushare.so, names the
 * slice, uses the simulated driver where there is no NVIDIA one, and on a
 * real GPU points the program at an NVIDIA MPS control daemon (kernels of
 * different processes only run at the same time under MPS), starting one with
 * a private pipe directory when none runs. `gpushare mps-stop` stops it. */
#include "cli.h"
#include "cvd.h"
#include "gs.h"
#include "store.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int prepend_env(const char *name, const char *value, const char *sep)
{
	const char *old = getenv(name);
	char buf[8192];
	if (old && *old)
		snprintf(buf, sizeof buf, "%s%s%s", value, sep, old);
	else
		snprintf(buf, sizeof buf, "%s", value);
	return setenv(name, buf, 1);
}

/* Makes sure an MPS control daemon listens in the pipe directory. */
static int ensure_mps(void)
{
	const char *user = getenv("CUDA_MPS_PIPE_DIRECTORY");
	const char *gs = getenv("GPUSHARE_PIPE_DIRECTORY");
	char pipe[PATH_MAX], supervised[PATH_MAX], logdir[PATH_MAX + 16];
	snprintf(supervised, sizeof supervised, "%s/nvidia-mps", gs && *gs ? gs : "/tmp/gpushare");
	if (user && *user)
		snprintf(pipe, sizeof pipe, "%s", user);
	else if (gs_mps_running(supervised)) /* the MPS gpushare-control supervises */
		snprintf(pipe, sizeof pipe, "%s", supervised);
	else
		cli_mps_pipe_dir(pipe, sizeof pipe);
	setenv("CUDA_MPS_PIPE_DIRECTORY", pipe, 1);
	if (gs_mps_running(pipe))
		return 0;
	char mps[PATH_MAX];
	if (gs_find_program("nvidia-cuda-mps-control", mps, sizeof mps)) {
		fprintf(stderr, "gpushare: no nvidia-cuda-mps-control: processes in different slices will "
				"time-slice instead of running side by side\n");
		return 0;
	}
	snprintf(logdir, sizeof logdir, "%s/log", pipe);
	if (gs_mkdir_p(pipe, 0700) || gs_mkdir_p(logdir, 0700)) {
		fprintf(stderr, "gpushare: cannot create %s: %s\n", pipe, strerror(errno));
		return -1;
	}
	pid_t pid = fork();
	if (pid == 0) {
		setenv("CUDA_MPS_LOG_DIRECTORY", logdir, 1);
		unsetenv("LD_PRELOAD");
		execl(mps, mps, "-d", (char *)NULL);
		_exit(127);
	}
	int st;
	waitpid(pid, &st, 0);
	for (int i = 0; i < 50 && !gs_mps_running(pipe); i++)
		usleep(100000);
	if (!gs_mps_running(pipe)) {
		fprintf(stderr, "gpushare: NVIDIA MPS did not start in %s\n", pipe);
		return -1;
	}
	fprintf(stderr, "gpushare: started NVIDIA MPS in %s; it stays for later programs; "
			"stop it with `gpushare mps-stop`\n", pipe);
	return 0;
}

/* Checks that a slice named on the command line exists, for a clear error
 * now rather than a refused CUDA later. */
static bool slice_exists(const char *slice)
{
	struct gs_cvd_entry e;
	size_t n;
	char with[80];
	if (gs_cvd_parse(slice, &e, 1, &n, NULL, 0) || n != 1 || (e.kind != GS_CVD_MIG_UUID && e.kind != GS_CVD_MIG_GPU)) {
		snprintf(with, sizeof with, "MIG-%.70s", slice);
		if (gs_cvd_parse(with, &e, 1, &n, NULL, 0) || n != 1)
			return false;
	}
	static struct gs_store st;
	char dir[PATH_MAX];
	const char *dirs[2] = { dir, "/var/lib/gpushare" };
	if (gs_state_dir(dir, sizeof dir))
		return false;
	for (int d = 0; d < 2; d++) {
		if (gs_store_load(dirs[d], &st, NULL, 0))
			continue;
		for (size_t g = 0; g < st.n_gpu; g++)
			for (size_t k = 0; k < st.gpu[g].layout.n_ci; k++) {
				const struct gs_mig_ci *ci = &st.gpu[g].layout.ci[k];
				char uuid[GS_UUID_STR + 4];
				gs_store_ci_uuid(st.gpu[g].uuid, ci, uuid);
				if (e.kind == GS_CVD_MIG_GPU ? strcasecmp(st.gpu[g].uuid + 4, e.uuid) == 0 && ci->gi == e.gi && ci->id == e.ci
							     : strncasecmp(uuid + 4, e.uuid, strlen(e.uuid)) == 0)
					return true;
			}
	}
	return false;
}

static int run(int argc, char **argv)
{
	const char *slice = NULL, *mem = NULL, *sms = NULL;
	bool mps = true;
	int i = 1;
	for (; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		}
		if (strcmp(argv[i], "--no-mps") == 0) {
			mps = false;
		} else if (i + 1 < argc && strcmp(argv[i], "--slice") == 0) {
			slice = argv[++i];
		} else if (i + 1 < argc && strcmp(argv[i], "--memory") == 0) {
			mem = argv[++i];
		} else if (i + 1 < argc && strcmp(argv[i], "--sms") == 0) {
			sms = argv[++i];
		} else if (argv[i][0] == '-') {
			fprintf(stderr, "gpushare run: unknown option %s\n", argv[i]);
			return 2;
		} else {
			break;
		}
	}
	if (i >= argc) {
		fprintf(stderr, "usage: gpushare run [--slice MIG-<uuid> | --memory SIZE --sms N] [--no-mps] -- COMMAND [ARGS]\n");
		return 2;
	}
	if (slice && (mem || sms)) {
		fprintf(stderr, "gpushare run: give --slice or --memory/--sms, not both\n");
		return 2;
	}
	uint64_t bytes;
	unsigned long long n;
	if (mem && (gs_parse_size(mem, &bytes) || bytes == 0)) {
		fprintf(stderr, "gpushare run: --memory \"%s\" is not a size (examples: 8G, 500M)\n", mem);
		return 2;
	}
	if (sms && (gs_parse_uint(sms, 4096, &n) || n == 0)) {
		fprintf(stderr, "gpushare run: --sms \"%s\" is not an SM count (1 to 4096)\n", sms);
		return 2;
	}
	if (slice && !slice_exists(slice)) {
		fprintf(stderr, "gpushare run: no slice \"%s\" (gpushare-smi -L lists them)\n", slice);
		return 2;
	}
	char dir[PATH_MAX], lib[PATH_MAX + 64], sim[PATH_MAX + 64];
	if (cli_exe_dir(dir, sizeof dir))
		return 1;
	if (cli_lib_path(lib, sizeof lib)) {
		fprintf(stderr, "gpushare run: cannot find libgpushare.so (set GPUSHARE_LIB)\n");
		return 1;
	}
	bool real = gs_nvidia_driver_present();
	if (!real) {
		/* the build tree's layout, else the installed one */
		snprintf(sim, sizeof sim, "%s/../lib/gpushare-sim", dir);
		if (access(sim, R_OK))
			snprintf(sim, sizeof sim, "%s/../lib/gpushare/sim", dir);
		prepend_env("LD_LIBRARY_PATH", sim, ":");
	}
	prepend_env("LD_PRELOAD", lib, " ");
	if (slice)
		setenv("GPUSHARE_SLICE", slice, 1);
	if (mem)
		setenv("GPUSHARE_MEMORY_LIMIT", mem, 1);
	if (sms)
		setenv("GPUSHARE_SMS", sms, 1);
	if (real && mps && ensure_mps())
		return 1;
	execvp(argv[i], argv + i);
	fprintf(stderr, "gpushare run: %s: %s\n", argv[i], strerror(errno));
	return 127;
}

const struct cli_cmd cli_cmd_run = { "run", "[--slice S | --memory SIZE --sms N] [--no-mps] -- CMD...",
				     "run a program in a slice", run };
