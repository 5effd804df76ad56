/* activity.c: whether the program is launching, told to gpushare-control,
 * which lends an idle slice's SMs (TPC masks, smmask.c) and passes a
 * timeslice slice's turn on from a program that has nothing to launch
 * (turns.c).
 *
 * A launch marks a flag that the thread watching the daemon's connection
 * (register.c) takes back every idle interval: the launch path only reads
 * it while it is marked, so busy launches write nothing another thread
 * reads. A look that finds it unmarked, with no thread waiting for its
 * turn and none waiting for the GPU (a synchronize: its kernels run), says
 * "sm_idle"; the first launch after that says "sm_busy" itself
 * and wakes the watcher (an eventfd) to look again: two system calls, on
 * the transition only. Both reports go under one lock so the daemon hears
 * them in order; the flag and the idle word are stored and then the other
 * read seq_cst on both sides, so neither misses the other. */
#include "interposer.h"

#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* read by every launch, written at transitions; the counter every launch
 * writes on a line of its own */
bool gs__act_on, gs__act_hooks;
int gs__act_idle;               /* the daemon takes a new client as busy until it says idle */
int gs__act_launched __attribute__((aligned(64)));
int gs__act_waiting __attribute__((aligned(64)));

static struct {
	unsigned idle_ms;
	int wake;                    /* eventfd: busy again, the watcher looks every idle interval */
	pthread_mutex_t lock;        /* the busy/idle transitions */
} A = { .wake = -1, .lock = PTHREAD_MUTEX_INITIALIZER };

static void forked_child(void)
{
	pthread_mutex_init(&A.lock, NULL);
	gs__act_on = gs__act_hooks = false; /* not registered: nothing to report */
	gs__act_idle = 0;
	gs__act_waiting = 0; /* the parent's threads are not the child's */
	if (A.wake >= 0) /* the parent's watcher's, not ours to wake */
		close(A.wake);
	A.wake = -1;
}

void gs__act_setup(unsigned idle_ms)
{
	if (gs__act_on || !idle_ms)
		return;
	A.idle_ms = idle_ms;
	if ((A.wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		gs__log("no eventfd: the watcher looks every %u ms while idle too", idle_ms);
	pthread_atfork(NULL, NULL, forked_child);
	gs__act_on = true;
	gs__act_sync();
}

void gs__act_sync(void)
{
	gs__act_hooks = gs__act_on && !gs__mask_on;
}

/* The first launch after an idle interval: busy once the daemon has it
 * (a report the socket did not take is tried again at the next launch),
 * and the watcher, asleep while idle, woken to look again every idle
 * interval: nothing the daemon sends need wake it (a slice whose mask does
 * not change when it is busy again gets nothing). */
void gs__act_busy(void)
{
	int was;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &was); /* send() under the lock */
	pthread_mutex_lock(&A.lock);
	if (__atomic_load_n(&gs__act_idle, __ATOMIC_SEQ_CST) && gs__notify("sm_busy\n")) {
		__atomic_store_n(&gs__act_idle, 0, __ATOMIC_SEQ_CST);
		/* a full counter (EAGAIN) wakes the watcher all the same */
		if (A.wake >= 0 && write(A.wake, &(uint64_t){ 1 }, sizeof(uint64_t))) {
		}
	}
	pthread_mutex_unlock(&A.lock);
	pthread_setcancelstate(was, NULL);
}

/* The daemon went away, or a new one took the program (as busy). */
void gs__act_reset(void)
{
	pthread_mutex_lock(&A.lock);
	__atomic_store_n(&gs__act_idle, 0, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&A.lock);
}

/* Busy without launching: a thread waits for its turn, or for the GPU. */
static bool held(void)
{
	return gs__turn_waiting() || __atomic_load_n(&gs__act_waiting, __ATOMIC_SEQ_CST) != 0;
}

int gs__act_wake_fd(void)
{
	return A.wake;
}

void gs__act_woken(void)
{
	uint64_t n;
	if (A.wake >= 0 && read(A.wake, &n, sizeof n)) { /* EAGAIN: drained already */
	}
}

int gs__act_watch_ms(void)
{
	if (!gs__act_on)
		return -1;
	/* a thread waiting for its turn whose "sm_busy" the socket did not
	 * take: looked at again until it is told */
	return !__atomic_load_n(&gs__act_idle, __ATOMIC_SEQ_CST) || A.wake < 0 || held() ? (int)A.idle_ms : -1;
}

/* Every idle interval while busy (the watcher thread): idle when no launch
 * came since the last look and no thread waits for its turn or the GPU. */
void gs__act_tick(void)
{
	pthread_mutex_lock(&A.lock);
	if (__atomic_load_n(&gs__act_idle, __ATOMIC_SEQ_CST) && held() && gs__notify("sm_busy\n"))
		__atomic_store_n(&gs__act_idle, 0, __ATOMIC_SEQ_CST); /* the waiter's report, again */
	bool launched = __atomic_exchange_n(&gs__act_launched, 0, __ATOMIC_SEQ_CST);
	if (!launched && !held() && !__atomic_load_n(&gs__act_idle, __ATOMIC_SEQ_CST)) {
		if (gs__notify("sm_idle\n"))
			__atomic_store_n(&gs__act_idle, 1, __ATOMIC_SEQ_CST);
		/* a launch that came meanwhile saw busy and said nothing */
		if ((__atomic_load_n(&gs__act_launched, __ATOMIC_SEQ_CST) || held()) &&
		    __atomic_load_n(&gs__act_idle, __ATOMIC_SEQ_CST) && gs__notify("sm_busy\n"))
			__atomic_store_n(&gs__act_idle, 0, __ATOMIC_SEQ_CST);
	}
	pthread_mutex_unlock(&A.lock);
}
