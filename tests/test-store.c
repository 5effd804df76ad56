/* test-store.c: the slice store's file: the "end" line that makes a store
 * cut short or corrupted refused (-EBADMSG) rather than read as fewer or no
 * slices, stores of the previous version still read and rewritten in the
 * current one, slice names: which are valid, found, refused twice, and the
 * SM-sharing policy records. */
#include "test.h"

#include "store.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define GPU "GPU-9e4aeb94-01c0-5173-4811-4ca60f77b3a9"
#define GPU2 "GPU-7c5e3972-ae17-57e0-93a0-3fe313f20a57"
#define MAGIC2 "gpushare-store 2\n"
#define UNREADABLE ": the store is unreadable; restore it or remove it to start empty"

/* The checksum as the format defines it, computed here independently. */
static uint64_t fnv1a64(const char *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static unsigned count_lines(const char *p, size_t len)
{
	unsigned n = 0;
	for (size_t i = 0; i < len; i++)
		n += p[i] == '\n';
	return n;
}

/* body (whole lines) with its "end" line; malloc'ed. */
static char *seal(const char *body)
{
	size_t n = strlen(body);
	char *t = malloc(n + 64);
	assert_non_null(t);
	memcpy(t, body, n);
	snprintf(t + n, 64, "end %u %016" PRIx64 "\n", count_lines(body, n), fnv1a64(body, n));
	return t;
}

/* Two GPUs, four compute instances: three named, one with every option. */
static void fill(struct gs_store *s)
{
	memset(s, 0, sizeof *s);
	struct gs_store_gpu *g = gs_store_gpu(s, GPU, true);
	assert_non_null(g);
	g->mig = true;
	g->sm_count = 108;
	g->sm_unit = 2;
	g->memory_mib = 40960;
	g->layout.gi[g->layout.n_gi++] = (struct gs_mig_gi){ .id = 2, .profile_id = 5, .size = 4, .sm = 56,
							     .memory_mib = 20096, .serial = 7, .guarantee_mib = 20096 };
	g->layout.gi[g->layout.n_gi++] = (struct gs_mig_gi){ .id = 15, .profile_id = GS_MIG_CUSTOM, .sm = 10,
							     .memory_mib = 1000, .serial = 8, .guarantee_mib = 250,
							     .sm_start = 60, .sm_placed = true };
	g->layout.ci[g->layout.n_ci++] = (struct gs_mig_ci){ .gi = 2, .id = 0, .profile_id = 3, .size = 4, .sm = 56,
							     .serial = 9, .name = "train" };
	g->layout.ci[g->layout.n_ci++] = (struct gs_mig_ci){
		.gi = 15, .sm = 10, .serial = 8, .refuse_busy = true, .n_users = 2, .users = { 1000, 65534 },
		.owner_pid = 4242, .owner_start = 99, .cgroup = "/sys/fs/cgroup/job.scope", .n_default = 1,
		.default_for = { 1000 }, .name = "Job-7.b_x" };
	g->layout.next_serial = 10;
	g = gs_store_gpu(s, GPU2, true);
	assert_non_null(g);
	g->mig = true;
	g->layout.gi[g->layout.n_gi++] = (struct gs_mig_gi){ .id = 1, .profile_id = 9, .size = 2, .sm = 28,
							     .memory_mib = 9856, .serial = 1, .guarantee_mib = 9856 };
	g->layout.ci[g->layout.n_ci++] =
		(struct gs_mig_ci){ .gi = 1, .id = 0, .profile_id = 1, .size = 2, .sm = 28, .serial = 2, .name = "eval" };
	g->layout.ci[g->layout.n_ci++] =
		(struct gs_mig_ci){ .gi = 1, .id = 1, .profile_id = 1, .start = 2, .size = 0, .sm = 0, .serial = 3 };
	g->layout.next_serial = 4;
}

static char *formatted(size_t *len)
{
	static struct gs_store s;
	fill(&s);
	char *text;
	ASSERT_INT_EQ(gs_store_format(&s, &text, len), 0);
	ASSERT_INT_EQ(strlen(text), *len);
	return text;
}

static void round_trips_with_the_end_line_and_names(void **state)
{
	(void)state;
	static struct gs_store t;
	size_t len;
	char *text = formatted(&len);
	assert_true(strncmp(text, MAGIC2, strlen(MAGIC2)) == 0);
	/* the last line: "end <lines before it> <FNV-1a 64 of the bytes before it>" */
	assert_true(len > 1 && text[len - 1] == '\n');
	char *last = text + len - 1;
	while (last > text && last[-1] != '\n')
		last--;
	char want[64];
	snprintf(want, sizeof want, "end %u %016" PRIx64 "\n", count_lines(text, (size_t)(last - text)),
		 fnv1a64(text, (size_t)(last - text)));
	ASSERT_STR_EQ(last, want);
	/* a name line for each named compute instance, none for the unnamed */
	assert_non_null(strstr(text, "\nname " GPU " 2 0 train\n"));
	assert_non_null(strstr(text, "\nname " GPU " 15 0 Job-7.b_x\n"));
	assert_non_null(strstr(text, "\nname " GPU2 " 1 0 eval\n"));
	assert_null(strstr(text, "\nname " GPU2 " 1 1"));
	char err[256] = "";
	ASSERT_INT_EQ(gs_store_parse(text, &t, err, sizeof err), 0);
	ASSERT_STR_EQ(err, "");
	char *again;
	ASSERT_INT_EQ(gs_store_format(&t, &again, NULL), 0);
	ASSERT_STR_EQ(text, again);
	ASSERT_INT_EQ(t.n_gpu, 2);
	ASSERT_STR_EQ(t.gpu[0].layout.ci[0].name, "train");
	ASSERT_STR_EQ(t.gpu[0].layout.ci[1].name, "Job-7.b_x");
	ASSERT_STR_EQ(t.gpu[0].layout.ci[1].cgroup, "/sys/fs/cgroup/job.scope");
	ASSERT_INT_EQ(t.gpu[0].layout.ci[1].owner_pid, 4242);
	ASSERT_STR_EQ(t.gpu[1].layout.ci[0].name, "eval");
	ASSERT_STR_EQ(t.gpu[1].layout.ci[1].name, "");
	/* found by name, with its GPU; names match whole and exactly */
	const struct gs_store_gpu *g = NULL;
	const struct gs_mig_ci *ci = gs_store_find_name(&t, "eval", &g);
	assert_true(ci == &t.gpu[1].layout.ci[0]);
	assert_true(g == &t.gpu[1]);
	assert_true(gs_store_find_name(&t, "Job-7.b_x", NULL) == &t.gpu[0].layout.ci[1]);
	g = &t.gpu[0];
	assert_null(gs_store_find_name(&t, "Train", &g));
	assert_null(g);
	assert_null(gs_store_find_name(&t, "trai", NULL));
	assert_null(gs_store_find_name(&t, "trainer", NULL));
	assert_null(gs_store_find_name(&t, "", NULL)); /* not the unnamed one */
	free(text);
	free(again);
}

static void a_cut_anywhere_is_refused(void **state)
{
	(void)state;
	static struct gs_store s;
	size_t len;
	char *text = formatted(&len);
	char *cut = malloc(len + 1), err[256];
	unsigned boundaries = 0;
	for (size_t at = 0; at < len; at++) {
		memcpy(cut, text, at);
		cut[at] = '\0';
		fill(&s); /* a refusal leaves nothing behind */
		err[0] = '\0';
		int rc = gs_store_parse(cut, &s, err, sizeof err);
		if (rc != -EBADMSG)
			fail_msg("a store cut at byte %zu of %zu: %d (%s)", at, len, rc, err);
		ASSERT_INT_EQ(s.n_gpu, 0);
		if (at && text[at - 1] == '\n') {
			/* at a line boundary: "truncated after line <the lines left>" */
			char want[128];
			snprintf(want, sizeof want, "truncated after line %u (no \"end\" line)" UNREADABLE,
				 count_lines(text, at));
			ASSERT_STR_EQ(err, want);
			boundaries++;
		} else if (at) {
			assert_non_null(strstr(err, "truncated in line "));
		}
	}
	ASSERT_INT_EQ(boundaries, count_lines(text, len) - 1); /* every line but the end line was cut after */
	ASSERT_INT_EQ(gs_store_parse("", &s, err, sizeof err), -EBADMSG);
	ASSERT_STR_EQ(err, "empty file (truncated before line 1)" UNREADABLE);
	free(cut);
	free(text);
}

static void a_changed_byte_anywhere_is_refused(void **state)
{
	(void)state;
	static struct gs_store s;
	size_t len;
	char *text = formatted(&len);
	char err[256];
	size_t magic = strlen(MAGIC2);
	for (size_t at = 0; at < len; at++)
		for (unsigned bit = 0; bit < 8; bit++) {
			char was = text[at];
			text[at] ^= (char)(1u << bit);
			if (text[at]) { /* a NUL is a cut, above */
				fill(&s);
				int rc = gs_store_parse(text, &s, err, sizeof err);
				/* in the first line it is not a store (or not this version) */
				if (at < magic ? rc == 0 : rc != -EBADMSG)
					fail_msg("byte %zu ^ 0x%x accepted or not -EBADMSG: %d (%s)", at, 1u << bit, rc, err);
				ASSERT_INT_EQ(s.n_gpu, 0);
			}
			text[at] = was;
		}
	ASSERT_INT_EQ(gs_store_parse(text, &s, err, sizeof err), 0);

	/* what each kind of damage says */
	char *bad = strdup(text), *end = strstr(bad, "\nend ") + 1;
	bad[strlen(MAGIC2) + 5] ^= 1; /* in the first record */
	ASSERT_INT_EQ(gs_store_parse(bad, &s, err, sizeof err), -EBADMSG);
	unsigned endline = count_lines(bad, (size_t)(end - bad)) + 1;
	char want[256];
	snprintf(want, sizeof want, "checksum mismatch: the \"end\" line (line %u) says %.16s, the %u lines before it "
		 "hash to %016" PRIx64 UNREADABLE, endline, bad + len - 17, endline - 1,
		 fnv1a64(bad, (size_t)(end - bad)));
	ASSERT_STR_EQ(err, want);
	free(bad);
	/* a line more or fewer than the end line counts */
	bad = malloc(len + 64);
	size_t body = (size_t)(strstr(text, "\nend ") + 1 - text);
	memcpy(bad, text, body);
	snprintf(bad + body, 64, "end %u %016" PRIx64 "\n", endline, fnv1a64(text, body));
	ASSERT_INT_EQ(gs_store_parse(bad, &s, err, sizeof err), -EBADMSG);
	snprintf(want, sizeof want, "line count mismatch: the \"end\" line (line %u) counts %u lines, %u precede it" UNREADABLE,
		 endline, endline, endline - 1);
	ASSERT_STR_EQ(err, want);
	/* the right count, written otherwise */
	snprintf(bad + body, 64, "end 0%u %016" PRIx64 "\n", endline - 1, fnv1a64(text, body));
	ASSERT_INT_EQ(gs_store_parse(bad, &s, err, sizeof err), -EBADMSG);
	assert_non_null(strstr(err, "malformed \"end\" line"));
	snprintf(bad + body, 64, "end %u %016" PRIX64 "\n", endline - 1, fnv1a64(text, body) | 0xa);
	ASSERT_INT_EQ(gs_store_parse(bad, &s, err, sizeof err), -EBADMSG);
	assert_non_null(strstr(err, "malformed \"end\" line"));
	/* the end line resealed by hand is what makes it read: the checksum is FNV-1a 64 */
	snprintf(bad + body, 64, "end %u %016" PRIx64 "\n", endline - 1, fnv1a64(text, body));
	ASSERT_INT_EQ(gs_store_parse(bad, &s, err, sizeof err), 0);
	free(bad);
	/* anything after the end line, even a second store */
	bad = malloc(2 * len + 1);
	memcpy(bad, text, len);
	memcpy(bad + len, text, len + 1);
	ASSERT_INT_EQ(gs_store_parse(bad, &s, err, sizeof err), -EBADMSG);
	snprintf(want, sizeof want, "%zu unexpected bytes after the \"end\" line (line %u)" UNREADABLE, len, endline);
	ASSERT_STR_EQ(err, want);
	strcpy(bad + len, "\n");
	ASSERT_INT_EQ(gs_store_parse(bad, &s, err, sizeof err), -EBADMSG);
	free(bad);
	/* the version turned back to 1, its end line kept */
	bad = strdup(text);
	bad[strlen(MAGIC2) - 2] = '1';
	ASSERT_INT_EQ(gs_store_parse(bad, &s, err, sizeof err), -EBADMSG);
	snprintf(want, sizeof want, "line %u: an \"end\" line in a version 1 store" UNREADABLE, endline);
	ASSERT_STR_EQ(err, want);
	free(bad);
	free(text);
}

/* What the previous release wrote: no end line, no names. */
static const char v1_store[] = "gpushare-store 1\n"
			       "gpu " GPU " mig 1\n"
			       "serial " GPU " 4\n"
			       "gi " GPU " 2 5 0 4 56 20096 0\n"
			       "ci " GPU " 2 0 3 0 4 56 1\n"
			       "access " GPU " 2 0 refuse 1000\n"
			       "cgroup " GPU " 2 0 /job\n";

static void the_previous_version_still_reads(void **state)
{
	(void)state;
	static struct gs_store s, t;
	char err[256] = "";
	ASSERT_INT_EQ(gs_store_parse(v1_store, &s, err, sizeof err), 0);
	ASSERT_INT_EQ(s.n_gpu, 1);
	ASSERT_INT_EQ(s.gpu[0].layout.n_ci, 1);
	assert_true(s.gpu[0].layout.ci[0].refuse_busy);
	ASSERT_STR_EQ(s.gpu[0].layout.ci[0].cgroup, "/job");
	ASSERT_STR_EQ(s.gpu[0].layout.ci[0].name, "");
	/* formatted again: the current version, with its end line */
	char *text;
	size_t len;
	ASSERT_INT_EQ(gs_store_format(&s, &text, &len), 0);
	assert_true(strncmp(text, MAGIC2, strlen(MAGIC2)) == 0);
	assert_non_null(strstr(text, "\nend "));
	ASSERT_INT_EQ(gs_store_parse(text, &t, err, sizeof err), 0);
	ASSERT_INT_EQ(t.gpu[0].layout.ci[0].users[0], 1000);
	free(text);
	/* the body of a version 1 store is checked as before */
	ASSERT_INT_EQ(gs_store_parse("gpushare-store 1\ngpu " GPU " mig 1\nbogus\n", &s, err, sizeof err), -EINVAL);
	ASSERT_STR_EQ(err, "line 3: malformed bogus record");
	/* unknown versions are not stores this release reads */
	ASSERT_INT_EQ(gs_store_parse("gpushare-store 3\n", &s, err, sizeof err), -EINVAL);
	ASSERT_INT_EQ(gs_store_parse("gpushare-store 20\nend 1 0000000000000000\n", &s, err, sizeof err), -EINVAL);

	/* on disk: loaded, and the next save writes version 2 */
	char dir[] = "/tmp/gs-store-XXXXXX", path[PATH_MAX];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/slices", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(v1_store, f);
	fclose(f);
	ASSERT_INT_EQ(gs_store_load(dir, &s, err, sizeof err), 0);
	ASSERT_INT_EQ(s.gpu[0].layout.n_gi, 1);
	ASSERT_INT_EQ(gs_store_save(dir, &s), 0);
	ASSERT_INT_EQ(gs_file_read(path, 1 << 20, &text, &len), 0);
	assert_true(strncmp(text, MAGIC2, strlen(MAGIC2)) == 0);
	char *again;
	ASSERT_INT_EQ(gs_store_format(&s, &again, NULL), 0);
	ASSERT_STR_EQ(text, again);
	free(again);
	free(text);
	ASSERT_INT_EQ(gs_test_rmdir(dir), 0);
}

static void names_valid_and_not(void **state)
{
	(void)state;
	const char *good[] = { "t", "train", "A.b_c-d", "1g", "a.1", "x-", "0x1f", "mig", "GPU", "MIG.1", "gpu_1", "._",
			       "_", ".", "z234567890123456789012345678901", "train-a", "cafe_1" };
	for (size_t i = 0; i < GS_ARRAY_LEN(good); i++)
		if (!gs_store_name_valid(good[i]))
			fail_msg("refused the name \"%s\"", good[i]);
	const char *bad[] = { "", "-", "-a", "--", "MIG-x", "mig-1", "Gpu-a", "GPU-", "gPu-9e4aeb94", "123", "0",
			      "a b", "a/b", "a\tb", "a\nb", "caf\xc3\xa9", "a,b", "a:b", "*", "a\x7f",
			      "a2345678901234567890123456789012",
			      /* hex digits and '-' alone: the start of a slice's UUID */
			      "a", "1a", "a1", "cafe", "dead-beef", "efe1a3a9", "EFE1-A3", "a234567890123456789012345678901" };
	for (size_t i = 0; i < GS_ARRAY_LEN(bad); i++)
		if (gs_store_name_valid(bad[i]))
			fail_msg("accepted the name \"%s\"", bad[i]);
	assert_false(gs_store_name_valid(NULL));
}

#define HEAD MAGIC2 "gpu " GPU " mig 1\ngi " GPU " 2 5 0 4 56 20096 1\nci " GPU " 2 0 3 0 4 56 1\n" \
	"ci " GPU " 2 1 3 0 4 56 2\ngpu " GPU2 " mig 1\ngi " GPU2 " 1 9 0 2 28 9856 3\nci " GPU2 " 1 0 1 0 2 28 4\n"

/* Parses body sealed; returns the rc, the message in err. */
static int parse_sealed(const char *body, struct gs_store *s, char *err, size_t errlen)
{
	char *t = seal(body);
	err[0] = '\0';
	int rc = gs_store_parse(t, s, err, errlen);
	free(t);
	return rc;
}

static void bad_and_repeated_names_are_refused(void **state)
{
	(void)state;
	static struct gs_store s;
	char err[256];
	ASSERT_INT_EQ(parse_sealed(HEAD "name " GPU " 2 0 x\nname " GPU " 2 1 y\nname " GPU2 " 1 0 z\n", &s, err,
				   sizeof err), 0);
	ASSERT_STR_EQ(gs_store_find_name(&s, "z", NULL)->name, "z");
	struct {
		const char *line, *err;
	} bad[] = {
		{ "name " GPU " 2 0 MIG-a\n", "line 9: invalid slice name" },
		{ "name " GPU " 2 0 42\n", "line 9: invalid slice name" },
		{ "name " GPU " 2 0 -x\n", "line 9: invalid slice name" },
		{ "name " GPU " 2 0 a/b\n", "line 9: invalid slice name" },
		{ "name " GPU " 2 0 a2345678901234567890123456789012\n", "line 9: invalid slice name" },
		/* of a compute instance that is not there, or a malformed line */
		{ "name " GPU " 2 7 x\n", "line 9: name of unknown compute instance" },
		{ "name " GPU2 " 2 0 x\n", "line 9: name of unknown compute instance" },
		{ "name " GPU " 2 0\n", "line 9: malformed name record" },
		{ "name " GPU " 2 0 a b\n", "line 9: malformed name record" },
		{ "name " GPU " x 0 x\n", "line 9: malformed name record" },
		/* a name twice: on the same GPU, on another, one instance named twice */
		{ "name " GPU " 2 0 x\nname " GPU " 2 1 x\n",
		  "line 10: slice name \"x\" already names compute instance 2/0 of " GPU },
		{ "name " GPU " 2 0 x\nname " GPU2 " 1 0 x\n",
		  "line 10: slice name \"x\" already names compute instance 2/0 of " GPU },
		{ "name " GPU " 2 0 x\nname " GPU " 2 0 y\n", "line 10: compute instance 2/0 named twice" },
	};
	char body[1024];
	for (size_t i = 0; i < GS_ARRAY_LEN(bad); i++) {
		snprintf(body, sizeof body, "%s%s", HEAD, bad[i].line);
		int rc = parse_sealed(body, &s, err, sizeof err);
		if (rc != -EINVAL || strncmp(err, bad[i].err, strlen(bad[i].err)))
			fail_msg("%zu: %s: %d \"%s\", not \"%s\"", i, bad[i].line, rc, err, bad[i].err);
		ASSERT_INT_EQ(s.n_gpu, 0);
	}
	/* names exactly: one differing in case is another name */
	ASSERT_INT_EQ(parse_sealed(HEAD "name " GPU " 2 0 x\nname " GPU " 2 1 X\n", &s, err, sizeof err), 0);

	/* nor does the format write what would not read back */
	static struct gs_store f;
	fill(&f);
	char *text = NULL;
	snprintf(f.gpu[1].layout.ci[1].name, sizeof f.gpu[1].layout.ci[1].name, "train");
	ASSERT_INT_EQ(gs_store_format(&f, &text, NULL), -EINVAL);
	assert_null(text);
	snprintf(f.gpu[1].layout.ci[1].name, sizeof f.gpu[1].layout.ci[1].name, "a b");
	ASSERT_INT_EQ(gs_store_format(&f, &text, NULL), -EINVAL);
	memset(f.gpu[1].layout.ci[1].name, 'x', sizeof f.gpu[1].layout.ci[1].name); /* no NUL */
	ASSERT_INT_EQ(gs_store_format(&f, &text, NULL), -EINVAL);
	snprintf(f.gpu[1].layout.ci[1].name, sizeof f.gpu[1].layout.ci[1].name, "train2");
	ASSERT_INT_EQ(gs_store_format(&f, &text, NULL), 0);
	free(text);
}

static void sm_policies_round_trip_and_only_non_default_ones_are_written(void **state)
{
	(void)state;
	static struct gs_store s, t;
	fill(&s);
	s.gpu[0].layout.ci[0].sm_policy = (struct gs_sm_policy){ .no_lend = true, .priority = GS_PRIO_CRITICAL };
	s.gpu[0].layout.ci[1].sm_policy = (struct gs_sm_policy){ .mode = GS_SM_BEST_EFFORT, .floor_sm = 4, .weight = 3,
								 .timeslice_ms = 20, .priority = GS_PRIO_LOW };
	s.gpu[1].layout.ci[0].sm_policy = (struct gs_sm_policy){ .mode = GS_SM_ISOLATED, .no_lend = true,
								 .no_borrow = true };
	char *text, *again;
	ASSERT_INT_EQ(gs_store_format(&s, &text, NULL), 0);
	assert_non_null(strstr(text, "\nsmpolicy " GPU " 2 0 shared 0 1 1 0\n")); /* as before weights: older readers */
	assert_non_null(strstr(text, "\nsmpolicy " GPU " 15 0 best-effort 1 1 2 4 3 20\n"));
	assert_non_null(strstr(text, "\nsmpolicy " GPU2 " 1 0 isolated 0 0 0 0\n"));
	assert_null(strstr(text, "\nsmpolicy " GPU2 " 1 1")); /* the default: no record */
	char err[256] = "";
	ASSERT_INT_EQ(gs_store_parse(text, &t, err, sizeof err), 0);
	const struct gs_sm_policy *p = &t.gpu[0].layout.ci[0].sm_policy;
	assert_true(p->mode == GS_SM_SHARED && p->no_lend && !p->no_borrow && p->priority == GS_PRIO_CRITICAL && p->floor_sm == 0);
	p = &t.gpu[0].layout.ci[1].sm_policy;
	assert_true(p->mode == GS_SM_BEST_EFFORT && !p->no_lend && !p->no_borrow && p->priority == GS_PRIO_LOW);
	ASSERT_INT_EQ(p->floor_sm, 4);
	ASSERT_INT_EQ(p->weight, 3);
	ASSERT_INT_EQ(p->timeslice_ms, 20);
	p = &t.gpu[1].layout.ci[0].sm_policy;
	assert_true(p->mode == GS_SM_ISOLATED && p->no_lend && p->no_borrow);
	assert_true(gs_store_sm_policy_default(&t.gpu[1].layout.ci[1].sm_policy));
	ASSERT_INT_EQ(gs_store_format(&t, &again, NULL), 0);
	ASSERT_STR_EQ(text, again);
	free(text);
	free(again);

	/* the format writes nothing the parser would refuse */
	s.gpu[1].layout.ci[0].sm_policy.no_borrow = false; /* isolated, borrowing */
	ASSERT_INT_EQ(gs_store_format(&s, &text, NULL), -EINVAL);
	s.gpu[1].layout.ci[0].sm_policy = (struct gs_sm_policy){ .floor_sm = 2 }; /* a shared slice's floor */
	ASSERT_INT_EQ(gs_store_format(&s, &text, NULL), -EINVAL);
	s.gpu[1].layout.ci[0].sm_policy = (struct gs_sm_policy){ .mode = GS_SM_BEST_EFFORT, .floor_sm = 30 };
	ASSERT_INT_EQ(gs_store_format(&s, &text, NULL), -EINVAL); /* past its 28 SMs */
	s.gpu[1].layout.ci[0].sm_policy = (struct gs_sm_policy){ .mode = 3 };
	ASSERT_INT_EQ(gs_store_format(&s, &text, NULL), -EINVAL);
}

/* oomwait: how long an allocation past the slice's limit waits */
static void oom_waits_round_trip_and_bad_ones_are_refused(void **state)
{
	(void)state;
	static struct gs_store s, t;
	char err[256], *text;
	ASSERT_INT_EQ(parse_sealed(HEAD "oomwait " GPU " 2 1 60\n", &s, err, sizeof err), 0);
	ASSERT_INT_EQ(s.gpu[0].layout.ci[1].oom_wait_s, 60);
	ASSERT_INT_EQ(s.gpu[0].layout.ci[0].oom_wait_s, 0);
	ASSERT_INT_EQ(gs_store_format(&s, &text, NULL), 0);
	assert_non_null(strstr(text, "\noomwait " GPU " 2 1 60\n"));
	assert_null(strstr(text, "\noomwait " GPU " 2 0")); /* none: no record */
	ASSERT_INT_EQ(gs_store_parse(text, &t, err, sizeof err), 0);
	ASSERT_INT_EQ(t.gpu[0].layout.ci[1].oom_wait_s, 60);
	free(text);
	struct {
		const char *line, *err;
	} bad[] = {
		{ "oomwait " GPU " 2 1 0\n", "line 9: malformed oomwait record" },
		{ "oomwait " GPU " 2 1 86401\n", "line 9: malformed oomwait record" },
		{ "oomwait " GPU " 2 1\n", "line 9: malformed oomwait record" },
		{ "oomwait " GPU " 2 1 5 5\n", "line 9: malformed oomwait record" },
		{ "oomwait " GPU " 2 7 5\n", "line 9: oomwait of unknown compute instance" },
		{ "oomwait " GPU " 2 1 5\noomwait " GPU " 2 1 6\n", "line 10: compute instance 2/1 has two oomwait records" },
	};
	char body[1024];
	for (size_t i = 0; i < GS_ARRAY_LEN(bad); i++) {
		snprintf(body, sizeof body, "%s%s", HEAD, bad[i].line);
		int rc = parse_sealed(body, &s, err, sizeof err);
		if (rc != -EINVAL || strncmp(err, bad[i].err, strlen(bad[i].err)))
			fail_msg("%zu: %s: %d \"%s\", not \"%s\"", i, bad[i].line, rc, err, bad[i].err);
		ASSERT_INT_EQ(s.n_gpu, 0);
	}
}

/* borrowmem: an over-committed slice that borrows the others' unused
 * guarantees; no record is the default (an older store borrows nothing) */
static void borrowers_round_trip_and_bad_ones_are_refused(void **state)
{
	(void)state;
	static struct gs_store s, t;
	char err[256], *text;
	ASSERT_INT_EQ(parse_sealed(HEAD "borrowmem " GPU " 2 1 1\n", &s, err, sizeof err), 0);
	assert_true(s.gpu[0].layout.ci[1].borrow_mem);
	assert_false(s.gpu[0].layout.ci[0].borrow_mem);
	ASSERT_INT_EQ(gs_store_format(&s, &text, NULL), 0);
	assert_non_null(strstr(text, "\nborrowmem " GPU " 2 1 1\n"));
	assert_null(strstr(text, "\nborrowmem " GPU " 2 0")); /* none: no record */
	ASSERT_INT_EQ(gs_store_parse(text, &t, err, sizeof err), 0);
	assert_true(t.gpu[0].layout.ci[1].borrow_mem);
	assert_false(t.gpu[0].layout.ci[0].borrow_mem);
	free(text);
	ASSERT_INT_EQ(parse_sealed(HEAD, &s, err, sizeof err), 0);
	assert_false(s.gpu[0].layout.ci[1].borrow_mem);
	struct {
		const char *line, *err;
	} bad[] = {
		{ "borrowmem " GPU " 2 1 0\n", "line 9: malformed borrowmem record" },
		{ "borrowmem " GPU " 2 1 yes\n", "line 9: malformed borrowmem record" },
		{ "borrowmem " GPU " 2 1\n", "line 9: malformed borrowmem record" },
		{ "borrowmem " GPU " 2 1 1 1\n", "line 9: malformed borrowmem record" },
		{ "borrowmem " GPU " 2 7 1\n", "line 9: borrowmem of unknown compute instance" },
		{ "borrowmem " GPU " 2 1 1\nborrowmem " GPU " 2 1 1\n", "line 10: compute instance 2/1 has two borrowmem records" },
	};
	char body[1024];
	for (size_t i = 0; i < GS_ARRAY_LEN(bad); i++) {
		snprintf(body, sizeof body, "%s%s", HEAD, bad[i].line);
		int rc = parse_sealed(body, &s, err, sizeof err);
		if (rc != -EINVAL || strncmp(err, bad[i].err, strlen(bad[i].err)))
			fail_msg("%zu: %s: %d \"%s\", not \"%s\"", i, bad[i].line, rc, err, bad[i].err);
		ASSERT_INT_EQ(s.n_gpu, 0);
	}
}

static void bad_sm_policy_records_are_refused(void **state)
{
	(void)state;
	static struct gs_store s;
	char err[256];
	ASSERT_INT_EQ(parse_sealed(HEAD "smpolicy " GPU " 2 0 best-effort 1 1 1 56\n", &s, err, sizeof err), 0);
	ASSERT_INT_EQ(s.gpu[0].layout.ci[0].sm_policy.floor_sm, 56);
	/* a store of before weights and turns: its 9-word records read as weight 1, no turns */
	ASSERT_INT_EQ(s.gpu[0].layout.ci[0].sm_policy.weight, 0);
	ASSERT_INT_EQ(s.gpu[0].layout.ci[0].sm_policy.timeslice_ms, 0);
	ASSERT_INT_EQ(parse_sealed(HEAD "smpolicy " GPU " 2 0 shared 1 1 0 0 100 1000\n", &s, err, sizeof err), 0);
	ASSERT_INT_EQ(s.gpu[0].layout.ci[0].sm_policy.weight, 100);
	ASSERT_INT_EQ(s.gpu[0].layout.ci[0].sm_policy.timeslice_ms, 1000);
	ASSERT_INT_EQ(parse_sealed(HEAD "smpolicy " GPU " 2 0 shared 1 1 0 0 1 0\n", &s, err, sizeof err), 0);
	ASSERT_INT_EQ(s.gpu[0].layout.ci[0].sm_policy.weight, 0); /* 1 is kept as the default */
	struct {
		const char *line, *err;
	} bad[] = {
		{ "smpolicy " GPU " 2 7 shared 1 1 0 0\n", "line 9: smpolicy of unknown compute instance" },
		{ "smpolicy " GPU2 " 2 0 shared 1 1 0 0\n", "line 9: smpolicy of unknown compute instance" },
		{ "smpolicy " GPU " 2 0 elastic 1 1 0 0\n", "line 9: malformed smpolicy record" },
		{ "smpolicy " GPU " 2 0 Shared 1 1 0 0\n", "line 9: malformed smpolicy record" },
		{ "smpolicy " GPU " 2 0 shared 2 1 0 0\n", "line 9: malformed smpolicy record" },
		{ "smpolicy " GPU " 2 0 shared 1 1 3 0\n", "line 9: malformed smpolicy record" },
		{ "smpolicy " GPU " 2 0 shared 1 1 0\n", "line 9: malformed smpolicy record" },
		{ "smpolicy " GPU " 2 0 shared 1 1 0 0 0\n", "line 9: malformed smpolicy record" },
		{ "smpolicy " GPU " 2 0 shared 1 1 0 -1\n", "line 9: malformed smpolicy record" },
		{ "smpolicy " GPU " 2 0 shared 1 1 0 0 101 0\n", "line 9: malformed smpolicy record" },
		{ "smpolicy " GPU " 2 0 shared 1 1 0 0 1 1001\n", "line 9: malformed smpolicy record" },
		{ "smpolicy " GPU " 2 0 shared 1 1 0 0 1\n", "line 9: malformed smpolicy record" },
		{ "smpolicy " GPU " 2 0 shared 1 1 0 0 1 0 0\n", "line 9: malformed smpolicy record" },
		{ "smpolicy " GPU " 2 0 isolated 1 0 0 0\n", "line 9: an isolated slice neither lends nor borrows" },
		{ "smpolicy " GPU " 2 0 shared 1 1 0 8\n", "line 9: a floor is a best-effort slice's, at most its 56 SMs" },
		{ "smpolicy " GPU " 2 0 best-effort 1 1 0 58\n",
		  "line 9: a floor is a best-effort slice's, at most its 56 SMs" },
		{ "smpolicy " GPU " 2 0 shared 0 1 0 0\nsmpolicy " GPU " 2 0 shared 1 0 0 0\n",
		  "line 10: compute instance 2/0 has two smpolicy records" },
	};
	char body[1024];
	for (size_t i = 0; i < GS_ARRAY_LEN(bad); i++) {
		snprintf(body, sizeof body, "%s%s", HEAD, bad[i].line);
		int rc = parse_sealed(body, &s, err, sizeof err);
		if (rc != -EINVAL || strncmp(err, bad[i].err, strlen(bad[i].err)))
			fail_msg("%zu: %s: %d \"%s\", not \"%s\"", i, bad[i].line, rc, err, bad[i].err);
		ASSERT_INT_EQ(s.n_gpu, 0);
	}
}

static void load_names_the_file_and_the_damage(void **state)
{
	(void)state;
	static struct gs_store s, t;
	char dir[] = "/tmp/gs-store-XXXXXX", path[PATH_MAX], err[512], want[512];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/slices", dir);
	ASSERT_INT_EQ(gs_store_load(dir, &s, err, sizeof err), 0); /* none yet: empty */
	ASSERT_INT_EQ(s.n_gpu, 0);
	fill(&s);
	ASSERT_INT_EQ(gs_store_save(dir, &s), 0);
	ASSERT_INT_EQ(gs_store_load(dir, &t, err, sizeof err), 0);
	ASSERT_INT_EQ(t.n_gpu, 2);
	ASSERT_STR_EQ(t.gpu[1].layout.ci[0].name, "eval");
	char *text;
	size_t len;
	ASSERT_INT_EQ(gs_file_read(path, 1 << 20, &text, &len), 0);
	unsigned lines = count_lines(text, len);

	/* cut after its next to last line */
	size_t cut = (size_t)(strstr(text, "\nend ") + 1 - text);
	ASSERT_INT_EQ(truncate(path, (off_t)cut), 0);
	fill(&t);
	ASSERT_INT_EQ(gs_store_load(dir, &t, err, sizeof err), -EBADMSG);
	snprintf(want, sizeof want, "%s: truncated after line %u (no \"end\" line)" UNREADABLE, path, lines - 1);
	ASSERT_STR_EQ(err, want);
	ASSERT_INT_EQ(t.n_gpu, 0);
	/* a byte changed */
	text[cut - 3] ^= 0x20;
	ASSERT_INT_EQ(gs_file_replace(path, text, len), 0);
	ASSERT_INT_EQ(gs_store_load(dir, &t, err, sizeof err), -EBADMSG);
	snprintf(want, sizeof want, "%s: checksum mismatch: ", path);
	assert_true(strncmp(err, want, strlen(want)) == 0);
	text[cut - 3] ^= 0x20;
	/* a NUL in the file, which a string would hide as a cut */
	text[40] = '\0';
	ASSERT_INT_EQ(gs_file_replace(path, text, len), 0);
	ASSERT_INT_EQ(gs_store_load(dir, &t, err, sizeof err), -EBADMSG);
	snprintf(want, sizeof want, "%s: a NUL byte in line 2" UNREADABLE, path);
	ASSERT_STR_EQ(err, want);
	/* emptied */
	ASSERT_INT_EQ(gs_file_replace(path, "", 0), 0);
	ASSERT_INT_EQ(gs_store_load(dir, &t, err, sizeof err), -EBADMSG);
	snprintf(want, sizeof want, "%s: empty file (truncated before line 1)" UNREADABLE, path);
	ASSERT_STR_EQ(err, want);
	/* a malformed record in an intact store: -EINVAL, its line named */
	char *sealed = seal(MAGIC2 "gpu " GPU " mig 1\nbogus 1\n");
	ASSERT_INT_EQ(gs_file_replace(path, sealed, strlen(sealed)), 0);
	ASSERT_INT_EQ(gs_store_load(dir, &t, err, sizeof err), -EINVAL);
	snprintf(want, sizeof want, "%s: line 3: malformed bogus record", path);
	ASSERT_STR_EQ(err, want);
	free(sealed);
	free(text);
	ASSERT_INT_EQ(gs_test_rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trips_with_the_end_line_and_names),
		cmocka_unit_test(a_cut_anywhere_is_refused),
		cmocka_unit_test(a_changed_byte_anywhere_is_refused),
		cmocka_unit_test(the_previous_version_still_reads),
		cmocka_unit_test(names_valid_and_not),
		cmocka_unit_test(bad_and_repeated_names_are_refused),
		cmocka_unit_test(sm_policies_round_trip_and_only_non_default_ones_are_written),
		cmocka_unit_test(bad_sm_policy_records_are_refused),
		cmocka_unit_test(oom_waits_round_trip_and_bad_ones_are_refused),
		cmocka_unit_test(borrowers_round_trip_and_bad_ones_are_refused),
		cmocka_unit_test(load_names_the_file_and_the_damage),
	};
	return GS_RUN_ISOLATED(tests) ? 1 : 0;
}
