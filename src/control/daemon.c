/* daemon.c: the gpushare-control daemon: its pipe directory (control socket
 * for everyone, control_privileged for its owner, control_lock, log pipe, pid
 * file), one epoll loop, a line reader per connection with a maximum length,
 * peers identified with SO_PEERCRED, and output buffered per connection so
 * that a slow or stuck peer never blocks the others. */
#include "control.h"

#include "secdir.h"

#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* Limits (docs/control.md), each from its GPUSHARE_CONTROL_* variable at start. */
struct limits {
	unsigned user_conns;     /* connections of one user other than root and the daemon's */
	unsigned max_conns;      /* of everyone; the last reserve_conns for root and the daemon's user */
	unsigned reserve_conns;
	unsigned idle_s;         /* to send a first whole command (registered programs: their life) */
	size_t conn_out;         /* a peer's unread answers: dropped past it */
	size_t user_out;         /* one user's unread answers on all connections: dropped past it */
	long log_max;            /* control.log and server.log: each rotated to <name>.1 past it */
};
static struct limits lim;
static struct control_state *state;

/* Lines of one kind into control.log at most once a second: a user
 * hammering the daemon with refused connections does not fill the disk, nor
 * hides with them that its connections were dropped. */
struct rate {
	uint64_t last;
	unsigned skipped;
};
static struct rate refused_rate, dropped_rate, idle_rate;

static void log_rate(struct rate *r, const char *fmt, ...) GS_PRINTF(2, 3);
static void log_rate(struct rate *r, const char *fmt, ...)
{
	uint64_t now = gs_now_ns();
	if (r->last && now - r->last < 1000000000u) {
		r->skipped++;
		return;
	}
	r->last = now;
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (r->skipped)
		control_log(state, "%s (and %u more like it in the last second)", line, r->skipped);
	else
		control_log(state, "%s", line);
	r->skipped = 0;
}

#define FD_RESERVE 64            /* log files, the epoll fd, pipes to gpushare-smi and NVIDIA's MPS */
#define OUT_PAUSE (64u << 10)    /* no more commands read from a peer until it reads what it has */
#define LINGER_NS 2000000000ull  /* a closing peer's last answer: this long to read it */
#define READ_TURN 64             /* bytes read from a peer per turn: a few commands, not hundreds */

struct user {
	uid_t uid;
	unsigned conns;
	size_t out;
	char name[40];
};
static struct user *users;       /* one per uid that connected; never removed, so indexes stay */
static size_t n_users, cap_users;

struct conn {
	int fd;
	struct control_peer peer;
	struct gs_linebuf in;
	char *out;
	size_t out_len, out_cap;
	int pass_fd;             /* an open file that goes with out[pass_at] (SCM_RIGHTS), -1: none */
	size_t pass_at;
	size_t user;             /* its index in users */
	bool exempt;             /* root or the daemon's user: no per-user limits */
	bool commanded;          /* a whole command came: no idle timeout from then on */
	bool backlog;            /* whole commands still in in, read while it had too much unread */
	bool closing;            /* answers flushed, then it goes (by linger_ns at the latest) */
	bool doomed;             /* goes at the end of this loop turn, unread answers discarded */
	uint64_t since, linger_ns;
};

/* Helpers (NVIDIA's MPS front end) whose output answers a connection. */
#define MAX_RELAYS 16
#define RELAY_OUT_MAX (64u << 10)
struct relay {
	int fd, conn;
	pid_t pid;
	uint64_t deadline_ns;
	char *out;
	size_t len;
};
static struct relay relays[MAX_RELAYS];
static size_t n_relays;

static struct conn **conns;      /* by fd */
static int table_len, max_fd = -1;
static unsigned n_conns;
static int *doomed;              /* fds to drop at the end of the loop turn */
static int n_doomed;
static int ep = -1;

void control_each_client(control_client_fn fn, void *ctx)
{
	for (int fd = 0; fd <= max_fd; fd++)
		if (conns[fd] && conns[fd]->peer.client && !conns[fd]->closing && !conns[fd]->doomed)
			fn(ctx, &conns[fd]->peer);
}

static struct user *user_of(uid_t uid)
{
	for (size_t i = 0; i < n_users; i++)
		if (users[i].uid == uid)
			return &users[i];
	if (n_users == cap_users) {
		size_t cap = cap_users ? cap_users * 2 : 16;
		struct user *nu = realloc(users, cap * sizeof *nu);
		if (!nu)
			return NULL;
		users = nu;
		cap_users = cap;
	}
	struct user *u = &users[n_users++];
	*u = (struct user){ .uid = uid };
	struct passwd *pw = getpwuid(uid);
	if (pw)
		snprintf(u->name, sizeof u->name, "%s", pw->pw_name);
	else
		snprintf(u->name, sizeof u->name, "%ld", (long)uid);
	return u;
}

