/* config.c: which slice this process runs in. With gpushare-control running,
 * the daemon decides (register.c); the environment is only a request, and its
 * limits only narrow what the daemon gives. Without one, from the environment
 * and the slice store that gpushare-smi keeps:
 *   GPUSHARE_SLICE=MIG-<uuid> | <uuid> | MIG-GPU-<gpu-uuid>/<gi>/<ci>
 *   CUDA_VISIBLE_DEVICES naming a soft slice's MIG-<uuid> (as for real MIG);
 *     it is rewritten to the slice's GPU before the driver reads it
 *   GPUSHARE_MEMORY_LIMIT=<size> and/or GPUSHARE_SMS=<count>: an ad-hoc
 *     slice of this process and its children.
 * Kubernetes schedulers' variables (HAMi's CUDA_DEVICE_MEMORY_LIMIT[_<i>],
 * CUDA_DEVICE_SM_LIMIT, KAI's GPU_PORTION; kubeenv.h) narrow whichever of
 * these applies, or make the ad-hoc slice alone: clusters set them beside
 * ours, so they never conflict with a slice; the smallest limit wins.
 * Any malformed value is an error: the caller refuses CUDA rather than run
 * the program without its limits. */
#include "cvd.h"
#include "kubeenv.h"
#include "slice.h"
#include "interposer.h"
#include "smrun.h"
#include "store.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Why a store that was looked in could not be read ("" when every one could). */
static char store_error[384];

/* The stores a process may find its slice in: its own state dir, then the
 * system one (a slice an administrator made for it), unless
 * GPUSHARE_STATE_DIR names the one. */
static int load_store(struct gs_store *st, char *dir, size_t dirlen, int which)
{
	if (which == 0) {
		if (gs_state_dir(dir, dirlen))
			return -ENAMETOOLONG;
	} else if (which == 1 && !secure_getenv("GPUSHARE_STATE_DIR")) {
		snprintf(dir, dirlen, "/var/lib/gpushare");
	} else {
		return -ENOENT;
	}
	if (gs_store_load(dir, st, store_error, sizeof store_error)) {
		gs__log("ignoring %s: %s", dir, store_error);
		return -EINVAL;
	}
	return 0;
}

/* A slice that was asked for and not found: "no such slice", unless a store
 * that may hold it could not be read, which is said instead (and where). */
static int not_found(const char *what, const char *slice, char *err, size_t errlen)
{
	if (store_error[0])
		return gs_fail(err, errlen, -EIO, "%s=\"%.60s\": %s", what, slice,
			       store_error);
	return gs_fail(err, errlen, -ENOENT, "%s=\"%.60s\": no such slice (gpushare-smi -L lists them)", what, slice);
}

/* The slice's SMs and the grid every process of its GPU splits it by. */
static void set_sms(struct gs__slice *s, const struct gs_store_gpu *g, const struct gs_mig_ci *ci)
{
	unsigned start, count;
	gs_smrun_of_ci(&g->layout, ci, &start, &count);
	s->sms = count;
	s->sm_start = start;
	s->sm_grid = gs_smrun_grid(g->sm_unit ? g->sm_unit : 2, &g->layout);
}

unsigned gs__config_oom_wait(const struct gs__slice *s)
{
	static struct gs_store st; /* the refusing thread's: under the caller's lock */
	struct gs_store_gpu *g;
	struct gs_mig_ci *ci;
	if (!s->store_dir[0] || gs_store_load(s->store_dir, &st, NULL, 0) || gs_slice_resolve(&st, s->name, &g, &ci, NULL, 0))
		return 0;
	return ci->oom_wait_s;
}

void gs__config_refresh_sms(struct gs__slice *s)
{
	static struct gs_store st;
	struct gs_store_gpu *g;
	struct gs_mig_ci *ci;
	if (!s || !s->store_dir[0] || gs_store_load(s->store_dir, &st, NULL, 0) ||
	    gs_slice_resolve(&st, s->name, &g, &ci, NULL, 0))
		return; /* gone or unreadable: the SMs it had */
	set_sms(s, g, ci);
}

