/* server.c: a server on the simulated GPU, the process gpushare-control
 * forks for a (slice, user): it runs as the user, says on the control socket
 * that it is ready, writes its own server.log lines (as MPS's servers do)
 * through the log pipe - its start, limits, clients joining and leaving,
 * terminations, shutdown - and exits when told. When the daemon dies it
 * waits for the next one, which adopts it. The GPU work of its clients runs
 * in the clients. */
#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define SERVER_WAIT_DAEMON_S 60 /* a server waits this long for a restarted daemon */

static int server_log_fd = -1;

static void slog(const char *role, const char *fmt, ...) GS_PRINTF(2, 3);
static void slog(const char *role, const char *fmt, ...)
{
	char line[1024];
	control_log_prefix(line, sizeof line, role, getpid());
	size_t n = strlen(line);
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
	va_end(ap);
	n = m < 0 ? n : n + (size_t)m >= sizeof line - 1 ? sizeof line - 2 : n + (size_t)m;
	line[n++] = '\n';
	/* one write below PIPE_BUF: lines of several servers never interleave */
	if (server_log_fd >= 0 && write(server_log_fd, line, n) < 0) {
		/* no daemon to read it: nothing to do */
	}
}

static int server_connect(const char *pipe_dir)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof a.sun_path, "%s/control", pipe_dir);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	char line[32];
	if (connect(fd, (struct sockaddr *)&a, sizeof a) || send(fd, "server_ready\n", 13, MSG_NOSIGNAL) != 13) {
		close(fd);
		return -1;
	}
	/* the answer: "E 0" when the daemon knows us */
	size_t n = 0;
	while (n < sizeof line - 1 && recv(fd, line + n, 1, 0) == 1 && line[n] != '\n')
		n++;
	line[n] = '\0';
	if (strcmp(line, "E 0")) {
		close(fd);
		return -1;
	}
	return fd;
}

static void client_ctx(char *out, size_t len, const char *pid)
{
	snprintf(out, len, "{PID: %s, Context ID: 0}", pid);
}

/* One "S <what> [args]" line pushed by the daemon. Returns false to exit. */
static bool server_event(char *line)
{
	char *argv[4] = { 0 }, *save = NULL, c[64];
	int argc = 0;
	for (char *t = strtok_r(line, " ", &save); t && argc < 4; t = strtok_r(NULL, " ", &save))
		argv[argc++] = t;
	if (argc < 2 || strcmp(argv[0], "S"))
		return true;
	const char *what = argv[1], *a = argv[2] ? argv[2] : "", *b = argv[3] ? argv[3] : "";
	client_ctx(c, sizeof c, a);
	if (strcmp(what, "client_connected") == 0) {
		slog("Server", "Received new client request for %s", c);
		slog("Server", "Client %s connected", c);
		slog("Server", "Status of client %s is ACTIVE", c);
	} else if (strcmp(what, "client_exited") == 0) {
		slog("Server", "Client %s exiting. Number of active client contexts is %s.", c, b);
		slog("Server", "Client process %s disconnected", a);
	} else if (strcmp(what, "terminate") == 0) {
		slog("Server", "MPS server requesting client %s to exit", c);
		slog("Server", "Client termination succeeded.");
	} else if (strcmp(what, "pct") == 0) {
		slog("Server", "Active Threads Percentage set to %s", a);
	} else if (strcmp(what, "limit") == 0) {
		slog("Server", "Device pinned memory limit for device %s set to 0x%llx bytes", a, strtoull(b, NULL, 10));
	} else if (strcmp(what, "shutdown") == 0) {
		slog("Server", "Server has been notified to shutdown");
		slog("Server", "Exiting");
		return false;
	}
	return true;
}

static void run_as(uid_t uid)
{
	if (geteuid() != 0 || uid == geteuid())
		return;
	struct passwd *pw = getpwuid(uid);
	gid_t gid = pw ? pw->pw_gid : (gid_t)uid;
	if (setgroups(0, NULL) || setgid(gid) || setuid(uid)) {
		slog("Other", "Cannot run as user %ld: %s", (long)uid, strerror(errno));
		_exit(1);
	}
}

/* The room of the daemon's arguments and environment, where a server writes
 * what it is for ps (/proc/<pid>/cmdline reads it). */
static char *title_at;
static size_t title_room;

