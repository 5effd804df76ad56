/* test-slice.c: the slice layer: where slices' SMs are placed, how names
 * resolve, and what no transaction may do to programs that run (their SMs
 * moved or shrunk, their slice removed), each refusal naming who runs. */
#include "test.h"

#include "ledger.h"
#include "slice.h"
#include "smrun.h"
#include "store.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <sys/stat.h>

static char dir[64];
static struct gs_slice_gpu gpu;

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/gs-slice-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	memset(&gpu, 0, sizeof gpu);
	gpu.model = *gs_model_find("a100-sxm4-40gb");
	snprintf(gpu.uuid, sizeof gpu.uuid, "GPU-7c5e3972-ae17-57e0-93a0-3fe313f20a57");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return gs_test_rmdir(dir);
}

static struct gs_slice_info make(unsigned sm, unsigned mib, bool over)
{
	struct gs_slice_spec sp = { .sm = sm, .memory = (uint64_t)mib << 20, .overcommit = over, .guarantee = UINT64_MAX };
	struct gs_slice_info out;
	char err[256];
	int rc = gs_slice_create(dir, &gpu, &sp, &out, err, sizeof err);
	if (rc)
		print_message("create %u %u: %s\n", sm, mib, err);
	assert_int_equal(rc, 0);
	return out;
}

