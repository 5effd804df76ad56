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

#endif
