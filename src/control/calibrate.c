/* calibrate.c: measures a GPU's TPC map (which SMs each bit of a launch's
 * disabled-TPC mask stands for) once per GPU and driver, and keeps it in the
 * state directory. The measuring runs in a forked child, outside NVIDIA MPS,
 * so that a driver that hangs or crashes on it cannot take the daemon down.
 *
 * The method is the one that cannot hang a GPU (h200-findings.md, per-launch
 * TPC masks): a launch whose mask leaves no live TPC never runs, so each
 * launch here disables ONE bit (every other bit enabled) and the SMs whose
 * %smid disappear against an unmasked launch are that bit's; the only launch
 * with fewer bits enabled is a confirmation on bits already found live. */
#include "control.h"
#include "gs-cuda.h"
#include "tpcmask.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define SM_WORDS (GS_TPC_MAX_SMS / 64)
#define TMD_VERSION_OFF 72
#define TMD_HOPPER 0x40
#define TMD_MASK_OFF 304
#define TMD_ENABLE_BIT 0x80000000u
#define CB_PRE_UPLOAD 1
#define BLOCKS_PER_SM 8
#define THREADS 64
#define CONFIRM_BITS 3 /* the first and the last few live bits */
#define TEXT_MAX 16384

/* Each block's %smid into out[blockIdx.x], after spinning ~20000 cycles so
 * that the blocks of a launch spread over every SM it may use. */
static const char smid_ptx[] =
	".version 7.0\n"
	".target sm_70\n"
	".address_size 64\n"
	"\n"
	".visible .entry gs_smid(.param .u64 out)\n"
	"{\n"
	"\t.reg .pred %p<3>;\n"
	"\t.reg .b32 %r<4>;\n"
	"\t.reg .b64 %rd<8>;\n"
	"\n"
	"\tmov.u32 %r1, %smid;\n"
	"\tmov.u64 %rd1, %clock64;\n"
	"SPIN:\n"
	"\tmov.u64 %rd2, %clock64;\n"
	"\tsub.s64 %rd3, %rd2, %rd1;\n"
	"\tsetp.lt.s64 %p1, %rd3, 20000;\n"
	"\t@%p1 bra SPIN;\n"
	"\tmov.u32 %r2, %tid.x;\n"
	"\tsetp.ne.u32 %p2, %r2, 0;\n"
	"\t@%p2 bra DONE;\n"
	"\tld.param.u64 %rd4, [out];\n"
	"\tcvta.to.global.u64 %rd5, %rd4;\n"
	"\tmov.u32 %r3, %ctaid.x;\n"
	"\tmul.wide.u32 %rd6, %r3, 4;\n"
	"\tadd.s64 %rd7, %rd5, %rd6;\n"
	"\tst.global.u32 [%rd7], %r1;\n"
	"DONE:\n"
	"\tret;\n"
	"}\n";
/* the simulated driver's module of the same kernel (it fills the array with
 * the SMs the launch could use) */
static const char smid_sim[] = "gpushare-sim-module\nkernel gs_smid 5\n";

/* ---- the child ---- */

/* The driver's functions, from the one list. */
#define CAL_PTR(base, sym, ver, params, args) CUresult(*sym) params;
struct driver {
	GS_CUDA_API(CAL_PTR, CAL_PTR)
};

/* What the launch callback writes (the child is single-threaded: the
 * driver runs the callback in the launching thread). */
static struct {
	bool masked;
	uint32_t disabled[GS_TPC_WORDS];
	int version;
	unsigned calls;
} cb;

static void launch_cb(void *userdata, int domain, int cbid, const void *params)
{
	(void)userdata;
	if (domain != GS_CU_LAUNCH_CB_DOMAIN || cbid != CB_PRE_UPLOAD || !params)
		return;
	void *const *p = params;
	if ((uintptr_t)p[0] < 5 * sizeof(void *) || !p[4])
		return;
	unsigned char *tmd = p[4];
	cb.calls++;
	cb.version = tmd[TMD_VERSION_OFF];
	if (!cb.masked || cb.version != TMD_HOPPER)
		return;
	memcpy(tmd + TMD_MASK_OFF, cb.disabled, sizeof cb.disabled);
	uint32_t w0;
	memcpy(&w0, tmd, sizeof w0);
	w0 |= TMD_ENABLE_BIT;
	memcpy(tmd, &w0, sizeof w0);
}

