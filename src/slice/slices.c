/* slices.c: the slice table and what a process holds (see slices.h). */
#include "slices.h"
#include "ledger.h"
#include "slice.h"
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pwd.h>
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

/* A name from a directory service or from /proc: nothing in it that would
 * break a table or JSON. */
static void make_safe(char *s)
{
	for (char *c = s; *c; c++)
		if ((unsigned char)*c < 0x21 || *c == '"' || *c == '\\' || *c == ',' || (unsigned char)*c >= 0x7f)
			*c = '_';
}

int gs_slices_user_id(const char *name, uint32_t *uid)
{
	unsigned long long v;
	if (gs_parse_uint(name, UINT32_MAX - 1, &v) == 0) {
		*uid = (uint32_t)v;
		return 0;
	}
	struct passwd *pw = getpwnam(name);
	if (!pw)
		return -1;
	*uid = (uint32_t)pw->pw_uid;
	return 0;
}

/* Names for a few seconds: a listing asks for the same users row after row,
 * and the daemon answers it in its one loop (a slow directory service would
 * hold every peer up). */
#define NAME_CACHE 64
#define NAME_CACHE_NS 5000000000ull

void gs_slices_user_name(uid_t uid, char *out, size_t len)
{
	static struct {
		uid_t uid;
		uint64_t at;
		char name[64];
	} cache[NAME_CACHE];
	static size_t next;
	uint64_t now = gs_now_ns();
	for (size_t i = 0; i < NAME_CACHE; i++)
		if (cache[i].at && cache[i].uid == uid && now - cache[i].at < NAME_CACHE_NS) {
			snprintf(out, len, "%s", cache[i].name);
			return;
		}
	struct passwd pw, *found = NULL;
	char buf[1024], name[64];
	if (getpwuid_r(uid, &pw, buf, sizeof buf, &found) == 0 && found)
		snprintf(name, sizeof name, "%s", found->pw_name);
	else
		snprintf(name, sizeof name, "%lu", (unsigned long)uid);
	make_safe(name); /* a directory service's names may hold anything */
	cache[next].uid = uid;
	cache[next].at = now;
	snprintf(cache[next].name, sizeof cache[next].name, "%s", name);
	next = (next + 1) % NAME_CACHE;
	snprintf(out, len, "%s", name);
}

void gs_slices_command(pid_t pid, char *out, size_t len)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%ld/comm", (long)pid);
	FILE *f = fopen(path, "r");
	snprintf(out, len, "?");
	if (f && fgets(out, (int)len, f))
		out[strcspn(out, "\n")] = '\0';
	if (f)
		fclose(f);
	make_safe(out); /* a name is the program's to choose */
}

/* A ledger's live use, limit and processes (those of only_uid, -1: all);
 * busy counts every process, whoever looks. */
static int ledger_use(const char *path, uid_t only_uid, struct gs_slice_row *row)
{
	struct gs_ledger *l;
	if (access(path, F_OK) || gs_ledger_open_ro(path, &l))
		return -ENOENT;
	static struct gs_ledger_usage u[GS_LEDGER_SLOTS];
	size_t nu = gs_ledger_usage(l, u, GS_LEDGER_SLOTS);
	row->used = gs_ledger_live(l);
	row->limit = gs_ledger_limit(l);
	row->busy = nu > 0;
	for (size_t q = 0; q < nu; q++) {
		uid_t uid = uid_of(u[q].pid);
		if (only_uid != (uid_t)-1 && uid != only_uid)
			continue;
		if (row->n_procs == GS_SLICES_MAX_PROCS) {
			row->procs_omitted++;
			continue;
		}
		struct gs_slice_proc *p = &row->procs[row->n_procs++];
		p->pid = u[q].pid;
		p->uid = uid;
		p->bytes = u[q].bytes;
		gs_slices_command(p->pid, p->command, sizeof p->command);
	}
	gs_ledger_close(l);
	return 0;
}

/* A row more at the end of *rows (grown as needed), zeroed; NULL when out of
 * memory. */
static struct gs_slice_row *row_add(struct gs_slice_row **rows, size_t *n, size_t *cap)
{
	if (*n == *cap) {
		size_t more = *cap ? *cap * 2 : 8;
		struct gs_slice_row *r = reallocarray(*rows, more, sizeof *r);
		if (!r)
			return NULL;
		*rows = r;
		*cap = more;
	}
	struct gs_slice_row *row = &(*rows)[(*n)++];
	memset(row, 0, sizeof *row);
	return row;
}

