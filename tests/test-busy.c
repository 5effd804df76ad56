/* test-busy.c: gpushare-control's GPU busy time (src/control/busy.c): a
 * process's from its reports, a slice's and a GPU's as the union of their
 * processes', counters that never fall. Real time, in spans of milliseconds
 * (ends dated back by the reports' "ago"). */
#include "test.h"

#include "control.h"

#include <time.h>

/* busy.c's look interval comes from the lending's idle interval */
unsigned control_elastic_idle_ms(void)
{
	return 2;
}

#define MS 1000000ull
#define SLACK (4 * MS) /* a loaded machine's scheduling */

static void sleep_ms(unsigned ms)
{
	struct timespec t = { 0, (long)ms * 1000000L };
	nanosleep(&t, NULL);
}

static struct control_peer peer(pid_t pid, const char *gpu, const char *slice)
{
	struct control_peer p = { .client = true, .pid = pid };
	snprintf(p.gpu, sizeof p.gpu, "%s", gpu);
	snprintf(p.slice, sizeof p.slice, "%s", slice);
	return p;
}

#define ASSERT_NEAR_MS(ns, ms) \
	do { \
		long long got_ = (long long)(ns), want_ = (long long)(ms) * (long long)MS; \
		if (got_ < want_ - (long long)SLACK || got_ > want_ + (long long)SLACK) \
			fail_msg("%lld ns, not about %lld ms", got_, (long long)(ms)); \
	} while (0)

static void overlapping_programs_give_their_slice_the_union_not_the_sum(void **state)
{
	(void)state;
	struct control_peer a = peer(1, "GPU-x", "MIG-a"), b = peer(2, "GPU-x", "MIG-a");
	control_busy_admit(NULL, &a);
	sleep_ms(20);
	control_busy_admit(NULL, &b);
	sleep_ms(30);
	control_busy_report(NULL, &a, false, 0, 0);
	sleep_ms(20);
	control_busy_report(NULL, &b, false, 0, 0);
	uint64_t now = gs_now_ns();
	ASSERT_NEAR_MS(control_busy_process_ns(&a, now), 50);
	ASSERT_NEAR_MS(control_busy_process_ns(&b, now), 50);
	ASSERT_NEAR_MS(control_busy_slice_ns("GPU-x", "MIG-a", now), 70);
	ASSERT_NEAR_MS(control_busy_gpu_ns("GPU-x", now), 70);
	ASSERT_INT_EQ(control_busy_slice_ns("GPU-x", "MIG-other", now), 0);
}

static void an_idle_report_dates_the_end_back_and_the_latest_end_closes_the_union(void **state)
{
	(void)state;
	struct control_peer a = peer(1, "GPU-x", "-"), b = peer(2, "GPU-x", "-");
	control_busy_admit(NULL, &a);
	control_busy_admit(NULL, &b);
	sleep_ms(40);
	control_busy_report(NULL, &b, false, 10 * MS, 0); /* ended 10 ms ago */
	control_busy_report(NULL, &a, false, 30 * MS, 0); /* told later, ended sooner */
	uint64_t now = gs_now_ns();
	ASSERT_NEAR_MS(control_busy_process_ns(&a, now), 10);
	ASSERT_NEAR_MS(control_busy_process_ns(&b, now), 30);
	ASSERT_NEAR_MS(control_busy_slice_ns("GPU-x", "-", now), 30);
	/* a remainder is its GPU's: another GPU's remainder is another */
	ASSERT_INT_EQ(control_busy_slice_ns("GPU-y", "-", now), 0);
	/* an end before the program began: its time is 0, never less */
	struct control_peer c = peer(3, "GPU-x", "-");
	control_busy_admit(NULL, &c);
	control_busy_report(NULL, &c, false, UINT64_MAX / 2, 0);
	ASSERT_INT_EQ(control_busy_process_ns(&c, gs_now_ns()), 0);
}

static void a_counter_read_while_busy_never_falls(void **state)
{
	(void)state;
	struct control_peer a = peer(1, "GPU-x", "MIG-a");
	control_busy_admit(NULL, &a);
	sleep_ms(30);
	uint64_t seen = control_busy_process_ns(&a, gs_now_ns()), slice = control_busy_slice_ns("GPU-x", "MIG-a", gs_now_ns());
	control_busy_report(NULL, &a, false, 20 * MS, 0); /* ended 20 ms before: 10 ms */
	assert_true(control_busy_process_ns(&a, gs_now_ns()) >= seen);
	assert_true(control_busy_slice_ns("GPU-x", "MIG-a", gs_now_ns()) >= slice);
	/* busy again: the counter stays until the time catches up, then grows */
	control_busy_report(NULL, &a, true, 0, 0);
	sleep_ms(40);
	uint64_t later = control_busy_process_ns(&a, gs_now_ns());
	assert_true(later > seen);
	ASSERT_NEAR_MS(later, 50);
}

