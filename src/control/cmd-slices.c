/* cmd-slices.c: gpushare's own commands, in MPS's style, for what MPS cannot
 * do: create, resize, list and destroy slices, say who may join them, and
 * change a slice's memory limit live. Each is one transaction of the slice
 * layer, whose messages say why a change is refused. */
#include "control.h"
#include "profile-arg.h"
#include "slice.h"
#include "slices.h"
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <limits.h>
#include <signal.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int control_slice_find(struct control_state *s, const char *name, struct control_slice *out, struct control_reply *r)
{
	struct gs_store *st = malloc(sizeof *st);
	struct gs_store_gpu *sg;
	struct gs_mig_ci *ci;
	char why[256] = "no memory";
	int rc = st ? gs_store_load(s->state_dir, st, why, sizeof why) : -ENOMEM;
	if (rc == 0 && (rc = gs_slice_resolve(st, name, &sg, &ci, why, sizeof why)) == 0) {
		gs_store_ci_uuid(sg->uuid, ci, out->uuid);
		out->gpu = control_gpu_by_dev(s, sg->uuid);
		out->sm_policy = ci->sm_policy;
	}
	free(st);
	if (rc) {
		control_reply_fail(r, "%s", why);
	}
	return rc;
}

static void reply_line(void *ctx, const char *line)
{
	control_reply_line(ctx, "%s", line);
}

/* The slice layer's refusal, in its words. */
static void refused(struct control_reply *r, const char *why)
{
	control_reply_fail(r, "%s", why[0] ? why : "refused");
}

/* "*" (everyone) or a comma list of users; *n = 0 for everyone. */
static int parse_users(char *list, uint32_t *uids, unsigned *n, struct control_reply *r)
{
	*n = 0;
	if (strcmp(list, "*") == 0)
		return 0;
	char *save = NULL;
	for (char *u = strtok_r(list, ",", &save); u; u = strtok_r(NULL, ",", &save)) {
		if (*n == GS_SLICE_MAX_USERS) {
			control_reply_fail(r, "At most %d users may be listed for a slice", GS_SLICE_MAX_USERS);
			return -1;
		}
		if (gs_slices_user_id(u, &uids[*n])) {
			control_reply_fail(r, "Unknown user \"%s\"", u);
			return -1;
		}
		(*n)++;
	}
	if (*n == 0) {
		control_reply_fail(r, "Invalid user list: users separated by commas, or *");
		return -1;
	}
	return 0;
}

/* The memory argument in MPS's syntax, also as gpushare-smi's custom size. */
static int parse_memory(const char *text, uint64_t *bytes, struct control_reply *r)
{
	if (mpsval_parse_limit(text, bytes)) {
		control_reply_fail(r, "Invalid memory limit \"%s\": use an integer and G or M, e.g. 2G or 500M", text);
		return -1;
	}
	return 0;
}

static int parse_sms(const char *text, unsigned *sms, struct control_reply *r)
{
	unsigned long long v;
	if (gs_parse_uint(text, 100000, &v) || v == 0) {
		control_reply_fail(r, "Invalid SM count \"%.32s\": a whole number from 1 to the GPU's SMs (gpushare-smi -q)", text);
		return -1;
	}
	*sms = (unsigned)v;
	return 0;
}

/* The GPU an argument names (index or UUID), or NULL with why in r. */
static const struct control_gpu *gpu_named(const struct control_state *s, const char *gpu, struct control_reply *r)
{
	const struct control_gpu *g = control_gpu_by_dev(s, gpu);
	if (!g) {
		control_reply_fail(r, "GPU %s not found", gpu);
	}
	return g;
}

/* The SM-sharing options of create_slice and set_slice_sm_policy, as given:
 * -1 where one was not. */
struct sm_options {
	int mode, lend, borrow, priority;
	long floor, weight, timeslice;
};
#define SM_OPTIONS_NONE { -1, -1, -1, -1, -1, -1, -1 }

/* A command's refusal of its arguments, its usage from the command table
 * (the one list the help text and the manual are checked against). */
static void bad_arguments(struct control_reply *r, const char *cmd, const char *why)
{
	const char *usage = "";
	for (size_t i = 0; i < control_n_cmds; i++)
		if (strcmp(control_cmds[i].name, cmd) == 0)
			usage = control_cmds[i].usage;
	control_reply_fail(r, "Invalid arguments: %s %s%s", cmd, usage, why);
}

/* The value of "-lend on|off" and its kind: 0 or 1, or -1 with why in r. */
static int on_off(const char *opt, const char *value, const char *on, const char *off, struct control_reply *r)
{
	if (strcmp(value, on) == 0)
		return 1;
	if (strcmp(value, off) == 0)
		return 0;
	control_reply_fail(r, "Invalid %s \"%.32s\": %s or %s", opt, value, on, off);
	return -1;
}

/* Reads the SM-sharing option at argv[*i] (and its value) into o: 1 when it
 * was one, 0 when it is some other option, -1 when it is malformed (why in r). */
