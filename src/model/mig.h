/* mig.h: the MIG layout engine: placements, GI/CI ID assignment and capacity,
 * reproducing NVIDIA's choices (reference B.5, B.6). Pure: the caller loads and
 * stores the layout. Used by gpushare's soft slices and by the simulated NVML. */
#ifndef GS_MIG_H
#define GS_MIG_H

#include "gpumodel.h"
#include "store.h"

#define GS_MIG_CUSTOM_FIRST_ID 15 /* NVIDIA GI IDs end at 14 */

/* Results use NVML's numbers, so that the simulated NVML returns them as they
 * are and nvidia-smi's messages map one to one. */
enum gs_mig_rc {
	GS_MIG_OK = 0,
	GS_MIG_INVALID = 2,
	GS_MIG_NOT_SUPPORTED = 3,
	GS_MIG_NOT_FOUND = 6,
	GS_MIG_IN_USE = 19,
	GS_MIG_INSUFFICIENT = 23,
};

const char *gs_mig_strerror(int rc);

/* GI ID of a placement: heap index of its physical memory-slice span. */
unsigned gs_mig_gi_id_for(const struct gs_gpu_model *m, unsigned start, unsigned size);

struct gs_mig_gi *gs_mig_gi_find(struct gs_mig_layout *l, unsigned id);
const struct gs_mig_ci *gs_mig_ci_find(const struct gs_mig_layout *l, unsigned gi, unsigned ci);

/* Creates a GI of a profile at start (or the automatic placement when start
 * is negative). On success *id is set. Nothing changes on failure. */
int gs_mig_gi_create(const struct gs_gpu_model *m, struct gs_mig_layout *l,
		     const struct gs_gi_profile *p, int start, unsigned *id);
/* Creates a gpushare custom GI of sm SMs and memory_mib MiB. Refused with
 * GS_MIG_INSUFFICIENT if it exceeds the free SMs or memory, unless overcommit. */
int gs_mig_gi_create_custom(const struct gs_gpu_model *m, struct gs_mig_layout *l,
			    unsigned sm, uint32_t memory_mib, bool overcommit, unsigned *id);
int gs_mig_gi_destroy(struct gs_mig_layout *l, unsigned id);
/* How many more GIs of this profile fit now (the -lgip "Free" count). */
unsigned gs_mig_gi_remaining(const struct gs_gpu_model *m, const struct gs_mig_layout *l,
			     const struct gs_gi_profile *p);
/* SMs and guaranteed memory no GI holds (what a custom size may still take). */
void gs_mig_free(const struct gs_gpu_model *m, const struct gs_mig_layout *l, unsigned *sm, uint32_t *mib);
/* Free placement starts of a profile, as a bit mask. */
unsigned gs_mig_gi_free_starts(const struct gs_mig_layout *l, const struct gs_gi_profile *p);

/* CI profiles of an existing GI (custom GIs have one, the whole GI). */
size_t gs_mig_ci_profiles(const struct gs_gpu_model *m, const struct gs_mig_gi *gi,
			  struct gs_ci_profile *out, size_t max);
int gs_mig_ci_create(const struct gs_gpu_model *m, struct gs_mig_layout *l, unsigned gi,
		     unsigned profile_id, unsigned *ci);
int gs_mig_ci_destroy(struct gs_mig_layout *l, unsigned gi, unsigned ci);
unsigned gs_mig_ci_remaining(const struct gs_gpu_model *m, const struct gs_mig_layout *l,
			     unsigned gi, unsigned profile_id);

/* Name of a GI as nvidia-smi prints it after "MIG " (custom: "<sm>sm.<mem>"). */
void gs_mig_gi_name(const struct gs_gpu_model *m, const struct gs_mig_gi *gi, char *out, size_t len);

#endif
