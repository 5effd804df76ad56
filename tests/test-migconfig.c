/* test-migconfig.c: the config of `gpushare apply`: mig-parted's v1 format
 * (the examples of the reference, section C.1), gpushare-slices, and every
 * kind of error with its file:line:column. */
#include "test.h"

#include "migconfig.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct gs_migconf conf; /* 2.5 MB: not on the stack */

static int parse(const char *text, const char *label, char *err, size_t errlen)
{
	return gs_migconf_parse(text, strlen(text), "t.yaml", label, &conf, err, errlen);
}

#define HEAD "version: v1\nmig-configs:\n  x:\n"
/* a spec whose gpushare-slices start on line 8, "- " at column 9, keys at 11 */
#define SLICES HEAD "    - devices: all\n      mig-enabled: true\n      mig-devices: {}\n      gpushare-slices:\n"

/* reference C.1, the schema block, verbatim */
static const char schema_yaml[] =
	"version: v1                       # required; only \"v1\"\n"
	"mig-configs:                      # map: config label -> list of device-specs\n"
	"  <label>:\n"
	"    - device-filter: \"0x20B010DE\" # optional; string or list of PCI device IDs\n"
	"      devices: all                # \"all\" | list of GPU indices, e.g. [0,1,2]\n"
	"      mig-enabled: true           # required bool\n"
	"      mig-devices:                # required when mig-enabled: true (may be {}); forbidden when false\n"
	"        \"1g.5gb\": 2               # profile name -> count (>= 0). Names may be \"<g>g.<mem>gb\",\n"
	"        \"2g.10gb\": 1              #   \"<c>c.<g>g.<mem>gb\", with optional +me etc.\n"
	"        \"3g.20gb\": 1\n";

/* reference C.1, the example, verbatim */
static const char example_yaml[] =
	"version: v1\n"
	"mig-configs:\n"
	"  all-disabled:\n"
	"    - devices: all\n"
	"      mig-enabled: false\n"
	"  all-enabled:\n"
	"    - devices: all\n"
	"      mig-enabled: true\n"
	"      mig-devices: {}\n"
	"  all-1g.10gb:\n"
	"    - device-filter: [\"0x233010DE\", \"0x232110DE\"]\n"
	"      devices: all\n"
	"      mig-enabled: true\n"
	"      mig-devices:\n"
	"        \"1g.10gb\": 7\n"
	"  custom-config:\n"
	"    - devices: [0, 1, 2, 3]\n"
	"      mig-enabled: false\n"
	"    - devices: [4]\n"
	"      mig-enabled: true\n"
	"      mig-devices:\n"
	"        \"3g.40gb\": 2\n"
	"    - devices: [5, 6, 7]\n"
	"      mig-enabled: true\n"
	"      mig-devices:\n"
	"        \"1g.10gb\": 2\n"
	"        \"2g.20gb\": 1\n"
	"        \"3g.40gb\": 1\n";

#define ASSERT_POS(p, l, c)                 \
	do {                                \
		ASSERT_INT_EQ((p).line, (l)); \
		ASSERT_INT_EQ((p).col, (c));  \
	} while (0)

static void reference_schema_parses(void **state)
{
	(void)state;
	char err[512] = "";
	ASSERT_INT_EQ(parse(schema_yaml, "<label>", err, sizeof err), 0);
	ASSERT_STR_EQ(err, "");
	ASSERT_STR_EQ(conf.file, "t.yaml");
	ASSERT_STR_EQ(conf.label, "<label>");
	ASSERT_INT_EQ(conf.n_labels, 1);
	ASSERT_STR_EQ(conf.labels[0], "<label>");
	ASSERT_INT_EQ(conf.n_specs, 1);
	const struct gs_migconf_spec *s = &conf.specs[0];
	ASSERT_POS(s->at, 4, 7);
	ASSERT_INT_EQ(s->n_filters, 1);
	ASSERT_INT_EQ(s->filters[0], 0x20B010DE);
	assert_true(s->all_devices);
	ASSERT_INT_EQ(s->n_devices, 0);
	assert_true(s->mig_enabled);
	ASSERT_INT_EQ(s->n_profiles, 3);
	const char *names[] = { "1g.5gb", "2g.10gb", "3g.20gb" };
	const unsigned counts[] = { 2, 1, 1 };
	for (unsigned i = 0; i < 3; i++) {
		ASSERT_STR_EQ(s->profiles[i].name, names[i]);
		ASSERT_INT_EQ(s->profiles[i].count, counts[i]);
		ASSERT_POS(s->profiles[i].at, 8 + i, 9);
	}
	ASSERT_INT_EQ(s->n_slices, 0);
}

static void reference_example_parses_every_config(void **state)
{
	(void)state;
	char err[512] = "";
	const char *labels[] = { "all-disabled", "all-enabled", "all-1g.10gb", "custom-config" };
	for (unsigned i = 0; i < 4; i++) {
		ASSERT_INT_EQ(parse(example_yaml, labels[i], err, sizeof err), 0);
		ASSERT_INT_EQ(conf.n_labels, 4);
		for (unsigned j = 0; j < 4; j++)
			ASSERT_STR_EQ(conf.labels[j], labels[j]);
		ASSERT_STR_EQ(conf.label, labels[i]);
	}

	ASSERT_INT_EQ(parse(example_yaml, "all-disabled", err, sizeof err), 0);
	ASSERT_INT_EQ(conf.n_specs, 1);
	assert_true(conf.specs[0].all_devices);
	assert_false(conf.specs[0].mig_enabled);
	ASSERT_INT_EQ(conf.specs[0].n_filters, 0);
	ASSERT_INT_EQ(conf.specs[0].n_profiles, 0);
	ASSERT_POS(conf.specs[0].at, 4, 7);

	ASSERT_INT_EQ(parse(example_yaml, "all-enabled", err, sizeof err), 0);
	ASSERT_INT_EQ(conf.n_specs, 1);
	assert_true(conf.specs[0].all_devices);
	assert_true(conf.specs[0].mig_enabled);
	ASSERT_INT_EQ(conf.specs[0].n_profiles, 0);
	ASSERT_POS(conf.specs[0].at, 7, 7);

	ASSERT_INT_EQ(parse(example_yaml, "all-1g.10gb", err, sizeof err), 0);
	ASSERT_INT_EQ(conf.n_specs, 1);
	ASSERT_INT_EQ(conf.specs[0].n_filters, 2);
	ASSERT_INT_EQ(conf.specs[0].filters[0], 0x233010DE);
	ASSERT_INT_EQ(conf.specs[0].filters[1], 0x232110DE);
	assert_true(conf.specs[0].all_devices);
	ASSERT_INT_EQ(conf.specs[0].n_profiles, 1);
	ASSERT_STR_EQ(conf.specs[0].profiles[0].name, "1g.10gb");
	ASSERT_INT_EQ(conf.specs[0].profiles[0].count, 7);
	ASSERT_POS(conf.specs[0].profiles[0].at, 15, 9);

	ASSERT_INT_EQ(parse(example_yaml, "custom-config", err, sizeof err), 0);
	ASSERT_INT_EQ(conf.n_specs, 3);
	const struct gs_migconf_spec *s = conf.specs;
	assert_false(s[0].all_devices);
	ASSERT_INT_EQ(s[0].n_devices, 4);
	for (unsigned i = 0; i < 4; i++)
		ASSERT_INT_EQ(s[0].devices[i], i);
	assert_false(s[0].mig_enabled);
	ASSERT_POS(s[0].at, 17, 7);
	ASSERT_INT_EQ(s[1].n_devices, 1);
	ASSERT_INT_EQ(s[1].devices[0], 4);
	assert_true(s[1].mig_enabled);
	ASSERT_INT_EQ(s[1].n_profiles, 1);
	ASSERT_STR_EQ(s[1].profiles[0].name, "3g.40gb");
	ASSERT_INT_EQ(s[1].profiles[0].count, 2);
	ASSERT_POS(s[1].at, 19, 7);
	ASSERT_INT_EQ(s[2].n_devices, 3);
	for (unsigned i = 0; i < 3; i++)
		ASSERT_INT_EQ(s[2].devices[i], 5 + i);
	ASSERT_INT_EQ(s[2].n_profiles, 3);
	const char *names[] = { "1g.10gb", "2g.20gb", "3g.40gb" };
	const unsigned counts[] = { 2, 1, 1 };
	for (unsigned i = 0; i < 3; i++) {
		ASSERT_STR_EQ(s[2].profiles[i].name, names[i]);
		ASSERT_INT_EQ(s[2].profiles[i].count, counts[i]);
		ASSERT_POS(s[2].profiles[i].at, 26 + i, 9);
	}
	for (unsigned i = 0; i < 3; i++)
		ASSERT_INT_EQ(s[i].n_slices, 0);
}

