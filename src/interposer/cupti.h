/* cupti.h: the CUPTI backend of kernel traces (cupti.c): libcupti loaded
 * with dlopen, launch callbacks that give the thread's launch its
 * correlation ids, kernel records collected from CUPTI's buffers, and
 * their timestamps turned into CLOCK_MONOTONIC. */
#ifndef GS_INTERPOSER_CUPTI_H
#define GS_INTERPOSER_CUPTI_H

#include "gs-cupti.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The correlation ids CUPTI's callbacks gave the calling thread's launch:
 * the driver call's (set on its entry) and the runtime call's around it
 * (set on entry, cleared on exit); 0: none. */
struct gs__cupti_ids {
	uint32_t driver, runtime;
};
extern __thread struct gs__cupti_ids gs__cupti_ids __attribute__((tls_model("initial-exec")));

/* Loads libcupti (GPUSHARE_CUPTI_LIBRARY, else the names in cupti.c) and
 * starts kernel records and the launch callbacks; ctx is synchronised at
 * exit before the last records are asked for. 0, or -errno with why set
 * (then CUPTI is left as it was found, and not used). */
int gs__cupti_start(CUcontext ctx, char *why, size_t len);
/* The file it loaded ("" before). */
const char *gs__cupti_library(void);

enum { GS__CUPTI_FLUSH_NONE, GS__CUPTI_FLUSH_DONE, GS__CUPTI_FLUSH_FORCED };
/* Asks CUPTI for its buffers (FLUSH_DONE: those whose kernels all ended;
 * FORCED: all, for the end), then hands each kernel record delivered so
 * far to each: its correlation id and GPU start and end in CLOCK_MONOTONIC
 * ns (both 0 when CUPTI has no time for it). After the exit flush no call
 * reaches CUPTI any more. Returns the records handed. */
unsigned long gs__cupti_poll(int flush, void (*each)(void *arg, uint32_t id, uint64_t start, uint64_t end),
			     void *arg);
/* Samples CUPTI's clock against CLOCK_MONOTONIC again (the offset drifts). */
void gs__cupti_reanchor(void);
/* How well the offset is known: half the sampling window, the worst one. */
double gs__cupti_clock_error_us(void);
/* Records CUPTI dropped for lack of a buffer, so far. */
unsigned long gs__cupti_dropped(void);
/* In a forked child: CUPTI is the parent's (its threads are there), and no
 * call reaches it any more, at exit neither. */
void gs__cupti_forked(void);
/* Whether fn lies in the libcupti the trace loaded (its callbacks on the
 * driver's launch-callback table are not the program's: launchcb.c). */
bool gs__cupti_owns(const void *fn);

#endif
