/* json.h: a small, bounded JSON reader for what gpushare-control prints
 * (list_slices --json and the like), read by `gpushare top`: the document
 * becomes a tree of nodes in an array the caller gives, no allocation, a
 * depth limit, every malformed input refused with where and why. */
#ifndef GS_JSON_H
#define GS_JSON_H

#include "gs.h"

#define GS_JSON_DEPTH 32

enum gs_json_type {
	GS_JSON_NULL,
	GS_JSON_FALSE,
	GS_JSON_TRUE,
	GS_JSON_NUMBER,
	GS_JSON_STRING,
	GS_JSON_ARRAY,
	GS_JSON_OBJECT,
};

/* One value. Spans are offsets into the text parsed: a string's without its
 * quotes, still escaped; a member's key likewise. Indexes are into the node
 * array, -1 for none. */
struct gs_json_node {
	unsigned type;
	int next;                /* the next element or member of its parent */
	int child;               /* an array's or object's first element or member */
	size_t start, len;       /* its text (a string's inside its quotes) */
	size_t key_start, key_len; /* a member's key, inside its quotes */
};

struct gs_json {
	const char *text;
	size_t text_len;
	struct gs_json_node *nodes; /* the caller's: it frees them, when it must */
	size_t n, cap;
};

/* Parses text[0..len) (one value, whitespace around it) into nodes[0..cap);
 * the root is node 0. 0, or -EINVAL (malformed: err says what and at which
 * byte), -E2BIG (more than cap values, or nested deeper than GS_JSON_DEPTH). */
int gs_json_parse(struct gs_json *j, const char *text, size_t len, struct gs_json_node *nodes, size_t cap, char *err,
		  size_t errlen);

/* The value of an object's member key (compared with the key as written,
 * escapes and all), or -1: not an object, no such member. */
int gs_json_get(const struct gs_json *j, int obj, const char *key);
/* An array's or object's first element, or -1; then gs_json_next, until -1. */
int gs_json_first(const struct gs_json *j, int i);
int gs_json_next(const struct gs_json *j, int i);
/* Its type, GS_JSON_NULL for -1 (an absent member reads as null). */
unsigned gs_json_type(const struct gs_json *j, int i);

/* A non-negative integer that fits a uint64_t: 0, else -EINVAL (another
 * type, a fraction, an exponent, a sign) or -ERANGE. */
int gs_json_u64(const struct gs_json *j, int i, uint64_t *v);
/* A number (a fraction, a sign, an exponent too): 0, else -EINVAL
 * (another type) or -ERANGE (beyond a double, or longer than 63 bytes). */
int gs_json_double(const struct gs_json *j, int i, double *v);
/* A boolean: 0, else -EINVAL. */
int gs_json_bool(const struct gs_json *j, int i, bool *v);
/* A string, unescaped into out (cut to len - 1 bytes, always terminated; a
 * \u escape beyond ASCII, or of NUL, becomes '?'): 0, else -EINVAL. Its
 * bytes are the document's: a caller printing them to a terminal makes
 * control bytes safe itself. */
int gs_json_string(const struct gs_json *j, int i, char *out, size_t len);

#endif
