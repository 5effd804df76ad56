/* smi.h: gpushare-smi's pieces: the GPUs it found, the two MIG backends
 * behind one interface (hw: NVIDIA MIG through NVML; soft: gpushare slices in
 * the state dir), and the command table. */
#ifndef GS_SMI_H
#define GS_SMI_H

#include "gpumodel.h"
#include "gpus.h"
#include "gs-nvml.h"
#include "mig.h"

#include <stdio.h>
#include <sys/types.h>

/* nvidia-smi's exit codes (its man page). */
enum { SMI_OK = 0, SMI_EINVAL = 2, SMI_ENOTSUP = 3, SMI_EPERM = 4, SMI_ENOTFOUND = 6,
       SMI_ENVML = 12, SMI_EOTHER = 255 };

struct smi_gpu;

struct smi_gi_view {
	unsigned id;
	int profile_id;          /* GS_MIG_CUSTOM for gpushare custom sizes */
	unsigned start, size;
	char name[GS_PROFILE_NAME_MAX];
};

struct smi_ci_view {
	unsigned gi, id, profile_id, start, size, sm;
	char name[GS_PROFILE_NAME_MAX];
	char uuid[48];
};

/* A GI request: a profile, or (soft only) a custom size. */
struct smi_gi_request {
	const struct gs_gi_profile *profile;  /* NULL for custom */
	int start;                            /* -1: automatic placement */
	unsigned sm;
	uint32_t memory_mib;
	bool overcommit;
};

/* Every op returns an NVML result code, whose message nvidia-smi prints. */
struct smi_backend {
	const char *name;
	int (*set_mig)(struct smi_gpu *g, bool on);
	int (*gi_remaining)(struct smi_gpu *g, const struct gs_gi_profile *p, unsigned *count);
	int (*gi_list)(struct smi_gpu *g, struct smi_gi_view *out, size_t max, size_t *n);
	int (*gi_create)(struct smi_gpu *g, const struct smi_gi_request *r, unsigned *id);
	int (*gi_destroy)(struct smi_gpu *g, unsigned id);
	int (*ci_profiles)(struct smi_gpu *g, unsigned gi, struct gs_ci_profile *out, size_t max,
			   size_t *n);
	int (*ci_remaining)(struct smi_gpu *g, unsigned gi, unsigned profile, unsigned *count);
	int (*ci_list)(struct smi_gpu *g, struct smi_ci_view *out, size_t max, size_t *n);
	int (*ci_create)(struct smi_gpu *g, unsigned gi, unsigned profile, unsigned *ci);
	int (*ci_destroy)(struct smi_gpu *g, unsigned gi, unsigned ci);
	/* memory a GI holds now, for the status table */
	uint64_t (*gi_used_bytes)(struct smi_gpu *g, unsigned gi);
	/* SMs and memory no GI holds (soft; NULL where unknown), for messages */
	int (*gi_free)(struct smi_gpu *g, unsigned *sm, uint32_t *mib);
};

/* A process in a soft GPU instance and what its ledger charges it. */
struct smi_process {
	unsigned gi;
	int ci;                  /* -1 when the GI has several CIs: the ledger is the GI's */
	pid_t pid;
	uint64_t bytes;
};
int smi_soft_processes(struct smi_gpu *g, struct smi_process *out, size_t max, size_t *n);

extern const struct smi_backend smi_backend_soft;
extern const struct smi_backend smi_backend_hw;

struct smi_gpu {
	unsigned index;
	nvmlDevice_t dev;
	char name[96], uuid[96], bus_id[32];
	bool hw_mig_capable, hw_mig;   /* NVIDIA MIG as NVML reports it */
	bool soft_mig;                 /* gpushare's soft MIG mode (state dir) */
	const struct smi_backend *backend;
	/* the model: the registry's, or one read from NVML for the hw backend */
	struct gs_gpu_model model;
	struct gs_gi_profile profiles[16];
	char profile_names[16][GS_PROFILE_NAME_MAX];
};

/* The NVML in use (real or simulated): gs_nvml (gpus.h). */

struct smi_ctx {
	FILE *out, *err;
	struct smi_gpu *gpus;
	size_t n_gpu;
	bool selected[64];       /* from -i; all when -i is absent */
	char state_dir[4096];
	/* mig options */
	const char *gi_ids, *ci_ids; /* -gi / -ci lists, NULL when absent */
	const char *arg;             /* argument of -cgi / -cci / -mig */
	bool default_ci;             /* -C */
	bool overcommit;             /* --overcommit (gpushare) */
	const char *query, *format;  /* --query-gpu, --format */
};

/* Loads NVML (simulated when GPUSHARE_SIMULATE is set or no driver is found)
 * and enumerates GPUs; picks each GPU's backend. Prints why on failure. */
int smi_discover(struct smi_ctx *c);
void smi_release(struct smi_ctx *c);

/* Parses a comma list of unsigned IDs into ids (at most max); -1 if malformed. */
int smi_parse_ids(const char *s, unsigned *ids, size_t max, size_t *n);
int smi_exit_code(int nvml_rc);
const char *smi_strerror(int nvml_rc);

/* Whether id is among ids. */
bool smi_listed(const unsigned *ids, size_t n, unsigned id);
/* The -gi / -ci filters of a command (cis NULL: -gi only): 0, or an exit
 * code after the message. */
int smi_instance_filters(struct smi_ctx *c, unsigned *gis, size_t *ngi, unsigned *cis, size_t *nci);
/* The end of -dgi / -dci, as nvidia-smi ends them: nothing found, or the
 * last failure; what is "GPU instances" or "compute instances". */
int smi_destroyed(struct smi_ctx *c, bool any, int last, int exit_code, const char *what);
/* A GPU's compute instances in MIG device order (GI ID, then CI ID). */
int smi_mig_devices(struct smi_gpu *g, struct smi_ci_view *out, size_t max, size_t *n);

/* gpushare's word after one of nvidia-smi's messages: "gpushare-smi: ..."
 * on stderr, where nvidia-smi's own lines must stay as they are. */
void smi_hint(struct smi_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Sorted views, as nvidia-smi lists them (reference B.6 "Listing order"). */
int smi_sorted_gis(struct smi_gpu *g, struct smi_gi_view *out, size_t max, size_t *n);
int smi_sorted_cis(struct smi_gpu *g, struct smi_ci_view *out, size_t max, size_t *n);


struct smi_cmd {
	const char *flag;        /* the option that selects it: "-lgip" */
	bool mig;                /* only after "mig" */
	bool takes_arg;
	const char *usage;
	int (*run)(struct smi_ctx *c);
};

extern const struct smi_cmd smi_cmd_lgip, smi_cmd_lgipp, smi_cmd_cgi, smi_cmd_dgi, smi_cmd_lgi,
	smi_cmd_lcip, smi_cmd_cci, smi_cmd_dci, smi_cmd_lci, smi_cmd_list, smi_cmd_status,
	smi_cmd_mig_mode, smi_cmd_query_gpu, smi_cmd_query, smi_cmd_models;

#endif
