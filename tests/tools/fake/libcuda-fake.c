/* libcuda-fake.c: a libcuda.so.1 that misbehaves as a driver can, for the
 * tests of what runs the driver in a child (the TPC map calibration): every
 * function of the one list is here; cuInit hangs (GS_FAKE_CUDA=hang, the
 * default) or crashes (GS_FAKE_CUDA=crash: abort); everything else is "not
 * supported". */
#include "gs-cuda.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static CUresult fake(const char *name)
{
	if (strcmp(name, "cuInit"))
		return CUDA_ERROR_NOT_SUPPORTED;
	const char *how = getenv("GS_FAKE_CUDA");
	if (how && strcmp(how, "crash") == 0)
		abort(); /* not SIGSEGV: a sanitizer would catch it and exit */
	for (;;)
		pause();
}

#define FAKE(base, sym, ver, params, args) \
	__attribute__((visibility("default"))) CUresult sym params; \
	CUresult sym params { return fake(#sym); }
#pragma GCC diagnostic ignored "-Wunused-parameter"
GS_CUDA_API(FAKE, FAKE)