/* A child that charges the slice's ledger and waits to be killed. */
static pid_t run_in(const struct gs_slice_info *s)
{
	struct gs_store st;
	struct gs_store_gpu *g;
	struct gs_mig_ci *ci;
	assert_int_equal(gs_store_load(dir, &st, NULL, 0), 0);
	assert_int_equal(gs_slice_resolve(&st, s->uuid, &g, &ci, NULL, 0), 0);
	char path[PATH_MAX];
	gs_store_ledger_path(dir, g->uuid, gs_slice_gi_of(g, ci), path, sizeof path);
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	if (pid == 0) {
		struct gs_ledger *l;
		if (gs_ledger_open(path, 0, 0, &l) || gs_ledger_charge(l, 1 << 20))
			_exit(1);
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	char c;
	assert_int_equal(read(p[0], &c, 1), 1);
	close(p[0]);
	close(p[1]);
	return pid;
}

static void stop(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void slices_get_disjoint_sms_in_whole_units(void **state)
{
	(void)state;
	struct gs_slice_info a = make(40, 8192, false), b = make(40, 8192, false), c = make(7, 1024, false);
	ASSERT_INT_EQ(a.sm_start, 0);
	ASSERT_INT_EQ(b.sm_start, 40);
	/* 7 SMs are 3 TPCs on an A100: rounded, and said so */
	ASSERT_INT_EQ(c.sm, 6);
	assert_non_null(strstr(c.note, "7 SMs rounded down to 6"));
	assert_false(gs_smrun_overlap(c.sm_start, c.sm, a.sm_start, a.sm));
	assert_false(gs_smrun_overlap(c.sm_start, c.sm, b.sm_start, b.sm));
	/* what is left: 108 - 86 = 22 SMs; 24 do not fit, unless over-committed */
	struct gs_slice_spec sp = { .sm = 24, .memory = 1 << 30, .guarantee = UINT64_MAX };
	char err[256];
	ASSERT_INT_EQ(gs_slice_create(dir, &gpu, &sp, NULL, err, sizeof err), -ENOSPC);
	assert_non_null(strstr(err, "-overcommit"));
	sp.overcommit = true;
	ASSERT_INT_EQ(gs_slice_create(dir, &gpu, &sp, NULL, err, sizeof err), 0);
}

static void more_than_the_gpu_is_refused_saying_what_it_has(void **state)
{
	(void)state;
	struct gs_slice_spec sp = { .sm = 200, .memory = 1 << 30, .overcommit = true, .guarantee = UINT64_MAX };
	char err[256];
	ASSERT_INT_EQ(gs_slice_create(dir, &gpu, &sp, NULL, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "has 108 SMs and 40960 MiB"));
}

static void a_slice_is_made_with_all_its_attributes_at_once(void **state)
{
	(void)state;
	uint32_t users[] = { 4242 };
	struct gs_slice_spec sp = { .sm = 8, .memory = 1 << 30, .guarantee = UINT64_MAX, .users = users, .n_users = 1,
				    .refuse = true };
	struct gs_slice_info out;
	ASSERT_INT_EQ(gs_slice_create(dir, &gpu, &sp, &out, NULL, 0), 0);
	struct gs_store st;
	struct gs_store_gpu *g;
	struct gs_mig_ci *ci;
	ASSERT_INT_EQ(gs_store_load(dir, &st, NULL, 0), 0);
	ASSERT_INT_EQ(gs_slice_resolve(&st, out.uuid, &g, &ci, NULL, 0), 0);
	ASSERT_INT_EQ(ci->n_users, 1);
	ASSERT_INT_EQ(ci->users[0], 4242);
	assert_true(ci->refuse_busy);
	/* and its ledger exists, made with the slice */
	char path[PATH_MAX];
	struct stat sb;
	gs_store_ledger_path(dir, g->uuid, gs_slice_gi_of(g, ci), path, sizeof path);
	ASSERT_INT_EQ(stat(path, &sb), 0);
}

static void an_ambiguous_name_is_an_error_naming_both(void **state)
{
	(void)state;
	struct gs_slice_info s[20];
	for (int i = 0; i < 20; i++)
		s[i] = make(2, 256, true);
	/* 20 UUIDs: two share their first hex digit */
	struct gs_store st;
	assert_int_equal(gs_store_load(dir, &st, NULL, 0), 0);
	for (int i = 0; i < 20; i++)
		for (int j = i + 1; j < 20; j++)
			if (s[i].uuid[4] == s[j].uuid[4]) {
				char name[8], err[256];
				snprintf(name, sizeof name, "MIG-%c", s[i].uuid[4]);
				struct gs_store_gpu *g;
				struct gs_mig_ci *ci;
				ASSERT_INT_EQ(gs_slice_resolve(&st, name, &g, &ci, err, sizeof err), -EEXIST);
				assert_non_null(strstr(err, "more than one slice"));
				ASSERT_INT_EQ(gs_slice_resolve(&st, s[i].uuid, &g, &ci, NULL, 0), 0);
				ASSERT_INT_EQ(gs_slice_resolve(&st, s[i].uuid + 4, &g, &ci, NULL, 0), 0);
				return;
			}
	fail_msg("no two UUIDs share a first digit");
}

static void sms_grow_in_place_but_never_shrink_or_move_under_a_program(void **state)
{
	(void)state;
	struct gs_slice_info a = make(16, 4096, false);
	make(16, 4096, false); /* right after a */
	pid_t p = run_in(&a);
	char err[256];
	struct gs_slice_info now;
	/* shrinking: its program keeps running on the SMs it has */
	ASSERT_INT_EQ(gs_slice_resize(dir, &gpu, a.uuid, 8, 4ull << 30, false, &now, err, sizeof err), -EBUSY);
	assert_non_null(strstr(err, "running process"));
	char pid[16];
	snprintf(pid, sizeof pid, "%d", p);
	assert_non_null(strstr(err, pid));
	/* growing needs the SMs after it, which b holds: it would move */
	ASSERT_INT_EQ(gs_slice_resize(dir, &gpu, a.uuid, 24, 4ull << 30, false, &now, err, sizeof err), -EBUSY);
	/* memory changes at once */
	ASSERT_INT_EQ(gs_slice_resize(dir, &gpu, a.uuid, 16, 2ull << 30, false, &now, err, sizeof err), 0);
	ASSERT_INT_EQ(now.memory_mib, 2048);
	/* the slice cannot be removed under it either */
	ASSERT_INT_EQ(gs_slice_destroy(dir, a.uuid, NULL, err, sizeof err), -EBUSY);
	stop(p);
	ASSERT_INT_EQ(gs_slice_resize(dir, &gpu, a.uuid, 24, 4ull << 30, false, &now, err, sizeof err), 0);
	ASSERT_INT_EQ(now.sm, 24);
	ASSERT_INT_EQ(gs_slice_destroy(dir, a.uuid, NULL, err, sizeof err), 0);
}

static void a_slice_grows_in_place_while_a_program_runs(void **state)
{
	(void)state;
	make(16, 4096, false);
	struct gs_slice_info a = make(16, 4096, false); /* SMs 16-31 */
	pid_t p = run_in(&a);
	struct gs_slice_info now;
	char err[256];
	/* 16 -> 32 in place (SMs 16-47) keeps the grid: 16 divides every start and size */
	int rc = gs_slice_resize(dir, &gpu, a.uuid, 32, 4ull << 30, false, &now, err, sizeof err);
	if (rc)
		print_message("%s\n", err);
	ASSERT_INT_EQ(rc, 0);
	ASSERT_INT_EQ(now.sm_start, a.sm_start);
	ASSERT_INT_EQ(now.sm, 32);
	/* a new 8-SM slice would split the GPU in 8s: the running program's
	 * groups of 16 would not be its groups any more */
	struct gs_slice_spec sp = { .sm = 8, .memory = 1 << 30, .guarantee = UINT64_MAX };
	ASSERT_INT_EQ(gs_slice_create(dir, &gpu, &sp, NULL, err, sizeof err), -EBUSY);
	assert_non_null(strstr(err, "split the GPU's SMs differently"));
	stop(p);
	ASSERT_INT_EQ(gs_slice_create(dir, &gpu, &sp, NULL, err, sizeof err), 0);
}

static void an_ephemeral_slice_goes_with_its_job(void **state)
{
	(void)state;
	pid_t child = fork();
	if (child == 0) {
		pause();
		_exit(0);
	}
	struct gs_slice_spec sp = { .sm = 8, .memory = 1 << 30, .guarantee = UINT64_MAX, .owner = child };
	struct gs_slice_info out;
	ASSERT_INT_EQ(gs_slice_create(dir, &gpu, &sp, &out, NULL, 0), 0);
	ASSERT_INT_EQ(gs_slice_collect(dir, ""), 0); /* its job runs */
	stop(child);
	ASSERT_INT_EQ(gs_slice_collect(dir, ""), 1);
	struct gs_store st;
	struct gs_store_gpu *g;
	struct gs_mig_ci *ci;
	assert_int_equal(gs_store_load(dir, &st, NULL, 0), 0);
	ASSERT_INT_EQ(gs_slice_resolve(&st, out.uuid, &g, &ci, NULL, 0), -ENOENT);
}

/* Programs outside every slice get the longest run of whole grid groups no
 * slice holds. */
static void the_remainder_runs_on_the_sms_no_slice_holds(void **state)
{
	(void)state;
	struct gs_mig_layout l = { 0 };
	unsigned start, count;
	gs_smrun_free(108, 28, &l, &start, &count);
	assert_int_equal(count, 84); /* three whole groups of 28 in 108 */
	l.n_gi = 2;
	l.gi[0] = (struct gs_mig_gi){ .sm_start = 0, .sm = 28, .sm_placed = true };
	l.gi[1] = (struct gs_mig_gi){ .sm_start = 56, .sm = 28, .sm_placed = true };
	gs_smrun_free(108, 28, &l, &start, &count);
	assert_int_equal(start, 28);
	assert_int_equal(count, 28);
	l.gi[1].sm_start = 28;
	gs_smrun_free(108, 28, &l, &start, &count);
	assert_int_equal(start, 56);
	assert_int_equal(count, 28);
	l.gi[1].sm = 80; /* every SM held */
	gs_smrun_free(108, 28, &l, &start, &count);
	assert_int_equal(count, 0);
}

static void a_failed_change_changes_nothing(void **state)
{
	(void)state;
	struct gs_slice_info a = make(16, 4096, false);
	char before[8192], after[8192], path[PATH_MAX], err[256];
	snprintf(path, sizeof path, "%s/slices", dir);
	FILE *f = fopen(path, "r");
	size_t n = fread(before, 1, sizeof before - 1, f);
	before[n] = '\0';
	fclose(f);
	ASSERT_INT_EQ(gs_slice_set_guarantee(dir, &gpu, a.uuid, 8ull << 30, err, sizeof err), -EINVAL);
	uint32_t many[GS_SLICE_MAX_USERS + 1] = { 0 };
	ASSERT_INT_EQ(gs_slice_set_access(dir, a.uuid, many, GS_SLICE_MAX_USERS + 1, -1, err, sizeof err), -E2BIG);
	ASSERT_INT_EQ(gs_slice_set_memory(dir, "MIG-nothex", 1 << 30, err, sizeof err), -EINVAL);
	f = fopen(path, "r");
	n = fread(after, 1, sizeof after - 1, f);
	after[n] = '\0';
	fclose(f);
	ASSERT_STR_EQ(before, after);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(slices_get_disjoint_sms_in_whole_units, setup, teardown),
		cmocka_unit_test_setup_teardown(more_than_the_gpu_is_refused_saying_what_it_has, setup, teardown),
		cmocka_unit_test_setup_teardown(a_slice_is_made_with_all_its_attributes_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(an_ambiguous_name_is_an_error_naming_both, setup, teardown),
		cmocka_unit_test_setup_teardown(sms_grow_in_place_but_never_shrink_or_move_under_a_program, setup, teardown),
		cmocka_unit_test_setup_teardown(a_slice_grows_in_place_while_a_program_runs, setup, teardown),
		cmocka_unit_test_setup_teardown(an_ephemeral_slice_goes_with_its_job, setup, teardown),
		cmocka_unit_test_setup_teardown(a_failed_change_changes_nothing, setup, teardown),
		cmocka_unit_test(the_remainder_runs_on_the_sms_no_slice_holds),
	};
	return GS_RUN_ISOLATED(tests);
}
