/* register.c: every CUDA program registers with gpushare-control, when one
 * runs, before CUDA initialises. The daemon decides where it runs (its
 * cgroup's slice, its job's, the one it asked for, its user's default, or
 * the GPU's remainder) and answers with that slice's limits and SMs and its
 * memory ledger, passed as an open file: the program can write no other.
 * It then attaches the program to the server of its (slice, user), starting
 * one, or queues it behind another user's server (the wait is here, as MPS
 * makes a queued client wait in cuInit), or refuses it (a slice not open to
 * the user, or one held by another user that refuses rather than queues).
 * The answer carries the server's limits: its active thread percentage and
 * pinned memory limit, held here on the simulated GPU and handed to NVIDIA's
 * MPS through its environment on a real one.
 *
 * The daemon is found at the default pipe directory first: a daemon there is
 * the authority whatever GPUSHARE_PIPE_DIRECTORY says; the variable names
 * another one (a user's own, a test's) only where none runs at the default.
 *
 * The connection stays open for the program's life and closes with it (a
 * SIGKILL included), so the daemon always knows who runs. A thread watches it:
 * terminate_client marks the program terminated (every later call answers
 * CUDA_ERROR_MPS_CLIENT_TERMINATED), and when the daemon dies the thread
 * registers again with the next one; the program keeps its limits meanwhile.
 * No daemon, and the program runs unregistered. */
#include "interposer.h"
#include "sock.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define ANSWER_MS 10000 /* a server starts in milliseconds; a queued client waits for good */
#define CONNECT_MS 5000 /* a daemon that does not accept (its backlog full) is not waited for longer */

struct gs__client gs__client;

#define COUNT_NS 500000000ull /* the launch count goes to the daemon at most this often */

static struct sockaddr_un daemon_addr = { .sun_family = AF_UNIX };
static int watched_fd = -1;
static const char *asked_slice = "-", *asked_gpu = "-";
static struct gs__placement placed = { .ledger_fd = -1 };
static bool got_placement;
static struct gs__placement placed_again; /* a new daemon's mask when registering again */
static int passed_fd = -1; /* a file that came with the answer */

/* A forked child is not the registered process: its copy of the
 * connection must not keep the parent registered after the parent exits. */
static void forked_child(void)
{
	int fd = __atomic_exchange_n(&watched_fd, -1, __ATOMIC_RELAXED);
	if (fd >= 0)
		close(fd);
	for (unsigned i = 1; i < gs__n_slices; i++) {
		fd = __atomic_exchange_n(&gs__slice_at(i)->conn, -1, __ATOMIC_RELAXED);
		if (fd >= 0)
			close(fd);
	}
}

static int connect_as(const char *slice, const char *gpu, long server);

/* again: a running program registering with a new daemon, which names the
 * server it runs with (0 under NVIDIA's MPS) so that it is never queued */
static int connect_daemon(bool again)
{
	return again ? connect_as(gs__slice.name, gs__slice.gpu_uuid, (long)gs__client.server)
		     : connect_as(asked_slice, asked_gpu, -1);
}

/* A registration for slice on gpu; server: the one it runs with, when it
 * registers again (-1: the first time). */
static int connect_as(const char *slice, const char *gpu, long server)
{
	bool again = server >= 0;
	int fd = gs_control_connect(daemon_addr.sun_path, CONNECT_MS);
	if (fd == -ETIMEDOUT)
		gs__log("gpushare-control (%s) did not accept the connection within %d s", daemon_addr.sun_path,
			CONNECT_MS / 1000);
	else if (fd == -EPERM && !again)
		gs__log("ignoring %s: it is run by neither root nor this program's user", daemon_addr.sun_path);
	if (fd < 0)
		return fd;
	char line[256];
	/* again: the slice it was placed in, which the daemon gives again */
	int n = snprintf(line, sizeof line, "register_client %s %s", slice, gpu);
	if (again)
		n += snprintf(line + n, sizeof line - (size_t)n, " %ld", server);
	line[n++] = '\n';
	/* a daemon that refused the connection (too many of the user's) has
	 * said why and closed it: the send fails, the answer is still there */
	if (send(fd, line, (size_t)n, MSG_NOSIGNAL) != n)
		gs__log("the registration could not be sent: reading why");
	return fd;
}

/* One byte, and the file passed with it, if any (into passed_fd). */
static ssize_t recv_byte(int fd, char *c)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct iovec iov = { c, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf };
	ssize_t got = recvmsg(fd, &m, MSG_CMSG_CLOEXEC);
	for (struct cmsghdr *h = got > 0 ? CMSG_FIRSTHDR(&m) : NULL; h; h = CMSG_NXTHDR(&m, h))
		if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS && h->cmsg_len == CMSG_LEN(sizeof(int))) {
			if (passed_fd >= 0)
				close(passed_fd);
			memcpy(&passed_fd, CMSG_DATA(h), sizeof(int));
		}
	return got;
}

