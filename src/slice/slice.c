/* slice.c: the slice layer's transactions and operations (see slice.h). */
#include "slice.h"
#include "cvd.h"
#include "ledger.h"
#include "mig.h"
#include "smrun.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

struct gs_mig_gi *gs_slice_gi_of(struct gs_store_gpu *g, const struct gs_mig_ci *ci)
{
	return gs_mig_gi_find(&g->layout, ci->gi);
}

/* Processes holding memory in a GPU instance's ledger: how many, their pids
 * written into pids (up to max). A ledger never made holds nobody. */
static size_t live(const char *dir, const char *gpu_uuid, const struct gs_mig_gi *gi, pid_t *pids, size_t max)
{
	char path[PATH_MAX];
	struct gs_ledger *l;
	if (gs_store_ledger_path(dir, gpu_uuid, gi, path, sizeof path) || gs_ledger_open_ro(path, &l))
		return 0;
	struct gs_ledger_usage u[GS_LEDGER_SLOTS];
	size_t n = gs_ledger_usage(l, u, GS_LEDGER_SLOTS);
	gs_ledger_close(l);
	for (size_t i = 0; i < n && i < max; i++)
		pids[i] = u[i].pid;
	return n;
}

static void slice_uuid(const struct gs_store_gpu *g, const struct gs_mig_gi *gi, char out[GS_UUID_STR + 4])
{
	/* the slice of a GI: its first CI's, else a GI-level name */
	for (size_t k = 0; k < g->layout.n_ci; k++)
		if (g->layout.ci[k].gi == gi->id) {
			gs_store_ci_uuid(g->uuid, &g->layout.ci[k], out);
			return;
		}
	snprintf(out, GS_UUID_STR + 4, "GPU instance %u", gi->id);
}

/* Fails with -EBUSY naming the slice and its processes when gi (as it was
 * before, in g) has any. */
static int refuse_if_live(const char *dir, const struct gs_store_gpu *g, const struct gs_mig_gi *gi, const char *why,
			  char *err, size_t errlen)
{
	pid_t pids[8];
	size_t n = live(dir, g->uuid, gi, pids, GS_ARRAY_LEN(pids));
	if (!n)
		return 0;
	char uuid[GS_UUID_STR + 4], list[96] = "";
	slice_uuid(g, gi, uuid);
	for (size_t i = 0, len = 0; i < n && i < GS_ARRAY_LEN(pids) && len < sizeof list - 16; i++)
		len += (size_t)snprintf(list + len, sizeof list - len, "%s%ld", i ? "," : "", (long)pids[i]);
	return gs_fail(err, errlen, -EBUSY, "Slice %s has %zu running process%s (%s%s): %s", uuid, n, n == 1 ? "" : "es",
		       list, n > GS_ARRAY_LEN(pids) ? ",..." : "", why);
}

static const struct gs_mig_gi *same_gi(const struct gs_store_gpu *g, const struct gs_mig_gi *gi)
{
	if (!g)
		return NULL;
	for (size_t i = 0; i < g->layout.n_gi; i++)
		if (g->layout.gi[i].id == gi->id && g->layout.gi[i].serial == gi->serial)
			return &g->layout.gi[i];
	return NULL;
}

static unsigned unit_of(const struct gs_store_gpu *g)
{
	return g->sm_unit ? g->sm_unit : 2;
}

/* What no change may do to programs that run: take their slice away, or
 * give new programs a layout of SMs in which theirs are someone else's. */
static int check_running(const char *dir, const struct gs_store *before, struct gs_store *after, char *err,
			 size_t errlen)
{
	for (size_t i = 0; i < before->n_gpu; i++) {
		const struct gs_store_gpu *b = &before->gpu[i];
		struct gs_store_gpu *a = gs_store_gpu(after, b->uuid, false);
		bool grid_changed = false;
		if (a) {
			/* the split is kept while any program runs: a slice taken
			 * away beside running ones leaves a floor, gone once none runs */
			bool running = false;
			pid_t pid;
			for (size_t k = 0; k < b->layout.n_gi && !running; k++)
				running = live(dir, b->uuid, &b->layout.gi[k], &pid, 1) > 0;
			if (!running)
				a->layout.grid_floor = 0;
			unsigned was = gs_smrun_grid(unit_of(b), &b->layout), now = gs_smrun_grid(unit_of(a), &a->layout);
			if (running && now != was && now % was == 0) {
				a->layout.grid_floor = was;
				now = gs_smrun_grid(unit_of(a), &a->layout);
			}
			grid_changed = now != was;
		}
		for (size_t k = 0; k < b->layout.n_gi; k++) {
			const struct gs_mig_gi *old = &b->layout.gi[k], *now = same_gi(a, old);
			int rc = 0;
			if (!now)
				rc = refuse_if_live(dir, b, old, "it stays until they end", err, errlen);
			else if (old->sm_placed && (now->sm_start != old->sm_start || now->sm < old->sm))
				rc = refuse_if_live(dir, b, old, "its SMs can only grow in place while they run", err, errlen);
			else if (grid_changed)
				rc = refuse_if_live(dir, b, old,
						    "the change would split the GPU's SMs differently for new programs; "
						    "use SM counts that are multiples of the slices' sizes, or wait until they end",
						    err, errlen);
			if (!rc && now)
				for (size_t c = 0; c < b->layout.n_ci && !rc; c++) {
					const struct gs_mig_ci *ci = &b->layout.ci[c];
					/* the ledger is the GI's: which CI a process is in is not known */
					if (ci->gi == old->id && !gs_mig_ci_find(&a->layout, ci->gi, ci->id))
						rc = refuse_if_live(dir, b, old, "its compute instances stay until they end", err,
								    errlen);
				}
			if (rc)
				return rc;
		}
	}
	return 0;
}

/* The ledger of every GPU instance of st, made where it has none yet (so
 * that the daemon can hand it out), its limit the instance's memory. Only the
 * store's owner writes it (gpushare-control hands a program its slice's
 * ledger as an open file); others may read it where the store's directory
 * lets them, as the guarantee check must. With before (the store on disk
 * until st replaces it) a ledger's limit is the lower of the two: a kill -9
 * before the store is replaced must not leave programs taking more than the
 * store gives their slice. */
