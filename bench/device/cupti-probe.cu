// cupti-probe.cu: whether CUPTI's kernel activity records could time a
// trace's kernels for less than the pair of CUDA events gpushare's traces
// record around each launch (src/interposer/trace.c). In one process,
// batches of 256 empty launches (cudaLaunchKernel), the sync between
// batches not timed, in ROUNDS rounds of three batches in rotating order:
//   plain   no timing
//   events  two cuEventRecord from a pool around each launch (as trace.c)
//   cupti   CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL enabled for the batch
// Prints the median ns per launch of each and the median per-round
// differences, and checks CUPTI's records: one per kernel launched while it
// was on, start < end, and the stream's kernels in order.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cuda.h>
#include <cupti.h>

#include "batch-time.h"

__global__ void empty() {}

static long records, bad_order, bad_span;
static uint64_t last_end;

static void CUPTIAPI requested(uint8_t **buf, size_t *size, size_t *max)
{
	*size = 8 << 20;
	*buf = (uint8_t *)aligned_alloc(8, *size);
	*max = 0;
}

static void CUPTIAPI completed(CUcontext, uint32_t, uint8_t *buf, size_t, size_t valid)
{
	CUpti_Activity *r = NULL;
	while (cuptiActivityGetNextRecord(buf, valid, &r) == CUPTI_SUCCESS) {
		if (r->kind != CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL && r->kind != CUPTI_ACTIVITY_KIND_KERNEL)
			continue;
		auto *k = (CUpti_ActivityKernel10 *)r;
		records++;
		bad_span += k->start >= k->end;
		bad_order += k->start < last_end;
		last_end = k->end;
	}
	free(buf);
}

int main()
{
	int rounds = getenv("ROUNDS") ? atoi(getenv("ROUNDS")) : 300;
	cudaFree(0);
	if (cuptiActivityRegisterCallbacks(requested, completed) != CUPTI_SUCCESS) {
		printf("cupti: no activity callbacks\n");
		return 1;
	}
	CUevent ev[256][2];
	for (auto &e : ev)
		if (cuEventCreate(&e[0], 0) || cuEventCreate(&e[1], 0))
			return 1;
	for (int i = 0; i < 2000; i++)
		empty<<<1, 32>>>();
	cudaDeviceSynchronize();
	long cupti_kernels = 0;
	std::vector<double> t[3], d_ev, d_cu;
	CUptiResult er = CUPTI_SUCCESS;
	for (int r = 0; r < rounds; r++) {
		double x[3];
		for (int j = 0; j < 3; j++) {
			int v = (r + j) % 3;
			if (v == 0) {
				x[0] = batch_ns([] { empty<<<1, 32>>>(); }, 256);
			} else if (v == 1) {
				int i = 0;
				x[1] = batch_ns([&] {
					cuEventRecord(ev[i][0], 0);
					empty<<<1, 32>>>();
					cuEventRecord(ev[i][1], 0);
					i++;
				}, 256);
			} else {
				if ((er = cuptiActivityEnable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL)) != CUPTI_SUCCESS)
					break;
				x[2] = batch_ns([] { empty<<<1, 32>>>(); }, 256);
				cuptiActivityDisable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL);
				cupti_kernels += 256;
			}
		}
		if (er != CUPTI_SUCCESS)
			break;
		for (int j = 0; j < 3; j++)
			t[j].push_back(x[j]);
		d_ev.push_back(x[1] - x[0]);
		d_cu.push_back(x[2] - x[0]);
	}
	if (er != CUPTI_SUCCESS) {
		const char *s = "";
		cuptiGetResultString(er, &s);
		printf("cupti: activity not enabled: %s\n", s);
		return 1;
	}
	cudaDeviceSynchronize();
	cuptiActivityFlushAll(1);
	printf("plain %.1f events %.1f cupti %.1f | events_minus_plain %.1f cupti_minus_plain %.1f | rounds %d | "
	       "cupti_records %ld of %ld kernels, bad_span %ld, out_of_order %ld\n",
	       median(t[0]), median(t[1]), median(t[2]), median(d_ev), median(d_cu), rounds, records, cupti_kernels,
	       bad_span, bad_order);
	return 0;
}
