/* slices.h: the slices of a state directory as a table (every compute
 * instance, its SMs, its GPU instance's memory, what is in use and by which
 * processes), for `gpushare status` and gpushare-control's list_slices;
 * changes go through slice.h. */
#ifndef GS_SLICES_H
#define GS_SLICES_H

#include "gs.h"

#include <sys/types.h>

/* Calls emit with each line of the table, the header first. Processes of
 * other users are left out when only_uid is not (uid_t)-1. 0 or -errno. */
int gs_slices_report(const char *dir, uid_t only_uid, void (*emit)(void *ctx, const char *line), void *ctx);

/* What a process holds in a slice's memory ledger. 0 or -ENOENT. */
int gs_slices_process_bytes(const char *dir, const char *mig_uuid, pid_t pid, uint64_t *bytes);

#endif
