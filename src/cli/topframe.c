/* topframe.c: the three listings of gpushare-control joined into one frame
 * of `gpushare top`, and its lines (see topframe.h). Only what the daemon
 * says is shown: a value it does not give is "-". */
#include "topframe.h"
#include "slices.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* What is being read, for the messages. */
struct doc {
	struct gs_json j;
	const char *what;      /* "list_slices --json" */
	char *err;
	size_t errlen;
};

static int bad(struct doc *d, const char *fmt, ...) GS_PRINTF(2, 3);
static int bad(struct doc *d, const char *fmt, ...)
{
	char why[160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	return gs_fail(d->err, d->errlen, -EINVAL, "gpushare-control's answer to \"%s\" is not what gpushare top reads: %s",
		       d->what, why);
}

static int parse(struct doc *d, const char *what, const char *text, size_t len, struct gs_json_node *nodes, size_t cap,
		 const char *list, int *array, char *err, size_t errlen)
{
	d->what = what;
	d->err = err;
	d->errlen = errlen;
	char why[160];
	int rc = gs_json_parse(&d->j, text, len, nodes, cap, why, sizeof why);
	if (rc)
		return gs_fail(err, errlen, rc, "gpushare-control's answer to \"%s\" is not JSON: %s", what, why);
	uint64_t version;
	if (gs_json_u64(&d->j, gs_json_get(&d->j, 0, "version"), &version) || version != 1)
		return bad(d, "no \"version\": 1 (the schema gpushare top reads)");
	*array = gs_json_get(&d->j, 0, list);
	if (gs_json_type(&d->j, *array) != GS_JSON_ARRAY)
		return bad(d, "no \"%s\" list", list);
	return 0;
}

/* A member that must be there: a string, a number, a boolean. */
static int need_str(struct doc *d, int obj, const char *key, size_t at, char *out, size_t len)
{
	if (gs_json_string(&d->j, gs_json_get(&d->j, obj, key), out, len))
		return bad(d, "entry %zu has no \"%s\" string", at, key);
	return 0;
}

static int need_u64(struct doc *d, int obj, const char *key, size_t at, uint64_t *v)
{
	if (gs_json_u64(&d->j, gs_json_get(&d->j, obj, key), v))
		return bad(d, "entry %zu has no \"%s\" count", at, key);
	return 0;
}

static int need_bool(struct doc *d, int obj, const char *key, size_t at, bool *v)
{
	if (gs_json_bool(&d->j, gs_json_get(&d->j, obj, key), v))
		return bad(d, "entry %zu has no \"%s\" true or false", at, key);
	return 0;
}

/* The member as a string or null (""): 0, or -EINVAL for another type. */
static int opt_str(struct doc *d, int obj, const char *key, char *out, size_t len)
{
	int v = gs_json_get(&d->j, obj, key);
	out[0] = '\0';
	return gs_json_type(&d->j, v) == GS_JSON_NULL ? 0 : gs_json_string(&d->j, v, out, len);
}

/* The frame's GPU of that UUID, added where new (the index where known). */
static int gpu_slot(struct topframe *f, const char *uuid, int index)
{
	for (size_t i = 0; i < f->n_gpus; i++)
		if (strcasecmp(f->gpus[i].uuid, uuid) == 0) {
			if (f->gpus[i].index < 0)
				f->gpus[i].index = index;
			return (int)i;
		}
	if (f->n_gpus == GS_ARRAY_LEN(f->gpus))
		return -1;
	struct topframe_gpu *g = &f->gpus[f->n_gpus];
	*g = (struct topframe_gpu){ .index = index };
	snprintf(g->uuid, sizeof g->uuid, "%s", uuid);
	return (int)f->n_gpus++;
}

static int find_slice(const struct topframe *f, unsigned gpu, const char *slice)
{
	for (size_t i = 0; i < f->n_slices; i++)
		if (f->slices[i].gpu == gpu && strcasecmp(f->slices[i].slice, slice) == 0)
			return (int)i;
	return -1;
}

/* The slice of that GPU and name, added (with no figures) where new; -1 when full. */
static int slice_slot(struct topframe *f, unsigned gpu, const char *slice)
{
	int i = find_slice(f, gpu, slice);
	if (i >= 0)
		return i;
	if (f->n_slices == TOPFRAME_MAX_SLICES) {
		f->omitted++;
		return -1;
	}
	struct topframe_slice *s = &f->slices[f->n_slices];
	*s = (struct topframe_slice){ .gpu = gpu, .remainder = strcmp(slice, "-") == 0 };
	snprintf(s->slice, sizeof s->slice, "%s", slice);
	return (int)f->n_slices++;
}

static int read_gpu(struct doc *d, struct topframe *f, int obj, size_t at)
{
	char uuid[48];
	uint64_t index;
	int rc = need_str(d, obj, "gpu_uuid", at, uuid, sizeof uuid);
	if (rc)
		return rc;
	int slot = gpu_slot(f, uuid, gs_json_u64(&d->j, gs_json_get(&d->j, obj, "gpu"), &index) || index > 1024 ? -1 : (int)index);
	if (slot < 0)
		return bad(d, "more GPUs than %zu", GS_ARRAY_LEN(f->gpus));
	return slot;
}

/* The SHARING text as list_slices prints it, from its JSON fields. */
static int read_sharing(struct doc *d, int obj, size_t at, char *out, size_t len)
{
	char mode[16];
	bool lend, borrow;
	uint64_t floor = 0, weight = 1, ts = 0;
	char prio[16];
	int rc;
	if ((rc = need_str(d, obj, "sm_mode", at, mode, sizeof mode)) || (rc = need_bool(d, obj, "lend", at, &lend)) ||
	    (rc = need_bool(d, obj, "borrow", at, &borrow)) || (rc = need_str(d, obj, "priority", at, prio, sizeof prio)))
		return rc;
	/* older daemons leave these out: their defaults */
	gs_json_u64(&d->j, gs_json_get(&d->j, obj, "floor_sms"), &floor);
	gs_json_u64(&d->j, gs_json_get(&d->j, obj, "weight"), &weight);
	gs_json_u64(&d->j, gs_json_get(&d->j, obj, "timeslice_ms"), &ts);
	int m = gs_store_sm_mode_parse(mode);
	if (m < 0)
		return bad(d, "entry %zu has an \"sm_mode\" of none of shared, isolated, best-effort", at);
	int pr = gs_store_priority_parse(prio);
	if (pr < 0)
		return bad(d, "entry %zu has a \"priority\" of none of normal, critical, low", at);
	struct gs_sm_policy p = { .mode = (uint8_t)m, .no_lend = !lend, .no_borrow = !borrow,
				  .priority = (uint8_t)pr, .floor_sm = floor > UINT32_MAX ? 0 : (unsigned)floor,
				  .weight = weight > UINT32_MAX ? 0 : (unsigned)weight, .timeslice_ms = ts > UINT32_MAX ? 0 : (unsigned)ts };
	gs_slices_sm_policy_text(&p, out, len);
	return 0;
}

static int add_proc(struct topframe *f, unsigned slice, uint64_t pid)
{
	for (size_t i = 0; i < f->n_procs; i++)
		if (f->procs[i].slice == slice && f->procs[i].pid == pid)
			return (int)i;
	if (f->n_procs == TOPFRAME_MAX_PROCS) {
		f->omitted++;
		return -1;
	}
	f->procs[f->n_procs] = (struct topframe_proc){ .slice = slice, .pid = pid };
	return (int)f->n_procs++;
}

static int read_slices(struct topframe *f, struct doc *d, int list)
{
	size_t at = 0;
	int rc;
	for (int o = gs_json_first(&d->j, list); o >= 0; o = gs_json_next(&d->j, o), at++) {
		if (gs_json_type(&d->j, o) != GS_JSON_OBJECT)
			return bad(d, "entry %zu is no object", at);
		char name[48];
		bool remainder;
		if ((rc = need_str(d, o, "slice", at, name, sizeof name)) || (rc = need_bool(d, o, "remainder", at, &remainder)))
			return rc;
		int gpu = read_gpu(d, f, o, at);
		if (gpu < 0)
			return gpu;
		int i = slice_slot(f, (unsigned)gpu, remainder ? "-" : name);
		if (i < 0)
			continue;
		struct topframe_slice *s = &f->slices[i];
		s->listed = true;
		s->remainder = remainder;
		if (opt_str(d, o, "name", s->name, sizeof s->name))
			return bad(d, "entry %zu has a \"name\" neither a string nor null", at);
		if ((rc = need_u64(d, o, "memory_bytes", at, &s->memory)) ||
		    (rc = need_u64(d, o, "guarantee_bytes", at, &s->guarantee)) ||
		    (rc = need_u64(d, o, "used_bytes", at, &s->used)) || (rc = need_bool(d, o, "busy", at, &s->busy)))
			return rc;
		gs_json_u64(&d->j, gs_json_get(&d->j, o, "processes_omitted"), &s->procs_omitted);
		if (!remainder) {
			s->have_sms = true;
			if ((rc = need_u64(d, o, "sms", at, &s->sms)) ||
			    (rc = need_str(d, o, "policy", at, s->policy, sizeof s->policy)) ||
			    (rc = read_sharing(d, o, at, s->sharing, sizeof s->sharing)))
				return rc;
		}
		int procs = gs_json_get(&d->j, o, "processes");
		if (gs_json_type(&d->j, procs) != GS_JSON_ARRAY)
			return bad(d, "entry %zu has no \"processes\" list", at);
		for (int p = gs_json_first(&d->j, procs); p >= 0; p = gs_json_next(&d->j, p)) {
			uint64_t pid;
			if ((rc = need_u64(d, p, "pid", at, &pid)))
				return rc;
			int k = add_proc(f, (unsigned)i, pid);
			if (k < 0)
				continue;
			struct topframe_proc *pr = &f->procs[k];
			if ((rc = need_u64(d, p, "used_bytes", at, &pr->bytes)) ||
			    (rc = need_str(d, p, "command", at, pr->command, sizeof pr->command)))
				return rc;
			pr->have_bytes = true;
			if (gs_json_u64(&d->j, gs_json_get(&d->j, p, "uid"), &pr->uid))
				pr->uid = UINT64_MAX;
			if (opt_str(d, p, "user", pr->user, sizeof pr->user))
				return bad(d, "entry %zu has a process whose \"user\" is neither a string nor null", at);
		}
	}
	return 0;
}

static int read_clients(struct topframe *f, struct doc *d, int list)
{
	size_t at = 0;
	int rc;
	for (int o = gs_json_first(&d->j, list); o >= 0; o = gs_json_next(&d->j, o), at++) {
		char slice[48];
		uint64_t pid;
		bool queued;
		if (gs_json_type(&d->j, o) != GS_JSON_OBJECT)
			return bad(d, "entry %zu is no object", at);
		if ((rc = need_u64(d, o, "pid", at, &pid)) || (rc = need_str(d, o, "slice", at, slice, sizeof slice)) ||
		    (rc = need_bool(d, o, "queued", at, &queued)))
			return rc;
		int gpu = read_gpu(d, f, o, at);
		if (gpu < 0)
			return gpu;
		int i = slice_slot(f, (unsigned)gpu, slice);
		if (i < 0)
			continue;
		int k = add_proc(f, (unsigned)i, pid);
		if (k < 0)
			continue;
		struct topframe_proc *pr = &f->procs[k];
		uint64_t server;
		bool has_server = gs_json_u64(&d->j, gs_json_get(&d->j, o, "server"), &server) == 0;
		pr->state = queued ? TOPFRAME_QUEUED : has_server ? TOPFRAME_RUNNING : TOPFRAME_REGISTERED;
		char state[48]; /* a daemon of before suspend says none */
		uint64_t host = 0;
		if (gs_json_string(&d->j, gs_json_get(&d->j, o, "state"), state, sizeof state) == 0 &&
		    strcmp(state, "running") != 0) {
			pr->state = TOPFRAME_SUSPENDED;
			if (gs_json_u64(&d->j, gs_json_get(&d->j, o, "host_bytes"), &host) == 0)
				pr->host_bytes = host;
		}
		f->queued += queued;
		f->running += pr->state == TOPFRAME_RUNNING;
		if (!pr->have_bytes && gs_json_u64(&d->j, gs_json_get(&d->j, o, "used_bytes"), &pr->bytes) == 0)
			pr->have_bytes = true;
		if (!pr->command[0] && (rc = need_str(d, o, "command", at, pr->command, sizeof pr->command)))
			return rc;
		if (!pr->user[0] && opt_str(d, o, "user", pr->user, sizeof pr->user))
			return bad(d, "entry %zu has a \"user\" neither a string nor null", at);
		if (gs_json_u64(&d->j, gs_json_get(&d->j, o, "uid"), &pr->uid))
			pr->uid = UINT64_MAX;
		/* null while queued; an older daemon leaves both out */
		pr->have_busy = gs_json_double(&d->j, gs_json_get(&d->j, o, "gpu_busy_seconds"), &pr->busy_s) == 0 &&
				gs_json_double(&d->j, gs_json_get(&d->j, o, "admitted_seconds"), &pr->admitted_s) == 0 &&
				pr->busy_s >= 0 && pr->admitted_s >= 0;
	}
	return 0;
}

static int read_sms(struct topframe *f, struct doc *d, int list)
{
	size_t at = 0;
	int rc;
	for (int g = gs_json_first(&d->j, list); g >= 0; g = gs_json_next(&d->j, g), at++) {
		int gpu = read_gpu(d, f, g, at);
		if (gpu < 0)
			return gpu;
		opt_str(d, g, "how", f->gpus[gpu].how, sizeof f->gpus[gpu].how);
		int slices = gs_json_get(&d->j, g, "slices");
		for (int o = gs_json_first(&d->j, slices); o >= 0; o = gs_json_next(&d->j, o)) {
			char slice[48];
			if ((rc = need_str(d, o, "slice", at, slice, sizeof slice)))
				return rc;
			/* a GPU's remainder is listed here always; shown only where
			 * list_slices has it or a program runs in it */
			int i = find_slice(f, (unsigned)gpu, slice);
			if (i < 0)
				continue;
			struct topframe_slice *s = &f->slices[i];
			uint64_t own;
			if (!s->have_sms && gs_json_u64(&d->j, gs_json_get(&d->j, o, "own_sms"), &own) == 0) {
				s->sms = own;
				s->have_sms = true;
			}
			s->have_now = gs_json_u64(&d->j, gs_json_get(&d->j, o, "sms_now"), &s->sms_now) == 0;
			gs_json_bool(&d->j, gs_json_get(&d->j, o, "lent"), &s->lent);
		}
	}
	return 0;
}

int topframe_build(struct topframe *f, const char *slices, size_t slices_len, const char *clients, size_t clients_len,
		   const char *sms, size_t sms_len, struct gs_json_node *nodes, size_t cap, char *err, size_t errlen)
{
	f->n_gpus = f->n_slices = f->n_procs = f->omitted = f->running = f->queued = 0;
	struct doc d;
	int list, rc;
	if ((rc = parse(&d, "list_slices --json", slices, slices_len, nodes, cap, "slices", &list, err, errlen)) ||
	    (rc = read_slices(f, &d, list)))
		return rc;
	if ((rc = parse(&d, "list_clients --json", clients, clients_len, nodes, cap, "clients", &list, err, errlen)) ||
	    (rc = read_clients(f, &d, list)))
		return rc;
	if (sms && ((rc = parse(&d, "list_sms --json", sms, sms_len, nodes, cap, "gpus", &list, err, errlen)) ||
		    (rc = read_sms(f, &d, list))))
		return rc;
	return 0;
}

void topframe_busy(struct topframe *f, const struct topframe *prev)
{
	for (size_t i = 0; i < f->n_procs; i++) {
		struct topframe_proc *p = &f->procs[i];
		p->have_pct = false;
		if (!p->have_busy)
			continue;
		double busy = p->busy_s, span = p->admitted_s;
		/* the same admission: its time since then has grown */
		for (size_t k = 0; prev && k < prev->n_procs; k++) {
			const struct topframe_proc *q = &prev->procs[k];
			if (q->pid == p->pid && q->have_busy && q->admitted_s < p->admitted_s && q->busy_s <= p->busy_s) {
				busy -= q->busy_s;
				span -= q->admitted_s;
				break;
			}
		}
		if (span <= 0)
			continue;
		p->pct = 100 * busy / span;
		p->pct = p->pct > 100 ? 100 : p->pct < 0 ? 0 : p->pct;
		p->have_pct = true;
	}
}

const char *topframe_state_name(enum topframe_state s)
{
	switch (s) {
	case TOPFRAME_RUNNING: return "running";
	case TOPFRAME_QUEUED: return "queued";
	case TOPFRAME_REGISTERED: return "registered";
	case TOPFRAME_SUSPENDED: return "suspended";
	case TOPFRAME_UNREGISTERED: break;
	}
	return "-";
}

/* Printable ASCII only: the daemon's names are made safe already, but a
 * terminal must never be sent its control sequences, and one byte is one
 * column (lines are cut, never wrapped). */
static void put(char *line, void (*emit)(void *ctx, const char *line), void *ctx)
{
	size_t n = 0;
	for (char *c = line; *c; c++, n++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
			*c = '?';
	while (n && line[n - 1] == ' ')
		line[--n] = '\0';
	emit(ctx, line);
}

static void mib(char *out, size_t len, bool have, uint64_t bytes)
{
	if (have)
		snprintf(out, len, "%" PRIu64 "MiB", bytes >> 20);
	else
		snprintf(out, len, "-");
}

static void count(char *out, size_t len, bool have, uint64_t v)
{
	if (have)
		snprintf(out, len, "%" PRIu64, v);
	else
		snprintf(out, len, "-");
}

/* The columns. A slice's kernels/s and SM-busy time go at the end of its
 * line once the daemon reports them (a field of struct topframe_slice, a
 * header word here), never computed here. */
#define SLICE_FMT "%-40s %-16s %5s %5s %-4s %10s %10s %10s  %-6s %-*s %-4s"
#define PROC_FMT "  %-9s %-14s %-9s %10s %6s  %s"

static void render_slice(const struct topframe_slice *s, int sharing_w, char *line, size_t len)
{
	char name[40], sms[24], now[24], memory[32], guarantee[32], used[32];
	snprintf(name, sizeof name, "%s", s->remainder ? "(remainder)" : s->name[0] ? s->name : "-");
	count(sms, sizeof sms, s->have_sms, s->sms);
	count(now, sizeof now, s->have_now, s->sms_now);
	mib(memory, sizeof memory, s->listed, s->memory);
	mib(guarantee, sizeof guarantee, s->listed, s->guarantee);
	mib(used, sizeof used, s->listed, s->used);
	snprintf(line, len, SLICE_FMT, s->slice, name, sms, now, s->have_now ? (s->lent ? "yes" : "no") : "-", memory,
		 guarantee, used, s->policy[0] ? s->policy : "-", sharing_w, s->sharing[0] ? s->sharing : "-",
		 s->listed ? (s->busy ? "yes" : "no") : "-");
}

static void render_proc(const struct topframe_proc *p, char *line, size_t len)
{
	char pid[24], user[40], memory[32], busy[16] = "-";
	snprintf(pid, sizeof pid, "%" PRIu64, p->pid);
	if (p->user[0])
		snprintf(user, sizeof user, "%s", p->user);
	else
		count(user, sizeof user, p->uid != UINT64_MAX, p->uid);
	mib(memory, sizeof memory, p->have_bytes, p->bytes);
	if (p->state == TOPFRAME_SUSPENDED) /* as list_clients shows it */
		snprintf(memory, sizeof memory, "%" PRIu64 "MiB@host", p->host_bytes >> 20);
	if (p->have_pct)
		snprintf(busy, sizeof busy, "%.0f%%", p->pct);
	snprintf(line, len, PROC_FMT, pid, user, topframe_state_name(p->state), memory, busy,
		 p->command[0] ? p->command : "-");
}

static int by_pid(const void *a, const void *b)
{
	const struct topframe_proc *const *x = a, *const *y = b;
	return (*x)->pid < (*y)->pid ? -1 : (*x)->pid > (*y)->pid;
}

void topframe_render(const struct topframe *f, void (*emit)(void *ctx, const char *line), void *ctx)
{
	char line[512];
	int sharing_w = (int)strlen("SHARING");
	for (size_t i = 0; i < f->n_slices; i++)
		if ((int)strlen(f->slices[i].sharing) > sharing_w)
			sharing_w = (int)strlen(f->slices[i].sharing);
	snprintf(line, sizeof line, SLICE_FMT, "SLICE", "NAME", "SMs", "NOW", "LENT", "MEMORY", "GUARANTEE", "USED",
		 "POLICY", sharing_w, "SHARING", "BUSY");
	put(line, emit, ctx);
	snprintf(line, sizeof line, PROC_FMT, "PID", "USER", "STATE", "MEMORY", "BUSY%", "COMMAND");
	put(line, emit, ctx);
	/* GPUs by index, those of no known index last */
	size_t order[GS_STORE_MAX_GPU];
	for (size_t i = 0; i < f->n_gpus; i++) {
		size_t k = i;
		for (; k > 0; k--) {
			int a = f->gpus[order[k - 1]].index, b = f->gpus[i].index;
			if ((unsigned)a <= (unsigned)b)
				break;
			order[k] = order[k - 1];
		}
		order[k] = i;
	}
	static const struct topframe_proc *procs[TOPFRAME_MAX_PROCS];
	for (size_t gi = 0; gi < f->n_gpus; gi++) {
		const struct topframe_gpu *g = &f->gpus[order[gi]];
		char index[16];
		count(index, sizeof index, g->index >= 0, (uint64_t)g->index);
		snprintf(line, sizeof line, "GPU %s  %s%s%s", index, g->uuid, g->how[0] ? "  SMs: " : "", g->how);
		put(line, emit, ctx);
		for (size_t si = 0; si < f->n_slices; si++) {
			const struct topframe_slice *s = &f->slices[si];
			if (s->gpu != order[gi])
				continue;
			render_slice(s, sharing_w, line, sizeof line);
			put(line, emit, ctx);
			size_t n = 0;
			for (size_t pi = 0; pi < f->n_procs; pi++)
				if (f->procs[pi].slice == si)
					procs[n++] = &f->procs[pi];
			qsort(procs, n, sizeof procs[0], by_pid);
			for (size_t pi = 0; pi < n; pi++) {
				render_proc(procs[pi], line, sizeof line);
				put(line, emit, ctx);
			}
			if (s->procs_omitted) {
				snprintf(line, sizeof line, "  (%" PRIu64 " more processes the daemon leaves out)", s->procs_omitted);
				put(line, emit, ctx);
			}
		}
	}
	if (f->omitted) {
		snprintf(line, sizeof line, "(%zu more slices and processes than gpushare top shows)", f->omitted);
		put(line, emit, ctx);
	}
}