static void untold_idle_spells_come_off_the_process_alone(void **state)
{
	(void)state;
	struct control_peer a = peer(1, "GPU-x", "MIG-a");
	control_busy_admit(NULL, &a);
	sleep_ms(40);
	control_busy_report(NULL, &a, false, 0, 15 * MS);
	uint64_t now = gs_now_ns();
	ASSERT_NEAR_MS(control_busy_process_ns(&a, now), 25);
	ASSERT_NEAR_MS(control_busy_slice_ns("GPU-x", "MIG-a", now), 40);
	/* a gap larger than the spell: nothing of it, never less */
	control_busy_report(NULL, &a, true, 0, 0);
	control_busy_report(NULL, &a, false, 0, 1000 * MS);
	ASSERT_NEAR_MS(control_busy_process_ns(&a, gs_now_ns()), 25);
}

static void reports_count_only_from_admitted_programs_and_only_on_changes(void **state)
{
	(void)state;
	struct control_peer a = peer(1, "GPU-x", "MIG-a");
	control_busy_report(NULL, &a, true, 0, 0); /* not admitted: anyone can send the words */
	sleep_ms(10);
	control_busy_report(NULL, &a, false, 0, 0);
	ASSERT_INT_EQ(control_busy_process_ns(&a, gs_now_ns()), 0);
	ASSERT_INT_EQ(control_busy_slice_ns("GPU-x", "MIG-a", gs_now_ns()), 0);
	control_busy_admit(NULL, &a);
	control_busy_report(NULL, &a, false, 0, 0);
	control_busy_report(NULL, &a, false, 0, 0); /* idle twice: one end */
	sleep_ms(20);
	control_busy_report(NULL, &a, true, 0, 0);
	control_busy_report(NULL, &a, true, 0, 0); /* busy twice: one start */
	sleep_ms(20);
	control_busy_report(NULL, &a, false, 0, 0);
	ASSERT_NEAR_MS(control_busy_process_ns(&a, gs_now_ns()), 20);
}

static bool none_there(void *ctx, const char *gpu, const char *slice)
{
	(void)ctx, (void)gpu, (void)slice;
	return false;
}

static void a_gone_program_stays_in_its_slice_until_the_slice_goes(void **state)
{
	(void)state;
	struct control_peer a = peer(1, "GPU-x", "MIG-a"), b = peer(2, "GPU-x", "MIG-b");
	control_busy_admit(NULL, &a);
	control_busy_admit(NULL, &b);
	sleep_ms(20);
	control_busy_gone(NULL, &a); /* busy as it went: until then */
	control_busy_report(NULL, &a, true, 0, 0); /* gone: nothing more */
	sleep_ms(20);
	ASSERT_NEAR_MS(control_busy_slice_ns("GPU-x", "MIG-a", gs_now_ns()), 20);
	/* slices gone: forgotten, but for one a program is busy in; GPUs stay */
	control_busy_forget(none_there, NULL);
	ASSERT_INT_EQ(control_busy_slice_ns("GPU-x", "MIG-a", gs_now_ns()), 0);
	ASSERT_NEAR_MS(control_busy_slice_ns("GPU-x", "MIG-b", gs_now_ns()), 40);
	ASSERT_NEAR_MS(control_busy_gpu_ns("GPU-x", gs_now_ns()), 40);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(overlapping_programs_give_their_slice_the_union_not_the_sum),
		cmocka_unit_test(an_idle_report_dates_the_end_back_and_the_latest_end_closes_the_union),
		cmocka_unit_test(a_counter_read_while_busy_never_falls),
		cmocka_unit_test(untold_idle_spells_come_off_the_process_alone),
		cmocka_unit_test(reports_count_only_from_admitted_programs_and_only_on_changes),
		cmocka_unit_test(a_gone_program_stays_in_its_slice_until_the_slice_goes),
	};
	return GS_RUN_ISOLATED(tests) ? 1 : 0;
}
