/* cmd-run.c: `gpushare run [--slice S | --memory SIZE --sms N [--overcommit]]
 * [--no-mps] -- CMD`: runs an unmodified program in a slice: preloads
 * libgpushare.so, names the slice, uses the simulated driver where there is no
 * NVIDIA one, and on a real GPU points the program at an NVIDIA MPS control
 * daemon (kernels of different processes only run at the same time under
 * MPS), starting one with a private pipe directory when none runs.
 * `gpushare mps-stop` stops it.
 *
 * --memory/--sms make a job slice: an ephemeral slice of the whole job,
 * placed like any other (its own SMs, its memory checked against the GPU's
 * guarantees), made by gpushare-control when one runs (create_job_slice),
 * else in the user's own store. This process stays as the job's subreaper:
 * every descendant, however deep and however it detached, stays below it, so
 * the daemon finds the job's programs by their ancestry whatever their
 * environment. The slice goes when the job does (after a SIGKILL of this
 * process too: the daemon, or the next gpushare run, collects it).
 *
 * --trace FILE traces the job's kernels: every process writes its own part
 * into FILE.d (GPUSHARE_TRACE_FILE, made private here), and when the whole
 * job has ended (this process its subreaper, as for a job slice) the parts
 * become one document in FILE. */
#include "cli.h"
#include "ctlclient.h"
#include "cvd.h"
#include "gpus.h"
#include "gs.h"
#include "slice.h"
#include "store.h"
#include "tracefile.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
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

/* The slice a name on the command line means (its human name, a MIG UUID or
 * a prefix of one), for a clear error now rather than a refused CUDA later.
 * It looks where the interposer does: $GPUSHARE_STATE_DIR alone where it is
 * set, else the user's store, then the system's. Its MIG-<uuid> into out,
 * 0; -ENOENT; or, why in err, -EEXIST (a prefix of several) or the error of
 * a store that could not be read. */
static int slice_resolve(const char *slice, char *out, size_t len, char *err, size_t errlen)
{
	static struct gs_store st;
	char dir[PATH_MAX];
	const char *dirs[2] = { dir, "/var/lib/gpushare" };
	int unreadable = 0;
	if (gs_state_dir(dir, sizeof dir))
		return -ENOENT;
	for (int d = 0; d < (getenv("GPUSHARE_STATE_DIR") ? 1 : 2); d++) {
		struct gs_store_gpu *g;
		struct gs_mig_ci *ci;
		char why[384];
		int rc = gs_store_load(dirs[d], &st, why, sizeof why);
		if (rc) {
			if (!unreadable)
				snprintf(err, errlen, "%s", why);
			unreadable = rc;
		} else if ((rc = gs_slice_resolve(&st, slice, &g, &ci, why, sizeof why)) == -EEXIST) {
			snprintf(err, errlen, "%s", why);
			return rc;
		} else if (rc == 0) {
			char uuid[GS_UUID_STR + 4];
			gs_store_ci_uuid(g->uuid, ci, uuid);
			snprintf(out, len, "%s", uuid);
			return 0;
		}
	}
	return unreadable ? unreadable : -ENOENT;
}

/* The job slice from gpushare-control: its UUID into uuid; the connection
 * stays open for the job's life. 0, or 1 when refused (stderr says why). */
static int daemon_job_slice(int fd, unsigned sms, uint64_t bytes, bool overcommit, char *uuid, size_t len)
{
	char line[256];
	int n = snprintf(line, sizeof line, "create_job_slice %u %lluM%s\n", sms, (unsigned long long)(bytes >> 20),
			 overcommit ? " -overcommit" : "");
	if (send(fd, line, (size_t)n, MSG_NOSIGNAL) != n) {
		fprintf(stderr, "gpushare run: gpushare-control closed the connection\n");
		return 1;
	}
	FILE *f = fdopen(dup(fd), "r");
	int status = -1, lines = 0;
	uuid[0] = '\0';
	while (f && fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "E ", 2) == 0) {
			status = atoi(line + 2);
			break;
		}
		bool tagged = strncmp(line, "R ", 2) == 0 || strncmp(line, "W ", 2) == 0 || strncmp(line, "C ", 2) == 0;
		const char *text = tagged ? line + 2 : line;
		if (lines++ == 0 && strncmp(line, "R MIG-", 6) == 0)
			snprintf(uuid, len, "%s", text);
		else
			fprintf(stderr, "gpushare run: %s\n", text);
	}
	if (f)
		fclose(f);
	if (status != 0 || !uuid[0]) {
		if (status != 0 && lines == 0)
			fprintf(stderr, "gpushare run: gpushare-control gave no answer\n");
		return 1;
	}
	return 0;
}

