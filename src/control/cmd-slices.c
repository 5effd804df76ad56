/* cmd-slices.c: gpushare's own commands, in MPS's style, for what MPS cannot
 * do: create, resize, list and destroy slices, say who may join them, and
 * change a slice's memory limit live.
 *
 * Creating and destroying go through gpushare-smi, so its placement rules,
 * checks and messages are the daemon's too; the store's lock makes them safe
 * beside gpushare-smi run by hand. */
#include "control.h"
#include "slices.h"
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A slice named by its MIG UUID (or a unique prefix): a copy of its compute
 * instance, its full UUID, how many other compute instances share its GPU
 * instance, and its GPU as the daemon knows it (NULL if unknown). */
struct slice_info {
	struct gs_mig_ci ci;
	char uuid[GS_UUID_STR + 4];
	unsigned siblings;
	const struct control_gpu *gpu;
};

static int find_slice(struct control_state *s, const char *name, struct slice_info *out)
{
	struct gs_store *st = malloc(sizeof *st);
	struct gs_store_gpu *sg;
	struct gs_mig_ci *ci;
	int rc = st ? gs_store_load(s->state_dir, st, NULL, 0) : -ENOMEM;
	if (rc == 0 && (rc = gs_store_find_ci(st, name, &sg, &ci)) == 0) {
		out->ci = *ci;
		gs_store_ci_uuid(sg->uuid, ci, out->uuid);
		out->siblings = 0;
		for (size_t k = 0; k < sg->layout.n_ci; k++)
			out->siblings += sg->layout.ci[k].gi == ci->gi && &sg->layout.ci[k] != ci;
		out->gpu = control_gpu_by_dev(s, sg->uuid);
	}
	free(st);
	return rc ? -ENOENT : 0;
}

static void reply_line(void *ctx, const char *line)
{
	control_reply_line(ctx, "%s", line);
}

/* gpushare-smi's own words say why it refused. */
static void smi_refused(struct control_reply *r, char *out, const char *otherwise)
{
	char *save = NULL;
	for (char *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		control_reply_line(r, "%s", l);
	if (!out[0])
		control_reply_line(r, "%s", otherwise);
	r->status = 1;
}

/* A user's name or number: 0, or -1 when there is no such user. */
static int parse_user(const char *name, uint32_t *uid)
{
	unsigned long long v;
	if (gs_parse_uint(name, UINT32_MAX - 1, &v) == 0) {
		*uid = (uint32_t)v;
		return 0;
	}
	struct passwd *pw = getpwnam(name);
	if (!pw)
		return -1;
	*uid = (uint32_t)pw->pw_uid;
	return 0;
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
			control_reply_line(r, "At most %d users may be listed for a slice", GS_SLICE_MAX_USERS);
			return -1;
		}
		if (parse_user(u, &uids[*n])) {
			control_reply_line(r, "Unknown user \"%s\"", u);
			return -1;
		}
		(*n)++;
	}
	if (*n == 0) {
		control_reply_line(r, "Invalid user list: users separated by commas, or *");
		return -1;
	}
	return 0;
}

static void guarantee_error(struct control_reply *r, int rc)
{
	r->status = 1;
	if (rc == -EINVAL)
		control_reply_line(r, "A guarantee cannot exceed the slice's memory limit");
	else if (rc == -ENOSPC)
		control_reply_line(r, "The guarantees of the GPU would exceed its memory");
	else
		control_reply_line(r, "Cannot set the guarantee: %s", strerror(-rc));
}

static void slice_error(struct control_reply *r, const char *slice, int rc)
{
	r->status = 1;
	if (rc == -ENOENT)
		control_reply_line(r, "Slice %s not found", slice);
	else if (rc == -EPERM)
		control_reply_line(r, "Slice %s has a MIG profile's fixed size; create a custom-size slice to resize it", slice);
	else if (rc == -ENOSPC)
		control_reply_line(r, "Slice %s does not fit on its GPU at that size (add -overcommit to allow it)", slice);
	else
		control_reply_line(r, "Cannot change slice %s: %s", slice, strerror(-rc));
}