static int set_ledgers(const char *dir, const struct gs_store *st, const struct gs_store *before)
{
	unsigned mode = gs_ledger_mode(dir);
	for (size_t i = 0; i < st->n_gpu; i++) {
		const struct gs_store_gpu *was = NULL;
		for (size_t b = 0; before && b < before->n_gpu; b++)
			if (strcmp(before->gpu[b].uuid, st->gpu[i].uuid) == 0)
				was = &before->gpu[b];
		for (size_t k = 0; k < st->gpu[i].layout.n_gi; k++) {
			const struct gs_mig_gi *gi = &st->gpu[i].layout.gi[k], *old = same_gi(was, gi);
			uint64_t limit = (uint64_t)gi->memory_mib << 20;
			if (old && ((uint64_t)old->memory_mib << 20) < limit)
				limit = (uint64_t)old->memory_mib << 20;
			char path[PATH_MAX];
			struct gs_ledger *l;
			int rc = gs_store_ledger_path(dir, st->gpu[i].uuid, gi, path, sizeof path);
			if (!rc)
				rc = gs_ledger_open(path, limit, mode, &l);
			if (rc)
				return rc;
			gs_ledger_set_limit(l, limit);
			gs_ledger_close(l);
		}
	}
	return 0;
}

/* What a transaction killed before it ended left: ledger limits the store
 * does not give, and its temporary copy of the store (every writer holds the
 * lock, so no other is being written). */
static void settle(const char *dir, const struct gs_store *st)
{
	set_ledgers(dir, st, NULL);
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)))
		if (strncmp(e->d_name, "slices.tmp.", 11) == 0)
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
}

/* Ledger files of GPU instances that are no longer in the store (removed,
 * or made by a transaction killed before its store was written). */
static void drop_stale_ledgers(const char *dir, const struct gs_store *st)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, "ledger-", 7))
			continue;
		bool keep = false;
		for (size_t i = 0; !keep && i < st->n_gpu; i++)
			for (size_t k = 0; !keep && k < st->gpu[i].layout.n_gi; k++) {
				char path[PATH_MAX];
				gs_store_ledger_path(dir, st->gpu[i].uuid, &st->gpu[i].layout.gi[k], path, sizeof path);
				const char *base = strrchr(path, '/');
				keep = base && strcmp(base + 1, e->d_name) == 0;
			}
		if (!keep)
			unlinkat(dirfd(d), e->d_name, 0);
	}
	closedir(d);
}

static void record_sizes(struct gs_store *st, const struct gs_slice_gpu *gpus, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct gs_store_gpu *g = gs_store_gpu(st, gpus[i].uuid, false);
		if (!g || !gpus[i].model.sm_count)
			continue;
		g->sm_count = gpus[i].model.sm_count;
		g->sm_unit = gs_smrun_unit(&gpus[i].model);
		g->memory_mib = gpus[i].model.memory_mib;
	}
	for (size_t i = 0; i < st->n_gpu; i++)
		if (st->gpu[i].sm_unit)
			gs_smrun_place_legacy(st->gpu[i].sm_unit, st->gpu[i].sm_count, &st->gpu[i].layout);
}

int gs_slice_edit(const char *dir, const struct gs_slice_gpu *gpus, size_t n_gpus,
		  int (*change)(struct gs_slice_txn *t, void *arg), void *arg, char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	int fd = gs_store_lock(dir);
	if (fd < 0)
		return gs_fail(err, errlen, fd, "cannot lock the slice store in %s: %s", dir, strerror(-fd));
	struct gs_store *before = malloc(sizeof *before), *st = malloc(sizeof *st);
	int rc = before && st ? 0 : -ENOMEM;
	if (!rc)
		rc = gs_store_load(dir, before, err, errlen);
	if (!rc) {
		record_sizes(before, gpus, n_gpus);
		settle(dir, before);
		*st = *before;
		struct gs_slice_txn t = { dir, st, gpus, n_gpus, err, errlen };
		rc = change(&t, arg);
		if (rc > 0) {
			/* nothing to change: nothing written */
			free(before);
			free(st);
			close(fd);
			return 0;
		}
		if (rc && err && errlen && !err[0])
			gs_fail(err, errlen, rc, "%s", strerror(-rc));
	}
	if (!rc) {
		/* gpus may have been created by the change */
		record_sizes(st, gpus, n_gpus);
		rc = check_running(dir, before, st, err, errlen);
	}
	if (!rc && (rc = set_ledgers(dir, st, before)))
		gs_fail(err, errlen, rc, "cannot make a memory ledger in %s: %s", dir, strerror(-rc));
	if (!rc && (rc = gs_store_save(dir, st)))
		gs_fail(err, errlen, rc, "cannot write %s/slices: %s", dir, strerror(-rc));
	if (!rc) {
		set_ledgers(dir, st, NULL); /* the limits grown; a failure is settled by the next change */
		drop_stale_ledgers(dir, st);
	}
	free(before);
	free(st);
	close(fd);
	return rc;
}

/* Parses the name forms into e; -EINVAL when it is none of them. */
static int parse_name(const char *name, struct gs_cvd_entry *e)
{
	size_t n;
	char why[128], with[96];
	if (gs_cvd_parse(name, e, 1, &n, why, sizeof why) == 0 && n == 1 &&
	    (e->kind == GS_CVD_MIG_UUID || e->kind == GS_CVD_MIG_GPU))
		return 0;
	if (strlen(name) > 64)
		return -EINVAL;
	snprintf(with, sizeof with, "MIG-%s", name);
	if (gs_cvd_parse(with, e, 1, &n, why, sizeof why) == 0 && n == 1 && e->kind == GS_CVD_MIG_UUID)
		return 0;
	return -EINVAL;
}

