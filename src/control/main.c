/* main.c: gpushare-control, used as nvidia-cuda-mps-control is: `-d` starts
 * the daemon in the background, `-f` in the foreground; with no option it
 * is the front end, sending each line of stdin to the daemon and printing
 * the answers. Installed under NVIDIA's name too (mps-compat/), it takes
 * MPS's directories. */
#include "control.h"

#include "sock.h"

#include <errno.h>
#include <poll.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Run as nvidia-cuda-mps-control (the link `make install` puts in
 * lib/gpushare/mps-compat/, for a cluster's MPS daemon set or device plugin
 * to find first on PATH), it takes MPS's directories as NVIDIA's does:
 * CUDA_MPS_PIPE_DIRECTORY and CUDA_MPS_LOG_DIRECTORY, NVIDIA's defaults
 * otherwise; gpushare's variables come next, as they do under its own name. */
static bool as_mps;

static const char *env_of(const char *mps, const char *ours)
{
	const char *e = as_mps ? getenv(mps) : NULL;
	if (!e || !*e)
		e = getenv(ours);
	return e && *e ? e : NULL;
}

static void pipe_dir(char *out, size_t len)
{
	const char *e = env_of("CUDA_MPS_PIPE_DIRECTORY", "GPUSHARE_PIPE_DIRECTORY");
	snprintf(out, len, "%s", e ? e : as_mps ? "/tmp/nvidia-mps" : "/tmp/gpushare");
}

static void log_dir(char *out, size_t len)
{
	const char *e = env_of("CUDA_MPS_LOG_DIRECTORY", "GPUSHARE_LOG_DIRECTORY");
	if (e)
		snprintf(out, len, "%s", e);
	else if (geteuid() == 0)
		snprintf(out, len, as_mps ? "/var/log/nvidia-mps" : "/var/log/gpushare");
	else {
		char state[PATH_MAX - 8];
		gs_state_dir(state, sizeof state);
		snprintf(out, len, "%s/log", state);
	}
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: gpushare-control [-d | -f]\n       echo <command> | gpushare-control\n\n"
		   "  -d, --daemon        start the daemon in the background\n"
		   "  -f, --foreground    run the daemon in the foreground\n"
		   "  -h, --help          this text\n"
		   "      --version       gpushare's version\n\n"
		   "The front end sends each line of stdin to the daemon and prints its answers;\n"
		   "it exits 1 when the daemon refused a command (why is on stderr).\n\n"
		   "Commands:\n");
	for (size_t i = 0; i < control_n_cmds; i++)
		fprintf(f, "  %s%s%s\n", control_cmds[i].name, control_cmds[i].usage[0] ? " " : "", control_cmds[i].usage);
}

/* Connects to the daemon (root: its privileged socket first): the fd, or
 * -ETIMEDOUT when it does not accept in time, another -errno when none runs. */
static int connect_daemon(const char *dir, int timeout_ms)
{
	const char *names[] = { "control_privileged", "control" };
	int fd = -ENOENT;
	for (size_t i = geteuid() == 0 ? 0 : 1; i < 2; i++) {
		char path[PATH_MAX];
		snprintf(path, sizeof path, "%s/%s", dir, names[i]);
		if ((fd = gs_sock_connect(path, timeout_ms)) >= 0 || fd == -ETIMEDOUT)
			return fd;
	}
	return fd;
}

/* The daemon's answers, line by line, each within a time limit. */
struct reader {
	int fd;
	char buf[2 * GS_LINE_MAX + 16];
	size_t len;
};

enum { LINE_EOF = -1, LINE_TIMEOUT = -2 };

/* The next line without its newline into out (a longer one cut); 0, LINE_EOF
 * or LINE_TIMEOUT when nothing came for timeout_ms (< 0: wait for ever). */
static int read_line(struct reader *rd, char *out, size_t len, int timeout_ms)
{
	for (;;) {
		char *nl = memchr(rd->buf, '\n', rd->len);
		if (nl || rd->len == sizeof rd->buf) {
			size_t n = nl ? (size_t)(nl - rd->buf) : rd->len;
			size_t keep = n < len ? n : len - 1;
			memcpy(out, rd->buf, keep);
			out[keep] = '\0';
			size_t used = nl ? n + 1 : n;
			memmove(rd->buf, rd->buf + used, rd->len - used);
			rd->len -= used;
			return 0;
		}
		struct pollfd p = { rd->fd, POLLIN, 0 };
		int rc = poll(&p, 1, timeout_ms);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc == 0)
			return LINE_TIMEOUT;
		ssize_t got = rc < 0 ? -1 : recv(rd->fd, rd->buf + rd->len, sizeof rd->buf - rd->len, 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return LINE_EOF;
		rd->len += (size_t)got;
	}
}

enum { ANSWER_LOST = -1, ANSWER_TIMEOUT = -2, ANSWER_REFUSED = -3 };

/* Sends one command and prints its answer; returns its status, or one of
 * ANSWER_*. */