static int sm_option(int argc, char **argv, int *i, struct sm_options *o, struct control_reply *r)
{
	const char *a = argv[*i], *value = *i + 1 < argc ? argv[*i + 1] : NULL;
	int mode = gs_store_sm_mode_parse(a[0] == '-' ? a + 1 : "");
	if (mode >= 0) {
		if (o->mode >= 0 && o->mode != mode) {
			control_reply_fail(r, "-%s and %s: a slice has one SM-sharing mode; give one of -shared, -isolated, "
					      "-best-effort", gs_store_sm_mode_name((unsigned)o->mode), a);
			return -1;
		}
		o->mode = mode;
		return 1;
	}
	int *flag = strcmp(a, "-lend") == 0 ? &o->lend : strcmp(a, "-borrow") == 0 ? &o->borrow : NULL;
	if (flag && value) {
		*flag = on_off(a, value, "on", "off", r);
		++*i;
		return *flag < 0 ? -1 : 1;
	}
	if (strcmp(a, "-priority") == 0 && value) {
		if ((o->priority = gs_store_priority_parse(value)) < 0)
			control_reply_fail(r, "Invalid -priority \"%.32s\": critical (its neighbours make way while it is busy), "
					      "normal, or low (its launches wait while a critical slice of its GPU is busy)",
					   value);
		++*i;
		return o->priority < 0 ? -1 : 1;
	}
	if (strcmp(a, "-floor") == 0 && value) {
		unsigned long long v;
		if (gs_parse_uint(value, 100000, &v)) {
			control_reply_fail(r, "Invalid -floor \"%.32s\": a whole number of SMs, at most the slice's (0: a quarter "
					      "of them)", value);
			return -1;
		}
		o->floor = (long)v;
		++*i;
		return 1;
	}
	if (strcmp(a, "-weight") == 0 && value) {
		unsigned long long v;
		if (gs_parse_uint(value, GS_SM_MAX_WEIGHT, &v) || v == 0) {
			control_reply_fail(r, "Invalid -weight \"%.32s\": a whole number from 1 to %d, the slice's part of SMs it "
					      "runs on beside other busy slices (1: as every slice)", value, GS_SM_MAX_WEIGHT);
			return -1;
		}
		o->weight = (long)v;
		++*i;
		return 1;
	}
	if (strcmp(a, "-timeslice") == 0 && value) {
		unsigned long long v = 0;
		if (strcmp(value, "off") && (gs_parse_uint(value, GS_TIMESLICE_MAX_MS, &v) || v == 0)) {
			control_reply_fail(r, "Invalid -timeslice \"%.32s\": the turn its programs take, in milliseconds from 1 "
					      "to %d, or off (they run at once)", value, GS_TIMESLICE_MAX_MS);
			return -1;
		}
		o->timeslice = (long)v;
		++*i;
		return 1;
	}
	return 0;
}

/* The policy the options make of a slice's policy now: options not given
 * stay as they were, except what the mode decides. A new mode starts from
 * its own defaults (shared: lends and borrows; best-effort: no floor),
 * keeping the priority. Options that contradict the mode are refused here,
 * where what was given is known; the slice layer checks the rest. 0, or -1
 * with why in r. */
static int sm_policy_of(const struct gs_sm_policy *now, const struct sm_options *o, struct gs_sm_policy *out,
			struct control_reply *r)
{
	*out = *now;
	if (o->mode >= 0 && o->mode != now->mode)
		*out = (struct gs_sm_policy){ .mode = (uint8_t)o->mode, .priority = now->priority };
	if (out->mode == GS_SM_ISOLATED && (o->lend == 1 || o->borrow == 1)) {
		control_reply_fail(r, "An isolated slice neither lends nor borrows SMs: leave -%s on out, or make the slice "
				      "-shared (it lends and borrows)", o->lend == 1 ? "lend" : "borrow");
		return -1;
	}
	if (out->mode == GS_SM_BEST_EFFORT && (o->lend == 0 || o->borrow == 0)) {
		control_reply_fail(r, "A best-effort slice always lends and borrows SMs: -%s off goes with -shared (or "
				      "-isolated, which does neither)", o->lend == 0 ? "lend" : "borrow");
		return -1;
	}
	if (o->floor > 0 && out->mode != GS_SM_BEST_EFFORT) {
		control_reply_fail(r, "-floor is a best-effort slice's (the SMs it keeps beside a busy critical slice): add "
				      "-best-effort, or leave -floor out");
		return -1;
	}
	if (o->lend >= 0)
		out->no_lend = !o->lend;
	if (o->borrow >= 0)
		out->no_borrow = !o->borrow;
	if (out->mode == GS_SM_ISOLATED)
		out->no_lend = out->no_borrow = true;
	if (o->priority >= 0)
		out->priority = (uint8_t)o->priority;
	if (o->floor >= 0)
		out->floor_sm = (unsigned)o->floor;
	if (o->weight >= 0)
		out->weight = (unsigned)o->weight;
	if (o->timeslice >= 0)
		out->timeslice_ms = (unsigned)o->timeslice;
	return 0;
}

/* list_slices [--json] */
CONTROL_CMD_FN(cmd_list_slices)
{
	bool as_json = argc == 2 && strcmp(argv[1], "--json") == 0;
	if (argc == 2 && !as_json) {
		control_reply_fail(r, "Invalid arguments: list_slices [--json]");
		return;
	}
	struct gs_slice_gpu gpus[CONTROL_MAX_GPUS];
	for (size_t i = 0; i < s->n_gpus; i++)
		gpus[i] = s->gpus[i].slice;
	char why[512];
	if (gs_slices_report(s->state_dir, p->sees_all ? (uid_t)-1 : p->uid, gpus, s->n_gpus, as_json, reply_line, r, why,
			     sizeof why))
		control_reply_fail(r, "%s", why);
}