int gs_slice_resolve(struct gs_store *st, const char *name, struct gs_store_gpu **gpu, struct gs_mig_ci **ci,
		     char *err, size_t errlen)
{
	struct gs_cvd_entry e;
	const struct gs_store_gpu *named_gpu;
	const struct gs_mig_ci *named = name ? gs_store_find_name(st, name, &named_gpu) : NULL;
	if (named) {
		/* a name first: it is never one of the UUID forms (nor a prefix) */
		*gpu = (struct gs_store_gpu *)named_gpu;
		*ci = (struct gs_mig_ci *)named;
		return 0;
	}
	if (!name || parse_name(name, &e))
		return gs_fail(err, errlen, -EINVAL,
			       "No slice \"%.60s\": give a slice's name, its MIG-<uuid> (or a unique prefix of it) or "
			       "MIG-GPU-<uuid>/<gi>/<ci> (gpushare-smi -L, list_slices)",
			       name ? name : "");
	int found = 0;
	char first[GS_UUID_STR + 4] = "";
	for (size_t g = 0; g < st->n_gpu; g++) {
		struct gs_store_gpu *sg = &st->gpu[g];
		for (size_t k = 0; k < sg->layout.n_ci; k++) {
			struct gs_mig_ci *c = &sg->layout.ci[k];
			char uuid[GS_UUID_STR + 4];
			gs_store_ci_uuid(sg->uuid, c, uuid);
			bool match = e.kind == GS_CVD_MIG_GPU
					     ? strcasecmp(sg->uuid + 4, e.uuid) == 0 && c->gi == e.gi && c->id == e.ci
					     : strncasecmp(uuid + 4, e.uuid, strlen(e.uuid)) == 0;
			if (!match)
				continue;
			if (found++) {
				return gs_fail(err, errlen, -EEXIST, "\"%.60s\" matches more than one slice (%s and %s): give more of the UUID",
					       name, first, uuid);
			}
			snprintf(first, sizeof first, "%s", uuid);
			*gpu = sg;
			*ci = c;
		}
	}
	if (!found)
		return gs_fail(err, errlen, -ENOENT, "Slice %.60s not found", name);
	return 0;
}

void gs_slice_describe(struct gs_store_gpu *g, const struct gs_mig_ci *ci, struct gs_slice_info *info)
{
	memset(info, 0, sizeof *info);
	gs_store_ci_uuid(g->uuid, ci, info->uuid);
	snprintf(info->gpu_uuid, sizeof info->gpu_uuid, "%s", g->uuid);
	info->gi = ci->gi;
	info->ci = ci->id;
	unsigned start, count;
	gs_smrun_of_ci(&g->layout, ci, &start, &count);
	info->sm = count;
	info->sm_start = start;
	const struct gs_mig_gi *gi = gs_slice_gi_of(g, ci);
	if (gi) {
		info->memory_mib = gi->memory_mib;
		info->guarantee_mib = gi->guarantee_mib;
	}
	info->sm_policy = ci->sm_policy;
}

/* The SM policy p as a slice of sm SMs on a GPU handing SMs out in units
 * keeps it (slice.h, gs_slice_set_sm_policy), into *out; 0 or -EINVAL with
 * what would be right in err. */
int gs_slice_sm_policy_check(const struct gs_sm_policy *p, unsigned sm, unsigned unit, struct gs_sm_policy *out,
			     char *err, size_t errlen)
{
	*out = *p;
	if (p->mode > GS_SM_BEST_EFFORT)
		return gs_fail(err, errlen, -EINVAL, "Unknown SM-sharing mode %u: shared, isolated or best-effort", p->mode);
	if (p->mode == GS_SM_ISOLATED)
		out->no_lend = out->no_borrow = true; /* isolated is exactly that */
	if (p->weight > GS_SM_MAX_WEIGHT)
		return gs_fail(err, errlen, -EINVAL, "A weight of %u is more than %u: give 1 to %u (1: as every slice)",
			       p->weight, GS_SM_MAX_WEIGHT, GS_SM_MAX_WEIGHT);
	if (out->weight == 1)
		out->weight = 0; /* the default, as the store keeps it */
	if (p->timeslice_ms > GS_TIMESLICE_MAX_MS)
		return gs_fail(err, errlen, -EINVAL,
			       "A time slice of %u ms is longer than %u ms: give 1 to %u ms (0 or off: its programs run at "
			       "once)", p->timeslice_ms, GS_TIMESLICE_MAX_MS, GS_TIMESLICE_MAX_MS);
	if (p->mode == GS_SM_BEST_EFFORT && (p->no_lend || p->no_borrow))
		return gs_fail(err, errlen, -EINVAL,
			       "A best-effort slice always lends and borrows idle SMs: turning %s off is a shared slice's "
			       "(-shared -lend off / -borrow off) or an isolated one's (-isolated)",
			       p->no_lend ? "lending" : "borrowing");
	if (!p->floor_sm)
		return 0;
	if (p->mode != GS_SM_BEST_EFFORT)
		return gs_fail(err, errlen, -EINVAL,
			       "A floor is a best-effort slice's (the SMs it keeps beside a busy critical slice): "
			       "add -best-effort, or leave -floor out");
	if (p->floor_sm > sm)
		return gs_fail(err, errlen, -EINVAL,
			       "A floor of %u SMs is more than the slice's %u SMs: give at most %u (0: a quarter of them)",
			       p->floor_sm, sm, sm);
	/* whole TPCs (two SMs), at least one: a floor is a TPC mask's, not a
	 * green context's, so it is not held to the GPU's unit */
	(void)unit;
	out->floor_sm = p->floor_sm < 2 ? 2 : p->floor_sm & ~1u;
	return 0;
}

static const struct gs_slice_gpu *txn_gpu(const struct gs_slice_txn *t, const char *uuid)
{
	for (size_t i = 0; i < t->n_gpus; i++)
		if (strcmp(t->gpus[i].uuid, uuid) == 0)
			return &t->gpus[i];
	return NULL;
}

/* Whether the guarantees of the GPU (gi at guarantee_mib) fit its memory. */
static bool guarantees_fit(const struct gs_store_gpu *g, const struct gs_mig_gi *gi, uint64_t guarantee_mib,
			   uint64_t gpu_mib)
{
	uint64_t sum = guarantee_mib;
	for (size_t i = 0; i < g->layout.n_gi; i++)
		if (&g->layout.gi[i] != gi)
			sum += g->layout.gi[i].guarantee_mib;
	return !gpu_mib || sum <= gpu_mib;
}

struct create_arg {
	const struct gs_slice_spec *spec;
	struct gs_slice_info *out;
};

/* Whether a slice may borrow memory (gs_slice_set_borrow_mem): 0, or a
 * negative errno with why in t's error buffer. */
