/* cmd-servers.c: MPS's commands on servers and their clients (reference
 * A.5), answered from gpushare-control's own servers on the simulated GPU.
 * (Where NVIDIA's MPS runs under the daemon they are passed to it.) */
#include "control.h"

#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Another user's server is not there for a user other than root or the
 * daemon's, as in the listings. */
static struct control_server *server_arg(struct control_state *s, const struct control_peer *p, const char *pid,
					 struct control_reply *r)
{
	struct control_server *v = control_server_find(s, pid);
	if (v && !control_peer_sees(p, v->uid))
		v = NULL;
	if (!v)
		control_reply_error(r, "Server %s not found", pid);
	return v;
}

CONTROL_CMD_FN(cmd_get_server_list)
{
	(void)argc, (void)argv;
	for (size_t i = 0; i < s->n_servers; i++)
		if (control_peer_sees(p, s->servers[i].uid))
			control_reply_line(r, "%ld", (long)s->servers[i].pid);
}

CONTROL_CMD_FN(cmd_get_server_status)
{
	(void)p, (void)argc;
	struct control_server *v = server_arg(s, p, argv[1], r);
	if (v)
		control_reply_line(r, "%s", v->state == SERVER_ACTIVE ? "ACTIVE" : "INITIALIZING");
}

struct each_ctx {
	struct control_state *s;
	struct control_reply *r;
	const struct control_peer *viewer; /* who asks: the clients it may see */
	pid_t server, client;      /* filters, 0: any */
	const char *gpu;           /* filter, NULL: any (clients that named no GPU count as GPU 0's) */
	unsigned n;
	struct control_peer *last; /* the last client that passed */
	void (*row)(struct each_ctx *c, struct control_peer *p);
};

static void each_client(void *ctx, struct control_peer *p)
{
	struct each_ctx *c = ctx;
	if (!p->server_pid || (c->server && p->server_pid != c->server) || (c->client && p->pid != c->client) ||
	    !control_peer_sees(c->viewer, p->uid))
		return;
	if (c->gpu && strcmp(p->gpu, c->gpu) && !(p->gpu[0] == '\0' && c->gpu == c->s->gpus[0].uuid))
		return;
	c->n++;
	c->last = p;
	if (c->row)
		c->row(c, p);
}

static void pid_row(struct each_ctx *c, struct control_peer *p)
{
	control_reply_line(c->r, "%ld", (long)p->pid);
}

CONTROL_CMD_FN(cmd_get_client_list)
{
	(void)p, (void)argc;
	struct control_server *v = server_arg(s, p, argv[1], r);
	if (!v)
		return;
	struct each_ctx c = { .s = s, .r = r, .viewer = p, .server = v->pid, .row = pid_row };
	control_each_client(each_client, &c);
}

CONTROL_CMD_FN(cmd_start_server)
{
	(void)p;
	unsigned long long uid;
	const char *slice = "-";
	if (strcmp(argv[1], "-uid") || gs_parse_uint(argv[2], UINT32_MAX - 1, &uid) ||
	    (argc == 5 && strcmp(argv[3], "-slice")) || argc == 4) {
		control_reply_error(r, "Invalid arguments: start_server -uid <UID> [-slice <MIG-uuid>]");
		return;
	}
	struct control_slice named;
	if (argc == 5 && strcmp(argv[4], "-")) {
		if (control_slice_find(s, argv[4], &named, r))
			return;
		slice = named.uuid;
	}
	if (control_server_start(s, slice, (uid_t)uid, r))
		r->status = 1;
}

CONTROL_CMD_FN(cmd_shutdown_server)
{
	(void)p;
	if (argc == 3 && strcmp(argv[2], "-f")) {
		control_reply_error(r, "Invalid arguments: shutdown_server <PID> [-f]");
		return;
	}
	struct control_server *v = server_arg(s, p, argv[1], r);
	if (!v)
		return;
	control_log(s, "Try shutting down server %ld, backoff is disabled", (long)v->pid);
	v->stopping = true;
	if (argc == 3)
		control_server_force(s, v);
	else
		control_server_maybe_stop(s, v);
}

CONTROL_CMD_FN(cmd_terminate_client)
{
	(void)p, (void)argc;
	struct control_server *v = server_arg(s, p, argv[1], r);
	unsigned long long pid;
	if (!v)
		return;
	struct each_ctx c = { .s = s, .r = r, .viewer = p, .server = v->pid };
	if (gs_parse_uint(argv[2], INT_MAX, &pid) == 0 && pid) {
		c.client = (pid_t)pid;
		control_each_client(each_client, &c);
	}
	if (!c.last) {
		control_reply_error(r, "Client %s not found", argv[2]);
		return;
	}
	control_server_terminate(s, v, c.last);
	control_reply_line(r, "0");
}

