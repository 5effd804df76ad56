/* test-control-values.c: the pieces of the control protocol that come
 * first: line reading with limits, and MPS's value syntax (reference A.6). */
#include "test.h"

#include "line.h"
#include "mpsval.h"

#include <errno.h>
#include <string.h>

static void lines_split_with_crlf_and_partial_input(void **state)
{
	(void)state;
	size_t len, used;
	ASSERT_INT_EQ(gs_line_next("get_server_list\r\nquit\n", 22, 64, &len, &used), GS_LINE_OK);
	ASSERT_INT_EQ(len, 15);
	ASSERT_INT_EQ(used, 17);
	ASSERT_INT_EQ(gs_line_next("get_serv", 8, 64, &len, &used), GS_LINE_NEED_MORE);
	ASSERT_INT_EQ(gs_line_next("\n", 1, 64, &len, &used), GS_LINE_OK);
	ASSERT_INT_EQ(len, 0);
	ASSERT_INT_EQ(gs_line_next("a\x01" "b\n", 4, 64, &len, &used), -EILSEQ);
	ASSERT_INT_EQ(used, 4);
	ASSERT_INT_EQ(gs_line_next("a\tb\n", 4, 64, &len, &used), GS_LINE_OK);
	char big[100];
	memset(big, 'x', sizeof big);
	ASSERT_INT_EQ(gs_line_next(big, sizeof big, 64, &len, &used), -E2BIG);
	ASSERT_INT_EQ(used, sizeof big);
}

static void linebuf_reports_an_overlong_line_once_and_goes_on(void **state)
{
	(void)state;
	static struct gs_linebuf b;
	gs_linebuf_init(&b);
	char *line;
	/* an overlong line arriving in pieces, then a good one */
	size_t total = 0;
	int errors = 0;
	while (total < GS_LINE_MAX * 3) {
		size_t room = gs_linebuf_room(&b), n = room < 1000 ? room : 1000;
		memset(b.buf + b.len, 'y', n);
		total += n;
		int rc;
		while ((rc = gs_linebuf_next(&b, n, &line)) != GS_LINE_NEED_MORE) {
			ASSERT_INT_EQ(rc, -E2BIG);
			errors++;
			n = 0;
		}
	}
	ASSERT_INT_EQ(errors, 1);
	const char *rest = "yyy\nquit\r\nge";
	memcpy(b.buf + b.len, rest, strlen(rest));
	ASSERT_INT_EQ(gs_linebuf_next(&b, strlen(rest), &line), GS_LINE_OK);
	ASSERT_STR_EQ(line, "quit");
	ASSERT_INT_EQ(gs_linebuf_next(&b, 0, &line), GS_LINE_NEED_MORE);
	memcpy(b.buf + b.len, "t_x\n", 4);
	ASSERT_INT_EQ(gs_linebuf_next(&b, 4, &line), GS_LINE_OK);
	ASSERT_STR_EQ(line, "get_x");
}

static void percentages_as_mps_takes_and_prints_them(void **state)
{
	(void)state;
	double p;
	char out[16];
	ASSERT_INT_EQ(mpsval_parse_pct("33", &p), 0);
	mpsval_format_pct(p, out);
	ASSERT_STR_EQ(out, "33.0");
	ASSERT_INT_EQ(mpsval_parse_pct("100", &p), 0);
	ASSERT_INT_EQ(mpsval_parse_pct("12.5", &p), 0);
	mpsval_format_pct(p, out);
	ASSERT_STR_EQ(out, "12.5");
	ASSERT_INT_EQ(mpsval_parse_pct("0", &p), -ERANGE);
	ASSERT_INT_EQ(mpsval_parse_pct("100.1", &p), -ERANGE);
	ASSERT_INT_EQ(mpsval_parse_pct("-5", &p), -EINVAL);
	ASSERT_INT_EQ(mpsval_parse_pct("1e2", &p), -EINVAL);
	ASSERT_INT_EQ(mpsval_parse_pct("", &p), -EINVAL);
	ASSERT_INT_EQ(mpsval_parse_pct(".", &p), -EINVAL);
	ASSERT_INT_EQ(mpsval_parse_pct("nan", &p), -EINVAL);
}

static void limits_read_back_truncated_as_mps_does(void **state)
{
	(void)state;
	uint64_t b;
	char out[32];
	ASSERT_INT_EQ(mpsval_parse_limit("20350M", &b), 0);
	mpsval_format_limit(b, out);
	ASSERT_STR_EQ(out, "19G");
	ASSERT_INT_EQ(mpsval_parse_limit("1536M", &b), 0);
	mpsval_format_limit(b, out);
	ASSERT_STR_EQ(out, "1G");
	ASSERT_INT_EQ(mpsval_parse_limit("512M", &b), 0);
	mpsval_format_limit(b, out);
	ASSERT_STR_EQ(out, "512M");
	ASSERT_INT_EQ(mpsval_parse_limit("2G", &b), 0);
	ASSERT_INT_EQ(b, 2ULL << 30);
	ASSERT_INT_EQ(mpsval_parse_limit("5", &b), -EINVAL); /* MPS accepts it, meaning unknown */
	ASSERT_INT_EQ(mpsval_parse_limit("0G", &b), -ERANGE);
	ASSERT_INT_EQ(mpsval_parse_limit("2T", &b), -EINVAL);
	ASSERT_INT_EQ(mpsval_parse_limit("G", &b), -EINVAL);
}

static void environment_limits_per_device(void **state)
{
	(void)state;
	struct mpsval_dev_limit l[4];
	char err[128];
	ASSERT_INT_EQ(mpsval_parse_env_limits("0=1G,1=512MB", l, 4, err, sizeof err), 2);
	ASSERT_STR_EQ(l[1].dev, "1");
	ASSERT_INT_EQ(l[1].bytes, 512ULL << 20);
	ASSERT_INT_EQ(mpsval_parse_env_limits("GPU-9e4aeb94-01c0-5173-4811-4ca60f77b3a9=2G", l, 4, err, sizeof err), 1);
	ASSERT_INT_EQ(mpsval_parse_env_limits("0=1G,=2G", l, 4, err, sizeof err), -EINVAL);
	ASSERT_INT_EQ(mpsval_parse_env_limits("0=lots", l, 4, err, sizeof err), -EINVAL);
	ASSERT_INT_EQ(mpsval_parse_env_limits("", l, 4, err, sizeof err), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(lines_split_with_crlf_and_partial_input),
		cmocka_unit_test(linebuf_reports_an_overlong_line_once_and_goes_on),
		cmocka_unit_test(percentages_as_mps_takes_and_prints_them),
		cmocka_unit_test(limits_read_back_truncated_as_mps_does),
		cmocka_unit_test(environment_limits_per_device),
	};
	return GS_RUN_ISOLATED(tests) ? 1 : 0;
}
