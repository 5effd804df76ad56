/* test-common.c: the common layer: UUIDs, sizes, the slice store's format,
 * CUDA_VISIBLE_DEVICES and the cross-process memory ledger. */
#include "test.h"

#include "cvd.h"
#include "kubeenv.h"
#include "ledger.h"
#include "store.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void uuids_round_trip_and_reject_malformed(void **state)
{
	(void)state;
	struct gs_uuid u, v;
	char s[GS_UUID_STR];
	gs_uuid_derive(&u, "gpushare");
	gs_uuid_format(&u, s);
	ASSERT_INT_EQ(strlen(s), 36);
	ASSERT_INT_EQ(gs_uuid_parse(s, &v), 0);
	ASSERT_INT_EQ(memcmp(&u, &v, sizeof u), 0);
	ASSERT_INT_EQ(gs_uuid_parse("9E4AEB94-01C0-5173-4811-4CA60F77B3A9", &v), 0);
	const char *bad[] = { "", "9e4aeb94", "9e4aeb94-01c0-5173-4811-4ca60f77b3a", "9e4aeb94-01c0-5173-4811-4ca60f77b3a9x",
			      "9e4aeb9401c0-5173-4811-4ca60f77b3a9-", "ge4aeb94-01c0-5173-4811-4ca60f77b3a9",
			      "9e4aeb94-01c0-5173-4811_4ca60f77b3a9" };
	for (size_t i = 0; i < GS_ARRAY_LEN(bad); i++)
		ASSERT_INT_EQ(gs_uuid_parse(bad[i], &v), -EINVAL);
	struct gs_uuid w;
	gs_uuid_derive(&w, "gpusharf");
	assert_true(memcmp(&u, &w, sizeof u) != 0);
}

static void sizes_take_mps_suffixes(void **state)
{
	(void)state;
	uint64_t b;
	ASSERT_INT_EQ(gs_parse_size("2G", &b), 0);
	ASSERT_INT_EQ(b, 2ULL << 30);
	ASSERT_INT_EQ(gs_parse_size("500M", &b), 0);
	ASSERT_INT_EQ(b, 500ULL << 20);
	ASSERT_INT_EQ(gs_parse_size("1GiB", &b), 0);
	ASSERT_INT_EQ(b, 1ULL << 30);
	ASSERT_INT_EQ(gs_parse_size("4096", &b), 0);
	ASSERT_INT_EQ(b, 4096);
	ASSERT_INT_EQ(gs_parse_size("", &b), -EINVAL);
	ASSERT_INT_EQ(gs_parse_size("G", &b), -EINVAL);
	ASSERT_INT_EQ(gs_parse_size("12Q", &b), -EINVAL);
	ASSERT_INT_EQ(gs_parse_size("-1G", &b), -EINVAL);
	ASSERT_INT_EQ(gs_parse_size("99999999999999999999", &b), -ERANGE);
	ASSERT_INT_EQ(gs_parse_size("99999999999T", &b), -ERANGE);
}

#define GPU "GPU-9e4aeb94-01c0-5173-4811-4ca60f77b3a9"