/* One line of the answer into buf, without its newline: 0, -ETIMEDOUT when
 * nothing came for timeout_ms (< 0: no limit), or -1 on EOF or error. Reads
 * byte by byte: the answers are a few short lines, once per process. */
static int read_line(int fd, char *buf, size_t len, int timeout_ms)
{
	size_t n = 0;
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		int rc = poll(&p, 1, timeout_ms);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc == 0)
			return -ETIMEDOUT;
		if (rc < 0)
			return -1;
		char c;
		ssize_t got = recv_byte(fd, &c);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return -1;
		if (c == '\n') {
			buf[n] = '\0';
			return 0;
		}
		if (n + 1 < len)
			buf[n++] = c;
	}
}

/* Reads the daemon's answer to register_client into to (its placement) and
 * cl (its server's limits; NULL when registering again: the limits it had
 * stay). 0 registered, 1 refused (why in why; a connection the daemon
 * refused, too many of the user's, too), -1 no answer (-ETIMEDOUT: none in
 * time). */
static bool queued;
static int read_answer(int fd, struct gs__placement *to, struct gs__client *cl, char *why, size_t whylen)
{
	bool apply = cl != NULL;
	char line[sizeof placed.store_dir + 256];
	int timeout = ANSWER_MS, rc;
	why[0] = '\0';
	while ((rc = read_line(fd, line, sizeof line, timeout)) == 0) {
		long pid, uid;
		double pct, share;
		uint64_t bytes;
		int at = 0, fields;
		struct gs__placement pl = { .ledger_fd = -1 };
		if (sscanf(line, "R slice %95s %47s %" SCNu64 " %" SCNu64 " %u %u %u %15s %n", pl.slice, pl.gpu, &pl.memory,
			   &pl.guarantee, &pl.sm_start, &pl.sms, &pl.sm_grid, pl.how, &at) == 8 && at) {
			/* where it runs; its ledger comes with the admission */
			if (apply) {
				snprintf(pl.store_dir, sizeof pl.store_dir, "%s", line + at);
				pl.paused = to->paused; /* a pause told before the answer */
				*to = pl;
				got_placement = true;
			}
		} else if (strncmp(line, "R mask ", 7) == 0) {
			/* TPC masks: the bits enabled now, the slice's own, the idle interval */
			uint32_t m[8];
			unsigned idle;
			if (sscanf(line + 7, "%" SCNx32 " %" SCNx32 " %" SCNx32 " %" SCNx32 " %" SCNx32 " %" SCNx32 " %" SCNx32
				   " %" SCNx32 " %u", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5], &m[6], &m[7], &idle) == 9) {
				/* registering again: the new daemon's, for gs__mask_again */
				memcpy(to->mask, m, sizeof to->mask);
				memcpy(to->own, m + 4, sizeof to->own);
				to->idle_ms = idle;
				to->masked = true;
			}
		} else if (strncmp(line, "R turns ", 8) == 0) {
			/* a timeslice slice: the turn's length, whether it holds the turn now */
			unsigned ms, has;
			if (sscanf(line + 8, "%u %u", &ms, &has) == 2 && ms) {
				to->turn_ms = ms;
				to->has_turn = has;
			}
		} else if (strcmp(line, "S turn on") == 0 || strcmp(line, "S turn off") == 0) {
			/* a turn given or taken before the answer ended */
			to->has_turn = strcmp(line, "S turn on") == 0;
		} else if (strcmp(line, "S pause on") == 0 || strcmp(line, "S pause off") == 0) {
			to->paused = strcmp(line, "S pause on") == 0;
		} else if (strcmp(line, "S swap out") == 0 || strcmp(line, "S swap in") == 0) {
			/* a suspended program's resume asked of it as it registers again */
			to->swap_cmd = line[7] == 'o' ? 'o' : 'i';
		} else if (strncmp(line, "R activity ", 11) == 0) {
			/* the daemon counts busy time: activity reported, looked at every so often */
			unsigned ms;
			if (sscanf(line + 11, "%u", &ms) == 1 && ms <= 60000)
				to->activity_ms = ms;
		} else if (strcmp(line, "R swap 1") == 0) {
			if (apply)
				cl->swap = true;
		} else if (strncmp(line, "S mask ", 7) == 0) {
			/* a mask pushed before the answer ended: the newest holds */
			uint32_t m[4];
			if (to->masked && sscanf(line + 7, "%" SCNx32 " %" SCNx32 " %" SCNx32 " %" SCNx32, &m[0], &m[1], &m[2],
						 &m[3]) == 4)
				memcpy(to->mask, m, sizeof m);
		} else if (sscanf(line, "R server %ld %lf %" SCNu64, &pid, &pct, &bytes) == 3) {
			if (apply) {
				cl->server = (pid_t)pid;
				cl->pct = pct;
				cl->memory_limit = bytes;
			}
		} else if ((fields = sscanf(line, "R mps %lf %" SCNu64 " %lf", &pct, &bytes, &share)) >= 2) {
			/* an older daemon sends no share: the slice is taken as the GPU */
			if (fields == 2 || !(share > 0 && share <= 1))
				share = 1;
			if (apply) {
				cl->pct = pct;
				cl->memory_limit = bytes;
				cl->mps = true;
				cl->share = share;
			}
		} else if (sscanf(line, "R queued %ld", &uid) == 1) {
			if (!queued)
				fprintf(stderr, "gpushare: slice %s is in use by user %ld; waiting for it (queued)\n",
					to->slice, uid);
			gs__log("queued behind user %ld", uid);
			queued = true;
			timeout = -1;
		} else if (strncmp(line, "R ", 2) == 0) {
			snprintf(why, whylen, "%s", line + 2);
		} else if (strncmp(line, "E ", 2) == 0) {
			return strcmp(line, "E 0") ? 1 : 0;
		} else if (strncmp(line, "C ", 2) == 0) {
			snprintf(why, whylen, "%s", line + 2);
			return 1;
		}
	}
	return rc == -ETIMEDOUT ? -ETIMEDOUT : -1;
}