static const char slices_yaml[] =
	"version: v1\n"
	"mig-configs:\n"
	"  shared:\n"
	"    - device-filter: \"0x233010DE\"\n"
	"      devices: [0, 1]\n"
	"      mig-enabled: true\n"
	"      mig-devices: {}\n"
	"      gpushare-slices:\n"
	"        - size: 64sm.24gb\n"
	"          name: train\n"
	"          users: [alice, 1001, \"bob\"]\n"
	"          refuse: true\n"
	"          overcommit: true\n"
	"          guarantee: 8G\n"
	"          default-for: [alice, \"1001\"]\n"
	"          cgroup: /gpushare.slice/train\n"
	"        - size: 3g.40gb\n"
	"          users: \"*\"\n"
	"          overcommit: false\n"
	"          refuse: false\n"
	"        - {size: \"1sm.1gb\", name: tiny, default-for: [carol]}\n";

static void slices_take_every_key(void **state)
{
	(void)state;
	char err[512] = "";
	ASSERT_INT_EQ(parse(slices_yaml, "shared", err, sizeof err), 0);
	ASSERT_INT_EQ(conf.n_specs, 1);
	const struct gs_migconf_spec *s = &conf.specs[0];
	ASSERT_INT_EQ(s->n_filters, 1);
	ASSERT_INT_EQ(s->filters[0], 0x233010DE);
	assert_false(s->all_devices);
	ASSERT_INT_EQ(s->n_devices, 2);
	ASSERT_INT_EQ(s->devices[1], 1);
	ASSERT_INT_EQ(s->n_slices, 3);

	const struct gs_migconf_slice *a = &s->slices[0];
	ASSERT_STR_EQ(a->size, "64sm.24gb");
	ASSERT_STR_EQ(a->name, "train");
	assert_false(a->everyone);
	ASSERT_INT_EQ(a->n_users, 3);
	ASSERT_STR_EQ(a->users[0], "alice");
	ASSERT_STR_EQ(a->users[1], "1001");
	ASSERT_STR_EQ(a->users[2], "bob");
	assert_true(a->refuse);
	assert_true(a->overcommit);
	ASSERT_STR_EQ(a->guarantee, "8G");
	ASSERT_INT_EQ(a->guarantee_bytes, 8ULL << 30);
	ASSERT_INT_EQ(a->n_default, 2);
	ASSERT_STR_EQ(a->default_for[0], "alice");
	ASSERT_STR_EQ(a->default_for[1], "1001");
	ASSERT_STR_EQ(a->cgroup, "/gpushare.slice/train");
	ASSERT_POS(a->at, 9, 11);
	ASSERT_POS(a->size_at, 9, 17);
	ASSERT_POS(a->name_at, 10, 17);
	ASSERT_POS(a->users_at, 11, 18);
	ASSERT_POS(a->guarantee_at, 14, 22);
	ASSERT_POS(a->cgroup_at, 16, 19);

	const struct gs_migconf_slice *b = &s->slices[1];
	ASSERT_STR_EQ(b->size, "3g.40gb");
	ASSERT_STR_EQ(b->name, "");
	assert_true(b->everyone);
	ASSERT_INT_EQ(b->n_users, 0);
	assert_false(b->refuse);
	assert_false(b->overcommit);
	ASSERT_STR_EQ(b->guarantee, "");
	ASSERT_INT_EQ(b->guarantee_bytes, 0);
	ASSERT_STR_EQ(b->cgroup, "");
	ASSERT_POS(b->at, 17, 11);
	ASSERT_POS(b->users_at, 18, 18);
	ASSERT_POS(b->name_at, 0, 0);

	const struct gs_migconf_slice *c = &s->slices[2];
	ASSERT_STR_EQ(c->size, "1sm.1gb");
	ASSERT_STR_EQ(c->name, "tiny");
	assert_true(c->everyone);
	ASSERT_INT_EQ(c->n_default, 1);
	ASSERT_STR_EQ(c->default_for[0], "carol");
	ASSERT_POS(c->at, 21, 11);
	ASSERT_POS(c->size_at, 21, 18);
	ASSERT_POS(c->name_at, 21, 35);
	ASSERT_POS(c->users_at, 0, 0);
}

static void slices_take_sm_sharing(void **state)
{
	(void)state;
	char err[512] = "";
	const char *yaml = SLICES "        - size: 40sm.8gb\n"             /* 8 */
				  "          sharing: isolated\n"         /* 9 */
				  "          priority: critical\n"        /* 10 */
				  "          lend: false\n"               /* 11: said twice, as isolated does */
				  "        - size: 32sm.8gb\n"             /* 12 */
				  "          sharing: best-effort\n"      /* 13 */
				  "          floor: 16\n"                 /* 14 */
				  "          lend: true\n"                /* 15: what best-effort does anyway */
				  "        - {size: 16sm.4gb, lend: false, borrow: true, priority: normal}\n" /* 16 */
				  "        - {size: 8sm.1gb, borrow: false}\n"
				  "        - {size: 8sm.1gb, sharing: best-effort, floor: 0}\n"
				  "        - {size: 8sm.1gb, sharing: shared}\n";
	ASSERT_INT_EQ(parse(yaml, "x", err, sizeof err), 0);
	ASSERT_STR_EQ(err, "");
	const struct gs_migconf_spec *s = &conf.specs[0];
	ASSERT_INT_EQ(s->n_slices, 6);
	const struct gs_sm_policy *p = &s->slices[0].sm_policy;
	ASSERT_INT_EQ(p->mode, GS_SM_ISOLATED);
	assert_int_equal(p->priority, GS_PRIO_CRITICAL);
	assert_true(p->no_lend);
	assert_false(p->no_borrow); /* the slice layer sets both for an isolated slice */
	ASSERT_INT_EQ(p->floor_sm, 0);
	ASSERT_POS(s->slices[0].sharing_at, 9, 20);
	ASSERT_POS(s->slices[0].floor_at, 0, 0);
	p = &s->slices[1].sm_policy;
	ASSERT_INT_EQ(p->mode, GS_SM_BEST_EFFORT);
	assert_int_equal(p->priority, GS_PRIO_NORMAL);
	assert_false(p->no_lend);
	assert_false(p->no_borrow);
	ASSERT_INT_EQ(p->floor_sm, 16);
	ASSERT_POS(s->slices[1].floor_at, 14, 18);
	p = &s->slices[2].sm_policy;
	ASSERT_INT_EQ(p->mode, GS_SM_SHARED);
	assert_true(p->no_lend);
	assert_false(p->no_borrow);
	assert_int_equal(p->priority, GS_PRIO_NORMAL);
	ASSERT_POS(s->slices[2].sharing_at, 0, 0);
	p = &s->slices[3].sm_policy;
	assert_false(p->no_lend);
	assert_true(p->no_borrow);
	/* a floor of 0 and an explicit shared are the defaults */
	ASSERT_INT_EQ(s->slices[4].sm_policy.mode, GS_SM_BEST_EFFORT);
	ASSERT_INT_EQ(s->slices[4].sm_policy.floor_sm, 0);
	assert_true(gs_store_sm_policy_default(&s->slices[5].sm_policy));
	/* none given: the default */
	ASSERT_INT_EQ(parse(SLICES "        - size: 8sm.1gb\n", "x", err, sizeof err), 0);
	assert_true(gs_store_sm_policy_default(&conf.specs[0].slices[0].sm_policy));
}

/* weight and timeslice go with any mode; 1 and off are the defaults */
static void slices_take_weight_and_timeslice(void **state)
{
	(void)state;
	char err[512] = "";
	const char *yaml = SLICES "        - size: 40sm.8gb\n"                                /* 8 */
				  "          weight: 3\n"                                   /* 9 */
				  "          timeslice: 20\n"                               /* 10 */
				  "        - {size: 32sm.8gb, sharing: best-effort, floor: 16, weight: 100, timeslice: 1000}\n"
				  "        - {size: 16sm.4gb, sharing: isolated, priority: critical, timeslice: 1}\n"
				  "        - {size: 8sm.1gb, weight: 1, timeslice: off}\n"
				  "        - {size: 8sm.1gb, timeslice: \"off\"}\n";
	ASSERT_INT_EQ(parse(yaml, "x", err, sizeof err), 0);
	ASSERT_STR_EQ(err, "");
	const struct gs_migconf_spec *s = &conf.specs[0];
	ASSERT_INT_EQ(s->n_slices, 5);
	const struct gs_sm_policy *p = &s->slices[0].sm_policy;
	ASSERT_INT_EQ(p->mode, GS_SM_SHARED);
	ASSERT_INT_EQ(p->weight, 3);
	ASSERT_INT_EQ(p->timeslice_ms, 20);
	assert_false(gs_store_sm_policy_default(p));
	p = &s->slices[1].sm_policy;
	ASSERT_INT_EQ(p->mode, GS_SM_BEST_EFFORT);
	ASSERT_INT_EQ(p->floor_sm, 16);
	ASSERT_INT_EQ(p->weight, GS_SM_MAX_WEIGHT);
	ASSERT_INT_EQ(p->timeslice_ms, GS_TIMESLICE_MAX_MS);
	p = &s->slices[2].sm_policy;
	ASSERT_INT_EQ(p->mode, GS_SM_ISOLATED);
	assert_int_equal(p->priority, GS_PRIO_CRITICAL);
	ASSERT_INT_EQ(p->weight, 0);
	ASSERT_INT_EQ(p->timeslice_ms, 1);
	assert_true(gs_store_sm_policy_default(&s->slices[3].sm_policy));
	assert_true(gs_store_sm_policy_default(&s->slices[4].sm_policy));
}

