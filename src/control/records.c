/* records.c: an accounting record for every program that ran in a slice,
 * appended to the log directory's accounting.log when it goes (docs/
 * control.md, "Accounting records"): one JSON object a line, with who ran
 * what where, from when to when, the most memory its slice's ledger held
 * for it, and its GPU-seconds: its time there times the part of the GPU's
 * SMs its slice has (what it was given, not what it used); beside them,
 * the seconds it was busy on the GPU (busy.c) and those times the same
 * part (what it used of what it was given, as its interposer reported it).
 *
 * The peak is sampled at every tick of the daemon (100 ms) and once more as
 * the program goes, from a ledger kept open for it: a peak shorter than a
 * tick between two samples is missed. */
#include "control.h"

#include "ledger.h"
#include "slices.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static void sample(struct control_peer *p)
{
	if (!p->acct_ledger)
		return;
	uint64_t b = gs_ledger_pid_bytes(p->acct_ledger, p->pid);
	if (b > p->acct_peak)
		p->acct_peak = b;
}

void control_records_admit(struct control_state *s, struct control_peer *p)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	p->acct_start = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
	p->acct_peak = 0;
	gs_slices_command(p->pid, p->acct_command, sizeof p->acct_command);
	if (p->acct_ledger)
		gs_ledger_close(p->acct_ledger);
	p->acct_ledger = NULL;
	if (control_peer_ledger(s, p, &p->acct_ledger))
		p->acct_ledger = NULL;
	sample(p);
}

static void tick_one(void *ctx, struct control_peer *p)
{
	(void)ctx;
	sample(p);
}

void control_records_tick(struct control_state *s)
{
	(void)s;
	control_each_client(tick_one, NULL);
}

static void iso(uint64_t ms, char *out, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	size_t n = strftime(out, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, len - n, ".%03uZ", (unsigned)(ms % 1000));
}

void control_records_gone(struct control_state *s, struct control_peer *p)
{
	if (!p->acct_start)
		return; /* never admitted */
	sample(p);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	uint64_t end = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
	double secs = end > p->acct_start ? (double)(end - p->acct_start) / 1000 : 0;
	double busy = (double)control_busy_process_ns(p, gs_now_ns()) / 1e9;
	const struct control_gpu *g = control_gpu_by_dev(s, p->gpu);
	unsigned gpu_sms = g ? g->sms : 0, sms = p->sms ? p->sms : gpu_sms;
	char user[64], from[40], to[40];
	gs_slices_user_name(p->uid, user, sizeof user);
	iso(p->acct_start, from, sizeof from);
	iso(end, to, sizeof to);
	if (s->records) {
		fprintf(s->records,
			"{\"version\": 1, \"pid\": %ld, \"uid\": %lu, \"user\": \"%s\", \"command\": \"%s\", \"slice\": \"%s\", "
			"\"gpu_uuid\": \"%s\", \"start\": \"%s\", \"end\": \"%s\", \"seconds\": %.3f, \"peak_memory_bytes\": %" PRIu64
			", \"sms\": %u, \"gpu_sms\": %u, \"gpu_seconds\": %.3f, \"busy_seconds\": %.3f, "
			"\"busy_gpu_seconds\": %.3f}\n",
			(long)p->pid, (unsigned long)p->uid, user, p->acct_command, p->slice, p->gpu, from, to, secs,
			p->acct_peak, sms, gpu_sms, gpu_sms ? secs * sms / gpu_sms : secs, busy,
			gpu_sms ? busy * sms / gpu_sms : busy);
		fflush(s->records);
	}
	if (p->acct_ledger)
		gs_ledger_close(p->acct_ledger);
	p->acct_ledger = NULL;
	p->acct_start = 0;
}
