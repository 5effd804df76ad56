/* tpcmap-calibrate.c: drives the TPC map calibration of gpushare-control
 * (calibrate.c) for tests.
 *
 *   tpcmap-calibrate [--libcuda PATH] [--timeout-ms N] map STATE_DIR ORDINAL UUID
 *       control_tpc_map: the map kept or measured, in its text form
 *   tpcmap-calibrate [--libcuda PATH] [--timeout-ms N] measure ORDINAL UUID
 *       control_tpc_calibrate alone
 *   tpcmap-calibrate model KEY
 *       what a simulated model's map is (gs_tpcmap_fill): its "sms" and "bit" lines
 * Failure: "error <why>" on stderr, exit 1. */
#include "control.h"
#include "gpumodel.h"
#include "tpcmap.h"
#include "tpcmask.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int model(const char *key)
{
	const struct gs_gpu_model *m = gs_model_find(key);
	if (!m) {
		fprintf(stderr, "error no model %s\n", key);
		return 1;
	}
	int16_t map[GS_TPC_BITS];
	gs_tpcmap_fill(m, map);
	printf("sms %u\n", m->sm_count);
	for (unsigned b = 0; b < GS_TPC_BITS; b++)
		if (map[b] >= 0)
			printf("bit %u %d %d\n", b, map[b], map[b] + 1);
	return 0;
}

int main(int argc, char **argv)
{
	struct control_tpc_opts o = { NULL, 0 };
	int i = 1;
	for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
		if (strcmp(argv[i], "--libcuda") == 0)
			o.libcuda = argv[i + 1];
		else if (strcmp(argv[i], "--timeout-ms") == 0)
			o.timeout_ms = atoi(argv[i + 1]);
		else
			break;
	}
	static struct gs_tpc_calib c;
	char why[600] = "";
	int rc;
	if (argc - i == 2 && strcmp(argv[i], "model") == 0)
		return model(argv[i + 1]);
	if (argc - i == 4 && strcmp(argv[i], "map") == 0)
		rc = control_tpc_map(argv[i + 1], (unsigned)atoi(argv[i + 2]), argv[i + 3], &o, &c, why, sizeof why);
	else if (argc - i == 3 && strcmp(argv[i], "measure") == 0)
		rc = control_tpc_calibrate((unsigned)atoi(argv[i + 1]), argv[i + 2], &o, &c, why, sizeof why);
	else {
		fprintf(stderr, "usage: tpcmap-calibrate [--libcuda PATH] [--timeout-ms N] map STATE_DIR ORDINAL UUID |"
				" measure ORDINAL UUID | model KEY\n");
		return 2;
	}
	if (rc) {
		fprintf(stderr, "error %s (%d)\n", why, rc);
		return 1;
	}
	static char text[16384];
	int n = gs_tpc_calib_format(&c, text, sizeof text);
	if (n < 0)
		return 1;
	fputs(text, stdout);
	if (why[0])
		fprintf(stderr, "note %s\n", why);
	return 0;
}
