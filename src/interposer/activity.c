/* activity.c: whether the program is launching, told to gpushare-control,
 * which lends an idle slice's SMs (TPC masks, smmask.c), passes a
 * timeslice slice's turn on from a program that has nothing to launch
 * (turns.c), and counts every program's GPU busy time (its metrics).
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
 * read seq_cst on both sides, so neither misses the other.
 *
 * No launch in an interval is not yet idle where a thread that launched
 * in the interval before is runnable (a host with every core busy keeps it
 * off the CPU, and its next launch is only late): the watcher looks again
 * every interval, and while such a thread stays runnable but has had less
 * CPU than an idle interval since (its CPU clock), it waits for a CPU and
 * the program stays busy, for at most LATE_MAX_NS. One that computes on
 * the CPU says idle an interval or two late; one that sleeps or blocks, at
 * once. A read of /proc and a clock per such thread at such a look, never
 * on the launch path.
 *
 * A program in no lending or timeslice slice says "gpu_busy" and
 * "gpu_idle" instead, which move nothing but the daemon's busy time, and
 * tells at most one idle interval every IDLE_GAP_NS (its reports are
 * bounded): one that goes idle sooner goes idle untold, and its next idle
 * report says how long it was idle untold (the gap, taken off its own busy
 * time; its slice's and GPU's count it busy). Where the daemon counts busy
 * time, each idle report says how long ago the last look that saw activity
 * was (the busy time ends there, not at the report), and the program says
 * idle once more at exit. */
#include "interposer.h"

#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define IDLE_GAP_NS 20000000ull /* accounting alone: at most 50 idle reports a second */
#define LATE_THREADS 8           /* launching threads looked at for being kept off the CPU */
#define LATE_MAX_NS 100000000ull /* late at most that long: then idle */

/* read by every launch, written at transitions; the counter every launch
 * writes on a line of its own */
bool gs__act_on, gs__act_hooks;
int gs__act_idle;               /* the daemon takes a new client as busy until it says idle */
int gs__act_launched __attribute__((aligned(64)));
int gs__act_waiting __attribute__((aligned(64)));
uint64_t gs__act_wait_end_ns;   /* the last wait for the GPU ended then (beside the count of waiters) */

static struct {
	unsigned idle_ms;
	int wake;                    /* eventfd: busy again, the watcher looks every idle interval */
	pthread_mutex_t lock;        /* the busy/idle transitions, and what follows */
	bool lend;                   /* the reports drive lending or turns: sm_busy, sm_idle */
	bool timed;                  /* the daemon counts busy time: idle reports say since when */
	uint64_t active_ns;          /* when activity was last seen: a look, a wait's end, the launch that said busy */
	uint64_t look_ns;            /* the last look, or the launch that said busy */
	uint64_t idle_told_ns;       /* the last idle report */
	bool untold;                 /* idle, the daemon not told (the rate bound): busy for it */
	uint64_t quiet_ns;           /* untold: since when */
	uint64_t gap_ns;             /* idle untold since the last idle report */
	struct {                     /* launching threads runnable at a look with no launch */
		unsigned n;          /* 0: none looked at */
		int tid[LATE_THREADS];
		uint64_t cpu_ns[LATE_THREADS]; /* their CPU time at the first such look */
		uint64_t at_ns;
	} late;
} A = { .wake = -1, .lock = PTHREAD_MUTEX_INITIALIZER };

static void forked_child(void)
{
	pthread_mutex_init(&A.lock, NULL);
	gs__act_on = gs__act_hooks = false; /* not registered: nothing to report */
	A.lend = A.timed = A.untold = false;
	gs__act_idle = 0;
	gs__act_waiting = 0; /* the parent's threads are not the child's */
	A.late.n = 0;
	if (A.wake >= 0) /* the parent's watcher's, not ours to wake */
		close(A.wake);
	A.wake = -1;
}

/* Busy without launching: a thread waits for its turn, or for the GPU. */
static bool held(void)
{
	return gs__turn_waiting() || __atomic_load_n(&gs__act_waiting, __ATOMIC_SEQ_CST) != 0;
}

/* /proc/self/task/<tid>/<what> into buf (NUL-terminated); false where it
 * cannot be read (the thread ended). */
static bool task_file(int tid, const char *what, char *buf, size_t len)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/self/task/%d/%s", tid, what);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	return true;
}

/* Whether the thread is running or waiting for a CPU (state R). */
static bool task_runnable(int tid)
{
	char buf[512];
	if (!task_file(tid, "stat", buf, sizeof buf))
		return false;
	const char *st = strrchr(buf, ')'); /* the name may hold anything, but no ')' after it */
	return st && st[1] == ' ' && st[2] == 'R';
}