CONTROL_CMD_FN(cmd_get_pct)
{
	(void)p, (void)argc;
	struct control_server *v = server_arg(s, p, argv[1], r);
	char out[16];
	if (!v)
		return;
	mpsval_format_pct(v->pct, out);
	control_reply_line(r, "%s", out);
}

CONTROL_CMD_FN(cmd_set_pct)
{
	(void)p, (void)argc;
	struct control_server *v = server_arg(s, p, argv[1], r);
	char out[16];
	double pct;
	if (!v)
		return;
	bool ok = mpsval_parse_pct(argv[2], &pct) == 0;
	if (ok) {
		v->pct = pct; /* clients created afterwards, as MPS */
		mpsval_format_pct(pct, out);
		control_server_changed(s, v, "pct %s", out);
	} else {
		control_log(s, "Invalid percentage, expected between (0.0, 100.0]");
	}
	mpsval_format_pct(v->pct, out);
	control_reply_line(r, "%s", out);
	if (!ok)
		control_percentage_refused(r, argv[2], out);
}

/* A server's limits are kept by GPU UUID where the daemon knows the GPU, so
 * an ordinal and a UUID name the same limit (MPS accepts both). */
static struct mpsval_dev_limit *server_limit(struct control_state *s, struct control_server *v, const char *dev,
					     bool create)
{
	const struct control_gpu *g = control_gpu_by_dev(s, dev);
	const char *key = g ? g->uuid : dev;
	for (size_t i = 0; i < v->n_limits; i++)
		if (strcmp(v->limits[i].dev, key) == 0)
			return &v->limits[i];
	if (!create || v->n_limits == CONTROL_MAX_LIMITS || strlen(key) >= sizeof v->limits[0].dev)
		return NULL;
	struct mpsval_dev_limit *l = &v->limits[v->n_limits++];
	snprintf(l->dev, sizeof l->dev, "%s", key);
	return l;
}

CONTROL_CMD_FN(cmd_get_limit)
{
	(void)p, (void)argc;
	struct control_server *v = server_arg(s, p, argv[1], r);
	if (!v)
		return;
	const struct mpsval_dev_limit *l = server_limit(s, v, argv[2], false);
	char out[32];
	if (!l) {
		control_log(s, "No pinned memory limit set for the device!");
		return;
	}
	mpsval_format_limit(l->bytes, out);
	control_reply_line(r, "%s", out);
}

CONTROL_CMD_FN(cmd_set_limit)
{
	(void)p, (void)argc;
	struct control_server *v = server_arg(s, p, argv[1], r);
	uint64_t bytes;
	if (!v)
		return;
	if (mpsval_parse_limit(argv[3], &bytes)) {
		control_reply_fail(r, "Invalid memory limit \"%.32s\": use an integer and G or M, e.g. 2G or 500M", argv[3]);
		return;
	}
	struct mpsval_dev_limit *l = server_limit(s, v, argv[2], true);
	if (!l) {
		control_reply_fail(r, "Too many devices with a pinned memory limit");
		return;
	}
	l->bytes = bytes;
	const struct control_gpu *g = control_gpu_by_dev(s, argv[2]);
	char dev[16];
	if (g)
		snprintf(dev, sizeof dev, "%u", g->index);
	control_server_changed(s, v, "limit %s %" PRIu64, g ? dev : argv[2], bytes);
}

/* MPS's two spellings of a GPU's PCI address: device_query's
 * "0000:00.06.00" and get_device_client_list's "00:00.0", from NVML's
 * "00000000:00:06.0". */
static void pci_ids(const char *bus, char *out, size_t len, bool short_form)
{
	unsigned dom = 0, b = 0, d = 0, f = 0;
	if (sscanf(bus, "%x:%x:%x.%x", &dom, &b, &d, &f) != 4)
		dom = b = d = f = 0;
	if (short_form)
		snprintf(out, len, "%02x:%02x.%x", b, dom & 0xff, f);
	else
		snprintf(out, len, "%04x:%02x.%02x.%02x", dom & 0xffff, b, d, f);
}

static void device_client_row(struct each_ctx *c, struct control_peer *p)
{
	control_reply_line(c->r, "%ld.1", (long)p->pid);
}

CONTROL_CMD_FN(cmd_get_device_client_list)
{
	(void)p;
	pid_t only = 0;
	if (argc == 2) {
		struct control_server *v = server_arg(s, p, argv[1], r);
		if (!v)
			return;
		only = v->pid;
	}
	for (size_t i = 0; i < s->n_gpus; i++) {
		struct each_ctx c = { .s = s, .r = r, .viewer = p, .server = only, .gpu = s->gpus[i].uuid };
		control_each_client(each_client, &c);
		if (!c.n)
			continue; /* MPS prints nothing for a device without clients */
		char ids[16];
		pci_ids(s->gpus[i].bus, ids, sizeof ids, true);
		control_reply_line(r, "[%u] %s, %s", s->gpus[i].index, ids, s->gpus[i].name);
		c.row = device_client_row;
		control_each_client(each_client, &c);
	}
}

