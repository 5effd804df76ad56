/* fuzz-trace.c: kernel traces as gpushare reads them: any bytes are
 * refused with a message or read into kernels whose every index is within
 * its tables, and draw to a figure; and any bytes, taken as the part of a
 * process (whole, or cut short), merge into a document that is valid JSON
 * and reads back. */
#include "json.h"
#include "timeline.h"
#include "tracefile.h"

#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check_read(const char *text, size_t size)
{
	struct tracefile t;
	char err[256] = "";
	if (tracefile_read(&t, text, size, err, sizeof err)) {
		if (!err[0])
			abort();
		tracefile_free(&t);
		return;
	}
	for (size_t i = 0; i < t.n; i++) {
		const struct tracefile_kernel *k = &t.kernels[i];
		if (k->app >= t.n_apps || (k->sm_count && k->sm_first + k->sm_count > t.sms) || k->dur < 0)
			abort();
	}
	if (t.n) {
		FILE *f = fopen("/dev/null", "w");
		if (!f || timeline_svg(&t, TIMELINE_BY_SM, f) || timeline_svg(&t, TIMELINE_BY_SLICE, f))
			abort();
		fclose(f);
	}
	tracefile_free(&t);
}

static void check_merge(char *text, size_t size)
{
	char *parts[2] = { text, text }, *out;
	size_t lens[2] = { size, size }, out_len;
	struct tracefile_sum sum;
	if (tracefile_merge(parts, lens, 2, &out, &out_len, &sum))
		return; /* no memory */
	size_t cap = 1;
	for (size_t i = 0; i < out_len; i++)
		cap += out[i] == ',' || out[i] == '[' || out[i] == '{';
	struct gs_json_node *nodes = malloc(cap * sizeof *nodes);
	struct gs_json j;
	char err[256];
	if (!nodes || gs_json_parse(&j, out, out_len, nodes, cap, err, sizeof err)) {
		fprintf(stderr, "a merge is not JSON: %s\n", err);
		abort();
	}
	free(nodes);
	check_read(out, out_len);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstr(data, size);
	if (!text)
		return 0;
	check_read(text, size);
	check_merge(text, size);
	free(text);
	return 0;
}
