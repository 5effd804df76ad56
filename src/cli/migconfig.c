/* migconfig.c: the strict parser of mig-parted's v1 config with gpushare's
 * slices (see migconfig.h). Two passes over the text with libyaml: the event
 * parser first (syntax, anchors, aliases, tags, one document, nesting), then
 * the document loader, whose tree is walked with every key checked. */
#include "migconfig.h"
#include "gs.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifdef GS_NO_YAML
/* Built where libyaml is not (a GPU node with the driver alone): the rest of
 * gpushare works, apply says why it cannot. */
int gs_migconf_parse(const char *text, size_t len, const char *file, const char *label, struct gs_migconf *out,
		     char *err, size_t errlen)
{
	(void)text, (void)len, (void)label;
	memset(out, 0, sizeof *out);
	return gs_fail(err, errlen, -ENOSYS, "%s: this gpushare was built without libyaml (Debian: libyaml-dev); "
		       "install it and build again to read configuration files", file);
}

int gs_migconf_load(const char *path, const char *label, struct gs_migconf *out, char *err, size_t errlen)
{
	return gs_migconf_parse(NULL, 0, path, label, out, err, errlen);
}
#else
#include <yaml.h>

#define MAX_DEPTH 32 /* the format needs 6 levels */

struct ctx {
	const char *file;
	char *err;
	size_t errlen;
	yaml_document_t *doc;
};

static const char *const top_keys[] = { "version", "mig-configs" };
static const char *const spec_keys[] = { "device-filter", "devices", "mig-enabled", "mig-devices", "gpushare-slices" };
enum { K_FILTER, K_DEVICES, K_MIG_ENABLED, K_MIG_DEVICES, K_SLICES, N_SPEC_KEYS };
static const char *const slice_keys[] = { "size", "name", "users", "refuse", "overcommit", "guarantee", "default-for",
					  "cgroup", "sharing", "lend", "borrow", "priority", "floor", "weight", "timeslice",
					  "oom-wait", "borrow-memory" };
enum {
	S_SIZE, S_NAME, S_USERS, S_REFUSE, S_OVERCOMMIT, S_GUARANTEE, S_DEFAULT_FOR, S_CGROUP, S_SHARING, S_LEND, S_BORROW,
	S_PRIORITY, S_FLOOR, S_WEIGHT, S_TIMESLICE, S_OOM_WAIT, S_BORROW_MEMORY, N_SLICE_KEYS
};