/* A remainder ledger's name: "remainder-GPU-<uuid>". */
static bool remainder_name(const char *name)
{
	struct gs_uuid u;
	return strncmp(name, "remainder-GPU-", 14) == 0 && strlen(name + 14) == GS_UUID_STR - 1 &&
	       gs_uuid_parse(name + 14, &u) == 0;
}

static int gpu_index(const struct gs_slice_gpu *gpus, size_t n, const char *uuid)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(gpus[i].uuid, uuid) == 0)
			return (int)gpus[i].index;
	return -1;
}

int gs_slices_rows(const char *dir, uid_t only_uid, const struct gs_slice_gpu *gpus, size_t n_gpus,
		   struct gs_slice_row **rows, size_t *n, char *err, size_t errlen)
{
	struct gs_store *st = malloc(sizeof *st);
	struct gs_slice_row *r = NULL;
	size_t cap = 0;
	*rows = NULL;
	*n = 0;
	if (!st)
		return -ENOMEM;
	int rc = gs_store_load(dir, st, err, errlen);
	for (size_t g = 0; !rc && g < st->n_gpu; g++) {
		const struct gs_store_gpu *sg = &st->gpu[g];
		for (size_t k = 0; !rc && k < sg->layout.n_ci; k++) {
			const struct gs_mig_ci *ci = &sg->layout.ci[k];
			const struct gs_mig_gi *gi = NULL;
			for (size_t i = 0; i < sg->layout.n_gi; i++)
				if (sg->layout.gi[i].id == ci->gi)
					gi = &sg->layout.gi[i];
			if (!gi)
				continue;
			struct gs_slice_row *row = row_add(&r, n, &cap);
			if (!row) {
				rc = gs_fail(err, errlen, -ENOMEM, "out of memory");
				break;
			}
			gs_store_ci_uuid(sg->uuid, ci, row->slice);
			snprintf(row->name, sizeof row->name, "%s", ci->name);
			snprintf(row->gpu_uuid, sizeof row->gpu_uuid, "%s", sg->uuid);
			row->gpu = gpu_index(gpus, n_gpus, sg->uuid);
			row->gi = (int)ci->gi;
			row->ci = (int)ci->id;
			row->sms = ci->sm;
			row->sm_start = gi->sm_start;
			row->memory = (uint64_t)gi->memory_mib << 20;
			row->guarantee = (uint64_t)gi->guarantee_mib << 20;
			row->n_users = ci->n_users;
			memcpy(row->users, ci->users, sizeof row->users);
			row->refuse = ci->refuse_busy;
			row->oom_wait_s = ci->oom_wait_s;
			row->mem_turn_s = ci->mem_turn_s;
			row->borrow_mem = ci->borrow_mem;
			row->sm_policy = ci->sm_policy;
			row->job = ci->owner_pid != 0;
			/* memory and processes are the GPU instance's, shared by its CIs */
			char path[PATH_MAX];
			if (gs_store_ledger_path(dir, sg->uuid, gi, path, sizeof path) == 0)
				ledger_use(path, only_uid, row);
		}
	}
	free(st);
	/* what programs outside every slice hold, GPU by GPU (gpushare-control's);
	 * only a file named as a remainder's ledger is one */
	DIR *d = rc ? NULL : opendir(dir);
	for (struct dirent *e; d && (e = readdir(d));) {
		char path[PATH_MAX];
		if (!remainder_name(e->d_name) || snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path)
			continue;
		struct gs_slice_row *row = row_add(&r, n, &cap);
		if (!row)
			break;
		if (ledger_use(path, only_uid, row)) {
			(*n)--;
			continue;
		}
		row->remainder = true;
		snprintf(row->slice, sizeof row->slice, "-");
		snprintf(row->gpu_uuid, sizeof row->gpu_uuid, "%s", e->d_name + 10);
		row->gpu = gpu_index(gpus, n_gpus, row->gpu_uuid);
		row->gi = row->ci = -1;
		row->memory = row->limit;
	}
	if (d)
		closedir(d);
	if (rc) {
		free(r);
		*n = 0;
		return rc;
	}
	*rows = r;
	return 0;
}

static void users_text(const struct gs_slice_row *row, char *out, size_t len)
{
	size_t at = 0;
	snprintf(out, len, "*");
	for (unsigned q = 0; q < row->n_users && at + 2 < len; q++) {
		char name[64];
		gs_slices_user_name(row->users[q], name, sizeof name);
		at += (size_t)snprintf(out + at, len - at, "%s%s", q ? "," : "", name);
	}
}

