/* interposer.h: the parts of libgpushare.so, the library loaded into CUDA
 * programs to confine them to a slice. It depends on libc, libdl and the
 * common layer only. Internal names carry the gs__ prefix. */
#ifndef GS_INTERPOSER_H
#define GS_INTERPOSER_H

#include "gs-cuda.h"
#include "gs-nvml.h"
#include "ledger.h"

#include <pthread.h>

/* The real driver's function for every entry of the list. */
struct gs__real {
#define GS__REAL_PTR(base, sym, ver, params, args) CUresult (*sym) params;
	GS_CUDA_API(GS__REAL_PTR, GS__REAL_PTR)
#undef GS__REAL_PTR
	gs_cuGetProcAddress_v2_t cuGetProcAddress_v2;
	gs_cuGetProcAddress_t cuGetProcAddress;
	CUresult (*cuMemGetAddressRange_v2)(CUdeviceptr *base, size_t *size, CUdeviceptr p);
};
extern struct gs__real gs__real;

#define GS__MAX_DEV 16

/* What gpushare-control told this program when it registered (register.c):
 * its server's active thread percentage (100 when none) and pinned memory
 * limit (0: none), and whether NVIDIA's MPS enforces them. */
struct gs__client {
	pid_t server;
	double pct;              /* the server's active thread percentage, of the slice */
	uint64_t memory_limit;
	bool mps;
	double share;            /* under NVIDIA's MPS: the slice's part of the GPU's SMs (1: all) */
	bool swap;               /* "R swap 1": back allocations so that they can be moved (swap.c) */
};
extern struct gs__client gs__client;

/* The slice this process runs in. */
struct gs__slice {
	bool refused;            /* bad configuration: CUDA is refused */
	bool memory_limited, sm_limited;
	char name[96];           /* what the user named: MIG-<uuid>, or "environment" */
	char gpu_uuid[48];       /* the slice's GPU, "" for every device */
	uint64_t memory_limit;
	unsigned sms;            /* SMs asked for */
	/* where they are: [sm_start, sm_start + sms) of a split of the GPU into
	 * groups of sm_grid SMs, which every process of the GPU makes alike, so
	 * that groups are disjoint (smrun.h) */
	unsigned sm_start, sm_grid;
	struct gs_ledger *ledger;
	char store_dir[4096];    /* where the slice was found, "" for environment limits */
	bool remainder;          /* outside every slice: charged to what no slice is guaranteed */
	bool placed;             /* by gpushare-control, which gave its guarantee */
	uint64_t guarantee;
	uint64_t process_limit;  /* GPUSHARE_MEMORY_LIMIT inside a placed slice: this process's cap (0: none) */
	/* a further slice's server (gpushare-control's answer to its own
	 * registration): its active thread percentage and pinned memory limit;
	 * the first slice's are gs__client's */
	double pct;
	uint64_t server_limit;
	long server;             /* its server's pid (0: NVIDIA's MPS) */
	int conn;                /* a further slice's connection to gpushare-control (-1: none) */
	uint64_t process_bytes;  /* what this process holds in it, against its own cap (mem.c) */
	unsigned oom_wait_s;     /* the store's -oom-wait, read at oom_read_ns (mem.c) */
	uint64_t oom_read_ns;
};
/* A program sees a device per slice, at most GS__MAX_SLICES, each on a GPU
 * of its own: CUDA_VISIBLE_DEVICES=MIG-<a>,MIG-<b>. gs__slice is the first
 * (the only one, usually: every single-slice path uses it alone), gs__more
 * the others, in CUDA_VISIBLE_DEVICES' order; gs__n_slices counts them all
 * (1 also for no slice). */
#define GS__MAX_SLICES 8
extern struct gs__slice gs__slice;
extern struct gs__slice gs__more[GS__MAX_SLICES - 1];
extern unsigned gs__n_slices;
static inline struct gs__slice *gs__slice_at(unsigned i)
{
	return i ? &gs__more[i - 1] : &gs__slice;
}
static inline unsigned gs__slice_index(const struct gs__slice *s)
{
	return s == &gs__slice ? 0 : (unsigned)(s - gs__more) + 1;
}
/* The slice a device is in (cached per device: a load once known), NULL
 * when none applies to it. */
