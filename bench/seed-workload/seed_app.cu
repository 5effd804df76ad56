// seed_app.cu: one app of the seed's Figure 1 workload on an NVIDIA GPU
// (bench/seed-workload/run.sh): two streams, rounds of a long kernel, a
// short one, a second long one behind the first and, once the short one has
// ended, a second short one, for a fixed time.
// The same rounds as `cuda-app seed` on the simulated GPU.
//   seed_app MS LONG_US SHORT_US BLOCKS     prints "rounds <n>"
//   seed_app sms                            prints the GPU's SM count
#include <cstdio>
#include <cstdlib>
#include <chrono>
#include <string>
#include <thread>
#include <cuda_runtime.h>

// Spins every thread until us microseconds of the GPU's global timer have
// passed since the block started: the kernel takes that long whatever the
// clock rate, on as many SMs as it has blocks (one block of 128 threads per
// SM while there are free SMs).
__device__ static void spin(unsigned long long us)
{
	unsigned long long t0, t;
	asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t0));
	do
		asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
	while (t - t0 < us * 1000);
}
extern "C" __global__ void long_kernel(unsigned long long us) { spin(us); }
extern "C" __global__ void short_kernel(unsigned long long us) { spin(us); }
extern "C" __global__ void warm_kernel() {}

#define CK(x) do { cudaError_t e_ = (x); if (e_ != cudaSuccess) { \
	fprintf(stderr, "seed_app: %s: %s\n", #x, cudaGetErrorString(e_)); return 1; } } while (0)

int main(int argc, char **argv)
{
	if (argc == 2 && std::string(argv[1]) == "sms") {
		int n = 0;
		CK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, 0));
		printf("%d\n", n);
		return 0;
	}
	if (argc != 5) {
		fprintf(stderr, "usage: seed_app MS LONG_US SHORT_US BLOCKS\n");
		return 2;
	}
	long ms = atol(argv[1]);
	unsigned long long lus = strtoull(argv[2], nullptr, 10), sus = strtoull(argv[3], nullptr, 10);
	unsigned blocks = (unsigned)atoi(argv[4]);
	cudaStream_t s[2];
	for (auto &x : s)
		CK(cudaStreamCreateWithFlags(&x, cudaStreamNonBlocking));
	CK(cudaFree(nullptr)); // the context, before the clock starts
	// a first, empty kernel: it loads the module, and in a -timeslice slice
	// the launch after a program said idle (as it may while it starts) can
	// slip past a turn passing on; then its next launches wait for the turn
	warm_kernel<<<1, 32, 0, s[0]>>>();
	CK(cudaStreamSynchronize(s[0]));
	auto t0 = std::chrono::steady_clock::now();
	long rounds = 0;
	while (std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(ms)) {
		long_kernel<<<blocks, 128, 0, s[0]>>>(lus);  // A1
		short_kernel<<<blocks, 128, 0, s[1]>>>(sus); // A2
		long_kernel<<<blocks, 128, 0, s[0]>>>(lus);  // A3
		CK(cudaStreamSynchronize(s[1]));
		short_kernel<<<blocks, 128, 0, s[1]>>>(sus); // A4, later
		CK(cudaGetLastError());
		CK(cudaStreamSynchronize(s[0]));
		CK(cudaStreamSynchronize(s[1]));
		rounds++;
	}
	printf("rounds %ld\n", rounds);
	return 0;
}
