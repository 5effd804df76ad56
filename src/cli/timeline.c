/* timeline.c: the SVG figure of a trace (see timeline.h), written by hand:
 * SVG is text, no library needed. A process's kernels that fall within
 * half a pixel of each other on the same rows become one rectangle, so a
 * trace of a million launches is a figure of a few thousand. By SM, a
 * kernel of fewer blocks than its SMs is drawn on as many rows, the lowest
 * of them free when it started: where the GPU put its blocks is not in the
 * trace, but kernels that ran at once then sit side by side. */
#include "timeline.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define WIDTH 1200
#define LEFT 120
#define RIGHT 24
#define TOP 48
#define PLOT_W (WIDTH - LEFT - RIGHT)
#define LEGEND_ROW 18

/* Tableau's ten, then hues a golden angle apart, lightness in three steps,
 * and the index in the low four bits of each channel, so that no two of
 * those are alike. */
void timeline_colour(unsigned i, char out[8])
{
	static const char *const ten[] = { "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
					   "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac" };
	if (i < 10) {
		memcpy(out, ten[i], 8);
		return;
	}
	unsigned hue = (unsigned)((uint64_t)i * 137508 / 1000 % 360), sector = hue / 60;
	double l = 0.35 + 0.15 * (i % 3), s = 0.65, c = (1 - (l > 0.5 ? 2 * l - 1 : 1 - 2 * l)) * s;
	double f = (double)(hue % 120) / 60.0 - 1; /* -1..1 across two sectors */
	double x = c * (1 - (f < 0 ? -f : f)), m = l - c / 2;
	double rgb[6][3] = { { c, x, 0 }, { x, c, 0 }, { 0, c, x }, { 0, x, c }, { x, 0, c }, { c, 0, x } };
	const double *v = rgb[sector % 6];
	unsigned r = (unsigned)((v[0] + m) * 255), g = (unsigned)((v[1] + m) * 255), b = (unsigned)((v[2] + m) * 255);
	r = (r & 0xf0) | ((i >> 8) & 0x0f), g = (g & 0xf0) | ((i >> 4) & 0x0f), b = (b & 0xf0) | (i & 0x0f);
	snprintf(out, 8, "#%02x%02x%02x", r & 0xff, g & 0xff, b & 0xff);
}

static void xml_text(FILE *out, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '<')
			fputs("&lt;", out);
		else if (c == '>')
			fputs("&gt;", out);
		else if (c == '&')
			fputs("&amp;", out);
		else if (c == '"')
			fputs("&quot;", out);
		else if (c < 0x20 || c >= 0x7f)
			fputc('?', out); /* a name's bytes are the program's: only printable ASCII in the figure */
		else
			fputc(c, out);
	}
}

/* The rows of the figure: an SM each, or a slice each. */
struct layout {
	enum timeline_by by;
	unsigned rows;
	double row_h, plot_h;
	const char **slices;     /* by slice: row i's name */
	unsigned *slice_of;      /* by slice: app -> row */
	double t0, span;
	unsigned *row;           /* by SM: kernel i's first row (see place) */
};

static int layout_make(struct layout *L, const struct tracefile *t, enum timeline_by by)
{
	*L = (struct layout){ .by = by, .t0 = t->t0, .span = t->t1 > t->t0 ? t->t1 - t->t0 : 1 };
	if (by == TIMELINE_BY_SM) {
		L->rows = t->sms ? t->sms : 1;
		L->row_h = L->rows >= 300 ? 2 : 600.0 / L->rows;
	} else {
		L->slices = calloc(t->n_apps + 1, sizeof *L->slices);
		L->slice_of = calloc(t->n_apps + 1, sizeof *L->slice_of);
		if (!L->slices || !L->slice_of)
			return -ENOMEM;
		for (size_t a = 0; a < t->n_apps; a++) {
			unsigned r = 0;
			while (r < L->rows && strcmp(L->slices[r], t->apps[a].slice))
				r++;
			if (r == L->rows)
				L->slices[L->rows++] = t->apps[a].slice;
			L->slice_of[a] = r;
		}
		L->row_h = L->rows > 15 ? 600.0 / L->rows : 40;
	}
	L->plot_h = L->rows * L->row_h;
	return 0;
}

static double x_of(const struct layout *L, double ts)
{
	return LEFT + (ts - L->t0) / L->span * PLOT_W;
}

/* Where each kernel is drawn by SM (L->row): in start order, on the
 * lowest min(blocks, SMs) rows of its SMs that no kernel drawn before holds
 * at its start (a microsecond's slack for clocks), else on its first SMs.
 * 0, or -ENOMEM. */
