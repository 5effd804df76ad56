/* tracefile.c: kernel traces read and merged (see tracefile.h). Every
 * document goes through the common layer's bounded JSON reader, its node
 * array sized from the text itself (a value needs a comma or an opening
 * bracket before it, but for the first), so a trace of any size within
 * TRACEFILE_MAX_BYTES parses without a fixed limit. */
#include "tracefile.h"

#include "gs.h"
#include "json.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Parses text into nodes it allocates (*nodes, the caller frees). */
static int parse(struct gs_json *j, const char *text, size_t len, struct gs_json_node **nodes, char *err,
		 size_t errlen)
{
	size_t bound = 1;
	for (size_t i = 0; i < len; i++)
		bound += text[i] == ',' || text[i] == '[' || text[i] == '{';
	if (len > TRACEFILE_MAX_BYTES)
		return gs_fail(err, errlen, -E2BIG, "%zu bytes, more than a trace may have (%lu MiB)", len,
			       TRACEFILE_MAX_BYTES >> 20);
	*nodes = malloc(bound * sizeof **nodes);
	if (!*nodes)
		return gs_fail(err, errlen, -ENOMEM, "no memory for %zu values", bound);
	return gs_json_parse(j, text, len, *nodes, bound, err, errlen);
}

/* Whether member key of obj is the string want. */
static bool is(const struct gs_json *j, int obj, const char *key, const char *want)
{
	char s[32];
	return gs_json_string(j, gs_json_get(j, obj, key), s, sizeof s) == 0 && strcmp(s, want) == 0;
}

/* The index of the app of pid, added when new; -E2BIG past the limit. */
static int app_of(struct tracefile *t, long pid, const struct gs_json *j, int args)
{
	if (t->last_app < t->n_apps && t->apps[t->last_app].pid == pid)
		return (int)t->last_app; /* a process's kernels come in runs */
	for (size_t i = 0; i < t->n_apps; i++)
		if (t->apps[i].pid == pid)
			return (int)(t->last_app = i);
	if (t->n_apps == TRACEFILE_MAX_APPS)
		return -E2BIG;
	if (t->n_apps == t->cap_apps) {
		size_t cap = t->cap_apps ? 2 * t->cap_apps : 16;
		struct tracefile_app *a = realloc(t->apps, cap * sizeof *a);
		if (!a)
			return -ENOMEM;
		t->apps = a, t->cap_apps = cap;
	}
	struct tracefile_app *a = &t->apps[t->n_apps];
	*a = (struct tracefile_app){ .pid = pid };
	if (gs_json_string(j, gs_json_get(j, args, "app"), a->name, sizeof a->name))
		snprintf(a->name, sizeof a->name, "pid %ld", pid);
	if (gs_json_string(j, gs_json_get(j, args, "slice"), a->slice, sizeof a->slice))
		snprintf(a->slice, sizeof a->slice, "none");
	return (int)(t->last_app = t->n_apps++);
}

/* "a-b", "a" or anything else (unknown: count 0). */
static void parse_sms(const char *s, unsigned *first, unsigned *count)
{
	unsigned a, b;
	char tail;
	*first = *count = 0;
	if (sscanf(s, "%u-%u%c", &a, &b, &tail) == 2 && a <= b && b < 4096)
		*first = a, *count = b - a + 1;
	else if (sscanf(s, "%u%c", &a, &tail) == 1 && a < 4096)
		*first = a, *count = 1;
}

static int add_kernel(struct tracefile *t, const struct gs_json *j, int ev, char *err, size_t errlen)
{
	struct tracefile_kernel k = { 0 };
	uint64_t pid = 0;
	int args = gs_json_get(j, ev, "args");
	if (gs_json_double(j, gs_json_get(j, ev, "ts"), &k.ts) || gs_json_double(j, gs_json_get(j, ev, "dur"), &k.dur) ||
	    k.dur < 0)
		return gs_fail(err, errlen, -EINVAL,
			       "a kernel event at byte %zu has no ts and dur (microseconds, dur not negative)",
			       j->nodes[ev].start);
	if (gs_json_u64(j, gs_json_get(j, args, "pid"), &pid) && gs_json_u64(j, gs_json_get(j, ev, "pid"), &pid))
		return gs_fail(err, errlen, -EINVAL, "a kernel event at byte %zu has no pid (args.pid or pid)",
			       j->nodes[ev].start);
	char sms[32] = "";
	gs_json_string(j, gs_json_get(j, args, "sms"), sms, sizeof sms);
	parse_sms(sms, &k.sm_first, &k.sm_count);
	int grid = gs_json_get(j, args, "grid");
	if (gs_json_type(j, grid) == GS_JSON_ARRAY) {
		k.blocks = 1;
		for (int d = gs_json_first(j, grid); d >= 0; d = gs_json_next(j, d)) {
			uint64_t v = 0;
			k.blocks = gs_json_u64(j, d, &v) || v == 0 || v > UINT32_MAX ? 0 : k.blocks * v;
			if (k.blocks > UINT32_MAX)
				k.blocks = UINT32_MAX;
		}
	}
	int app = app_of(t, pid > LONG_MAX ? LONG_MAX : (long)pid, j, args);
	if (app < 0)
		return gs_fail(err, errlen, app, app == -E2BIG ? "more than %d processes" : "no memory (%d processes)",
			       TRACEFILE_MAX_APPS);
	k.app = (unsigned)app;
	if (t->n == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 256;
		struct tracefile_kernel *p = realloc(t->kernels, cap * sizeof *p);
		if (!p)
			return gs_fail(err, errlen, -ENOMEM, "no memory for %zu kernels", cap);
		t->kernels = p, t->cap = cap;
	}
	t->kernels[t->n++] = k;
	if (t->n == 1 || k.ts < t->t0)
		t->t0 = k.ts;
	if (t->n == 1 || k.ts + k.dur > t->t1)
		t->t1 = k.ts + k.dur;
	if (k.sm_count && k.sm_first + k.sm_count > t->sms)
		t->sms = k.sm_first + k.sm_count;
	return 0;
}