struct gpu {
	struct driver d;
	CUfunction fn;
	CUdeviceptr out;
	uint32_t *ids;
	unsigned sms, blocks;
};

static const char *cu_name(const struct driver *d, CUresult rc)
{
	const char *s = NULL;
	if (d->cuGetErrorName && d->cuGetErrorName(rc, &s) == CUDA_SUCCESS && s)
		return s;
	return "an unknown error";
}

#define CU_TRY(g, call, err, errlen)                                                                              \
	do {                                                                                                       \
		CUresult cu_rc_ = (call);                                                                          \
		if (cu_rc_ != CUDA_SUCCESS)                                                                        \
			return gs_fail(err, errlen, -EIO, "%s failed: %s (%d)", #call, cu_name(&(g)->d, cu_rc_),   \
				       cu_rc_);                                                                    \
	} while (0)

/* One launch of the %smid kernel with a disabled-TPC mask (NULL: none); the
 * SMs its blocks ran on into seen. */
static int run_once(struct gpu *g, const uint32_t *disabled, uint64_t seen[SM_WORDS], char *err, size_t errlen)
{
	cb.masked = disabled != NULL;
	if (disabled)
		memcpy(cb.disabled, disabled, sizeof cb.disabled);
	CU_TRY(g, g->d.cuMemsetD8_v2(g->out, 0xff, (size_t)g->blocks * 4), err, errlen);
	void *params[] = { &g->out };
	CU_TRY(g, g->d.cuLaunchKernel(g->fn, g->blocks, 1, 1, THREADS, 1, 1, 0, NULL, params, NULL), err, errlen);
	CU_TRY(g, g->d.cuCtxSynchronize(), err, errlen);
	CU_TRY(g, g->d.cuMemcpyDtoH_v2(g->ids, g->out, (size_t)g->blocks * 4), err, errlen);
	cb.masked = false;
	memset(seen, 0, SM_WORDS * sizeof *seen);
	for (unsigned i = 0; i < g->blocks; i++) {
		if (g->ids[i] >= g->sms)
			return gs_fail(err, errlen, -EPROTO,
				       "a block reported SM %u, beyond the %u SMs the GPU has (%%smid virtualized: under "
				       "NVIDIA MPS?)", g->ids[i], g->sms);
		seen[g->ids[i] / 64] |= 1ull << (g->ids[i] % 64);
	}
	return 0;
}

static bool set_has(const uint64_t *s, unsigned i)
{
	return (s[i / 64] >> (i % 64)) & 1;
}

/* The SMs an unmasked launch runs on must be all the GPU has. */
static int baseline(struct gpu *g, uint64_t all[SM_WORDS], char *err, size_t errlen)
{
	memset(all, 0, SM_WORDS * sizeof *all);
	unsigned got = 0;
	for (int attempt = 0; attempt < 5; attempt++) {
		uint64_t seen[SM_WORDS];
		int rc = run_once(g, NULL, seen, err, errlen);
		if (rc)
			return rc;
		if (attempt == 0) {
			if (!cb.calls)
				return gs_fail(err, errlen, -ENOTSUP, "the launch-descriptor callback did not run");
			if (cb.version != TMD_HOPPER)
				return gs_fail(err, errlen, -ENOTSUP, "unknown task descriptor version 0x%02x",
					       (unsigned)cb.version);
		}
		got = 0;
		for (unsigned w = 0; w < SM_WORDS; w++)
			got += (unsigned)__builtin_popcountll(all[w] |= seen[w]);
		if (got == g->sms)
			return 0;
	}
	return gs_fail(err, errlen, -EPROTO, "an unmasked launch of %u blocks ran on %u of the GPU's %u SMs",
		       g->blocks, got, g->sms);
}

