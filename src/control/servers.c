/* servers.c: servers and their clients, as MPS runs them, with slices.
 *
 * A server serves one (slice, user): it is started when the first client of
 * that user arrives in that slice and kept after its clients leave, as MPS
 * keeps its servers. Different slices run at the same time, whoever their
 * users are; a user arriving in a slice another user's server holds is
 * queued until that server's clients are done (MPS's rule), or refused when
 * the slice says so. On the simulated GPU a server is a gpushare process run
 * as its user (server.c). (On a real GPU the supervised NVIDIA MPS runs one
 * server for everyone; the rule for a second user is kept here.)
 *
 * The table is kept in the daemon's pipe directory too (each daemon has its
 * own), so a daemon restarted after kill -9 adopts the servers still
 * running, and their clients re-register. */
#include "control.h"
#include "slice.h"
#include "gpus.h"
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>


/* ---- the daemon's table ---- */

struct control_server *control_server_find(struct control_state *s, const char *pid_text)
{
	unsigned long long pid;
	if (gs_parse_uint(pid_text, INT_MAX, &pid))
		return NULL;
	for (size_t i = 0; i < s->n_servers; i++)
		if (s->servers[i].pid == (pid_t)pid)
			return &s->servers[i];
	return NULL;
}

static struct control_server *server_of(struct control_state *s, const char *slice, uid_t uid)
{
	for (size_t i = 0; i < s->n_servers; i++)
		if (s->servers[i].uid == uid && strcmp(s->servers[i].slice, slice) == 0 && !s->servers[i].stopping)
			return &s->servers[i];
	return NULL;
}

/* Another user's server on the slice: the one holding it. The remainder
 * ("-") is no slice: its users do not wait for each other. */
static struct control_server *holder_of(struct control_state *s, const char *slice, uid_t uid)
{
	if (strcmp(slice, "-") == 0)
		return NULL;
	for (size_t i = 0; i < s->n_servers; i++)
		if (s->servers[i].uid != uid && strcmp(s->servers[i].slice, slice) == 0)
			return &s->servers[i];
	return NULL;
}

static void save(struct control_state *s)
{
	char path[sizeof s->pipe_dir + 32], *buf = NULL;
	size_t len = 0;
	if (!s->pipe_dir[0])
		return;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return;
	fprintf(f, "gpushare-control-servers 1\n");
	for (size_t i = 0; i < s->n_servers; i++) {
		const struct control_server *v = &s->servers[i];
		fprintf(f, "server %ld %" PRIu64 " %ld %.6f %d %u %s\n", (long)v->pid, v->start, (long)v->uid, v->pct,
			v->priority, v->next_client_id, v->slice);
		for (size_t k = 0; k < v->n_limits; k++)
			fprintf(f, "limit %ld %s %" PRIu64 "\n", (long)v->pid, v->limits[k].dev, v->limits[k].bytes);
	}
	if (fclose(f) == 0) {
		snprintf(path, sizeof path, "%s/control-servers", s->pipe_dir);
		if (gs_file_replace(path, buf, len))
			control_log(s, "cannot save the servers in %s", path);
	}
	free(buf);
}

/* After a restart: the servers of the last daemon still running are adopted;
 * they reconnect by themselves, their clients re-register. */