/* The job slice in the user's own store, without a daemon. */
static int own_job_slice(const char *dir, unsigned sms, uint64_t bytes, bool overcommit, char *uuid, size_t len)
{
	struct gs_slice_gpu gpus[GS_STORE_MAX_GPU];
	size_t n;
	char err[512];
	if (gs_gpus_discover(gpus, GS_STORE_MAX_GPU, &n, err, sizeof err) || n == 0) {
		fprintf(stderr, "gpushare run: no GPU for a job slice: %s\n", n ? err : "none found");
		return 1;
	}
	gs_slice_collect(dir, ""); /* jobs that ended without cleaning up (SIGKILL) */
	struct gs_slice_spec spec = { .sm = sms, .memory = bytes, .overcommit = overcommit, .guarantee = UINT64_MAX,
				      .owner = getpid() };
	struct gs_slice_info made;
	if (gs_slice_create(dir, &gpus[0], &spec, &made, err, sizeof err)) {
		fprintf(stderr, "gpushare run: %s\n", err);
		return 1;
	}
	if (made.note[0])
		fprintf(stderr, "gpushare run: %s\n", made.note);
	snprintf(uuid, len, "%s", made.uuid);
	return 0;
}

static pid_t job_child;
static void pass_signal(int sig)
{
	if (job_child > 0)
		kill(job_child, sig);
}

/* Runs the job below this process and waits for all of it, as its
 * subreaper; the job's first process's exit status. */
