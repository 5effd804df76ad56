/* topframe.h: one frame of `gpushare top`: what gpushare-control's
 * list_slices, list_clients and list_sms (--json, docs/control.md) say,
 * joined into GPU -> slice -> process, and its text lines. No terminal here
 * (cmd-top.c has it), so that a frame can be built from any bytes (fuzzed)
 * and printed the same in batch and interactive mode. */
#ifndef GS_TOPFRAME_H
#define GS_TOPFRAME_H

#include "gs.h"
#include "json.h"
#include "store.h"

#define TOPFRAME_MAX_SLICES 512
#define TOPFRAME_MAX_PROCS 2048
/* values in one document: a slice is about 40, a process 6 */
#define TOPFRAME_MAX_NODES 65536

/* What the daemon says of a program. */
enum topframe_state {
	TOPFRAME_UNREGISTERED, /* it holds memory (the ledger) but is not registered */
	TOPFRAME_RUNNING,      /* attached to its server */
	TOPFRAME_QUEUED,       /* waiting for a server (another user's to end, or its own to start) */
	TOPFRAME_REGISTERED,   /* registered, neither attached to a server nor queued */
	TOPFRAME_SUSPENDED,    /* suspend: its memory on the host (suspending and resuming too) */
};

struct topframe_gpu {
	int index;             /* -1: not known */
	char uuid[48];
	char how[96];          /* list_sms: how its slices are confined ("" when not said) */
};

struct topframe_slice {
	char slice[48];        /* MIG-<uuid>, "-" for a GPU's remainder */
	char name[32];
	bool remainder;
	bool listed;           /* in list_slices (else only a client named it: no figures) */
	unsigned gpu;          /* index into the frame's gpus */
	bool have_sms, have_now, lent;
	uint64_t sms, sms_now; /* its own SMs; those its launches may use now (list_sms) */
	uint64_t memory, guarantee, used;
	char policy[8];        /* "queue", "refuse"; "" for a remainder */
	char sharing[80];      /* as list_slices' SHARING; "" for a remainder */
	bool busy;
	uint64_t procs_omitted; /* the daemon's own (processes_omitted) */
	/* kernels/s and the time its SMs were busy go here once the daemon
	 * reports them (docs/metrics.md: it does not know them yet) */
};

struct topframe_proc {
	unsigned slice;        /* index into the frame's slices */
	uint64_t pid, uid;
	char user[32], command[32];
	bool have_bytes;
	uint64_t bytes;
	uint64_t host_bytes;   /* suspended: what it holds on the host */
	enum topframe_state state;
	/* its GPU busy time and the time since it was admitted (list_clients:
	 * an older daemon says neither), and from them the part of the time it
	 * was busy (topframe_busy) */
	bool have_busy, have_pct;
	double busy_s, admitted_s, pct;
};

struct topframe {
	struct topframe_gpu gpus[GS_STORE_MAX_GPU];
	size_t n_gpus;
	struct topframe_slice slices[TOPFRAME_MAX_SLICES];
	size_t n_slices;
	struct topframe_proc procs[TOPFRAME_MAX_PROCS];
	size_t n_procs;
	size_t omitted;        /* slices and processes past the maxima above */
	size_t running, queued; /* registered programs attached to a server, waiting for one */
};

/* Builds f from the three answers (sms may be NULL: no list_sms). nodes
 * (cap of them) is scratch for the parser, the caller's. 0, or -EINVAL /
 * -E2BIG with err naming the listing and what is wrong with it. */
int topframe_build(struct topframe *f, const char *slices, size_t slices_len, const char *clients, size_t clients_len,
		   const char *sms, size_t sms_len, struct gs_json_node *nodes, size_t cap, char *err, size_t errlen);

/* Each process's BUSY%: the part of the time since prev (the frame before,
 * NULL: none) it was busy on the GPU, or of the time since it was admitted
 * where prev does not have it; both as the daemon measured them. */
void topframe_busy(struct topframe *f, const struct topframe *prev);

/* Calls emit with each line of the frame: a legend of the columns, then per
 * GPU a line, its slices, each followed by its processes. The lines hold
 * printable ASCII only (anything else from the daemon shown as '?'). */
void topframe_render(const struct topframe *f, void (*emit)(void *ctx, const char *line), void *ctx);

/* A state's word: "running", "queued", "registered", "suspended", "-". */
const char *topframe_state_name(enum topframe_state s);

#endif
