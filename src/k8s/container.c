/* container.c: the slices containers may be given (every lasting slice of
 * the store; job slices, Slurm's or gpushare run's, are not), whether
 * gpushare-control answers, and what a container in a slice gets. */
#include "container.h"

#include "gpus.h"
#include "gs.h"
#include "mig.h"
#include "sock.h"
#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct k8s_gpus {
	struct gs_slice_gpu gpu[GS_STORE_MAX_GPU];
	size_t n;
};

struct k8s_gpus *k8s_gpus_find(char *err, size_t errlen)
{
	struct k8s_gpus *g = calloc(1, sizeof *g);
	char why[256];
	if (!g) {
		gs_fail(err, errlen, -ENOMEM, "out of memory");
	} else if (gs_gpus_discover(g->gpu, GS_STORE_MAX_GPU, &g->n, why, sizeof why)) {
		gs_fail(err, errlen, -ENODEV, "no GPU: %s", why);
		free(g);
		g = NULL;
	}
	return g;
}

void k8s_gpus_free(struct k8s_gpus *g)
{
	free(g);
}

int k8s_slices(const char *state_dir, const struct k8s_gpus *gpus, struct k8s_slice *out, size_t max, size_t *n,
	       char *err, size_t errlen)
{
	*n = 0;
	struct gs_store *st = malloc(sizeof *st);
	if (!st)
		return gs_fail(err, errlen, -ENOMEM, "out of memory");
	int rc = gs_store_load(state_dir, st, err, errlen);
	for (size_t g = 0; !rc && g < st->n_gpu; g++) {
		const struct gs_store_gpu *sg = &st->gpu[g];
		const struct gs_slice_gpu *gpu = NULL;
		for (size_t k = 0; k < gpus->n; k++)
			if (strcmp(gpus->gpu[k].uuid, sg->uuid) == 0)
				gpu = &gpus->gpu[k];
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

int k8s_paths_check(const struct k8s_paths *p, char *err, size_t errlen)
{
	const char *what[] = { "the library", "the pipe directory", "the device directory" };
	const char *path[] = { p->library, p->pipe, p->dev };
	for (size_t i = 0; i < GS_ARRAY_LEN(path); i++) {
		if (!path[i] || path[i][0] != '/')
			return gs_fail(err, errlen, -EINVAL, "%s \"%s\" is not an absolute path", what[i],
				       path[i] ? path[i] : "");
		if (strlen(path[i]) > K8S_PATH_MAX)
			return gs_fail(err, errlen, -EINVAL, "%s is longer than %d bytes", what[i], K8S_PATH_MAX);
		if (strpbrk(path[i], ",: \t\n"))
			return gs_fail(err, errlen, -EINVAL, "%s \"%s\" holds ',', ':', a space or a newline", what[i],
				       path[i]);
	}
	return 0;
}

static void add_env(struct k8s_edits *e, const char *key, const char *value)
{
	snprintf(e->env[e->n_env].key, sizeof e->env[0].key, "%s", key);
	snprintf(e->env[e->n_env].value, sizeof e->env[0].value, "%s", value);
	e->n_env++;
}

static void add_mount(struct k8s_edits *e, const char *path, bool read_only)
{
	snprintf(e->mount[e->n_mounts].host, sizeof e->mount[0].host, "%s", path);
	snprintf(e->mount[e->n_mounts].container, sizeof e->mount[0].container, "%s", path);
	e->mount[e->n_mounts++].read_only = read_only;
}

void k8s_container_edits(const struct k8s_slice *s, const struct k8s_paths *p, struct k8s_edits *out)
{
	memset(out, 0, sizeof *out);
	add_env(out, "GPUSHARE_SLICE", s->uuid);
	add_env(out, "CUDA_VISIBLE_DEVICES", s->uuid);
	add_env(out, "LD_PRELOAD", p->library);
	add_env(out, "GPUSHARE_PIPE_DIRECTORY", p->pipe);
	/* the NVIDIA container runtime mounts the driver for this GPU */
	add_env(out, "NVIDIA_VISIBLE_DEVICES", s->gpu_uuid);
	add_env(out, "NVIDIA_DRIVER_CAPABILITIES", "compute,utility");
	add_mount(out, p->library, true);
	add_mount(out, p->pipe, false);
	char gpu_node[24];
	snprintf(gpu_node, sizeof gpu_node, "nvidia%d", s->gpu);
	const char *nodes[] = { gpu_node, "nvidiactl", "nvidia-uvm", "nvidia-uvm-tools" };
	for (size_t i = 0; i < GS_ARRAY_LEN(nodes); i++) {
		char path[sizeof out->device[0].host];
		struct stat st;
		snprintf(path, sizeof path, "%s/%s", p->dev, nodes[i]);
		if (stat(path, &st) || !S_ISCHR(st.st_mode))
			continue;
		snprintf(out->device[out->n_devices].host, sizeof out->device[0].host, "%s", path);
		snprintf(out->device[out->n_devices].container, sizeof out->device[0].container, "/dev/%s", nodes[i]);
		out->n_devices++;
	}
	snprintf(out->cdi, sizeof out->cdi, K8S_CDI_KIND "=%s", s->uuid);
}