/* Each bit disabled alone: the SMs missing against all[] in two launches. */
static int scan(struct gpu *g, const uint64_t all[SM_WORDS], struct gs_tpc_calib *c, char *err, size_t errlen)
{
	for (unsigned b = 0; b < GS_TPC_BITS; b++) {
		uint32_t disabled[GS_TPC_WORDS] = { 0 };
		disabled[b / 32] = 1u << (b % 32);
		uint64_t missing[SM_WORDS];
		memcpy(missing, all, sizeof missing);
		for (int k = 0; k < 2; k++) {
			uint64_t seen[SM_WORDS];
			char e[256];
			int rc = run_once(g, disabled, seen, e, sizeof e);
			if (rc)
				return gs_fail(err, errlen, rc, "with TPC bit %u disabled: %s", b, e);
			for (unsigned w = 0; w < SM_WORDS; w++)
				missing[w] &= ~seen[w];
		}
		memcpy(c->sms[b], missing, sizeof missing);
	}
	return 0;
}

/* A launch on the first and last few live bits alone runs on their SMs. */
static int confirm(struct gpu *g, const struct gs_tpc_calib *c, char *err, size_t errlen)
{
	uint32_t all[GS_TPC_WORDS], first[GS_TPC_WORDS], en[GS_TPC_WORDS] = { 0 };
	gs_tpc_bits_all(c, all);
	gs_tpc_bits_first(c, all, CONFIRM_BITS, first);
	unsigned live = gs_tpc_live_count(c), k = 0;
	for (unsigned b = 0; b < GS_TPC_BITS; b++)
		if ((all[b / 32] >> (b % 32)) & 1 && k++ >= (live > CONFIRM_BITS ? live - CONFIRM_BITS : 0))
			en[b / 32] |= 1u << (b % 32);
	uint64_t want[SM_WORDS] = { 0 }, got[SM_WORDS] = { 0 };
	for (unsigned w = 0; w < GS_TPC_WORDS; w++)
		en[w] |= first[w];
	/* never a mask without a live TPC: the GPU would hang on it */
	if (!gs_tpc_any_live(c, en))
		return gs_fail(err, errlen, -EPROTO, "no live TPC to confirm the map with");
	for (unsigned b = 0; b < GS_TPC_BITS; b++)
		if ((en[b / 32] >> (b % 32)) & 1)
			for (unsigned w = 0; w < SM_WORDS; w++)
				want[w] |= c->sms[b][w];
	uint32_t disabled[GS_TPC_WORDS];
	gs_tpc_disabled(en, disabled);
	for (int attempt = 0; attempt < 3; attempt++) {
		uint64_t seen[SM_WORDS];
		char e[256];
		int rc = run_once(g, disabled, seen, e, sizeof e);
		if (rc)
			return gs_fail(err, errlen, rc, "confirming the map: %s", e);
		for (unsigned sm = 0; sm < g->sms; sm++)
			if (set_has(seen, sm) && !set_has(want, sm))
				return gs_fail(err, errlen, -EPROTO,
					       "a launch on TPC bits %08x %08x %08x %08x alone ran on SM %u, not one of "
					       "theirs", en[0], en[1], en[2], en[3], sm);
		bool every = true;
		for (unsigned w = 0; w < SM_WORDS; w++)
			every &= (got[w] |= seen[w]) == want[w];
		if (every)
			return 0;
	}
	return gs_fail(err, errlen, -EPROTO, "a launch on TPC bits %08x %08x %08x %08x did not reach all their %u SMs",
		       en[0], en[1], en[2], en[3], gs_tpc_sm_count(c, en));
}

static void driver_name(const struct driver *d, bool sim, char *out, size_t len)
{
	int v = 0;
	if (d->cuDriverGetVersion)
		d->cuDriverGetVersion(&v);
	if (sim || control_tpc_driver_proc(out, len))
		snprintf(out, len, "%s-%d", sim ? "sim" : "cuda", v);
}

/* The environment of a program that must not join NVIDIA MPS nor gpushare:
 * what describes a simulated GPU stays, as it is the hardware here. */
static void child_env(const char *mps_dir)
{
	char names[64][64];
	size_t n = 0;
	for (char **e = environ; *e && n < GS_ARRAY_LEN(names); e++) {
		const char *eq = strchr(*e, '=');
		size_t len = eq ? (size_t)(eq - *e) : strlen(*e);
		if (strncmp(*e, "GPUSHARE_", 9) || len >= sizeof names[0] || !strncmp(*e + 9, "SIM", 3))
			continue;
		memcpy(names[n], *e, len);
		names[n++][len] = '\0';
	}
	for (size_t i = 0; i < n; i++)
		unsetenv(names[i]);
	unsetenv("LD_PRELOAD");
	unsetenv("CUDA_VISIBLE_DEVICES");
	unsetenv("CUDA_MPS_PIPE_DIRECTORY");
	setenv("CUDA_MPS_PIPE_DIRECTORY", mps_dir, 1);
}