GS_PRINTF(4, 5)
static int fail_mark(struct ctx *c, size_t line, size_t col, const char *fmt, ...)
{
	if (!c->err || !c->errlen)
		return -EINVAL;
	int n = snprintf(c->err, c->errlen, "%s:%zu:%zu: ", c->file, line + 1, col + 1);
	if (n >= 0 && (size_t)n < c->errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

#define FAIL(c, node, ...) fail_mark((c), (node)->start_mark.line, (node)->start_mark.column, __VA_ARGS__)

static struct gs_migconf_pos pos_of(const yaml_node_t *n)
{
	return (struct gs_migconf_pos){ (unsigned)n->start_mark.line + 1, (unsigned)n->start_mark.column + 1 };
}

/* s (n bytes) quoted for a message: at most 40 characters, others escaped */
static const char *quote(const char *s, size_t n, char *buf, size_t len)
{
	size_t o = 0;
	buf[o++] = '"';
	for (size_t i = 0; i < n && o + 8 < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (i == 40) {
			o += (size_t)snprintf(buf + o, len - o, "...");
			break;
		}
		if (ch == '"' || ch == '\\')
			o += (size_t)snprintf(buf + o, len - o, "\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			o += (size_t)snprintf(buf + o, len - o, "\\x%02x", ch);
		else
			buf[o++] = (char)ch;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

static const char *text_of(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static bool is_plain(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static bool is_null(const yaml_node_t *n)
{
	if (!is_plain(n))
		return false;
	const char *s = text_of(n);
	return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

/* What a node is, for "..., not <this>"; quotes noted where the value wanted is no string. */
static const char *describe_as(const yaml_node_t *n, char *buf, size_t len, bool note_quotes)
{
	char q[200];
	switch (n->type) {
	case YAML_MAPPING_NODE: return "a map";
	case YAML_SEQUENCE_NODE: return "a list";
	case YAML_SCALAR_NODE:
		if (is_plain(n) && !n->data.scalar.length)
			return "an empty value";
		if (is_null(n))
			return "null";
		quote(text_of(n), n->data.scalar.length, q, sizeof q);
		if (is_plain(n) || !note_quotes)
			snprintf(buf, len, "%s", q);
		else
			snprintf(buf, len, "the quoted string %s", q);
		return buf;
	default: return "nothing";
	}
}

/* for a value that is a string */
static const char *describe(const yaml_node_t *n, char *buf, size_t len)
{
	return describe_as(n, buf, len, false);
}

/* for a value that is no string (true or false, a number): "2" is not 2 */
static const char *describe_typed(const yaml_node_t *n, char *buf, size_t len)
{
	return describe_as(n, buf, len, true);
}

static yaml_node_t *node(struct ctx *c, int id)
{
	return yaml_document_get_node(c->doc, id);
}

/* A string value: a scalar that is not null and holds no NUL. */
static bool scalar_text(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE && !is_null(n) && strlen(text_of(n)) == n->data.scalar.length;
}

/* 1..max printable characters without spaces */
static bool word(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (!n || n > max)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

/* A key of a map: a scalar. Its text, or NULL after an error. */
static const char *key_text(struct ctx *c, const yaml_node_t *k, int *rc)
{
	char d[256];
	if (k->type != YAML_SCALAR_NODE || (is_plain(k) && !k->data.scalar.length) ||
	    strlen(text_of(k)) != k->data.scalar.length) {
		*rc = FAIL(c, k, "a key must be a name, not %s", describe(k, d, sizeof d));
		return NULL;
	}
	return text_of(k);
}

/* Walks a map of known keys: val[i] (and key[i]) for each one present, NULL for the others; an unknown key
 * or one given twice is an error. */
static int known_keys(struct ctx *c, const yaml_node_t *map, const char *const *known, size_t n_known,
		      yaml_node_t **key, yaml_node_t **val)
{
	for (size_t i = 0; i < n_known; i++)
		key[i] = val[i] = NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node(c, p->key), *v = node(c, p->value);
		int rc = 0;
		const char *name = key_text(c, k, &rc);
		if (!name)
			return rc;
		size_t i = 0;
		while (i < n_known && strcmp(name, known[i]))
			i++;
		char q[200];
		if (i == n_known) {
			char list[256];
			size_t o = 0;
			for (size_t j = 0; j < n_known; j++)
				o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", j ? ", " : "", known[j]);
			return FAIL(c, k, "unknown key %s (known: %s)", quote(name, strlen(name), q, sizeof q), list);
		}
		if (key[i])
			return FAIL(c, k, "duplicate key %s (first at %zu:%zu)", quote(name, strlen(name), q, sizeof q),
				    key[i]->start_mark.line + 1, key[i]->start_mark.column + 1);
		key[i] = k;
		val[i] = v;
	}
	return 0;
}

/* A key met before in a map whose keys are names of the file's (labels, profiles). */
static int check_dup(struct ctx *c, const yaml_node_t *map, const yaml_node_pair_t *upto, const yaml_node_t *k,
		     const char *what)
{
	for (const yaml_node_pair_t *p = map->data.mapping.pairs.start; p < upto; p++) {
		const yaml_node_t *o = node(c, p->key);
		if (o->data.scalar.length == k->data.scalar.length && !memcmp(text_of(o), text_of(k), k->data.scalar.length)) {
			char q[200];
			return FAIL(c, k, "duplicate %s %s (first at %zu:%zu)", what,
				    quote(text_of(k), k->data.scalar.length, q, sizeof q), o->start_mark.line + 1,
				    o->start_mark.column + 1);
		}
	}
	return 0;
}

static int get_bool(struct ctx *c, const yaml_node_t *v, const char *key, bool *out)
{
	if (is_plain(v)) {
		const char *s = text_of(v);
		if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) {
			*out = true;
			return 0;
		}
		if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) {
			*out = false;
			return 0;
		}
		static const char *const yaml11[] = { "y", "yes", "n", "no", "on", "off" };
		for (size_t i = 0; i < GS_ARRAY_LEN(yaml11); i++)
			if (!strcasecmp(s, yaml11[i]))
				return FAIL(c, v, "\"%s\" must be true or false, not \"%s\" (YAML 1.1's yes/no/on/off are "
					    "not taken: they read differently from one parser to the next)", key, s);
	}
	char d[256];
	return FAIL(c, v, "\"%s\" must be true or false, not %s%s", key, describe_typed(v, d, sizeof d),
		    v->type == YAML_SCALAR_NODE && !is_plain(v) ? " (write it without quotes)" : "");
}

/* A whole decimal number 0..max in a plain scalar; what names it in messages. */
static int get_uint(struct ctx *c, const yaml_node_t *v, const char *what, const char *range, unsigned max,
		    unsigned *out)
{
	char d[256];
	if (!is_plain(v) || !v->data.scalar.length)
		return FAIL(c, v, "%s must be a whole number %s, not %s%s", what, range, describe_typed(v, d, sizeof d),
			    v->type == YAML_SCALAR_NODE && !is_plain(v) ? " (write it without quotes)" : "");
	const char *s = text_of(v);
	bool neg = *s == '-';
	const char *digits = s + neg;
	unsigned long long x;
	int rc = gs_parse_uint(digits, 0xffffffffULL, &x);
	if (rc == -EINVAL || (digits[0] == '0' && digits[1]))
		return FAIL(c, v, "%s must be a whole number %s, not %s", what, range, describe(v, d, sizeof d));
	if (neg)
		return FAIL(c, v, "%s must be %s, not %s", what, range, s);
	if (rc || x > max)
		return FAIL(c, v, "%s must be at most %u, not %s", what, max, s);
	*out = (unsigned)x;
	return 0;
}

/* A string value into buf (cap bytes with the NUL), checked by ok; expect says what would be right. */
static int get_str(struct ctx *c, const yaml_node_t *v, const char *key, char *buf, size_t cap,
		   bool (*ok)(const char *), const char *expect)
{
	char d[256];
	if (!scalar_text(v) || v->data.scalar.length >= cap || (ok && !ok(text_of(v))))
		return FAIL(c, v, "\"%s\" must be %s, not %s", key, expect, describe(v, d, sizeof d));
	memcpy(buf, text_of(v), v->data.scalar.length + 1);
	return 0;
}

static bool ok_word31(const char *s)
{
	return word(s, 31);
}

static bool ok_label(const char *s)
{
	return word(s, 63);
}

/* A user name as Debian, LDAP and SSSD spell them, or a uid */
static bool ok_user(const char *s)
{
	size_t n = strlen(s);
	if (!n || n > 63 || *s == '-')
		return false;
	unsigned long long uid;
	if (*s >= '0' && *s <= '9' && gs_parse_uint(s, 0xfffffffeULL, &uid) == 0)
		return s[0] != '0' || !s[1];
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];
		bool okc = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
			   ch == '.' || ch == '-' || ch == '@' || (ch == '$' && i == n - 1);
		if (!okc)
			return false;
	}
	/* all digits but not a uid (too large, leading zero) */
	return strspn(s, "0123456789") != n;
}

static bool ok_cgroup(const char *s)
{
	if (*s != '/')
		return false;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7f)
			return false;
	/* no "." or ".." component, no empty one but the root's */
	for (const char *p = s + 1; *p;) {
		size_t n = strcspn(p, "/");
		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.') || (n == 0 && p[0] == '/'))
			return false;
		p += n;
		if (*p == '/')
			p++;
	}
	return true;
}

static int parse_filter(struct ctx *c, const yaml_node_t *v, struct gs_migconf_spec *spec)
{
	char d[256];
	const char *s = scalar_text(v) ? text_of(v) : "";
	size_t n = strlen(s);
	bool hex = n > 2 && n <= 10 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && strspn(s + 2, "0123456789abcdefABCDEF") == n - 2;
	if (!hex)
		return FAIL(c, v, "\"device-filter\" must be a PCI ID in hex, the device ID and NVIDIA's vendor ID 10DE, "
			    "like \"0x20B010DE\", not %s", describe(v, d, sizeof d));
	uint32_t id = (uint32_t)strtoul(s + 2, NULL, 16);
	if (id <= 0xffff)
		return FAIL(c, v, "\"device-filter\" must end in NVIDIA's vendor ID 10DE after the device ID, like "
			    "\"0x%04X10DE\", not %s", id, describe(v, d, sizeof d));
	if ((id & 0xffff) != 0x10de)
		return FAIL(c, v, "\"device-filter\" must end in NVIDIA's vendor ID 10DE, like \"0x20B010DE\", not %s",
			    describe(v, d, sizeof d));
	for (size_t i = 0; i < spec->n_filters; i++)
		if (spec->filters[i] == id)
			return FAIL(c, v, "\"device-filter\" lists %s twice", describe(v, d, sizeof d));
	if (spec->n_filters == GS_MIGCONF_MAX_FILTERS)
		return FAIL(c, v, "\"device-filter\" has too many entries (at most %d)", GS_MIGCONF_MAX_FILTERS);
	spec->filters[spec->n_filters++] = id;
	return 0;
}

static int parse_filters(struct ctx *c, const yaml_node_t *v, struct gs_migconf_spec *spec)
{
	if (v->type != YAML_SEQUENCE_NODE)
		return parse_filter(c, v, spec);
	if (v->data.sequence.items.start == v->data.sequence.items.top)
		return FAIL(c, v, "\"device-filter\" must list at least one PCI ID like \"0x20B010DE\" (or be left out: "
			    "every GPU)");
	for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
		int rc = parse_filter(c, node(c, *i), spec);
		if (rc)
			return rc;
	}
	return 0;
}

static int parse_devices(struct ctx *c, const yaml_node_t *v, struct gs_migconf_spec *spec)
{
	char d[256];
	if (v->type == YAML_SCALAR_NODE && !strcmp(text_of(v), "all") && v->data.scalar.length == 3) {
		spec->all_devices = true;
		return 0;
	}
	if (v->type != YAML_SEQUENCE_NODE)
		return FAIL(c, v, "\"devices\" must be all or a list of GPU indexes like [0, 1], not %s",
			    describe(v, d, sizeof d));
	if (v->data.sequence.items.start == v->data.sequence.items.top)
		return FAIL(c, v, "\"devices\" must list at least one GPU index like [0, 1], or be all");
	for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
		const yaml_node_t *e = node(c, *i);
		unsigned idx;
		int rc = get_uint(c, e, "a GPU index", "0..63", GS_MIGCONF_MAX_DEVICES - 1, &idx);
		if (rc)
			return rc;
		for (const yaml_node_item_t *j = v->data.sequence.items.start; j < i; j++)
			if (spec->devices[j - v->data.sequence.items.start] == idx) {
				const yaml_node_t *o = node(c, *j);
				return FAIL(c, e, "GPU %u is listed twice in \"devices\" (first at %zu:%zu)", idx,
					    o->start_mark.line + 1, o->start_mark.column + 1);
			}
		if (spec->n_devices == GS_MIGCONF_MAX_DEVICES)
			return FAIL(c, e, "\"devices\" has too many entries (at most %d)", GS_MIGCONF_MAX_DEVICES);
		spec->devices[spec->n_devices++] = idx;
	}
	return 0;
}

/* A decimal number without a leading zero (so above 0), then suffix: what follows, or NULL. */
static const char *number_then(const char *s, const char *suffix, unsigned *out)
{
	size_t n = strspn(s, "0123456789");
	if (!n || n > 4 || s[0] == '0' || strncmp(s + n, suffix, strlen(suffix)))
		return NULL;
	*out = (unsigned)strtoul(s, NULL, 10);
	return s + n + strlen(suffix);
}

/* +attr[,attr...] or -attr[,...] as mig-parted writes them: letters, digits
 * and dots, starting with a letter, not ending with a dot, none twice. */
static bool attributes_syntax(const char *s)
{
	if (*s != '+' && *s != '-')
		return false;
	for (const char *a = ++s;;) {
		size_t n = strcspn(a, ",");
		if (!n || !((*a >= 'a' && *a <= 'z') || (*a >= 'A' && *a <= 'Z')) || a[n - 1] == '.')
			return false;
		for (size_t i = 0; i < n; i++)
			if (!((a[i] >= 'a' && a[i] <= 'z') || (a[i] >= 'A' && a[i] <= 'Z') || (a[i] >= '0' && a[i] <= '9') ||
			      a[i] == '.'))
				return false;
		for (const char *b = s; b < a; b += strcspn(b, ",") + 1)
			if (strcspn(b, ",") == n && !strncmp(a, b, n))
				return false;
		if (!a[n])
			return true;
		a += n + 1;
	}
}

/* mig-parted's profile names: a GPU instance profile <g>g.<N>gb, or a compute
 * instance profile <c>c.<g>g.<N>gb in one, either with attributes (+me).
 * *c: 0 for a GPU instance profile; *gi: where its GPU instance profile starts. */
static bool profile_syntax(const char *s, unsigned *c, const char **gi)
{
	unsigned n;
	const char *p = number_then(s, "c.", &n);
	*c = p ? n : 0;
	*gi = p ? p : s;
	if (!(p = number_then(*gi, "g.", &n)) || !(p = number_then(p, "gb", &n)))
		return false;
	return !*p || attributes_syntax(p);
}

static int parse_profiles(struct ctx *c, const yaml_node_t *v, struct gs_migconf_spec *spec)
{
	char d[256], q[200];
	if (v->type != YAML_MAPPING_NODE)
		return FAIL(c, v, "\"mig-devices\" must be a map of profile name to count like {\"1g.5gb\": 2} ({} for "
			    "none), not %s", describe(v, d, sizeof d));
	for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node(c, p->key), *val = node(c, p->value);
		int rc = 0;
		const char *name = key_text(c, k, &rc);
		if (!name)
			return rc;
		if (!word(name, 31))
			return FAIL(c, k, "a profile name must be 1 to 31 characters without spaces like \"1g.5gb\", not %s",
				    describe(k, d, sizeof d));
		unsigned ci_slices;
		const char *gi;
		if (!profile_syntax(name, &ci_slices, &gi))
			return FAIL(c, k, "a profile name must be a GPU instance profile <g>g.<N>gb like \"3g.20gb\" or a "
				    "compute instance profile <c>c.<g>g.<N>gb like \"1c.3g.20gb\" (either may end in "
				    "attributes like +me), not %s", describe(k, d, sizeof d));
		if ((rc = check_dup(c, v, p, k, "profile")))
			return rc;
		if (spec->n_profiles == GS_MIGCONF_MAX_PROFILES)
			return FAIL(c, k, "\"mig-devices\" has too many profiles (at most %d)", GS_MIGCONF_MAX_PROFILES);
		struct gs_migconf_profile *pr = &spec->profiles[spec->n_profiles];
		char what[96];
		snprintf(what, sizeof what, "the count of %s", quote(name, strlen(name), q, sizeof q));
		if ((rc = get_uint(c, val, what, "0 or more", GS_MIGCONF_MAX_COUNT, &pr->count)))
			return rc;
		snprintf(pr->name, sizeof pr->name, "%s", name);
		snprintf(pr->gi, sizeof pr->gi, "%s", gi);
		pr->c = ci_slices;
		pr->at = pos_of(k);
		spec->n_profiles++;
	}
	return 0;
}

