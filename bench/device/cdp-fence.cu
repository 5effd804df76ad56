// cdp-fence.cu: whether a context can be kept from launching kernels from the
// GPU (dynamic parallelism), which escape TPC masks and green contexts alike
// (bench/results/h200-tpcmask-cdp-2026-12-03.txt). For each pending-launch
// limit asked before the first launch: what cudaDeviceSetLimit answers,
// what the limit reads back, what the device-side launch returns inside the
// parent, and where the child ran. "nomask": no callback (under NVIDIA MPS
// with CUDA_MPS_ACTIVE_THREAD_PERCENTAGE, whether that confines children).
// Build: nvcc -O2 -arch=sm_90 -rdc=true cdp-fence.cu -lcudadevrt -lcuda
// Run:   ./cdp-fence LIMIT [nomask]     (LIMIT: "default" or a number)
#include <cuda.h>
#include <cuda_runtime.h>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
__global__ void where(unsigned *out)
{
	unsigned id;
	asm volatile("mov.u32 %0, %%smid;" : "=r"(id));
	long long t = clock64();
	while (clock64() - t < 20000) {}
	if (threadIdx.x == 0) out[blockIdx.x] = id;
}
__global__ void parent(unsigned *out, int n, int *err, int fire)
{
	if (threadIdx.x == 0 && blockIdx.x == 0) {
		if (fire)
			where<<<n, 64, 0, cudaStreamFireAndForget>>>(out);
		else
			where<<<n, 64, 0, cudaStreamTailLaunch>>>(out);
		*err = (int)cudaGetLastError();
	}
}
static void cb(void *, int, int, const void *params)
{
	uint8_t *tmd = (uint8_t *)((void *const *)params)[4];
	if (tmd[72] != 0x40) return;
	uint32_t w[4] = { ~0xFu, ~0u, ~0u, ~0u };
	memcpy(tmd + 304, w, sizeof w);
	*(uint32_t *)tmd |= 0x80000000u;
}
static const int blocks = 132 * 4;
int main(int argc, char **argv)
{
	const char *limit = argc > 1 ? argv[1] : "default";
	bool mask = !(argc > 2 && strcmp(argv[2], "nomask") == 0);
	cuInit(0);
	cudaFree(0);
	if (mask) {
		static const CUuuid id = { { (char)0x2c, (char)0x8e, 0x0a, (char)0xd8, 0x07, 0x10, (char)0xab, 0x4e,
					     (char)0x90, (char)0xdd, 0x54, 0x71, (char)0x9f, (char)0xe5, (char)0xf7, 0x4b } };
		const void **table = nullptr;
		if (cuGetExportTable((const void **)&table, &id) != CUDA_SUCCESS || !table) return printf("no table\n"), 1;
		uint32_t handle = 0;
		auto subscribe = (int (*)(uint32_t *, void (*)(void *, int, int, const void *), void *))table[3];
		auto enable = (int (*)(uint32_t, uint32_t, int, int))table[6];
		if (subscribe(&handle, cb, nullptr) || enable(1, handle, 0xb, 0x1)) return printf("sub failed\n"), 1;
	}
	size_t before = 0, after = 0;
	cudaDeviceGetLimit(&before, cudaLimitDevRuntimePendingLaunchCount);
	cudaError_t set = cudaSuccess;
	if (strcmp(limit, "default"))
		set = cudaDeviceSetLimit(cudaLimitDevRuntimePendingLaunchCount, strtoul(limit, nullptr, 10));
	cudaDeviceGetLimit(&after, cudaLimitDevRuntimePendingLaunchCount);
	printf("limit %s (mask %s): set -> %s, pending launch count %zu -> %zu\n", limit, mask ? "8 SMs" : "none",
	       cudaGetErrorString(set), before, after);
	unsigned *d, h[blocks];
	int *err, herr;
	cudaMalloc(&d, sizeof h);
	cudaMalloc(&err, sizeof(int));
	for (int fire = 0; fire < 2; fire++) {
		cudaMemset(d, 0xff, sizeof h);
		cudaMemset(err, 0x7f, sizeof(int));
		cudaDeviceSynchronize();
		parent<<<1, 32>>>(d, blocks, err, fire);
		cudaError_t e = cudaGetLastError();
		if (e == cudaSuccess) e = cudaDeviceSynchronize();
		memset(h, 0xff, sizeof h);
		cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost);
		cudaMemcpy(&herr, err, sizeof herr, cudaMemcpyDeviceToHost);
		std::set<unsigned> s;
		for (int i = 0; i < blocks; i++) if (h[i] != ~0u) s.insert(h[i]);
		printf("  %-16s host: %s; in the parent: %d (%s); child ran on %zu distinct smid\n",
		       fire ? "fire-and-forget" : "tail launch", cudaGetErrorString(e), herr,
		       herr == 0x7f7f7f7f ? "not written" : cudaGetErrorString((cudaError_t)herr), s.size());
	}
	// can it be raised again afterwards?
	set = cudaDeviceSetLimit(cudaLimitDevRuntimePendingLaunchCount, 2048);
	cudaDeviceGetLimit(&after, cudaLimitDevRuntimePendingLaunchCount);
	printf("  raised to 2048 after launches: %s, now %zu\n", cudaGetErrorString(set), after);
	return 0;
}
