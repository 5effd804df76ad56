/* spank-gpushare.c: gpushare under Slurm. A SPANK plugin (plugstack.conf)
 * that gives each job that asks (srun/sbatch --gpushare=<size>, or
 * --gres=shard:<n> with a size per shard) one slice of gpushare-control,
 * named slurm-<job id>, open to the job's user alone and holding every
 * process of every step by cgroup, and takes it away at the job's end. The
 * daemon decides and places; this plugin only asks, as root, from
 * slurmstepd and slurmd.
 *
 * plugstack.conf arguments:
 *   shard=<size>   what one shard of --gres=shard:<n> is: a share of the GPU
 *                  (0.125) or a custom size (16sm.5gb); n shards are n times it
 *   pipe=<dir>     gpushare-control's pipe directory (default: its own,
 *                  /tmp/gpushare, then GPUSHARE_PIPE_DIRECTORY of slurmd)
 *   gpu=<index>    the GPU slices are made on (default 0) */
#include "gs.h"
#include "sock.h"

#include <slurm/slurm.h>
#include <slurm/spank.h>

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

SPANK_PLUGIN(gpushare, 1);

#define SIZE_MAX_LEN 40
/* Slurm's id of the step that runs no task of the user's */
#define STEP_EXTERN 0xfffffffcu

static char opt_size[SIZE_MAX_LEN + 1];
/* why the job's slice could not be made, in slurmstepd, for its tasks:
 * Slurm runs a step whose init_post_opt failed, so each task refuses to */
static char refusal[600];

static int take_size(int val, const char *optarg, int remote)
{
	(void)val, (void)remote;
	size_t n = optarg ? strlen(optarg) : 0;
	if (n == 0 || n > SIZE_MAX_LEN || strspn(optarg, "0123456789.%abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+") != n) {
		slurm_error("gpushare: --gpushare=%.40s: give a size as 64sm.24gb, an NVIDIA profile as 3g.20gb, "
			    "or a share of the GPU as 0.25 or 25%%", optarg ? optarg : "");
		return ESPANK_BAD_ARG;
	}
	memcpy(opt_size, optarg, n + 1);
	return ESPANK_SUCCESS;
}

/* registered in slurm_spank_init, as sbatch and salloc need */
static struct spank_option size_option = {
	"gpushare", "size",
	"Run the job in a gpushare slice of this size: <SMs>sm.<N>gb (64sm.24gb), one of the GPU's NVIDIA "
	"profiles (3g.20gb) or a share of the GPU (0.25, 25%)",
	1, 0, take_size
};

struct conf {
	char shard[SIZE_MAX_LEN + 1];
	char pipe[80];
	char gpu[16];
};

static int read_conf(int ac, char **av, struct conf *c)
{
	memset(c, 0, sizeof *c);
	snprintf(c->gpu, sizeof c->gpu, "0");
	for (int i = 0; i < ac; i++) {
		const char *v = strchr(av[i], '=');
		size_t k = v ? (size_t)(v - av[i]) : 0;
		char *dst = NULL;
		size_t len = 0;
		if (v && k == 5 && strncmp(av[i], "shard", 5) == 0)
			dst = c->shard, len = sizeof c->shard;
		else if (v && k == 4 && strncmp(av[i], "pipe", 4) == 0)
			dst = c->pipe, len = sizeof c->pipe;
		else if (v && k == 3 && strncmp(av[i], "gpu", 3) == 0)
			dst = c->gpu, len = sizeof c->gpu;
		if (!dst || strlen(v + 1) == 0 || strlen(v + 1) >= len || strchr(v + 1, ' ')) {
			slurm_error("gpushare: plugstack.conf argument \"%.60s\" is not shard=<size>, pipe=<dir> or "
				    "gpu=<index>", av[i]);
			return -1;
		}
		snprintf(dst, len, "%s", v + 1);
	}
	return 0;
}

/* Sends one command to gpushare-control; its first answer line into first,
 * its messages into why. The command's status (0: done), or -1 when no
 * daemon answers (why says so). */
