/* memturn.c: time-sharing a GPU's memory (create_slice -mem-turn SECONDS):
 * where two or more slices of a GPU made with it have programs, one slice
 * at a time holds the turn and its programs run; the others' programs are
 * suspended (suspend.c: their memory on the host), and a program that
 * arrives in one of them is held before it allocates anything. When the
 * holder's time is up its programs are suspended, and once they all are,
 * the next slice's are resumed (each resume waits until its memory is
 * free). Each slice runs at full speed in its turn: two jobs that each need
 * most of the GPU's memory take turns rather than fail. A turn's seconds
 * count from when its programs all run again, not from when it was given
 * (moving tens of GiB back takes seconds), but a turn whose programs are
 * not all back within its seconds starts counting then all the same.
 *
 * Only what the turns suspended is resumed by them (suspend's own command
 * is the administrator's); a slice alone with programs holds the turn. */
#include "control.h"

#include <string.h>

#define MAX_TURN_SLICES 64

static struct turn {
	char gpu[48];
	char holder[96];    /* the slice whose programs run; "" none */
	uint64_t given;     /* when it got the turn */
	uint64_t since;     /* when its seconds began to count */
	bool running;       /* its programs all run: its seconds count */
	bool switching;     /* its time is up: its programs being suspended */
} T[CONTROL_MAX_GPUS];

struct scan {
	struct control_state *s;
	const char *gpu;
	char slices[MAX_TURN_SLICES][96];
	unsigned turn_s[MAX_TURN_SLICES];
	size_t n;
	/* the holder's programs not yet suspended (switching), or not yet
	 * running again (its turn) */
	const char *holder;
	unsigned busy, waking, refused;
};

static bool in_turns(struct control_state *s, const struct control_peer *p, unsigned *turn_s)
{
	if (!p->client || p->pending || strcmp(p->slice, "-") == 0)
		return false;
	unsigned t = control_slice_mem_turn(s, p->gpu, p->slice);
	if (turn_s)
		*turn_s = t;
	return t > 0;
}

static void collect(void *ctx, struct control_peer *p)
{
	struct scan *c = ctx;
	unsigned t;
	if (strcmp(p->gpu, c->gpu) || !in_turns(c->s, p, &t))
		return;
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->slices[i], p->slice) == 0)
			return;
	if (c->n == MAX_TURN_SLICES)
		return;
	/* in UUID order: the turn goes round the same way whoever arrived first */
	size_t at = c->n;
	while (at > 0 && strcmp(c->slices[at - 1], p->slice) > 0) {
		memcpy(c->slices[at], c->slices[at - 1], sizeof c->slices[0]);
		c->turn_s[at] = c->turn_s[at - 1];
		at--;
	}
	snprintf(c->slices[at], sizeof c->slices[0], "%s", p->slice);
	c->turn_s[at] = t;
	c->n++;
}

static struct turn *turn_of(const char *gpu)
{
	for (size_t i = 0; i < CONTROL_MAX_GPUS; i++)
		if (strcmp(T[i].gpu, gpu) == 0)
			return &T[i];
	for (size_t i = 0; i < CONTROL_MAX_GPUS; i++)
		if (!T[i].gpu[0]) {
			snprintf(T[i].gpu, sizeof T[i].gpu, "%s", gpu);
			return &T[i];
		}
	return NULL;
}

/* Running: the holder's programs that the turns suspended resumed (theirs
 * until they run again), the others' running ones suspended. Switching:
 * the holder's suspended, and counted while some are not yet; one the
 * host cannot take counted apart (the switch is called off). A turn's
 * resume still waiting for memory outside its turn is withdrawn. */
static void enforce(void *ctx, struct control_peer *p)
{
	struct scan *c = ctx;
	if (strcmp(p->gpu, c->gpu) || !in_turns(c->s, p, NULL))
		return;
	struct turn *t = turn_of(c->gpu);
	bool mine = strcmp(p->slice, t->holder) == 0;
	if (mine && !t->switching) {
		if (p->susp_turn && p->susp == CONTROL_SUSPENDED)
			control_suspend_peer(c->s, p, true); /* again where an earlier try failed */
		if (p->susp == CONTROL_RUNNING)
			p->susp_turn = false;
		if (p->susp_turn || p->susp == CONTROL_RESUMING)
			c->waking++; /* the turns' to bring back, not one suspended by hand */
		return;
	}
	if (p->susp_refused)
		return; /* the driver will not: it runs beside the holder (said when it refused) */
	if (p->susp_turn && p->susp == CONTROL_RESUMING)
		control_suspend_unwait(c->s, p);
	if (p->susp == CONTROL_RUNNING) {
		if (control_suspend_peer(c->s, p, false))
			p->susp_turn = true;
		else if (mine && p->host_refused)
			c->refused++;
	}
	if (mine && p->susp != CONTROL_SUSPENDED)
		c->busy++; /* the holder's, not all suspended yet */
}

