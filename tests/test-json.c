/* test-json.c: the bounded JSON reader gpushare top reads gpushare-control's
 * listings with: what it takes, what it refuses and where, its bounds. */
#include "test.h"

#include "json.h"

#include <errno.h>

static struct gs_json_node nodes[64];

static int parse(struct gs_json *j, const char *text, char *err, size_t errlen)
{
	return gs_json_parse(j, text, strlen(text), nodes, GS_ARRAY_LEN(nodes), err, errlen);
}

static void a_listing_reads_back_member_by_member(void **state)
{
	(void)state;
	struct gs_json j;
	char err[128] = "", s[64];
	const char *text = "{\"version\": 1, \"slices\": [\n{\"slice\": \"MIG-x\", \"name\": null, \"busy\": true, "
			   "\"used_bytes\": 335544320, \"cmd\": \"a\\\"b\\\\c\\u0041\\u00e9\\n\"},\n{\"slice\": \"-\"}\n]}\n";
	ASSERT_INT_EQ(parse(&j, text, err, sizeof err), 0);
	uint64_t v;
	ASSERT_INT_EQ(gs_json_u64(&j, gs_json_get(&j, 0, "version"), &v), 0);
	ASSERT_INT_EQ(v, 1);
	int list = gs_json_get(&j, 0, "slices");
	ASSERT_INT_EQ(gs_json_type(&j, list), GS_JSON_ARRAY);
	int first = gs_json_first(&j, list), second = gs_json_next(&j, first);
	ASSERT_INT_EQ(gs_json_next(&j, second), -1);
	ASSERT_INT_EQ(gs_json_string(&j, gs_json_get(&j, first, "slice"), s, sizeof s), 0);
	ASSERT_STR_EQ(s, "MIG-x");
	ASSERT_INT_EQ(gs_json_type(&j, gs_json_get(&j, first, "name")), GS_JSON_NULL);
	ASSERT_INT_EQ(gs_json_type(&j, gs_json_get(&j, first, "absent")), GS_JSON_NULL);
	bool b = false;
	ASSERT_INT_EQ(gs_json_bool(&j, gs_json_get(&j, first, "busy"), &b), 0);
	assert_true(b);
	ASSERT_INT_EQ(gs_json_u64(&j, gs_json_get(&j, first, "used_bytes"), &v), 0);
	ASSERT_INT_EQ(v, 335544320);
	ASSERT_INT_EQ(gs_json_string(&j, gs_json_get(&j, first, "cmd"), s, sizeof s), 0);
	ASSERT_STR_EQ(s, "a\"b\\cA?\n");
	ASSERT_INT_EQ(gs_json_string(&j, gs_json_get(&j, first, "cmd"), s, 3), 0);
	ASSERT_STR_EQ(s, "a\"");
	/* the wrong type is refused, not guessed */
	ASSERT_INT_EQ(gs_json_u64(&j, gs_json_get(&j, first, "slice"), &v), -EINVAL);
	ASSERT_INT_EQ(gs_json_string(&j, gs_json_get(&j, first, "busy"), s, sizeof s), -EINVAL);
	ASSERT_INT_EQ(gs_json_get(&j, list, "slice"), -1);
}

static void numbers_are_counts_only_where_they_are_whole(void **state)
{
	(void)state;
	struct gs_json j;
	char err[128];
	uint64_t v;
	ASSERT_INT_EQ(parse(&j, "[18446744073709551615, 18446744073709551616, -1, 1.5, 2e3, 0]", err, sizeof err), 0);
	int i = gs_json_first(&j, 0);
	ASSERT_INT_EQ(gs_json_u64(&j, i, &v), 0);
	assert_true(v == UINT64_MAX);
	ASSERT_INT_EQ(gs_json_u64(&j, i = gs_json_next(&j, i), &v), -ERANGE);
	ASSERT_INT_EQ(gs_json_u64(&j, i = gs_json_next(&j, i), &v), -EINVAL);
	ASSERT_INT_EQ(gs_json_u64(&j, i = gs_json_next(&j, i), &v), -EINVAL);
	ASSERT_INT_EQ(gs_json_u64(&j, i = gs_json_next(&j, i), &v), -EINVAL);
	ASSERT_INT_EQ(gs_json_u64(&j, i = gs_json_next(&j, i), &v), 0);
	ASSERT_INT_EQ(v, 0);
}

static void malformed_input_is_refused_saying_where(void **state)
{
	(void)state;
	struct gs_json j;
	char err[128];
	const char *bad[] = { "", "{", "{\"a\" 1}", "{\"a\": 1,}", "[1 2]", "[01]", "[1.]", "[-]", "[1e]", "\"a",
			      "\"\\x\"", "\"\\u12g4\"", "\"a\tb\"", "nul", "tru", "{1: 2}", "[1] x", "{\"a\": 1}}", "[,1]" };
	for (size_t i = 0; i < GS_ARRAY_LEN(bad); i++) {
		err[0] = '\0';
		ASSERT_INT_EQ(parse(&j, bad[i], err, sizeof err), -EINVAL);
		assert_non_null(strstr(err, "at byte "));
	}
	ASSERT_INT_EQ(parse(&j, "{\"a\": 1} x", err, sizeof err), -EINVAL);
	ASSERT_STR_EQ(err, "more after the value at byte 9");
}

static void too_many_values_or_too_deep_is_refused(void **state)
{
	(void)state;
	struct gs_json j;
	char err[128], deep[200] = "";
	for (int i = 0; i < GS_JSON_DEPTH + 2; i++)
		strcat(deep, "[");
	ASSERT_INT_EQ(parse(&j, deep, err, sizeof err), -E2BIG);
	assert_non_null(strstr(err, "nested deeper than"));
	char many[400] = "[";
	for (int i = 0; i < 100; i++)
		strcat(many, i ? ",0" : "0");
	strcat(many, "]");
	ASSERT_INT_EQ(parse(&j, many, err, sizeof err), -E2BIG);
	assert_non_null(strstr(err, "more than 64 values"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_listing_reads_back_member_by_member),
		cmocka_unit_test(numbers_are_counts_only_where_they_are_whole),
		cmocka_unit_test(malformed_input_is_refused_saying_where),
		cmocka_unit_test(too_many_values_or_too_deep_is_refused),
	};
	return GS_RUN_ISOLATED(tests) ? 1 : 0;
}