int tracefile_read(struct tracefile *t, const char *text, size_t len, char *err, size_t errlen)
{
	*t = (struct tracefile){ 0 };
	struct gs_json j;
	struct gs_json_node *nodes = NULL;
	int rc = parse(&j, text, len, &nodes, err, errlen);
	int events = rc ? -1 : gs_json_type(&j, 0) == GS_JSON_ARRAY ? 0 : gs_json_get(&j, 0, "traceEvents");
	if (!rc && gs_json_type(&j, events) != GS_JSON_ARRAY)
		rc = gs_fail(err, errlen, -EINVAL, "not a trace: no \"traceEvents\" array (Chrome's trace event format)");
	for (int ev = rc ? -1 : gs_json_first(&j, events); ev >= 0 && !rc; ev = gs_json_next(&j, ev))
		if (gs_json_type(&j, ev) == GS_JSON_OBJECT && is(&j, ev, "ph", "X") && is(&j, ev, "cat", "kernel") &&
		    gs_json_type(&j, gs_json_get(&j, gs_json_get(&j, ev, "args"), "gpu_time")) != GS_JSON_FALSE)
			rc = add_kernel(t, &j, ev, err, errlen);
	free(nodes);
	return rc;
}

void tracefile_free(struct tracefile *t)
{
	free(t->kernels);
	free(t->apps);
	*t = (struct tracefile){ 0 };
}

/* ---- merging ---- */

struct buf {
	char *p;
	size_t n, cap;
	bool oom;
};