/* users or default-for: a list of user names or uids */
static int parse_user_list(struct ctx *c, const yaml_node_t *v, const char *key, char (*users)[64], unsigned *n)
{
	char d[256];
	if (v->type != YAML_SEQUENCE_NODE)
		return FAIL(c, v, "\"%s\" must be %sa list of user names or uids like [alice, 1001], not %s", key,
			    strcmp(key, "users") ? "" : "\"*\" (everyone) or ", describe(v, d, sizeof d));
	if (v->data.sequence.items.start == v->data.sequence.items.top)
		return FAIL(c, v, "\"%s\" must list at least one user%s", key,
			    strcmp(key, "users") ? " (or be left out)" : " (or be \"*\": everyone)");
	for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
		const yaml_node_t *e = node(c, *i);
		if (scalar_text(e) && !strcmp(text_of(e), "*"))
			return FAIL(c, e, "\"*\" stands alone: write %s: \"*\" for everyone", key);
		if (!scalar_text(e) || !ok_user(text_of(e)))
			return FAIL(c, e, "an entry of \"%s\" must be a user name or a uid (0..4294967294), not %s", key,
				    describe(e, d, sizeof d));
		for (unsigned j = 0; j < *n; j++)
			if (!strcmp(users[j], text_of(e)))
				return FAIL(c, e, "\"%s\" lists %s twice", key, describe(e, d, sizeof d));
		if (*n == GS_MIGCONF_MAX_USERS)
			return FAIL(c, e, "\"%s\" has too many entries (at most %d)", key, GS_MIGCONF_MAX_USERS);
		snprintf(users[(*n)++], 64, "%s", text_of(e));
	}
	return 0;
}

