/* migrate.c: moving a running program to another GPU (`migrate <pid> <gpu>
 * [-slice <slice>]`) through the driver's checkpoint API: locked and
 * checkpointed (its memory on the host), its memory out of its slice's
 * ledger and into the target slice's, its interposer told its new slice
 * (ledger, GPU, SMs) while its calls wait, restored with the GPU UUID pair
 * (source -> target) and unlocked. The target is the slice named, on that
 * GPU, open to the program's user and with room; or, without -slice, the
 * program's own job slice, made again on the target GPU (the one it leaves
 * removed once it is moved).
 *
 * Each step is written to the suspended file before it is taken, so that a
 * daemon killed meanwhile leaves the next one what to do when the program
 * registers again: before its memory is charged to the target, it is
 * resumed where it was (as any suspended program); once it is, it goes on
 * to the target (the driver's state says how far the restore got). Only the
 * program's own user or root may move it, and only into a slice its user
 * may use. */
#include "control.h"

#include "gpus.h"
#include "gs-cuda.h"
#include "ledger.h"
#include "smrun.h"

#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* MIG_BACK: a next daemon's, sending it back where it was once a killed
 * daemon's helper is done with it. The suspended file keeps MIG_CKPT or
 * MIG_TOLD: their numbers stay. */
enum { MIG_NONE, MIG_CKPT, MIG_ROOM, MIG_TOLD, MIG_RESTORE, MIG_BACK };

#define TOLD_MAX_NS 10000000000ull /* its interposer answers from its watcher thread: at once */
#define RETRY_FIRST_NS 200000000ull
#define RETRY_MAX_NS 10000000000ull

static bool same_process(const struct control_peer *p)
{
	return p->pid_start && gs_proc_start_time(p->pid) == p->pid_start;
}

/* The ledger of a slice of a GPU ("-": its remainder), read-write. */
static int ledger_of(struct control_state *s, const char *slice, const char *gpu, struct gs_ledger **out)
{
	struct control_peer where = { .ledger_fd = -1 };
	snprintf(where.slice, sizeof where.slice, "%s", slice);
	snprintf(where.gpu, sizeof where.gpu, "%s", gpu);
	return control_peer_ledger(s, &where, out);
}

static void set_hold(struct control_state *s, const struct control_peer *p, const char *slice, const char *gpu,
		     bool on)
{
	struct gs_ledger *l;
	if (ledger_of(s, slice, gpu, &l) == 0) {
		gs_ledger_set_hold(l, p->pid, p->pid_start, on);
		gs_ledger_close(l);
	}
}

static unsigned gpu_index(const struct control_state *s, const char *uuid)
{
	const struct control_gpu *g = control_gpu_by_dev(s, uuid);
	return g ? g->index : 0;
}

/* The command's answer, once it is done: "R" and "E 0", or "W" and "E 1". */
static void answer(struct control_mig *m, bool ok, const char *text)
{
	if (m->conn < 0)
		return;
	char line[640];
	snprintf(line, sizeof line, "%s %s\nE %d\n", ok ? "R" : "W", text, ok ? 0 : 1);
	control_send(m->conn, line);
	m->conn = -1;
}

static void remove_slice(struct control_state *s, const char *slice)
{
	char why[256];
	if (slice[0] && gs_slice_destroy(s->state_dir, slice, NULL, why, sizeof why))
		control_log(s, "migrate: job slice %s stays: %s", slice, why);
}

/* Not moved, nothing of it charged to the target, its memory where the
 * driver has it: running (before its checkpoint) or suspended, resumed
 * where it was (suspend.c). */
static void not_moved(struct control_state *s, struct control_peer *p, bool checkpointed, const char *fmt, ...)
	GS_PRINTF(4, 5);
