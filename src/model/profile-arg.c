/* profile-arg.c: parsing `-cgi` profile tuples. */
#include "profile-arg.h"
#include "gs.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* "<N>sm.<M>gb" or "<N>sm.<M>mb" */
static bool parse_custom(const char *s, unsigned *sm, uint32_t *mib)
{
	char num[16];
	size_t n = strspn(s, "0123456789");
	unsigned long long v, mem;
	if (n == 0 || n >= sizeof num || strncmp(s + n, "sm.", 3))
		return false;
	memcpy(num, s, n);
	num[n] = '\0';
	if (gs_parse_uint(num, 100000, &v) || v == 0)
		return false;
	const char *m = s + n + 3;
	n = strspn(m, "0123456789");
	if (n == 0 || n >= sizeof num)
		return false;
	memcpy(num, m, n);
	num[n] = '\0';
	if (gs_parse_uint(num, 1u << 22, &mem) || mem == 0)
		return false;
	if (strcmp(m + n, "gb") == 0)
		mem *= 1024;
	else if (strcmp(m + n, "mb") != 0)
		return false;
	*sm = (unsigned)v;
	*mib = (uint32_t)mem;
	return true;
}

int gs_profile_arg_parse(const struct gs_gpu_model *m, const char *tok, struct gs_profile_arg *out,
			 char *err, size_t errlen)
{
	char text[64];
	if (snprintf(text, sizeof text, "%s", tok) >= (int)sizeof text)
		return gs_fail(err, errlen, -EINVAL, "profile \"%.40s...\" is too long", tok);
	memset(out, 0, sizeof *out);
	out->start = -1;
	char *colon = strrchr(text, ':');
	if (colon) {
		unsigned long long s;
		if (gs_parse_uint(colon + 1, 7, &s))
			return gs_fail(err, errlen, -EINVAL, "Invalid placement start \"%s\" in \"%s\".",
				       colon + 1, tok);
		out->start = (int)s;
		*colon = '\0';
	}
	out->profile = gs_model_gi_by_name(m, text);
	if (out->profile)
		return 0;
	if (parse_custom(text, &out->sm, &out->memory_mib)) {
		if (out->start >= 0)
			return gs_fail(err, errlen, -EINVAL, "A custom size (%s) takes no placement.", text);
		return 0;
	}
	return gs_fail(err, errlen, -EINVAL,
		       "Invalid GPU instance profile \"%s\": use a name or ID from -lgip, or <N>sm.<M>gb.", text);
}
