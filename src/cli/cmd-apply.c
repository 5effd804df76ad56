/* cmd-apply.c: `gpushare apply -f FILE -c CONFIG`, `gpushare assert` and
 * `gpushare export`, as nvidia-mig-parted's: every GPU's slices from a
 * mig-parted configuration (migconfig.h: its format and gpushare's
 * `gpushare-slices`), made in one transaction of the slice layer, so that a
 * file that cannot be applied whole changes nothing.
 *
 * A GPU takes the first device spec that names it (its index in `devices`,
 * its PCI id in `device-filter`); one that none names is left alone, as are
 * the ephemeral slices of running jobs. A slice already there that the spec
 * asks for (an NVIDIA profile with nothing else set, or a gpushare slice of
 * the same size, name and attributes) stays, its SM sharing and oom-wait
 * set in place where the file says otherwise (programs may run on); the
 * others go, and what is missing is made, profiles the largest first (as mig-parted makes
 * them) where nvidia-smi's placement puts them, then gpushare's slices. Where the GPU's free space is
 * too scattered for what is missing, the GPU is laid out again from empty.
 * A slice that must go while programs hold memory in it is refused, naming
 * them, unless --force, which stops them first (SIGTERM, then SIGKILL). The
 * daemon sees the new store as it sees gpushare-smi's changes. */
#include "cli.h"
#include "gpus.h"
#include "gs.h"
#include "mig.h"
#include "migconfig.h"
#include "profile-arg.h"
#include "slice.h"
#include "slices.h"
#include "smrun.h"
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_WANT 64
#define MAX_CI_PER_GI 8 /* 7 compute instances of 1c in a 7g */
#define MAX_CI_PROFILE 16 /* NVML's CI profile IDs */

/* One slice a spec asks for, resolved against its GPU: a GPU instance of
 * mig-devices with its compute instances, or one of gpushare-slices. */
struct want {
	const struct gs_gi_profile *profile;    /* NULL: a custom size */
	unsigned ci[MAX_CI_PER_GI], n_ci;        /* mig-devices: its CI profiles, the largest first; 0: a gpushare slice */
	unsigned sm;                             /* custom: rounded to the GPU's unit */
	uint32_t mib;
	const struct gs_migconf_slice *extra;    /* gpushare's attributes; NULL: an NVIDIA profile alone */
	uint32_t users[GS_SLICE_MAX_USERS], dflt[GS_SLICE_MAX_USERS];
	unsigned n_users, n_dflt;
	uint64_t guarantee;                      /* with overcommit; UINT64_MAX: none */
	struct gs_sm_policy policy;              /* as the slice layer keeps it (all zero: the default, and mig-devices') */
	bool matched;
};

struct plan {
	const struct gs_migconf *conf;
	const struct gs_slice_gpu *gpus;
	size_t n_gpus;
	bool commit;                             /* false: a dry run, nothing is written */
	unsigned changes;
	char *log;                               /* what was done (or would be), line by line */
	size_t log_len, log_cap;
	struct gs_slice_row *rows;               /* who holds memory where, before the change */
	size_t n_rows;
	pid_t busy[256];                         /* the programs of slices that must go */
	size_t n_busy;
};

static void say(struct plan *p, const char *fmt, ...) GS_PRINTF(2, 3);
static void say(struct plan *p, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	size_t len = strnlen(line, sizeof line - 1);
	if (p->log_len + len + 2 > p->log_cap) {
		size_t cap = p->log_cap ? p->log_cap * 2 : 4096;
		while (cap < p->log_len + len + 2)
			cap *= 2;
		char *more = realloc(p->log, cap);
		if (!more)
			return;
		p->log = more;
		p->log_cap = cap;
	}
	memcpy(p->log + p->log_len, line, len);
	p->log_len += len;
	p->log[p->log_len++] = '\n';
	p->log[p->log_len] = '\0';
}

static int at_fail(struct gs_slice_txn *t, const struct gs_migconf *c, struct gs_migconf_pos at, int rc,
		   const char *fmt, ...) GS_PRINTF(5, 6);
static int at_fail(struct gs_slice_txn *t, const struct gs_migconf *c, struct gs_migconf_pos at, int rc,
		   const char *fmt, ...)
{
	char what[384];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	return gs_fail(t->err, t->errlen, rc, "%s:%u:%u: %s", c->file, at.line, at.col, what);
}

static bool spec_names(const struct gs_migconf_spec *s, const struct gs_slice_gpu *g)
{
	bool listed = s->all_devices;
	for (size_t i = 0; !listed && i < s->n_devices; i++)
		listed = s->devices[i] == g->index;
	bool filtered = s->n_filters == 0;
	for (size_t i = 0; !filtered && i < s->n_filters; i++)
		filtered = s->filters[i] == g->model.pci_id;
	return listed && filtered;
}

static int user_ids(struct gs_slice_txn *t, const struct gs_migconf *c, struct gs_migconf_pos at, char names[][64],
		    unsigned n, uint32_t *out)
{
	for (unsigned i = 0; i < n; i++)
		if (gs_slices_user_id(names[i], &out[i]))
			return at_fail(t, c, at, -EINVAL, "no user \"%s\" on this machine", names[i]);
	return 0;
}

/* The GPU instance profile and compute instance profile a mig-devices key
 * names on GPU g: "3g.20gb" its whole CI, "1c.3g.20gb" a CI of one slice. */
