/* suspend.c: suspend and resume programs, their GPU memory moved to the host
 * and back (`suspend <pid|slice>`, `resume <pid|slice>`), through the CUDA
 * driver's checkpoint API: a helper process of the daemon locks the
 * program's CUDA calls and checkpoints it (its device memory copied to host
 * and freed), and on resume restores and unlocks it. The driver refuses it
 * for clients of NVIDIA MPS (CUDA_ERROR_NOT_SUPPORTED: the refusal is said,
 * nothing changes); the simulated driver does it for every program.
 *
 * Only the very process that registered is acted on: its pid and start
 * time, checked before a helper starts and by the helper before each call
 * (a pid another process took since is nobody's to suspend). While it is
 * suspended what it held is out of its slice's ledger, for the slice's
 * other programs, and a hold on its slot makes its own allocations wait (a
 * thread that waited for memory would otherwise take it back). A resume
 * puts the bytes back first; when they do not fit it waits and tries again,
 * less and less often; any other refusal ends the resume, said once.
 *
 * The helper asks the driver where the program is first and goes on from
 * there, so a daemon killed while one ran leaves nothing half done for the
 * next: the state directory's `suspended` file, written before each helper
 * starts and after each step, names every program not running (pid, start
 * time, the bytes out of its ledger, its slice), and the next daemon
 * resumes them when they register again. Helpers run beside the daemon's
 * loop, which never waits for one.
 *
 * Where the driver refuses the checkpoint API (clients of NVIDIA MPS), the
 * program's interposer moves its memory itself (the interposer's swap.c):
 * told at registration to back its allocations so that it can ("swap 1"),
 * it is asked "S swap out" on its connection and answers "swapped out
 * <bytes> <regions>" once its calls wait at its gate and its memory is on
 * the host; those bytes (not its context's, nor what it could not move) are
 * taken out of the ledger. A resume puts them back first, as for a
 * checkpoint, then asks "S swap in"; memory the GPU has not the room for
 * ("swap_failed 2") is taken out again and tried later. The suspended file
 * says which way each program went, so a next daemon resumes it the same
 * way. */
#include "control.h"

#include "gs-cuda.h"
#include "ledger.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_KEPT 256
#define HELPER_MAX_NS (30ull * 60 * 1000000000) /* a checkpoint of a whole GPU's memory takes minutes */
#define RETRY_FIRST_NS 200000000ull
#define RETRY_MAX_NS 10000000000ull

/* programs not running that are not connected now: from the file a daemon
 * before this one wrote, and those whose connection closed while they live */
static struct kept {
	pid_t pid;
	uint64_t start, bytes;
	char slice[96];
	bool swap; /* suspended by its interposer's swap */
	char mig[256]; /* on its way to another GPU: migrate.c's record ("": none) */
	pid_t helper; /* the checkpoint helper at work on it when its daemon went, 0 none */
	uint64_t helper_start;
} kept[MAX_KEPT];
static size_t n_kept;

/* helpers whose program went: reaped at the ticks, never waited for */
static pid_t orphans[64];
static size_t n_orphans;

static const char *const state_names[] = { [CONTROL_RUNNING] = "running", [CONTROL_SUSPENDING] = "suspending",
					   [CONTROL_SUSPENDED] = "suspended", [CONTROL_RESUMING] = "resuming",
					   [CONTROL_MIGRATING] = "migrating" };

const char *control_suspend_state(const struct control_peer *p)
{
	return p->susp < GS_ARRAY_LEN(state_names) ? state_names[p->susp] : "?";
}

static bool same_process(const struct control_peer *p)
{
	return p->pid_start && gs_proc_start_time(p->pid) == p->pid_start;
}

static void kept_path(const struct control_state *s, char *out, size_t len)
{
	snprintf(out, len, "%s/suspended", s->state_dir);
}

static void save_one(void *ctx, struct control_peer *p)
{
	FILE *f = ctx;
	char mig[256];
	if (p->susp == CONTROL_MIGRATING) {
		/* where its memory is counted now, and where it goes */
		uint64_t bytes = control_migrate_record(p, mig, sizeof mig);
		fprintf(f, "%ld %" PRIu64 " %" PRIu64 " %s checkpoint%s\n", (long)p->pid, p->pid_start, bytes,
			p->mig.from_slice, mig);
	} else if (p->susp != CONTROL_RUNNING) {
		/* its helper too, which a next daemon waits for before it resumes */
		pid_t h = p->susp_child ? p->susp_child : p->susp_old;
		uint64_t hs = p->susp_child ? gs_proc_start_time(h) : p->susp_old_start;
		fprintf(f, "%ld %" PRIu64 " %" PRIu64 " %s %s", (long)p->pid, p->pid_start, p->susp_bytes, p->slice,
			p->susp_swap ? "swap" : "checkpoint");
		if (h && hs)
			fprintf(f, " helper %ld %" PRIu64, (long)h, hs);
		fputc('\n', f);
	}
}

