/* test-smpolicy.c: the masks of a GPU's slices from their policies and
 * activity (src/model/smpolicy.c), on the simulated H200's TPC map, as
 * irregular as the real one's. */
#include "test.h"

#include "gpumodel.h"
#include "smpolicy.h"

static struct gs_tpc_calib calib;

static void h200_calib(void)
{
	const struct gs_gpu_model *m = gs_model_find("h200-sxm-141gb");
	int16_t map[GS_TPC_BITS];
	gs_tpcmap_fill(m, map);
	memset(&calib, 0, sizeof calib);
	calib.sm_count = m->sm_count;
	calib.tmd_version = 0x40;
	snprintf(calib.driver, sizeof calib.driver, "test");
	for (unsigned b = 0; b < GS_TPC_BITS; b++)
		for (int k = 0; map[b] >= 0 && k < 2; k++) {
			unsigned sm = (unsigned)map[b] + (unsigned)k;
			calib.sms[b][sm / 64] |= 1ull << (sm % 64);
		}
	char err[128] = "";
	ASSERT_INT_EQ(gs_tpc_calib_check(&calib, err, sizeof err), 0);
}

/* A slice of SMs [start, start + n). */
static struct gs_smpolicy_slice slice(unsigned start, unsigned n, bool busy)
{
	struct gs_smpolicy_slice s = { .busy = busy };
	gs_tpc_bits_in(&calib, start, n, s.own);
	return s;
}

static unsigned sms(const uint32_t *bits)
{
	return gs_tpc_sm_count(&calib, bits);
}

static const uint32_t none[GS_TPC_WORDS];

static bool within(const uint32_t *a, const uint32_t *b)
{
	for (int w = 0; w < GS_TPC_WORDS; w++)
		if (a[w] & ~b[w])
			return false;
	return true;
}

static void busy_beside_idle_borrows_its_sms(void **state)
{
	(void)state;
	h200_calib();
	struct gs_smpolicy_slice s[2] = { slice(0, 64, true), slice(64, 64, false) };
	uint32_t free_bits[GS_TPC_WORDS];
	gs_tpc_bits_all(&calib, free_bits);
	for (int w = 0; w < GS_TPC_WORDS; w++)
		free_bits[w] &= ~(s[0].own[w] | s[1].own[w]);
	ASSERT_INT_EQ(sms(s[0].own), 64);
	ASSERT_INT_EQ(sms(free_bits), 4);
	gs_smpolicy_masks(&calib, s, 2, free_bits);
	ASSERT_INT_EQ(sms(s[0].mask), 132); /* its own, the idle slice's and the 4 in no slice */
	ASSERT_INT_EQ(sms(s[1].mask), 64);  /* the idle one's launches: its own */
	ASSERT_INT_EQ(s[1].lent, 1);
	ASSERT_INT_EQ(s[0].lent, 0);
	/* the owner starts again: its SMs leave the borrower's mask */
	s[1].busy = true;
	gs_smpolicy_masks(&calib, s, 2, none);
	ASSERT_INT_EQ(memcmp(s[0].mask, s[0].own, sizeof s[0].own), 0);
	ASSERT_INT_EQ(memcmp(s[1].mask, s[1].own, sizeof s[1].own), 0);
	ASSERT_INT_EQ(s[1].lent, 0);
}

static void isolated_never_lends_nor_borrows(void **state)
{
	(void)state;
	h200_calib();
	struct gs_smpolicy_slice s[3] = { slice(0, 32, true), slice(32, 32, false), slice(64, 64, false) };
	s[1].policy.mode = GS_SM_ISOLATED;
	gs_smpolicy_masks(&calib, s, 3, none);
	ASSERT_INT_EQ(sms(s[0].mask), 96); /* the shared idle one's, not the isolated one's */
	ASSERT_INT_EQ(s[1].lent, 0);
	/* an isolated busy slice beside an idle one stays on its own */
	s[0].busy = false;
	s[1].busy = true;
	gs_smpolicy_masks(&calib, s, 3, none);
	ASSERT_INT_EQ(memcmp(s[1].mask, s[1].own, sizeof s[1].own), 0);
}