static void queue_out(struct conn *c, const char *data, size_t n);
static void flush_out(struct conn *c);

/* Its unread answers are dropped and it goes at the end of the loop turn
 * (never in the middle of a walk over the connections). */
static void doom(struct conn *c)
{
	if (c->doomed)
		return;
	users[c->user].out -= c->out_len;
	c->out_len = 0;
	c->doomed = true;
	doomed[n_doomed++] = c->fd;
}

static void close_later(struct conn *c)
{
	if (!c->closing)
		c->linger_ns = gs_now_ns() + LINGER_NS;
	c->closing = true;
}

static void watch(struct conn *c)
{
	uint32_t ev = c->out_len ? EPOLLOUT : 0;
	if (!c->closing && c->out_len < OUT_PAUSE)
		ev |= EPOLLIN | EPOLLRDHUP;
	struct epoll_event mod = { .events = ev, .data.fd = c->fd };
	epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &mod);
}

void control_send(int conn, const char *text)
{
	struct conn *c = conn >= 0 && conn <= max_fd ? conns[conn] : NULL;
	if (!c || c->closing || c->doomed)
		return;
	queue_out(c, text, strlen(text));
	flush_out(c);
	if (!c->doomed)
		watch(c);
}

int control_relay(int conn, int fd, pid_t pid, int timeout_ms)
{
	if (n_relays == MAX_RELAYS)
		return -1; /* the caller answers "no answer" */
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev))
		return -1;
	relays[n_relays++] = (struct relay){ fd, conn, pid, gs_now_ns() + (uint64_t)timeout_ms * 1000000u, NULL, 0 };
	return 0;
}

/* The helper's output as the answer: its lines (blank ones kept: device_query
 * separates its blocks so), then its end. */
static void relay_done(struct control_state *s, size_t i, bool late)
{
	struct relay *x = &relays[i];
	epoll_ctl(ep, EPOLL_CTL_DEL, x->fd, NULL);
	close(x->fd);
	int rc = control_exec_end(x->pid, late);
	struct control_reply r = { .pass_fd = -1 };
	if (rc < 0) {
		control_reply_line(&r, "NVIDIA MPS gave no answer");
	} else {
		for (size_t at = 0; at < x->len;) {
			char *nl = memchr(x->out + at, '\n', x->len - at);
			size_t n = nl ? (size_t)(nl - (x->out + at)) : x->len - at;
			control_reply_line(&r, "%.*s", (int)n, x->out + at);
			control_log(s, "%.*s", (int)n, x->out + at);
			at += n + 1;
		}
	}
	char end[16];
	snprintf(end, sizeof end, "E %d\n", rc < 0);
	if (r.len) {
		char *text = realloc(r.buf, r.len + 1);
		if (text) {
			text[r.len] = '\0';
			control_send(x->conn, text);
			r.buf = text;
		}
	}
	control_send(x->conn, end);
	free(r.buf);
	free(x->out);
	relays[i] = relays[--n_relays];
}

static bool relay_readable(struct control_state *s, int fd)
{
	for (size_t i = 0; i < n_relays; i++) {
		struct relay *x = &relays[i];
		if (x->fd != fd)
			continue;
		char buf[4096];
		ssize_t n;
		while ((n = read(fd, buf, sizeof buf)) > 0)
			if (x->len + (size_t)n <= RELAY_OUT_MAX) {
				char *o = realloc(x->out, x->len + (size_t)n);
				if (o) {
					memcpy(o + x->len, buf, (size_t)n);
					x->out = o;
					x->len += (size_t)n;
				}
			}
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			relay_done(s, i, false);
		return true;
	}
	return false;
}

static void relays_tick(struct control_state *s)
{
	uint64_t now = gs_now_ns();
	for (size_t i = 0; i < n_relays;)
		if (now > relays[i].deadline_ns)
			relay_done(s, i, true); /* the last one moved here: look at i again */
		else
			i++;
}

void control_send_fd(int conn, const char *text, int fd)
{
	struct conn *c = conn >= 0 && conn <= max_fd ? conns[conn] : NULL;
	if (!c || c->closing || c->doomed || c->pass_fd >= 0) {
		close(fd);
		control_send(conn, text);
		return;
	}
	c->pass_fd = fd;
	c->pass_at = c->out_len;
	control_send(conn, text);
}

/* The socket's mode comes from the umask at bind: never a chmod on its path. */
static int listen_on(const char *path, unsigned mode)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof a.sun_path)
		return -ENAMETOOLONG;
	snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(path); /* a stale socket, or anything else in its place */
	mode_t old = umask(~mode & 0777);
	int rc = bind(fd, (struct sockaddr *)&a, sizeof a);
	umask(old);
	if (rc || listen(fd, 512)) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