/* oom-wait: seconds 0 to 86400, 0 (refused at once) when left out; not SM
 * sharing, so the policy stays the default */
static void slices_take_oom_wait(void **state)
{
	(void)state;
	char err[512] = "";
	const char *yaml = SLICES "        - size: 40sm.8gb\n"  /* 8 */
				  "          oom-wait: 60\n"     /* 9 */
				  "        - {size: 32sm.8gb, sharing: best-effort, oom-wait: 86400}\n"
				  "        - {size: 16sm.4gb, oom-wait: 0}\n"
				  "        - {size: 8sm.1gb}\n";
	ASSERT_INT_EQ(parse(yaml, "x", err, sizeof err), 0);
	ASSERT_STR_EQ(err, "");
	const struct gs_migconf_spec *s = &conf.specs[0];
	ASSERT_INT_EQ(s->n_slices, 4);
	ASSERT_INT_EQ(s->slices[0].oom_wait_s, 60);
	assert_true(gs_store_sm_policy_default(&s->slices[0].sm_policy));
	ASSERT_INT_EQ(s->slices[1].oom_wait_s, GS_OOM_WAIT_MAX_S);
	ASSERT_INT_EQ(s->slices[1].sm_policy.mode, GS_SM_BEST_EFFORT);
	ASSERT_INT_EQ(s->slices[2].oom_wait_s, 0);
	ASSERT_INT_EQ(s->slices[3].oom_wait_s, 0);
}

/* borrow-memory: only with overcommit, never with priority critical; false
 * when left out */
static void slices_take_borrow_memory_with_overcommit_only(void **state)
{
	(void)state;
	char err[512] = "";
	const char *yaml = SLICES "        - size: 40sm.8gb\n"                      /* 8 */
				  "          overcommit: true\n"                    /* 9 */
				  "          borrow-memory: true\n"                 /* 10 */
				  "        - {size: 32sm.8gb, overcommit: true, borrow-memory: false, priority: low}\n"
				  "        - {size: 8sm.1gb}\n";
	ASSERT_INT_EQ(parse(yaml, "x", err, sizeof err), 0);
	ASSERT_STR_EQ(err, "");
	const struct gs_migconf_spec *s = &conf.specs[0];
	ASSERT_INT_EQ(s->n_slices, 3);
	assert_true(s->slices[0].borrow_mem);
	assert_false(s->slices[1].borrow_mem);
	assert_false(s->slices[2].borrow_mem);
	struct {
		const char *yaml, *err;
	} bad[] = {
		{ SLICES "        - size: 40sm.8gb\n          borrow-memory: true\n",
		  "t.yaml:9:11: \"borrow-memory\" needs \"overcommit: true\" in the same slice" },
		{ SLICES "        - {size: 40sm.8gb, overcommit: true, borrow-memory: true, priority: critical}\n",
		  "t.yaml:8:46: \"borrow-memory\" goes with no \"priority: critical\"" },
		{ SLICES "        - {size: 40sm.8gb, overcommit: true, borrow-memory: yes}\n", "t.yaml:8:61: " },
	};
	for (size_t i = 0; i < GS_ARRAY_LEN(bad); i++) {
		ASSERT_INT_EQ(parse(bad[i].yaml, "x", err, sizeof err), -EINVAL);
		if (strncmp(err, bad[i].err, strlen(bad[i].err)))
			fail_msg("%zu: \"%s\", not \"%s...\"", i, err, bad[i].err);
	}
}

static void labels_are_selected_and_an_unknown_one_lists_them(void **state)
{
	(void)state;
	char err[512] = "";
	/* NULL: the whole file checked, nothing kept */
	ASSERT_INT_EQ(parse(example_yaml, NULL, err, sizeof err), 0);
	ASSERT_STR_EQ(err, "");
	ASSERT_INT_EQ(conf.n_specs, 0);
	ASSERT_STR_EQ(conf.label, "");
	ASSERT_INT_EQ(conf.n_labels, 4);
	ASSERT_STR_EQ(conf.labels[3], "custom-config");
	/* a label selects exactly, not a prefix */
	const char *missing[] = { "nope", "all", "custom-config ", "" };
	for (unsigned i = 0; i < GS_ARRAY_LEN(missing); i++) {
		conf.n_specs = 9;
		ASSERT_INT_EQ(parse(example_yaml, missing[i], err, sizeof err), -ENOENT);
		char want[512];
		snprintf(want, sizeof want,
			 "t.yaml: no config \"%s\" in the file (known: all-disabled, all-enabled, all-1g.10gb, custom-config)",
			 missing[i]);
		ASSERT_STR_EQ(err, want);
		ASSERT_INT_EQ(conf.n_specs, 0);
		ASSERT_STR_EQ(conf.label, "");
		ASSERT_INT_EQ(conf.n_labels, 4);
	}
	/* the same spec text selected under two labels gives each its own */
	ASSERT_INT_EQ(parse(example_yaml, "all-enabled", err, sizeof err), 0);
	assert_true(conf.specs[0].mig_enabled);
	ASSERT_INT_EQ(parse(example_yaml, "all-disabled", err, sizeof err), 0);
	assert_false(conf.specs[0].mig_enabled);
}

static void every_config_is_checked_not_only_the_selected(void **state)
{
	(void)state;
	char err[512];
	const char *yaml = "version: v1\n"
			   "mig-configs:\n"
			   "  good:\n"
			   "    - {devices: all, mig-enabled: false}\n"
			   "  bad:\n"
			   "    - {devices: all, mig-enabled: maybe}\n";
	ASSERT_INT_EQ(parse(yaml, "good", err, sizeof err), -EINVAL);
	ASSERT_STR_EQ(err, "t.yaml:6:35: \"mig-enabled\" must be true or false, not \"maybe\"");
	ASSERT_INT_EQ(conf.n_specs, 0);
	ASSERT_STR_EQ(conf.label, "");
	/* an error in a config wins over a label that is not there */
	ASSERT_INT_EQ(parse(yaml, "absent", err, sizeof err), -EINVAL);
	ASSERT_STR_EQ(err, "t.yaml:6:35: \"mig-enabled\" must be true or false, not \"maybe\"");
}

struct bad {
	const char *yaml, *err;
};

/* what weight and timeslice say is right */
#define WEIGHT_RANGE "1 to 100 (its part of the SMs it runs on beside other busy slices; 1: as every slice)"
#define TIMESLICE_RANGE "1 to 1000 (ms, the turn its programs take) or off (they run at once)"
#define OOM_WAIT_RANGE                                                                                              \
	"0 to 86400 (the seconds an allocation past the slice's memory limit waits for memory its programs free; 0: " \
	"refused at once)"