CONTROL_CMD_FN(cmd_set_slice_memory_limit)
{
	(void)p, (void)argc;
	uint64_t bytes;
	char why[512];
	if (parse_memory(argv[2], &bytes, r))
		return;
	if (gs_slice_set_memory(s->state_dir, argv[1], bytes, why, sizeof why))
		refused(r, why);
	else
		control_log(s, "set_slice_memory_limit %s %s.", argv[1], argv[2]);
}

/* create_slice <SMs> <memory> [-gpu <index|UUID>] [-users <list>|*] [-refuse]
 *              [-overcommit [-guarantee <memory>]] [-cgroup <path>] */
/* The seconds of -mem-turn and set_slice_mem_turn: 0, or -1 with why in r. */
static int parse_mem_turn(const char *value, unsigned *out, struct control_reply *r)
{
	unsigned long long v;
	if (gs_parse_uint(value, GS_MEM_TURN_MAX_S, &v)) {
		control_reply_fail(r, "Invalid memory turn \"%.32s\": the seconds the slice's programs hold the GPU's memory "
				      "before another such slice's take it, 0 (none) to %d", value, GS_MEM_TURN_MAX_S);
		return -1;
	}
	*out = (unsigned)v;
	return 0;
}

/* set_slice_mem_turn <slice> <seconds> */
CONTROL_CMD_FN(cmd_set_slice_mem_turn)
{
	(void)p, (void)argc;
	unsigned secs;
	struct control_slice si;
	char why[512];
	if (parse_mem_turn(argv[2], &secs, r) || control_slice_find(s, argv[1], &si, r))
		return;
	if (gs_slice_set_mem_turn(s->state_dir, si.uuid, secs, why, sizeof why))
		refused(r, why);
	else
		control_log(s, "set_slice_mem_turn %s %u", si.uuid, secs);
}

/* set_slice_borrow_memory <slice> on|off */
CONTROL_CMD_FN(cmd_set_slice_borrow_memory)
{
	(void)p, (void)argc;
	struct control_slice si;
	char why[512];
	int on = on_off("borrow-memory", argv[2], "on", "off", r);
	if (on < 0 || control_slice_find(s, argv[1], &si, r))
		return;
	/* its owners ask back only from borrowers: what it borrowed would be out of their reach */
	uint64_t over = on ? 0 : control_lend_borrowed(s, si.gpu ? si.gpu->uuid : "", si.uuid);
	if (over) {
		control_reply_fail(r, "Slice %s holds %" PRIu64 " MiB past its guarantee, borrowed: turned off now, their "
				      "owners could not ask for it back; turn it off once its programs hold no more than its "
				      "guarantee", si.uuid, over >> 20);
		return;
	}
	if (gs_slice_set_borrow_mem(s->state_dir, si.uuid, on, why, sizeof why))
		refused(r, why);
	else
		control_log(s, "set_slice_borrow_memory %s %s", si.uuid, on ? "on" : "off");
}

/* The seconds of -oom-wait and set_slice_oom_wait: 0, or -1 with why in r. */
static int parse_oom_wait(const char *value, unsigned *out, struct control_reply *r)
{
	unsigned long long v;
	if (gs_parse_uint(value, GS_OOM_WAIT_MAX_S, &v)) {
		control_reply_fail(r, "Invalid wait \"%.32s\": the seconds an allocation past the slice's limit waits for "
				      "memory its programs free, 0 (refused at once) to %d", value, GS_OOM_WAIT_MAX_S);
		return -1;
	}
	*out = (unsigned)v;
	return 0;
}

/* set_slice_oom_wait <slice> <seconds>: how long an allocation past the
 * slice's limit waits, running programs' too (their next refusal reads it) */
CONTROL_CMD_FN(cmd_set_slice_oom_wait)
{
	(void)p, (void)argc;
	unsigned secs;
	struct control_slice si;
	char why[512];
	if (parse_oom_wait(argv[2], &secs, r) || control_slice_find(s, argv[1], &si, r))
		return;
	if (gs_slice_set_oom_wait(s->state_dir, si.uuid, secs, why, sizeof why))
		refused(r, why);
	else
		control_log(s, "set_slice_oom_wait %s %u", si.uuid, secs);
}

