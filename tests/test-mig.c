/* test-mig.c: the placement and ID model against every capture of reference B.6. */
#include "test.h"

#include "gpumodel.h"
#include "mig.h"

#include <string.h>

struct expect {
	unsigned id;
	int start; /* -1: not checked */
};

/* Creates each profile in turn with automatic placement and checks the IDs
 * and placements; a zero id after the last means "the next one fails". */
static void replay(const char *key, bool swapped, const unsigned *profiles, size_t n,
		   const struct expect *want, size_t n_ok)
{
	struct gs_gpu_model m = *gs_model_find(key);
	m.swapped = swapped;
	struct gs_mig_layout l;
	memset(&l, 0, sizeof l);
	for (size_t i = 0; i < n; i++) {
		const struct gs_gi_profile *p = gs_model_gi_by_id(&m, profiles[i]);
		assert_non_null(p);
		unsigned id = 99;
		int rc = gs_mig_gi_create(&m, &l, p, -1, &id);
		if (i >= n_ok) {
			ASSERT_INT_EQ(rc, GS_MIG_INSUFFICIENT);
			continue;
		}
		ASSERT_INT_EQ(rc, GS_MIG_OK);
		ASSERT_INT_EQ(id, want[i].id);
		if (want[i].start >= 0)
			ASSERT_INT_EQ(gs_mig_gi_find(&l, id)->start, want[i].start);
	}
}

#define REPLAY(key, sw, prof, exp, nok) \
	replay(key, sw, prof, GS_ARRAY_LEN(prof), exp, nok)

static void seed_a100_swapped_gives_2_3_9(void **state)
{
	(void)state;
	static const unsigned p[] = { 5, 14, 19 };
	static const struct expect e[] = { { 2, 0 }, { 3, 4 }, { 9, 6 } };
	REPLAY("a100-sxm4-40gb", true, p, e, 3);
}

static void guide_identity_2g_then_five_1g(void **state)
{
	(void)state;
	static const unsigned p[] = { 14, 19, 19, 19, 19, 19 };
	static const struct expect e[] = { { 5, 4 }, { 13, 6 }, { 7, 0 },
					   { 8, 1 }, { 9, 2 }, { 10, 3 } };
	REPLAY("a100-sxm4-40gb", false, p, e, 6);
}

static void guide_identity_fragmentation_fails(void **state)
{
	(void)state;
	static const unsigned p[] = { 19, 19, 14, 9 };
	static const struct expect e[] = { { 13, -1 }, { 11, -1 }, { 3, -1 } };
	REPLAY("a100-sxm4-40gb", false, p, e, 3);
}

static void guide_identity_3g_first_works(void **state)
{
	(void)state;
	static const unsigned p[] = { 9, 19, 14, 19 };
	static const struct expect e[] = { { 2, 4 }, { 7, 0 }, { 4, 2 }, { 8, 1 } };
	REPLAY("a100-sxm4-40gb", false, p, e, 4);
}

static void blog_swapped_3g_first(void **state)
{
	(void)state;
	static const unsigned p[] = { 9, 19, 14, 19 };
	static const struct expect e[] = { { 1, 4 }, { 11, 0 }, { 6, 2 }, { 12, 1 } };
	REPLAY("a100-sxm4-40gb", true, p, e, 4);
}

static void cn_blog_identity_1g_2g_4g(void **state)
{
	(void)state;
	static const unsigned p[] = { 19, 14, 5 };
	static const struct expect e[] = { { 13, 6 }, { 5, 4 }, { 1, 0 } };
	REPLAY("a100-sxm4-80gb", false, p, e, 3);
}

static void h100_sxm_identity_seven_1g(void **state)
{
	(void)state;
	static const unsigned p[] = { 19, 19, 19, 19, 19, 19, 19, 19 };
	static const struct expect e[] = { { 13, 6 }, { 11, 4 }, { 12, 5 }, { 7, 0 },
					   { 8, 1 }, { 9, 2 }, { 10, 3 } };
	REPLAY("h100-sxm5-80gb", false, p, e, 7);
}

static void h100_pcie_swapped_seven_1g(void **state)
{
	(void)state;
	static const unsigned p[] = { 19, 19, 19, 19, 19, 19, 19 };
	static const struct expect e[] = { { 9, -1 }, { 7, -1 }, { 8, -1 }, { 11, -1 },
					   { 12, -1 }, { 13, -1 }, { 14, -1 } };
	REPLAY("h100-pcie-80gb", true, p, e, 7);
}

static void h100_nvl_swapped_3g_15_1g(void **state)
{
	(void)state;
	static const unsigned p[] = { 9, 15, 19 };
	static const struct expect e[] = { { 1, 4 }, { 5, 0 }, { 13, 2 } };
	REPLAY("h100-nvl-94gb", true, p, e, 3);
}