struct gs__slice *gs__slice_of(CUdevice dev);

/* A slice's memory limit now: its ledger's, which gpushare-control may
 * change while the program runs. */
static inline uint64_t gs__limit(const struct gs__slice *s)
{
	return s->ledger ? gs_ledger_limit(s->ledger) : s->memory_limit;
}
static inline uint64_t gs__slice_limit(void)
{
	return gs__limit(&gs__slice);
}
/* A slice's server's percentage and pinned memory limit. */
static inline double gs__slice_pct(const struct gs__slice *s)
{
	return s == &gs__slice ? gs__client.pct : s->pct;
}
static inline uint64_t gs__slice_server_limit(const struct gs__slice *s)
{
	return s == &gs__slice ? gs__client.memory_limit : s->server_limit;
}

/* What every wrapper looks at, in one word so that the usual case costs one
 * load and a branch: GPUSHARE_TRACE counts calls; terminate_client makes
 * every later call fail with CUDA_ERROR_MPS_CLIENT_TERMINATED; the swap's
 * gate (swap.c) makes every call wait while the program's memory is moved. */
enum { GS__WRAP_TRACE = 1, GS__WRAP_TERMINATED = 2, GS__WRAP_GATE = 4 };
extern unsigned gs__wrap_flags __attribute__((visibility("hidden")));

/* One-time set-up, reachable from every entry point. */
void gs__init(void);
void gs__log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Where gpushare-control placed this program: the register_client answer's
 * "slice" line, and the ledger it passed. */
struct gs__placement {
	char slice[96];          /* MIG-<uuid>, or "-": the GPU's remainder */
	char gpu[48];
	char how[16];            /* cgroup, job, named, default or remainder */
	uint64_t memory, guarantee;
	unsigned sm_start, sms, sm_grid;
	char store_dir[4096];
	int ledger_fd;
	/* TPC masks (smmask.c): the bits its launches enable now and its
	 * slice's own, and the idle interval; masked false: green contexts */
	bool masked;
	uint32_t mask[4], own[4];
	unsigned idle_ms;
	/* turns (turns.c): a timeslice slice's turn length (0: none), and
	 * whether the program holds the turn at its admission */
	unsigned turn_ms;
	bool has_turn;
	/* a low-priority slice's launches held back now (a critical slice busy) */
	bool paused;
	/* "S swap out" / "S swap in" before the answer ended: 'o', 'i' or 0 */
	char swap_cmd;
	/* the daemon counts GPU busy time: every program reports its activity,
	 * looking every activity_ms (0: an older daemon, nothing reported) */
	unsigned activity_ms;
};
/* Registers with gpushare-control (register.c), asking for the slice
 * asked ("-": none; "?MIG-...": a name from CUDA_VISIBLE_DEVICES, a slice
 * only if it names one). 0: placed, gs__slice filled from the answer; 1:
 * refused (gs__slice.refused set, stderr says why); -1: no daemon runs. */
int gs__register(const char *asked, const char *gpu);
/* The same for a program given several slices (asked[0] first, each
 * "?MIG-..." from CUDA_VISIBLE_DEVICES): each registered on a connection
 * of its own, gs__slice and gs__more filled; a slice refused, or two on one
 * GPU, refuse the whole program (1). */
int gs__register_all(char asked[][128], size_t n);
/* A line to gpushare-control on the registered connection (register.c):
 * never blocks; false when it was not sent (no daemon, a full socket). */
bool gs__notify(const char *line);
/* Whether the program is connected to gpushare-control now. */
bool gs__connected(void);

/* TPC masks (smmask.c). gs__mask_setup takes the registration's mask
 * (false: green contexts); gs__mask_subscribe after cuInit; gs__mask_set for
 * a pushed mask; gs__mask_lost when the daemon went, gs__mask_again when a
 * new one answered. */
bool gs__mask_setup(const struct gs__placement *pl);
void gs__mask_subscribe(void);
void gs__mask_set(const uint32_t enabled[4]);
void gs__mask_lost(void);
void gs__mask_again(const struct gs__placement *pl);
extern bool gs__mask_on;
extern __thread bool gs__mask_in_launch __attribute__((tls_model("initial-exec")));

