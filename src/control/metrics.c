/* metrics.c: the daemon's figures in Prometheus' text exposition format, on
 * GET /metrics at the address GPUSHARE_CONTROL_METRICS names (off without it;
 * docs/metrics.md lists every metric).
 *
 * Threads: the daemon's state stays the loop's alone. The loop renders the
 * whole text once a second (the loop's wait ends when it is due) into a new MHD
 * response and swaps it in under a mutex; libmicrohttpd's own thread answers
 * every request with the response in force (MHD counts its references, so a
 * response being sent outlives its replacement). HTTP work, slow peers and
 * floods of connections thus never run on the loop, which only pays for one
 * rendering a second; MHD's external-select mode inside the epoll loop would
 * have rendered fresh text per request, but put every HTTP peer's work on the
 * thread that answers commands. A scrape sees figures at most a second old. */
#include "control.h"

#include "slices.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* The launches of programs that went, per GPU and slice, so that a
 * slice's total only grows (the loop's alone); a slice's entry goes when
 * the slice does. Without libmicrohttpd nothing reads it. */
struct gone {
	char slice[96], gpu[48];
	uint64_t launches;
};
static struct gone *gone;
static size_t n_gone, cap_gone;

void control_metrics_gone(const struct control_peer *p)
{
	if (!p->client || !p->launches)
		return;
	size_t i = 0;
	while (i < n_gone && (strcasecmp(gone[i].slice, p->slice) || strcasecmp(gone[i].gpu, p->gpu)))
		i++;
	if (i == n_gone) {
		if (n_gone == cap_gone) {
			size_t cap = cap_gone ? 2 * cap_gone : 16;
			struct gone *g = reallocarray(gone, cap, sizeof *g);
			if (!g)
				return; /* its launches leave the slice's total: it falls, Prometheus takes it as a reset */
			gone = g, cap_gone = cap;
		}
		gone[n_gone] = (struct gone){ .launches = 0 };
		snprintf(gone[n_gone].slice, sizeof gone[n_gone].slice, "%s", p->slice);
		snprintf(gone[n_gone].gpu, sizeof gone[n_gone].gpu, "%s", p->gpu);
		n_gone++;
	}
	gone[i].launches += p->launches;
}

#ifndef GS_NO_MICROHTTPD
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#define RENDER_NS 1000000000ull      /* the text is rendered again at most this often */
#define HTTP_CONNECTIONS 32u         /* in all */
#define HTTP_PER_ADDRESS 16u         /* from one address (on loopback every local user is 127.0.0.1) */
#define HTTP_IDLE_S 10u              /* a connection saying nothing this long is closed */
#define HTTP_REQUEST_MEMORY 16384u   /* a request's line and headers: larger ones get 431 */
#define RENDER_MAX (16u << 20)       /* a text larger than this (it cannot be) is not served */

static struct {
	struct MHD_Daemon *d;
	pthread_mutex_t lock;        /* guards current: the loop swaps it, MHD's thread queues it */
	struct MHD_Response *current;
	struct MHD_Response *not_found, *not_allowed;
	uint64_t rendered_ns;
	bool store_failed;           /* the last rendering could not read the store (logged once) */
	char where[64];
} M = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* ---- the text ---- */

struct text {
	char *buf;
	size_t len, cap;
	bool failed;                 /* out of memory or past RENDER_MAX: not served */
};

static void put(struct text *t, const char *fmt, ...) GS_PRINTF(2, 3);
static void put(struct text *t, const char *fmt, ...)
{
	for (int tries = 0; !t->failed && tries < 2; tries++) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(t->buf ? t->buf + t->len : NULL, t->buf ? t->cap - t->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->failed = true;
			return;
		}
		if (t->buf && t->len + (size_t)n < t->cap) {
			t->len += (size_t)n;
			return;
		}
		size_t cap = t->cap ? t->cap : 16384;
		while (cap <= t->len + (size_t)n)
			cap *= 2;
		char *nb = cap <= RENDER_MAX ? realloc(t->buf, cap) : NULL;
		if (!nb) {
			t->failed = true;
			return;
		}
		t->buf = nb;
		t->cap = cap;
	}
}

