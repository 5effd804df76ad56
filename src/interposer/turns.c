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
 * nobody is left to give the turn. */
#include "interposer.h"

#include <pthread.h>

int gs__turn_closed;

static struct {
	bool on;
	unsigned waiting;
	pthread_mutex_t lock;
	pthread_cond_t open;
} T = { .lock = PTHREAD_MUTEX_INITIALIZER, .open = PTHREAD_COND_INITIALIZER };

static void forked_child(void)
{
	pthread_mutex_init(&T.lock, NULL);
	pthread_cond_init(&T.open, NULL);
	T.on = false;
	T.waiting = 0;
	gs__turn_closed = 0;
}

void gs__turns_set(bool open)
{
	pthread_mutex_lock(&T.lock);
	if (T.on) {
		__atomic_store_n(&gs__turn_closed, !open, __ATOMIC_RELEASE);
		if (open)
			pthread_cond_broadcast(&T.open);
	}
	pthread_mutex_unlock(&T.lock);
}

void gs__turns_setup(const struct gs__placement *pl)
{
	if (!pl->turn_ms)
		return;
	static bool once;
	if (!once) {
		once = true;
		pthread_atfork(NULL, NULL, forked_child);
	}
	pthread_mutex_lock(&T.lock);
	T.on = true;
	pthread_mutex_unlock(&T.lock);
	gs__act_setup(pl->idle_ms ? pl->idle_ms : 2);
	gs__turns_set(pl->has_turn);
	gs__log("slice %s: its programs take turns of %u ms", gs__slice.name, pl->turn_ms);
}

/* The daemon went away (lost: nobody gives the turn, the gate opens), or a
 * new one answered (its turns, or none). */
void gs__turns_again(const struct gs__placement *pl)
{
	pthread_mutex_lock(&T.lock);
	T.on = pl && pl->turn_ms;
	__atomic_store_n(&gs__turn_closed, T.on && !pl->has_turn, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&T.open);
	pthread_mutex_unlock(&T.lock);
}

bool gs__turn_waiting(void)
{
	return __atomic_load_n(&T.waiting, __ATOMIC_SEQ_CST) != 0;
}

void gs__turn_wait(void)
{
	pthread_mutex_lock(&T.lock);
	if (__atomic_load_n(&gs__turn_closed, __ATOMIC_ACQUIRE)) {
		__atomic_add_fetch(&T.waiting, 1, __ATOMIC_SEQ_CST);
		pthread_mutex_unlock(&T.lock);
		gs__act_note(); /* wants a turn: busy */
		pthread_mutex_lock(&T.lock);
		while (__atomic_load_n(&gs__turn_closed, __ATOMIC_ACQUIRE))
			pthread_cond_wait(&T.open, &T.lock);
		__atomic_sub_fetch(&T.waiting, 1, __ATOMIC_SEQ_CST);
	}
	pthread_mutex_unlock(&T.lock);
}
