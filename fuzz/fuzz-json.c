/* fuzz-json.c: gpushare-control's listings as gpushare top reads them: any
 * bytes are refused with a message or parse to a tree whose every node lies
 * within the input and whose strings read back within their buffers; and any
 * bytes, taken for each of the three listings, build a frame or are refused
 * with a message, and a frame renders to printable lines only. */
#include "json.h"
#include "topframe.h"

#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

static void walk(const struct gs_json *j, int i, int depth)
{
	if (depth > GS_JSON_DEPTH + 1)
		abort();
	for (; i >= 0; i = gs_json_next(j, i)) {
		const struct gs_json_node *n = &j->nodes[i];
		if (n->start > j->text_len || n->len > j->text_len - n->start || n->key_start > j->text_len ||
		    n->key_len > j->text_len - n->key_start)
			abort();
		char s[8];
		uint64_t v;
		bool b;
		if (gs_json_string(j, i, s, sizeof s) == 0 && strlen(s) >= sizeof s)
			abort();
		if (gs_json_u64(j, i, &v) == 0 && n->type != GS_JSON_NUMBER)
			abort();
		if ((gs_json_bool(j, i, &b) == 0) != (n->type == GS_JSON_TRUE || n->type == GS_JSON_FALSE))
			abort();
		walk(j, gs_json_first(j, i), depth + 1);
	}
}

static void line(void *ctx, const char *l)
{
	(void)ctx;
	for (; *l; l++)
		if ((unsigned char)*l < 0x20 || (unsigned char)*l >= 0x7f)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct gs_json_node nodes[256];
	static struct topframe f;
	static const char slices[] = "{\"version\": 1, \"slices\": []}", clients[] = "{\"version\": 1, \"clients\": []}";
	const char *text = (const char *)data;
	char err[256] = "";
	struct gs_json j;
	if (gs_json_parse(&j, text, size, nodes, GS_ARRAY_LEN(nodes), err, sizeof err) == 0) {
		if (j.n == 0)
			abort();
		walk(&j, 0, 0);
	} else if (!err[0]) {
		abort();
	}
	for (int as = 0; as < 3; as++) {
		err[0] = '\0';
		int rc = topframe_build(&f, as == 0 ? text : slices, as == 0 ? size : strlen(slices), as == 1 ? text : clients,
					as == 1 ? size : strlen(clients), as == 2 ? text : NULL, as == 2 ? size : 0, nodes,
					GS_ARRAY_LEN(nodes), err, sizeof err);
		if (rc == 0) {
			topframe_busy(&f, &f); /* each process against itself: no span, no BUSY% */
			topframe_render(&f, line, NULL);
		}
		else if (!err[0])
			abort();
	}
	return 0;
}