CONTROL_CMD_FN(cmd_create_slice)
{
	(void)p;
	unsigned sms;
	uint64_t bytes;
	const char *gpu = "0";
	uint32_t uids[GS_SLICE_MAX_USERS];
	unsigned n_users = 0;
	bool refuse = false, overcommit = false;
	uint64_t guarantee = UINT64_MAX;
	unsigned oom_wait = 0, mem_turn = 0;
	int borrow_mem = 0;
	const char *cgroup = NULL, *name = NULL;
	struct sm_options smo = SM_OPTIONS_NONE;
	if (parse_sms(argv[1], &sms, r) || parse_memory(argv[2], &bytes, r))
		return;
	for (int i = 3; i < argc; i++) {
		int sm_opt = sm_option(argc, argv, &i, &smo, r);
		if (sm_opt < 0)
			return;
		if (sm_opt)
			continue;
		if (strcmp(argv[i], "-cgroup") == 0 && i + 1 < argc) {
			cgroup = argv[++i];
			if (!gs_store_cgroup_valid(cgroup)) {
				control_reply_fail(r, "Invalid cgroup \"%.64s\": an absolute cgroup v2 path such as "
						      "/system.slice/job-42, without spaces, . or ..", cgroup);
				return;
			}
		} else if (strcmp(argv[i], "-gpu") == 0 && i + 1 < argc) {
			gpu = argv[++i];
		} else if (strcmp(argv[i], "-name") == 0 && i + 1 < argc) {
			name = argv[++i];
		} else if (strcmp(argv[i], "-users") == 0 && i + 1 < argc) {
			if (parse_users(argv[++i], uids, &n_users, r))
				return;
		} else if (strcmp(argv[i], "-refuse") == 0) {
			refuse = true;
		} else if (strcmp(argv[i], "-overcommit") == 0) {
			overcommit = true;
		} else if (strcmp(argv[i], "-guarantee") == 0 && i + 1 < argc) {
			if (parse_memory(argv[++i], &guarantee, r))
				return;
		} else if (strcmp(argv[i], "-oom-wait") == 0 && i + 1 < argc) {
			if (parse_oom_wait(argv[++i], &oom_wait, r))
				return;
		} else if (strcmp(argv[i], "-mem-turn") == 0 && i + 1 < argc) {
			if (parse_mem_turn(argv[++i], &mem_turn, r))
				return;
		} else if (strcmp(argv[i], "-borrow-memory") == 0 && i + 1 < argc) {
			if ((borrow_mem = on_off(argv[i], argv[i + 1], "on", "off", r)) < 0)
				return;
			i++;
		} else {
			bad_arguments(r, "create_slice", "");
			return;
		}
	}
	if (guarantee != UINT64_MAX && !overcommit) {
		control_reply_fail(r, "A slice made without -overcommit is wholly guaranteed: -guarantee goes with -overcommit");
		return;
	}
	if (borrow_mem && !overcommit) {
		control_reply_fail(r, "Only an over-committed slice borrows memory: one made without -overcommit is "
				      "guaranteed its whole limit, so it has nothing to borrow for (add -overcommit)");
		return;
	}
	struct gs_sm_policy policy;
	if (sm_policy_of(&(struct gs_sm_policy){ .mode = GS_SM_SHARED }, &smo, &policy, r))
		return;
	const struct control_gpu *g = gpu_named(s, gpu, r);
	if (!g)
		return;
	struct gs_slice_spec spec = { .sm = sms, .memory = bytes, .overcommit = overcommit, .guarantee = guarantee,
				      .users = uids, .n_users = n_users, .refuse = refuse, .cgroup = cgroup, .name = name,
				      .sm_policy = policy, .oom_wait_s = oom_wait, .mem_turn_s = mem_turn,
				      .borrow_mem = borrow_mem == 1 };
	struct gs_slice_info made;
	char why[512];
	if (gs_slice_create(s->state_dir, &g->slice, &spec, &made, why, sizeof why)) {
		refused(r, why);
		return;
	}
	if (made.note[0])
		control_log(s, "create_slice: %s", made.note);
	char sharing[64];
	gs_slices_sm_policy_text(&made.sm_policy, sharing, sizeof sharing);
	control_log(s, "created slice %s: %u SMs from SM %u, %" PRIu32 " MiB on GPU %u, SMs %s", made.uuid, made.sm,
		    made.sm_start, made.memory_mib, g->index, sharing);
	control_reply_line(r, "%s", made.uuid);
}

/* resize_slice <MIG-uuid> <SMs> <memory> [-overcommit] */
CONTROL_CMD_FN(cmd_resize_slice)
{
	(void)p;
	unsigned sms;
	uint64_t bytes;
	bool overcommit = argc == 5 && strcmp(argv[4], "-overcommit") == 0;
	if (argc == 5 && !overcommit) {
		control_reply_fail(r, "Invalid arguments: resize_slice <MIG-uuid> <SMs> <memory> [-overcommit]");
		return;
	}
	if (parse_sms(argv[2], &sms, r) || parse_memory(argv[3], &bytes, r))
		return;
	/* the slice's GPU bounds it */
	struct control_slice si;
	if (control_slice_find(s, argv[1], &si, r))
		return;
	struct gs_slice_info now;
	char why[512];
	if (gs_slice_resize(s->state_dir, si.gpu ? &si.gpu->slice : NULL, argv[1], sms, bytes, overcommit, &now, why,
			    sizeof why)) {
		refused(r, why);
		return;
	}
	/* what it did, for the log too (an admin command's answer is logged) */
	control_reply_line(r, "Resized slice %s: %u SMs from SM %u, %" PRIu32 " MiB", now.uuid, now.sm, now.sm_start,
			   now.memory_mib);
	if (now.note[0])
		control_reply_hint(r, "%s", now.note);
}

struct in_slice {
	const char *slice;
	unsigned n;
};

static void count_in_slice(void *ctx, struct control_peer *p)
{
	struct in_slice *c = ctx;
	c->n += strcasecmp(p->slice, c->slice) == 0;
}