static void not_moved(struct control_state *s, struct control_peer *p, bool checkpointed, const char *fmt, ...)
{
	struct control_mig *m = &p->mig;
	char why[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	control_log(s, "Client %ld not migrated: %s", (long)p->pid, why);
	char text[600];
	snprintf(text, sizeof text, "Client %ld not migrated: %s", (long)p->pid, why);
	answer(m, false, text);
	if (m->made_job[0])
		remove_slice(s, m->made_job);
	m->step = MIG_NONE;
	m->made_job[0] = '\0';
	if (!checkpointed) {
		control_suspend_hold(s, p, false);
		p->susp = CONTROL_RUNNING;
		control_suspend_save(s);
		return;
	}
	p->susp = CONTROL_SUSPENDED;
	p->susp_swap = false;
	p->susp_bytes = m->bytes;
	p->susp_turn = p->susp_lend = false;
	control_suspend_save(s);
	control_suspend_peer(s, p, true); /* back where it was */
}

/* Its interposer told a slice: the placement line with the ledger. */
static int tell(struct control_state *s, struct control_peer *p, const char *slice, const char *gpu, char *why,
		size_t len)
{
	struct control_placement pl;
	uint32_t mask[4] = { 0 }, own[4] = { 0 };
	int rc = control_place_slice(s, slice, p->uid, &pl, why, len);
	if (rc)
		return rc;
	bool masked = p->masked && control_elastic_masks(s, gpu, slice, mask, own);
	char line[400];
	snprintf(line, sizeof line,
		 "S slice %s %s %" PRIu64 " %" PRIu64 " %u %u %u %d %08" PRIx32 " %08" PRIx32 " %08" PRIx32 " %08" PRIx32
		 " %08" PRIx32 " %08" PRIx32 " %08" PRIx32 " %08" PRIx32 "\n",
		 pl.slice, pl.gpu, pl.memory, pl.guarantee, pl.sm_start, pl.sms, pl.sm_grid, masked, mask[0], mask[1],
		 mask[2], mask[3], own[0], own[1], own[2], own[3]);
	control_send_fd(p->conn, line, pl.ledger_fd);
	return 0;
}

/* Charged to the target slice (its slot held, as its calls are) and its
 * interposer told; or waiting while the memory does not fit there. */
static void try_room(struct control_state *s, struct control_peer *p)
{
	struct control_mig *m = &p->mig;
	struct gs_ledger *l;
	int rc = ledger_of(s, m->slice, m->gpu, &l);
	if (!rc) {
		rc = gs_ledger_put_back(l, p->pid, p->pid_start, m->bytes);
		if (!rc)
			gs_ledger_set_hold(l, p->pid, p->pid_start, true);
		gs_ledger_close(l);
	}
	if (rc == -ENOMEM) {
		if (!m->waiting)
			control_log(s, "Client %ld waits to migrate: its %" PRIu64 " MiB do not fit in slice %s now",
				    (long)p->pid, m->bytes >> 20, m->slice);
		m->waiting = true;
		m->retry = m->retry ? m->retry * 2 : RETRY_FIRST_NS;
		if (m->retry > RETRY_MAX_NS)
			m->retry = RETRY_MAX_NS;
		m->next_ns = gs_now_ns() + m->retry;
		return;
	}
	if (rc == -ESRCH) { /* killed since its checkpoint */
		not_moved(s, p, true, "it is gone");
		return;
	}
	if (rc) {
		not_moved(s, p, true, "the target slice's ledger: %s", strerror(-rc));
		return;
	}
	m->waiting = false;
	m->in_target = true;
	m->step = MIG_TOLD;
	m->t_told = 0; /* told at the next tick */
	control_suspend_save(s);
}

/* Charged to the target and perhaps told: its memory back out of the
 * target, its interposer told its old slice again, resumed where it was. */
static void back_out(struct control_state *s, struct control_peer *p, const char *why)
{
	struct control_mig *m = &p->mig;
	struct gs_ledger *l;
	if (m->in_target && ledger_of(s, m->slice, m->gpu, &l) == 0) {
		uint64_t got;
		gs_ledger_take_part(l, p->pid, p->pid_start, m->bytes, &got);
		gs_ledger_set_hold(l, p->pid, p->pid_start, false);
		gs_ledger_close(l);
	}
	m->in_target = false;
	if (strcmp(p->slice, m->from_slice)) { /* the daemon took it as moved: back */
		control_elastic_gone(s, p);
		snprintf(p->slice, sizeof p->slice, "%s", m->from_slice);
		snprintf(p->gpu, sizeof p->gpu, "%s", m->from_gpu);
		control_server_move_client(s, p, p->slice);
	}
	char err[256];
	if (m->t_told && tell(s, p, m->from_slice, m->from_gpu, err, sizeof err))
		control_log(s, "Client %ld: cannot tell it its slice %s again: %s", (long)p->pid, m->from_slice, err);
	set_hold(s, p, m->from_slice, m->from_gpu, true); /* suspended there until resumed */
	not_moved(s, p, true, "%s", why);
}

static void done(struct control_state *s, struct control_peer *p)
{
	struct control_mig *m = &p->mig;
	uint64_t now = gs_now_ns();
	control_suspend_hold(s, p, false);
	p->susp = CONTROL_RUNNING;
	p->susp_bytes = 0;
	m->step = MIG_NONE;
	if (m->move_job)
		remove_slice(s, m->from_slice); /* its job's slice is the new one */
	m->made_job[0] = '\0';
	control_suspend_save(s);
	control_elastic_update_all(s);
	double gib = (double)m->bytes / (1ull << 30), out = (double)(m->t_ckpt - m->t0) / 1e9,
	       in = (double)(now - m->t_restore) / 1e9, all = (double)(now - m->t0) / 1e9;
	char text[512];
	int n = snprintf(text, sizeof text,
			 "Migrated client %ld from GPU %u to GPU %u (slice %s -> %s): %" PRIu64 " MiB in %.3f s "
			 "(checkpoint %.3f s, restore %.3f s",
			 (long)p->pid, gpu_index(s, m->from_gpu), gpu_index(s, m->gpu), m->from_slice, m->slice,
			 m->bytes >> 20, all, out, in);
	if (gib > 0)
		snprintf(text + n, sizeof text - (size_t)n, "; %.3f s/GiB out, %.3f s/GiB in)", out / gib, in / gib);
	else
		snprintf(text + n, sizeof text - (size_t)n, ")");
	control_log(s, "%s", text);
	answer(m, true, text);
}

/* Its interposer has its new slice: the daemon takes it as there, and the
 * driver restores it onto the target GPU. */
static void moved(struct control_state *s, struct control_peer *p)
{
	struct control_mig *m = &p->mig;
	set_hold(s, p, m->from_slice, m->from_gpu, false); /* it charges the target from now */
	bool was_masked = p->masked;
	control_elastic_gone(s, p);
	snprintf(p->slice, sizeof p->slice, "%s", m->slice);
	snprintf(p->gpu, sizeof p->gpu, "%s", m->gpu);
	struct control_placement pl;
	char why[256];
	if (control_place_slice(s, m->slice, p->uid, &pl, why, sizeof why) == 0) {
		p->sms = pl.sms;
		close(pl.ledger_fd);
	}
	uint32_t mask[4], own[4];
	if (was_masked && control_elastic_masks(s, m->gpu, m->slice, mask, own)) {
		p->masked = true;
		memcpy(p->mask, mask, sizeof p->mask);
	}
	if (p->acct_ledger) { /* the records sample its new slice's ledger */
		gs_ledger_close(p->acct_ledger);
		if (control_peer_ledger(s, p, &p->acct_ledger))
			p->acct_ledger = NULL;
	}
	control_server_move_client(s, p, m->slice);
	m->step = MIG_RESTORE;
	m->t_restore = gs_now_ns();
	m->restore_due = true;
	control_suspend_save(s);
	control_migrate_tick_one(s, p);
}

/* A helper of a daemon killed before this one may still be at work on the
 * program: two at once would each restore it. */
static bool old_helper_runs(struct control_mig *m)
{
	if (m->helper && control_helper_alive(m->helper, m->helper_start))
		return true;
	m->helper = 0;
	return false;
}

void control_migrate_tick_one(struct control_state *s, struct control_peer *p)
{
	struct control_mig *m = &p->mig;
	int rc;
	char why[320];
	switch (m->step) {
	case MIG_CKPT:
		if (control_suspend_helper_done(p, &rc))
			return;
		if (rc == CUDA_ERROR_NOT_SUPPORTED && p->masked) {
			/* the driver's verdict, not the daemon's guess: a program
			 * of a masked slice that fell back to a green context
			 * (fewer SMs than its slice) is checkpointed */
			not_moved(s, p, false,
				  "the driver refuses to checkpoint a program held by TPC masks (CUDA error 801); migrate "
				  "moves programs confined by green contexts: start gpushare-control with "
				  "GPUSHARE_CONTROL_SM_MASKS=off");
			return;
		}
		if (rc) {
			not_moved(s, p, false, "%s (CUDA error %d)%s", control_suspend_why(rc), rc,
				  rc == CUDA_ERROR_NOT_SUPPORTED ? "; the driver's checkpoint API refuses clients of NVIDIA "
								   "MPS: run the job without NVIDIA's MPS to migrate it"
								 : "");
			return;
		}
		m->bytes = 0;
		struct gs_ledger *l;
		if (control_peer_ledger(s, p, &l) == 0) {
			gs_ledger_take_out(l, p->pid, p->pid_start, &m->bytes);
			gs_ledger_close(l);
		}
		m->t_ckpt = gs_now_ns();
		p->susp_bytes = m->bytes;
		m->step = MIG_ROOM;
		control_log(s, "Client %ld checkpointed: %" PRIu64 " MiB on the host, for slice %s of GPU %u", (long)p->pid,
			    m->bytes >> 20, m->slice, gpu_index(s, m->gpu));
		if (m->conn >= 0) {
			char line[256]; /* a line before the answer: the front end waits on */
			snprintf(line, sizeof line, "W checkpointed %" PRIu64 " MiB in %.3f s\n", m->bytes >> 20,
				 (double)(m->t_ckpt - m->t0) / 1e9);
			control_send(m->conn, line);
		}
		control_suspend_save(s);
		try_room(s, p);
		return;
	case MIG_ROOM:
		if (gs_now_ns() >= m->next_ns)
			try_room(s, p);
		return;
	case MIG_TOLD:
		if (!m->t_told) {
			m->t_told = gs_now_ns();
			if (tell(s, p, m->slice, m->gpu, why, sizeof why))
				back_out(s, p, why);
		} else if (gs_now_ns() - m->t_told > TOLD_MAX_NS) {
			back_out(s, p, "its interposer did not take its new slice (an older libgpushare.so?)");
		}
		return;
	case MIG_RESTORE:
		if (m->restore_due) {
			if (old_helper_runs(m))
				return;
			m->restore_due = false;
			if (control_suspend_helper(s, p, false, m->from_gpu, m->gpu))
				back_out(s, p, "its helper did not start");
			else
				control_suspend_save(s); /* with its helper, for a next daemon to wait for */
			return;
		}
		if (control_suspend_helper_done(p, &rc))
			return;
		if (rc == CUDA_ERROR_OUT_OF_MEMORY && control_suspend_helper(s, p, false, m->from_gpu, m->gpu) == 0)
			return; /* the target GPU has not the room yet (another slice's): again */
		if (rc) {
			snprintf(why, sizeof why, "the driver did not restore it on GPU %u: %s (CUDA error %d)",
				 gpu_index(s, m->gpu), control_suspend_why(rc), rc);
			back_out(s, p, why);
			return;
		}
		done(s, p);
		return;
	case MIG_BACK:
		if (!old_helper_runs(m))
			not_moved(s, p, true, "its daemon was killed before its memory was charged to slice %s: it goes "
					      "back where it was", m->slice);
		return;
	}
}

void control_migrate_answer(struct control_state *s, struct control_peer *p, int argc, char **argv)
{
	if (!p->client || p->susp != CONTROL_MIGRATING || p->mig.step != MIG_TOLD || !p->mig.t_told)
		return; /* nobody asked it */
	if (strcmp(argv[0], "slice_moved") == 0) {
		moved(s, p);
		return;
	}
	char why[200] = "its interposer refused its new slice:";
	for (int i = 1; i < argc; i++)
		snprintf(why + strlen(why), sizeof why - strlen(why), " %s", argv[i]);
	back_out(s, p, why);
}

uint64_t control_migrate_record(const struct control_peer *p, char *out, size_t len)
{
	const struct control_mig *m = &p->mig;
	/* its helper now, which a next daemon waits for */
	pid_t h = p->susp_child ? p->susp_child : m->helper;
	snprintf(out, len, " migrate %s %s %s %u %s %d %ld %" PRIu64, m->slice, m->gpu, m->from_gpu,
		 m->in_target ? MIG_TOLD : MIG_CKPT, m->made_job[0] ? m->made_job : "-", m->move_job, (long)h,
		 h ? gs_proc_start_time(h) : 0);
	return m->step >= MIG_ROOM ? m->bytes : 0;
}

bool control_migrate_recover(struct control_state *s, struct control_peer *p, const char *from_slice, uint64_t bytes,
			     const char *record)
{
	struct control_mig m = { .conn = -1 };
	unsigned step;
	int move_job;
	long helper = 0;
	if (sscanf(record, " migrate %95s %47s %47s %u %95s %d %ld %" SCNu64, m.slice, m.gpu, m.from_gpu, &step,
		   m.made_job, &move_job, &helper, &m.helper_start) < 6)
		return false;
	m.helper = (pid_t)helper;
	if (!strcmp(m.made_job, "-"))
		m.made_job[0] = '\0';
	snprintf(m.from_slice, sizeof m.from_slice, "%s", from_slice);
	m.bytes = bytes;
	if (step < MIG_TOLD && strcmp(from_slice, p->slice) == 0) {
		/* not charged to the target yet: resumed where it was, but only
		 * once the killed daemon's helper is done with it (a checkpoint
		 * of that one's ending after this one's resume would leave it
		 * checkpointed, its memory off the GPU, while taken as running) */
		control_log(s, "Client %ld was migrating to GPU %u: it goes back to slice %s", (long)p->pid,
			    gpu_index(s, m.gpu), from_slice);
		m.step = MIG_BACK;
		p->mig = m;
		p->susp = CONTROL_MIGRATING;
		p->susp_bytes = bytes;
		control_suspend_save(s);
		control_migrate_tick_one(s, p);
		return true;
	}
	if (step < MIG_TOLD) { /* registered elsewhere: suspend.c says so */
		if (m.made_job[0])
			remove_slice(s, m.made_job);
		return false;
	}
	m.in_target = true;
	m.move_job = move_job == 1;
	m.step = MIG_TOLD;
	m.t0 = m.t_ckpt = gs_now_ns();
	p->mig = m;
	p->susp = CONTROL_MIGRATING;
	p->susp_bytes = bytes;
	control_log(s, "Client %ld was migrating to GPU %u: going on, into slice %s", (long)p->pid, gpu_index(s, m.gpu),
		    m.slice);
	control_suspend_save(s);
	return true;
}

void control_migrate_gone(struct control_state *s, struct control_peer *p)
{
	struct control_mig *m = &p->mig;
	char text[128];
	snprintf(text, sizeof text, "Client %ld not migrated: it is gone", (long)p->pid);
	answer(m, false, text);
	if (same_process(p))
		return; /* its connection closed while it lives: kept, for when it registers again */
	/* its charges, wherever they are, go with it */
	struct gs_ledger *l;
	if (ledger_of(s, m->slice, m->gpu, &l) == 0) {
		gs_ledger_reclaim(l);
		gs_ledger_close(l);
	}
	if (ledger_of(s, m->from_slice, m->from_gpu, &l) == 0) {
		gs_ledger_reclaim(l);
		gs_ledger_close(l);
	}
	if (m->made_job[0] && m->step != MIG_RESTORE)
		remove_slice(s, m->made_job);
	control_log(s, "Client %ld gone while migrating: its memory is freed", (long)p->pid);
	m->step = MIG_NONE;
}

/* ---- the command ---- */

struct find {
	pid_t pid;
	struct control_peer *p;
	unsigned registrations; /* its connections: one per slice of a program of several GPUs' slices */
	const char *slice;
	unsigned others;
};

static void find_one(void *ctx, struct control_peer *q)
{
	struct find *f = ctx;
	if (q->client && q->pid == f->pid) {
		f->registrations++;
		if (!q->pending && !f->p)
			f->p = q;
	}
}

static void count_in(void *ctx, struct control_peer *q)
{
	struct find *f = ctx;
	f->others += q->client && q->pid != f->pid && strcmp(q->slice, f->slice) == 0;
}

/* The GPUs NVML lists the process on (up to max, into out). */
static size_t gpus_of(const struct control_state *s, pid_t pid, unsigned *out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < s->n_gpus && n < max; i++) {
		nvmlDevice_t d;
		nvmlProcessInfo_t info[256];
		unsigned count = GS_ARRAY_LEN(info);
		if (!gs_nvml.nvmlDeviceGetHandleByUUID || !gs_nvml.nvmlDeviceGetComputeRunningProcesses_v3 ||
		    gs_nvml.nvmlDeviceGetHandleByUUID(s->gpus[i].uuid, &d) ||
		    gs_nvml.nvmlDeviceGetComputeRunningProcesses_v3(d, &count, info))
			continue;
		for (unsigned k = 0; k < count; k++)
			if (info[k].pid == (unsigned)pid) {
				out[n++] = s->gpus[i].index;
				break;
			}
	}
	return n;
}

