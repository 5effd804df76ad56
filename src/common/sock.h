/* sock.h: connecting to a local daemon's UNIX socket without hanging, for
 * gpushare-control's front end and the interposer's registration alike. */
#ifndef GS_SOCK_H
#define GS_SOCK_H

#include "gs.h"

/* Connects a stream socket to path within timeout_ms (< 0: no limit). A
 * daemon whose backlog is full (it does not accept) makes it wait, up to the
 * limit. Returns a blocking, close-on-exec fd the caller closes, or -ETIMEDOUT,
 * -ENOENT / -ECONNREFUSED (no daemon there), -ENAMETOOLONG, other -errno. */
int gs_sock_connect(const char *path, int timeout_ms);

/* Where programs look for gpushare-control, in order: the default pipe
 * directory's socket (a daemon there is the authority), then
 * GPUSHARE_PIPE_DIRECTORY's when it names another, then MPS's pipe
 * directory (CUDA_MPS_PIPE_DIRECTORY, else /tmp/nvidia-mps) when
 * gpushare-control runs there under NVIDIA's name (its pid file says so:
 * NVIDIA's own daemon must never be sent gpushare's protocol). Returns how
 * many paths were written (1 to GS_CONTROL_PATHS). */
#define GS_CONTROL_SOCK_MAX 108
#define GS_CONTROL_PATHS 3
size_t gs_control_paths(char paths[GS_CONTROL_PATHS][GS_CONTROL_SOCK_MAX]);
/* gs_sock_connect to a gpushare-control run by root or by this user: a
 * daemon of another user holding the socket is -EPERM, as if none ran. */
int gs_control_connect(const char *path, int timeout_ms);

#endif