/* A label value as the format wants it: backslash, quote and newline escaped. */
static void put_value(struct text *t, const char *v)
{
	put(t, "\"");
	for (const char *c = v; *c; c++)
		if (*c == '\\' || *c == '"')
			put(t, "\\%c", *c);
		else if (*c == '\n')
			put(t, "\\n");
		else
			put(t, "%c", *c);
	put(t, "\"");
}

static void family(struct text *t, const char *name, const char *type, const char *help)
{
	put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The labels of a slice's (or remainder's) series: gpu_uuid, slice (its
 * MIG UUID, "-" for the remainder), slice_name ("" when unnamed). */
static void slice_labels(struct text *t, const struct gs_slice_row *row)
{
	put(t, "gpu_uuid=");
	put_value(t, row->gpu_uuid);
	put(t, ",slice=");
	put_value(t, row->remainder ? "-" : row->slice);
	put(t, ",slice_name=");
	put_value(t, row->name);
}

/* A process's series: its slice's labels, its pid and user. */
static void process_labels(struct text *t, const struct gs_slice_row *row, pid_t pid, const char *user)
{
	char p[24];
	snprintf(p, sizeof p, "%ld", (long)pid);
	slice_labels(t, row);
	put(t, ",pid=");
	put_value(t, p);
	put(t, ",user=");
	put_value(t, user);
}

static void slice_series(struct text *t, const char *name, const struct gs_slice_row *rows, size_t n, bool remainders,
			 uint64_t (*value)(const struct gs_slice_row *))
{
	for (size_t i = 0; i < n; i++) {
		if (rows[i].remainder && !remainders)
			continue;
		put(t, "%s{", name);
		slice_labels(t, &rows[i]);
		put(t, "} %" PRIu64 "\n", value(&rows[i]));
	}
}

static uint64_t row_memory(const struct gs_slice_row *r) { return r->memory; }
static uint64_t row_guarantee(const struct gs_slice_row *r) { return r->guarantee; }
static uint64_t row_used(const struct gs_slice_row *r) { return r->used; }
static uint64_t row_sms(const struct gs_slice_row *r) { return r->sms; }
static uint64_t row_busy(const struct gs_slice_row *r) { return r->busy; }

/* A registered program as the metrics count it: its slice, GPU, user, and
 * whether it waits for a server. */
struct client {
	char slice[96], gpu[48];
	uid_t uid;
	pid_t pid;
	uint64_t launches;
	uint64_t busy_ns;            /* its GPU busy time so far */
	bool pending;
};
struct clients {
	struct client *v;
	size_t n, cap;
	bool failed;
};

static void collect_client(void *ctx, struct control_peer *p)
{
	struct clients *c = ctx;
	if (c->failed)
		return;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct client *nv = reallocarray(c->v, cap, sizeof *nv);
		if (!nv) {
			c->failed = true;
			return;
		}
		c->v = nv;
		c->cap = cap;
	}
	struct client *x = &c->v[c->n++];
	snprintf(x->slice, sizeof x->slice, "%s", p->slice);
	snprintf(x->gpu, sizeof x->gpu, "%s", p->gpu);
	x->uid = p->uid;
	x->pid = p->pid;
	x->launches = p->launches;
	x->busy_ns = control_busy_process_ns(p, gs_now_ns());
	x->pending = p->pending;
}

static int client_order(const void *a, const void *b)
{
	const struct client *x = a, *y = b;
	int c = strcasecmp(x->gpu, y->gpu);
	if (!c)
		c = strcasecmp(x->slice, y->slice);
	if (!c)
		c = x->uid < y->uid ? -1 : x->uid > y->uid;
	return c;
}

