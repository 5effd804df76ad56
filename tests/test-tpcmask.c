/* test-tpcmask.c: the measured TPC map's text form (strict, every refusal
 * naming its line), its checks and the masks built from it. */
#include "test.h"

#include "gpumodel.h"
#include "tpcmask.h"
#include "tpcmap.h"

#include <errno.h>

/* The map a calibration of a simulated model gives: its gs_tpcmap_fill. */
static void from_model(const char *key, struct gs_tpc_calib *c)
{
	const struct gs_gpu_model *m = gs_model_find(key);
	assert_non_null(m);
	int16_t map[GS_TPC_BITS];
	gs_tpcmap_fill(m, map);
	memset(c, 0, sizeof *c);
	c->sm_count = m->sm_count;
	c->tmd_version = 0x40;
	snprintf(c->driver, sizeof c->driver, "580.159.04");
	for (unsigned b = 0; b < GS_TPC_BITS; b++)
		for (int sm = map[b]; map[b] >= 0 && sm < map[b] + 2; sm++)
			c->sms[b][sm / 64] |= 1ull << (sm % 64);
}

static const char h200_head[] = "gpushare-tpcmap 1\ndriver 580.159.04\nsms 132\ntmd 0x40\n"
				"bit 0 0 1\nbit 1 16 17\nbit 2 32 33\nbit 3 48 49\nbit 9 2 3\n";

static void format_then_parse_gives_the_same_map(void **state)
{
	(void)state;
	static const char *const keys[] = { "h200-sxm-141gb", "a100-sxm4-40gb" };
	for (size_t k = 0; k < GS_ARRAY_LEN(keys); k++) {
		struct gs_tpc_calib c, back;
		from_model(keys[k], &c);
		char err[200] = "";
		ASSERT_INT_EQ(gs_tpc_calib_check(&c, err, sizeof err), 0);
		char text[8192];
		int n = gs_tpc_calib_format(&c, text, sizeof text);
		assert_true(n > 0);
		ASSERT_INT_EQ(gs_tpc_calib_parse(text, (size_t)n, &back, err, sizeof err), 0);
		assert_memory_equal(&c, &back, sizeof c);
		char again[8192];
		ASSERT_INT_EQ(gs_tpc_calib_format(&back, again, sizeof again), n);
		ASSERT_STR_EQ(again, text);
	}
}

static void the_h200_text_names_its_measured_bits(void **state)
{
	(void)state;
	struct gs_tpc_calib c;
	from_model("h200-sxm-141gb", &c);
	char text[8192];
	int n = gs_tpc_calib_format(&c, text, sizeof text);
	assert_true(n > 0);
	assert_memory_equal(text, h200_head, sizeof h200_head - 1);
	assert_non_null(strstr(text, "\nend\n"));
	ASSERT_INT_EQ(gs_tpc_live_count(&c), 66);
}

static void format_refuses_a_small_buffer(void **state)
{
	(void)state;
	struct gs_tpc_calib c;
	from_model("h200-sxm-141gb", &c);
	char text[8192];
	int n = gs_tpc_calib_format(&c, text, sizeof text);
	ASSERT_INT_EQ(gs_tpc_calib_format(&c, text, (size_t)n), -ENOSPC);
	ASSERT_INT_EQ(gs_tpc_calib_format(&c, text, 10), -ENOSPC);
	ASSERT_INT_EQ(gs_tpc_calib_format(&c, text, (size_t)n + 1), n);
}

/* Parses the H200's text with one line replaced (or, line 0: appended);
 * returns the error. */
static int parse_edited(unsigned lineno, const char *with, char *err, size_t errlen)
{
	struct gs_tpc_calib c;
	from_model("h200-sxm-141gb", &c);
	char text[8192], out[8400];
	int n = gs_tpc_calib_format(&c, text, sizeof text);
	assert_true(n > 0);
	size_t o = 0;
	unsigned l = 1;
	for (const char *p = text; *p; l++) {
		const char *nl = strchr(p, '\n');
		size_t len = (size_t)(nl - p) + 1;
		if (l == lineno)
			o += (size_t)snprintf(out + o, sizeof out - o, "%s", with);
		else
			o += (size_t)snprintf(out + o, sizeof out - o, "%.*s", (int)len, p);
		p += len;
	}
	if (lineno == 0)
		o += (size_t)snprintf(out + o, sizeof out - o, "%s", with);
	err[0] = '\0';
	return gs_tpc_calib_parse(out, o, &c, err, errlen);
}

