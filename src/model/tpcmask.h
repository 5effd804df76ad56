/* tpcmask.h: a GPU's measured TPC map (which SMs each bit of a launch's
 * disabled-TPC mask stands for, found by calibration on that GPU and driver)
 * and the masks built from it. Pure data and rules: no I/O.
 *
 * Masks here are sets of *enabled* bits, four 32-bit words as in the Hopper
 * task descriptor (bit b is word b / 32, bit b % 32); the descriptor wants
 * the complement (a set bit disables its TPC), which gs_tpc_disabled gives. */
#ifndef GS_TPCMASK_H
#define GS_TPCMASK_H

#include "tpcmap.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GS_TPC_WORDS 4
#define GS_TPC_MAX_SMS 256

struct gs_tpc_calib {
	unsigned sm_count;      /* SMs the GPU reported (a kernel with no mask ran on all of them) */
	unsigned tmd_version;   /* the task descriptor's version byte (0x40: Hopper) */
	char driver[64];        /* the driver it was measured with (no spaces) */
	/* the SMs (%smid outside MPS) each bit brings, a bitset; none: dead */
	uint64_t sms[GS_TPC_BITS][GS_TPC_MAX_SMS / 64];
};

/* The text form, kept by gpushare-control per GPU:
 *   gpushare-tpcmap 1
 *   driver <version>
 *   sms <count>
 *   tmd 0x40
 *   bit <b> <sm> <sm>...      (live bits only, in order)
 *   end
 * Parse refuses anything else with a message naming the line; it also runs
 * gs_tpc_calib_check. 0 or -EINVAL. */
int gs_tpc_calib_parse(const char *text, size_t len, struct gs_tpc_calib *c, char *err, size_t errlen);
/* Writes the text form into buf; the length, or -ENOSPC. */
int gs_tpc_calib_format(const struct gs_tpc_calib *c, char *buf, size_t len);
/* Whether the map can be used: the known TMD version, every SM below
 * sm_count brought by exactly one live bit, no SM above it. 0 or -EINVAL. */
int gs_tpc_calib_check(const struct gs_tpc_calib *c, char *err, size_t errlen);

/* The live bits whose SMs all lie in [start, start + count). */
void gs_tpc_bits_in(const struct gs_tpc_calib *c, unsigned start, unsigned count, uint32_t bits[GS_TPC_WORDS]);
/* The live bits that bring any SM of [start, start + count). */
void gs_tpc_bits_touching(const struct gs_tpc_calib *c, unsigned start, unsigned count, uint32_t bits[GS_TPC_WORDS]);
/* All live bits. */
void gs_tpc_bits_all(const struct gs_tpc_calib *c, uint32_t bits[GS_TPC_WORDS]);
/* How many SMs a set of bits brings (dead bits bring none). */
unsigned gs_tpc_sm_count(const struct gs_tpc_calib *c, const uint32_t bits[GS_TPC_WORDS]);
/* The first n live bits of a set, in bit order (fewer when it has fewer). */
void gs_tpc_bits_first(const struct gs_tpc_calib *c, const uint32_t bits[GS_TPC_WORDS], unsigned n,
		       uint32_t out[GS_TPC_WORDS]);
/* The descriptor's words for a set of enabled bits: every other bit set. */
void gs_tpc_disabled(const uint32_t enabled[GS_TPC_WORDS], uint32_t words[GS_TPC_WORDS]);
/* Whether a set holds at least one live bit. */
bool gs_tpc_any_live(const struct gs_tpc_calib *c, const uint32_t bits[GS_TPC_WORDS]);
/* How many bits are live (the GPU's TPCs). */
unsigned gs_tpc_live_count(const struct gs_tpc_calib *c);

/* The map's file in the state directory, "tpcmap-GPU-<uuid>", from a GPU
 * UUID as NVML prints it (anything else: -EINVAL, so that no name from
 * outside can reach another path). 0, -EINVAL or -ENAMETOOLONG. */
int gs_tpc_file_name(const char *gpu_uuid, char *out, size_t len);
/* What that file holds when calibration failed, so that gpushare-smi can say
 * why: one line "gpushare-tpcmap-failed <reason>" (the reason made one
 * printable line). Format: the length, or -ENOSPC; parse: 0 with the reason,
 * or -EINVAL when the text is not such a line. */
#define GS_TPC_FAILED "gpushare-tpcmap-failed"
int gs_tpc_failed_format(const char *reason, char *buf, size_t len);
int gs_tpc_failed_parse(const char *text, size_t len, char *reason, size_t reasonlen);
/* The driver's version from the text of /proc/driver/nvidia/version (its
 * first line's first word of digits and dots, "580.159.04"). 0, -ENOENT
 * (none), -ENAMETOOLONG. */
int gs_tpc_driver_token(const char *text, char *out, size_t len);

#endif
