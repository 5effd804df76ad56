/* mig.c: MIG placement, ID assignment and capacity (reference B.5, B.6). */
#include "mig.h"

#include <stdio.h>
#include <string.h>

const char *gs_mig_strerror(int rc)
{
	switch (rc) {
	case GS_MIG_OK: return "Success";
	case GS_MIG_INVALID: return "Invalid Argument";
	case GS_MIG_NOT_SUPPORTED: return "Not Supported";
	case GS_MIG_NOT_FOUND: return "Not Found";
	case GS_MIG_IN_USE: return "In use by another client";
	case GS_MIG_INSUFFICIENT: return "Insufficient Resources";
	default: return "Unknown Error";
	}
}

unsigned gs_mig_gi_id_for(const struct gs_gpu_model *m, unsigned start, unsigned size)
{
	unsigned phys = start;
	if (m->swapped && size <= 4)
		phys = start ^ 4;
	unsigned base = size >= 8 ? 0 : size >= 4 ? 1 : size >= 2 ? 3 : 7;
	return base + phys / size;
}

static unsigned span_mask(unsigned start, unsigned size)
{
	return ((1u << size) - 1) << start;
}

static unsigned used_mask(const struct gs_mig_layout *l)
{
	unsigned mask = 0;
	for (size_t i = 0; i < l->n_gi; i++)
		if (l->gi[i].profile_id != GS_MIG_CUSTOM)
			mask |= span_mask(l->gi[i].start, l->gi[i].size);
	return mask;
}

struct gs_mig_gi *gs_mig_gi_find(struct gs_mig_layout *l, unsigned id)
{
	for (size_t i = 0; i < l->n_gi; i++)
		if (l->gi[i].id == id)
			return &l->gi[i];
	return NULL;
}

const struct gs_mig_ci *gs_mig_ci_find(const struct gs_mig_layout *l, unsigned gi, unsigned ci)
{
	for (size_t i = 0; i < l->n_ci; i++)
		if (l->ci[i].gi == gi && l->ci[i].id == ci)
			return &l->ci[i];
	return NULL;
}

unsigned gs_mig_gi_free_starts(const struct gs_mig_layout *l, const struct gs_gi_profile *p)
{
	unsigned used = used_mask(l), free = 0;
	for (unsigned s = 0; s < 8; s++)
		if ((p->starts >> s & 1) && !(used & span_mask(s, p->size)))
			free |= 1u << s;
	return free;
}

static void totals(const struct gs_mig_layout *l, unsigned *sm, uint64_t *mib)
{
	*sm = 0;
	*mib = 0;
	for (size_t i = 0; i < l->n_gi; i++) {
		*sm += l->gi[i].sm;
		*mib += l->gi[i].guarantee_mib; /* over-committed memory is not held */
	}
}

void gs_mig_free(const struct gs_gpu_model *m, const struct gs_mig_layout *l, unsigned *sm, uint32_t *mib)
{
	unsigned used_sm;
	uint64_t used_mib;
	totals(l, &used_sm, &used_mib);
	*sm = used_sm < m->sm_count ? m->sm_count - used_sm : 0;
	*mib = used_mib < m->memory_mib ? (uint32_t)(m->memory_mib - used_mib) : 0;
}

static bool fits(const struct gs_gpu_model *m, const struct gs_mig_layout *l, unsigned sm,
		 uint64_t mib, unsigned count)
{
	unsigned used_sm;
	uint64_t used_mib;
	totals(l, &used_sm, &used_mib);
	return used_sm + (uint64_t)sm * count <= m->sm_count &&
	       used_mib + mib * count <= m->memory_mib;
}

static unsigned count_profile(const struct gs_mig_layout *l, unsigned id)
{
	unsigned n = 0;
	for (size_t i = 0; i < l->n_gi; i++)
		n += l->gi[i].profile_id == (int)id;
	return n;
}

/* Greedy count of disjoint free placements: the spans of one profile all have
 * the same size, so scanning starts in order is optimal. */
static unsigned disjoint_free(unsigned free_starts, unsigned size)
{
	unsigned n = 0, taken = 0;
	for (unsigned s = 0; s < 8; s++)
		if ((free_starts >> s & 1) && !(taken & span_mask(s, size))) {
			taken |= span_mask(s, size);
			n++;
		}
	return n;
}

unsigned gs_mig_gi_remaining(const struct gs_gpu_model *m, const struct gs_mig_layout *l,
			     const struct gs_gi_profile *p)
{
	unsigned n = disjoint_free(gs_mig_gi_free_starts(l, p), p->size);
	unsigned have = count_profile(l, p->id);
	unsigned cap = p->max_instances > have ? p->max_instances - have : 0;
	if (n > cap)
		n = cap;
	while (n && !fits(m, l, p->sm, p->memory_mib, n))
		n--;
	return n;
}