static bool ok_sm_mode(const char *s)
{
	return gs_store_sm_mode_parse(s) >= 0;
}

static bool ok_priority(const char *s)
{
	return gs_store_priority_parse(s) >= 0;
}

/* weight: 1 to 100, as create_slice's -weight; 0 is refused as -weight 0
 * is (the default, where the key is left out, is 1). */
static int get_weight(struct ctx *c, const yaml_node_t *v, unsigned *out)
{
	static const char range[] = "1 to 100 (its part of the SMs it runs on beside other busy slices; 1: as every slice)";
	int rc = get_uint(c, v, "\"weight\"", range, GS_SM_MAX_WEIGHT, out);
	if (!rc && !*out)
		return FAIL(c, v, "\"weight\" must be %s, not 0", range);
	return rc;
}

/* timeslice: 1 to 1000 ms, or off, as create_slice's -timeslice; 0 is
 * refused as -timeslice 0 is: it reads as turns of no time at all rather
 * than as no turns, so the file says off (or leaves the key out). off may be
 * quoted: a YAML 1.1 reader takes a bare off for false, this one does not. */
static int get_timeslice(struct ctx *c, const yaml_node_t *v, unsigned *out)
{
	static const char range[] = "1 to 1000 (ms, the turn its programs take) or off (they run at once)";
	if (scalar_text(v) && !strcmp(text_of(v), "off")) {
		*out = 0;
		return 0;
	}
	int rc = get_uint(c, v, "\"timeslice\"", range, GS_TIMESLICE_MAX_MS, out);
	if (!rc && !*out)
		return FAIL(c, v, "\"timeslice\" must be %s, not 0: for programs that run at once write off, or leave "
			    "timeslice out", range);
	return rc;
}

/* oom-wait: 0 to 86400 seconds, as create_slice's -oom-wait; 0 (the
 * default) is an allocation past the limit refused at once. Not a duration
 * with a unit: the key says seconds, as set_slice_oom_wait takes them. */
static int get_oom_wait(struct ctx *c, const yaml_node_t *v, unsigned *out)
{
	_Static_assert(GS_OOM_WAIT_MAX_S == 86400, "the range below says 86400");
	static const char range[] = "0 to 86400 (the seconds an allocation past the slice's memory limit waits for memory "
				    "its programs free; 0: refused at once)";
	return get_uint(c, v, "\"oom-wait\"", range, GS_OOM_WAIT_MAX_S, out);
}

