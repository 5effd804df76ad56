// ckpt-callback.cu: what makes the driver's checkpoint API refuse a program
// that gpushare holds by TPC masks (bench/results/h100-checkpoint-confine-
// 2026-12-07.txt: CUDA_ERROR_NOT_SUPPORTED, 801). One process holds 256 MiB
// with a known pattern and goes through the steps its argument names, in
// order; after each, a child forked before the parent touched CUDA locks,
// checkpoints, restores and unlocks it (cuCheckpointProcess*), and the parent
// checks its pattern:
//   N  nothing more (a plain program)
//   S  the launch-descriptor callback subscribed (cuGetExportTable entry 3)
//   E  the callback enabled for domain 0xb id 1 (entry 6), no launch since
//   L  a kernel launched through it, its TMD given a TPC mask
//   D  the callback disabled again (entry 6, on = 0)
//   K  a kernel launched with it disabled
//   C  CUPTI's kernel activity records enabled (a trace's timing), a kernel
//   X  CUPTI's activity disabled and flushed again
// Prints one line per step: its name, each checkpoint call's result, and
// whether the memory came back intact.
#include <cuda.h>
#include <cupti.h>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sys/wait.h>
#include <unistd.h>

__global__ void fill(unsigned *p, size_t n, unsigned seed)
{
	for (size_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
		p[i] = (unsigned)i * 2654435761u + seed;
}

__global__ void check(const unsigned *p, size_t n, unsigned seed, unsigned *bad)
{
	for (size_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
		if (p[i] != (unsigned)i * 2654435761u + seed)
			atomicAdd(bad, 1u);
}

static void cb(void *, int, int, const void *params)
{
	uint8_t *tmd = (uint8_t *)((void *const *)params)[4];
	if (tmd[72] != 0x40)
		return;
	uint32_t w[4] = { ~0xFFu, ~0u, ~0u, ~0u }; // TPCs 0-7 only: live on every H100/H200
	memcpy(tmd + 304, w, sizeof w);
	*(uint32_t *)tmd |= 0x80000000u;
}

static void CUPTIAPI requested(uint8_t **buf, size_t *size, size_t *max)
{
	*size = 1 << 20;
	*buf = (uint8_t *)aligned_alloc(8, *size);
	*max = 0;
}

static void CUPTIAPI completed(CUcontext, uint32_t, uint8_t *buf, size_t, size_t)
{
	free(buf);
}

// the child: for each byte the parent writes, one checkpoint round of pid
static void checkpointer(int in, int out, pid_t pid)
{
	char c;
	cuInit(0);
	while (read(in, &c, 1) == 1) {
		CUcheckpointLockArgs lock = {};
		lock.timeoutMs = 10000;
		CUcheckpointCheckpointArgs ck = {};
		CUcheckpointRestoreArgs rs = {};
		CUcheckpointUnlockArgs un = {};
		int r[4] = { -1, -1, -1, -1 };
		r[0] = cuCheckpointProcessLock(pid, &lock);
		if (!r[0]) {
			r[1] = cuCheckpointProcessCheckpoint(pid, &ck);
			if (!r[1])
				r[2] = cuCheckpointProcessRestore(pid, &rs);
			r[3] = cuCheckpointProcessUnlock(pid, &un);
		}
		if (write(out, r, sizeof r) != sizeof r)
			break;
	}
	_exit(0);
}

int main(int argc, char **argv)
{
	const char *steps = argc > 1 ? argv[1] : "NSELDK";
	int to[2], from[2];
	if (pipe(to) || pipe(from))
		return 1;
	pid_t parent = getpid(), child = fork();
	if (child == 0) {
		close(to[1]);
		close(from[0]);
		checkpointer(to[0], from[1], parent);
	}
	close(to[0]);
	close(from[1]);
	cuInit(0);
	CUdevice dev;
	CUcontext ctx;
	cuDeviceGet(&dev, 0);
	cuDevicePrimaryCtxRetain(&ctx, dev);
	cuCtxSetCurrent(ctx);
	const size_t n = (256u << 20) / sizeof(unsigned);
	unsigned *p, *bad;
	cudaMalloc(&p, n * sizeof(unsigned));
	cudaMalloc(&bad, sizeof(unsigned));
	fill<<<264, 256>>>(p, n, 7);
	cudaDeviceSynchronize();
	static const CUuuid id = { { (char)0x2c, (char)0x8e, 0x0a, (char)0xd8, 0x07, 0x10, (char)0xab, 0x4e,
				     (char)0x90, (char)0xdd, 0x54, 0x71, (char)0x9f, (char)0xe5, (char)0xf7, 0x4b } };
	const void **table = nullptr;
	uint32_t handle = 0;
	for (const char *s = steps; *s; s++) {
		int rc = 0;
		switch (*s) {
		case 'S':
			rc = cuGetExportTable((const void **)&table, &id) || !table;
			if (!rc)
				rc = ((int (*)(uint32_t *, void (*)(void *, int, int, const void *), void *))table[3])(
					&handle, cb, nullptr);
			break;
		case 'E':
		case 'D':
			rc = table ? ((int (*)(uint32_t, uint32_t, int, int))table[6])(*s == 'E', handle, 0xb, 1) : -1;
			break;
		case 'L':
		case 'K':
			fill<<<264, 256>>>(p, n, 7);
			rc = cudaDeviceSynchronize();
			break;
		case 'C':
			rc = cuptiActivityRegisterCallbacks(requested, completed);
			if (!rc)
				rc = cuptiActivityEnable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL);
			fill<<<264, 256>>>(p, n, 7);
			cudaDeviceSynchronize();
			break;
		case 'X':
			rc = cuptiActivityDisable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL);
			cuptiActivityFlushAll(1);
			break;
		}
		char go = 1;
		int r[4];
		if (write(to[1], &go, 1) != 1 || read(from[0], r, sizeof r) != sizeof r)
			return 1;
		cudaMemset(bad, 0, sizeof(unsigned));
		check<<<264, 256>>>(p, n, 7, bad);
		unsigned b = ~0u;
		cudaMemcpy(&b, bad, sizeof b, cudaMemcpyDeviceToHost);
		printf("step %c (setup %d): lock %d checkpoint %d restore %d unlock %d; memory %s\n", *s, rc, r[0], r[1],
		       r[2], r[3], b == 0 ? "intact" : "BAD");
		fflush(stdout);
	}
	close(to[1]);
	waitpid(child, nullptr, 0);
	return 0;
}