static void queue_out(struct conn *c, const char *data, size_t n)
{
	if (n == 0 || c->doomed)
		return;
	struct user *u = &users[c->user];
	/* one answer is always taken whole (a listing of many clients may be
	 * long); unread answers past the limits are the peer's loss */
	if ((c->out_len && c->out_len + n > lim.conn_out) || (!c->exempt && u->out + n > lim.user_out)) {
		log_rate(&dropped_rate, "Dropping a connection of user %s (pid %ld): %zu bytes of answers unread "
			"(limits %zu per connection, %zu per user)", u->name, (long)c->peer.pid, c->out_len + n,
			lim.conn_out, lim.user_out);
		doom(c);
		return;
	}
	if (c->out_len + n > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 1024;
		while (cap < c->out_len + n)
			cap *= 2;
		char *nb = realloc(c->out, cap);
		if (!nb) {
			doom(c);
			return;
		}
		c->out = nb;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, data, n);
	c->out_len += n;
	u->out += n;
}

/* Sends the first n bytes of out, with the file to pass when it goes with
 * the first of them. */
static ssize_t send_out(struct conn *c, size_t n)
{
	if (c->pass_fd < 0 || c->pass_at > 0)
		return send(c->fd, c->out, n, MSG_NOSIGNAL | MSG_DONTWAIT);
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int))];
	} u = { 0 };
	struct iovec iov = { c->out, n };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf };
	struct cmsghdr *h = CMSG_FIRSTHDR(&m);
	h->cmsg_level = SOL_SOCKET;
	h->cmsg_type = SCM_RIGHTS;
	h->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(h), &c->pass_fd, sizeof(int));
	ssize_t w = sendmsg(c->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (w > 0) {
		close(c->pass_fd);
		c->pass_fd = -1;
	}
	return w;
}

static void flush_out(struct conn *c)
{
	while (c->out_len && !c->doomed) {
		/* what comes before the file to pass goes in sends of its own */
		size_t n = c->pass_fd >= 0 && c->pass_at > 0 && c->pass_at < c->out_len ? c->pass_at : c->out_len;
		ssize_t w = send_out(c, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				doom(c);
			return;
		}
		if (c->pass_fd >= 0)
			c->pass_at -= (size_t)w;
		memmove(c->out, c->out + w, c->out_len - (size_t)w);
		c->out_len -= (size_t)w;
		users[c->user].out -= (size_t)w;
	}
	if (!c->out_len && c->out_cap > (64u << 10)) {
		/* a long listing is not kept for the connection's life */
		free(c->out);
		c->out = NULL;
		c->out_cap = 0;
	}
}

static void answer(struct control_state *s, struct conn *c, char *line)
{
	struct control_reply r = { .pass_fd = -1 };
	/* quit refused (not root, bad arguments): its asker is not left waiting
	 * for the daemon to go; the connection closes after the answer */
	bool quit = strncmp(line, "quit", 4) == 0 && (line[4] == '\0' || line[4] == ' ' || line[4] == '\t');
	/* a program's busy and idle reports come at every transition, its
	 * launch count twice a second: not logged, or control.log would fill
	 * with them, nor counted */
	bool report = !strcmp(line, "sm_busy") || !strcmp(line, "sm_idle") || !strncmp(line, "sm_idle ", 8) ||
		      !strcmp(line, "gpu_busy") || !strncmp(line, "gpu_idle ", 9) || !strncmp(line, "launches ", 9);
	if (!report)
		control_log(s, "Cmd:%s", line);
	control_dispatch(s, &c->peer, line, &r);
	if (!report) {
		s->counters.commands++;
		s->counters.commands_refused += !r.deferred && r.status;
	}
	/* the reply's lines into control.log, as MPS logs them, where the
	 * command changed something or was refused: not every listing */
	for (size_t i = 0; (r.logged || r.status) && i < r.len;) {
		char *nl = memchr(r.buf + i, '\n', r.len - i);
		control_log(s, "%.*s", (int)(nl - (r.buf + i) - 2), r.buf + i + 2);
		i = (size_t)(nl - r.buf) + 1;
	}
	if (r.pass_fd >= 0 && (c->pass_fd >= 0 || !r.len || (!r.deferred && r.status))) {
		close(r.pass_fd); /* one file at a time, and only with an answer that is no refusal */
		r.pass_fd = -1;
	}
	if (r.pass_fd >= 0) {
		c->pass_fd = r.pass_fd;
		c->pass_at = c->out_len;
	}
	queue_out(c, r.buf ? r.buf : "", r.len);
	if (!r.deferred) {
		char end[32];
		int n = snprintf(end, sizeof end, "E %d\n", r.status);
		queue_out(c, end, (size_t)n);
		if (quit)
			close_later(c);
	}
	free(r.buf);
}

