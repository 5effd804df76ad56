/* placement.c: which slice a registering program is in. gpushare-control
 * decides; what the program asked for is a request. In order:
 *   1. the slice bound to its cgroup (or one above it): every process there,
 *      whatever started it and whatever its environment;
 *   2. its job's ephemeral slice: one whose owner (gpushare run) is the
 *      program or one of its ancestors;
 *   3. the slice it named, if it may join it;
 *   4. its user's default slice;
 *   5. else the GPU's remainder: the memory no slice is guaranteed.
 * The answer carries the slice's limits and its SM run, and its ledger as an
 * open file: the only way a program gets to write it. */
#include "control.h"
#include "ledger.h"
#include "slice.h"
#include "smrun.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ANCESTRY_MAX 64 /* deeper than any job's tree of processes */

/* The unified (cgroup v2) path of a process: "" when it has none. */
static void cgroup_of(pid_t pid, char *out, size_t len)
{
	char path[64], line[512];
	out[0] = '\0';
	snprintf(path, sizeof path, "/proc/%ld/cgroup", (long)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, "0::", 3) == 0) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(out, len, "%s", line + 3);
		}
	fclose(f);
}

void control_cgroup_root(char *out, size_t len)
{
	char line[1024];
	out[0] = '\0';
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return;
	/* "<id> <parent> <dev> <root> <mount point> <options> ... - cgroup2 ..." */
	while (fgets(line, sizeof line, f)) {
		char root[512], point[512];
		const char *dash = strstr(line, " - cgroup2 ");
		if (dash && sscanf(line, "%*s %*s %*s %511s %511s", root, point) == 2 && strcmp(root, "/") == 0) {
			snprintf(out, len, "%s", point);
			break;
		}
	}
	fclose(f);
}

/* Whether owner (with its start time) is pid or an ancestor of it. */
static bool job_of(pid_t pid, pid_t owner, uint64_t owner_start)
{
	if (owner <= 0 || gs_proc_start_time(owner) != owner_start)
		return false;
	for (int i = 0; pid > 1 && i < ANCESTRY_MAX; i++) {
		if (pid == owner)
			return true;
		if (gs_proc_stat(pid, &pid, NULL))
			return false;
	}
	return false;
}

static bool under(const char *cgroup, const char *bound)
{
	size_t n = strlen(bound);
	return n && strncmp(cgroup, bound, n) == 0 && (cgroup[n] == '\0' || cgroup[n] == '/' || strcmp(bound, "/") == 0);
}

/* The slice that holds the process whatever it asks: its cgroup's (the
 * deepest bound one), else its job's. */
static struct gs_mig_ci *bound_slice(struct gs_store *st, pid_t pid, struct gs_store_gpu **gpu, const char **how)
{
	char cg[PATH_MAX];
	cgroup_of(pid, cg, sizeof cg);
	struct gs_mig_ci *best = NULL;
	size_t best_len = 0;
	for (size_t g = 0; g < st->n_gpu; g++)
		for (size_t i = 0; i < st->gpu[g].layout.n_ci; i++) {
			struct gs_mig_ci *ci = &st->gpu[g].layout.ci[i];
			if (cg[0] && ci->cgroup[0] && under(cg, ci->cgroup) && strlen(ci->cgroup) >= best_len) {
				best = ci, best_len = strlen(ci->cgroup), *gpu = &st->gpu[g];
				*how = "cgroup";
			}
		}
	if (best)
		return best;
	for (size_t g = 0; g < st->n_gpu; g++)
		for (size_t i = 0; i < st->gpu[g].layout.n_ci; i++) {
			struct gs_mig_ci *ci = &st->gpu[g].layout.ci[i];
			if (ci->owner_pid && job_of(pid, ci->owner_pid, ci->owner_start)) {
				*gpu = &st->gpu[g];
				*how = "job";
				return ci;
			}
		}
	return NULL;
}

static struct gs_mig_ci *default_slice(struct gs_store *st, uid_t uid, struct gs_store_gpu **gpu)
{
	for (size_t g = 0; g < st->n_gpu; g++)
		for (size_t i = 0; i < st->gpu[g].layout.n_ci; i++) {
			struct gs_mig_ci *ci = &st->gpu[g].layout.ci[i];
			for (unsigned k = 0; k < ci->n_default; k++)
				if (ci->default_for[k] == uid) {
					*gpu = &st->gpu[g];
					return ci;
				}
		}
	return NULL;
}

/* The ledger at path as a file to pass, made (mode after the directory's,
 * as the slice layer makes them) at limit when it is not there. A slice's
 * limit is the slice layer's to set, under the store's lock (the store read
 * here may be older than a resize since); the remainder's is the daemon's
 * (set_limit). */
