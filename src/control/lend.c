/* lend.c: lending memory with a promise. A slice made -borrow-memory on
 * (over-committed, never critical) may allocate above its guarantee out of
 * what the other slices are guaranteed and do not use (the interposer's
 * guarantee.c). When an owner's program then allocates within its
 * guarantee and the memory is held by borrowers, its interposer says
 * "reclaim <bytes>" on its connection and waits; here borrowers' programs
 * of that GPU are suspended (suspend.c: their memory to the host, out of
 * their slice's ledger), lowest priority first, then the latest started,
 * until what they held covers what the owner is short of, and the owner is
 * answered "S reclaimed <bytes>" once they are all off the GPU (0: nothing
 * more could be taken). Only a borrower slice above its own guarantee gives
 * anything back: its guarantee is a promise too.
 *
 * Borrowers suspended so are resumed by the tick once no owner of their
 * GPU waits, a settling time has passed since the last reclaim, and their
 * memory fits beside what every slice uses now. What is decided comes from
 * the daemon's own records (who registered where, by SO_PEERCRED) and the
 * slices' ledgers; an owner may ask for at most its guarantee, and only
 * while its slice is within it. */
#include "control.h"

#include "ledger.h"

#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#define SETTLE_NS 2000000000ull /* no resume so soon after a reclaim: an owner's next allocation may follow */
#define ASKS_PER_S 20 /* a program's reclaim questions a second (its interposer asks less and less often) */

/* What the slices of one GPU use now, by their ledgers. Every compute
 * instance has its GPU instance's use and guarantee; they are counted in
 * used once, at its first. A ledger says no more than the GPU has (its
 * slice's programs write it). */
struct use {
	uint64_t total, used; /* the GPU's memory; what every slice and the remainder use */
	size_t n;
	struct slice_use {
		char uuid[GS_UUID_STR + 4];
		uint64_t used, guarantee;
		bool borrows;
		bool first; /* its GPU instance's first: counted in used */
		unsigned rank; /* low 0, normal 1, critical 2: who gives back first */
	} sl[GS_MIG_MAX_CI];
};

static unsigned rank_of(unsigned priority)
{
	return priority == GS_PRIO_LOW ? 0 : priority == GS_PRIO_CRITICAL ? 2 : 1;
}

static uint64_t ledger_live(const char *path)
{
	struct gs_ledger *l;
	if (gs_ledger_open_ro(path, &l))
		return 0; /* none yet: nothing charged */
	uint64_t u = gs_ledger_live(l);
	gs_ledger_close(l);
	return u;
}

/* 0, or -1: the GPU is not in the store (nothing to lend there). */
static int measure(struct control_state *s, const char *gpu, struct use *u)
{
	struct gs_store *st = control_store(s);
	const struct gs_store_gpu *g = NULL;
	for (size_t i = 0; st && i < st->n_gpu; i++)
		if (strcmp(st->gpu[i].uuid, gpu) == 0)
			g = &st->gpu[i];
	if (!g)
		return -1;
	memset(u, 0, sizeof *u);
	for (size_t i = 0; i < s->n_gpus; i++)
		if (strcmp(s->gpus[i].uuid, gpu) == 0)
			u->total = s->gpus[i].memory;
	if (!u->total)
		u->total = (uint64_t)g->memory_mib << 20;
	char path[PATH_MAX];
	for (size_t k = 0; k < g->layout.n_ci && u->n < GS_ARRAY_LEN(u->sl); k++) {
		const struct gs_mig_ci *ci = &g->layout.ci[k];
		struct slice_use *e = &u->sl[u->n++];
		gs_store_ci_uuid(g->uuid, ci, e->uuid);
		e->rank = rank_of(ci->sm_policy.priority);
		e->borrows = ci->borrow_mem;
		bool first = true;
		for (size_t j = 0; j < k; j++)
			first &= g->layout.ci[j].gi != ci->gi;
		const struct gs_mig_gi *gi = NULL;
		for (size_t j = 0; j < g->layout.n_gi; j++)
			if (g->layout.gi[j].id == ci->gi)
				gi = &g->layout.gi[j];
		if (!gi)
			continue;
		e->first = first;
		e->guarantee = (uint64_t)gi->guarantee_mib << 20;
		if (gs_store_ledger_path(s->state_dir, g->uuid, gi, path, sizeof path) == 0)
			e->used = ledger_live(path);
		e->used = e->used > u->total ? u->total : e->used;
		if (first)
			u->used += e->used;
	}
	if (gs_store_remainder_path(s->state_dir, g->uuid, path, sizeof path) == 0) {
		uint64_t r = ledger_live(path);
		u->used += r > u->total ? u->total : r;
	}
	return 0;
}

