/* kubeenv.h: the limits that Kubernetes GPU-sharing schedulers hand a
 * container through its environment, read so that libgpushare.so can
 * enforce them where a cluster already sets them: HAMi's
 * CUDA_DEVICE_MEMORY_LIMIT[_<i>] and CUDA_DEVICE_SM_LIMIT[_<i>], KAI's
 * GPU_PORTION. They are requests that only narrow a slice. libc only. */
#ifndef GS_KUBEENV_H
#define GS_KUBEENV_H

#include "gs.h"

#define GS_KUBEENV_DEVS 16 /* device indices read, as the process sees them */

struct gs_kubeenv {
	/* per device index: the _<i> value, else the general one; 0: none */
	uint64_t memory[GS_KUBEENV_DEVS];
	unsigned sm_percent[GS_KUBEENV_DEVS]; /* 1..99; 0: none (HAMi: 0 and 100 are no limit) */
	uint32_t portion_ppm;                 /* GPU_PORTION in millionths of the GPU's memory; 0: none */
};

/* Where the variables come from: getenv for a process, a table in tests and
 * the fuzz target. NULL or "" is unset. */
typedef const char *(*gs_kubeenv_get)(const char *name, void *arg);

/* Reads every variable. A malformed one is -EINVAL (-ERANGE past its range),
 * with err naming the variable, what it holds and what would be right: the
 * caller refuses CUDA, never runs unlimited. */
int gs_kubeenv_parse(gs_kubeenv_get get, void *arg, struct gs_kubeenv *k, char *err, size_t errlen);

/* A fraction in (0, 1], "0.5", ".25", "1", up to 9 decimals (cut to
 * millionths, at least 1): 0, -EINVAL (format) or -ERANGE. */
int gs_kubeenv_fraction(const char *s, uint32_t *ppm);

/* The narrowest memory limit over devices [0, ndev) (GPU_PORTION of a GPU
 * of gpu_total bytes included; 0 when gpu_total is unknown and no other
 * applies) and the narrowest SM percentage; 0: none. */
uint64_t gs_kubeenv_memory(const struct gs_kubeenv *k, size_t ndev, uint64_t gpu_total);
unsigned gs_kubeenv_sm_percent(const struct gs_kubeenv *k, size_t ndev);
/* Whether any of them sets a limit. */
bool gs_kubeenv_any(const struct gs_kubeenv *k);

#endif
