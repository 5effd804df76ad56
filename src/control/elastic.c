/* elastic.c: elastic SMs where TPC masks work. At start the daemon takes
 * each GPU's TPC map (calibrate.c: measured once per GPU and driver, kept in
 * the state directory); a GPU without one keeps green contexts, and says why.
 *
 * A program admitted into a slice of a mapped GPU gets a "mask" line with
 * its registration: the TPC bits its launches enable now, its slice's own,
 * and the idle interval. Its interposer then says "sm_busy" at its first
 * launch after an idle interval and "sm_idle" once it has launched nothing
 * for one (its launches themselves cost no system call: a watcher thread
 * compares a counter). On each of these, and on arrivals and departures, the
 * daemon works out every slice's mask (smpolicy.c) and pushes "S mask ..."
 * to the programs whose mask changed; their next launch uses it. While a
 * critical slice is busy, the programs of the GPU's low-priority slices are
 * told "S pause on": their launches wait until it is idle ("S pause off"). */
#include "control.h"

#include "smpolicy.h"
#include "smrun.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define IDLE_MS_DEFAULT 2

static struct {
	struct gs_store *st;     /* the store as last read (NULL: unreadable) */
	struct stat seen;        /* of the file it was read from */
	unsigned idle_ms;
} E;

unsigned control_elastic_idle_ms(void)
{
	return E.idle_ms;
}

/* What each GPU's programs are confined by, for gpushare-smi -q: the TPC
 * map in the state directory is kept while masks are off (to be used again
 * when they are on), so it alone does not say. A line per GPU: "<uuid>
 * masks" or "<uuid> green <why>". */
static void save_confinement(struct control_state *s)
{
	char path[sizeof s->state_dir + 16], text[CONTROL_MAX_GPUS * (48 + sizeof s->gpus[0].tpc_why + 16)];
	size_t n = 0;
	for (size_t i = 0; i < s->n_gpus && i < CONTROL_MAX_GPUS && n < sizeof text; i++) {
		const struct control_gpu *g = &s->gpus[i];
		n += (size_t)snprintf(text + n, sizeof text - n, g->tpc ? "%s masks\n" : "%s green %s\n", g->uuid,
				      g->tpc_why);
	}
	if (n > sizeof text)
		n = sizeof text;
	snprintf(path, sizeof path, "%s/confinement", s->state_dir);
	int rc = gs_file_replace(path, text, n);
	if (rc)
		control_log(s, "%s: cannot be written: %s", path, strerror(-rc));
}

void control_elastic_init(struct control_state *s)
{
	const char *v = getenv("GPUSHARE_CONTROL_LEND_IDLE_MS");
	char *end;
	unsigned long ms = v && *v ? strtoul(v, &end, 10) : IDLE_MS_DEFAULT;
	if (v && *v && (*end || ms > 60000)) {
		control_log(s, "GPUSHARE_CONTROL_LEND_IDLE_MS=\"%.32s\" is not a whole number of milliseconds from 0 (never "
			       "lend) to 60000: %u ms", v, IDLE_MS_DEFAULT);
		ms = IDLE_MS_DEFAULT;
	}
	E.idle_ms = (unsigned)ms;
	/* the switch for a node whose admin wants none of it: green contexts,
	 * as on a GPU whose masks do not check out */
	const char *masks = getenv("GPUSHARE_CONTROL_SM_MASKS");
	bool off = masks && strcmp(masks, "off") == 0;
	if (masks && *masks && !off && strcmp(masks, "on") != 0)
		control_log(s, "GPUSHARE_CONTROL_SM_MASKS=\"%.32s\" is neither on nor off: on", masks);
	for (size_t i = 0; i < s->n_gpus; i++) {
		struct control_gpu *g = &s->gpus[i];
		struct gs_tpc_calib *c = off ? NULL : calloc(1, sizeof *c);
		char why[sizeof g->tpc_why] = "out of memory";
		if (off)
			snprintf(why, sizeof why, "TPC masks turned off (GPUSHARE_CONTROL_SM_MASKS=off)");
		if (c && control_tpc_map(s->state_dir, g->index, g->uuid, NULL, c, why, sizeof why) == 0) {
			uint32_t all[GS_TPC_WORDS];
			gs_tpc_bits_all(c, all);
			g->tpc = c;
			snprintf(g->tpc_why, sizeof g->tpc_why, "TPC masks");
			if (E.idle_ms)
				control_log(s, "GPU %u: SMs confined by TPC masks (%u SMs on %u live TPC bits, driver %s); "
					       "idle slices lend their SMs after %u ms",
					    g->index, gs_tpc_sm_count(c, all), gs_tpc_sm_count(c, all) / 2, c->driver, E.idle_ms);
			else
				control_log(s, "GPU %u: SMs confined by TPC masks (%u SMs on %u live TPC bits, driver %s); "
					       "no SMs lent (GPUSHARE_CONTROL_LEND_IDLE_MS=0)",
					    g->index, gs_tpc_sm_count(c, all), gs_tpc_sm_count(c, all) / 2, c->driver);
		} else {
			free(c);
			snprintf(g->tpc_why, sizeof g->tpc_why, "%s", why);
			control_log(s, "GPU %u: SMs confined by green contexts, no lending: %s", g->index, why);
		}
	}
	save_confinement(s);
}

