// tpcmask-paths.cu: which ways of launching a kernel go through the
// launch-descriptor callback, so that a TPC mask written there holds them.
// A callback enables TPC bits 0-3 only (SMs 0,1 16,17 32,33 48,49 on the
// H200, bench/results/h200-tpcmask-probe-2026-12-03.txt) and counts its
// calls; each way of launching reports the distinct %smid its blocks ran on
// (8 when the mask held, 132 when the launch escaped it) and how many
// callback calls it caused. Then, with no mask, which %smid the green
// contexts of one split of the GPU (groups of G SMs) hold, to compare the
// driver's SM numbering for green contexts with the mask bits'.
#include <cooperative_groups.h>
#include <cuda.h>
#include <cuda_runtime.h>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <set>

static bool masking = true;
static unsigned calls;

__global__ void where(unsigned *out)
{
	unsigned id;
	asm volatile("mov.u32 %0, %%smid;" : "=r"(id));
	long long t = clock64();
	while (clock64() - t < 20000) {
	}
	if (threadIdx.x == 0)
		out[blockIdx.x] = id;
}

__global__ void __cluster_dims__(2, 1, 1) where_cluster(unsigned *out)
{
	unsigned id;
	asm volatile("mov.u32 %0, %%smid;" : "=r"(id));
	long long t = clock64();
	while (clock64() - t < 20000) {
	}
	if (threadIdx.x == 0)
		out[blockIdx.x] = id;
}

static void cb(void *, int, int, const void *params)
{
	__atomic_add_fetch(&calls, 1, __ATOMIC_RELAXED);
	uint8_t *tmd = (uint8_t *)((void *const *)params)[4];
	if (!masking || tmd[72] != 0x40)
		return;
	uint32_t w[4] = { ~0xFu, ~0u, ~0u, ~0u };
	memcpy(tmd + 304, w, sizeof w);
	*(uint32_t *)tmd |= 0x80000000u;
}

static const int blocks = 132 * 4;
static unsigned *d, h[blocks];

static void report(const char *what, unsigned before, cudaError_t e)
{
	if (e == cudaSuccess)
		e = cudaDeviceSynchronize();
	memset(h, 0xff, sizeof h);
	cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost);
	std::set<unsigned> s;
	for (int i = 0; i < blocks; i++)
		if (h[i] != ~0u)
			s.insert(h[i]);
	printf("%-28s %s, callback calls %u, %zu distinct smid:", what, cudaGetErrorString(e), calls - before,
	       s.size());
	if (s.size() <= 16)
		for (unsigned x : s)
			printf(" %u", x);
	printf("\n");
	cudaMemset(d, 0xff, sizeof h);
	cudaDeviceSynchronize();
}

