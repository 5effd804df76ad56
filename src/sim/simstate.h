/* simstate.h: what the simulated NVML and CUDA libraries share: which GPUs
 * are simulated (GPUSHARE_SIMULATE), their identities, and the state that
 * processes of one simulated GPU share in GPUSHARE_SIM_DIR: its hardware MIG
 * layout (a slice store) and its memory (a ledger). */
#ifndef GS_SIMSTATE_H
#define GS_SIMSTATE_H

#include "gpumodel.h"
#include "ledger.h"
#include "cvd.h"
#include "store.h"

#define GS_SIM_MAX_GPU 8

struct gs_sim_gpu {
	unsigned index;
	const struct gs_gpu_model *model;
	char uuid[48];           /* "GPU-..." */
	char bus_id[32];         /* "00000000:10:1C.0" */
};

/* Reads GPUSHARE_SIMULATE (model keys, comma-separated; default
 * a100-sxm4-40gb) and GPUSHARE_SIM_UUIDS (optional GPU-<uuid> list).
 * 0, or -EINVAL with err set on an unknown key or malformed UUID. */
int gs_sim_gpus(struct gs_sim_gpu *out, size_t max, size_t *n, char *err, size_t errlen);

/* $GPUSHARE_SIM_DIR, else /tmp/gpushare-sim-<uid>; created on demand. */
int gs_sim_dir(char *out, size_t len);

/* Opens the memory ledger of a simulated GPU (capacity: the model's memory). */
int gs_sim_memory(const struct gs_sim_gpu *g, struct gs_ledger **out);

#endif
