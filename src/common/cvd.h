/* cvd.h: CUDA_VISIBLE_DEVICES, every form the CUDA runtime accepts: indexes,
 * GPU-<uuid> (or a unique prefix), MIG-<uuid> (or a unique prefix),
 * MIG-GPU-<uuid>/<gi>/<ci>, comma-separated. As in CUDA, the list ends at the
 * first entry that is invalid, unknown or repeated; gpushare also says why. */
#ifndef GS_CVD_H
#define GS_CVD_H

#include "gs.h"

#define GS_CVD_MAX 64

enum gs_cvd_kind { GS_CVD_INDEX, GS_CVD_GPU_UUID, GS_CVD_MIG_UUID, GS_CVD_MIG_GPU };

struct gs_cvd_entry {
	enum gs_cvd_kind kind;
	unsigned index;          /* GS_CVD_INDEX */
	char uuid[40];           /* GPU or MIG UUID (or prefix), without its prefix */
	unsigned gi, ci;         /* GS_CVD_MIG_GPU */
};

/* Parses s into at most max entries. Returns 0 when every entry was valid, or
 * -EINVAL with err set when the list stopped early; *n counts the entries
 * before the bad one either way. */
int gs_cvd_parse(const char *s, struct gs_cvd_entry *out, size_t max, size_t *n, char *err,
		 size_t errlen);

struct gs_topo_gpu {
	char uuid[48];           /* "GPU-..." */
};
struct gs_topo_slice {
	unsigned gpu;            /* index into gpu[] */
	unsigned gi, ci;
	char uuid[48];           /* "MIG-..." */
};
struct gs_topo {
	size_t n_gpu, n_slice;
	const struct gs_topo_gpu *gpu;
	const struct gs_topo_slice *slice;
};

struct gs_cvd_device {
	unsigned gpu;
	int slice;               /* index into slice[], or -1 for the whole GPU */
};

/* Resolves a CUDA_VISIBLE_DEVICES value (NULL: unset, every GPU) against a
 * topology. Same return convention as gs_cvd_parse. */
int gs_cvd_resolve(const char *cvd, const struct gs_topo *t, struct gs_cvd_device *out,
		   size_t max, size_t *n, char *err, size_t errlen);

#endif