/* Activity (activity.c): gs__act_setup(idle interval) once the daemon wants
 * reports for lending or turns; gs__act_account(look interval) once it
 * counts busy time (after gs__act_setup, if that is called: the lending
 * reports then carry the busy time too), gs__act_again with a new daemon's
 * (0: an older one); the launch path calls gs__act_note; the watcher calls
 * gs__act_tick when gs__act_watch_ms (-1: no need) passed without a line,
 * gs__act_woken when gs__act_wake_fd (-1: none) is readable; gs__act_reset
 * when the daemon went or a new one took the program (as busy);
 * gs__act_sync once masks turned out not to work. */
void gs__act_setup(unsigned idle_ms);
void gs__act_account(unsigned look_ms);
void gs__act_again(unsigned look_ms);
void gs__act_sync(void);
void gs__act_busy(void);
void gs__act_reset(void);
int gs__act_watch_ms(void);
void gs__act_tick(void);
int gs__act_wake_fd(void);
void gs__act_woken(void);
extern bool gs__act_on, gs__act_hooks;
extern int gs__act_launched, gs__act_idle;
static inline void gs__act_note(void)
{
	if (__builtin_expect(gs__act_on, 0)) {
		/* marked once per look (seq_cst, with the watcher's: neither
		 * misses the other); already marked, two plain loads on x86 */
		if (!__atomic_load_n(&gs__act_launched, __ATOMIC_RELAXED))
			__atomic_store_n(&gs__act_launched, 1, __ATOMIC_SEQ_CST);
		if (__builtin_expect(__atomic_load_n(&gs__act_idle, __ATOMIC_SEQ_CST), 0))
			gs__act_busy();
	}
}

/* A thread waiting for the GPU (a synchronize hook) holds the program busy
 * while it waits: it launches nothing, but its kernels are running. Returns
 * whether it counted, for gs__act_wait_end. */
extern int gs__act_waiting;
extern uint64_t gs__act_wait_end_ns;
static inline bool gs__act_wait_begin(void)
{
	if (__builtin_expect(!gs__act_on, 1))
		return false;
	__atomic_add_fetch(&gs__act_waiting, 1, __ATOMIC_SEQ_CST);
	gs__act_note();
	return true;
}
/* its end dates the end of the program's busy time, where it came last */
static inline void gs__act_wait_end(bool counted)
{
	if (__builtin_expect(counted, 0)) {
		__atomic_store_n(&gs__act_wait_end_ns, gs_now_ns(), __ATOMIC_RELAXED);
		__atomic_sub_fetch(&gs__act_waiting, 1, __ATOMIC_SEQ_CST);
	}
}

/* The launch hooks count launches where the TPC-mask callback does not
 * (green contexts): gs__act_hooks. */
static inline void gs__act_hook(void)
{
	if (__builtin_expect(gs__act_hooks, 0))
		gs__act_note();
}

/* Turns in a timeslice slice (turns.c): gs__turns_setup from the
 * registration, gs__turns_set for "S turn on|off", gs__turns_again when the
 * daemon went (NULL) or a new one answered; the launch path calls
 * gs__turn_gate before the driver's launch. */
void gs__turns_setup(const struct gs__placement *pl);
void gs__turns_set(bool open);
/* "S pause on|off": a low-priority slice's launches wait while a critical
 * slice of the GPU is busy (the same gate) */
void gs__pause_set(bool paused);
void gs__turns_again(const struct gs__placement *pl);
bool gs__turn_waiting(void);
void gs__turn_wait(void);
extern int gs__turn_closed;
static inline void gs__turn_gate(void)
{
	if (__builtin_expect(__atomic_load_n(&gs__turn_closed, __ATOMIC_ACQUIRE), 0))
		gs__turn_wait();
}

/* What the environment asks for (config.c): the slice into out, the GPU
 * (from CUDA_VISIBLE_DEVICES) into gpu, "-" for nothing. A malformed value
 * is an error. */