static void store_round_trips(void **state)
{
	(void)state;
	static struct gs_store s, t;
	memset(&s, 0, sizeof s);
	struct gs_store_gpu *g = gs_store_gpu(&s, GPU, true);
	g->mig = true;
	g->layout.gi[g->layout.n_gi++] = (struct gs_mig_gi){ .id = 2, .profile_id = 5, .start = 0, .size = 4, .sm = 56,
							     .memory_mib = 20096, .serial = 7, .guarantee_mib = 20096 };
	g->layout.gi[g->layout.n_gi++] = (struct gs_mig_gi){ .id = 15, .profile_id = GS_MIG_CUSTOM, .sm = 10,
							     .memory_mib = 1000, .serial = 8, .guarantee_mib = 250 };
	g->layout.ci[g->layout.n_ci++] =
		(struct gs_mig_ci){ .gi = 2, .id = 0, .profile_id = 3, .start = 0, .size = 4, .sm = 56, .serial = 9 };
	g->layout.ci[g->layout.n_ci++] = (struct gs_mig_ci){ .gi = 15, .sm = 10, .serial = 8, .refuse_busy = true,
							     .n_users = 2, .users = { 1000, 65534 } };
	g->layout.next_serial = 10;
	char *text;
	ASSERT_INT_EQ(gs_store_format(&s, &text, NULL), 0);
	char err[128];
	ASSERT_INT_EQ(gs_store_parse(text, &t, err, sizeof err), 0);
	char *again;
	ASSERT_INT_EQ(gs_store_format(&t, &again, NULL), 0);
	ASSERT_STR_EQ(text, again);
	free(text);
	free(again);
	struct gs_store_gpu *tg = gs_store_gpu(&t, GPU, false);
	assert_non_null(tg);
	ASSERT_INT_EQ(tg->layout.gi[1].profile_id, GS_MIG_CUSTOM);
	/* a guarantee below the limit is written, a whole one is the default */
	ASSERT_INT_EQ(tg->layout.gi[0].guarantee_mib, 20096);
	ASSERT_INT_EQ(tg->layout.gi[1].guarantee_mib, 250);
	ASSERT_INT_EQ(tg->layout.next_serial, 10);
	/* who may join: root always, the listed users, nobody else */
	ASSERT_INT_EQ(tg->layout.ci[0].n_users, 0);
	assert_true(gs_store_ci_open_to(&tg->layout.ci[0], 4242));
	assert_true(tg->layout.ci[1].refuse_busy);
	assert_true(gs_store_ci_open_to(&tg->layout.ci[1], 0));
	assert_true(gs_store_ci_open_to(&tg->layout.ci[1], 65534));
	assert_false(gs_store_ci_open_to(&tg->layout.ci[1], 1001));
}

static void store_rejects_malformed_files(void **state)
{
	(void)state;
	static struct gs_store s;
	char err[128];
	/* a store cut short or corrupt is -EBADMSG (test-store.c); these are
	 * malformed: not a store, or a bad record */
	const char *bad[] = {
		"x",
		"gpushare-store 3\n",
		"gpushare-store 1\ngpu GPU-zz mig 1\n",
		"gpushare-store 1\ngpu " GPU " mig 2\n",
		"gpushare-store 1\ngpu " GPU " mig 1\ngpu " GPU " mig 0\n",
		"gpushare-store 1\nci " GPU " 2 0 3 0 4 56 1\n",
		"gpushare-store 1\ngpu " GPU " mig 1\nci " GPU " 2 0 3 0 4 56 1\n",
		"gpushare-store 1\ngpu " GPU " mig 1\ngi " GPU " 2 5 0 4 56 20096\n",
		"gpushare-store 1\ngpu " GPU " mig 1\ngi " GPU " 2 5 6 4 56 20096 1\n",
		/* a guarantee above the limit */
		"gpushare-store 1\ngpu " GPU " mig 1\ngi " GPU " 2 5 0 4 56 20096 1 20097\n",
		/* access of a compute instance that is not there, a bad policy, a bad list */
		"gpushare-store 1\ngpu " GPU " mig 1\naccess " GPU " 2 0 queue *\n",
		"gpushare-store 1\ngpu " GPU " mig 1\ngi " GPU " 2 5 0 4 56 20096 1\nci " GPU " 2 0 3 0 4 56 1\n"
		"access " GPU " 2 0 wait *\n",
		"gpushare-store 1\ngpu " GPU " mig 1\ngi " GPU " 2 5 0 4 56 20096 1\nci " GPU " 2 0 3 0 4 56 1\n"
		"access " GPU " 2 0 queue 1,,x\n",
		"gpushare-store 1\ngpu " GPU " mig 1\ngi " GPU " 2 5 0 4 56 20096 1\nci " GPU " 2 0 3 0 4 56 1\n"
		"access " GPU " 2 0 queue 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17\n",
		"gpushare-store 1\ngpu " GPU " mig 1\ngi " GPU " 2 5 0 4 56 20096 1\ngi " GPU " 2 5 0 4 56 20096 1\n",
		"gpushare-store 1\ngpu " GPU " mig 1\ngi " GPU " 2 5 0 4 56 -1 1\n",
		"gpushare-store 1\nbogus\n",
	};
	for (size_t i = 0; i < GS_ARRAY_LEN(bad); i++) {
		if (gs_store_parse(bad[i], &s, err, sizeof err) != -EINVAL)
			fail_msg("accepted malformed store %zu: %s", i, bad[i]);
		ASSERT_INT_EQ(s.n_gpu, 0); /* nothing half-parsed is left behind */
	}
}

