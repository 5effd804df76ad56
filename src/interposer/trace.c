/* trace.c: kernel traces, where GPUSHARE_TRACE_FILE names a file ("%p"
 * becomes the pid): every kernel launch, with the GPU time it ran and the
 * SMs it was allowed, and every allocation and free, written in the Chrome
 * trace event format (ui.perfetto.dev and chrome://tracing open it). One
 * track group (pid) per slice, one track (tid) per process and stream.
 *
 * The launch path claims a slot of a bounded ring (one compare-and-swap, no
 * lock, no allocation, no system call) and publishes it after the driver's
 * launch. Its kernel's GPU times come from one of two backends, chosen at
 * the first launch (GPUSHARE_TRACE_TIMING: events, cupti, or auto, the
 * default: CUPTI where a libcupti loads and starts, else events):
 * - events: a pair of CUDA events from a pool made once, recorded around
 *   the launch on its stream. (Each costs about what a launch does under
 *   NVIDIA MPS; a start taken from the end of the stream's last kernel would
 *   save one, but would draw a kernel that waited for another program's as
 *   running beside it.) A thread of its own takes slots in order, asks
 *   cuEventQuery whether the kernel ended, turns the events into host time
 *   by cuEventElapsedTime from a reference event recorded at a known host
 *   time;
 * - cupti: no event; CUPTI's launch callbacks give the launch its
 *   correlation ids (cupti.c), kept in the slot. The thread takes slots as
 *   they come into a table by id, and matches each kernel record CUPTI
 *   hands back to its launch by id, whichever comes first, in any order (a
 *   record with no launch: a graph's kernel, a launch not traced, is not
 *   written). CUPTI's timestamps become host time by an offset to
 *   CLOCK_MONOTONIC sampled every REANCHOR_MS.
 * Either way it appends a line per event to the file (flushed every 200 ms
 * and at exit). A launch that finds the ring full, or whose record CUPTI
 * never gave (dropped for lack of a buffer: CUPTI counts those too), is
 * counted as dropped, never lost silently: kernels + failed + dropped =
 * launches. */
#include "interposer.h"
#include "cupti.h"
#include "idmap.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define RING 4096 /* launches in flight at most (a power of two) */
#define NAME_LEN 96
#define OUT_CAP (256 * 1024)
#define OUT_FLUSH (192 * 1024)
#define STREAM_TRACKS 16 /* a process's streams on tracks of their own; more share the last */
#define REANCHOR_MS 1000.0f
#define PENDING_SLOTS (1u << 20) /* ids of launches waiting for a record: 512k at most */
#define EARLY_SLOTS (1u << 16)   /* records that came before their launch was taken */
#define EARLY_NS 2000000000ull   /* how long such a record waits for its launch */

enum { TIMING_AUTO, TIMING_EVENTS, TIMING_CUPTI };
static const char *const timing_names[] = { "auto", "events", "cupti" };

enum { REC_KERNEL, REC_MEMORY };

struct rec {
	unsigned long seq;       /* Vyukov's bounded queue: whose turn the slot is */
	uint8_t kind;
	bool ptsz, timed, masked, named, captured;
	CUresult rc;
	int tid;
	uint64_t submit;         /* CLOCK_MONOTONIC ns */
	CUfunction f;
	CUstream s;
	unsigned grid[3], block[3];
	uint32_t mask[4];
	uint64_t bytes;
	uintptr_t addr;
	const char *what;        /* a memory call's name: static text */
	uint32_t corr[2];        /* CUPTI's correlation ids: the driver call's, the runtime's */
	char name[NAME_LEN];
};

/* A kernel record that came before its launch was taken from the ring. */
struct early {
	uint64_t start, end, seen;
};

bool gs__trace_on;