static int ask(const struct conf *c, const char *cmd, char *first, size_t flen, char *why, size_t wlen)
{
	char paths[GS_CONTROL_PATHS][GS_CONTROL_SOCK_MAX];
	size_t n = 0;
	if (c->pipe[0])
		n = snprintf(paths[0], sizeof paths[0], "%s/control", c->pipe) < (int)sizeof paths[0];
	else
		n = gs_control_paths(paths);
	int fd = -1;
	for (size_t i = 0; i < n && fd < 0; i++)
		fd = gs_control_connect(paths[i], 5000);
	first[0] = why[0] = '\0';
	if (fd < 0) {
		snprintf(why, wlen, "gpushare-control does not run (%s): no slice can be made", n ? paths[n - 1] : "?");
		return -1;
	}
	char line[512];
	int len = snprintf(line, sizeof line, "%s\n", cmd);
	FILE *f = send(fd, line, (size_t)len, MSG_NOSIGNAL) == len ? fdopen(fd, "r") : NULL;
	int status = -1;
	while (f && fgets(line, sizeof line, f)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (strncmp(line, "E ", 2) == 0) {
			status = atoi(line + 2);
			break;
		}
		const char *text = line[0] && line[1] == ' ' ? line + 2 : line;
		if (line[0] == 'R' && !first[0])
			snprintf(first, flen, "%s", text);
		else if (!why[0])
			snprintf(why, wlen, "%s", text);
	}
	if (f)
		fclose(f);
	else
		close(fd);
	if (status < 0 && !why[0])
		snprintf(why, wlen, "gpushare-control closed the connection without an answer");
	return status < 0 ? -1 : status;
}

/* What the job asked for, into size ("" when it asked for no slice). */
static int wanted(spank_t sp, const struct conf *c, char *size, size_t len)
{
	size[0] = '\0';
	if (opt_size[0]) {
		snprintf(size, len, "%s", opt_size);
		return 0;
	}
	/* set by Slurm's gres plugin for the step (a user's own value is
	 * taken away when the job has no shards) */
	char env[32];
	unsigned long long shards;
	if (spank_getenv(sp, "SLURM_SHARDS_ON_NODE", env, sizeof env) != ESPANK_SUCCESS || gs_parse_uint(env, 1u << 16, &shards) ||
	    shards == 0)
		return 0;
	if (!c->shard[0]) {
		slurm_error("gpushare: the job asks for %llu shards but plugstack.conf gives gpushare no shard=<size>", shards);
		return -1;
	}
	char *end;
	double share = strtod(c->shard, &end);
	unsigned long long sm, gb;
	char unit[3];
	if (*end == '\0' && share > 0) {
		snprintf(size, len, "%.6f", share * (double)shards > 1 ? 1.0 : share * (double)shards);
	} else if (sscanf(c->shard, "%llusm.%llu%2[gbm]", &sm, &gb, unit) == 3 && sm && sm < 100000 && gb < 1u << 20) {
		snprintf(size, len, "%llusm.%llu%s", sm * shards, gb * shards, unit);
	} else {
		slurm_error("gpushare: plugstack.conf shard=%s: a share of the GPU (0.125) or a size (16sm.5gb)", c->shard);
		return -1;
	}
	return 0;
}

/* The job's own cgroup (v2), where Slurm made one: the path of this
 * process's cgroup up to its job_<id> component, or "". */
static void job_cgroup(uint32_t job, char *out, size_t len)
{
	out[0] = '\0';
	FILE *f = fopen("/proc/self/cgroup", "re");
	char line[512], comp[32];
	snprintf(comp, sizeof comp, "/job_%u", job);
	while (f && fgets(line, sizeof line, f)) {
		if (strncmp(line, "0::", 3))
			continue;
		line[strcspn(line, "\n")] = '\0';
		char *at = strstr(line + 3, comp);
		size_t n = strlen(comp);
		if (at && (at[n] == '\0' || at[n] == '/')) {
			at[n] = '\0';
			snprintf(out, len, "%s", line + 3);
		}
	}
	if (f)
		fclose(f);
}

/* The refusal in the job's Comment, where `scontrol show job` and squeue
 * -o %k show it: libslurm's own calls, from the Slurm program that loaded
 * this plugin (slurmstepd, as root). */
