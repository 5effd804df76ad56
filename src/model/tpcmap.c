/* tpcmap.c: the physical TPC map of each simulated GPU model, so that SM-mask
 * policies meet a map as irregular as a real GPU's and must read it, not
 * compute it.
 *
 * The rule, the same for every model (P = sm_count / 2 pairs):
 * - bit b is dead when (13 * b + sm_count % 32) % 32 < 5 (about 5 bits in
 *   32, scattered), and every bit after the one that holds the last pair;
 * - on the H200 bits 0-9 are as measured instead: bits 4-8 dead, 0-3 and 9
 *   live (h200-findings.md);
 * - the k-th live bit gets pair k, except that inside each whole block of 32
 *   pairs the order is strided as measured on the H200 (bit 0 -> SMs 0,1,
 *   bit 1 -> 16,17, bit 2 -> 32,33, bit 3 -> 48,49, next live bit -> 2,3):
 *   the j-th live bit of a block gets pair 8 * (j % 4) + j / 4 of it.
 * This gives the H200 64 live bits in 0-79 and SMs 128-131 on bits 80 and
 * 82, as measured; every model fits in the 128 bits. */
#include "tpcmap.h"

#include <string.h>

static int measured_h200(unsigned b)
{
	return b >= 4 && b <= 8 ? 0 : 1;
}

void gs_tpcmap_fill(const struct gs_gpu_model *m, int16_t map[GS_TPC_BITS])
{
	unsigned pairs = m->sm_count / 2, k = 0;
	bool h200 = strcmp(m->key, "h200-sxm-141gb") == 0;
	for (unsigned b = 0; b < GS_TPC_BITS; b++) {
		bool live = h200 && b < 10 ? measured_h200(b) : (13 * b + m->sm_count % 32) % 32 >= 5;
		map[b] = -1;
		if (!live || k >= pairs)
			continue;
		unsigned block = k / 32, j = k % 32, pair = k;
		if ((block + 1) * 32 <= pairs)
			pair = block * 32 + 8 * (j % 4) + j / 4;
		map[b] = (int16_t)(2 * pair);
		k++;
	}
}

int gs_tpcmap_sm(const struct gs_gpu_model *m, unsigned bit)
{
	int16_t map[GS_TPC_BITS];
	if (bit >= GS_TPC_BITS)
		return -1;
	gs_tpcmap_fill(m, map);
	return map[bit];
}