static int roundtrip(struct reader *rd, const char *cmd, int timeout_ms)
{
	size_t n = strlen(cmd);
	/* a daemon that refused the connection has said why and closed it, the
	 * send failing: its "C" line is read all the same */
	bool sent = send(rd->fd, cmd, n, MSG_NOSIGNAL) == (ssize_t)n && send(rd->fd, "\n", 1, MSG_NOSIGNAL) == 1;
	char line[GS_LINE_MAX + 8];
	int rc;
	while ((rc = read_line(rd, line, sizeof line, sent ? timeout_ms : 0)) == 0) {
		if (strncmp(line, "R ", 2) == 0) {
			puts(line + 2);
		} else if (strncmp(line, "W ", 2) == 0) {
			fflush(stdout);
			fprintf(stderr, "gpushare-control: %s\n", line + 2);
		} else if (strncmp(line, "E ", 2) == 0) {
			return atoi(line + 2);
		} else if (strncmp(line, "C ", 2) == 0) {
			puts(line + 2); /* the daemon closes the connection: why */
			return ANSWER_REFUSED;
		}
	}
	return rc == LINE_TIMEOUT && sent ? ANSWER_TIMEOUT : ANSWER_LOST;
}

static bool is_quit(const char *line)
{
	return strncmp(line, "quit", 4) == 0 && (line[4] == '\0' || line[4] == ' ' || line[4] == '\t');
}

/* GPUSHARE_CONTROL_TIMEOUT: seconds the front end waits for the daemon to
 * accept it and for each answer; 0 waits for ever. */
static int answer_timeout_ms(void)
{
	const char *e = getenv("GPUSHARE_CONTROL_TIMEOUT");
	unsigned long long v;
	if (!e || !*e)
		return 30000;
	if (gs_parse_uint(e, 86400, &v)) {
		fprintf(stderr, "GPUSHARE_CONTROL_TIMEOUT=%s ignored: use whole seconds, 0 for no limit\n", e);
		return 30000;
	}
	return v ? (int)v * 1000 : -1;
}

int main(int argc, char **argv)
{
	char dir[PATH_MAX - 64], logs[PATH_MAX - 64];
	const char *base = argc > 0 ? strrchr(argv[0], '/') : NULL;
	as_mps = argc > 0 && strcmp(base ? base + 1 : argv[0], "nvidia-cuda-mps-control") == 0;
	pipe_dir(dir, sizeof dir);
	log_dir(logs, sizeof logs);
	if (argc > 1) {
		bool d = strcmp(argv[1], "-d") == 0 || strcmp(argv[1], "--daemon") == 0;
		bool f = strcmp(argv[1], "-f") == 0 || strcmp(argv[1], "--foreground") == 0;
		if (d || f) {
			control_proctitle_init(argc, argv);
			return control_daemon(dir, logs, f);
		}
		if (strcmp(argv[1], "--version") == 0) {
			printf("gpushare-control %s\n", GS_VERSION);
			return 0;
		}
		if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
			usage(stdout);
			return 0;
		}
		/* MPS's words on stdout; the usage and a status that says so */
		printf("Unrecognized option\n");
		usage(stderr);
		return 2;
	}
	int timeout_ms = answer_timeout_ms();
	char *line = NULL;
	size_t cap = 0;
	/* the first command before connecting: someone typing it at a terminal
	 * is not taken for an idle connection */
	bool have = getline(&line, &cap, stdin) >= 0;
	int fd = connect_daemon(dir, timeout_ms);
	if (fd == -ETIMEDOUT) {
		printf("The gpushare control daemon (%s/control) did not accept the connection within %d s\n", dir,
		       timeout_ms / 1000);
		free(line);
		return 1;
	}
	if (fd < 0) {
		printf("Cannot find gpushare control daemon process\n");
		free(line);
		return 1;
	}
	static struct reader rd;
	rd.fd = fd;
	int status = 0;
	/* whole lines, however long: the daemon answers what it refuses */
	for (; have; have = getline(&line, &cap, stdin) >= 0) {
		line[strcspn(line, "\r\n")] = '\0';
		bool quit = is_quit(line);
		/* quit is synchronous, as MPS's: it returns when the daemon has gone */
		int rc = roundtrip(&rd, line, quit ? -1 : timeout_ms);
		if (rc == ANSWER_TIMEOUT) {
			printf("The gpushare control daemon did not answer within %d s\n", timeout_ms / 1000);
			status = 1;
			break;
		}
		if (rc == ANSWER_REFUSED) {
			status = 1;
			break;
		}
		if (rc < 0) {
			printf("Lost the connection to the gpushare control daemon\n");
			status = 1;
			break;
		}
		if (rc > 0)
			status = 1; /* refused: a script can tell (MPS exits 0) */
		if (quit) {
			/* the daemon closes the connection when it has gone, or at once
			 * when it refused */
			char rest[GS_LINE_MAX + 8];
			while (read_line(&rd, rest, sizeof rest, -1) == 0)
				;
			if (rc > status)
				status = rc; /* the daemon's own, unless a command before was refused */
			break;
		}
	}
	free(line);
	close(fd);
	return status;
}
