// fill.cpp: a driver-API program that allocates 256 MiB at a time until the
// driver refuses; prints how much it got, the error, and the MPS limit its
// environment held at cuInit. Usage: fill
#include <cuda.h>
#include <cstdio>
#include <cstdlib>
#include <vector>

int main()
{
	if (cuInit(0))
		return printf("cuInit failed\n"), 1;
	CUdevice dev;
	CUcontext ctx;
	cuDeviceGet(&dev, 0);
	CUresult rc = cuDevicePrimaryCtxRetain(&ctx, dev);
	if (rc == CUDA_SUCCESS)
		rc = cuCtxSetCurrent(ctx);
	std::vector<CUdeviceptr> held;
	while (rc == CUDA_SUCCESS) {
		CUdeviceptr p;
		if ((rc = cuMemAlloc(&p, 256u << 20)) == CUDA_SUCCESS)
			held.push_back(p);
	}
	const char *name = "?", *env = getenv("CUDA_MPS_PINNED_DEVICE_MEM_LIMIT");
	cuGetErrorName(rc, &name);
	printf("allocated %zu MiB, then %s (env CUDA_MPS_PINNED_DEVICE_MEM_LIMIT=%s)\n", held.size() * 256, name,
	       env ? env : "-");
	return 0;
}
