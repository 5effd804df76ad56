/* ctlclient.h: the CLI's side of gpushare-control's protocol: finding the
 * daemon programs register with, and asking it one command for a bounded
 * answer (`gpushare run`'s job slice, `gpushare top`'s listings). */
#ifndef GS_CTLCLIENT_H
#define GS_CTLCLIENT_H

#include <stddef.h>

/* The gpushare-control programs register with (gs_control_paths), run by
 * root or this user: a connected fd the caller closes, or a negative errno
 * when none runs (-ENOENT, -ECONNREFUSED, -EPERM: another user's, -ETIMEDOUT:
 * it does not accept). */
int ctlclient_connect(int timeout_ms);

/* Sends cmd (one line, no newline) on fd and gathers the text of its "R"
 * lines, each ending in '\n', into out[0..cap) (terminated). Returns the
 * daemon's status (0: done, > 0: refused, why in err from its "W" lines), or
 * -EPIPE (the connection is lost), -ETIMEDOUT (nothing for timeout_ms),
 * -E2BIG (the answer is longer than cap - 1 bytes: the rest is read and
 * dropped, so the connection stays usable), with why in err. */
int ctlclient_ask(int fd, const char *cmd, char *out, size_t cap, size_t *out_len, int timeout_ms, char *err,
		  size_t errlen);

#endif
