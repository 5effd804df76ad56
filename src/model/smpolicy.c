/* smpolicy.c: the masks of a GPU's slices now (see smpolicy.h). */
#include "smpolicy.h"

#include <string.h>

static void or_into(uint32_t *dst, const uint32_t *src)
{
	for (unsigned w = 0; w < GS_TPC_WORDS; w++)
		dst[w] |= src[w];
}

static bool overlaps(const uint32_t *a, const uint32_t *b)
{
	for (unsigned w = 0; w < GS_TPC_WORDS; w++)
		if (a[w] & b[w])
			return true;
	return false;
}

static unsigned live_bits(const struct gs_tpc_calib *c, const uint32_t bits[GS_TPC_WORDS])
{
	unsigned n = 0;
	for (unsigned b = 0; b < GS_TPC_BITS; b++) {
		uint32_t one[GS_TPC_WORDS] = { 0 };
		one[b / 32] = 1u << (b % 32);
		n += (bits[b / 32] >> (b % 32) & 1) && gs_tpc_any_live(c, one);
	}
	return n;
}

void gs_smpolicy_floor(const struct gs_tpc_calib *c, const struct gs_smpolicy_slice *s, uint32_t out[GS_TPC_WORDS])
{
	unsigned have = live_bits(c, s->own), sms = gs_tpc_sm_count(c, s->own);
	unsigned want = have / 4;
	if (s->policy.floor_sm && sms)
		want = (unsigned)(((uint64_t)s->policy.floor_sm * have + sms - 1) / sms);
	if (want < 1)
		want = 1;
	gs_tpc_bits_first(c, s->own, want, out);
}

static bool lends(const struct gs_smpolicy_slice *s)
{
	return s->policy.mode != GS_SM_ISOLATED && !s->policy.no_lend;
}

static bool borrows(const struct gs_smpolicy_slice *s)
{
	return s->policy.mode != GS_SM_ISOLATED && !s->policy.no_borrow;
}

static unsigned weight_of(const struct gs_smpolicy_slice *s)
{
	return s->policy.weight ? s->policy.weight : 1;
}

static bool has_bit(const uint32_t *bits, unsigned b)
{
	return bits[b / 32] >> (b % 32) & 1;
}

#define CLAIM_WORDS 2 /* slices a claim names: a GPU's slices and its remainder */
struct claim {
	uint64_t w[CLAIM_WORDS];
};

static bool claim_eq(const struct claim *a, const struct claim *b)
{
	return !memcmp(a, b, sizeof *a);
}

static bool claims_two(const struct claim *a)
{
	unsigned n = 0;
	for (unsigned w = 0; w < CLAIM_WORDS; w++)
		n += (unsigned)__builtin_popcountll(a->w[w]);
	return n >= 2;
}

/* Whether two busy slices whose own SMs overlap have different weights:
 * else there is nothing to split (the common case, looked at cheaply). */
static bool weights_differ(const struct gs_smpolicy_slice *sl, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (size_t k = i + 1; sl[i].busy && k < n; k++)
			if (sl[k].busy && weight_of(&sl[i]) != weight_of(&sl[k]) && overlaps(sl[i].own, sl[k].own))
				return true;
	return false;
}

/* A best-effort slice shrinks to its floor beside a busy critical one; a
 * low-priority one is paused instead (the daemon takes it as idle), and
 * lends all of its SMs. */
static bool shrinks(const struct gs_smpolicy_slice *s, bool critical)
{
	return s->policy.mode == GS_SM_BEST_EFFORT && critical && s->policy.priority == GS_PRIO_NORMAL;
}

/* Busy over-committed slices on the same SMs of theirs, with weights that
 * differ, split them: each set of claimants (the busy slices whose own SMs
 * hold a live bit and whose mask still does; a best-effort slice shrunk to
 * its floor keeps its floor whole) divides the bits they claim together in
 * proportion to their weights (largest remainders, at least one each while
 * there are enough), in runs in bit order so that each keeps neighbouring
 * TPCs. Equal weights share them, as MPS does. O(bits x slices). */
