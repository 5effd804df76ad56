/* busy.c: GPU busy time, per process, slice and GPU, for the metrics, the
 * listings and the accounting records. Every admitted program's interposer
 * reports its activity (activity.c: "sm_busy"/"sm_idle" where they drive
 * lending or turns, "gpu_busy"/"gpu_idle" elsewhere): busy from its first
 * launch, or wait for the GPU, after an idle interval until the last look
 * that saw one, which each idle report dates (ns before it).
 *
 * A slice's time is the union of its programs' (any one busy), a GPU's the
 * union of all of its programs': one counter each, how many are busy and
 * since when, so a report costs a few comparisons. An idle report dates
 * its end back; the union ends at the latest end told, and a new union
 * never starts before it, so no time is counted twice. The idle intervals
 * a program left untold (its reports' rate bound) come off its own time
 * only: a union cannot tell whether another program filled them. The slices' and
 * GPUs' totals keep the time of programs that went; a slice's is forgotten
 * with the slice. */
#include "control.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LOOK_MS_DEFAULT 2 /* where lending is off (GPUSHARE_CONTROL_LEND_IDLE_MS=0) */

/* A slice's union (slice "-": a GPU's remainder), or a GPU's (slice ""). */
struct entry {
	char gpu[48], slice[96];
	struct control_busy t;
};
static struct {
	struct entry *v;
	size_t n, cap;
} B;

unsigned control_busy_look_ms(void)
{
	unsigned ms = control_elastic_idle_ms();
	return ms ? ms : LOOK_MS_DEFAULT;
}

static void begin(struct control_busy *t, uint64_t at)
{
	if (t->n++ == 0)
		t->since = at > t->last_end ? at : t->last_end;
}

static void end(struct control_busy *t, uint64_t at)
{
	if (!t->n)
		return;
	if (at > t->last_end)
		t->last_end = at;
	if (--t->n == 0 && t->last_end > t->since)
		t->total += t->last_end - t->since;
}

static uint64_t read_ns(struct control_busy *t, uint64_t now)
{
	uint64_t v = t->total + (t->n && now > t->since ? now - t->since : 0);
	/* a busy period read while it ran, then dated back by its idle
	 * report: the counter stays where it was until the time catches up */
	if (v < t->shown)
		v = t->shown;
	t->shown = v;
	return v;
}

/* Whether an entry is the one of that GPU and slice: a slice by its name
 * alone (its MIG UUID), a remainder and a GPU by their GPU too. */
static bool is(const struct entry *e, const char *gpu, const char *slice)
{
	return strcasecmp(e->slice, slice) == 0 && ((slice[0] && strcmp(slice, "-")) || strcasecmp(e->gpu, gpu) == 0);
}

/* The entry, added where new (add false: NULL then). NULL without memory:
 * that slice's or GPU's union goes uncounted. */
static struct entry *entry(const char *gpu, const char *slice, bool add)
{
	for (size_t i = 0; i < B.n; i++)
		if (is(&B.v[i], gpu, slice))
			return &B.v[i];
	if (!add)
		return NULL;
	if (B.n == B.cap) {
		size_t cap = B.cap ? B.cap * 2 : 16;
		struct entry *v = reallocarray(B.v, cap, sizeof *v);
		if (!v)
			return NULL;
		B.v = v;
		B.cap = cap;
	}
	struct entry *e = &B.v[B.n++];
	*e = (struct entry){ .t = { 0 } };
	snprintf(e->gpu, sizeof e->gpu, "%s", gpu);
	snprintf(e->slice, sizeof e->slice, "%s", slice);
	return e;
}

/* The process, its slice and its GPU, busy from at or no longer after at. */
static void change(struct control_peer *p, bool busy, uint64_t at)
{
	struct entry *sl = entry(p->gpu, p->slice, true), *g = p->gpu[0] ? entry(p->gpu, "", true) : NULL;
	struct control_busy *all[] = { &p->gpu_busy, sl ? &sl->t : NULL, g ? &g->t : NULL };
	for (size_t i = 0; i < GS_ARRAY_LEN(all); i++)
		if (all[i])
			(busy ? begin : end)(all[i], at);
}

void control_busy_admit(struct control_state *s, struct control_peer *p)
{
	(void)s;
	if (p->gpu_counted)
		return;
	/* busy until it says idle, as its interposer takes it (and an older
	 * libgpushare.so, which never says: the time it is registered) */
	p->gpu_counted = true;
	p->gpu_admitted_ns = gs_now_ns();
	change(p, true, p->gpu_admitted_ns);
}

void control_busy_report(struct control_state *s, struct control_peer *p, bool busy, uint64_t ago_ns,
			 uint64_t gap_ns)
{
	(void)s;
	if (!p->gpu_counted || (p->gpu_busy.n != 0) == busy)
		return; /* not admitted (anyone can send the words), or no change */
	uint64_t now = gs_now_ns();
	if (busy) {
		change(p, true, now);
		return;
	}
	/* never before it began: a report can only shorten its own time */
	uint64_t at = now - (ago_ns < now - p->gpu_busy.since ? ago_ns : now - p->gpu_busy.since);
	uint64_t before = p->gpu_busy.total;
	change(p, false, at);
	/* its own gaps, within what this period added */
	p->gpu_busy.total -= gap_ns < p->gpu_busy.total - before ? gap_ns : p->gpu_busy.total - before;
}

void control_busy_gone(struct control_state *s, struct control_peer *p)
{
	(void)s;
	if (!p->gpu_counted)
		return;
	if (p->gpu_busy.n)
		change(p, false, gs_now_ns());
	p->gpu_counted = false;
}

uint64_t control_busy_process_ns(struct control_peer *p, uint64_t now)
{
	return read_ns(&p->gpu_busy, now);
}

uint64_t control_busy_slice_ns(const char *gpu, const char *slice, uint64_t now)
{
	struct entry *e = slice[0] ? entry(gpu, slice, false) : NULL;
	return e ? read_ns(&e->t, now) : 0;
}

uint64_t control_busy_gpu_ns(const char *gpu, uint64_t now)
{
	struct entry *e = entry(gpu, "", false);
	return e ? read_ns(&e->t, now) : 0;
}

void control_busy_forget(bool (*there)(void *ctx, const char *gpu, const char *slice), void *ctx)
{
	size_t keep = 0;
	for (size_t i = 0; i < B.n; i++)
		if (!B.v[i].slice[0] || B.v[i].t.n || there(ctx, B.v[i].gpu, B.v[i].slice))
			B.v[keep++] = B.v[i];
	B.n = keep;
}