/* Clients per (GPU, slice, user), admitted (pending false) or waiting. */
static void client_series(struct text *t, const char *name, const struct clients *c, bool pending,
			  const struct gs_slice_row *rows, size_t n_rows)
{
	for (size_t i = 0; i < c->n;) {
		size_t j = i, count = 0;
		for (; j < c->n && client_order(&c->v[i], &c->v[j]) == 0; j++)
			count += c->v[j].pending == pending;
		const struct client *x = &c->v[i];
		i = j;
		if (!count)
			continue;
		const char *slice_name = "";
		for (size_t r = 0; r < n_rows; r++)
			if (strcasecmp(rows[r].remainder ? "-" : rows[r].slice, x->slice) == 0 &&
			    (!rows[r].remainder || strcasecmp(rows[r].gpu_uuid, x->gpu) == 0))
				slice_name = rows[r].name;
		char user[64];
		gs_slices_user_name(x->uid, user, sizeof user);
		put(t, "%s{gpu_uuid=", name);
		put_value(t, x->gpu);
		put(t, ",slice=");
		put_value(t, x->slice);
		put(t, ",slice_name=");
		put_value(t, slice_name);
		put(t, ",user=");
		put_value(t, user);
		put(t, "} %zu\n", count);
	}
}

/* Whether a slice row is the one a client (or a program gone) named. */
static bool row_is(const struct gs_slice_row *row, const char *slice, const char *gpu)
{
	return strcasecmp(row->remainder ? "-" : row->slice, slice) == 0 &&
	       (!row->remainder || strcasecmp(row->gpu_uuid, gpu) == 0);
}

/* Kernel launches: each registered program's, and each slice's, those of
 * its programs that went included. */
static void launch_series(struct text *t, const struct clients *c, const struct gs_slice_row *rows, size_t n)
{
	family(t, "gpushare_process_launches_total", "counter",
	       "Kernel and graph launches of a registered program, as its interposer last said (twice a second).");
	for (size_t i = 0; i < c->n; i++) {
		const struct client *x = &c->v[i];
		for (size_t r = 0; x->launches && r < n; r++) {
			if (!row_is(&rows[r], x->slice, x->gpu))
				continue;
			char user[64];
			gs_slices_user_name(x->uid, user, sizeof user);
			put(t, "gpushare_process_launches_total{");
			process_labels(t, &rows[r], x->pid, user);
			put(t, "} %" PRIu64 "\n", x->launches);
			break;
		}
	}
	family(t, "gpushare_slice_launches_total", "counter",
	       "Kernel and graph launches of a slice's programs, those that went included.");
	for (size_t r = 0; r < n; r++) {
		uint64_t sum = 0;
		for (size_t i = 0; i < n_gone; i++)
			sum += row_is(&rows[r], gone[i].slice, gone[i].gpu) ? gone[i].launches : 0;
		for (size_t i = 0; i < c->n; i++)
			sum += row_is(&rows[r], c->v[i].slice, c->v[i].gpu) ? c->v[i].launches : 0;
		if (!sum)
			continue; /* as the clients' counts: a series that would be 0 is left out */
		put(t, "gpushare_slice_launches_total{");
		slice_labels(t, &rows[r]);
		put(t, "} %" PRIu64 "\n", sum);
	}
	/* the programs of slices that are gone are forgotten with them */
	size_t keep = 0;
	for (size_t i = 0; i < n_gone; i++) {
		bool there = false;
		for (size_t r = 0; r < n && !there; r++)
			there = row_is(&rows[r], gone[i].slice, gone[i].gpu);
		if (there)
			gone[keep++] = gone[i];
	}
	n_gone = keep;
}

/* Seconds from ns, exactly. */
static void put_seconds(struct text *t, uint64_t ns)
{
	put(t, "%" PRIu64 ".%09" PRIu64 "\n", ns / 1000000000u, ns % 1000000000u);
}

struct rows {
	const struct gs_slice_row *v;
	size_t n;
};

static bool row_there(void *ctx, const char *gpu, const char *slice)
{
	const struct rows *r = ctx;
	for (size_t i = 0; i < r->n; i++)
		if (row_is(&r->v[i], slice, gpu))
			return true;
	return false;
}

/* GPU busy time (busy.c): each admitted program's, and each slice's, the
 * union of its programs' (those that went included). */
