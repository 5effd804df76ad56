/* turns.c: the programs of a timeslice slice (create_slice -timeslice MS)
 * take turns on its SMs. One of them holds the turn at a time; the daemon
 * gives it ("S turn on") to the busy program that had it longest ago and
 * takes it back ("S turn off") when the holder's time is up and another
 * wants it, when the holder says idle (it has nothing to launch) or goes.
 * A program outside its turn waits before its launches reach the driver
 * (the interposer's turns.c); what it launched before runs to its end.
 *
 * A program takes the slice's turn length at its registration: a change of
 * -timeslice holds for programs that start afterwards (each turn is as long
 * as its holder's). Programs queued behind another user's server take no
 * turn until they run. The walks over the clients are bounded by the
 * daemon's connection limits. */
#include "control.h"

#include <stdio.h>
#include <string.h>

struct line {
	const char *gpu, *slice;
	const struct control_peer *except; /* going: not in line */
	struct control_peer *holder, *next;
};

static bool same_slice(const struct control_peer *p, const char *gpu, const char *slice)
{
	return p->turn_ms && !p->pending && strcmp(p->gpu, gpu) == 0 && strcmp(p->slice, slice) == 0;
}

static void in_line(void *ctx, struct control_peer *p)
{
	struct line *l = ctx;
	if (p == l->except || !same_slice(p, l->gpu, l->slice))
		return;
	if (p->has_turn)
		l->holder = p;
	else if (p->busy_turns && (!l->next || p->turn_ns < l->next->turn_ns))
		l->next = p;
}

static void give(struct control_peer *p, bool on)
{
	p->has_turn = on;
	p->turn_ns = gs_now_ns(); /* when it got it, or last had it */
	control_send(p->conn, on ? "S turn on\n" : "S turn off\n");
}

/* The turn of p's slice moves on if it is free, or up, or its holder wants
 * it no more (idle or gone), and another program of the slice wants it. */
static void move_on(const struct control_peer *p, const struct control_peer *going)
{
	struct line l = { p->gpu, p->slice, going, NULL, NULL };
	control_each_client(in_line, &l);
	if (!l.next)
		return;
	uint64_t now = gs_now_ns();
	if (l.holder && l.holder->busy_turns && now - l.holder->turn_ns < (uint64_t)l.holder->turn_ms * 1000000u)
		return; /* its time is not up */
	if (l.holder)
		give(l.holder, false);
	give(l.next, true);
}

struct holder_of {
	const char *gpu, *slice;
	bool found;
};

static void find_holder(void *ctx, struct control_peer *p)
{
	struct holder_of *h = ctx;
	h->found |= same_slice(p, h->gpu, h->slice) && p->has_turn;
}

void control_turns_admit(struct control_state *s, struct control_peer *p, char *line, size_t len)
{
	struct gs_sm_policy pol;
	line[0] = '\0';
	p->turn_ms = control_slice_policy(s, p->gpu, p->slice, &pol) ? pol.timeslice_ms : 0;
	p->busy_turns = true; /* busy until it says idle */
	p->has_turn = false;
	p->turn_ns = 0;       /* never had it: first in line */
	if (!p->turn_ms)
		return;
	struct holder_of h = { p->gpu, p->slice, false };
	control_each_client(find_holder, &h);
	p->has_turn = !h.found; /* the first of the slice holds it at once */
	if (p->has_turn)
		p->turn_ns = gs_now_ns();
	snprintf(line, len, "turns %u %d", p->turn_ms, p->has_turn);
}

void control_turns_activity(struct control_state *s, struct control_peer *p, bool busy)
{
	(void)s;
	if (!p->turn_ms || p->busy_turns == busy)
		return; /* a report that changes nothing costs nothing */
	p->busy_turns = busy;
	move_on(p, NULL);
}

void control_turns_gone(struct control_state *s, struct control_peer *p)
{
	(void)s;
	if (!p->turn_ms)
		return;
	bool had = p->has_turn;
	p->has_turn = false;
	if (had)
		move_on(p, p);
	p->turn_ms = 0;
}

struct due {
	uint64_t now, next;          /* the earliest end of a turn another program waits for */
	struct control_peer *up[64]; /* holders whose time is up */
	size_t n_up;
};

static void wants(void *ctx, struct control_peer *p)
{
	bool *any = ctx;
	*any |= p->busy_turns && !p->has_turn;
}

struct others {
	const struct control_peer *holder;
	bool any;
};

static void other_wants(void *ctx, struct control_peer *p)
{
	struct others *o = ctx;
	if (p != o->holder && same_slice(p, o->holder->gpu, o->holder->slice))
		wants(&o->any, p);
}

static void deadline(void *ctx, struct control_peer *p)
{
	struct due *d = ctx;
	if (!p->turn_ms || !p->has_turn || p->pending)
		return;
	struct others o = { p, false };
	control_each_client(other_wants, &o);
	if (!o.any)
		return;
	/* a holder with nothing to launch passes it on now */
	uint64_t end = p->busy_turns ? p->turn_ns + (uint64_t)p->turn_ms * 1000000u : d->now;
	if (end <= d->now) {
		if (d->n_up < sizeof d->up / sizeof d->up[0])
			d->up[d->n_up++] = p;
	} else if (!d->next || end < d->next) {
		d->next = end;
	}
}

int control_turns_tick(struct control_state *s)
{
	(void)s;
	struct due d;
	/* again while some were due: new turns began (their ends), and more
	 * may be due than one pass holds; each pass moves every due turn on,
	 * so the passes end */
	for (int pass = 0; pass < 8; pass++) {
		d = (struct due){ .now = gs_now_ns() };
		control_each_client(deadline, &d);
		if (!d.n_up)
			break;
		for (size_t i = 0; i < d.n_up; i++)
			move_on(d.up[i], NULL);
	}
	if (d.n_up)
		return 0; /* still some due: at once */
	return d.next ? (int)((d.next - d.now + 999999) / 1000000) : -1;
}