static int resolve_profile(struct gs_slice_txn *t, const struct gs_migconf *c, const struct gs_migconf_profile *pr,
			   const struct gs_slice_gpu *g, const struct gs_gi_profile **gp, struct gs_ci_profile *cp)
{
	char names[512];
	size_t at = 0;
	names[0] = '\0';
	*gp = gs_model_gi_by_name(&g->model, pr->gi);
	if (!*gp) {
		for (size_t k = 0; k < g->model.n_gi && at < sizeof names; k++)
			at += (size_t)snprintf(names + at, sizeof names - at, "%s%s", k ? ", " : "", g->model.gi[k].name);
		if (pr->c)
			return at_fail(t, c, pr->at, -EINVAL, "GPU %u (%s) has no MIG profile \"%s\" for compute instances "
				       "\"%s\" (%s%s)", g->index, g->name, pr->gi, pr->name,
				       names[0] ? "its profiles: " : "it has none", names);
		return at_fail(t, c, pr->at, -EINVAL, "GPU %u (%s) has no MIG profile \"%s\" (%s%s)", g->index, g->name,
			       pr->name, names[0] ? "its profiles: " : "it has none; give gpushare-slices sizes", names);
	}
	struct gs_ci_profile cps[MAX_CI_PER_GI];
	size_t np = gs_model_ci_profiles(&g->model, *gp, cps, GS_ARRAY_LEN(cps));
	for (size_t k = 0; k < np; k++)
		if (pr->c ? cps[k].c == pr->c : cps[k].is_default) {
			*cp = cps[k];
			return 0;
		}
	for (size_t k = np; k-- > 0 && at < sizeof names;)
		at += (size_t)snprintf(names + at, sizeof names - at, "%s%s", k + 1 < np ? ", " : "", cps[k].name);
	return at_fail(t, c, pr->at, -EINVAL, "GPU %u (%s) has no compute instance profile \"%s\" in a %s (its "
		       "compute instance profiles: %s)", g->index, g->name, pr->name, (*gp)->name, names);
}

/* The GPU instances of profile gp that mig-devices ask for, appended to w:
 * its compute instances the largest first, each in the GPU instance made
 * last while it fits there, else in a new one, as mig-parted packs them
 * ("1c.3g.20gb": 4 is one 3g.20gb with three, and one with the fourth). The
 * layout engine itself says what fits, in a GPU instance of a scratch GPU. */
static int pack_profile(struct gs_slice_txn *t, const struct gs_migconf *c, const struct gs_migconf_spec *s,
			const struct gs_slice_gpu *g, const struct gs_gi_profile *gp, struct want *w, size_t *n)
{
	static struct gs_ci_profile cis[MAX_WANT * MAX_CI_PER_GI];
	static struct gs_mig_layout scratch;
	size_t n_cis = 0;
	struct gs_migconf_pos at = { 0, 0 };
	for (size_t i = 0; i < s->n_profiles; i++) {
		const struct gs_gi_profile *p;
		struct gs_ci_profile cp;
		int rc = resolve_profile(t, c, &s->profiles[i], g, &p, &cp);
		if (rc)
			return rc;
		if (p != gp)
			continue;
		if (!at.line)
			at = s->profiles[i].at;
		for (unsigned k = 0; k < s->profiles[i].count; k++) {
			if (n_cis == GS_ARRAY_LEN(cis))
				return at_fail(t, c, s->profiles[i].at, -E2BIG, "more than %zu compute instances for GPU %u",
					       GS_ARRAY_LEN(cis), g->index);
			/* the largest first; stable, in the file's order */
			size_t j = n_cis++;
			for (; j > 0 && cis[j - 1].c < cp.c; j--)
				cis[j] = cis[j - 1];
			cis[j] = cp;
		}
	}
	struct want *cur = NULL;
	unsigned gi = 0, ci;
	for (size_t i = 0; i < n_cis; i++) {
		int rc = cur ? gs_mig_ci_create(&g->model, &scratch, gi, cis[i].id, &ci) : GS_MIG_INSUFFICIENT;
		if (rc == GS_MIG_INSUFFICIENT) {
			if (*n == MAX_WANT)
				return at_fail(t, c, at, -E2BIG, "more than %d slices for GPU %u", MAX_WANT, g->index);
			memset(&scratch, 0, sizeof scratch);
			cur = &w[(*n)++];
			*cur = (struct want){ .profile = gp, .guarantee = UINT64_MAX };
			rc = gs_mig_gi_create(&g->model, &scratch, gp, -1, &gi);
			if (!rc)
				rc = gs_mig_ci_create(&g->model, &scratch, gi, cis[i].id, &ci);
		}
		if (rc || cur->n_ci == MAX_CI_PER_GI)
			return at_fail(t, c, at, -EINVAL, "GPU %u (%s) cannot make compute instance %s in a %s: %s", g->index,
				       g->name, cis[i].name, gp->name, gs_mig_strerror(rc ? rc : GS_MIG_INSUFFICIENT));
		cur->ci[cur->n_ci++] = cis[i].id;
	}
	return 0;
}

/* The SM sharing x asks for, as the slice layer keeps it on a slice of sm
 * SMs of GPU g (an isolated one with no_lend and no_borrow set, the floor
 * in whole units), into *out. The layer checks a policy only as a step of
 * making or changing a slice, and has no step that changes one inside a
 * transaction: so the slice is made, with the policy, on a scratch store of
 * that GPU alone, and what the layer refuses comes back at the policy's
 * line. */
static int policy_of(struct gs_slice_txn *t, const struct gs_migconf *c, const struct gs_slice_gpu *g,
		     const struct gs_migconf_slice *x, unsigned sm, struct gs_sm_policy *out)
{
	*out = (struct gs_sm_policy){ 0 };
	if (gs_store_sm_policy_default(&x->sm_policy))
		return 0;
	if (!sm || sm > g->model.sm_count) {
		*out = x->sm_policy; /* a size the GPU cannot hold: making the slice says so */
		return 0;
	}
	char why[256] = "";
	int rc = gs_slice_sm_policy_check(&x->sm_policy, sm, gs_smrun_unit(&g->model), out, why, sizeof why);
	if (rc)
		return at_fail(t, c, x->floor_at.line ? x->floor_at : x->sharing_at.line ? x->sharing_at : x->at, rc,
			       "GPU %u: %s", g->index, why);
	return 0;
}