/* The thread's CPU time (ns), exact also while it runs: its own CPU clock,
 * whose id the kernel makes of its tid (CPUCLOCK_PERTHREAD | CPUCLOCK_SCHED,
 * as pthread_getcpuclockid does; any thread of the process may read it). */
static bool task_cpu_ns(int tid, uint64_t *ns)
{
	struct timespec ts;
	if (clock_gettime((clockid_t)((~(unsigned)tid << 3) | 4 | 2), &ts))
		return false;
	*ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	return true;
}

/* Under A.lock, at a look with no launch since the one before: whether a
 * thread that launched in the interval before is only late, kept off the
 * CPU: runnable, and since the first such look given less CPU than an idle
 * interval (one that had that much and launched nothing computes: idle),
 * for at most LATE_MAX_NS. That first look says late, to be looked at
 * again an interval on. */
static bool launcher_late(uint64_t now)
{
	if (!A.late.n) {
		int tids[LATE_THREADS];
		size_t n = gs__count_recent(tids, LATE_THREADS);
		for (size_t i = 0; i < n; i++)
			if (task_runnable(tids[i]) && task_cpu_ns(tids[i], &A.late.cpu_ns[A.late.n]))
				A.late.tid[A.late.n++] = tids[i];
		A.late.at_ns = now;
		return A.late.n > 0;
	}
	if (now - A.late.at_ns < LATE_MAX_NS)
		for (unsigned i = 0; i < A.late.n; i++) {
			uint64_t cpu;
			if (task_runnable(A.late.tid[i]) && task_cpu_ns(A.late.tid[i], &cpu) &&
			    cpu - A.late.cpu_ns[i] < (uint64_t)A.idle_ms * 1000000u)
				return true;
		}
	A.late.n = 0; /* they compute, block or were late too long: idle */
	return false;
}

/* Under A.lock: a look at now that saw launches since the one before (and
 * no thread waiting now): they ended with the last wait for the GPU where
 * one ended since (a launch and its synchronize), else they may run yet. */
static uint64_t launches_ended(uint64_t now)
{
	uint64_t w = __atomic_load_n(&gs__act_wait_end_ns, __ATOMIC_RELAXED);
	return w > A.look_ns && w <= now ? w : now;
}

/* Under A.lock, at a look: a wait for the GPU that ended since the last
 * activity seen was activity until its end. */
static void waited(uint64_t now)
{
	uint64_t w = __atomic_load_n(&gs__act_wait_end_ns, __ATOMIC_RELAXED);
	if (w > A.active_ns && w <= now)
		A.active_ns = w;
}

/* Under A.lock: the report of a transition to the daemon, in the words its
 * use wants; false when the socket did not take it. */
static bool say(bool busy, uint64_t now)
{
	char line[48];
	uint64_t ago = now > A.active_ns ? now - A.active_ns : 0;
	if (A.lend && (busy || !A.timed))
		return gs__notify(busy ? "sm_busy\n" : "sm_idle\n");
	if (!A.lend && !A.timed)
		return true; /* a daemon that counts no busy time: nobody to tell */
	if (!A.lend && busy)
		return gs__notify("gpu_busy\n");
	if (A.lend)
		snprintf(line, sizeof line, "sm_idle %" PRIu64 "\n", ago);
	else
		snprintf(line, sizeof line, "gpu_idle %" PRIu64 " %" PRIu64 "\n", ago, A.gap_ns);
	return gs__notify(line);
}

/* Under A.lock, idle: busy again at now, told (false: the socket did not
 * take it), or where the idle interval was never told, its gap counted. */
static bool busy_again(uint64_t now)
{
	if (A.untold) {
		A.gap_ns += now > A.quiet_ns ? now - A.quiet_ns : 0;
		A.untold = false;
	} else if (!say(true, now)) {
		return false;
	}
	__atomic_store_n(&gs__act_idle, 0, __ATOMIC_SEQ_CST);
	A.active_ns = A.look_ns = now;
	return true;
}

/* Under A.lock: an idle interval, told (false: the socket did not take
 * it), or untold within IDLE_GAP_NS of the last told one. */
static bool idle_now(uint64_t now)
{
	if (!A.lend && now - A.idle_told_ns < IDLE_GAP_NS) {
		A.untold = true;
		A.quiet_ns = A.active_ns;
	} else if (say(false, now)) {
		A.idle_told_ns = now;
		A.gap_ns = 0;
	} else {
		return false;
	}
	__atomic_store_n(&gs__act_idle, 1, __ATOMIC_SEQ_CST);
	return true;
}