static void busy_series(struct text *t, const struct clients *c, const struct gs_slice_row *rows, size_t n)
{
	family(t, "gpushare_process_gpu_busy_seconds_total", "counter",
	       "Seconds a registered program was busy on its GPU: from a kernel launch or a wait for the GPU until its "
	       "interposer's next look saw neither (docs/metrics.md).");
	for (size_t i = 0; i < c->n; i++) {
		const struct client *x = &c->v[i];
		for (size_t r = 0; !x->pending && r < n; r++) {
			if (!row_is(&rows[r], x->slice, x->gpu))
				continue;
			char user[64];
			gs_slices_user_name(x->uid, user, sizeof user);
			put(t, "gpushare_process_gpu_busy_seconds_total{");
			process_labels(t, &rows[r], x->pid, user);
			put(t, "} ");
			put_seconds(t, x->busy_ns);
			break;
		}
	}
	family(t, "gpushare_slice_gpu_busy_seconds_total", "counter",
	       "Seconds at least one of a slice's programs was busy on the GPU (the union of their busy time, those "
	       "that went included).");
	uint64_t now = gs_now_ns();
	for (size_t r = 0; r < n; r++) {
		put(t, "gpushare_slice_gpu_busy_seconds_total{");
		slice_labels(t, &rows[r]);
		put(t, "} ");
		put_seconds(t, control_busy_slice_ns(rows[r].gpu_uuid, rows[r].remainder ? "-" : rows[r].slice, now));
	}
	control_busy_forget(row_there, &(struct rows){ rows, n });
}

static void counter(struct text *t, const char *name, const char *help, uint64_t v)
{
	family(t, name, "counter", help);
	put(t, "%s %" PRIu64 "\n", name, v);
}

/* The whole text: GPUs, slices and remainders from the slice layer's rows
 * (what list_slices prints), clients from the daemon's connections, the
 * daemon's counters. */
