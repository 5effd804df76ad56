/* tpcmap.h: which SMs each bit of a launch's TPC mask stands for, per GPU
 * model. The bits index physical TPCs, some fused off ("dead"), in an order
 * unlike the SM numbering (reference: h200-findings.md, per-launch TPC
 * masks). Pure rules: no I/O. */
#ifndef GS_TPCMAP_H
#define GS_TPCMAP_H

#include "gpumodel.h"

#include <stdint.h>

/* Bits of the disabled-TPC mask of a Hopper task descriptor (4 words). */
#define GS_TPC_BITS 128

/* Fills map[bit] with the first SM of the pair (SMs sm, sm + 1) that bit
 * stands for on model m, or -1 where the bit is dead. The live bits cover
 * each of the model's SMs exactly once. */
void gs_tpcmap_fill(const struct gs_gpu_model *m, int16_t map[GS_TPC_BITS]);

/* The first SM of a bit's pair, or -1 (dead bit, or bit >= GS_TPC_BITS). */
int gs_tpcmap_sm(const struct gs_gpu_model *m, unsigned bit);

#endif
