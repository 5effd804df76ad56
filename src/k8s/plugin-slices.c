/* plugin-slices.c: what gpushare-device-plugin offers the kubelet, read
 * through gpushare's own layers (C): every lasting slice of the store as a
 * device of the resource named after its size, and whether gpushare-control
 * answers. Job slices (Slurm's, gpushare run's) are not offered. */
#include "plugin-slices.h"

#include "gpus.h"
#include "mig.h"
#include "sock.h"
#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int k8s_slices(const char *state_dir, struct k8s_slice *out, size_t max, size_t *n, char *err, size_t errlen)
{
	*n = 0;
	struct gs_slice_gpu gpus[GS_STORE_MAX_GPU];
	size_t n_gpus = 0;
	char why[256];
	if (gs_gpus_discover(gpus, GS_STORE_MAX_GPU, &n_gpus, why, sizeof why))
		return gs_fail(err, errlen, -ENODEV, "no GPU: %s", why);
	struct gs_store *st = malloc(sizeof *st);
	if (!st)
		return gs_fail(err, errlen, -ENOMEM, "out of memory");
	int rc = gs_store_load(state_dir, st, err, errlen);
	for (size_t g = 0; !rc && g < st->n_gpu; g++) {
		const struct gs_store_gpu *sg = &st->gpu[g];
		const struct gs_slice_gpu *gpu = NULL;
		for (size_t k = 0; k < n_gpus; k++)
			if (strcmp(gpus[k].uuid, sg->uuid) == 0)
				gpu = &gpus[k];
		for (size_t i = 0; gpu && i < sg->layout.n_ci && *n < max; i++) {
			const struct gs_mig_ci *ci = &sg->layout.ci[i];
			const struct gs_mig_gi *gi = NULL;
			for (size_t k = 0; k < sg->layout.n_gi; k++)
				if (sg->layout.gi[k].id == ci->gi)
					gi = &sg->layout.gi[k];
			if (!gi || ci->owner_pid)
				continue;
			struct k8s_slice *s = &out[(*n)++];
			memset(s, 0, sizeof *s);
			gs_store_ci_uuid(sg->uuid, ci, s->uuid);
			snprintf(s->name, sizeof s->name, "%s", ci->name);
			gs_mig_gi_name(&gpu->model, gi, s->size, sizeof s->size);
			snprintf(s->gpu_uuid, sizeof s->gpu_uuid, "%s", sg->uuid);
			s->gpu = (int)gpu->index;
		}
	}
	free(st);
	return rc;
}

bool k8s_daemon_answers(const char *pipe_dir)
{
	char path[GS_CONTROL_SOCK_MAX];
	if (snprintf(path, sizeof path, "%s/control", pipe_dir) >= (int)sizeof path)
		return false;
	int fd = gs_control_connect(path, 1000);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}