int gs__config_request(char *out, size_t len, char *gpu, size_t gpulen, char *err, size_t errlen);
/* How many slices CUDA_VISIBLE_DEVICES names (0 or 1: gs__config_request's
 * one request); two or more, their requests ("?MIG-...") into out. A
 * list that mixes slices with whole GPUs is an error. */
int gs__config_requests(char out[][128], size_t max, size_t *n, char *err, size_t errlen);
/* After every slice was placed or loaded: two slices of one GPU are an
 * error; CUDA_VISIBLE_DEVICES names each slice's GPU in its place. */
int gs__config_check_slices(char *err, size_t errlen);
/* gs__slice from where the daemon placed the program; the environment's
 * limits only narrow it. Takes pl->ledger_fd. */
int gs__config_placed(struct gs__slice *s, struct gs__placement *pl, char *err, size_t errlen);
/* Moved by gpushare-control's migrate into the slice of pl (its ledger,
 * GPU, limits and SMs). Takes pl->ledger_fd. */
int gs__config_moved(struct gs__slice *s, struct gs__placement *pl, char *err, size_t errlen);
/* Without a daemon: the slice from the environment and the stores (the
 * user's own, then the system one) (config.c). */
int gs__config_load(struct gs__slice *s, char *err, size_t errlen);
/* Reads the slice's SMs (and its GPU's grid) again from the store: a
 * resized slice's contexts created afterwards take the new size. */
void gs__config_refresh_sms(struct gs__slice *s);
/* How long an allocation past the slice's limit waits for memory (the
 * store's now: 0 for none, a slice of the environment, an unreadable store). */
unsigned gs__config_oom_wait(const struct gs__slice *s);

/* Contexts (ctx.c). The launch-path check: whether the calling thread's
 * current context is a real primary context that must be swapped for the
 * slice's green context. */
extern bool gs__sm_active;
struct gs__stats {
	unsigned long slow, probes, contexts;
};
extern struct gs__stats gs__stats;
/* The library is preloaded at start-up, so its thread-locals can live in the
 * static TLS block: one instruction to reach instead of a __tls_get_addr call. */
#define GS__TLS __attribute__((tls_model("initial-exec")))
extern __thread CUcontext gs__tls_ok GS__TLS;
/* bumped when every thread must check its context again */
extern unsigned gs__gen;
extern __thread unsigned gs__tls_gen GS__TLS;

/* Launches counted per thread for the daemon's metrics (count.c):
 * gs__count_setup once registered; the launch hooks call gs__count_launch;
 * the watcher gs__count_report now and then. At each look that saw
 * launches the watcher calls gs__count_look, and gs__count_recent then
 * names the threads that launched in the interval before it (activity.c:
 * is one of them only kept off the CPU?). */
struct gs__count {
	uint64_t n;              /* its thread's line */
	struct gs__count *next, *spare_next;
	int tid;                 /* its thread's, 0 while spare */
	uint64_t seen __attribute__((aligned(64))); /* the watcher's line: n at its last look */
	bool recent;             /* n moved in the interval before that look */
} __attribute__((aligned(64)));
extern bool gs__count_on;
extern __thread struct gs__count *gs__count_mine GS__TLS;
struct gs__count *gs__count_new(void);
void gs__count_setup(void);
void gs__count_report(void);
void gs__count_look(void);
size_t gs__count_recent(int *tids, size_t max);
static inline void gs__count_launch(void)
{
	if (__builtin_expect(gs__count_on, 0)) {
		struct gs__count *c = gs__count_mine;
		if (__builtin_expect(!c, 0) && !(c = gs__count_new()))
			return;
		/* only this thread writes it: a plain increment, stored whole for the watcher */
		__atomic_store_n(&c->n, c->n + 1, __ATOMIC_RELAXED);
	}
}
/* GPUSHARE_TRACE: count every wrapped call, logged at exit */
extern unsigned long gs__calls[];
void gs__ctx_slow(void);
static inline void gs__ctx_check(void)
{
	if (__builtin_expect(gs__sm_active, 0)) {
		CUcontext cur;
		if (gs__real.cuCtxGetCurrent(&cur) == CUDA_SUCCESS && cur != gs__tls_ok)
			gs__ctx_slow();
		else
			gs__tls_gen = __atomic_load_n(&gs__gen, __ATOMIC_RELAXED);
	}
}
/* Context memory (mem.c). Every call that makes a context brackets the
 * driver's work: gs__ctx_charge_begin charges a first guess of the context's
 * memory before (CUDA_ERROR_OUT_OF_MEMORY, and a line on stderr, when the
 * slice is full: the context must not be made); gs__ctx_charge_end after
 * replaces it by what the context took, or gives it back when the context
 * was not made; CUDA_ERROR_OUT_OF_MEMORY, nothing left charged, when it does
 * not fit: the caller destroys the context. A device's primary (with its
 * green context) is charged once per process; each context made with
 * cuCtxCreate (own) once, given back by gs__ctx_uncharge when destroyed. */