bool control_helper_alive(pid_t pid, uint64_t start)
{
	/* an exited one no parent reaped yet is done: a zombie has no start time */
	return pid > 0 && start && gs_proc_start_time(pid) == start;
}

/* Written whole and synced, then renamed over: a reader never sees half. */
void control_suspend_save(struct control_state *s)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	kept_path(s, path, sizeof path);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	unlink(tmp);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		if (fd >= 0)
			close(fd);
		control_log(s, "cannot write %s: %s", tmp, strerror(errno));
		return;
	}
	control_each_client(save_one, f);
	for (size_t i = 0; i < n_kept; i++) {
		if (gs_proc_start_time(kept[i].pid) != kept[i].start)
			continue;
		if (kept[i].helper && !kept[i].mig[0])
			fprintf(f, "%ld %" PRIu64 " %" PRIu64 " %s %s helper %ld %" PRIu64 "\n", (long)kept[i].pid,
				kept[i].start, kept[i].bytes, kept[i].slice, kept[i].swap ? "swap" : "checkpoint",
				(long)kept[i].helper, kept[i].helper_start);
		else
			fprintf(f, "%ld %" PRIu64 " %" PRIu64 " %s %s%s\n", (long)kept[i].pid, kept[i].start, kept[i].bytes,
				kept[i].slice, kept[i].swap ? "swap" : "checkpoint", kept[i].mig);
	}
	if (fflush(f) || fsync(fileno(f)) || fclose(f) || rename(tmp, path))
		control_log(s, "cannot write %s: %s", path, strerror(errno));
}

void control_suspend_init(struct control_state *s)
{
	char path[PATH_MAX], *text = NULL;
	size_t len;
	kept_path(s, path, sizeof path);
	if (gs_file_read_owned(path, geteuid(), 160 * MAX_KEPT, &text, &len, NULL, 0))
		return; /* none, or not the daemon's own: nothing is taken from it */
	char *save_ptr = NULL;
	for (char *line = strtok_r(text, "\n", &save_ptr); line && n_kept < MAX_KEPT; line = strtok_r(NULL, "\n", &save_ptr)) {
		long pid;
		struct kept k;
		char how[16] = "checkpoint"; /* a file of before the swap: no fifth field */
		int end = 0;
		if (sscanf(line, "%ld %" SCNu64 " %" SCNu64 " %95s %15s%n", &pid, &k.start, &k.bytes, k.slice, how, &end) >= 4 &&
		    pid > 0 && gs_proc_start_time((pid_t)pid) == k.start) {
			k.pid = (pid_t)pid;
			k.swap = strcmp(how, "swap") == 0;
			/* " migrate ...": migrate.c's, on its way to another GPU */
			snprintf(k.mig, sizeof k.mig, "%s", end && !strncmp(line + end, " migrate ", 9) ? line + end : "");
			/* " helper <pid> <start>": a checkpoint helper was at work on it */
			long h = 0;
			k.helper = 0;
			k.helper_start = 0;
			if (end && sscanf(line + end, " helper %ld %" SCNu64, &h, &k.helper_start) == 2 && h > 0)
				k.helper = (pid_t)h;
			kept[n_kept++] = k;
		}
	}
	free(text);
	if (n_kept)
		control_log(s, "%zu suspended program(s) from before: they are resumed when they register again", n_kept);
}

/* ---- the helper: the driver's checkpoint calls on one program ---- */

typedef CUresult (*ckpt_fn)(int, void *);

/* In the forked helper: from where the driver has the program, to
 * CHECKPOINTED (suspend) or RUNNING (resume); 0 or the first failure's
 * CUresult. Each call first checks the pid is still that process. */
