/* fuzz-kubeenv.c: the Kubernetes schedulers' limit variables (HAMi, KAI), as
 * a container's environment hands them over, never crash, never read past a
 * value, and give only limits in range. The input is NAME=VALUE lines. */
#include "kubeenv.h"

#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#define MAX_VARS 64

struct table {
	const char *name[MAX_VARS], *value[MAX_VARS];
	size_t n;
};

static const char *get(const char *name, void *arg)
{
	const struct table *t = arg;
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->name[i], name) == 0)
			return t->value[i];
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	if (!s)
		return 0;
	struct table t = { .n = 0 };
	for (char *save = NULL, *line = strtok_r(s, "\n", &save); line && t.n < MAX_VARS;
	     line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');
		if (!eq)
			continue;
		*eq = '\0';
		t.name[t.n] = line;
		t.value[t.n++] = eq + 1;
	}
	struct gs_kubeenv k;
	char err[160];
	if (gs_kubeenv_parse(get, &t, &k, err, sizeof err) == 0) {
		for (size_t i = 0; i < GS_KUBEENV_DEVS; i++)
			if (k.sm_percent[i] > 99)
				abort();
		if (k.portion_ppm > 1000000)
			abort();
		uint64_t m = gs_kubeenv_memory(&k, GS_KUBEENV_DEVS, 80ull << 30);
		if (k.portion_ppm && m > (80ull << 30))
			abort(); /* a portion is never more than the GPU */
		if (gs_kubeenv_sm_percent(&k, GS_KUBEENV_DEVS) > 99)
			abort();
	} else if (!memchr(err, '\0', sizeof err) || !strchr(err, '=')) {
		abort(); /* a refusal names the variable and its value */
	}
	free(s);
	return 0;
}
