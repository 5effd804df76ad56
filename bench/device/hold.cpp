// hold.cpp: a driver-API program for bench/device/suspend.sh. It allocates
// MIB of device memory (1 GiB at a time), writes a pattern over all of it,
// prints "ready pid=<pid> mib=<MiB> fill_s=<s>" and then:
//   hold MODULE MIB             waits: each SIGUSR1 reads all of it back
//                               ("verify OK bad=0 ..." or "verify CORRUPT
//                               bad=<words> ..."), SIGTERM or SIGINT ends it
//   hold MODULE MIB secs:S      a job: read-only work over its first GiB for
//   hold MODULE MIB iters:N     S seconds or N launches (each synchronized),
//                               then verifies and prints "done iters=<N>
//                               work_s=<s> verify OK|CORRUPT ... total_s=<s>"
//   hold MODULE MIB steps:N:MS  a stand-in for suspend_train.py where there is
//                               no PyTorch (the simulated GPU): N steps, MS ms
//                               apart, each an allocation, a launch and a
//                               read-back folded into a digest, "step <k>"
//                               after each, "digest <hex>" at the end
//   hold MODULE MIB nofill      as hold, the memory allocated but not written
//                               (an owner whose allocation alone is timed)
// MODULE is hold_kernel.ptx (fill, check and work run on the GPU) or, on the
// simulated GPU, a gpushare-sim-module text naming hold_work: the pattern is
// then written and read back through host copies (the simulated driver runs
// no kernel code). total_s counts from the program's start, a wait for a
// memory turn before its first allocation included.
#include <cuda.h>

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <vector>

static double now_s()
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static uint32_t hold_pat(unsigned long long i)
{
	uint32_t x = (uint32_t)i * 2654435761u ^ (uint32_t)(i >> 32) ^ 0x9e3779b9u;
	x ^= x >> 16;
	x *= 0x7feb352du;
	x ^= x >> 15;
	return x;
}

static const char *errname(CUresult r)
{
	const char *s = "?";
	cuGetErrorName(r, &s);
	return s;
}