static int helper(pid_t target, uint64_t start, bool suspend, const char *from_gpu, const char *to_gpu)
{
	/* restored onto another GPU: the pair, as the driver takes it */
	CUcheckpointGpuPair pair;
	CUcheckpointRestoreArgs restore_args = { .gpuPairs = &pair, .gpuPairsCount = 1 };
	if (from_gpu && (strncasecmp(from_gpu, "GPU-", 4) || strncasecmp(to_gpu, "GPU-", 4) ||
			 gs_uuid_parse(from_gpu + 4, (struct gs_uuid *)pair.oldUuid.bytes) ||
			 gs_uuid_parse(to_gpu + 4, (struct gs_uuid *)pair.newUuid.bytes)))
		return CUDA_ERROR_INVALID_VALUE;
	char lib[PATH_MAX];
	control_libcuda(lib, sizeof lib);
	unsetenv("LD_PRELOAD");
	void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	CUresult (*init)(unsigned) = h ? (CUresult(*)(unsigned))dlsym(h, "cuInit") : NULL;
	CUresult (*get)(int, CUprocessState *) =
		h ? (CUresult(*)(int, CUprocessState *))dlsym(h, "cuCheckpointProcessGetState") : NULL;
	ckpt_fn lock = h ? (ckpt_fn)dlsym(h, "cuCheckpointProcessLock") : NULL,
		ckpt = h ? (ckpt_fn)dlsym(h, "cuCheckpointProcessCheckpoint") : NULL,
		restore = h ? (ckpt_fn)dlsym(h, "cuCheckpointProcessRestore") : NULL,
		unlock = h ? (ckpt_fn)dlsym(h, "cuCheckpointProcessUnlock") : NULL;
	if (!init || init(0))
		return CUDA_ERROR_NOT_INITIALIZED;
	if (!get || !lock || !ckpt || !restore || !unlock)
		return CUDA_ERROR_NOT_SUPPORTED; /* a driver before the checkpoint API */
	CUcheckpointLockArgs lock_args = { .timeoutMs = 10000 }; /* a call that never returns holds no helper */
	for (int step = 0; step < 4; step++) {
		CUprocessState st;
		if (gs_proc_start_time(target) != start)
			return CUDA_ERROR_INVALID_VALUE; /* gone, or its pid another's */
		CUresult rc = get((int)target, &st);
		if (rc)
			return (int)rc;
		if (suspend ? st == CU_PROCESS_STATE_CHECKPOINTED : st == CU_PROCESS_STATE_RUNNING)
			return 0;
		switch (st) {
		case CU_PROCESS_STATE_RUNNING:
			rc = lock((int)target, &lock_args);
			break;
		case CU_PROCESS_STATE_LOCKED:
			rc = suspend ? ckpt((int)target, NULL) : unlock((int)target, NULL);
			if (rc && suspend)
				unlock((int)target, NULL); /* not checkpointed: let it go on */
			break;
		case CU_PROCESS_STATE_CHECKPOINTED:
			rc = restore((int)target, from_gpu ? &restore_args : NULL);
			break;
		default:
			return CUDA_ERROR_ILLEGAL_STATE;
		}
		if (rc)
			return (int)rc;
	}
	return CUDA_ERROR_ILLEGAL_STATE;
}

int control_suspend_helper(struct control_state *s, struct control_peer *p, bool suspend, const char *from_gpu,
			   const char *to_gpu)
{
	int fds[2];
	if (!same_process(p))
		return -ESRCH;
	if (pipe2(fds, O_CLOEXEC))
		return -errno;
	fflush(NULL);
	pid_t child = fork();
	if (child < 0) {
		int rc = -errno;
		close(fds[0]), close(fds[1]);
		return rc;
	}
	if (child == 0) {
		/* nothing of the daemon's: its lock, sockets and clients stay its */
		if (dup2(fds[1], 3) < 0)
			_exit(1);
		for (int fd = 4; fd < 65536; fd++)
			close(fd);
		close(fds[0]);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		for (int sig = 1; sig < NSIG; sig++)
			signal(sig, SIG_DFL);
		char out[16];
		int n = snprintf(out, sizeof out, "%d\n", helper(p->pid, p->pid_start, suspend, from_gpu, to_gpu));
		if (write(3, out, (size_t)n) != n) {
			/* the daemon went: nobody to tell */
		}
		_exit(0);
	}
	close(fds[1]);
	p->susp_child = child;
	p->susp_pipe = fds[0];
	p->susp_child_ns = gs_now_ns();
	if (!from_gpu)
		control_log(s, "%s client %ld", suspend ? "Suspending" : "Resuming", (long)p->pid);
	return 0;
}

static int start_helper(struct control_state *s, struct control_peer *p, bool suspend)
{
	return control_suspend_helper(s, p, suspend, NULL, NULL);
}

/* The helper's CUresult once it exited: 0, or -1 while it runs. One past
 * its time is killed (CUDA_ERROR_TIMEOUT). */
int control_suspend_helper_done(struct control_peer *p, int *result)
{
	int st;
	pid_t w = waitpid(p->susp_child, &st, WNOHANG);
	if (w == 0 && gs_now_ns() - p->susp_child_ns < HELPER_MAX_NS)
		return -1;
	if (w == 0) {
		kill(p->susp_child, SIGKILL);
		waitpid(p->susp_child, &st, 0); /* dead at once: SIGKILL */
	}
	char buf[16] = "";
	ssize_t n = w == 0 ? 0 : read(p->susp_pipe, buf, sizeof buf - 1);
	close(p->susp_pipe);
	p->susp_pipe = -1;
	p->susp_child = 0;
	*result = w == 0 ? 909 /* CUDA_ERROR_TIMEOUT */ : n > 0 ? atoi(buf) : CUDA_ERROR_UNKNOWN;
	return 0;
}

