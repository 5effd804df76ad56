/* plugin-slices.h: the slices gpushare-device-plugin offers, from C++. */
#ifndef GS_K8S_PLUGIN_SLICES_H
#define GS_K8S_PLUGIN_SLICES_H

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

/* The lasting slices of the store in state_dir (job slices left out), at
 * most max. 0, or -errno with why in err. */
int k8s_slices(const char *state_dir, struct k8s_slice *out, size_t max, size_t *n, char *err, size_t errlen);
/* Whether gpushare-control (run by root or this user) accepts in pipe_dir. */
bool k8s_daemon_answers(const char *pipe_dir);

#ifdef __cplusplus
}
#endif

#endif