/* Reference B.6: the candidate that makes the fewest currently free placements
 * of all profiles unusable; ties go to the lowest start. */
static int auto_start(const struct gs_gpu_model *m, const struct gs_mig_layout *l,
		      const struct gs_gi_profile *p)
{
	unsigned cand = gs_mig_gi_free_starts(l, p);
	int best = -1;
	unsigned best_cost = ~0u;
	for (unsigned s = 0; s < 8; s++) {
		if (!(cand >> s & 1))
			continue;
		unsigned span = span_mask(s, p->size), cost = 0;
		for (size_t i = 0; i < m->n_gi; i++) {
			unsigned fs = gs_mig_gi_free_starts(l, &m->gi[i]);
			for (unsigned t = 0; t < 8; t++)
				if ((fs >> t & 1) && (span_mask(t, m->gi[i].size) & span))
					cost++;
		}
		if (cost < best_cost) {
			best_cost = cost;
			best = (int)s;
		}
	}
	return best;
}

static int add_gi(struct gs_mig_layout *l, unsigned id, int profile_id, unsigned start,
		  unsigned size, unsigned sm, uint32_t mib)
{
	if (l->n_gi >= GS_MIG_MAX_GI)
		return GS_MIG_INSUFFICIENT;
	struct gs_mig_gi *g = &l->gi[l->n_gi++];
	*g = (struct gs_mig_gi){ .id = id, .profile_id = profile_id, .start = start, .size = size,
				 .sm = sm, .memory_mib = mib, .serial = l->next_serial++, .guarantee_mib = mib };
	return GS_MIG_OK;
}

int gs_mig_gi_create(const struct gs_gpu_model *m, struct gs_mig_layout *l,
		     const struct gs_gi_profile *p, int start, unsigned *id)
{
	if (m->mem_slices == 0)
		return GS_MIG_NOT_SUPPORTED;
	if (start >= 8 || (start >= 0 && !(p->starts >> start & 1)))
		return GS_MIG_INVALID;
	if (count_profile(l, p->id) >= p->max_instances || !fits(m, l, p->sm, p->memory_mib, 1))
		return GS_MIG_INSUFFICIENT;
	if (start < 0)
		start = auto_start(m, l, p);
	if (start < 0 || !(gs_mig_gi_free_starts(l, p) >> start & 1))
		return GS_MIG_INSUFFICIENT;
	unsigned gid = gs_mig_gi_id_for(m, (unsigned)start, p->size);
	int rc = add_gi(l, gid, (int)p->id, (unsigned)start, p->size, p->sm, p->memory_mib);
	if (rc == GS_MIG_OK)
		*id = gid;
	return rc;
}

int gs_mig_gi_create_custom(const struct gs_gpu_model *m, struct gs_mig_layout *l,
			    unsigned sm, uint32_t memory_mib, bool overcommit, unsigned *id)
{
	if (sm == 0 || sm > m->sm_count || memory_mib == 0 || memory_mib > m->memory_mib)
		return GS_MIG_INVALID;
	if (!overcommit && !fits(m, l, sm, memory_mib, 1))
		return GS_MIG_INSUFFICIENT;
	unsigned gid = GS_MIG_CUSTOM_FIRST_ID;
	while (gs_mig_gi_find(l, gid))
		gid++;
	int rc = add_gi(l, gid, GS_MIG_CUSTOM, 0, 0, sm, memory_mib);
	if (rc == GS_MIG_OK && overcommit)
		l->gi[l->n_gi - 1].guarantee_mib = 0; /* best effort, beside what others are guaranteed */
	if (rc == GS_MIG_OK)
		*id = gid;
	return rc;
}

int gs_mig_gi_destroy(struct gs_mig_layout *l, unsigned id)
{
	for (size_t i = 0; i < l->n_ci; i++)
		if (l->ci[i].gi == id)
			return GS_MIG_IN_USE;
	for (size_t i = 0; i < l->n_gi; i++) {
		if (l->gi[i].id == id) {
			l->gi[i] = l->gi[--l->n_gi];
			return GS_MIG_OK;
		}
	}
	return GS_MIG_NOT_FOUND;
}

void gs_mig_gi_name(const struct gs_gpu_model *m, const struct gs_mig_gi *gi, char *out, size_t len)
{
	const struct gs_gi_profile *p =
		gi->profile_id == GS_MIG_CUSTOM ? NULL : gs_model_gi_by_id(m, (unsigned)gi->profile_id);
	if (p)
		snprintf(out, len, "%s", p->name);
	else if (gi->memory_mib % 1024 == 0)
		snprintf(out, len, "%usm.%ugb", gi->sm, (unsigned)(gi->memory_mib / 1024));
	else
		snprintf(out, len, "%usm.%umb", gi->sm, (unsigned)gi->memory_mib);
}