static void device_block(struct control_state *s, struct control_reply *r, bool csv)
{
	if (csv)
		control_reply_line(r, "Device Ordinal,PCI IDs,UUID,Name,Attributes");
	else
		control_reply_line(r, "%-16s%-15s%-42s%-34s%s", "Device Ordinal", "PCI IDs", "UUID", "Name", "Attributes");
	for (size_t i = 0; i < s->n_gpus; i++) {
		const struct control_gpu *g = &s->gpus[i];
		char ids[24];
		pci_ids(g->bus, ids, sizeof ids, false);
		if (csv)
			control_reply_line(r, "%u,%s,%s,%s,N/A", g->index, ids, g->uuid, g->name);
		else
			control_reply_line(r, "%-16u%-15s%-42s%-34s%s", g->index, ids, g->uuid, g->name, "N/A");
	}
}

CONTROL_CMD_FN(cmd_device_query)
{
	(void)p;
	bool csv = false;
	struct control_server *only = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--csv") == 0)
			csv = true;
		else if (!(only = server_arg(s, p, argv[i], r)))
			return;
	}
	if (!only) {
		control_reply_line(r, "Default");
		device_block(s, r, csv);
	}
	for (size_t i = 0; i < s->n_servers; i++) {
		if ((only && &s->servers[i] != only) || !control_peer_sees(p, s->servers[i].uid))
			continue;
		if (!only || i)
			control_reply_line(r, "%s", "");
		control_reply_line(r, "Server %ld", (long)s->servers[i].pid);
		device_block(s, r, csv);
		control_server_log(s, s->servers[i].pid, "Received device query command. There are %zu devices", s->n_gpus);
	}
}

static void ps_row(struct each_ctx *c, struct control_peer *p)
{
	char path[64], ns[64] = "", comm[64] = "?";
	snprintf(path, sizeof path, "/proc/%ld/ns/pid", (long)p->pid);
	ssize_t n = readlink(path, ns, sizeof ns - 1);
	unsigned long long inode = 0;
	if (n > 0) {
		ns[n] = '\0';
		sscanf(ns, "pid:[%llu]", &inode);
	}
	snprintf(path, sizeof path, "/proc/%ld/comm", (long)p->pid);
	FILE *f = fopen(path, "r");
	if (f) {
		if (fgets(comm, sizeof comm, f))
			comm[strcspn(comm, "\n")] = '\0';
		fclose(f);
	}
	char dev[23];
	snprintf(dev, sizeof dev, "%s", p->gpu[0] ? p->gpu : c->s->n_gpus ? c->s->gpus[0].uuid : "-");
	char ids[2][16], nsb[24];
	snprintf(ids[0], sizeof ids[0], "%u", p->id);
	snprintf(ids[1], sizeof ids[1], "%ld", (long)p->server_pid);
	snprintf(nsb, sizeof nsb, "%llu", inode);
	char pid[16];
	snprintf(pid, sizeof pid, "%ld", (long)p->pid);
	control_reply_line(c->r, "%-10s%-10s%-15s%-26s%-15s%-15s", pid, ids[0], ids[1], dev, nsb, comm);
}

CONTROL_CMD_FN(cmd_ps)
{
	(void)p;
	unsigned long long pid = 0;
	if (argc != 1 && (argc != 3 || strcmp(argv[1], "-p") || gs_parse_uint(argv[2], INT_MAX, &pid))) {
		control_reply_error(r, "Invalid arguments: ps [-p <PID>]");
		return;
	}
	size_t seen = 0;
	for (size_t i = 0; i < s->n_servers; i++)
		seen += control_peer_sees(p, s->servers[i].uid);
	if (seen == 0) {
		control_reply_line(r, "Server not found");
		return;
	}
	/* a client PID or a server PID */
	struct control_server *v = pid ? control_server_find(s, argv[2]) : NULL;
	if (v && !control_peer_sees(p, v->uid))
		v = NULL;
	struct each_ctx c = { .s = s, .r = r, .viewer = p, .server = v ? v->pid : 0, .client = v ? 0 : (pid_t)pid };
	control_each_client(each_client, &c);
	if (!c.n)
		return; /* no client: not even the header, as MPS */
	control_reply_line(r, "%-10s%-10s%-15s%-26s%-15s%-15s", "PID", "ID", "SERVER", "DEVICE", "NAMESPACE", "COMMAND");
	c.row = ps_row;
	control_each_client(each_client, &c);
}
