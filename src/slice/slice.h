/* slice.h: the slice layer, the only code that changes slices. Every change
 * is one transaction: the store's lock, the store loaded, the change, the
 * checks every change must pass (SMs of running programs never move, a slice
 * with running programs is never removed, guarantees fit the GPU), the
 * ledgers of new slices made, the store replaced atomically, and the live
 * ledgers given their new limits. A kill -9 at any instant leaves the slice
 * whole, with all its attributes, or not there at all, and no ledger's limit
 * above what the store gives its slice; the next change settles the rest.
 * gpushare-smi's soft backend, gpushare-control, gpushare run and the
 * interposer's configuration all go through it. */
#ifndef GS_SLICE_H
#define GS_SLICE_H

#include "gpumodel.h"
#include "store.h"

#include <sys/types.h>

/* A GPU as the slice layer needs it: its UUID and its model (SMs, memory,
 * MIG profiles). */
struct gs_slice_gpu {
	unsigned index;
	char uuid[48], name[96], bus[32];
	struct gs_gpu_model model;
};

/* What a change sees: the store under its lock, and where to say why it
 * refuses. */
struct gs_slice_txn {
	const char *dir;
	struct gs_store *st;
	const struct gs_slice_gpu *gpus;
	size_t n_gpus;
	char *err;
	size_t errlen;
};

/* Runs change in one transaction on the store in dir. gpus (may be NULL)
 * are the GPUs the caller knows: their sizes are recorded in the store for
 * readers without NVML. change returns 0 to commit, 1 when it changed
 * nothing (nothing is written), or -errno (with a message in t->err) to
 * leave everything as it was. Returns change's
 * result, -EBUSY when the change would move the SMs of, or remove, a slice
 * with running programs (which are named), or another -errno. */
int gs_slice_edit(const char *dir, const struct gs_slice_gpu *gpus, size_t n_gpus,
		  int (*change)(struct gs_slice_txn *t, void *arg), void *arg, char *err, size_t errlen);

/* The slice a name means: its human name (create_slice -name), MIG-<uuid>,
 * a unique prefix of one, the UUID without "MIG-", or MIG-GPU-<uuid>/<gi>/<ci>. 0 with *g and *ci set;
 * -ENOENT; -EINVAL for a malformed name; -EEXIST when it matches several
 * slices (the message names two). */
int gs_slice_resolve(struct gs_store *st, const char *name, struct gs_store_gpu **g, struct gs_mig_ci **ci, char *err,
		     size_t errlen);

/* The GPU instance of a compute instance. */
struct gs_mig_gi *gs_slice_gi_of(struct gs_store_gpu *g, const struct gs_mig_ci *ci);

/* A new custom-size slice (a GPU instance and its one compute instance). */
struct gs_slice_spec {
	unsigned sm;             /* rounded down to the GPU's SM unit (the note says so) */
	uint64_t memory;         /* bytes, whole MiB */
	bool overcommit;
	uint64_t guarantee;      /* with overcommit; UINT64_MAX: none (0) */
	const uint32_t *users;   /* who may join; n_users 0: everyone */
	unsigned n_users;
	bool refuse;             /* refuse rather than queue a second user */
	pid_t owner;             /* an ephemeral slice of this process's job (0: lasting) */
	const char *cgroup;      /* bind every process of this cgroup (NULL: none) */
	const char *name;        /* a human name, unique in the store (NULL: none) */
	struct gs_sm_policy sm_policy; /* how its SMs are shared (all zero: the default), as gs_slice_set_sm_policy checks it */
	unsigned oom_wait_s;     /* an allocation past its limit waits this long for memory (0: refused at once) */
	unsigned mem_turn_s;     /* its turn at the GPU's memory, against the GPU's other such slices (0: none) */
	bool borrow_mem;         /* over-committed: borrows the others' unused guarantees (store.h borrow_mem) */
	bool sm_fixed;           /* its SMs from sm_start on, or refused (green contexts keep theirs: migrate) */
	unsigned sm_start;
};

/* What was made or found. */
struct gs_slice_info {
	char uuid[GS_UUID_STR + 4];
	char gpu_uuid[48];
	unsigned gi, ci, sm, sm_start;
	uint32_t memory_mib, guarantee_mib;
	struct gs_sm_policy sm_policy; /* as stored: isolated with both switches, the floor in whole units */
	char note[160];          /* e.g. how the SM count was rounded; "" when none */
};

int gs_slice_create(const char *dir, const struct gs_slice_gpu *gpu, const struct gs_slice_spec *spec,
		    struct gs_slice_info *out, char *err, size_t errlen);
/* Removes a slice: refused (-EBUSY) while a program holds memory in it. */
int gs_slice_destroy(const char *dir, const char *name, struct gs_slice_info *out, char *err, size_t errlen);
/* New SMs and memory for a custom-size slice. SMs grow in place into free
 * SMs, or move or shrink only while no program runs in the slice; memory
 * applies at once (running programs at their next allocation). */
int gs_slice_resize(const char *dir, const struct gs_slice_gpu *gpu, const char *name, unsigned sm, uint64_t memory,
		    bool overcommit, struct gs_slice_info *out, char *err, size_t errlen);
