/* slices.c: the slice table and what a process holds (see slices.h). */
#include "slices.h"
#include "ledger.h"
#include "slice.h"
#include "store.h"

#include <dirent.h>
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

/* A ledger's live use, limit and processes (those of only_uid, -1: all). */
static int ledger_use(const char *path, uid_t only_uid, uint64_t *used, uint64_t *limit, char *procs, size_t len)
{
	struct gs_ledger *l;
	if (access(path, F_OK) || gs_ledger_open_ro(path, &l))
		return -ENOENT;
	struct gs_ledger_usage u[16];
	size_t nu = gs_ledger_usage(l, u, 16), at = 0;
	*used = gs_ledger_live(l);
	*limit = gs_ledger_limit(l);
	for (size_t q = 0; q < nu && at < len - 16; q++)
		if (only_uid == (uid_t)-1 || uid_of(u[q].pid) == only_uid)
			at += (size_t)snprintf(procs + at, len - at, "%s%ld", at ? "," : "", (long)u[q].pid);
	gs_ledger_close(l);
	return 0;
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
			uint64_t used = 0, limit;
			ledger_use(path, only_uid, &used, &limit, procs, sizeof procs);
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
	/* what programs outside every slice hold, GPU by GPU (gpushare-control's) */
	DIR *d = opendir(dir);
	for (struct dirent *e; d && (e = readdir(d));) {
		char path[PATH_MAX], procs[256] = "-";
		uint64_t used = 0, limit = 0;
		if (strncmp(e->d_name, "remainder-", 10) || snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path ||
		    ledger_use(path, only_uid, &used, &limit, procs, sizeof procs))
			continue;
		snprintf(line, sizeof line, "%-42s %3s %3s %5s %7lluMiB %7uMiB %7lluMiB  %-16s %-7s %s",
			 e->d_name + 10, "-", "-", "-", (unsigned long long)(limit >> 20), 0u,
			 (unsigned long long)(used >> 20), "* (remainder)", "-", procs);
		emit(ctx, line);
	}
	if (d)
		closedir(d);
	return 0;
}

int gs_slices_process_bytes(const char *dir, const char *mig_uuid, pid_t pid, uint64_t *bytes)
{
	struct gs_store *st = malloc(sizeof *st);
	struct gs_store_gpu *g;
	struct gs_mig_ci *ci;
	int rc = st ? gs_store_load(dir, st, NULL, 0) : -ENOMEM;
	if (rc == 0)
		rc = gs_slice_resolve(st, mig_uuid, &g, &ci, NULL, 0);
	const struct gs_mig_gi *gi = NULL;
	for (size_t i = 0; rc == 0 && i < g->layout.n_gi; i++)
		if (g->layout.gi[i].id == ci->gi)
			gi = &g->layout.gi[i];
	char path[PATH_MAX];
	struct gs_ledger *l;
	*bytes = 0;
	if (rc == 0 && (!gi || gs_store_ledger_path(dir, g->uuid, gi, path, sizeof path)))
		rc = -ENOENT;
	if (rc == 0 && access(path, F_OK) == 0 && gs_ledger_open_ro(path, &l) == 0) {
		*bytes = gs_ledger_pid_bytes(l, pid);
		gs_ledger_close(l);
	}
	free(st);
	return rc;
}