static int borrow_mem_check(struct gs_slice_txn *t, const struct gs_mig_gi *gi, const struct gs_sm_policy *policy)
{
	if (gi->guarantee_mib >= gi->memory_mib)
		return gs_fail(t->err, t->errlen, -EINVAL,
			       "Only an over-committed slice borrows memory: this one is guaranteed its whole limit (%" PRIu32
			       " MiB), so it has nothing to borrow for (make it with -overcommit)",
			       gi->memory_mib);
	if (policy->priority == GS_PRIO_CRITICAL)
		return gs_fail(t->err, t->errlen, -EINVAL,
			       "A critical slice may not borrow memory: a borrower's programs are suspended whenever an owner "
			       "needs its guarantee back, and the owner's promise comes first, so a critical slice's programs "
			       "would be suspended for slices it out-ranks (give it -priority normal or low)");
	return 0;
}

int gs_slice_txn_create(struct gs_slice_txn *t, const struct gs_slice_gpu *gpu, const struct gs_slice_spec *sp,
			struct gs_slice_info *out)
{
	struct create_arg arg = { sp, out }, *c = &arg;
	const struct gs_gpu_model *m = &gpu->model;
	struct gs_store_gpu *g = gs_store_gpu(t->st, gpu->uuid, true);
	if (!g)
		return gs_fail(t->err, t->errlen, -ENOSPC, "the store holds no more GPUs");
	unsigned unit = gs_smrun_unit(m), sm = gs_smrun_round(unit, sp->sm);
	uint64_t mib = sp->memory >> 20;
	if (sp->sm == 0 || mib == 0)
		return gs_fail(t->err, t->errlen, -EINVAL, "a slice needs at least one SM and 1 MiB");
	if (sp->sm > m->sm_count || mib > m->memory_mib)
		return gs_fail(t->err, t->errlen, -EINVAL, "GPU %u has %u SMs and %" PRIu32 " MiB: %u SMs and %" PRIu64
			       " MiB cannot be one slice of it", gpu->index, m->sm_count, m->memory_mib, sp->sm, mib);
	if (sp->n_users > GS_SLICE_MAX_USERS)
		return gs_fail(t->err, t->errlen, -E2BIG, "at most %d users may be listed for a slice", GS_SLICE_MAX_USERS);
	if (sp->cgroup && !gs_store_cgroup_valid(sp->cgroup))
		return gs_fail(t->err, t->errlen, -EINVAL, "cgroup \"%.60s\" is not a cgroup path", sp->cgroup);
	const struct gs_store_gpu *named_gpu;
	const struct gs_mig_ci *named = sp->name ? gs_store_find_name(t->st, sp->name, &named_gpu) : NULL;
	if (sp->name && !gs_store_name_valid(sp->name))
		return gs_fail(t->err, t->errlen, -EINVAL,
			       "Invalid slice name \"%.40s\": 1 to 31 letters, digits, '.', '_' or '-', with a letter "
			       "past f or a '.' or '_' (not a UUID's start), not starting with '-', MIG- or GPU-", sp->name);
	if (named) {
		char uuid[GS_UUID_STR + 4];
		gs_store_ci_uuid(named_gpu->uuid, named, uuid);
		return gs_fail(t->err, t->errlen, -EEXIST, "A slice named %s exists already (%s)", sp->name, uuid);
	}
	struct gs_sm_policy policy;
	int rc = gs_slice_sm_policy_check(&sp->sm_policy, sm, unit, &policy, t->err, t->errlen);
	if (rc)
		return rc;
	if (sm != sp->sm)
		snprintf(c->out->note, sizeof c->out->note,
			 "%u SMs rounded down to %u: this GPU's SMs are handed out in units of %u", sp->sm, sm, unit);
	else if (policy.floor_sm != sp->sm_policy.floor_sm)
		snprintf(c->out->note, sizeof c->out->note,
			 "a floor of %u SMs rounded to %u: a floor is of whole TPCs (%u SMs per unit of slice sizes)",
			 sp->sm_policy.floor_sm, policy.floor_sm, unit);
	g->mig = true; /* a slice made through the layer turns soft MIG on, as MIG devices need it */
	unsigned id;
	rc = gs_mig_gi_create_custom(m, &g->layout, sm, (uint32_t)mib, sp->overcommit, &id);
	if (rc == GS_MIG_INSUFFICIENT) {
		unsigned free_sm;
		uint32_t free_mib;
		gs_mig_free(m, &g->layout, &free_sm, &free_mib);
		return gs_fail(t->err, t->errlen, -ENOSPC,
			       "%u SMs and %" PRIu64 " MiB do not fit beside the slices of GPU %u: %u of its %u SMs and %" PRIu32
			       " of its %" PRIu32 " MiB are free (add -overcommit to share them)",
			       sm, mib, gpu->index, free_sm, m->sm_count, free_mib, m->memory_mib);
	}
	if (rc)
		return gs_fail(t->err, t->errlen, -EINVAL, "cannot make the slice: %s", gs_mig_strerror(rc));
	struct gs_mig_gi *gi = gs_mig_gi_find(&g->layout, id);
	unsigned start;
	gi->sm_placed = false;
	if (sp->sm_fixed && gs_smrun_place_at(unit, m->sm_count, &g->layout, sp->sm_start, sm, sp->overcommit))
		return gs_fail(t->err, t->errlen, -ENOSPC, "SMs %u to %u of GPU %u are not free (other slices hold them)",
			       sp->sm_start, sp->sm_start + sm - 1, gpu->index);
	if (sp->sm_fixed)
		start = sp->sm_start;
	else if (gs_smrun_place(unit, m->sm_count, &g->layout, NULL, sm, sp->overcommit, &start))
		return gs_fail(t->err, t->errlen, -ENOSPC,
			       "no run of %u free SMs is left on GPU %u (the slices there hold the others; add -overcommit to share them)",
			       sm, gpu->index);
	gi->sm_start = start;
	gi->sm_placed = true;
	if (sp->overcommit) {
		uint64_t want = sp->guarantee == UINT64_MAX ? 0 : sp->guarantee >> 20;
		if (want > mib)
			return gs_fail(t->err, t->errlen, -EINVAL, "a guarantee cannot exceed the slice's memory limit");
		if (!guarantees_fit(g, gi, want, m->memory_mib))
			return gs_fail(t->err, t->errlen, -ENOSPC, "the guarantees of GPU %u would exceed its memory",
				       gpu->index);
		gi->guarantee_mib = (uint32_t)want;
	}
	struct gs_ci_profile cps[8];
	size_t np = gs_mig_ci_profiles(m, gi, cps, GS_ARRAY_LEN(cps));
	unsigned ci_id;
	if (!np || (rc = gs_mig_ci_create(m, &g->layout, id, cps[0].id, &ci_id)))
		return gs_fail(t->err, t->errlen, -EINVAL, "cannot make the slice's compute instance");
	struct gs_mig_ci *ci = (struct gs_mig_ci *)gs_mig_ci_find(&g->layout, id, ci_id);
	ci->refuse_busy = sp->refuse;
	if (sp->oom_wait_s > GS_OOM_WAIT_MAX_S)
		return gs_fail(t->err, t->errlen, -EINVAL, "A wait of %u s is longer than %u s: give 0 to %u", sp->oom_wait_s,
			       GS_OOM_WAIT_MAX_S, GS_OOM_WAIT_MAX_S);
	ci->oom_wait_s = sp->oom_wait_s;
	if (sp->mem_turn_s > GS_MEM_TURN_MAX_S)
		return gs_fail(t->err, t->errlen, -EINVAL, "A memory turn of %u s is longer than %u s: give 0 to %u",
			       sp->mem_turn_s, GS_MEM_TURN_MAX_S, GS_MEM_TURN_MAX_S);
	ci->mem_turn_s = sp->mem_turn_s;
	if (sp->borrow_mem && (rc = borrow_mem_check(t, gi, &policy)))
		return rc;
	ci->borrow_mem = sp->borrow_mem;
	ci->n_users = sp->n_users;
	if (sp->n_users)
		memcpy(ci->users, sp->users, sp->n_users * sizeof sp->users[0]);
	if (sp->owner) {
		ci->owner_pid = sp->owner;
		ci->owner_start = gs_proc_start_time(sp->owner);
	}
	if (sp->cgroup)
		snprintf(ci->cgroup, sizeof ci->cgroup, "%s", sp->cgroup);
	if (sp->name)
		snprintf(ci->name, sizeof ci->name, "%s", sp->name);
	ci->sm_policy = policy;
	char note[sizeof c->out->note];
	memcpy(note, c->out->note, sizeof note);
	gs_slice_describe(g, ci, c->out);
	memcpy(c->out->note, note, sizeof note);
	return 0;
}