/* Fills s from compute instance k of GPU g. */
static int from_store(struct gs__slice *s, const char *dir, struct gs_store_gpu *g, const struct gs_mig_ci *ci,
		      char *err, size_t errlen)
{
	const struct gs_mig_gi *gi = NULL;
	for (size_t i = 0; i < g->layout.n_gi; i++)
		if (g->layout.gi[i].id == ci->gi)
			gi = &g->layout.gi[i];
	if (!gi)
		return gs_fail(err, errlen, -EINVAL, "slice store: compute instance without its GPU instance");
	char uuid[GS_UUID_STR + 4];
	gs_store_ci_uuid(g->uuid, ci, uuid);
	if (!gs_store_ci_open_to(ci, getuid()))
		return gs_fail(err, errlen, -EPERM, "slice %s is not open to user %ld", uuid, (long)getuid());
	snprintf(s->name, sizeof s->name, "%s", uuid);
	snprintf(s->gpu_uuid, sizeof s->gpu_uuid, "%s", g->uuid);
	s->memory_limited = s->sm_limited = true;
	s->memory_limit = (uint64_t)gi->memory_mib << 20;
	s->guarantee = (uint64_t)gi->guarantee_mib << 20; /* what a further slice may take (guarantee.c) */
	snprintf(s->store_dir, sizeof s->store_dir, "%s", dir);
	set_sms(s, g, ci);
	/* one ledger per GPU instance, shared by every process of its slices */
	char path[PATH_MAX];
	gs_store_ledger_path(dir, g->uuid, gi, path, sizeof path);
	int rc = gs_ledger_open(path, s->memory_limit, 0600, &s->ledger);
	if (rc)
		return gs_fail(err, errlen, rc, "cannot open the memory ledger %s: %s", path, strerror(-rc));
	/* its limit is the slice layer's to set, under the store's lock: the
	 * store read here may be older than a resize that has set it since */
	return 0;
}

/* The slice GPUSHARE_SLICE names, as the resolver takes it (a bare UUID
 * gets its "MIG-"): 0; 1 for a slice's human name (e is not set); -EINVAL. */
static int slice_name(const char *slice, struct gs_cvd_entry *e, char *err, size_t errlen)
{
	size_t n;
	char why[128];
	if (gs_store_name_valid(slice))
		return 1; /* a slice's human name: the store says which */
	if (gs_cvd_parse(slice, e, 1, &n, why, sizeof why) || n != 1 ||
	    (e->kind != GS_CVD_MIG_UUID && e->kind != GS_CVD_MIG_GPU)) {
		char with[64];
		snprintf(with, sizeof with, "MIG-%s", slice);
		if (gs_cvd_parse(with, e, 1, &n, why, sizeof why) || n != 1)
			return gs_fail(err, errlen, -EINVAL,
				       "GPUSHARE_SLICE=\"%.60s\" is not a slice (a slice's name, MIG-<uuid> or "
				       "MIG-GPU-<uuid>/<gi>/<ci>)", slice);
	}
	return 0;
}

static void entry_name(const struct gs_cvd_entry *e, char *out, size_t len)
{
	if (e->kind == GS_CVD_MIG_GPU)
		snprintf(out, len, "MIG-GPU-%s/%u/%u", e->uuid, e->gi, e->ci);
	else
		snprintf(out, len, "MIG-%s", e->uuid);
}

static const char *env(const char *name)
{
	const char *v = secure_getenv(name);
	return v && *v ? v : NULL;
}

static const char *kube_get(const char *name, void *arg)
{
	GS_UNUSED(arg);
	return secure_getenv(name);
}

/* What the schedulers' variables allow this process on the devices it sees
 * (ndev of them, counted from 0: the slice's GPU alone for a placed
 * program): the narrowest memory (GPU_PORTION of the GPU's memory, as NVML
 * reports it) and SM count (a percentage of the GPU's SMs); 0: no limit.
 * gpushare charges a process's memory on all its devices against one
 * limit, so with several devices the narrowest per-device value is taken
 * for them all: never wider than what the scheduler gave any one. */
