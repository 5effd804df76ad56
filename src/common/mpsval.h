/* mpsval.h: the value syntax of NVIDIA MPS's control commands and
 * environment (reference A.6), shared by gpushare-control and its client:
 * active thread percentages and device pinned memory limits. */
#ifndef GS_MPSVAL_H
#define GS_MPSVAL_H

#include "gs.h"

/* A percentage in (0, 100]: digits with an optional fraction. 0 or -EINVAL
 * (format) / -ERANGE (out of range). */
int mpsval_parse_pct(const char *s, double *pct);
/* As MPS prints it: one decimal, "33.0". */
void mpsval_format_pct(double pct, char out[16]);

/* A limit of the control commands: an integer and G or M ("2G", "500M").
 * A bare number is refused (MPS accepts it with an unknown meaning), as is 0. */
int mpsval_parse_limit(const char *s, uint64_t *bytes);
/* As MPS reads a limit back: below 1 GiB "<MiB>M", else "<GiB>G" truncated
 * (20350M reads back as 19G). */
void mpsval_format_limit(uint64_t bytes, char out[32]);

struct mpsval_dev_limit {
	char dev[64];            /* an ordinal or a GPU UUID, as written */
	uint64_t bytes;
};
/* CUDA_MPS_PINNED_DEVICE_MEM_LIMIT: "0=1G,1=512MB" (M, MB, G, GB). Returns
 * how many entries (<= max), or -EINVAL with err set. */
int mpsval_parse_env_limits(const char *s, struct mpsval_dev_limit *out, size_t max, char *err, size_t errlen);

#endif