/* destroy_slice <MIG-uuid>: refused while programs are in it */
CONTROL_CMD_FN(cmd_destroy_slice)
{
	(void)p, (void)argc;
	struct control_slice si;
	if (control_slice_find(s, argv[1], &si, r))
		return;
	struct in_slice c = { si.uuid, 0 };
	control_each_client(count_in_slice, &c);
	if (c.n) {
		control_reply_fail(r, "Slice %s is in use by %u client(s)", si.uuid, c.n);
		return;
	}
	char why[512];
	if (gs_slice_destroy(s->state_dir, si.uuid, NULL, why, sizeof why)) {
		refused(r, why);
		return;
	}
	control_servers_slice_gone(s, si.uuid);
	control_reply_line(r, "Destroyed slice %s", si.uuid);
}

/* set_slice_users <MIG-uuid> <user,...|*> [queue|refuse] */
CONTROL_CMD_FN(cmd_set_slice_users)
{
	(void)p;
	uint32_t uids[GS_SLICE_MAX_USERS];
	unsigned n;
	int refuse = -1;
	if (argc == 4) {
		if (strcmp(argv[3], "queue") && strcmp(argv[3], "refuse")) {
			control_reply_fail(r, "Invalid arguments: set_slice_users <MIG-uuid> <user,...|*> [queue|refuse]");
			return;
		}
		refuse = strcmp(argv[3], "refuse") == 0;
	}
	if (parse_users(argv[2], uids, &n, r))
		return;
	char why[512];
	if (gs_slice_set_access(s->state_dir, argv[1], uids, n, refuse, why, sizeof why))
		refused(r, why);
	else
		control_log(s, "set_slice_users %s %s", argv[1], argv[2]);
}

/* set_slice_sm_policy <slice> [-shared|-isolated|-best-effort] [-lend on|off]
 * [-borrow on|off] [-priority critical|normal|low] [-floor <SMs>] [-weight <1-100>]
 * [-timeslice <ms>|off]: how the
 * slice's SMs are shared with its GPU's other slices; what is not given
 * stays as it was (sm_policy_of) */
CONTROL_CMD_FN(cmd_set_slice_sm_policy)
{
	(void)p;
	struct sm_options smo = SM_OPTIONS_NONE;
	for (int i = 2; i < argc; i++) {
		int sm_opt = sm_option(argc, argv, &i, &smo, r);
		if (sm_opt < 0)
			return;
		if (!sm_opt) {
			bad_arguments(r, "set_slice_sm_policy", " (at least one option)");
			return;
		}
	}
	struct control_slice si;
	struct gs_sm_policy want;
	char why[512], was[80], now[80];
	if (control_slice_find(s, argv[1], &si, r) || sm_policy_of(&si.sm_policy, &smo, &want, r))
		return;
	gs_slices_sm_policy_text(&si.sm_policy, was, sizeof was);
	if (gs_slice_set_sm_policy(s->state_dir, si.uuid, &want, why, sizeof why)) {
		refused(r, why);
		return;
	}
	struct control_reply quiet = { .pass_fd = -1 };
	if (control_slice_find(s, si.uuid, &si, &quiet) == 0 && want.floor_sm && si.sm_policy.floor_sm != want.floor_sm)
		control_reply_hint(r, "A floor of %u SMs rounded to %u: the GPU's SMs are handed out in whole TPCs",
				   want.floor_sm, si.sm_policy.floor_sm);
	free(quiet.buf);
	gs_slices_sm_policy_text(&si.sm_policy, now, sizeof now);
	control_log(s, "set_slice_sm_policy %s: SMs %s, were %s", si.uuid, now, was);
}

/* set_slice_guarantee <MIG-uuid> <memory>: memory no other slice may take */
CONTROL_CMD_FN(cmd_set_slice_guarantee)
{
	(void)p, (void)argc;
	uint64_t bytes = 0;
	if (strcmp(argv[2], "0") && parse_memory(argv[2], &bytes, r))
		return;
	struct control_slice si;
	char why[512];
	if (control_slice_find(s, argv[1], &si, r))
		return;
	if (gs_slice_set_guarantee(s->state_dir, si.gpu ? &si.gpu->slice : NULL, argv[1], bytes, why, sizeof why))
		refused(r, why);
	else
		control_log(s, "set_slice_guarantee %s %s", argv[1], argv[2]);
}

#define JOBS_CGROUP "/gpushare.jobs"

/* A cgroup of its own for a job (under the cgroup v2 mount, when the daemon
 * may make one): its path below the mount into rel, or "" when none. Every
 * process of the job stays in it, however it detaches, and no user can move
 * a process out of it: the job's slice holds it even once gpushare run has
 * gone. */
static void job_cgroup(const struct control_state *s, const struct control_peer *p, char *rel, size_t len)
{
	char path[PATH_MAX];
	rel[0] = '\0';
	if (!s->cgroup_root[0])
		return;
	snprintf(path, sizeof path, "%s%s", s->cgroup_root, JOBS_CGROUP);
	if (mkdir(path, 0755) && errno != EEXIST)
		return;
	char name[96];
	snprintf(name, sizeof name, "%s/job-%ld-%llu", JOBS_CGROUP, (long)p->pid, (unsigned long long)p->pid_start);
	snprintf(path, sizeof path, "%s%s", s->cgroup_root, name);
	if (mkdir(path, 0755) == 0 || errno == EEXIST)
		snprintf(rel, len, "%s", name);
}