/* The store, read again when its file changed. */
static struct gs_store *store(struct control_state *s)
{
	char path[sizeof s->state_dir + 16];
	struct stat now;
	snprintf(path, sizeof path, "%s/slices", s->state_dir);
	if (stat(path, &now)) {
		memset(&now, 0, sizeof now);
	}
	if (E.st && now.st_ino == E.seen.st_ino && now.st_size == E.seen.st_size &&
	    now.st_mtim.tv_sec == E.seen.st_mtim.tv_sec && now.st_mtim.tv_nsec == E.seen.st_mtim.tv_nsec)
		return E.st;
	if (!E.st && !(E.st = malloc(sizeof *E.st)))
		return NULL;
	char err[256];
	if (gs_store_load(s->state_dir, E.st, err, sizeof err)) {
		control_log(s, "elastic SMs: the slice store cannot be read: %s", err);
		free(E.st);
		E.st = NULL;
		return NULL;
	}
	E.seen = now;
	return E.st;
}

struct gs_store *control_store(struct control_state *s)
{
	return store(s);
}

bool control_slice_policy(struct control_state *s, const char *gpu, const char *slice, struct gs_sm_policy *out)
{
	struct gs_store *st = store(s);
	for (size_t i = 0; st && i < st->n_gpu; i++) {
		const struct gs_store_gpu *g = &st->gpu[i];
		if (strcmp(g->uuid, gpu))
			continue;
		for (size_t k = 0; k < g->layout.n_ci; k++) {
			char uuid[GS_UUID_STR + 4];
			gs_store_ci_uuid(g->uuid, &g->layout.ci[k], uuid);
			if (strcmp(uuid, slice) == 0) {
				*out = g->layout.ci[k].sm_policy;
				return true;
			}
		}
	}
	return false;
}

static const struct gs_mig_ci *slice_ci(struct control_state *s, const char *gpu, const char *slice)
{
	struct gs_store *st = store(s);
	for (size_t i = 0; st && i < st->n_gpu; i++) {
		const struct gs_store_gpu *g = &st->gpu[i];
		for (size_t k = 0; !strcmp(g->uuid, gpu) && k < g->layout.n_ci; k++) {
			char uuid[GS_UUID_STR + 4];
			gs_store_ci_uuid(g->uuid, &g->layout.ci[k], uuid);
			if (strcmp(uuid, slice) == 0)
				return &g->layout.ci[k];
		}
	}
	return NULL;
}

unsigned control_slice_mem_turn(struct control_state *s, const char *gpu, const char *slice)
{
	const struct gs_mig_ci *ci = slice_ci(s, gpu, slice);
	return ci ? ci->mem_turn_s : 0;
}

bool control_slice_borrows_memory(struct control_state *s, const char *gpu, const char *slice)
{
	const struct gs_mig_ci *ci = slice_ci(s, gpu, slice);
	return ci && ci->borrow_mem;
}

#define MAX_SLICES (GS_MIG_MAX_CI + 1)