static struct slice_use *slice_of(struct use *u, const char *uuid)
{
	for (size_t i = 0; i < u->n; i++)
		if (strcmp(u->sl[i].uuid, uuid) == 0)
			return &u->sl[i];
	return NULL;
}

/* What borrowers an owner of rank may take back from hold past their own
 * guarantees: never more is asked of them. */
static uint64_t borrowed(const struct use *u, unsigned rank)
{
	uint64_t b = 0;
	for (size_t i = 0; i < u->n; i++)
		if (u->sl[i].first && u->sl[i].borrows && u->sl[i].rank <= rank && u->sl[i].used > u->sl[i].guarantee)
			b += u->sl[i].used - u->sl[i].guarantee;
	return b;
}

uint64_t control_lend_borrowed(struct control_state *s, const char *gpu, const char *slice)
{
	struct use u;
	struct slice_use *e;
	if (measure(s, gpu, &u) || !(e = slice_of(&u, slice)))
		return 0;
	return e->used > e->guarantee ? e->used - e->guarantee : 0;
}

static void send_answer(struct control_peer *p, uint64_t freed)
{
	char line[64];
	snprintf(line, sizeof line, "S reclaimed %" PRIu64 "\n", freed);
	control_send(p->conn, line);
}

static void answer(struct control_peer *p, uint64_t freed)
{
	send_answer(p, freed);
	p->lend_pending = false;
	p->lend_need = p->lend_begun = 0;
}

/* What a program holds in its slice's ledger now. */
static uint64_t held(struct control_state *s, const struct control_peer *p)
{
	struct gs_ledger *l;
	if (control_peer_ledger(s, p, &l))
		return 0;
	uint64_t b = gs_ledger_pid_bytes(l, p->pid);
	gs_ledger_close(l);
	return b;
}

struct pick {
	struct control_state *s;
	const struct control_peer *owner;
	struct use *u;
	struct control_peer *best;
	unsigned best_rank;
	unsigned in_flight; /* borrowers of the GPU on their way to the host */
	struct control_peer *tried[64]; /* held nothing, or refused: not picked again this step */
	size_t n_tried;
};

static void pick_one(void *ctx, struct control_peer *q)
{
	struct pick *k = ctx;
	if (!q->client || q->pending || q == k->owner || strcmp(q->gpu, k->owner->gpu) ||
	    !strcmp(q->slice, k->owner->slice))
		return;
	/* on its way to the host, or back from it: the owner is answered once it
	 * is there (a resuming one may be picked again once it runs) */
	if (q->susp_lend && (q->susp == CONTROL_SUSPENDING || q->susp == CONTROL_RESUMING))
		k->in_flight++;
	if (q->lend_pending)
		return; /* itself waiting for its own guarantee */
	struct slice_use *e = slice_of(k->u, q->slice), *o = slice_of(k->u, k->owner->slice);
	if (!e || !e->borrows || q->susp != CONTROL_RUNNING || q->susp_refused)
		return;
	/* never for a slice it out-ranks (it borrows nothing of such a slice) */
	if (o && e->rank > o->rank)
		return;
	/* a borrower within its own guarantee borrows nothing: its promise holds too */
	if (e->used <= e->guarantee)
		return;
	for (size_t i = 0; i < k->n_tried; i++)
		if (k->tried[i] == q)
			return;
	/* lowest priority first, then the latest started */
	if (!k->best || e->rank < k->best_rank || (e->rank == k->best_rank && q->pid_start > k->best->pid_start)) {
		k->best = q;
		k->best_rank = e->rank;
	}
}

static const char *rank_name(unsigned rank)
{
	return rank == 0 ? "low" : rank == 2 ? "critical" : "normal";
}

struct begun {
	const struct control_peer *owner;
	uint64_t bytes;
};

static void add_begun(void *ctx, struct control_peer *q)
{
	struct begun *b = ctx;
	if (!q->susp_lend || q->lend_for != b->owner->pid || q->lend_for_start != b->owner->pid_start ||
	    q->lend_for_ask != b->owner->lend_ask)
		return;
	if (q->susp == CONTROL_SUSPENDING)
		b->bytes += q->lend_bytes; /* what it holds, until it is out */
	else if (q->susp == CONTROL_SUSPENDED)
		b->bytes += q->susp_bytes; /* what left the ledger: a swap leaves its context's */
}

/* What the suspensions begun for owner p's ask free: those on their way to
 * the host, or there. One the driver or its interposer refused is running
 * again and frees nothing, so the next borrower is tried; those of an
 * earlier ask are off the GPU already and free nothing more. */
