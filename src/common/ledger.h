/* ledger.h: a memory ledger shared by every process of one slice (or of one
 * simulated GPU): a small file mapped by all of them, one slot per process,
 * a limit, and a robust process-shared mutex held only for a few loads and
 * stores, so charging takes no system call. A process that dies, even by
 * SIGKILL, is found by pid and start time and its charges are reclaimed. */
#ifndef GS_LEDGER_H
#define GS_LEDGER_H

#include "gs.h"

#include <sys/types.h>

#define GS_LEDGER_SLOTS 1024

struct gs_ledger;

struct gs_ledger_usage {
	pid_t pid;
	uint64_t bytes;
};

/* Maps the ledger at path (never through a symlink), creating it with file
 * mode mode and limit when it is not there (mode 0: it must be). *out is
 * owned by the caller and freed by gs_ledger_close. 0 or negative errno
 * (-EPROTO: not a ledger). */
int gs_ledger_open(const char *path, uint64_t limit, unsigned mode, struct gs_ledger **out);
/* Maps the ledger open at fd (one gpushare-control passed), read-write; the
 * fd stays the caller's. */
int gs_ledger_open_fd(int fd, struct gs_ledger **out);
/* Maps a ledger read-only, for its used bytes and its processes: what a
 * slice's neighbours and the listings read. Charges fail with -EROFS. */
int gs_ledger_open_ro(const char *path, struct gs_ledger **out);
void gs_ledger_close(struct gs_ledger *l);

/* Charges bytes to the calling process: 0, or -ENOMEM (and nothing changes)
 * when the slice would go over its limit even after reclaiming dead
 * processes; -ENOSPC when every slot is taken. */
int gs_ledger_charge(struct gs_ledger *l, uint64_t bytes);
/* Gives back what an earlier charge of the calling process took. */
void gs_ledger_uncharge(struct gs_ledger *l, uint64_t bytes);

uint64_t gs_ledger_used(struct gs_ledger *l);
/* What the calling process has charged (0 before its first charge). */
uint64_t gs_ledger_held(struct gs_ledger *l);
uint64_t gs_ledger_limit(struct gs_ledger *l);
void gs_ledger_set_limit(struct gs_ledger *l, uint64_t limit);
/* Frees the charges of processes that no longer exist; returns the bytes. */
uint64_t gs_ledger_reclaim(struct gs_ledger *l);
/* What live processes hold (the dead's charges reclaimed when writable,
 * left out when read-only). */
uint64_t gs_ledger_live(struct gs_ledger *l);
/* The mode of a ledger made in dir: 0644 where others may read the
 * directory (the guarantee check reads its neighbours), else 0600. */
unsigned gs_ledger_mode(const char *dir);
/* What process pid has charged. */
uint64_t gs_ledger_pid_bytes(struct gs_ledger *l, pid_t pid);
/* Suspend and resume (gpushare-control, the simulated driver's checkpoint
 * API), for the process pid that started at start (its start time now
 * where 0; a pid another process has taken since matches nothing): what it
 * holds taken out of the ledger while its memory is on the host (0 and the
 * bytes, 0 when it holds nothing), and put back: -ENOMEM when it does not
 * fit beside the others now (nothing changes), -ESRCH when it is gone. */
int gs_ledger_take_out(struct gs_ledger *l, pid_t pid, uint64_t start, uint64_t *bytes);
/* The same for at most most bytes of what it holds (the interposer's swap
 * moves only part of a program's memory: the rest stays charged). */
int gs_ledger_take_part(struct gs_ledger *l, pid_t pid, uint64_t start, uint64_t most, uint64_t *bytes);
int gs_ledger_put_back(struct gs_ledger *l, pid_t pid, uint64_t start, uint64_t bytes);
/* A hold on that process's slot (-ESRCH: none): suspended, its charges
 * wait; and whether the calling process is held (no lock taken). */
int gs_ledger_set_hold(struct gs_ledger *l, pid_t pid, uint64_t start, bool on);
bool gs_ledger_held_here(const struct gs_ledger *l);
/* Lists live charged processes; returns how many were written (<= max). */
size_t gs_ledger_usage(struct gs_ledger *l, struct gs_ledger_usage *out, size_t max);

#endif
