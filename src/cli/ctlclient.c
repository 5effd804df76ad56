/* ctlclient.c: connecting to gpushare-control and asking it one command
 * (see ctlclient.h). The answer is read as a stream, tag by tag, so that no
 * line is too long to read and no answer larger than the caller's buffer is
 * kept. */
#include "ctlclient.h"
#include "gs.h"
#include "sock.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int ctlclient_connect(int timeout_ms)
{
	char paths[GS_CONTROL_PATHS][GS_CONTROL_SOCK_MAX];
	size_t n = gs_control_paths(paths);
	int fd = -ENOENT;
	for (size_t i = 0; i < n; i++) {
		int rc = gs_control_connect(paths[i], timeout_ms);
		if (rc >= 0)
			return rc;
		if (fd == -ENOENT)
			fd = rc; /* the first reason other than none being there */
	}
	return fd;
}

/* Where the bytes of the current line go. */
enum sink { SINK_TAG, SINK_ANSWER, SINK_STATUS, SINK_WHY, SINK_DROP };

struct answer {
	char *out;
	size_t cap, len;
	bool too_big;
	char *err;
	size_t errlen, err_used;
	char tag[2];
	size_t tag_len;
	enum sink sink;
	char status[16];
	size_t status_len;
	bool done, closing;
};

static void why_byte(struct answer *a, char c)
{
	if (a->err && a->errlen && a->err_used + 1 < a->errlen) {
		a->err[a->err_used++] = c;
		a->err[a->err_used] = '\0';
	}
}

/* One byte of the answer. */
static void take(struct answer *a, char c)
{
	if (c == '\n') {
		if (a->sink == SINK_ANSWER) {
			if (a->len + 1 < a->cap)
				a->out[a->len++] = '\n';
			else
				a->too_big = true;
		} else if (a->sink == SINK_STATUS) {
			a->status[a->status_len] = '\0';
			a->done = true;
		} else if (a->sink == SINK_WHY) {
			why_byte(a, '\n');
		}
		a->sink = SINK_TAG;
		a->tag_len = 0;
		return;
	}
	switch (a->sink) {
	case SINK_TAG:
		a->tag[a->tag_len++] = c;
		if (a->tag_len < 2)
			return;
		if (a->tag[1] != ' ')
			a->sink = SINK_DROP;
		else if (a->tag[0] == 'R')
			a->sink = SINK_ANSWER;
		else if (a->tag[0] == 'E')
			a->sink = SINK_STATUS;
		else if (a->tag[0] == 'W' || a->tag[0] == 'C') {
			a->closing |= a->tag[0] == 'C';
			a->sink = SINK_WHY;
		} else
			a->sink = SINK_DROP;
		return;
	case SINK_ANSWER:
		if (a->len + 1 < a->cap)
			a->out[a->len++] = c;
		else
			a->too_big = true;
		return;
	case SINK_STATUS:
		if (a->status_len + 1 < sizeof a->status)
			a->status[a->status_len++] = c;
		return;
	case SINK_WHY:
		if (c != '\r')
			why_byte(a, c);
		return;
	case SINK_DROP:
		return;
	}
}

int ctlclient_ask(int fd, const char *cmd, char *out, size_t cap, size_t *out_len, int timeout_ms, char *err,
		  size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	struct answer a = { .out = out, .cap = cap, .err = err, .errlen = errlen };
	if (cap)
		out[0] = '\0';
	size_t n = strlen(cmd);
	if (send(fd, cmd, n, MSG_NOSIGNAL) != (ssize_t)n || send(fd, "\n", 1, MSG_NOSIGNAL) != 1)
		return gs_fail(err, errlen, -EPIPE, "lost the connection to gpushare-control");
	uint64_t deadline = gs_now_ns() + (uint64_t)timeout_ms * 1000000ULL;
	char buf[65536];
	while (!a.done) {
		uint64_t now = gs_now_ns();
		int left = now >= deadline ? 0 : (int)((deadline - now) / 1000000ULL) + 1;
		struct pollfd p = { fd, POLLIN, 0 };
		int rc = poll(&p, 1, left);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc == 0)
			return gs_fail(err, errlen, -ETIMEDOUT, "gpushare-control did not answer \"%s\" within %d ms", cmd,
				       timeout_ms);
		ssize_t got = rc < 0 ? -1 : recv(fd, buf, sizeof buf, 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			if (a.closing)
				return -EPIPE; /* err holds the daemon's why */
			return gs_fail(err, errlen, -EPIPE, "lost the connection to gpushare-control");
		}
		for (ssize_t k = 0; k < got && !a.done; k++)
			take(&a, buf[k]);
	}
	if (cap)
		out[a.len] = '\0';
	*out_len = a.len;
	if (a.too_big)
		return gs_fail(err, errlen, -E2BIG, "gpushare-control's answer to \"%s\" is larger than %zu bytes: refused",
			       cmd, cap - 1);
	/* strip the last newline of the daemon's why */
	if (err && a.err_used && err[a.err_used - 1] == '\n')
		err[a.err_used - 1] = '\0';
	return atoi(a.status);
}
