/* fuzz-store.c: the slice store parser: whatever a file holds, parsing never
 * crashes, and what it accepts formats and re-parses to the same text. */
#include "store.h"

#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct gs_store a, b;
	char *s = fuzz_cstr(data, size);
	if (!s)
		return 0;
	char err[200];
	if (gs_store_parse(s, &a, err, sizeof err) == 0) {
		char *t1, *t2;
		if (gs_store_format(&a, &t1, NULL))
			abort();
		if (gs_store_parse(t1, &b, err, sizeof err))
			abort();
		if (gs_store_format(&b, &t2, NULL) || strcmp(t1, t2))
			abort();
		free(t1);
		free(t2);
	}
	free(s);
	return 0;
}
