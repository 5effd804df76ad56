/* fuzz-migconfig.c: the config of `gpushare apply` (mig-parted's YAML and
 * gpushare-slices) never crashes, never reads past its len bytes (the input
 * is passed as it is, without a NUL), leaks nothing, and keeps its word: an
 * error names fuzz.yaml:LINE:COL, a file that parses selects each of its
 * labels the same way twice, within the limits, SM-sharing keys only as
 * they go together, a weight, a time slice and an oom-wait within their
 * ranges, borrow-memory only over-committed and not critical. */
#include "migconfig.h"

#include "fuzz.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct gs_migconf conf, again;

static void check_spec(const struct gs_migconf_spec *s)
{
	if (s->n_devices > GS_MIGCONF_MAX_DEVICES || s->n_filters > GS_MIGCONF_MAX_FILTERS ||
	    s->n_profiles > GS_MIGCONF_MAX_PROFILES || s->n_slices > GS_MIGCONF_MAX_SLICES || !s->at.line)
		abort();
	if (s->all_devices != (s->n_devices == 0))
		abort();
	for (size_t i = 0; i < s->n_devices; i++)
		if (s->devices[i] >= GS_MIGCONF_MAX_DEVICES)
			abort();
	for (size_t i = 0; i < s->n_filters; i++)
		if ((s->filters[i] & 0xffff) != 0x10de)
			abort();
	if (!s->mig_enabled && (s->n_profiles || s->n_slices))
		abort();
	for (size_t i = 0; i < s->n_profiles; i++)
		if (!s->profiles[i].name[0] || s->profiles[i].count > GS_MIGCONF_MAX_COUNT)
			abort();
	/* a CI profile's key is "<c>c." and its GI profile; a GI profile's is the GI profile alone */
	for (size_t i = 0; i < s->n_profiles; i++) {
		const struct gs_migconf_profile *p = &s->profiles[i];
		size_t n = strlen(p->name), g = strlen(p->gi);
		if (!g || g > n || strcmp(p->name + n - g, p->gi) || (p->c == 0) != (g == n))
			abort();
	}
	for (size_t i = 0; i < s->n_slices; i++) {
		const struct gs_migconf_slice *sl = &s->slices[i];
		if (!sl->size[0] || sl->n_users > GS_MIGCONF_MAX_USERS || sl->n_default > GS_MIGCONF_MAX_USERS)
			abort();
		if (sl->everyone != (sl->n_users == 0) || (sl->guarantee[0] && !sl->overcommit))
			abort();
		if ((sl->cgroup[0] && sl->cgroup[0] != '/') || sl->oom_wait_s > GS_OOM_WAIT_MAX_S ||
		    (sl->borrow_mem && (!sl->overcommit || sl->sm_policy.priority == GS_PRIO_CRITICAL)))
			abort();
		/* the keys that go together, as create_slice's options */
		const struct gs_sm_policy *sp = &sl->sm_policy;
		if (sp->mode > GS_SM_BEST_EFFORT || (sp->floor_sm && sp->mode != GS_SM_BEST_EFFORT) ||
		    sp->floor_sm > GS_MIGCONF_MAX_FLOOR || (sp->mode == GS_SM_BEST_EFFORT && (sp->no_lend || sp->no_borrow)) ||
		    sp->weight > GS_SM_MAX_WEIGHT || sp->timeslice_ms > GS_TIMESLICE_MAX_MS)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
	unsigned line, col;
	int rc = gs_migconf_parse((const char *)data, size, "fuzz.yaml", NULL, &conf, err, sizeof err);
	if (rc == -EINVAL) {
		if (sscanf(err, "fuzz.yaml:%u:%u: ", &line, &col) != 2 || !line || !col)
			abort();
		return 0;
	}
	if (rc || conf.n_specs || conf.n_labels == 0 || conf.n_labels > GS_MIGCONF_MAX_LABELS)
		abort();
	/* every label selects, and the same way twice */
	size_t n_labels = conf.n_labels;
	static char labels[GS_MIGCONF_MAX_LABELS][64];
	memcpy(labels, conf.labels, sizeof labels);
	for (size_t i = 0; i < n_labels; i++) {
		if (gs_migconf_parse((const char *)data, size, "fuzz.yaml", labels[i], &conf, err, sizeof err))
			abort();
		if (strcmp(conf.label, labels[i]) || conf.n_specs == 0 || conf.n_specs > GS_MIGCONF_MAX_SPECS)
			abort();
		for (size_t s = 0; s < conf.n_specs; s++)
			check_spec(&conf.specs[s]);
		if (i == 0) {
			if (gs_migconf_parse((const char *)data, size, "fuzz.yaml", labels[i], &again, err, sizeof err) ||
			    memcmp(&conf, &again, sizeof conf))
				abort();
		}
	}
	/* one that is not there */
	if (gs_migconf_parse((const char *)data, size, "fuzz.yaml", "no such label!", &conf, err, sizeof err) != -ENOENT)
		abort();
	return 0;
}