static int kube_limits(const char *gpu_uuid, size_t ndev, uint64_t *mem, unsigned *sms, char *err, size_t errlen)
{
	struct gs_kubeenv k;
	int rc = gs_kubeenv_parse(kube_get, NULL, &k, err, errlen);
	*mem = 0;
	*sms = 0;
	if (rc)
		return rc;
	if (k.portion_ppm == 1000000)
		k.portion_ppm = 0; /* the whole GPU: nothing to narrow, nothing to measure */
	uint64_t total = k.portion_ppm ? gs__nvml_total_bytes(gpu_uuid) : 0;
	if (k.portion_ppm && !total)
		return gs_fail(err, errlen, -ENODEV, "GPU_PORTION=\"%.40s\" needs the GPU's memory size, which NVML cannot "
			       "tell", secure_getenv("GPU_PORTION"));
	*mem = gs_kubeenv_memory(&k, ndev, total);
	unsigned pct = gs_kubeenv_sm_percent(&k, ndev);
	if (pct) {
		unsigned all = gs__nvml_sm_count(gpu_uuid);
		if (!all)
			return gs_fail(err, errlen, -ENODEV, "CUDA_DEVICE_SM_LIMIT=%u%% needs the GPU's SM count, which NVML "
				       "cannot tell", pct);
		*sms = all * pct / 100 ? all * pct / 100 : 1;
	}
	if (*mem || *sms)
		gs__log("Kubernetes limits from the environment: memory %llu MiB, SMs %u (%u%%) (0: none)",
			(unsigned long long)(*mem >> 20), *sms, pct);
	return 0;
}

/* How many devices the process sees before the driver tells: the entries of
 * CUDA_VISIBLE_DEVICES, else every index a variable may name. */
static size_t visible_devices(void)
{
	const char *cvd = secure_getenv("CUDA_VISIBLE_DEVICES");
	struct gs_cvd_entry e[GS_CVD_MAX];
	size_t n;
	char why[128];
	if (!cvd || !*cvd || gs_cvd_parse(cvd, e, GS_CVD_MAX, &n, why, sizeof why) || n == 0)
		return GS_KUBEENV_DEVS;
	return n;
}

/* Narrows a slice's process to mem bytes (its own cap, as
 * GPUSHARE_MEMORY_LIMIT in a placed slice) and sms SMs of its run (as
 * GPUSHARE_SMS); 0: not narrowed. Never widens. */
static void narrow(struct gs__slice *s, uint64_t mem, unsigned sms)
{
	if (mem && (!s->memory_limited || mem < s->memory_limit) && (!s->process_limit || mem < s->process_limit))
		s->process_limit = mem;
	if (sms && !s->sm_limited) {
		s->sm_limited = true;
		s->sms = sms;
		s->sm_start = 0;
		s->sm_grid = sms;
	} else if (sms && sms < s->sms) {
		s->sms = sms;
	}
}

/* The slice a CVD entry names, when exactly one does. */
static bool find_slice(struct gs_store *st, const struct gs_cvd_entry *e, struct gs_store_gpu **gpu,
		       const struct gs_mig_ci **ci)
{
	char name[96];
	entry_name(e, name, sizeof name);
	struct gs_mig_ci *c;
	if (gs_slice_resolve(st, name, gpu, &c, NULL, 0))
		return false;
	*ci = c;
	return true;
}

static int explicit_limits(struct gs__slice *s, const char *mem, const char *sms, uint64_t kmem, unsigned ksms,
			   char *err, size_t errlen)
{
	if (mem) {
		uint64_t b;
		if (gs_parse_size(mem, &b) || b == 0)
			return gs_fail(err, errlen, -EINVAL,
				       "GPUSHARE_MEMORY_LIMIT=\"%.40s\" is not a size (examples: 8G, 500M, 1073741824)", mem);
		s->memory_limited = true;
		s->memory_limit = b;
	}
	if (sms) {
		unsigned long long n;
		if (gs_parse_uint(sms, 4096, &n) || n == 0)
			return gs_fail(err, errlen, -EINVAL, "GPUSHARE_SMS=\"%.40s\" is not an SM count (1 to 4096)", sms);
		s->sm_limited = true;
		s->sms = (unsigned)n;
		s->sm_start = 0;
		s->sm_grid = s->sms;
	}
	/* the schedulers' limits: the smaller of theirs and ours */
	if (kmem && (!s->memory_limited || kmem < s->memory_limit)) {
		s->memory_limited = true;
		s->memory_limit = kmem;
	}
	if (ksms && (!s->sm_limited || ksms < s->sms)) {
		s->sm_limited = true;
		s->sms = s->sm_grid = ksms;
		s->sm_start = 0;
	}
	snprintf(s->name, sizeof s->name, "environment");
	/* a ledger for this process and the children it forks, gone with them */
	char path[PATH_MAX], dir[PATH_MAX - 64];
	const char *tmp = secure_getenv("TMPDIR");
	snprintf(dir, sizeof dir, "%s", tmp && *tmp ? tmp : "/tmp");
	snprintf(path, sizeof path, "%s/gpushare-ledger-%ld-%lu", dir, (long)getpid(), (unsigned long)gs_now_ns());
	int rc = gs_ledger_open(path, s->memory_limited ? s->memory_limit : UINT64_MAX, 0600, &s->ledger);
	unlink(path);
	if (rc)
		return gs_fail(err, errlen, rc, "cannot create a memory ledger in %s: %s", dir, strerror(-rc));
	return 0;
}

