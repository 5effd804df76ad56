/* slices.c: slice listing and live memory limits (see slices.h). */
#include "slices.h"
#include "ledger.h"
#include "store.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static uid_t uid_of(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
	FILE *f = fopen(path, "r");
	uid_t uid = (uid_t)-1;
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, "Uid:", 4) == 0) {
			uid = (uid_t)strtoul(line + 4, NULL, 10);
			break;
		}
	if (f)
		fclose(f);
	return uid;
}

int gs_slices_report(const char *dir, uid_t only_uid, void (*emit)(void *ctx, const char *line), void *ctx)
{
	struct gs_store *st = malloc(sizeof *st);
	char err[256], line[512];
	if (!st)
		return -ENOMEM;
	int rc = gs_store_load(dir, st, err, sizeof err);
	if (rc) {
		free(st);
		return rc;
	}
	snprintf(line, sizeof line, "%-42s %3s %3s %5s %10s %10s %10s  %-16s %-7s %s", "SLICE", "GI", "CI", "SMs", "MEMORY",
		 "GUARANTEE", "USED", "USERS", "BUSY", "PROCESSES");
	emit(ctx, line);
	for (size_t g = 0; g < st->n_gpu; g++) {
		const struct gs_store_gpu *sg = &st->gpu[g];
		for (size_t k = 0; k < sg->layout.n_ci; k++) {
			const struct gs_mig_ci *ci = &sg->layout.ci[k];
			const struct gs_mig_gi *gi = NULL;
			for (size_t i = 0; i < sg->layout.n_gi; i++)
				if (sg->layout.gi[i].id == ci->gi)
					gi = &sg->layout.gi[i];
			if (!gi)
				continue;
			char uuid[GS_UUID_STR + 4], path[PATH_MAX], procs[256] = "-";
			gs_store_ci_uuid(sg->uuid, ci, uuid);
			/* memory and processes are the GPU instance's, shared by its CIs */
			gs_store_ledger_path(dir, sg->uuid, gi, path, sizeof path);
			uint64_t used = 0;
			struct gs_ledger *l;
			if (access(path, F_OK) == 0 && gs_ledger_open(path, 0, &l) == 0) {
				struct gs_ledger_usage u[16];
				size_t nu = gs_ledger_usage(l, u, 16), len = 0;
				used = gs_ledger_used(l);
				for (size_t q = 0; q < nu && len < sizeof procs - 16; q++)
					if (only_uid == (uid_t)-1 || uid_of(u[q].pid) == only_uid)
						len += (size_t)snprintf(procs + len, sizeof procs - len, "%s%ld", len ? "," : "",
									(long)u[q].pid);
				gs_ledger_close(l);
			}
			char users[128] = "*";
			for (unsigned q = 0, len = 0; q < ci->n_users && len < sizeof users - 16; q++)
				len += (unsigned)snprintf(users + len, sizeof users - len, "%s%lu", q ? "," : "",
							  (unsigned long)ci->users[q]);
			snprintf(line, sizeof line, "%-42s %3u %3u %5u %7uMiB %7uMiB %7lluMiB  %-16s %-7s %s", uuid, ci->gi,
				 ci->id, ci->sm, gi->memory_mib, gi->guarantee_mib, (unsigned long long)(used >> 20), users,
				 ci->refuse_busy ? "refuse" : "queue", procs);
			emit(ctx, line);
		}
	}
	free(st);
	return 0;
}

/* One locked read-modify-write of the store for the slice named mig_uuid:
 * change() edits it (0, or -errno to leave the store as it was); the GPU
 * instance's live ledger then takes its memory limit. */
static int edit_slice(const char *dir, const char *mig_uuid,
		      int (*change)(struct gs_store_gpu *g, struct gs_mig_gi *gi, struct gs_mig_ci *ci, void *arg), void *arg)
{
	int fd = gs_store_lock(dir);
	if (fd < 0)
		return fd;
	struct gs_store *st = malloc(sizeof *st);
	struct gs_store_gpu *g = NULL;
	struct gs_mig_ci *ci = NULL;
	struct gs_mig_gi *gi = NULL;
	int rc = st ? gs_store_load(dir, st, NULL, 0) : -ENOMEM;
	if (rc == 0)
		rc = gs_store_find_ci(st, mig_uuid, &g, &ci) ? -ENOENT : 0;
	for (size_t i = 0; rc == 0 && i < g->layout.n_gi; i++)
		if (g->layout.gi[i].id == ci->gi)
			gi = &g->layout.gi[i];
	if (rc == 0 && !gi)
		rc = -ENOENT;
	if (rc == 0)
		rc = change(g, gi, ci, arg);
	if (rc == 0)
		rc = gs_store_save(dir, st);
	if (rc == 0) {
		char path[PATH_MAX];
		struct gs_ledger *l;
		if (gs_store_ledger_path(dir, g->uuid, gi, path, sizeof path) == 0 && access(path, F_OK) == 0 &&
		    gs_ledger_open(path, 0, &l) == 0) {
			gs_ledger_set_limit(l, (uint64_t)gi->memory_mib << 20);
			gs_ledger_close(l);
		}
	}
	free(st);
	close(fd);
	return rc;
}

static int change_memory(struct gs_store_gpu *g, struct gs_mig_gi *gi, struct gs_mig_ci *ci, void *arg)
{
	(void)g, (void)ci;
	gi->memory_mib = (uint32_t)(*(uint64_t *)arg >> 20);
	if (gi->guarantee_mib > gi->memory_mib)
		gi->guarantee_mib = gi->memory_mib; /* nothing is guaranteed past the limit */
	return 0;
}