static void lend_and_borrow_switches(void **state)
{
	(void)state;
	h200_calib();
	struct gs_smpolicy_slice s[2] = { slice(0, 64, true), slice(64, 64, false) };
	s[1].policy.no_lend = true;
	gs_smpolicy_masks(&calib, s, 2, none);
	ASSERT_INT_EQ(sms(s[0].mask), 64);
	s[1].policy.no_lend = false;
	s[0].policy.no_borrow = true;
	gs_smpolicy_masks(&calib, s, 2, none);
	ASSERT_INT_EQ(sms(s[0].mask), 64);
	ASSERT_INT_EQ(s[1].lent, 0);
}

static void best_effort_slices_share_while_busy(void **state)
{
	(void)state;
	h200_calib();
	struct gs_smpolicy_slice s[3] = { slice(0, 32, true), slice(32, 32, true), slice(64, 64, true) };
	s[0].policy.mode = s[1].policy.mode = GS_SM_BEST_EFFORT;
	gs_smpolicy_masks(&calib, s, 3, none);
	ASSERT_INT_EQ(sms(s[0].mask), 64); /* both best-effort slices' SMs */
	ASSERT_INT_EQ(sms(s[1].mask), 64);
	ASSERT_INT_EQ(memcmp(s[2].mask, s[2].own, sizeof s[2].own), 0); /* the shared busy one: its own */
}

static void critical_shrinks_best_effort_to_its_floor(void **state)
{
	(void)state;
	h200_calib();
	struct gs_smpolicy_slice s[2] = { slice(0, 64, true), slice(64, 64, true) };
	s[0].policy.priority = GS_PRIO_CRITICAL;
	s[1].policy.mode = GS_SM_BEST_EFFORT;
	gs_smpolicy_masks(&calib, s, 2, none);
	ASSERT_INT_EQ(sms(s[1].mask), 16); /* a quarter of its own */
	ASSERT_INT_EQ(within(s[1].mask, s[1].own), 1);
	ASSERT_INT_EQ(sms(s[0].mask), 112); /* the critical one borrows what it shed */
	s[1].policy.floor_sm = 8;
	gs_smpolicy_masks(&calib, s, 2, none);
	ASSERT_INT_EQ(sms(s[1].mask), 8);
	/* the critical one idle: the best-effort one has its SMs back, and more */
	s[0].busy = false;
	gs_smpolicy_masks(&calib, s, 2, none);
	ASSERT_INT_EQ(sms(s[1].mask), 128);
}

/* A low-priority slice beside a busy critical one is paused (the daemon
 * takes it as idle): it keeps no floor, and lends all of its SMs. */
static void a_paused_low_slice_lends_everything(void **state)
{
	(void)state;
	h200_calib();
	struct gs_smpolicy_slice s[2] = { slice(0, 64, true), slice(64, 64, false) };
	s[0].policy.priority = GS_PRIO_CRITICAL;
	s[1].policy = (struct gs_sm_policy){ .mode = GS_SM_BEST_EFFORT, .priority = GS_PRIO_LOW };
	gs_smpolicy_masks(&calib, s, 2, none);
	ASSERT_INT_EQ(sms(s[0].mask), 128);
	ASSERT_INT_EQ(s[1].lent, 1);
	/* isolated and low: paused, but its SMs stay its own */
	s[1].policy.mode = GS_SM_ISOLATED;
	s[1].policy.no_lend = s[1].policy.no_borrow = true;
	gs_smpolicy_masks(&calib, s, 2, none);
	ASSERT_INT_EQ(sms(s[0].mask), 64);
}

/* Over-committed slices overlap: an idle slice lends only the TPCs no busy
 * or non-lending slice holds too (an isolated slice's stay its own). */
