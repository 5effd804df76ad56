/* sim-tool.h: how the simulated driver (cuda-sim.c) tells a profiling tool,
 * the simulated CUPTI (cupti-sim.c), about kernel launches, as NVIDIA's
 * driver tells CUPTI: an API callback on entry to and exit from each launch,
 * with the launch's correlation id, and each kernel's GPU start and end. */
#ifndef GS_SIM_TOOL_H
#define GS_SIM_TOOL_H

#include <stdint.h>

struct gs_sim_kernel {
	uint32_t correlation;    /* the launch's, from api_enter */
	uint32_t device, context, stream;
	uint64_t start, end;     /* CLOCK_MONOTONIC ns */
	unsigned grid[3], block[3];
	const char *name;        /* the function's: lives as long as its module */
};

struct gs_sim_tool {
	/* a launch's entry (cbid: CUPTI's driver callback id): its correlation
	 * id, 0 when the tool follows no launch */
	uint32_t (*api_enter)(uint32_t cbid);
	void (*api_exit)(uint32_t cbid, uint32_t correlation);
	/* a kernel the launch queued (called inside the launch, before exit) */
	void (*kernel)(const struct gs_sim_kernel *k);
};

/* libcuda.so.1 of the simulated GPU exports it (a tool looks it up with
 * dlsym): the tool from now on; NULL detaches it. Returns 0, or -EBUSY
 * where a launch callback holds the driver's callbacks (one subscriber, as
 * NVIDIA's driver has). */
typedef int (*gs_sim_tool_attach_t)(const struct gs_sim_tool *tool);
#define GS_SIM_TOOL_ATTACH "gs_sim_tool_attach"

#endif
