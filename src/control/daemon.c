/* daemon.c: the gpushare-control daemon: its pipe directory (control socket
 * for everyone, control_privileged for its owner, control_lock, log pipe, pid
 * file), one epoll loop, a line reader per connection with a maximum length,
 * peers identified with SO_PEERCRED, and output buffered per connection so
 * that a slow or stuck peer never blocks the others. */
#include "control.h"

#include <errno.h>
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

#define MAX_CONN 4096
#define MAX_OUT (1u << 20) /* a peer that reads nothing is dropped past this */

struct conn {
	int fd;
	struct control_peer peer;
	struct gs_linebuf in;
	char *out;
	size_t out_len, out_cap;
	bool closing;
};

static struct conn *conns[MAX_CONN];
static int ep = -1;

void control_each_client(control_client_fn fn, void *ctx)
{
	for (int fd = 0; fd < MAX_CONN; fd++)
		if (conns[fd] && conns[fd]->peer.client && !conns[fd]->closing)
			fn(ctx, &conns[fd]->peer);
}

static void queue_out(struct conn *c, const char *data, size_t n);
static void flush_out(struct conn *c);

static void watch(struct conn *c)
{
	struct epoll_event mod = { .events = EPOLLIN | EPOLLRDHUP | (c->out_len ? EPOLLOUT : 0), .data.fd = c->fd };
	epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &mod);
}

void control_send(int conn, const char *text)
{
	struct conn *c = conn >= 0 && conn < MAX_CONN ? conns[conn] : NULL;
	if (!c || c->closing)
		return;
	queue_out(c, text, strlen(text));
	flush_out(c);
	watch(c);
}

static int listen_on(const char *path, unsigned mode)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof a.sun_path)
		return -ENAMETOOLONG;
	snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&a, sizeof a) || chmod(path, mode) || listen(fd, 512)) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

static void queue_out(struct conn *c, const char *data, size_t n)
{
	if (n == 0)
		return;
	if (c->out_len + n > MAX_OUT) {
		c->closing = true; /* it does not read its answers: let it go */
		return;
	}
	if (c->out_len + n > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 1024;
		while (cap < c->out_len + n)
			cap *= 2;
		char *nb = realloc(c->out, cap);
		if (!nb) {
			c->closing = true;
			return;
		}
		c->out = nb;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, data, n);
	c->out_len += n;
}

static void flush_out(struct conn *c)
{
	while (c->out_len) {
		ssize_t w = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				c->closing = true;
			return;
		}
		memmove(c->out, c->out + w, c->out_len - (size_t)w);
		c->out_len -= (size_t)w;
	}
}

static void answer(struct control_state *s, struct conn *c, char *line)
{
	struct control_reply r = { 0 };
	control_log(s, "Cmd:%s", line);
	control_dispatch(s, &c->peer, line, &r);
	/* the reply's lines into control.log, as MPS logs them */
	for (size_t i = 0; i < r.len;) {
		char *nl = memchr(r.buf + i, '\n', r.len - i);
		control_log(s, "%.*s", (int)(nl - (r.buf + i) - 2), r.buf + i + 2);
		i = (size_t)(nl - r.buf) + 1;
	}
	queue_out(c, r.buf ? r.buf : "", r.len);
	if (!r.deferred) {
		char end[32];
		int n = snprintf(end, sizeof end, "E %d\n", r.status);
		queue_out(c, end, (size_t)n);
	}
	free(r.buf);
}

static void on_readable(struct control_state *s, struct conn *c)
{
	for (;;) {
		size_t room = gs_linebuf_room(&c->in);
		ssize_t n = recv(c->fd, c->in.buf + c->in.len, room, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			c->closing = true;
			return;
		}
		char *line;
		int rc;
		size_t got = (size_t)n;
		while ((rc = gs_linebuf_next(&c->in, got, &line)) != GS_LINE_NEED_MORE) {
			got = 0;
			if (rc == GS_LINE_OK) {
				answer(s, c, line);
			} else {
				const char *why = rc == -E2BIG ? "R Command too long\nE 1\n" : "R Command holds binary data\nE 1\n";
				control_log(s, "%s", rc == -E2BIG ? "Command too long" : "Command holds binary data");
				queue_out(c, why, strlen(why));
			}
		}
	}
}

static int accept_peer(int lfd, bool privileged, struct control_state *s)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct ucred cred;
	socklen_t len = sizeof cred;
	if (fd >= MAX_CONN || getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len)) {
		close(fd);
		return -EMFILE;
	}
	struct conn *c = calloc(1, sizeof *c);
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->fd = fd;
	c->peer = (struct control_peer){ .conn = fd, .uid = cred.uid, .pid = cred.pid, .privileged = privileged };
	gs_linebuf_init(&c->in);
	conns[fd] = c;
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
	c->closing = true; /* out of every list from now on */
	if (!exiting)
		control_peer_gone(s, &c->peer);
	if (s->quit_conn == fd)
		s->quit_conn = -1;
	free(c->out);
	free(c);
	conns[fd] = NULL;
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