/* Its job slice made again on the target GPU, its size, users, owner and
 * cgroup alike, and at the same SMs where green contexts confine it (they
 * keep the SMs they were made on): 0, or -errno with why. */
static int make_job(struct control_state *s, struct control_peer *p, const struct control_gpu *g, char *made,
		    size_t len, char *why, size_t whylen)
{
	struct gs_store *st = malloc(sizeof *st);
	struct gs_store_gpu *sg;
	struct gs_mig_ci *ci;
	struct gs_mig_gi *gi;
	int rc = st ? gs_store_load(s->state_dir, st, why, whylen) : -ENOMEM;
	if (!rc && (gs_slice_resolve(st, p->slice, &sg, &ci, NULL, 0) || !(gi = gs_slice_gi_of(sg, ci))))
		rc = gs_fail(why, whylen, -ENOENT, "its slice %s is not in the store", p->slice);
	if (!rc && !ci->owner_pid)
		rc = gs_fail(why, whylen, -EINVAL,
			     "it is in slice %s, which is no job slice: name a slice of GPU %u with -slice", p->slice,
			     g->index);
	if (!rc && ci->name[0])
		rc = gs_fail(why, whylen, -EINVAL, "its job slice is %s's (%s): the scheduler places it",
			     strncmp(ci->name, "slurm-", 6) ? "a scheduler" : "Slurm", ci->name);
	if (rc) {
		free(st);
		return rc;
	}
	struct gs_slice_spec spec = { .sm = ci->sm, .memory = (uint64_t)gi->memory_mib << 20,
				      .overcommit = gi->guarantee_mib < gi->memory_mib,
				      .guarantee = gi->guarantee_mib < gi->memory_mib ? (uint64_t)gi->guarantee_mib << 20
										    : UINT64_MAX,
				      .users = ci->users, .n_users = ci->n_users, .refuse = ci->refuse_busy,
				      .owner = ci->owner_pid, .cgroup = ci->cgroup[0] ? ci->cgroup : NULL,
				      .sm_policy = ci->sm_policy, .oom_wait_s = ci->oom_wait_s };
	unsigned sms;
	if (!p->masked && p->sms) {
		spec.sm_fixed = true;
		gs_smrun_of_ci(&sg->layout, ci, &spec.sm_start, &sms);
	}
	struct gs_slice_info info;
	char err[384];
	rc = gs_slice_create(s->state_dir, &g->slice, &spec, &info, err, sizeof err);
	if (rc)
		gs_fail(why, whylen, rc, "its job slice (%u SMs, %" PRIu32 " MiB) does not fit on GPU %u: %s%s", ci->sm,
			gi->memory_mib, g->index, err,
			spec.sm_fixed ? "; its green contexts keep the SMs they were made on" : "");
	else
		snprintf(made, len, "%s", info.uuid);
	free(st);
	return rc;
}