/* The whole commands in c's buffer (got: bytes just read into it), until it
 * has too much unread: the rest waits in the buffer, more in the kernel's. */
static void run_lines(struct control_state *s, struct conn *c, size_t got)
{
	char *line;
	int rc;
	c->backlog = false;
	do {
		rc = gs_linebuf_next(&c->in, got, &line);
		got = 0;
		if (rc == GS_LINE_NEED_MORE)
			return;
		c->commanded = true;
		if (rc == GS_LINE_OK) {
			answer(s, c, line);
		} else {
			const char *why = rc == -E2BIG ? "R Command too long\nE 1\n" : "R Command holds binary data\nE 1\n";
			control_log(s, "%s", rc == -E2BIG ? "Command too long" : "Command holds binary data");
			queue_out(c, why, strlen(why));
		}
	} while (!c->closing && !c->doomed && c->out_len < OUT_PAUSE);
	c->backlog = !c->closing && !c->doomed;
}

/* One read of at most READ_TURN bytes per turn of the loop: a peer sending
 * without pause does not keep the daemon from the others. A whole line
 * buffer's worth (4 KiB: some 300 short commands, each logged) per peer and
 * turn made a thousand flooding peers hold root's command up for seconds. */
static void on_readable(struct control_state *s, struct conn *c)
{
	if (c->backlog) {
		run_lines(s, c, 0);
		if (c->backlog || c->closing || c->doomed)
			return;
	}
	size_t room = gs_linebuf_room(&c->in);
	if (room > READ_TURN)
		room = READ_TURN;
	ssize_t n = room ? recv(c->fd, c->in.buf + c->in.len, room, MSG_DONTWAIT) : 0;
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		close_later(c); /* it has gone, or stopped sending: its answers, then it goes */
		return;
	}
	run_lines(s, c, (size_t)n);
}

/* A connection refused at once: one line saying why, and closed. */
static void refuse(int fd, const char *fmt, ...) GS_PRINTF(2, 3);
static void refuse(int fd, const char *fmt, ...)
{
	char line[256] = "C ";
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line + 2, sizeof line - 3, fmt, ap);
	va_end(ap);
	if (send(fd, line, strlen(line), MSG_NOSIGNAL | MSG_DONTWAIT) < 0 || send(fd, "\n", 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
		/* it has gone already */
	}
	close(fd);
	state->counters.connections_refused++;
	log_rate(&refused_rate, "Refused a connection: %s", line + 2);
}

static int spare_fd = -1; /* closed to accept-and-close when the fds run out */

static int accept_peer(int lfd, bool privileged, struct control_state *s)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		int rc = -errno;
		if ((rc == -EMFILE || rc == -ENFILE) && spare_fd >= 0) {
			/* no fd left: take the peer off the backlog so the listening
			 * socket does not stay readable for ever, and say no */
			close(spare_fd);
			fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0)
				refuse(fd, "The gpushare control daemon has no file descriptor left");
			spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		}
		return rc;
	}
	struct ucred cred;
	socklen_t len = sizeof cred;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len)) {
		close(fd);
		return 0;
	}
	struct user *u = user_of(cred.uid);
	if (!u) {
		close(fd);
		return 0;
	}
	bool exempt = cred.uid == 0 || cred.uid == geteuid() || privileged;
	if (!exempt && u->conns >= lim.user_conns) {
		refuse(fd, "Too many connections for user %s (limit %u)", u->name, lim.user_conns);
		return 0;
	}
	if (fd >= table_len || n_conns >= (exempt ? lim.max_conns : lim.max_conns - lim.reserve_conns)) {
		refuse(fd, "Too many connections to the gpushare control daemon (limit %u)", lim.max_conns);
		return 0;
	}
	struct conn *c = calloc(1, sizeof *c);
	if (!c) {
		close(fd);
		return 0;
	}
	c->fd = fd;
	c->pass_fd = -1;
	c->peer = (struct control_peer){ .conn = fd, .uid = cred.uid, .pid = cred.pid, .ledger_fd = -1,
					 .pid_start = gs_proc_start_time(cred.pid), .privileged = privileged,
					 .sees_all = exempt };
	c->user = (size_t)(u - users);
	c->exempt = exempt;
	c->since = gs_now_ns();
	gs_linebuf_init(&c->in);
	conns[fd] = c;
	if (fd > max_fd)
		max_fd = fd;
	n_conns++;
	u->conns++;
	s->counters.connections++;
	s->counters.connections_open = n_conns;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.fd = fd };
	epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	control_log(s, "Accepting connection...");
	return 0;
}

static bool exiting; /* the daemon goes without quit: its servers and clients stay */