struct gs__ctx_charge {
	bool counted, primary;
	CUdevice dev;
	uint64_t guess;
};
CUresult gs__ctx_charge_begin(CUdevice dev, bool primary, struct gs__ctx_charge *t);
CUresult gs__ctx_charge_end(struct gs__ctx_charge *t, bool made, CUcontext own);
void gs__ctx_uncharge(CUcontext own);
/* A primary reset: its charge goes back, the next retain charges it again. */
void gs__ctx_uncharge_primary(CUdevice dev);

/* The SM count a device's contexts get in this slice (0: not limited). */
unsigned gs__ctx_sms(CUdevice dev);
/* Where a device's launches in this slice run, in the GPU's SM numbering:
 * the green context's SMs, the slice's own under TPC masks (lent ones come
 * and go: gs__mask_enabled), else the whole GPU (count 0: unknown). */
void gs__ctx_sm_span(CUdevice dev, unsigned *first, unsigned *count);
/* The TPC mask bits a launch enables now (TPC masks only: false otherwise). */
bool gs__mask_enabled(uint32_t enabled[4]);

/* Kernel traces (trace.c), where GPUSHARE_TRACE_FILE names a file: every
 * launch brackets the driver's with gs__trace_begin (the slot it took, -1
 * when the buffer was full: counted as dropped; -2 for a launch CUPTI makes
 * as the trace starts it: not the program's) and gs__trace_end; memory
 * calls note what they allocated and freed. Off, each costs one
 * predictable branch. */
extern bool gs__trace_on;
struct gs__trace_launch {
	CUfunction f;
	CUstream s;
	unsigned grid[3], block[3];
	bool ptsz;               /* the per-thread default stream's form */
};
void gs__trace_setup(void);
int gs__trace_begin(const struct gs__trace_launch *l);
void gs__trace_end(int slot, CUresult rc);
void gs__trace_mem_note(const char *what, uint64_t bytes, uintptr_t addr);
static inline void gs__trace_mem(const char *what, uint64_t bytes, uintptr_t addr)
{
	if (__builtin_expect(gs__trace_on, 0))
		gs__trace_mem_note(what, bytes, addr);
}

/* Whether the slice applies to a device (its GPU), cached per device. */
bool gs__slice_device(CUdevice dev);
/* The real dlsym, for the interposer's own lookups. */
void *gs__dlsym(void *handle, const char *name);

/* NVML (nvml.c): our wrapper for a name a program dlsym'd, or its real
 * pointer; and answers to the interposer's own questions, from an NVML it
 * loads itself: the device memory this process holds on a GPU ("" for the
 * first; -ENOENT when NVML cannot tell, as when it does not list the
 * process), and a GPU's SM count (0 when unknown). */
void *gs__nvml_wrap(const char *name, void *real);
int gs__nvml_process_bytes(const char *gpu_uuid, uint64_t *bytes);
unsigned gs__nvml_sm_count(const char *gpu_uuid);
/* The GPU's whole memory, as NVML reports it; 0 when it cannot tell. */
uint64_t gs__nvml_total_bytes(const char *gpu_uuid);
/* This process's own cap as it is told it (mem.c: the server's pinned limit,
 * GPUSHARE_MEMORY_LIMIT, the schedulers' limits; 0: none) and what it holds
 * against it (counted only while there is a cap). */