/* A slice's SM sharing (docs/control.md, "SM sharing"), the keys that go
 * together as create_slice's options do: lend and borrow are a shared
 * slice's switches (an isolated one does neither, a best-effort one always
 * both), a floor is a best-effort slice's; a weight and a time slice go with
 * any mode. The slice layer checks the values against the slice (a floor at
 * most its SMs) when the config is applied. */
static int parse_sm_policy(struct ctx *c, yaml_node_t **key, yaml_node_t **val, struct gs_migconf_slice *sl)
{
	char word_buf[32];
	int rc;
	struct gs_sm_policy *sp = &sl->sm_policy;
	if (val[S_SHARING]) {
		if ((rc = get_str(c, val[S_SHARING], "sharing", word_buf, sizeof word_buf, ok_sm_mode,
				  "shared, isolated or best-effort")))
			return rc;
		sp->mode = (uint8_t)gs_store_sm_mode_parse(word_buf);
		sl->sharing_at = pos_of(val[S_SHARING]);
	}
	static const char *const switches[] = { [S_LEND] = "lend", [S_BORROW] = "borrow" };
	for (int k = S_LEND; k <= S_BORROW; k++) {
		bool on;
		if (!val[k])
			continue;
		if ((rc = get_bool(c, val[k], switches[k], &on)))
			return rc;
		if (sp->mode == GS_SM_ISOLATED && on)
			return FAIL(c, key[k], "an isolated slice neither lends nor borrows SMs: leave \"%s: true\" out, or "
				    "make it \"sharing: shared\" (it lends and borrows)", switches[k]);
		if (sp->mode == GS_SM_BEST_EFFORT && !on)
			return FAIL(c, key[k], "a best-effort slice always lends and borrows SMs: \"%s: false\" goes with "
				    "\"sharing: shared\" (or isolated, which does neither)", switches[k]);
		if (k == S_LEND)
			sp->no_lend = !on;
		else
			sp->no_borrow = !on;
	}
	if (val[S_PRIORITY]) {
		if ((rc = get_str(c, val[S_PRIORITY], "priority", word_buf, sizeof word_buf, ok_priority,
				  "critical, normal or low")))
			return rc;
		sp->priority = (uint8_t)gs_store_priority_parse(word_buf);
	}
	if (val[S_FLOOR]) {
		if (sp->mode != GS_SM_BEST_EFFORT)
			return FAIL(c, key[S_FLOOR], "\"floor\" is a best-effort slice's (the SMs it keeps beside a busy "
				    "critical slice): add \"sharing: best-effort\", or leave floor out");
		if ((rc = get_uint(c, val[S_FLOOR], "\"floor\"", "0 or more (SMs; 0: a quarter of the slice's)",
				   GS_MIGCONF_MAX_FLOOR, &sp->floor_sm)))
			return rc;
		sl->floor_at = pos_of(val[S_FLOOR]);
	}
	if (val[S_WEIGHT] && (rc = get_weight(c, val[S_WEIGHT], &sp->weight)))
		return rc;
	if (val[S_TIMESLICE] && (rc = get_timeslice(c, val[S_TIMESLICE], &sp->timeslice_ms)))
		return rc;
	return 0;
}

