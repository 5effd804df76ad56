/* fuzz-cvd.c: CUDA_VISIBLE_DEVICES parsing and resolution never crash, never
 * read past the input, and return only devices that exist. */
#include "cvd.h"

#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	if (!s)
		return 0;
	static const struct gs_topo_gpu gpus[2] = { { "GPU-9e4aeb94-01c0-5173-4811-4ca60f77b3a9" },
						    { "GPU-9e4aeb94-0000-5173-4811-4ca60f77b3a9" } };
	static const struct gs_topo_slice slices[2] = {
		{ 0, 2, 0, "MIG-c42101f0-a1fa-5b68-8908-7c5c887f28bd" },
		{ 1, 3, 1, "MIG-8970491e-16e0-5140-9f8f-d561baa3c186" } };
	struct gs_topo t = { 2, 2, gpus, slices };
	struct gs_cvd_device d[GS_CVD_MAX];
	size_t n;
	char err[128];
	gs_cvd_resolve(s, &t, d, GS_CVD_MAX, &n, err, sizeof err);
	for (size_t i = 0; i < n; i++)
		if (d[i].gpu >= 2 || d[i].slice >= 2)
			abort();
	free(s);
	return 0;
}