/* a weight of 0 is 1, as the store reads it */
static unsigned weight_of(const struct gs_sm_policy *p)
{
	return p->weight ? p->weight : 1;
}

static bool same_policy(const struct gs_sm_policy *a, const struct gs_sm_policy *b)
{
	return a->mode == b->mode && a->no_lend == b->no_lend && a->no_borrow == b->no_borrow &&
	       a->priority == b->priority && a->floor_sm == b->floor_sm && weight_of(a) == weight_of(b) &&
	       a->timeslice_ms == b->timeslice_ms;
}

/* What a spec asks of GPU g, resolved: the model's profiles, sizes rounded. */
static int wants_of(struct gs_slice_txn *t, const struct gs_migconf *c, const struct gs_migconf_spec *s,
		    const struct gs_slice_gpu *g, struct want *w, size_t *n)
{
	*n = 0;
	char why[160];
	/* each GPU instance profile once, where the file names it first */
	for (size_t i = 0; i < s->n_profiles; i++) {
		const struct gs_gi_profile *p, *q;
		struct gs_ci_profile cp;
		int rc = resolve_profile(t, c, &s->profiles[i], g, &p, &cp);
		bool first = true;
		for (size_t k = 0; !rc && first && k < i; k++)
			first = resolve_profile(t, c, &s->profiles[k], g, &q, &cp) || q != p;
		if (rc || (first && (rc = pack_profile(t, c, s, g, p, w, n))))
			return rc;
	}
	/* the largest first, as mig-parted makes them: small ones placed first
	 * can leave no room for a large one (1g.5gb,1g.5gb,2g.10gb,3g.20gb on
	 * an A100-40GB), the other way round they all fit; stable, so that
	 * profiles of one size keep the file's order */
	for (size_t i = 1; i < *n; i++)
		for (size_t k = i; k > 0 && w[k].profile->size > w[k - 1].profile->size; k--) {
			struct want tmp = w[k];
			w[k] = w[k - 1];
			w[k - 1] = tmp;
		}
	unsigned unit = gs_smrun_unit(&g->model);
	for (size_t i = 0; i < s->n_slices; i++) {
		const struct gs_migconf_slice *x = &s->slices[i];
		struct gs_profile_arg a;
		if (*n == MAX_WANT)
			return at_fail(t, c, x->at, -E2BIG, "more than %d slices for GPU %u", MAX_WANT, g->index);
		if (gs_profile_arg_parse(&g->model, x->size, &a, why, sizeof why) || a.start >= 0)
			return at_fail(t, c, x->size_at, -EINVAL, "\"%s\" is no size for GPU %u (%s): a profile of it or "
				       "<SMs>sm.<N>gb such as %usm.%ugb", x->size, g->index, g->name, g->model.sm_count / 2,
				       g->model.memory_mib / 2048);
		struct want *o = &w[(*n)++];
		*o = (struct want){ .profile = a.profile, .extra = x, .guarantee = UINT64_MAX };
		if (!a.profile) {
			o->sm = gs_smrun_round(unit, a.sm);
			o->mib = a.memory_mib;
		}
		if (a.profile && (x->overcommit || x->guarantee[0] || x->borrow_mem))
			return at_fail(t, c, x->at, -EINVAL, "a MIG profile (%s) is wholly guaranteed: overcommit, guarantee and "
				       "borrow-memory go with custom sizes", x->size);
		if (x->name[0] && !gs_store_name_valid(x->name))
			return at_fail(t, c, x->name_at, -EINVAL, "\"%s\" is no slice name: 1 to 31 letters, digits, '.', '_' "
				       "or '-', not hex digits and '-' alone, not starting with '-', MIG- or GPU-", x->name);
		if (x->guarantee[0]) {
			if (gs_parse_size(x->guarantee, &o->guarantee))
				return at_fail(t, c, x->guarantee_at, -EINVAL, "\"%s\" is no size: e.g. 8G or 512M", x->guarantee);
		}
		if (x->cgroup[0] && !gs_store_cgroup_valid(x->cgroup))
			return at_fail(t, c, x->cgroup_at, -EINVAL, "\"%s\" is no cgroup path: an absolute cgroup v2 path "
				       "without spaces, . or ..", x->cgroup);
		if (!x->everyone && user_ids(t, c, x->users_at, (char (*)[64])x->users, x->n_users, o->users))
			return -EINVAL;
		o->n_users = x->everyone ? 0 : x->n_users;
		if (user_ids(t, c, x->at, (char (*)[64])x->default_for, x->n_default, o->dflt))
			return -EINVAL;
		o->n_dflt = x->n_default;
		if (policy_of(t, c, g, x, a.profile ? a.profile->sm : o->sm, &o->policy))
			return -EINVAL;
	}
	return 0;
}

static bool same_set(const uint32_t *a, unsigned na, const uint32_t *b, unsigned nb)
{
	if (na != nb)
		return false;
	for (unsigned i = 0; i < na; i++) {
		bool found = false;
		for (unsigned k = 0; k < nb && !found; k++)
			found = a[i] == b[k];
		if (!found)
			return false;
	}
	return true;
}

/* Whether compute instance ci of GPU instance gi is what w asks for (of mig-devices: nothing of gpushare's set). */
static bool matches(const struct want *w, const struct gs_mig_gi *gi, const struct gs_mig_ci *ci)
{
	const struct gs_migconf_slice *x = w->extra;
	if (w->profile ? gi->profile_id != (int)w->profile->id : gi->profile_id != GS_MIG_CUSTOM)
		return false;
	if (!w->profile && (gi->sm != w->sm || gi->memory_mib != w->mib))
		return false;
	bool overcommit = x && x->overcommit;
	uint64_t guarantee = overcommit ? (w->guarantee == UINT64_MAX ? 0 : w->guarantee >> 20) : gi->memory_mib;
	if (!w->profile && gi->guarantee_mib != guarantee)
		return false;
	return strcmp(ci->name, x ? x->name : "") == 0 && ci->refuse_busy == (x && x->refuse) &&
	       strcmp(ci->cgroup, x ? x->cgroup : "") == 0 && same_set(ci->users, ci->n_users, w->users, w->n_users) &&
	       same_set(ci->default_for, ci->n_default, w->dflt, w->n_dflt);
}

