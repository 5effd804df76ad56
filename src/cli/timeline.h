/* timeline.h: a trace's kernels drawn as an SVG figure (gpushare
 * timeline): SMs or slices up the side, time along, a colour per process,
 * a legend and a time axis. */
#ifndef GS_TIMELINE_H
#define GS_TIMELINE_H

#include "tracefile.h"

#include <stdio.h>

enum timeline_by { TIMELINE_BY_SM, TIMELINE_BY_SLICE };

/* Writes the figure of t (at least one kernel) to out. 0, or -ENOMEM. */
int timeline_svg(const struct tracefile *t, enum timeline_by by, FILE *out);

/* The colour of app i ("#rrggbb"): ten of Tableau's, then one of
 * TRACEFILE_MAX_APPS more, each distinct. */
void timeline_colour(unsigned i, char out[8]);

#endif
