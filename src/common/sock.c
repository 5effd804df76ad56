/* sock.c: a UNIX socket connect with a time limit (see sock.h). */
#include "sock.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int gs_sock_connect(const char *path, int timeout_ms)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof a.sun_path)
		return -ENAMETOOLONG;
	memcpy(a.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	uint64_t end = gs_now_ns() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms) * 1000000u;
	int rc = 0;
	for (;;) {
		if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EINPROGRESS) {
			/* AF_UNIX answers EAGAIN while the listener's backlog is full:
			 * try again a little later, until the limit */
			if (timeout_ms >= 0 && gs_now_ns() >= end) {
				rc = -ETIMEDOUT;
				break;
			}
			poll(NULL, 0, 10);
			continue;
		}
		rc = errno == EISCONN ? 0 : -errno;
		break;
	}
	if (rc) {
		close(fd);
		return rc;
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK)) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

size_t gs_control_paths(char paths[GS_CONTROL_PATHS][GS_CONTROL_SOCK_MAX])
{
	static const char def[] = "/tmp/gpushare";
	const char *env = secure_getenv("GPUSHARE_PIPE_DIRECTORY");
	size_t n = 0;
	snprintf(paths[n++], GS_CONTROL_SOCK_MAX, "%s/control", def);
	if (env && *env && strcmp(env, def) &&
	    snprintf(paths[n], GS_CONTROL_SOCK_MAX, "%s/control", env) < GS_CONTROL_SOCK_MAX)
		n++;
	/* a cluster's MPS pipe directory, where gpushare-control answers as
	 * nvidia-cuda-mps-control: what its clients are given */
	const char *mps = secure_getenv("CUDA_MPS_PIPE_DIRECTORY");
	char pid[GS_CONTROL_SOCK_MAX + 32];
	mps = mps && *mps ? mps : "/tmp/nvidia-mps";
	snprintf(pid, sizeof pid, "%s/gpushare-control.pid", mps);
	if (strcmp(mps, def) && (!env || strcmp(mps, env)) && access(pid, F_OK) == 0 &&
	    snprintf(paths[n], GS_CONTROL_SOCK_MAX, "%s/control", mps) < GS_CONTROL_SOCK_MAX)
		n++;
	return n;
}

int gs_control_connect(const char *path, int timeout_ms)
{
	int fd = gs_sock_connect(path, timeout_ms);
	if (fd < 0)
		return fd;
	struct ucred cred;
	socklen_t len = sizeof cred;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) || (cred.uid != 0 && cred.uid != getuid())) {
		close(fd);
		return -EPERM;
	}
	return fd;
}