/* Whether GPU instance gi of layout l, with its compute instances, is what w
 * asks for: a gpushare slice one compute instance, a GPU instance of
 * mig-devices the same CI profiles (in any order), nothing else set. */
static bool matches_gi(const struct want *w, const struct gs_mig_layout *l, const struct gs_mig_gi *gi)
{
	unsigned want[MAX_CI_PER_GI], n_want = w->n_ci, n = 0;
	const struct gs_mig_ci *one = NULL;
	memcpy(want, w->ci, sizeof want);
	for (size_t k = 0; k < l->n_ci; k++) {
		const struct gs_mig_ci *ci = &l->ci[k];
		if (ci->gi != gi->id)
			continue;
		one = ci;
		n++;
		if (!w->n_ci)
			continue;
		size_t j = 0;
		while (j < n_want && want[j] != ci->profile_id)
			j++;
		if (j == n_want || !matches(w, gi, ci))
			return false;
		want[j] = want[--n_want]; /* each wanted CI taken once */
	}
	return w->n_ci ? n == w->n_ci && n_want == 0 : n == 1 && matches(w, gi, one);
}

static const struct gs_slice_row *row_of(const struct plan *p, const char *uuid)
{
	for (size_t i = 0; i < p->n_rows; i++)
		if (strcmp(p->rows[i].slice, uuid) == 0)
			return &p->rows[i];
	return NULL;
}

/* Removes GPU instance gi of g, saying so; its programs are listed to stop. */
static int remove_gi(struct gs_slice_txn *t, struct plan *p, const struct gs_slice_gpu *gpu, struct gs_store_gpu *g,
		     struct gs_mig_gi *gi)
{
	char name[64], uuid[GS_UUID_STR + 4] = "";
	gs_mig_gi_name(&gpu->model, gi, name, sizeof name);
	for (size_t k = 0; k < g->layout.n_ci; k++)
		if (g->layout.ci[k].gi == gi->id) {
			gs_store_ci_uuid(g->uuid, &g->layout.ci[k], uuid);
			const struct gs_slice_row *r = row_of(p, uuid);
			for (size_t q = 0; r && q < r->n_procs && p->n_busy < GS_ARRAY_LEN(p->busy); q++)
				p->busy[p->n_busy++] = r->procs[q].pid;
		}
	say(p, "GPU %u: remove MIG %s (GI %u) %s", gpu->index, name, gi->id, uuid);
	p->changes++;
	return gs_slice_txn_remove(t, g, gi->id);
}

/* A GPU instance of mig-devices with compute instances smaller than itself
 * (-cgi, then -cci), saying so: the GPU instance, then each of them. */
static int make_cis(struct gs_slice_txn *t, struct plan *p, const struct gs_slice_gpu *gpu, const struct want *w)
{
	unsigned gi;
	int rc = gs_slice_txn_create_gi(t, gpu, w->profile, &gi);
	if (rc)
		return rc;
	say(p, "GPU %u: create MIG %s (GI %u) with %u compute instance%s", gpu->index, w->profile->name, gi, w->n_ci,
	    w->n_ci > 1 ? "s" : "");
	struct gs_ci_profile cps[MAX_CI_PER_GI];
	size_t np = gs_model_ci_profiles(&gpu->model, w->profile, cps, GS_ARRAY_LEN(cps));
	for (unsigned i = 0; i < w->n_ci; i++) {
		struct gs_slice_info made;
		if ((rc = gs_slice_txn_create_ci(t, gpu, gi, w->ci[i], &made)))
			return rc;
		const char *name = "";
		for (size_t k = 0; k < np; k++)
			if (cps[k].id == w->ci[i])
				name = cps[k].name;
		say(p, "GPU %u: create MIG %s (GI %u, CI %u) %s", gpu->index, name, gi, made.ci, made.uuid);
	}
	p->changes++;
	return 0;
}

static int make(struct gs_slice_txn *t, struct plan *p, const struct gs_slice_gpu *gpu, const struct want *w)
{
	struct gs_slice_info made = { 0 }; /* the layer writes a note only where it has one */
	const struct gs_migconf_slice *x = w->extra;
	int rc;
	if (!w->profile) {
		struct gs_slice_spec spec = { .sm = w->sm, .memory = (uint64_t)w->mib << 20, .overcommit = x->overcommit,
					      .guarantee = w->guarantee, .users = w->users, .n_users = w->n_users,
					      .refuse = x->refuse, .cgroup = x->cgroup[0] ? x->cgroup : NULL,
					      .name = x->name[0] ? x->name : NULL, .sm_policy = x->sm_policy,
					      .oom_wait_s = x->oom_wait_s, .borrow_mem = x->borrow_mem };
		rc = gs_slice_txn_create(t, gpu, &spec, &made);
	} else if (w->n_ci && (w->n_ci > 1 || w->ci[0] != w->profile->ci_full_id)) {
		return make_cis(t, p, gpu, w);
	} else {
		rc = gs_slice_txn_create_profile(t, gpu, w->profile, &made);
	}
	if (rc)
		return rc;
	struct gs_store_gpu *g = gs_store_gpu(t->st, gpu->uuid, false);
	struct gs_mig_ci *ci = g ? (struct gs_mig_ci *)gs_mig_ci_find(&g->layout, made.gi, made.ci) : NULL;
	if (!ci)
		return gs_fail(t->err, t->errlen, -EIO, "the slice just made is not there");
	if (w->profile && x) {
		/* gpushare's attributes on an NVIDIA profile's slice */
		const struct gs_store_gpu *other;
		if (x->name[0] && gs_store_find_name(t->st, x->name, &other))
			return gs_fail(t->err, t->errlen, -EEXIST, "a slice named %s exists already", x->name);
		snprintf(ci->name, sizeof ci->name, "%s", x->name);
		snprintf(ci->cgroup, sizeof ci->cgroup, "%s", x->cgroup);
		ci->refuse_busy = x->refuse;
		ci->n_users = w->n_users;
		memcpy(ci->users, w->users, sizeof ci->users);
		ci->sm_policy = w->policy; /* checked by policy_of */
		if ((rc = gs_slice_txn_set_oom_wait(t, ci, x->oom_wait_s)))
			return rc;
	}
	if (w->n_dflt && (rc = gs_slice_txn_set_default(t, ci, w->dflt, w->n_dflt)))
		return rc;
	char name[64];
	gs_mig_gi_name(&gpu->model, gs_mig_gi_find(&g->layout, made.gi), name, sizeof name);
	say(p, "GPU %u: create MIG %s (GI %u)%s%s %s", gpu->index, name, made.gi, x && x->name[0] ? " named " : "",
	    x && x->name[0] ? x->name : "", made.uuid);
	if (!w->profile && made.note[0])
		say(p, "GPU %u: %s", gpu->index, made.note); /* sizes come rounded: a floor that was not */
	p->changes++;
	return 0;
}