int gs__config_request(char *out, size_t len, char *gpu, size_t gpulen, char *err, size_t errlen)
{
	const char *slice = env("GPUSHARE_SLICE"), *cvd = env("CUDA_VISIBLE_DEVICES");
	struct gs_cvd_entry e[GS_CVD_MAX];
	snprintf(out, len, "-");
	snprintf(gpu, gpulen, "-");
	if (slice) {
		if (env("GPUSHARE_MEMORY_LIMIT") || env("GPUSHARE_SMS"))
			return gs_fail(err, errlen, -EINVAL, "give GPUSHARE_SLICE or GPUSHARE_MEMORY_LIMIT/GPUSHARE_SMS, not both");
		int rc = slice_name(slice, &e[0], err, errlen);
		if (rc == 1)
			snprintf(out, len, "%s", slice);
		else if (!rc)
			entry_name(&e[0], out, len);
		return rc < 0 ? rc : 0;
	}
	if (cvd) {
		size_t n, mig = 0, hit = 0;
		char why[128];
		gs_cvd_parse(cvd, e, GS_CVD_MAX, &n, why, sizeof why);
		/* the GPU it would run on first: the one whose remainder it asks for */
		if (n && e[0].kind == GS_CVD_INDEX)
			snprintf(gpu, gpulen, "%u", e[0].index);
		else if (n && e[0].kind == GS_CVD_GPU_UUID)
			snprintf(gpu, gpulen, "GPU-%s", e[0].uuid);
		for (size_t i = 0; i < n; i++)
			if (e[i].kind == GS_CVD_MIG_UUID || e[i].kind == GS_CVD_MIG_GPU)
				mig++, hit = i;
		if (mig == 1) {
			/* a hardware MIG device, or a gpushare slice: the daemon knows */
			out[0] = '?';
			entry_name(&e[hit], out + 1, len - 1);
		}
	}
	return 0;
}

int gs__config_requests(char out[][128], size_t max, size_t *n, char *err, size_t errlen)
{
	const char *cvd = env("CUDA_VISIBLE_DEVICES");
	struct gs_cvd_entry e[GS_CVD_MAX];
	size_t ne = 0, mig = 0;
	char why[128];
	*n = 0;
	if (env("GPUSHARE_SLICE") || !cvd || gs_cvd_parse(cvd, e, GS_CVD_MAX, &ne, why, sizeof why))
		return 0;
	for (size_t i = 0; i < ne; i++)
		mig += e[i].kind == GS_CVD_MIG_UUID || e[i].kind == GS_CVD_MIG_GPU;
	if (mig < 2)
		return 0; /* one request, gs__config_request's */
	if (mig != ne)
		return gs_fail(err, errlen, -EINVAL,
			       "CUDA_VISIBLE_DEVICES=\"%.120s\" names slices and whole GPUs: a program given gpushare "
			       "slices runs in slices alone (a whole GPU beside them would not be confined); name one "
			       "slice of each GPU (gpushare-smi -L lists them)", cvd);
	if (mig > max)
		return gs_fail(err, errlen, -E2BIG, "CUDA_VISIBLE_DEVICES names %zu slices: a program runs in at most %zu",
			       mig, max);
	if (env("GPUSHARE_MEMORY_LIMIT") || env("GPUSHARE_SMS"))
		return gs_fail(err, errlen, -EINVAL,
			       "CUDA_VISIBLE_DEVICES names gpushare slices: give slices or "
			       "GPUSHARE_MEMORY_LIMIT/GPUSHARE_SMS, not both");
	for (size_t i = 0; i < ne; i++) {
		out[i][0] = '?'; /* a slice only if it is one (a hardware MIG device is not) */
		entry_name(&e[i], out[i] + 1, sizeof out[i] - 1);
	}
	*n = ne;
	return 0;
}

