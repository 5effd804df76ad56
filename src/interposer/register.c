/* register.c: a program in a slice says hello to gpushare-control, when one
 * runs, so that the daemon lists it (list_clients) and knows when it is gone:
 * the connection stays open for the program's life and closes with it, a
 * SIGKILL included. Nothing blocks: no daemon, a full backlog, and the
 * program simply runs unregistered. */
#include "interposer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int daemon_fd = -1;

void gs__register(void)
{
	const char *dir = getenv("GPUSHARE_PIPE_DIRECTORY");
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if (snprintf(a.sun_path, sizeof a.sun_path, "%s/control", dir && *dir ? dir : "/tmp/gpushare") >=
	    (int)sizeof a.sun_path)
		return;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return;
	if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
		close(fd);
		return;
	}
	char line[160];
	int n = snprintf(line, sizeof line, "register_client %s\n", gs__slice.name[0] ? gs__slice.name : "-");
	if (send(fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) != n) {
		close(fd);
		return;
	}
	daemon_fd = fd;
	gs__log("registered with gpushare-control in %s", a.sun_path);
}