/* The compute instances of GPU instance gi, which stays for w, given the SM
 * sharing w asks for where theirs differs, saying so: the slice keeps its
 * programs, as set_slice_sm_policy changes it. */
static void settle_policy(struct plan *p, const struct gs_slice_gpu *gpu, struct gs_store_gpu *g,
			  const struct gs_mig_gi *gi, const struct want *w)
{
	for (size_t k = 0; k < g->layout.n_ci; k++) {
		struct gs_mig_ci *ci = &g->layout.ci[k];
		if (ci->gi != gi->id || same_policy(&ci->sm_policy, &w->policy))
			continue;
		char uuid[GS_UUID_STR + 4], was[80], now[80]; /* gs_slices_sm_policy_text: at most 61 characters */
		gs_store_ci_uuid(g->uuid, ci, uuid);
		gs_slices_sm_policy_text(&ci->sm_policy, was, sizeof was);
		gs_slices_sm_policy_text(&w->policy, now, sizeof now);
		say(p, "GPU %u: SM sharing of %s%s%s from %s to %s", gpu->index, uuid, ci->name[0] ? " named " : "", ci->name,
		    was, now);
		ci->sm_policy = w->policy;
		p->changes++;
	}
}

/* The same for how long an allocation past the limit waits (oom-wait; a
 * mig-devices slice's is 0), as set_slice_oom_wait changes it: 0, or -errno
 * with why in t->err. */
static int settle_oom_wait(struct gs_slice_txn *t, struct plan *p, const struct gs_slice_gpu *gpu,
			   struct gs_store_gpu *g, const struct gs_mig_gi *gi, const struct want *w)
{
	unsigned secs = w->extra ? w->extra->oom_wait_s : 0;
	for (size_t k = 0; k < g->layout.n_ci; k++) {
		struct gs_mig_ci *ci = &g->layout.ci[k];
		if (ci->gi != gi->id || ci->oom_wait_s == secs)
			continue;
		char uuid[GS_UUID_STR + 4];
		gs_store_ci_uuid(g->uuid, ci, uuid);
		say(p, "GPU %u: oom-wait of %s%s%s from %us to %us", gpu->index, uuid, ci->name[0] ? " named " : "", ci->name,
		    ci->oom_wait_s, secs);
		int rc = gs_slice_txn_set_oom_wait(t, ci, secs);
		if (rc)
			return rc;
		p->changes++;
	}
	return 0;
}

/* The same for borrow-memory, as set_slice_borrow_memory changes it (its
 * check: over-committed, not critical): 0, or -errno with why in t->err. */
static int settle_borrow_mem(struct gs_slice_txn *t, struct plan *p, const struct gs_slice_gpu *gpu,
			     struct gs_store_gpu *g, const struct gs_mig_gi *gi, const struct want *w)
{
	bool on = w->extra && w->extra->borrow_mem;
	for (size_t k = 0; k < g->layout.n_ci; k++) {
		struct gs_mig_ci *ci = &g->layout.ci[k];
		if (ci->gi != gi->id || ci->borrow_mem == on)
			continue;
		char uuid[GS_UUID_STR + 4];
		gs_store_ci_uuid(g->uuid, ci, uuid);
		say(p, "GPU %u: borrow-memory of %s%s%s from %s to %s", gpu->index, uuid, ci->name[0] ? " named " : "",
		    ci->name, ci->borrow_mem ? "true" : "false", on ? "true" : "false");
		int rc = gs_slice_txn_set_borrow_mem(t, gi, ci, on);
		if (rc)
			return rc;
		p->changes++;
	}
	return 0;
}