struct gpu_view {
	const struct control_gpu *g;
	size_t n;
	char name[MAX_SLICES][GS_UUID_STR + 8]; /* MIG-<uuid>, "-" for the remainder */
	struct gs_smpolicy_slice sl[MAX_SLICES];
	uint32_t free_bits[GS_TPC_WORDS];
	bool critical_busy;
};

static int slice_index(const struct gpu_view *v, const char *name)
{
	for (size_t i = 0; i < v->n; i++)
		if (strcmp(v->name[i], name) == 0)
			return (int)i;
	return -1;
}

static void mark_busy(void *ctx, struct control_peer *p)
{
	struct gpu_view *v = ctx;
	if (!p->masked || strcmp(p->gpu, v->g->uuid))
		return;
	int i = slice_index(v, p->slice);
	if (i >= 0 && p->busy)
		v->sl[i].busy = true;
	if (strcmp(p->slice, "-") == 0)
		memset(v->free_bits, 0, sizeof v->free_bits);
}

/* Every slice of the GPU, with its own bits and policy, and who is busy. */
static bool view(struct control_state *s, const struct control_gpu *g, struct gpu_view *v)
{
	memset(v, 0, sizeof *v);
	v->g = g;
	struct gs_store *st = store(s);
	if (!st)
		return false; /* nothing pushed while the slices cannot be read */
	struct gs_store_gpu *sg = NULL;
	for (size_t i = 0; st && i < st->n_gpu; i++)
		if (strcmp(st->gpu[i].uuid, g->uuid) == 0)
			sg = &st->gpu[i];
	uint32_t taken[GS_TPC_WORDS] = { 0 };
	for (size_t k = 0; sg && k < sg->layout.n_ci && v->n < MAX_SLICES - 1; k++) {
		const struct gs_mig_ci *ci = &sg->layout.ci[k];
		struct gs_slice_info info;
		unsigned start, count;
		gs_slice_describe(sg, ci, &info);
		gs_smrun_of_ci(&sg->layout, ci, &start, &count);
		struct gs_smpolicy_slice *x = &v->sl[v->n];
		uint32_t touched[GS_TPC_WORDS];
		gs_tpc_bits_touching(g->tpc, start, count, touched);
		for (unsigned w = 0; w < GS_TPC_WORDS; w++)
			taken[w] |= touched[w]; /* never lent as free, even when too small to be masked */
		gs_tpc_bits_in(g->tpc, start, count, x->own);
		if (!gs_tpc_any_live(g->tpc, x->own))
			continue; /* too small for one TPC of the map: left to green contexts */
		x->policy = ci->sm_policy;
		snprintf(v->name[v->n++], sizeof v->name[0], "%s", info.uuid);
		for (unsigned w = 0; w < GS_TPC_WORDS; w++)
			taken[w] |= x->own[w];
	}
	/* programs outside every slice run on the longest free run */
	unsigned unit = sg && sg->sm_unit ? sg->sm_unit : 2, start = 0, count = g->sms;
	if (sg)
		gs_smrun_free(sg->sm_count ? sg->sm_count : g->sms, gs_smrun_grid(unit, &sg->layout), &sg->layout, &start,
			      &count);
	struct gs_smpolicy_slice *rest = &v->sl[v->n];
	gs_tpc_bits_in(g->tpc, start, count, rest->own);
	if (count && gs_tpc_any_live(g->tpc, rest->own)) {
		snprintf(v->name[v->n++], sizeof v->name[0], "-");
		for (unsigned w = 0; w < GS_TPC_WORDS; w++)
			taken[w] |= rest->own[w];
	}
	gs_tpc_bits_all(g->tpc, v->free_bits);
	for (unsigned w = 0; w < GS_TPC_WORDS; w++)
		v->free_bits[w] &= ~taken[w];
	control_each_client(mark_busy, v);
	/* only where programs say idle: otherwise a critical one is busy
	 * while it runs, and would pause the low ones for all that time */
	for (size_t i = 0; E.idle_ms && i < v->n; i++)
		v->critical_busy |= v->sl[i].busy && v->sl[i].policy.priority == GS_PRIO_CRITICAL;
	/* a paused slice's programs wait to launch (busy, for when the pause
	 * ends): its SMs go to the slices that run meanwhile */
	for (size_t i = 0; v->critical_busy && i < v->n; i++)
		if (v->sl[i].policy.priority == GS_PRIO_LOW)
			v->sl[i].busy = false;
	if (!E.idle_ms) { /* lending off: every slice on its own SMs */
		for (size_t i = 0; i < v->n; i++)
			v->sl[i].policy.no_lend = true;
		memset(v->free_bits, 0, sizeof v->free_bits);
	}
	return true;
}