static void drop(struct control_state *s, int fd)
{
	struct conn *c = conns[fd];
	if (c->peer.client)
		control_log(s, "Client process %ld disconnected", (long)c->peer.pid);
	else if (c->peer.server)
		control_log(s, "Server %ld disconnected", (long)c->peer.pid);
	else
		control_log(s, "UI closed");
	epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
	for (size_t i = 0; i < n_relays; i++)
		if (relays[i].conn == fd)
			relays[i].conn = -1; /* its answer is nobody's: the number may be reused */
	c->doomed = true; /* out of every list from now on */
	if (!exiting)
		control_peer_gone(s, &c->peer);
	if (s->quit_conn == fd)
		s->quit_conn = -1;
	users[c->user].out -= c->out_len;
	users[c->user].conns--;
	n_conns--;
	s->counters.connections_open = n_conns;
	free(c->out);
	if (c->pass_fd >= 0)
		close(c->pass_fd);
	if (c->peer.ledger_fd >= 0)
		close(c->peer.ledger_fd);
	free(c);
	conns[fd] = NULL;
	while (max_fd >= 0 && !conns[max_fd])
		max_fd--;
}

static void drop_doomed(struct control_state *s)
{
	while (n_doomed > 0) {
		int fd = doomed[--n_doomed];
		if (conns[fd])
			drop(s, fd);
	}
}

/* Once a turn of at most a second: connections that never sent a whole
 * command within the idle limit, and closing ones whose peer does not take
 * its last answer. */
static void sweep(struct control_state *s)
{
	uint64_t now = gs_now_ns(), idle = (uint64_t)lim.idle_s * 1000000000u;
	for (int fd = 0; fd <= max_fd; fd++) {
		struct conn *c = conns[fd];
		if (!c || c->doomed)
			continue;
		if (c->closing && (!c->out_len || now >= c->linger_ns)) {
			doom(c);
		} else if (lim.idle_s && !c->commanded && !c->closing && now - c->since >= idle) {
			char line[96];
			int n = snprintf(line, sizeof line, "C No command within %u s: closed\n", lim.idle_s);
			if (send(fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
				/* it has gone */
			}
			log_rate(&idle_rate, "Closing an idle connection of user %s (pid %ld)", users[c->user].name,
				 (long)c->peer.pid);
			doom(c);
		}
	}
	drop_doomed(s);
}

/* Lines servers write to the log pipe, into server.log. */
static void drain_log_pipe(struct control_state *s, int fd)
{
	char buf[8192];
	ssize_t n;
	while ((n = read(fd, buf, sizeof buf)) > 0)
		if (s->server_log) {
			fwrite(buf, 1, (size_t)n, s->server_log);
			fflush(s->server_log);
		}
}

/* A file of ours in a checked directory: a stale entry that is not a regular
 * file of ours (a symlink above all) is removed, never followed. Returns the
 * fd with mode set on it, or -errno. */
static int open_own(const char *path, int flags, unsigned mode)
{
	for (int tries = 0; tries < 2; tries++) {
		int fd = open(path, flags | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | (tries ? O_EXCL : 0), mode);
		struct stat st;
		if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid()) {
			if ((st.st_mode & 07777) != mode && fchmod(fd, mode)) {
				int rc = -errno;
				close(fd);
				return rc;
			}
			return fd;
		}
		if (fd >= 0)
			close(fd);
		else if (errno != ELOOP && errno != EEXIST && errno != EACCES)
			return -errno;
		unlink(path);
	}
	return -EEXIST;
}

static FILE *open_log(const char *dir, const char *name)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	int fd = open_own(path, O_WRONLY | O_APPEND, 0644);
	FILE *f = fd >= 0 ? fdopen(fd, "a") : NULL;
	if (!f && fd >= 0)
		close(fd);
	return f;
}

/* A log past its size goes to <name>.1 (the one there before is dropped) and
 * a new one starts: whatever peers make the daemon log, its logs take at most
 * twice GPUSHARE_CONTROL_LOG_MAX MiB each. */
static void rotate_log(FILE **f, const char *dir, const char *name)
{
	if (!*f || ftell(*f) < lim.log_max)
		return;
	char path[PATH_MAX], old[PATH_MAX + 4];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	snprintf(old, sizeof old, "%s.1", path);
	fclose(*f);
	rename(path, old);
	*f = open_log(dir, name);
}

/* The log pipe: 0600, so that only the daemon's own servers, which get it
 * opened before they take their user's identity, write server.log lines. One
 * a killed daemon left is kept: its servers still hold it. */
static int open_log_pipe(const char *pipe_dir)
{
	char path[PATH_MAX];
	snprintf(path, sizeof path, "%s/log", pipe_dir);
	for (int tries = 0; tries < 2; tries++) {
		int fd = open(path, O_RDWR | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
		struct stat st;
		if (fd >= 0 && fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode) && st.st_uid == geteuid()) {
			if ((st.st_mode & 07777) != 0600 && fchmod(fd, 0600)) {
				close(fd);
				return -errno;
			}
			return fd;
		}
		if (fd >= 0)
			close(fd);
		unlink(path);
		mode_t old = umask(077);
		int rc = mkfifo(path, 0600);
		umask(old);
		if (rc && errno != EEXIST)
			return -errno;
	}
	return -EEXIST;
}