/* GPU gpu to what spec s asks: 0, or -errno with why in t->err. */
static int plan_gpu(struct gs_slice_txn *t, struct plan *p, const struct gs_slice_gpu *gpu,
		    const struct gs_migconf_spec *s)
{
	static struct want w[MAX_WANT];
	size_t n;
	int rc = wants_of(t, p->conf, s, gpu, w, &n);
	if (rc)
		return rc;
	struct gs_store_gpu *g = gs_store_gpu(t->st, gpu->uuid, s->mig_enabled);
	if (!g && s->mig_enabled)
		return gs_fail(t->err, t->errlen, -ENOSPC, "the store holds no more GPUs");
	if (!g) {
		say(p, "GPU %u: matches", gpu->index); /* no slice, soft MIG off */
		return 0;
	}
	static struct gs_store_gpu before;
	before = *g;
	/* what a second attempt takes back of the first */
	size_t busy0 = p->n_busy, log0 = p->log_len;
	unsigned changes0 = p->changes;
	for (int attempt = 0; attempt < 2; attempt++) {
		/* first keep what matches; then, where that leaves no room, start from empty */
		unsigned kept = 0;
		for (size_t i = 0; i < n; i++)
			w[i].matched = false;
		for (size_t i = g->layout.n_gi; i-- > 0;) {
			struct gs_mig_gi *gi = &g->layout.gi[i];
			bool job = false;
			for (size_t k = 0; k < g->layout.n_ci; k++)
				job |= g->layout.ci[k].gi == gi->id && g->layout.ci[k].owner_pid != 0;
			if (job)
				continue; /* a running job's: not the configuration's */
			bool keep = false;
			for (size_t k = 0; attempt == 0 && !keep && k < n; k++)
				if (!w[k].matched && matches_gi(&w[k], &g->layout, gi)) {
					keep = w[k].matched = true;
					settle_policy(p, gpu, g, gi, &w[k]);
					if ((rc = settle_oom_wait(t, p, gpu, g, gi, &w[k])) ||
					    (rc = settle_borrow_mem(t, p, gpu, g, gi, &w[k])))
						return rc;
				}
			if (keep) {
				kept++;
				continue;
			}
			if ((rc = remove_gi(t, p, gpu, g, gi)))
				return rc;
		}
		g->mig = s->mig_enabled || g->layout.n_gi > 0;
		if (before.mig != g->mig) {
			say(p, "GPU %u: soft MIG %s", gpu->index, g->mig ? "on" : "off");
			p->changes++;
		}
		rc = 0;
		for (size_t i = 0; !rc && i < n; i++)
			if (!w[i].matched)
				rc = make(t, p, gpu, &w[i]);
		if (rc != -ENOSPC || attempt == 1 || kept == 0) {
			if (!rc && p->changes == changes0)
				say(p, "GPU %u: matches", gpu->index);
			return rc;
		}
		/* scattered: everything of the configuration laid out again */
		*g = before;
		p->n_busy = busy0;
		p->changes = changes0;
		p->log_len = log0;
		if (p->log)
			p->log[log0] = '\0';
		say(p, "GPU %u: what is there leaves no room for the rest: laid out again", gpu->index);
	}
	return rc;
}

static int plan_all(struct gs_slice_txn *t, void *arg)
{
	struct plan *p = arg;
	const struct gs_migconf *c = p->conf;
	for (size_t i = 0; i < p->n_gpus; i++) {
		const struct gs_slice_gpu *gpu = &p->gpus[i];
		const struct gs_migconf_spec *s = NULL;
		for (size_t k = 0; k < c->n_specs; k++) {
			if (!spec_names(&c->specs[k], gpu))
				continue;
			if (s)
				return at_fail(t, c, c->specs[k].at, -EINVAL, "GPU %u is named by two device specs (the other at "
					       "line %u): one spec per GPU", gpu->index, s->at.line);
			s = &c->specs[k];
		}
		if (!s) {
			say(p, "GPU %u: not in config \"%s\": left as it is", gpu->index, c->label);
			continue;
		}
		nvmlDevice_t dev;
		unsigned cur = 0, pend = 0;
		if (gs_nvml.nvmlDeviceGetMigMode && gs_nvml.nvmlDeviceGetHandleByIndex_v2(gpu->index, &dev) == NVML_SUCCESS &&
		    gs_nvml.nvmlDeviceGetMigMode(dev, &cur, &pend) == NVML_SUCCESS && cur == 1)
			return at_fail(t, c, s->at, -EPERM, "GPU %u runs NVIDIA's MIG (hardware): apply its profiles with "
				       "nvidia-mig-parted; gpushare never changes a hardware MIG mode", gpu->index);
		int rc = plan_gpu(t, p, gpu, s);
		if (rc)
			return rc;
	}
	return p->commit && p->changes ? 0 : 1; /* 1: nothing is written */
}

static void stop_programs(const pid_t *pids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		kill(pids[i], SIGTERM);
	for (int tick = 0; tick < 100; tick++) {
		bool alive = false;
		for (size_t i = 0; i < n; i++)
			alive |= kill(pids[i], 0) == 0;
		if (!alive)
			return;
		nanosleep(&(struct timespec){ 0, 100000000 }, NULL);
	}
	for (size_t i = 0; i < n; i++)
		kill(pids[i], SIGKILL);
	nanosleep(&(struct timespec){ 0, 200000000 }, NULL);
}

static void usage(FILE *f, const char *cmd)
{
	if (strcmp(cmd, "export") == 0)
		fprintf(f, "usage: gpushare export [-c CONFIG]\n");
	else
		fprintf(f, "usage: gpushare %s -f FILE -c CONFIG%s\n", cmd, strcmp(cmd, "apply") ? "" : " [--dry-run] [--force]");
}

/* apply and assert: the plan, run once as a dry run (what it would do, which
 * busy slices are in the way), then for real. */