static int parse_slice(struct ctx *c, const yaml_node_t *m, struct gs_migconf_spec *spec, struct gs_migconf_slice *sl)
{
	char d[256];
	yaml_node_t *key[N_SLICE_KEYS], *val[N_SLICE_KEYS];
	if (m->type != YAML_MAPPING_NODE)
		return FAIL(c, m, "an entry of \"gpushare-slices\" must be a map like {size: 64sm.24gb, users: [alice]}, not %s",
			    describe(m, d, sizeof d));
	int rc = known_keys(c, m, slice_keys, N_SLICE_KEYS, key, val);
	if (rc)
		return rc;
	memset(sl, 0, sizeof *sl);
	sl->at = pos_of(m);
	sl->everyone = true;
	if (!val[S_SIZE])
		return FAIL(c, m, "missing \"size\" in this slice (a gpushare size like 64sm.24gb or an NVIDIA profile like "
			    "3g.20gb)");
	if ((rc = get_str(c, val[S_SIZE], "size", sl->size, sizeof sl->size, ok_word31,
			  "a size like \"64sm.24gb\" or a profile name like \"3g.20gb\" (1 to 31 characters without spaces)")))
		return rc;
	sl->size_at = pos_of(val[S_SIZE]);
	if (val[S_NAME]) {
		if ((rc = get_str(c, val[S_NAME], "name", sl->name, sizeof sl->name, ok_word31,
				  "a name of 1 to 31 characters without spaces")))
			return rc;
		sl->name_at = pos_of(val[S_NAME]);
		for (size_t i = 0; i < (size_t)(sl - spec->slices); i++)
			if (!strcmp(spec->slices[i].name, sl->name))
				return FAIL(c, val[S_NAME], "two slices are named %s (the first at %u:%u)",
					    describe(val[S_NAME], d, sizeof d), spec->slices[i].name_at.line,
					    spec->slices[i].name_at.col);
	}
	if (val[S_USERS]) {
		sl->users_at = pos_of(val[S_USERS]);
		const yaml_node_t *u = val[S_USERS];
		if (u->type == YAML_SEQUENCE_NODE) {
			sl->everyone = false;
			if ((rc = parse_user_list(c, u, "users", sl->users, &sl->n_users)))
				return rc;
		} else if (!scalar_text(u) || strcmp(text_of(u), "*")) {
			return FAIL(c, u, "\"users\" must be \"*\" (everyone) or a list of user names or uids like [alice, "
				    "1001], not %s", describe(u, d, sizeof d));
		}
	}
	if (val[S_REFUSE] && (rc = get_bool(c, val[S_REFUSE], "refuse", &sl->refuse)))
		return rc;
	if (val[S_OVERCOMMIT] && (rc = get_bool(c, val[S_OVERCOMMIT], "overcommit", &sl->overcommit)))
		return rc;
	if (val[S_GUARANTEE]) {
		const yaml_node_t *g = val[S_GUARANTEE];
		if (!sl->overcommit)
			return FAIL(c, key[S_GUARANTEE], "\"guarantee\" needs \"overcommit: true\" in the same slice (a slice "
				    "that does not over-commit has all its memory)");
		uint64_t b = 0;
		if ((rc = get_str(c, g, "guarantee", sl->guarantee, sizeof sl->guarantee, NULL, "a size like \"8G\"")))
			return rc;
		if (gs_parse_size(sl->guarantee, &b) || !b)
			return FAIL(c, g, "\"guarantee\" must be a size above 0 like \"8G\" or \"512M\", not %s",
				    describe(g, d, sizeof d));
		sl->guarantee_bytes = b;
		sl->guarantee_at = pos_of(g);
	}
	if (val[S_DEFAULT_FOR]) {
		if ((rc = parse_user_list(c, val[S_DEFAULT_FOR], "default-for", sl->default_for, &sl->n_default)))
			return rc;
		yaml_node_item_t *items = val[S_DEFAULT_FOR]->data.sequence.items.start;
		for (unsigned i = 0; i < sl->n_default; i++) {
			const yaml_node_t *e = node(c, items[i]);
			bool allowed = sl->everyone;
			for (unsigned j = 0; j < sl->n_users && !allowed; j++)
				allowed = !strcmp(sl->users[j], sl->default_for[i]);
			if (!allowed)
				return FAIL(c, e, "%s in \"default-for\" is not one of this slice's \"users\"",
					    describe(e, d, sizeof d));
			for (size_t s = 0; s < (size_t)(sl - spec->slices); s++)
				for (unsigned j = 0; j < spec->slices[s].n_default; j++)
					if (!strcmp(spec->slices[s].default_for[j], sl->default_for[i]))
						return FAIL(c, e, "%s is in \"default-for\" of two slices (the first at %u:%u)",
							    describe(e, d, sizeof d), spec->slices[s].at.line,
							    spec->slices[s].at.col);
		}
	}
	if (val[S_CGROUP]) {
		if ((rc = get_str(c, val[S_CGROUP], "cgroup", sl->cgroup, sizeof sl->cgroup, ok_cgroup,
				  "an absolute path like \"/gpushare.slice/train\" (no . or .. in it, below 192 characters)")))
			return rc;
		sl->cgroup_at = pos_of(val[S_CGROUP]);
	}
	if (val[S_OOM_WAIT] && (rc = get_oom_wait(c, val[S_OOM_WAIT], &sl->oom_wait_s)))
		return rc;
	if (val[S_BORROW_MEMORY]) {
		if ((rc = get_bool(c, val[S_BORROW_MEMORY], "borrow-memory", &sl->borrow_mem)))
			return rc;
		if (sl->borrow_mem && !sl->overcommit)
			return FAIL(c, key[S_BORROW_MEMORY], "\"borrow-memory\" needs \"overcommit: true\" in the same slice (a "
				    "slice that does not over-commit is guaranteed all its memory: it has nothing to borrow for)");
	}
	if ((rc = parse_sm_policy(c, key, val, sl)))
		return rc;
	if (sl->borrow_mem && sl->sm_policy.priority == GS_PRIO_CRITICAL)
		return FAIL(c, key[S_BORROW_MEMORY], "\"borrow-memory\" goes with no \"priority: critical\": a borrower's "
			    "programs are suspended when an owner needs its guarantee back, and the owner's promise comes first");
	return 0;
}

static int parse_spec(struct ctx *c, const yaml_node_t *m, struct gs_migconf_spec *spec)
{
	char d[256];
	yaml_node_t *key[N_SPEC_KEYS], *val[N_SPEC_KEYS];
	if (m->type != YAML_MAPPING_NODE)
		return FAIL(c, m, "a device spec must be a map of device-filter, devices, mig-enabled, mig-devices, "
			    "gpushare-slices, not %s", describe(m, d, sizeof d));
	int rc = known_keys(c, m, spec_keys, N_SPEC_KEYS, key, val);
	if (rc)
		return rc;
	memset(spec, 0, offsetof(struct gs_migconf_spec, slices));
	spec->n_slices = 0;
	spec->at = pos_of(m);
	if (val[K_FILTER] && (rc = parse_filters(c, val[K_FILTER], spec)))
		return rc;
	if (!val[K_DEVICES])
		return FAIL(c, m, "missing \"devices\" in this device spec (all, or a list of GPU indexes like [0, 1])");
	if ((rc = parse_devices(c, val[K_DEVICES], spec)))
		return rc;
	if (!val[K_MIG_ENABLED])
		return FAIL(c, m, "missing \"mig-enabled\" in this device spec (true or false)");
	if ((rc = get_bool(c, val[K_MIG_ENABLED], "mig-enabled", &spec->mig_enabled)))
		return rc;
	if (val[K_MIG_DEVICES]) {
		if ((rc = parse_profiles(c, val[K_MIG_DEVICES], spec)))
			return rc;
		/* mig-parted takes an empty map with false */
		if (!spec->mig_enabled && spec->n_profiles)
			return FAIL(c, key[K_MIG_DEVICES], "\"mig-devices\" is not allowed where \"mig-enabled\" is false "
				    "(at %u:%u): set it true, or leave mig-devices out", pos_of(val[K_MIG_ENABLED]).line,
				    pos_of(val[K_MIG_ENABLED]).col);
	} else if (spec->mig_enabled) {
		return FAIL(c, m, "missing \"mig-devices\" in this device spec: it is required where \"mig-enabled\" is "
			    "true (write mig-devices: {} for none)");
	}
	if (val[K_SLICES]) {
		const yaml_node_t *v = val[K_SLICES];
		if (!spec->mig_enabled)
			return FAIL(c, key[K_SLICES], "\"gpushare-slices\" is only allowed where \"mig-enabled\" is true (at "
				    "%u:%u it is false)", pos_of(val[K_MIG_ENABLED]).line, pos_of(val[K_MIG_ENABLED]).col);
		if (v->type != YAML_SEQUENCE_NODE)
			return FAIL(c, v, "\"gpushare-slices\" must be a list of slices like [{size: 64sm.24gb}], not %s",
				    describe(v, d, sizeof d));
		for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
			if (spec->n_slices == GS_MIGCONF_MAX_SLICES)
				return FAIL(c, node(c, *i), "\"gpushare-slices\" has too many slices (at most %d)",
					    GS_MIGCONF_MAX_SLICES);
			if ((rc = parse_slice(c, node(c, *i), spec, &spec->slices[spec->n_slices])))
				return rc;
			spec->n_slices++;
		}
	}
	return 0;
}