size_t gs_mig_ci_profiles(const struct gs_gpu_model *m, const struct gs_mig_gi *gi,
			  struct gs_ci_profile *out, size_t max)
{
	if (gi->profile_id == GS_MIG_CUSTOM) {
		if (max == 0)
			return 0;
		out[0] = (struct gs_ci_profile){ .id = 0, .c = 1, .max_instances = 1, .sm = gi->sm,
						 .is_default = true };
		gs_mig_gi_name(m, gi, out[0].name, sizeof out[0].name);
		return 1;
	}
	const struct gs_gi_profile *p = gs_model_gi_by_id(m, (unsigned)gi->profile_id);
	return p ? gs_model_ci_profiles(m, p, out, max) : 0;
}

static bool ci_profile_of(const struct gs_gpu_model *m, const struct gs_mig_gi *gi,
			  unsigned profile_id, struct gs_ci_profile *out)
{
	struct gs_ci_profile all[8];
	size_t n = gs_mig_ci_profiles(m, gi, all, 8);
	for (size_t i = 0; i < n; i++)
		if (all[i].id == profile_id) {
			*out = all[i];
			return true;
		}
	return false;
}

static unsigned ci_used_mask(const struct gs_mig_layout *l, unsigned gi)
{
	unsigned mask = 0;
	for (size_t i = 0; i < l->n_ci; i++)
		if (l->ci[i].gi == gi)
			mask |= span_mask(l->ci[i].start, l->ci[i].size);
	return mask;
}

static unsigned gi_compute_slices(const struct gs_gpu_model *m, const struct gs_mig_gi *gi)
{
	if (gi->profile_id == GS_MIG_CUSTOM)
		return 1;
	return gs_model_gi_by_id(m, (unsigned)gi->profile_id)->g;
}

/* CIs of c slices start at multiples of c inside the GI. */
static unsigned ci_free_starts(const struct gs_gpu_model *m, const struct gs_mig_layout *l,
			       const struct gs_mig_gi *gi, unsigned c)
{
	unsigned g = gi_compute_slices(m, gi), used = ci_used_mask(l, gi->id), free = 0;
	for (unsigned s = 0; s + c <= g; s += c)
		if (!(used & span_mask(s, c)))
			free |= 1u << s;
	return free;
}

static unsigned count_ci(const struct gs_mig_layout *l, unsigned gi, unsigned profile_id)
{
	unsigned n = 0;
	for (size_t i = 0; i < l->n_ci; i++)
		n += l->ci[i].gi == gi && l->ci[i].profile_id == profile_id;
	return n;
}

unsigned gs_mig_ci_remaining(const struct gs_gpu_model *m, const struct gs_mig_layout *l,
			     unsigned gi_id, unsigned profile_id)
{
	const struct gs_mig_gi *gi = gs_mig_gi_find((struct gs_mig_layout *)l, gi_id);
	struct gs_ci_profile cp;
	if (!gi || !ci_profile_of(m, gi, profile_id, &cp))
		return 0;
	unsigned n = disjoint_free(ci_free_starts(m, l, gi, cp.c), cp.c);
	unsigned have = count_ci(l, gi_id, profile_id);
	unsigned cap = cp.max_instances > have ? cp.max_instances - have : 0;
	return n < cap ? n : cap;
}

int gs_mig_ci_create(const struct gs_gpu_model *m, struct gs_mig_layout *l, unsigned gi_id,
		     unsigned profile_id, unsigned *ci)
{
	struct gs_mig_gi *gi = gs_mig_gi_find(l, gi_id);
	struct gs_ci_profile cp;
	if (!gi)
		return GS_MIG_NOT_FOUND;
	if (!ci_profile_of(m, gi, profile_id, &cp))
		return GS_MIG_NOT_SUPPORTED;
	if (gs_mig_ci_remaining(m, l, gi_id, profile_id) == 0 || l->n_ci >= GS_MIG_MAX_CI)
		return GS_MIG_INSUFFICIENT;
	unsigned free = ci_free_starts(m, l, gi, cp.c), start = 0;
	while (!(free >> start & 1))
		start++;
	unsigned id = 0;
	while (gs_mig_ci_find(l, gi_id, id))
		id++;
	l->ci[l->n_ci++] = (struct gs_mig_ci){ .gi = gi_id, .id = id, .profile_id = profile_id,
					       .start = start, .size = cp.c, .sm = cp.sm,
					       .serial = l->next_serial++ };
	*ci = id;
	return GS_MIG_OK;
}

int gs_mig_ci_destroy(struct gs_mig_layout *l, unsigned gi, unsigned ci)
{
	for (size_t i = 0; i < l->n_ci; i++) {
		if (l->ci[i].gi == gi && l->ci[i].id == ci) {
			l->ci[i] = l->ci[--l->n_ci];
			return GS_MIG_OK;
		}
	}
	return GS_MIG_NOT_FOUND;
}
