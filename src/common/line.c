/* line.c: line reading with limits (see line.h). */
#include "line.h"

#include <errno.h>
#include <string.h>

int gs_line_next(const char *buf, size_t len, size_t max, size_t *line_len, size_t *consumed)
{
	const char *nl = memchr(buf, '\n', len);
	if (!nl) {
		if (len <= max)
			return GS_LINE_NEED_MORE;
		*consumed = len;
		*line_len = 0;
		return -E2BIG;
	}
	size_t n = (size_t)(nl - buf);
	*consumed = n + 1;
	if (n > max) {
		*line_len = 0;
		return -E2BIG;
	}
	if (n && buf[n - 1] == '\r')
		n--;
	*line_len = n;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)buf[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return -EILSEQ;
	}
	return GS_LINE_OK;
}

void gs_linebuf_init(struct gs_linebuf *b)
{
	b->len = 0;
	b->drop = 0;
	b->skipping = false;
}

size_t gs_linebuf_room(const struct gs_linebuf *b)
{
	return sizeof b->buf - 1 - b->len;
}

int gs_linebuf_next(struct gs_linebuf *b, size_t n, char **line)
{
	b->len += n;
	if (b->drop) {
		memmove(b->buf, b->buf + b->drop, b->len - b->drop);
		b->len -= b->drop;
		b->drop = 0;
	}
	for (;;) {
		size_t line_len, consumed;
		int rc = gs_line_next(b->buf, b->len, GS_LINE_MAX, &line_len, &consumed);
		if (rc == GS_LINE_NEED_MORE)
			return rc;
		if (b->skipping) {
			/* the rest of a line already reported as too long */
			bool ended = memchr(b->buf, '\n', consumed) != NULL;
			memmove(b->buf, b->buf + consumed, b->len - consumed);
			b->len -= consumed;
			if (ended)
				b->skipping = false;
			continue;
		}
		if (rc == -E2BIG) {
			bool ended = memchr(b->buf, '\n', consumed) != NULL;
			memmove(b->buf, b->buf + consumed, b->len - consumed);
			b->len -= consumed;
			b->skipping = !ended;
			return rc;
		}
		if (rc < 0) {
			memmove(b->buf, b->buf + consumed, b->len - consumed);
			b->len -= consumed;
			return rc;
		}
		b->buf[line_len] = '\0';
		*line = b->buf;
		b->drop = consumed;
		return rc;
	}
}