static void cvd_parses_every_form(void **state)
{
	(void)state;
	struct gs_cvd_entry e[8];
	size_t n;
	char err[128];
	ASSERT_INT_EQ(gs_cvd_parse("0, 1,GPU-9E4A,MIG-8970491e-16e0-5140-9f8f-d561baa3c186,MIG-" GPU "/3/1", e, 8, &n,
				   err, sizeof err), 0);
	ASSERT_INT_EQ(n, 5);
	ASSERT_INT_EQ(e[1].kind, GS_CVD_INDEX);
	ASSERT_INT_EQ(e[1].index, 1);
	ASSERT_INT_EQ(e[2].kind, GS_CVD_GPU_UUID);
	ASSERT_STR_EQ(e[2].uuid, "9e4a");
	ASSERT_INT_EQ(e[3].kind, GS_CVD_MIG_UUID);
	ASSERT_INT_EQ(e[4].kind, GS_CVD_MIG_GPU);
	ASSERT_INT_EQ(e[4].gi, 3);
	ASSERT_INT_EQ(e[4].ci, 1);
	/* CUDA stops at the first invalid entry; gpushare says which */
	ASSERT_INT_EQ(gs_cvd_parse("0,x,1", e, 8, &n, err, sizeof err), -EINVAL);
	ASSERT_INT_EQ(n, 1);
	assert_non_null(strstr(err, "\"x\""));
	ASSERT_INT_EQ(gs_cvd_parse("0,", e, 8, &n, err, sizeof err), -EINVAL);
	ASSERT_INT_EQ(gs_cvd_parse("MIG-GPU-" GPU "/3", e, 8, &n, err, sizeof err), -EINVAL);
	ASSERT_INT_EQ(n, 0);
	ASSERT_INT_EQ(gs_cvd_parse("", e, 8, &n, err, sizeof err), 0);
	ASSERT_INT_EQ(n, 0);
}

static char *ledger_path(void)
{
	static char path[64];
	snprintf(path, sizeof path, "/tmp/gs-test-ledger-%ld", (long)getpid());
	unlink(path);
	return path;
}

static void ledger_refuses_over_limit_and_changes_nothing(void **state)
{
	(void)state;
	struct gs_ledger *l;
	char *path = ledger_path();
	ASSERT_INT_EQ(gs_ledger_open(path, 1000, 0600, &l), 0);
	ASSERT_INT_EQ(gs_ledger_charge(l, 600), 0);
	ASSERT_INT_EQ(gs_ledger_charge(l, 401), -ENOMEM);
	ASSERT_INT_EQ(gs_ledger_used(l), 600);
	ASSERT_INT_EQ(gs_ledger_charge(l, 400), 0);
	ASSERT_INT_EQ(gs_ledger_used(l), 1000);
	gs_ledger_uncharge(l, 1000);
	ASSERT_INT_EQ(gs_ledger_used(l), 0);
	ASSERT_INT_EQ(gs_ledger_charge(l, UINT64_MAX), -ENOMEM);
	gs_ledger_close(l);
	unlink(path);
}

/* Part of a process's charge out (what the interposer's swap moved), the
 * rest kept; never more than it holds; put back whole. */
static void ledger_takes_out_part_of_a_process(void **state)
{
	(void)state;
	struct gs_ledger *l;
	char *path = ledger_path();
	uint64_t got;
	ASSERT_INT_EQ(gs_ledger_open(path, 1000, 0600, &l), 0);
	ASSERT_INT_EQ(gs_ledger_charge(l, 600), 0);
	ASSERT_INT_EQ(gs_ledger_take_part(l, getpid(), 0, 450, &got), 0);
	ASSERT_INT_EQ(got, 450);
	ASSERT_INT_EQ(gs_ledger_used(l), 150);
	ASSERT_INT_EQ(gs_ledger_take_part(l, getpid(), 0, 9999, &got), 0);
	ASSERT_INT_EQ(got, 150);
	ASSERT_INT_EQ(gs_ledger_used(l), 0);
	ASSERT_INT_EQ(gs_ledger_put_back(l, getpid(), 0, 600), 0);
	ASSERT_INT_EQ(gs_ledger_used(l), 600);
	ASSERT_INT_EQ(gs_ledger_take_part(l, 999999, 0, 100, &got), 0); /* nobody's slot: nothing */
	ASSERT_INT_EQ(got, 0);
	gs_ledger_close(l);
	unlink(path);
}