static int apply_or_assert(int argc, char **argv, bool assert_only)
{
	const char *file = NULL, *label = NULL;
	bool dry = assert_only, force = false;
	for (int i = 1; i < argc; i++) {
		if ((strcmp(argv[i], "-f") == 0 || strcmp(argv[i], "--config-file") == 0) && i + 1 < argc)
			file = argv[++i];
		else if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--selected-config") == 0) && i + 1 < argc)
			label = argv[++i];
		else if (!assert_only && strcmp(argv[i], "--dry-run") == 0)
			dry = true;
		else if (!assert_only && strcmp(argv[i], "--force") == 0)
			force = true;
		else {
			fprintf(stderr, "gpushare %s: unexpected \"%s\"\n", argv[0], argv[i]);
			usage(stderr, argv[0]);
			return 2;
		}
	}
	if (!file || !label) {
		usage(stderr, argv[0]);
		return 2;
	}
	static struct gs_migconf conf;
	char err[640], dir[PATH_MAX];
	if (gs_migconf_load(file, label, &conf, err, sizeof err)) {
		fprintf(stderr, "gpushare %s: %s\n", argv[0], err);
		return 1;
	}
	static struct gs_slice_gpu gpus[GS_STORE_MAX_GPU];
	size_t n_gpus;
	if (gs_gpus_discover(gpus, GS_ARRAY_LEN(gpus), &n_gpus, err, sizeof err)) {
		fprintf(stderr, "gpushare %s: %s\n", argv[0], err);
		return 1;
	}
	if (gs_state_dir(dir, sizeof dir)) {
		fprintf(stderr, "gpushare %s: no state directory\n", argv[0]);
		return 1;
	}
	struct plan p = { .conf = &conf, .gpus = gpus, .n_gpus = n_gpus };
	if (gs_slices_rows(dir, (uid_t)-1, gpus, n_gpus, &p.rows, &p.n_rows, err, sizeof err)) {
		fprintf(stderr, "gpushare %s: %s\n", argv[0], err);
		return 1;
	}
	int rc = gs_slice_edit(dir, gpus, n_gpus, plan_all, &p, err, sizeof err);
	int status = 0;
	if (rc < 0) {
		fprintf(stderr, "gpushare %s: %s\n", argv[0], err);
		status = 1;
	} else if (assert_only) {
		if (p.changes) {
			fputs(p.log ? p.log : "", stdout);
			printf("the GPUs do not match config \"%s\" of %s\n", label, file);
			status = 1;
		} else {
			printf("the GPUs match config \"%s\" of %s\n", label, file);
		}
	} else if (p.n_busy && !force) {
		fputs(p.log ? p.log : "", stderr);
		fprintf(stderr, "gpushare apply: programs hold memory in slices that must go:");
		for (size_t i = 0; i < p.n_busy; i++)
			fprintf(stderr, " %ld", (long)p.busy[i]);
		fprintf(stderr, "; nothing was changed (stop them, or apply --force stops them)\n");
		status = 1;
	} else if (dry) {
		fputs(p.log ? p.log : "", stdout);
		printf("(dry run: nothing was changed)\n");
	} else {
		if (p.n_busy)
			stop_programs(p.busy, p.n_busy);
		free(p.log);
		p.log = NULL;
		p.log_len = p.log_cap = 0;
		p.changes = 0;
		p.n_busy = 0;
		p.commit = true;
		rc = gs_slice_edit(dir, gpus, n_gpus, plan_all, &p, err, sizeof err);
		fputs(p.log ? p.log : "", rc < 0 ? stderr : stdout);
		if (rc < 0) {
			fprintf(stderr, "gpushare apply: %s\nnothing was changed\n", err);
			status = 1;
		}
	}
	free(p.log);
	free(p.rows);
	return status;
}

static int apply(int argc, char **argv)
{
	return apply_or_assert(argc, argv, false);
}

static int assert_config(int argc, char **argv)
{
	return apply_or_assert(argc, argv, true);
}

/* An NVIDIA profile's slice with nothing of gpushare's set: a mig-devices count. */
static bool plain(const struct gs_mig_gi *gi, const struct gs_mig_ci *ci)
{
	return gi->profile_id != GS_MIG_CUSTOM && !ci->name[0] && !ci->n_users && !ci->refuse_busy && !ci->cgroup[0] &&
	       !ci->n_default && gs_store_sm_policy_default(&ci->sm_policy) && !ci->oom_wait_s;
}

/* Whether export writes compute instance ci of gi as a mig-devices count: an
 * NVIDIA profile's with nothing of gpushare's set, or one of several in its
 * GPU instance (gpushare-slices are whole GPU instances: what is set on such
 * a CI is not written). */
static bool counted(const struct gs_mig_layout *l, const struct gs_mig_gi *gi, const struct gs_mig_ci *ci)
{
	if (gi->profile_id == GS_MIG_CUSTOM || gi->profile_id < 0 || gi->profile_id >= 64 ||
	    ci->profile_id >= MAX_CI_PROFILE)
		return false;
	unsigned n = 0;
	for (size_t k = 0; k < l->n_ci; k++)
		n += l->ci[k].gi == gi->id;
	return n > 1 || plain(gi, ci);
}

static void print_users(const char *key, const uint32_t *uids, unsigned n)
{
	if (!n)
		return;
	printf("          %s: [", key);
	for (unsigned u = 0; u < n; u++) {
		char name[64];
		gs_slices_user_name(uids[u], name, sizeof name);
		printf("%s\"%s\"", u ? ", " : "", name);
	}
	printf("]\n");
}

/* A slice's SM sharing as the keys of gpushare-slices, those that are not
 * the default alone (an isolated slice's switches go without saying). */
static void print_policy(const struct gs_sm_policy *sp)
{
	if (sp->mode != GS_SM_SHARED)
		printf("          sharing: %s\n", gs_store_sm_mode_name(sp->mode));
	if (sp->mode == GS_SM_SHARED && sp->no_lend)
		printf("          lend: false\n");
	if (sp->mode == GS_SM_SHARED && sp->no_borrow)
		printf("          borrow: false\n");
	if (sp->priority)
		printf("          priority: %s\n", gs_store_priority_name(sp->priority));
	if (sp->mode == GS_SM_BEST_EFFORT && sp->floor_sm)
		printf("          floor: %u\n", sp->floor_sm);
	if (weight_of(sp) > 1)
		printf("          weight: %u\n", sp->weight);
	if (sp->timeslice_ms)
		printf("          timeslice: %u\n", sp->timeslice_ms);
}

