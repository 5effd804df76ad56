/* mpsval.c: MPS value syntax (see mpsval.h). */
#include "mpsval.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int mpsval_parse_pct(const char *s, double *pct)
{
	double v = 0, scale = 0.1;
	size_t i = 0, digits = 0;
	for (; s[i] >= '0' && s[i] <= '9'; i++, digits++) {
		if (digits > 6)
			return -ERANGE;
		v = v * 10 + (s[i] - '0');
	}
	if (s[i] == '.') {
		i++;
		for (size_t f = 0; s[i] >= '0' && s[i] <= '9'; i++, f++, digits++) {
			if (f < 9)
				v += (s[i] - '0') * scale;
			scale /= 10;
		}
	}
	if (digits == 0 || s[i] != '\0')
		return -EINVAL;
	if (!(v > 0.0) || v > 100.0)
		return -ERANGE;
	*pct = v;
	return 0;
}

void mpsval_format_pct(double pct, char out[16])
{
	snprintf(out, 16, "%.1f", pct);
}

/* <digits><unit>, unit from units[] (upper or lower case); scale by shift. */
static int parse_sized(const char *s, const char *const *units, uint64_t *bytes)
{
	size_t n = strspn(s, "0123456789");
	char num[24];
	if (n == 0 || n >= sizeof num)
		return n ? -ERANGE : -EINVAL;
	memcpy(num, s, n);
	num[n] = '\0';
	unsigned long long v;
	int rc = gs_parse_uint(num, UINT64_MAX >> 30, &v);
	if (rc)
		return rc;
	for (size_t u = 0; units[u]; u++) {
		if (strcasecmp(s + n, units[u]) == 0) {
			unsigned shift = (units[u][0] == 'G' || units[u][0] == 'g') ? 30 : 20;
			if (v == 0)
				return -ERANGE;
			*bytes = (uint64_t)v << shift;
			return 0;
		}
	}
	return -EINVAL;
}

int mpsval_parse_limit(const char *s, uint64_t *bytes)
{
	static const char *const units[] = { "G", "M", NULL };
	return parse_sized(s, units, bytes);
}

void mpsval_format_limit(uint64_t bytes, char out[32])
{
	uint64_t mib = bytes >> 20;
	if (mib < 1024)
		snprintf(out, 32, "%lluM", (unsigned long long)mib);
	else
		snprintf(out, 32, "%lluG", (unsigned long long)(mib / 1024));
}

int mpsval_parse_env_limits(const char *s, struct mpsval_dev_limit *out, size_t max, char *err, size_t errlen)
{
	static const char *const units[] = { "G", "GB", "M", "MB", NULL };
	char buf[1024];
	if (snprintf(buf, sizeof buf, "%s", s) >= (int)sizeof buf)
		return gs_fail(err, errlen, -EINVAL, "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT is too long");
	size_t n = 0;
	char *save = NULL;
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(t, '=');
		if (!eq || eq == t || (size_t)(eq - t) >= sizeof out[0].dev)
			return gs_fail(err, errlen, -EINVAL, "\"%.40s\" is not <device>=<limit>", t);
		if (n == max)
			return gs_fail(err, errlen, -EINVAL, "more than %zu devices", max);
		*eq = '\0';
		if (parse_sized(eq + 1, units, &out[n].bytes))
			return gs_fail(err, errlen, -EINVAL, "\"%.40s\" is not a limit (examples: 1G, 512MB)", eq + 1);
		snprintf(out[n].dev, sizeof out[n].dev, "%s", t);
		n++;
	}
	if (n == 0)
		return gs_fail(err, errlen, -EINVAL, "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT names no device");
	return (int)n;
}