int gs__config_check_slices(char *err, size_t errlen)
{
	char list[GS__MAX_SLICES * 48 + 8] = "";
	size_t len = 0;
	for (unsigned i = 0; i < gs__n_slices; i++) {
		const struct gs__slice *a = gs__slice_at(i);
		for (unsigned k = 0; k < i; k++) {
			const struct gs__slice *b = gs__slice_at(k);
			if (strcasecmp(a->gpu_uuid, b->gpu_uuid) == 0)
				return gs_fail(err, errlen, -EINVAL,
					       "slices %.60s and %.60s are both of GPU %.48s: a program has at most one "
					       "slice of each GPU (one slice of that GPU, or a slice of another GPU, would do)",
					       b->name, a->name, a->gpu_uuid);
		}
		len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? "," : "", a->gpu_uuid);
	}
	/* the driver sees each slice's GPU in its slice's place */
	if (gs__n_slices > 1)
		setenv("CUDA_VISIBLE_DEVICES", list, 1);
	return 0;
}

int gs__config_placed(struct gs__slice *s, struct gs__placement *pl, char *err, size_t errlen)
{
	memset(s, 0, sizeof *s);
	s->conn = -1;
	int rc = gs_ledger_open_fd(pl->ledger_fd, &s->ledger);
	close(pl->ledger_fd);
	pl->ledger_fd = -1;
	if (rc)
		return gs_fail(err, errlen, rc, "the memory ledger gpushare-control passed is unusable: %s", strerror(-rc));
	/* its slot known now, so that a hold the daemon set before admitting it
	 * (a memory turn it does not hold) holds its first charge, its context's */
	gs_ledger_held(s->ledger);
	snprintf(s->name, sizeof s->name, "%s", pl->slice);
	snprintf(s->gpu_uuid, sizeof s->gpu_uuid, "%s", pl->gpu);
	snprintf(s->store_dir, sizeof s->store_dir, "%s", pl->store_dir);
	s->remainder = strcmp(pl->slice, "-") == 0;
	s->placed = true;
	s->guarantee = pl->guarantee;
	s->memory_limited = true;
	s->memory_limit = pl->memory;
	s->sm_limited = pl->sms > 0;
	s->sms = pl->sms;
	s->sm_start = pl->sm_start;
	s->sm_grid = pl->sm_grid;
	/* the environment narrows, never widens */
	const char *mem = env("GPUSHARE_MEMORY_LIMIT"), *sms = env("GPUSHARE_SMS");
	if (mem) {
		uint64_t b;
		if (gs_parse_size(mem, &b) || b == 0)
			return gs_fail(err, errlen, -EINVAL,
				       "GPUSHARE_MEMORY_LIMIT=\"%.40s\" is not a size (examples: 8G, 500M, 1073741824)", mem);
		if (b < s->memory_limit)
			s->process_limit = b;
	}
	if (sms) {
		unsigned long long n;
		if (gs_parse_uint(sms, 4096, &n) || n == 0)
			return gs_fail(err, errlen, -EINVAL, "GPUSHARE_SMS=\"%.40s\" is not an SM count (1 to 4096)", sms);
		if (!s->sm_limited) {
			s->sm_limited = true;
			s->sms = (unsigned)n;
			s->sm_grid = s->sms;
		} else if (n < s->sms) {
			s->sms = (unsigned)n;
		}
	}
	/* the schedulers' variables narrow the same way; the program sees one
	 * device, its slice's GPU */
	uint64_t kmem;
	unsigned ksms;
	if ((rc = kube_limits(s->gpu_uuid, 1, &kmem, &ksms, err, errlen)))
		return rc;
	narrow(s, kmem, ksms);
	if (!s->sm_limited && gs__slice_pct(s) > 0 && gs__slice_pct(s) < 100 && !gs__client.mps) {
		/* outside every slice, on a GPU no slice holds SMs of (plain MPS,
		 * as a cluster's MPS daemon runs it): the server's percentage is
		 * of the whole GPU, carved as a slice's (ctx.c) */
		unsigned all = gs__nvml_sm_count(s->gpu_uuid);
		if (all) {
			s->sm_limited = true;
			s->sms = s->sm_grid = all;
			s->sm_start = 0;
		}
	}
	/* a slice's program sees its slice's GPU alone, as a MIG device's does;
	 * one in the remainder the GPU it was placed on, whose remainder it is
	 * charged to (no other would be counted) */
	setenv("CUDA_VISIBLE_DEVICES", s->gpu_uuid, 1);
	return 0;
}