static void each_refusal_names_its_line(void **state)
{
	(void)state;
	static const struct {
		unsigned line;
		const char *with, *says;
	} cases[] = {
		{ 1, "gpushare-tpcmap 2\n", "line 1: expected \"gpushare-tpcmap 1\"" },
		{ 1, "gpushare-tpcmap  1\n", "line 1:" },
		{ 1, "gpushare-tpcmap 1 \n", "line 1:" },
		{ 1, "gpushare-tpcmap 1\r\n", "line 1:" },
		{ 2, "driver\n", "line 2: expected \"driver <version>\"" },
		{ 2, "driver 580 x\n", "line 2:" },
		{ 2, "driver 0123456789012345678901234567890123456789012345678901234567890123\n", "line 2: driver version" },
		{ 3, "sms 0\n", "line 3: SM count" },
		{ 3, "sms 0132\n", "line 3: SM count" },
		{ 3, "sms 257\n", "line 3: SM count" },
		{ 3, "sms -1\n", "line 3: SM count" },
		{ 3, "sms 133\n", "the map cannot be used: SM 132 is brought by no bit" },
		{ 3, "sms 130\n", "beyond the GPU's 130 SMs" },
		{ 4, "tmd 0x4\n", "line 4: expected \"tmd 0x<version>\"" },
		{ 4, "tmd 0x4G\n", "line 4:" },
		{ 4, "tmd 0X40\n", "line 4:" },
		{ 4, "tmd 0x4A\n", "line 4:" },
		{ 4, "tmd 0x3f\n", "task descriptor version 0x3f" },
		{ 5, "bit 0\n", "line 5: expected \"bit <b> <sm>...\" or \"end\"" },
		{ 5, "bit 128 0 1\n", "line 5: bit \"128\" is not 0 to 127" },
		{ 5, "bit 0 1 0\n", "line 5: SM 0 after SM 1" },
		{ 5, "bit 0 0 0 1\n", "line 5: SM 0 after SM 0" },
		{ 5, "bit 0 0 256\n", "line 5: SM \"256\" is not 0 to 255" },
		{ 5, "bit 0 0 1 16\n", "SM 16 is brought by both bit 0 and bit 1" },
		{ 6, "bit 0 16 17\n", "line 6: bit 0 after bit 0" },
		{ 6, "\n", "line 6:" },
		{ 6, "end\n", "text after \"end\"" },
		{ 0, "bit 127 0\n", "line 72: text after \"end\"" },
		{ 0, "\n", "line 72: text after \"end\"" },
	};
	for (size_t i = 0; i < GS_ARRAY_LEN(cases); i++) {
		char err[200];
		int rc = parse_edited(cases[i].line, cases[i].with, err, sizeof err);
		if (rc != -EINVAL || !strstr(err, cases[i].says))
			fail_msg("case %zu (%s): rc %d, \"%s\", wanted \"%s\"", i, cases[i].with, rc, err,
				 cases[i].says);
	}
}

static void a_cut_text_is_refused(void **state)
{
	(void)state;
	struct gs_tpc_calib c;
	from_model("a100-sxm4-40gb", &c);
	char text[8192], err[200];
	int n = gs_tpc_calib_format(&c, text, sizeof text);
	/* every prefix (the whole text less its last bytes) is refused */
	for (int len = 0; len < n; len++) {
		err[0] = '\0';
		ASSERT_INT_EQ(gs_tpc_calib_parse(text, (size_t)len, &c, err, sizeof err), -EINVAL);
		assert_true(err[0]);
	}
	ASSERT_INT_EQ(gs_tpc_calib_parse("gpushare-tpcmap 1\n", 18, &c, err, sizeof err), -EINVAL);
	ASSERT_STR_EQ(err, "line 2: the text ends where \"driver <version>\" was expected");
	ASSERT_INT_EQ(gs_tpc_calib_parse("gpushare-tpcmap 1", 17, &c, err, sizeof err), -EINVAL);
	ASSERT_STR_EQ(err, "line 1: no newline at its end");
	ASSERT_INT_EQ(gs_tpc_calib_parse("gpushare\0tpcmap 1\n", 18, &c, err, sizeof err), -EINVAL);
	ASSERT_STR_EQ(err, "line 1: holds a NUL byte");
}