static int bind_driver(void *h, struct driver *d)
{
#define CAL_BIND(base, sym, ver, params, args) d->sym = (CUresult(*) params)dlsym(h, #sym);
	GS_CUDA_API(CAL_BIND, CAL_BIND)
#undef CAL_BIND
	if (!d->cuDeviceGetUuid_v2)
		d->cuDeviceGetUuid_v2 = d->cuDeviceGetUuid;
	return d->cuInit && d->cuDeviceGetCount && d->cuDeviceGet && d->cuDeviceGetUuid_v2 && d->cuDeviceGetAttribute &&
			       d->cuDevicePrimaryCtxRetain && d->cuCtxSetCurrent && d->cuModuleLoadData &&
			       d->cuModuleGetFunction && d->cuMemAlloc_v2 && d->cuMemsetD8_v2 && d->cuMemcpyDtoH_v2 &&
			       d->cuLaunchKernel && d->cuCtxSynchronize && d->cuGetExportTable
		       ? 0
		       : -ENOENT;
}

/* Opens the GPU named by uuid (the ordinal tried first), loads the kernel
 * and subscribes the launch callback. */
static int open_gpu(struct gpu *g, bool sim, unsigned ordinal, const char *uuid, char *err, size_t errlen)
{
	CU_TRY(g, g->d.cuInit(0), err, errlen);
	int count = 0;
	CU_TRY(g, g->d.cuDeviceGetCount(&count), err, errlen);
	CUdevice dev = -1;
	for (int k = -1; k < count && dev < 0; k++) {
		int i = k < 0 ? (int)ordinal : k;
		CUdevice d;
		CUuuid u;
		if (i >= count || g->d.cuDeviceGet(&d, i) || g->d.cuDeviceGetUuid_v2(&u, d))
			continue;
		struct gs_uuid gu;
		char s[GS_UUID_STR];
		memcpy(gu.b, u.bytes, 16);
		gs_uuid_format(&gu, s);
		if (strncasecmp(uuid, "GPU-", 4) == 0 && strcasecmp(uuid + 4, s) == 0)
			dev = d;
	}
	if (dev < 0)
		return gs_fail(err, errlen, -ENODEV, "none of the driver's %d devices is %s", count, uuid);
	int sms = 0;
	CU_TRY(g, g->d.cuDeviceGetAttribute(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev), err, errlen);
	if (sms <= 0 || sms > GS_TPC_MAX_SMS)
		return gs_fail(err, errlen, -ENOTSUP, "the GPU reports %d SMs (gpushare knows up to %d)", sms,
			       GS_TPC_MAX_SMS);
	g->sms = (unsigned)sms;
	g->blocks = BLOCKS_PER_SM * g->sms;
	CUcontext ctx;
	CU_TRY(g, g->d.cuDevicePrimaryCtxRetain(&ctx, dev), err, errlen);
	CU_TRY(g, g->d.cuCtxSetCurrent(ctx), err, errlen);
	CUmodule mod;
	CU_TRY(g, g->d.cuModuleLoadData(&mod, sim ? smid_sim : smid_ptx), err, errlen);
	CU_TRY(g, g->d.cuModuleGetFunction(&g->fn, mod, "gs_smid"), err, errlen);
	CU_TRY(g, g->d.cuMemAlloc_v2(&g->out, (size_t)g->blocks * 4), err, errlen);
	if (!(g->ids = calloc(g->blocks, 4)))
		return gs_fail(err, errlen, -ENOMEM, "no memory");
	static const CUuuid table_id = GS_CU_LAUNCH_CB_TABLE_ID;
	const void **table = NULL;
	CUresult trc = g->d.cuGetExportTable((const void **)&table, &table_id);
	if (trc != CUDA_SUCCESS)
		return gs_fail(err, errlen, -ENOTSUP, "the driver has no launch-descriptor callback (its table: %s)",
			       cu_name(&g->d, trc));
	if (!table || (uintptr_t)table[0] < (GS_CU_LAUNCH_CB_ENABLE + 1) * sizeof(void *) ||
	    (uintptr_t)table[0] > 4096)
		return gs_fail(err, errlen, -ENOTSUP, "the driver's launch-callback table is not of the shape gpushare knows");
	int (*subscribe)(uint32_t *, gs_cu_launch_cb, void *) =
		(int (*)(uint32_t *, gs_cu_launch_cb, void *))table[GS_CU_LAUNCH_CB_SUBSCRIBE];
	int (*enable)(uint32_t, uint32_t, int, int) = (int (*)(uint32_t, uint32_t, int, int))table[GS_CU_LAUNCH_CB_ENABLE];
	uint32_t handle = 0;
	int rs = subscribe(&handle, launch_cb, NULL), re = rs ? 0 : enable(1, handle, GS_CU_LAUNCH_CB_DOMAIN, CB_PRE_UPLOAD);
	if (rs || re)
		return gs_fail(err, errlen, -ENOTSUP, "the launch callback: subscribe %d, enable %d", rs, re);
	return 0;
}

