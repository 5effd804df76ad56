/* lend.c: an owner's side of lending memory. Where other slices of the GPU
 * borrow (-borrow-memory on), an allocation within this slice's guarantee
 * may find its memory held by a borrower: the ledgers say so, or the driver
 * refuses it. The program then asks gpushare-control, on its connection,
 * "reclaim <bytes>"; the daemon suspends borrowers (their memory to the
 * host) and answers "S reclaimed <bytes>" once their memory is off the GPU
 * (0: nothing more could be taken). The allocation waits for the answer,
 * asks again while the ledgers still say it is short, and is refused only
 * after GPUSHARE_RECLAIM_WAIT seconds (600 by default) in all, said on
 * stderr: a borrower's memory is never a reason to fail an owner. */
#include "interposer.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define WAIT_DEFAULT_S 600
#define ROUND_S 30 /* an answer not come by then: ask again (a daemon that came back) */
#define PAUSE_FIRST_NS 200000000ull /* after "nothing more": a borrower may be between steps */
#define PAUSE_MAX_NS 5000000000ull  /* and less and less often: each question is a line of control.log */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t answered = PTHREAD_COND_INITIALIZER;
static uint64_t answers; /* how many answers came: a waiter's is any after its question */
static uint64_t last_freed;

void gs__lend_answer(const char *line)
{
	unsigned long long freed;
	if (sscanf(line, "S reclaimed %llu", &freed) != 1)
		return;
	pthread_mutex_lock(&lock);
	answers++;
	last_freed = freed;
	pthread_cond_broadcast(&answered);
	pthread_mutex_unlock(&lock);
}

static unsigned wait_s(void)
{
	const char *v = secure_getenv("GPUSHARE_RECLAIM_WAIT");
	unsigned long long s;
	if (v && *v && gs_parse_uint(v, 86400, &s) == 0 && s > 0)
		return (unsigned)s;
	if (v && *v)
		gs__log("GPUSHARE_RECLAIM_WAIT=\"%.32s\" is not 1 to 86400 seconds: %d", v, WAIT_DEFAULT_S);
	return WAIT_DEFAULT_S;
}

/* One question and its answer, waited for until end_ns: the bytes the
 * daemon said it freed, or -1 (no daemon, no answer in time). */
static long long ask(uint64_t bytes, uint64_t end_ns)
{
	char line[64];
	snprintf(line, sizeof line, "reclaim %llu\n", (unsigned long long)bytes);
	pthread_mutex_lock(&lock);
	uint64_t before = answers;
	pthread_mutex_unlock(&lock);
	if (!gs__notify(line))
		return -1;
	uint64_t now = gs_now_ns(), until = now + ROUND_S * 1000000000ull;
	if (until > end_ns)
		until = end_ns;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts); /* the condition variable's clock */
	uint64_t at = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec + (until > now ? until - now : 0);
	ts.tv_sec = (time_t)(at / 1000000000ull);
	ts.tv_nsec = (long)(at % 1000000000ull);
	long long freed = -1;
	pthread_mutex_lock(&lock);
	int rc = 0;
	while (answers == before && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&answered, &lock, &ts);
	if (answers != before)
		freed = (long long)last_freed;
	pthread_mutex_unlock(&lock);
	return freed;
}

static void said_once(uint64_t bytes, unsigned secs)
{
	fprintf(stderr, "gpushare: slice %s: %llu MiB of its guarantee are held by slices that borrow memory; waiting up "
			"to %u s for gpushare-control to take them back\n",
		gs__slice.name, (unsigned long long)(bytes >> 20), secs);
	gs__log("reclaim: %llu MiB of the guarantee are held by borrowers: asking gpushare-control for them",
		(unsigned long long)(bytes >> 20));
}

static void timed_out(uint64_t bytes, unsigned secs)
{
	fprintf(stderr, "gpushare: slice %s: %llu MiB of its guarantee were not given back within %u s (no daemon, or "
			"no borrower it could suspend); CUDA_ERROR_OUT_OF_MEMORY\n",
		gs__slice.name, (unsigned long long)(bytes >> 20), secs);
	gs__log("reclaim: %llu MiB not given back within %u s: refused", (unsigned long long)(bytes >> 20), secs);
}

bool gs__lend_reclaim(uint64_t short_by)
{
	unsigned secs = wait_s();
	uint64_t start = gs_now_ns(), end = start + (uint64_t)secs * 1000000000ull;
	said_once(short_by, secs);
	uint64_t pause = PAUSE_FIRST_NS;
	while (short_by && gs_now_ns() < end) {
		long long freed = ask(short_by, end);
		if (freed <= 0) {
			/* no daemon, or nothing it could take yet: look again, less and less often */
			uint64_t left = end > gs_now_ns() ? end - gs_now_ns() : 0, wait = pause < left ? pause : left;
			struct timespec p = { (time_t)(wait / 1000000000ull), (long)(wait % 1000000000ull) };
			nanosleep(&p, NULL);
			pause = pause * 2 < PAUSE_MAX_NS ? pause * 2 : PAUSE_MAX_NS;
		} else {
			pause = PAUSE_FIRST_NS;
		}
		short_by = gs__guarantee_shortfall(gs_ledger_used(gs__slice.ledger));
	}
	if (short_by) {
		timed_out(short_by, secs);
		return false;
	}
	gs__log("reclaim: the guarantee is free after %llu ms",
		(unsigned long long)((gs_now_ns() - start) / 1000000ull));
	return true;
}

bool gs__lend_driver_oom(uint64_t bytes)
{
	if (!gs__slice.ledger || !gs__connected() || !gs__guarantee_lent(gs_ledger_used(gs__slice.ledger)))
		return false;
	unsigned secs = wait_s();
	uint64_t start = gs_now_ns();
	said_once(bytes, secs);
	long long freed = ask(bytes, start + (uint64_t)secs * 1000000000ull);
	gs__log("reclaim: the driver refused %llu MiB within the guarantee; gpushare-control freed %lld MiB",
		(unsigned long long)(bytes >> 20), freed > 0 ? freed >> 20 : 0);
	return freed > 0;
}