static const struct bad bad[] = {
	/* values of the wrong kind */
	{ HEAD "    - devices: all\n      mig-enabled: yes please\n",
	  "t.yaml:5:20: \"mig-enabled\" must be true or false, not \"yes please\"" },
	{ HEAD "    - devices: all\n      mig-enabled: \"true\"\n",
	  "t.yaml:5:20: \"mig-enabled\" must be true or false, not the quoted string \"true\" (write it without quotes)" },
	{ HEAD "    - devices: all\n      mig-enabled: on\n",
	  "t.yaml:5:20: \"mig-enabled\" must be true or false, not \"on\" (YAML 1.1's yes/no/on/off are not taken: they "
	  "read differently from one parser to the next)" },
	{ HEAD "    - devices: all\n      mig-enabled:\n",
	  "t.yaml:5:19: \"mig-enabled\" must be true or false, not an empty value" },
	{ HEAD "    - devices: {0: 1}\n      mig-enabled: false\n",
	  "t.yaml:4:16: \"devices\" must be all or a list of GPU indexes like [0, 1], not a map" },
	{ HEAD "    - devices: al\n      mig-enabled: false\n",
	  "t.yaml:4:16: \"devices\" must be all or a list of GPU indexes like [0, 1], not \"al\"" },
	{ HEAD "    - devices: []\n      mig-enabled: false\n",
	  "t.yaml:4:16: \"devices\" must list at least one GPU index like [0, 1], or be all" },
	{ HEAD "    - devices: all\n      mig-enabled: true\n      mig-devices: [1g.5gb]\n",
	  "t.yaml:6:20: \"mig-devices\" must be a map of profile name to count like {\"1g.5gb\": 2} ({} for none), not a list" },
	{ HEAD "    - devices: all\n      mig-enabled: true\n      mig-devices: {}\n      gpushare-slices: {size: 1sm.1gb}\n",
	  "t.yaml:7:24: \"gpushare-slices\" must be a list of slices like [{size: 64sm.24gb}], not a map" },
	{ "version: v1\nmig-configs:\n  x: all\n",
	  "t.yaml:3:6: config \"x\" must be a list of device specs (\"- devices: all\" ...), not \"all\"" },
	{ "version: v1\nmig-configs:\n  x: []\n",
	  "t.yaml:3:6: config \"x\" has no device spec (expected at least one \"- devices: ...\")" },
	{ "version: v1\nmig-configs: [x]\n",
	  "t.yaml:2:14: \"mig-configs\" must be a map of config label to a list of device specs, not a list" },
	{ "version: v1\nmig-configs: {}\n",
	  "t.yaml:2:14: \"mig-configs\" holds no config (expected at least one label: a list of device specs)" },
	{ "version: v1\nmig-configs:\n  [x]: []\n", "t.yaml:3:3: a key must be a name, not a list" },
	{ "version: v1\nmig-configs:\n  two words: []\n",
	  "t.yaml:3:3: a config label must be 1 to 63 characters without spaces, not \"two words\"" },
	{ HEAD "    - all\n",
	  "t.yaml:4:7: a device spec must be a map of device-filter, devices, mig-enabled, mig-devices, gpushare-slices, "
	  "not \"all\"" },
	{ "[version, v1]\n", "t.yaml:1:1: the file must be a map of \"version: v1\" and \"mig-configs:\", not a list" },
	/* counts */
	{ HEAD "    - devices: all\n      mig-enabled: true\n      mig-devices: {1g.5gb: -1}\n",
	  "t.yaml:6:29: the count of \"1g.5gb\" must be 0 or more, not -1" },
	{ HEAD "    - devices: all\n      mig-enabled: true\n      mig-devices: {1g.5gb: 1.5}\n",
	  "t.yaml:6:29: the count of \"1g.5gb\" must be a whole number 0 or more, not \"1.5\"" },
	{ HEAD "    - devices: all\n      mig-enabled: true\n      mig-devices: {1g.5gb: 0x2}\n",
	  "t.yaml:6:29: the count of \"1g.5gb\" must be a whole number 0 or more, not \"0x2\"" },
	{ HEAD "    - devices: all\n      mig-enabled: true\n      mig-devices: {1g.5gb: \"2\"}\n",
	  "t.yaml:6:29: the count of \"1g.5gb\" must be a whole number 0 or more, not the quoted string \"2\" (write it "
	  "without quotes)" },
	{ HEAD "    - devices: all\n      mig-enabled: true\n      mig-devices: {1g.5gb: 1025}\n",
	  "t.yaml:6:29: the count of \"1g.5gb\" must be at most 1024, not 1025" },
	{ HEAD "    - devices: all\n      mig-enabled: true\n      mig-devices: {1g.5gb: 99999999999999999999}\n",
	  "t.yaml:6:29: the count of \"1g.5gb\" must be at most 1024, not 99999999999999999999" },
	{ HEAD "    - devices: all\n      mig-enabled: true\n      mig-devices: {1g 5gb: 1}\n",
	  "t.yaml:6:21: a profile name must be 1 to 31 characters without spaces like \"1g.5gb\", not \"1g 5gb\"" },
	/* GPU indexes */
	{ HEAD "    - devices: [0, 64]\n      mig-enabled: false\n", "t.yaml:4:20: a GPU index must be at most 63, not 64" },
	{ HEAD "    - devices: [0, -1]\n      mig-enabled: false\n", "t.yaml:4:20: a GPU index must be 0..63, not -1" },
	{ HEAD "    - devices: [0, 01]\n      mig-enabled: false\n",
	  "t.yaml:4:20: a GPU index must be a whole number 0..63, not \"01\"" },
	{ HEAD "    - devices: [0, gpu1]\n      mig-enabled: false\n",
	  "t.yaml:4:20: a GPU index must be a whole number 0..63, not \"gpu1\"" },
	{ HEAD "    - devices: [1, 1]\n      mig-enabled: false\n",
	  "t.yaml:4:20: GPU 1 is listed twice in \"devices\" (first at 4:17)" },
	/* device-filter */
	{ HEAD "    - device-filter: 0x20B01ZDE\n      devices: all\n      mig-enabled: false\n",
	  "t.yaml:4:22: \"device-filter\" must be a PCI ID in hex, the device ID and NVIDIA's vendor ID 10DE, like "
	  "\"0x20B010DE\", not \"0x20B01ZDE\"" },
	{ HEAD "    - device-filter: \"20B010DE\"\n      devices: all\n      mig-enabled: false\n",
	  "t.yaml:4:22: \"device-filter\" must be a PCI ID in hex, the device ID and NVIDIA's vendor ID 10DE, like "
	  "\"0x20B010DE\", not \"20B010DE\"" },
	{ HEAD "    - device-filter: \"0x120B010DE\"\n      devices: all\n      mig-enabled: false\n",
	  "t.yaml:4:22: \"device-filter\" must be a PCI ID in hex, the device ID and NVIDIA's vendor ID 10DE, like "
	  "\"0x20B010DE\", not \"0x120B010DE\"" },
	{ HEAD "    - device-filter: \"0x20B0\"\n      devices: all\n      mig-enabled: false\n",
	  "t.yaml:4:22: \"device-filter\" must end in NVIDIA's vendor ID 10DE after the device ID, like \"0x20B010DE\", "
	  "not \"0x20B0\"" },
	{ HEAD "    - device-filter: [\"0x233010DE\", \"0x20B010DF\"]\n      devices: all\n      mig-enabled: false\n",
	  "t.yaml:4:37: \"device-filter\" must end in NVIDIA's vendor ID 10DE, like \"0x20B010DE\", not \"0x20B010DF\"" },
	{ HEAD "    - device-filter: [\"0x233010DE\", \"0x233010de\"]\n      devices: all\n      mig-enabled: false\n",
	  "t.yaml:4:37: \"device-filter\" lists \"0x233010de\" twice" },
	{ HEAD "    - device-filter: []\n      devices: all\n      mig-enabled: false\n",
	  "t.yaml:4:22: \"device-filter\" must list at least one PCI ID like \"0x20B010DE\" (or be left out: every GPU)" },
	/* keys */
	{ HEAD "  - mig-device: {}\n",
	  "t.yaml:4:5: unknown key \"mig-device\" (known: device-filter, devices, mig-enabled, mig-devices, "
	  "gpushare-slices)" },
	{ "version: v1\nmig-config:\n", "t.yaml:2:1: unknown key \"mig-config\" (known: version, mig-configs)" },
	{ SLICES "        - size: 1sm.1gb\n          user: [a]\n",
	  "t.yaml:9:11: unknown key \"user\" (known: size, name, users, refuse, overcommit, guarantee, default-for, "
	  "cgroup, sharing, lend, borrow, priority, floor, weight, timeslice, oom-wait, borrow-memory)" },
	{ HEAD "    - devices: all\n      devices: [0]\n", "t.yaml:5:7: duplicate key \"devices\" (first at 4:7)" },
	{ "version: v1\nversion: v1\n", "t.yaml:2:1: duplicate key \"version\" (first at 1:1)" },
	{ "version: v1\nmig-configs:\n  x:\n  - {devices: all, mig-enabled: false}\n  x:\n  - {devices: all, mig-enabled: "
	  "false}\n",
	  "t.yaml:5:3: duplicate config \"x\" (first at 3:3)" },
	{ HEAD "    - devices: all\n      mig-enabled: true\n      mig-devices:\n        1g.5gb: 1\n        \"1g.5gb\": 2\n",
	  "t.yaml:8:9: duplicate profile \"1g.5gb\" (first at 7:9)" },
	{ SLICES "        - size: a\n          size: b\n", "t.yaml:9:11: duplicate key \"size\" (first at 8:11)" },
	/* required and forbidden */
	{ HEAD "    - mig-enabled: false\n",
	  "t.yaml:4:7: missing \"devices\" in this device spec (all, or a list of GPU indexes like [0, 1])" },
	{ HEAD "    - devices: all\n", "t.yaml:4:7: missing \"mig-enabled\" in this device spec (true or false)" },
	{ HEAD "    - devices: all\n      mig-enabled: true\n",
	  "t.yaml:4:7: missing \"mig-devices\" in this device spec: it is required where \"mig-enabled\" is true (write "
	  "mig-devices: {} for none)" },
	{ HEAD "    - devices: all\n      mig-enabled: false\n      mig-devices: {1g.5gb: 1}\n",
	  "t.yaml:6:7: \"mig-devices\" is not allowed where \"mig-enabled\" is false (at 5:20): set it true, or leave "
	  "mig-devices out" },
	{ HEAD "    - devices: all\n      mig-enabled: false\n      gpushare-slices: []\n",
	  "t.yaml:6:7: \"gpushare-slices\" is only allowed where \"mig-enabled\" is true (at 5:20 it is false)" },
	/* version */
	{ "mig-configs:\n  x:\n  - {devices: all, mig-enabled: false}\n",
	  "t.yaml:1:1: missing \"version\" (write version: v1 first)" },
	{ "version: v2\nmig-configs: {}\n", "t.yaml:1:10: \"version\" must be v1, not \"v2\"" },
	{ "version: 1\n", "t.yaml:1:10: \"version\" must be v1, not \"1\"" },
	{ "version: v1\n", "t.yaml:1:1: missing \"mig-configs\" (a map of config label to a list of device specs)" },
	{ "version: v1\nmig-configs:\n",
	  "t.yaml:2:13: \"mig-configs\" must be a map of config label to a list of device specs, not an empty value" },
	/* gpushare-slices */
	{ SLICES "        - name: a\n",
	  "t.yaml:8:11: missing \"size\" in this slice (a gpushare size like 64sm.24gb or an NVIDIA profile like 3g.20gb)" },
	{ SLICES "        - size: 64sm 24gb\n",
	  "t.yaml:8:17: \"size\" must be a size like \"64sm.24gb\" or a profile name like \"3g.20gb\" (1 to 31 characters "
	  "without spaces), not \"64sm 24gb\"" },
	{ SLICES "        - size: 0123456789012345678901234567890123\n",
	  "t.yaml:8:17: \"size\" must be a size like \"64sm.24gb\" or a profile name like \"3g.20gb\" (1 to 31 characters "
	  "without spaces), not \"0123456789012345678901234567890123\"" },
	{ SLICES "        - size: [1sm.1gb]\n",
	  "t.yaml:8:17: \"size\" must be a size like \"64sm.24gb\" or a profile name like \"3g.20gb\" (1 to 31 characters "
	  "without spaces), not a list" },
	{ SLICES "        - size: 1sm.1gb\n          guarantee: 8G\n",
	  "t.yaml:9:11: \"guarantee\" needs \"overcommit: true\" in the same slice (a slice that does not over-commit has "
	  "all its memory)" },
	{ SLICES "        - size: 1sm.1gb\n          guarantee: 8G\n          overcommit: false\n",
	  "t.yaml:9:11: \"guarantee\" needs \"overcommit: true\" in the same slice (a slice that does not over-commit has "
	  "all its memory)" },
	{ SLICES "        - size: 1sm.1gb\n          overcommit: true\n          guarantee: 8Q\n",
	  "t.yaml:10:22: \"guarantee\" must be a size above 0 like \"8G\" or \"512M\", not \"8Q\"" },
	{ SLICES "        - size: 1sm.1gb\n          overcommit: true\n          guarantee: 0\n",
	  "t.yaml:10:22: \"guarantee\" must be a size above 0 like \"8G\" or \"512M\", not \"0\"" },
	{ SLICES "        - size: 1sm.1gb\n          cgroup: gpushare.slice\n",
	  "t.yaml:9:19: \"cgroup\" must be an absolute path like \"/gpushare.slice/train\" (no . or .. in it, below 192 "
	  "characters), not \"gpushare.slice\"" },
	{ SLICES "        - size: 1sm.1gb\n          cgroup: /a/../b\n",
	  "t.yaml:9:19: \"cgroup\" must be an absolute path like \"/gpushare.slice/train\" (no . or .. in it, below 192 "
	  "characters), not \"/a/../b\"" },
	{ SLICES "        - size: 1sm.1gb\n          users: alice\n",
	  "t.yaml:9:18: \"users\" must be \"*\" (everyone) or a list of user names or uids like [alice, 1001], not "
	  "\"alice\"" },
	{ SLICES "        - size: 1sm.1gb\n          users: [alice, \"*\"]\n",
	  "t.yaml:9:26: \"*\" stands alone: write users: \"*\" for everyone" },
	{ SLICES "        - size: 1sm.1gb\n          users: [\"bad name\"]\n",
	  "t.yaml:9:19: an entry of \"users\" must be a user name or a uid (0..4294967294), not \"bad name\"" },
	{ SLICES "        - size: 1sm.1gb\n          users: [4294967295]\n",
	  "t.yaml:9:19: an entry of \"users\" must be a user name or a uid (0..4294967294), not \"4294967295\"" },
	{ SLICES "        - size: 1sm.1gb\n          users: [alice, alice]\n",
	  "t.yaml:9:26: \"users\" lists \"alice\" twice" },
	{ SLICES "        - size: 1sm.1gb\n          users: []\n",
	  "t.yaml:9:18: \"users\" must list at least one user (or be \"*\": everyone)" },
	{ SLICES "        - size: 1sm.1gb\n          users: [alice]\n          default-for: [bob]\n",
	  "t.yaml:10:25: \"bob\" in \"default-for\" is not one of this slice's \"users\"" },
	{ SLICES "        - size: 1sm.1gb\n          default-for: \"*\"\n",
	  "t.yaml:9:24: \"default-for\" must be a list of user names or uids like [alice, 1001], not \"*\"" },
	{ SLICES "        - size: a\n          default-for: [bob]\n        - size: b\n          default-for: [bob]\n",
	  "t.yaml:11:25: \"bob\" is in \"default-for\" of two slices (the first at 8:11)" },
	{ SLICES "        - size: a\n          name: n\n        - size: b\n          name: n\n",
	  "t.yaml:11:17: two slices are named \"n\" (the first at 9:17)" },
	{ SLICES "        - size: 1sm.1gb\n          refuse: 1\n", "t.yaml:9:19: \"refuse\" must be true or false, not \"1\"" },
	{ SLICES "        - size: 1sm.1gb\n          name: \"a\\0b\"\n",
	  "t.yaml:9:17: \"name\" must be a name of 1 to 31 characters without spaces, not \"a\\x00b\"" },
	{ SLICES "        - 1sm.1gb\n",
	  "t.yaml:8:11: an entry of \"gpushare-slices\" must be a map like {size: 64sm.24gb, users: [alice]}, not "
	  "\"1sm.1gb\"" },
	/* SM sharing: the keys that go together as create_slice's options do */
	{ SLICES "        - size: 1sm.1gb\n          sharing: exclusive\n",
	  "t.yaml:9:20: \"sharing\" must be shared, isolated or best-effort, not \"exclusive\"" },
	{ SLICES "        - size: 1sm.1gb\n          sharing: [isolated]\n",
	  "t.yaml:9:20: \"sharing\" must be shared, isolated or best-effort, not a list" },
	{ SLICES "        - size: 1sm.1gb\n          sharing: best-effort\n          lend: false\n",
	  "t.yaml:10:11: a best-effort slice always lends and borrows SMs: \"lend: false\" goes with \"sharing: shared\" "
	  "(or isolated, which does neither)" },
	{ SLICES "        - size: 1sm.1gb\n          borrow: false\n          sharing: best-effort\n",
	  "t.yaml:9:11: a best-effort slice always lends and borrows SMs: \"borrow: false\" goes with \"sharing: "
	  "shared\" (or isolated, which does neither)" },
	{ SLICES "        - size: 1sm.1gb\n          borrow: true\n          sharing: isolated\n",
	  "t.yaml:9:11: an isolated slice neither lends nor borrows SMs: leave \"borrow: true\" out, or make it "
	  "\"sharing: shared\" (it lends and borrows)" },
	{ SLICES "        - size: 1sm.1gb\n          lend: no\n",
	  "t.yaml:9:17: \"lend\" must be true or false, not \"no\" (YAML 1.1's yes/no/on/off are not taken: they read "
	  "differently from one parser to the next)" },
	{ SLICES "        - size: 1sm.1gb\n          priority: high\n",
	  "t.yaml:9:21: \"priority\" must be critical, normal or low, not \"high\"" },
	{ SLICES "        - size: 1sm.1gb\n          floor: 16\n",
	  "t.yaml:9:11: \"floor\" is a best-effort slice's (the SMs it keeps beside a busy critical slice): add "
	  "\"sharing: best-effort\", or leave floor out" },
	{ SLICES "        - size: 1sm.1gb\n          sharing: shared\n          floor: 0\n",
	  "t.yaml:10:11: \"floor\" is a best-effort slice's (the SMs it keeps beside a busy critical slice): add "
	  "\"sharing: best-effort\", or leave floor out" },
	{ SLICES "        - size: 1sm.1gb\n          sharing: best-effort\n          floor: 16.5\n",
	  "t.yaml:10:18: \"floor\" must be a whole number 0 or more (SMs; 0: a quarter of the slice's), not \"16.5\"" },
	{ SLICES "        - size: 1sm.1gb\n          sharing: best-effort\n          floor: 16sm\n",
	  "t.yaml:10:18: \"floor\" must be a whole number 0 or more (SMs; 0: a quarter of the slice's), not \"16sm\"" },
	{ SLICES "        - size: 1sm.1gb\n          sharing: best-effort\n          floor: \"16\"\n",
	  "t.yaml:10:18: \"floor\" must be a whole number 0 or more (SMs; 0: a quarter of the slice's), not the quoted "
	  "string \"16\" (write it without quotes)" },
	{ SLICES "        - size: 1sm.1gb\n          sharing: best-effort\n          floor: -4\n",
	  "t.yaml:10:18: \"floor\" must be 0 or more (SMs; 0: a quarter of the slice's), not -4" },
	{ SLICES "        - size: 1sm.1gb\n          sharing: best-effort\n          floor: 70000\n",
	  "t.yaml:10:18: \"floor\" must be at most 65535, not 70000" },
	/* weight and timeslice: create_slice's -weight and -timeslice, with any mode */
	{ SLICES "        - size: 1sm.1gb\n          weight: 0\n", "t.yaml:9:19: \"weight\" must be " WEIGHT_RANGE ", not 0" },
	{ SLICES "        - size: 1sm.1gb\n          weight: 101\n", "t.yaml:9:19: \"weight\" must be at most 100, not 101" },
	{ SLICES "        - size: 1sm.1gb\n          weight: -3\n", "t.yaml:9:19: \"weight\" must be " WEIGHT_RANGE ", not -3" },
	{ SLICES "        - size: 1sm.1gb\n          weight: heavy\n",
	  "t.yaml:9:19: \"weight\" must be a whole number " WEIGHT_RANGE ", not \"heavy\"" },
	{ SLICES "        - size: 1sm.1gb\n          weight: \"3\"\n",
	  "t.yaml:9:19: \"weight\" must be a whole number " WEIGHT_RANGE ", not the quoted string \"3\" (write it without "
	  "quotes)" },
	{ SLICES "        - size: 1sm.1gb\n          weight: 2.5\n",
	  "t.yaml:9:19: \"weight\" must be a whole number " WEIGHT_RANGE ", not \"2.5\"" },
	{ SLICES "        - size: 1sm.1gb\n          timeslice: 0\n",
	  "t.yaml:9:22: \"timeslice\" must be " TIMESLICE_RANGE ", not 0: for programs that run at once write off, or "
	  "leave timeslice out" },
	{ SLICES "        - size: 1sm.1gb\n          timeslice: 5000\n",
	  "t.yaml:9:22: \"timeslice\" must be at most 1000, not 5000" },
	{ SLICES "        - size: 1sm.1gb\n          timeslice: fast\n",
	  "t.yaml:9:22: \"timeslice\" must be a whole number " TIMESLICE_RANGE ", not \"fast\"" },
	{ SLICES "        - size: 1sm.1gb\n          timeslice: 20ms\n",
	  "t.yaml:9:22: \"timeslice\" must be a whole number " TIMESLICE_RANGE ", not \"20ms\"" },
	{ SLICES "        - size: 1sm.1gb\n          timeslice: false\n",
	  "t.yaml:9:22: \"timeslice\" must be a whole number " TIMESLICE_RANGE ", not \"false\"" },
	{ SLICES "        - size: 1sm.1gb\n          timeslice: Off\n",
	  "t.yaml:9:22: \"timeslice\" must be a whole number " TIMESLICE_RANGE ", not \"Off\"" },
	{ SLICES "        - size: 1sm.1gb\n          timeslice: []\n",
	  "t.yaml:9:22: \"timeslice\" must be a whole number " TIMESLICE_RANGE ", not a list" },
	{ SLICES "        - size: 1sm.1gb\n          timeslice: 20\n          timeslice: off\n",
	  "t.yaml:10:11: duplicate key \"timeslice\" (first at 9:11)" },
	/* oom-wait: create_slice's -oom-wait, whole seconds */
	{ SLICES "        - size: 1sm.1gb\n          oom-wait: 86401\n",
	  "t.yaml:9:21: \"oom-wait\" must be at most 86400, not 86401" },
	{ SLICES "        - size: 1sm.1gb\n          oom-wait: 4294967296\n",
	  "t.yaml:9:21: \"oom-wait\" must be at most 86400, not 4294967296" },
	{ SLICES "        - size: 1sm.1gb\n          oom-wait: -1\n",
	  "t.yaml:9:21: \"oom-wait\" must be " OOM_WAIT_RANGE ", not -1" },
	{ SLICES "        - size: 1sm.1gb\n          oom-wait: soon\n",
	  "t.yaml:9:21: \"oom-wait\" must be a whole number " OOM_WAIT_RANGE ", not \"soon\"" },
	{ SLICES "        - size: 1sm.1gb\n          oom-wait: 60s\n",
	  "t.yaml:9:21: \"oom-wait\" must be a whole number " OOM_WAIT_RANGE ", not \"60s\"" },
	{ SLICES "        - size: 1sm.1gb\n          oom-wait: 1.5\n",
	  "t.yaml:9:21: \"oom-wait\" must be a whole number " OOM_WAIT_RANGE ", not \"1.5\"" },
	{ SLICES "        - size: 1sm.1gb\n          oom-wait: \"60\"\n",
	  "t.yaml:9:21: \"oom-wait\" must be a whole number " OOM_WAIT_RANGE ", not the quoted string \"60\" (write it "
	  "without quotes)" },
	{ SLICES "        - size: 1sm.1gb\n          oom-wait: false\n",
	  "t.yaml:9:21: \"oom-wait\" must be a whole number " OOM_WAIT_RANGE ", not \"false\"" },
	{ SLICES "        - size: 1sm.1gb\n          oom-wait: [60]\n",
	  "t.yaml:9:21: \"oom-wait\" must be a whole number " OOM_WAIT_RANGE ", not a list" },
	{ SLICES "        - size: 1sm.1gb\n          oom-wait: 60\n          oom-wait: 0\n",
	  "t.yaml:10:11: duplicate key \"oom-wait\" (first at 9:11)" },
	/* YAML itself */
	{ HEAD "    - devices: all\n     mig-enabled: true\n",
	  "t.yaml:5:6: YAML syntax: did not find expected '-' indicator (while parsing a block collection at 4:5)" },
	{ HEAD "    - devices: [0, 1\n      mig-enabled: false\n",
	  "t.yaml:5:18: YAML syntax: did not find expected ',' or ']' (while parsing a flow sequence at 4:16)" },
	{ SLICES "        - size: 1sm.1gb\n          users: *\n",
	  "t.yaml:9:19: YAML syntax: did not find expected alphabetic or numeric character (while scanning an alias at "
	  "9:18); a lone * must be quoted: users: \"*\"" },
	{ HEAD "    - devices: all\n      mig-enabled: \xc3\x28\n",
	  "t.yaml:5:20: not YAML text: invalid trailing UTF-8 octet (byte 0x28)" },
	{ "version: v1\nmig-configs: &a\n  x: []\n", "t.yaml:2:14: anchors (&a) are not allowed: write the value out" },
	{ "version: v1\nmig-configs:\n  y: *specs\n",
	  "t.yaml:3:6: aliases (*specs) are not allowed: write the value out (and everyone as users: \"*\")" },
	{ "version: !!str v1\n", "t.yaml:1:10: tags (\"!!str\") are not allowed: write the value alone" },
	{ "version: v1\nmig-configs: !custom {}\n", "t.yaml:2:14: tags (\"!custom\") are not allowed: write the value alone" },
	{ "version: v1\n---\nversion: v1\n",
	  "t.yaml:2:1: a second YAML document: the file must hold one (remove this \"---\" or what follows it)" },
	{ "", "t.yaml:1:1: the file is empty (expected \"version: v1\" and \"mig-configs:\")" },
	{ "# nothing but a comment\n\n", "t.yaml:1:1: the file is empty (expected \"version: v1\" and \"mig-configs:\")" },
	{ "---\n...\n", "t.yaml:1:1: the file is empty (expected \"version: v1\" and \"mig-configs:\")" },
	{ "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", "t.yaml:1:33: nested too deep (more than 32 levels)" },
};