void gs__process_view(const struct gs__slice *s, uint64_t *cap, uint64_t *held);
/* Whether the slice may hold used bytes: within its guarantee always, past
 * it only out of what no other slice of the GPU is guaranteed (guarantee.c). */
bool gs__guarantee_admits(uint64_t used);
/* The same for any of the program's slices: a further slice takes no more
 * than its guarantee (only the first reads the other slices' ledgers). */
bool gs__guarantee_admits_in(const struct gs__slice *s, uint64_t used);
/* Within its guarantee, while other slices of the GPU borrow memory: how
 * much the slice, holding used bytes, is short of by the ledgers (others'
 * use plus ours past the GPU), 0 when nothing is. Whether used is within
 * the guarantee where some other slice borrows (what the driver refused
 * may be held by a borrower). */
uint64_t gs__guarantee_shortfall(uint64_t used);
bool gs__guarantee_lent(uint64_t used);

/* Lending memory (lend.c): an owner's allocation within its guarantee asks
 * gpushare-control to suspend borrowers until bytes are free, and waits for
 * its answer (at most GPUSHARE_RECLAIM_WAIT seconds in all, 600 by
 * default). gs__lend_reclaim: until the ledgers leave nothing short (the
 * allocation's charge held meanwhile); false when the time is up, said on
 * stderr. gs__lend_driver_oom: once, after the driver refused an
 * allocation within the guarantee; whether anything was freed (try again).
 * gs__lend_answer: the daemon's answer, from register.c's watcher. */
bool gs__lend_reclaim(uint64_t short_by);
bool gs__lend_driver_oom(uint64_t bytes);
void gs__lend_answer(const char *line);

/* The interposer's own swap (swap.c), for gpushare-control's suspend where
 * the driver refuses its checkpoint API. gs__swap_setup once the
 * registration said whether to (GPUSHARE_SWAP=on|off overrides it); then
 * gs__swap_backs says whether an allocation of bytes on the current device
 * is backed by VMM (gs__swap_on, and at least the granularity), which
 * gs__swap_alloc makes (CUDA_SUCCESS or the driver's error, nothing left
 * made); gs__swap_free frees one of its allocations (*ours false: not one,
 * nothing done), after the stream's work (s) or the context's (NULL);
 * gs__swap_ctx_gone when a context is destroyed. gs__swap_command queues
 * "S swap out|in" for its thread, which answers the daemon. The wrappers
 * call gs__swap_gate while GS__WRAP_GATE is set. mem.c tells what an
 * allocation was charged (gs__mem_charged). */
extern bool gs__swap_on;
void gs__swap_setup(bool asked);
bool gs__swap_backs(size_t bytes);
CUresult gs__swap_alloc(CUdeviceptr *dptr, size_t bytes);
CUresult gs__swap_free(CUdeviceptr va, CUstream s, bool *ours);
void gs__swap_ctx_gone(CUcontext ctx);
void gs__swap_command(bool out);
/* The same at once, on the calling thread: the answer line into answer. */
void gs__swap_now(bool out, char *answer, size_t len);
void gs__swap_gate(void);

/* The swap's copies, pipelined through pinned staging buffers and a few
 * threads (swapcopy.c): gs__copy_begin gives NULL where the driver's own
 * copies are to be used (GPUSHARE_SWAP_THREADS=0, a small total, no pinned
 * memory); gs__copy_region copies one region in the current context (out:
 * device to host), and may return before it is done; gs__copy_end waits
 * for every copy, frees the pipeline and gives the first error. */
struct gs__copy;
struct gs__copy *gs__copy_begin(bool out, uint64_t total);
CUresult gs__copy_region(struct gs__copy *c, void *host, CUdeviceptr dev, size_t size);
CUresult gs__copy_end(struct gs__copy *c);
int gs__copy_threads(const struct gs__copy *c);
uint64_t gs__mem_charged(CUdeviceptr p);

/* The lookup shared by dlsym and cuGetProcAddress (wrap.c): our wrapper for
 * a real function pointer, or the pointer itself when it is not wrapped. */
void *gs__wrap_real(void *real);
void *gs__wrap_by_name(const char *sym);

#endif