static int ledger_fd(const char *dir, const char *path, uint64_t limit, bool set_limit)
{
	struct gs_ledger *l;
	int rc = gs_ledger_open(path, limit, gs_ledger_mode(dir), &l);
	if (rc)
		return rc;
	if (set_limit)
		gs_ledger_set_limit(l, limit);
	gs_ledger_close(l);
	int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* What no slice of the GPU is guaranteed. */
static uint64_t remainder_bytes(const struct control_gpu *cg, const struct gs_store_gpu *g)
{
	uint64_t guaranteed = 0;
	for (size_t i = 0; g && i < g->layout.n_gi; i++)
		guaranteed += (uint64_t)g->layout.gi[i].guarantee_mib << 20;
	return cg->memory > guaranteed ? cg->memory - guaranteed : 0;
}

/* The placement of slice ci of GPU g, its ledger open (control_place). */
static int slice_placement(struct control_state *s, struct gs_store_gpu *g, struct gs_mig_ci *ci,
			   struct control_placement *out, char *err, size_t errlen)
{
	struct gs_mig_gi *gi = gs_slice_gi_of(g, ci);
	char path[PATH_MAX];
	if (!gi || gs_store_ledger_path(s->state_dir, g->uuid, gi, path, sizeof path))
		return gs_fail(err, errlen, -EINVAL, "slice store: a compute instance without its GPU instance");
	gs_store_ci_uuid(g->uuid, ci, out->slice);
	snprintf(out->gpu, sizeof out->gpu, "%s", g->uuid);
	out->refuse_busy = ci->refuse_busy;
	out->memory = (uint64_t)gi->memory_mib << 20;
	out->guarantee = (uint64_t)gi->guarantee_mib << 20;
	gs_smrun_of_ci(&g->layout, ci, &out->sm_start, &out->sms);
	out->sm_grid = gs_smrun_grid(g->sm_unit ? g->sm_unit : 2, &g->layout);
	if ((out->ledger_fd = ledger_fd(s->state_dir, path, out->memory, false)) < 0)
		return gs_fail(err, errlen, out->ledger_fd, "cannot open the ledger of slice %s: %s", out->slice,
			       strerror(-out->ledger_fd));
	return 0;
}

int control_place_slice(struct control_state *s, const char *slice, uid_t uid, struct control_placement *out,
			char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	out->ledger_fd = -1;
	out->how = "named";
	struct gs_store *st = malloc(sizeof *st);
	struct gs_store_gpu *g;
	struct gs_mig_ci *ci;
	char why[384];
	int rc = st ? gs_store_load(s->state_dir, st, why, sizeof why) : -ENOMEM;
	if (rc)
		gs_fail(err, errlen, rc, "%s", st ? why : "out of memory");
	else if ((rc = gs_slice_resolve(st, slice, &g, &ci, why, sizeof why)))
		gs_fail(err, errlen, rc, "Slice %s not found", slice);
	else if (!gs_store_ci_open_to(ci, uid))
		rc = gs_fail(err, errlen, -EPERM, "Slice %s is not open to user %ld", slice, (long)uid);
	else
		rc = slice_placement(s, g, ci, out, err, errlen);
	free(st);
	if (rc && out->ledger_fd >= 0) {
		close(out->ledger_fd);
		out->ledger_fd = -1;
	}
	return rc;
}

int control_place(struct control_state *s, const struct control_peer *p, const char *asked, const char *gpu,
		  struct control_placement *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof *out);
	out->ledger_fd = -1;
	/* its cgroup and ancestry are read from /proc: they must still be the
	 * connecting process's, not those of another that took its pid since */
	if (!p->pid_start || gs_proc_start_time(p->pid) != p->pid_start)
		return gs_fail(err, errlen, -ESRCH, "The process that connected (%ld) is gone; register from the process "
			       "that runs CUDA", (long)p->pid);
	struct gs_store *st = malloc(sizeof *st);
	if (!st)
		return gs_fail(err, errlen, -ENOMEM, "out of memory");
	char why[384];
	int rc = gs_store_load(s->state_dir, st, why, sizeof why);
	if (rc) {
		gs_fail(err, errlen, rc, "%s", why); /* it names the file and says what to do */
		free(st);
		return rc;
	}
	struct gs_store_gpu *g = NULL;
	struct gs_mig_ci *ci = bound_slice(st, p->pid, &g, &out->how);
	/* "?<name>": a name from CUDA_VISIBLE_DEVICES, a slice if it is one */
	bool maybe = asked[0] == '?';
	if (!ci && strcmp(asked, "-")) {
		asked += maybe;
		rc = gs_slice_resolve(st, asked, &g, &ci, why, sizeof why);
		if (rc == -ENOENT && maybe)
			rc = 0, ci = NULL;
		else if (rc == 0 && !gs_store_ci_open_to(ci, p->uid))
			rc = gs_fail(err, errlen, -EPERM, "Slice %s is not open to user %ld", asked, (long)p->uid);
		else if (rc)
			gs_fail(err, errlen, rc, "Slice %s not found%s%s", asked, rc == -EEXIST ? ": " : "",
				rc == -EEXIST ? why : "");
		out->how = "named";
	}
	if (!rc && !ci && (ci = default_slice(st, p->uid, &g)))
		out->how = "default";
	if (!rc && ci) {
		rc = slice_placement(s, g, ci, out, err, errlen);
	} else if (!rc) {
		/* the remainder of the GPU it asked for, else of the first */
		const struct control_gpu *cg = strcmp(gpu, "-") ? control_gpu_by_dev(s, gpu) : s->n_gpus ? &s->gpus[0] : NULL;
		char path[PATH_MAX];
		if (!cg)
			rc = gs_fail(err, errlen, -ENODEV, "No GPU %s here", gpu);
		else if ((rc = gs_store_remainder_path(s->state_dir, cg->uuid, path, sizeof path)))
			gs_fail(err, errlen, rc, "state directory path too long");
		if (!rc) {
			snprintf(out->slice, sizeof out->slice, "-");
			snprintf(out->gpu, sizeof out->gpu, "%s", cg->uuid);
			out->how = "remainder";
			struct gs_store_gpu *sg = gs_store_gpu(st, cg->uuid, false);
			out->memory = remainder_bytes(cg, sg);
			if (sg && sg->layout.n_gi && sg->sm_count) {
				/* the SMs no slice holds, split as every program splits
				 * the GPU; none free: the whole GPU, shared */
				out->sm_grid = gs_smrun_grid(sg->sm_unit ? sg->sm_unit : 2, &sg->layout);
				gs_smrun_free(sg->sm_count, out->sm_grid, &sg->layout, &out->sm_start, &out->sms);
			}
			if ((out->ledger_fd = ledger_fd(s->state_dir, path, out->memory, true)) < 0)
				rc = gs_fail(err, errlen, out->ledger_fd, "cannot open the remainder ledger %s: %s", path,
					     strerror(-out->ledger_fd));
		}
	}
	free(st);
	if (rc && out->ledger_fd >= 0) {
		close(out->ledger_fd);
		out->ledger_fd = -1;
	}
	return rc;
}

