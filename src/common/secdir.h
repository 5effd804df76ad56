/* secdir.h: directories a daemon keeps its sockets, logs and state in, made
 * safe against other local users as tmux checks its socket directory: owned
 * by the daemon's user, writable by nobody else, no symlink to follow, and no
 * directory above it that another user could swap. */
#ifndef GS_SECDIR_H
#define GS_SECDIR_H

#include "gs.h"

/* Creates path (and the directories above it, 0755) when missing, with mode
 * for the last one, and checks it. Accepted only when:
 * - path itself is a directory, not a symlink, owned by the caller's
 *   effective user, not writable by group or others;
 * - every directory above it is owned by root or that user and is not
 *   writable by group or others unless sticky (as /tmp); a symlink on the way
 *   counts only when root or that user made it.
 * what names the directory in errors ("pipe directory (GPUSHARE_PIPE_DIRECTORY)").
 * 0, or -errno with err saying what was found and what is required. */
int gs_secdir(const char *path, unsigned mode, const char *what, char *err, size_t errlen);

#endif
