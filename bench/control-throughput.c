/* control-throughput.c: commands per second gpushare-control answers:
 * CLIENTS connections, each sending COMMANDS queries back to back and
 * reading every answer. Usage: control-throughput PIPE-DIR CLIENTS COMMANDS */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static const char *dir;
static int commands;

static void *client(void *arg)
{
	(void)arg;
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof a.sun_path, "%s/control", dir);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a))
		return (void *)1;
	FILE *in = fdopen(fd, "r");
	const char cmd[] = "get_default_active_thread_percentage\n";
	char line[256];
	/* a window of 16 commands in flight, as a busy front end would have */
	int sent = 0, done = 0;
	while (done < commands) {
		while (sent < commands && sent - done < 16) {
			if (write(fd, cmd, sizeof cmd - 1) != (ssize_t)(sizeof cmd - 1))
				return (void *)1;
			sent++;
		}
		if (!fgets(line, sizeof line, in))
			return (void *)1;
		if (line[0] == 'E')
			done++;
	}
	fclose(in);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 4)
		return 2;
	dir = argv[1];
	int clients = atoi(argv[2]);
	commands = atoi(argv[3]);
	pthread_t t[256];
	if (clients < 1 || clients > 256 || commands < 1)
		return 2;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < clients; i++)
		pthread_create(&t[i], NULL, client, NULL);
	int bad = 0;
	for (int i = 0; i < clients; i++) {
		void *r;
		pthread_join(t[i], &r);
		bad += r != NULL;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("clients %d commands %d seconds %.3f commands_per_s %.0f failed_clients %d\n", clients,
	       clients * commands, s, clients * commands / s, bad);
	return bad ? 1 : 0;
}