static void orphan(pid_t child, int pipe_fd)
{
	close(pipe_fd);
	if (n_orphans < GS_ARRAY_LEN(orphans)) {
		orphans[n_orphans++] = child;
	} else { /* never more than a few: the oldest is waited for */
		kill(orphans[0], SIGKILL);
		waitpid(orphans[0], NULL, 0);
		orphans[0] = child;
	}
}

/* ---- the interposer's swap ---- */

static enum { SWAP_TURNS, SWAP_MPS, SWAP_ALL, SWAP_OFF } swap_mode = -1;

bool control_suspend_swap_offer(const struct control_state *s, const char *gpu, const char *slice)
{
	if ((int)swap_mode < 0) {
		static const char *const names[] = { "turns", "mps", "all", "off" };
		const char *v = getenv("GPUSHARE_CONTROL_SWAP");
		swap_mode = SWAP_TURNS;
		for (unsigned i = 0; v && *v && i < GS_ARRAY_LEN(names); i++)
			if (!strcmp(v, names[i]))
				swap_mode = i;
		if (v && *v && strcmp(v, names[swap_mode]))
			control_log((struct control_state *)s,
				    "GPUSHARE_CONTROL_SWAP=\"%.32s\" is none of turns, mps, all, off: turns", v);
	}
	switch (swap_mode) {
	case SWAP_ALL:
		return true;
	case SWAP_MPS:
		return s->mps.on;
	case SWAP_TURNS:
		/* VMM memory cannot be shared by cudaIpc*: only where a turn or a
		 * reclaim needs it, with NVIDIA MPS or without (the checkpoint API
		 * refuses programs held by TPC masks too: the swap is their way) */
		return strcmp(slice, "-") &&
		       (control_slice_mem_turn((struct control_state *)s, gpu, slice) > 0 ||
			control_slice_borrows_memory((struct control_state *)s, gpu, slice));
	default:
		return false;
	}
}

/* Whether its suspend goes through its interposer: a program told to back
 * its memory, of NVIDIA's MPS or held by TPC masks (which the checkpoint API
 * refuses), or of a daemon that swaps every program. */
static bool use_swap(const struct control_state *s, const struct control_peer *p)
{
	return p->swap && (swap_mode == SWAP_ALL || s->mps.on || p->masked);
}

static void ask_swap(struct control_state *s, struct control_peer *p, bool out)
{
	p->susp_asked = true;
	p->susp_child_ns = gs_now_ns();
	control_send(p->conn, out ? "S swap out\n" : "S swap in\n");
	control_log(s, "%s client %ld (its interposer moves its memory)", out ? "Suspending" : "Resuming", (long)p->pid);
}

/* ---- steps ---- */

const char *control_suspend_why(int rc)
{
	switch (rc) {
	case CUDA_ERROR_NOT_SUPPORTED:
		return "not supported by the driver (a client of NVIDIA MPS, or a driver without the checkpoint API)";
	case CUDA_ERROR_OUT_OF_MEMORY:
		return "its memory does not fit on the GPU now";
	case CUDA_ERROR_ILLEGAL_STATE:
		return "the driver holds it in another state";
	case CUDA_ERROR_NOT_PERMITTED:
		return "not permitted";
	case CUDA_ERROR_INVALID_VALUE:
		return "it is gone, or no CUDA program";
	case 909:
		return "the driver took too long";
	default:
		return "the driver refused it";
	}
}

/* The next try of a resume whose memory does not fit, less and less often. */
static void retry_later(struct control_peer *p)
{
	p->susp_waiting = true;
	p->susp_retry = p->susp_retry ? p->susp_retry * 2 : RETRY_FIRST_NS;
	if (p->susp_retry > RETRY_MAX_NS)
		p->susp_retry = RETRY_MAX_NS;
	p->susp_next_ns = gs_now_ns() + p->susp_retry;
}

void control_suspend_hold(struct control_state *s, struct control_peer *p, bool on)
{
	struct gs_ledger *l;
	if (control_peer_ledger(s, p, &l) == 0) {
		gs_ledger_set_hold(l, p->pid, p->pid_start, on);
		gs_ledger_close(l);
	}
}

static void stop_resuming(struct control_state *s, struct control_peer *p, const char *why)
{
	control_log(s, "Client %ld not resumed: %s; it stays suspended (resume tries again)", (long)p->pid, why);
	p->susp = CONTROL_SUSPENDED;
	p->susp_waiting = false;
	control_suspend_save(s);
}

bool control_suspend_unwait(struct control_state *s, struct control_peer *p)
{
	if (p->susp != CONTROL_RESUMING || !p->susp_waiting || p->susp_child || p->susp_asked)
		return false;
	p->susp = CONTROL_SUSPENDED; /* nothing of it was put back yet */
	p->susp_waiting = false;
	p->susp_retry = 0;
	control_suspend_save(s);
	return true;
}

/* Resume: its bytes back in the slice's ledger, then the helper; memory
 * that does not fit is waited for, tried again less and less often. */
