/* cvd-resolve.c: resolves a CUDA_VISIBLE_DEVICES value against the simulated
 * GPUs and the slice store, printing "GPU g" or "GPU g GI i CI c" per device,
 * so that tests can check every form the seed's Shell 8 uses. */
#include "cvd.h"
#include "simstate.h"
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: cvd-resolve VALUE\n");
		return 2;
	}
	struct gs_sim_gpu sim[GS_SIM_MAX_GPU];
	size_t n;
	char err[256], dir[4096];
	static struct gs_store st;
	if (gs_sim_gpus(sim, GS_SIM_MAX_GPU, &n, err, sizeof err) || gs_state_dir(dir, sizeof dir) ||
	    gs_store_load(dir, &st, err, sizeof err)) {
		fprintf(stderr, "cvd-resolve: %s\n", err);
		return 1;
	}
	static struct gs_topo_gpu gpus[GS_SIM_MAX_GPU];
	static struct gs_topo_slice slices[256];
	struct gs_topo t = { .gpu = gpus, .slice = slices };
	for (size_t i = 0; i < n; i++) {
		snprintf(gpus[i].uuid, sizeof gpus[i].uuid, "%s", sim[i].uuid);
		struct gs_store_gpu *g = gs_store_gpu(&st, sim[i].uuid, false);
		for (size_t k = 0; g && k < g->layout.n_ci; k++) {
			struct gs_topo_slice *s = &slices[t.n_slice++];
			s->gpu = (unsigned)i;
			s->gi = g->layout.ci[k].gi;
			s->ci = g->layout.ci[k].id;
			gs_store_ci_uuid(sim[i].uuid, &g->layout.ci[k], s->uuid);
		}
	}
	t.n_gpu = n;
	struct gs_cvd_device d[GS_CVD_MAX];
	size_t nd;
	int rc = gs_cvd_resolve(argv[1], &t, d, GS_CVD_MAX, &nd, err, sizeof err);
	for (size_t i = 0; i < nd; i++) {
		if (d[i].slice < 0)
			printf("GPU %u\n", d[i].gpu);
		else
			printf("GPU %u GI %u CI %u\n", d[i].gpu, slices[d[i].slice].gi, slices[d[i].slice].ci);
	}
	if (rc)
		printf("stopped: %s\n", err);
	return rc ? 1 : 0;
}