static void render(struct control_state *s, struct text *t)
{
	family(t, "gpushare_gpu_info", "gauge", "A GPU the daemon serves (always 1), by index, UUID and name.");
	for (size_t i = 0; i < s->n_gpus; i++) {
		char index[16];
		snprintf(index, sizeof index, "%u", s->gpus[i].index);
		put(t, "gpushare_gpu_info{gpu=");
		put_value(t, index);
		put(t, ",gpu_uuid=");
		put_value(t, s->gpus[i].uuid);
		put(t, ",name=");
		put_value(t, s->gpus[i].name);
		put(t, "} 1\n");
	}
	family(t, "gpushare_gpu_memory_bytes", "gauge", "A GPU's memory in bytes.");
	for (size_t i = 0; i < s->n_gpus; i++) {
		put(t, "gpushare_gpu_memory_bytes{gpu_uuid=");
		put_value(t, s->gpus[i].uuid);
		put(t, "} %" PRIu64 "\n", s->gpus[i].memory);
	}
	family(t, "gpushare_gpu_sms", "gauge", "A GPU's streaming multiprocessors.");
	for (size_t i = 0; i < s->n_gpus; i++) {
		put(t, "gpushare_gpu_sms{gpu_uuid=");
		put_value(t, s->gpus[i].uuid);
		put(t, "} %u\n", s->gpus[i].sms);
	}
	family(t, "gpushare_gpu_busy_seconds_total", "counter",
	       "Seconds at least one program was busy on the GPU (the union of all its programs' busy time).");
	for (size_t i = 0; i < s->n_gpus; i++) {
		put(t, "gpushare_gpu_busy_seconds_total{gpu_uuid=");
		put_value(t, s->gpus[i].uuid);
		put(t, "} ");
		put_seconds(t, control_busy_gpu_ns(s->gpus[i].uuid, gs_now_ns()));
	}

	struct gs_slice_gpu gpus[CONTROL_MAX_GPUS];
	for (size_t i = 0; i < s->n_gpus; i++)
		gpus[i] = s->gpus[i].slice;
	struct gs_slice_row *rows = NULL;
	size_t n = 0;
	char why[512];
	int rc = gs_slices_rows(s->state_dir, (uid_t)-1, gpus, s->n_gpus, &rows, &n, why, sizeof why);
	if (rc && !M.store_failed)
		control_log(s, "Metrics: the slice store cannot be read (%s): its slices are left out until it can", why);
	else if (!rc && M.store_failed)
		control_log(s, "Metrics: the slice store can be read again");
	M.store_failed = rc != 0;
	family(t, "gpushare_slice_store_readable", "gauge",
	       "1 when the slices below were read from the slice store, 0 when it could not be read (none listed).");
	put(t, "gpushare_slice_store_readable %d\n", rc == 0);

	family(t, "gpushare_slice_info", "gauge",
	       "A slice or a GPU's remainder (slice \"-\"; always 1), with its GPU instance, compute instance, "
	       "second-user policy and SM sharing mode.");
	for (size_t i = 0; i < n; i++) {
		const struct gs_slice_row *row = &rows[i];
		put(t, "gpushare_slice_info{");
		slice_labels(t, row);
		if (!row->remainder) {
			char gi[16], ci[16];
			snprintf(gi, sizeof gi, "%d", row->gi);
			snprintf(ci, sizeof ci, "%d", row->ci);
			put(t, ",gi=");
			put_value(t, gi);
			put(t, ",ci=");
			put_value(t, ci);
			put(t, ",policy=");
			put_value(t, row->refuse ? "refuse" : "queue");
			put(t, ",sm_mode=");
			put_value(t, gs_store_sm_mode_name(row->sm_policy.mode));
			put(t, ",job=");
			put_value(t, row->job ? "true" : "false");
		}
		put(t, "} 1\n");
	}
	family(t, "gpushare_slice_memory_limit_bytes", "gauge",
	       "A slice's memory limit in bytes; a remainder's: what no slice is guaranteed.");
	slice_series(t, "gpushare_slice_memory_limit_bytes", rows, n, true, row_memory);
	family(t, "gpushare_slice_memory_guarantee_bytes", "gauge", "Memory no other slice may take from this one, bytes.");
	slice_series(t, "gpushare_slice_memory_guarantee_bytes", rows, n, true, row_guarantee);
	family(t, "gpushare_slice_memory_used_bytes", "gauge",
	       "Memory the slice's programs hold now, bytes, from its ledger.");
	slice_series(t, "gpushare_slice_memory_used_bytes", rows, n, true, row_used);
	family(t, "gpushare_slice_sms", "gauge", "A slice's own streaming multiprocessors.");
	slice_series(t, "gpushare_slice_sms", rows, n, false, row_sms);
	family(t, "gpushare_slice_busy", "gauge", "1 while a program holds memory in the slice, else 0.");
	slice_series(t, "gpushare_slice_busy", rows, n, true, row_busy);
	family(t, "gpushare_process_memory_used_bytes", "gauge",
	       "Memory a process holds in a slice, bytes, from the slice's ledger.");
	for (size_t i = 0; i < n; i++)
		for (size_t q = 0; q < rows[i].n_procs; q++) {
			const struct gs_slice_proc *pr = &rows[i].procs[q];
			char user[64] = "";
			if (pr->uid != (uid_t)-1)
				gs_slices_user_name(pr->uid, user, sizeof user);
			put(t, "gpushare_process_memory_used_bytes{");
			process_labels(t, &rows[i], pr->pid, user);
			put(t, ",command=");
			put_value(t, pr->command);
			put(t, "} %" PRIu64 "\n", pr->bytes);
		}

	struct clients c = { 0 };
	control_each_client(collect_client, &c);
	if (!c.failed)
		qsort(c.v, c.n, sizeof *c.v, client_order);
	else
		t->failed = true;
	family(t, "gpushare_slice_clients", "gauge",
	       "Programs registered with the daemon and attached to a server, per slice and user.");
	client_series(t, "gpushare_slice_clients", &c, false, rows, n);
	family(t, "gpushare_slice_queued_clients", "gauge",
	       "Registered programs waiting for a server (its start, or another user's to end), per slice and user.");
	client_series(t, "gpushare_slice_queued_clients", &c, true, rows, n);
	if (rc == 0) { /* without the store's rows, no slice to name: not a fall to zero either */
		launch_series(t, &c, rows, n);
		busy_series(t, &c, rows, n);
	}
	free(c.v);
	free(rows);

	family(t, "gpushare_control_connections", "gauge", "Connections to the control daemon now.");
	put(t, "gpushare_control_connections %" PRIu64 "\n", s->counters.connections_open);
	counter(t, "gpushare_control_connections_total", "Connections the control daemon accepted.",
		s->counters.connections);
	counter(t, "gpushare_control_connections_refused_total",
		"Connections the control daemon refused (too many, no file descriptor left).",
		s->counters.connections_refused);
	counter(t, "gpushare_control_commands_total",
		"Command lines the control daemon answered (programs' busy and idle reports aside).", s->counters.commands);
	counter(t, "gpushare_control_commands_refused_total", "Command lines answered with a refusal (status 1).",
		s->counters.commands_refused);
	counter(t, "gpushare_control_registrations_total", "CUDA programs that registered at CUDA init.",
		s->counters.registrations);
	counter(t, "gpushare_control_registrations_refused_total",
		"Registrations refused at once (no such slice, not open to the user, slice in use with -refuse, ...).",
		s->counters.registrations_refused);
}

