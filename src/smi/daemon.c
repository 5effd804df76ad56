/* daemon.c: while gpushare-control runs, gpushare-smi hands the commands that
 * change slices (-mig, -cgi, -dgi, -cci, -dci) to it, so the store has one
 * writer at a time and the daemon sees every change: the daemon runs them
 * (GPUSHARE_SMI_DIRECT set, so that they do not come back) and its answer is
 * printed with the exit status the command had. Without a daemon, or with
 * one that keeps another state dir, the command runs here. */
#include "line.h"
#include "smi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

bool smi_changes_slices(const struct smi_cmd *cmd)
{
	return cmd == &smi_cmd_mig_mode || cmd == &smi_cmd_cgi || cmd == &smi_cmd_dgi || cmd == &smi_cmd_cci ||
	       cmd == &smi_cmd_dci;
}

int smi_via_daemon(int argc, char **argv)
{
	const char *direct = getenv("GPUSHARE_SMI_DIRECT"), *dir = getenv("GPUSHARE_PIPE_DIRECTORY");
	if (direct && *direct)
		return -1;
	char line[4096], state[2048];
	if (gs_state_dir(state, sizeof state) || strpbrk(state, " \t\n"))
		return -1;
	size_t len = (size_t)snprintf(line, sizeof line, "gpushare_smi %s", state);
	for (int i = 1; i < argc; i++) {
		if (strpbrk(argv[i], " \t\n") || len + strlen(argv[i]) + 2 >= sizeof line)
			return -1; /* not one line of words: run it here */
		len += (size_t)snprintf(line + len, sizeof line - len, " %s", argv[i]);
	}
	line[len++] = '\n';
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof a.sun_path, "%s/control", dir && *dir ? dir : "/tmp/gpushare");
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof a)) {
		close(fd);
		return -1; /* no daemon */
	}
	FILE *in = fdopen(fd, "r");
	if (!in || write(fd, line, len) != (ssize_t)len) {
		if (in)
			fclose(in);
		else
			close(fd);
		return -1;
	}
	int rc = SMI_EOTHER;
	char reply[GS_LINE_MAX + 8], said[16384];
	size_t n = 0;
	said[0] = '\0';
	while (fgets(reply, sizeof reply, in)) {
		if (strncmp(reply, "R ", 2) == 0) {
			n += (size_t)snprintf(said + n, n < sizeof said ? sizeof said - n : 0, "%s", reply + 2);
		} else if (strncmp(reply, "E ", 2) == 0) {
			rc = atoi(reply + 2);
			break;
		}
	}
	if (rc == SMI_EOTHER && feof(in))
		fprintf(stderr, "Lost the connection to gpushare-control\n");
	fclose(in);
	if (rc == GS_SMI_NOT_MINE)
		return -1; /* the daemon keeps another store: this one is ours to change */
	fputs(said, stdout);
	return rc;
}
