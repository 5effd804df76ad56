// victim.cu: a latency-sensitive process: a 16-block kernel of ~30 us every
// millisecond, 2000 times; prints launch-to-completion p50 and p99 in us.
// Usage: victim [work|mem] [period ms] [count]: a period longer than
// gpushare-control's idle interval makes every kernel the first after idle.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

__global__ void work(float *x, int iters)
{
	float v = threadIdx.x;
	for (int i = 0; i < iters; i++)
		v = v * 1.0001f + 0.5f;
	if (v == 12345.f)
		x[0] = v;
}

__global__ void readmem(const float4 *p, size_t n, float *out)
{
	float4 acc = { 0, 0, 0, 0 };
	for (size_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
		float4 v = p[i];
		acc.x += v.x;
	}
	if (acc.x == 12345.f)
		out[0] = acc.x;
}

int main(int argc, char **argv)
{
	bool mem = argc > 1 && argv[1][0] == 'm'; // "mem": read 32 MiB instead of computing
	int period = argc > 2 ? atoi(argv[2]) : 1, count = argc > 3 ? atoi(argv[3]) : 2000;
	if (period < 1)
		period = 1;
	if (count < 100)
		count = 100;
	float *x;
	float4 *buf;
	size_t n = (32u << 20) / sizeof(float4);
	cudaMalloc(&x, 4);
	cudaMalloc(&buf, n * sizeof(float4));
	cudaMemset(buf, 0, n * sizeof(float4));
	int iters = 3000;
	for (int i = 0; i < 50; i++)
		mem ? readmem<<<264, 256>>>(buf, n, x) : work<<<16, 128>>>(x, iters);
	cudaDeviceSynchronize();
	std::vector<double> lat;
	auto next = std::chrono::steady_clock::now();
	for (int i = 0; i < count; i++) {
		next += std::chrono::milliseconds(period);
		auto t0 = std::chrono::steady_clock::now();
		if (mem)
			readmem<<<264, 256>>>(buf, n, x);
		else
			work<<<16, 128>>>(x, iters);
		cudaStreamSynchronize(0);
		lat.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
		std::this_thread::sleep_until(next);
	}
	std::sort(lat.begin(), lat.end());
	printf("p50_us %.1f p99_us %.1f\n", lat[lat.size() / 2], lat[lat.size() * 99 / 100]);
	return 0;
}