/* Sets up the pipe directory; returns the two listening sockets or -errno. */
static int open_pipe_dir(const char *pipe_dir, int *lock_fd, int *ctl, int *priv, int *log_pipe, char *err,
			 size_t errlen)
{
	char path[PATH_MAX];
	int rc = gs_secdir(pipe_dir, 0755, "pipe directory (GPUSHARE_PIPE_DIRECTORY)", err, errlen);
	if (rc)
		return rc;
	snprintf(path, sizeof path, "%s/control_lock", pipe_dir);
	/* 0600, not MPS's 0666: flock needs no write access, so a lock file
	 * others can open is one they can hold to keep the daemon from starting */
	*lock_fd = open_own(path, O_RDWR, 0600);
	if (*lock_fd < 0)
		return gs_fail(err, errlen, *lock_fd, "cannot open %s: %s", path, strerror(-*lock_fd));
	if (flock(*lock_fd, LOCK_EX | LOCK_NB))
		return gs_fail(err, errlen, -EEXIST, "An instance of this daemon is already running");
	snprintf(path, sizeof path, "%s/control", pipe_dir);
	if ((*ctl = listen_on(path, 0666)) < 0)
		return gs_fail(err, errlen, *ctl, "cannot listen on %s: %s", path, strerror(-*ctl));
	snprintf(path, sizeof path, "%s/control_privileged", pipe_dir);
	if ((*priv = listen_on(path, 0755)) < 0)
		return gs_fail(err, errlen, *priv, "cannot listen on %s: %s", path, strerror(-*priv));
	if ((*log_pipe = open_log_pipe(pipe_dir)) < 0)
		return gs_fail(err, errlen, *log_pipe, "cannot make the log pipe %s/log: %s", pipe_dir,
			       strerror(-*log_pipe));
	char pid[32];
	int n = snprintf(pid, sizeof pid, "%ld", (long)getpid());
	snprintf(path, sizeof path, "%s/gpushare-control.pid", pipe_dir);
	gs_file_replace(path, pid, (size_t)n); /* 0644 (umask 022) */
	return 0;
}

static unsigned env_limit(const char *name, unsigned def, unsigned min, unsigned max)
{
	const char *e = getenv(name);
	unsigned long long v;
	if (!e || !*e)
		return def;
	if (gs_parse_uint(e, max, &v) || v < min) {
		fprintf(stderr, "%s=%s ignored: use a whole number from %u to %u; %u is used\n", name, e, min, max, def);
		return def;
	}
	return (unsigned)v;
}

/* The limits, and the fd limit raised to what the system allows: a
 * connection per program, and the refusals need an fd each too. */
static int set_limits(char *err, size_t errlen)
{
	struct rlimit nofile;
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}
	getrlimit(RLIMIT_NOFILE, &nofile);
	rlim_t fds = nofile.rlim_cur == RLIM_INFINITY || nofile.rlim_cur > (1u << 20) ? (1u << 20) : nofile.rlim_cur;
	if (fds < 2 * FD_RESERVE)
		return gs_fail(err, errlen, -EMFILE, "only %lu file descriptors (ulimit -n): at least %d are needed",
			       (unsigned long)fds, 2 * FD_RESERVE);
	lim.user_conns = env_limit("GPUSHARE_CONTROL_USER_CONNECTIONS", 64, 1, 1u << 20);
	lim.max_conns = env_limit("GPUSHARE_CONTROL_MAX_CONNECTIONS", 16384, 16, 1u << 20);
	if (lim.max_conns > fds - FD_RESERVE)
		lim.max_conns = (unsigned)(fds - FD_RESERVE);
	lim.reserve_conns = lim.max_conns >= 256 ? 64 : lim.max_conns / 4;
	lim.idle_s = env_limit("GPUSHARE_CONTROL_IDLE_TIMEOUT", 10, 0, 86400);
	lim.conn_out = (size_t)env_limit("GPUSHARE_CONTROL_OUTPUT_LIMIT", 1024, 64, 1u << 20) << 10;
	lim.user_out = (size_t)env_limit("GPUSHARE_CONTROL_USER_OUTPUT_LIMIT", 8192, 64, 1u << 22) << 10;
	lim.log_max = (long)env_limit("GPUSHARE_CONTROL_LOG_MAX", 64, 1, 1u << 16) << 20;
	table_len = (int)lim.max_conns + 2 * FD_RESERVE;
	conns = calloc((size_t)table_len, sizeof *conns);
	doomed = calloc((size_t)table_len, sizeof *doomed);
	if (!conns || !doomed)
		return gs_fail(err, errlen, -ENOMEM, "no memory for %d connections", table_len);
	return 0;
}