/* The memory argument in MPS's syntax, also as gpushare-smi's custom size. */
static int parse_memory(const char *text, uint64_t *bytes, struct control_reply *r)
{
	if (mpsval_parse_limit(text, bytes)) {
		control_reply_line(r, "Invalid memory limit \"%s\": use an integer and G or M, e.g. 2G or 500M", text);
		r->status = 1;
		return -1;
	}
	return 0;
}

static int parse_sms(const char *text, unsigned *sms, struct control_reply *r)
{
	unsigned long long v;
	if (gs_parse_uint(text, 100000, &v) || v == 0) {
		control_reply_line(r, "Invalid SM count \"%s\"", text);
		r->status = 1;
		return -1;
	}
	*sms = (unsigned)v;
	return 0;
}

CONTROL_CMD_FN(cmd_list_slices)
{
	(void)argc, (void)argv;
	if (gs_slices_report(s->state_dir, p->uid == 0 ? (uid_t)-1 : p->uid, reply_line, r)) {
		control_reply_line(r, "Cannot read the slices in %s", s->state_dir);
		r->status = 1;
	}
}

CONTROL_CMD_FN(cmd_set_slice_memory_limit)
{
	(void)p, (void)argc;
	uint64_t bytes;
	if (parse_memory(argv[2], &bytes, r))
		return;
	int rc = gs_slices_set_memory(s->state_dir, argv[1], bytes);
	if (rc == -EINVAL)
		rc = -ENOENT;
	if (rc)
		slice_error(r, argv[1], rc);
	else
		control_log(s, "set_slice_memory_limit %s %s.", argv[1], argv[2]);
}

/* create_slice <SMs> <memory> [-gpu <index|UUID>] [-users <list>|*] [-refuse]
 *              [-overcommit [-guarantee <memory>]] */
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
	if (parse_sms(argv[1], &sms, r) || parse_memory(argv[2], &bytes, r))
		return;
	for (int i = 3; i < argc; i++) {
		if (strcmp(argv[i], "-gpu") == 0 && i + 1 < argc) {
			gpu = argv[++i];
		} else if (strcmp(argv[i], "-users") == 0 && i + 1 < argc) {
			if (parse_users(argv[++i], uids, &n_users, r)) {
				r->status = 1;
				return;
			}
		} else if (strcmp(argv[i], "-refuse") == 0) {
			refuse = true;
		} else if (strcmp(argv[i], "-overcommit") == 0) {
			overcommit = true;
		} else if (strcmp(argv[i], "-guarantee") == 0 && i + 1 < argc) {
			if (parse_memory(argv[++i], &guarantee, r))
				return;
		} else {
			control_reply_line(r, "Invalid arguments: create_slice <SMs> <memory> [-gpu <index|UUID>] "
					      "[-users <user,...>|*] [-refuse] [-overcommit [-guarantee <memory>]]");
			r->status = 1;
			return;
		}
	}
	if (guarantee != UINT64_MAX && !overcommit) {
		control_reply_line(r, "A slice made without -overcommit is wholly guaranteed: -guarantee goes with -overcommit");
		r->status = 1;
		return;
	}
	const struct control_gpu *g = control_gpu_by_dev(s, gpu);
	if (!g) {
		control_reply_line(r, "GPU %s not found", gpu);
		r->status = 1;
		return;
	}
	char index[16], size[48], out[4096];
	snprintf(index, sizeof index, "%u", g->index);
	snprintf(size, sizeof size, "%usm.%" PRIu64 "mb", sms, bytes >> 20);
	const char *args[] = { "mig", "-i", index, "-cgi", size, "-C", overcommit ? "--overcommit" : NULL, NULL };
	int rc = control_smi(args, out, sizeof out);
	unsigned gi, ci, dev;
	const char *made = strstr(out, "Successfully created compute instance ID");
	if (rc || !made || sscanf(made, "Successfully created compute instance ID %u on GPU %u GPU instance ID %u", &ci,
				  &dev, &gi) != 3) {
		smi_refused(r, out, "gpushare-smi could not create the slice");
		return;
	}
	struct gs_store *st = malloc(sizeof *st);
	char uuid[GS_UUID_STR + 4] = "";
	if (st && gs_store_load(s->state_dir, st, NULL, 0) == 0) {
		struct gs_store_gpu *sg = gs_store_gpu(st, g->uuid, false);
		for (size_t k = 0; sg && k < sg->layout.n_ci; k++)
			if (sg->layout.ci[k].gi == gi && sg->layout.ci[k].id == ci)
				gs_store_ci_uuid(sg->uuid, &sg->layout.ci[k], uuid);
	}
	free(st);
	if (!uuid[0] || ((n_users || refuse) && gs_slices_set_access(s->state_dir, uuid, uids, n_users, refuse))) {
		control_reply_line(r, "The slice was created (GPU instance %u) but its users could not be set", gi);
		r->status = 1;
		return;
	}
	if (guarantee != UINT64_MAX && (rc = gs_slices_set_guarantee(s->state_dir, uuid, guarantee, g->memory))) {
		/* what cannot be guaranteed is not made */
		const char *dci[] = { "mig", "-i", index, "-dci", "-gi", NULL, NULL }, *dgi[] = { "mig", "-i", index, "-dgi", "-gi", NULL, NULL };
		char id[16];
		snprintf(id, sizeof id, "%u", gi);
		dci[5] = dgi[5] = id;
		control_smi(dci, out, sizeof out);
		control_smi(dgi, out, sizeof out);
		guarantee_error(r, rc);
		return;
	}
	control_log(s, "created slice %s: %u SMs, %" PRIu64 " MiB on GPU %u", uuid, sms, bytes >> 20, g->index);
	control_reply_line(r, "%s", uuid);
}