void gs_slices_sm_policy_text(const struct gs_sm_policy *p, char *out, size_t len)
{
	snprintf(out, len, "%s%s%s", gs_store_sm_mode_name(p->mode),
		 p->mode == GS_SM_SHARED && p->no_lend ? ",no-lend" : "",
		 p->mode == GS_SM_SHARED && p->no_borrow ? ",no-borrow" : "");
	size_t at = strlen(out);
	if (p->mode == GS_SM_BEST_EFFORT && p->floor_sm && at < len)
		at += (size_t)snprintf(out + at, len - at, ",floor=%u", p->floor_sm);
	if (p->priority && at < len)
		at += (size_t)snprintf(out + at, len - at, ",%s", gs_store_priority_name(p->priority));
	if (p->weight > 1 && at < len)
		at += (size_t)snprintf(out + at, len - at, ",weight=%u", p->weight);
	if (p->timeslice_ms && at < len)
		snprintf(out + at, len - at, ",timeslice=%ums", p->timeslice_ms);
}

#define SHARING_TEXT 80

static void table(const struct gs_slice_row *rows, size_t n, void (*emit)(void *, const char *), void *ctx)
{
	char line[2048], sharing[SHARING_TEXT];
	/* the SHARING column as wide as its widest entry: rows stay aligned */
	int wide = (int)strlen("SHARING");
	for (size_t i = 0; i < n; i++) {
		gs_slices_sm_policy_text(&rows[i].sm_policy, sharing, sizeof sharing);
		if (!rows[i].remainder && (int)strlen(sharing) > wide)
			wide = (int)strlen(sharing);
	}
	snprintf(line, sizeof line, "%-40s %3s %-16s %3s %3s %5s %10s %10s %10s  %-16s %-7s %-*s %-4s %s", "SLICE", "GPU",
		 "NAME", "GI", "CI", "SMs", "MEMORY", "GUARANTEE", "USED", "USERS", "POLICY", wide, "SHARING", "BUSY",
		 "PROCESSES");
	emit(ctx, line);
	for (size_t i = 0; i < n; i++) {
		const struct gs_slice_row *row = &rows[i];
		char gpu[16] = "-", gi[16] = "-", ci[16] = "-", sms[16] = "-", users[160], procs[1024] = "-";
		snprintf(sharing, sizeof sharing, "-");
		if (!row->remainder)
			gs_slices_sm_policy_text(&row->sm_policy, sharing, sizeof sharing);
		if (row->gpu >= 0)
			snprintf(gpu, sizeof gpu, "%d", row->gpu);
		if (!row->remainder) {
			snprintf(gi, sizeof gi, "%d", row->gi);
			snprintf(ci, sizeof ci, "%d", row->ci);
			snprintf(sms, sizeof sms, "%u", row->sms);
			users_text(row, users, sizeof users);
		} else {
			snprintf(users, sizeof users, "*");
		}
		char policy[32] = "-";
		if (!row->remainder)
			snprintf(policy, sizeof policy, "%s", row->refuse ? "refuse" : "queue");
		if (row->oom_wait_s)
			snprintf(policy + strlen(policy), sizeof policy - strlen(policy), ",oom-wait=%us", row->oom_wait_s);
		if (row->mem_turn_s)
			snprintf(policy + strlen(policy), sizeof policy - strlen(policy), ",mem-turn=%us", row->mem_turn_s);
		if (row->borrow_mem)
			snprintf(policy + strlen(policy), sizeof policy - strlen(policy), ",borrow-memory");
		size_t at = 0;
		for (size_t q = 0; q < row->n_procs && at + 40 < sizeof procs; q++)
			at += (size_t)snprintf(procs + at, sizeof procs - at, "%s%ld(%s)", q ? "," : "", (long)row->procs[q].pid,
					       row->procs[q].command);
		if (row->procs_omitted && at + 24 < sizeof procs)
			snprintf(procs + at, sizeof procs - at, ",+%zu more", row->procs_omitted);
		snprintf(line, sizeof line, "%-40s %3s %-16s %3s %3s %5s %7lluMiB %7lluMiB %7lluMiB  %-16s %-7s %-*s %-4s %s",
			 row->slice, gpu, row->remainder ? "(remainder)" : row->name[0] ? row->name : "-", gi, ci, sms,
			 (unsigned long long)(row->memory >> 20), (unsigned long long)(row->guarantee >> 20),
			 (unsigned long long)(row->used >> 20), users, policy, wide, sharing, row->busy ? "yes" : "no", procs);
		emit(ctx, line);
	}
}

