// smid.cu: a CUDA-runtime program (built with static and with shared cudart)
// that reports which SMs its kernels ran on (%smid), from the main thread, a
// second thread and a stream it created, and the throughput of a fixed
// compute-bound kernel (528 blocks of 256 threads, one wave on 132 SMs, or
// BLOCKS: many waves make its rate proportional to the SMs it gets).
// Usage: smid [seconds [BLOCKS]]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <thread>
#include <vector>

__global__ void smid_kernel(unsigned *out)
{
	unsigned s;
	asm volatile("mov.u32 %0, %%smid;" : "=r"(s));
	if (threadIdx.x == 0)
		out[blockIdx.x] = s;
}

__global__ void spin(float *x, int iters)
{
	float v = threadIdx.x;
	for (int i = 0; i < iters; i++)
		v = v * 1.0001f + 0.5f;
	if (v == 12345.f)
		x[0] = v;
}

static void check(cudaError_t e, const char *what)
{
	if (e != cudaSuccess) {
		printf("error %s: %s\n", what, cudaGetErrorString(e));
		exit(1);
	}
}

static unsigned distinct(cudaStream_t s)
{
	const int blocks = 8192;
	unsigned *d;
	check(cudaMalloc(&d, blocks * 4), "cudaMalloc");
	smid_kernel<<<blocks, 64, 0, s>>>(d);
	check(cudaStreamSynchronize(s), "sync");
	std::vector<unsigned> h(blocks);
	check(cudaMemcpy(h.data(), d, blocks * 4, cudaMemcpyDeviceToHost), "memcpy");
	cudaFree(d);
	return (unsigned)std::set<unsigned>(h.begin(), h.end()).size();
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 2.0;
	int blocks = argc > 2 ? atoi(argv[2]) : 528;
	if (blocks < 1) {
		printf("BLOCKS must be a positive number of blocks, not %s\n", argv[2]);
		return 2;
	}
	int sms;
	check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0), "attr");
	unsigned main_d = distinct(0), thread_d = 0, stream_d;
	std::thread t([&] { thread_d = distinct(0); });
	t.join();
	cudaStream_t s;
	check(cudaStreamCreate(&s), "stream");
	stream_d = distinct(s);
	float *x;
	check(cudaMalloc(&x, 4), "cudaMalloc");
	for (int i = 0; i < 20; i++)
		spin<<<528, 256>>>(x, 20000);
	check(cudaDeviceSynchronize(), "warmup");
	auto t0 = std::chrono::steady_clock::now();
	long n = 0;
	double el = 0;
	while (el < secs) {
		for (int i = 0; i < 10; i++, n++)
			spin<<<blocks, 256>>>(x, 20000);
		check(cudaDeviceSynchronize(), "spin");
		el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
	}
	printf("attr_sms %d smid_main %u smid_thread %u smid_stream %u kernels_per_s %.1f\n", sms, main_d, thread_d,
	       stream_d, n / el);
	return 0;
}
