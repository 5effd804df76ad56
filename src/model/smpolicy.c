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

static bool live_bit(const struct gs_tpc_calib *c, unsigned b)
{
	uint32_t one[GS_TPC_WORDS] = { 0 };
	one[b / 32] = 1u << (b % 32);
	return gs_tpc_any_live(c, one);
}

/* The slices (at most 64) whose own SMs hold bit b and who run on it now. */
static uint64_t claimants(const struct gs_smpolicy_slice *sl, size_t n, unsigned b)
{
	uint64_t who = 0;
	for (size_t i = 0; i < n; i++)
		if (sl[i].busy && has_bit(sl[i].own, b) && has_bit(sl[i].mask, b))
			who |= 1ull << i;
	return who;
}

/* Busy over-committed slices on the same SMs of theirs, with weights that
 * differ, split them: each set of claimants divides the live bits they
 * claim together in proportion to their weights (largest remainders, at
 * least one each while there are enough), in runs in bit order so that each
 * keeps neighbouring TPCs. Equal weights share them, as MPS does. */
static void split_by_weight(const struct gs_tpc_calib *c, struct gs_smpolicy_slice *sl, size_t n)
{
	if (n > 64)
		return;
	uint32_t done[GS_TPC_WORDS] = { 0 };
	for (unsigned b = 0; b < GS_TPC_BITS; b++) {
		uint64_t who = has_bit(done, b) || !live_bit(c, b) ? 0 : claimants(sl, n, b);
		if (!who || !(who & (who - 1)))
			continue;
		unsigned w0 = 0, total = 0, k = 0, idx[64], share[64];
		bool differ = false;
		for (size_t i = 0; i < n; i++)
			if (who >> i & 1) {
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
			if (!has_bit(done, q) && live_bit(c, q) && claimants(sl, n, q) == who) {
				group[q / 32] |= 1u << (q % 32);
				bits++;
			}
		for (unsigned w = 0; w < GS_TPC_WORDS; w++)
			done[w] |= group[w];
		if (!differ)
			continue;
		/* at least one each where there are enough, the rest by weight,
		 * leftovers to the largest remainders */
		unsigned given = 0, base = bits >= k ? 1 : 0, rest = bits - base * k, rem[64];
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
		critical |= sl[i].busy && sl[i].policy.critical;
	uint32_t pool[GS_TPC_WORDS], best_effort[GS_TPC_WORDS] = { 0 };
	memcpy(pool, free_bits, sizeof pool);
	for (size_t i = 0; i < n; i++) {
		struct gs_smpolicy_slice *s = &sl[i];
		memcpy(s->mask, s->own, sizeof s->mask);
		bool be = s->policy.mode == GS_SM_BEST_EFFORT;
		if (be && critical && !s->policy.critical) {
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
		bool shrunk = s->policy.mode == GS_SM_BEST_EFFORT && critical && !s->policy.critical;
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
		if (!s->busy || !borrows(s) || (be && critical && !s->policy.critical))
			continue;
		or_into(s->mask, pool);
		if (be)
			or_into(s->mask, best_effort);
	}
	split_by_weight(c, sl, n);
	for (size_t i = 0; i < n; i++) {
		sl[i].lent = false;
		for (size_t k = 0; !sl[i].busy && k < n; k++)
			sl[i].lent |= k != i && overlaps(sl[k].mask, sl[i].own);
	}
}