static int join_cgroup(const struct control_state *s, const char *rel, pid_t pid)
{
	char path[PATH_MAX], text[32];
	snprintf(path, sizeof path, "%s%s/cgroup.procs", s->cgroup_root, rel);
	int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	int n = snprintf(text, sizeof text, "%ld\n", (long)pid);
	int rc = fd >= 0 && write(fd, text, (size_t)n) == n ? 0 : -errno;
	if (fd >= 0)
		close(fd);
	return rc;
}

void control_jobs_cgroups_tidy(const struct control_state *s)
{
	char path[PATH_MAX];
	if (!s->cgroup_root[0])
		return;
	snprintf(path, sizeof path, "%s%s", s->cgroup_root, JOBS_CGROUP);
	DIR *d = opendir(path);
	for (struct dirent *e; d && (e = readdir(d));)
		if (e->d_name[0] != '.')
			unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR); /* only an empty one goes */
	if (d)
		closedir(d);
}

/* How many job slices of a user exist now. */
static unsigned jobs_of(const struct control_state *s, uid_t uid)
{
	struct gs_store *st = malloc(sizeof *st);
	unsigned n = 0;
	if (st && gs_store_load(s->state_dir, st, NULL, 0) == 0)
		for (size_t g = 0; g < st->n_gpu; g++)
			for (size_t i = 0; i < st->gpu[g].layout.n_ci; i++) {
				const struct gs_mig_ci *ci = &st->gpu[g].layout.ci[i];
				n += ci->owner_pid && ci->n_users == 1 && ci->users[0] == (uint32_t)uid;
			}
	free(st);
	return n;
}

/* create_job_slice <SMs> <memory> [-gpu <index|UUID>] [-overcommit]: what
 * gpushare run --memory/--sms asks for. The slice is the asker's job's: its
 * owner is the asking process (by SO_PEERCRED, not by what it says), open to
 * its user alone, and every program whose ancestry reaches the owner lands in
 * it whatever its environment. It goes when the owner has gone and no program
 * holds memory in it. Any user may make one, GPUSHARE_CONTROL_USER_JOBS (4)
 * at a time (root and the daemon's user: no limit); sizes are checked against
 * the GPU and its guarantees like any slice's. */
CONTROL_CMD_FN(cmd_create_job_slice)
{
	unsigned sms;
	uint64_t bytes;
	const char *gpu = "0";
	bool overcommit = false;
	if (parse_sms(argv[1], &sms, r) || parse_memory(argv[2], &bytes, r))
		return;
	for (int i = 3; i < argc; i++) {
		if (strcmp(argv[i], "-gpu") == 0 && i + 1 < argc) {
			gpu = argv[++i];
		} else if (strcmp(argv[i], "-overcommit") == 0) {
			overcommit = true;
		} else {
			control_reply_fail(r, "Invalid arguments: create_job_slice <SMs> <memory> [-gpu <index|UUID>] [-overcommit]");
			return;
		}
	}
	const struct control_gpu *g = gpu_named(s, gpu, r);
	if (!g)
		return;
	if (p->job) {
		control_reply_fail(r, "This connection has made its job slice already");
		return;
	}
	control_collect_jobs(s); /* room left by jobs that ended */
	const char *env = getenv("GPUSHARE_CONTROL_USER_JOBS");
	unsigned long long cap = 4;
	if (env && *env && gs_parse_uint(env, 1u << 20, &cap)) {
		control_log(s, "GPUSHARE_CONTROL_USER_JOBS=%.32s ignored: a whole number of job slices per user; 4 it is", env);
		cap = 4;
	}
	if (p->uid != 0 && p->uid != geteuid() && jobs_of(s, p->uid) >= cap) {
		control_reply_fail(r, "User %ld has %llu job slices already (GPUSHARE_CONTROL_USER_JOBS); one must end first",
				   (long)p->uid, cap);
		return;
	}
	uint32_t uid = (uint32_t)p->uid;
	char cgroup[128];
	job_cgroup(s, p, cgroup, sizeof cgroup);
	struct gs_slice_spec spec = { .sm = sms, .memory = bytes, .overcommit = overcommit, .guarantee = UINT64_MAX,
				      .users = &uid, .n_users = 1, .owner = p->pid, .cgroup = cgroup[0] ? cgroup : NULL };
	struct gs_slice_info made;
	char why[512];
	if (gs_slice_create(s->state_dir, &g->slice, &spec, &made, why, sizeof why)) {
		refused(r, why);
		return;
	}
	p->job = true;
	if (cgroup[0] && join_cgroup(s, cgroup, p->pid))
		control_log(s, "job slice %s: cannot move process %ld into %s (its ancestry binds it alone)", made.uuid,
			    (long)p->pid, cgroup);
	control_log(s, "created job slice %s for process %ld of user %ld: %u SMs from SM %u, %" PRIu32 " MiB on GPU %u",
		    made.uuid, (long)p->pid, (long)p->uid, made.sm, made.sm_start, made.memory_mib, g->index);
	control_reply_line(r, "%s", made.uuid);
	if (made.note[0])
		control_reply_hint(r, "%s", made.note);
}