/* resize_slice <MIG-uuid> <SMs> <memory> [-overcommit] */
CONTROL_CMD_FN(cmd_resize_slice)
{
	(void)p;
	unsigned sms;
	uint64_t bytes;
	bool overcommit = argc == 5 && strcmp(argv[4], "-overcommit") == 0;
	if (argc == 5 && !overcommit) {
		control_reply_line(r, "Invalid arguments: resize_slice <MIG-uuid> <SMs> <memory> [-overcommit]");
		r->status = 1;
		return;
	}
	if (parse_sms(argv[2], &sms, r) || parse_memory(argv[3], &bytes, r))
		return;
	/* the slice's GPU bounds it */
	struct slice_info si;
	int rc = find_slice(s, argv[1], &si);
	const struct control_gpu *g = si.gpu;
	if (rc == 0)
		rc = gs_slices_resize(s->state_dir, argv[1], sms, bytes, g ? g->sms : 0, g ? g->memory : 0, overcommit);
	if (rc) {
		slice_error(r, argv[1], rc == -EINVAL ? -ENOENT : rc);
		return;
	}
	control_log(s, "resized slice %s: %u SMs, %" PRIu64 " MiB", argv[1], sms, bytes >> 20);
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
	struct slice_info si;
	char gi_id[16], ci_id[16], index[16];
	if (find_slice(s, argv[1], &si) || !si.gpu) {
		slice_error(r, argv[1], -ENOENT);
		return;
	}
	snprintf(gi_id, sizeof gi_id, "%u", si.ci.gi);
	snprintf(ci_id, sizeof ci_id, "%u", si.ci.id);
	struct in_slice c = { si.uuid, 0 };
	control_each_client(count_in_slice, &c);
	if (c.n) {
		control_reply_line(r, "Slice %s is in use by %u client(s)", si.uuid, c.n);
		r->status = 1;
		return;
	}
	snprintf(index, sizeof index, "%u", si.gpu->index);
	const char *dci[] = { "mig", "-i", index, "-dci", "-gi", gi_id, "-ci", ci_id, NULL };
	const char *dgi[] = { "mig", "-i", index, "-dgi", "-gi", gi_id, NULL };
	char out[4096];
	if (control_smi(dci, out, sizeof out) || (!si.siblings && control_smi(dgi, out, sizeof out))) {
		smi_refused(r, out, "gpushare-smi could not destroy the slice");
		return;
	}
	control_servers_slice_gone(s, si.uuid);
	control_log(s, "destroyed slice %s", si.uuid);
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
			control_reply_line(r, "Invalid arguments: set_slice_users <MIG-uuid> <user,...|*> [queue|refuse]");
			r->status = 1;
			return;
		}
		refuse = strcmp(argv[3], "refuse") == 0;
	}
	if (parse_users(argv[2], uids, &n, r)) {
		r->status = 1;
		return;
	}
	int rc = gs_slices_set_access(s->state_dir, argv[1], uids, n, refuse);
	if (rc)
		slice_error(r, argv[1], rc);
	else
		control_log(s, "set_slice_users %s %s", argv[1], argv[2]);
}