static struct {
	struct rec ring[RING];
	CUevent ev[RING][2];     /* start and end, the slot's own */
	unsigned long head __attribute__((aligned(64))); /* launches claim here */
	unsigned long dropped __attribute__((aligned(64)));
	unsigned long tail;      /* the writer's: the next slot to take */
	/* the pool, made once by the first launch, in its context */
	pthread_mutex_t setup_lock;
	int pool;                /* 0 not yet, 1 ready, -1 no GPU times */
	int want, timing;        /* GPUSHARE_TRACE_TIMING; what the first launch chose */
	char timing_note[200];   /* why not CUPTI, where it was asked for or auto */
	CUcontext ctx;
	CUevent ref;
	uint64_t ref_ns;         /* host time at which ref was reached */
	float ref_err_us;
	unsigned sm_first, sm_count;
	bool thread_started;
	pthread_t thread;
	/* the writer's (under out_lock: its thread, and exit) */
	pthread_mutex_t out_lock;
	char path[4096];
	int fd;                  /* -1 not open yet, -2 cannot be written */
	char *out;
	size_t out_len;
	bool first_line, closed;
	unsigned long kernels, failed, memory;
	/* the CUPTI backend's: launches by correlation id, records by id */
	struct gs__idmap pending, early;
	unsigned long n_pending, lost, unmatched;
	uint64_t last_poll, last_anchor, last_sweep;
	CUstream streams[STREAM_TRACKS];
	unsigned n_streams;
	char user[64], app[32], slice[96];
	uint64_t last_flush;
	int64_t realtime_off_ns; /* CLOCK_REALTIME - CLOCK_MONOTONIC */
} T = { .setup_lock = PTHREAD_MUTEX_INITIALIZER, .out_lock = PTHREAD_MUTEX_INITIALIZER, .fd = -1 };

static __thread int tls_tid GS__TLS;
/* the thread sets the backend up: what CUPTI launches or allocates while it
 * starts is its own, not the program's, and not traced */
static __thread bool tls_setup GS__TLS;
/* the last function whose name the thread asked the driver (a module
 * unloaded and another's function at the same handle, on the same thread
 * before any other launch, would keep the old name) */
static __thread struct {
	CUfunction f;
	bool named;
	char name[NAME_LEN];
} tls_last GS__TLS;

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t real_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int thread_id(void)
{
	if (__builtin_expect(!tls_tid, 0))
		tls_tid = (int)syscall(SYS_gettid); /* once per thread */
	return tls_tid;
}

static void ring_reset(void)
{
	for (unsigned long i = 0; i < RING; i++)
		T.ring[i].seq = i;
	T.head = T.tail = T.dropped = 0;
}

/* ---- the launch path ---- */

/* The pool of events, once, in the context the first launch runs in: a
 * reference event on a stream of its own (non-blocking, idle: reached at
 * once), then two events per slot. Without them launches are still traced,
 * at their submit time, marked untimed. */
static void pool_setup(void);
static void thread_start(void);

static inline void pool_ready(void)
{
	if (__builtin_expect(!__atomic_load_n(&T.pool, __ATOMIC_ACQUIRE), 0))
		pool_setup();
}

static int claim(void)
{
	unsigned long pos = __atomic_load_n(&T.head, __ATOMIC_RELAXED);
	for (;;) {
		struct rec *r = &T.ring[pos % RING];
		unsigned long seq = __atomic_load_n(&r->seq, __ATOMIC_ACQUIRE);
		long dif = (long)(seq - pos);
		if (dif == 0) {
			if (__atomic_compare_exchange_n(&T.head, &pos, pos + 1, true, __ATOMIC_RELAXED,
							__ATOMIC_RELAXED))
				return (int)(pos % RING);
		} else if (dif < 0) {
			__atomic_add_fetch(&T.dropped, 1, __ATOMIC_RELAXED); /* full: the writer is behind */
			return -1;
		} else {
			pos = __atomic_load_n(&T.head, __ATOMIC_RELAXED);
		}
	}
}

static void publish(int slot)
{
	struct rec *r = &T.ring[slot];
	__atomic_store_n(&r->seq, r->seq + 1, __ATOMIC_RELEASE);
}

static CUresult record(CUevent e, CUstream s, bool ptsz)
{
	if (ptsz && gs__real.cuEventRecord_ptsz)
		return gs__real.cuEventRecord_ptsz(e, s);
	return gs__real.cuEventRecord ? gs__real.cuEventRecord(e, s) : CUDA_ERROR_NOT_INITIALIZED;
}

