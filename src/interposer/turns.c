/* turns.c: a timeslice slice's programs take turns (create_slice
 * -timeslice MS). gpushare-control gives the turn to one of the slice's
 * busy programs at a time ("S turn on" / "S turn off", turns.c of the
 * daemon); a launch outside the program's turn waits here, before it
 * reaches the driver, until the turn comes back. A kernel already launched
 * runs to its end, as the GPU's own time-slicing lets it.
 *
 * The launch path reads one flag (gs__turn_gate); the waiting threads hold
 * the program busy (activity.c), so the daemon knows it wants a turn, and a
 * program that launches nothing says idle and passes its turn on. When the
 * daemon goes, or for a forked child (not registered), the gate opens:
 * nobody is left to give the turn.
 *
 * The same gate holds back a low-priority slice's launches while a critical
 * slice of its GPU is busy ("S pause on" / "S pause off", elastic.c of the
 * daemon). A launch waits at most a second for a pause, so that a critical
 * program whose kernels wait for this one's (NCCL ranks in both slices, a
 * stream waiting on memory this one writes) is never stuck for good; the
 * daemon going opens it as it opens a turn. */
#include "interposer.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

/* read by every launch: a line of its own, away from what waiters write;
 * the reasons it is closed */
int gs__turn_closed __attribute__((aligned(64)));
enum { NOT_OUR_TURN = 1, PAUSED = 2 };
#define PAUSE_MAX_MS 1000

static struct {
	bool set_up;                 /* turns from the first registration: only then from a later daemon */
	bool on;
	unsigned turn_ms;
	unsigned waiting;
	pthread_mutex_t lock;
	pthread_cond_t open;         /* CLOCK_MONOTONIC */
} T __attribute__((aligned(64))) = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void init_cond_once(void)
{
	pthread_condattr_t a;
	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(&T.open, &a);
	pthread_condattr_destroy(&a);
}

static void forked_child(void);

/* Once, for turns or a pause, whichever comes first: a child forked while
 * the gate is closed has no watcher to open it (forked_child does). */
static void set_up_once(void)
{
	init_cond_once();
	pthread_atfork(NULL, NULL, forked_child);
}

static void init_cond(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, set_up_once);
}

static void forked_child(void)
{
	pthread_mutex_init(&T.lock, NULL);
	init_cond_once();
	T.on = false;
	T.waiting = 0;
	gs__turn_closed = 0;
}

/* Closes or opens the gate for one reason, T.lock held. */
static void gate(int why, bool closed)
{
	int now = __atomic_load_n(&gs__turn_closed, __ATOMIC_ACQUIRE);
	__atomic_store_n(&gs__turn_closed, closed ? now | why : now & ~why, __ATOMIC_RELEASE);
	if (!closed)
		pthread_cond_broadcast(&T.open);
}

void gs__turns_set(bool open)
{
	pthread_mutex_lock(&T.lock);
	if (T.on)
		gate(NOT_OUR_TURN, !open);
	pthread_mutex_unlock(&T.lock);
}

void gs__pause_set(bool paused)
{
	init_cond();
	pthread_mutex_lock(&T.lock);
	if (paused != !!(__atomic_load_n(&gs__turn_closed, __ATOMIC_ACQUIRE) & PAUSED))
		gs__log(paused ? "a critical slice of the GPU is busy: launches wait until it is idle"
			       : "the critical slice is idle: launches go on");
	gate(PAUSED, paused);
	pthread_mutex_unlock(&T.lock);
}

void gs__turns_setup(const struct gs__placement *pl)
{
	if (!pl->turn_ms)
		return;
	init_cond();
	pthread_mutex_lock(&T.lock);
	T.set_up = T.on = true;
	T.turn_ms = pl->turn_ms;
	pthread_mutex_unlock(&T.lock);
	gs__act_setup(pl->idle_ms ? pl->idle_ms : 2);
	gs__turns_set(pl->has_turn);
	gs__log("slice %s: its programs take turns of %u ms", gs__slice.name, pl->turn_ms);
}

/* The daemon went away (lost: nobody gives the turn, the gate opens), or a
 * new one answered (its turns, or none). A program that took no turns at
 * its start takes none later: the -timeslice it started under holds. */
void gs__turns_again(const struct gs__placement *pl)
{
	pthread_mutex_lock(&T.lock);
	T.on = T.set_up && pl && pl->turn_ms;
	if (T.on)
		T.turn_ms = pl->turn_ms;
	/* the new daemon's turn and pause at once: no launch slips between */
	__atomic_store_n(&gs__turn_closed, (T.on && !pl->has_turn ? NOT_OUR_TURN : 0) | (pl && pl->paused ? PAUSED : 0),
			 __ATOMIC_RELEASE);
	pthread_cond_broadcast(&T.open);
	pthread_mutex_unlock(&T.lock);
}

bool gs__turn_waiting(void)
{
	return __atomic_load_n(&T.waiting, __ATOMIC_SEQ_CST) != 0;
}

static struct timespec in_ms(unsigned ms)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	uint64_t ns = (uint64_t)t.tv_nsec + ms * 1000000ull;
	t.tv_sec += (time_t)(ns / 1000000000ull);
	t.tv_nsec = (long)(ns % 1000000000ull);
	return t;
}

/* Until the turn comes back and no pause holds, or the pause held it a
 * second. Not a cancellation point (a thread cancelled here would leave the
 * lock held); a daemon that gives no turn for ten turns and a second
 * (stopped, stuck) has the turn's gate opened, as a gone one has: counted
 * from when the turn is waited for, not from a pause before it. */
void gs__turn_wait(void)
{
	int was;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &was);
	pthread_mutex_lock(&T.lock);
	if (__atomic_load_n(&gs__turn_closed, __ATOMIC_ACQUIRE)) {
		__atomic_add_fetch(&T.waiting, 1, __ATOMIC_SEQ_CST);
		pthread_mutex_unlock(&T.lock);
		gs__act_note(); /* wants a turn: busy */
		pthread_mutex_lock(&T.lock);
		struct timespec turn_end, pause_end = in_ms(PAUSE_MAX_MS);
		bool timing_turn = false;
		int closed;
		while ((closed = __atomic_load_n(&gs__turn_closed, __ATOMIC_ACQUIRE))) {
			if (closed & NOT_OUR_TURN) {
				if (!timing_turn)
					turn_end = in_ms(10 * T.turn_ms + 1000);
				timing_turn = true;
				if (pthread_cond_timedwait(&T.open, &T.lock, &turn_end) == ETIMEDOUT &&
				    (__atomic_load_n(&gs__turn_closed, __ATOMIC_ACQUIRE) & NOT_OUR_TURN)) {
					gate(NOT_OUR_TURN, false);
					gs__log("no turn from gpushare-control for %u ms: launching without waiting for it",
						10 * T.turn_ms + 1000);
				}
				continue;
			}
			timing_turn = false;
			if (pthread_cond_timedwait(&T.open, &T.lock, &pause_end) == ETIMEDOUT &&
			    __atomic_load_n(&gs__turn_closed, __ATOMIC_ACQUIRE) == PAUSED)
				break; /* held a second by the pause: this launch goes */
		}
		__atomic_sub_fetch(&T.waiting, 1, __ATOMIC_SEQ_CST);
	}
	pthread_mutex_unlock(&T.lock);
	pthread_setcancelstate(was, NULL);
	/* past the swap's gate before it waited here: not while the memory is out */
	if (__atomic_load_n(&gs__wrap_flags, __ATOMIC_ACQUIRE) & GS__WRAP_GATE)
		gs__swap_gate();
}