static int do_create(struct gs_slice_txn *t, void *arg)
{
	struct create_arg *c = arg;
	return gs_slice_txn_create(t, t->gpus, c->spec, c->out);
}

int gs_slice_txn_create_gi(struct gs_slice_txn *t, const struct gs_slice_gpu *gpu, const struct gs_gi_profile *p,
			   unsigned *gi_id)
{
	const struct gs_gpu_model *m = &gpu->model;
	struct gs_store_gpu *g = gs_store_gpu(t->st, gpu->uuid, true);
	if (!g)
		return gs_fail(t->err, t->errlen, -ENOSPC, "the store holds no more GPUs");
	g->mig = true;
	unsigned id, start;
	int rc = gs_mig_gi_create(m, &g->layout, p, -1, &id);
	if (rc == GS_MIG_INSUFFICIENT)
		return gs_fail(t->err, t->errlen, -ENOSPC, "no room for another %s on GPU %u", p->name, gpu->index);
	if (rc)
		return gs_fail(t->err, t->errlen, -EINVAL, "cannot make a %s: %s", p->name, gs_mig_strerror(rc));
	struct gs_mig_gi *gi = gs_mig_gi_find(&g->layout, id);
	if (gs_smrun_place_profile(m, &g->layout, gi, false, &start))
		return gs_fail(t->err, t->errlen, -ENOSPC, "no run of %u free SMs for a %s on GPU %u", gi->sm, p->name,
			       gpu->index);
	gi->sm_start = start;
	gi->sm_placed = true;
	*gi_id = id;
	return 0;
}

int gs_slice_txn_create_ci(struct gs_slice_txn *t, const struct gs_slice_gpu *gpu, unsigned gi_id, unsigned ci_profile,
			   struct gs_slice_info *out)
{
	struct gs_store_gpu *g = gs_store_gpu(t->st, gpu->uuid, false);
	struct gs_mig_gi *gi = g ? gs_mig_gi_find(&g->layout, gi_id) : NULL;
	if (!gi)
		return gs_fail(t->err, t->errlen, -ENOENT, "no GPU instance %u on GPU %u", gi_id, gpu->index);
	char name[64];
	gs_mig_gi_name(&gpu->model, gi, name, sizeof name);
	struct gs_ci_profile cps[8];
	size_t np = gs_mig_ci_profiles(&gpu->model, gi, cps, GS_ARRAY_LEN(cps)), k = 0;
	while (k < np && cps[k].id != ci_profile)
		k++;
	if (k == np)
		return gs_fail(t->err, t->errlen, -EINVAL, "the %s (GI %u) of GPU %u has no compute instance profile %u",
			       name, gi_id, gpu->index, ci_profile);
	unsigned id;
	int rc = gs_mig_ci_create(&gpu->model, &g->layout, gi_id, ci_profile, &id);
	if (rc == GS_MIG_INSUFFICIENT)
		return gs_fail(t->err, t->errlen, -ENOSPC, "no room for another %s in the %s (GI %u) of GPU %u",
			       cps[k].name, name, gi_id, gpu->index);
	if (rc)
		return gs_fail(t->err, t->errlen, -EINVAL, "cannot make a %s in the %s (GI %u) of GPU %u: %s", cps[k].name,
			       name, gi_id, gpu->index, gs_mig_strerror(rc));
	if (out)
		gs_slice_describe(g, gs_mig_ci_find(&g->layout, gi_id, id), out);
	return 0;
}