int gs_slices_set_memory(const char *dir, const char *mig_uuid, uint64_t bytes)
{
	if (strncmp(mig_uuid, "MIG-", 4) || strlen(mig_uuid) < 8 || (bytes >> 20) == 0 || (bytes >> 20) > UINT32_MAX)
		return -EINVAL;
	return edit_slice(dir, mig_uuid, change_memory, &bytes);
}

struct resize {
	unsigned sm;
	uint64_t bytes;
	unsigned gpu_sms;
	uint64_t gpu_bytes;
	bool overcommit;
};

/* Whether the GPU instances' SMs and guarantees fit the GPU with gi at sm
 * SMs and a guarantee of guarantee_mib. */
static bool fits_gpu(const struct gs_store_gpu *g, const struct gs_mig_gi *gi, unsigned sm, uint32_t guarantee_mib,
		     unsigned gpu_sms, uint64_t gpu_bytes)
{
	uint64_t sms = sm, mib = guarantee_mib;
	for (size_t i = 0; i < g->layout.n_gi; i++)
		if (&g->layout.gi[i] != gi) {
			sms += g->layout.gi[i].sm;
			mib += g->layout.gi[i].guarantee_mib;
		}
	return (!gpu_sms || sms <= gpu_sms) && (!gpu_bytes || mib <= gpu_bytes >> 20);
}

static int change_size(struct gs_store_gpu *g, struct gs_mig_gi *gi, struct gs_mig_ci *ci, void *arg)
{
	const struct resize *z = arg;
	if (gi->profile_id != GS_MIG_CUSTOM)
		return -EPERM; /* a MIG profile's size is the profile's */
	uint32_t mib = (uint32_t)(z->bytes >> 20);
	/* a wholly guaranteed slice stays so; over-commit guarantees no more */
	uint32_t guarantee = gi->guarantee_mib == gi->memory_mib && !z->overcommit ? mib
			     : gi->guarantee_mib < mib ? gi->guarantee_mib : mib;
	if (!z->overcommit && !fits_gpu(g, gi, z->sm, guarantee, z->gpu_sms, z->gpu_bytes))
		return -ENOSPC;
	gi->sm = ci->sm = z->sm;
	gi->memory_mib = mib;
	gi->guarantee_mib = guarantee;
	return 0;
}

int gs_slices_resize(const char *dir, const char *mig_uuid, unsigned sm, uint64_t bytes, unsigned gpu_sms,
		     uint64_t gpu_bytes, bool overcommit)
{
	if (sm == 0 || (bytes >> 20) == 0 || (bytes >> 20) > UINT32_MAX)
		return -EINVAL;
	struct resize z = { sm, bytes, gpu_sms, gpu_bytes, overcommit };
	return edit_slice(dir, mig_uuid, change_size, &z);
}

static int change_guarantee(struct gs_store_gpu *g, struct gs_mig_gi *gi, struct gs_mig_ci *ci, void *arg)
{
	(void)ci;
	const struct resize *z = arg;
	uint64_t mib = z->bytes >> 20;
	if (mib > gi->memory_mib)
		return -EINVAL;
	if (!fits_gpu(g, gi, gi->sm, (uint32_t)mib, 0, z->gpu_bytes))
		return -ENOSPC;
	gi->guarantee_mib = (uint32_t)mib;
	return 0;
}

int gs_slices_set_guarantee(const char *dir, const char *mig_uuid, uint64_t bytes, uint64_t gpu_bytes)
{
	struct resize z = { .bytes = bytes, .gpu_bytes = gpu_bytes };
	return edit_slice(dir, mig_uuid, change_guarantee, &z);
}

struct access {
	const uint32_t *users;
	unsigned n;
	int refuse;
};

static int change_access(struct gs_store_gpu *g, struct gs_mig_gi *gi, struct gs_mig_ci *ci, void *arg)
{
	(void)g, (void)gi;
	const struct access *a = arg;
	if (a->n > GS_SLICE_MAX_USERS)
		return -E2BIG;
	if (a->users) {
		ci->n_users = a->n;
		memcpy(ci->users, a->users, a->n * sizeof a->users[0]);
	}
	if (a->refuse >= 0)
		ci->refuse_busy = a->refuse;
	return 0;
}

int gs_slices_set_access(const char *dir, const char *mig_uuid, const uint32_t *users, unsigned n, int refuse)
{
	struct access a = { users, n, refuse };
	return edit_slice(dir, mig_uuid, change_access, &a);
}

int gs_slices_process_bytes(const char *dir, const char *mig_uuid, pid_t pid, uint64_t *bytes)
{
	struct gs_store *st = malloc(sizeof *st);
	struct gs_store_gpu *g;
	struct gs_mig_ci *ci;
	int rc = st ? gs_store_load(dir, st, NULL, 0) : -ENOMEM;
	if (rc == 0)
		rc = gs_store_find_ci(st, mig_uuid, &g, &ci);
	const struct gs_mig_gi *gi = NULL;
	for (size_t i = 0; rc == 0 && i < g->layout.n_gi; i++)
		if (g->layout.gi[i].id == ci->gi)
			gi = &g->layout.gi[i];
	char path[PATH_MAX];
	struct gs_ledger *l;
	*bytes = 0;
	if (rc == 0 && (!gi || gs_store_ledger_path(dir, g->uuid, gi, path, sizeof path)))
		rc = -ENOENT;
	if (rc == 0 && access(path, F_OK) == 0 && gs_ledger_open(path, 0, &l) == 0) {
		struct gs_ledger_usage u[GS_LEDGER_SLOTS];
		size_t n = gs_ledger_usage(l, u, GS_ARRAY_LEN(u));
		for (size_t i = 0; i < n; i++)
			if (u[i].pid == pid)
				*bytes += u[i].bytes;
		gs_ledger_close(l);
	}
	free(st);
	return rc;
}