static void push(void *ctx, struct control_peer *p)
{
	struct gpu_view *v = ctx;
	if (!p->masked || strcmp(p->gpu, v->g->uuid))
		return;
	int i = slice_index(v, p->slice);
	if (i < 0)
		return; /* its slice is gone: it keeps what it has until it goes */
	bool pause = v->critical_busy && v->sl[i].policy.priority == GS_PRIO_LOW;
	if (pause != p->paused) {
		p->paused = pause;
		control_send(p->conn, pause ? "S pause on\n" : "S pause off\n");
	}
	const uint32_t *m = v->sl[i].mask;
	if (!memcmp(m, p->mask, sizeof p->mask))
		return;
	memcpy(p->mask, m, sizeof p->mask);
	char line[96];
	snprintf(line, sizeof line, "S mask %08" PRIx32 " %08" PRIx32 " %08" PRIx32 " %08" PRIx32 "\n", m[0], m[1], m[2],
		 m[3]);
	control_send(p->conn, line);
}

static void update(struct control_state *s, const struct control_gpu *g)
{
	static struct gpu_view v;
	if (!g || !g->tpc || !view(s, g, &v))
		return;
	gs_smpolicy_masks(g->tpc, v.sl, v.n, v.free_bits);
	control_each_client(push, &v);
}

void control_elastic_update_all(struct control_state *s)
{
	for (size_t i = 0; i < s->n_gpus; i++)
		update(s, &s->gpus[i]);
}

void control_elastic_admit(struct control_state *s, struct control_peer *p, struct control_reply *r)
{
	const struct control_gpu *g = control_gpu_by_dev(s, p->gpu);
	static struct gpu_view v;
	/* busy until it says idle: a program that cannot be held by masks
	 * (fewer SMs than its slice, no callback, an older libgpushare.so)
	 * never does, so its slice is never lent while it runs */
	p->masked = true;
	p->busy = true;
	p->busy_ns = gs_now_ns();
	int i = g && g->tpc && p->sms && view(s, g, &v) ? slice_index(&v, p->slice) : -1;
	if (i < 0) {
		p->masked = false;
		return;
	}
	gs_smpolicy_masks(g->tpc, v.sl, v.n, v.free_bits);
	const uint32_t *m = v.sl[i].mask, *own = v.sl[i].own;
	memcpy(p->mask, m, sizeof p->mask);
	control_reply_line(r,
			   "mask %08" PRIx32 " %08" PRIx32 " %08" PRIx32 " %08" PRIx32 " %08" PRIx32 " %08" PRIx32
			   " %08" PRIx32 " %08" PRIx32 " %u",
			   m[0], m[1], m[2], m[3], own[0], own[1], own[2], own[3], E.idle_ms);
	update(s, g); /* its slice's SMs are no longer lent to the others */
}

/* A program says busy at once (its slice's SMs come back from the
 * borrowers' next launches), idle only an idle interval after it said busy:
 * one that says both faster is held to that pace (the rest at the next
 * tick), so that no program makes its neighbours' masks flap faster. */
void control_elastic_activity(struct control_state *s, struct control_peer *p, bool busy)
{
	if (!p->masked)
		return;
	uint64_t now = gs_now_ns();
	p->idle_pending = false;
	if (!busy && now - p->busy_ns < (uint64_t)E.idle_ms * 1000000u) {
		p->idle_pending = p->busy;
		return;
	}
	if (busy)
		p->busy_ns = now;
	if (p->busy == busy)
		return;
	p->busy = busy;
	update(s, control_gpu_by_dev(s, p->gpu));
}

static void held_back(void *ctx, struct control_peer *p)
{
	struct control_state *s = ctx;
	if (p->idle_pending)
		control_elastic_activity(s, p, false);
}