static void load(struct control_state *s)
{
	char path[sizeof s->pipe_dir + 32], *text;
	snprintf(path, sizeof path, "%s/control-servers", s->pipe_dir);
	if (gs_file_read(path, 1 << 20, &text, NULL))
		return;
	char *save_ptr = NULL;
	bool magic = false;
	for (char *line = strtok_r(text, "\n", &save_ptr); line; line = strtok_r(NULL, "\n", &save_ptr)) {
		long pid, uid;
		unsigned long long start, bytes;
		double pct;
		int prio, n = 0;
		unsigned next;
		char slice[96], dev[64];
		if (!magic) {
			if (!(magic = strcmp(line, "gpushare-control-servers 1") == 0))
				break;
		} else if (sscanf(line, "server %ld %llu %ld %lf %d %u %95s%n", &pid, &start, &uid, &pct, &prio, &next, slice,
				  &n) == 7 && line[n] == '\0' && pid > 0 && uid >= 0 && pct > 0 && pct <= 100 &&
			   s->n_servers < CONTROL_MAX_SERVERS) {
			if (gs_proc_start_time((pid_t)pid) != start) {
				control_log(s, "Server %ld of the last daemon is gone", pid);
				continue;
			}
			s->servers[s->n_servers++] = (struct control_server){
				.pid = (pid_t)pid, .start = start, .uid = (uid_t)uid, .state = SERVER_ACTIVE,
				.conn = -1, .pct = pct, .priority = prio, .next_client_id = next };
			control_settle(s);
			snprintf(s->servers[s->n_servers - 1].slice, sizeof slice, "%s", slice);
			control_log(s, "Adopted server %ld for user %ld (slice %s)", pid, uid, slice);
		} else if (sscanf(line, "limit %ld %63s %llu", &pid, dev, &bytes) == 3) {
			struct control_server *v = NULL;
			for (size_t i = 0; i < s->n_servers; i++)
				if (s->servers[i].pid == pid)
					v = &s->servers[i];
			if (v && v->n_limits < CONTROL_MAX_LIMITS) {
				snprintf(v->limits[v->n_limits].dev, sizeof dev, "%s", dev);
				v->limits[v->n_limits++].bytes = bytes;
			}
		} else {
			control_log(s, "ignoring \"%s\" in %s", line, path);
		}
	}
	free(text);
	save(s);
}

void control_servers_init(struct control_state *s)
{
	s->quit_conn = -1;
	load(s);
}

static void push(const struct control_server *v, const char *fmt, ...) GS_PRINTF(2, 3);
static void push(const struct control_server *v, const char *fmt, ...)
{
	if (v->conn < 0)
		return;
	char line[256] = "S ";
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line + 2, sizeof line - 4, fmt, ap);
	va_end(ap);
	strcat(line, "\n");
	control_send(v->conn, line);
}