#define CK(x)                                                                                                 \
	do {                                                                                                  \
		CUresult r_ = (x);                                                                            \
		if (r_) {                                                                                     \
			printf("error %s: %s (%d)\n", #x, errname(r_), (int)r_);                             \
			fflush(stdout);                                                                       \
			exit(1);                                                                              \
		}                                                                                             \
	} while (0)

struct chunk {
	CUdeviceptr p;
	size_t words;
	unsigned long long base; // index of its first word in the whole pattern
};

static std::vector<chunk> chunks;
static CUfunction f_fill, f_check, f_work;
static bool on_gpu; // fill and check as kernels
static int grid = 1024;

static void fill()
{
	std::vector<uint32_t> host;
	for (const chunk &c : chunks) {
		if (on_gpu) {
			CUdeviceptr p = c.p;
			unsigned long long n = c.words, base = c.base;
			void *args[] = { &p, &n, &base };
			CK(cuLaunchKernel(f_fill, grid, 1, 1, 256, 1, 1, 0, 0, args, NULL));
		} else {
			host.resize(c.words);
			for (size_t i = 0; i < c.words; i++)
				host[i] = hold_pat(c.base + i);
			CK(cuMemcpyHtoD(c.p, host.data(), c.words * 4));
		}
	}
	CK(cuCtxSynchronize());
}

static unsigned long long check()
{
	unsigned long long bad = 0;
	if (on_gpu) {
		CUdeviceptr d;
		CK(cuMemAlloc(&d, sizeof bad));
		CK(cuMemcpyHtoD(d, &bad, sizeof bad));
		for (const chunk &c : chunks) {
			CUdeviceptr p = c.p;
			unsigned long long n = c.words, base = c.base;
			void *args[] = { &p, &n, &base, &d };
			CK(cuLaunchKernel(f_check, grid, 1, 1, 256, 1, 1, 0, 0, args, NULL));
		}
		CK(cuCtxSynchronize());
		CK(cuMemcpyDtoH(&bad, d, sizeof bad));
		CK(cuMemFree(d));
		return bad;
	}
	std::vector<uint32_t> host;
	for (const chunk &c : chunks) {
		host.resize(c.words);
		CK(cuMemcpyDtoH(host.data(), c.p, c.words * 4));
		for (size_t i = 0; i < c.words; i++)
			bad += host[i] != hold_pat(c.base + i);
	}
	return bad;
}

static void verify_line(const char *prefix, double mib)
{
	double t0 = now_s();
	unsigned long long bad = check();
	printf("%s%s bad=%llu mib=%.0f check_s=%.2f\n", prefix, bad ? "CORRUPT" : "OK", bad, mib, now_s() - t0);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	double start = now_s();
	if (argc < 3) {
		fprintf(stderr, "usage: hold MODULE MIB [secs:S | iters:N]\n");
		return 2;
	}
	double mib = atof(argv[2]);
	const char *job = argc > 3 ? argv[3] : NULL;
	bool nofill = job && strcmp(job, "nofill") == 0; // hold mode, the memory allocated only
	if (nofill)
		job = NULL;
	double job_secs = 0;
	long long job_iters = 0, steps = 0, step_ms = 0;
	if (job && strncmp(job, "secs:", 5) == 0)
		job_secs = atof(job + 5);
	else if (job && strncmp(job, "iters:", 6) == 0)
		job_iters = atoll(job + 6);
	else if (job && sscanf(job, "steps:%lld:%lld", &steps, &step_ms) == 2 && steps > 0 && step_ms >= 0)
		job_iters = steps;
	else if (job) {
		fprintf(stderr, "hold: %s: neither secs:S nor iters:N\n", job);
		return 2;
	}
	if (mib < 1 || (job && job_secs <= 0 && job_iters <= 0)) {
		fprintf(stderr, "hold: bad size or job\n");
		return 2;
	}
	FILE *f = fopen(argv[1], "rb");
	if (!f) {
		fprintf(stderr, "hold: cannot read %s\n", argv[1]);
		return 2;
	}
	std::vector<char> image(4 << 20);
	image.resize(fread(image.data(), 1, image.size() - 1, f) + 1);
	image.back() = 0;
	fclose(f);

	// In hold mode the signals are taken by sigwait alone: blocked before
	// cuInit, so the driver's threads never take them either.
	sigset_t sigs;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGUSR1);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	if (!job)
		pthread_sigmask(SIG_BLOCK, &sigs, NULL);

	CK(cuInit(0));
	CUdevice dev;
	CUcontext ctx;
	CK(cuDeviceGet(&dev, 0));
	CK(cuDevicePrimaryCtxRetain(&ctx, dev));
	CK(cuCtxSetCurrent(ctx));
	int sms = 0;
	CK(cuDeviceGetAttribute(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev));
	grid = sms > 0 ? sms * 8 : 1024;
	CUmodule mod;
	CK(cuModuleLoadData(&mod, image.data()));
	CK(cuModuleGetFunction(&f_work, mod, "hold_work"));
	on_gpu = cuModuleGetFunction(&f_fill, mod, "hold_fill") == CUDA_SUCCESS &&
		 cuModuleGetFunction(&f_check, mod, "hold_check") == CUDA_SUCCESS;

	double t_alloc = now_s();
	size_t left = (size_t)(mib * 1048576.0) & ~(size_t)4095;
	unsigned long long base = 0;
	while (left) {
		size_t bytes = left < (1ull << 30) ? left : (1ull << 30);
		chunk c = { 0, bytes / 4, base };
		CUresult r = cuMemAlloc(&c.p, bytes);
		if (r) {
			printf("error cuMemAlloc after %llu MiB: %s (%d)\n", base * 4 >> 20, errname(r), (int)r);
			fflush(stdout);
			return 1;
		}
		chunks.push_back(c);
		base += c.words;
		left -= bytes;
	}
	CUdeviceptr sink;
	CK(cuMemAlloc(&sink, (size_t)grid * 4));
	double t_fill = now_s();
	if (!nofill)
		fill();
	printf("ready pid=%d mib=%.0f alloc_s=%.2f fill_s=%.2f gpu_kernels=%d\n", (int)getpid(), mib, t_fill - t_alloc,
	       now_s() - t_fill, on_gpu ? 1 : 0);
	fflush(stdout);

	if (!job) {
		for (;;) {
			int sig = 0;
			if (sigwait(&sigs, &sig))
				continue;
			if (sig == SIGUSR1)
				verify_line("verify ", mib);
			else
				break;
		}
		printf("exit\n");
		fflush(stdout);
		return 0;
	}

	const chunk &w = chunks[0];
	if (steps) {
		unsigned long long h = 1469598103934665603ull;
		std::vector<uint32_t> back(1024);
		for (long long k = 0; k < steps; k++) {
			CUdeviceptr tmp, p = w.p;
			CK(cuMemAlloc(&tmp, 1 << 20)); // waits while suspended (the hold on its ledger slot)
			unsigned long long n = w.words;
			void *args[] = { &p, &n, &sink };
			CK(cuLaunchKernel(f_work, grid, 1, 1, 256, 1, 1, 0, 0, args, NULL));
			CK(cuMemcpyDtoH(back.data(), w.p + (k % 64) * 4096, 4096));
			CK(cuMemFree(tmp));
			for (uint32_t v : back)
				h = (h ^ v) * 1099511628211ull;
			printf("step %lld\n", k);
			fflush(stdout);
			usleep((useconds_t)(step_ms * 1000));
		}
		printf("digest %016llx steps=%lld\n", h, steps);
		fflush(stdout);
		return 0;
	}
	// the job: read-only work over the first chunk, every launch synchronized
	double t_work = now_s();
	long long it = 0;
	for (;; it++) {
		if (job_iters ? it >= job_iters : now_s() - t_work >= job_secs)
			break;
		CUdeviceptr p = w.p;
		unsigned long long n = w.words;
		void *args[] = { &p, &n, &sink };
		CK(cuLaunchKernel(f_work, grid, 1, 1, 256, 1, 1, 0, 0, args, NULL));
		CK(cuCtxSynchronize());
	}
	double work_s = now_s() - t_work;
	unsigned long long bad = check();
	printf("done iters=%lld work_s=%.2f verify %s bad=%llu mib=%.0f total_s=%.2f\n", it, work_s, bad ? "CORRUPT" : "OK",
	       bad, mib, now_s() - start);
	fflush(stdout);
	return 0;
}