static void check_wants_each_sm_once(void **state)
{
	(void)state;
	struct gs_tpc_calib c;
	char err[200];
	from_model("h200-sxm-141gb", &c);
	c.sms[4][0] |= 1; /* a dead bit bringing SM 0 too */
	ASSERT_INT_EQ(gs_tpc_calib_check(&c, err, sizeof err), -EINVAL);
	ASSERT_STR_EQ(err, "SM 0 is brought by both bit 0 and bit 4");
	from_model("h200-sxm-141gb", &c);
	c.sms[9][0] = 0; /* SMs 2, 3 lost */
	ASSERT_INT_EQ(gs_tpc_calib_check(&c, err, sizeof err), -EINVAL);
	ASSERT_STR_EQ(err, "SM 2 is brought by no bit");
	from_model("h200-sxm-141gb", &c);
	c.driver[0] = '\0';
	ASSERT_INT_EQ(gs_tpc_calib_check(&c, err, sizeof err), -EINVAL);
	from_model("h200-sxm-141gb", &c);
	snprintf(c.driver, sizeof c.driver, "580 1");
	ASSERT_INT_EQ(gs_tpc_calib_check(&c, err, sizeof err), -EINVAL);
	from_model("h200-sxm-141gb", &c);
	c.sm_count = 0;
	ASSERT_INT_EQ(gs_tpc_calib_check(&c, err, sizeof err), -EINVAL);
}

static void bits_in_a_range_are_those_wholly_inside(void **state)
{
	(void)state;
	struct gs_tpc_calib c;
	from_model("h200-sxm-141gb", &c);
	uint32_t bits[GS_TPC_WORDS];
	/* SMs 0-3: bit 0 (0,1) and bit 9 (2,3) */
	gs_tpc_bits_in(&c, 0, 4, bits);
	ASSERT_INT_EQ(bits[0], (1u << 0) | (1u << 9));
	ASSERT_INT_EQ(bits[1] | bits[2] | bits[3], 0);
	ASSERT_INT_EQ(gs_tpc_sm_count(&c, bits), 4);
	/* SMs 1-3: bit 0 is only half inside */
	gs_tpc_bits_in(&c, 1, 3, bits);
	ASSERT_INT_EQ(bits[0], 1u << 9);
	/* the whole GPU: every live bit, all SMs */
	gs_tpc_bits_in(&c, 0, 132, bits);
	uint32_t all[GS_TPC_WORDS];
	gs_tpc_bits_all(&c, all);
	assert_memory_equal(bits, all, sizeof all);
	ASSERT_INT_EQ(gs_tpc_sm_count(&c, all), 132);
	ASSERT_INT_EQ(all[0] & 0x1f0u, 0); /* bits 4-8 dead */
	/* a range with no whole TPC */
	gs_tpc_bits_in(&c, 1, 1, bits);
	assert_false(gs_tpc_any_live(&c, bits));
	gs_tpc_bits_in(&c, 4000000000u, 4000000000u, bits); /* no wrap-around */
	assert_false(gs_tpc_any_live(&c, bits));
}

static void the_first_live_bits_skip_dead_ones(void **state)
{
	(void)state;
	struct gs_tpc_calib c;
	from_model("h200-sxm-141gb", &c);
	uint32_t every[GS_TPC_WORDS] = { ~0u, ~0u, ~0u, ~0u }, first[GS_TPC_WORDS];
	gs_tpc_bits_first(&c, every, 5, first);
	ASSERT_INT_EQ(first[0], 0x20fu); /* 0-3 and 9 */
	ASSERT_INT_EQ(gs_tpc_sm_count(&c, first), 10);
	gs_tpc_bits_first(&c, every, 0, first);
	assert_false(gs_tpc_any_live(&c, first));
	gs_tpc_bits_first(&c, every, 1000, first);
	ASSERT_INT_EQ(gs_tpc_sm_count(&c, first), 132);
	/* dead bits alone hold no live TPC: the mask a GPU would hang on */
	uint32_t dead[GS_TPC_WORDS] = { 0x1f0u, 0, 0, 0 };
	assert_false(gs_tpc_any_live(&c, dead));
	ASSERT_INT_EQ(gs_tpc_sm_count(&c, dead), 0);
	gs_tpc_bits_first(&c, dead, 3, first);
	assert_false(gs_tpc_any_live(&c, first));
}

static void disabled_words_are_the_complement(void **state)
{
	(void)state;
	uint32_t en[GS_TPC_WORDS] = { 0x20fu, 0, 0, 1u << 31 }, w[GS_TPC_WORDS];
	gs_tpc_disabled(en, w);
	ASSERT_INT_EQ(w[0], ~0x20fu);
	ASSERT_INT_EQ(w[1], 0xffffffffu);
	ASSERT_INT_EQ(w[2], 0xffffffffu);
	ASSERT_INT_EQ(w[3], 0x7fffffffu);
}

