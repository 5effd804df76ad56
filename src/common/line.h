/* line.h: reading a line-oriented protocol safely (the control protocol of
 * gpushare-control): a maximum length, "\r\n" tolerated, binary refused, and
 * a "need more bytes" answer for partial input. */
#ifndef GS_LINE_H
#define GS_LINE_H

#include "gs.h"

#define GS_LINE_MAX 4096

enum {
	GS_LINE_NEED_MORE = 0,  /* no newline yet, still within the limit */
	GS_LINE_OK = 1,         /* a whole line */
};

/* Looks for the first line in buf[0..len). On GS_LINE_OK, *line_len is its
 * length without "\n" or "\r\n" and *consumed what to drop from buf. Errors
 * (the line is still consumed, so the reader can answer and go on):
 * -E2BIG when no newline comes within max bytes (*consumed: everything up to
 * and including the next newline, or all of buf when there is none yet),
 * -EILSEQ when the line holds a NUL or another control byte. */
int gs_line_next(const char *buf, size_t len, size_t max, size_t *line_len, size_t *consumed);

/* A connection's input: bytes in, lines out, an overlong line skipped to its
 * end and reported once. */
struct gs_linebuf {
	char buf[GS_LINE_MAX + 2];
	size_t len;
	size_t drop;             /* the line handed out last, dropped at the next call */
	bool skipping;           /* inside an overlong line already reported */
};

void gs_linebuf_init(struct gs_linebuf *b);
/* Space left for reading into b->buf + b->len. */
size_t gs_linebuf_room(const struct gs_linebuf *b);
/* After n bytes were read into the room: the next line (NUL-terminated in
 * *line, valid until the next call), GS_LINE_NEED_MORE, or the errors of
 * gs_line_next. Call again until it says GS_LINE_NEED_MORE. */
int gs_linebuf_next(struct gs_linebuf *b, size_t n, char **line);

#endif