static uint64_t begun_for(const struct control_peer *p)
{
	struct begun b = { .owner = p };
	control_each_client(add_begun, &b);
	return b.bytes;
}

/* Suspends borrowers for owner p until what they held covers its need;
 * answers it once none is on its way to the host. */
static void step(struct control_state *s, struct control_peer *p)
{
	struct use u;
	if (measure(s, p->gpu, &u)) {
		answer(p, 0);
		return;
	}
	uint64_t was = p->lend_begun;
	p->lend_begun = begun_for(p);
	if (p->lend_begun < was)
		control_log(s, "Reclaim for client %ld (slice %s): borrowers free %" PRIu64 " MiB less than they held "
			       "(a suspend refused, or a context left on the GPU); the next borrower is asked",
			    (long)p->pid, p->slice, (was - p->lend_begun) >> 20);
	struct pick k = { .s = s, .owner = p, .u = &u };
	unsigned refused = 0; /* borrowers the host's memory cannot take */
	for (;;) {
		k.best = NULL;
		k.in_flight = 0;
		control_each_client(pick_one, &k);
		if (p->lend_begun >= p->lend_need || !k.best)
			break;
		struct control_peer *q = k.best;
		uint64_t b = held(s, q);
		if (k.n_tried < GS_ARRAY_LEN(k.tried))
			k.tried[k.n_tried++] = q;
		else
			break;
		if (!b)
			continue;
		if (!control_suspend_peer(s, q, false)) {
			refused += q->host_refused; /* said in control.log, once */
			continue;
		}
		q->susp_lend = true;
		q->lend_for = p->pid;
		q->lend_for_start = p->pid_start;
		q->lend_for_ask = p->lend_ask;
		q->lend_bytes = b;
		struct slice_use *e = slice_of(&u, q->slice);
		if (e)
			e->used = e->used > b ? e->used - b : 0;
		p->lend_begun += b;
		control_log(s, "Reclaim for client %ld (slice %s): suspending client %ld of borrowing slice %s (priority %s, "
			       "%" PRIu64 " MiB)", (long)p->pid, p->slice, (long)q->pid, q->slice, rank_name(k.best_rank),
			    b >> 20);
	}
	if (k.in_flight)
		return; /* the tick answers once they are off the GPU */
	if (p->lend_begun)
		control_log(s, "Reclaim for client %ld (slice %s): %" PRIu64 " MiB of borrowers' memory off the GPU",
			    (long)p->pid, p->slice, p->lend_begun >> 20);
	else if (refused)
		control_log(s, "Reclaim for client %ld (slice %s): %u borrower(s) hold memory on GPU %s, but the host's "
			       "memory (or their cgroups') cannot take it; nothing taken back", (long)p->pid, p->slice, refused,
			    p->gpu);
	else
		control_log(s, "Reclaim for client %ld (slice %s): no running borrower above its own guarantee holds "
			       "memory on GPU %s; nothing more to take back", (long)p->pid, p->slice, p->gpu);
	answer(p, p->lend_begun);
}

static uint64_t last_reclaim_ns[CONTROL_MAX_GPUS];

static uint64_t *last_reclaim(struct control_state *s, const char *gpu)
{
	for (size_t i = 0; i < s->n_gpus && i < CONTROL_MAX_GPUS; i++)
		if (strcmp(s->gpus[i].uuid, gpu) == 0)
			return &last_reclaim_ns[i];
	return NULL;
}