static void a100_80_swapped_two_3g_and_3g_4g(void **state)
{
	(void)state;
	static const unsigned p1[] = { 9, 9 };
	static const struct expect e1[] = { { 1, 4 }, { 2, 0 } };
	REPLAY("a100-sxm4-80gb", true, p1, e1, 2);
	static const unsigned p2[] = { 9, 5 };
	REPLAY("a100-sxm4-80gb", true, p2, e1, 2);
}

static void single_4g_id_depends_on_board(void **state)
{
	(void)state;
	static const unsigned p[] = { 5 };
	static const struct expect sw[] = { { 2, 0 } }, id[] = { { 1, 0 } };
	REPLAY("a100-sxm4-40gb", true, p, sw, 1);
	REPLAY("a100-sxm4-40gb", false, p, id, 1);
}

static void remaining_counts_follow_the_seed(void **state)
{
	(void)state;
	const struct gs_gpu_model *m = gs_model_find("a100-sxm4-40gb");
	struct gs_mig_layout l;
	memset(&l, 0, sizeof l);
	/* -lgip free counts after each step of the seed's Shell 4 */
	static const unsigned order[] = { 19, 20, 15, 14, 9, 5, 0 };
	static const unsigned want[4][7] = {
		{ 7, 1, 4, 3, 2, 1, 1 }, { 3, 1, 2, 1, 1, 0, 0 },
		{ 1, 1, 1, 0, 0, 0, 0 }, { 0, 0, 0, 0, 0, 0, 0 } };
	static const unsigned create[] = { 5, 14, 19 };
	for (int step = 0; step < 4; step++) {
		for (int i = 0; i < 7; i++)
			ASSERT_INT_EQ(gs_mig_gi_remaining(m, &l, gs_model_gi_by_id(m, order[i])),
				      want[step][i]);
		if (step < 3) {
			unsigned id;
			ASSERT_INT_EQ(gs_mig_gi_create(m, &l, gs_model_gi_by_id(m, create[step]), -1, &id),
				      GS_MIG_OK);
		}
	}
}

static void explicit_placement_rules(void **state)
{
	(void)state;
	const struct gs_gpu_model *m = gs_model_find("a100-sxm4-40gb");
	struct gs_mig_layout l;
	memset(&l, 0, sizeof l);
	unsigned id;
	ASSERT_INT_EQ(gs_mig_gi_create(m, &l, gs_model_gi_by_id(m, 14), 6, &id), GS_MIG_INVALID);
	ASSERT_INT_EQ(gs_mig_gi_create(m, &l, gs_model_gi_by_id(m, 14), 2, &id), GS_MIG_OK);
	ASSERT_INT_EQ(gs_mig_gi_create(m, &l, gs_model_gi_by_id(m, 19), 3, &id), GS_MIG_INSUFFICIENT);
	ASSERT_INT_EQ(l.n_gi, 1);
	ASSERT_INT_EQ(gs_mig_gi_create(m, &l, gs_model_gi_by_id(m, 5), -1, &id), GS_MIG_INSUFFICIENT);
	ASSERT_INT_EQ(l.n_gi, 1);
}

static void compute_instances_seed_shell5(void **state)
{
	(void)state;
	const struct gs_gpu_model *m = gs_model_find("a100-sxm4-40gb");
	struct gs_mig_layout l;
	memset(&l, 0, sizeof l);
	unsigned g2, g3, g9, ci;
	ASSERT_INT_EQ(gs_mig_gi_create(m, &l, gs_model_gi_by_id(m, 5), -1, &g2), 0);
	ASSERT_INT_EQ(gs_mig_gi_create(m, &l, gs_model_gi_by_id(m, 14), -1, &g3), 0);
	ASSERT_INT_EQ(gs_mig_gi_create(m, &l, gs_model_gi_by_id(m, 19), -1, &g9), 0);
	ASSERT_INT_EQ(gs_mig_ci_remaining(m, &l, g2, 0), 4);
	ASSERT_INT_EQ(gs_mig_ci_remaining(m, &l, g2, 1), 2);
	ASSERT_INT_EQ(gs_mig_ci_remaining(m, &l, g2, 2), 0); /* no 3c on a 4g */
	ASSERT_INT_EQ(gs_mig_ci_create(m, &l, g2, 3, &ci), 0);
	ASSERT_INT_EQ(ci, 0);
	ASSERT_INT_EQ(gs_mig_ci_remaining(m, &l, g2, 0), 0);
	ASSERT_INT_EQ(gs_mig_ci_create(m, &l, g3, 0, &ci), 0);
	ASSERT_INT_EQ(gs_mig_ci_create(m, &l, g3, 0, &ci), 0);
	ASSERT_INT_EQ(ci, 1);
	ASSERT_INT_EQ(gs_mig_ci_find(&l, g3, 1)->start, 1);
	ASSERT_INT_EQ(gs_mig_ci_create(m, &l, g3, 0, &ci), GS_MIG_INSUFFICIENT);
	ASSERT_INT_EQ(gs_mig_gi_destroy(&l, g3), GS_MIG_IN_USE);
	ASSERT_INT_EQ(gs_mig_ci_destroy(&l, g3, 0), 0);
	ASSERT_INT_EQ(gs_mig_ci_create(m, &l, g3, 0, &ci), 0);
	ASSERT_INT_EQ(ci, 0); /* lowest free ID is reused */
}