void control_migrate_command(struct control_state *s, struct control_peer *asker, int argc, char **argv,
			     struct control_reply *r)
{
	unsigned long long pid;
	const char *slice_arg = NULL;
	if (argc == 5 && strcmp(argv[3], "-slice") == 0)
		slice_arg = argv[4];
	else if (argc != 3) {
		control_reply_fail(r, "Invalid arguments: migrate <PID> <GPU index|UUID> [-slice <name|MIG-uuid>]");
		return;
	}
	struct find f = { 0 };
	if (gs_parse_uint(argv[1], INT32_MAX, &pid) || pid == 0) {
		control_reply_fail(r, "migrate %.64s: not a client's PID", argv[1]);
		return;
	}
	f.pid = (pid_t)pid;
	control_each_client(find_one, &f);
	struct control_peer *p = f.p;
	if (!p || !same_process(p)) {
		control_reply_fail(r, "migrate %llu: no such client", pid);
		return;
	}
	if (!asker->privileged && asker->uid != 0 && asker->uid != geteuid() && asker->uid != p->uid) {
		control_reply_fail(r, "Permission denied: client %ld is another user's; only root or its own user may "
				      "migrate it", (long)p->pid);
		return;
	}
	if (f.registrations > 1) {
		/* each slice's connection, ledger and server would move, and the
		 * checkpoint API moves the process whole: not done yet */
		control_reply_fail(r, "Client %ld has a slice on each of %u GPUs: migrate moves programs of one slice",
				   (long)p->pid, f.registrations);
		return;
	}
	const struct control_gpu *g = control_gpu_by_dev(s, argv[2]);
	if (!g) {
		control_reply_fail(r, "migrate: GPU %.64s not found", argv[2]);
		return;
	}
	const struct control_gpu *from = control_gpu_by_dev(s, p->gpu);
	if (from == g) {
		control_reply_fail(r, "Client %ld is on GPU %u already", (long)p->pid, g->index);
		return;
	}
	if (p->susp != CONTROL_RUNNING) {
		control_reply_fail(r, "Client %ld is %s: resume it first (a migrate moves a running program)",
				   (long)p->pid, control_suspend_state(p));
		return;
	}
	if (s->mps.on) {
		control_reply_fail(r, "Client %ld is a client of NVIDIA MPS, which the driver's checkpoint API refuses "
				      "(CUDA_ERROR_NOT_SUPPORTED): run the job without NVIDIA's MPS to migrate it",
				   (long)p->pid);
		return;
	}
	unsigned on[CONTROL_MAX_GPUS];
	if (gpus_of(s, p->pid, on, GS_ARRAY_LEN(on)) > 1) {
		control_reply_fail(r, "Client %ld has CUDA contexts on GPUs %u and %u: the checkpoint API moves a "
				      "process whole; migrate moves programs of one GPU",
				   (long)p->pid, on[0], on[1]);
		return;
	}
	struct control_mig m = { .step = MIG_CKPT, .conn = asker->conn };
	snprintf(m.from_slice, sizeof m.from_slice, "%s", p->slice);
	snprintf(m.from_gpu, sizeof m.from_gpu, "%s", p->gpu);
	snprintf(m.gpu, sizeof m.gpu, "%s", g->uuid);
	char why[512];
	if (slice_arg) {
		struct control_slice si;
		if (control_slice_find(s, slice_arg, &si, r))
			return;
		if (si.gpu != g) {
			control_reply_fail(r, "Slice %s is on GPU %d, not GPU %u", si.uuid, si.gpu ? (int)si.gpu->index : -1,
					   g->index);
			return;
		}
		snprintf(m.slice, sizeof m.slice, "%s", si.uuid);
	} else {
		f.slice = p->slice;
		control_each_client(count_in, &f);
		if (!strcmp(p->slice, "-") || f.others) {
			control_reply_fail(r, "Client %ld is not alone in a job slice (%s%s): name a slice of GPU %u with "
					      "-slice", (long)p->pid, strcmp(p->slice, "-") ? p->slice : "the GPU's remainder",
					   f.others ? " holds other programs" : "", g->index);
			return;
		}
		if (make_job(s, p, g, m.made_job, sizeof m.made_job, why, sizeof why)) {
			control_reply_fail(r, "Client %ld not migrated: %s", (long)p->pid, why);
			return;
		}
		m.move_job = true;
		snprintf(m.slice, sizeof m.slice, "%s", m.made_job);
	}
	/* the target: open to its user, no other user's, room for it now, and
	 * the SMs its green contexts keep */
	struct control_placement to, was = { .ledger_fd = -1 };
	int rc = control_place_slice(s, m.slice, p->uid, &to, why, sizeof why);
	uid_t holder = rc ? 0 : control_server_holder(s, m.slice, p->uid);
	uint64_t need = 0, used = 0;
	struct gs_ledger *l;
	if (!rc && control_peer_ledger(s, p, &l) == 0) {
		need = gs_ledger_pid_bytes(l, p->pid);
		gs_ledger_close(l);
	}
	if (!rc && gs_ledger_open_fd(to.ledger_fd, &l) == 0) {
		used = gs_ledger_live(l);
		gs_ledger_close(l);
	}
	if (!rc && strcmp(p->slice, "-"))
		control_place_slice(s, p->slice, p->uid, &was, NULL, 0);
	if (to.ledger_fd >= 0)
		close(to.ledger_fd);
	if (was.ledger_fd >= 0)
		close(was.ledger_fd);
	if (!rc && holder)
		rc = gs_fail(why, sizeof why, -EBUSY, "slice %s is in use by user %ld", m.slice, (long)holder);
	else if (!rc && need + used > to.memory)
		rc = gs_fail(why, sizeof why, -ENOMEM, "its %" PRIu64 " MiB do not fit in slice %s (%" PRIu64 " of its %" PRIu64
			     " MiB free)", need >> 20, m.slice, used < to.memory ? (to.memory - used) >> 20 : 0, to.memory >> 20);
	else if (!rc && (rc = control_peer_host_room(s, p->pid, need, why, sizeof why)))
		; /* a checkpoint goes through the host */
	else if (!rc && !p->masked && p->sms && was.sms && (was.sm_start != to.sm_start || was.sms != to.sms))
		rc = gs_fail(why, sizeof why, -EINVAL,
			     "its green contexts keep the SMs they were made on (%u from SM %u), and slice %s has %u from "
			     "SM %u: migrate it into a slice of the same SMs", was.sms, was.sm_start, m.slice, to.sms,
			     to.sm_start);
	if (rc) {
		if (m.made_job[0])
			remove_slice(s, m.made_job);
		control_reply_fail(r, "Client %ld not migrated: %s", (long)p->pid, why);
		return;
	}
	m.t0 = gs_now_ns();
	p->mig = m;
	p->susp_expect = need;
	p->susp_rss0 = control_rss_bytes(p->pid);
	p->susp = CONTROL_MIGRATING;
	p->susp_bytes = 0;
	control_suspend_hold(s, p, true); /* its own allocations wait from now */
	control_suspend_save(s);
	if ((rc = control_suspend_helper(s, p, true, NULL, NULL))) {
		const char *no = rc == -ESRCH ? "it is gone" : "its helper did not start";
		p->mig.conn = -1;
		not_moved(s, p, false, "%s", no);
		control_reply_fail(r, "Client %ld not migrated: %s", (long)p->pid, no);
		return;
	}
	control_suspend_save(s); /* with its helper, for a next daemon to wait for */
	control_log(s, "Migrating client %ld from GPU %u to GPU %u (slice %s -> %s)", (long)p->pid,
		    from ? from->index : 0, g->index, m.from_slice, m.slice);
	r->deferred = true; /* answered when it is done */
}
