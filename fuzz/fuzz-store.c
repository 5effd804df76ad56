/* fuzz-store.c: the slice store parser: whatever a file holds, parsing never
 * crashes, and what it accepts formats and re-parses to the same text; the
 * formatted text cut short or with a byte changed is refused as corrupt.
 * Input without an intact "end" line is also tried sealed with one (this
 * file's own FNV-1a 64), so the records of the current version are fuzzed
 * past the checksum. */
#include "store.h"

#include "fuzz.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC "gpushare-store 2\n"

static struct gs_store a, b;

static uint64_t fnv1a64(const char *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)p[i]) * 0x100000001b3ull;
	return h;
}

/* Parses s; what it accepts must round-trip, and damage to the formatted
 * text (cut at cut, the byte at flip changed) must be refused. */
static void check(const char *s, size_t cut, size_t flip)
{
	char err[200];
	if (gs_store_parse(s, &a, err, sizeof err))
		return;
	char *t1, *t2;
	size_t len;
	if (gs_store_format(&a, &t1, &len) || len < sizeof MAGIC || strncmp(t1, MAGIC, strlen(MAGIC)))
		abort();
	if (gs_store_parse(t1, &b, err, sizeof err))
		abort();
	if (gs_store_format(&b, &t2, NULL) || strcmp(t1, t2))
		abort();
	cut %= len;
	char saved = t1[cut];
	t1[cut] = '\0';
	if (gs_store_parse(t1, &b, err, sizeof err) != -EBADMSG || b.n_gpu)
		abort();
	t1[cut] = saved;
	flip %= len;
	t1[flip] ^= (char)(1u << (flip % 7)); /* a space may become a NUL: a cut, refused too */
	int rc = gs_store_parse(t1, &b, err, sizeof err);
	if (flip < strlen(MAGIC) ? rc == 0 : rc != -EBADMSG)
		abort();
	free(t1);
	free(t2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	if (!s)
		return 0;
	size_t cut = size ? data[0] * 7u + size : 0, flip = size > 1 ? data[1] * 13u + size : 0;
	check(s, cut, flip);
	size_t n = strlen(s);
	if (strncmp(s, MAGIC, strlen(MAGIC)) == 0 && n < 4096) {
		/* sealed: intact, so refused only for what its records say */
		char sealed[4096 + 64];
		memcpy(sealed, s, n);
		if (sealed[n - 1] != '\n')
			sealed[n++] = '\n';
		unsigned lines = 0;
		for (size_t i = 0; i < n; i++)
			lines += sealed[i] == '\n';
		snprintf(sealed + n, sizeof sealed - n, "end %u %016" PRIx64 "\n", lines, fnv1a64(sealed, n));
		char err[200];
		if (!strstr(s, "\nend") && gs_store_parse(sealed, &a, err, sizeof err) == -EBADMSG)
			abort();
		check(sealed, cut, flip);
	}
	free(s);
	return 0;
}