static void custom_sizes_respect_capacity_unless_overcommitted(void **state)
{
	(void)state;
	const struct gs_gpu_model *m = gs_model_find("l40s");
	struct gs_mig_layout l;
	memset(&l, 0, sizeof l);
	unsigned id;
	ASSERT_INT_EQ(gs_mig_gi_create_custom(m, &l, 100, 30000, false, &id), 0);
	ASSERT_INT_EQ(id, GS_MIG_CUSTOM_FIRST_ID);
	ASSERT_INT_EQ(gs_mig_gi_create_custom(m, &l, 50, 1000, false, &id), GS_MIG_INSUFFICIENT);
	ASSERT_INT_EQ(gs_mig_gi_create_custom(m, &l, 42, 20000, false, &id), GS_MIG_INSUFFICIENT);
	ASSERT_INT_EQ(l.n_gi, 1);
	ASSERT_INT_EQ(gs_mig_gi_create_custom(m, &l, 50, 20000, true, &id), 0);
	ASSERT_INT_EQ(id, GS_MIG_CUSTOM_FIRST_ID + 1);
	ASSERT_INT_EQ(gs_mig_gi_create_custom(m, &l, 0, 20000, true, &id), GS_MIG_INVALID);
	/* a GPU without MIG profiles refuses NVIDIA profiles */
	const struct gs_gpu_model *a = gs_model_find("a100-sxm4-40gb");
	ASSERT_INT_EQ(gs_mig_gi_create(m, &l, gs_model_gi_by_id(a, 19), -1, &id), GS_MIG_NOT_SUPPORTED);
}

static void every_model_is_consistent(void **state)
{
	(void)state;
	ASSERT_INT_EQ(gs_model_count() >= 8, 1);
	const char *keys[] = { "a100-sxm4-40gb", "a100-sxm4-80gb", "h100-sxm5-80gb", "h100-pcie-80gb",
			       "h100-nvl-94gb", "h200-sxm-141gb", "l40s", "l4" };
	for (size_t k = 0; k < GS_ARRAY_LEN(keys); k++) {
		const struct gs_gpu_model *m = gs_model_find(keys[k]);
		assert_non_null(m);
		for (size_t i = 0; i < m->n_gi; i++) {
			const struct gs_gi_profile *p = &m->gi[i];
			ASSERT_INT_EQ(p->sm <= m->sm_count, 1);
			ASSERT_INT_EQ(p->memory_mib <= m->memory_mib, 1);
			ASSERT_INT_EQ(gs_model_gi_by_name(m, p->name) == p, 1);
			struct gs_ci_profile cps[8];
			size_t n = gs_model_ci_profiles(m, p, cps, 8);
			ASSERT_INT_EQ(n >= 1, 1);
			ASSERT_INT_EQ(cps[n - 1].is_default, 1);
		}
	}
	assert_null(gs_model_find("gtx-480"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(seed_a100_swapped_gives_2_3_9),
		cmocka_unit_test(guide_identity_2g_then_five_1g),
		cmocka_unit_test(guide_identity_fragmentation_fails),
		cmocka_unit_test(guide_identity_3g_first_works),
		cmocka_unit_test(blog_swapped_3g_first),
		cmocka_unit_test(cn_blog_identity_1g_2g_4g),
		cmocka_unit_test(h100_sxm_identity_seven_1g),
		cmocka_unit_test(h100_pcie_swapped_seven_1g),
		cmocka_unit_test(h100_nvl_swapped_3g_15_1g),
		cmocka_unit_test(a100_80_swapped_two_3g_and_3g_4g),
		cmocka_unit_test(single_4g_id_depends_on_board),
		cmocka_unit_test(remaining_counts_follow_the_seed),
		cmocka_unit_test(explicit_placement_rules),
		cmocka_unit_test(compute_instances_seed_shell5),
		cmocka_unit_test(custom_sizes_respect_capacity_unless_overcommitted),
		cmocka_unit_test(every_model_is_consistent),
	};
	return GS_RUN_ISOLATED(tests) ? 1 : 0;
}
