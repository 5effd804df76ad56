// drvapi.cpp: a driver-API program: its own context (cuCtxCreate), a module
// from PTX (cuModuleLoadData) and cuLaunchKernel; reports the SMs its kernels
// ran on and what it sees of memory. Usage: drvapi kernel.ptx
#include <cuda.h>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <vector>

#define CK(x) do { CUresult r = (x); if (r) { const char *s; cuGetErrorName(r, &s); printf("error %s: %s\n", #x, s); return 1; } } while (0)

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	FILE *f = fopen(argv[1], "rb");
	if (!f)
		return 2;
	std::vector<char> ptx(1 << 20);
	ptx.resize(fread(ptx.data(), 1, ptx.size() - 1, f) + 1);
	ptx.back() = 0;
	fclose(f);
	CK(cuInit(0));
	CUdevice dev;
	CUcontext ctx;
	CK(cuDeviceGet(&dev, 0));
	CK(cuCtxCreate(&ctx, NULL, 0, dev));
	CUmodule mod;
	CUfunction fn;
	CK(cuModuleLoadData(&mod, ptx.data()));
	CK(cuModuleGetFunction(&fn, mod, "smid_kernel"));
	const int blocks = 8192;
	CUdeviceptr d;
	CK(cuMemAlloc(&d, blocks * 4));
	void *args[] = { &d };
	CK(cuLaunchKernel(fn, blocks, 1, 1, 64, 1, 1, 0, 0, args, NULL));
	CK(cuCtxSynchronize());
	std::vector<unsigned> h(blocks);
	CK(cuMemcpyDtoH(h.data(), d, blocks * 4));
	size_t fr, tot;
	CK(cuMemGetInfo(&fr, &tot));
	int sms;
	CK(cuDeviceGetAttribute(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev));
	printf("attr_sms %d smid_ctxcreate %zu mem_total_mib %zu\n", sms, std::set<unsigned>(h.begin(), h.end()).size(),
	       tot >> 20);
	CK(cuCtxDestroy(ctx));
	return 0;
}