/* set_slice_default <MIG-uuid> <user,...|->: programs of these users that
 * name no slice land here ("-": nobody's default any more). */
CONTROL_CMD_FN(cmd_set_slice_default)
{
	(void)p, (void)argc;
	uint32_t uids[GS_SLICE_MAX_USERS];
	unsigned n = 0;
	char why[512];
	if (strcmp(argv[2], "-") && parse_users(argv[2], uids, &n, r))
		return;
	if (n == 0 && strcmp(argv[2], "-")) {
		control_reply_fail(r, "Invalid user list: users separated by commas, or - for none");
		return;
	}
	if (gs_slice_set_default(s->state_dir, argv[1], uids, n, why, sizeof why))
		refused(r, why);
	else
		control_log(s, "set_slice_default %s %s.", argv[1], argv[2]);
}

/* A job's size as a scheduler asks for it: a custom size ("64sm.24gb"), one
 * of the GPU's NVIDIA profiles ("3g.20gb": its SMs and memory), or a share
 * of the GPU ("0.25" or "25%"). 0, or -1 with why in r. */
static int job_size(const struct control_gpu *g, const char *text, unsigned *sms, uint64_t *bytes,
		    struct control_reply *r)
{
	const struct gs_gpu_model *m = &g->slice.model;
	size_t n = strlen(text);
	if (n && n < 16 && strspn(text, "0123456789.") == n - (text[n - 1] == '%') && strchr("0123456789.", text[0])) {
		char *end;
		double share = strtod(text, &end);
		if (*end == '%')
			share /= 100, end++;
		if (*end || !(share > 0 && share <= 1)) {
			control_reply_fail(r, "Invalid share \"%s\": a fraction of the GPU above 0 and at most 1, "
					      "as 0.25 or 25%%", text);
			return -1;
		}
		*sms = (unsigned)(share * m->sm_count);
		*bytes = (uint64_t)(share * m->memory_mib) << 20;
		if (*sms == 0) {
			control_reply_fail(r, "A share of %s is less than one SM of GPU %u's %u", text, g->index,
					   m->sm_count);
			return -1;
		}
		return 0;
	}
	struct gs_profile_arg a;
	char why[256];
	if (gs_profile_arg_parse(m, text, &a, why, sizeof why) || a.start >= 0) {
		control_reply_fail(r, "Invalid size \"%.40s\": <SMs>sm.<N>gb (64sm.24gb), a profile of GPU %u "
				      "(gpushare-smi mig -lgip), or a share (0.25, 25%%)", text, g->index);
		return -1;
	}
	*sms = a.profile ? a.profile->sm : a.sm;
	*bytes = (uint64_t)(a.profile ? a.profile->memory_mib : a.memory_mib) << 20;
	return 0;
}

/* The job slice already named so: 0 with its UUID and cgroup, -ENOENT, or
 * -EEXIST when the name is a lasting slice's (a scheduler never takes an
 * administrator's slice over). */
static int job_find(const struct control_state *s, const char *name, char *uuid, char *cgroup, size_t cglen)
{
	struct gs_store *st = malloc(sizeof *st);
	int rc = st ? gs_store_load(s->state_dir, st, NULL, 0) : -ENOMEM;
	const struct gs_store_gpu *g;
	const struct gs_mig_ci *ci = rc ? NULL : gs_store_find_name(st, name, &g);
	if (!rc && !ci)
		rc = -ENOENT;
	else if (ci && !ci->owner_pid)
		rc = -EEXIST;
	else if (ci) {
		gs_store_ci_uuid(g->uuid, ci, uuid);
		snprintf(cgroup, cglen, "%s", ci->cgroup);
	}
	free(st);
	return rc;
}

/* attach_job <name> <user> <size> <pid> [-gpu <index|UUID>] [-cgroup <path>]:
 * what a scheduler's node agent (the Slurm plugin) asks for each step of a
 * job. The job's slice is named <name> (slurm-<job id>), open to <user>
 * alone, <size> as job_size reads it, placed disjoint from every other
 * slice; made at the first step, the same slice for every later one. It
 * holds the job's processes by cgroup: the scheduler's own job cgroup
 * (-cgroup), else one the daemon makes for it, into which <pid> (the
 * step's first process: its tasks follow) is moved, where no user can move a
 * process out. It is ephemeral: the scheduler destroys it at the job's end,
 * and the daemon once the cgroup is empty and no program holds memory in it
 * (a killed job, a node agent that never came back). */