/* One JSON object per line: every line stays short enough for a reply. */
static void json(const struct gs_slice_row *rows, size_t n, void (*emit)(void *, const char *), void *ctx)
{
	char line[4000];
	emit(ctx, "{\"version\": 1, \"slices\": [");
	for (size_t i = 0; i < n; i++) {
		const struct gs_slice_row *row = &rows[i];
		size_t at = 0;
#define PUT(...) (at += at < sizeof line ? (size_t)snprintf(line + at, sizeof line - at, __VA_ARGS__) : 0)
		PUT("{\"slice\": \"%s\", \"name\": ", row->remainder ? "-" : row->slice);
		if (row->name[0])
			PUT("\"%s\"", row->name);
		else
			PUT("null");
		PUT(", \"remainder\": %s, \"gpu\": ", row->remainder ? "true" : "false");
		if (row->gpu >= 0)
			PUT("%d", row->gpu);
		else
			PUT("null");
		PUT(", \"gpu_uuid\": \"%s\"", row->gpu_uuid);
		if (!row->remainder)
			PUT(", \"gi\": %d, \"ci\": %d, \"sms\": %u, \"sm_start\": %u", row->gi, row->ci, row->sms,
			    row->sm_start);
		PUT(", \"memory_bytes\": %llu, \"guarantee_bytes\": %llu, \"used_bytes\": %llu",
		    (unsigned long long)row->memory, (unsigned long long)row->guarantee, (unsigned long long)row->used);
		if (!row->remainder) {
			PUT(", \"everyone\": %s, \"users\": [", row->n_users ? "false" : "true");
			for (unsigned q = 0; q < row->n_users; q++) {
				char name[64];
				gs_slices_user_name(row->users[q], name, sizeof name);
				PUT("%s{\"uid\": %lu, \"name\": \"%s\"}", q ? ", " : "", (unsigned long)row->users[q], name);
			}
			PUT("]");
			PUT(", \"policy\": \"%s\", \"job\": %s, \"oom_wait_s\": %u", row->refuse ? "refuse" : "queue",
			    row->job ? "true" : "false", row->oom_wait_s);
			PUT(", \"mem_turn_s\": %u, \"borrow_memory\": %s", row->mem_turn_s, row->borrow_mem ? "true" : "false");
			const struct gs_sm_policy *sp = &row->sm_policy;
			PUT(", \"sm_mode\": \"%s\", \"lend\": %s, \"borrow\": %s, \"priority\": \"%s\", \"floor_sms\": %u",
			    gs_store_sm_mode_name(sp->mode), sp->no_lend ? "false" : "true", sp->no_borrow ? "false" : "true",
			    gs_store_priority_name(sp->priority), sp->floor_sm);
			PUT(", \"weight\": %u, \"timeslice_ms\": %u", sp->weight ? sp->weight : 1, sp->timeslice_ms);
		}
		PUT(", \"busy\": %s, \"processes_omitted\": %zu, \"processes\": [", row->busy ? "true" : "false",
		    row->procs_omitted);
		/* a process a line: the row's line stays short, however many there are */
		for (size_t q = 0; q < row->n_procs; q++) {
			emit(ctx, line);
			at = 0;
			char name[64] = "", uid[24] = "null";
			if (row->procs[q].uid != (uid_t)-1) {
				gs_slices_user_name(row->procs[q].uid, name, sizeof name);
				snprintf(uid, sizeof uid, "%ld", (long)row->procs[q].uid);
			}
			PUT("%s{\"pid\": %ld, \"uid\": %s, \"user\": ", q ? ", " : "", (long)row->procs[q].pid, uid);
			if (name[0])
				PUT("\"%s\"", name);
			else
				PUT("null");
			PUT(", \"command\": \"%s\", \"used_bytes\": %llu}", row->procs[q].command,
			    (unsigned long long)row->procs[q].bytes);
		}
		PUT("]}%s", i + 1 < n ? "," : "");
#undef PUT
		emit(ctx, line);
	}
	emit(ctx, "]}");
}

void gs_slices_print(const struct gs_slice_row *rows, size_t n, bool as_json, void (*emit)(void *ctx, const char *line),
		     void *ctx)
{
	(as_json ? json : table)(rows, n, emit, ctx);
}

int gs_slices_report(const char *dir, uid_t only_uid, const struct gs_slice_gpu *gpus, size_t n_gpus, bool as_json,
		     void (*emit)(void *ctx, const char *line), void *ctx, char *err, size_t errlen)
{
	struct gs_slice_row *rows;
	size_t n;
	int rc = gs_slices_rows(dir, only_uid, gpus, n_gpus, &rows, &n, err, errlen);
	if (rc)
		return rc;
	gs_slices_print(rows, n, as_json, emit, ctx);
	free(rows);
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