static void errors_name_file_line_and_column(void **state)
{
	(void)state;
	int failed = 0;
	for (size_t i = 0; i < GS_ARRAY_LEN(bad); i++) {
		char err[1024] = "";
		conf.n_specs = 7;
		int rc = parse(bad[i].yaml, "x", err, sizeof err);
		if (rc != -EINVAL || strcmp(err, bad[i].err) || conf.n_specs != 0) {
			printf("case %zu: rc %d n_specs %zu\n  yaml: %s\n  got:  %s\n  want: %s\n", i, rc, conf.n_specs,
			       bad[i].yaml, err, bad[i].err);
			failed++;
		}
	}
	ASSERT_INT_EQ(failed, 0);
}

/* The limits: the largest file of each kind parses, one more is refused where the one more begins. */
static void too_many_entries_are_refused(void **state)
{
	(void)state;
	static char y[65536];
	char err[512], want[512];
	size_t o, at_col = 0;
#define PUT(...) (o += (size_t)snprintf(y + o, sizeof y - o, __VA_ARGS__))
	/* device specs: 32 in a config */
	for (unsigned n = 32; n <= 33; n++) {
		o = 0;
		PUT(HEAD);
		for (unsigned i = 0; i < n; i++)
			PUT("    - {devices: [%u], mig-enabled: false}\n", i);
		ASSERT_INT_EQ(parse(y, "x", err, sizeof err), n == 32 ? 0 : -EINVAL);
		if (n == 32) {
			ASSERT_INT_EQ(conf.n_specs, 32);
			ASSERT_INT_EQ(conf.specs[31].devices[0], 31);
		} else {
			ASSERT_STR_EQ(err, "t.yaml:36:7: config \"x\" has too many device specs (at most 32)");
		}
	}
	/* device-filter: 8 */
	for (unsigned n = 8; n <= 9; n++) {
		o = 0;
		PUT(HEAD "    - devices: all\n      mig-enabled: false\n      device-filter: [");
		for (unsigned i = 0; i < n; i++) {
			at_col = o - strlen(HEAD "    - devices: all\n      mig-enabled: false\n") + 1 + (i ? 2 : 0);
			PUT("%s\"0x%04X10DE\"", i ? ", " : "", 0x2000 + i);
		}
		PUT("]\n");
		ASSERT_INT_EQ(parse(y, "x", err, sizeof err), n == 8 ? 0 : -EINVAL);
		if (n == 8) {
			ASSERT_INT_EQ(conf.specs[0].n_filters, 8);
			ASSERT_INT_EQ(conf.specs[0].filters[7], 0x200710DE);
		} else {
			snprintf(want, sizeof want, "t.yaml:6:%zu: \"device-filter\" has too many entries (at most 8)", at_col);
			ASSERT_STR_EQ(err, want);
		}
	}
	/* mig-devices: 16 profiles */
	for (unsigned n = 16; n <= 17; n++) {
		o = 0;
		PUT(HEAD "    - devices: all\n      mig-enabled: true\n      mig-devices:\n");
		for (unsigned i = 0; i < n; i++)
			PUT("        1g.%ugb: %u\n", i + 1, i);
		ASSERT_INT_EQ(parse(y, "x", err, sizeof err), n == 16 ? 0 : -EINVAL);
		if (n == 16) {
			ASSERT_INT_EQ(conf.specs[0].n_profiles, 16);
			ASSERT_STR_EQ(conf.specs[0].profiles[15].name, "1g.16gb");
			ASSERT_INT_EQ(conf.specs[0].profiles[15].count, 15);
			ASSERT_POS(conf.specs[0].profiles[15].at, 22, 9);
		} else {
			ASSERT_STR_EQ(err, "t.yaml:23:9: \"mig-devices\" has too many profiles (at most 16)");
		}
	}
	/* gpushare-slices: 32 */
	for (unsigned n = 32; n <= 33; n++) {
		o = 0;
		PUT(SLICES);
		for (unsigned i = 0; i < n; i++)
			PUT("        - size: s%u\n", i);
		ASSERT_INT_EQ(parse(y, "x", err, sizeof err), n == 32 ? 0 : -EINVAL);
		if (n == 32) {
			ASSERT_INT_EQ(conf.specs[0].n_slices, 32);
			ASSERT_STR_EQ(conf.specs[0].slices[31].size, "s31");
			ASSERT_POS(conf.specs[0].slices[31].size_at, 39, 17);
		} else {
			ASSERT_STR_EQ(err, "t.yaml:40:11: \"gpushare-slices\" has too many slices (at most 32)");
		}
	}
	/* users, and default-for: 16 each */
	for (unsigned n = 16; n <= 17; n++) {
		for (unsigned key = 0; key < 2; key++) {
			o = 0;
			PUT(SLICES "        - size: a\n          %s: [", key ? "default-for" : "users");
			size_t line_start = strlen(SLICES "        - size: a\n");
			for (unsigned i = 0; i < n; i++) {
				at_col = o - line_start + 1 + (i ? 2 : 0);
				PUT("%su%u", i ? ", " : "", i);
			}
			PUT("]\n");
			ASSERT_INT_EQ(parse(y, "x", err, sizeof err), n == 16 ? 0 : -EINVAL);
			if (n == 16) {
				const struct gs_migconf_slice *s = &conf.specs[0].slices[0];
				ASSERT_INT_EQ(key ? s->n_default : s->n_users, 16);
				ASSERT_STR_EQ(key ? s->default_for[15] : s->users[15], "u15");
			} else {
				snprintf(want, sizeof want, "t.yaml:9:%zu: \"%s\" has too many entries (at most 16)", at_col,
					 key ? "default-for" : "users");
				ASSERT_STR_EQ(err, want);
			}
		}
	}
	/* labels: 64 in a file */
	for (unsigned n = 64; n <= 65; n++) {
		o = 0;
		PUT("version: v1\nmig-configs:\n");
		for (unsigned i = 0; i < n; i++)
			PUT("  l%u: [{devices: all, mig-enabled: false}]\n", i);
		ASSERT_INT_EQ(parse(y, "l63", err, sizeof err), n == 64 ? 0 : -EINVAL);
		if (n == 64) {
			ASSERT_INT_EQ(conf.n_labels, 64);
			ASSERT_STR_EQ(conf.labels[63], "l63");
			ASSERT_STR_EQ(conf.label, "l63");
		} else {
			ASSERT_STR_EQ(err, "t.yaml:67:3: too many configs in \"mig-configs\" (at most 64)");
		}
	}
	/* every GPU index once: 64 */
	o = 0;
	PUT(HEAD "    - mig-enabled: false\n      devices: [");
	for (unsigned i = 0; i < 64; i++)
		PUT("%s%u", i ? ", " : "", 63 - i);
	PUT("]\n");
	ASSERT_INT_EQ(parse(y, "x", err, sizeof err), 0);
	ASSERT_INT_EQ(conf.specs[0].n_devices, 64);
	ASSERT_INT_EQ(conf.specs[0].devices[0], 63);
	ASSERT_INT_EQ(conf.specs[0].devices[63], 0);
#undef PUT
}

