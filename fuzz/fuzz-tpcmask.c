/* fuzz-tpcmask.c: a GPU's TPC map file (which gpushare-control reads back
 * from its state directory): any input is refused with a message or parses
 * to a map that passes the checks and formats back to the same text. */
#include "tpcmask.h"

#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct gs_tpc_calib c;
	static char out[16384];
	char err[200] = "", reason[600];
	if (gs_tpc_calib_parse((const char *)data, size, &c, err, sizeof err) == 0) {
		if (gs_tpc_calib_check(&c, NULL, 0))
			abort();
		int n = gs_tpc_calib_format(&c, out, sizeof out);
		/* the parser is strict: what it took is exactly what format writes */
		if (n < 0 || (size_t)n != size || memcmp(out, data, size))
			abort();
		uint32_t all[GS_TPC_WORDS];
		gs_tpc_bits_all(&c, all);
		if (!gs_tpc_any_live(&c, all) || gs_tpc_sm_count(&c, all) != c.sm_count)
			abort();
	} else if (!err[0]) {
		abort();
	}
	if (gs_tpc_failed_parse((const char *)data, size, reason, sizeof reason) == 0 && strchr(reason, '\n'))
		abort();
	char *s = fuzz_cstr(data, size);
	if (s) {
		char v[64];
		gs_tpc_driver_token(s, v, sizeof v);
		free(s);
	}
	return 0;
}
