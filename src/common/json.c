/* json.c: the bounded JSON reader (see json.h): recursive descent over
 * RFC 8259's grammar, nodes handed out in document order. */
#include "json.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct parser {
	struct gs_json *j;
	size_t pos;
	char *err;
	size_t errlen;
};

static int fail(struct parser *p, const char *what)
{
	return gs_fail(p->err, p->errlen, -EINVAL, "%s at byte %zu", what, p->pos);
}

static void skip_ws(struct parser *p)
{
	const char *t = p->j->text;
	while (p->pos < p->j->text_len && (t[p->pos] == ' ' || t[p->pos] == '\t' || t[p->pos] == '\n' || t[p->pos] == '\r'))
		p->pos++;
}

static int peek(const struct parser *p)
{
	return p->pos < p->j->text_len ? (unsigned char)p->j->text[p->pos] : -1;
}

static bool is_hex(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* A string from its opening quote: its span inside the quotes. */
static int scan_string(struct parser *p, size_t *start, size_t *len)
{
	const char *t = p->j->text;
	p->pos++; /* the quote */
	*start = p->pos;
	for (;;) {
		int c = peek(p);
		if (c < 0)
			return fail(p, "unterminated string");
		if (c == '"')
			break;
		if (c < 0x20)
			return fail(p, "control byte in a string");
		if (c == '\\') {
			p->pos++;
			c = peek(p);
			if (c == 'u') {
				for (int k = 1; k <= 4; k++)
					if (p->pos + k >= p->j->text_len || !is_hex((unsigned char)t[p->pos + k]))
						return fail(p, "bad \\u escape");
				p->pos += 4;
			} else if (c < 0 || !strchr("\"\\/bfnrt", c)) {
				return fail(p, "bad escape");
			}
		}
		p->pos++;
	}
	*len = p->pos - *start;
	p->pos++;
	return 0;
}

static int scan_number(struct parser *p)
{
	const char *t = p->j->text;
	size_t n = p->j->text_len;
	if (peek(p) == '-')
		p->pos++;
	if (peek(p) == '0')
		p->pos++;
	else if (peek(p) >= '1' && peek(p) <= '9')
		while (p->pos < n && t[p->pos] >= '0' && t[p->pos] <= '9')
			p->pos++;
	else
		return fail(p, "bad number");
	if (peek(p) == '.') {
		p->pos++;
		if (!(peek(p) >= '0' && peek(p) <= '9'))
			return fail(p, "bad fraction");
		while (p->pos < n && t[p->pos] >= '0' && t[p->pos] <= '9')
			p->pos++;
	}
	if (peek(p) == 'e' || peek(p) == 'E') {
		p->pos++;
		if (peek(p) == '+' || peek(p) == '-')
			p->pos++;
		if (!(peek(p) >= '0' && peek(p) <= '9'))
			return fail(p, "bad exponent");
		while (p->pos < n && t[p->pos] >= '0' && t[p->pos] <= '9')
			p->pos++;
	}
	return 0;
}

static int new_node(struct parser *p, unsigned type)
{
	struct gs_json *j = p->j;
	if (j->n == j->cap)
		return gs_fail(p->err, p->errlen, -E2BIG, "more than %zu values at byte %zu", j->cap, p->pos);
	struct gs_json_node *nd = &j->nodes[j->n];
	*nd = (struct gs_json_node){ .type = type, .next = -1, .child = -1, .start = p->pos };
	return (int)j->n++;
}

static int parse_value(struct parser *p, int depth, int *out);

/* The elements or members of an array or object, after its bracket. */
static int parse_children(struct parser *p, int depth, int parent, bool members)
{
	char close = members ? '}' : ']';
	int last = -1;
	p->pos++;
	skip_ws(p);
	if (peek(p) == close) {
		p->pos++;
		return 0;
	}
	for (;;) {
		size_t ks = 0, kl = 0;
		int rc, child;
		if (members) {
			if (peek(p) != '"')
				return fail(p, "expected a member's name");
			if ((rc = scan_string(p, &ks, &kl)))
				return rc;
			skip_ws(p);
			if (peek(p) != ':')
				return fail(p, "expected ':'");
			p->pos++;
		}
		if ((rc = parse_value(p, depth + 1, &child)))
			return rc;
		p->j->nodes[child].key_start = ks;
		p->j->nodes[child].key_len = kl;
		if (last < 0)
			p->j->nodes[parent].child = child;
		else
			p->j->nodes[last].next = child;
		last = child;
		skip_ws(p);
		if (peek(p) == close) {
			p->pos++;
			return 0;
		}
		if (peek(p) != ',')
			return fail(p, members ? "expected ',' or '}'" : "expected ',' or ']'");
		p->pos++;
		skip_ws(p);
	}
}

static int parse_value(struct parser *p, int depth, int *out)
{
	if (depth > GS_JSON_DEPTH)
		return gs_fail(p->err, p->errlen, -E2BIG, "nested deeper than %d at byte %zu", GS_JSON_DEPTH, p->pos);
	skip_ws(p);
	int c = peek(p), i, rc;
	static const struct {
		const char *word;
		unsigned type;
	} words[] = { { "null", GS_JSON_NULL }, { "false", GS_JSON_FALSE }, { "true", GS_JSON_TRUE } };
	for (size_t w = 0; w < GS_ARRAY_LEN(words); w++) {
		size_t n = strlen(words[w].word);
		if (c == words[w].word[0]) {
			if (p->j->text_len - p->pos < n || memcmp(p->j->text + p->pos, words[w].word, n))
				return fail(p, "bad literal");
			if ((i = new_node(p, words[w].type)) < 0)
				return i;
			p->pos += n;
			p->j->nodes[i].len = n;
			*out = i;
			return 0;
		}
	}
	if (c == '"') {
		if ((i = new_node(p, GS_JSON_STRING)) < 0)
			return i;
		size_t s, l;
		if ((rc = scan_string(p, &s, &l)))
			return rc;
		p->j->nodes[i].start = s;
		p->j->nodes[i].len = l;
	} else if (c == '-' || (c >= '0' && c <= '9')) {
		if ((i = new_node(p, GS_JSON_NUMBER)) < 0)
			return i;
		if ((rc = scan_number(p)))
			return rc;
		p->j->nodes[i].len = p->pos - p->j->nodes[i].start;
	} else if (c == '[' || c == '{') {
		if ((i = new_node(p, c == '{' ? GS_JSON_OBJECT : GS_JSON_ARRAY)) < 0)
			return i;
		if ((rc = parse_children(p, depth, i, c == '{')))
			return rc;
		p->j->nodes[i].len = p->pos - p->j->nodes[i].start;
	} else {
		return fail(p, c < 0 ? "unexpected end" : "unexpected character");
	}
	*out = i;
	return 0;
}

int gs_json_parse(struct gs_json *j, const char *text, size_t len, struct gs_json_node *nodes, size_t cap, char *err,
		  size_t errlen)
{
	*j = (struct gs_json){ .text = text, .text_len = len, .nodes = nodes, .cap = cap };
	struct parser p = { .j = j, .err = err, .errlen = errlen };
	int root, rc = parse_value(&p, 0, &root);
	if (rc)
		return rc;
	skip_ws(&p);
	if (p.pos != len)
		return fail(&p, "more after the value");
	return 0;
}

static const struct gs_json_node *node(const struct gs_json *j, int i)
{
	return i >= 0 && (size_t)i < j->n ? &j->nodes[i] : NULL;
}

unsigned gs_json_type(const struct gs_json *j, int i)
{
	const struct gs_json_node *nd = node(j, i);
	return nd ? nd->type : GS_JSON_NULL;
}

int gs_json_get(const struct gs_json *j, int obj, const char *key)
{
	if (gs_json_type(j, obj) != GS_JSON_OBJECT)
		return -1;
	size_t kl = strlen(key);
	for (int c = j->nodes[obj].child; c >= 0; c = j->nodes[c].next)
		if (j->nodes[c].key_len == kl && memcmp(j->text + j->nodes[c].key_start, key, kl) == 0)
			return c;
	return -1;
}

int gs_json_first(const struct gs_json *j, int i)
{
	unsigned t = gs_json_type(j, i);
	return t == GS_JSON_ARRAY || t == GS_JSON_OBJECT ? j->nodes[i].child : -1;
}

int gs_json_next(const struct gs_json *j, int i)
{
	const struct gs_json_node *nd = node(j, i);
	return nd ? nd->next : -1;
}

int gs_json_u64(const struct gs_json *j, int i, uint64_t *v)
{
	const struct gs_json_node *nd = node(j, i);
	if (!nd || nd->type != GS_JSON_NUMBER)
		return -EINVAL;
	uint64_t x = 0;
	for (size_t k = 0; k < nd->len; k++) {
		char c = j->text[nd->start + k];
		if (c < '0' || c > '9')
			return -EINVAL;
		unsigned d = (unsigned)(c - '0');
		if (x > (UINT64_MAX - d) / 10)
			return -ERANGE;
		x = x * 10 + d;
	}
	*v = x;
	return 0;
}

int gs_json_double(const struct gs_json *j, int i, double *v)
{
	const struct gs_json_node *nd = node(j, i);
	if (!nd || nd->type != GS_JSON_NUMBER)
		return -EINVAL;
	char buf[64];
	if (nd->len >= sizeof buf)
		return -ERANGE;
	memcpy(buf, j->text + nd->start, nd->len);
	buf[nd->len] = '\0';
	double x = strtod(buf, NULL); /* the parser checked its form */
	if (!isfinite(x))
		return -ERANGE;
	*v = x;
	return 0;
}

int gs_json_bool(const struct gs_json *j, int i, bool *v)
{
	unsigned t = gs_json_type(j, i);
	if (node(j, i) == NULL || (t != GS_JSON_TRUE && t != GS_JSON_FALSE))
		return -EINVAL;
	*v = t == GS_JSON_TRUE;
	return 0;
}

static unsigned hex4(const char *s)
{
	unsigned v = 0;
	for (int k = 0; k < 4; k++) {
		char c = s[k];
		v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
	}
	return v;
}

int gs_json_string(const struct gs_json *j, int i, char *out, size_t len)
{
	const struct gs_json_node *nd = node(j, i);
	if (!nd || nd->type != GS_JSON_STRING || len == 0)
		return -EINVAL;
	const char *s = j->text + nd->start;
	size_t o = 0;
	/* the parser checked the escapes: each is whole */
	for (size_t k = 0; k < nd->len && o + 1 < len; k++) {
		char c = s[k];
		if (c == '\\') {
			c = s[++k];
			switch (c) {
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'n': c = '\n'; break;
			case 'r': c = '\r'; break;
			case 't': c = '\t'; break;
			case 'u': {
				unsigned u = hex4(s + k + 1);
				k += 4;
				c = u > 0 && u < 0x80 ? (char)u : '?';
				break;
			}
			default: break; /* \" \\ \/ */
			}
		}
		out[o++] = c;
	}
	out[o] = '\0';
	return 0;
}