/* What mig-parted takes, gpushare takes. */
static void what_mig_parted_takes_is_taken(void **state)
{
	(void)state;
	char err[512] = "";
	const char *yaml = "version: \"v1\"\n"
			   "mig-configs:\n"
			   "  'x':\n"
			   "  - device-filter: 0x20B210DE\n"
			   "    devices: \"all\"\n"
			   "    mig-enabled: False\n"
			   "    mig-devices: {}\n"
			   "  y:\n"
			   "  - devices: [0]\n"
			   "    mig-enabled: TRUE\n"
			   "    mig-devices: {\"1g.5gb\": 0, 7g.40gb: 1}\n";
	ASSERT_INT_EQ(parse(yaml, "x", err, sizeof err), 0);
	ASSERT_STR_EQ(err, "");
	ASSERT_INT_EQ(conf.specs[0].filters[0], 0x20B210DE);
	assert_true(conf.specs[0].all_devices);
	assert_false(conf.specs[0].mig_enabled);
	ASSERT_INT_EQ(conf.specs[0].n_profiles, 0);
	ASSERT_INT_EQ(parse(yaml, "y", err, sizeof err), 0);
	assert_true(conf.specs[0].mig_enabled);
	ASSERT_INT_EQ(conf.specs[0].n_profiles, 2);
	ASSERT_INT_EQ(conf.specs[0].profiles[0].count, 0);
	ASSERT_STR_EQ(conf.specs[0].profiles[1].name, "7g.40gb");
	/* the spec's keys in any order, flow style, a final "..." */
	const char *flow = "{mig-configs: {x: [{mig-enabled: true, mig-devices: {3g.20gb: 2}, devices: [3, 1]}]}, "
			   "version: v1}\n...\n";
	ASSERT_INT_EQ(parse(flow, "x", err, sizeof err), 0);
	ASSERT_INT_EQ(conf.specs[0].n_devices, 2);
	ASSERT_INT_EQ(conf.specs[0].devices[0], 3);
	ASSERT_INT_EQ(conf.specs[0].profiles[0].count, 2);
	ASSERT_POS(conf.specs[0].at, 1, 20);
}

