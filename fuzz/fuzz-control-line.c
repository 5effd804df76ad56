/* fuzz-control-line.c: control-protocol input: any bytes, in any pieces,
 * give lines within the limit or errors, never a crash; the value parsers
 * accept only what they can print back. */
#include "line.h"
#include "mpsval.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct gs_linebuf b;
	gs_linebuf_init(&b);
	size_t off = 0;
	while (off < size) {
		size_t piece = 1 + (data[off] % 97), room = gs_linebuf_room(&b);
		if (piece > size - off)
			piece = size - off;
		if (piece > room)
			piece = room;
		memcpy(b.buf + b.len, data + off, piece);
		off += piece;
		char *line;
		int rc;
		size_t n = piece;
		while ((rc = gs_linebuf_next(&b, n, &line)) != GS_LINE_NEED_MORE) {
			n = 0;
			if (rc == GS_LINE_OK) {
				if (strlen(line) > GS_LINE_MAX)
					abort();
				double p;
				uint64_t bytes;
				char out[32];
				if (mpsval_parse_pct(line, &p) == 0 && (p <= 0 || p > 100))
					abort();
				if (mpsval_parse_limit(line, &bytes) == 0) {
					if (bytes == 0)
						abort();
					mpsval_format_limit(bytes, out);
				}
			}
		}
		if (b.len > GS_LINE_MAX + 1)
			abort();
	}
	return 0;
}