/* set_slice_guarantee <MIG-uuid> <memory>: memory no other slice may take */
CONTROL_CMD_FN(cmd_set_slice_guarantee)
{
	(void)p, (void)argc;
	uint64_t bytes = 0;
	if (strcmp(argv[2], "0") && parse_memory(argv[2], &bytes, r))
		return;
	struct slice_info si;
	int rc = find_slice(s, argv[1], &si);
	if (rc) {
		slice_error(r, argv[1], rc);
		return;
	}
	if ((rc = gs_slices_set_guarantee(s->state_dir, argv[1], bytes, si.gpu ? si.gpu->memory : 0)) == -ENOENT)
		slice_error(r, argv[1], rc);
	else if (rc)
		guarantee_error(r, rc);
	else
		control_log(s, "set_slice_guarantee %s %s", argv[1], argv[2]);
}

/* gpushare_smi <state dir> <args>: what gpushare-smi asks of the daemon when
 * one runs, so that the store has one writer at a time: the daemon runs it,
 * with the same arguments, and answers with its output and its exit status.
 * A gpushare-smi working on another state dir than the daemon's (a test, a
 * user's own) is told to go on by itself. */
CONTROL_CMD_FN(cmd_gpushare_smi)
{
	if (strcmp(argv[1], s->state_dir)) {
		control_reply_line(r, "Not this daemon's state dir (%s)", s->state_dir);
		r->status = GS_SMI_NOT_MINE;
		return;
	}
	if (!p->privileged && p->uid != 0 && p->uid != geteuid()) {
		control_reply_line(r, "Insufficient Permissions: changing slices needs root or the daemon's user");
		r->status = 4; /* nvidia-smi's exit code for it */
		return;
	}
	if (!s->pipe_dir[0]) {
		control_reply_line(r, "No daemon to run gpushare-smi for"); /* a state without a daemon (the fuzz target) */
		r->status = 255;
		return;
	}
	const char *args[16];
	int n = 0;
	for (int i = 2; i < argc && n < (int)GS_ARRAY_LEN(args) - 1; i++)
		args[n++] = argv[i];
	args[n] = NULL;
	char out[8192];
	int rc = control_smi(args, out, sizeof out);
	char *save = NULL;
	for (char *l = strtok_r(out, "\n", &save); rc >= 0 && l; l = strtok_r(NULL, "\n", &save))
		control_reply_line(r, "%s", l);
	if (rc < 0)
		control_reply_line(r, "gpushare-smi did not run");
	r->status = rc < 0 ? 255 : rc;
	control_log(s, "gpushare-smi run for user %ld: exit %d", (long)p->uid, r->status);
}
