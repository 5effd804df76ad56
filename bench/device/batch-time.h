// batch-time.h: the launch probes' clock (maskcost.cu, cupti-probe.cu): the
// CPU time of a batch of launches, ns per call, the sync after it not
// timed (batches short enough that the GPU's queue never fills), and the
// median of a series of such figures.
#pragma once
#include <algorithm>
#include <chrono>
#include <cuda.h>
#include <vector>

template <class F> static double batch_ns(F launch, int per)
{
	auto t0 = std::chrono::steady_clock::now();
	for (int i = 0; i < per; i++)
		launch();
	double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count() / per;
	cuCtxSynchronize();
	return ns;
}

static double median(std::vector<double> v)
{
	std::sort(v.begin(), v.end());
	return v[v.size() / 2];
}