int control_remainder_process_bytes(const struct control_state *s, const char *gpu_uuid, pid_t pid, uint64_t *bytes)
{
	char path[PATH_MAX];
	struct gs_ledger *l;
	*bytes = 0;
	if (gs_store_remainder_path(s->state_dir, gpu_uuid, path, sizeof path) || gs_ledger_open_ro(path, &l))
		return -ENOENT;
	*bytes = gs_ledger_pid_bytes(l, pid);
	gs_ledger_close(l);
	return 0;
}

int control_peer_ledger(struct control_state *s, const struct control_peer *p, struct gs_ledger **out)
{
	char path[PATH_MAX];
	int rc = -ENOENT;
	if (strcmp(p->slice, "-") == 0) {
		rc = gs_store_remainder_path(s->state_dir, p->gpu, path, sizeof path);
	} else {
		struct gs_store *st = malloc(sizeof *st);
		struct gs_store_gpu *g;
		struct gs_mig_ci *ci;
		if (st && gs_store_load(s->state_dir, st, NULL, 0) == 0 &&
		    gs_slice_resolve(st, p->slice, &g, &ci, NULL, 0) == 0 && gs_slice_gi_of(g, ci))
			rc = gs_store_ledger_path(s->state_dir, g->uuid, gs_slice_gi_of(g, ci), path, sizeof path);
		free(st);
	}
	return rc ? rc : gs_ledger_open(path, 0, 0, out);
}

/* Programs whose connection closed while their process still exits (the
 * driver's teardown outlasts the socket): their slice's ledger reclaimed
 * again once they are dead, looked at every tick for at most LATE_NS.
 * Else their charges would stay until a charge past the slice's limit
 * reclaims them. */
#define LATE_MAX 64
#define LATE_NS 60000000000ull
static struct late {
	char slice[96], gpu[48];
	pid_t pid;
	uint64_t start, until;
} late[LATE_MAX];

static void reclaim_ledger(struct control_state *s, const struct control_peer *p)
{
	struct gs_ledger *l;
	if (control_peer_ledger(s, p, &l) == 0) {
		gs_ledger_reclaim(l);
		gs_ledger_close(l);
	}
}

void control_reclaim(struct control_state *s, const struct control_peer *p)
{
	reclaim_ledger(s, p);
	if (gs_proc_start_time(p->pid) != p->pid_start)
		return; /* dead already (a zombie too): done */
	for (size_t i = 0; i < LATE_MAX; i++)
		if (!late[i].pid) {
			late[i] = (struct late){ .pid = p->pid, .start = p->pid_start, .until = gs_now_ns() + LATE_NS };
			snprintf(late[i].slice, sizeof late[i].slice, "%s", p->slice);
			snprintf(late[i].gpu, sizeof late[i].gpu, "%s", p->gpu);
			return;
		}
}

void control_reclaim_tick(struct control_state *s)
{
	uint64_t now = gs_now_ns();
	for (size_t i = 0; i < LATE_MAX; i++) {
		if (!late[i].pid)
			continue;
		bool dead = gs_proc_start_time(late[i].pid) != late[i].start;
		if (!dead && now < late[i].until)
			continue;
		struct control_peer p = { .ledger_fd = -1 };
		snprintf(p.slice, sizeof p.slice, "%s", late[i].slice);
		snprintf(p.gpu, sizeof p.gpu, "%s", late[i].gpu);
		reclaim_ledger(s, &p);
		late[i].pid = 0;
	}
}
