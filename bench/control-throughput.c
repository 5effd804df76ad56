/* control-throughput.c: commands per second gpushare-control answers:
 * CLIENTS connections, each sending COMMANDS queries back to back and
 * reading every answer. Usage: control-throughput PIPE-DIR CLIENTS COMMANDS
 * With "register" for CLIENTS: COMMANDS programs registering one after the
 * other, as libgpushare.so does at CUDA init (connect, register_client,
 * the answer), and what that costs each: median and p99. */
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

static double now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int registrations(int n)
{
	double *us = calloc((size_t)n, sizeof *us);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	snprintf(a.sun_path, sizeof a.sun_path, "%s/control", dir);
	for (int i = 0; i < n; i++) {
		double t0 = now_us();
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a))
			return 1;
		const char cmd[] = "register_client -\n";
		if (write(fd, cmd, sizeof cmd - 1) != (ssize_t)(sizeof cmd - 1))
			return 1;
		FILE *in = fdopen(fd, "r");
		char line[256];
		while (fgets(line, sizeof line, in) && line[0] != 'E')
			;
		us[i] = now_us() - t0;
		if (strcmp(line, "E 0\n"))
			return 1;
		fclose(in);
	}
	double first = us[0]; /* it started the server */
	qsort(us, (size_t)n, sizeof *us, cmp_double);
	printf("registrations %d first_us %.0f median_us %.1f p99_us %.1f\n", n, first, us[n / 2], us[n * 99 / 100]);
	free(us);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 4)
		return 2;
	dir = argv[1];
	if (strcmp(argv[2], "register") == 0)
		return registrations(atoi(argv[3]) > 0 ? atoi(argv[3]) : 1);
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