int gs_slice_txn_create_profile(struct gs_slice_txn *t, const struct gs_slice_gpu *gpu, const struct gs_gi_profile *p,
				struct gs_slice_info *out)
{
	unsigned id;
	int rc = gs_slice_txn_create_gi(t, gpu, p, &id);
	if (rc)
		return rc;
	/* with its default compute instance, the whole GPU instance (-cgi -C) */
	struct gs_store_gpu *g = gs_store_gpu(t->st, gpu->uuid, false);
	struct gs_ci_profile cps[8];
	size_t np = gs_mig_ci_profiles(&gpu->model, gs_mig_gi_find(&g->layout, id), cps, GS_ARRAY_LEN(cps)), k = 0;
	while (k < np && !cps[k].is_default)
		k++;
	if (k == np)
		return gs_fail(t->err, t->errlen, -EINVAL, "cannot make the compute instance of a %s", p->name);
	return gs_slice_txn_create_ci(t, gpu, id, cps[k].id, out);
}

int gs_slice_txn_remove(struct gs_slice_txn *t, struct gs_store_gpu *g, unsigned gi)
{
	for (size_t k = g->layout.n_ci; k-- > 0;)
		if (g->layout.ci[k].gi == gi && gs_mig_ci_destroy(&g->layout, gi, g->layout.ci[k].id))
			return gs_fail(t->err, t->errlen, -ENOENT, "cannot remove compute instance %u/%u", gi,
				       g->layout.ci[k].id);
	return gs_mig_gi_destroy(&g->layout, gi) ? gs_fail(t->err, t->errlen, -ENOENT, "no GPU instance %u", gi) : 0;
}

int gs_slice_create(const char *dir, const struct gs_slice_gpu *gpu, const struct gs_slice_spec *spec,
		    struct gs_slice_info *out, char *err, size_t errlen)
{
	struct gs_slice_info scratch;
	struct create_arg c = { spec, out ? out : &scratch };
	memset(c.out, 0, sizeof *c.out);
	return gs_slice_edit(dir, gpu, 1, do_create, &c, err, errlen);
}

/* A change to one named slice. */
struct named {
	const char *name;
	int (*fn)(struct gs_slice_txn *t, struct gs_store_gpu *g, struct gs_mig_gi *gi, struct gs_mig_ci *ci, void *arg);
	void *arg;
	struct gs_slice_info *out;
};

static int do_named(struct gs_slice_txn *t, void *arg)
{
	struct named *n = arg;
	struct gs_store_gpu *g;
	struct gs_mig_ci *ci;
	int rc = gs_slice_resolve(t->st, n->name, &g, &ci, t->err, t->errlen);
	if (rc)
		return rc;
	struct gs_mig_gi *gi = gs_slice_gi_of(g, ci);
	if (!gi)
		return gs_fail(t->err, t->errlen, -ENOENT, "Slice %s has no GPU instance", n->name);
	if (n->out)
		gs_slice_describe(g, ci, n->out);
	if ((rc = n->fn(t, g, gi, ci, n->arg)))
		return rc;
	/* what it is now (a removed slice keeps what it was) */
	if (n->out && gs_mig_ci_find(&g->layout, gi->id, ci->id) == ci && gs_slice_gi_of(g, ci) == gi)
		gs_slice_describe(g, ci, n->out);
	return 0;
}

static int edit_named(const char *dir, const struct gs_slice_gpu *gpu, const char *name,
		      int (*fn)(struct gs_slice_txn *, struct gs_store_gpu *, struct gs_mig_gi *, struct gs_mig_ci *, void *),
		      void *arg, struct gs_slice_info *out, char *err, size_t errlen)
{
	struct named n = { name, fn, arg, out };
	return gs_slice_edit(dir, gpu, gpu ? 1 : 0, do_named, &n, err, errlen);
}

static int destroy_fn(struct gs_slice_txn *t, struct gs_store_gpu *g, struct gs_mig_gi *gi, struct gs_mig_ci *ci,
		      void *arg)
{
	(void)arg;
	unsigned gid = gi->id, cid = ci->id;
	if (gs_mig_ci_destroy(&g->layout, gid, cid))
		return gs_fail(t->err, t->errlen, -ENOENT, "cannot remove the compute instance");
	/* the GPU instance goes with its last compute instance */
	for (size_t k = 0; k < g->layout.n_ci; k++)
		if (g->layout.ci[k].gi == gid)
			return 0;
	return gs_mig_gi_destroy(&g->layout, gid) ? -ENOENT : 0;
}

int gs_slice_destroy(const char *dir, const char *name, struct gs_slice_info *out, char *err, size_t errlen)
{
	return edit_named(dir, NULL, name, destroy_fn, NULL, out, err, errlen);
}

struct resize {
	unsigned sm;
	uint64_t memory;
	bool overcommit;
	char *note;
	size_t notelen;
};

static int resize_fn(struct gs_slice_txn *t, struct gs_store_gpu *g, struct gs_mig_gi *gi, struct gs_mig_ci *ci,
		     void *arg)
{
	struct resize *z = arg;
	const struct gs_slice_gpu *gpu = txn_gpu(t, g->uuid);
	if (gi->profile_id != GS_MIG_CUSTOM)
		return gs_fail(t->err, t->errlen, -EPERM,
			       "Slice %s has a MIG profile's fixed size; create a custom-size slice to resize it", "");
	unsigned unit = unit_of(g), total = gpu ? gpu->model.sm_count : g->sm_count;
	unsigned sm = gs_smrun_round(unit, z->sm);
	uint64_t mib = z->memory >> 20;
	uint32_t gpu_mib = gpu ? gpu->model.memory_mib : g->memory_mib;
	if (mib == 0 || mib > UINT32_MAX || (gpu_mib && mib > gpu_mib) || (total && z->sm > total))
		return gs_fail(t->err, t->errlen, -EINVAL, "%u SMs and %" PRIu64 " MiB is not a size for a slice of this GPU",
			       z->sm, mib);
	if (ci->sm_policy.floor_sm > sm)
		return gs_fail(t->err, t->errlen, -EINVAL,
			       "The slice's floor is %u SMs, more than %u: lower it first (set_slice_sm_policy -floor)",
			       ci->sm_policy.floor_sm, sm);
	if (sm != z->sm)
		snprintf(z->note, z->notelen, "%u SMs rounded down to %u: this GPU's SMs are handed out in units of %u", z->sm,
			 sm, unit);
	/* a wholly guaranteed slice stays so; over-commit guarantees no more */
	uint32_t guarantee = gi->guarantee_mib == gi->memory_mib && !z->overcommit ? (uint32_t)mib
			     : gi->guarantee_mib < mib ? gi->guarantee_mib : (uint32_t)mib;
	if (!z->overcommit) {
		unsigned sms = sm;
		for (size_t i = 0; i < g->layout.n_gi; i++)
			if (&g->layout.gi[i] != gi)
				sms += g->layout.gi[i].sm;
		if ((total && sms > total) || !guarantees_fit(g, gi, guarantee, gpu_mib))
			return gs_fail(t->err, t->errlen, -ENOSPC,
				       "the slice does not fit on its GPU at that size (add -overcommit to allow it)");
	}
	unsigned start;
	if (sm != gi->sm && gs_smrun_place(unit, total, &g->layout, gi, sm, z->overcommit, &start))
		return gs_fail(t->err, t->errlen, -ENOSPC, "no run of %u free SMs for the slice on its GPU", sm);
	if (sm != gi->sm) {
		gi->sm_start = start;
		gi->sm_placed = true;
	}
	gi->sm = ci->sm = sm;
	gi->memory_mib = (uint32_t)mib;
	gi->guarantee_mib = guarantee;
	return 0;
}

