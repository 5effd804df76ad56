// launch.cu: what the interposer adds to a launch. Tight loops of the calls
// a launch makes, best of 7 runs each: an empty kernel through the runtime
// (cudaLaunchKernel: cuLaunchKernel and about ten cuCtxGetCurrent, reached
// through cuGetProcAddress), cuLaunchKernel through the driver API, and
// cuCtxGetCurrent alone. Prints ns per call.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cuda.h>

__global__ void empty() {}

template <class F> static double best_ns(F f, int n)
{
	double best = 1e30;
	for (int r = 0; r < 7; r++) {
		auto t0 = std::chrono::steady_clock::now();
		f(n);
		double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() / n;
		best = std::min(best, ns);
	}
	return best;
}

int main()
{
	cudaFree(0);
	for (int i = 0; i < 1000; i++)
		empty<<<1, 32>>>();
	cudaDeviceSynchronize();
	double runtime = best_ns([](int n) {
		for (int i = 0; i < n; i++)
			empty<<<1, 32>>>();
		cudaDeviceSynchronize();
	}, 100000);
	cudaFunction_t fn;
	cudaGetFuncBySymbol(&fn, (const void *)empty);
	double driver = best_ns([&](int n) {
		for (int i = 0; i < n; i++)
			cuLaunchKernel((CUfunction)fn, 1, 1, 1, 32, 1, 1, 0, 0, NULL, NULL);
		cuCtxSynchronize();
	}, 100000);
	CUcontext c;
	double get = best_ns([&](int n) {
		for (int i = 0; i < n; i++)
			cuCtxGetCurrent(&c);
	}, 2000000);
	printf("runtime_launch_ns %.1f driver_launch_ns %.1f ctxgetcurrent_ns %.2f\n", runtime, driver, get);
	return 0;
}
