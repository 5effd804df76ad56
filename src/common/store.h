/* store.h: the slice store, the durable truth of which slices (soft MIG GPU
 * and compute instances) exist on which GPU. A text file in the state dir,
 * replaced atomically under a lock, so a killed writer leaves the old or the
 * new state and concurrent writers never lose an update. */
#ifndef GS_STORE_H
#define GS_STORE_H

#include "gs.h"

#define GS_MIG_MAX_GI 32
#define GS_MIG_MAX_CI 64
#define GS_STORE_MAX_GPU 16
#define GS_MIG_CUSTOM (-1) /* profile_id of a gpushare custom-size GI */

struct gs_mig_gi {
	unsigned id;
	int profile_id;          /* GS_MIG_CUSTOM for custom sizes */
	unsigned start, size;    /* logical placement in memory slices (0:0 if custom) */
	unsigned sm;
	uint32_t memory_mib;     /* the limit */
	uint64_t serial;         /* creation number: a re-created GI gets new UUIDs */
	/* memory no other GPU instance may take (gpushare): the whole limit
	 * unless created over-committed; the guarantees of a GPU fit in it */
	uint32_t guarantee_mib;
	/* its SMs: [sm_start, sm_start + sm) (smrun.h); not placed in stores
	 * written before runs were kept, until the slice layer places them */
	unsigned sm_start;
	bool sm_placed;
};

#define GS_SLICE_MAX_USERS 16
#define GS_STORE_CGROUP_MAX 192
#define GS_STORE_NAME_MAX 32 /* a slice name's size, its NUL included */

/* gpushare: how a slice's SMs are shared with the other slices of its GPU
 * where TPC masks work (docs/elastic.md). All zero is the default: a shared
 * slice that lends its SMs while it is idle and borrows idle SMs while it is
 * busy. An isolated slice never lends nor borrows. Best-effort slices lend
 * and borrow, and also run on each other's SMs while they are all busy. A
 * critical slice (any mode) makes the best-effort slices of its GPU shrink
 * to their floor while it is busy, and the launches of its low-priority
 * slices wait. Busy over-committed slices whose own SMs
 * overlap split those by weight where their weights differ. A timeslice
 * slice's programs take turns. */
enum gs_sm_mode { GS_SM_SHARED = 0, GS_SM_ISOLATED = 1, GS_SM_BEST_EFFORT = 2 };
enum gs_sm_priority { GS_PRIO_NORMAL = 0, GS_PRIO_CRITICAL = 1, GS_PRIO_LOW = 2 };
struct gs_sm_policy {
	uint8_t mode;            /* enum gs_sm_mode */
	bool no_lend, no_borrow; /* a shared slice's switches (an isolated one has both) */
	uint8_t priority;        /* enum gs_sm_priority */
	unsigned floor_sm;       /* a best-effort slice's SMs beside a busy critical one (0: a quarter of its own, at least a TPC) */
	unsigned weight;         /* its part, against the other busy slices', of the SMs they all run on (0: 1) */
	unsigned timeslice_ms;   /* its programs take turns of this long on its SMs (0: they run at once, as under MPS) */
};
#define GS_SM_MAX_WEIGHT 100
#define GS_OOM_WAIT_MAX_S 86400
#define GS_MEM_TURN_MAX_S 86400
#define GS_TIMESLICE_MAX_MS 1000

/* The names of the modes ("shared", "isolated", "best-effort"), as the store
 * and the commands write them; "?" for a mode that is none. */
const char *gs_store_sm_mode_name(unsigned mode);
/* The mode a name means, or -1. */
int gs_store_sm_mode_parse(const char *name);
/* The names of the priorities ("normal", "critical", "low"), "?" for none;
 * the priority a name means, or -1. */
const char *gs_store_priority_name(unsigned priority);
int gs_store_priority_parse(const char *name);
/* Whether a policy is the default one (all zero), which the store does not write. */
bool gs_store_sm_policy_default(const struct gs_sm_policy *p);

struct gs_mig_ci {
	unsigned gi, id, profile_id;
	unsigned start, size;    /* in the GI's compute slices */
	unsigned sm;
	uint64_t serial;
	/* gpushare: who may join the slice (none listed: every user; root
	 * always), and whether a user arriving while another user's server
	 * holds it is refused rather than queued */
	bool refuse_busy;
	unsigned n_users;
	uint32_t users[GS_SLICE_MAX_USERS];
	/* an allocation past the slice's limit waits this long for memory its
	 * processes free before it is refused (0: refused at once) */
	unsigned oom_wait_s;
	/* the slices of a GPU made with it take turns at the GPU's memory, this
	 * many seconds each: the others' programs suspended meanwhile (0: none) */
	unsigned mem_turn_s;
	/* an over-committed slice that borrows the other slices' unused
	 * guarantees above its own: its programs suspended when an owner needs
	 * its guarantee back (docs/control.md, "Lending memory") */
	bool borrow_mem;
	/* an ephemeral slice (gpushare run --memory/--sms) lives as long as
	 * its job: the process that asked for it (pid and start time) or, with
	 * the daemon, the cgroup it is bound to; removed when they are gone */
	int32_t owner_pid;
	uint64_t owner_start;
	/* every process of this cgroup (and below it) is in the slice,
	 * whatever started it: "" when unbound */
	char cgroup[GS_STORE_CGROUP_MAX];
	/* users whose programs land here when they name no slice */
	unsigned n_default;
	uint32_t default_for[GS_SLICE_MAX_USERS];
	/* a human name, unique in the store (gs_store_name_valid): "" when unnamed */
	char name[GS_STORE_NAME_MAX];
	/* how its SMs are shared with the GPU's other slices (elastic SMs) */
	struct gs_sm_policy sm_policy;
};

