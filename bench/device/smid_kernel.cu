// smid_kernel.cu: the kernel drvapi loads as PTX.
extern "C" __global__ void smid_kernel(unsigned *out)
{
	unsigned s;
	asm volatile("mov.u32 %0, %%smid;" : "=r"(s));
	if (threadIdx.x == 0)
		out[blockIdx.x] = s;
}
