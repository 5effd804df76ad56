/* slices.h: the slices of a state directory as a table (every compute
 * instance, its SMs, its GPU instance's memory, what is in use and by which
 * processes), for `gpushare status` and gpushare-control's list_slices;
 * changes go through slice.h. */
#ifndef GS_SLICES_H
#define GS_SLICES_H

#include "gs.h"
#include "slice.h"
#include "store.h"

#include <sys/types.h>

#define GS_SLICES_MAX_PROCS 32

/* A process a row's ledger charges. */
struct gs_slice_proc {
	pid_t pid;
	uid_t uid;                               /* (uid_t)-1 once gone */
	uint64_t bytes;
	char command[32];                        /* /proc/<pid>/comm, made safe for a table and JSON */
};

/* One line of the table: a slice, or a GPU's remainder (memory no slice is
 * guaranteed, where gpushare-control puts programs of no slice). */
struct gs_slice_row {
	char slice[GS_UUID_STR + 8];             /* MIG-<uuid>; "-" for a remainder */
	char name[32];                           /* "" when unnamed */
	bool remainder, refuse, job;
	int gpu;                                 /* its index, -1 when not among the GPUs given */
	char gpu_uuid[48];
	int gi, ci;                              /* -1 for a remainder */
	unsigned sms, sm_start;                  /* sm_start: its GPU instance's first SM */
	uint64_t memory, guarantee, used, limit; /* bytes; limit: its ledger's */
	uint32_t users[GS_SLICE_MAX_USERS];
	unsigned n_users;                        /* 0: open to everyone */
	struct gs_sm_policy sm_policy;           /* how its SMs are shared (store.h) */
	unsigned oom_wait_s;                     /* how long an allocation past its limit waits (0: refused at once) */
	unsigned mem_turn_s;                     /* its turn at the GPU's memory (0: none) */
	bool borrow_mem;                         /* borrows the other slices' unused guarantees */
	struct gs_slice_proc procs[GS_SLICES_MAX_PROCS];
	size_t n_procs;
	size_t procs_omitted;                    /* the viewer's processes past GS_SLICES_MAX_PROCS */
	bool busy;                               /* any process holds it, the viewer's or not */
};

/* Every slice and remainder of dir: *rows malloc'ed (the caller frees), GPU
 * indexes from gpus (may be NULL). Processes of other users are left out when
 * only_uid is not (uid_t)-1. 0 or -errno with why in err. */
int gs_slices_rows(const char *dir, uid_t only_uid, const struct gs_slice_gpu *gpus, size_t n_gpus,
		   struct gs_slice_row **rows, size_t *n, char *err, size_t errlen);

/* Calls emit with each line of the table of rows (the header first), or of
 * its JSON form (docs/control.md gives the schema). */
void gs_slices_print(const struct gs_slice_row *rows, size_t n, bool as_json, void (*emit)(void *ctx, const char *line),
		     void *ctx);
/* gs_slices_rows, then gs_slices_print: 0 or -errno with why in err. */
int gs_slices_report(const char *dir, uid_t only_uid, const struct gs_slice_gpu *gpus, size_t n_gpus, bool as_json,
		     void (*emit)(void *ctx, const char *line), void *ctx, char *err, size_t errlen);

/* An SM-sharing policy in the table's words: the mode ("shared", "isolated",
 * "best-effort"), then what sets it apart: ",no-lend", ",no-borrow" (a
 * shared slice's), ",floor=<SMs>" (a best-effort one's), ",critical" or ",low". */
void gs_slices_sm_policy_text(const struct gs_sm_policy *p, char *out, size_t len);

/* A user's number from a name or a number: 0, or -1 when there is no such user. */
int gs_slices_user_id(const char *name, uint32_t *uid);
/* A user's name, or their number where there is none; characters that would
 * break a table or JSON become '_'. */
void gs_slices_user_name(uid_t uid, char *out, size_t len);
/* A process's command name (/proc/<pid>/comm), "?" once gone; characters that
 * would break a table or JSON become '_'. */
void gs_slices_command(pid_t pid, char *out, size_t len);

/* What a process holds in a slice's memory ledger. 0 or -ENOENT. */
int gs_slices_process_bytes(const char *dir, const char *mig_uuid, pid_t pid, uint64_t *bytes);

#endif
