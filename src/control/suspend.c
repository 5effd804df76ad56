/* suspend.c: suspend and resume programs, their GPU memory moved to the host
 * and back (`suspend <pid|slice>`, `resume <pid|slice>`), through the CUDA
 * driver's checkpoint API: a helper process of the daemon locks the
 * program's CUDA calls and checkpoints it (its device memory copied to host
 * and freed), and on resume restores and unlocks it. The driver refuses it
 * for clients of NVIDIA MPS (CUDA_ERROR_NOT_SUPPORTED: the refusal is said,
 * nothing changes); the simulated driver does it for every program.
 *
 * While suspended, what the program held is out of its slice's ledger: the
 * slice's other programs may use it. A resume puts it back first and, when
 * it does not fit beside what they hold now, waits for it (list_clients
 * says so) and tries again every tick. Helpers run one per program at a
 * time, beside the daemon's loop, which never waits for one; a program that
 * exits meanwhile is simply forgotten (the driver frees its host copy).
 *
 * The suspended programs are kept in the state directory's `suspended` file
 * (pid, start time, bytes), so that a daemon started after a kill -9 knows
 * them when they register again, and resumes them. */
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

/* what the file holds: programs suspended, as the daemon last wrote it */
static struct kept {
	pid_t pid;
	uint64_t start, bytes;
} kept[MAX_KEPT];
static size_t n_kept;

static const char *const state_names[] = { [CONTROL_RUNNING] = "running", [CONTROL_SUSPENDING] = "suspending",
					   [CONTROL_SUSPENDED] = "suspended", [CONTROL_RESUMING] = "resuming" };

const char *control_suspend_state(const struct control_peer *p)
{
	return p->susp < GS_ARRAY_LEN(state_names) ? state_names[p->susp] : "?";
}

static void kept_path(const struct control_state *s, char *out, size_t len)
{
	snprintf(out, len, "%s/suspended", s->state_dir);
}

struct save_ctx {
	FILE *f;
};

static void save_one(void *ctx, struct control_peer *p)
{
	struct save_ctx *c = ctx;
	if (p->susp == CONTROL_SUSPENDED || p->susp == CONTROL_RESUMING)
		fprintf(c->f, "%ld %" PRIu64 " %" PRIu64 "\n", (long)p->pid, p->pid_start, p->susp_bytes);
}

/* Written whole, then renamed over: a reader never sees half of it. */
static void save(struct control_state *s)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8];
	kept_path(s, path, sizeof path);
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		if (fd >= 0)
			close(fd);
		control_log(s, "cannot write %s: %s", tmp, strerror(errno));
		return;
	}
	struct save_ctx c = { f };
	control_each_client(save_one, &c);
	if (fclose(f) || rename(tmp, path))
		control_log(s, "cannot write %s: %s", path, strerror(errno));
}

void control_suspend_init(struct control_state *s)
{
	char path[PATH_MAX], *text = NULL;
	size_t len;
	kept_path(s, path, sizeof path);
	if (gs_file_read_owned(path, geteuid(), 64 * MAX_KEPT, &text, &len, NULL, 0))
		return; /* none, or not the daemon's own: nothing is taken from it */
	char *save_ptr = NULL;
	for (char *line = strtok_r(text, "\n", &save_ptr); line && n_kept < MAX_KEPT; line = strtok_r(NULL, "\n", &save_ptr)) {
		long pid;
		uint64_t start, bytes;
		if (sscanf(line, "%ld %" SCNu64 " %" SCNu64, &pid, &start, &bytes) == 3 && pid > 0 &&
		    gs_proc_start_time((pid_t)pid) == start)
			kept[n_kept++] = (struct kept){ (pid_t)pid, start, bytes };
	}
	free(text);
	if (n_kept)
		control_log(s, "%zu suspended program(s) from before: they are resumed when they register again", n_kept);
}

/* ---- the helper: the driver's checkpoint calls on one program ---- */

typedef CUresult (*ckpt_fn)(int, void *);