static int measure(const char *lib, unsigned ordinal, const char *uuid, struct gs_tpc_calib *c, char *err,
		   size_t errlen)
{
	void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return gs_fail(err, errlen, -ENOENT, "cannot load %s: %s", lib, dlerror());
	static struct gpu g;
	if (bind_driver(h, &g.d))
		return gs_fail(err, errlen, -ENOENT, "%s lacks functions of the CUDA driver", lib);
	bool sim = dlsym(h, "gpushare_simulated") != NULL;
	int rc = open_gpu(&g, sim, ordinal, uuid, err, errlen);
	uint64_t all[SM_WORDS];
	if (!rc)
		rc = baseline(&g, all, err, errlen);
	memset(c, 0, sizeof *c);
	c->sm_count = g.sms;
	c->tmd_version = (unsigned)cb.version;
	driver_name(&g.d, sim, c->driver, sizeof c->driver);
	char why[256] = "";
	/* a map that does not hold (a block absent by chance from both launches
	 * of a bit) is measured once more */
	for (int attempt = 0; !rc && attempt < 2; attempt++) {
		if ((rc = scan(&g, all, c, err, errlen)))
			break;
		if (!gs_tpc_calib_check(c, why, sizeof why))
			break;
		rc = attempt ? gs_fail(err, errlen, -EPROTO, "the measured map does not hold: %s", why) : 0;
	}
	if (!rc)
		rc = confirm(&g, c, err, errlen);
	return rc;
}

/* The child: measures, writes the text form or "error <why>" to fd, exits
 * with 0 or the errno. */
static void child_main(int fd, const char *lib, const char *mps_dir, unsigned ordinal, const char *uuid)
{
	static struct gs_tpc_calib c;
	static char text[TEXT_MAX];
	char err[512] = "";
	child_env(mps_dir);
	int rc = measure(lib, ordinal, uuid, &c, err, sizeof err);
	int n = rc ? snprintf(text, sizeof text, "error %s\n", err) : gs_tpc_calib_format(&c, text, sizeof text);
	if (!rc && n < 0)
		rc = -ENOSPC, n = snprintf(text, sizeof text, "error the map does not fit in %d bytes\n", TEXT_MAX);
	for (int off = 0; n > 0 && off < n;) {
		ssize_t w = write(fd, text + off, (size_t)(n - off));
		if (w <= 0)
			break;
		off += (int)w;
	}
	_exit(rc ? (-rc & 0xff ? -rc & 0xff : EIO) : 0);
}

/* ---- the parent ---- */

int control_tpc_driver_proc(char *out, size_t len)
{
	char *text = NULL;
	int rc = gs_file_read("/proc/driver/nvidia/version", 4096, &text, NULL);
	if (rc)
		return rc;
	rc = gs_tpc_driver_token(text, out, len);
	free(text);
	return rc;
}

/* NVIDIA's libcuda.so.1 where it is and simulation is not asked for, else
 * the simulated one beside the program (as gpushare run finds it). */
