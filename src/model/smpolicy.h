/* smpolicy.h: which SMs each slice of a GPU may run on now, from the slices'
 * own SMs, their sharing policies (store.h, struct gs_sm_policy) and which of
 * them are busy. Pure rules over TPC-mask bit sets (tpcmask.h): the daemon
 * calls it whenever a slice goes busy or idle, and pushes the masks that
 * changed to the slices' programs (gpushare-control, elastic.c).
 *
 * The rules (docs/elastic.md):
 * - every slice always has its own SMs, or its floor (below);
 * - the pool: SMs of idle slices that lend (not isolated, not -lend off),
 *   and the GPU's SMs in no slice when no program runs outside slices;
 * - a busy slice that borrows (not isolated, not -borrow off) also runs on
 *   the pool; busy best-effort slices also run on each other's SMs;
 * - while a critical slice is busy, best-effort slices keep only their
 *   floor and borrow nothing; what they shed joins the pool of the others.
 * Every mask holds at least one live TPC of its slice's own: a launch whose
 * mask holds none would never run. */
#ifndef GS_SMPOLICY_H
#define GS_SMPOLICY_H

#include "store.h"
#include "tpcmask.h"

struct gs_smpolicy_slice {
	uint32_t own[GS_TPC_WORDS];   /* its SMs' live bits (gs_tpc_bits_in) */
	struct gs_sm_policy policy;
	bool busy;                    /* a program of it launched within the idle interval */
	uint32_t mask[GS_TPC_WORDS];  /* out: the bits its programs' launches enable now */
	bool lent;                    /* out: idle, and some of its SMs are in another slice's mask */
};

/* A best-effort slice's floor: policy.floor_sm SMs of its own (whole TPCs,
 * at least one), or a quarter of them when 0. */
void gs_smpolicy_floor(const struct gs_tpc_calib *c, const struct gs_smpolicy_slice *s, uint32_t out[GS_TPC_WORDS]);

/* Fills every slice's mask and lent. free_bits: live bits of no slice that
 * may be lent (none while programs run outside slices). */
void gs_smpolicy_masks(const struct gs_tpc_calib *c, struct gs_smpolicy_slice *sl, size_t n,
		    const uint32_t free_bits[GS_TPC_WORDS]);

#endif