static void ledger_reclaims_a_sigkilled_process(void **state)
{
	(void)state;
	struct gs_ledger *l;
	char *path = ledger_path();
	ASSERT_INT_EQ(gs_ledger_open(path, 1 << 20, 0600, &l), 0);
	int fds[2];
	ASSERT_INT_EQ(pipe(fds), 0);
	pid_t pid = fork();
	if (pid == 0) {
		struct gs_ledger *c;
		if (gs_ledger_open(path, 0, 0, &c) || gs_ledger_charge(c, 700000))
			_exit(1);
		if (write(fds[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	char x;
	ASSERT_INT_EQ(read(fds[0], &x, 1), 1);
	ASSERT_INT_EQ(gs_ledger_used(l), 700000);
	ASSERT_INT_EQ(gs_ledger_charge(l, 400000), -ENOMEM); /* the child is alive: no reclaim */
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	/* the next charge that needs room reclaims the dead child's share */
	ASSERT_INT_EQ(gs_ledger_charge(l, 400000), 0);
	ASSERT_INT_EQ(gs_ledger_used(l), 400000);
	struct gs_ledger_usage u[4];
	ASSERT_INT_EQ(gs_ledger_usage(l, u, 4), 1);
	ASSERT_INT_EQ(u[0].pid, getpid());
	close(fds[0]);
	close(fds[1]);
	gs_ledger_close(l);
	unlink(path);
}

static void ledger_loses_no_update_under_concurrency(void **state)
{
	(void)state;
	struct gs_ledger *l;
	char *path = ledger_path();
	ASSERT_INT_EQ(gs_ledger_open(path, UINT64_MAX / 2, 0600, &l), 0);
	enum { PROCS = 8, ROUNDS = 20000 };
	pid_t kids[PROCS];
	for (int p = 0; p < PROCS; p++) {
		if ((kids[p] = fork()) == 0) {
			struct gs_ledger *c;
			if (gs_ledger_open(path, 0, 0, &c))
				_exit(1);
			for (int i = 0; i < ROUNDS; i++) {
				if (gs_ledger_charge(c, 3))
					_exit(1);
				gs_ledger_uncharge(c, 1);
			}
			/* stay alive until counted: a dead child would be reclaimed */
			pause();
			_exit(0);
		}
	}
	uint64_t want = (uint64_t)PROCS * ROUNDS * 2;
	for (int tries = 0; gs_ledger_used(l) != want && tries < 3000; tries++)
		usleep(1000);
	ASSERT_INT_EQ(gs_ledger_used(l), want);
	struct gs_ledger_usage u[PROCS + 1];
	ASSERT_INT_EQ(gs_ledger_usage(l, u, PROCS + 1), PROCS);
	for (int p = 0; p < PROCS; p++) {
		kill(kids[p], SIGKILL);
		waitpid(kids[p], NULL, 0);
	}
	ASSERT_INT_EQ(gs_ledger_reclaim(l), want);
	ASSERT_INT_EQ(gs_ledger_used(l), 0);
	gs_ledger_close(l);
	unlink(path);
}

static void crash_safe_replace_leaves_old_or_new(void **state)
{
	(void)state;
	char path[64];
	snprintf(path, sizeof path, "/tmp/gs-test-file-%ld", (long)getpid());
	ASSERT_INT_EQ(gs_file_replace(path, "old\n", 4), 0);
	pid_t pid = fork();
	if (pid == 0) {
		for (;;)
			gs_file_replace(path, "new contents\n", 13);
	}
	for (int i = 0; i < 200; i++) {
		char *d;
		size_t n;
		ASSERT_INT_EQ(gs_file_read(path, 1024, &d, &n), 0);
		assert_true(strcmp(d, "old\n") == 0 || strcmp(d, "new contents\n") == 0);
		free(d);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	char *d;
	ASSERT_INT_EQ(gs_file_read(path, 1024, &d, NULL), 0);
	assert_true(strcmp(d, "old\n") == 0 || strcmp(d, "new contents\n") == 0);
	free(d);
	unlink(path);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -f %s.tmp.*", path);
	ASSERT_INT_EQ(system(cmd), 0);
}

/* An MPS daemon runs where its pid file names a live process; its sockets,
 * which stay after it quits, say nothing; a zombie is not running. */
/* a table of NAME=VALUE strings, NULL-terminated, as the environment */
static const char *table_get(const char *name, void *arg)
{
	size_t n = strlen(name);
	for (const char *const *e = arg; *e; e++)
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

static int kube(const char *const *env, struct gs_kubeenv *k, char *err, size_t errlen)
{
	return gs_kubeenv_parse(table_get, (void *)env, k, err, errlen);
}

static void kubeenv_reads_hami_and_kai_forms(void **state)
{
	(void)state;
	struct gs_kubeenv k;
	char err[256];
	const char *hami[] = { "CUDA_DEVICE_MEMORY_LIMIT=4g", "CUDA_DEVICE_MEMORY_LIMIT_1=1024m",
			       "CUDA_DEVICE_MEMORY_LIMIT_2=1048576k", "CUDA_DEVICE_MEMORY_LIMIT_3=1073741824",
			       "CUDA_DEVICE_SM_LIMIT=50", "CUDA_DEVICE_SM_LIMIT_1=100", NULL };
	ASSERT_INT_EQ(kube(hami, &k, err, sizeof err), 0);
	ASSERT_INT_EQ(k.memory[0], 4ull << 30);
	ASSERT_INT_EQ(k.memory[1], 1ull << 30); /* the index's own value overrides the general one */
	ASSERT_INT_EQ(k.memory[2], 1ull << 30);
	ASSERT_INT_EQ(k.memory[3], 1ull << 30); /* a bare number is bytes, as HAMi-core reads it */
	ASSERT_INT_EQ(k.memory[15], 4ull << 30);
	ASSERT_INT_EQ(k.sm_percent[0], 50);
	ASSERT_INT_EQ(k.sm_percent[1], 0); /* 100: no limit */
	ASSERT_INT_EQ(gs_kubeenv_memory(&k, 1, 0), 4ull << 30);
	ASSERT_INT_EQ(gs_kubeenv_memory(&k, 2, 0), 1ull << 30); /* the narrowest of the devices seen */
	ASSERT_INT_EQ(gs_kubeenv_sm_percent(&k, 2), 50);
	const char *kai[] = { "GPU_PORTION=0.25", NULL };
	ASSERT_INT_EQ(kube(kai, &k, err, sizeof err), 0);
	ASSERT_INT_EQ(k.portion_ppm, 250000);
	ASSERT_INT_EQ(gs_kubeenv_memory(&k, 1, 40ull << 30), 10ull << 30);
	ASSERT_INT_EQ(gs_kubeenv_memory(&k, 1, 0), 0); /* the caller refuses: it needs the GPU's size */
	const char *both[] = { "GPU_PORTION=0.5", "CUDA_DEVICE_MEMORY_LIMIT_0=8g", NULL };
	ASSERT_INT_EQ(kube(both, &k, err, sizeof err), 0);
	ASSERT_INT_EQ(gs_kubeenv_memory(&k, 1, 40ull << 30), 8ull << 30); /* the smallest wins */
	const char *none[] = { "CUDA_DEVICE_SM_LIMIT=0", "CUDA_DEVICE_MEMORY_LIMIT=", NULL };
	ASSERT_INT_EQ(kube(none, &k, err, sizeof err), 0);
	assert_false(gs_kubeenv_any(&k));
	uint32_t ppm;
	ASSERT_INT_EQ(gs_kubeenv_fraction("1", &ppm), 0);
	ASSERT_INT_EQ(ppm, 1000000);
	ASSERT_INT_EQ(gs_kubeenv_fraction(".5", &ppm), 0);
	ASSERT_INT_EQ(ppm, 500000);
	ASSERT_INT_EQ(gs_kubeenv_fraction("0.0000001", &ppm), 0);
	ASSERT_INT_EQ(ppm, 1); /* a sliver, never nothing */
	ASSERT_INT_EQ(gs_kubeenv_fraction("1.000", &ppm), 0);
}

static void kubeenv_refuses_malformed_values(void **state)
{
	(void)state;
	static const char *const bad[][2] = {
		{ "CUDA_DEVICE_MEMORY_LIMIT=4x", "CUDA_DEVICE_MEMORY_LIMIT=\"4x\" is not a device memory size" },
		{ "CUDA_DEVICE_MEMORY_LIMIT=0", "CUDA_DEVICE_MEMORY_LIMIT=\"0\"" },
		{ "CUDA_DEVICE_MEMORY_LIMIT=-1g", "CUDA_DEVICE_MEMORY_LIMIT=\"-1g\"" },
		{ "CUDA_DEVICE_MEMORY_LIMIT=99999999999999999999g", "CUDA_DEVICE_MEMORY_LIMIT=" },
		{ "CUDA_DEVICE_MEMORY_LIMIT_3=lots", "CUDA_DEVICE_MEMORY_LIMIT_3=\"lots\"" },
		{ "CUDA_DEVICE_SM_LIMIT=101", "CUDA_DEVICE_SM_LIMIT=\"101\" is not a percentage" },
		{ "CUDA_DEVICE_SM_LIMIT=50%", "CUDA_DEVICE_SM_LIMIT=\"50%\"" },
		{ "CUDA_DEVICE_SM_LIMIT_0=half", "CUDA_DEVICE_SM_LIMIT_0=\"half\"" },
		{ "GPU_PORTION=0", "GPU_PORTION=\"0\" is not a portion" },
		{ "GPU_PORTION=1.5", "GPU_PORTION=\"1.5\"" },
		{ "GPU_PORTION=50%", "GPU_PORTION=\"50%\"" },
		{ "GPU_PORTION=.", "GPU_PORTION=\".\"" },
		{ "GPU_PORTION=0.1234567891", "GPU_PORTION=" },
		{ "GPU_PORTION=-0.5", "GPU_PORTION=" },
	};
	for (size_t i = 0; i < GS_ARRAY_LEN(bad); i++) {
		const char *env[] = { bad[i][0], NULL };
		struct gs_kubeenv k;
		char err[256] = "";
		assert_true(kube(env, &k, err, sizeof err) < 0);
		if (!strstr(err, bad[i][1]))
			fail_msg("%s: \"%s\" does not say \"%s\"", bad[i][0], err, bad[i][1]);
	}
}

static void mps_running_reads_the_pid_file(void **state)
{
	(void)state;
	char dir[] = "/tmp/gs-mps-XXXXXX", path[64], pid[32];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/control", dir);
	FILE *f = fopen(path, "w"); /* a stale socket's name */
	assert_non_null(f);
	fclose(f);
	assert_false(gs_mps_running(dir));
	snprintf(path, sizeof path, "%s/nvidia-cuda-mps-control.pid", dir);
	int n = snprintf(pid, sizeof pid, "%ld", (long)getpid());
	ASSERT_INT_EQ(gs_file_replace(path, pid, (size_t)n), 0);
	assert_true(gs_mps_running(dir));
	pid_t child = fork();
	if (child == 0)
		_exit(0);
	for (int i = 0; i < 100 && gs_proc_start_time(child); i++)
		usleep(10000); /* a zombie until reaped */
	n = snprintf(pid, sizeof pid, "%ld", (long)child);
	ASSERT_INT_EQ(gs_file_replace(path, pid, (size_t)n), 0);
	assert_false(gs_mps_running(dir));
	waitpid(child, NULL, 0);
	assert_false(gs_mps_running(dir));
	ASSERT_INT_EQ(gs_file_replace(path, "bogus", 5), 0);
	assert_false(gs_mps_running(dir));
	unlink(path);
	snprintf(path, sizeof path, "%s/control", dir);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(uuids_round_trip_and_reject_malformed),
		cmocka_unit_test(sizes_take_mps_suffixes),
		cmocka_unit_test(store_round_trips),
		cmocka_unit_test(store_rejects_malformed_files),
		cmocka_unit_test(cvd_parses_every_form),
		cmocka_unit_test(ledger_refuses_over_limit_and_changes_nothing),
		cmocka_unit_test(ledger_takes_out_part_of_a_process),
		cmocka_unit_test(ledger_reclaims_a_sigkilled_process),
		cmocka_unit_test(ledger_loses_no_update_under_concurrency),
		cmocka_unit_test(crash_safe_replace_leaves_old_or_new),
		cmocka_unit_test(kubeenv_reads_hami_and_kai_forms),
		cmocka_unit_test(kubeenv_refuses_malformed_values),
		cmocka_unit_test(mps_running_reads_the_pid_file),
	};
	return GS_RUN_ISOLATED(tests) ? 1 : 0;
}
