/* store.c: the slice store's text format, parse and crash-safe save. */
#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* version 2 ends with "end <lines> <checksum>"; version 1 (the previous
 * release's, no end line) is still read, and written as 2 by the next save */
#define STORE_MAGIC "gpushare-store 2"
#define STORE_MAGIC_V1 "gpushare-store 1"
#define STORE_MAX_BYTES (1u << 20)
#define STORE_UNREADABLE ": the store is unreadable; restore it or remove it to start empty"

/* FNV-1a 64 of len bytes: the end line's checksum. */
static uint64_t fnv1a64(const char *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

struct gs_store_gpu *gs_store_gpu(struct gs_store *s, const char *uuid, bool create)
{
	for (size_t i = 0; i < s->n_gpu; i++)
		if (strcmp(s->gpu[i].uuid, uuid) == 0)
			return &s->gpu[i];
	if (!create || s->n_gpu >= GS_STORE_MAX_GPU || strlen(uuid) >= sizeof s->gpu[0].uuid)
		return NULL;
	struct gs_store_gpu *g = &s->gpu[s->n_gpu++];
	memset(g, 0, sizeof *g);
	snprintf(g->uuid, sizeof g->uuid, "%s", uuid);
	return g;
}

void gs_store_ci_uuid(const char *gpu_uuid, const struct gs_mig_ci *ci, char out[GS_UUID_STR + 4])
{
	char words[160];
	struct gs_uuid u;
	snprintf(words, sizeof words, "gpushare-mig/%s/%u/%u/%" PRIu64, gpu_uuid, ci->gi, ci->id,
		 ci->serial);
	gs_uuid_derive(&u, words);
	memcpy(out, "MIG-", 4);
	gs_uuid_format(&u, out + 4);
}

/* Splits one line into at most max space-separated words, in place. */
static size_t split(char *line, char **w, size_t max)
{
	size_t n = 0;
	char *save = NULL;
	for (char *t = strtok_r(line, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		if (n == max)
			return max + 1;
		w[n++] = t;
	}
	return n;
}

static int num(const char *s, unsigned long long max, unsigned long long *v)
{
	return gs_parse_uint(s, max, v);
}

static bool valid_gpu_uuid(const char *s)
{
	struct gs_uuid u;
	return strncmp(s, "GPU-", 4) == 0 && gs_uuid_parse(s + 4, &u) == 0;
}

/* The compute instance gi/ci of a GPU in the store, or NULL. */
static struct gs_mig_ci *find_ci(struct gs_store_gpu *g, unsigned long long gi, unsigned long long ci)
{
	for (size_t i = 0; i < g->layout.n_ci; i++)
		if (g->layout.ci[i].gi == gi && g->layout.ci[i].id == ci)
			return &g->layout.ci[i];
	return NULL;
}

/* A comma list of at least one and at most GS_SLICE_MAX_USERS uids, in
 * place. 0 or -EINVAL. */
static int parse_uids(char *list, uint32_t *out, unsigned *n)
{
	char *save = NULL;
	unsigned long long v;
	*n = 0;
	for (char *u = strtok_r(list, ",", &save); u; u = strtok_r(NULL, ",", &save)) {
		if (*n == GS_SLICE_MAX_USERS || num(u, UINT32_MAX - 1, &v))
			return -EINVAL;
		out[(*n)++] = (uint32_t)v;
	}
	return *n ? 0 : -EINVAL;
}

/* Fails with -EBADMSG: the store is cut short or corrupt, not malformed. */
#define corrupt(err, errlen, fmt, ...) gs_fail(err, errlen, -EBADMSG, fmt STORE_UNREADABLE, __VA_ARGS__)

static int parse_line(struct gs_store *s, char *line, char *err, size_t errlen, unsigned lineno)
{
	char *w[12];
	size_t n = split(line, w, 11);
	unsigned long long v[9] = { 0 };
	if (n == 0)
		return 0;
	if (strcmp(w[0], "gpu") == 0) {
		if (n != 4 || !valid_gpu_uuid(w[1]) || strcmp(w[2], "mig") != 0 ||
		    num(w[3], 1, &v[0]))
			goto bad;
		if (gs_store_gpu(s, w[1], false))
			return gs_fail(err, errlen, -EINVAL, "line %u: GPU %s listed twice", lineno, w[1]);
		struct gs_store_gpu *g = gs_store_gpu(s, w[1], true);
		if (!g)
			return gs_fail(err, errlen, -EINVAL, "line %u: too many GPUs", lineno);
		g->mig = v[0];
		return 0;
	}
	if (strcmp(w[0], "serial") == 0) {
		struct gs_store_gpu *g = n == 3 ? gs_store_gpu(s, w[1], false) : NULL;
		if (!g || num(w[2], UINT64_MAX, &v[0]))
			goto bad;
		g->layout.next_serial = v[0];
		return 0;
	}
	if (strcmp(w[0], "gi") == 0) {
		/* gi <gpu> <id> <profile|custom> <start> <size> <sm> <mib> <serial> [<guarantee mib> [<sm start>]] */
		struct gs_store_gpu *g = n >= 9 && n <= 11 ? gs_store_gpu(s, w[1], false) : NULL;
		if (!g)
			goto bad;
		bool custom = strcmp(w[3], "custom") == 0;
		if (num(w[2], 255, &v[0]) || (!custom && num(w[3], 255, &v[1])) ||
		    num(w[4], 7, &v[2]) || num(w[5], 8, &v[3]) || num(w[6], 100000, &v[4]) ||
		    num(w[7], UINT32_MAX, &v[5]) || num(w[8], UINT64_MAX, &v[6]))
			goto bad;
		struct gs_mig_layout *l = &g->layout;
		for (size_t i = 0; i < l->n_gi; i++)
			if (l->gi[i].id == v[0])
				return gs_fail(err, errlen, -EINVAL, "line %u: GPU instance %llu twice",
					       lineno, v[0]);
		if (l->n_gi >= GS_MIG_MAX_GI || v[2] + v[3] > 8)
			goto bad;
		v[7] = v[5];
		if (n >= 10 && (num(w[9], UINT32_MAX, &v[7]) || v[7] > v[5]))
			goto bad;
		if (n == 11 && (num(w[10], 100000, &v[8]) || v[8] + v[4] > 100000))
			goto bad;
		l->gi[l->n_gi++] = (struct gs_mig_gi){
			.id = (unsigned)v[0], .profile_id = custom ? GS_MIG_CUSTOM : (int)v[1],
			.start = (unsigned)v[2], .size = (unsigned)v[3], .sm = (unsigned)v[4],
			.memory_mib = (uint32_t)v[5], .serial = v[6], .guarantee_mib = (uint32_t)v[7],
			.sm_start = (unsigned)v[8], .sm_placed = n == 11 };
		return 0;
	}
	if (strcmp(w[0], "ci") == 0) {
		struct gs_store_gpu *g = n == 9 ? gs_store_gpu(s, w[1], false) : NULL;
		if (!g)
			goto bad;
		for (int i = 0; i < 7; i++)
			if (num(w[2 + i], i == 6 ? UINT64_MAX : i == 5 ? 100000 : 255, &v[i]))
				goto bad;
		struct gs_mig_layout *l = &g->layout;
		bool parent = false;
		for (size_t i = 0; i < l->n_gi; i++)
			parent |= l->gi[i].id == v[0];
		if (!parent)
			return gs_fail(err, errlen, -EINVAL,
				       "line %u: compute instance of unknown GPU instance %llu", lineno, v[0]);
		for (size_t i = 0; i < l->n_ci; i++)
			if (l->ci[i].gi == v[0] && l->ci[i].id == v[1])
				return gs_fail(err, errlen, -EINVAL, "line %u: compute instance twice", lineno);
		if (l->n_ci >= GS_MIG_MAX_CI || v[3] + v[4] > 8)
			goto bad;
		l->ci[l->n_ci++] = (struct gs_mig_ci){
			.gi = (unsigned)v[0], .id = (unsigned)v[1], .profile_id = (unsigned)v[2],
			.start = (unsigned)v[3], .size = (unsigned)v[4], .sm = (unsigned)v[5],
			.serial = v[6] };
		return 0;
	}
	if (strcmp(w[0], "size") == 0) {
		/* size <gpu> <SMs> <SM unit> <MiB> */
		struct gs_store_gpu *g = n == 5 ? gs_store_gpu(s, w[1], false) : NULL;
		if (!g || num(w[2], 100000, &v[0]) || num(w[3], 1024, &v[1]) || v[1] == 0 || num(w[4], UINT32_MAX, &v[2]))
			goto bad;
		g->sm_count = (unsigned)v[0];
		g->sm_unit = (unsigned)v[1];
		g->memory_mib = (uint32_t)v[2];
		return 0;
	}
	if (strcmp(w[0], "grid") == 0) {
		/* grid <gpu> <SMs> */
		struct gs_store_gpu *g = n == 3 ? gs_store_gpu(s, w[1], false) : NULL;
		if (!g || num(w[2], 100000, &v[0]) || v[0] == 0)
			goto bad;
		g->layout.grid_floor = (unsigned)v[0];
		return 0;
	}
	if (strcmp(w[0], "owner") == 0 || strcmp(w[0], "cgroup") == 0 || strcmp(w[0], "default") == 0) {
		/* owner <gpu> <gi> <ci> <pid> <start time>
		 * cgroup <gpu> <gi> <ci> <path>
		 * default <gpu> <gi> <ci> <uid,uid,...> */
		bool owner = w[0][0] == 'o', cg = w[0][0] == 'c';
		struct gs_store_gpu *g = n == (owner ? 6u : 5u) ? gs_store_gpu(s, w[1], false) : NULL;
		if (!g || num(w[2], 255, &v[0]) || num(w[3], 255, &v[1]))
			goto bad;
		struct gs_mig_ci *ci = find_ci(g, v[0], v[1]);
		if (!ci)
			return gs_fail(err, errlen, -EINVAL, "line %u: %s of unknown compute instance", lineno, w[0]);
		if (owner) {
			if (num(w[4], INT32_MAX, &v[2]) || v[2] == 0 || num(w[5], UINT64_MAX, &v[3]))
				goto bad;
			ci->owner_pid = (int32_t)v[2];
			ci->owner_start = v[3];
		} else if (cg) {
			if (!gs_store_cgroup_valid(w[4]))
				goto bad;
			snprintf(ci->cgroup, sizeof ci->cgroup, "%s", w[4]);
		} else if (parse_uids(w[4], ci->default_for, &ci->n_default)) {
			goto bad;
		}
		return 0;
	}
	if (strcmp(w[0], "name") == 0) {
		/* name <gpu> <gi> <ci> <name> */
		struct gs_store_gpu *g = n == 5 ? gs_store_gpu(s, w[1], false) : NULL;
		if (!g || num(w[2], 255, &v[0]) || num(w[3], 255, &v[1]))
			goto bad;
		struct gs_mig_ci *ci = find_ci(g, v[0], v[1]);
		if (!ci)
			return gs_fail(err, errlen, -EINVAL, "line %u: name of unknown compute instance", lineno);
		if (!gs_store_name_valid(w[4]))
			return gs_fail(err, errlen, -EINVAL,
				       "line %u: invalid slice name (1-31 of A-Z a-z 0-9 . _ -, not hex digits and - alone, "
				       "not starting with -, MIG- or GPU-)", lineno);
		if (ci->name[0])
			return gs_fail(err, errlen, -EINVAL, "line %u: compute instance %llu/%llu named twice", lineno,
				       v[0], v[1]);
		const struct gs_store_gpu *og;
		const struct gs_mig_ci *other = gs_store_find_name(s, w[4], &og);
		if (other)
			return gs_fail(err, errlen, -EINVAL,
				       "line %u: slice name \"%s\" already names compute instance %u/%u of %s", lineno,
				       w[4], other->gi, other->id, og->uuid);
		snprintf(ci->name, sizeof ci->name, "%s", w[4]);
		return 0;
	}
	if (strcmp(w[0], "smpolicy") == 0) {
		/* smpolicy <gpu> <gi> <ci> shared|isolated|best-effort <lend 0|1> <borrow 0|1> <priority 0|1|2> <floor SMs>
		 * [<weight> <timeslice ms>] (a store of before weights has 9 words) */
		struct gs_store_gpu *g = n == 9 || n == 11 ? gs_store_gpu(s, w[1], false) : NULL;
		int mode = g ? gs_store_sm_mode_parse(w[4]) : -1;
		v[6] = v[7] = 0;
		if (!g || num(w[2], 255, &v[0]) || num(w[3], 255, &v[1]) || mode < 0 || num(w[5], 1, &v[2]) ||
		    num(w[6], 1, &v[3]) || num(w[7], GS_PRIO_LOW, &v[4]) || num(w[8], 100000, &v[5]) ||
		    (n == 11 && (num(w[9], GS_SM_MAX_WEIGHT, &v[6]) || num(w[10], GS_TIMESLICE_MAX_MS, &v[7]))))
			goto bad;
		struct gs_mig_ci *ci = find_ci(g, v[0], v[1]);
		if (!ci)
			return gs_fail(err, errlen, -EINVAL, "line %u: smpolicy of unknown compute instance", lineno);
		if (!gs_store_sm_policy_default(&ci->sm_policy))
			return gs_fail(err, errlen, -EINVAL, "line %u: compute instance %llu/%llu has two smpolicy records",
				       lineno, v[0], v[1]);
		/* what the slice layer never writes: a store that holds it was
		 * written by something else, and would be enforced as nobody meant */
		if (mode == GS_SM_ISOLATED && (v[2] || v[3]))
			return gs_fail(err, errlen, -EINVAL, "line %u: an isolated slice neither lends nor borrows (0 0)", lineno);
		if (v[5] && (mode != GS_SM_BEST_EFFORT || v[5] > ci->sm))
			return gs_fail(err, errlen, -EINVAL,
				       "line %u: a floor is a best-effort slice's, at most its %u SMs", lineno, ci->sm);
		ci->sm_policy = (struct gs_sm_policy){ .mode = (uint8_t)mode, .no_lend = !v[2], .no_borrow = !v[3],
						       .priority = (uint8_t)v[4], .floor_sm = (unsigned)v[5],
						       .weight = v[6] == 1 ? 0 : (unsigned)v[6], .timeslice_ms = (unsigned)v[7] };
		return 0;
	}
	if (strcmp(w[0], "memturn") == 0) {
		/* memturn <gpu> <gi> <ci> <seconds> */
		struct gs_store_gpu *g = n == 5 ? gs_store_gpu(s, w[1], false) : NULL;
		if (!g || num(w[2], 255, &v[0]) || num(w[3], 255, &v[1]) || num(w[4], GS_MEM_TURN_MAX_S, &v[2]) || !v[2])
			goto bad;
		struct gs_mig_ci *ci = find_ci(g, v[0], v[1]);
		if (!ci)
			return gs_fail(err, errlen, -EINVAL, "line %u: memturn of unknown compute instance", lineno);
		if (ci->mem_turn_s)
			return gs_fail(err, errlen, -EINVAL, "line %u: compute instance %llu/%llu has two memturn records",
				       lineno, v[0], v[1]);
		ci->mem_turn_s = (unsigned)v[2];
		return 0;
	}
	if (strcmp(w[0], "borrowmem") == 0) {
		/* borrowmem <gpu> <gi> <ci> 1 (absent: the slice borrows no memory) */
		struct gs_store_gpu *g = n == 5 ? gs_store_gpu(s, w[1], false) : NULL;
		if (!g || num(w[2], 255, &v[0]) || num(w[3], 255, &v[1]) || strcmp(w[4], "1"))
			goto bad;
		struct gs_mig_ci *ci = find_ci(g, v[0], v[1]);
		if (!ci)
			return gs_fail(err, errlen, -EINVAL, "line %u: borrowmem of unknown compute instance", lineno);
		if (ci->borrow_mem)
			return gs_fail(err, errlen, -EINVAL, "line %u: compute instance %llu/%llu has two borrowmem records",
				       lineno, v[0], v[1]);
		ci->borrow_mem = true;
		return 0;
	}
	if (strcmp(w[0], "oomwait") == 0) {
		/* oomwait <gpu> <gi> <ci> <seconds> */
		struct gs_store_gpu *g = n == 5 ? gs_store_gpu(s, w[1], false) : NULL;
		if (!g || num(w[2], 255, &v[0]) || num(w[3], 255, &v[1]) || num(w[4], GS_OOM_WAIT_MAX_S, &v[2]) || !v[2])
			goto bad;
		struct gs_mig_ci *ci = find_ci(g, v[0], v[1]);
		if (!ci)
			return gs_fail(err, errlen, -EINVAL, "line %u: oomwait of unknown compute instance", lineno);
		if (ci->oom_wait_s)
			return gs_fail(err, errlen, -EINVAL, "line %u: compute instance %llu/%llu has two oomwait records",
				       lineno, v[0], v[1]);
		ci->oom_wait_s = (unsigned)v[2];
		return 0;
	}
	if (strcmp(w[0], "access") == 0) {
		/* access <gpu> <gi> <ci> queue|refuse <uid,uid,...|*> */
		struct gs_store_gpu *g = n == 6 ? gs_store_gpu(s, w[1], false) : NULL;
		if (!g || num(w[2], 255, &v[0]) || num(w[3], 255, &v[1]) ||
		    (strcmp(w[4], "queue") && strcmp(w[4], "refuse")))
			goto bad;
		struct gs_mig_ci *ci = find_ci(g, v[0], v[1]);
		if (!ci)
			return gs_fail(err, errlen, -EINVAL, "line %u: access of unknown compute instance", lineno);
		ci->refuse_busy = strcmp(w[4], "refuse") == 0;
		ci->n_users = 0;
		if (strcmp(w[5], "*") == 0)
			return 0;
		if (parse_uids(w[5], ci->users, &ci->n_users))
			goto bad;
		return 0;
	}
bad:
	return gs_fail(err, errlen, -EINVAL, "line %u: malformed %s record", lineno, w[0]);
}

static const char *const sm_modes[] = { [GS_SM_SHARED] = "shared", [GS_SM_ISOLATED] = "isolated",
					 [GS_SM_BEST_EFFORT] = "best-effort" };

const char *gs_store_sm_mode_name(unsigned mode)
{
	return mode < GS_ARRAY_LEN(sm_modes) ? sm_modes[mode] : "?";
}

int gs_store_sm_mode_parse(const char *name)
{
	for (size_t i = 0; i < GS_ARRAY_LEN(sm_modes); i++)
		if (strcmp(name, sm_modes[i]) == 0)
			return (int)i;
	return -1;
}

static const char *const priorities[] = { [GS_PRIO_NORMAL] = "normal", [GS_PRIO_CRITICAL] = "critical",
					   [GS_PRIO_LOW] = "low" };

const char *gs_store_priority_name(unsigned priority)
{
	return priority < GS_ARRAY_LEN(priorities) ? priorities[priority] : "?";
}

int gs_store_priority_parse(const char *name)
{
	for (size_t i = 0; i < GS_ARRAY_LEN(priorities); i++)
		if (strcmp(name, priorities[i]) == 0)
			return (int)i;
	return -1;
}

bool gs_store_sm_policy_default(const struct gs_sm_policy *p)
{
	return p->mode == GS_SM_SHARED && !p->no_lend && !p->no_borrow && !p->priority && !p->floor_sm &&
	       p->weight <= 1 && !p->timeslice_ms;
}

bool gs_store_cgroup_valid(const char *path)
{
	size_t len = strlen(path);
	if (path[0] != '/' || len >= GS_STORE_CGROUP_MAX)
		return false;
	for (const char *p = path; *p; p++)
		if (*p <= ' ' || *p == 0x7f || (p[0] == '/' && p[1] == '/'))
			return false;
	/* no "." or ".." component: a binding names one cgroup, not a way around one */
	for (const char *p = path; (p = strchr(p, '/')); p++)
		if ((p[1] == '.' && (p[2] == '/' || !p[2])) || (p[1] == '.' && p[2] == '.' && (p[3] == '/' || !p[3])))
			return false;
	return true;
}

bool gs_store_name_valid(const char *name)
{
	size_t len = name ? strnlen(name, GS_STORE_NAME_MAX) : 0;
	if (len == 0 || len >= GS_STORE_NAME_MAX || name[0] == '-')
		return false;
	/* not a UUID or a prefix of one (hex digits and '-' alone: "cafe" could
	 * be the start of a slice's UUID), nor an index: either would read as
	 * another way of naming a device */
	if (strncasecmp(name, "MIG-", 4) == 0 || strncasecmp(name, "GPU-", 4) == 0)
		return false;
	bool uuid_like = true;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == '-';
		if (!hex && !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') && c != '.' && c != '_')
			return false;
		uuid_like &= hex;
	}
	return !uuid_like;
}

const struct gs_mig_ci *gs_store_find_name(const struct gs_store *s, const char *name,
					   const struct gs_store_gpu **gpu)
{
	if (gpu)
		*gpu = NULL;
	if (!name || !name[0])
		return NULL;
	for (size_t i = 0; i < s->n_gpu; i++) {
		const struct gs_mig_layout *l = &s->gpu[i].layout;
		for (size_t k = 0; k < l->n_ci; k++)
			if (strncmp(l->ci[k].name, name, sizeof l->ci[k].name) == 0) {
				if (gpu)
					*gpu = &s->gpu[i];
				return &l->ci[k];
			}
	}
	return NULL;
}

bool gs_store_ci_open_to(const struct gs_mig_ci *ci, uid_t uid)
{
	if (uid == 0 || ci->n_users == 0)
		return true;
	for (unsigned i = 0; i < ci->n_users; i++)
		if (ci->users[i] == uid)
			return true;
	return false;
}

/* Whether the line (len bytes, no newline) is an end line. */
static bool is_end_line(const char *line, size_t len)
{
	return len >= 3 && memcmp(line, "end", 3) == 0 && (len == 3 || line[3] == ' ' || line[3] == '\t');
}

/* Reads a decimal (no sign, no leading zero) or a 16-digit lowercase hex
 * number at *p, moving *p past it. */
static bool trailer_num(const char **p, const char *end, bool hex, unsigned long long *v)
{
	const char *q = *p;
	*v = 0;
	for (; q < end && *q != ' '; q++) {
		unsigned d;
		if (*q >= '0' && *q <= '9')
			d = (unsigned)(*q - '0');
		else if (hex && *q >= 'a' && *q <= 'f')
			d = (unsigned)(*q - 'a' + 10);
		else
			return false;
		if (!hex && (q - *p >= 9 || (q > *p && **p == '0')))
			return false;
		*v = *v * (hex ? 16 : 10) + d;
	}
	bool ok = hex ? q - *p == 16 : q > *p;
	*p = q;
	return ok;
}

/* A version 2 store's integrity: its last line is "end <n> <hash>", n the
 * lines before it and hash the FNV-1a 64 of every byte before it, and
 * nothing follows. Sets *body to the end line's offset. */
static int check_trailer(const char *text, size_t len, size_t *body, char *err, size_t errlen)
{
	unsigned lineno = 0;
	for (size_t off = 0; off < len;) {
		const char *line = text + off, *nl = memchr(line, '\n', len - off);
		size_t llen = nl ? (size_t)(nl - line) : len - off;
		lineno++;
		if (lineno > 1 && is_end_line(line, llen)) {
			if (!nl)
				return corrupt(err, errlen, "truncated in line %u (the \"end\" line is cut short)", lineno);
			if (off + llen + 1 != len)
				return corrupt(err, errlen, "%zu unexpected bytes after the \"end\" line (line %u)",
					       len - (off + llen + 1), lineno);
			const char *p = line + 4, *e = line + llen;
			unsigned long long count, sum;
			if (llen < 4 || line[3] != ' ' || !trailer_num(&p, e, false, &count) || p == e || *p++ != ' ' ||
			    !trailer_num(&p, e, true, &sum) || p != e)
				return corrupt(err, errlen, "malformed \"end\" line (line %u)", lineno);
			if (count != lineno - 1)
				return corrupt(err, errlen, "line count mismatch: the \"end\" line (line %u) counts %llu lines, "
					       "%u precede it", lineno, count, lineno - 1);
			uint64_t h = fnv1a64(text, off);
			if (h != sum)
				return corrupt(err, errlen, "checksum mismatch: the \"end\" line (line %u) says %016llx, "
					       "the %u lines before it hash to %016" PRIx64, lineno, sum, lineno - 1, h);
			*body = off;
			return 0;
		}
		if (!nl)
			return corrupt(err, errlen, "truncated in line %u (no \"end\" line)", lineno);
		off += llen + 1;
	}
	return corrupt(err, errlen, "truncated after line %u (no \"end\" line)", lineno);
}

/* gs_store_parse of len bytes, which a file may hold NULs among. */
static int parse_text(const char *text, size_t len, struct gs_store *s, char *err, size_t errlen)
{
	memset(s, 0, sizeof *s);
	if (len > STORE_MAX_BYTES)
		return gs_fail(err, errlen, -EINVAL, "store larger than %u bytes", STORE_MAX_BYTES);
	if (len == 0)
		return corrupt(err, errlen, "empty file (truncated before line %u)", 1);
	const char *nul = memchr(text, '\0', len);
	if (nul) {
		unsigned lineno = 1;
		for (const char *p = text; p < nul; p++)
			lineno += *p == '\n';
		return corrupt(err, errlen, "a NUL byte in line %u", lineno);
	}
	const char *eol = memchr(text, '\n', len);
	size_t first = eol ? (size_t)(eol - text) : len;
	if (!eol && first < strlen(STORE_MAGIC) && memcmp(text, STORE_MAGIC, first) == 0)
		return corrupt(err, errlen, "truncated in line %u (no \"end\" line)", 1);
	bool v1 = first == strlen(STORE_MAGIC_V1) && memcmp(text, STORE_MAGIC_V1, first) == 0;
	if (!v1 && !(first == strlen(STORE_MAGIC) && memcmp(text, STORE_MAGIC, first) == 0))
		return gs_fail(err, errlen, -EINVAL, "not a gpushare store (expected \"%s\")", STORE_MAGIC);
	size_t body = len;
	int rc = v1 ? 0 : check_trailer(text, len, &body, err, errlen);
	if (rc)
		return rc;
	char *copy = strndup(text, body);
	if (!copy)
		return -ENOMEM;
	unsigned lineno = 1;
	for (char *line = strchr(copy, '\n'); line && line[1]; ) {
		line++;
		lineno++;
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if (v1 && is_end_line(line, strlen(line)))
			rc = corrupt(err, errlen, "line %u: an \"end\" line in a version 1 store", lineno);
		else if (line[0] != '#')
			rc = parse_line(s, line, err, errlen, lineno);
		if (rc)
			break;
		line = nl;
	}
	free(copy);
	if (rc)
		memset(s, 0, sizeof *s);
	return rc;
}

int gs_store_parse(const char *text, struct gs_store *s, char *err, size_t errlen)
{
	return parse_text(text, strlen(text), s, err, errlen);
}

int gs_store_format(const struct gs_store *s, char **out, size_t *len)
{
	char *buf = NULL;
	size_t size = 0;
	/* a name or an SM policy that would not parse back is not written */
	for (size_t i = 0; i < s->n_gpu; i++)
		for (size_t k = 0; k < s->gpu[i].layout.n_ci; k++) {
			const struct gs_mig_ci *ci = &s->gpu[i].layout.ci[k];
			if (ci->name[0] && (!gs_store_name_valid(ci->name) || gs_store_find_name(s, ci->name, NULL) != ci))
				return -EINVAL;
			const struct gs_sm_policy *sp = &ci->sm_policy;
			if (sp->mode > GS_SM_BEST_EFFORT || (sp->mode == GS_SM_ISOLATED && !(sp->no_lend && sp->no_borrow)) ||
			    (sp->floor_sm && (sp->mode != GS_SM_BEST_EFFORT || sp->floor_sm > ci->sm)))
				return -EINVAL;
		}
	FILE *f = open_memstream(&buf, &size);
	if (!f)
		return -ENOMEM;
	fprintf(f, "%s\n", STORE_MAGIC);
	for (size_t i = 0; i < s->n_gpu; i++) {
		const struct gs_store_gpu *g = &s->gpu[i];
		const struct gs_mig_layout *l = &g->layout;
		fprintf(f, "gpu %s mig %d\nserial %s %" PRIu64 "\n", g->uuid, g->mig ? 1 : 0, g->uuid,
			l->next_serial);
		if (g->sm_unit)
			fprintf(f, "size %s %u %u %" PRIu32 "\n", g->uuid, g->sm_count, g->sm_unit, g->memory_mib);
		if (l->grid_floor)
			fprintf(f, "grid %s %u\n", g->uuid, l->grid_floor);
		for (size_t k = 0; k < l->n_gi; k++) {
			const struct gs_mig_gi *gi = &l->gi[k];
			if (gi->profile_id == GS_MIG_CUSTOM)
				fprintf(f, "gi %s %u custom", g->uuid, gi->id);
			else
				fprintf(f, "gi %s %u %d", g->uuid, gi->id, gi->profile_id);
			fprintf(f, " %u %u %u %" PRIu32 " %" PRIu64, gi->start, gi->size, gi->sm, gi->memory_mib,
				gi->serial);
			if (gi->sm_placed)
				fprintf(f, " %" PRIu32 " %u", gi->guarantee_mib, gi->sm_start);
			else if (gi->guarantee_mib != gi->memory_mib)
				fprintf(f, " %" PRIu32, gi->guarantee_mib);
			fputc('\n', f);
		}
		for (size_t k = 0; k < l->n_ci; k++) {
			const struct gs_mig_ci *ci = &l->ci[k];
			fprintf(f, "ci %s %u %u %u %u %u %u %" PRIu64 "\n", g->uuid, ci->gi, ci->id,
				ci->profile_id, ci->start, ci->size, ci->sm, ci->serial);
		}
		for (size_t k = 0; k < l->n_ci; k++) {
			const struct gs_mig_ci *ci = &l->ci[k];
			if (!ci->refuse_busy && !ci->n_users)
				continue;
			fprintf(f, "access %s %u %u %s ", g->uuid, ci->gi, ci->id, ci->refuse_busy ? "refuse" : "queue");
			for (unsigned u = 0; u < ci->n_users; u++)
				fprintf(f, "%s%" PRIu32, u ? "," : "", ci->users[u]);
			fprintf(f, "%s\n", ci->n_users ? "" : "*");
		}
		for (size_t k = 0; k < l->n_ci; k++) {
			const struct gs_mig_ci *ci = &l->ci[k];
			if (ci->name[0])
				fprintf(f, "name %s %u %u %s\n", g->uuid, ci->gi, ci->id, ci->name);
			if (ci->owner_pid)
				fprintf(f, "owner %s %u %u %" PRId32 " %" PRIu64 "\n", g->uuid, ci->gi, ci->id, ci->owner_pid,
					ci->owner_start);
			if (ci->cgroup[0])
				fprintf(f, "cgroup %s %u %u %s\n", g->uuid, ci->gi, ci->id, ci->cgroup);
			if (ci->n_default)
				fprintf(f, "default %s %u %u ", g->uuid, ci->gi, ci->id);
			for (unsigned u = 0; u < ci->n_default; u++)
				fprintf(f, "%s%" PRIu32, u ? "," : "", ci->default_for[u]);
			if (ci->n_default)
				fputc('\n', f);
			if (ci->oom_wait_s)
				fprintf(f, "oomwait %s %u %u %u\n", g->uuid, ci->gi, ci->id, ci->oom_wait_s);
			if (ci->mem_turn_s)
				fprintf(f, "memturn %s %u %u %u\n", g->uuid, ci->gi, ci->id, ci->mem_turn_s);
			if (ci->borrow_mem)
				fprintf(f, "borrowmem %s %u %u 1\n", g->uuid, ci->gi, ci->id);
			const struct gs_sm_policy *sp = &ci->sm_policy;
			if (!gs_store_sm_policy_default(sp)) {
				fprintf(f, "smpolicy %s %u %u %s %d %d %d %u", g->uuid, ci->gi, ci->id,
					gs_store_sm_mode_name(sp->mode), !sp->no_lend, !sp->no_borrow, sp->priority, sp->floor_sm);
				/* the 9 words of before where they say it all: older readers
				 * (a program's interposer loaded before an upgrade) still read it */
				if (sp->weight > 1 || sp->timeslice_ms)
					fprintf(f, " %u %u", sp->weight ? sp->weight : 1, sp->timeslice_ms);
				fputc('\n', f);
			}
		}
	}
	/* the end line: how many lines precede it, and their checksum */
	bool ok = fflush(f) == 0;
	if (ok) {
		unsigned lines = 0;
		for (size_t i = 0; i < size; i++)
			lines += buf[i] == '\n';
		ok = fprintf(f, "end %u %016" PRIx64 "\n", lines, fnv1a64(buf, size)) > 0;
	}
	ok = ok && !ferror(f);
	if (fclose(f) || !ok) {
		free(buf);
		return -ENOMEM;
	}
	*out = buf;
	if (len)
		*len = size;
	return 0;
}

static int store_path(const char *dir, const char *name, char *out, size_t len)
{
	int n = snprintf(out, len, "%s/%s", dir, name);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int gs_store_load(const char *dir, struct gs_store *s, char *err, size_t errlen)
{
	char path[PATH_MAX];
	char *text;
	int rc = store_path(dir, "slices", path, sizeof path);
	if (rc)
		return gs_fail(err, errlen, rc, "state directory path too long");
	size_t len;
	rc = gs_file_read(path, STORE_MAX_BYTES, &text, &len);
	if (rc == -ENOENT) {
		memset(s, 0, sizeof *s);
		return 0;
	}
	if (rc)
		return gs_fail(err, errlen, rc, "cannot read %s: %s", path, strerror(-rc));
	char why[256];
	rc = parse_text(text, len, s, why, sizeof why);
	free(text);
	if (rc)
		return gs_fail(err, errlen, rc, "%s: %s", path, why);
	return 0;
}

/* GPUSHARE_FAULT=store-kill-before-rename or store-kill-after-rename kills
 * the writer at that point, so tests can prove what a crash leaves behind. */
static void fault(const char *where)
{
	const char *f = secure_getenv("GPUSHARE_FAULT");
	if (f && strcmp(f, where) == 0)
		raise(SIGKILL);
}

int gs_store_save(const char *dir, const struct gs_store *s)
{
	char path[PATH_MAX];
	char *text;
	size_t len;
	int rc = store_path(dir, "slices", path, sizeof path);
	if (rc || (rc = gs_store_format(s, &text, &len)))
		return rc;
	if (secure_getenv("GPUSHARE_FAULT")) {
		/* leave a half-written temporary file, as a crash mid-write would */
		char tmp[PATH_MAX + 32];
		snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
		FILE *f = fopen(tmp, "w");
		if (f) {
			fwrite(text, 1, len / 2, f);
			fclose(f);
		}
		fault("store-kill-before-rename");
	}
	rc = gs_file_replace(path, text, len);
	free(text);
	if (!rc)
		fault("store-kill-after-rename");
	return rc;
}

int gs_store_lock(const char *dir)
{
	char path[PATH_MAX];
	/* root's store (gpushare-control's) is read by every program; a user's
	 * own is theirs alone */
	int rc = gs_mkdir_p(dir, geteuid() == 0 ? 0755 : 0700);
	if (rc)
		return rc;
	if ((rc = store_path(dir, "lock", path, sizeof path)))
		return rc;
	return gs_lock_file(path);
}

int gs_store_ledger_path(const char *dir, const char *gpu_uuid, const struct gs_mig_gi *gi, char *out, size_t len)
{
	int n = snprintf(out, len, "%s/ledger-%s-gi%u-%" PRIu64, dir, gpu_uuid, gi->id, gi->serial);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int gs_store_remainder_path(const char *dir, const char *gpu_uuid, char *out, size_t len)
{
	int n = snprintf(out, len, "%s/remainder-%s", dir, gpu_uuid);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}
