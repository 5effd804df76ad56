/* wrap.c: how calls reach the interposer and the real driver. Generated from
 * the one list of driver functions (GS_CUDA_API): the exported wrappers (for
 * programs linked to libcuda), the sorted name table behind our dlsym (for
 * programs and runtimes that dlsym libcuda.so.1) and the pointer map behind
 * cuGetProcAddress (for the CUDA runtime, which looks up everything through
 * it). A wrapper runs the function's hand-written hook when there is one
 * (mem.c, ctx.c), else the context check and the real function. */
#include "interposer.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT __attribute__((visibility("default")))

struct gs__real gs__real;
struct gs__slice gs__slice = { .conn = -1 };
struct gs__slice gs__more[GS__MAX_SLICES - 1];
unsigned gs__n_slices = 1;

static void *(*real_dlsym)(void *, const char *);
static bool ready;
static __thread bool in_init GS__TLS;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* Hooks are optional: a weak reference is NULL where none is written. */
#define GS__HOOK_DECL(base, sym, ver, params, args) \
	extern CUresult gs__hook_##sym params __attribute__((weak, visibility("hidden")));
GS_CUDA_API(GS__HOOK_DECL, GS__HOOK_DECL)

static void init_once(void);

static inline void ensure_init(void)
{
	if (__builtin_expect(!__atomic_load_n(&ready, __ATOMIC_ACQUIRE), 0))
		gs__init();
}

unsigned gs__wrap_flags;
#define GS__INDEX(base, sym, ver, params, args) GS__I_##sym,
enum { GS_CUDA_API(GS__INDEX, GS__INDEX) GS__N_CALLS };
unsigned long gs__calls[GS__N_CALLS];