static void split_by_weight(const struct gs_tpc_calib *c, struct gs_smpolicy_slice *sl, size_t n, bool critical)
{
	if (n > 64 * CLAIM_WORDS || !weights_differ(sl, n))
		return;
	uint32_t live[GS_TPC_WORDS];
	gs_tpc_bits_all(c, live);
	static struct claim claim[GS_TPC_BITS]; /* the daemon's one thread, and the tests' */
	memset(claim, 0, sizeof claim);
	for (size_t i = 0; i < n; i++) {
		if (!sl[i].busy || shrinks(&sl[i], critical))
			continue;
		for (unsigned b = 0; b < GS_TPC_BITS; b++)
			if (has_bit(live, b) && has_bit(sl[i].own, b) && has_bit(sl[i].mask, b))
				claim[b].w[i / 64] |= 1ull << (i % 64);
	}
	uint32_t done[GS_TPC_WORDS] = { 0 };
	for (unsigned b = 0; b < GS_TPC_BITS; b++) {
		if (has_bit(done, b) || !claims_two(&claim[b]))
			continue;
		unsigned w0 = 0, total = 0, k = 0, idx[64 * CLAIM_WORDS], share[64 * CLAIM_WORDS], rem[64 * CLAIM_WORDS];
		bool differ = false;
		for (size_t i = 0; i < n; i++)
			if (claim[b].w[i / 64] >> (i % 64) & 1) {
				unsigned w = weight_of(&sl[i]);
				differ |= w0 && w != w0;
				w0 = w;
				total += w;
				idx[k++] = (unsigned)i;
			}
		/* every live bit these same slices claim */
		uint32_t group[GS_TPC_WORDS] = { 0 };
		unsigned bits = 0;
		for (unsigned q = b; q < GS_TPC_BITS; q++)
			if (!has_bit(done, q) && claim_eq(&claim[q], &claim[b])) {
				group[q / 32] |= 1u << (q % 32);
				bits++;
			}
		for (unsigned w = 0; w < GS_TPC_WORDS; w++)
			done[w] |= group[w];
		if (!differ)
			continue;
		/* at least one each where there are enough, the rest by weight,
		 * leftovers to the largest remainders */
		unsigned given = 0, base = bits >= k ? 1 : 0, rest = bits - base * k;
		for (unsigned j = 0; j < k; j++) {
			uint64_t x = (uint64_t)rest * weight_of(&sl[idx[j]]);
			share[j] = base + (unsigned)(x / total);
			rem[j] = (unsigned)(x % total);
			given += share[j];
		}
		while (given < bits) {
			unsigned best = 0;
			for (unsigned j = 1; j < k; j++)
				if (rem[j] > rem[best])
					best = j;
			share[best]++;
			rem[best] = 0;
			given++;
		}
		unsigned j = 0, left = share[0];
		for (unsigned q = b; q < GS_TPC_BITS; q++) {
			if (!has_bit(group, q))
				continue;
			while (!left && j + 1 < k)
				left = share[++j];
			for (unsigned o = 0; o < k; o++)
				if (o != j)
					sl[idx[o]].mask[q / 32] &= ~(1u << (q % 32));
			left--;
		}
	}
	/* whoever lost every live TPC of its own gets its first back, shared */
	for (size_t i = 0; i < n; i++) {
		uint32_t mine[GS_TPC_WORDS];
		for (unsigned w = 0; w < GS_TPC_WORDS; w++)
			mine[w] = sl[i].mask[w] & sl[i].own[w];
		if (gs_tpc_any_live(c, mine))
			continue;
		uint32_t first[GS_TPC_WORDS];
		gs_tpc_bits_first(c, sl[i].own, 1, first);
		or_into(sl[i].mask, first);
	}
}

void gs_smpolicy_masks(const struct gs_tpc_calib *c, struct gs_smpolicy_slice *sl, size_t n,
		    const uint32_t free_bits[GS_TPC_WORDS])
{
	bool critical = false;
	for (size_t i = 0; i < n; i++)
		critical |= sl[i].busy && sl[i].policy.priority == GS_PRIO_CRITICAL;
	uint32_t pool[GS_TPC_WORDS], best_effort[GS_TPC_WORDS] = { 0 };
	memcpy(pool, free_bits, sizeof pool);
	for (size_t i = 0; i < n; i++) {
		struct gs_smpolicy_slice *s = &sl[i];
		memcpy(s->mask, s->own, sizeof s->mask);
		bool be = s->policy.mode == GS_SM_BEST_EFFORT;
		if (shrinks(s, critical)) {
			/* shrunk to its floor: the rest lent to the others */
			gs_smpolicy_floor(c, s, s->mask);
			for (unsigned w = 0; w < GS_TPC_WORDS; w++)
				pool[w] |= s->own[w] & ~s->mask[w];
		} else if (!s->busy && lends(s)) {
			or_into(pool, s->own);
		} else if (s->busy && be) {
			or_into(best_effort, s->own);
		}
	}
	/* over-committed slices may overlap: a TPC another slice holds while it
	 * is busy, or never lends, is not lent, whoever else holds it too */
	for (size_t i = 0; i < n; i++) {
		const struct gs_smpolicy_slice *s = &sl[i];
		bool shrunk = shrinks(s, critical);
		const uint32_t *keep = shrunk ? s->mask : s->own;
		if (s->busy || !lends(s) || shrunk)
			for (unsigned w = 0; w < GS_TPC_WORDS; w++) {
				pool[w] &= ~keep[w];
				if (s->policy.mode != GS_SM_BEST_EFFORT || shrunk)
					best_effort[w] &= ~keep[w];
			}
	}
	for (size_t i = 0; i < n; i++) {
		struct gs_smpolicy_slice *s = &sl[i];
		bool be = s->policy.mode == GS_SM_BEST_EFFORT;
		if (!s->busy || !borrows(s) || shrinks(s, critical))
			continue;
		or_into(s->mask, pool);
		if (be)
			or_into(s->mask, best_effort);
	}
	split_by_weight(c, sl, n, critical);
	for (size_t i = 0; i < n; i++) {
		sl[i].lent = false;
		for (size_t k = 0; !sl[i].busy && k < n; k++)
			sl[i].lent |= k != i && overlaps(sl[k].mask, sl[i].own);
	}
}
