/* slices.h: the slices of a state directory as a table (every compute
 * instance, its SMs, its GPU instance's memory, what is in use and by which
 * processes), for `gpushare status` and gpushare-control's list_slices. */
#ifndef GS_SLICES_H
#define GS_SLICES_H

#include "gs.h"

#include <sys/types.h>

/* Calls emit with each line of the table, the header first. Processes of
 * other users are left out when only_uid is not (uid_t)-1. 0 or -errno. */
int gs_slices_report(const char *dir, uid_t only_uid, void (*emit)(void *ctx, const char *line), void *ctx);

/* Sets the memory limit of the GPU instance behind a compute instance
 * (MIG-<uuid> or a unique prefix) in the store and in its live ledger, so
 * running processes are held to it at their next allocation. 0, -ENOENT
 * when no such slice, or another -errno. */
int gs_slices_set_memory(const char *dir, const char *mig_uuid, uint64_t bytes);

/* Sets the SMs (for contexts created afterwards) and the memory (at once)
 * of a gpushare custom-size slice. A wholly guaranteed slice stays wholly
 * guaranteed, and then the GPU's SMs and memory (when not 0) must hold every
 * GPU instance's SMs and guarantee; with overcommit nothing is checked and
 * the guarantee does not grow. 0, -ENOENT, -EPERM (a MIG-profile slice),
 * -ENOSPC (does not fit), or another -errno. */
int gs_slices_resize(const char *dir, const char *mig_uuid, unsigned sm, uint64_t bytes, unsigned gpu_sms,
		     uint64_t gpu_bytes, bool overcommit);

/* Sets a slice's memory guarantee: at most its limit (-EINVAL), and the
 * guarantees of its GPU must fit in gpu_bytes (-ENOSPC). */
int gs_slices_set_guarantee(const char *dir, const char *mig_uuid, uint64_t bytes, uint64_t gpu_bytes);

/* Who may join a slice: users (NULL: unchanged; n == 0: everyone), and
 * whether a user arriving while another user holds it is refused (1),
 * queued (0) or as before (-1). 0, -ENOENT, -E2BIG or another -errno. */
int gs_slices_set_access(const char *dir, const char *mig_uuid, const uint32_t *users, unsigned n, int refuse);

/* What a process holds in a slice's memory ledger. 0 or -ENOENT. */
int gs_slices_process_bytes(const char *dir, const char *mig_uuid, pid_t pid, uint64_t *bytes);

#endif