static void try_resume(struct control_state *s, struct control_peer *p)
{
	if (!same_process(p)) {
		stop_resuming(s, p, "it is gone");
		return;
	}
	if (p->susp_old && control_helper_alive(p->susp_old, p->susp_old_start)) {
		/* two helpers at once would each move it: the driver's state once
		 * the old one is done is where the resume goes on from */
		if (!p->susp_waiting)
			control_log(s, "Client %ld waits to resume: the helper %ld of a daemon before this one still works on "
				       "it", (long)p->pid, (long)p->susp_old);
		p->susp_waiting = true;
		p->susp_next_ns = gs_now_ns() + 100000000ull;
		return;
	}
	p->susp_old = 0;
	struct gs_ledger *l = NULL;
	int rc = p->susp_bytes ? control_peer_ledger(s, p, &l) : 0;
	if (!rc && l)
		rc = gs_ledger_put_back(l, p->pid, p->pid_start, p->susp_bytes);
	if (l)
		gs_ledger_close(l);
	if (rc == -ENOMEM) {
		if (!p->susp_waiting)
			control_log(s, "Client %ld waits to resume: its %" PRIu64 " MiB do not fit in slice %s now",
				    (long)p->pid, p->susp_bytes >> 20, p->slice);
		retry_later(p);
		return;
	}
	if (rc) {
		stop_resuming(s, p, strerror(-rc));
		return;
	}
	p->susp_waiting = false;
	p->susp_retry = 0;
	p->susp_put = p->susp_bytes;
	p->susp_bytes = 0; /* in the ledger again */
	control_suspend_save(s);
	if (p->susp_swap) {
		ask_swap(s, p, false);
		return;
	}
	if (start_helper(s, p, false))
		stop_resuming(s, p, "its helper did not start");
	else
		control_suspend_save(s); /* with its helper, which a next daemon waits for */
}

/* Begins a suspend; false where it cannot, saying why into why (len
 * bytes, may be 0). */
static bool suspend_one(struct control_state *s, struct control_peer *p, char *why, size_t len)
{
	struct gs_ledger *l;
	uint64_t bytes = 0;
	if (control_peer_ledger(s, p, &l) == 0) {
		bytes = gs_ledger_pid_bytes(l, p->pid);
		gs_ledger_close(l);
	}
	char own[256];
	if (!len)
		why = own, len = sizeof own;
	if (control_peer_host_room(s, p->pid, bytes, why, len)) {
		if (!p->host_refused)
			control_log(s, "Client %ld not suspended: %s", (long)p->pid, why);
		p->host_refused = true;
		return false;
	}
	if (p->host_refused)
		control_log(s, "Client %ld: the host has room for its memory now", (long)p->pid);
	p->host_refused = false;
	p->susp_expect = bytes;
	p->susp_rss0 = control_rss_bytes(p->pid);
	p->susp = CONTROL_SUSPENDING;
	p->susp_bytes = 0;
	p->susp_swap = use_swap(s, p);
	control_suspend_hold(s, p, true); /* its own allocations wait from now */
	control_suspend_save(s);
	if (p->susp_swap) {
		ask_swap(s, p, true);
		return true;
	}
	if (start_helper(s, p, true) == 0) {
		control_suspend_save(s); /* with its helper, which a next daemon waits for */
		return true;
	}
	control_suspend_hold(s, p, false);
	p->susp = CONTROL_RUNNING;
	control_suspend_save(s);
	snprintf(why, len, "its helper did not start");
	control_log(s, "cannot start the helper that suspends client %ld", (long)p->pid);
	return false;
}

bool control_suspend_peer(struct control_state *s, struct control_peer *p, bool resume)
{
	if (!p->client || p->pending || !same_process(p) || p->susp != (resume ? CONTROL_SUSPENDED : CONTROL_RUNNING))
		return false;
	if (!resume)
		return suspend_one(s, p, NULL, 0);
	p->susp = CONTROL_RESUMING;
	try_resume(s, p);
	return true;
}

void control_suspend_hold_new(struct control_state *s, struct control_peer *p)
{
	struct gs_ledger *l;
	if (!same_process(p) || control_peer_ledger(s, p, &l))
		return;
	/* a slot of its own, empty, held: its first allocation (its context's)
	 * waits for its turn */
	if (gs_ledger_put_back(l, p->pid, p->pid_start, 0) == 0 && gs_ledger_set_hold(l, p->pid, p->pid_start, true) == 0) {
		p->susp = CONTROL_SUSPENDED;
		p->susp_bytes = 0;
		p->susp_swap = use_swap(s, p); /* its resume a swap in with nothing out: its gate stays open */
		control_suspend_save(s);
	}
	gs_ledger_close(l);
}

struct targets {
	struct control_state *s;
	const char *slice; /* a slice's UUID, or NULL: pid */
	pid_t pid;
	bool suspend;
	unsigned n, skipped, refused;
	char why[256];     /* the first refusal's */
};

