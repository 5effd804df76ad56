/* migconfig.h: the configuration file of `gpushare apply -f FILE -c CONFIG`:
 * NVIDIA mig-parted's v1 format, decoded strictly (an unknown key is an
 * error), plus gpushare's own `gpushare-slices` in a device spec:
 *
 *   version: v1
 *   mig-configs:
 *     <label>:
 *       - device-filter: "0x20B010DE"   # optional; a string or a list of them
 *         devices: all                  # required: all, or a list of GPU indexes 0..63
 *         mig-enabled: true             # required: true or false
 *         mig-devices: {"1g.5gb": 2}    # required when mig-enabled is true ({} for none);
 *                                       # with false only {} (as mig-parted); a key is a
 *                                       # GPU instance profile <g>g.<N>gb[+attr] (with its
 *                                       # whole compute instance) or a compute instance
 *                                       # profile <c>c.<g>g.<N>gb[+attr] (packed into GPU
 *                                       # instances of <g>g.<N>gb, as mig-parted packs them)
 *         gpushare-slices:              # optional, only where mig-enabled is true
 *           - size: 64sm.24gb           # required; a gpushare size or an NVIDIA profile name
 *             name: train               # optional
 *             users: [alice, 1001]      # optional: "*" (the default: everyone) or a list
 *             refuse: true              # a second user is refused, not queued
 *             overcommit: true
 *             guarantee: 8G             # only with overcommit: true
 *             default-for: [alice]      # users whose programs land here by default
 *             cgroup: /gpushare.slice   # an absolute path
 *             sharing: best-effort      # SM sharing (docs/control.md): shared (the default),
 *                                       # isolated or best-effort
 *             lend: false               # a shared slice's switches (default true); false with
 *             borrow: false             # isolated is redundant, with best-effort refused
 *             priority: critical        # normal (the default) or low
 *             floor: 16                 # SMs; only with sharing: best-effort
 *             weight: 3                 # 1-100 (default 1): its part of SMs it shares with busy slices
 *             timeslice: 20             # ms, 1-1000, or off (the default: its programs run at once)
 *             oom-wait: 60              # seconds, 0-86400: an allocation past its memory limit waits
 *                                       # for memory its programs free (0, the default: refused at once)
 *             borrow-memory: true       # only with overcommit: true, not with priority: critical:
 *                                       # borrows the other slices' unused guarantees (docs/control.md)
 *
 * Names (profiles, sizes) are only checked for their syntax here; whether a GPU
 * has them is for the code that applies the config. No YAML anchors, aliases,
 * tags or second documents. Needs libyaml (-lyaml). */
#ifndef GS_MIGCONFIG_H
#define GS_MIGCONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define GS_MIGCONF_MAX_SPECS 32     /* device specs in one config */
#define GS_MIGCONF_MAX_DEVICES 64   /* GPU indexes 0..63 */
#define GS_MIGCONF_MAX_FILTERS 8
#define GS_MIGCONF_MAX_PROFILES 16  /* mig-devices entries of a spec */
#define GS_MIGCONF_MAX_SLICES 32    /* gpushare-slices of a spec */
#define GS_MIGCONF_MAX_USERS 16     /* users, and default-for, of a slice */
#define GS_MIGCONF_MAX_LABELS 64    /* configs in a file */
#define GS_MIGCONF_MAX_COUNT 1024   /* a mig-devices count */
#define GS_MIGCONF_MAX_FLOOR 65535  /* a floor in SMs (the slice's SMs bound it when applied) */
#define GS_MIGCONF_MAX_FILE (1u << 20)

/* 1-based, of the value's start (libyaml's mark + 1); for a profile, of its name */
struct gs_migconf_pos {
	unsigned line, col;
};
struct gs_migconf_profile {
	char name[32];   /* as written: "1c.3g.20gb", "3g.20gb" */
	char gi[32];     /* its GPU instance profile: "3g.20gb" */
	unsigned c;      /* compute slices of the compute instance; 0: the GI profile alone (its whole CI) */
	unsigned count;
	struct gs_migconf_pos at;
};
struct gs_migconf_slice {
	char size[32], name[32], guarantee[32], cgroup[192]; /* "" where absent */
	char users[GS_MIGCONF_MAX_USERS][64]; /* names, or uids in decimal */
	unsigned n_users;
	bool everyone; /* users absent or "*": everyone */
	char default_for[GS_MIGCONF_MAX_USERS][64];
	unsigned n_default;
	bool refuse, overcommit;
	uint64_t guarantee_bytes; /* guarantee parsed (gs_parse_size); 0 where absent */
	/* sharing, lend, borrow, priority, floor, weight and timeslice as given
	 * (all zero: the default; a weight of 1 is the default too); whether the
	 * floor fits the slice is the slice layer's check */
	struct gs_sm_policy sm_policy;
	unsigned oom_wait_s; /* oom-wait, 0..GS_OOM_WAIT_MAX_S (0, the default: refused at once) */
	bool borrow_mem;     /* borrow-memory: with overcommit, never critical */
	struct gs_migconf_pos at, size_at, name_at, users_at, guarantee_at, cgroup_at, sharing_at, floor_at; /* {0, 0} where absent */
};
struct gs_migconf_spec {
	bool all_devices;
	unsigned devices[GS_MIGCONF_MAX_DEVICES]; /* in the file's order, no index twice */
	size_t n_devices;
	uint32_t filters[GS_MIGCONF_MAX_FILTERS]; /* none: every GPU */
	size_t n_filters;
	bool mig_enabled;
	struct gs_migconf_profile profiles[GS_MIGCONF_MAX_PROFILES];
	size_t n_profiles;
	struct gs_migconf_slice slices[GS_MIGCONF_MAX_SLICES];
	size_t n_slices;
	struct gs_migconf_pos at; /* the spec's map */
};
/* About 2.5 MB: static or on the heap, not on the stack. */
struct gs_migconf {
	char file[256], label[64];
	struct gs_migconf_spec specs[GS_MIGCONF_MAX_SPECS];
	size_t n_specs;
	char labels[GS_MIGCONF_MAX_LABELS][64]; /* every label of the file, in order (for "no such config: known are ...") */
	size_t n_labels;
};

/* Parses YAML text (len bytes; file names it in messages) and keeps the config labelled label (NULL: only
 * check the whole file). 0, or -EINVAL with "FILE:LINE:COL: what is wrong (what would be right)" in err; every
 * config of the file is checked, not only the one selected; a label that is not there: -ENOENT, the message
 * listing the labels there are. -ENOMEM where memory runs out. */
int gs_migconf_parse(const char *text, size_t len, const char *file, const char *label, struct gs_migconf *out,
		     char *err, size_t errlen);
/* The same from a file (at most 1 MiB; a symlink is followed: it is the admin's file). A file that cannot be
 * read: its negative errno (-ENOENT too), -EFBIG over 1 MiB, with "FILE: cannot read it: why" in err. */
int gs_migconf_load(const char *path, const char *label, struct gs_migconf *out, char *err, size_t errlen);

#endif