/* Starts a server for (slice, uid); NULL when none can start. */
static struct control_server *start_server(struct control_state *s, const char *slice, uid_t uid)
{
	if (s->n_servers == CONTROL_MAX_SERVERS || !s->pipe_dir[0])
		return NULL; /* no room, or no pipe directory to serve in */
	struct control_server *v = &s->servers[s->n_servers];
	*v = (struct control_server){ .uid = uid, .state = SERVER_INITIALIZING, .child = true, .conn = -1,
				      .pct = s->default_pct, .priority = s->default_priority };
	snprintf(v->slice, sizeof v->slice, "%s", slice);
	/* the defaults, by the GPU they name where we know it (an ordinal or a UUID) */
	for (size_t i = 0; i < s->n_default_limits; i++) {
		const struct control_gpu *g = control_gpu_by_dev(s, s->default_limits[i].dev);
		v->limits[v->n_limits] = s->default_limits[i];
		if (g)
			snprintf(v->limits[v->n_limits].dev, sizeof v->limits[0].dev, "%s", g->uuid);
		v->n_limits++;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return NULL;
	if (pid == 0) {
		close_range(3, ~0u, 0);
		control_server_main(s, v);
	}
	v->pid = pid;
	v->start = gs_proc_start_time(pid);
	s->n_servers++;
	control_log(s, "Starting new server %ld for user %ld (slice %s)", (long)pid, (long)uid, slice);
	save(s);
	return v;
}

struct count_ctx {
	pid_t server;
	unsigned n;
	void (*each)(struct control_state *s, struct control_peer *p);
	struct control_state *s;
};

static void count_client(void *ctx, struct control_peer *p)
{
	struct count_ctx *c = ctx;
	if (p->server_pid != c->server)
		return;
	c->n++;
	if (c->each)
		c->each(c->s, p);
}

static unsigned clients_of(struct control_state *s, pid_t server,
			   void (*each)(struct control_state *s, struct control_peer *p))
{
	struct count_ctx c = { server, 0, each, s };
	control_each_client(count_client, &c);
	return c.n;
}

void control_server_maybe_stop(struct control_state *s, struct control_server *v)
{
	/* an adopted server's clients may not have registered again yet */
	if (v->stopping && !v->told && v->state == SERVER_ACTIVE && v->conn >= 0 && gs_now_ns() >= s->settle_ns &&
	    clients_of(s, v->pid, NULL) == 0) {
		push(v, "shutdown");
		v->told = true;
	}
}

/* The limit among limits that names gpu (by ordinal or UUID), 0 for none. */
static uint64_t limit_for(const struct control_state *s, const struct mpsval_dev_limit *limits, size_t n,
			  const char *gpu)
{
	uint64_t bytes = 0;
	for (size_t i = 0; i < n; i++) {
		const struct control_gpu *g = control_gpu_by_dev(s, limits[i].dev);
		if (strcmp(g ? g->uuid : limits[i].dev, gpu) == 0)
			bytes = limits[i].bytes;
	}
	return bytes;
}

/* A registering client's answer: now, into r, or later, when it waited. */
/* Admitted: its ledger goes with this answer, not before (a queued program
 * holds nothing of the slice). */
static void answer_client(struct control_state *s, struct control_peer *p, struct control_reply *r, const char *text)
{
	p->pending = false;
	int fd = p->ledger_fd;
	p->ledger_fd = -1;
	char turns[48];
	control_turns_admit(s, p, turns, sizeof turns); /* a timeslice slice's: whether it holds the turn */
	control_suspend_admit(s, p);
	control_memturn_admit(s, p);
	control_records_admit(s, p);
	control_busy_admit(s, p);
	if (r) {
		if (turns[0])
			control_reply_line(r, "%s", turns);
		control_reply_line(r, "%s", text);
		r->pass_fd = fd;
		return;
	}
	char line[208];
	snprintf(line, sizeof line, "%s%s%sR %s\nE 0\n", turns[0] ? "R " : "", turns, turns[0] ? "\n" : "", text);
	control_send_fd(p->conn, line, fd);
	control_log(s, "Client %ld may run now: %s", (long)p->pid, text);
}

static void answer_attached(struct control_state *s, struct control_server *v, struct control_peer *p,
			    struct control_reply *r)
{
	p->server_pid = v->pid;
	p->id = ++v->next_client_id;
	push(v, "client_connected %ld", (long)p->pid);
	char text[128];
	snprintf(text, sizeof text, "server %ld %.1f %" PRIu64, (long)v->pid, v->pct,
		 limit_for(s, v->limits, v->n_limits, p->gpu));
	answer_client(s, p, r, text);
}

/* Pending clients whose server is ready, or who may now have one. */
static void serve_pending_one(void *ctx, struct control_peer *p)
{
	struct control_state *s = ctx;
	if (!p->pending || s->quitting)
		return;
	struct control_server *v = server_of(s, p->slice, p->uid), *h;
	if (v) {
		if (v->state == SERVER_ACTIVE)
			answer_attached(s, v, p, NULL);
		return; /* else: attached once it is ready */
	}
	if ((h = holder_of(s, p->slice, p->uid))) {
		/* MPS's rule: the holder goes once its clients are done */
		if (!h->stopping) {
			h->stopping = true;
			control_log(s, "Try shutting down server %ld, backoff is disabled", (long)h->pid);
			control_server_maybe_stop(s, h);
		}
		return;
	}
	for (size_t i = 0; i < s->n_servers; i++)
		if (s->servers[i].uid == p->uid && strcmp(s->servers[i].slice, p->slice) == 0)
			return; /* the user's last server is on its way out: a new one after it */
	if (!start_server(s, p->slice, p->uid)) {
		control_log(s, "MPS server failed to start");
		p->pending = false;
		p->client = false;
		control_send(p->conn, "R Server failed to start\nE 1\n");
	}
}

static void serve_pending(struct control_state *s)
{
	control_each_client(serve_pending_one, s);
}

static void terminate_one(struct control_state *s, struct control_peer *p)
{
	(void)s;
	control_send(p->conn, "S terminate\n");
	p->server_pid = 0;
}

/* Its server died before it was ready: the clients waiting for it are told,
 * as MPS's are, instead of starting one server after another. */
static void refuse_waiting(void *ctx, struct control_peer *p)
{
	const struct control_server *v = ctx;
	if (!p->pending || p->uid != v->uid || strcmp(p->slice, v->slice))
		return;
	p->pending = false;
	p->client = false;
	control_send(p->conn, "R Server failed to start\nE 1\n");
}

static void remove_server(struct control_state *s, struct control_server *v, int status)
{
	control_log(s, "Server %ld exited with status %d", (long)v->pid, status);
	if (v->state == SERVER_INITIALIZING) {
		control_log(s, "MPS server failed to start");
		control_each_client(refuse_waiting, v);
	}
	clients_of(s, v->pid, terminate_one); /* forced down under them */
	*v = s->servers[--s->n_servers];
	save(s);
	serve_pending(s);
}

/* ---- with NVIDIA's MPS underneath: one NVIDIA server for everyone, and
 * MPS's rule for a second user on a slice kept by gpushare: the slice is
 * held by the user whose programs are in it ---- */

struct holder_ctx {
	const struct control_peer *p;
	long holder;
};

static void find_holder(void *ctx, struct control_peer *q)
{
	struct holder_ctx *h = ctx;
	if (q != h->p && !q->pending && q->uid != h->p->uid && strcmp(q->slice, h->p->slice) == 0)
		h->holder = q->uid;
}

static long mps_holder(const struct control_peer *p)
{
	struct holder_ctx h = { p, -1 };
	control_each_client(find_holder, &h);
	return h.holder;
}

/* The daemon's defaults, which the program hands to NVIDIA's MPS, and the
 * part of the GPU its slice's SMs are: NVIDIA's percentage is of the whole
 * GPU, gpushare's of the slice. */
static void mps_answer(struct control_state *s, struct control_peer *p, struct control_reply *r)
{
	char text[128];
	const struct control_gpu *g = control_gpu_by_dev(s, p->gpu);
	double share = g && g->sms && p->sms && p->sms < g->sms ? (double)p->sms / g->sms : 1.0;
	snprintf(text, sizeof text, "mps %.1f %" PRIu64 " %.6f", s->default_pct,
		 limit_for(s, s->default_limits, s->n_default_limits, p->gpu), share);
	answer_client(s, p, r, text);
}

static void mps_register(struct control_state *s, struct control_peer *p, bool running, bool refuse_busy,
			 struct control_reply *r)
{
	long holder = strcmp(p->slice, "-") && !running ? mps_holder(p) : -1;
	if (holder >= 0 && refuse_busy) {
		control_log(s, "NEW CLIENT %ld from user %ld: slice %s is held by user %ld, refused", (long)p->pid,
			    (long)p->uid, p->slice, holder);
		control_reply_line(r, "Slice %s is in use by user %ld", p->slice, holder);
		p->client = false;
		r->status = 1;
		return;
	}
	if (holder >= 0 || (!running && gs_now_ns() < s->settle_ns)) {
		/* queued, as MPS queues a second user; or, just after a restart,
		 * until the programs already running have registered again */
		control_log(s, "NEW CLIENT %ld from user %ld: slice %s, NVIDIA MPS: push client to pending list",
			    (long)p->pid, (long)p->uid, p->slice);
		p->pending = true;
		r->deferred = true;
		if (holder >= 0)
			control_reply_line(r, "queued %ld", holder);
		return;
	}
	control_log(s, "NEW CLIENT %ld from user %ld: slice %s, NVIDIA MPS", (long)p->pid, (long)p->uid, p->slice);
	mps_answer(s, p, r);
}

static void mps_serve_pending_one(void *ctx, struct control_peer *p)
{
	struct control_state *s = ctx;
	if (p->pending && gs_now_ns() >= s->settle_ns && (!strcmp(p->slice, "-") || mps_holder(p) < 0))
		mps_answer(s, p, NULL);
}

void control_client_register(struct control_state *s, struct control_peer *p, const char *slice, const char *gpu,
			     const char *had_server, struct control_reply *r)
{
	r->status = 1;
	if (p->client || p->server) {
		control_reply_line(r, "Already registered");
		return;
	}
	const char *name = slice[0] == '?' ? slice + 1 : slice;
	if (strlen(slice) >= sizeof p->slice || strlen(gpu) >= sizeof p->gpu ||
	    (strcmp(slice, "-") && strncasecmp(name, "MIG-", 4) && !gs_store_name_valid(name))) {
		control_reply_line(r, "Invalid slice \"%.96s\": a slice's name, MIG-<uuid>, ?MIG-<uuid> or -", slice);
		return;
	}
	if (s->quitting) {
		control_reply_line(r, "The control daemon is shutting down");
		return;
	}
	struct control_placement pl;
	char why[320];
	int rc = control_place(s, p, slice, gpu, &pl, why, sizeof why);
	if (rc) {
		control_reply_line(r, "%s", why);
		control_log(s, "NEW CLIENT %ld from user %ld: %s", (long)p->pid, (long)p->uid, why);
		return;
	}
	if (strcmp(slice, "-") && slice[0] != '?' && strcmp(pl.how, "named"))
		control_log(s, "NEW CLIENT %ld from user %ld asked for slice %s: its %s's slice is %s", (long)p->pid,
			    (long)p->uid, slice, pl.how, pl.slice);
	/* first, with its ledger: where it runs, whatever it waits for next */
	control_reply_line(r, "slice %s %s %" PRIu64 " %" PRIu64 " %u %u %u %s %s", pl.slice, pl.gpu, pl.memory,
			   pl.guarantee, pl.sm_start, pl.sms, pl.sm_grid, pl.how, s->state_dir);
	/* its memory backed so that its interposer can move it (suspend.c) */
	if ((p->swap = control_suspend_swap_offer(s, pl.gpu, pl.slice)))
		control_reply_line(r, "swap 1");
	/* its activity reported, looked at this often, for its busy time (busy.c) */
	control_reply_line(r, "activity %u", control_busy_look_ms());
	if (p->ledger_fd >= 0)
		close(p->ledger_fd);
	p->ledger_fd = pl.ledger_fd; /* passed once it is admitted */
	bool refuse_busy = pl.refuse_busy;
	slice = pl.slice;
	const char *gpu_uuid = pl.gpu;
	r->status = 0;
	p->client = true;
	snprintf(p->slice, sizeof p->slice, "%s", slice);
	snprintf(p->gpu, sizeof p->gpu, "%s", gpu_uuid);
	p->sms = pl.sms;
	control_elastic_admit(s, p, r);
	if (s->mps.on) {
		/* a claim of running programs counts only while they come back
		 * after a restart: anyone can claim it */
		mps_register(s, p, had_server != NULL && gs_now_ns() < s->settle_ns, refuse_busy, r);
		return;
	}
	struct control_server *v = had_server ? control_server_find(s, had_server) : NULL;
	if (v && (v->uid != p->uid || strcmp(v->slice, slice)))
		v = NULL; /* not its server: an ordinary arrival */
	if (v) {
		/* it runs with this server already, stopping or not */
		control_log(s, "NEW CLIENT %ld from user %ld: back to server %ld", (long)p->pid, (long)p->uid,
			    (long)v->pid);
		answer_attached(s, v, p, r);
		return;
	}
	v = server_of(s, slice, p->uid);
	if (v && v->state == SERVER_ACTIVE) {
		control_log(s, "NEW CLIENT %ld from user %ld: Server already exists", (long)p->pid, (long)p->uid);
		answer_attached(s, v, p, r);
		return;
	}
	struct control_server *h = holder_of(s, slice, p->uid);
	if (h && refuse_busy) {
		control_log(s, "NEW CLIENT %ld from user %ld: slice %s is held by user %ld, refused", (long)p->pid,
			    (long)p->uid, slice, (long)h->uid);
		control_reply_line(r, "Slice %s is in use by user %ld", slice, (long)h->uid);
		p->client = false;
		r->status = 1;
		return;
	}
	control_log(s, "NEW CLIENT %ld from user %ld: Server is not ready, push client to pending list", (long)p->pid,
		    (long)p->uid);
	p->pending = true;
	r->deferred = true;
	if (h)
		control_reply_line(r, "queued %ld", (long)h->uid);
	serve_pending_one(s, p);
}

void control_server_ready(struct control_state *s, struct control_peer *p, struct control_reply *r)
{
	struct control_server *v = NULL;
	for (size_t i = 0; i < s->n_servers; i++)
		if (s->servers[i].pid == p->pid && s->servers[i].start == gs_proc_start_time(p->pid))
			v = &s->servers[i];
	if (!v || p->client || v->conn >= 0) {
		control_reply_line(r, "Not a server of this daemon");
		r->status = 1;
		return;
	}
	p->server = true;
	v->conn = p->conn;
	bool adopted = v->state == SERVER_ACTIVE;
	v->state = SERVER_ACTIVE;
	control_log(s, adopted ? "SERVER %ld reconnected" : "NEW SERVER %ld: Ready", (long)p->pid);
	save(s);
	/* answered before anything is pushed to it */
	control_send(p->conn, "E 0\n");
	r->deferred = true;
	if (v->stopping || s->quitting) {
		v->stopping = true;
		control_server_maybe_stop(s, v);
	}
	serve_pending(s);
}

void control_collect_jobs(struct control_state *s)
{
	int n = gs_slice_collect(s->state_dir, s->cgroup_root);
	if (n > 0) {
		control_log(s, "Removed %d job slice(s) whose job has ended", n);
		control_jobs_cgroups_tidy(s);
	}
}

void control_peer_gone(struct control_state *s, struct control_peer *p)
{
	control_busy_gone(s, p); /* its busy time ends now, for its record too */
	control_records_gone(s, p); /* before its charges are reclaimed: its last figure */
	control_elastic_gone(s, p);
	control_turns_gone(s, p);
	control_suspend_gone(s, p);
	control_metrics_gone(p);
	if (p->job)
		control_collect_jobs(s); /* gpushare run ended, a SIGKILL included */
	if (p->server) {
		for (size_t i = 0; i < s->n_servers; i++)
			if (s->servers[i].pid == p->pid && s->servers[i].conn == p->conn) {
				s->servers[i].conn = -1;
				if (!s->servers[i].child) /* adopted: not ours to reap */
					remove_server(s, &s->servers[i], 0);
			}
		return;
	}
	if (!p->client)
		return;
	p->client = false; /* no longer counted */
	control_reclaim(s, p);
	if (s->mps.on) {
		control_each_client(mps_serve_pending_one, s); /* its slice may be free now */
		return;
	}
	struct control_server *v = NULL;
	for (size_t i = 0; p->server_pid && i < s->n_servers; i++)
		if (s->servers[i].pid == p->server_pid)
			v = &s->servers[i];
	if (v) {
		push(v, "client_exited %ld %u", (long)p->pid, clients_of(s, v->pid, NULL));
		control_server_maybe_stop(s, v);
	}
}

/* Servers of slices that are gone (gpushare-smi -dci/-dgi by hand) go too;
 * looked at once a second. */
static void drop_orphans(struct control_state *s)
{
	static uint64_t last;
	uint64_t now = gs_now_ns();
	if (now - last < 1000000000u)
		return;
	last = now;
	control_collect_jobs(s);
	if (!s->n_servers)
		return;
	struct gs_store *st = malloc(sizeof *st);
	if (!st || gs_store_load(s->state_dir, st, NULL, 0)) {
		free(st);
		return; /* unreadable: nothing to conclude */
	}
	for (size_t i = 0; i < s->n_servers; i++) {
		struct control_server *v = &s->servers[i];
		struct gs_store_gpu *g;
		struct gs_mig_ci *ci;
		if (strcmp(v->slice, "-") && !v->stopping && gs_slice_resolve(st, v->slice, &g, &ci, NULL, 0) == -ENOENT) {
			control_log(s, "Slice %s is gone: its server %ld goes too", v->slice, (long)v->pid);
			v->stopping = true;
			control_server_maybe_stop(s, v);
		}
	}
	free(st);
}

void control_servers_tick(struct control_state *s)
{
	if (s->mps.on)
		control_each_client(mps_serve_pending_one, s);
	drop_orphans(s);
	for (size_t i = 0; i < s->n_servers;) {
		struct control_server *v = &s->servers[i];
		int st;
		pid_t w = v->child ? waitpid(v->pid, &st, WNOHANG) : 0;
		if (w == v->pid) {
			remove_server(s, v, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
			continue;
		}
		if (!v->child && gs_proc_start_time(v->pid) != v->start) {
			remove_server(s, v, 0);
			continue;
		}
		control_server_maybe_stop(s, v); /* one that waited for its clients to settle */
		i++;
	}
	if (s->quitting && s->quit_deadline_ns && gs_now_ns() > s->quit_deadline_ns) {
		s->quit_deadline_ns = 0;
		for (size_t i = 0; i < s->n_servers; i++) {
			control_log(s, "Server %ld did not exit in time: forcing it down", (long)s->servers[i].pid);
			clients_of(s, s->servers[i].pid, terminate_one);
			kill(s->servers[i].pid, SIGKILL);
			s->quit_status = 1;
			if (!s->servers[i].child)
				s->servers[i].start = 0; /* gone at the next tick */
		}
	}
}

void control_servers_quit(struct control_state *s)
{
	for (size_t i = 0; i < s->n_servers; i++) {
		struct control_server *v = &s->servers[i];
		if (!v->stopping)
			control_log(s, "Try shutting down server %ld, backoff is disabled", (long)v->pid);
		v->stopping = true;
		control_server_maybe_stop(s, v);
	}
}

void control_server_log(struct control_state *s, pid_t server, const char *fmt, ...)
{
	if (!server)
		return;
	va_list ap;
	va_start(ap, fmt);
	control_vlog(s->server_log, "Server", server, fmt, ap);
	va_end(ap);
}

/* ---- the GPUs ---- */

void control_gpus_discover(struct control_state *s)
{
	struct gs_slice_gpu found[CONTROL_MAX_GPUS];
	size_t n;
	char why[512];
	if (gs_gpus_discover(found, CONTROL_MAX_GPUS, &n, why, sizeof why)) {
		control_log(s, "NVML did not list the GPUs (%s): device_query and limits by ordinal are unavailable", why);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct control_gpu *g = &s->gpus[s->n_gpus++];
		g->slice = found[i];
		g->slice.model.name = g->slice.name; /* the copy's own */
		g->index = found[i].index;
		g->sms = found[i].model.sm_count;
		g->memory = (uint64_t)found[i].model.memory_mib << 20;
		snprintf(g->uuid, sizeof g->uuid, "%s", found[i].uuid);
		snprintf(g->name, sizeof g->name, "%s", found[i].name);
		snprintf(g->bus, sizeof g->bus, "%s", found[i].bus);
	}
	control_log(s, "%zu GPU(s) found", s->n_gpus);
}

const struct control_gpu *control_gpu_by_dev(const struct control_state *s, const char *dev)
{
	unsigned long long idx;
	bool ordinal = gs_parse_uint(dev, 64, &idx) == 0;
	const struct control_gpu *prefixed = NULL;
	for (size_t i = 0; i < s->n_gpus; i++) {
		if (ordinal ? s->gpus[i].index == idx : strcasecmp(s->gpus[i].uuid, dev) == 0)
			return &s->gpus[i];
		/* a prefix names a GPU where it names one alone, as in CUDA_VISIBLE_DEVICES */
		if (!ordinal && strlen(dev) > 4 && strncasecmp(s->gpus[i].uuid, dev, strlen(dev)) == 0)
			prefixed = prefixed ? (const struct control_gpu *)-1 : &s->gpus[i];
	}
	return prefixed == (const struct control_gpu *)-1 ? NULL : prefixed;
}

/* ---- for the commands ---- */

int control_server_start(struct control_state *s, const char *slice, uid_t uid, struct control_reply *r)
{
	if (s->mps.on || server_of(s, slice, uid))
		return 0; /* NVIDIA's MPS starts its own; one per (slice, user) */
	if (strlen(slice) >= sizeof s->servers[0].slice || (strcmp(slice, "-") && strncasecmp(slice, "MIG-", 4))) {
		control_reply_fail(r, "Invalid slice \"%.96s\": MIG-<uuid> or -", slice);
		return -1;
	}
	if (!start_server(s, slice, uid)) {
		control_reply_fail(r, "MPS server failed to start");
		return -1;
	}
	return 0;
}

void control_server_force(struct control_state *s, struct control_server *v)
{
	clients_of(s, v->pid, terminate_one);
	v->told = true;
	if (v->conn >= 0)
		push(v, "shutdown");
	else
		kill(v->pid, SIGKILL);
}

void control_server_terminate(struct control_state *s, struct control_server *v, struct control_peer *client)
{
	push(v, "terminate %ld", (long)client->pid);
	terminate_one(s, client);
	control_server_maybe_stop(s, v);
}

void control_server_changed(struct control_state *s, struct control_server *v, const char *fmt, ...)
{
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	push(v, "%s", line);
	save(s);
}

uid_t control_server_holder(struct control_state *s, const char *slice, uid_t uid)
{
	struct control_server *h = holder_of(s, slice, uid);
	return h ? h->uid : 0;
}

void control_server_move_client(struct control_state *s, struct control_peer *p, const char *slice)
{
	struct control_server *old = NULL, *v;
	for (size_t i = 0; p->server_pid && i < s->n_servers; i++)
		if (s->servers[i].pid == p->server_pid)
			old = &s->servers[i];
	p->server_pid = 0; /* not counted as its client from now */
	if (old) {
		push(old, "client_exited %ld %u", (long)p->pid, clients_of(s, old->pid, NULL));
		control_server_maybe_stop(s, old);
	}
	if (s->mps.on)
		return; /* NVIDIA's one server serves every slice */
	if (!(v = server_of(s, slice, p->uid)) && !(v = start_server(s, slice, p->uid))) {
		control_log(s, "Client %ld moved to slice %s: no server could start for it", (long)p->pid, slice);
		return;
	}
	p->server_pid = v->pid;
	p->id = ++v->next_client_id;
	push(v, "client_connected %ld", (long)p->pid);
}

void control_servers_slice_gone(struct control_state *s, const char *slice)
{
	for (size_t i = 0; i < s->n_servers; i++)
		if (strcasecmp(s->servers[i].slice, slice) == 0) {
			s->servers[i].stopping = true;
			control_server_maybe_stop(s, &s->servers[i]);
		}
}
