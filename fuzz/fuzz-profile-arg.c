/* fuzz-profile-arg.c: `-cgi` profile tuples: any input either parses to a
 * profile of the model (with a valid start) or a sane custom size, or is
 * refused with a message. */
#include "gs.h"
#include "profile-arg.h"

#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	if (!s)
		return 0;
	for (size_t k = 0; k < gs_model_count(); k++) {
		const struct gs_gpu_model *m = gs_model_at(k);
		struct gs_profile_arg a;
		char err[160];
		if (gs_profile_arg_parse(m, s, &a, err, sizeof err) == 0) {
			if (a.start < -1 || a.start > 7)
				abort();
			if (!a.profile && (a.sm == 0 || a.memory_mib == 0 || a.start != -1))
				abort();
		} else if (!err[0]) {
			abort();
		}
	}
	free(s);
	return 0;
}