/* mig-parted's compute instance profiles: <c>c.<g>g.<N>gb keys beside GPU
 * instance profiles, each split into its CI size and its GI profile. */
static void compute_instance_profiles_parse(void **state)
{
	(void)state;
	char err[512] = "";
	const char *yaml = HEAD "    - devices: all\n"
			   "      mig-enabled: true\n"
			   "      mig-devices:\n"
			   "        \"1c.3g.20gb\": 3     # three 1-slice CIs in one 3g.20gb\n"
			   "        \"3g.20gb\": 1\n"
			   "        2c.4g.20gb: 2\n"
			   "        \"1c.1g.10gb+me\": 1\n"
			   "        \"7g.80gb-me,gfx\": 0\n";
	ASSERT_INT_EQ(parse(yaml, "x", err, sizeof err), 0);
	ASSERT_STR_EQ(err, "");
	const struct gs_migconf_spec *s = &conf.specs[0];
	ASSERT_INT_EQ(s->n_profiles, 5);
	const char *names[] = { "1c.3g.20gb", "3g.20gb", "2c.4g.20gb", "1c.1g.10gb+me", "7g.80gb-me,gfx" };
	const char *gis[] = { "3g.20gb", "3g.20gb", "4g.20gb", "1g.10gb+me", "7g.80gb-me,gfx" };
	const unsigned cs[] = { 1, 0, 2, 1, 0 }, counts[] = { 3, 1, 2, 1, 0 };
	for (unsigned i = 0; i < 5; i++) {
		ASSERT_STR_EQ(s->profiles[i].name, names[i]);
		ASSERT_STR_EQ(s->profiles[i].gi, gis[i]);
		ASSERT_INT_EQ(s->profiles[i].c, cs[i]);
		ASSERT_INT_EQ(s->profiles[i].count, counts[i]);
		ASSERT_POS(s->profiles[i].at, 7 + i, 9);
	}
}

