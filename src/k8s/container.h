/* container.h: what a container in a gpushare slice gets, for the two ways
 * containers are given one: gpushare-device-plugin's Allocate answer (the
 * kubelet's device plugin API) and `gpushare cdi generate`'s CDI spec. One
 * description, so that the two never differ. C, called from C++ too. */
#ifndef GS_K8S_CONTAINER_H
#define GS_K8S_CONTAINER_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct k8s_slice {
	char uuid[64];  /* MIG-<uuid>: the device's ID */
	char name[32];  /* its human name, "" when none */
	char size[40];  /* 3g.20gb, 48sm.16gb: the resource it is offered as */
	char gpu_uuid[48];
	int gpu;        /* the GPU's index */
};

/* The node's GPUs, found once (NVML's start is not for every poll): NULL
 * with why in err where none is found. */
struct k8s_gpus;
struct k8s_gpus *k8s_gpus_find(char *err, size_t errlen);
void k8s_gpus_free(struct k8s_gpus *g);
/* The lasting slices of the store in state_dir on the GPUs gpus (job slices
 * left out), at most max. 0, or -errno with why in err. */
int k8s_slices(const char *state_dir, const struct k8s_gpus *gpus, struct k8s_slice *out, size_t max, size_t *n,
	       char *err, size_t errlen);
/* Whether gpushare-control accepts a connection in pipe_dir. */
bool k8s_daemon_answers(const char *pipe_dir);

#define K8S_PATH_MAX 200   /* the host paths given below: checked by k8s_paths_check */
#define K8S_MAX_ENV 8
#define K8S_MAX_MOUNTS 2
#define K8S_MAX_DEVICES 8

/* Where things are on the node. */
struct k8s_paths {
	const char *library; /* libgpushare.so, mounted at the same path */
	const char *pipe;    /* gpushare-control's pipe directory, the same */
	const char *dev;     /* where the GPUs' device nodes are (/dev) */
};

struct k8s_edits {
	struct { char key[32]; char value[K8S_PATH_MAX + 16]; } env[K8S_MAX_ENV];
	size_t n_env;
	struct { char host[K8S_PATH_MAX + 1]; char container[K8S_PATH_MAX + 1]; bool read_only; } mount[K8S_MAX_MOUNTS];
	size_t n_mounts;
	/* character devices that exist on the node, at /dev/<name> inside */
	struct { char host[K8S_PATH_MAX + 32]; char container[48]; } device[K8S_MAX_DEVICES];
	size_t n_devices;
	char cdi[128];       /* the CDI device name: gpushare.io/slice=<uuid> */
};

#define K8S_CDI_KIND "gpushare.io/slice"

/* 0 when every path is absolute, at most K8S_PATH_MAX long and holds no
 * ',', ':', space, tab or newline (LD_PRELOAD splits at ':' and spaces, a
 * mount's options at ','; a newline would end a line); else -EINVAL with
 * what is wrong in err. */
int k8s_paths_check(const struct k8s_paths *p, char *err, size_t errlen);
/* What a container needs to run in slice s: it names its slice (the daemon
 * checks the container's user may run there), loads libgpushare.so, reaches
 * gpushare-control, and sees the slice's GPU alone. */
void k8s_container_edits(const struct k8s_slice *s, const struct k8s_paths *p, struct k8s_edits *out);

#ifdef __cplusplus
}
#endif

#endif