/* In the forked helper: the calls, in order; the first failure's CUresult. */
static int helper(pid_t target, bool suspend)
{
	char lib[PATH_MAX];
	control_libcuda(lib, sizeof lib);
	unsetenv("LD_PRELOAD");
	void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	CUresult (*init)(unsigned) = h ? (CUresult(*)(unsigned))dlsym(h, "cuInit") : NULL;
	static const char *const down[] = { "cuCheckpointProcessLock", "cuCheckpointProcessCheckpoint" },
				 *const up[] = { "cuCheckpointProcessRestore", "cuCheckpointProcessUnlock" };
	if (!init || init(0))
		return CUDA_ERROR_NOT_INITIALIZED;
	for (int i = 0; i < 2; i++) {
		ckpt_fn f = (ckpt_fn)dlsym(h, suspend ? down[i] : up[i]);
		if (!f)
			return CUDA_ERROR_NOT_SUPPORTED; /* a driver before the checkpoint API */
		CUresult rc = f((int)target, NULL);
		if (rc) {
			if (suspend && i == 1) { /* locked, not checkpointed: let it go on */
				ckpt_fn unlock = (ckpt_fn)dlsym(h, "cuCheckpointProcessUnlock");
				if (unlock)
					unlock((int)target, NULL);
			}
			return (int)rc;
		}
	}
	return 0;
}

static int start_helper(struct control_state *s, struct control_peer *p, bool suspend)
{
	int fds[2];
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
		close(fds[0]);
		signal(SIGPIPE, SIG_IGN);
		char out[16];
		int n = snprintf(out, sizeof out, "%d\n", helper(p->pid, suspend));
		if (write(fds[1], out, (size_t)n) != n) {
			/* the daemon went: nobody to tell */
		}
		_exit(0);
	}
	close(fds[1]);
	p->susp_child = child;
	p->susp_pipe = fds[0];
	control_log(s, "%s client %ld", suspend ? "Suspending" : "Resuming", (long)p->pid);
	return 0;
}

/* The helper's CUresult once it exited: 0, or -1 while it runs. */
static int helper_done(struct control_peer *p, int *result)
{
	int st;
	pid_t w = waitpid(p->susp_child, &st, WNOHANG);
	if (w == 0)
		return -1;
	char buf[16] = "";
	ssize_t n = read(p->susp_pipe, buf, sizeof buf - 1);
	close(p->susp_pipe);
	p->susp_pipe = -1;
	p->susp_child = 0;
	*result = n > 0 ? atoi(buf) : CUDA_ERROR_UNKNOWN;
	return 0;
}

/* ---- the commands ---- */

static const char *why_refused(int rc)
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
	default:
		return "the driver refused it";
	}
}

/* Resume step one: its bytes back in the slice's ledger, then the helper. */
static void try_resume(struct control_state *s, struct control_peer *p)
{
	struct gs_ledger *l = NULL;
	int rc = p->susp_bytes ? control_peer_ledger(s, p, &l) : 0;
	if (!rc && l)
		rc = gs_ledger_put_back(l, p->pid, p->susp_bytes);
	if (l)
		gs_ledger_close(l);
	if (rc == -ENOMEM) {
		if (!p->susp_waiting)
			control_log(s, "Client %ld waits to resume: its %" PRIu64 " MiB do not fit in slice %s now",
				    (long)p->pid, p->susp_bytes >> 20, p->slice);
		p->susp_waiting = true;
		return;
	}
	p->susp_waiting = false;
	p->susp_back = rc == 0; /* the ledger has them: taken out again if the driver refuses */
	if (start_helper(s, p, false)) {
		control_log(s, "cannot start the helper that resumes client %ld", (long)p->pid);
		p->susp = CONTROL_SUSPENDED;
	}
}

struct targets {
	struct control_state *s;
	const char *slice; /* a slice's UUID, or NULL: pid */
	pid_t pid;
	bool suspend;
	unsigned n, skipped;
};