static int parse_configs(struct ctx *c, const yaml_node_t *v, const char *label, struct gs_migconf *out)
{
	char d[256], q[200];
	if (v->type != YAML_MAPPING_NODE)
		return FAIL(c, v, "\"mig-configs\" must be a map of config label to a list of device specs, not %s",
			    describe(v, d, sizeof d));
	if (v->data.mapping.pairs.start == v->data.mapping.pairs.top)
		return FAIL(c, v, "\"mig-configs\" holds no config (expected at least one label: a list of device specs)");
	struct gs_migconf_spec *scratch = malloc(sizeof *scratch);
	if (!scratch)
		return gs_fail(c->err, c->errlen, -ENOMEM, "%s: out of memory", c->file);
	int rc = 0;
	for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top && !rc; p++) {
		yaml_node_t *k = node(c, p->key), *list = node(c, p->value);
		const char *name = key_text(c, k, &rc);
		if (!name)
			break;
		if (!ok_label(name)) {
			rc = FAIL(c, k, "a config label must be 1 to 63 characters without spaces, not %s",
				  describe(k, d, sizeof d));
			break;
		}
		if ((rc = check_dup(c, v, p, k, "config")))
			break;
		if (out->n_labels == GS_MIGCONF_MAX_LABELS) {
			rc = FAIL(c, k, "too many configs in \"mig-configs\" (at most %d)", GS_MIGCONF_MAX_LABELS);
			break;
		}
		snprintf(out->labels[out->n_labels++], sizeof out->labels[0], "%s", name);
		bool keep = label && !strcmp(label, name);
		if (list->type != YAML_SEQUENCE_NODE) {
			rc = FAIL(c, list, "config %s must be a list of device specs (\"- devices: all\" ...), not %s",
				  quote(name, strlen(name), q, sizeof q), describe(list, d, sizeof d));
			break;
		}
		if (list->data.sequence.items.start == list->data.sequence.items.top) {
			rc = FAIL(c, list, "config %s has no device spec (expected at least one \"- devices: ...\")",
				  quote(name, strlen(name), q, sizeof q));
			break;
		}
		size_t n = 0;
		for (yaml_node_item_t *i = list->data.sequence.items.start; i < list->data.sequence.items.top; i++, n++) {
			if (n == GS_MIGCONF_MAX_SPECS) {
				rc = FAIL(c, node(c, *i), "config %s has too many device specs (at most %d)",
					  quote(name, strlen(name), q, sizeof q), GS_MIGCONF_MAX_SPECS);
				break;
			}
			if ((rc = parse_spec(c, node(c, *i), keep ? &out->specs[n] : scratch)))
				break;
		}
		if (keep && !rc) {
			out->n_specs = n;
			snprintf(out->label, sizeof out->label, "%s", name);
		}
	}
	free(scratch);
	return rc;
}

static int parse_root(struct ctx *c, const char *label, struct gs_migconf *out)
{
	char d[256];
	yaml_node_t *root = yaml_document_get_root_node(c->doc);
	if (!root || is_null(root))
		return fail_mark(c, 0, 0, "the file is empty (expected \"version: v1\" and \"mig-configs:\")");
	if (root->type != YAML_MAPPING_NODE)
		return FAIL(c, root, "the file must be a map of \"version: v1\" and \"mig-configs:\", not %s",
			    describe(root, d, sizeof d));
	yaml_node_t *key[2], *val[2];
	int rc = known_keys(c, root, top_keys, 2, key, val);
	if (rc)
		return rc;
	if (!val[0])
		return FAIL(c, root, "missing \"version\" (write version: v1 first)");
	if (!scalar_text(val[0]) || strcmp(text_of(val[0]), "v1"))
		return FAIL(c, val[0], "\"version\" must be v1, not %s", describe(val[0], d, sizeof d));
	if (!val[1])
		return FAIL(c, root, "missing \"mig-configs\" (a map of config label to a list of device specs)");
	return parse_configs(c, val[1], label, out);
}

/* libyaml's error as FILE:LINE:COL: ... */
static int syntax_error(struct ctx *c, const yaml_parser_t *p, const char *text, size_t len)
{
	if (p->error == YAML_MEMORY_ERROR)
		return gs_fail(c->err, c->errlen, -ENOMEM, "%s: out of memory", c->file);
	const char *problem = p->problem ? p->problem : "malformed YAML";
	if (p->error == YAML_READER_ERROR) {
		/* a reader error has an offset in bytes, not a mark */
		size_t line = 0, col = 0, off = p->problem_offset < len ? p->problem_offset : len;
		/* a bad trailing byte: the character it breaks starts at its leading byte */
		if (strstr(problem, "trailing")) {
			while (off > 0 && ((unsigned char)text[off - 1] & 0xc0) == 0x80)
				off--;
			off -= off > 0;
		}
		for (size_t i = 0; i < off; i++) {
			if (text[i] == '\n')
				line++, col = 0;
			else if (((unsigned char)text[i] & 0xc0) != 0x80)
				col++;
		}
		if (p->problem_value != -1)
			return fail_mark(c, line, col, "not YAML text: %s (byte 0x%02X)", problem, (unsigned)p->problem_value);
		return fail_mark(c, line, col, "not YAML text: %s", problem);
	}
	bool alias = p->context && strstr(p->context, "alias");
	if (p->context)
		return fail_mark(c, p->problem_mark.line, p->problem_mark.column, "YAML syntax: %s (%s at %zu:%zu)%s",
				 problem, p->context, p->context_mark.line + 1, p->context_mark.column + 1,
				 alias ? "; a lone * must be quoted: users: \"*\"" : "");
	return fail_mark(c, p->problem_mark.line, p->problem_mark.column, "YAML syntax: %s", problem);
}

