/* smrun.c: SM runs of GPU instances (see smrun.h). */
#include "smrun.h"

#include <errno.h>
#include <stdlib.h>

unsigned gs_smrun_unit(const struct gs_gpu_model *m)
{
	return m->cc_major >= 9 ? 8 : 2;
}

unsigned gs_smrun_round(unsigned u, unsigned sm)
{
	return sm < u ? u : sm / u * u;
}

/* SMs of [start, start + sm) that other instances (not self) hold. */
static unsigned overlap(const struct gs_mig_layout *l, const struct gs_mig_gi *self, unsigned start, unsigned sm)
{
	unsigned n = 0;
	for (size_t i = 0; i < l->n_gi; i++) {
		const struct gs_mig_gi *g = &l->gi[i];
		if (g == self || !g->sm_placed)
			continue;
		unsigned lo = start > g->sm_start ? start : g->sm_start;
		unsigned hi = start + sm < g->sm_start + g->sm ? start + sm : g->sm_start + g->sm;
		n += hi > lo ? hi - lo : 0;
	}
	return n;
}

int gs_smrun_place(unsigned u, unsigned sm_count, const struct gs_mig_layout *l, const struct gs_mig_gi *self,
		   unsigned sm, bool overcommit, unsigned *start)
{
	unsigned total = sm_count / u * u;
	if (sm == 0 || sm > total)
		return -ENOSPC;
	/* in place where it can be: programs of the slice keep their SMs */
	if (self && self->sm_placed && (sm <= self->sm || (self->sm_start + sm <= total &&
							    !overlap(l, self, self->sm_start, sm)))) {
		*start = self->sm_start;
		return 0;
	}
	/* first fit, on starts aligned to the size where that can be (fewer
	 * distinct grids), then on any unit */
	unsigned best = 0, best_overlap = ~0u;
	for (int pass = 0; pass < 2; pass++) {
		unsigned step = pass == 0 && sm % u == 0 ? sm : u;
		for (unsigned s = 0; s + sm <= total; s += step) {
			unsigned o = overlap(l, self, s, sm);
			if (o == 0) {
				*start = s;
				return 0;
			}
			if (o < best_overlap) {
				best_overlap = o;
				best = s;
			}
		}
	}
	if (!overcommit)
		return -ENOSPC;
	*start = best;
	return 0;
}

int gs_smrun_place_at(unsigned u, unsigned sm_count, const struct gs_mig_layout *l, unsigned start, unsigned sm,
		      bool overcommit)
{
	unsigned total = sm_count / u * u;
	if (sm == 0 || start % u || start + sm > total)
		return -ENOSPC;
	return overcommit || !overlap(l, NULL, start, sm) ? 0 : -ENOSPC;
}

int gs_smrun_place_profile(const struct gs_gpu_model *m, const struct gs_mig_layout *l, const struct gs_mig_gi *gi,
			   bool overcommit, unsigned *start)
{
	unsigned per = m->sm_per_slice ? m->sm_per_slice : gi->size ? gi->sm / gi->size : 0;
	unsigned at = gi->start * per;
	if (at + gi->sm > m->sm_count)
		at = m->sm_count > gi->sm ? m->sm_count - gi->sm : 0;
	if (!overcommit && overlap(l, gi, at, gi->sm))
		return -ENOSPC;
	*start = at;
	return 0;
}

static int cmp_gi(const void *a, const void *b)
{
	const struct gs_mig_gi *const *x = a, *const *y = b;
	return (int)(*x)->id - (int)(*y)->id;
}

void gs_smrun_place_legacy(unsigned u, unsigned sm_count, struct gs_mig_layout *l)
{
	struct gs_mig_gi *order[GS_MIG_MAX_GI];
	size_t n = 0;
	for (size_t i = 0; i < l->n_gi; i++)
		if (!l->gi[i].sm_placed)
			order[n++] = &l->gi[i];
	if (!n)
		return;
	qsort(order, n, sizeof order[0], cmp_gi);
	unsigned total = sm_count / u * u, at = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned sm = gs_smrun_round(u, order[i]->sm);
		if (total && at + sm > total)
			at = 0; /* over-committed: wrapped, as the old split did */
		order[i]->sm_start = at;
		order[i]->sm_placed = true;
		at += sm;
	}
}

void gs_smrun_of_ci(const struct gs_mig_layout *l, const struct gs_mig_ci *ci, unsigned *start, unsigned *count)
{
	*start = 0;
	*count = ci->sm;
	for (size_t i = 0; i < l->n_gi; i++) {
		const struct gs_mig_gi *g = &l->gi[i];
		if (g->id != ci->gi)
			continue;
		unsigned per = ci->size ? ci->sm / ci->size : 0;
		*start = g->sm_start + ci->start * per;
		if (*start + *count > g->sm_start + g->sm)
			*count = g->sm_start + g->sm > *start ? g->sm_start + g->sm - *start : 0;
	}
}

static unsigned gcd(unsigned a, unsigned b)
{
	while (b) {
		unsigned t = a % b;
		a = b;
		b = t;
	}
	return a;
}

unsigned gs_smrun_grid(unsigned u, const struct gs_mig_layout *l)
{
	unsigned g = 0;
	for (size_t i = 0; i < l->n_ci; i++) {
		unsigned s, n;
		gs_smrun_of_ci(l, &l->ci[i], &s, &n);
		g = gcd(gcd(g, s), gs_smrun_round(u, n));
	}
	g = gcd(g, l->grid_floor);
	if (g == 0)
		return u;
	g = g / u * u;
	return g < u ? u : g;
}

void gs_smrun_free(unsigned sm_count, unsigned grid, const struct gs_mig_layout *l, unsigned *start, unsigned *count)
{
	*start = *count = 0;
	unsigned run = 0;
	for (unsigned k = 0; grid && (k + 1) * grid <= sm_count; k++) {
		bool held = false;
		for (size_t i = 0; i < l->n_gi && !held; i++)
			held = gs_smrun_overlap(k * grid, grid, l->gi[i].sm_start, l->gi[i].sm);
		run = held ? 0 : run + 1;
		if (run * grid > *count) {
			*count = run * grid;
			*start = (k + 1 - run) * grid;
		}
	}
}