void control_libcuda(char *out, size_t len)
{
	const char *dir = getenv("GPUSHARE_SIM_LIB_DIR");
	char exe[PATH_MAX];
	ssize_t n;
	snprintf(out, len, "libcuda.so.1");
	if (gs_nvidia_driver_present())
		return;
	if (dir && *dir) {
		snprintf(out, len, "%s/libcuda.so.1", dir);
		return;
	}
	if ((n = readlink("/proc/self/exe", exe, sizeof exe - 1)) <= 0)
		return;
	exe[n] = '\0';
	char *slash = strrchr(exe, '/');
	if (!slash)
		return;
	*slash = '\0';
	static const char *const rel[] = { "../lib/gpushare-sim", "../lib/gpushare/sim" };
	for (size_t i = 0; i < GS_ARRAY_LEN(rel); i++) {
		snprintf(out, len, "%s/%s/libcuda.so.1", exe, rel[i]);
		if (access(out, R_OK) == 0)
			return;
	}
	snprintf(out, len, "libcuda.so.1");
}

static void child_signals(void)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGPIPE, SIGUSR1, SIGUSR2, SIGALRM };
	for (size_t i = 0; i < GS_ARRAY_LEN(sigs); i++)
		signal(sigs[i], SIG_DFL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Reads the child's answer until EOF or the deadline: 0, or -ETIMEDOUT. */
static int read_answer(int fd, uint64_t deadline, char *buf, size_t cap, size_t *len)
{
	*len = 0;
	for (;;) {
		uint64_t now = gs_now_ns();
		if (now >= deadline)
			return -ETIMEDOUT;
		struct pollfd p = { fd, POLLIN, 0 };
		int r = poll(&p, 1, (int)((deadline - now) / 1000000 + 1));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			continue;
		ssize_t n = read(fd, buf + *len, cap - 1 - *len);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0 || (*len += (size_t)n) == cap - 1)
			break;
	}
	buf[*len] = '\0';
	return 0;
}

/* Waits up to 5 s for pid to exit: whether it has. */
static bool reap(pid_t pid, int *st)
{
	for (int i = 0; i < 500; i++) {
		pid_t w = waitpid(pid, st, WNOHANG);
		if (w == pid || (w < 0 && errno != EINTR))
			return w == pid;
		nanosleep(&(struct timespec){ 0, 10000000 }, NULL);
	}
	return false;
}

int control_tpc_calibrate(unsigned dev_ordinal, const char *gpu_uuid, const struct control_tpc_opts *o,
			  struct gs_tpc_calib *out, char *err, size_t errlen)
{
	char lib[PATH_MAX], mps_dir[] = "/tmp/gpushare-calib-XXXXXX";
	if (o && o->libcuda)
		snprintf(lib, sizeof lib, "%s", o->libcuda);
	else
		control_libcuda(lib, sizeof lib);
	int timeout_ms = o && o->timeout_ms > 0 ? o->timeout_ms : CONTROL_TPC_TIMEOUT_MS;
	/* an empty pipe directory of its own: no NVIDIA MPS server to join */
	if (!mkdtemp(mps_dir))
		return gs_fail(err, errlen, -errno, "cannot make a private MPS pipe directory: %s", strerror(errno));
	int fds[2];
	if (pipe2(fds, O_CLOEXEC)) {
		int rc = -errno;
		rmdir(mps_dir);
		return gs_fail(err, errlen, rc, "pipe: %s", strerror(-rc));
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		int rc = -errno;
		close(fds[0]), close(fds[1]), rmdir(mps_dir);
		return gs_fail(err, errlen, rc, "fork: %s", strerror(-rc));
	}
	if (pid == 0) {
		/* nothing of the daemon's (sockets, lock files) stays open here */
		int fd = fds[1] == 3 ? 3 : dup2(fds[1], 3);
		close_range(4, ~0u, 0);
		child_signals();
		child_main(fd, lib, mps_dir, dev_ordinal, gpu_uuid);
	}
	close(fds[1]);
	static char answer[TEXT_MAX];
	size_t len;
	int rc = read_answer(fds[0], gs_now_ns() + (uint64_t)timeout_ms * 1000000, answer, sizeof answer, &len);
	close(fds[0]);
	/* a process the driver holds in the kernel may take a while to die
	 * even of SIGKILL: the daemon does not wait for it past a few seconds
	 * (it stays a zombie until reaped) */
	int st = 0;
	if (rc)
		kill(pid, SIGKILL);
	bool gone = reap(pid, &st);
	if (!gone && !rc) {
		kill(pid, SIGKILL);
		reap(pid, &st);
	}
	rmdir(mps_dir);
	if (rc)
		return gs_fail(err, errlen, -ETIMEDOUT, "the calibration did not finish within %d s (killed)",
			       (timeout_ms + 999) / 1000);
	if (!gone)
		return gs_fail(err, errlen, -ETIMEDOUT, "the calibration did not exit after its answer (killed)");
	if (WIFSIGNALED(st))
		return gs_fail(err, errlen, -EIO, "the calibration died of signal %d (%s)", WTERMSIG(st),
			       strsignal(WTERMSIG(st)));
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		int code = WIFEXITED(st) ? WEXITSTATUS(st) : EIO;
		if (strncmp(answer, "error ", 6) == 0) {
			answer[strcspn(answer, "\n")] = '\0';
			return gs_fail(err, errlen, -code, "%s", answer + 6);
		}
		return gs_fail(err, errlen, -code, "the calibration exited with status %d", code);
	}
	char why[200];
	if (gs_tpc_calib_parse(answer, len, out, why, sizeof why))
		return gs_fail(err, errlen, -EPROTO, "the calibration's answer: %s", why);
	return 0;
}