static int run_job(char **argv)
{
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "gpushare run: fork: %s\n", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		execvp(argv[0], argv);
		fprintf(stderr, "gpushare run: %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	job_child = pid;
	struct sigaction sa = { .sa_handler = pass_signal };
	sigemptyset(&sa.sa_mask);
	int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaction(sigs[i], &sa, NULL);
	int status = 0, st;
	for (;;) {
		pid_t w = waitpid(-1, &st, 0);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			break; /* ECHILD: the whole job is gone */
		if (w == pid)
			status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	}
	return status;
}

/* FILE.d, private, for the job's parts: GPUSHARE_TRACE_FILE names a part
 * per pid in it (absolute: the job may change directory). */
static int trace_begin(const char *file, char *dir, size_t len)
{
	char cwd[PATH_MAX] = "";
	if (file[0] != '/' && !getcwd(cwd, sizeof cwd)) {
		fprintf(stderr, "gpushare run: --trace %s: no working directory: %s\n", file, strerror(errno));
		return 1;
	}
	if (snprintf(dir, len, "%s%s%s.d", cwd, cwd[0] ? "/" : "", file) >= (int)len) {
		fprintf(stderr, "gpushare run: --trace %s: the path is too long\n", file);
		return 1;
	}
	if (mkdir(dir, 0700)) {
		fprintf(stderr, "gpushare run: cannot make %s for the trace's parts: %s%s\n", dir, strerror(errno),
			errno == EEXIST ? " (another trace\'s? remove it, or trace to another file)" : "");
		return 1;
	}
	char pattern[PATH_MAX + 16];
	snprintf(pattern, sizeof pattern, "%s/%%p.json", dir);
	setenv("GPUSHARE_TRACE_FILE", pattern, 1);
	return 0;
}

/* The parts into FILE; they stay in FILE.d when that fails. */
static int trace_end(const char *dir, const char *file)
{
	struct tracefile_sum sum;
	char err[PATH_MAX + 256];
	if (tracefile_merge_dir(dir, file, &sum, err, sizeof err)) {
		fprintf(stderr, "gpushare run: the trace's parts stay in %s: %s\n", dir, err);
		return 1;
	}
	fprintf(stderr, "gpushare run: trace of %u processes in %s: %lu kernels", sum.parts, file, sum.kernels);
	if (sum.dropped)
		fprintf(stderr, ", %lu launches not traced (its buffer was full)", sum.dropped);
	if (sum.incomplete)
		fprintf(stderr, ", %u processes cut short (their complete events kept)", sum.incomplete);
	fputc('\n', stderr);
	return 0;
}

static int run(int argc, char **argv)
{
	const char *slice = NULL, *mem = NULL, *sms = NULL, *trace = NULL;
	bool mps = true, overcommit = false;
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
		} else if (strcmp(argv[i], "--overcommit") == 0) {
			overcommit = true;
		} else if (i + 1 < argc && strcmp(argv[i], "--trace") == 0) {
			trace = argv[++i];
		} else if (argv[i][0] == '-') {
			fprintf(stderr, "gpushare run: unknown option %s\n", argv[i]);
			return 2;
		} else {
			break;
		}
	}
	if (i >= argc) {
		fprintf(stderr, "usage: gpushare run [--slice MIG-<uuid> | --memory SIZE --sms N [--overcommit]] [--no-mps] "
				"[--trace FILE] -- COMMAND [ARGS]\n");
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
	if (!mem != !sms) {
		fprintf(stderr, "gpushare run: a job slice needs both --memory and --sms (e.g. --memory 8G --sms 32)\n");
		return 2;
	}
	if (overcommit && !mem) {
		fprintf(stderr, "gpushare run: --overcommit goes with --memory and --sms\n");
		return 2;
	}
	/* --slice a,b: a slice of each of several GPUs, the program's devices
	 * in that order, as CUDA_VISIBLE_DEVICES=MIG-<a>,MIG-<b> gives them */
	char resolved[GS_UUID_STR + 8], why[384], list[8 * (GS_UUID_STR + 8)] = "";
	size_t n_slices = 0, listed = 0;
	for (const char *p = slice; p && *p && n_slices < 9; n_slices++) {
		char one[128];
		size_t len = strcspn(p, ",");
		snprintf(one, sizeof one, "%.*s", (int)(len < sizeof one ? len : sizeof one - 1), p);
		p += len + (p[len] == ',');
		if (n_slices == 8) {
			fprintf(stderr, "gpushare run: --slice names more than 8 slices\n");
			return 2;
		}
		int found = slice_resolve(one, resolved, sizeof resolved, why, sizeof why);
		if (found == -ENOENT) {
			fprintf(stderr, "gpushare run: no slice \"%s\" (gpushare-smi -L and gpushare status list them)\n",
				one);
			return 2;
		}
		if (found) {
			fprintf(stderr, "gpushare run: slice \"%s\": %s\n", one, why);
			return 1;
		}
		listed += (size_t)snprintf(list + listed, sizeof list - listed, "%s%s", n_slices ? "," : "", resolved);
	}
	if (slice && n_slices == 0) {
		fprintf(stderr, "gpushare run: --slice needs a slice (gpushare-smi -L and gpushare status list them)\n");
		return 2;
	}
	if (slice)
		slice = n_slices == 1 ? resolved : list;
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
	if (slice && n_slices > 1) {
		/* each slice in its device's place; the interposer (and the
		 * daemon) find them there, and that no two share a GPU */
		unsetenv("GPUSHARE_SLICE");
		setenv("CUDA_VISIBLE_DEVICES", slice, 1);
	} else if (slice) {
		setenv("GPUSHARE_SLICE", slice, 1);
	}
	if (real && mps && ensure_mps())
		return 1;
	char trace_dir[PATH_MAX];
	if (trace && trace_begin(trace, trace_dir, sizeof trace_dir))
		return 1;
	if (mem) {
		char uuid[GS_UUID_STR + 8], own[PATH_MAX];
		int fd = ctlclient_connect(5000);
		if (fd >= 0 ? daemon_job_slice(fd, (unsigned)n, bytes, overcommit, uuid, sizeof uuid)
			    : gs_state_dir(own, sizeof own) || own_job_slice(own, (unsigned)n, bytes, overcommit, uuid, sizeof uuid))
			return 1;
		/* the daemon places the job by its ancestry; without one, by name */
		setenv("GPUSHARE_SLICE", uuid, 1);
		int status = run_job(argv + i);
		if (fd >= 0)
			close(fd); /* the daemon removes the slice */
		else {
			struct gs_slice_info gone;
			char err[512];
			if (gs_slice_destroy(own, uuid, &gone, err, sizeof err))
				fprintf(stderr, "gpushare run: the job slice %s stays: %s\n", uuid, err);
		}
		if (trace && trace_end(trace_dir, trace) && status == 0)
			status = 1;
		return status;
	}
	if (trace) {
		int status = run_job(argv + i);
		return trace_end(trace_dir, trace) && status == 0 ? 1 : status;
	}
	execvp(argv[i], argv + i);
	fprintf(stderr, "gpushare run: %s: %s\n", argv[i], strerror(errno));
	return 127;
}

const struct cli_cmd cli_cmd_run = {
	"run", "[--slice S | --memory SIZE --sms N [--overcommit]] [--no-mps] [--trace FILE] -- CMD...",
	"run a program in a slice", run,
	"  --slice S        an existing slice: its name, MIG-<uuid> or a unique prefix of it; S,T,...: a\n"
	"                   slice of each of several GPUs, seen as that many devices in that order\n"
	"  --memory SIZE    with --sms: a job slice of its own for CMD and all it starts (8G, 500M),\n"
	"                   gone when the job has ended\n"
	"  --sms N          the job slice's SMs\n"
	"  --overcommit     the job slice may go past what the GPU's guarantees leave free\n"
	"  --no-mps         do not start NVIDIA's MPS for the program on a real GPU\n"
	"  --trace FILE     every kernel of CMD and all it starts, with its GPU time and SMs, into\n"
	"                   FILE (Chrome's trace format: ui.perfetto.dev; gpushare timeline draws it)\n"
	"  -h, --help       this text\n"
};