int gs_slice_resize(const char *dir, const struct gs_slice_gpu *gpu, const char *name, unsigned sm, uint64_t memory,
		    bool overcommit, struct gs_slice_info *out, char *err, size_t errlen)
{
	char note[160] = "";
	struct resize z = { sm, memory, overcommit, note, sizeof note };
	if (sm == 0)
		return gs_fail(err, errlen, -EINVAL, "a slice needs at least one SM");
	int rc = edit_named(dir, gpu, name, resize_fn, &z, out, err, errlen);
	if (out)
		snprintf(out->note, sizeof out->note, "%s", note);
	return rc;
}

struct access {
	const uint32_t *users;
	unsigned n;
	int refuse;
};

static int access_fn(struct gs_slice_txn *t, struct gs_store_gpu *g, struct gs_mig_gi *gi, struct gs_mig_ci *ci,
		     void *arg)
{
	(void)g, (void)gi;
	const struct access *a = arg;
	if (a->n > GS_SLICE_MAX_USERS)
		return gs_fail(t->err, t->errlen, -E2BIG, "at most %d users may be listed for a slice", GS_SLICE_MAX_USERS);
	if (a->users) {
		ci->n_users = a->n;
		memcpy(ci->users, a->users, a->n * sizeof a->users[0]);
	}
	if (a->refuse >= 0)
		ci->refuse_busy = a->refuse;
	return 0;
}

int gs_slice_set_access(const char *dir, const char *name, const uint32_t *users, unsigned n, int refuse, char *err,
			size_t errlen)
{
	struct access a = { users, n, refuse };
	return edit_named(dir, NULL, name, access_fn, &a, NULL, err, errlen);
}

static int oom_wait_fn(struct gs_slice_txn *t, struct gs_store_gpu *g, struct gs_mig_gi *gi, struct gs_mig_ci *ci,
		       void *arg)
{
	(void)g, (void)gi;
	unsigned secs = *(const unsigned *)arg;
	if (secs > GS_OOM_WAIT_MAX_S)
		return gs_fail(t->err, t->errlen, -EINVAL, "A wait of %u s is longer than %u s: give 0 (refused at once) to %u",
			       secs, GS_OOM_WAIT_MAX_S, GS_OOM_WAIT_MAX_S);
	ci->oom_wait_s = secs;
	return 0;
}

int gs_slice_txn_set_oom_wait(struct gs_slice_txn *t, struct gs_mig_ci *ci, unsigned seconds)
{
	return oom_wait_fn(t, NULL, NULL, ci, &seconds);
}

int gs_slice_set_oom_wait(const char *dir, const char *name, unsigned seconds, char *err, size_t errlen)
{
	return edit_named(dir, NULL, name, oom_wait_fn, &seconds, NULL, err, errlen);
}

static int mem_turn_fn(struct gs_slice_txn *t, struct gs_store_gpu *g, struct gs_mig_gi *gi, struct gs_mig_ci *ci,
		       void *arg)
{
	(void)g, (void)gi;
	unsigned secs = *(const unsigned *)arg;
	if (secs > GS_MEM_TURN_MAX_S)
		return gs_fail(t->err, t->errlen, -EINVAL, "A memory turn of %u s is longer than %u s: give 0 (none) to %u",
			       secs, GS_MEM_TURN_MAX_S, GS_MEM_TURN_MAX_S);
	ci->mem_turn_s = secs;
	return 0;
}

int gs_slice_set_mem_turn(const char *dir, const char *name, unsigned seconds, char *err, size_t errlen)
{
	return edit_named(dir, NULL, name, mem_turn_fn, &seconds, NULL, err, errlen);
}

static int borrow_mem_fn(struct gs_slice_txn *t, struct gs_store_gpu *g, struct gs_mig_gi *gi, struct gs_mig_ci *ci,
			 void *arg)
{
	(void)g;
	bool on = *(const bool *)arg;
	int rc = on ? borrow_mem_check(t, gi, &ci->sm_policy) : 0;
	if (rc)
		return rc;
	ci->borrow_mem = on;
	return 0;
}

int gs_slice_txn_set_borrow_mem(struct gs_slice_txn *t, const struct gs_mig_gi *gi, struct gs_mig_ci *ci, bool on)
{
	int rc = on ? borrow_mem_check(t, gi, &ci->sm_policy) : 0;
	if (!rc)
		ci->borrow_mem = on;
	return rc;
}

int gs_slice_set_borrow_mem(const char *dir, const char *name, bool on, char *err, size_t errlen)
{
	return edit_named(dir, NULL, name, borrow_mem_fn, &on, NULL, err, errlen);
}

static int guarantee_fn(struct gs_slice_txn *t, struct gs_store_gpu *g, struct gs_mig_gi *gi, struct gs_mig_ci *ci,
			void *arg)
{
	(void)ci;
	uint64_t mib = *(uint64_t *)arg >> 20;
	const struct gs_slice_gpu *gpu = txn_gpu(t, g->uuid);
	if (mib > gi->memory_mib)
		return gs_fail(t->err, t->errlen, -EINVAL, "A guarantee cannot exceed the slice's memory limit");
	if (!guarantees_fit(g, gi, mib, gpu ? gpu->model.memory_mib : g->memory_mib))
		return gs_fail(t->err, t->errlen, -ENOSPC, "The guarantees of the GPU would exceed its memory");
	gi->guarantee_mib = (uint32_t)mib;
	return 0;
}