/* Moved to another slice by gpushare-control's migrate (register.c's
 * watcher, while the driver holds the program's calls): its ledger, GPU,
 * limit, guarantee and SMs from now, narrowed by GPUSHARE_SMS as at the
 * start. The ledger it leaves stays mapped: a thread may be at its charge
 * now (held there, it charges the new one once let go). Takes
 * pl->ledger_fd. */
int gs__config_moved(struct gs__slice *s, struct gs__placement *pl, char *err, size_t errlen)
{
	struct gs_ledger *l;
	int rc = gs_ledger_open_fd(pl->ledger_fd, &l);
	close(pl->ledger_fd);
	pl->ledger_fd = -1;
	if (rc)
		return gs_fail(err, errlen, rc, "the memory ledger gpushare-control passed is unusable: %s", strerror(-rc));
	unsigned long long n = 0;
	const char *sms = env("GPUSHARE_SMS");
	if (sms && (gs_parse_uint(sms, 4096, &n) || n == 0))
		n = 0;
	snprintf(s->name, sizeof s->name, "%s", pl->slice);
	snprintf(s->gpu_uuid, sizeof s->gpu_uuid, "%s", pl->gpu);
	s->remainder = strcmp(pl->slice, "-") == 0;
	s->guarantee = pl->guarantee;
	s->memory_limit = pl->memory;
	s->sm_start = pl->sm_start;
	s->sm_grid = pl->sm_grid;
	s->sms = pl->sms && n && n < pl->sms ? (unsigned)n : pl->sms;
	__atomic_store_n(&s->ledger, l, __ATOMIC_RELEASE);
	return 0;
}

/* A slice found in a store, narrowed by the schedulers' limits: rc as it was. */
static int narrowed(int rc, struct gs__slice *s, uint64_t kmem, unsigned ksms)
{
	if (!rc)
		narrow(s, kmem, ksms);
	return rc;
}

/* CUDA_VISIBLE_DEVICES naming several slices of the store in dir: each
 * entry a slice (gs__config_requests refuses a mix), each into its place
 * (gs__slice, then gs__more), narrowed alike. */
static int several(struct gs_store *st, const char *dir, const struct gs_cvd_entry *e, size_t n, uint64_t kmem,
		   unsigned ksms, char *err, size_t errlen)
{
	char req[GS__MAX_SLICES][128];
	size_t nreq;
	int rc = gs__config_requests(req, GS__MAX_SLICES, &nreq, err, errlen);
	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++) {
		struct gs_store_gpu *g;
		const struct gs_mig_ci *ci;
		if (!find_slice(st, &e[i], &g, &ci)) {
			char name[96];
			entry_name(&e[i], name, sizeof name);
			return gs_fail(err, errlen, -ENOENT, "CUDA_VISIBLE_DEVICES names %s, which is no slice of %s "
				       "(gpushare-smi -L lists them); CUDA is refused for all of the program's slices",
				       name, dir);
		}
		struct gs__slice *s = gs__slice_at((unsigned)i);
		if (i)
			memset(s, 0, sizeof *s);
		s->conn = -1;
		if ((rc = narrowed(from_store(s, dir, g, ci, err, errlen), s, kmem, ksms)))
			return rc;
		gs__n_slices = (unsigned)i + 1;
	}
	return 0;
}

