/* exec.c: runs a helper program (NVIDIA's MPS front end) with input on its
 * stdin and its stdout captured, so the daemon reuses its logic and messages
 * instead of copying them: at once with a time limit (starting and stopping
 * NVIDIA's daemon), or started here and read by the daemon's loop (a
 * command relayed for a peer, which never blocks the loop). */
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

int control_exec_start(char *const argv[], char *const env[], const char *input, pid_t *pid)
{
	int in[2], o[2];
	if (pipe2(in, O_CLOEXEC))
		return -1;
	if (pipe2(o, O_CLOEXEC)) {
		close(in[0]);
		close(in[1]);
		return -1;
	}
	*pid = fork();
	if (*pid < 0) {
		close(in[0]), close(in[1]), close(o[0]), close(o[1]);
		return -1;
	}
	if (*pid == 0) {
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
	/* a command line fits in the pipe: this never blocks */
	if (input && write(in[1], input, strlen(input)) < 0) {
		/* it exits on EOF either way */
	}
	close(in[1]);
	fcntl(o[0], F_SETFL, O_NONBLOCK);
	return o[0];
}

int control_exec_end(pid_t pid, bool kill_it)
{
	if (kill_it)
		kill(pid, SIGKILL);
	int st;
	pid_t w;
	/* it closed its output: it is exiting; one that lingers is killed */
	for (int i = 0; (w = waitpid(pid, &st, kill_it ? 0 : WNOHANG)) == 0 && i < 200; i++)
		usleep(1000);
	if (w == 0) {
		kill(pid, SIGKILL);
		kill_it = true;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
	}
	return kill_it || w < 0 || !WIFEXITED(st) ? -1 : WEXITSTATUS(st);
}

int control_exec(char *const argv[], char *const env[], const char *input, char *out, size_t outlen, int timeout_ms)
{
	pid_t pid;
	int fd = control_exec_start(argv, env, input, &pid);
	if (fd < 0)
		return -1;
	size_t len = 0;
	uint64_t end = gs_now_ns() + (uint64_t)timeout_ms * 1000000u;
	bool late = false;
	for (;;) {
		uint64_t now = gs_now_ns();
		struct pollfd p = { fd, POLLIN, 0 };
		int ready = now >= end ? 0 : poll(&p, 1, (int)((end - now) / 1000000u) + 1);
		if (ready < 0 && errno == EINTR)
			continue; /* a child exited: the daemon's SIGCHLD */
		if (ready <= 0) {
			late = true;
			break;
		}
		char buf[4096];
		ssize_t n = read(fd, buf, sizeof buf);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			break;
		for (ssize_t i = 0; out && i < n && len + 1 < outlen; i++)
			out[len++] = buf[i];
	}
	if (out && outlen)
		out[len] = '\0';
	close(fd);
	return control_exec_end(pid, late);
}
