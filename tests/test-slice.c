/* test-slice.c: the slice layer: where slices' SMs are placed, how names
 * resolve, what no transaction may do to programs that run (their SMs
 * moved or shrunk, their slice removed), each refusal naming who runs, and
 * what a kill -9 at any instant of a change leaves: the store before it or
 * with it made, every slice whole, and ledgers never above their slices;
 * the SM-sharing policy made with a slice or set later, and refused where
 * it means nothing. */
#include "test.h"

#include "ledger.h"
#include "mig.h"
#include "slice.h"
#include "smrun.h"
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <sys/mman.h>
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

/* migrate makes a green-context program's job slice again at its SMs */
static void a_slice_made_at_given_sms_gets_them_or_is_refused_saying_which(void **state)
{
	(void)state;
	struct gs_slice_info a = make(16, 1024, false), out;
	struct gs_slice_spec sp = { .sm = 16, .memory = 1 << 30, .guarantee = UINT64_MAX, .sm_fixed = true,
				    .sm_start = 32 };
	char err[256];
	ASSERT_INT_EQ(gs_slice_create(dir, &gpu, &sp, &out, err, sizeof err), 0);
	ASSERT_INT_EQ(out.sm_start, 32); /* first fit would have been 16 */
	ASSERT_INT_EQ(out.sm, 16);
	sp.sm_start = a.sm_start + 8; /* half of a's */
	ASSERT_INT_EQ(gs_slice_create(dir, &gpu, &sp, NULL, err, sizeof err), -ENOSPC);
	assert_non_null(strstr(err, "SMs 8 to 23 of GPU 0 are not free"));
	sp.sm_start = 100; /* past the GPU's 108 */
	ASSERT_INT_EQ(gs_slice_create(dir, &gpu, &sp, NULL, err, sizeof err), -ENOSPC);
	sp.sm_start = 49; /* not on a TPC */
	ASSERT_INT_EQ(gs_slice_create(dir, &gpu, &sp, NULL, err, sizeof err), -ENOSPC);
	sp.sm_start = 48;
	ASSERT_INT_EQ(gs_slice_create(dir, &gpu, &sp, &out, err, sizeof err), 0);
	ASSERT_INT_EQ(out.sm_start, 48);
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

/* A slice taken away beside a running one whose SMs the coarser split would
 * regroup: the GPU keeps its split (a floor in the store) while the program
 * runs, and lets it go once none does. */
static void a_slice_goes_beside_a_running_one_and_the_split_stays(void **state)
{
	(void)state;
	struct gs_slice_info a = make(16, 4096, false); /* SMs 0-15 */
	struct gs_slice_info b = make(32, 4096, false); /* SMs 32-63: groups of 16 */
	pid_t p = run_in(&b);
	char err[256];
	int rc = gs_slice_destroy(dir, a.uuid, NULL, err, sizeof err);
	if (rc)
		print_message("%s\n", err);
	ASSERT_INT_EQ(rc, 0);
	struct gs_store st;
	assert_int_equal(gs_store_load(dir, &st, NULL, 0), 0);
	ASSERT_INT_EQ(gs_smrun_grid(2, &st.gpu[0].layout), 16);
	/* a new program of b splits the GPU as b's running one did */
	ASSERT_INT_EQ(st.gpu[0].layout.grid_floor, 16);
	stop(p);
	struct gs_slice_spec sp = { .sm = 32, .memory = 1 << 30, .guarantee = UINT64_MAX };
	ASSERT_INT_EQ(gs_slice_create(dir, &gpu, &sp, NULL, err, sizeof err), 0);
	assert_int_equal(gs_store_load(dir, &st, NULL, 0), 0);
	ASSERT_INT_EQ(st.gpu[0].layout.grid_floor, 0);
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

/* A GPU instance alone, then n compute instances of CI profile ci in it (-cgi, then -cci). */
struct gi_cis {
	unsigned n, ci, gi;
	struct gs_slice_info made[8];
};

static int make_gi_cis(struct gs_slice_txn *t, void *arg)
{
	struct gi_cis *a = arg;
	int rc = gs_slice_txn_create_gi(t, &gpu, gs_model_gi_by_name(&gpu.model, "3g.20gb"), &a->gi);
	for (unsigned i = 0; !rc && i < a->n; i++)
		rc = gs_slice_txn_create_ci(t, &gpu, a->gi, a->ci, &a->made[i]);
	return rc;
}

static void a_gpu_instance_takes_compute_instances_in_one_transaction(void **state)
{
	(void)state;
	char err[256];
	/* four 1c.3g.20gb do not fit in one 3g.20gb: refused, nothing made */
	struct gi_cis four = { .n = 4, .ci = 0 };
	ASSERT_INT_EQ(gs_slice_edit(dir, &gpu, 1, make_gi_cis, &four, err, sizeof err), -ENOSPC);
	ASSERT_STR_EQ(err, "no room for another 1c.3g.20gb in the 3g.20gb (GI 1) of GPU 0");
	struct gs_store st;
	ASSERT_INT_EQ(gs_store_load(dir, &st, NULL, 0), 0);
	const struct gs_store_gpu *g = gs_store_gpu(&st, gpu.uuid, false);
	assert_true(!g || g->layout.n_gi == 0);
	/* three do, where -cci puts them: slices 0, 1 and 2 of the GI */
	struct gi_cis three = { .n = 3, .ci = 0 };
	ASSERT_INT_EQ(gs_slice_edit(dir, &gpu, 1, make_gi_cis, &three, err, sizeof err), 0);
	ASSERT_INT_EQ(gs_store_load(dir, &st, NULL, 0), 0);
	g = gs_store_gpu(&st, gpu.uuid, false);
	assert_non_null(g);
	assert_true(g->mig);
	ASSERT_INT_EQ(g->layout.n_gi, 1);
	ASSERT_INT_EQ(g->layout.n_ci, 3);
	for (unsigned i = 0; i < 3; i++) {
		const struct gs_mig_ci *ci = gs_mig_ci_find(&g->layout, three.gi, three.made[i].ci);
		assert_non_null(ci);
		ASSERT_INT_EQ(ci->id, i);
		ASSERT_INT_EQ(ci->profile_id, 0);
		ASSERT_INT_EQ(ci->start, i);
		ASSERT_INT_EQ(ci->size, 1);
		ASSERT_INT_EQ(three.made[i].gi, three.gi);
	}
	/* a CI profile the GI has not, and a GI that is not there */
	struct gi_cis none = { .n = 1, .ci = 4 };
	ASSERT_INT_EQ(gs_slice_edit(dir, &gpu, 1, make_gi_cis, &none, err, sizeof err), -EINVAL);
	ASSERT_STR_EQ(err, "the 3g.20gb (GI 2) of GPU 0 has no compute instance profile 4");
}

static int ci_in_no_gi(struct gs_slice_txn *t, void *arg)
{
	(void)arg;
	return gs_slice_txn_create_ci(t, &gpu, 9, 0, NULL);
}

static void a_compute_instance_needs_its_gpu_instance(void **state)
{
	(void)state;
	char err[256];
	ASSERT_INT_EQ(gs_slice_edit(dir, &gpu, 1, ci_in_no_gi, NULL, err, sizeof err), -ENOENT);
	ASSERT_STR_EQ(err, "no GPU instance 9 on GPU 0");
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

/* The SM policy of the slice named so, as the store on disk holds it. */
static struct gs_sm_policy policy_of(const char *name)
{
	static struct gs_store st;
	struct gs_store_gpu *g;
	struct gs_mig_ci *ci;
	ASSERT_INT_EQ(gs_store_load(dir, &st, NULL, 0), 0);
	ASSERT_INT_EQ(gs_slice_resolve(&st, name, &g, &ci, NULL, 0), 0);
	return ci->sm_policy;
}

static void an_sm_policy_is_made_with_the_slice_and_set_later(void **state)
{
	(void)state;
	struct gs_slice_spec sp = { .sm = 32, .memory = 1 << 30, .guarantee = UINT64_MAX, .name = "batch",
				    .sm_policy = { .mode = GS_SM_BEST_EFFORT, .floor_sm = 9 } };
	struct gs_slice_info out;
	char err[256] = "";
	ASSERT_INT_EQ(gs_slice_create(dir, &gpu, &sp, &out, err, sizeof err), 0);
	/* the floor in whole TPCs, as sizes are, and said so */
	ASSERT_INT_EQ(out.sm_policy.mode, GS_SM_BEST_EFFORT);
	ASSERT_INT_EQ(out.sm_policy.floor_sm, 8);
	assert_non_null(strstr(out.note, "a floor of 9 SMs rounded to 8"));
	struct gs_sm_policy p = policy_of("batch");
	ASSERT_INT_EQ(p.floor_sm, 8);
	/* a floor below one TPC is one TPC */
	ASSERT_INT_EQ(gs_slice_set_sm_policy(dir, "batch", &(struct gs_sm_policy){ .mode = GS_SM_BEST_EFFORT, .floor_sm = 1 },
					     err, sizeof err), 0);
	ASSERT_INT_EQ(policy_of("batch").floor_sm, 2);
	/* set: the whole policy, read back from the store */
	struct gs_sm_policy want = { .mode = GS_SM_SHARED, .no_lend = true, .priority = GS_PRIO_CRITICAL };
	ASSERT_INT_EQ(gs_slice_set_sm_policy(dir, "batch", &want, err, sizeof err), 0);
	p = policy_of(out.uuid);
	assert_true(p.mode == GS_SM_SHARED && p.no_lend && !p.no_borrow && p.priority == GS_PRIO_CRITICAL && p.floor_sm == 0);
	/* back to the default: nothing of it is left in the store */
	ASSERT_INT_EQ(gs_slice_set_sm_policy(dir, "batch", &(struct gs_sm_policy){ .mode = GS_SM_SHARED }, err, sizeof err), 0);
	p = policy_of("batch");
	assert_true(gs_store_sm_policy_default(&p));
	char path[PATH_MAX], *text;
	snprintf(path, sizeof path, "%s/slices", dir);
	ASSERT_INT_EQ(gs_file_read(path, 1 << 20, &text, NULL), 0);
	assert_null(strstr(text, "smpolicy"));
	free(text);
}

static bool borrows(const char *name)
{
	static struct gs_store st;
	struct gs_store_gpu *g;
	struct gs_mig_ci *ci;
	ASSERT_INT_EQ(gs_store_load(dir, &st, NULL, 0), 0);
	ASSERT_INT_EQ(gs_slice_resolve(&st, name, &g, &ci, NULL, 0), 0);
	return ci->borrow_mem;
}

/* Only an over-committed slice borrows memory, and never a critical one:
 * its programs are suspended when an owner wants its guarantee back. */
static void only_an_over_committed_slice_that_is_not_critical_borrows_memory(void **state)
{
	(void)state;
	char err[256] = "";
	struct gs_slice_spec sp = { .sm = 8, .memory = 4ull << 30, .overcommit = true, .guarantee = 1ull << 30,
				    .borrow_mem = true, .name = "borrower" };
	struct gs_slice_info out;
	ASSERT_INT_EQ(gs_slice_create(dir, &gpu, &sp, &out, err, sizeof err), 0);
	assert_true(borrows("borrower"));
	ASSERT_INT_EQ(gs_slice_set_borrow_mem(dir, "borrower", false, err, sizeof err), 0);
	assert_false(borrows("borrower"));
	ASSERT_INT_EQ(gs_slice_set_borrow_mem(dir, "borrower", true, err, sizeof err), 0);
	/* a borrower made critical is refused, the policy as it was */
	ASSERT_INT_EQ(gs_slice_set_sm_policy(dir, "borrower",
					     &(struct gs_sm_policy){ .mode = GS_SM_SHARED, .priority = GS_PRIO_CRITICAL }, err,
					     sizeof err), -EINVAL);
	assert_non_null(strstr(err, "A critical slice may not borrow memory"));
	ASSERT_INT_EQ(policy_of("borrower").priority, GS_PRIO_NORMAL);
	/* a wholly guaranteed slice has nothing to borrow for */
	struct gs_slice_info whole = make(8, 2048, false);
	ASSERT_INT_EQ(gs_slice_set_borrow_mem(dir, whole.uuid, true, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "Only an over-committed slice borrows memory"));
	assert_false(borrows(whole.uuid));
	/* nor is a critical one made a borrower */
	sp = (struct gs_slice_spec){ .sm = 8, .memory = 1ull << 30, .overcommit = true, .guarantee = UINT64_MAX,
				     .borrow_mem = true, .sm_policy = { .priority = GS_PRIO_CRITICAL } };
	ASSERT_INT_EQ(gs_slice_create(dir, &gpu, &sp, NULL, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "the owner's promise comes first"));
}

static void an_isolated_slice_neither_lends_nor_borrows(void **state)
{
	(void)state;
	struct gs_slice_info a = make(16, 4096, false);
	char err[256];
	ASSERT_INT_EQ(gs_slice_set_sm_policy(dir, a.uuid, &(struct gs_sm_policy){ .mode = GS_SM_ISOLATED }, err,
					     sizeof err), 0);
	struct gs_sm_policy p = policy_of(a.uuid);
	assert_true(p.mode == GS_SM_ISOLATED && p.no_lend && p.no_borrow && p.priority == GS_PRIO_NORMAL);
	/* made so too */
	struct gs_slice_spec sp = { .sm = 8, .memory = 1 << 30, .guarantee = UINT64_MAX,
				    .sm_policy = { .mode = GS_SM_ISOLATED, .priority = GS_PRIO_CRITICAL } };
	struct gs_slice_info b;
	ASSERT_INT_EQ(gs_slice_create(dir, &gpu, &sp, &b, err, sizeof err), 0);
	assert_true(b.sm_policy.no_lend && b.sm_policy.no_borrow && b.sm_policy.priority == GS_PRIO_CRITICAL);
	p = policy_of(b.uuid);
	assert_true(p.mode == GS_SM_ISOLATED && p.no_lend && p.no_borrow && p.priority == GS_PRIO_CRITICAL);
}

static void a_bad_sm_policy_is_refused_saying_what_would_do(void **state)
{
	(void)state;
	struct gs_slice_info a = make(16, 4096, false);
	struct gs_sm_policy be = { .mode = GS_SM_BEST_EFFORT, .floor_sm = 4 };
	char err[256], before[8192], after[8192], path[PATH_MAX];
	ASSERT_INT_EQ(gs_slice_set_sm_policy(dir, a.uuid, &be, err, sizeof err), 0);
	snprintf(path, sizeof path, "%s/slices", dir);
	FILE *f = fopen(path, "r");
	size_t n = fread(before, 1, sizeof before - 1, f);
	before[n] = '\0';
	fclose(f);
	struct {
		struct gs_sm_policy p;
		int rc;
		const char *err;
	} bad[] = {
		{ { .mode = GS_SM_BEST_EFFORT, .floor_sm = 20 }, -EINVAL,
		  "A floor of 20 SMs is more than the slice's 16 SMs: give at most 16" },
		{ { .mode = GS_SM_SHARED, .floor_sm = 4 }, -EINVAL, "A floor is a best-effort slice's" },
		{ { .mode = GS_SM_ISOLATED, .floor_sm = 4 }, -EINVAL, "A floor is a best-effort slice's" },
		{ { .mode = GS_SM_BEST_EFFORT, .no_lend = true }, -EINVAL,
		  "A best-effort slice always lends and borrows idle SMs: turning lending off" },
		{ { .mode = 3 }, -EINVAL, "Unknown SM-sharing mode 3" },
	};
	for (size_t i = 0; i < GS_ARRAY_LEN(bad); i++) {
		err[0] = '\0';
		int rc = gs_slice_set_sm_policy(dir, a.uuid, &bad[i].p, err, sizeof err);
		if (rc != bad[i].rc || strncmp(err, bad[i].err, strlen(bad[i].err)))
			fail_msg("%zu: %d \"%s\", not %d \"%s\"", i, rc, err, bad[i].rc, bad[i].err);
	}
	/* nor at create, where no slice is made */
	struct gs_slice_spec sp = { .sm = 8, .memory = 1 << 30, .guarantee = UINT64_MAX,
				    .sm_policy = { .mode = GS_SM_BEST_EFFORT, .floor_sm = 10 } };
	ASSERT_INT_EQ(gs_slice_create(dir, &gpu, &sp, NULL, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "more than the slice's 8 SMs: give at most 8"));
	ASSERT_INT_EQ(gs_slice_set_sm_policy(dir, "MIG-nothex", &be, err, sizeof err), -EINVAL);
	/* a resize below the floor is refused too: the floor is lowered first */
	ASSERT_INT_EQ(gs_slice_resize(dir, &gpu, a.uuid, 2, 4096ull << 20, false, NULL, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "floor is 4 SMs, more than 2: lower it first"));
	f = fopen(path, "r");
	n = fread(after, 1, sizeof after - 1, f);
	after[n] = '\0';
	fclose(f);
	ASSERT_STR_EQ(before, after);
}

/* ---- kill -9 at any instant of a change ---- */

/* What a child that changes slices without pause was doing when it was
 * killed, in memory it shares with the test: the store as it was before the
 * change under way and the change, so that what the kill left can be held
 * to "the store before, or the store with the change made, whole". */
enum { OP_CREATE, OP_RESIZE, OP_DESTROY, OP_ACCESS };
struct journal {
	int phase; /* 0: choosing; 1: the change below under way; 2: it returned rc */
	int op, rc;
	char name[GS_UUID_STR + 4];
	unsigned sm, mib;
	int refuse;
	char before[32768]; /* "" : no store yet */
};

/* A slice's users follow its memory: even MiB for one user, odd for the
 * other, so that every change keeps who a slice was given to and a slice
 * open to anyone else is seen. */
#define CRASH_UID(mib) (2000u + ((mib) & 1u))

static int parse_or_empty(const char *text, struct gs_store *st, char *err, size_t errlen)
{
	memset(st, 0, sizeof *st);
	return text[0] ? gs_store_parse(text, st, err, errlen) : 0;
}

/* Changes slices at random until it is killed. */
static void churn(struct journal *j, unsigned seed)
{
	static struct gs_store st;
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/slices", dir);
	for (;;) {
		__atomic_store_n(&j->phase, 0, __ATOMIC_SEQ_CST);
		char *text;
		size_t len;
		j->before[0] = '\0';
		if (gs_file_read(path, sizeof j->before - 1, &text, &len) == 0) {
			memcpy(j->before, text, len + 1);
			free(text);
		}
		if (parse_or_empty(j->before, &st, NULL, 0))
			_exit(3); /* the test finds the store unreadable */
		struct gs_store_gpu *g = st.n_gpu ? &st.gpu[0] : NULL;
		size_t n = g ? g->layout.n_ci : 0;
		unsigned r = (unsigned)rand_r(&seed) % 100;
		j->op = !n || r < 35 ? OP_CREATE : r < 60 ? OP_RESIZE : r < 85 ? OP_DESTROY : OP_ACCESS;
		if (n) {
			const struct gs_mig_ci *ci = &g->layout.ci[(unsigned)rand_r(&seed) % n];
			gs_store_ci_uuid(g->uuid, ci, j->name);
			j->mib = gs_slice_gi_of(g, ci)->memory_mib; /* its user's parity */
		}
		j->sm = 8 * (1 + (unsigned)rand_r(&seed) % 3);
		unsigned parity = j->op == OP_CREATE ? (unsigned)rand_r(&seed) & 1 : j->mib & 1;
		j->mib = 256 * (1 + (unsigned)rand_r(&seed) % 8) + parity;
		j->refuse = rand_r(&seed) & 1;
		uint32_t user = CRASH_UID(j->mib);
		struct gs_slice_spec sp = { .sm = j->sm, .memory = (uint64_t)j->mib << 20, .guarantee = UINT64_MAX,
					    .users = &user, .n_users = 1, .refuse = j->refuse };
		__atomic_store_n(&j->phase, 1, __ATOMIC_SEQ_CST);
		int rc = j->op == OP_CREATE   ? gs_slice_create(dir, &gpu, &sp, NULL, NULL, 0)
			 : j->op == OP_RESIZE ? gs_slice_resize(dir, &gpu, j->name, j->sm, sp.memory, false, NULL, NULL, 0)
			 : j->op == OP_DESTROY ? gs_slice_destroy(dir, j->name, NULL, NULL, 0)
					       : gs_slice_set_access(dir, j->name, &user, 1, j->refuse, NULL, 0);
		j->rc = rc;
		__atomic_store_n(&j->phase, 2, __ATOMIC_SEQ_CST);
	}
}

static bool same_gi(const struct gs_mig_gi *a, const struct gs_mig_gi *b)
{
	return a->id == b->id && a->profile_id == b->profile_id && a->start == b->start && a->size == b->size &&
	       a->sm == b->sm && a->memory_mib == b->memory_mib && a->serial == b->serial &&
	       a->guarantee_mib == b->guarantee_mib && a->sm_start == b->sm_start && a->sm_placed == b->sm_placed;
}

static bool same_ci(const struct gs_mig_ci *a, const struct gs_mig_ci *b)
{
	return a->gi == b->gi && a->id == b->id && a->profile_id == b->profile_id && a->start == b->start &&
	       a->size == b->size && a->sm == b->sm && a->serial == b->serial && a->refuse_busy == b->refuse_busy &&
	       a->n_users == b->n_users && !memcmp(a->users, b->users, a->n_users * sizeof a->users[0]) &&
	       a->owner_pid == b->owner_pid && a->owner_start == b->owner_start && !strcmp(a->cgroup, b->cgroup) &&
	       a->n_default == b->n_default &&
	       !memcmp(a->default_for, b->default_for, a->n_default * sizeof a->default_for[0]);
}

static const struct gs_mig_gi *gi_in(const struct gs_store_gpu *g, const struct gs_mig_gi *gi)
{
	for (size_t i = 0; g && i < g->layout.n_gi; i++)
		if (g->layout.gi[i].id == gi->id && g->layout.gi[i].serial == gi->serial)
			return &g->layout.gi[i];
	return NULL;
}

/* How many slices of a are not in b as they are there (their GI and CIs
 * alike), the last of them in *diff. */
static unsigned differ(const struct gs_store_gpu *a, const struct gs_store_gpu *b, const struct gs_mig_gi **diff)
{
	unsigned n = 0;
	for (size_t i = 0; a && i < a->layout.n_gi; i++) {
		const struct gs_mig_gi *gi = &a->layout.gi[i], *other = gi_in(b, gi);
		bool same = other && same_gi(gi, other);
		for (size_t c = 0; same && c < a->layout.n_ci; c++) {
			const struct gs_mig_ci *ci = &a->layout.ci[c];
			const struct gs_mig_ci *oc = ci->gi == gi->id ? gs_mig_ci_find(&b->layout, ci->gi, ci->id) : NULL;
			same = ci->gi != gi->id || (oc && same_ci(ci, oc));
		}
		if (!same) {
			n++;
			*diff = gi;
		}
	}
	return n;
}

/* Whether after is before with the journal's change made, whole. */
static bool made(const struct journal *j, struct gs_store *before, struct gs_store *after)
{
	struct gs_store_gpu *b = before->n_gpu ? &before->gpu[0] : NULL, *a = after->n_gpu ? &after->gpu[0] : NULL;
	const struct gs_mig_gi *gone = NULL, *now = NULL;
	unsigned lost = differ(b, a, &gone), got = differ(a, b, &now);
	struct gs_store_gpu *tg;
	struct gs_mig_ci *target = NULL;
	if (j->op != OP_CREATE && gs_slice_resolve(before, j->name, &tg, &target, NULL, 0))
		return false;
	const struct gs_mig_gi *tgi = target ? gs_slice_gi_of(tg, target) : NULL;
	if (!lost && !got) /* the change asked for what was there */
		return j->op == OP_ACCESS || (j->op == OP_RESIZE && tgi->sm == j->sm && tgi->memory_mib == j->mib);
	const struct gs_mig_ci *ci = NULL;
	for (size_t c = 0; now && c < a->layout.n_ci; c++)
		if (a->layout.ci[c].gi == now->id)
			ci = &a->layout.ci[c];
	uint32_t user = CRASH_UID(j->mib);
	bool given = ci && ci->n_users == 1 && ci->users[0] == user;
	bool sized = ci && now->sm == j->sm && ci->sm == j->sm && now->memory_mib == j->mib &&
		     now->guarantee_mib == j->mib;
	switch (j->op) {
	case OP_CREATE:
		return lost == 0 && got == 1 && sized && given && ci->refuse_busy == (j->refuse != 0);
	case OP_DESTROY:
		return lost == 1 && got == 0 && gone == tgi;
	case OP_RESIZE:
		return lost == 1 && got == 1 && gone == tgi && now->id == tgi->id && sized && given;
	default:
		return lost == 1 && got == 1 && gone == tgi && now->id == tgi->id && given &&
		       ci->refuse_busy == (j->refuse != 0);
	}
}

static bool unchanged(struct gs_store *before, struct gs_store *after)
{
	struct gs_store_gpu *b = before->n_gpu ? &before->gpu[0] : NULL, *a = after->n_gpu ? &after->gpu[0] : NULL;
	const struct gs_mig_gi *d;
	return differ(b, a, &d) == 0 && differ(a, b, &d) == 0;
}

/* What every store must be, whatever was killed when: every slice whole,
 * given to its one user, on SMs of its own, with its ledger, whose limit
 * never exceeds the slice's (equal says the limits were settled). */
static void check_whole(const struct gs_store *st, bool settled)
{
	assert_true(st->n_gpu <= 1);
	const struct gs_store_gpu *g = st->n_gpu ? &st->gpu[0] : NULL;
	uint64_t guaranteed = 0;
	for (size_t i = 0; g && i < g->layout.n_gi; i++) {
		const struct gs_mig_gi *gi = &g->layout.gi[i];
		ASSERT_INT_EQ(gi->profile_id, GS_MIG_CUSTOM);
		assert_true(gi->sm_placed);
		ASSERT_INT_EQ(gi->sm % 8, 0);
		assert_true(gi->sm_start + gi->sm <= gpu.model.sm_count);
		ASSERT_INT_EQ(gi->guarantee_mib, gi->memory_mib);
		guaranteed += gi->guarantee_mib;
		for (size_t k = 0; k < i; k++)
			assert_false(gs_smrun_overlap(gi->sm_start, gi->sm, g->layout.gi[k].sm_start, g->layout.gi[k].sm));
		unsigned cis = 0;
		for (size_t c = 0; c < g->layout.n_ci; c++) {
			const struct gs_mig_ci *ci = &g->layout.ci[c];
			if (ci->gi != gi->id)
				continue;
			cis++;
			ASSERT_INT_EQ(ci->sm, gi->sm);
			ASSERT_INT_EQ(ci->n_users, 1);
			ASSERT_INT_EQ(ci->users[0], CRASH_UID(gi->memory_mib));
		}
		ASSERT_INT_EQ(cis, 1);
		char path[PATH_MAX];
		struct gs_ledger *l;
		gs_store_ledger_path(dir, g->uuid, gi, path, sizeof path);
		ASSERT_INT_EQ(access(path, F_OK), 0);
		ASSERT_INT_EQ(gs_ledger_open(path, 0, 0, &l), 0);
		uint64_t limit = gs_ledger_limit(l), want = (uint64_t)gi->memory_mib << 20;
		gs_ledger_close(l);
		if (settled)
			ASSERT_INT_EQ(limit, want);
		else if (limit > want)
			fail_msg("GPU instance %u: its ledger lets programs take %llu MiB, the store gives it %u MiB", gi->id,
				 (unsigned long long)(limit >> 20), gi->memory_mib);
	}
	ASSERT_INT_EQ(g ? g->layout.n_ci : 0, g ? g->layout.n_gi : 0);
	assert_true(guaranteed <= gpu.model.memory_mib);
}

/* Files in the state dir besides the store, its lock and its ledgers. */
static unsigned litter(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	unsigned n = 0;
	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.' && strcmp(e->d_name, "slices") && strcmp(e->d_name, "lock") &&
		    strncmp(e->d_name, "ledger-", 7)) {
			print_message("left behind: %s\n", e->d_name);
			n++;
		}
	if (d)
		closedir(d);
	return n;
}

static void a_kill_at_any_instant_leaves_every_slice_whole_or_not_there(void **state)
{
	(void)state;
	const char *env = getenv("GPUSHARE_STRESS_KILLS");
	unsigned kills = env && *env ? (unsigned)strtoul(env, NULL, 10) : 400, seed = (unsigned)getpid();
	struct journal *j = mmap(NULL, sizeof *j, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(j != MAP_FAILED);
	static struct gs_store before, after;
	unsigned in_flight = 0, made_whole = 0;
	print_message("%u kills, seed %u\n", kills, seed);
	for (unsigned k = 0; k < kills; k++) {
		memset(j, 0, sizeof *j);
		pid_t child = fork();
		assert_true(child >= 0);
		if (child == 0)
			churn(j, seed + k);
		/* a few changes' time: each is a lock, two reads, two fsyncs */
		usleep((unsigned)rand_r(&seed) % 3000);
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		char err[256];
		if (gs_store_load(dir, &after, err, sizeof err))
			fail_msg("after kill %u the store does not load: %s", k, err);
		check_whole(&after, false);
		int phase = __atomic_load_n(&j->phase, __ATOMIC_SEQ_CST);
		if (phase) {
			if (parse_or_empty(j->before, &before, err, sizeof err))
				fail_msg("the store before change %d does not parse: %s", j->op, err);
			bool same = unchanged(&before, &after), done = made(j, &before, &after);
			if (phase == 1 && !same && !done)
				fail_msg("kill %u during change %d of %s: the store is neither as it was nor with the change made",
					 k, j->op, j->name);
			if (phase == 2 && (j->rc ? !same : !done))
				fail_msg("change %d of %s returned %d, but the store says otherwise", j->op, j->name, j->rc);
			in_flight += phase == 1;
			made_whole += phase == 1 && done && !same;
		}
		/* the next change settles what the killed one left */
		assert_true(gs_slice_collect(dir, "") >= 0);
		assert_int_equal(gs_store_load(dir, &after, NULL, 0), 0);
		check_whole(&after, true);
		ASSERT_INT_EQ(litter(), 0);
	}
	print_message("%u kills during a change, %u of them after it was made\n", in_flight, made_whole);
	assert_true(in_flight > kills / 4);
	munmap(j, sizeof *j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(slices_get_disjoint_sms_in_whole_units, setup, teardown),
		cmocka_unit_test_setup_teardown(a_slice_made_at_given_sms_gets_them_or_is_refused_saying_which, setup,
						teardown),
		cmocka_unit_test_setup_teardown(more_than_the_gpu_is_refused_saying_what_it_has, setup, teardown),
		cmocka_unit_test_setup_teardown(only_an_over_committed_slice_that_is_not_critical_borrows_memory, setup,
						teardown),
		cmocka_unit_test_setup_teardown(a_slice_is_made_with_all_its_attributes_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(an_ambiguous_name_is_an_error_naming_both, setup, teardown),
		cmocka_unit_test_setup_teardown(sms_grow_in_place_but_never_shrink_or_move_under_a_program, setup, teardown),
		cmocka_unit_test_setup_teardown(a_slice_goes_beside_a_running_one_and_the_split_stays, setup, teardown),
		cmocka_unit_test_setup_teardown(a_slice_grows_in_place_while_a_program_runs, setup, teardown),
		cmocka_unit_test_setup_teardown(an_ephemeral_slice_goes_with_its_job, setup, teardown),
		cmocka_unit_test_setup_teardown(a_gpu_instance_takes_compute_instances_in_one_transaction, setup, teardown),
		cmocka_unit_test_setup_teardown(a_compute_instance_needs_its_gpu_instance, setup, teardown),
		cmocka_unit_test_setup_teardown(a_failed_change_changes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(an_sm_policy_is_made_with_the_slice_and_set_later, setup, teardown),
		cmocka_unit_test_setup_teardown(an_isolated_slice_neither_lends_nor_borrows, setup, teardown),
		cmocka_unit_test_setup_teardown(a_bad_sm_policy_is_refused_saying_what_would_do, setup, teardown),
		cmocka_unit_test(the_remainder_runs_on_the_sms_no_slice_holds),
		cmocka_unit_test_setup_teardown(a_kill_at_any_instant_leaves_every_slice_whole_or_not_there, setup, teardown),
	};
	return GS_RUN_ISOLATED(tests);
}