/* The loop's side: a new response swapped in; the old one goes once MHD has
 * sent it to everyone it was queued for. */
static void publish(struct control_state *s)
{
	struct text t = { 0 };
	render(s, &t);
	M.rendered_ns = gs_now_ns();
	struct MHD_Response *r = NULL;
	if (!t.failed) {
		r = MHD_create_response_from_buffer(t.len, t.buf, MHD_RESPMEM_MUST_FREE);
		if (r && MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8") !=
			       MHD_YES) {
			MHD_destroy_response(r);
			r = NULL;
		}
		if (!r)
			free(t.buf);
	} else {
		free(t.buf);
	}
	if (!r)
		return; /* out of memory: the last figures stay, and are tried again next second */
	pthread_mutex_lock(&M.lock);
	struct MHD_Response *old = M.current;
	M.current = r;
	pthread_mutex_unlock(&M.lock);
	if (old)
		MHD_destroy_response(old);
}

/* ---- MHD's thread: touches nothing but the responses ---- */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				  const char *version, const char *upload, size_t *upload_len, void **req)
{
	(void)cls, (void)version, (void)upload;
	/* HEAD is GET without the body (RFC 9110 asks for both where GET is
	 * served); MHD leaves the body out itself. Any other method is answered
	 * at its headers, and the connection closed: its body is never read. */
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return MHD_queue_response(conn, MHD_HTTP_METHOD_NOT_ALLOWED, M.not_allowed);
	static int seen; /* its address marks a request whose headers came */
	if (*req != &seen) {
		/* answered once the whole request is in (the next call): then
		 * the connection may stay open for the next scrape */
		*req = &seen;
		return MHD_YES;
	}
	if (*upload_len) {
		*upload_len = 0; /* a GET with a body: the body is dropped */
		return MHD_YES;
	}
	if (strcmp(url, "/metrics"))
		return MHD_queue_response(conn, MHD_HTTP_NOT_FOUND, M.not_found);
	pthread_mutex_lock(&M.lock);
	enum MHD_Result rc = MHD_queue_response(conn, MHD_HTTP_OK, M.current);
	pthread_mutex_unlock(&M.lock);
	return rc;
}

static struct MHD_Response *fixed(const char *text)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_PERSISTENT);
	if (r)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	return r;
}

/* host:port, the host a numeric IPv4 address or an IPv6 one in brackets.
 * 0, or -EINVAL with why in err. */
static int parse_address(const char *v, struct sockaddr_storage *sa, socklen_t *len, char *err, size_t errlen)
{
	const char *colon = strrchr(v, ':');
	char host[64];
	if (!colon || colon == v || (size_t)(colon - v) >= sizeof host)
		return gs_fail(err, errlen, -EINVAL, "no host:port");
	memcpy(host, v, (size_t)(colon - v));
	host[colon - v] = '\0';
	unsigned long long port;
	if (gs_parse_uint(colon + 1, 65535, &port) || port == 0)
		return gs_fail(err, errlen, -EINVAL, "the port is not a number from 1 to 65535");
	memset(sa, 0, sizeof *sa);
	struct sockaddr_in *a4 = (struct sockaddr_in *)sa;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)sa;
	size_t hl = strlen(host);
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
			return gs_fail(err, errlen, -EINVAL, "\"%s\" is not an IPv6 address", host + 1);
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		*len = sizeof *a6;
		return 0;
	}
	if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
		return gs_fail(err, errlen, -EINVAL, "\"%s\" is not a numeric IPv4 address (an IPv6 one goes in brackets)",
			       host);
	a4->sin_family = AF_INET;
	a4->sin_port = htons((uint16_t)port);
	*len = sizeof *a4;
	return 0;
}