static const struct tracefile *sort_t;
static const unsigned *sort_row; /* by SM: the rows of place, for cmp_kernel */
static int cmp_start(const void *a, const void *b)
{
	double x = sort_t->kernels[*(const size_t *)a].ts, y = sort_t->kernels[*(const size_t *)b].ts;
	return x < y ? -1 : x > y;
}

static unsigned rows_needed(const struct tracefile_kernel *k)
{
	return k->blocks && k->blocks < k->sm_count ? (unsigned)k->blocks : k->sm_count;
}

static int place(struct layout *L, const struct tracefile *t)
{
	size_t *order = malloc((t->n ? t->n : 1) * sizeof *order);
	double *busy = calloc(L->rows, sizeof *busy);
	L->row = malloc((t->n ? t->n : 1) * sizeof *L->row);
	if (!order || !busy || !L->row) {
		free(order);
		free(busy);
		return -ENOMEM;
	}
	for (size_t i = 0; i < t->n; i++)
		order[i] = i;
	sort_t = t;
	qsort(order, t->n, sizeof *order, cmp_start);
	for (size_t i = 0; i < t->n; i++) {
		const struct tracefile_kernel *k = &t->kernels[order[i]];
		unsigned need = rows_needed(k), at = k->sm_first, run = 0;
		if (k->sm_count == 0)
			continue;
		for (unsigned r = k->sm_first; r < k->sm_first + k->sm_count && run < need; r++)
			if (busy[r] <= k->ts + 1)
				run = run ? run + 1 : (at = r, 1);
			else
				run = 0;
		if (run < need)
			at = k->sm_first;
		L->row[order[i]] = at;
		for (unsigned r = at; r < at + need; r++)
			busy[r] = k->ts + k->dur > busy[r] ? k->ts + k->dur : busy[r];
	}
	free(order);
	free(busy);
	return 0;
}

/* Kernel i's rows: [*y, *y + *h). */
static void rows_of(const struct layout *L, const struct tracefile *t, size_t i, double *y, double *h)
{
	const struct tracefile_kernel *k = &t->kernels[i];
	if (L->by == TIMELINE_BY_SLICE) {
		*y = TOP + L->slice_of[k->app] * L->row_h + 2;
		*h = L->row_h - 4;
	} else if (k->sm_count == 0) {
		*y = TOP, *h = L->plot_h; /* SMs not known: all of them */
	} else {
		*y = TOP + L->row[i] * L->row_h;
		*h = rows_needed(k) * L->row_h;
	}
}

static int cmp_kernel(const void *a, const void *b)
{
	const struct tracefile_kernel *x = &sort_t->kernels[*(const size_t *)a], *y = &sort_t->kernels[*(const size_t *)b];
	if (x->app != y->app)
		return x->app < y->app ? -1 : 1;
	unsigned xr = sort_row ? sort_row[*(const size_t *)a] : 0, yr = sort_row ? sort_row[*(const size_t *)b] : 0;
	if (xr != yr)
		return xr < yr ? -1 : 1;
	if (x->sm_count != y->sm_count)
		return x->sm_count < y->sm_count ? -1 : 1;
	if (x->blocks != y->blocks)
		return x->blocks < y->blocks ? -1 : 1;
	return x->ts < y->ts ? -1 : x->ts > y->ts;
}

static void rect(FILE *out, double x0, double x1, double y, double h, const char *fill)
{
	double w = x1 - x0 < 0.5 ? 0.5 : x1 - x0;
	fprintf(out, "<rect class=\"k\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\" fill-opacity=\"0.85\"/>\n", x0, y, w, h,
		fill);
}

/* The kernels, a process's neighbours on the same rows as one rectangle. */
static int kernels(FILE *out, struct layout *L, const struct tracefile *t)
{
	size_t *order = malloc(t->n * sizeof *order);
	if (!order)
		return -ENOMEM;
	for (size_t i = 0; i < t->n; i++)
		order[i] = i;
	sort_t = t;
	sort_row = L->row;
	qsort(order, t->n, sizeof *order, cmp_kernel);
	double x0 = 0, x1 = -1, y = 0, h = 0;
	unsigned app = 0;
	for (size_t i = 0; i < t->n; i++) {
		const struct tracefile_kernel *k = &t->kernels[order[i]];
		double ky, kh, kx0 = x_of(L, k->ts), kx1 = x_of(L, k->ts + k->dur);
		rows_of(L, t, order[i], &ky, &kh);
		if (x1 >= 0 && app == k->app && ky == y && kh == h && kx0 - x1 < 0.5) {
			x1 = kx1 > x1 ? kx1 : x1;
			continue;
		}
		if (x1 >= 0) {
			char c[8];
			timeline_colour(app, c);
			rect(out, x0, x1, y, h, c);
		}
		x0 = kx0, x1 = kx1, y = ky, h = kh, app = k->app;
	}
	char c[8];
	timeline_colour(app, c);
	rect(out, x0, x1, y, h, c);
	free(order);
	return 0;
}

