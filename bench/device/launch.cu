// launch.cu: launch-bound loops to measure what the interposer adds per
// launch: an empty kernel through the runtime (cudaLaunchKernel reaches the
// driver's cuLaunchKernel through cuGetProcAddress), and cuCtxGetCurrent, the
// driver query the context check makes. Prints ns per call (best of 7 runs).
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
	double launch = best_ns([](int n) {
		for (int i = 0; i < n; i++)
			empty<<<1, 32>>>();
		cudaDeviceSynchronize();
	}, 200000);
	CUcontext c;
	double get = best_ns([&](int n) {
		for (int i = 0; i < n; i++)
			cuCtxGetCurrent(&c);
	}, 2000000);
	printf("launch_ns %.1f ctxgetcurrent_ns %.2f\n", launch, get);
	return 0;
}