static bool loopback(const struct sockaddr_storage *sa)
{
	if (sa->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
}

/* The listening socket is ours, so that a failure says why (MHD's start
 * only says that it failed). */
static int listen_at(const struct sockaddr_storage *sa, socklen_t len)
{
	int fd = socket(sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	/* a restart after kill -9 binds again at once */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (sa->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if (bind(fd, (const struct sockaddr *)sa, len) || listen(fd, 64)) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

void control_metrics_init(struct control_state *s)
{
	const char *v = getenv("GPUSHARE_CONTROL_METRICS");
	if (!v || !*v)
		return;
	struct sockaddr_storage sa;
	socklen_t len = 0;
	char why[160];
	if (parse_address(v, &sa, &len, why, sizeof why)) {
		control_log(s, "GPUSHARE_CONTROL_METRICS=\"%.64s\" is not an address to serve metrics on: %s; give "
			       "host:port with a numeric address, such as 127.0.0.1:9401 or [::1]:9401. No metrics served",
			    v, why);
		return;
	}
	snprintf(M.where, sizeof M.where, "%s", v);
	int fd = listen_at(&sa, len);
	if (fd < 0) {
		control_log(s, "Cannot serve metrics on %s: %s. No metrics served", M.where, strerror(-fd));
		return;
	}
	M.not_found = fixed("Not found: gpushare-control serves /metrics alone\n");
	M.not_allowed = fixed("Method not allowed: GET /metrics\n");
	if (M.not_allowed)
		MHD_add_response_header(M.not_allowed, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	publish(s);
	/* MHD's thread takes no signal: SIGCHLD and SIGTERM wake the loop */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	if (M.not_found && M.not_allowed && M.current)
		M.d = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | (sa.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0), 0,
				       NULL, NULL, on_request, NULL, MHD_OPTION_LISTEN_SOCKET, fd,
				       MHD_OPTION_CONNECTION_LIMIT, HTTP_CONNECTIONS, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
				       HTTP_PER_ADDRESS, MHD_OPTION_CONNECTION_TIMEOUT, HTTP_IDLE_S,
				       MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_REQUEST_MEMORY, MHD_OPTION_END);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!M.d) {
		close(fd);
		control_log(s, "Cannot serve metrics on %s: libmicrohttpd did not start. No metrics served", M.where);
		control_metrics_stop();
		return;
	}
	control_log(s, "Serving metrics on http://%s/metrics (%u connections, %u from one address, closed after %u s "
		       "idle)%s", M.where, HTTP_CONNECTIONS, HTTP_PER_ADDRESS, HTTP_IDLE_S,
		    loopback(&sa) ? "" : "; not a loopback address: whoever reaches it reads every slice's and user's figures");
}

int control_metrics_tick(struct control_state *s)
{
	if (!M.d)
		return -1;
	uint64_t now = gs_now_ns();
	if (now - M.rendered_ns >= RENDER_NS) {
		publish(s);
		now = M.rendered_ns;
	}
	return (int)((M.rendered_ns + RENDER_NS - now) / 1000000u) + 1;
}

void control_metrics_stop(void)
{
	if (M.d)
		MHD_stop_daemon(M.d); /* closes the listening socket too */
	M.d = NULL;
	struct MHD_Response **all[] = { &M.current, &M.not_found, &M.not_allowed };
	for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
		if (*all[i])
			MHD_destroy_response(*all[i]);
		*all[i] = NULL;
	}
}

#else /* built without libmicrohttpd */

void control_metrics_init(struct control_state *s)
{
	const char *v = getenv("GPUSHARE_CONTROL_METRICS");
	if (v && *v)
		control_log(s, "GPUSHARE_CONTROL_METRICS=\"%.64s\" ignored: this gpushare-control was built without "
			       "libmicrohttpd (Debian's libmicrohttpd-dev; scripts/deps.sh installs it). No metrics served",
			    v);
}

int control_metrics_tick(struct control_state *s)
{
	(void)s;
	return -1;
}

void control_metrics_stop(void)
{
}

#endif