static void put(struct buf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->n + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p, b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

static void puts_(struct buf *b, const char *s)
{
	put(b, s, strlen(s));
}

static void event(struct buf *b, bool *first, const char *s, size_t n)
{
	puts_(b, *first ? "\n" : ",\n");
	*first = false;
	put(b, s, n);
}

static unsigned long member_u64(const struct gs_json *j, int obj, const char *key)
{
	uint64_t v = 0;
	gs_json_u64(j, gs_json_get(j, obj, key), &v);
	return (unsigned long)v;
}

/* A whole part: its events and its counts. false: it does not parse. */
static bool merge_whole(const char *text, size_t len, struct buf *b, bool *first, struct buf *procs,
			struct tracefile_sum *sum)
{
	struct gs_json j;
	struct gs_json_node *nodes = NULL;
	char err[8];
	int events = -1;
	if (parse(&j, text, len, &nodes, err, sizeof err) == 0)
		events = gs_json_get(&j, 0, "traceEvents");
	if (gs_json_type(&j, events) != GS_JSON_ARRAY) {
		free(nodes);
		return false;
	}
	for (int ev = gs_json_first(&j, events); ev >= 0; ev = gs_json_next(&j, ev))
		event(b, first, text + j.nodes[ev].start, j.nodes[ev].len);
	int g = gs_json_get(&j, gs_json_get(&j, 0, "otherData"), "gpushare");
	if (gs_json_type(&j, g) == GS_JSON_OBJECT) {
		puts_(procs, procs->n ? ",\n" : "\n");
		put(procs, text + j.nodes[g].start, j.nodes[g].len);
		sum->launches += member_u64(&j, g, "launches");
		sum->kernels += member_u64(&j, g, "kernels");
		sum->dropped += member_u64(&j, g, "dropped");
	}
	free(nodes);
	return true;
}

/* A part cut short (its process killed before it closed the document):
 * each of its lines that holds a whole event is kept. */
static void merge_lines(const char *text, size_t len, struct buf *b, bool *first, struct buf *procs,
			struct tracefile_sum *sum)
{
	unsigned long events = 0, kernels = 0;
	const char *end = text + len, *line = memchr(text, '\n', len);
	while (line && line < end) {
		line++;
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		const char *s = line, *e = nl ? nl : end;
		while (s < e && (*s == ',' || *s == ' '))
			s++;
		while (e > s && (e[-1] == ',' || e[-1] == ' ' || e[-1] == '\r'))
			e--; /* each event line but the last ends with the comma before the next */
		if (s < e && *s == ']')
			break;
		struct gs_json j;
		struct gs_json_node *nodes = NULL;
		char err[8];
		if (s < e && *s == '{' && parse(&j, s, (size_t)(e - s), &nodes, err, sizeof err) == 0 &&
		    gs_json_type(&j, 0) == GS_JSON_OBJECT) {
			event(b, first, s, (size_t)(e - s));
			events++;
			kernels += is(&j, 0, "cat", "kernel");
		}
		free(nodes);
		line = nl;
	}
	char entry[160];
	snprintf(entry, sizeof entry, "%s{\"complete\":false,\"events\":%lu,\"kernels\":%lu}", procs->n ? ",\n" : "\n",
		 events, kernels);
	puts_(procs, entry);
	sum->kernels += kernels;
	sum->launches += kernels; /* at least: the rest is not known */
	sum->incomplete++;
}

int tracefile_merge(char *const *text, const size_t *len, size_t n, char **out, size_t *out_len,
		    struct tracefile_sum *sum)
{
	struct buf b = { 0 }, procs = { 0 };
	bool first = true;
	*sum = (struct tracefile_sum){ .parts = (unsigned)n };
	puts_(&b, "{\"traceEvents\":[");
	for (size_t i = 0; i < n; i++)
		if (!merge_whole(text[i], len[i], &b, &first, &procs, sum))
			merge_lines(text[i], len[i], &b, &first, &procs, sum);
	char tail[256];
	snprintf(tail, sizeof tail,
		 "\n],\n\"displayTimeUnit\":\"ns\",\n\"otherData\":{\"gpushare\":{\"version\":1,\"parts\":%u,"
		 "\"incomplete\":%u,\"launches\":%lu,\"kernels\":%lu,\"dropped\":%lu,\"processes\":[",
		 sum->parts, sum->incomplete, sum->launches, sum->kernels, sum->dropped);
	puts_(&b, tail);
	if (procs.p)
		put(&b, procs.p, procs.n);
	puts_(&b, "\n]}}}\n");
	free(procs.p);
	if (b.oom || procs.oom) {
		free(b.p);
		return -ENOMEM;
	}
	*out = b.p, *out_len = b.n;
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names of dir's parts, sorted (a NULL-ended list the caller frees). */
static int part_names(const char *dir, char ***names, size_t *n, char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	if (!d)
		return gs_fail(err, errlen, -errno, "%s: %s", dir, strerror(errno));
	size_t cap = 0;
	*names = NULL, *n = 0;
	struct dirent *e;
	int rc = 0;
	while (!rc && (e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (l < 6 || strcmp(e->d_name + l - 5, ".json"))
			continue;
		if (*n + 1 >= cap) {
			cap = cap ? 2 * cap : 16;
			char **p = realloc(*names, cap * sizeof *p);
			if (!p) {
				rc = -ENOMEM;
				break;
			}
			*names = p;
		}
		if (!((*names)[(*n)++] = strdup(e->d_name)))
			rc = -ENOMEM;
	}
	closedir(d);
	if (*names)
		qsort(*names, *n, sizeof **names, cmp_name);
	return rc ? gs_fail(err, errlen, rc, "no memory for the parts of %s", dir) : 0;
}

int tracefile_merge_dir(const char *dir, const char *path, struct tracefile_sum *sum, char *err, size_t errlen)
{
	char **names = NULL, **text = NULL, *out = NULL, file[PATH_MAX];
	size_t n = 0, *len = NULL, out_len = 0;
	int rc = part_names(dir, &names, &n, err, errlen);
	if (!rc && n && (!(text = calloc(n, sizeof *text)) || !(len = calloc(n, sizeof *len))))
		rc = gs_fail(err, errlen, -ENOMEM, "no memory for %zu parts", n);
	for (size_t i = 0; !rc && i < n; i++) {
		char why[PATH_MAX + 128];
		snprintf(file, sizeof file, "%s/%s", dir, names[i]);
		/* written by the job's processes, as this user: no one else's file is merged */
		if ((rc = gs_file_read_owned(file, geteuid(), TRACEFILE_MAX_BYTES, &text[i], &len[i], why, sizeof why)))
			gs_fail(err, errlen, rc, "%s", why);
	}
	if (!rc && (rc = tracefile_merge(text, len, n, &out, &out_len, sum)))
		gs_fail(err, errlen, rc, "no memory to merge %zu parts", n);
	if (!rc && (rc = gs_file_replace(path, out, out_len)))
		gs_fail(err, errlen, rc, "cannot write %s: %s", path, strerror(-rc));
	for (size_t i = 0; i < n; i++) {
		if (!rc) {
			snprintf(file, sizeof file, "%s/%s", dir, names[i]);
			unlink(file);
		}
		free(names[i]);
		if (text)
			free(text[i]);
	}
	if (!rc)
		rmdir(dir); /* what else is in it (not a part) stays, and so does the directory */
	free(names);
	free(text);
	free(len);
	free(out);
	return rc;
}
