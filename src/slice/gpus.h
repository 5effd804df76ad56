/* gpus.h: finding NVML (NVIDIA's, or gpushare's simulated one when there is
 * no driver or GPUSHARE_SIMULATE asks for it) and the GPUs it reports, each
 * with the model the slice layer places slices by. Shared by gpushare-smi
 * and gpushare-control, which never runs gpushare-smi to learn them. */
#ifndef GS_GPUS_H
#define GS_GPUS_H

#include "gs-nvml.h"
#include "slice.h"

struct gs_nvml {
	void *handle;
	bool simulated;
#define GS_NVML_PTR(name, params) nvmlReturn_t (*name) params;
	GS_NVML_FUNCS(GS_NVML_PTR)
#undef GS_NVML_PTR
	const char *(*nvmlErrorString)(nvmlReturn_t);
};
extern struct gs_nvml gs_nvml;

/* Loads and initialises NVML once. 0, or -errno with nvidia-smi's words for
 * a missing driver in err. */
int gs_nvml_load(char *err, size_t errlen);

/* The model of a GPU NVML names: the registry's (with GPUSHARE_SLICE_ORDER
 * applied), else one of custom sizes only, its memory from NVML and its SMs
 * from GPUSHARE_GPU_SMS. 0, or -EINVAL for a bad GPUSHARE_SLICE_ORDER. */
int gs_gpus_model(nvmlDevice_t dev, const char *name, struct gs_gpu_model *out);

/* Every GPU: index, UUID, model. 0 with *n set, or -errno and why in err. */
int gs_gpus_discover(struct gs_slice_gpu *out, size_t max, size_t *n, char *err, size_t errlen);

#endif
