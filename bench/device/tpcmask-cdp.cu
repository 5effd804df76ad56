// tpcmask-cdp.cu: whether kernels launched from the GPU (dynamic parallelism:
// tail and fire-and-forget launches) keep the TPC mask of the host launch
// that started them, or escape it. A callback enables TPC bits 0-3 (8 SMs on
// the H200); each launch reports the distinct %smid its blocks ran on.
// Build: nvcc -O2 -arch=sm_90 -rdc=true tpcmask-cdp.cu -lcudadevrt -lcuda
#include <cuda.h>
#include <cuda_runtime.h>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <set>
static unsigned calls;
__global__ void where(unsigned *out)
{
	unsigned id;
	asm volatile("mov.u32 %0, %%smid;" : "=r"(id));
	long long t = clock64();
	while (clock64() - t < 20000) {}
	if (threadIdx.x == 0) out[blockIdx.x] = id;
}
__global__ void parent(unsigned *out, int n)
{
	if (threadIdx.x == 0 && blockIdx.x == 0)
		where<<<n, 64, 0, cudaStreamTailLaunch>>>(out);
}
__global__ void parent_fire(unsigned *out, int n)
{
	if (threadIdx.x == 0 && blockIdx.x == 0)
		where<<<n, 64, 0, cudaStreamFireAndForget>>>(out);
}
static void cb(void *, int, int, const void *params)
{
	__atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED);
	uint8_t *tmd = (uint8_t *)((void *const *)params)[4];
	if (tmd[72] != 0x40) return;
	uint32_t w[4] = { ~0xFu, ~0u, ~0u, ~0u };
	memcpy(tmd + 304, w, sizeof w);
	*(uint32_t *)tmd |= 0x80000000u;
}
static const int blocks = 132 * 4;
static unsigned *d, h[blocks];
static void report(const char *what, unsigned before, cudaError_t e)
{
	if (e == cudaSuccess) e = cudaDeviceSynchronize();
	memset(h, 0xff, sizeof h);
	cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost);
	std::set<unsigned> s;
	for (int i = 0; i < blocks; i++) if (h[i] != ~0u) s.insert(h[i]);
	printf("%-28s %s, callback calls %u, %zu distinct smid\n", what, cudaGetErrorString(e), calls - before, s.size());
	cudaMemset(d, 0xff, sizeof h);
	cudaDeviceSynchronize();
}
int main()
{
	cuInit(0); cudaFree(0);
	static const CUuuid id = { { (char)0x2c, (char)0x8e, 0x0a, (char)0xd8, 0x07, 0x10, (char)0xab, 0x4e,
				     (char)0x90, (char)0xdd, 0x54, 0x71, (char)0x9f, (char)0xe5, (char)0xf7, 0x4b } };
	const void **table = nullptr;
	if (cuGetExportTable((const void **)&table, &id) != CUDA_SUCCESS || !table) return printf("no table\n"), 1;
	uint32_t handle = 0;
	auto subscribe = (int (*)(uint32_t *, void (*)(void *, int, int, const void *), void *))table[3];
	auto enable = (int (*)(uint32_t, uint32_t, int, int))table[6];
	if (subscribe(&handle, cb, nullptr) || enable(1, handle, 0xb, 0x1)) return printf("sub failed\n"), 1;
	cudaMalloc(&d, sizeof h); cudaMemset(d, 0xff, sizeof h);
	unsigned c = calls; where<<<blocks, 64>>>(d); report("host launch", c, cudaGetLastError());
	c = calls; parent<<<1, 32>>>(d, blocks); report("device tail launch", c, cudaGetLastError());
	c = calls; parent_fire<<<1, 32>>>(d, blocks); report("device fire-and-forget", c, cudaGetLastError());
	return 0;
}