static void give(struct control_state *s, struct turn *t, const char *gpu, const char *slice)
{
	snprintf(t->holder, sizeof t->holder, "%s", slice);
	t->given = t->since = gs_now_ns();
	t->running = t->switching = false;
	control_log(s, "GPU %s: slice %s holds the memory turn", gpu, t->holder);
}

/* After a pass of enforce over the holder's turn: its seconds count from
 * when its programs all run, or from one turn after it was given. */
static void clock_turn(struct control_state *s, struct turn *t, const char *gpu, unsigned waking, unsigned turn_s)
{
	if (t->running || t->switching)
		return;
	uint64_t now = gs_now_ns();
	if (waking && now - t->given < (uint64_t)turn_s * 1000000000ull) {
		t->since = now;
		return;
	}
	t->running = true;
	t->since = now;
	if (waking)
		control_log(s, "GPU %s: slice %s's programs are not all back after its %u s: its turn counts from now", gpu,
			    t->holder, turn_s);
	else if (now - t->given >= 100000000ull) /* said where the move back took a while */
		control_log(s, "GPU %s: slice %s's programs run again, %.1f s after it got the memory turn", gpu, t->holder,
			    (double)(now - t->given) / 1e9);
}

void control_memturn_tick(struct control_state *s)
{
	for (size_t gi = 0; gi < s->n_gpus; gi++) {
		const char *gpu = s->gpus[gi].uuid;
		static struct scan c;
		memset(&c, 0, sizeof c);
		c.s = s;
		c.gpu = gpu;
		control_each_client(collect, &c);
		struct turn *t = turn_of(gpu);
		if (!t)
			continue;
		size_t h = c.n;
		for (size_t i = 0; i < c.n; i++)
			if (strcmp(c.slices[i], t->holder) == 0)
				h = i;
		if (h == c.n) { /* none, or the holder has no programs left: the first */
			if (!c.n) {
				t->holder[0] = '\0';
				continue;
			}
			h = 0;
			give(s, t, gpu, c.slices[0]);
		}
		if (t->running && !t->switching && c.n > 1 && gs_now_ns() - t->since >= (uint64_t)c.turn_s[h] * 1000000000ull) {
			t->switching = true;
			control_log(s, "GPU %s: slice %s's memory turn is up: its programs are suspended", gpu, t->holder);
		}
		if (t->switching && c.n < 2) /* the others left: nobody to switch to */
			t->switching = false, t->running = true, t->since = gs_now_ns();
		c.busy = c.waking = c.refused = 0;
		control_each_client(enforce, &c);
		if (t->switching && c.refused) {
			/* the host cannot take the holder's memory: it keeps the turn
			 * (its programs suspended so far resumed) for another turn */
			t->switching = false;
			t->running = true;
			t->since = gs_now_ns();
			control_log(s, "GPU %s: slice %s keeps the memory turn: the host's memory cannot take its programs'",
				    gpu, t->holder);
			c.busy = c.waking = c.refused = 0;
			control_each_client(enforce, &c);
		}
		if (t->switching && !c.busy) {
			h = (h + 1) % c.n;
			give(s, t, gpu, c.slices[h]);
			c.waking = 0;
			control_each_client(enforce, &c);
		}
		clock_turn(s, t, gpu, c.waking, c.turn_s[h]);
	}
}

struct other {
	struct control_state *s;
	const struct control_peer *p;
	char slice[96];
};

static void other_running(void *ctx, struct control_peer *q)
{
	struct other *o = ctx;
	if (q != o->p && !o->slice[0] && q->susp == CONTROL_RUNNING && strcmp(q->gpu, o->p->gpu) == 0 &&
	    strcmp(q->slice, o->p->slice) && in_turns(o->s, q, NULL))
		snprintf(o->slice, sizeof o->slice, "%s", q->slice);
}

void control_memturn_admit(struct control_state *s, struct control_peer *p)
{
	if (p->susp != CONTROL_RUNNING || !in_turns(s, p, NULL))
		return;
	struct turn *t = turn_of(p->gpu);
	if (!t)
		return;
	if (!t->holder[0]) {
		/* nobody's yet: another slice's running program has it, else this one */
		struct other o = { s, p, "" };
		control_each_client(other_running, &o);
		give(s, t, p->gpu, o.slice[0] ? o.slice : p->slice);
	}
	if (strcmp(t->holder, p->slice) == 0 && !t->switching)
		return; /* the turn's: it runs */
	control_suspend_hold_new(s, p);
	if (p->susp == CONTROL_SUSPENDED) {
		p->susp_turn = true;
		control_log(s, "Client %ld waits for slice %s's memory turn", (long)p->pid, p->slice);
	}
}
