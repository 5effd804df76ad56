/* gpumodel.h: the registry of GPU models and their MIG profiles, as nvidia-smi
 * prints them. Pure data and rules: no I/O. Figures from NVIDIA's MIG guide and
 * from captures of real output (docs/models.md lists the sources). */
#ifndef GS_GPUMODEL_H
#define GS_GPUMODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GS_PROFILE_NAME_MAX 32

struct gs_gi_profile {
	unsigned id;            /* NVIDIA profile ID: 19, 20, 15, 14, 9, 5, 0 */
	unsigned nvml_enum;     /* NVML_GPU_INSTANCE_PROFILE_* index */
	const char *name;       /* without "MIG ": "1g.5gb" */
	unsigned g;             /* compute slices */
	unsigned size;          /* memory slices spanned */
	unsigned max_instances;
	uint32_t memory_mib;
	unsigned sm, ce, dec, enc, jpeg, ofa;
	uint8_t starts;         /* bit s set: logical start s is allowed */
	unsigned ci_full_id;    /* CI profile ID of the whole-GI CI */
};

struct gs_ci_profile {
	unsigned id;            /* NVML CI profile enum = profile ID on these GPUs */
	unsigned c;             /* compute slices of the GI it takes */
	unsigned max_instances;
	unsigned sm;
	bool is_default;        /* printed with '*', used by -C and plain -cci */
	char name[GS_PROFILE_NAME_MAX];
};

struct gs_gpu_model {
	const char *key;        /* "a100-sxm4-40gb" */
	const char *name;       /* "NVIDIA A100-SXM4-40GB" */
	uint32_t pci_id;        /* NVML's pciDeviceId: the PCI device ID << 16 | 0x10DE (mig-parted's device-filter) */
	unsigned sm_count;
	uint32_t memory_mib;    /* the total nvidia-smi prints */
	unsigned cc_major, cc_minor;
	unsigned power_cap_w;
	uint32_t bar1_mib;
	unsigned mem_slices;    /* 8 on MIG GPUs, 0 without MIG */
	bool swapped;           /* physical slice = logical XOR 4 (reference B.6) */
	unsigned sm_per_slice;  /* SMs of one compute slice, for CI sizes */
	uint32_t gi_overhead_kib;   /* memory a GI uses when idle, per memory slice */
	uint32_t bar1_slice_kib;    /* BAR1 a GI gets, per memory slice */
	const struct gs_gi_profile *gi;
	size_t n_gi;
};

const struct gs_gpu_model *gs_model_find(const char *key);
/* Match by the name NVML reports ("NVIDIA H100 80GB HBM3"); NULL if unknown. */
const struct gs_gpu_model *gs_model_by_name(const char *name);
size_t gs_model_count(void);
const struct gs_gpu_model *gs_model_at(size_t i);
const struct gs_gpu_model *gs_model_default(void);
/* Applies GPUSHARE_SLICE_ORDER=identity|swapped (the board's memory-slice
 * order, reference B.6) to a copy of a model. -EINVAL on another value. */
int gs_model_apply_slice_order(struct gs_gpu_model *m);

const struct gs_gi_profile *gs_model_gi_by_id(const struct gs_gpu_model *m, unsigned id);
/* Accepts "3g.20gb", "MIG 3g.20gb" or a decimal ID. NULL when none matches. */
const struct gs_gi_profile *gs_model_gi_by_name(const struct gs_gpu_model *m, const char *s);

/* The CI profiles of a GI profile, in ID order; returns how many (<= max). */
size_t gs_model_ci_profiles(const struct gs_gpu_model *m, const struct gs_gi_profile *gi,
			    struct gs_ci_profile *out, size_t max);

#endif
