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
// Every mask leaves live TPCs (bits 0-3), so no launch can hang.
#include <cuda.h>
#include <cstdio>
#include <cstdint>
#include <cstring>
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
	if (mode == 'C')
		w[0] &= ~(1u << 31);
	memcpy(tmd + 304, w, sizeof w);
	if (mode == 'A' || mode == 'C')
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
	if (mode != 'N') {
		static const CUuuid id = { { (char)0x2c, (char)0x8e, 0x0a, (char)0xd8, 0x07, 0x10, (char)0xab, 0x4e,
					     (char)0x90, (char)0xdd, 0x54, 0x71, (char)0x9f, (char)0xe5, (char)0xf7, 0x4b } };
		const void **table = nullptr;
		if (cuGetExportTable((const void **)&table, &id) != CUDA_SUCCESS || !table) {
			printf("mode %c: no export table\n", mode);
			return 1;
		}
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
	where<<<blocks, 64>>>(d);
	cudaError_t e = cudaDeviceSynchronize();
	cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost);
	std::set<unsigned> sms(h, h + blocks);
	printf("mode %c: tmd_version 0x%x, %s, %zu distinct smid:", mode, tmd_version, cudaGetErrorString(e), sms.size());
	for (unsigned s : sms)
		if (sms.size() <= 16)
			printf(" %u", s);
	printf("\n");
	return 0;
}