/* The driver in force, without a CUDA context: NVIDIA's kernel module's
 * version, else the library's cuDriverGetVersion as the child names it. */
static int current_driver(const struct control_tpc_opts *o, char *out, size_t len)
{
	if (control_tpc_driver_proc(out, len) == 0)
		return 0;
	char lib[PATH_MAX];
	if (o && o->libcuda)
		snprintf(lib, sizeof lib, "%s", o->libcuda);
	else
		control_libcuda(lib, sizeof lib);
	void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return -ENOENT;
	CUresult (*version)(int *) = (CUresult(*)(int *))dlsym(h, "cuDriverGetVersion");
	bool sim = dlsym(h, "gpushare_simulated") != NULL;
	int v = 0, rc = version && version(&v) == CUDA_SUCCESS ? 0 : -ENOENT;
	if (!rc)
		snprintf(out, len, "%s-%d", sim ? "sim" : "cuda", v);
	dlclose(h);
	return rc;
}

int control_tpc_map(const char *state_dir, unsigned dev_ordinal, const char *gpu_uuid,
		    const struct control_tpc_opts *o, struct gs_tpc_calib *out, char *why, size_t whylen)
{
	char name[96], path[PATH_MAX];
	if (gs_tpc_file_name(gpu_uuid, name, sizeof name))
		return gs_fail(why, whylen, -EINVAL, "\"%.60s\" is not a GPU UUID", gpu_uuid);
	if (snprintf(path, sizeof path, "%s/%s", state_dir, name) >= (int)sizeof path)
		return gs_fail(why, whylen, -ENAMETOOLONG, "the state directory's path is too long");
	char *text = NULL, driver[64], err[512];
	size_t len = 0;
	if (gs_file_read_owned(path, geteuid(), 64 * 1024, &text, &len, NULL, 0) == 0) {
		int ok = gs_tpc_calib_parse(text, len, out, NULL, 0) == 0 && current_driver(o, driver, sizeof driver) == 0 &&
			 strcmp(driver, out->driver) == 0;
		free(text);
		if (ok)
			return 0;
	}
	int rc = control_tpc_calibrate(dev_ordinal, gpu_uuid, o, out, err, sizeof err);
	static char buf[TEXT_MAX];
	int n = rc ? gs_tpc_failed_format(err, buf, sizeof buf) : gs_tpc_calib_format(out, buf, sizeof buf);
	if (n < 0 && !rc)
		rc = n, snprintf(err, sizeof err, "the map does not fit in %d bytes", TEXT_MAX);
	int wrc = n < 0 ? n : gs_file_replace(path, buf, (size_t)n);
	if (wrc == 0)
		chmod(path, 0644);
	if (rc)
		return gs_fail(why, whylen, rc, "%s", err);
	/* the map holds all the same: only the next start calibrates again */
	gs_fail(why, whylen, 0, "%s", wrc ? "calibrated, but the map's file cannot be written" : "");
	return 0;
}