/* Sets up the pipe directory; returns the two listening sockets or -errno. */
static int open_pipe_dir(const char *pipe_dir, int *lock_fd, int *ctl, int *priv, char *err, size_t errlen)
{
	char path[PATH_MAX];
	if (gs_mkdir_p(pipe_dir, 0755))
		return gs_fail(err, errlen, -errno, "cannot create %s", pipe_dir);
	snprintf(path, sizeof path, "%s/control_lock", pipe_dir);
	*lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	if (*lock_fd < 0)
		return gs_fail(err, errlen, -errno, "cannot open %s: %s", path, strerror(errno));
	fchmod(*lock_fd, 0666);
	if (flock(*lock_fd, LOCK_EX | LOCK_NB))
		return gs_fail(err, errlen, -EEXIST, "An instance of this daemon is already running");
	snprintf(path, sizeof path, "%s/control", pipe_dir);
	if ((*ctl = listen_on(path, 0666)) < 0)
		return gs_fail(err, errlen, *ctl, "cannot listen on %s: %s", path, strerror(-*ctl));
	snprintf(path, sizeof path, "%s/control_privileged", pipe_dir);
	if ((*priv = listen_on(path, 0755)) < 0)
		return gs_fail(err, errlen, *priv, "cannot listen on %s: %s", path, strerror(-*priv));
	/* servers of a daemon killed before us still write to its log pipe */
	snprintf(path, sizeof path, "%s/log", pipe_dir);
	struct stat st;
	if (lstat(path, &st) || !S_ISFIFO(st.st_mode)) {
		unlink(path);
		if (mkfifo(path, 0777) == 0)
			chmod(path, 0777);
	}
	char pid[32];
	int n = snprintf(pid, sizeof pid, "%ld", (long)getpid());
	snprintf(path, sizeof path, "%s/gpushare-control.pid", pipe_dir);
	if (gs_file_replace(path, pid, (size_t)n) == 0)
		chmod(path, 0666);
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
	gs_state_dir(s.state_dir, sizeof s.state_dir);
	snprintf(s.pipe_dir, sizeof s.pipe_dir, "%s", pipe_dir);
	snprintf(s.log_dir, sizeof s.log_dir, "%s", log_dir);
	char path[PATH_MAX], err[256];
	if (gs_mkdir_p(log_dir, 0755) == 0) {
		snprintf(path, sizeof path, "%s/control.log", log_dir);
		s.log = fopen(path, "ae");
		snprintf(path, sizeof path, "%s/server.log", log_dir);
		s.server_log = fopen(path, "ae");
	}
	int lock_fd = -1, ctl = -1, priv = -1;
	if (open_pipe_dir(pipe_dir, &lock_fd, &ctl, &priv, err, sizeof err)) {
		fprintf(stderr, "%s\n", err);
		control_log(&s, "%s", err);
		if (ready[1] >= 0) {
			char no = 0;
			if (write(ready[1], &no, 1) < 0) {
				/* the parent reports the failure either way */
			}
		}
		return 1;
	}
	control_log(&s, "Starting control daemon using socket %s/control", pipe_dir);
	control_log(&s, "To connect CUDA applications to this daemon, set env GPUSHARE_PIPE_DIRECTORY=%s", pipe_dir);
	control_log(&s, "gpushare control protocol version: %d", GS_CONTROL_PROTOCOL);
	control_settings_load(&s); /* after a crash; quit removes them */
	control_gpus_discover(&s);
	control_mps_start(&s, pipe_dir, log_dir);
	control_servers_init(&s); /* after a crash: the servers still running */
	struct rlimit nofile;
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
		nofile.rlim_cur = nofile.rlim_max < MAX_CONN ? nofile.rlim_max : MAX_CONN;
		setrlimit(RLIMIT_NOFILE, &nofile); /* a connection per client */
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	struct sigaction sa = { .sa_handler = on_child }; /* no SA_RESTART */
	sigaction(SIGCHLD, &sa, NULL);
	ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = ctl };
	epoll_ctl(ep, EPOLL_CTL_ADD, ctl, &ev);
	ev.data.fd = priv;
	epoll_ctl(ep, EPOLL_CTL_ADD, priv, &ev);
	/* read and write: the pipe never reports EOF when a server closes it */
	snprintf(path, sizeof path, "%s/log", pipe_dir);
	int log_pipe = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (log_pipe >= 0) {
		ev.data.fd = log_pipe;
		epoll_ctl(ep, EPOLL_CTL_ADD, log_pipe, &ev);
	}
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
		}
		if (s.quitting && s.n_servers == 0) {
			/* every server has gone: quit's answer, then the daemon goes */
			char end[32];
			snprintf(end, sizeof end, "E %d\n", s.quit_status);
			control_send(s.quit_conn, end);
			break;
		}
		struct epoll_event events[64];
		int n = epoll_wait(ep, events, 64, s.n_servers ? 100 : 1000);
		if (n == 0 && s.mps.on && !control_mps_listening(&s)) {
			/* supervised: it went away, bring it back */
			control_log(&s, "NVIDIA MPS in %s went away: starting it again", s.mps.pipe);
			s.mps.on = false;
			control_mps_start(&s, pipe_dir, log_dir);
		}
		for (int i = 0; i < n; i++) {
			int fd = events[i].data.fd;
			if (fd == ctl || fd == priv) {
				while (accept_peer(fd, fd == priv, &s) == 0)
					;
				continue;
			}
			if (fd == log_pipe) {
				drain_log_pipe(&s, fd);
				continue;
			}
			struct conn *c = conns[fd];
			if (!c)
				continue;
			if (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
				on_readable(&s, c);
			flush_out(c);
			if (c->closing && !c->out_len)
				drop(&s, fd);
			else
				watch(c);
		}
	}
	/* answer what was asked before quit; peers see their connection close
	 * only once the daemon is gone, so quit is synchronous as MPS's is */
	for (int fd = 0; fd < MAX_CONN; fd++)
		if (conns[fd])
			flush_out(conns[fd]);
	snprintf(path, sizeof path, "%s/control", pipe_dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/control_privileged", pipe_dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/log", pipe_dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/gpushare-control.pid", pipe_dir);
	unlink(path);
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
	for (int fd = 0; fd < MAX_CONN; fd++)
		if (conns[fd])
			drop(&s, fd);
	if (s.log)
		fclose(s.log);
	if (s.server_log)
		fclose(s.server_log);
	return status;
}