/* The percentage of a GPU of total SMs that NVIDIA's MPS turns into sms SMs:
 * it provisions whole TPCs (two SMs), rounding down, so the part is rounded
 * up to its one decimal (never a TPC more: 0.1% of a GPU is less than one). */
static double gpu_percentage(unsigned sms, unsigned total)
{
	return (double)((sms * 1000u + total - 1) / total) / 10; /* libc only: no ceil() */
}

/* NVIDIA's MPS takes a client's limits from its environment at cuInit,
 * which has not run yet: the daemon's, unless the user set a lower one. A
 * server's active thread percentage is of its slice's SMs, as MPS's is of
 * the GPU its clients see; NVIDIA's MPS is given the same SMs as its part
 * of the whole GPU. A user's own CUDA_MPS_ACTIVE_THREAD_PERCENTAGE (of the
 * GPU, as NVIDIA's) never takes more than the slice: more SMs provisioned
 * than the slice has leave its green context unmade (CUDA error 915 on the
 * H200), and the program on the whole of what MPS gave. */
static void mps_environment(void)
{
	char v[96 * GS__MAX_SLICES];
	double share = gs__client.share > 0 && gs__client.share < 1 ? gs__client.share : 1;
	/* the slice's SMs give the GPU's; the process may have fewer of them
	 * (GPUSHARE_SMS, CUDA_DEVICE_SM_LIMIT: config.c), which MPS is given
	 * as its part of the GPU, as a server's percentage is */
	unsigned slice_sms = placed.sms, sms = gs__slice.sms;
	bool fewer = slice_sms && sms && sms < slice_sms;
	unsigned total = share < 1 && slice_sms ? (unsigned)(slice_sms / share + 0.5) : 0; /* the GPU's SMs, 0: the slice is it */
	if (!total && fewer)
		total = slice_sms;
	double want = 0, ceiling = 100;
	if (total) {
		ceiling = gpu_percentage(sms, total);
		if (gs__client.pct > 0 && gs__client.pct < 100) {
			unsigned part = (unsigned)(sms * gs__client.pct / 100) & ~1u;
			want = gpu_percentage(part < 2 ? 2 : part, total);
		} else if (fewer) {
			want = ceiling;
		}
	} else if (gs__client.pct > 0 && gs__client.pct < 100) {
		want = gs__client.pct;
	}
	const char *user = secure_getenv("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE");
	if (user && *user) {
		/* the most it may have: the server's part, else the whole slice */
		double most = want ? want : ceiling;
		char *end;
		double own = strtod(user, &end);
		bool lower = *end == '\0' && own > 0 && own <= most;
		want = lower ? 0 : most; /* a lower one of the user's stays as it is */
	}
	if (want > 0) {
		snprintf(v, sizeof v, "%.1f", want);
		setenv("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE", v, 1);
	}
	/* the server's limit, or the process's own cap where it is lower
	 * (GPUSHARE_MEMORY_LIMIT, CUDA_DEVICE_MEMORY_LIMIT, GPU_PORTION:
	 * config.c), so that NVIDIA's MPS enforces it too */
	uint64_t pinned = gs__client.memory_limit;
	if (gs__slice.process_limit && (!pinned || gs__slice.process_limit < pinned))
		pinned = gs__slice.process_limit;
	if (pinned && gs__slice.gpu_uuid[0]) {
		/* whatever the user set: a user's own higher value would lift it
		 * (NVIDIA's MPS enforces it, not the ledger) */
		const char *own_limit = secure_getenv("CUDA_MPS_PINNED_DEVICE_MEM_LIMIT");
		snprintf(v, sizeof v, "%s=%" PRIu64 "M", gs__slice.gpu_uuid, pinned >> 20);
		/* a program's further slices: each GPU's own (MPS takes a list) */
		for (unsigned i = 1; i < gs__n_slices; i++) {
			const struct gs__slice *o = gs__slice_at(i);
			uint64_t p = o->server_limit;
			if (o->process_limit && (!p || o->process_limit < p))
				p = o->process_limit;
			size_t len = strlen(v);
			if (p)
				snprintf(v + len, sizeof v - len, ",%s=%" PRIu64 "M", o->gpu_uuid, p >> 20);
		}
		if (own_limit && *own_limit && strcmp(own_limit, v))
			gs__log("CUDA_MPS_PINNED_DEVICE_MEM_LIMIT=%s replaced by %s (the server's, or this process's "
				"own lower cap)", own_limit, v);
		setenv("CUDA_MPS_PINNED_DEVICE_MEM_LIMIT", v, 1);
	}
	/* gpushare-control answering as nvidia-cuda-mps-control in the pipe
	 * directory the program was given (a cluster's device plugin): NVIDIA's
	 * own daemon is the one it supervises beneath (<pipe>/nvidia-mps), and
	 * the driver must reach that one, not gpushare's socket */
	/* A program given no MPS pipe directory at all (a container started
	 * as gpushare-device-plugin's Allocate says, a program run with
	 * LD_PRELOAD alone) uses that MPS too, where it runs: else the driver
	 * looks in /tmp/nvidia-mps, finds none, and slices' programs
	 * time-slice instead of running side by side. */
	const char *given = secure_getenv("CUDA_MPS_PIPE_DIRECTORY");
	size_t dl = strlen(daemon_addr.sun_path) - strlen("/control");
	char under[sizeof daemon_addr.sun_path + 16];
	snprintf(under, sizeof under, "%.*s/nvidia-mps", (int)dl, daemon_addr.sun_path);
	if (given && strlen(given) == dl && strncmp(given, daemon_addr.sun_path, dl) == 0) {
		setenv("CUDA_MPS_PIPE_DIRECTORY", under, 1);
		gs__log("CUDA_MPS_PIPE_DIRECTORY=%s: NVIDIA's MPS under gpushare-control", under);
	} else if ((!given || !*given) && gs_mps_running(under)) {
		setenv("CUDA_MPS_PIPE_DIRECTORY", under, 1);
		gs__log("CUDA_MPS_PIPE_DIRECTORY=%s: none was given; NVIDIA's MPS under gpushare-control", under);
	}
	const char *pct = secure_getenv("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE");
	const char *mem = secure_getenv("CUDA_MPS_PINNED_DEVICE_MEM_LIMIT");
	gs__log("NVIDIA MPS limits: CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=%s CUDA_MPS_PINNED_DEVICE_MEM_LIMIT=%s",
		pct ? pct : "(none)", mem ? mem : "(none)");
}