static void act_on(void *ctx, struct control_peer *p)
{
	struct targets *t = ctx;
	if (!p->client || p->pending || (t->slice ? strcasecmp(p->slice, t->slice) != 0 : p->pid != t->pid))
		return;
	if (!same_process(p) || (t->suspend ? p->susp != CONTROL_RUNNING : p->susp != CONTROL_SUSPENDED)) {
		t->skipped++;
		return;
	}
	if (t->suspend) {
		char why[256];
		if (suspend_one(t->s, p, why, sizeof why)) {
			t->n++;
			p->susp_turn = p->susp_lend = false; /* the command's, not a memory turn's or a reclaim's */
		} else if (!t->refused++) {
			snprintf(t->why, sizeof t->why, "client %ld: %s", (long)p->pid, why);
		}
	} else {
		t->n++;
		p->susp_turn = p->susp_lend = false;
		p->susp = CONTROL_RESUMING;
		try_resume(t->s, p);
	}
}

/* suspend <pid|slice>, resume <pid|slice>: at once; list_clients shows how
 * it goes. */
void control_suspend_command(struct control_state *s, bool suspend, const char *what, struct control_reply *r)
{
	struct targets t = { .s = s, .suspend = suspend };
	struct control_slice si;
	unsigned long long pid;
	struct control_reply quiet = { .pass_fd = -1 };
	if (gs_parse_uint(what, INT32_MAX, &pid) == 0 && pid > 0)
		t.pid = (pid_t)pid;
	else if (control_slice_find(s, what, &si, &quiet) == 0)
		t.slice = si.uuid;
	free(quiet.buf);
	if (!t.pid && !t.slice) {
		control_reply_fail(r, "%s %.64s: neither a client's PID nor a slice", suspend ? "suspend" : "resume", what);
		return;
	}
	control_each_client(act_on, &t);
	if (!t.n && !t.skipped && !t.refused) {
		control_reply_fail(r, "%s %.64s: no such client", suspend ? "suspend" : "resume", what);
		return;
	}
	if (!t.n && t.refused) {
		control_reply_fail(r, "suspend %.64s: not suspended: %s", what, t.why);
		return;
	}
	if (t.refused)
		control_reply_line(r, "Suspending %u client(s)%s, %u not: %s", t.n, t.skipped ? ", others not running" : "",
				   t.refused, t.why);
	else
		control_reply_line(r, "%s %u client(s)%s", suspend ? "Suspending" : "Resuming", t.n,
				   t.skipped ? suspend ? ", others not running" : ", others not suspended" : "");
}

/* ---- every tick ---- */

static void tick_one(void *ctx, struct control_peer *p)
{
	struct control_state *s = ctx;
	int rc;
	if (p->susp == CONTROL_MIGRATING) {
		control_migrate_tick_one(s, p);
		return;
	}
	if (p->susp_asked) {
		/* its interposer moves the memory: a copy of a whole GPU takes
		 * minutes; one that never answers is given up on (an answer
		 * after that is taken back) */
		if (gs_now_ns() - p->susp_child_ns > HELPER_MAX_NS) {
			p->susp_asked = false;
			if (p->susp == CONTROL_SUSPENDING) {
				control_log(s, "Client %ld not suspended: its interposer did not answer", (long)p->pid);
				control_suspend_hold(s, p, false);
				p->susp = CONTROL_RUNNING;
				control_suspend_save(s);
			} else {
				struct gs_ledger *l;
				if (control_peer_ledger(s, p, &l) == 0) {
					gs_ledger_take_part(l, p->pid, p->pid_start, p->susp_put, &p->susp_bytes);
					gs_ledger_close(l);
				}
				stop_resuming(s, p, "its interposer did not answer");
			}
		}
		return;
	}
	if (p->susp == CONTROL_RESUMING && !p->susp_child) {
		if (gs_now_ns() >= p->susp_next_ns)
			try_resume(s, p); /* waiting for its memory */
		return;
	}
	if (!p->susp_child || control_suspend_helper_done(p, &rc))
		return;
	if (p->susp == CONTROL_SUSPENDING) {
		struct gs_ledger *l;
		if (rc == CUDA_ERROR_NOT_SUPPORTED && p->swap) {
			/* an MPS client the daemon did not know as one: its interposer moves its memory */
			control_log(s, "Client %ld: the driver refuses to checkpoint it; its interposer moves its memory",
				    (long)p->pid);
			p->susp_swap = true;
			control_suspend_save(s);
			ask_swap(s, p, true);
			return;
		}
		if (rc) {
			if (rc == CUDA_ERROR_NOT_SUPPORTED && p->masked)
				control_log(s, "Client %ld not suspended: the driver refuses to checkpoint a program held by "
					       "TPC masks (801); back its memory for the swap (GPUSHARE_CONTROL_SWAP=all) or "
					       "confine by green contexts (GPUSHARE_CONTROL_SM_MASKS=off)", (long)p->pid);
			else
				control_log(s, "Client %ld not suspended: %s (%d)", (long)p->pid, control_suspend_why(rc), rc);
			p->susp_refused = true; /* memory turns do not ask again */
			control_suspend_hold(s, p, false);
			p->susp = CONTROL_RUNNING;
			control_suspend_save(s);
			return;
		}
		p->susp_bytes = 0;
		if (control_peer_ledger(s, p, &l) == 0) {
			gs_ledger_take_out(l, p->pid, p->pid_start, &p->susp_bytes);
			gs_ledger_close(l);
		}
		p->susp = CONTROL_SUSPENDED;
		control_log(s, "Client %ld suspended: %" PRIu64 " MiB on the host", (long)p->pid, p->susp_bytes >> 20);
		control_suspend_save(s);
	} else if (p->susp == CONTROL_RESUMING) {
		if (rc == CUDA_ERROR_OUT_OF_MEMORY) { /* the GPU has not the room yet: its bytes out again, later */
			struct gs_ledger *l;
			if (control_peer_ledger(s, p, &l) == 0) {
				gs_ledger_take_out(l, p->pid, p->pid_start, &p->susp_bytes);
				gs_ledger_close(l);
			}
			retry_later(p);
			control_suspend_save(s);
			return;
		}
		if (rc) {
			/* what the driver says it holds is on the GPU or not: the
			 * ledger keeps what was put back (the driver's figure) */
			stop_resuming(s, p, control_suspend_why(rc));
			return;
		}
		control_suspend_hold(s, p, false);
		p->susp = CONTROL_RUNNING;
		control_log(s, "Client %ld resumed", (long)p->pid);
		control_suspend_save(s);
	}
}