int gs_slice_set_guarantee(const char *dir, const struct gs_slice_gpu *gpu, const char *name, uint64_t bytes, char *err,
			   size_t errlen)
{
	return edit_named(dir, gpu, name, guarantee_fn, &bytes, NULL, err, errlen);
}

static int memory_fn(struct gs_slice_txn *t, struct gs_store_gpu *g, struct gs_mig_gi *gi, struct gs_mig_ci *ci,
		     void *arg)
{
	(void)g, (void)ci;
	uint64_t mib = *(uint64_t *)arg >> 20;
	if (mib == 0 || mib > UINT32_MAX)
		return gs_fail(t->err, t->errlen, -EINVAL, "a memory limit is at least 1 MiB");
	gi->memory_mib = (uint32_t)mib;
	if (gi->guarantee_mib > gi->memory_mib)
		gi->guarantee_mib = gi->memory_mib; /* nothing is guaranteed past the limit */
	return 0;
}

int gs_slice_set_memory(const char *dir, const char *name, uint64_t bytes, char *err, size_t errlen)
{
	return edit_named(dir, NULL, name, memory_fn, &bytes, NULL, err, errlen);
}

static int sm_policy_fn(struct gs_slice_txn *t, struct gs_store_gpu *g, struct gs_mig_gi *gi, struct gs_mig_ci *ci,
			void *arg)
{
	if (ci->borrow_mem && ((const struct gs_sm_policy *)arg)->priority == GS_PRIO_CRITICAL) {
		int rc = borrow_mem_check(t, gi, arg);
		if (rc)
			return rc;
	}
	return gs_slice_sm_policy_check(arg, ci->sm, unit_of(g), &ci->sm_policy, t->err, t->errlen);
}

int gs_slice_set_sm_policy(const char *dir, const char *name, const struct gs_sm_policy *p, char *err, size_t errlen)
{
	struct gs_sm_policy want = *p;
	return edit_named(dir, NULL, name, sm_policy_fn, &want, NULL, err, errlen);
}

struct dflt {
	const uint32_t *users;
	unsigned n;
};

static int default_fn(struct gs_slice_txn *t, struct gs_store_gpu *g, struct gs_mig_gi *gi, struct gs_mig_ci *ci,
		      void *arg)
{
	(void)g, (void)gi;
	const struct dflt *d = arg;
	if (d->n > GS_SLICE_MAX_USERS)
		return gs_fail(t->err, t->errlen, -E2BIG, "at most %d users may have a slice as their default",
			       GS_SLICE_MAX_USERS);
	/* one default per user: taken from any other slice */
	for (size_t q = 0; q < t->st->n_gpu; q++)
		for (size_t k = 0; k < t->st->gpu[q].layout.n_ci; k++) {
			struct gs_mig_ci *o = &t->st->gpu[q].layout.ci[k];
			for (unsigned i = 0; o != ci && i < o->n_default;) {
				bool listed = false;
				for (unsigned u = 0; u < d->n; u++)
					listed |= d->users[u] == o->default_for[i];
				if (listed)
					o->default_for[i] = o->default_for[--o->n_default];
				else
					i++;
			}
		}
	ci->n_default = d->n;
	if (d->n)
		memcpy(ci->default_for, d->users, d->n * sizeof d->users[0]);
	return 0;
}

int gs_slice_txn_set_default(struct gs_slice_txn *t, struct gs_mig_ci *ci, const uint32_t *users, unsigned n)
{
	struct dflt d = { users, n };
	return default_fn(t, NULL, NULL, ci, &d);
}

int gs_slice_set_default(const char *dir, const char *name, const uint32_t *users, unsigned n, char *err, size_t errlen)
{
	struct dflt d = { users, n };
	return edit_named(dir, NULL, name, default_fn, &d, NULL, err, errlen);
}

/* Whether an ephemeral slice's job is gone. */
static bool job_gone(const struct gs_mig_ci *ci, const char *cgroup_root)
{
	if (!ci->owner_pid)
		return false;
	uint64_t st;
	if (gs_proc_start(ci->owner_pid, &st) == 0 && st == ci->owner_start)
		return false;
	if (ci->cgroup[0] && cgroup_root && cgroup_root[0]) {
		char path[PATH_MAX], *text;
		snprintf(path, sizeof path, "%s%s/cgroup.procs", cgroup_root, ci->cgroup);
		if (gs_file_read(path, 1 << 20, &text, NULL) == 0) {
			bool empty = text[0] == '\0';
			free(text);
			if (!empty)
				return false;
		}
	}
	return true;
}

struct collect {
	const char *cgroup_root;
	int n;
};

static int collect_fn(struct gs_slice_txn *t, void *arg)
{
	struct collect *c = arg;
	for (size_t q = 0; q < t->st->n_gpu; q++) {
		struct gs_store_gpu *g = &t->st->gpu[q];
		for (size_t k = 0; k < g->layout.n_ci;) {
			struct gs_mig_ci *ci = &g->layout.ci[k];
			struct gs_mig_gi *gi = gs_slice_gi_of(g, ci);
			pid_t pid;
			if (!job_gone(ci, c->cgroup_root) || (gi && live(t->dir, g->uuid, gi, &pid, 1))) {
				k++;
				continue;
			}
			unsigned gid = ci->gi;
			gs_mig_ci_destroy(&g->layout, gid, ci->id);
			bool more = false;
			for (size_t j = 0; j < g->layout.n_ci; j++)
				more |= g->layout.ci[j].gi == gid;
			if (!more)
				gs_mig_gi_destroy(&g->layout, gid);
			c->n++;
		}
	}
	return c->n ? 0 : 1;
}

int gs_slice_collect(const char *dir, const char *cgroup_root)
{
	struct collect c = { cgroup_root, 0 };
	int rc = gs_slice_edit(dir, NULL, 0, collect_fn, &c, NULL, 0);
	return rc ? rc : c.n;
}