struct gs_mig_layout {
	size_t n_gi, n_ci;
	struct gs_mig_gi gi[GS_MIG_MAX_GI];
	struct gs_mig_ci ci[GS_MIG_MAX_CI];
	uint64_t next_serial;
	/* a grid the GPU keeps splitting by while programs run (0: none): a
	 * slice gone beside running ones leaves the split as it was */
	unsigned grid_floor;
};

struct gs_store_gpu {
	char uuid[48];           /* "GPU-..." as NVML reports it */
	bool mig;                /* soft MIG mode on */
	/* the GPU's size, as the slice layer last saw it (0: not known yet):
	 * what readers without NVML need to place and split SMs */
	unsigned sm_count, sm_unit;
	uint32_t memory_mib;
	struct gs_mig_layout layout;
};

struct gs_store {
	size_t n_gpu;
	struct gs_store_gpu gpu[GS_STORE_MAX_GPU];
};

/* Whether a cgroup path may be stored: absolute, printable, no spaces, no
 * "." or ".." components, shorter than GS_STORE_CGROUP_MAX. */
bool gs_store_cgroup_valid(const char *path);

/* Whether a slice name may be stored: 1-31 of [A-Za-z0-9._-], not starting
 * with '-', not made of hex digits and '-' alone (a UUID's prefix, an
 * index), not "MIG-" or "GPU-" (any case) prefixed. */
bool gs_store_name_valid(const char *name);

/* The compute instance named name in the store (and its GPU in *gpu, when
 * gpu is not NULL), or NULL. */
const struct gs_mig_ci *gs_store_find_name(const struct gs_store *s, const char *name,
					   const struct gs_store_gpu **gpu);

/* Whether uid may join the compute instance. */
bool gs_store_ci_open_to(const struct gs_mig_ci *ci, uid_t uid);

/* Parses the store's text form: "gpushare-store 2" ... "end <lines> <FNV-1a
 * 64 of the bytes before it, 16 hex digits>", or "gpushare-store 1" (no end
 * line). 0; -EBADMSG for a truncated or corrupt store (no end line, a wrong
 * count or checksum, bytes after it); -EINVAL with a line-numbered message
 * for a malformed record, or for text that is not a store. */
int gs_store_parse(const char *text, struct gs_store *s, char *err, size_t errlen);
/* Formats the store, in the current version, end line included; *out is
 * malloc'ed and owned by the caller. -EINVAL for an invalid or repeated
 * slice name or an SM policy the parser refuses (what would not parse back),
 * -ENOMEM. */
int gs_store_format(const struct gs_store *s, char **out, size_t *len);

/* Loads dir/slices (an absent file is an empty store); errors as
 * gs_store_parse's, the message prefixed with the file's path. */
int gs_store_load(const char *dir, struct gs_store *s, char *err, size_t errlen);
/* Replaces dir/slices atomically. The caller holds gs_store_lock. */
int gs_store_save(const char *dir, const struct gs_store *s);
/* Creates dir (0755 for root, whose store every program reads; 0700 for
 * another user's own) and takes its lock (a 0600 file); returns the fd to
 * close, or -errno. */
int gs_store_lock(const char *dir);

/* The GPU entry with this UUID; created (MIG off, empty) when create is set
 * and there is room. NULL otherwise. */
struct gs_store_gpu *gs_store_gpu(struct gs_store *s, const char *uuid, bool create);

/* The MIG-<uuid> of a compute instance: derived from the GPU, the IDs and the
 * creation serial, so it is stable while the instance lives and new after it
 * is re-created, as NVIDIA's are. */
void gs_store_ci_uuid(const char *gpu_uuid, const struct gs_mig_ci *ci, char out[GS_UUID_STR + 4]);

/* The memory ledger of a GPU instance: its compute instances share its
 * memory, as MIG's do. "<dir>/ledger-<gpu-uuid>-gi<id>-<serial>". */
int gs_store_ledger_path(const char *dir, const char *gpu_uuid, const struct gs_mig_gi *gi, char *out, size_t len);

/* The ledger of what programs outside every slice of a GPU hold
 * (gpushare-control's): "<dir>/remainder-<gpu-uuid>". */
int gs_store_remainder_path(const char *dir, const char *gpu_uuid, char *out, size_t len);

#endif