#define GS__WRAP(base, sym, ver, params, args) \
	EXPORT CUresult sym params; \
	EXPORT CUresult sym params \
	{ \
		ensure_init(); \
		if (__builtin_expect(__atomic_load_n(&gs__wrap_flags, __ATOMIC_RELAXED), 0)) { \
			if (gs__wrap_flags & GS__WRAP_TERMINATED) \
				return CUDA_ERROR_MPS_CLIENT_TERMINATED; \
			if (gs__wrap_flags & GS__WRAP_GATE) \
				gs__swap_gate(); \
			if (gs__wrap_flags & GS__WRAP_TRACE) \
				__atomic_add_fetch(&gs__calls[GS__I_##sym], 1, __ATOMIC_RELAXED); \
		} \
		if (gs__hook_##sym) \
			return gs__hook_##sym args; \
		if (__builtin_expect(!gs__real.sym, 0)) \
			return CUDA_ERROR_NOT_INITIALIZED; \
		gs__ctx_check(); \
		return gs__real.sym args; \
	}
GS_CUDA_API(GS__WRAP, GS__WRAP)

struct entry {
	const char *name;
	void **real;
	void *wrapper;
};

#define GS__ENTRY(base, sym, ver, params, args) { #sym, (void **)&gs__real.sym, (void *)sym },
static struct entry table[] = { GS_CUDA_API(GS__ENTRY, GS__ENTRY) };
#define N_TABLE (sizeof table / sizeof table[0])

static int cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

void *gs__wrap_by_name(const char *sym)
{
	struct entry key = { sym, NULL, NULL };
	const struct entry *e = bsearch(&key, table, N_TABLE, sizeof table[0], cmp_entry);
	return e ? e->wrapper : NULL;
}

void *gs__wrap_real(void *real)
{
	for (size_t i = 0; i < N_TABLE; i++)
		if (*table[i].real == real && real)
			return table[i].wrapper;
	return real;
}

EXPORT CUresult cuGetProcAddress_v2(const char *symbol, void **pfn, int version, cuuint64_t flags,
				    CUdriverProcAddressQueryResult *status);
EXPORT CUresult cuGetProcAddress(const char *symbol, void **pfn, int version, cuuint64_t flags);

/* Wrapped for programs linked to libcuda, but handed out unwrapped to those
 * that look them up: the CUDA runtime asks cuCtxGetCurrent about ten times
 * per launch, and the launch itself checks the thread's context. */
static bool lookup_unwrapped(const char *name)
{
	return strcmp(name, "cuCtxGetCurrent") == 0;
}

/* The driver chooses the version; we swap in our wrapper for what it chose,
 * and answer for cuGetProcAddress itself so later lookups come back here. */
static CUresult proc_address(const char *symbol, void **pfn, int version, cuuint64_t flags,
			     CUdriverProcAddressQueryResult *status, bool v2)
{
	ensure_init();
	CUresult rc;
	if (gs__real.cuGetProcAddress_v2)
		rc = gs__real.cuGetProcAddress_v2(symbol, pfn, version, flags, status);
	else if (gs__real.cuGetProcAddress && !v2)
		rc = gs__real.cuGetProcAddress(symbol, pfn, version, flags);
	else
		return CUDA_ERROR_NOT_INITIALIZED;
	if (rc != CUDA_SUCCESS || !pfn || !*pfn || !symbol)
		return rc;
	if (strcmp(symbol, "cuGetProcAddress") == 0)
		*pfn = version >= 12000 ? (void *)cuGetProcAddress_v2 : (void *)cuGetProcAddress;
	else if (!lookup_unwrapped(symbol))
		*pfn = gs__wrap_real(*pfn);
	return rc;
}

EXPORT CUresult cuGetProcAddress_v2(const char *symbol, void **pfn, int version, cuuint64_t flags,
				    CUdriverProcAddressQueryResult *status)
{
	return proc_address(symbol, pfn, version, flags, status, true);
}

EXPORT CUresult cuGetProcAddress(const char *symbol, void **pfn, int version, cuuint64_t flags)
{
	return proc_address(symbol, pfn, version, flags, NULL, false);
}

static void resolve_real_dlsym(void)
{
	if (real_dlsym)
		return;
	void *f = dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.34");
	if (!f)
		f = dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.2.5");
	real_dlsym = (void *(*)(void *, const char *))f;
}

void *gs__dlsym(void *handle, const char *name)
{
	resolve_real_dlsym();
	return real_dlsym ? real_dlsym(handle, name) : NULL;
}

/* Runtimes dlopen libcuda.so.1 and dlsym what they need: hand out wrappers. */
/* Linked into a sanitized test binary, an executable's dlsym would run
 * before the sanitizer's runtime is up: tests call it by another name. */
#ifdef GS_TEST_BUILD
#define GS__DLSYM gs__dlsym_override
#else
#define GS__DLSYM dlsym
#endif

EXPORT void *GS__DLSYM(void *handle, const char *name);
EXPORT void *GS__DLSYM(void *handle, const char *name)
{
	resolve_real_dlsym();
	void *r = real_dlsym ? real_dlsym(handle, name) : NULL;
	if (!r || in_init)
		return r;
	/* Preloaded into every program (gpushare preload), only a driver name
	 * (cu or nvml and a capital: cuInit, nvmlInit_v2) may start the
	 * interposer: a curl_ or cudnn lookup leaves it asleep. */
	if (name[0] == 'c' && name[1] == 'u' && name[2] >= 'A' && name[2] <= 'Z') {
		ensure_init();
		if (strcmp(name, "cuGetProcAddress_v2") == 0)
			return (void *)cuGetProcAddress_v2;
		if (strcmp(name, "cuGetProcAddress") == 0)
			return (void *)cuGetProcAddress;
		void *w = lookup_unwrapped(name) ? NULL : gs__wrap_by_name(name);
		return w ? w : r;
	}
	if (strncmp(name, "nvml", 4) == 0 && name[4] >= 'A' && name[4] <= 'Z') {
		ensure_init();
		return gs__nvml_wrap(name, r);
	}
	return r;
}

static void log_stats(void)
{
	gs__log("context checks that took the slow path: %lu, primary probes: %lu", gs__stats.slow, gs__stats.probes);
	for (size_t i = 0; (gs__wrap_flags & GS__WRAP_TRACE) && i < N_TABLE; i++) {
		/* the table is sorted by name by now: find each entry's counter by its wrapper */
		static const void *const order[] = {
#define GS__WRAPPER(base, sym, ver, params, args) (const void *)sym,
			GS_CUDA_API(GS__WRAPPER, GS__WRAPPER)
		};
		for (size_t k = 0; k < GS__N_CALLS; k++)
			if (order[k] == table[i].wrapper && gs__calls[k])
				gs__log("calls %-44s %lu", table[i].name, gs__calls[k]);
	}
}

static void init_once(void)
{
	resolve_real_dlsym();
	qsort(table, N_TABLE, sizeof table[0], cmp_entry);
	const char *path = secure_getenv("GPUSHARE_REAL_LIBCUDA");
	void *h = dlopen(path && *path ? path : "libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
	if (!h) {
		gs__log("no CUDA driver: %s", dlerror());
	} else {
		for (size_t i = 0; i < N_TABLE; i++)
			*table[i].real = real_dlsym(h, table[i].name);
		gs__real.cuGetProcAddress_v2 = (gs_cuGetProcAddress_v2_t)real_dlsym(h, "cuGetProcAddress_v2");
		gs__real.cuGetProcAddress = (gs_cuGetProcAddress_t)real_dlsym(h, "cuGetProcAddress");
		gs__real.cuMemGetAddressRange_v2 = (CUresult(*)(CUdeviceptr *, size_t *, CUdeviceptr))real_dlsym(
			h, "cuMemGetAddressRange_v2");
	}
	/* gpushare-control decides where the program runs; without one, the
	 * environment and the stores do. A bad value must never mean no limit:
	 * CUDA is refused, and stderr says why. */
	char err[320] = "", asked[GS__MAX_SLICES][128], gpu[64];
	size_t n_asked = 0;
	int placed = 0;
	if (gs__config_requests(asked, GS__MAX_SLICES, &n_asked, err, sizeof err) ||
	    (n_asked < 2 && gs__config_request(asked[0], sizeof asked[0], gpu, sizeof gpu, err, sizeof err)) ||
	    ((placed = n_asked > 1 ? gs__register_all(asked, n_asked) : gs__register(asked[0], gpu)) < 0 &&
	     gs__config_load(&gs__slice, err, sizeof err)) ||
	    (placed < 0 && gs__config_check_slices(err, sizeof err))) {
		gs__slice.refused = true;
		fprintf(stderr, "gpushare: %s; CUDA is refused for this program\n", err);
		gs__log("refused: %s", err);
	}
	gs__swap_setup(gs__client.swap); /* the daemon's answer, or GPUSHARE_SWAP */
	int version = 0;
	if (gs__real.cuDriverGetVersion)
		gs__real.cuDriverGetVersion(&version); /* needs no cuInit */
	if (gs__slice.sm_limited && h && (!real_dlsym(h, "cuGreenCtxCreate") || version < 12040)) {
		/* no green contexts in this driver: MPS's thread percentage, set
		 * before cuInit connects the program to MPS */
		unsigned total = gs__nvml_sm_count(gs__slice.gpu_uuid);
		const char *user = secure_getenv("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE");
		if (total && !(user && *user)) {
			char pct[16];
			unsigned p = (gs__slice.sms * 100 + total - 1) / total;
			snprintf(pct, sizeof pct, "%u", p < 1 ? 1 : p > 100 ? 100 : p);
			setenv("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE", pct, 1);
		}
		const char *set = secure_getenv("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE");
		gs__log("driver %d has no green contexts: SMs limited by CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=%s (under MPS)",
			version, set ? set : "(unknown SM count: not set)");
		gs__slice.sm_limited = false;
	}
	gs__sm_active = gs__slice.sm_limited && !gs__mask_on; /* TPC masks need no green context */
	if (secure_getenv("GPUSHARE_TRACE") && *secure_getenv("GPUSHARE_TRACE"))
		__atomic_or_fetch(&gs__wrap_flags, GS__WRAP_TRACE, __ATOMIC_RELAXED);
	if (secure_getenv("GPUSHARE_LOG"))
		atexit(log_stats);
	gs__trace_setup(); /* GPUSHARE_TRACE_FILE: kernel traces (GPUSHARE_TRACE counts calls) */
	gs__log("slice %s: memory %s%llu MiB, SMs %s%u", gs__slice.name[0] ? gs__slice.name : "none",
		gs__slice.memory_limited ? "" : "unlimited ", (unsigned long long)(gs__slice.memory_limit >> 20),
		gs__slice.sm_limited ? "" : "unlimited ", gs__slice.sms);
}

void gs__init(void)
{
	if (__atomic_load_n(&ready, __ATOMIC_ACQUIRE) || in_init)
		return;
	in_init = true;
	pthread_once(&once, init_once);
	in_init = false;
	__atomic_store_n(&ready, true, __ATOMIC_RELEASE);
}