/* A step of 1, 2 or 5 times a power of ten that gives about eight ticks. */
static double tick_step(double span)
{
	double raw = span / 8, p = 1e-3;
	while (p * 10 <= raw)
		p *= 10;
	double m = raw / p;
	return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

static void time_axis(FILE *out, const struct layout *L)
{
	double base = TOP + L->plot_h, step = tick_step(L->span);
	bool ms = L->span >= 2000;
	fprintf(out, "<line class=\"axis\" x1=\"%d\" y1=\"%.2f\" x2=\"%d\" y2=\"%.2f\" stroke=\"#333\"/>\n", LEFT, base,
		LEFT + PLOT_W, base);
	for (double v = 0; v <= L->span + step / 1000; v += step) {
		double x = LEFT + v / L->span * PLOT_W;
		fprintf(out, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#333\"/>\n", x, base, x,
			base + 5);
		fprintf(out, "<text class=\"tick\" x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">%g %s</text>\n", x,
			base + 18, ms ? v / 1000 : v, ms ? "ms" : "us");
	}
	fprintf(out, "<text x=\"%d\" y=\"%.2f\" text-anchor=\"middle\">time since the first kernel</text>\n",
		LEFT + PLOT_W / 2, base + 36);
}

static void side_axis(FILE *out, const struct layout *L)
{
	fprintf(out, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%.2f\" stroke=\"#333\"/>\n", LEFT, TOP, LEFT,
		TOP + L->plot_h);
	if (L->by == TIMELINE_BY_SLICE) {
		for (unsigned r = 0; r < L->rows; r++) {
			fprintf(out, "<text class=\"row\" x=\"%d\" y=\"%.2f\" text-anchor=\"end\">", LEFT - 6,
				TOP + (r + 0.5) * L->row_h + 4);
			char name[24];
			snprintf(name, sizeof name, "%s", L->slices[r]); /* MIG-<uuid> cut to what fits */
			xml_text(out, name);
			fputs("</text>\n", out);
		}
		return;
	}
	unsigned every = 1;
	while (every * L->row_h < 14)
		every *= 2;
	for (unsigned r = 0; r < L->rows; r += every)
		fprintf(out, "<text class=\"row\" x=\"%d\" y=\"%.2f\" text-anchor=\"end\">SM %u</text>\n", LEFT - 6,
			TOP + (r + 0.5) * L->row_h + 4, r);
}

static void legend(FILE *out, const struct layout *L, const struct tracefile *t, double y0)
{
	for (size_t a = 0; a < t->n_apps; a++) {
		double x = LEFT + (double)(a % 3) * (PLOT_W / 3.0), y = y0 + (double)(a / 3) * LEGEND_ROW;
		char c[8];
		timeline_colour((unsigned)a, c);
		fprintf(out, "<rect class=\"legend\" x=\"%.2f\" y=\"%.2f\" width=\"12\" height=\"12\" fill=\"%s\"/>\n", x,
			y, c);
		fprintf(out, "<text x=\"%.2f\" y=\"%.2f\">", x + 18, y + 10);
		xml_text(out, t->apps[a].name);
		fprintf(out, " (pid %ld, slice ", t->apps[a].pid);
		char slice[16];
		snprintf(slice, sizeof slice, "%s", t->apps[a].slice); /* MIG-<uuid>: its first part fits a column */
		if (strncmp(slice, "MIG-", 4) == 0 && strlen(t->apps[a].slice) > 12)
			slice[12] = 0;
		xml_text(out, slice);
		fputs(")</text>\n", out);
	}
	(void)L;
}

int timeline_svg(const struct tracefile *t, enum timeline_by by, FILE *out)
{
	struct layout L;
	int rc = layout_make(&L, t, by);
	if (!rc && by == TIMELINE_BY_SM)
		rc = place(&L, t);
	double legend_y = TOP + L.plot_h + 56, height = legend_y + (double)((t->n_apps + 2) / 3) * LEGEND_ROW + 16;
	if (!rc) {
		fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
			     "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%.0f\" viewBox=\"0 0 %d "
			     "%.0f\" font-family=\"sans-serif\" font-size=\"12\">\n",
			WIDTH, height, WIDTH, height);
		fprintf(out, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
		fprintf(out, "<text x=\"%d\" y=\"24\" font-size=\"16\">%zu kernels of %zu processes, by %s</text>\n", LEFT,
			t->n, t->n_apps, by == TIMELINE_BY_SM ? "SM" : "slice");
		rc = kernels(out, &L, t);
		side_axis(out, &L);
		time_axis(out, &L);
		legend(out, &L, t, legend_y);
		fputs("</svg>\n", out);
	}
	free(L.slices);
	free(L.slice_of);
	free(L.row);
	return rc;
}