static void overlapping_slices_lend_only_what_is_theirs(void **state)
{
	(void)state;
	h200_calib();
	struct gs_smpolicy_slice s[3] = { slice(0, 32, false), slice(16, 32, false), slice(64, 32, true) };
	s[0].policy.mode = GS_SM_ISOLATED;
	gs_smpolicy_masks(&calib, s, 3, none);
	uint32_t mine_of_0[GS_TPC_WORDS];
	for (int w = 0; w < GS_TPC_WORDS; w++)
		mine_of_0[w] = s[2].mask[w] & s[0].own[w];
	ASSERT_INT_EQ(gs_tpc_any_live(&calib, mine_of_0), 0); /* none of the isolated slice's */
	ASSERT_INT_EQ(sms(s[2].mask), 32 + 16);                /* its own and the 16 only the idle one holds */
	/* the overlapping one busy too: nothing of it is lent either */
	s[1].busy = true;
	gs_smpolicy_masks(&calib, s, 3, none);
	ASSERT_INT_EQ(sms(s[2].mask), 32);
}

static bool disjoint(const uint32_t *a, const uint32_t *b)
{
	for (int w = 0; w < GS_TPC_WORDS; w++)
		if (a[w] & b[w])
			return false;
	return true;
}

/* Busy over-committed slices on the same SMs split them by weight: 3:1 is
 * 48 and 16 of 64 SMs, each on SMs the other is not; equal weights share
 * them all; an idle one leaves them all to the other. */
static void weights_split_shared_sms(void **state)
{
	(void)state;
	h200_calib();
	struct gs_smpolicy_slice s[3] = { slice(0, 64, true), slice(0, 64, true), slice(0, 64, false) };
	s[0].policy.weight = 3;
	gs_smpolicy_masks(&calib, s, 2, none);
	ASSERT_INT_EQ(sms(s[0].mask), 48);
	ASSERT_INT_EQ(sms(s[1].mask), 16);
	ASSERT_INT_EQ(disjoint(s[0].mask, s[1].mask), 1);
	ASSERT_INT_EQ(within(s[0].mask, s[0].own) && within(s[1].mask, s[0].own), 1);
	/* weight 1 is the default */
	s[1].policy.weight = 1;
	gs_smpolicy_masks(&calib, s, 2, none);
	ASSERT_INT_EQ(sms(s[0].mask), 48);
	/* equal weights: both on all of them, as MPS shares */
	s[1].policy.weight = 3;
	gs_smpolicy_masks(&calib, s, 2, none);
	ASSERT_INT_EQ(sms(s[0].mask), 64);
	ASSERT_INT_EQ(sms(s[1].mask), 64);
	/* 2:1:1 of three */
	s[0].policy.weight = 2, s[1].policy.weight = 1, s[2].busy = true;
	gs_smpolicy_masks(&calib, s, 3, none);
	ASSERT_INT_EQ(sms(s[0].mask), 32);
	ASSERT_INT_EQ(sms(s[1].mask), 16);
	ASSERT_INT_EQ(sms(s[2].mask), 16);
	ASSERT_INT_EQ(disjoint(s[1].mask, s[2].mask) && disjoint(s[0].mask, s[2].mask), 1);
	/* the light one idle: the heavy one on all 64 */
	s[1].busy = s[2].busy = false;
	gs_smpolicy_masks(&calib, s, 3, none);
	ASSERT_INT_EQ(sms(s[0].mask), 64);
	/* half overlapping, 3:1: the 32 shared SMs split 24 and 8, each keeps what is its alone */
	struct gs_smpolicy_slice p[2] = { slice(0, 64, true), slice(32, 64, true) };
	p[0].policy.weight = 3;
	gs_smpolicy_masks(&calib, p, 2, none);
	ASSERT_INT_EQ(sms(p[0].mask), 32 + 24);
	ASSERT_INT_EQ(sms(p[1].mask), 32 + 8);
	ASSERT_INT_EQ(disjoint(p[0].mask, p[1].mask), 1);
	/* a best-effort slice shrunk to its floor beside a busy critical one
	 * keeps its whole floor, whatever the weight of who shares it */
	struct gs_smpolicy_slice f[3] = { slice(0, 64, true), slice(0, 64, true), slice(64, 64, true) };
	f[0].policy.weight = 3;
	f[1].policy.mode = GS_SM_BEST_EFFORT, f[1].policy.floor_sm = 32;
	f[2].policy.priority = GS_PRIO_CRITICAL;
	gs_smpolicy_masks(&calib, f, 3, none);
	ASSERT_INT_EQ(sms(f[1].mask), 32);
	/* as many slices as a GPU has (and its remainder): still split */
	static struct gs_smpolicy_slice many[65];
	for (int i = 0; i < 65; i++)
		many[i] = slice(128, 4, false);
	many[63] = slice(0, 128, true), many[64] = slice(0, 128, true);
	many[63].policy.weight = 3;
	gs_smpolicy_masks(&calib, many, 65, none);
	ASSERT_INT_EQ(sms(many[63].mask), 96 + 4);
	ASSERT_INT_EQ(sms(many[64].mask), 32 + 4);
}