void control_suspend_tick(struct control_state *s)
{
	/* kept programs that have gone since (one whose connection closed as it
	 * exited looked alive then): dropped, and the file with them */
	bool dropped = false;
	for (size_t i = 0; i < n_kept;)
		if (gs_proc_start_time(kept[i].pid) != kept[i].start) {
			kept[i] = kept[--n_kept];
			dropped = true;
		} else {
			i++;
		}
	if (dropped)
		control_suspend_save(s);
	for (size_t i = 0; i < n_orphans;)
		if (waitpid(orphans[i], NULL, WNOHANG) != 0)
			orphans[i] = orphans[--n_orphans];
		else
			i++;
	control_each_client(tick_one, s);
}

/* A program registering: one that was suspended before (a daemon before
 * this one, or its own connection that closed) is resumed now; its helper
 * goes on from where the driver has it. */
void control_suspend_admit(struct control_state *s, struct control_peer *p)
{
	p->susp_pipe = -1;
	for (size_t i = 0; i < n_kept; i++)
		if (kept[i].pid == p->pid && kept[i].start == p->pid_start) {
			struct kept k = kept[i];
			kept[i] = kept[--n_kept];
			if (k.mig[0] && control_migrate_recover(s, p, k.slice, k.bytes, k.mig))
				return; /* on its way to another GPU: migrate.c goes on */
			if (strcmp(k.slice, p->slice)) {
				control_log(s, "Client %ld was suspended in slice %s and registers in %s: its %" PRIu64
					       " MiB are not put back there", (long)p->pid, k.slice, p->slice, k.bytes >> 20);
				k.bytes = 0;
			}
			p->susp = CONTROL_RESUMING;
			p->susp_bytes = k.bytes;
			p->susp_swap = k.swap;
			p->swap |= k.swap; /* its memory was backed for the swap from its start */
			p->susp_old = k.helper;
			p->susp_old_start = k.helper_start;
			control_log(s, "Client %ld was suspended before: resuming it", (long)p->pid);
			try_resume(s, p);
			return;
		}
}

