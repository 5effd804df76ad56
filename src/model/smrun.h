/* smrun.h: where a slice's SMs are on its GPU. Every GPU instance holds a
 * run of SMs [sm_start, sm_start + sm) placed when it is made, disjoint from
 * every other instance's unless it was made over-committed; its compute
 * instances split the run by their compute-slice start. Programs build their
 * green context from one split of the GPU into groups of the layout's grid
 * (the greatest common divisor of every run's start and size, at least the
 * GPU's partition unit): groups of one split are disjoint across processes,
 * which runs of finer groups were measured not to be (docs/interposer.md).
 * Pure rules on a layout: no I/O. */
#ifndef GS_SMRUN_H
#define GS_SMRUN_H

#include "gpumodel.h"
#include "store.h"

/* The SMs a green context can be made of come in units of this many:
 * whole TPCs before Hopper, 8 SMs from Hopper on (minSmPartitionSize). */
unsigned gs_smrun_unit(const struct gs_gpu_model *m);

/* sm rounded down to whole units (never below one unit). */
unsigned gs_smrun_round(unsigned unit, unsigned sm);

/* A free run of sm SMs on the GPU for a new instance (or one growing in
 * place when self is not NULL: self's own SMs count as free). 0 with *start,
 * or -ENOSPC. With overcommit a run is always found: the one overlapping the
 * fewest SMs of other instances. */
int gs_smrun_place(unsigned unit, unsigned sm_count, const struct gs_mig_layout *l, const struct gs_mig_gi *self,
		   unsigned sm, bool overcommit, unsigned *start);

/* The run [start, start + sm) for a new instance that must hold those SMs
 * (a program's green contexts keep the SMs they were made on: migrate makes
 * its job slice again at the same SMs on another GPU): 0 where the run is on
 * the GPU, on whole units and free of other instances (or overcommit), else
 * -ENOSPC. */
int gs_smrun_place_at(unsigned unit, unsigned sm_count, const struct gs_mig_layout *l, unsigned start, unsigned sm,
		      bool overcommit);

/* The run of a MIG-profile instance: where its placement puts it (start x
 * SMs per compute slice), as MIG's hardware does, so that disjoint
 * placements hold disjoint SMs. -ENOSPC when a custom-size instance holds
 * some of them (unless overcommit). */
int gs_smrun_place_profile(const struct gs_gpu_model *m, const struct gs_mig_layout *l, const struct gs_mig_gi *gi,
			   bool overcommit, unsigned *start);

/* Places instances of a store written before runs were kept, in the order
 * every process used to split the GPU (GI, then CI), so that programs
 * running since keep their SMs. */
void gs_smrun_place_legacy(unsigned unit, unsigned sm_count, struct gs_mig_layout *l);

/* The run of a compute instance: its GI's run split by compute slices. */
void gs_smrun_of_ci(const struct gs_mig_layout *l, const struct gs_mig_ci *ci, unsigned *start, unsigned *count);

/* The grid every process of the GPU splits it by. */
unsigned gs_smrun_grid(unsigned unit, const struct gs_mig_layout *l);

/* The longest run of whole groups of grid SMs no instance holds (what
 * programs outside every slice run on): *count 0 when there is none. */
void gs_smrun_free(unsigned sm_count, unsigned grid, const struct gs_mig_layout *l, unsigned *start, unsigned *count);

/* Whether two runs share an SM. */
static inline bool gs_smrun_overlap(unsigned a, unsigned na, unsigned b, unsigned nb)
{
	return a < b + nb && b < a + na;
}

#endif