/* Whatever the policies and activity, every mask holds a live TPC of its
 * slice's own (no launch may go out on none) and stays within the GPU. */
static void every_mask_holds_its_own_tpc(void **state)
{
	(void)state;
	h200_calib();
	uint32_t all[GS_TPC_WORDS];
	gs_tpc_bits_all(&calib, all);
	srand(7);
	for (int round = 0; round < 2000; round++) {
		struct gs_smpolicy_slice s[4];
		unsigned start = 0;
		size_t n = 0;
		while (n < 4 && start < 128) {
			unsigned len = 2u * (1u + (unsigned)rand() % 32);
			if (start + len > 132)
				len = 132 - start;
			s[n] = slice(start, len, rand() % 2);
			s[n].policy.mode = (uint8_t)(rand() % 3);
			s[n].policy.priority = (uint8_t)(rand() % 8 == 0 ? GS_PRIO_LOW : rand() % 4 == 0 ? GS_PRIO_CRITICAL : GS_PRIO_NORMAL);
			s[n].policy.no_lend = rand() % 5 == 0;
			s[n].policy.no_borrow = rand() % 5 == 0;
			s[n].policy.floor_sm = rand() % 3 ? 0 : (unsigned)rand() % 40;
			s[n].policy.weight = rand() % 3 ? 0 : 1u + (unsigned)rand() % GS_SM_MAX_WEIGHT;
			start += len;
			if (rand() % 3 == 0) /* over-committed: the next one overlaps this one */
				start -= len / 2 & ~1u;
			if (gs_tpc_any_live(&calib, s[n].own))
				n++;
		}
		gs_smpolicy_masks(&calib, s, n, none);
		for (size_t i = 0; i < n; i++) {
			uint32_t mine[GS_TPC_WORDS];
			for (int w = 0; w < GS_TPC_WORDS; w++)
				mine[w] = s[i].mask[w] & s[i].own[w];
			ASSERT_INT_EQ(gs_tpc_any_live(&calib, mine), 1);
			ASSERT_INT_EQ(within(s[i].mask, all), 1);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(busy_beside_idle_borrows_its_sms),
		cmocka_unit_test(isolated_never_lends_nor_borrows),
		cmocka_unit_test(lend_and_borrow_switches),
		cmocka_unit_test(best_effort_slices_share_while_busy),
		cmocka_unit_test(critical_shrinks_best_effort_to_its_floor),
		cmocka_unit_test(a_paused_low_slice_lends_everything),
		cmocka_unit_test(overlapping_slices_lend_only_what_is_theirs),
		cmocka_unit_test(weights_split_shared_sms),
		cmocka_unit_test(every_mask_holds_its_own_tpc),
	};
	return GS_RUN_ISOLATED(tests) ? 1 : 0;
}