void control_suspend_gone(struct control_state *s, struct control_peer *p)
{
	pid_t helper = p->susp_child ? p->susp_child : p->susp_old;
	uint64_t helper_start = p->susp_child ? gs_proc_start_time(helper) : p->susp_old_start;
	if (p->susp_child) {
		orphan(p->susp_child, p->susp_pipe);
		p->susp_child = 0;
		p->susp_pipe = -1;
	}
	if (p->susp == CONTROL_RUNNING)
		return;
	if (p->susp == CONTROL_MIGRATING) {
		char mig[256];
		uint64_t bytes = control_migrate_record(p, mig, sizeof mig);
		control_migrate_gone(s, p);
		if (same_process(p) && n_kept < MAX_KEPT) { /* its connection closed while it lives */
			kept[n_kept++] = (struct kept){ p->pid, p->pid_start, bytes, "", false, "", 0, 0 };
			snprintf(kept[n_kept - 1].slice, sizeof kept[0].slice, "%s", p->mig.from_slice);
			snprintf(kept[n_kept - 1].mig, sizeof kept[0].mig, "%s", mig);
		}
		p->susp = CONTROL_RUNNING;
		control_suspend_save(s);
		return;
	}
	/* its connection closed while it lives: kept, resumed when it registers again */
	if (same_process(p) && n_kept < MAX_KEPT) {
		/* resuming by the swap: what was put back is charged still, and
		 * the next daemon's resume puts back only the rest */
		kept[n_kept++] = (struct kept){ p->pid, p->pid_start, p->susp_bytes, "", p->susp_swap, "", helper,
						helper_start };
		snprintf(kept[n_kept - 1].slice, sizeof kept[0].slice, "%s", p->slice);
	}
	p->susp = CONTROL_RUNNING; /* gone: the driver (or its interposer) frees its host copy with it */
	p->susp_swap = p->susp_asked = false;
	control_suspend_save(s);
}

/* ---- the interposer's answers ---- */

void control_suspend_swap_answer(struct control_state *s, struct control_peer *p, int argc, char **argv)
{
	if (!p->client || !p->swap)
		return; /* nobody asked it */
	bool asked = p->susp_asked && p->susp_swap;
	struct gs_ledger *l = NULL;
	if (strcmp(argv[0], "swapped") == 0 && argc >= 2 && strcmp(argv[1], "out") == 0) {
		unsigned long long bytes = 0, regions = 0;
		if (argc >= 3)
			gs_parse_uint(argv[2], UINT64_MAX, &bytes);
		if (argc >= 4)
			gs_parse_uint(argv[3], UINT32_MAX, &regions);
		if (!asked || p->susp != CONTROL_SUSPENDING) {
			if (p->susp == CONTROL_RUNNING) {
				/* out while this daemon takes it as running (an answer
				 * given up on): back in */
				control_log(s, "Client %ld swapped out unasked: asking it back in", (long)p->pid);
				control_send(p->conn, "S swap in\n");
			}
			return;
		}
		p->susp_asked = false;
		p->susp_bytes = 0;
		uint64_t stays = 0;
		if (control_peer_ledger(s, p, &l) == 0) {
			gs_ledger_take_part(l, p->pid, p->pid_start, bytes, &p->susp_bytes);
			stays = gs_ledger_pid_bytes(l, p->pid);
			gs_ledger_close(l);
		}
		p->susp = CONTROL_SUSPENDED;
		control_log(s, "Client %ld suspended: %" PRIu64 " MiB on the host (%llu allocations moved by its interposer), "
			       "%" PRIu64 " MiB stay on the GPU (its context and what cannot be moved)", (long)p->pid,
			    p->susp_bytes >> 20, regions, stays >> 20);
		control_suspend_save(s);
	} else if (strcmp(argv[0], "swapped") == 0 && argc == 2 && strcmp(argv[1], "in") == 0) {
		if (!asked || p->susp != CONTROL_RESUMING)
			return;
		p->susp_asked = false;
		p->susp_swap = false;
		p->susp_put = 0;
		control_suspend_hold(s, p, false);
		p->susp = CONTROL_RUNNING;
		control_log(s, "Client %ld resumed", (long)p->pid);
		control_suspend_save(s);
	} else if (strcmp(argv[0], "swap_failed") == 0) {
		if (!asked)
			return;
		char why[160] = "";
		for (int i = 2; i < argc; i++)
			snprintf(why + strlen(why), sizeof why - strlen(why), "%s%s", i > 2 ? " " : "", argv[i]);
		int rc = atoi(argv[1]);
		p->susp_asked = false;
		if (p->susp == CONTROL_SUSPENDING) {
			control_log(s, "Client %ld not suspended: its interposer could not move its memory: %s (%d)",
				    (long)p->pid, why, rc);
			p->susp_refused = true; /* memory turns do not ask again */
			p->susp_swap = false;
			control_suspend_hold(s, p, false);
			p->susp = CONTROL_RUNNING;
			control_suspend_save(s);
			return;
		}
		if (p->susp != CONTROL_RESUMING)
			return;
		/* still on the host: what was put back goes out again */
		if (control_peer_ledger(s, p, &l) == 0) {
			gs_ledger_take_part(l, p->pid, p->pid_start, p->susp_put, &p->susp_bytes);
			gs_ledger_close(l);
		}
		p->susp_put = 0;
		if (rc == CUDA_ERROR_OUT_OF_MEMORY) {
			if (!p->susp_waiting)
				control_log(s, "Client %ld waits to resume: its %" PRIu64 " MiB do not fit on the GPU now",
					    (long)p->pid, p->susp_bytes >> 20);
			retry_later(p);
			control_suspend_save(s);
			return;
		}
		stop_resuming(s, p, why[0] ? why : "its interposer could not move its memory back");
	}
}