/* A key that is no profile name: where it is and what one looks like. */
static void profile_names_with_bad_syntax_are_refused(void **state)
{
	(void)state;
	static const char *const names[] = { "3g20gb", "1c3g.20gb", "1c.3g.20", "c.3g.20gb", "0c.3g.20gb", "1c.03g.20gb",
					   "1c.3g.20gb.", "1c.1c.3g.20gb", "3g.20gb+", "3g.20gb+1me", "3g.20gb+me.",
					   "3g.20gb+me,me", "3g.20gb+m_e", "x1c.3g.20gb", "1C.3G.20GB", "19" };
	char err[512], yaml[256], want[512];
	for (size_t i = 0; i < GS_ARRAY_LEN(names); i++) {
		snprintf(yaml, sizeof yaml, HEAD "    - devices: all\n      mig-enabled: true\n      mig-devices:\n"
			 "        \"1g.5gb\": 1\n        \"%s\": 1\n", names[i]);
		ASSERT_INT_EQ(parse(yaml, "x", err, sizeof err), -EINVAL);
		snprintf(want, sizeof want, "t.yaml:8:9: a profile name must be a GPU instance profile <g>g.<N>gb like "
			 "\"3g.20gb\" or a compute instance profile <c>c.<g>g.<N>gb like \"1c.3g.20gb\" (either may end "
			 "in attributes like +me), not \"%s\"", names[i]);
		ASSERT_STR_EQ(err, want);
	}
	/* in flow style, the column of the key */
	ASSERT_INT_EQ(parse(HEAD "    - devices: all\n      mig-enabled: true\n      mig-devices: {1c.3g.20gb: 1, 1c.3g: 2}\n",
			    "x", err, sizeof err), -EINVAL);
	ASSERT_INT_EQ(strncmp(err, "t.yaml:6:36: a profile name must be", 35), 0);
	/* the count of a CI profile is checked as any count */
	ASSERT_INT_EQ(parse(HEAD "    - devices: all\n      mig-enabled: true\n      mig-devices: {1c.3g.20gb: -3}\n",
			    "x", err, sizeof err), -EINVAL);
	ASSERT_STR_EQ(err, "t.yaml:6:33: the count of \"1c.3g.20gb\" must be 0 or more, not -3");
	/* one key twice */
	ASSERT_INT_EQ(parse(HEAD "    - devices: all\n      mig-enabled: true\n      mig-devices:\n        1c.3g.20gb: 1\n"
			    "        \"1c.3g.20gb\": 2\n", "x", err, sizeof err), -EINVAL);
	ASSERT_STR_EQ(err, "t.yaml:8:9: duplicate profile \"1c.3g.20gb\" (first at 7:9)");
}

/* The text is len bytes, not a C string: nothing past it is read. */
static void only_len_bytes_are_read(void **state)
{
	(void)state;
	char err[512] = "";
	const char *good = "version: v1\nmig-configs:\n  x: [{devices: all, mig-enabled: false}]\n";
	size_t n = strlen(good);
	char *buf = malloc(n + 16);
	assert_non_null(buf);
	memcpy(buf, good, n);
	memcpy(buf + n, "  y: [{bad: 1}]\n", 16); /* past len, and no NUL: ASan or valgrind would see a read */
	char *exact = malloc(n);
	assert_non_null(exact);
	memcpy(exact, good, n);
	ASSERT_INT_EQ(gs_migconf_parse(exact, n, "t.yaml", "x", &conf, err, sizeof err), 0);
	ASSERT_INT_EQ(gs_migconf_parse(buf, n, "t.yaml", "x", &conf, err, sizeof err), 0);
	ASSERT_INT_EQ(conf.n_labels, 1);
	ASSERT_INT_EQ(gs_migconf_parse(buf, n + 16, "t.yaml", "x", &conf, err, sizeof err), -EINVAL);
	ASSERT_STR_EQ(err, "t.yaml:4:8: unknown key \"bad\" (known: device-filter, devices, mig-enabled, mig-devices, "
			   "gpushare-slices)");
	/* cut inside the flow sequence */
	ASSERT_INT_EQ(gs_migconf_parse(buf, n - 3, "t.yaml", "x", &conf, err, sizeof err), -EINVAL);
	ASSERT_INT_EQ(strncmp(err, "t.yaml:", 7), 0);
	ASSERT_INT_EQ(gs_migconf_parse(buf, 0, "t.yaml", "x", &conf, err, sizeof err), -EINVAL);
	ASSERT_STR_EQ(err, "t.yaml:1:1: the file is empty (expected \"version: v1\" and \"mig-configs:\")");
	free(exact);
	free(buf);
}

static void small_or_missing_error_buffers(void **state)
{
	(void)state;
	char err[8];
	memset(err, 'z', sizeof err);
	ASSERT_INT_EQ(parse("version: v2\n", NULL, err, sizeof err), -EINVAL);
	ASSERT_STR_EQ(err, "t.yaml:");
	ASSERT_INT_EQ(parse("version: v2\n", NULL, NULL, 0), -EINVAL);
	ASSERT_INT_EQ(parse(example_yaml, "nope", NULL, 0), -ENOENT);
	memset(err, 'z', sizeof err);
	ASSERT_INT_EQ(parse(example_yaml, "nope", err, sizeof err), -ENOENT);
	ASSERT_STR_EQ(err, "t.yaml:");
	char one[1] = { 'z' };
	ASSERT_INT_EQ(parse(example_yaml, "nope", one, 1), -ENOENT);
	ASSERT_INT_EQ(one[0], '\0');
	/* a long label in the message is cut, not overflowed */
	char big[600];
	memset(big, 'a', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	char msg[64];
	ASSERT_INT_EQ(parse(example_yaml, big, msg, sizeof msg), -ENOENT);
	ASSERT_INT_EQ(strlen(msg), sizeof msg - 1);
}

static void load_reads_files_and_follows_symlinks(void **state)
{
	(void)state;
	char dir[] = "/tmp/gs-test-migconfig-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[PATH_MAX], link[PATH_MAX], err[512], want[1024];
	snprintf(path, sizeof path, "%s/config.yaml", dir);
	snprintf(link, sizeof link, "%s/link.yaml", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(example_yaml, f);
	fclose(f);
	ASSERT_INT_EQ(symlink("config.yaml", link), 0);
	ASSERT_INT_EQ(gs_migconf_load(link, "custom-config", &conf, err, sizeof err), 0);
	ASSERT_STR_EQ(conf.file, link);
	ASSERT_INT_EQ(conf.n_specs, 3);
	ASSERT_INT_EQ(conf.specs[2].devices[2], 7);
	/* messages name the path given */
	ASSERT_INT_EQ(gs_migconf_load(path, "nope", &conf, err, sizeof err), -ENOENT);
	snprintf(want, sizeof want, "%s: no config \"nope\" in the file (known: all-disabled, all-enabled, all-1g.10gb, "
		 "custom-config)", path);
	ASSERT_STR_EQ(err, want);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(HEAD "    - devices: all\n      mig-enabled: sure\n", f);
	fclose(f);
	ASSERT_INT_EQ(gs_migconf_load(link, "x", &conf, err, sizeof err), -EINVAL);
	snprintf(want, sizeof want, "%s:5:20: \"mig-enabled\" must be true or false, not \"sure\"", link);
	ASSERT_STR_EQ(err, want);
	/* not there, a directory */
	char gone[PATH_MAX];
	snprintf(gone, sizeof gone, "%s/gone.yaml", dir);
	ASSERT_INT_EQ(gs_migconf_load(gone, "x", &conf, err, sizeof err), -ENOENT);
	snprintf(want, sizeof want, "%s: cannot read it: No such file or directory", gone);
	ASSERT_STR_EQ(err, want);
	ASSERT_INT_EQ(gs_migconf_load(dir, "x", &conf, err, sizeof err), -EISDIR);
	/* exactly 1 MiB is taken, a byte more is not */
	static char mib[(1 << 20) + 1];
	const char *body = "version: v1\nmig-configs:\n  x: [{devices: all, mig-enabled: false}]\n";
	memset(mib, '\n', sizeof mib);
	memcpy(mib, body, strlen(body));
	mib[strlen(body)] = '#';
	for (unsigned extra = 0; extra < 2; extra++) {
		f = fopen(path, "w");
		assert_non_null(f);
		ASSERT_INT_EQ(fwrite(mib, 1, (1 << 20) + extra, f), (1 << 20) + extra);
		fclose(f);
		int rc = gs_migconf_load(path, "x", &conf, err, sizeof err);
		if (!extra) {
			ASSERT_INT_EQ(rc, 0);
			ASSERT_INT_EQ(conf.n_specs, 1);
		} else {
			ASSERT_INT_EQ(rc, -EFBIG);
			snprintf(want, sizeof want, "%s: cannot read it: larger than 1 MiB", path);
			ASSERT_STR_EQ(err, want);
			ASSERT_INT_EQ(conf.n_specs, 0);
		}
	}
	ASSERT_INT_EQ(gs_test_rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reference_schema_parses),
		cmocka_unit_test(reference_example_parses_every_config),
		cmocka_unit_test(slices_take_every_key),
		cmocka_unit_test(slices_take_sm_sharing),
		cmocka_unit_test(slices_take_weight_and_timeslice),
		cmocka_unit_test(slices_take_oom_wait),
		cmocka_unit_test(slices_take_borrow_memory_with_overcommit_only),
		cmocka_unit_test(labels_are_selected_and_an_unknown_one_lists_them),
		cmocka_unit_test(every_config_is_checked_not_only_the_selected),
		cmocka_unit_test(errors_name_file_line_and_column),
		cmocka_unit_test(too_many_entries_are_refused),
		cmocka_unit_test(what_mig_parted_takes_is_taken),
		cmocka_unit_test(compute_instance_profiles_parse),
		cmocka_unit_test(profile_names_with_bad_syntax_are_refused),
		cmocka_unit_test(only_len_bytes_are_read),
		cmocka_unit_test(small_or_missing_error_buffers),
		cmocka_unit_test(load_reads_files_and_follows_symlinks),
	};
	return GS_RUN_ISOLATED(tests) ? 1 : 0;
}