static volatile sig_atomic_t stop_signal;
static void on_signal(int sig)
{
	stop_signal = sig;
}

static volatile sig_atomic_t child_exited;
static void on_child(int sig)
{
	(void)sig;
	child_exited = 1; /* epoll_wait returns: a server may have gone */
}

int control_daemon(const char *pipe_dir, const char *log_dir, bool foreground)
{
	int ready[2] = { -1, -1 };
	if (!foreground) {
		/* the parent returns once the daemon listens, as MPS's does */
		if (pipe(ready))
			return 1;
		pid_t pid = fork();
		if (pid < 0)
			return 1;
		if (pid > 0) {
			close(ready[1]);
			char ok = 0;
			ssize_t n = read(ready[0], &ok, 1);
			return n == 1 && ok == 1 ? 0 : 1;
		}
		close(ready[0]);
		setsid();
	}
	static struct control_state s;
	s = (struct control_state){ .default_pct = 100.0 };
	state = &s;
	umask(022); /* the modes below are the ones documented, whoever starts the daemon */
	gs_state_dir(s.state_dir, sizeof s.state_dir);
	snprintf(s.pipe_dir, sizeof s.pipe_dir, "%s", pipe_dir);
	snprintf(s.log_dir, sizeof s.log_dir, "%s", log_dir);
	control_cgroup_root(s.cgroup_root, sizeof s.cgroup_root);
	char path[PATH_MAX], err[768];
	int lock_fd = -1, ctl = -1, priv = -1, log_pipe = -1;
	/* every directory checked before anything is written in it */
	int rc = gs_secdir(log_dir, 0755, "log directory (GPUSHARE_LOG_DIRECTORY)", err, sizeof err);
	if (rc == 0) {
		s.log = open_log(log_dir, "control.log");
		s.server_log = open_log(log_dir, "server.log");
		s.records = open_log(log_dir, "accounting.log");
		rc = gs_secdir(s.state_dir, 0755, "state directory (GPUSHARE_STATE_DIR)", err, sizeof err);
	}
	if (rc == 0)
		rc = set_limits(err, sizeof err);
	if (rc == 0) {
		/* before the control socket listens: the TPC calibration runs a
		 * CUDA program, whose interposer must not wait for this daemon */
		control_gpus_discover(&s);
		control_elastic_init(&s);
		control_suspend_init(&s);
	}
	if (rc == 0)
		rc = open_pipe_dir(pipe_dir, &lock_fd, &ctl, &priv, &log_pipe, err, sizeof err);
	if (rc) {
		fprintf(stderr, "gpushare-control: %s\n", err);
		control_log(&s, "%s", err);
		if (ready[1] >= 0) {
			char no = 0;
			if (write(ready[1], &no, 1) < 0) {
				/* the parent reports the failure either way */
			}
		}
		return 1;
	}
	spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	control_log(&s, "Starting control daemon using socket %s/control", pipe_dir);
	control_log(&s, "To connect CUDA applications to this daemon, set env GPUSHARE_PIPE_DIRECTORY=%s", pipe_dir);
	control_log(&s, "gpushare control protocol version: %d", GS_CONTROL_PROTOCOL);
	control_settings_load(&s); /* after a crash; quit removes them */
	control_mps_start(&s, pipe_dir, log_dir, true);
	if (!s.mps.on && gs_nvidia_driver_present())
		/* only NVIDIA MPS refuses kernels launched from the GPU, which
		 * neither TPC masks nor green contexts hold (docs/security.md) */
		control_log(&s, "NVIDIA MPS is not running: kernels that programs launch from the GPU (dynamic "
			       "parallelism) are not held to their slice's SMs");
	control_servers_init(&s); /* after a crash: the servers still running */
	control_log(&s, "Limits: %u connections per user, %u in all (%u kept for root), %u s to send a command, "
		       "%zu KiB of unread answers per connection, %zu KiB per user", lim.user_conns, lim.max_conns,
		    lim.reserve_conns, lim.idle_s, lim.conn_out >> 10, lim.user_out >> 10);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	struct sigaction sa = { .sa_handler = on_child }; /* no SA_RESTART */
	sigaction(SIGCHLD, &sa, NULL);
	/* once this daemon holds the lock (a second one never takes the port),
	 * before -d returns (metrics are served when it has) */
	control_metrics_init(&s);
	ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = ctl };
	epoll_ctl(ep, EPOLL_CTL_ADD, ctl, &ev);
	ev.data.fd = priv;
	epoll_ctl(ep, EPOLL_CTL_ADD, priv, &ev);
	/* read and write: the pipe never reports EOF when a server closes it */
	ev.data.fd = log_pipe;
	epoll_ctl(ep, EPOLL_CTL_ADD, log_pipe, &ev);
	if (ready[1] >= 0) {
		char ok = 1;
		if (write(ready[1], &ok, 1) < 0) {
			/* nobody to tell */
		}
		close(ready[1]);
		int null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
			close(null);
		}
	}
	while (!stop_signal) {
		/* servers are looked after when one exits and every 100 ms, not
		 * on every command */
		static uint64_t last_tick;
		uint64_t now = gs_now_ns();
		if (child_exited || now - last_tick >= 100000000u) {
			child_exited = 0;
			last_tick = now;
			control_servers_tick(&s);
			control_elastic_tick(&s);
			control_suspend_tick(&s);
			control_memturn_tick(&s);
			control_lend_tick(&s);
			control_records_tick(&s);
			control_reclaim_tick(&s);
			relays_tick(&s);
			rotate_log(&s.log, log_dir, "control.log");
			rotate_log(&s.server_log, log_dir, "server.log");
			rotate_log(&s.records, log_dir, "accounting.log");
			sweep(&s);
		}
		if (s.quitting && s.n_servers == 0) {
			/* every server has gone: quit's answer, then the daemon goes */
			char end[32];
			snprintf(end, sizeof end, "E %d\n", s.quit_status);
			control_send(s.quit_conn, end);
			break;
		}
		/* the next turn of a timeslice slice to end, if sooner */
		int turn = control_turns_tick(&s), wait = s.n_servers || n_conns ? 100 : 1000;
		/* the metrics rendered again when due, however idle the loop */
		int due = control_metrics_tick(&s);
		if (due >= 0 && due < wait)
			wait = due;
		struct epoll_event events[64];
		int n = epoll_wait(ep, events, 64, turn >= 0 && turn < wait ? turn : wait);
		if (n == 0 && s.mps.on && gs_now_ns() - s.mps.started_ns > 10000000000ull && !control_mps_listening(&s)) {
			/* supervised: it went away, bring it back */
			control_log(&s, "NVIDIA MPS in %s went away: starting it again", s.mps.pipe);
			s.mps.on = false;
			control_mps_start(&s, pipe_dir, log_dir, false);
		}
		for (int i = 0; i < n; i++) {
			int fd = events[i].data.fd;
			if (fd == ctl || fd == priv) {
				/* a bounded number per turn: a user connecting without
				 * pause does not keep the daemon from the others */
				for (int k = 0; k < 64 && accept_peer(fd, fd == priv, &s) == 0; k++)
					;
				continue;
			}
			if (fd == log_pipe) {
				drain_log_pipe(&s, fd);
				continue;
			}
			if (relay_readable(&s, fd))
				continue;
			struct conn *c = conns[fd];
			if (!c || c->doomed)
				continue;
			uint32_t e = events[i].events;
			if ((e & (EPOLLHUP | EPOLLERR)) && !(e & EPOLLIN)) {
				doom(c); /* gone both ways: nobody to answer */
				continue;
			}
			if (!c->closing && (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)))
				on_readable(&s, c);
			flush_out(c);
			if (c->doomed)
				continue;
			if (c->backlog && c->out_len < OUT_PAUSE)
				run_lines(&s, c, 0); /* it read its answers: the commands it sent meanwhile */
			if (c->closing && !c->out_len)
				doom(c);
			else if (!c->doomed)
				watch(c);
		}
		drop_doomed(&s);
	}
	/* answer what was asked before quit; peers see their connection close
	 * only once the daemon is gone, so quit is synchronous as MPS's is */
	for (int fd = 0; fd <= max_fd; fd++)
		if (conns[fd])
			flush_out(conns[fd]);
	snprintf(path, sizeof path, "%s/control", pipe_dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/control_privileged", pipe_dir);
	unlink(path);
	if (s.quitting) {
		/* without quit its servers stay, holding the log pipe: the next
		 * daemon takes it over */
		snprintf(path, sizeof path, "%s/log", pipe_dir);
		unlink(path);
	}
	snprintf(path, sizeof path, "%s/gpushare-control.pid", pipe_dir);
	unlink(path);
	control_metrics_stop();
	control_mps_stop(&s);
	if (s.quitting)
		control_settings_forget(&s);
	if (log_pipe >= 0) {
		drain_log_pipe(&s, log_pipe);
		close(log_pipe);
	}
	int status = s.quitting ? s.quit_status : 0;
	control_log(&s, "Exit with status %d", status);
	close(lock_fd);
	exiting = true;
	for (int fd = max_fd; fd >= 0; fd--)
		if (conns[fd])
			drop(&s, fd);
	if (s.log)
		fclose(s.log);
	if (s.server_log)
		fclose(s.server_log);
	if (s.records)
		fclose(s.records);
	return status;
}
