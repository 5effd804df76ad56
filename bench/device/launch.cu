// launch.cu: what the interposer adds to a launch, as the CPU sees it: the
// time of the launch calls alone, in batches of 256 (short enough that the
// GPU's queue never fills, so no launch waits for the GPU; the sync between
// batches is not timed), the median of 400 batches: an empty kernel through
// the runtime (cudaLaunchKernel: cuLaunchKernel and about ten
// cuCtxGetCurrent, reached through cuGetProcAddress), cuLaunchKernel through
// the driver API, and cuCtxGetCurrent alone. Prints ns per call.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cuda.h>
#include <vector>

__global__ void empty() {}

template <class F> static double median_ns(F launch, int batches, int per)
{
	std::vector<double> ns;
	for (int b = 0; b < batches; b++) {
		auto t0 = std::chrono::steady_clock::now();
		for (int i = 0; i < per; i++)
			launch();
		ns.push_back(std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() / per);
		cuCtxSynchronize();
	}
	std::sort(ns.begin(), ns.end());
	return ns[ns.size() / 2];
}

int main()
{
	cudaFree(0);
	for (int i = 0; i < 1000; i++)
		empty<<<1, 32>>>();
	cudaDeviceSynchronize();
	double runtime = median_ns([] { empty<<<1, 32>>>(); }, 400, 256);
	cudaFunction_t fn;
	cudaGetFuncBySymbol(&fn, (const void *)empty);
	double driver = median_ns([&] { cuLaunchKernel((CUfunction)fn, 1, 1, 1, 32, 1, 1, 0, 0, NULL, NULL); }, 400, 256);
	CUcontext c;
	double get = median_ns([&] { cuCtxGetCurrent(&c); }, 400, 4096);
	if (cudaDeviceSynchronize() != cudaSuccess) {
		printf("launches failed: %s\n", cudaGetErrorString(cudaGetLastError()));
		return 1;
	}
	printf("runtime_launch_ns %.1f driver_launch_ns %.1f ctxgetcurrent_ns %.2f\n", runtime, driver, get);
	return 0;
}