static void act_on(void *ctx, struct control_peer *p)
{
	struct targets *t = ctx;
	if (!p->client || p->pending || (t->slice ? strcasecmp(p->slice, t->slice) != 0 : p->pid != t->pid))
		return;
	if (t->suspend ? p->susp != CONTROL_RUNNING : p->susp != CONTROL_SUSPENDED) {
		t->skipped++;
		return;
	}
	t->n++;
	if (t->suspend) {
		if (start_helper(t->s, p, true) == 0)
			p->susp = CONTROL_SUSPENDING;
	} else {
		p->susp = CONTROL_RESUMING;
		try_resume(t->s, p);
	}
}

/* suspend <pid|slice>, resume <pid|slice>: at once; list_clients shows how
 * it goes. */
void control_suspend_command(struct control_state *s, bool suspend, const char *what, struct control_reply *r)
{
	struct targets t = { s, NULL, 0, suspend, 0, 0 };
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
	if (!t.n && !t.skipped) {
		control_reply_fail(r, "%s %.64s: no such client", suspend ? "suspend" : "resume", what);
		return;
	}
	control_reply_line(r, "%s %u client(s)%s", suspend ? "Suspending" : "Resuming", t.n,
			   t.skipped ? suspend ? ", others suspended already" : ", others not suspended" : "");
}

/* ---- every tick ---- */

static void tick_one(void *ctx, struct control_peer *p)
{
	struct control_state *s = ctx;
	int rc;
	if (p->susp == CONTROL_RESUMING && !p->susp_child) {
		try_resume(s, p); /* waiting for its memory */
		return;
	}
	if (!p->susp_child || helper_done(p, &rc))
		return;
	if (p->susp == CONTROL_SUSPENDING) {
		struct gs_ledger *l;
		if (rc) {
			control_log(s, "Client %ld not suspended: %s (%d)", (long)p->pid, why_refused(rc), rc);
			p->susp = CONTROL_RUNNING;
			return;
		}
		p->susp_bytes = 0;
		if (control_peer_ledger(s, p, &l) == 0) {
			gs_ledger_take_out(l, p->pid, &p->susp_bytes);
			gs_ledger_close(l);
		}
		p->susp = CONTROL_SUSPENDED;
		control_log(s, "Client %ld suspended: %" PRIu64 " MiB on the host", (long)p->pid, p->susp_bytes >> 20);
		save(s);
	} else if (p->susp == CONTROL_RESUMING) {
		if (rc) {
			struct gs_ledger *l;
			uint64_t again;
			if (p->susp_back && control_peer_ledger(s, p, &l) == 0) {
				gs_ledger_take_out(l, p->pid, &again); /* not on the GPU after all */
				gs_ledger_close(l);
			}
			control_log(s, "Client %ld not resumed: %s (%d); tried again", (long)p->pid, why_refused(rc), rc);
			p->susp_waiting = true; /* the next tick tries again */
			return;
		}
		p->susp = CONTROL_RUNNING;
		p->susp_bytes = 0;
		control_log(s, "Client %ld resumed", (long)p->pid);
		save(s);
	}
}

void control_suspend_tick(struct control_state *s)
{
	control_each_client(tick_one, s);
}

/* A program registering again after the daemon was restarted: suspended
 * before, it is resumed now (its helper finds it locked and checkpointed). */
void control_suspend_admit(struct control_state *s, struct control_peer *p)
{
	p->susp_pipe = -1;
	for (size_t i = 0; i < n_kept; i++)
		if (kept[i].pid == p->pid && kept[i].start == p->pid_start) {
			p->susp = CONTROL_RESUMING;
			p->susp_bytes = kept[i].bytes;
			kept[i] = kept[--n_kept];
			control_log(s, "Client %ld was suspended before the restart: resuming it", (long)p->pid);
			try_resume(s, p);
			return;
		}
}

void control_suspend_gone(struct control_state *s, struct control_peer *p)
{
	if (p->susp_child) {
		kill(p->susp_child, SIGKILL);
		waitpid(p->susp_child, NULL, 0);
		close(p->susp_pipe);
		p->susp_child = 0;
	}
	bool was = p->susp == CONTROL_SUSPENDED || p->susp == CONTROL_RESUMING;
	p->susp = CONTROL_RUNNING;
	if (was)
		save(s); /* the driver frees its host copy with it */
}
