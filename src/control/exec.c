/* exec.c: runs a helper program (NVIDIA's MPS front end) with
 * input on its stdin, its stdout captured, and a time limit, so the daemon
 * reuses their logic and messages instead of copying them. */
#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int control_exec(char *const argv[], char *const env[], const char *input, char *out, size_t outlen, int timeout_ms)
{
	int in[2], o[2];
	if (pipe2(in, O_CLOEXEC))
		return -1;
	if (pipe2(o, O_CLOEXEC)) {
		close(in[0]);
		close(in[1]);
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		close(in[0]), close(in[1]), close(o[0]), close(o[1]);
		return -1;
	}
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(o[1], 1);
		dup2(o[1], 2);
		for (size_t i = 0; env && env[i]; i++)
			putenv(env[i]);
		unsetenv("LD_PRELOAD");
		execv(argv[0], argv);
		_exit(127);
	}
	close(in[0]);
	close(o[1]);
	if (input && write(in[1], input, strlen(input)) < 0) {
		/* it exits on EOF either way */
	}
	close(in[1]);
	size_t len = 0;
	uint64_t end = gs_now_ns() + (uint64_t)timeout_ms * 1000000u;
	bool late = false;
	for (;;) {
		uint64_t now = gs_now_ns();
		struct pollfd p = { o[0], POLLIN, 0 };
		int ready = now >= end ? 0 : poll(&p, 1, (int)((end - now) / 1000000u) + 1);
		if (ready < 0 && errno == EINTR)
			continue; /* a child exited: the daemon's SIGCHLD */
		if (ready <= 0) {
			late = true;
			break;
		}
		char buf[4096];
		ssize_t n = read(o[0], buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (ssize_t i = 0; out && i < n && len + 1 < outlen; i++)
			out[len++] = buf[i];
	}
	if (out && outlen)
		out[len] = '\0';
	close(o[0]);
	if (late)
		kill(pid, SIGKILL);
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return late || !WIFEXITED(st) ? -1 : WEXITSTATUS(st);
}
