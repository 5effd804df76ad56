/* kubeenv.c: HAMi's and KAI's limit variables (kubeenv.h). Values come from
 * the container's environment, untrusted: every parse is bounded, and a
 * value that does not parse is an error, never "no limit".
 *   HAMi-core (Project-HAMi/HAMi-core, src/multiprocess/
 *   multiprocess_memory_limit.c get_limit_from_env): a size is a number with
 *   an optional k/m/g (any case), a bare number is bytes; _<i> overrides the
 *   general value for device i; an SM limit of 0 means none. gs_parse_size
 *   reads those forms (and gpushare's own, 8GiB, 1T).
 *   KAI-scheduler (NVIDIA/KAI-Scheduler, pkg/binder/common/constants.go):
 *   GPU_PORTION, the fraction of the GPU the pod was given ("0.5"). */
#include "kubeenv.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define MEM_VAR "CUDA_DEVICE_MEMORY_LIMIT"
#define SM_VAR "CUDA_DEVICE_SM_LIMIT"
#define PORTION_VAR "GPU_PORTION"
#define VALUE_MAX 64 /* longer values are refused unread */

static const char *value(gs_kubeenv_get get, void *arg, const char *name)
{
	const char *v = get(name, arg);
	return v && *v ? v : NULL;
}

/* A HAMi size; 0 or -EINVAL/-ERANGE, err says which variable and why. */
static int size_of(const char *name, const char *v, uint64_t *bytes, char *err, size_t errlen)
{
	int rc = strnlen(v, VALUE_MAX + 1) > VALUE_MAX ? -ERANGE : gs_parse_size(v, bytes);
	if (!rc && *bytes == 0)
		rc = -ERANGE; /* no memory at all is not a limit anyone means */
	if (rc)
		return gs_fail(err, errlen, rc, "%s=\"%.40s%s\" is not a device memory size (HAMi's forms: 4096m, 4g, "
			       "1048576k, or bytes: 1073741824)", name, v, strlen(v) > 40 ? "..." : "");
	return 0;
}

static int percent_of(const char *name, const char *v, unsigned *pct, char *err, size_t errlen)
{
	unsigned long long n;
	if (strnlen(v, VALUE_MAX + 1) > VALUE_MAX || gs_parse_uint(v, 100, &n))
		return gs_fail(err, errlen, -EINVAL, "%s=\"%.40s%s\" is not a percentage of the device's SMs (0 to 100; "
			       "0 and 100: no limit)", name, v, strlen(v) > 40 ? "..." : "");
	*pct = n == 100 ? 0 : (unsigned)n;
	return 0;
}

int gs_kubeenv_fraction(const char *s, uint32_t *ppm)
{
	if (!s || strnlen(s, VALUE_MAX + 1) > VALUE_MAX)
		return -EINVAL;
	uint64_t whole = 0, frac = 0, scale = 1000000000; /* frac in billionths */
	const char *p = s;
	size_t digits = 0;
	for (; *p >= '0' && *p <= '9'; p++, digits++)
		if ((whole = whole * 10 + (uint64_t)(*p - '0')) > 1)
			return -ERANGE;
	if (*p == '.') {
		p++;
		for (size_t i = 0; *p >= '0' && *p <= '9'; p++, i++, digits++) {
			if (i >= 9)
				return -EINVAL; /* no scheduler writes more */
			scale /= 10;
			frac += (uint64_t)(*p - '0') * scale;
		}
	}
	if (*p || digits == 0)
		return -EINVAL;
	if (whole == 1 && frac)
		return -ERANGE;
	uint64_t v = whole ? 1000000 : frac / 1000;
	if (v == 0 && frac == 0)
		return -ERANGE; /* none of the GPU */
	*ppm = v ? (uint32_t)v : 1;
	return 0;
}

int gs_kubeenv_parse(gs_kubeenv_get get, void *arg, struct gs_kubeenv *k, char *err, size_t errlen)
{
	memset(k, 0, sizeof *k);
	uint64_t mem_all = 0;
	unsigned sm_all = 0;
	const char *v;
	int rc;
	if ((v = value(get, arg, MEM_VAR)) && (rc = size_of(MEM_VAR, v, &mem_all, err, errlen)))
		return rc;
	if ((v = value(get, arg, SM_VAR)) && (rc = percent_of(SM_VAR, v, &sm_all, err, errlen)))
		return rc;
	for (unsigned i = 0; i < GS_KUBEENV_DEVS; i++) {
		char name[48];
		k->memory[i] = mem_all;
		k->sm_percent[i] = sm_all;
		snprintf(name, sizeof name, "%s_%u", MEM_VAR, i);
		if ((v = value(get, arg, name)) && (rc = size_of(name, v, &k->memory[i], err, errlen)))
			return rc;
		snprintf(name, sizeof name, "%s_%u", SM_VAR, i);
		if ((v = value(get, arg, name)) && (rc = percent_of(name, v, &k->sm_percent[i], err, errlen)))
			return rc;
	}
	if ((v = value(get, arg, PORTION_VAR)) && (rc = gs_kubeenv_fraction(v, &k->portion_ppm)))
		return gs_fail(err, errlen, rc, "%s=\"%.40s%s\" is not a portion of the GPU (a fraction in (0, 1]: 0.5, "
			       ".25, 1)", PORTION_VAR, v, strlen(v) > 40 ? "..." : "");
	return 0;
}

uint64_t gs_kubeenv_memory(const struct gs_kubeenv *k, size_t ndev, uint64_t gpu_total)
{
	uint64_t best = 0;
	if (k->portion_ppm && gpu_total)
		best = gpu_total / 1000000 * k->portion_ppm + gpu_total % 1000000 * k->portion_ppm / 1000000;
	for (size_t i = 0; i < ndev && i < GS_KUBEENV_DEVS; i++)
		if (k->memory[i] && (!best || k->memory[i] < best))
			best = k->memory[i];
	return best;
}

unsigned gs_kubeenv_sm_percent(const struct gs_kubeenv *k, size_t ndev)
{
	unsigned best = 0;
	for (size_t i = 0; i < ndev && i < GS_KUBEENV_DEVS; i++)
		if (k->sm_percent[i] && (!best || k->sm_percent[i] < best))
			best = k->sm_percent[i];
	return best;
}

bool gs_kubeenv_any(const struct gs_kubeenv *k)
{
	for (size_t i = 0; i < GS_KUBEENV_DEVS; i++)
		if (k->memory[i] || k->sm_percent[i])
			return true;
	return k->portion_ppm != 0;
}
