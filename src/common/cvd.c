/* cvd.c: CUDA_VISIBLE_DEVICES parsing and resolution. */
#include "cvd.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static bool uuid_prefix_ok(const char *s, size_t n)
{
	if (n == 0 || n > 36)
		return false;
	for (size_t i = 0; i < n; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
			return false;
	}
	return true;
}

static int parse_one(const char *tok, size_t len, struct gs_cvd_entry *e)
{
	char buf[128];
	if (len == 0 || len >= sizeof buf)
		return -EINVAL;
	memcpy(buf, tok, len);
	buf[len] = '\0';
	memset(e, 0, sizeof *e);
	unsigned long long v;
	if (isdigit((unsigned char)buf[0])) {
		if (gs_parse_uint(buf, 4095, &v))
			return -EINVAL;
		e->kind = GS_CVD_INDEX;
		e->index = (unsigned)v;
		return 0;
	}
	if (strncmp(buf, "MIG-GPU-", 8) == 0) {
		char *p = buf + 8, *s1 = strchr(p, '/'), *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
		if (!s2 || s1 - p != 36)
			return -EINVAL;
		*s1 = *s2 = '\0';
		struct gs_uuid u;
		unsigned long long gi, ci;
		if (gs_uuid_parse(p, &u) || gs_parse_uint(s1 + 1, 14 + 255, &gi) ||
		    gs_parse_uint(s2 + 1, 255, &ci))
			return -EINVAL;
		e->kind = GS_CVD_MIG_GPU;
		memcpy(e->uuid, p, 37);
		e->gi = (unsigned)gi;
		e->ci = (unsigned)ci;
		return 0;
	}
	const char *rest;
	if (strncmp(buf, "GPU-", 4) == 0) {
		e->kind = GS_CVD_GPU_UUID;
		rest = buf + 4;
	} else if (strncmp(buf, "MIG-", 4) == 0) {
		e->kind = GS_CVD_MIG_UUID;
		rest = buf + 4;
	} else {
		return -EINVAL;
	}
	if (!uuid_prefix_ok(rest, strlen(rest)))
		return -EINVAL;
	for (size_t i = 0; rest[i]; i++)
		e->uuid[i] = (char)tolower((unsigned char)rest[i]);
	return 0;
}

int gs_cvd_parse(const char *s, struct gs_cvd_entry *out, size_t max, size_t *n, char *err,
		 size_t errlen)
{
	*n = 0;
	const char *p = s;
	while (*p) {
		while (*p == ' ' || *p == '\t')
			p++;
		const char *end = p + strcspn(p, ",");
		size_t len = (size_t)(end - p);
		while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (*n == max)
			return gs_fail(err, errlen, -EINVAL, "more than %zu devices", max);
		if (parse_one(p, len, &out[*n]))
			return gs_fail(err, errlen, -EINVAL, "invalid device \"%.*s\"", (int)(len > 80 ? 80 : len), p);
		(*n)++;
		if (!*end)
			break;
		p = end + 1;
		if (!*p)
			return gs_fail(err, errlen, -EINVAL, "empty device after ','");
	}
	return 0;
}

/* Matches a UUID (without prefix) or a prefix of one, case-insensitively. */
static bool uuid_matches(const char *full_with_prefix, const char *want)
{
	const char *full = strchr(full_with_prefix, '-');
	if (!full)
		return false;
	full++;
	size_t n = strlen(want);
	return strncasecmp(full, want, n) == 0;
}

static int find_unique(const struct gs_topo *t, const struct gs_cvd_entry *e, struct gs_cvd_device *d)
{
	int found = 0;
	if (e->kind == GS_CVD_GPU_UUID) {
		for (size_t i = 0; i < t->n_gpu; i++)
			if (uuid_matches(t->gpu[i].uuid, e->uuid)) {
				*d = (struct gs_cvd_device){ (unsigned)i, -1 };
				found++;
			}
	} else if (e->kind == GS_CVD_MIG_UUID) {
		for (size_t i = 0; i < t->n_slice; i++)
			if (uuid_matches(t->slice[i].uuid, e->uuid)) {
				*d = (struct gs_cvd_device){ t->slice[i].gpu, (int)i };
				found++;
			}
	} else if (e->kind == GS_CVD_MIG_GPU) {
		for (size_t i = 0; i < t->n_slice; i++) {
			const struct gs_topo_slice *sl = &t->slice[i];
			if (sl->gi == e->gi && sl->ci == e->ci &&
			    strcasecmp(t->gpu[sl->gpu].uuid + 4, e->uuid) == 0) {
				*d = (struct gs_cvd_device){ sl->gpu, (int)i };
				found++;
			}
		}
	} else if (e->index < t->n_gpu) {
		*d = (struct gs_cvd_device){ e->index, -1 };
		found = 1;
	}
	return found;
}

int gs_cvd_resolve(const char *cvd, const struct gs_topo *t, struct gs_cvd_device *out,
		   size_t max, size_t *n, char *err, size_t errlen)
{
	*n = 0;
	if (!cvd) {
		for (size_t i = 0; i < t->n_gpu && i < max; i++)
			out[(*n)++] = (struct gs_cvd_device){ (unsigned)i, -1 };
		return 0;
	}
	struct gs_cvd_entry e[GS_CVD_MAX];
	size_t ne;
	int rc = gs_cvd_parse(cvd, e, GS_CVD_MAX, &ne, err, errlen);
	for (size_t i = 0; i < ne && *n < max; i++) {
		struct gs_cvd_device d;
		int found = find_unique(t, &e[i], &d);
		if (found != 1)
			return gs_fail(err, errlen, -EINVAL, "device %zu of CUDA_VISIBLE_DEVICES %s", i,
				       found ? "is ambiguous" : "does not exist");
		for (size_t k = 0; k < *n; k++)
			if (out[k].gpu == d.gpu && out[k].slice == d.slice)
				return gs_fail(err, errlen, -EINVAL,
					       "device %zu of CUDA_VISIBLE_DEVICES is listed twice", i);
		out[(*n)++] = d;
	}
	return rc;
}