CONTROL_CMD_FN(cmd_attach_job)
{
	(void)p;
	const char *name = argv[1], *gpu = "0", *cgroup = NULL;
	for (int i = 5; i < argc; i++) {
		if (strcmp(argv[i], "-gpu") == 0 && i + 1 < argc) {
			gpu = argv[++i];
		} else if (strcmp(argv[i], "-cgroup") == 0 && i + 1 < argc && gs_store_cgroup_valid(argv[i + 1])) {
			cgroup = argv[++i];
		} else {
			control_reply_fail(r, "Invalid arguments: attach_job <name> <user> <size> <pid> "
					      "[-gpu <index|UUID>] [-cgroup <absolute cgroup v2 path>]");
			return;
		}
	}
	uint32_t uid;
	unsigned long long pid;
	unsigned sms;
	uint64_t bytes;
	if (!gs_store_name_valid(name)) {
		control_reply_fail(r, "Invalid job slice name \"%.40s\": 1-31 of A-Z a-z 0-9 . _ -, as slurm-42", name);
		return;
	}
	if (gs_slices_user_id(argv[2], &uid)) {
		control_reply_fail(r, "Unknown user \"%.40s\"", argv[2]);
		return;
	}
	if (gs_parse_uint(argv[4], INT32_MAX, &pid) || pid < 2 || kill((pid_t)pid, 0)) {
		control_reply_fail(r, "Invalid pid \"%.20s\": the running process that starts the job's step", argv[4]);
		return;
	}
	const struct control_gpu *g = gpu_named(s, gpu, r);
	if (!g || job_size(g, argv[3], &sms, &bytes, r))
		return;
	char uuid[GS_UUID_STR + 8] = "", bound[GS_STORE_CGROUP_MAX] = "", why[512];
	int rc = job_find(s, name, uuid, bound, sizeof bound);
	if (rc == -EEXIST) {
		control_reply_fail(r, "Slice %s exists and is not a job's: name the job's slice otherwise", name);
		return;
	}
	char own[128] = "";
	if (rc == -ENOENT) {
		control_collect_jobs(s); /* room left by jobs that ended */
		if (!cgroup) {
			/* a cgroup of the daemon's for the job, named after it */
			char path[PATH_MAX];
			snprintf(path, sizeof path, "%s%s", s->cgroup_root, JOBS_CGROUP);
			snprintf(own, sizeof own, "%s/%s", JOBS_CGROUP, name);
			if (!s->cgroup_root[0] || (mkdir(path, 0755) && errno != EEXIST)) {
				control_reply_fail(r, "No cgroup v2 hierarchy the daemon may write: a job's processes "
						      "cannot be held in its slice (give the scheduler's job cgroup with -cgroup)");
				return;
			}
			snprintf(path, sizeof path, "%s%s", s->cgroup_root, own);
			if (mkdir(path, 0755) && errno != EEXIST) {
				control_reply_fail(r, "Cannot make the job's cgroup %s: %s", path, strerror(errno));
				return;
			}
			cgroup = own;
		}
		struct gs_slice_spec spec = { .sm = sms, .memory = bytes, .guarantee = UINT64_MAX, .users = &uid,
					      .n_users = 1, .owner = (pid_t)pid, .cgroup = cgroup, .name = name };
		struct gs_slice_info made;
		rc = gs_slice_create(s->state_dir, &g->slice, &spec, &made, why, sizeof why);
		if (rc == 0) {
			snprintf(uuid, sizeof uuid, "%s", made.uuid);
			snprintf(bound, sizeof bound, "%s", cgroup);
			control_log(s, "created job slice %s (%s) for user %ld: %u SMs from SM %u, %" PRIu32 " MiB on GPU %u",
				    made.uuid, name, (long)uid, made.sm, made.sm_start, made.memory_mib, g->index);
			if (made.note[0])
				control_reply_hint(r, "%s", made.note);
		} else if (job_find(s, name, uuid, bound, sizeof bound)) {
			/* not made, and no other step made it meanwhile */
			refused(r, why);
			return;
		}
	}
	/* the step's processes into the job's cgroup, unless it is the
	 * scheduler's own (they are in it already) */
	if (strncmp(bound, JOBS_CGROUP "/", sizeof JOBS_CGROUP) == 0) {
		char path[PATH_MAX];
		snprintf(path, sizeof path, "%s%s", s->cgroup_root, bound);
		rc = mkdir(path, 0755) && errno != EEXIST ? -errno : join_cgroup(s, bound, (pid_t)pid);
	}
	if (rc) {
		control_reply_fail(r, "Cannot move process %llu into the job's cgroup %s: %s", pid, bound, strerror(-rc));
		return;
	}
	control_log(s, "attach_job %s: process %llu of user %ld in slice %s", name, pid, (long)uid, uuid);
	control_reply_line(r, "%s", uuid);
}

/* detach_job <name>: the scheduler's job has ended; its slice goes now, or,
 * while a program still holds memory in it, with the daemon's collection once
 * none does. Only a job's slice: a lasting one of that name is refused. */
CONTROL_CMD_FN(cmd_detach_job)
{
	(void)p, (void)argc;
	char uuid[GS_UUID_STR + 8], bound[GS_STORE_CGROUP_MAX], why[512];
	int rc = job_find(s, argv[1], uuid, bound, sizeof bound);
	if (rc == -ENOENT) {
		control_reply_line(r, "no slice %s", argv[1]);
		return;
	}
	if (rc) {
		control_reply_fail(r, "Slice %s is not a job's: destroy_slice takes it away", argv[1]);
		return;
	}
	struct gs_slice_info gone;
	if (gs_slice_destroy(s->state_dir, uuid, &gone, why, sizeof why)) {
		refused(r, why);
		return;
	}
	control_log(s, "detach_job %s: slice %s destroyed", argv[1], uuid);
	control_reply_line(r, "slice %s destroyed", uuid);
	control_jobs_cgroups_tidy(s);
}