void control_elastic_tick(struct control_state *s)
{
	control_each_client(held_back, s);
}

void control_elastic_gone(struct control_state *s, struct control_peer *p)
{
	if (!p->masked)
		return;
	p->masked = false;
	update(s, control_gpu_by_dev(s, p->gpu));
}

unsigned control_elastic_sms_now(struct control_state *s, const struct control_gpu *g, const char *slice)
{
	static struct gpu_view v;
	if (!g || !g->tpc || !view(s, g, &v))
		return 0;
	gs_smpolicy_masks(g->tpc, v.sl, v.n, v.free_bits);
	int i = slice_index(&v, slice);
	return i < 0 ? 0 : gs_tpc_sm_count(g->tpc, v.sl[i].mask);
}

/* gpushare: the SMs each slice's launches may use now, and why.
 * list_sms [--json] */
CONTROL_CMD_FN(cmd_list_sms)
{
	(void)p;
	bool json = argc == 2 && strcmp(argv[1], "--json") == 0;
	if (argc == 2 && !json) {
		control_reply_fail(r, "Invalid arguments: list_sms [--json]");
		return;
	}
	if (json)
		control_reply_line(r, "{\"version\": 1, \"idle_ms\": %u, \"gpus\": [", E.idle_ms);
	else
		control_reply_line(r, "%-5s%-42s%-8s%-8s%-6s%-6s%s", "GPU", "SLICE", "OWN", "NOW", "BUSY", "LENT", "HOW");
	unsigned n = 0;
	for (size_t gi = 0; gi < s->n_gpus; gi++) {
		const struct control_gpu *g = &s->gpus[gi];
		static struct gpu_view v;
		bool masked = g->tpc && view(s, g, &v);
		if (masked)
			gs_smpolicy_masks(g->tpc, v.sl, v.n, v.free_bits);
		if (json) {
			control_reply_line(r, "%s{\"gpu\": %u, \"gpu_uuid\": \"%s\", \"tpc_masks\": %s, \"how\": \"%s\", \"slices\": [",
					   gi ? "," : "", g->index, g->uuid, masked ? "true" : "false", g->tpc_why);
			for (size_t i = 0; masked && i < v.n; i++)
				control_reply_line(r, "%s{\"slice\": \"%s\", \"own_sms\": %u, \"sms_now\": %u, \"busy\": %s, "
						   "\"lent\": %s}",
						   i ? "," : "", v.name[i], gs_tpc_sm_count(g->tpc, v.sl[i].own),
						   gs_tpc_sm_count(g->tpc, v.sl[i].mask), v.sl[i].busy ? "true" : "false",
						   v.sl[i].lent ? "true" : "false");
			control_reply_line(r, "]}");
			continue;
		}
		if (!masked) {
			control_reply_line(r, "%-5u%-42s%-8s%-8s%-6s%-6s%s", g->index, "*", "-", "-", "-", "-", g->tpc_why);
			continue;
		}
		for (size_t i = 0; i < v.n; i++, n++)
			control_reply_line(r, "%-5u%-42s%-8u%-8u%-6s%-6s%s", g->index, v.name[i],
					   gs_tpc_sm_count(g->tpc, v.sl[i].own), gs_tpc_sm_count(g->tpc, v.sl[i].mask),
					   v.sl[i].busy ? "yes" : "no", v.sl[i].lent ? "yes" : "no", "TPC masks");
	}
	(void)n;
	if (json)
		control_reply_line(r, "]}");
}

bool control_elastic_masks(struct control_state *s, const char *gpu, const char *slice, uint32_t mask[4],
			   uint32_t own[4])
{
	const struct control_gpu *g = control_gpu_by_dev(s, gpu);
	static struct gpu_view v;
	int i = g && g->tpc && view(s, g, &v) ? slice_index(&v, slice) : -1;
	if (i < 0)
		return false;
	gs_smpolicy_masks(g->tpc, v.sl, v.n, v.free_bits);
	memcpy(mask, v.sl[i].mask, 4 * sizeof mask[0]);
	memcpy(own, v.sl[i].own, 4 * sizeof own[0]);
	return true;
}