/* The first pass: syntax, and what the format has no use for. */
static int check_events(struct ctx *c, const char *text, size_t len)
{
	yaml_parser_t p;
	if (!yaml_parser_initialize(&p))
		return gs_fail(c->err, c->errlen, -ENOMEM, "%s: out of memory", c->file);
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	int rc = 0, docs = 0, depth = 0;
	char q[200];
	for (bool done = false; !done && !rc;) {
		yaml_event_t ev;
		if (!yaml_parser_parse(&p, &ev)) {
			rc = syntax_error(c, &p, text, len);
			break;
		}
		const yaml_mark_t *m = &ev.start_mark;
		const yaml_char_t *anchor = NULL, *tag = NULL;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT: done = true; break;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1)
				rc = fail_mark(c, m->line, m->column,
					       "a second YAML document: the file must hold one (remove this \"---\" or what "
					       "follows it)");
			break;
		case YAML_ALIAS_EVENT:
			rc = fail_mark(c, m->line, m->column,
				       "aliases (*%s) are not allowed: write the value out (and everyone as users: \"*\")",
				       (const char *)ev.data.alias.anchor);
			break;
		case YAML_SCALAR_EVENT:
			anchor = ev.data.scalar.anchor;
			tag = ev.data.scalar.tag;
			break;
		case YAML_SEQUENCE_START_EVENT:
			anchor = ev.data.sequence_start.anchor;
			tag = ev.data.sequence_start.tag;
			depth++;
			break;
		case YAML_MAPPING_START_EVENT:
			anchor = ev.data.mapping_start.anchor;
			tag = ev.data.mapping_start.tag;
			depth++;
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT: depth--; break;
		default: break;
		}
		if (!rc && anchor)
			rc = fail_mark(c, m->line, m->column, "anchors (&%s) are not allowed: write the value out",
				       (const char *)anchor);
		else if (!rc && tag) {
			const char *t = (const char *)tag, *std = "tag:yaml.org,2002:";
			char shown[160];
			snprintf(shown, sizeof shown, "%s%s", strncmp(t, std, strlen(std)) ? "" : "!!",
				 strncmp(t, std, strlen(std)) ? t : t + strlen(std));
			rc = fail_mark(c, m->line, m->column, "tags (%s) are not allowed: write the value alone",
				       quote(shown, strlen(shown), q, sizeof q));
		}
		else if (!rc && depth > MAX_DEPTH)
			rc = fail_mark(c, m->line, m->column, "nested too deep (more than %d levels)", MAX_DEPTH);
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	return rc;
}

int gs_migconf_parse(const char *text, size_t len, const char *file, const char *label, struct gs_migconf *out,
		     char *err, size_t errlen)
{
	struct ctx c = { file ? file : "config", err, errlen, NULL };
	if (err && errlen)
		err[0] = '\0';
	memset(out, 0, sizeof *out);
	snprintf(out->file, sizeof out->file, "%s", c.file);
	if (!text)
		return gs_fail(err, errlen, -EINVAL, "%s: no text", c.file);
	int rc = check_events(&c, text, len);
	if (rc)
		return rc;
	yaml_parser_t p;
	yaml_document_t doc;
	if (!yaml_parser_initialize(&p))
		return gs_fail(err, errlen, -ENOMEM, "%s: out of memory", c.file);
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	if (!yaml_parser_load(&p, &doc)) {
		rc = syntax_error(&c, &p, text, len);
		yaml_parser_delete(&p);
		return rc;
	}
	c.doc = &doc;
	rc = parse_root(&c, label, out);
	yaml_document_delete(&doc);
	yaml_parser_delete(&p);
	if (rc) {
		out->n_specs = 0;
		out->label[0] = '\0';
		return rc;
	}
	if (label && !out->label[0]) {
		if (!err || !errlen)
			return -ENOENT;
		size_t o = (size_t)snprintf(err, errlen, "%s: no config \"%s\" in the file (known: ", c.file, label);
		for (size_t i = 0; i < out->n_labels && o < errlen; i++)
			o += (size_t)snprintf(err + o, errlen - o, "%s%s", i ? ", " : "", out->labels[i]);
		if (o < errlen)
			snprintf(err + o, errlen - o, ")");
		return -ENOENT;
	}
	return 0;
}

int gs_migconf_load(const char *path, const char *label, struct gs_migconf *out, char *err, size_t errlen)
{
	char *text = NULL;
	size_t len = 0;
	/* one byte over the limit tells a file of exactly 1 MiB from a longer one */
	int rc = gs_file_read(path, GS_MIGCONF_MAX_FILE + 1, &text, &len);
	if (!rc && len > GS_MIGCONF_MAX_FILE)
		rc = -EFBIG;
	if (rc) {
		free(text);
		memset(out, 0, sizeof *out);
		snprintf(out->file, sizeof out->file, "%s", path);
		if (rc == -EFBIG)
			return gs_fail(err, errlen, rc, "%s: cannot read it: larger than 1 MiB", path);
		return gs_fail(err, errlen, rc, "%s: cannot read it: %s", path, strerror(-rc));
	}
	rc = gs_migconf_parse(text, len, path, label, out, err, errlen);
	free(text);
	return rc;
}
#endif /* GS_NO_YAML */
