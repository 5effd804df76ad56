/* tracefile.h: kernel traces as the gpushare command reads them (the
 * interposer writes them, src/interposer/trace.c): the parts the processes
 * of a job wrote merged into one document (gpushare run --trace), and a
 * trace's kernels read for gpushare timeline. */
#ifndef GS_TRACEFILE_H
#define GS_TRACEFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TRACEFILE_MAX_BYTES (1024ul << 20)
#define TRACEFILE_MAX_APPS 4096

struct tracefile_kernel {
	double ts, dur;            /* GPU start and duration, microseconds */
	unsigned sm_first, sm_count; /* the SMs it was allowed; sm_count 0: unknown */
	uint64_t blocks;           /* its grid's blocks (args.grid); 0: unknown */
	unsigned app;              /* index into apps */
};

/* An app is a process: its pid, its name and the slice it ran in. */
struct tracefile_app {
	long pid;
	char name[32];
	char slice[96];
};

struct tracefile {
	struct tracefile_kernel *kernels; /* the reader's, freed by tracefile_free */
	size_t n, cap;
	struct tracefile_app *apps;
	size_t n_apps, cap_apps, last_app; /* last_app: the app of the last kernel read */
	double t0, t1;             /* the first start, the last end */
	unsigned sms;              /* the highest SM seen, plus one */
};

/* Reads a trace's kernel events (ph "X", cat "kernel"; not those whose
 * args.gpu_time is false, which have no GPU time) from text[0..len):
 * the Chrome trace format's object ({"traceEvents": [...]}) or bare array.
 * 0, else -EINVAL (not JSON, not a trace: err says what and where) or
 * -E2BIG (more than TRACEFILE_MAX_APPS processes, or too big). Free it with
 * tracefile_free, also after an error. */
int tracefile_read(struct tracefile *t, const char *text, size_t len, char *err, size_t errlen);
void tracefile_free(struct tracefile *t);

/* What a merge found. */
struct tracefile_sum {
	unsigned parts, incomplete;  /* files, and those cut short (a process killed) */
	unsigned long launches, kernels, dropped;
};

/* Merges one document out of the parts text[i][0..len[i]) (each a process's
 * trace, possibly cut short: its complete lines are kept) into a buffer
 * *out the caller frees. 0, or -ENOMEM. */
int tracefile_merge(char *const *text, const size_t *len, size_t n, char **out, size_t *out_len,
		    struct tracefile_sum *sum);

/* Merges the parts in dir (*.json, regular files of this user's that no
 * one else may write) into path (replaced atomically, never through a
 * link) and removes them and dir. 0, else a negative errno and err. */
int tracefile_merge_dir(const char *dir, const char *path, struct tracefile_sum *sum, char *err, size_t errlen);

#endif