int gs__config_load(struct gs__slice *s, char *err, size_t errlen)
{
	memset(s, 0, sizeof *s);
	store_error[0] = '\0';
	const char *slice = secure_getenv("GPUSHARE_SLICE");
	const char *mem = secure_getenv("GPUSHARE_MEMORY_LIMIT"), *sms = secure_getenv("GPUSHARE_SMS");
	const char *cvd = secure_getenv("CUDA_VISIBLE_DEVICES");
	if (slice && !*slice)
		slice = NULL;
	if (mem && !*mem)
		mem = NULL;
	if (sms && !*sms)
		sms = NULL;
	if (slice && (mem || sms))
		return gs_fail(err, errlen, -EINVAL, "give GPUSHARE_SLICE or GPUSHARE_MEMORY_LIMIT/GPUSHARE_SMS, not both");

	/* read first: a malformed value refuses CUDA whatever else is given */
	uint64_t kmem;
	unsigned ksms;
	int krc = kube_limits("", visible_devices(), &kmem, &ksms, err, errlen);
	if (krc)
		return krc;

	static struct gs_store st;
	char dir[PATH_MAX - 128];
	if (slice) {
		struct gs_cvd_entry e;
		int rc = slice_name(slice, &e, err, errlen);
		if (rc < 0)
			return rc;
		for (int which = 0; which < 2; which++) {
			struct gs_store_gpu *g = NULL;
			const struct gs_mig_ci *ci = NULL;
			if (load_store(&st, dir, sizeof dir, which))
				continue;
			if (rc == 1) {
				const struct gs_store_gpu *named;
				if ((ci = gs_store_find_name(&st, slice, &named)))
					g = (struct gs_store_gpu *)named;
			} else if (!find_slice(&st, &e, &g, &ci)) {
				ci = NULL;
			}
			if (ci)
				return narrowed(from_store(s, dir, g, ci, err, errlen), s, kmem, ksms);
		}
		return not_found("GPUSHARE_SLICE", slice, err, errlen);
	}
	if (cvd) {
		struct gs_cvd_entry e[GS_CVD_MAX];
		size_t n;
		char why[128];
		gs_cvd_parse(cvd, e, GS_CVD_MAX, &n, why, sizeof why);
		for (int which = 0; which < 2; which++) {
			if (load_store(&st, dir, sizeof dir, which))
				continue;
			int hit = -1, hits = 0;
			struct gs_store_gpu *g = NULL;
			const struct gs_mig_ci *ci = NULL;
			for (size_t i = 0; i < n; i++) {
				struct gs_store_gpu *g2;
				const struct gs_mig_ci *c2;
				if ((e[i].kind == GS_CVD_MIG_UUID || e[i].kind == GS_CVD_MIG_GPU) &&
				    find_slice(&st, &e[i], &g2, &c2)) {
					hit = (int)i;
					hits++;
					g = g2;
					ci = c2;
				}
			}
			if (hits > 1)
				return several(&st, dir, e, n, kmem, ksms, err, errlen);
			if (hits == 1 && (mem || sms))
				return gs_fail(err, errlen, -EINVAL,
					       "CUDA_VISIBLE_DEVICES names a gpushare slice: give a slice or "
					       "GPUSHARE_MEMORY_LIMIT/GPUSHARE_SMS, not both");
			if (hits == 1) {
				/* the driver sees the slice's GPU in the slice's place */
				char rewritten[1024] = "";
				size_t len = 0;
				const char *p = cvd;
				for (int i = 0; *p; i++) {
					size_t tl = strcspn(p, ",");
					len += (size_t)snprintf(rewritten + len, sizeof rewritten - len, "%s%.*s",
								i ? "," : "", i == hit ? (int)strlen(g->uuid) : (int)tl,
								i == hit ? g->uuid : p);
					p += tl;
					if (*p == ',')
						p++;
				}
				setenv("CUDA_VISIBLE_DEVICES", rewritten, 1);
				return narrowed(from_store(s, dir, g, ci, err, errlen), s, kmem, ksms);
			}
		}
	}
	if (mem || sms || kmem || ksms)
		return explicit_limits(s, mem, sms, kmem, ksms, err, errlen);
	return 0;
}
