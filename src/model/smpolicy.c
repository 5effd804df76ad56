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
	for (size_t i = 0; i < n; i++) {
		sl[i].lent = false;
		for (size_t k = 0; !sl[i].busy && k < n; k++)
			sl[i].lent |= k != i && overlaps(sl[k].mask, sl[i].own);
	}
}
