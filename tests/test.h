/* test.h: cmocka plus asserts that print both values, and a runner that
 * gives every test its own process, so a crash or leaked state in one test
 * cannot hide or cause a failure in another. */
#ifndef GS_TEST_H
#define GS_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gs.h"

#define ASSERT_INT_EQ(a, b) assert_int_equal((long long)(a), (long long)(b))
#define ASSERT_STR_EQ(a, b) assert_string_equal((a), (b))

/* Points env (when unset) at the simulated libcuda.so.1 of this build:
 * build/tests/<test> -> build/lib/gpushare-sim/libcuda.so.1. 0 or -1. */
static inline int gs_test_sim_cuda(const char *env)
{
	if (getenv(env))
		return 0;
	char exe[4096], path[4200];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		return -1;
	exe[n] = '\0';
	char *slash = strrchr(exe, '/');
	if (!slash)
		return -1;
	*slash = '\0';
	snprintf(path, sizeof path, "%s/../lib/gpushare-sim/libcuda.so.1", exe);
	return setenv(env, path, 1);
}

/* Removes a test's temporary directory; returns 0 or 1 for the exit status. */
static inline int gs_test_rmdir(const char *dir)
{
	char cmd[256];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) ? 1 : 0;
}

/* How many distinct SM ids (below 256) a launch reported, and their range. */
static inline unsigned gs_test_distinct_sms(const uint32_t *ids, size_t n, unsigned *lo, unsigned *hi)
{
	unsigned char seen[256] = { 0 };
	unsigned d = 0;
	*lo = 255;
	*hi = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t id = ids[i] & 255;
		d += !seen[id];
		seen[id] = 1;
		*lo = id < *lo ? id : *lo;
		*hi = id > *hi ? id : *hi;
	}
	return d;
}

/* Runs each test in a forked child; returns the number that failed or died. */
static inline int gs_run_isolated(const char *group, const struct CMUnitTest *tests, size_t n)
{
	int failed = 0;
	for (size_t i = 0; i < n; i++) {
		fflush(stdout);
		pid_t pid = fork();
		if (pid == 0)
			_exit(_cmocka_run_group_tests(group, &tests[i], 1, NULL, NULL) ? 1 : 0);
		int status = 0;
		waitpid(pid, &status, 0);
		if (WIFSIGNALED(status))
			printf("[  CRASHED ] %s (signal %d)\n", tests[i].name, WTERMSIG(status));
		if (!WIFEXITED(status) || WEXITSTATUS(status))
			failed++;
	}
	printf("[==========] %s: %zu test(s), %d failed\n", group, n, failed);
	return failed;
}

#define GS_RUN_ISOLATED(tests) gs_run_isolated(__FILE__, tests, sizeof(tests) / sizeof((tests)[0]))

#endif