void control_proctitle_init(int argc, char **argv)
{
	extern char **environ;
	if (argc < 1 || !argv[0])
		return;
	char *end = argv[0] + strlen(argv[0]) + 1;
	for (int i = 1; i < argc && argv[i] == end; i++)
		end = argv[i] + strlen(argv[i]) + 1;
	/* the environment follows: copied to the heap, its room is the title's too */
	size_t n = 0;
	while (environ[n])
		n++;
	char **copy = calloc(n + 1, sizeof *copy);
	size_t i = 0;
	for (; copy && i < n && (copy[i] = strdup(environ[i])); i++)
		;
	if (copy && i == n) {
		for (size_t k = 0; k < n && environ[k] == end; k++)
			end = environ[k] + strlen(environ[k]) + 1;
		environ = copy;
	} else if (copy) {
		while (i)
			free(copy[--i]);
		free(copy);
	}
	title_at = argv[0];
	title_room = (size_t)(end - argv[0]);
}

/* "gpushare-server <slice> <user>" in ps, not another "gpushare-control -d". */
static void proctitle(const struct control_server *v)
{
	prctl(PR_SET_NAME, "gpushare-server");
	if (!title_at || title_room < 2)
		return;
	char user[64];
	struct passwd *pw = getpwuid(v->uid);
	snprintf(user, sizeof user, "%s", pw ? pw->pw_name : "");
	if (!pw)
		snprintf(user, sizeof user, "%ld", (long)v->uid);
	memset(title_at, 0, title_room);
	snprintf(title_at, title_room, "gpushare-server %s %s", v->slice, user);
}

void control_server_main(const struct control_state *s, const struct control_server *v)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/log", s->pipe_dir);
	/* opened while still the daemon's user: the pipe is 0600, so that no
	 * other process writes server.log lines */
	server_log_fd = open(path, O_WRONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
	proctitle(v);
	slog("Other", "Startup");
	const char *fault = getenv("GPUSHARE_FAULT");
	if (fault && strcmp(fault, "server-start") == 0) {
		slog("Other", "Fault injected: exiting before the server is ready");
		_exit(1);
	}
	run_as(v->uid);
	slog("Other", "Connecting to control daemon on socket: %s/control", s->pipe_dir);
	int fd = server_connect(s->pipe_dir);
	if (fd < 0) {
		slog("Other", "Cannot connect to the control daemon");
		_exit(1);
	}
	slog("Other", "Initializing server process");
	slog("Server", "Serving slice %s for user %ld", v->slice, (long)v->uid);
	slog("Server", "gpushare server, control protocol version %d", GS_CONTROL_PROTOCOL);
	char pct[16];
	mpsval_format_pct(v->pct, pct);
	slog("Server", "Active Threads Percentage set to %s", pct);
	for (size_t i = 0; i < v->n_limits; i++)
		slog("Server", "Device pinned memory limit for device %s set to 0x%llx bytes", v->limits[i].dev,
		     (unsigned long long)v->limits[i].bytes);
	slog("Server", "Server Priority set to %d", v->priority);
	slog("Server", "Server has started");
	char buf[GS_LINE_MAX];
	size_t len = 0;
	for (;;) {
		ssize_t n = recv(fd, buf + len, sizeof buf - len - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* the daemon went away: wait for it to come back and adopt us */
			close(fd);
			slog("Server", "Lost the control daemon; waiting up to %d s for it", SERVER_WAIT_DAEMON_S);
			fd = -1;
			for (int i = 0; i < SERVER_WAIT_DAEMON_S * 5 && fd < 0; i++) {
				usleep(200000);
				fd = server_connect(s->pipe_dir);
			}
			if (fd < 0) {
				slog("Server", "Exiting");
				_exit(0);
			}
			/* the log pipe is the one we opened before taking the user's
			 * identity (it is 0600): the next daemon takes it over */
			slog("Server", "Reconnected to the control daemon");
			len = 0;
			continue;
		}
		len += (size_t)n;
		buf[len] = '\0';
		char *start = buf, *nl;
		while ((nl = strchr(start, '\n'))) {
			*nl = '\0';
			if (!server_event(start))
				_exit(0);
			start = nl + 1;
		}
		len = (size_t)(buf + len - start);
		memmove(buf, start, len);
		if (len == sizeof buf - 1)
			len = 0; /* no line is this long: drop it */
	}
}