int gs__trace_begin(const struct gs__trace_launch *l)
{
	if (__builtin_expect(tls_setup, 0))
		return -2;
	pool_ready();
	int slot = claim();
	if (slot < 0)
		return -1;
	struct rec *r = &T.ring[slot];
	r->kind = REC_KERNEL;
	r->submit = mono_ns();
	r->tid = thread_id();
	r->f = l->f;
	r->s = l->s;
	r->ptsz = l->ptsz;
	memcpy(r->grid, l->grid, sizeof r->grid);
	memcpy(r->block, l->block, sizeof r->block);
	r->masked = gs__mask_enabled(r->mask);
	if (tls_last.f != l->f || !tls_last.f) {
		const char *name = NULL;
		tls_last.f = l->f;
		tls_last.named = gs__real.cuFuncGetName && gs__real.cuFuncGetName(&name, l->f) == CUDA_SUCCESS && name;
		size_t i = 0;
		for (; tls_last.named && i < NAME_LEN - 1 && name[i]; i++)
			tls_last.name[i] = name[i];
		tls_last.name[i] = '\0';
	}
	r->named = tls_last.named;
	if (r->named)
		memcpy(r->name, tls_last.name, NAME_LEN);
	/* events belong to the pool's context: another context's launch is
	 * untimed; so is a launch captured into a graph (an event recorded
	 * there would become a node of the program's graph) */
	CUcontext cur = NULL;
	int capturing = 0;
	CUresult (*is_capturing)(CUstream, int *) =
		l->ptsz && gs__real.cuStreamIsCapturing_ptsz ? gs__real.cuStreamIsCapturing_ptsz : gs__real.cuStreamIsCapturing;
	r->captured = is_capturing && is_capturing(l->s, &capturing) == CUDA_SUCCESS && capturing;
	if (T.timing == TIMING_CUPTI) {
		/* every context's kernels have records; a captured launch's
		 * kernel runs (and has its record) when its graph does */
		r->timed = !r->captured;
		gs__cupti_ids.driver = 0;
		return slot;
	}
	r->timed = T.pool == 1 && !r->captured && gs__real.cuCtxGetCurrent(&cur) == CUDA_SUCCESS && cur == T.ctx &&
		   record(T.ev[slot][0], l->s, l->ptsz) == CUDA_SUCCESS;
	return slot;
}

void gs__trace_end(int slot, CUresult rc)
{
	if (slot < 0)
		return;
	struct rec *r = &T.ring[slot];
	r->rc = rc;
	if (T.timing == TIMING_CUPTI) {
		r->corr[0] = gs__cupti_ids.driver;
		r->corr[1] = gs__cupti_ids.runtime;
		gs__cupti_ids.driver = 0;
		if (!r->corr[0] && !r->corr[1])
			r->timed = false; /* no callback came: nothing to match a record with */
	} else if (r->timed && (rc != CUDA_SUCCESS || record(T.ev[slot][1], r->s, r->ptsz) != CUDA_SUCCESS)) {
		r->timed = false;
	}
	publish(slot);
}

void gs__trace_mem_note(const char *what, uint64_t bytes, uintptr_t addr)
{
	if (tls_setup)
		return;
	int slot = claim();
	if (slot < 0)
		return;
	struct rec *r = &T.ring[slot];
	r->kind = REC_MEMORY;
	r->submit = mono_ns();
	r->tid = thread_id();
	r->what = what;
	r->bytes = bytes;
	r->addr = addr;
	r->timed = false;
	publish(slot);
	if (__builtin_expect(!__atomic_load_n(&T.thread_started, __ATOMIC_ACQUIRE), 0))
		thread_start();
}

/* The first launch's (the others wait for it here, once: the lock is held
 * across CUPTI's start or the driver's event creation, so that one backend
 * is set up). Logged once: which backend times the kernels, and why not
 * CUPTI where it was not chosen. */
static void pool_setup(void)
{
	pthread_mutex_lock(&T.setup_lock);
	if (T.pool) {
		pthread_mutex_unlock(&T.setup_lock);
		return;
	}
	tls_setup = true;
	int ok = -1;
	CUdevice dev = 0;
	bool have_ctx = gs__real.cuCtxGetCurrent(&T.ctx) == CUDA_SUCCESS && T.ctx &&
			gs__real.cuCtxGetDevice(&dev) == CUDA_SUCCESS;
	if (T.want != TIMING_EVENTS && !T.timing_note[0]) {
		char why[sizeof T.timing_note - 32];
		if (gs__cupti_start(T.ctx, why, sizeof why) == 0)
			T.timing = TIMING_CUPTI;
		else
			snprintf(T.timing_note, sizeof T.timing_note, "%s", why);
	}
	if (T.timing == TIMING_CUPTI) {
		ok = 1;
		gs__idmap_init(&T.pending, PENDING_SLOTS);
		gs__idmap_init(&T.early, EARLY_SLOTS);
		gs__log("trace: kernels timed by CUPTI's activity records (%s)", gs__cupti_library());
	} else {
		T.timing = TIMING_EVENTS;
		if (T.want == TIMING_CUPTI)
			gs__log("trace: GPUSHARE_TRACE_TIMING=cupti, but %s: kernels timed by CUDA events instead",
				T.timing_note);
		else if (T.want == TIMING_AUTO)
			gs__log("trace: kernels timed by CUDA events (not CUPTI: %s)", T.timing_note);
		else
			gs__log("trace: kernels timed by CUDA events (GPUSHARE_TRACE_TIMING=events)");
		CUstream rs = NULL;
		if (have_ctx && gs__real.cuEventCreate(&T.ref, 0) == CUDA_SUCCESS &&
		    gs__real.cuStreamCreate(&rs, 1) == CUDA_SUCCESS) {
			ok = 1;
			for (unsigned i = 0; i < RING && ok == 1; i++)
				if (gs__real.cuEventCreate(&T.ev[i][0], 0) || gs__real.cuEventCreate(&T.ev[i][1], 0))
					ok = -1;
			uint64_t before = mono_ns();
			if (ok == 1 && (gs__real.cuEventRecord(T.ref, rs) || gs__real.cuEventSynchronize(T.ref)))
				ok = -1;
			uint64_t after = mono_ns();
			T.ref_ns = before + (after - before) / 2; /* reached in between */
			T.ref_err_us = (float)(after - before) / 2000.0f;
		}
		if (ok < 0)
			gs__log("trace: no CUDA events in the first launch's context: kernels are traced at their submit "
				"time only");
	}
	gs__ctx_sm_span(dev, &T.sm_first, &T.sm_count);
	tls_setup = false;
	__atomic_store_n(&T.pool, ok, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&T.setup_lock);
	thread_start();
}

