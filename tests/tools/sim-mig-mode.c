/* sim-mig-mode.c: turns the *hardware* MIG mode of a simulated GPU on or off
 * through the simulated NVML, as an administrator's nvidia-smi would on a
 * real one, so that tests can drive gpushare-smi's hw backend. */
#include "gs-nvml.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: sim-mig-mode LIBDIR GPU 0|1\n");
		return 2;
	}
	char path[4096];
	snprintf(path, sizeof path, "%s/libnvidia-ml.so.1", argv[1]);
	void *h = dlopen(path, RTLD_NOW);
	if (!h || !dlsym(h, "gpushare_simulated")) {
		fprintf(stderr, "sim-mig-mode: %s is not gpushare's simulated NVML\n", path);
		return 1;
	}
	nvmlReturn_t (*init)(void) = (nvmlReturn_t(*)(void))dlsym(h, "nvmlInit_v2");
	nvmlReturn_t (*get)(unsigned, nvmlDevice_t *) =
		(nvmlReturn_t(*)(unsigned, nvmlDevice_t *))dlsym(h, "nvmlDeviceGetHandleByIndex_v2");
	nvmlReturn_t (*set)(nvmlDevice_t, unsigned, nvmlReturn_t *) =
		(nvmlReturn_t(*)(nvmlDevice_t, unsigned, nvmlReturn_t *))dlsym(h, "nvmlDeviceSetMigMode");
	nvmlDevice_t d;
	nvmlReturn_t act;
	if (init() || get((unsigned)atoi(argv[2]), &d) || set(d, (unsigned)atoi(argv[3]), &act)) {
		fprintf(stderr, "sim-mig-mode: failed\n");
		return 1;
	}
	printf("hardware MIG mode of simulated GPU %s: %s\n", argv[2], argv[3]);
	return 0;
}
