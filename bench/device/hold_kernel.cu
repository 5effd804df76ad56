// hold_kernel.cu: the kernels hold loads as PTX: a pattern written over its
// memory (hold_fill), counted back (hold_check: words that differ) and a
// fixed amount of read-only work over it (hold_work). The pattern is
// hold.cpp's hold_pat, the same on the host.
#include <stdint.h>

__device__ __forceinline__ uint32_t hold_pat(unsigned long long i)
{
	uint32_t x = (uint32_t)i * 2654435761u ^ (uint32_t)(i >> 32) ^ 0x9e3779b9u;
	x ^= x >> 16;
	x *= 0x7feb352du;
	x ^= x >> 15;
	return x;
}

extern "C" __global__ void hold_fill(uint32_t *p, unsigned long long n, unsigned long long base)
{
	for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n;
	     i += (unsigned long long)gridDim.x * blockDim.x)
		p[i] = hold_pat(base + i);
}

extern "C" __global__ void hold_check(const uint32_t *p, unsigned long long n, unsigned long long base,
				      unsigned long long *bad)
{
	unsigned long long b = 0;
	for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n;
	     i += (unsigned long long)gridDim.x * blockDim.x)
		b += p[i] != hold_pat(base + i);
	if (b)
		atomicAdd(bad, b);
}

extern "C" __global__ void hold_work(const uint32_t *p, unsigned long long n, uint32_t *sink)
{
	float acc = 0.f;
	for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < n;
	     i += (unsigned long long)gridDim.x * blockDim.x) {
		float v = (float)(p[i] & 0xffffu);
#pragma unroll
		for (int k = 0; k < 32; k++)
			acc = fmaf(acc, 0.9999f, v);
	}
	if (acc == 1.2345f) /* never: keeps the work */
		sink[blockIdx.x] = 1;
}
