/* cmd-timeline.c: `gpushare timeline TRACE [-o FILE.svg] [--by sm|slice]`:
 * the figure of a kernel trace (gpushare run --trace, GPUSHARE_TRACE_FILE):
 * SMs or slices up the side, time along, a colour per process. */
#include "cli.h"
#include "gs.h"
#include "timeline.h"
#include "tracefile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The figure into a buffer, then the file replaced at once (never
 * written through a link): a reader never sees half a figure. */
static int write_svg(const struct tracefile *t, enum timeline_by by, const char *path)
{
	char *svg = NULL;
	size_t len = 0;
	FILE *f = strcmp(path, "-") ? open_memstream(&svg, &len) : stdout;
	if (!f || timeline_svg(t, by, f)) {
		fprintf(stderr, "gpushare timeline: no memory for the figure\n");
		return 1;
	}
	if (f == stdout)
		return fflush(stdout) ? 1 : 0;
	fclose(f);
	int rc = gs_file_replace(path, svg, len);
	free(svg);
	if (rc) {
		fprintf(stderr, "gpushare timeline: cannot write %s: %s\n", path, strerror(-rc));
		return 1;
	}
	return 0;
}

static int timeline(int argc, char **argv)
{
	const char *trace = NULL, *out = "-";
	enum timeline_by by = TIMELINE_BY_SM;
	for (int i = 1; i < argc; i++) {
		if (i + 1 < argc && strcmp(argv[i], "-o") == 0) {
			out = argv[++i];
		} else if (i + 1 < argc && strcmp(argv[i], "--by") == 0) {
			const char *b = argv[++i];
			if (strcmp(b, "sm") && strcmp(b, "slice")) {
				fprintf(stderr, "gpushare timeline: --by \"%s\": it is sm or slice\n", b);
				return 2;
			}
			by = strcmp(b, "sm") ? TIMELINE_BY_SLICE : TIMELINE_BY_SM;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "gpushare timeline: unknown option %s\n", argv[i]);
			return 2;
		} else if (!trace) {
			trace = argv[i];
		} else {
			fprintf(stderr, "gpushare timeline: one trace at a time (%s, then %s)\n", trace, argv[i]);
			return 2;
		}
	}
	if (!trace) {
		fprintf(stderr, "usage: gpushare timeline TRACE [-o FILE.svg] [--by sm|slice]\n");
		return 2;
	}
	char *text, err[256];
	size_t len;
	int rc = gs_file_read(trace, TRACEFILE_MAX_BYTES, &text, &len);
	if (rc) {
		fprintf(stderr, "gpushare timeline: %s: %s\n", trace,
			rc == -EFBIG ? "bigger than a trace may be (1 GiB)" : strerror(-rc));
		return 1;
	}
	struct tracefile t;
	rc = tracefile_read(&t, text, len, err, sizeof err);
	free(text);
	if (rc || t.n == 0) {
		fprintf(stderr, "gpushare timeline: %s: %s\n", trace,
			rc ? err : "no kernel events (ph \"X\", cat \"kernel\": gpushare run --trace writes them)");
		tracefile_free(&t);
		return 1;
	}
	rc = write_svg(&t, by, out);
	tracefile_free(&t);
	return rc;
}

const struct cli_cmd cli_cmd_timeline = {
	"timeline", "TRACE [-o FILE.svg] [--by sm|slice]", "draw a kernel trace: SMs or slices against time", timeline,
	"  -o FILE.svg      where the figure goes (default: standard output)\n"
	"  --by sm          a row per SM (the default): the SMs each process's kernels had\n"
	"  --by slice       a row per slice\n"
	"  -h, --help       this text\n"
};
