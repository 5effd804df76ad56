// launchrate.cu: an empty kernel launched at a fixed rate, for what a trace
// keeps at a given launch rate (issue 13: no lost event at 100k launches/s):
// RATE launches a second (default 100000) for SECONDS (default 2), the i-th
// at i/RATE s after the first on steady_clock (waited for busily), one
// block of 32 threads, the default stream. Prints how many it launched, the
// rate it kept, and how far behind its schedule it fell at most.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cuda_runtime.h>

__global__ void empty() {}

int main()
{
	double rate = getenv("RATE") ? atof(getenv("RATE")) : 100000.0;
	double seconds = getenv("SECONDS") ? atof(getenv("SECONDS")) : 2.0;
	cudaFree(0);
	long n = (long)(rate * seconds);
	double late_us = 0;
	auto t0 = std::chrono::steady_clock::now();
	for (long i = 0; i < n; i++) {
		auto at = t0 + std::chrono::nanoseconds((long long)(1e9 * (double)i / rate));
		auto now = std::chrono::steady_clock::now();
		while (now < at)
			now = std::chrono::steady_clock::now();
		double late = std::chrono::duration<double, std::micro>(now - at).count();
		late_us = late > late_us ? late : late_us;
		empty<<<1, 32>>>();
	}
	double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
	if (cudaDeviceSynchronize() != cudaSuccess) {
		printf("launches failed: %s\n", cudaGetErrorString(cudaGetLastError()));
		return 1;
	}
	printf("launches %ld rate_per_s %.0f max_late_us %.1f\n", n, (double)n / s, late_us);
	return 0;
}