void control_lend_reclaim(struct control_state *s, struct control_peer *p, const char *bytes, struct control_reply *r)
{
	unsigned long long want;
	struct use u;
	struct slice_use *own = NULL;
	const char *why = NULL;
	uint64_t now = gs_now_ns();
	if (now - p->lend_window_ns >= 1000000000ull) {
		p->lend_window_ns = now;
		p->lend_asked = 0;
	}
	if (++p->lend_asked > ASKS_PER_S) {
		if (p->lend_asked == ASKS_PER_S + 1)
			control_log(s, "Reclaims by pid %ld refused for the rest of this second: more than %d a second",
				    (long)p->pid, ASKS_PER_S);
		if (p->client)
			send_answer(p, 0);
		else
			control_reply_fail(r, "reclaim: more than %d a second", ASKS_PER_S);
		return;
	}
	if (!p->client || p->pending || !strcmp(p->slice, "-") || !p->gpu[0])
		why = "only a program registered in a slice may ask for its guarantee";
	else if (gs_parse_uint(bytes, UINT64_MAX, &want) || !want)
		why = "not a number of bytes";
	else if (measure(s, p->gpu, &u) || !(own = slice_of(&u, p->slice)))
		why = "its slice is not in the store";
	else if (want > own->guarantee)
		why = "more than its slice's guarantee";
	else if (own->used > own->guarantee)
		why = "its slice holds more than its guarantee: nothing is owed to it";
	else if (want > held(s, p))
		why = "more than the program holds (an allocation asks with its charge made)";
	if (why) {
		control_log(s, "Reclaim of %.24s bytes by pid %ld refused: %s", bytes, (long)p->pid, why);
		if (p->client && p->lend_pending)
			send_answer(p, 0); /* its allocation waits for an answer; the one asked before goes on */
		else if (p->client)
			answer(p, 0); /* its allocation waits for an answer */
		else
			control_reply_fail(r, "reclaim: %s", why);
		return;
	}
	r->deferred = true; /* answered "S reclaimed" once borrowers are off the GPU */
	/* what the ledgers say it is short of; where they say nothing (the
	 * driver refused what they hold room for), what it asked */
	uint64_t short_by = u.used > u.total ? u.used - u.total : 0;
	uint64_t need = short_by ? short_by : want, lent = borrowed(&u, own->rank);
	if (need > own->guarantee)
		need = own->guarantee;
	if (need > lent)
		need = lent; /* borrowers hold no more: what else is short is not theirs to give */
	if (!p->lend_pending) {
		p->lend_pending = true;
		p->lend_ask++;
		p->lend_begun = 0;
		p->lend_need = need;
	} else if (need > p->lend_need) {
		p->lend_need = need;
	}
	uint64_t *at = last_reclaim(s, p->gpu);
	if (at)
		*at = gs_now_ns();
	control_log(s, "Client %ld of slice %s asks %" PRIu64 " MiB of its guarantee back (%" PRIu64 " MiB short by the "
		       "ledgers, %" PRIu64 " of %" PRIu64 " MiB in use on the GPU)",
		    (long)p->pid, p->slice, need >> 20, short_by >> 20, u.used >> 20, u.total >> 20);
	step(s, p);
}

/* ---- every tick ---- */

struct tick {
	struct control_state *s;
	const char *gpu;
	unsigned waiting;                 /* owners of the GPU waiting */
	unsigned lent;                    /* borrowers of the GPU suspended for them */
	struct control_peer *resume;      /* the next borrower to resume */
	unsigned resume_rank;
	struct use *u;
};

static void go_on(void *ctx, struct control_peer *p)
{
	struct tick *t = ctx;
	if (strcmp(p->gpu, t->gpu))
		return;
	t->lent += p->client && p->susp_lend && p->susp == CONTROL_SUSPENDED;
	if (p->susp_lend && p->susp == CONTROL_RUNNING)
		p->susp_lend = false; /* resumed: no longer this tick's to resume */
	if (p->lend_pending) {
		t->waiting++;
		step(t->s, p);
	}
}

static void resumable(void *ctx, struct control_peer *q)
{
	struct tick *t = ctx;
	if (!q->client || !q->susp_lend || q->susp != CONTROL_SUSPENDED || strcmp(q->gpu, t->gpu))
		return;
	if (t->u->used + q->susp_bytes > t->u->total)
		return; /* it would take what an owner uses now */
	struct slice_use *e = slice_of(t->u, q->slice);
	unsigned rank = e ? e->rank : 1;
	/* the reverse of the suspensions: highest priority, earliest started first */
	if (!t->resume || rank > t->resume_rank || (rank == t->resume_rank && q->pid_start < t->resume->pid_start)) {
		t->resume = q;
		t->resume_rank = rank;
	}
}

void control_lend_tick(struct control_state *s)
{
	for (size_t i = 0; i < s->n_gpus && i < CONTROL_MAX_GPUS; i++) {
		struct tick t = { .s = s, .gpu = s->gpus[i].uuid };
		control_each_client(go_on, &t);
		if (t.waiting || !t.lent || gs_now_ns() - last_reclaim_ns[i] < SETTLE_NS)
			continue;
		struct use u;
		if (measure(s, t.gpu, &u))
			continue;
		t.u = &u;
		control_each_client(resumable, &t);
		struct control_peer *q = t.resume;
		if (!q)
			continue;
		uint64_t b = q->susp_bytes;
		if (control_suspend_peer(s, q, true)) {
			/* susp_lend kept until it runs: a resume that stops leaves it
			 * suspended, and the tick tries again */
			control_log(s, "Resuming client %ld of borrowing slice %s: its %" PRIu64 " MiB fit beside what the "
				       "slices of GPU %s use (%" PRIu64 " of %" PRIu64 " MiB)",
				    (long)q->pid, q->slice, b >> 20, t.gpu, u.used >> 20, u.total >> 20);
		}
	}
}