/* ---- the writer ---- */

static void out_raw(const char *s, size_t n)
{
	if (T.fd < 0 || !T.out)
		return;
	if (T.out_len + n > OUT_CAP) {
		if (T.out_len && write(T.fd, T.out, T.out_len) < 0)
			gs__log("trace: %s: %s", T.path, strerror(errno));
		T.out_len = 0;
	}
	if (n > OUT_CAP)
		return;
	memcpy(T.out + T.out_len, s, n);
	T.out_len += n;
}

static void out_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out_printf(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n > 0)
		out_raw(buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

/* s as the inside of a JSON string, into out (cut to fit). */
static const char *json_esc(const char *s, char *out, size_t len)
{
	size_t o = 0;
	for (; *s && o + 7 < len; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			out[o++] = '\\', out[o++] = (char)c;
		else if (c < 0x20 || c >= 0x7f)
			o += (size_t)snprintf(out + o, len - o, "\\u%04x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
	return out;
}

static void line_start(void)
{
	out_raw(T.first_line ? "\n" : ",\n", T.first_line ? 1 : 2);
	T.first_line = false;
}

static unsigned slice_track(void)
{
	uint32_t h = 2166136261u; /* FNV-1a of the slice's name: alike in every process of a slice */
	for (const char *p = T.slice; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return h % 1000000u + 1;
}

static long long track_of(const struct rec *r)
{
	unsigned k = 0;
	if (r->kind == REC_KERNEL) {
		while (k < T.n_streams && T.streams[k] != r->s)
			k++;
		if (k == T.n_streams && T.n_streams < STREAM_TRACKS)
			T.streams[T.n_streams++] = r->s;
		if (k >= STREAM_TRACKS)
			k = STREAM_TRACKS - 1;
	}
	return (long long)getpid() * STREAM_TRACKS + k;
}

/* Opens the file (created here, never an existing one or a link), and
 * writes the slice's track name. */
static void out_open(void)
{
	if (T.fd != -1)
		return;
	T.fd = open(T.path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (T.fd < 0) {
		gs__log("trace: cannot create %s: %s (an existing file is never overwritten; \"%%p\" in "
			"GPUSHARE_TRACE_FILE becomes the pid)",
			T.path, strerror(errno));
		T.fd = -2;
		return;
	}
	if (!T.out && !(T.out = malloc(OUT_CAP))) {
		close(T.fd);
		T.fd = -2;
		return;
	}
	char esc[256];
	out_raw("{\"traceEvents\":[", 16);
	T.first_line = true;
	line_start();
	out_printf("{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%u,\"args\":{\"name\":\"slice %s\"}}", slice_track(),
		   json_esc(T.slice, esc, sizeof esc));
}

static void out_flush(void)
{
	if (T.fd >= 0 && T.out_len) {
		if (write(T.fd, T.out, T.out_len) < 0)
			gs__log("trace: %s: %s", T.path, strerror(errno));
		T.out_len = 0;
	}
	T.last_flush = mono_ns();
}

static void sms_text(const struct rec *r, char *out, size_t len)
{
	if (T.sm_count == 0)
		snprintf(out, len, "unknown");
	else if (T.sm_count == 1)
		snprintf(out, len, "%u", T.sm_first);
	else
		snprintf(out, len, "%u-%u", T.sm_first, T.sm_first + T.sm_count - 1);
	(void)r;
}

static void write_kernel(const struct rec *r, uint64_t start, uint64_t end)
{
	char name[2 * NAME_LEN + 8], sms[32], mask[64] = "";
	if (r->named)
		json_esc(r->name, name, sizeof name);
	else
		snprintf(name, sizeof name, "%p", (void *)r->f);
	sms_text(r, sms, sizeof sms);
	if (r->masked)
		snprintf(mask, sizeof mask, ",\"tpc_mask\":\"%08x%08x%08x%08x\"", r->mask[3], r->mask[2], r->mask[1],
			 r->mask[0]);
	char user[160], app[80], slice[256];
	line_start();
	out_printf("{\"name\":\"%s\",\"cat\":\"kernel\",\"ph\":\"X\",\"ts\":%" PRIu64 ".%03u,\"dur\":%" PRIu64
		   ".%03u,\"pid\":%u,\"tid\":%lld,\"args\":{\"pid\":%ld,\"thread\":%d,\"user\":\"%s\",\"app\":\"%s\","
		   "\"slice\":\"%s\",\"stream\":\"0x%" PRIxPTR "\",\"grid\":[%u,%u,%u],\"block\":[%u,%u,%u],\"submit\":%" PRIu64
		   ".%03u,\"gpu_time\":%s,%s\"sms\":\"%s\"%s}}",
		   name, start / 1000, (unsigned)(start % 1000), (end - start) / 1000, (unsigned)((end - start) % 1000),
		   slice_track(), track_of(r), (long)getpid(), r->tid, json_esc(T.user, user, sizeof user),
		   json_esc(T.app, app, sizeof app), json_esc(T.slice, slice, sizeof slice), (uintptr_t)r->s, r->grid[0],
		   r->grid[1], r->grid[2], r->block[0], r->block[1], r->block[2], r->submit / 1000,
		   (unsigned)(r->submit % 1000), r->timed ? "true" : "false", r->captured ? "\"captured\":true," : "", sms,
		   mask);
}

static void write_memory(const struct rec *r)
{
	line_start();
	out_printf("{\"name\":\"%s\",\"cat\":\"memory\",\"ph\":\"i\",\"s\":\"t\",\"ts\":%" PRIu64
		   ".%03u,\"pid\":%u,\"tid\":%lld,\"args\":{\"pid\":%ld,\"thread\":%d,\"bytes\":%" PRIu64
		   ",\"address\":\"0x%" PRIxPTR "\"}}",
		   r->what, r->submit / 1000, (unsigned)(r->submit % 1000), slice_track(), track_of(r), (long)getpid(),
		   r->tid, r->bytes, r->addr);
}

/* A kernel's GPU start and end in host time, from its events: 0 when the
 * end is not reached yet (and wait is false), -1 when it cannot be timed. */
static int gpu_times(int slot, bool wait, uint64_t *start, uint64_t *end)
{
	CUevent *e = T.ev[slot];
	CUresult q = wait ? gs__real.cuEventSynchronize(e[1]) : gs__real.cuEventQuery(e[1]);
	if (q == CUDA_ERROR_NOT_READY)
		return 0;
	float a, b;
	if (q != CUDA_SUCCESS || gs__real.cuEventElapsedTime(&a, T.ref, e[0]) ||
	    gs__real.cuEventElapsedTime(&b, T.ref, e[1]))
		return -1;
	*start = T.ref_ns + (uint64_t)((double)a * 1e6);
	*end = T.ref_ns + (uint64_t)((double)b * 1e6);
	if (b > REANCHOR_MS) {
		/* float milliseconds lose precision far from the reference: the
		 * end event becomes it (the old one goes to the slot) */
		CUevent old = T.ref;
		T.ref = e[1];
		e[1] = old;
		T.ref_ns = *end;
	}
	return 1;
}

/* A kernel's line: at its submit time when it has no GPU time. No kernel
 * starts before it is submitted: what the clocks' reference is off by
 * (clock_error_us) is not shown as such. */
static void kernel_out(struct rec *r, uint64_t start, uint64_t end)
{
	if (!r->timed)
		start = end = r->submit;
	start = start < r->submit ? r->submit : start;
	end = end < start ? start : end;
	T.kernels++;
	write_kernel(r, start, end);
}

/* ---- the CUPTI backend's matching (the writer's, under out_lock) ---- */

/* A launch taken from the ring: its record if that came first, else a
 * copy waits in the table under each of its ids (freed once written, or
 * dropped at the end). A table full (512k launches whose kernels have not
 * ended, or no memory) counts it as dropped. */
static void cupti_launch(const struct rec *r)
{
	for (int k = 0; k < 2; k++) {
		struct early *e = gs__idmap_take(&T.early, r->corr[k]);
		if (e) {
			struct rec copy = *r;
			copy.timed = e->start || e->end;
			kernel_out(&copy, e->start, e->end);
			free(e);
			return;
		}
	}
	struct rec *p = malloc(sizeof *p);
	bool in0 = false;
	if (p) {
		*p = *r;
		/* a runtime launch's driver call may share its correlation id */
		if (p->corr[1] == p->corr[0])
			p->corr[1] = 0;
		in0 = !p->corr[0] || gs__idmap_put(&T.pending, p->corr[0], p) == 0;
		if (in0 && (!p->corr[1] || gs__idmap_put(&T.pending, p->corr[1], p) == 0)) {
			T.n_pending++;
			return;
		}
		if (in0 && p->corr[0])
			gs__idmap_take(&T.pending, p->corr[0]);
		free(p);
	}
	T.lost++;
}

/* A kernel record from CUPTI: its launch written with its times (and
 * freed), or the record kept a while for a launch not taken from the ring
 * yet (freed when that comes, or by early_expired). */
static void cupti_record(void *arg, uint32_t id, uint64_t start, uint64_t end)
{
	(void)arg;
	struct rec *p = gs__idmap_take(&T.pending, id);
	if (p) {
		uint32_t other = p->corr[0] == id ? p->corr[1] : p->corr[0];
		void *o = other && other != id ? gs__idmap_take(&T.pending, other) : NULL;
		if (o && o != p && gs__idmap_put(&T.pending, other, o))
			T.lost++; /* another launch's under that id: put back */
		T.n_pending--;
		p->timed = start || end;
		kernel_out(p, start, end);
		free(p);
		return;
	}
	struct early *e = id ? malloc(sizeof *e) : NULL;
	if (e) {
		*e = (struct early){ start, end, mono_ns() };
		if (gs__idmap_put(&T.early, id, e) == 0)
			return;
		free(e);
	}
	T.unmatched++;
}

/* Records whose launch never came (a graph's kernels, launches the ring
 * had no room for) go after EARLY_NS; all of them at the end (arg set). */
static int early_expired(void *arg, uint32_t id, void *val)
{
	(void)id;
	struct early *e = val;
	if (!arg && mono_ns() - e->seen < EARLY_NS)
		return 0;
	free(e);
	T.unmatched++;
	return 1;
}

/* At the end: launches CUPTI gave no record for are dropped, once each:
 * a first sweep takes out their second ids (nothing freed yet), a second
 * frees each under its first. */
static int pending_second(void *arg, uint32_t id, void *val)
{
	(void)arg;
	const struct rec *p = val;
	return p->corr[0] && p->corr[1] && id == p->corr[1];
}

static int pending_lost(void *arg, uint32_t id, void *val)
{
	(void)arg;
	(void)id;
	T.lost++;
	T.n_pending--;
	free(val);
	return 1;
}

static void pending_drop_all(void)
{
	gs__idmap_sweep(&T.pending, pending_second, NULL);
	gs__idmap_sweep(&T.pending, pending_lost, NULL);
}

/* What CUPTI has handed back, matched (flush: a gs__cupti_poll flush);
 * its clock sampled again every REANCHOR_MS, and records waiting too long
 * for their launch let go every second. */
static void cupti_collect(int flush)
{
	uint64_t now = mono_ns();
	if (flush == GS__CUPTI_FLUSH_DONE && now - T.last_poll < 5000000ull)
		return;
	T.last_poll = now;
	if (now - T.last_anchor > (uint64_t)(REANCHOR_MS * 1e6f)) {
		gs__cupti_reanchor();
		T.last_anchor = now;
	}
	gs__cupti_poll(flush, cupti_record, NULL);
	if (now - T.last_sweep > 1000000000ull) {
		gs__idmap_sweep(&T.early, early_expired, NULL);
		T.last_sweep = now;
	}
}

/* Takes the published slots in order: with events while their kernels
 * have ended (all of them, waiting, when wait is set), with CUPTI all of
 * them, into the table where they wait for their records. Under out_lock,
 * which only the writer and exit take: never a launch. */
static void drain(bool wait)
{
	for (;;) {
		struct rec *r = &T.ring[T.tail % RING];
		if (__atomic_load_n(&r->seq, __ATOMIC_ACQUIRE) != T.tail + 1)
			return; /* not published yet */
		int slot = (int)(T.tail % RING);
		if (r->kind == REC_MEMORY) {
			T.memory++;
			write_memory(r);
		} else if (r->rc != CUDA_SUCCESS) {
			T.failed++;
		} else if (T.timing == TIMING_CUPTI && r->timed) {
			cupti_launch(r);
		} else {
			uint64_t start = r->submit, end = r->submit;
			int got = r->timed ? gpu_times(slot, wait, &start, &end) : -1;
			if (got == 0)
				return;
			if (got < 0)
				r->timed = false;
			kernel_out(r, start, end);
		}
		__atomic_store_n(&r->seq, T.tail + RING, __ATOMIC_RELEASE);
		T.tail++;
	}
}

static void *writer(void *arg)
{
	(void)arg;
	if (T.ctx)
		gs__real.cuCtxSetCurrent(T.ctx);
	for (;;) {
		pthread_mutex_lock(&T.out_lock);
		if (T.closed) {
			pthread_mutex_unlock(&T.out_lock);
			return NULL;
		}
		out_open();
		drain(false);
		bool cupti = T.timing == TIMING_CUPTI && T.pool;
		if (cupti)
			cupti_collect(GS__CUPTI_FLUSH_DONE);
		if (mono_ns() - T.last_flush > 200000000ull)
			out_flush();
		bool behind = __atomic_load_n(&T.head, __ATOMIC_RELAXED) != T.tail;
		bool waiting = cupti && T.n_pending;
		pthread_mutex_unlock(&T.out_lock);
		struct timespec ts = { 0, behind ? 500000 : waiting ? 5000000 : 20000000 };
		nanosleep(&ts, NULL);
	}
}

static void thread_start(void)
{
	pthread_mutex_lock(&T.setup_lock);
	if (!T.thread_started) {
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old); /* the program's signals are not for this thread */
		if (pthread_create(&T.thread, NULL, writer, NULL) == 0)
			pthread_detach(T.thread);
		else
			gs__log("trace: no writer thread: the trace is written at exit only");
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		__atomic_store_n(&T.thread_started, true, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&T.setup_lock);
}

static void out_close(void)
{
	char esc[80], uesc[160];
	for (unsigned k = 0; k < (T.n_streams ? T.n_streams : 1); k++) {
		line_start();
		out_printf("{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%u,\"tid\":%lld,\"args\":{\"name\":\"%s %ld "
			   "(%s) stream 0x%" PRIxPTR "\"}}",
			   slice_track(), (long long)getpid() * STREAM_TRACKS + k, json_esc(T.app, esc, sizeof esc),
			   (long)getpid(), json_esc(T.user, uesc, sizeof uesc),
			   T.n_streams ? (uintptr_t)T.streams[k] : (uintptr_t)0);
	}
	unsigned long dropped = __atomic_load_n(&T.dropped, __ATOMIC_RELAXED) + T.lost;
	bool cupti = T.timing == TIMING_CUPTI && T.pool;
	char user[160], app[80], slice[256], note[400], timing[640];
	/* which backend timed the kernels; why not CUPTI; what CUPTI lost */
	if (cupti)
		snprintf(timing, sizeof timing,
			 "\"timing\":\"cupti\",\"cupti_lost\":%lu,\"cupti_dropped_records\":%lu,\"unmatched_records\":%lu,",
			 T.lost, gs__cupti_dropped(), T.unmatched);
	else
		snprintf(timing, sizeof timing, "\"timing\":\"%s\",%s%s%s", T.pool ? "events" : "none",
			 T.timing_note[0] ? "\"timing_note\":\"" : "", json_esc(T.timing_note, note, sizeof note),
			 T.timing_note[0] ? "\"," : "");
	out_printf("\n],\n\"displayTimeUnit\":\"ns\",\n\"otherData\":{\"gpushare\":{\"version\":1,\"pid\":%ld,"
		   "\"user\":\"%s\",\"app\":\"%s\",\"slice\":\"%s\",\"launches\":%lu,\"kernels\":%lu,\"failed\":%lu,"
		   "\"dropped\":%lu,\"memory_events\":%lu,%s\"realtime_offset_ns\":%lld,\"clock_error_us\":%.3f,"
		   "\"sm_first\":%u,\"sm_count\":%u}}}\n",
		   (long)getpid(), json_esc(T.user, user, sizeof user), json_esc(T.app, app, sizeof app),
		   json_esc(T.slice, slice, sizeof slice), T.kernels + T.failed + dropped, T.kernels, T.failed, dropped,
		   T.memory, timing, (long long)T.realtime_off_ns,
		   cupti ? gs__cupti_clock_error_us() : (double)T.ref_err_us, T.sm_first, T.sm_count);
	out_flush();
	if (T.fd >= 0)
		close(T.fd);
	T.fd = -2;
}

/* At exit: every launch still in flight waited for, what is left written,
 * the counts at the end. */
static void at_exit(void)
{
	if (!gs__trace_on)
		return;
	pthread_mutex_lock(&T.out_lock);
	if (!T.closed) {
		out_open();
		drain(true);
		if (T.timing == TIMING_CUPTI && T.pool) {
			/* CUPTI's last records (the exit flush, made before CUPTI's
			 * own teardown, or now); launches without one are dropped */
			cupti_collect(GS__CUPTI_FLUSH_FORCED);
			pending_drop_all();
			gs__idmap_sweep(&T.early, early_expired, &T);
		}
		/* slots claimed but never published (a thread inside a launch) */
		unsigned long left = __atomic_load_n(&T.head, __ATOMIC_ACQUIRE) - T.tail;
		__atomic_add_fetch(&T.dropped, left, __ATOMIC_RELAXED);
		out_close();
		T.closed = true;
	}
	pthread_mutex_unlock(&T.out_lock);
}

/* A forked child traces itself into a file of its own pid: the parent's
 * slots, events, writer and CUPTI are not its own (CUPTI's threads stay
 * in the parent: the child times its kernels by events). */
static void forked_child(void)
{
	pthread_mutex_init(&T.out_lock, NULL);
	pthread_mutex_init(&T.setup_lock, NULL);
	tls_tid = 0;
	ring_reset();
	if (T.timing == TIMING_CUPTI) {
		gs__cupti_forked();
		pending_drop_all();
		gs__idmap_sweep(&T.early, early_expired, &T);
		snprintf(T.timing_note, sizeof T.timing_note, "a forked child (CUPTI stays with the parent)");
	}
	T.timing = TIMING_AUTO;
	T.n_pending = T.lost = T.unmatched = 0;
	T.pool = 0;
	T.thread_started = false;
	T.fd = -1;
	T.out_len = 0;
	T.kernels = T.failed = T.memory = 0;
	T.n_streams = 0;
	T.closed = false;
	gs__trace_setup();
}

static void expand_path(const char *pattern)
{
	size_t o = 0;
	for (const char *p = pattern; *p && o + 24 < sizeof T.path; p++) {
		if (p[0] == '%' && p[1] == 'p') {
			o += (size_t)snprintf(T.path + o, sizeof T.path - o, "%ld", (long)getpid());
			p++;
		} else {
			T.path[o++] = *p;
		}
	}
	T.path[o] = '\0';
}

void gs__trace_setup(void)
{
	static bool hooked;
	const char *pattern = secure_getenv("GPUSHARE_TRACE_FILE");
	if (!pattern || !*pattern)
		return;
	expand_path(pattern);
	struct passwd pw, *got = NULL;
	char buf[1024];
	if (getpwuid_r(geteuid(), &pw, buf, sizeof buf, &got) == 0 && got)
		snprintf(T.user, sizeof T.user, "%s", pw.pw_name);
	else
		snprintf(T.user, sizeof T.user, "%ld", (long)geteuid());
	int fd = open("/proc/self/comm", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, T.app, sizeof T.app - 1) : -1;
	T.app[n > 0 ? n : 0] = '\0';
	T.app[strcspn(T.app, "\n")] = '\0';
	if (fd >= 0)
		close(fd);
	snprintf(T.slice, sizeof T.slice, "%s", gs__slice.name[0] ? gs__slice.name : "none");
	const char *timing = secure_getenv("GPUSHARE_TRACE_TIMING");
	T.want = TIMING_AUTO;
	for (int i = 0; timing && *timing && i < 3; i++)
		if (strcmp(timing, timing_names[i]) == 0)
			T.want = i;
	if (timing && *timing && strcmp(timing, timing_names[T.want]))
		gs__log("trace: GPUSHARE_TRACE_TIMING=%s is not events, cupti or auto: auto", timing);
	T.realtime_off_ns = (int64_t)(real_ns() - mono_ns());
	if (!hooked) {
		ring_reset();
		atexit(at_exit);
		pthread_atfork(NULL, NULL, forked_child);
		hooked = true;
	}
	gs__log("trace: kernels, allocations and frees to %s", T.path);
	__atomic_store_n(&gs__trace_on, true, __ATOMIC_RELEASE);
}
