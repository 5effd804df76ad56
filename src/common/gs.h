/* gs.h: the small common layer every gpushare piece links (interposer included).
 * Error reporting, UUIDs, sizes, crash-safe files. Depends on libc only. */
#ifndef GS_H
#define GS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <sys/types.h>

/* gpushare's version: every program's --version, gpushare-smi's status table. */
#define GS_VERSION "0.9.0"

#define GS_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define GS_UNUSED(x) ((void)(x))

#if defined(__GNUC__)
#define GS_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define GS_PRINTF(f, a)
#endif

/* Writes a message into err (when err is not NULL) and returns rc, so that
 * "return gs_fail(err, errlen, -EINVAL, "...")" reads as one step. */
int gs_fail(char *err, size_t errlen, int rc, const char *fmt, ...) GS_PRINTF(4, 5);

/* UUIDs as NVIDIA prints them: 8-4-4-4-12 lowercase hex after a prefix. */
struct gs_uuid {
	uint8_t b[16];
};
#define GS_UUID_STR 37 /* 36 characters and the NUL */

void gs_uuid_format(const struct gs_uuid *u, char out[GS_UUID_STR]);
/* Parses exactly 36 characters of 8-4-4-4-12 hex (either case). 0 or -EINVAL. */
int gs_uuid_parse(const char *s, struct gs_uuid *u);
/* A deterministic name-based UUID (version 5 layout, FNV-based digest): the
 * same words always give the same UUID. */
void gs_uuid_derive(struct gs_uuid *u, const char *words);

/* Sizes as gpushare and MPS accept them: a decimal number with an optional
 * suffix K, M, G, T (binary multiples, optional trailing "B" or "iB", any case).
 * A bare number means bytes. Returns 0 or -EINVAL / -ERANGE. */
int gs_parse_size(const char *s, uint64_t *bytes);
/* Strict unsigned decimal parse of the whole string; 0 or -EINVAL/-ERANGE. */
int gs_parse_uint(const char *s, unsigned long long max, unsigned long long *out);

/* Crash-safe replacement of a file: written to a temporary file beside it,
 * fsync'ed, renamed over path, and the directory fsync'ed. A reader sees the
 * old or the new content, never a mix. 0 or negative errno. */
int gs_file_replace(const char *path, const void *data, size_t len);
/* Reads a whole file. On success *data is a NUL-terminated buffer the caller
 * frees. -ENOENT when it does not exist; -EFBIG over max bytes. */
int gs_file_read(const char *path, size_t max, char **data, size_t *len);
/* The same for a file whose content is trusted (a daemon's cache in its
 * state directory): no symbolic link followed, a regular file owned by owner
 * and writable by nobody else, else -EPERM with why (may be NULL). */
int gs_file_read_owned(const char *path, uid_t owner, size_t max, char **data, size_t *len, char *why,
		       size_t whylen);
/* mkdir -p with mode for each created component. 0 or negative errno. */
int gs_mkdir_p(const char *path, unsigned mode);
/* Opens (creating) path and takes an exclusive flock on it; returns the fd,
 * which the caller closes to release, or negative errno. The lock dies with
 * the process, so a killed holder never blocks the next one. */
int gs_lock_file(const char *path);

/* The directory gpushare keeps state in: $GPUSHARE_STATE_DIR, else
 * /var/lib/gpushare for root, else $XDG_STATE_HOME/gpushare or
 * ~/.local/state/gpushare. Writes into out; 0 or -ENAMETOOLONG. */
int gs_state_dir(char *out, size_t len);

/* Finds an executable in $PATH, then where NVIDIA installs its tools
 * (/usr/local/nvidia/bin), never the calling program itself nor a link to
 * gpushare-control under another name (mps-compat/). 0 with the path in
 * out, or -ENOENT. */
int gs_find_program(const char *name, char *out, size_t len);
/* Whether NVIDIA's CUDA driver (not gpushare's simulated one) is here and
 * simulation is not asked for. */
bool gs_nvidia_driver_present(void);

/* A process's start time (/proc/<pid>/stat field 22): with the pid, names a
 * process even after its pid is reused. 0, -ESRCH when it is gone (a zombie
 * too: it holds nothing), -EIO when /proc cannot tell. */
/* A live process's parent and start time (either may be NULL): 0, -ESRCH
 * (gone, or a zombie), -EIO. */
int gs_proc_stat(pid_t pid, pid_t *parent, uint64_t *start);
int gs_proc_start(pid_t pid, uint64_t *start);
/* The same, 0 for gone or unknown. */
uint64_t gs_proc_start_time(pid_t pid);

/* Whether an NVIDIA MPS control daemon runs in a pipe directory: its pid
 * file names a live process. (Its sockets stay behind after it quits, so
 * their presence says nothing.) */
bool gs_mps_running(const char *pipe_dir);

/* Monotonic nanoseconds. */
uint64_t gs_now_ns(void);

#endif
