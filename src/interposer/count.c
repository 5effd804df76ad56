/* count.c: the program's kernel launches, counted for gpushare-control's
 * metrics (gpushare_process_launches_total). Each thread counts in a
 * counter of its own, on a cache line of its own: a launch pays a branch,
 * a thread-local load and a plain store (no atomic read-modify-write, no
 * lock, no system call). A thread's first launch takes a counter (a lock,
 * once); one that ends leaves it for the next thread, its count kept, so
 * the sum of all counters is every launch. The watcher thread (register.c)
 * sends the sum to the daemon twice a second when it changed, and once more
 * at exit. Each counter names its thread, and the watcher keeps, on a
 * line of its own, the count it saw last: the threads that launched
 * lately, for activity.c to tell a launching thread kept off the CPU from
 * a program with nothing to launch (nothing more on the launch path). */
#include "interposer.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

bool gs__count_on;
__thread struct gs__count *gs__count_mine GS__TLS;

static struct {
	pthread_mutex_t lock;
	pthread_once_t once;
	pthread_key_t key;
	bool keyed;
	struct gs__count *all, *spare; /* every counter; those of threads that ended */
	uint64_t sent;                 /* the sum the daemon has */
} C __attribute__((aligned(64))) = { .lock = PTHREAD_MUTEX_INITIALIZER, .once = PTHREAD_ONCE_INIT };

static void thread_ended(void *p)
{
	struct gs__count *c = p;
	__atomic_store_n(&c->tid, 0, __ATOMIC_RELAXED);
	pthread_mutex_lock(&C.lock);
	c->spare_next = C.spare;
	C.spare = c;
	pthread_mutex_unlock(&C.lock);
}

static void make_key(void)
{
	C.keyed = pthread_key_create(&C.key, thread_ended) == 0;
}

/* The calling thread's counter: a spare one, else a new one (never freed:
 * the list holds it). NULL without memory: that thread's launches go
 * uncounted. */
struct gs__count *gs__count_new(void)
{
	pthread_once(&C.once, make_key);
	pthread_mutex_lock(&C.lock);
	struct gs__count *c = C.spare;
	if (c) {
		C.spare = c->spare_next;
	} else if ((c = aligned_alloc(64, sizeof *c))) {
		*c = (struct gs__count){ .next = C.all };
		__atomic_store_n(&C.all, c, __ATOMIC_RELEASE); /* the watcher walks it without the lock */
	}
	pthread_mutex_unlock(&C.lock);
	if (c)
		__atomic_store_n(&c->tid, (int)syscall(SYS_gettid), __ATOMIC_RELAXED);
	if (c && C.keyed)
		pthread_setspecific(C.key, c);
	gs__count_mine = c;
	return c;
}

/* The watcher's: which counters moved since its last look. */
void gs__count_look(void)
{
	for (struct gs__count *c = __atomic_load_n(&C.all, __ATOMIC_ACQUIRE); c; c = c->next) {
		uint64_t n = __atomic_load_n(&c->n, __ATOMIC_RELAXED);
		c->recent = n != c->seen;
		c->seen = n;
	}
}

size_t gs__count_recent(int *tids, size_t max)
{
	size_t k = 0;
	for (struct gs__count *c = __atomic_load_n(&C.all, __ATOMIC_ACQUIRE); c && k < max; c = c->next) {
		int tid = __atomic_load_n(&c->tid, __ATOMIC_RELAXED);
		if (c->recent && tid)
			tids[k++] = tid;
	}
	return k;
}

static uint64_t total(void)
{
	uint64_t n = 0;
	for (struct gs__count *c = __atomic_load_n(&C.all, __ATOMIC_ACQUIRE); c; c = c->next)
		n += __atomic_load_n(&c->n, __ATOMIC_RELAXED);
	return n;
}

void gs__count_report(void)
{
	if (!gs__count_on)
		return;
	uint64_t n = total();
	pthread_mutex_lock(&C.lock);
	if (n != C.sent) {
		char line[48];
		snprintf(line, sizeof line, "launches %" PRIu64 "\n", n);
		if (gs__notify(line))
			C.sent = n;
	}
	pthread_mutex_unlock(&C.lock);
}

static void at_exit(void)
{
	gs__count_report();
}

static void forked_child(void)
{
	gs__count_on = false; /* a child is not registered: nobody to tell */
	pthread_mutex_init(&C.lock, NULL);
}

void gs__count_setup(void)
{
	if (gs__count_on)
		return;
	pthread_atfork(NULL, NULL, forked_child);
	atexit(at_exit);
	gs__count_on = true;
}