static void job_comment(uint32_t job, const char *text)
{
	void (*init)(job_desc_msg_t *) = (void (*)(job_desc_msg_t *))dlsym(RTLD_DEFAULT, "slurm_init_job_desc_msg");
	int (*update)(job_desc_msg_t *) = (int (*)(job_desc_msg_t *))dlsym(RTLD_DEFAULT, "slurm_update_job");
	if (!init || !update)
		return;
	job_desc_msg_t d;
	char comment[sizeof refusal + 16];
	init(&d);
	snprintf(comment, sizeof comment, "gpushare: %s", text);
	d.job_id = job;
	d.comment = comment;
	if (update(&d))
		slurm_info("gpushare: job %u: its comment could not say why", job);
}

int slurm_spank_init(spank_t sp, int ac, char **av)
{
	(void)ac, (void)av;
	return spank_option_register(sp, &size_option) == ESPANK_SUCCESS ? 0 : -1;
}

/* In slurmstepd, as root, before the step's tasks start: the job's slice,
 * made at its first step, this step's processes bound to it. A slice that
 * cannot be made fails the step with the daemon's reason: a job never runs
 * unlimited because its slice did not fit. */
int slurm_spank_init_post_opt(spank_t sp, int ac, char **av)
{
	if (!spank_remote(sp))
		return ESPANK_SUCCESS;
	struct conf c;
	char size[SIZE_MAX_LEN + 8];
	if (read_conf(ac, av, &c) || wanted(sp, &c, size, sizeof size)) {
		snprintf(refusal, sizeof refusal, "the gpushare plugin is misconfigured (slurmd's log says how)");
		return -1;
	}
	uint32_t job, step;
	uid_t uid;
	if (!size[0])
		return ESPANK_SUCCESS;
	if (spank_get_item(sp, S_JOB_ID, &job) || spank_get_item(sp, S_JOB_STEPID, &step) ||
	    spank_get_item(sp, S_JOB_UID, &uid)) {
		snprintf(refusal, sizeof refusal, "Slurm did not say which job this is");
		slurm_error("gpushare: %s", refusal);
		return -1;
	}
	if (step == STEP_EXTERN)
		return ESPANK_SUCCESS;
	char cg[256], cmd[512], uuid[96], why[512];
	job_cgroup(job, cg, sizeof cg);
	snprintf(cmd, sizeof cmd, "attach_job slurm-%u %ld %s %ld -gpu %s%s%s", job, (long)uid, size, (long)getpid(),
		 c.gpu, cg[0] ? " -cgroup " : "", cg);
	if (ask(&c, cmd, uuid, sizeof uuid, why, sizeof why) || strncmp(uuid, "MIG-", 4)) {
		snprintf(refusal, sizeof refusal, "job %u: no slice of %s: %s", job, size, why[0] ? why : "refused");
		slurm_error("gpushare: %s", refusal);
		job_comment(job, refusal);
		return 0; /* the tasks refuse: a failed step start would drain the node */
	}
	slurm_info("gpushare: job %u step %u in slice %s (%s)", job, step, uuid, size);
	spank_setenv(sp, "GPUSHARE_SLICE", uuid, 1);
	if (c.pipe[0])
		spank_setenv(sp, "GPUSHARE_PIPE_DIRECTORY", c.pipe, 1);
	return ESPANK_SUCCESS;
}

/* In each task, as root, before it becomes the user's program: a step
 * whose slice was refused runs nothing, and says why where the user reads
 * the task's output. */
int slurm_spank_task_init_privileged(spank_t sp, int ac, char **av)
{
	(void)sp, (void)ac, (void)av;
	if (!refusal[0])
		return ESPANK_SUCCESS;
	fprintf(stderr, "gpushare: %s\n", refusal);
	return -1;
}

/* In slurmd's epilog, as root, once the job's processes are gone (ended,
 * cancelled, timed out, killed): its slice goes. One that programs still
 * hold memory in goes with the daemon's next collection. */
int slurm_spank_job_epilog(spank_t sp, int ac, char **av)
{
	struct conf c;
	uint32_t job;
	if (read_conf(ac, av, &c) || spank_get_item(sp, S_JOB_ID, &job))
		return ESPANK_SUCCESS;
	char cmd[64], first[96], why[512];
	snprintf(cmd, sizeof cmd, "detach_job slurm-%u", job);
	if (ask(&c, cmd, first, sizeof first, why, sizeof why) == 0) {
		if (first[0])
			slurm_info("gpushare: job %u: %s", job, first);
	} else {
		slurm_info("gpushare: job %u: its slice is left to gpushare-control's collection: %s", job, why);
	}
	return ESPANK_SUCCESS;
}