static bool notify_on(int fd, const char *line)
{
	return fd >= 0 && send(fd, line, strlen(line), MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)strlen(line);
}

bool gs__notify(const char *line)
{
	return notify_on(__atomic_load_n(&watched_fd, __ATOMIC_RELAXED), line);
}

bool gs__connected(void)
{
	return __atomic_load_n(&watched_fd, __ATOMIC_RELAXED) >= 0;
}

/* A further slice's connection said something (pf: one per further slice):
 * terminate_client reaches the whole program; its memory is not moved for
 * a suspend (the first slice's connection takes part in masks, turns and
 * the swap). Whether one closed. */
static bool further_lines(const struct pollfd *pf)
{
	char line[256];
	for (unsigned i = 1; i < gs__n_slices; i++) {
		if (!pf[i - 1].revents)
			continue;
		int c = gs__slice_at(i)->conn;
		if (c < 0 || read_line(c, line, sizeof line, 0) == -1)
			return true;
		if (strcmp(line, "S terminate") == 0) {
			__atomic_or_fetch(&gs__wrap_flags, GS__WRAP_TERMINATED, __ATOMIC_RELEASE);
			fprintf(stderr, "gpushare: terminated by gpushare-control (terminate_client)\n");
			gs__log("terminated (slice %s): every CUDA call now fails", gs__slice_at(i)->name);
		} else if (strcmp(line, "S swap out") == 0 || strcmp(line, "S swap in") == 0) {
			static const char no[] = "swap_failed 801 a program with several slices is not moved\n";
			if (send(c, no, sizeof no - 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
				gs__log("cannot answer a swap on slice %s's connection", gs__slice_at(i)->name);
		}
	}
	return false;
}

static void close_further(void)
{
	for (unsigned i = 1; i < gs__n_slices; i++) {
		int c = __atomic_exchange_n(&gs__slice_at(i)->conn, -1, __ATOMIC_RELAXED);
		if (c >= 0)
			close(c);
	}
}

/* Registered again with a new daemon: the further slices too, each as it
 * was placed. 0, or 1 refused (why). */
static int again_further(char *why, size_t whylen)
{
	for (unsigned i = 1; i < gs__n_slices; i++) {
		struct gs__slice *o = gs__slice_at(i);
		struct gs__placement scratch = { .ledger_fd = -1 };
		int c = connect_as(o->name, o->gpu_uuid, o->server);
		int rc = c < 0 ? -1 : read_answer(c, &scratch, NULL, why, whylen);
		if (passed_fd >= 0) {
			close(passed_fd);
			passed_fd = -1;
		}
		if (rc) {
			if (c >= 0)
				close(c);
			if (rc < 0)
				snprintf(why, whylen, "no answer for slice %s", o->name);
			return rc < 0 ? -1 : 1;
		}
		__atomic_store_n(&o->conn, c, __ATOMIC_RELAXED);
		notify_on(c, "sm_busy\n"); /* green contexts: its SMs are never lent */
	}
	return 0;
}

/* "S slice <slice> <GPU-uuid> <memory> <guarantee> <first SM> <SMs> <grid>
 * <masked> <mask words> <own words>", its ledger passed with it:
 * gpushare-control's migrate moved the program (its calls held meanwhile)
 * into that slice of another GPU. Answered "slice_moved", or
 * "slice_failed <why>" (it stays where it was; a program of several slices
 * always, as the daemon refuses to move one). */
static void moved(const char *args)
{
	struct gs__placement pl = { .ledger_fd = passed_fd };
	unsigned masked = 0;
	char why[160] = "", answer[200];
	passed_fd = -1;
	if (gs__n_slices > 1) {
		snprintf(why, sizeof why, "a program with several slices is not moved");
		if (pl.ledger_fd >= 0)
			close(pl.ledger_fd);
	} else if (sscanf(args, "%95s %47s %" SCNu64 " %" SCNu64 " %u %u %u %u %" SCNx32 " %" SCNx32 " %" SCNx32
			  " %" SCNx32 " %" SCNx32 " %" SCNx32 " %" SCNx32 " %" SCNx32, pl.slice, pl.gpu, &pl.memory,
			  &pl.guarantee, &pl.sm_start, &pl.sms, &pl.sm_grid, &masked, &pl.mask[0], &pl.mask[1],
			  &pl.mask[2], &pl.mask[3], &pl.own[0], &pl.own[1], &pl.own[2], &pl.own[3]) != 16 ||
		   pl.ledger_fd < 0) {
		snprintf(why, sizeof why, "a malformed slice line, or no ledger with it");
		if (pl.ledger_fd >= 0)
			close(pl.ledger_fd);
	} else if (gs__config_moved(&gs__slice, &pl, why, sizeof why) == 0) {
		pl.masked = masked == 1;
		gs__mask_again(&pl); /* its new slice's TPCs, where masks confine it */
		gs__log("moved by gpushare-control: slice %s on %s, %u SMs from SM %u, memory limit %" PRIu64 " MiB",
			gs__slice.name, gs__slice.gpu_uuid, gs__slice.sms, gs__slice.sm_start, pl.memory >> 20);
		gs__notify("slice_moved\n");
		return;
	}
	gs__log("not moved: %s", why);
	snprintf(answer, sizeof answer, "slice_failed %s\n", why);
	gs__notify(answer);
}

/* Watches the connection: pushed events, and the daemon's death. */
static void *watch(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char line[512], why[256];
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL); /* the program's signals stay with its threads */
	uint64_t count_next = 0;
	for (;;) {
		uint64_t next = 0;
		for (;;) {
			/* while it is busy, a look at its launches every idle interval */
			int every = gs__act_watch_ms(), wait = -1;
			uint64_t now = gs_now_ns();
			if (every >= 0) {
				if (!next || next > now + (uint64_t)every * 1000000u)
					next = now + (uint64_t)every * 1000000u;
				wait = now >= next ? 0 : (int)((next - now + 999999) / 1000000);
			}
			/* and its launch count to the daemon twice a second */
			if (now >= count_next) {
				gs__count_report();
				count_next = now + COUNT_NS;
			}
			int to_count = (int)((count_next - now + 999999) / 1000000);
			if (gs__count_on && (wait < 0 || to_count < wait))
				wait = to_count;
			struct pollfd pf[2 + GS__MAX_SLICES] = { { fd, POLLIN, 0 }, { gs__act_wake_fd(), POLLIN, 0 } };
			for (unsigned i = 1; i < gs__n_slices; i++)
				pf[1 + i] = (struct pollfd){ gs__slice_at(i)->conn, POLLIN, 0 };
			int rc = poll(pf, 1 + gs__n_slices, wait);
			if (rc < 0 && errno == EINTR)
				continue;
			if (rc > 0 && further_lines(pf + 2))
				break; /* a further slice's connection closed: the daemon went */
			if (rc > 0 && !pf[0].revents && !pf[1].revents)
				continue;
			if (rc == 0) {
				if (every >= 0 && gs_now_ns() >= next) { /* not the count's wake-up */
					gs__act_tick();
					next = 0;
				}
				continue;
			}
			if (rc > 0 && pf[1].fd >= 0 && pf[1].revents) { /* busy again: look every idle interval */
				gs__act_woken();
				if (!pf[0].revents)
					continue;
			}
			if (rc < 0 || read_line(fd, line, sizeof line, -1))
				break;
			uint32_t m[4];
			if (strcmp(line, "S terminate") == 0) {
				__atomic_or_fetch(&gs__wrap_flags, GS__WRAP_TERMINATED, __ATOMIC_RELEASE);
				fprintf(stderr, "gpushare: terminated by gpushare-control (terminate_client)\n");
				gs__log("terminated: every CUDA call now fails with CUDA_ERROR_MPS_CLIENT_TERMINATED");
			} else if (sscanf(line, "S mask %" SCNx32 " %" SCNx32 " %" SCNx32 " %" SCNx32, &m[0], &m[1], &m[2],
					  &m[3]) == 4) {
				gs__mask_set(m);
			} else if (strcmp(line, "S turn on") == 0 || strcmp(line, "S turn off") == 0) {
				gs__turns_set(strcmp(line, "S turn on") == 0);
			} else if (strcmp(line, "S pause on") == 0 || strcmp(line, "S pause off") == 0) {
				gs__pause_set(strcmp(line, "S pause on") == 0);
			} else if (strcmp(line, "S swap out") == 0 || strcmp(line, "S swap in") == 0) {
				gs__swap_command(strcmp(line, "S swap out") == 0); /* its thread answers */
			} else if (strncmp(line, "S reclaimed ", 12) == 0) {
				gs__lend_answer(line); /* an owner's allocation waits for it (lend.c) */
			} else if (strncmp(line, "S slice ", 8) == 0) {
				moved(line + 8);
			}
		}
		/* no longer ours for a forked child to close: the number may be reused */
		__atomic_store_n(&watched_fd, -1, __ATOMIC_RELAXED);
		close(fd);
		for (unsigned i = 1; i < gs__n_slices; i++) {
			int c = __atomic_exchange_n(&gs__slice_at(i)->conn, -1, __ATOMIC_RELAXED);
			if (c >= 0)
				close(c);
		}
		gs__mask_lost();
		gs__turns_again(NULL); /* nobody gives the turn: the gate opens */
		gs__act_reset();
		/* the daemon went away: register with the next one, keeping our limits */
		gs__log("lost gpushare-control; registering again when it is back");
		for (;;) {
			usleep(200000);
			if ((fd = connect_daemon(true)) < 0)
				continue;
			placed_again.masked = false;
			placed_again.turn_ms = 0;
			placed_again.has_turn = false;
			placed_again.paused = false;
			placed_again.swap_cmd = 0;
			placed_again.activity_ms = 0;
			int rc = read_answer(fd, &placed_again, NULL, why, sizeof why);
			if (passed_fd >= 0) { /* it has its ledger */
				close(passed_fd);
				passed_fd = -1;
			}
			if (rc == 0 && (rc = again_further(why, sizeof why)) != 0)
				close_further();
			if (rc == 0)
				break;
			close(fd);
			fd = -1;
			if (rc == 1) {
				/* never run outside the rules: as terminate_client */
				__atomic_or_fetch(&gs__wrap_flags, GS__WRAP_TERMINATED, __ATOMIC_RELEASE);
				fprintf(stderr, "gpushare: gpushare-control refused to register this program again (%s); "
						"every CUDA call now fails\n", why);
				gs__log("gpushare-control refused to register us again: %s", why);
				return NULL;
			}
		}
		__atomic_store_n(&watched_fd, fd, __ATOMIC_RELAXED);
		gs__mask_again(&placed_again); /* the new daemon's mask and turns; it takes the program as busy */
		gs__turns_again(&placed_again);
		gs__act_reset();
		gs__act_again(placed_again.activity_ms);
		gs__log("registered again with gpushare-control");
		if (placed_again.swap_cmd) /* the gate stayed closed while no daemon was there */
			gs__swap_command(placed_again.swap_cmd == 'o');
	}
}

/* The daemon's socket: the default pipe directory's when a daemon listens
 * there, else GPUSHARE_PIPE_DIRECTORY's, else MPS's pipe directory's where
 * gpushare-control runs as nvidia-cuda-mps-control (gs_control_paths). A
 * connected fd, or -1: none runs. */
static int find_daemon(void)
{
	char paths[GS_CONTROL_PATHS][GS_CONTROL_SOCK_MAX];
	size_t n = gs_control_paths(paths);
	for (size_t i = 0; i < n; i++) {
		snprintf(daemon_addr.sun_path, sizeof daemon_addr.sun_path, "%s", paths[i]);
		int fd = connect_daemon(false);
		if (fd >= 0 || fd == -ETIMEDOUT)
			return fd;
	}
	return -1;
}

/* The registration is refused, or failed where a daemon runs: CUDA is
 * refused (never run outside the rules). */
static int refuse(const char *why)
{
	gs__slice.refused = true;
	fprintf(stderr, "gpushare: %s; CUDA is refused for this program\n", why);
	gs__log("refused by gpushare-control: %s", why);
	return 1;
}

/* The first (or only) registration: 0 placed (its connection into *fdp,
 * gs__slice filled), 1 refused, -1 no daemon. */
static int register_first(const char *asked, const char *gpu, int *fdp)
{
	asked_slice = asked;
	asked_gpu = gpu;
	int fd = find_daemon();
	if (fd == -1)
		return -1;
	char why[320];
	if (fd < 0) {
		snprintf(why, sizeof why, "gpushare-control (%s) did not accept the connection within %d s",
			 daemon_addr.sun_path, CONNECT_MS / 1000);
		return refuse(why);
	}
	int rc = read_answer(fd, &placed, &gs__client, why, sizeof why);
	while (rc < 0 && rc != -ETIMEDOUT && queued) {
		/* the daemon went away while we waited our turn: wait for the
		 * next one rather than run beside the slice's holder */
		close(fd);
		usleep(200000);
		if ((fd = connect_daemon(false)) >= 0)
			rc = read_answer(fd, &placed, &gs__client, why, sizeof why);
	}
	if (rc == 0 && (!got_placement || passed_fd < 0)) {
		snprintf(why, sizeof why, "gpushare-control (%s) did not say where this program runs, or passed no ledger "
			 "(an older daemon?)", daemon_addr.sun_path);
		rc = 1;
	}
	placed.ledger_fd = rc == 0 ? passed_fd : -1;
	if (rc && passed_fd >= 0)
		close(passed_fd); /* refused: nothing of the slice is kept */
	passed_fd = -1;
	if (rc) {
		close(fd);
		if (rc == -ETIMEDOUT)
			snprintf(why, sizeof why, "gpushare-control (%s) did not answer within %d s", daemon_addr.sun_path,
				 ANSWER_MS / 1000);
		else if (rc < 0)
			snprintf(why, sizeof why, "gpushare-control (%s) closed the connection without an answer",
				 daemon_addr.sun_path);
		return refuse(why[0] ? why : "refused by gpushare-control");
	}
	char err[256];
	if (gs__config_placed(&gs__slice, &placed, err, sizeof err)) {
		close(fd);
		return refuse(err);
	}
	gs__log("registered with gpushare-control in %s: slice %s (%s), server %ld, active threads %.1f%%, memory "
		"limit %" PRIu64 " MiB",
		daemon_addr.sun_path, gs__slice.name, placed.how, (long)gs__client.server, gs__client.pct,
		gs__client.memory_limit >> 20);
	*fdp = fd;
	return 0;
}

/* Registered: the limits handed to NVIDIA's MPS, masks and turns (one
 * slice only: a program of several runs on green contexts and takes no
 * turns), and the thread that watches the connections. */
static void start_watching(int fd)
{
	bool several = gs__n_slices > 1;
	if (gs__client.mps)
		mps_environment();
	watched_fd = fd;
	if (!several) {
		gs__mask_setup(&placed);
		gs__turns_setup(&placed); /* before the watcher: it may be told of a turn at once */
		gs__act_account(placed.activity_ms); /* after both: they say whether reports drive lending */
	} else {
		/* green contexts, which hold each slice's SMs whether it is busy
		 * or not: none of its slices' SMs are lent (and it counts as busy
		 * while registered: docs/multigpu.md) */
		for (unsigned i = 0; i < gs__n_slices; i++)
			notify_on(i ? gs__slice_at(i)->conn : fd, "sm_busy\n");
		gs__log("%u slices: SMs confined by a green context on each device; no TPC masks, no turns",
			gs__n_slices);
	}
	gs__count_setup();
	if (placed.paused)
		gs__pause_set(true);
	pthread_atfork(NULL, NULL, forked_child);
	pthread_attr_t attr;
	pthread_t t;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	if (pthread_create(&t, &attr, watch, (void *)(intptr_t)fd)) {
		gs__log("cannot start the thread that watches gpushare-control: no turns taken");
		gs__turns_again(NULL); /* nobody would open the gate */
	}
	pthread_attr_destroy(&attr);
	if (placed.swap_cmd)
		gs__swap_command(placed.swap_cmd == 'o');
}

int gs__register(const char *asked, const char *gpu)
{
	int fd, rc = register_first(asked, gpu, &fd);
	if (rc == 0)
		start_watching(fd);
	return rc;
}

/* A slice the daemon placed the program in by something else than its
 * request (its cgroup's, its job's): a program of several slices is placed
 * in each it names, or not at all. */
static int not_named(const char *asked, const struct gs__placement *pl, char *why, size_t len)
{
	if (strcmp(pl->how, "named") == 0)
		return 0;
	if (strcmp(pl->how, "cgroup") == 0 || strcmp(pl->how, "job") == 0)
		snprintf(why, len, "gpushare-control places this program in its %s's slice %s, not in %s: a program of "
			 "a job's or cgroup's slice runs in that one slice (give CUDA_VISIBLE_DEVICES one slice, or run "
			 "it outside the job)", pl->how, pl->slice, asked + (asked[0] == '?'));
	else
		snprintf(why, len, "%s is not a gpushare slice (gpushare-smi -L lists them): a program given several "
			 "slices runs in gpushare slices alone", asked + (asked[0] == '?'));
	return 1;
}

int gs__register_all(char asked[][128], size_t n)
{
	int fd, rc = register_first(asked[0], "-", &fd);
	if (rc)
		return rc;
	char why[512], err[256];
	if (not_named(asked[0], &placed, why, sizeof why)) {
		close(fd);
		return refuse(why);
	}
	for (size_t k = 1; k < n; k++) {
		struct gs__placement pl = { .ledger_fd = -1 };
		struct gs__client cl = { 0 };
		got_placement = false;
		int c = connect_as(asked[k], "-", -1);
		rc = c < 0 ? -1 : read_answer(c, &pl, &cl, why, sizeof why);
		if (rc == 0 && (!got_placement || passed_fd < 0)) {
			snprintf(why, sizeof why, "gpushare-control passed no ledger for %s", asked[k] + 1);
			rc = 1;
		}
		pl.ledger_fd = rc == 0 ? passed_fd : -1;
		if (rc && passed_fd >= 0)
			close(passed_fd);
		passed_fd = -1;
		struct gs__slice *s = gs__slice_at((unsigned)k);
		if (rc == 0 && not_named(asked[k], &pl, why, sizeof why))
			rc = 1;
		if (rc == 0 && gs__config_placed(s, &pl, err, sizeof err)) {
			snprintf(why, sizeof why, "%s", err);
			rc = 1;
		}
		if (rc) {
			char whole[640];
			snprintf(whole, sizeof whole, "slice %s of CUDA_VISIBLE_DEVICES: %s (the whole program is refused, "
				 "its other slices too)", asked[k] + 1, rc < 0 ? "gpushare-control gave no answer" : why);
			if (c >= 0)
				close(c);
			close_further();
			close(fd);
			return refuse(whole);
		}
		s->pct = cl.pct;
		s->server_limit = cl.memory_limit;
		s->server = cl.server;
		s->conn = c;
		gs__n_slices = (unsigned)k + 1;
		gs__log("registered slice %s too (GPU %s, server %ld, memory limit %" PRIu64 " MiB)", s->name, s->gpu_uuid,
			s->server, cl.memory_limit >> 20);
	}
	if (gs__config_check_slices(err, sizeof err)) {
		close_further();
		close(fd);
		return refuse(err);
	}
	gs__client.swap = false; /* its memory is not moved: nothing backs it for a swap */
	start_watching(fd);
	return 0;
}