/* users NULL: unchanged (n 0: everyone); refuse -1: unchanged. */
int gs_slice_set_access(const char *dir, const char *name, const uint32_t *users, unsigned n, int refuse, char *err,
			size_t errlen);
int gs_slice_set_guarantee(const char *dir, const struct gs_slice_gpu *gpu, const char *name, uint64_t bytes, char *err,
			   size_t errlen);
int gs_slice_set_memory(const char *dir, const char *name, uint64_t bytes, char *err, size_t errlen);
/* How long an allocation past the slice's limit waits for memory its
 * processes free before it is refused (0: at once; at most
 * GS_OOM_WAIT_MAX_S), for running programs too. */
int gs_slice_set_oom_wait(const char *dir, const char *name, unsigned seconds, char *err, size_t errlen);
/* The slice's turn at its GPU's memory (store.h mem_turn_s; 0: none). */
int gs_slice_set_mem_turn(const char *dir, const char *name, unsigned seconds, char *err, size_t errlen);
/* Whether the slice borrows its GPU's other slices' unused guarantees
 * (store.h borrow_mem): refused for a slice that is not over-committed (it
 * has nothing above its guarantee to borrow for) and for a critical one
 * (its programs would be suspended for slices it out-ranks). */
int gs_slice_set_borrow_mem(const char *dir, const char *name, bool on, char *err, size_t errlen);
/* How the slice's SMs are shared with its GPU's other slices (store.h), the
 * whole policy at once. An isolated slice is stored with no_lend and
 * no_borrow set, whatever p says; a best-effort one always lends and
 * borrows (either switch: -EINVAL); a floor is a best-effort slice's alone,
 * at most its SMs, rounded to whole units of the GPU's (TPCs) as sizes are
 * (gs_smrun_round). -EINVAL with what would be right in err; nothing
 * changes. */
int gs_slice_set_sm_policy(const char *dir, const char *name, const struct gs_sm_policy *p, char *err, size_t errlen);
/* The users whose programs land in the slice when they name none (n 0:
 * nobody); a user has one default slice per store. */
int gs_slice_set_default(const char *dir, const char *name, const uint32_t *users, unsigned n, char *err, size_t errlen);

/* The changes above as steps of one transaction (a change function of
 * gs_slice_edit, which checks the whole and commits it or nothing; gpushare
 * apply makes a whole configuration so): a custom-size slice; a GPU
 * instance of an NVIDIA profile with its default compute instance, where
 * nvidia-smi's placement puts it (-cgi -C); the same GPU instance alone
 * (-cgi), and a compute instance of a CI profile in it, where nvidia-smi
 * puts it (-cci); a GPU instance and its compute instances removed; the
 * users a slice is the default of; how long an allocation past its limit
 * waits (gs_slice_set_oom_wait's step, its check). 0 or -errno, why in
 * t->err (-ENOSPC: no room). */
int gs_slice_txn_create(struct gs_slice_txn *t, const struct gs_slice_gpu *gpu, const struct gs_slice_spec *spec,
			struct gs_slice_info *out);
int gs_slice_txn_create_gi(struct gs_slice_txn *t, const struct gs_slice_gpu *gpu, const struct gs_gi_profile *p,
			   unsigned *gi);
int gs_slice_txn_create_ci(struct gs_slice_txn *t, const struct gs_slice_gpu *gpu, unsigned gi, unsigned ci_profile,
			   struct gs_slice_info *out);
int gs_slice_txn_create_profile(struct gs_slice_txn *t, const struct gs_slice_gpu *gpu, const struct gs_gi_profile *p,
				struct gs_slice_info *out);
int gs_slice_txn_remove(struct gs_slice_txn *t, struct gs_store_gpu *g, unsigned gi);
int gs_slice_txn_set_default(struct gs_slice_txn *t, struct gs_mig_ci *ci, const uint32_t *users, unsigned n);
int gs_slice_txn_set_oom_wait(struct gs_slice_txn *t, struct gs_mig_ci *ci, unsigned seconds);
/* gs_slice_set_borrow_mem's step and check, ci of GPU instance gi. */
int gs_slice_txn_set_borrow_mem(struct gs_slice_txn *t, const struct gs_mig_gi *gi, struct gs_mig_ci *ci, bool on);

/* A policy as a slice of sm SMs on a GPU handing SMs out in units of unit
 * keeps it (isolated with both switches, the floor in whole units) into
 * *out: 0, or -EINVAL with what would be right in err. */
int gs_slice_sm_policy_check(const struct gs_sm_policy *p, unsigned sm, unsigned unit, struct gs_sm_policy *out,
			     char *err, size_t errlen);

/* Fills info from a slice of the store. */
void gs_slice_describe(struct gs_store_gpu *g, const struct gs_mig_ci *ci, struct gs_slice_info *info);

/* Removes ephemeral slices whose job is gone: owner process dead, cgroup
 * (when bound) empty or gone, no program holding memory. Returns how many,
 * or -errno. cgroup_root: where bound cgroups are ("" : not checked). */
int gs_slice_collect(const char *dir, const char *cgroup_root);

#endif
