/* main.c: gpushare-control, used as nvidia-cuda-mps-control is: `-d` starts
 * the daemon in the background, `-f` in the foreground; with no option it
 * is the front end, sending each line of stdin to the daemon and printing
 * the answers. */
#include "control.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void pipe_dir(char *out, size_t len)
{
	const char *e = getenv("GPUSHARE_PIPE_DIRECTORY");
	snprintf(out, len, "%s", e && *e ? e : "/tmp/gpushare");
}

static void log_dir(char *out, size_t len)
{
	const char *e = getenv("GPUSHARE_LOG_DIRECTORY");
	if (e && *e)
		snprintf(out, len, "%s", e);
	else if (geteuid() == 0)
		snprintf(out, len, "/var/log/gpushare");
	else {
		char state[PATH_MAX - 8];
		gs_state_dir(state, sizeof state);
		snprintf(out, len, "%s/log", state);
	}
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: gpushare-control [-d | -f]\n       echo <command> | gpushare-control\n\n"
		   "  -d    start the daemon in the background\n  -f    run the daemon in the foreground\n\n"
		   "Commands:\n");
	for (size_t i = 0; i < control_n_cmds; i++)
		fprintf(f, "  %s %s\n", control_cmds[i].name, control_cmds[i].usage);
}

static int connect_daemon(const char *dir)
{
	const char *names[] = { "control_privileged", "control" };
	for (size_t i = geteuid() == 0 ? 0 : 1; i < 2; i++) {
		struct sockaddr_un a = { .sun_family = AF_UNIX };
		snprintf(a.sun_path, sizeof a.sun_path, "%s/%s", dir, names[i]);
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0)
			return fd;
		if (fd >= 0)
			close(fd);
	}
	return -1;
}

/* Sends one command and prints its answer; returns its status, or -1 when
 * the daemon went away. */
static int roundtrip(int fd, FILE *in, const char *cmd)
{
	size_t n = strlen(cmd);
	if (send(fd, cmd, n, MSG_NOSIGNAL) != (ssize_t)n || send(fd, "\n", 1, MSG_NOSIGNAL) != 1)
		return -1;
	char line[GS_LINE_MAX + 8];
	while (fgets(line, sizeof line, in)) {
		if (strncmp(line, "R ", 2) == 0)
			fputs(line + 2, stdout);
		else if (strncmp(line, "E ", 2) == 0)
			return atoi(line + 2);
	}
	return -1;
}

int main(int argc, char **argv)
{
	char dir[PATH_MAX - 64], logs[PATH_MAX - 64];
	pipe_dir(dir, sizeof dir);
	log_dir(logs, sizeof logs);
	if (argc > 1) {
		if (strcmp(argv[1], "-d") == 0 || strcmp(argv[1], "--daemon") == 0)
			return control_daemon(dir, logs, false);
		if (strcmp(argv[1], "-f") == 0 || strcmp(argv[1], "--foreground") == 0)
			return control_daemon(dir, logs, true);
		if (strcmp(argv[1], "-h") && strcmp(argv[1], "--help"))
			fprintf(stdout, "Unrecognized option\n");
		usage(stdout);
		return 0;
	}
	int fd = connect_daemon(dir);
	if (fd < 0) {
		printf("Cannot find gpushare control daemon process\n");
		return 1;
	}
	FILE *in = fdopen(dup(fd), "r");
	char *line = NULL;
	size_t cap = 0;
	int status = 0;
	/* whole lines, however long: the daemon answers what it refuses */
	while (getline(&line, &cap, stdin) >= 0) {
		line[strcspn(line, "\r\n")] = '\0';
		int rc = roundtrip(fd, in, line);
		if (rc < 0) {
			printf("Lost the connection to the gpushare control daemon\n");
			status = 1;
			break;
		}
		if (strncmp(line, "quit", 4) == 0 && (line[4] == '\0' || line[4] == ' ')) {
			/* quit returns when the daemon has gone: its connection closes */
			char rest[256];
			while (fgets(rest, sizeof rest, in))
				;
			status = rc;
			break;
		}
	}
	free(line);
	fclose(in);
	close(fd);
	return status;
}