/* At exit, busy time ends at the last activity, not when the daemon sees
 * the connection close (a driver's teardown can take a while). */
static void at_exit(void)
{
	if (!gs__act_on || !A.timed)
		return;
	pthread_mutex_lock(&A.lock);
	uint64_t now = gs_now_ns();
	if (!__atomic_load_n(&gs__act_idle, __ATOMIC_SEQ_CST)) {
		waited(now);
		if (held())
			A.active_ns = now;
		else if (__atomic_exchange_n(&gs__act_launched, 0, __ATOMIC_SEQ_CST))
			A.active_ns = launches_ended(now);
		A.idle_told_ns = 0; /* told whatever the rate: the last report */
		idle_now(now);
	} else if (A.untold && say(false, now)) {
		A.untold = false;
	}
	pthread_mutex_unlock(&A.lock);
}

static void start(unsigned ms)
{
	A.idle_ms = ms;
	/* the daemon takes it as busy from its admission; nothing seen yet, so
	 * its first idle report dates the end before then (to the admission) */
	A.active_ns = 0;
	A.look_ns = gs_now_ns();
	if ((A.wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		gs__log("no eventfd: the watcher looks every %u ms while idle too", ms);
	pthread_atfork(NULL, NULL, forked_child);
	atexit(at_exit);
	gs__act_on = true;
	gs__act_sync();
}

void gs__act_setup(unsigned idle_ms)
{
	if (gs__act_on || !idle_ms)
		return;
	A.lend = true;
	start(idle_ms);
}

void gs__act_account(unsigned look_ms)
{
	if (!look_ms)
		return; /* an older daemon: sm_idle as it knows it, nothing more */
	A.timed = true;
	if (!gs__act_on)
		start(look_ms);
}

void gs__act_again(unsigned look_ms)
{
	pthread_mutex_lock(&A.lock);
	A.timed = look_ms != 0;
	pthread_mutex_unlock(&A.lock);
	if (look_ms && !gs__act_on)
		gs__act_account(look_ms);
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
	uint64_t now = gs_now_ns(); /* the vDSO's clock: no system call */
	bool awake = A.untold; /* the watcher looks every idle interval until it tells */
	if (__atomic_load_n(&gs__act_idle, __ATOMIC_SEQ_CST) && busy_again(now) && !awake) {
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
	A.active_ns = A.look_ns = gs_now_ns();
	A.untold = false;
	A.gap_ns = 0;
	pthread_mutex_unlock(&A.lock);
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
	 * take: looked at again until it is told; an idle interval untold:
	 * until it is told */
	return !__atomic_load_n(&gs__act_idle, __ATOMIC_SEQ_CST) || A.wake < 0 || held() ||
			       __atomic_load_n(&A.untold, __ATOMIC_RELAXED)
		       ? (int)A.idle_ms
		       : -1;
}

/* Every idle interval while busy (the watcher thread): idle when no launch
 * came since the last look, no thread waits for its turn or the GPU, and
 * the thread that launched last is not only late (launcher_late) (for
 * accounting alone, untold sooner than IDLE_GAP_NS after the last idle
 * report, and told once that has passed). */
void gs__act_tick(void)
{
	pthread_mutex_lock(&A.lock);
	uint64_t now = gs_now_ns();
	if (__atomic_load_n(&gs__act_idle, __ATOMIC_SEQ_CST) && held())
		busy_again(now); /* the waiter's report, again */
	bool launched = __atomic_exchange_n(&gs__act_launched, 0, __ATOMIC_SEQ_CST), waiting = held();
	waited(now);
	if (launched || waiting) {
		A.active_ns = waiting ? now : launches_ended(now);
		A.look_ns = now;
		A.late.n = 0;
		if (launched)
			gs__count_look(); /* which threads launched in this interval */
		pthread_mutex_unlock(&A.lock);
		return;
	}
	bool idle = __atomic_load_n(&gs__act_idle, __ATOMIC_SEQ_CST);
	if (!idle && launcher_late(now)) {
		pthread_mutex_unlock(&A.lock); /* busy still; looked at again an interval on */
		return;
	}
	A.look_ns = now;
	if (!idle) {
		/* a launch that came meanwhile saw busy and said nothing */
		if (idle_now(now) && (__atomic_load_n(&gs__act_launched, __ATOMIC_SEQ_CST) || held()))
			busy_again(now);
	} else if (A.untold && now - A.idle_told_ns >= IDLE_GAP_NS && say(false, now)) {
		/* idle still: told now, its gaps with it */
		A.untold = false;
		A.idle_told_ns = now;
		A.gap_ns = 0;
	}
	pthread_mutex_unlock(&A.lock);
}
