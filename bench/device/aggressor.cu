// aggressor.cu: keeps the GPU busy for a given time: "compute" runs the
// fixed compute-bound kernel (prints kernels/s), "mem" copies 1 GiB in a loop
// (prints GB/s read+write). Usage: aggressor compute|mem seconds
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

__global__ void spin(float *x, int iters)
{
	float v = threadIdx.x;
	for (int i = 0; i < iters; i++)
		v = v * 1.0001f + 0.5f;
	if (v == 12345.f)
		x[0] = v;
}

__global__ void copy(const float4 *a, float4 *b, size_t n)
{
	for (size_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
		b[i] = a[i];
}

int main(int argc, char **argv)
{
	bool mem = argc > 1 && strcmp(argv[1], "mem") == 0;
	double secs = argc > 2 ? atof(argv[2]) : 5;
	int sms;
	cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0);
	float *x;
	float4 *a, *b;
	size_t n = (1ul << 30) / sizeof(float4);
	cudaMalloc(&x, 4);
	if (mem) {
		cudaMalloc(&a, n * sizeof(float4));
		cudaMalloc(&b, n * sizeof(float4));
	}
	auto t0 = std::chrono::steady_clock::now();
	long k = 0;
	double el = 0;
	while (el < secs) {
		for (int i = 0; i < 4; i++, k++)
			mem ? copy<<<sms * 8, 256>>>(a, b, n) : spin<<<528, 256>>>(x, 20000);
		cudaDeviceSynchronize();
		el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
	}
	if (mem)
		printf("aggressor_gbps %.0f\n", k * 2.0 * (1ul << 30) / el / 1e9);
	else
		printf("aggressor_kernels_per_s %.0f\n", k / el);
	return 0;
}
