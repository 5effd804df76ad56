/* profile-arg.h: the profile tuples of `-cgi`: a GI profile name ("3g.20gb",
 * "MIG 3g.20gb") or ID, optionally ":<start>", or a gpushare custom size
 * "<SMs>sm.<N>gb" / "<SMs>sm.<N>mb". */
#ifndef GS_PROFILE_ARG_H
#define GS_PROFILE_ARG_H

#include "gpumodel.h"

struct gs_profile_arg {
	const struct gs_gi_profile *profile; /* NULL for a custom size */
	int start;                           /* -1: automatic placement */
	unsigned sm;                         /* custom size */
	uint32_t memory_mib;
};

/* Parses one tuple against a model. 0, or -EINVAL with a message in err. */
int gs_profile_arg_parse(const struct gs_gpu_model *m, const char *tok, struct gs_profile_arg *out,
			 char *err, size_t errlen);

#endif