static void a_failure_record_round_trips_as_one_line(void **state)
{
	(void)state;
	char buf[600], why[600];
	int n = gs_tpc_failed_format("unknown task descriptor\nversion 0x3f", buf, sizeof buf);
	ASSERT_STR_EQ(buf, "gpushare-tpcmap-failed unknown task descriptor version 0x3f\n");
	ASSERT_INT_EQ(n, (int)strlen(buf));
	ASSERT_INT_EQ(gs_tpc_failed_parse(buf, (size_t)n, why, sizeof why), 0);
	ASSERT_STR_EQ(why, "unknown task descriptor version 0x3f");
	ASSERT_INT_EQ(gs_tpc_failed_parse(h200_head, sizeof h200_head - 1, why, sizeof why), -EINVAL);
	ASSERT_INT_EQ(gs_tpc_failed_parse("gpushare-tpcmap-failed x", 24, why, sizeof why), -EINVAL);
	ASSERT_INT_EQ(gs_tpc_failed_parse("gpushare-tpcmap-failed a\nb\n", 27, why, sizeof why), -EINVAL);
	ASSERT_INT_EQ(gs_tpc_failed_format("x", buf, 10), -ENOSPC);
	/* the parser of maps refuses it, naming line 1 */
	struct gs_tpc_calib c;
	ASSERT_INT_EQ(gs_tpc_calib_parse(buf, (size_t)n, &c, why, sizeof why), -EINVAL);
	assert_non_null(strstr(why, "line 1:"));
}

static void the_driver_version_is_read_from_proc(void **state)
{
	(void)state;
	char v[64];
	ASSERT_INT_EQ(gs_tpc_driver_token("NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.159.04  Thu Oct  2 "
					  "19:42:17 UTC 2025\nGCC version:  gcc version 12.2.0\n", v, sizeof v), 0);
	ASSERT_STR_EQ(v, "580.159.04");
	ASSERT_INT_EQ(gs_tpc_driver_token("NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  570.86.15  "
					  "Release Build  (dvs-builder@U16-I3-B03-4-3)\n", v, sizeof v), 0);
	ASSERT_STR_EQ(v, "570.86.15");
	ASSERT_INT_EQ(gs_tpc_driver_token("NVRM version: none\n1.2\n", v, sizeof v), -ENOENT);
	ASSERT_INT_EQ(gs_tpc_driver_token("", v, sizeof v), -ENOENT);
	ASSERT_INT_EQ(gs_tpc_driver_token("x 580.159.04", v, 5), -ENAMETOOLONG);
}

static void the_file_name_takes_only_a_gpu_uuid(void **state)
{
	(void)state;
	char name[128];
	ASSERT_INT_EQ(gs_tpc_file_name("GPU-4ee7e3f1-6e1f-5b6e-9d58-1e0b4c7a2f10", name, sizeof name), 0);
	ASSERT_STR_EQ(name, "tpcmap-GPU-4ee7e3f1-6e1f-5b6e-9d58-1e0b4c7a2f10");
	ASSERT_INT_EQ(gs_tpc_file_name("GPU-../../etc/passwd", name, sizeof name), -EINVAL);
	ASSERT_INT_EQ(gs_tpc_file_name("MIG-4ee7e3f1-6e1f-5b6e-9d58-1e0b4c7a2f10", name, sizeof name), -EINVAL);
	ASSERT_INT_EQ(gs_tpc_file_name("GPU-4ee7e3f1-6e1f-5b6e-9d58-1e0b4c7a2f10/x", name, sizeof name), -EINVAL);
	ASSERT_INT_EQ(gs_tpc_file_name("GPU-4ee7e3f1-6e1f-5b6e-9d58-1e0b4c7a2f10", name, 20), -ENAMETOOLONG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(format_then_parse_gives_the_same_map),
		cmocka_unit_test(the_h200_text_names_its_measured_bits),
		cmocka_unit_test(format_refuses_a_small_buffer),
		cmocka_unit_test(each_refusal_names_its_line),
		cmocka_unit_test(a_cut_text_is_refused),
		cmocka_unit_test(check_wants_each_sm_once),
		cmocka_unit_test(bits_in_a_range_are_those_wholly_inside),
		cmocka_unit_test(the_first_live_bits_skip_dead_ones),
		cmocka_unit_test(disabled_words_are_the_complement),
		cmocka_unit_test(a_failure_record_round_trips_as_one_line),
		cmocka_unit_test(the_driver_version_is_read_from_proc),
		cmocka_unit_test(the_file_name_takes_only_a_gpu_uuid),
	};
	return GS_RUN_ISOLATED(tests) ? 1 : 0;
}
