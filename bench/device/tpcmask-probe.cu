// tpcmask-probe.cu: which bit turns Hopper's per-launch TPC mask on. The
// launch-descriptor callback (cuGetExportTable, table 2c8e0ad8-0710-ab4e-
// 90dd-54719fe5f74b: entry 3 subscribes, entry 6 enables domain 0xb id 1)
// hands each launch's TMD (version 0x40 at offset 72; disabled-TPC words at
// 304, 308, 312, 316). Each mode writes the words and, or not, bit 31 of the
// TMD's first word, and counts the distinct %smid a kernel's blocks ran on:
//   A: words with TPC bits 0-7 clear (0-3 live on the H200), enable at offset 0
//   B: the same words, no bit at offset 0 (word 304's bit 31 is set: TPC 31 off)
//   C: as A, TPC 31 enabled too (word 304 bit 31 clear)
//   N: no callback
// and, in a green context of the GPU's first 64 SMs (how gpushare confines a
// slice's program), whether the program's own mask can widen it:
//   g: no callback
//   W: enable bit set, no TPC disabled (a program asking for every SM)
//   H: as A (bits 0-7 clear): the mask within the green context
// and E: as W in the primary context (under gpushare: the slice's green one)
// Every mask leaves live TPCs (bits 0-3), so no launch can hang.
#include <cuda.h>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <chrono>
#include <set>

static char mode = 'N';
static int tmd_version = -1;

__global__ void where(unsigned *out)
{
	unsigned id;
	asm volatile("mov.u32 %0, %%smid;" : "=r"(id));
	clock_t t = clock64();
	while (clock64() - t < 20000) {
	}
	if (threadIdx.x == 0)
		out[blockIdx.x] = id;
}

static void cb(void *, int, int, const void *params)
{
	uint8_t *tmd = (uint8_t *)((void *const *)params)[4];
	tmd_version = tmd[72];
	if (tmd[72] != 0x40 || mode == 'N')
		return;
	uint32_t w[4] = { ~0xFFu, ~0u, ~0u, ~0u };
	if (mode == 'W' || mode == 'E')
		memset(w, 0, sizeof w);
	if (mode == 'C')
		w[0] &= ~(1u << 31);
	memcpy(tmd + 304, w, sizeof w);
	if (mode == 'A' || mode == 'C' || mode == 'W' || mode == 'H' || mode == 'E')
		*(uint32_t *)tmd |= 0x80000000u;
}

int main(int argc, char **argv)
{
	mode = argc > 1 ? argv[1][0] : 'N';
	cuInit(0);
	CUdevice dev;
	CUcontext ctx;
	cuDeviceGet(&dev, 0);
	cuDevicePrimaryCtxRetain(&ctx, dev);
	cuCtxSetCurrent(ctx);
	if (mode == 'g' || mode == 'W' || mode == 'H') {
		CUdevResource all, group, rest;
		unsigned n = 1;
		CUdevResourceDesc desc;
		CUgreenCtx green;
		CUresult r = cuDeviceGetDevResource(dev, &all, CU_DEV_RESOURCE_TYPE_SM);
		if (!r)
			r = cuDevSmResourceSplitByCount(&group, &n, &all, &rest, 0, 64);
		if (!r)
			r = cuDevResourceGenerateDesc(&desc, &group, 1);
		if (!r)
			r = cuGreenCtxCreate(&green, desc, dev, CU_GREEN_CTX_DEFAULT_STREAM);
		if (!r)
			r = cuCtxFromGreenCtx(&ctx, green);
		if (!r)
			r = cuCtxSetCurrent(ctx);
		if (r) {
			printf("mode %c: green context: error %d\n", mode, (int)r);
			return 1;
		}
		printf("mode %c: green context of %u SMs\n", mode, group.sm.smCount);
	}
	if (mode != 'N' && mode != 'g') {
		static const CUuuid id = { { (char)0x2c, (char)0x8e, 0x0a, (char)0xd8, 0x07, 0x10, (char)0xab, 0x4e,
					     (char)0x90, (char)0xdd, 0x54, 0x71, (char)0x9f, (char)0xe5, (char)0xf7, 0x4b } };
		const void **table = nullptr;
		if (cuGetExportTable((const void **)&table, &id) != CUDA_SUCCESS || !table) {
			printf("mode %c: no export table\n", mode);
			return 1;
		}
		printf("mode %c: table entries 0-7:", mode);
		for (int i = 0; i < 8; i++)
			printf(" %p", table[i]);
		printf("\n");
		uint32_t handle = 0;
		int (*subscribe)(uint32_t *, void (*)(void *, int, int, const void *), void *) =
			(int (*)(uint32_t *, void (*)(void *, int, int, const void *), void *))table[3];
		int (*enable)(uint32_t, uint32_t, int, int) = (int (*)(uint32_t, uint32_t, int, int))table[6];
		int rs = subscribe(&handle, cb, nullptr), re = enable(1, handle, 0xb, 0x1);
		if (rs || re) {
			printf("mode %c: subscribe %d enable %d\n", mode, rs, re);
			return 1;
		}
	}
	const int blocks = 132 * 8;
	unsigned *d, h[blocks];
	cudaMalloc(&d, sizeof h);
	where<<<blocks, 64>>>(d); // warm
	cudaDeviceSynchronize();
	auto t0 = std::chrono::steady_clock::now();
	for (int i = 0; i < 20; i++)
		where<<<blocks, 64>>>(d);
	cudaError_t e = cudaDeviceSynchronize();
	double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / 20;
	cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost);
	std::set<unsigned> sms(h, h + blocks);
	printf("mode %c: tmd_version 0x%x, %s, %.0f us per kernel, %zu distinct smid:", mode, tmd_version,
	       cudaGetErrorString(e), us, sms.size());
	for (unsigned s : sms)
		if (sms.size() <= 16)
			printf(" %u", s);
	printf("\n");
	return 0;
}