/* export: the slices there are, as a configuration apply makes again. */
static int export_config(int argc, char **argv)
{
	const char *label = "current";
	for (int i = 1; i < argc; i++) {
		if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--selected-config") == 0) && i + 1 < argc &&
		    strlen(argv[i + 1]) < 60) {
			label = argv[++i];
		} else {
			usage(stderr, "export");
			return 2;
		}
	}
	static struct gs_slice_gpu gpus[GS_STORE_MAX_GPU];
	static struct gs_store st;
	size_t n_gpus;
	char err[512], dir[PATH_MAX];
	if (gs_gpus_discover(gpus, GS_ARRAY_LEN(gpus), &n_gpus, err, sizeof err) || gs_state_dir(dir, sizeof dir) ||
	    gs_store_load(dir, &st, err, sizeof err)) {
		fprintf(stderr, "gpushare export: %s\n", err);
		return 1;
	}
	printf("version: v1\nmig-configs:\n  %s:\n", label);
	for (size_t i = 0; i < n_gpus; i++) {
		const struct gs_slice_gpu *gpu = &gpus[i];
		const struct gs_store_gpu *g = gs_store_gpu(&st, gpu->uuid, false);
		printf("    - devices: [%u]\n      mig-enabled: %s\n", gpu->index, g && g->mig ? "true" : "false");
		if (!g || !g->mig)
			continue;
		/* NVIDIA profiles with nothing else set, counted by compute instance
		 * as mig-parted counts them ("1c.3g.20gb" for a CI smaller than its
		 * GI); the rest as gpushare's */
		unsigned counts[64][MAX_CI_PROFILE] = { { 0 } };
		bool custom = false, any = false;
		for (size_t k = 0; k < g->layout.n_ci; k++) {
			const struct gs_mig_ci *ci = &g->layout.ci[k];
			const struct gs_mig_gi *gi = gs_mig_gi_find((struct gs_mig_layout *)&g->layout, ci->gi);
			if (!gi || ci->owner_pid)
				continue;
			if (counted(&g->layout, gi, ci)) {
				counts[gi->profile_id][ci->profile_id]++;
				any = true;
			} else {
				custom = true;
			}
		}
		printf("      mig-devices:%s\n", any ? "" : " {}");
		for (size_t k = 0; any && k < gpu->model.n_gi; k++) {
			const struct gs_gi_profile *p = &gpu->model.gi[k];
			struct gs_ci_profile cps[MAX_CI_PER_GI];
			size_t np = p->id < 64 ? gs_model_ci_profiles(&gpu->model, p, cps, GS_ARRAY_LEN(cps)) : 0;
			while (np-- > 0) /* the largest first: the whole GI's, named as the GI */
				if (cps[np].id < MAX_CI_PROFILE && counts[p->id][cps[np].id])
					printf("        \"%s\": %u\n", cps[np].name, counts[p->id][cps[np].id]);
		}
		if (!custom)
			continue;
		printf("      gpushare-slices:\n");
		for (size_t k = 0; k < g->layout.n_ci; k++) {
			const struct gs_mig_ci *ci = &g->layout.ci[k];
			const struct gs_mig_gi *gi = gs_mig_gi_find((struct gs_mig_layout *)&g->layout, ci->gi);
			if (!gi || ci->owner_pid || counted(&g->layout, gi, ci))
				continue;
			char size[64];
			const struct gs_gi_profile *p = gi->profile_id == GS_MIG_CUSTOM ? NULL
							 : gs_model_gi_by_id(&gpu->model, (unsigned)gi->profile_id);
			if (p)
				snprintf(size, sizeof size, "%s", p->name);
			else if (gi->memory_mib % 1024)
				snprintf(size, sizeof size, "%usm.%" PRIu32 "mb", gi->sm, gi->memory_mib);
			else
				snprintf(size, sizeof size, "%usm.%" PRIu32 "gb", gi->sm, gi->memory_mib / 1024);
			printf("        - size: \"%s\"\n", size);
			if (ci->name[0])
				printf("          name: \"%s\"\n", ci->name);
			print_users("users", ci->users, ci->n_users);
			if (ci->refuse_busy)
				printf("          refuse: true\n");
			if (!p && gi->guarantee_mib != gi->memory_mib)
				printf("          overcommit: true\n");
			if (!p && gi->guarantee_mib != gi->memory_mib && gi->guarantee_mib) /* none: no key */
				printf("          guarantee: \"%" PRIu32 "M\"\n", gi->guarantee_mib);
			print_users("default-for", ci->default_for, ci->n_default);
			if (ci->cgroup[0])
				printf("          cgroup: \"%s\"\n", ci->cgroup);
			print_policy(&ci->sm_policy);
			if (ci->oom_wait_s)
				printf("          oom-wait: %u\n", ci->oom_wait_s);
			if (ci->borrow_mem)
				printf("          borrow-memory: true\n");
		}
	}
	return 0;
}

#define APPLY_OPTIONS \
	"  -f, --config-file FILE       a mig-parted configuration (version v1), with gpushare-slices\n" \
	"  -c, --selected-config NAME   the configuration of the file to use\n"

const struct cli_cmd cli_cmd_apply = {
	"apply", "-f FILE -c CONFIG [--dry-run] [--force]",
	"make every GPU's slices what a mig-parted configuration says, as nvidia-mig-parted apply", apply,
	APPLY_OPTIONS "  --dry-run                    say what would change, change nothing\n"
		      "  --force                      stop the programs in slices that must go (SIGTERM, then SIGKILL)\n"
};
const struct cli_cmd cli_cmd_assert = { "assert", "-f FILE -c CONFIG",
					"exit 0 when every GPU's slices are what the configuration says, 1 when not",
					assert_config, APPLY_OPTIONS };
const struct cli_cmd cli_cmd_export = { "export", "[-c NAME]", "print the slices there are as a configuration",
					export_config, "  -c NAME    the configuration's name (default: current)\n" };