int main()
{
	cuInit(0);
	cudaFree(0);
	static const CUuuid id = { { (char)0x2c, (char)0x8e, 0x0a, (char)0xd8, 0x07, 0x10, (char)0xab, 0x4e,
				     (char)0x90, (char)0xdd, 0x54, 0x71, (char)0x9f, (char)0xe5, (char)0xf7, 0x4b } };
	const void **table = nullptr;
	if (cuGetExportTable((const void **)&table, &id) != CUDA_SUCCESS || !table)
		return printf("no export table\n"), 1;
	uint32_t handle = 0;
	auto subscribe = (int (*)(uint32_t *, void (*)(void *, int, int, const void *), void *))table[3];
	auto enable = (int (*)(uint32_t, uint32_t, int, int))table[6];
	if (subscribe(&handle, cb, nullptr) || enable(1, handle, 0xb, 0x1))
		return printf("subscribe or enable failed\n"), 1;
	cudaMalloc(&d, sizeof h);
	cudaMemset(d, 0xff, sizeof h);
	cudaStream_t st;
	cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking);
	unsigned c;

	c = calls;
	where<<<blocks, 64>>>(d);
	report("runtime <<<>>>", c, cudaGetLastError());

	c = calls;
	where<<<blocks, 64, 0, st>>>(d);
	report("runtime, own stream", c, cudaGetLastError());

	{
		void *args[] = { &d };
		c = calls;
		report("cudaLaunchCooperativeKernel", c,
		       cudaLaunchCooperativeKernel((void *)where, dim3(132), dim3(64), args, 0, st));
	}
	{
		cudaLaunchConfig_t cfg = {};
		cfg.gridDim = dim3(blocks);
		cfg.blockDim = dim3(64);
		cfg.stream = st;
		c = calls;
		report("cudaLaunchKernelEx", c, cudaLaunchKernelEx(&cfg, where, d));
		c = calls;
		report("cluster dims 2", c, cudaLaunchKernelEx(&cfg, where_cluster, d));
	}
	{
		cudaGraph_t g;
		cudaGraphExec_t ge;
		cudaStreamBeginCapture(st, cudaStreamCaptureModeGlobal);
		where<<<blocks, 64, 0, st>>>(d);
		cudaStreamEndCapture(st, &g);
		c = calls;
		cudaGraphInstantiate(&ge, g, 0);
		printf("graph instantiate: callback calls %u\n", calls - c);
		c = calls;
		cudaGraphUpload(ge, st);
		cudaStreamSynchronize(st);
		printf("graph upload: callback calls %u\n", calls - c);
		c = calls;
		report("graph launch (captured)", c, cudaGraphLaunch(ge, st));
		c = calls;
		report("graph launch again", c, cudaGraphLaunch(ge, st));
		/* the mask off now: does the graph keep the mask it was made with? */
		masking = false;
		c = calls;
		report("graph again, callback no mask", c, cudaGraphLaunch(ge, st));
		cudaGraphExec_t ge2;
		cudaGraphInstantiate(&ge2, g, 0);
		masking = true;
		c = calls;
		report("graph made unmasked, mask on", c, cudaGraphLaunch(ge2, st));
		masking = false;
	}
	masking = false;
	c = calls;
	where<<<blocks, 64>>>(d);
	report("no mask", c, cudaGetLastError());

	/* green-context groups, no mask */
	CUdevice dev;
	cuDeviceGet(&dev, 0);
	for (unsigned gsz : { 64u, 32u, 16u, 8u, 2u }) {
		CUdevResource all, groups[128], rest;
		unsigned n = 128;
		cuDeviceGetDevResource(dev, &all, CU_DEV_RESOURCE_TYPE_SM);
		if (cuDevSmResourceSplitByCount(groups, &n, &all, &rest, 0, gsz)) {
			printf("split %u failed\n", gsz);
			continue;
		}
		printf("groups of %u: %u groups\n", gsz, n);
		for (unsigned k = 0; k < n && k < 8; k++) {
			CUdevResourceDesc desc;
			CUgreenCtx green;
			CUcontext ctx, prev;
			if (cuDevResourceGenerateDesc(&desc, &groups[k], 1) ||
			    cuGreenCtxCreate(&green, desc, dev, CU_GREEN_CTX_DEFAULT_STREAM) ||
			    cuCtxFromGreenCtx(&ctx, green)) {
				printf("  group %u: no green context\n", k);
				continue;
			}
			cuCtxGetCurrent(&prev);
			cuCtxSetCurrent(ctx);
			CUdeviceptr gd;
			cuMemAlloc(&gd, sizeof h);
			cuMemsetD8(gd, 0xff, sizeof h);
			where<<<blocks, 64>>>((unsigned *)gd);
			cudaError_t e = cudaDeviceSynchronize();
			cuMemcpyDtoH(h, gd, sizeof h);
			cuMemFree(gd);
			std::set<unsigned> s(h, h + blocks);
			s.erase(~0u);
			printf("  group %u (%s): %zu smid:", k, cudaGetErrorString(e), s.size());
			for (unsigned x : s)
				printf(" %u", x);
			printf("\n");
			cuCtxSetCurrent(prev);
			cuGreenCtxDestroy(green);
		}
	}
	return 0;
}
