/* tpcmask.c: a GPU's measured TPC map in its text form, the checks that make
 * it safe to build masks from (a mask with no live TPC hangs a real GPU), and
 * the masks themselves. Pure: no I/O. */
#include "tpcmask.h"

#include "gs.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define TMD_HOPPER 0x40
#define SM_WORDS (GS_TPC_MAX_SMS / 64)
#define MAX_LINE 2048 /* a bit bringing all 256 SMs fits */

static bool sm_has(const uint64_t *set, unsigned sm)
{
	return (set[sm / 64] >> (sm % 64)) & 1;
}

static bool bit_has(const uint32_t bits[GS_TPC_WORDS], unsigned b)
{
	return (bits[b / 32] >> (b % 32)) & 1;
}

static bool bit_live(const struct gs_tpc_calib *c, unsigned b)
{
	for (unsigned w = 0; w < SM_WORDS; w++)
		if (c->sms[b][w])
			return true;
	return false;
}

static bool driver_ok(const char *d, size_t cap)
{
	size_t n = strnlen(d, cap);
	if (n == 0 || n == cap)
		return false;
	for (size_t i = 0; i < n; i++)
		if (d[i] <= ' ' || d[i] > '~')
			return false;
	return true;
}

int gs_tpc_calib_check(const struct gs_tpc_calib *c, char *err, size_t errlen)
{
	if (c->tmd_version != TMD_HOPPER)
		return gs_fail(err, errlen, -EINVAL, "task descriptor version 0x%02x is not one gpushare knows (0x40)",
			       c->tmd_version);
	if (c->sm_count == 0 || c->sm_count > GS_TPC_MAX_SMS)
		return gs_fail(err, errlen, -EINVAL, "%u SMs: not 1 to %d", c->sm_count, GS_TPC_MAX_SMS);
	if (!driver_ok(c->driver, sizeof c->driver))
		return gs_fail(err, errlen, -EINVAL, "the driver version is empty or holds spaces");
	int owner[GS_TPC_MAX_SMS];
	for (unsigned sm = 0; sm < GS_TPC_MAX_SMS; sm++)
		owner[sm] = -1;
	for (unsigned b = 0; b < GS_TPC_BITS; b++)
		for (unsigned sm = 0; sm < GS_TPC_MAX_SMS; sm++) {
			if (!sm_has(c->sms[b], sm))
				continue;
			if (sm >= c->sm_count)
				return gs_fail(err, errlen, -EINVAL, "bit %u brings SM %u, beyond the GPU's %u SMs", b,
					       sm, c->sm_count);
			if (owner[sm] >= 0)
				return gs_fail(err, errlen, -EINVAL, "SM %u is brought by both bit %d and bit %u", sm,
					       owner[sm], b);
			owner[sm] = (int)b;
		}
	for (unsigned sm = 0; sm < c->sm_count; sm++)
		if (owner[sm] < 0)
			return gs_fail(err, errlen, -EINVAL, "SM %u is brought by no bit", sm);
	return 0;
}

/* A strict decimal: digits only, no sign, no leading zero but in "0". */
static int dec(const char *s, unsigned max, unsigned *out)
{
	unsigned long v = 0;
	if (!*s || (s[0] == '0' && s[1]))
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(*s - '0');
		if (v > max)
			return -ERANGE;
	}
	*out = (unsigned)v;
	return 0;
}

/* Splits a line at single spaces: no empty word, none at either end. */
static int words(char *line, char **w, int max)
{
	int n = 0;
	if (!*line)
		return 0;
	for (char *p = line;;) {
		char *sp = strchr(p, ' ');
		if (sp == p || n == max)
			return -1;
		w[n++] = p;
		if (!sp)
			return n;
		*sp = '\0';
		p = sp + 1;
		if (!*p)
			return -1;
	}
}

int gs_tpc_calib_parse(const char *text, size_t len, struct gs_tpc_calib *c, char *err, size_t errlen)
{
	enum { HEADER, DRIVER, SMS, TMD, BITS, DONE } want = HEADER;
	static const char *const expected[] = { "\"gpushare-tpcmap 1\"", "\"driver <version>\"", "\"sms <count>\"",
						"\"tmd 0x<version>\"", "\"bit <b> <sm>...\" or \"end\"" };
	memset(c, 0, sizeof *c);
	int last_bit = -1;
	unsigned lineno = 0;
	size_t at = 0;
	char line[MAX_LINE + 1];
	char *w[GS_TPC_MAX_SMS + 2];
	while (at < len) {
		lineno++;
		if (want == DONE)
			return gs_fail(err, errlen, -EINVAL, "line %u: text after \"end\"", lineno);
		const char *nl = memchr(text + at, '\n', len - at);
		if (!nl)
			return gs_fail(err, errlen, -EINVAL, "line %u: no newline at its end", lineno);
		size_t n = (size_t)(nl - (text + at));
		if (n > MAX_LINE)
			return gs_fail(err, errlen, -EINVAL, "line %u: longer than %d characters", lineno, MAX_LINE);
		memcpy(line, text + at, n);
		line[n] = '\0';
		at += n + 1;
		if (strlen(line) != n)
			return gs_fail(err, errlen, -EINVAL, "line %u: holds a NUL byte", lineno);
		int nw = words(line, w, (int)GS_ARRAY_LEN(w));
		if (nw <= 0)
			return gs_fail(err, errlen, -EINVAL, "line %u: expected %s (words separated by one space)",
				       lineno, expected[want]);
		unsigned v;
		switch (want) {
		case HEADER:
			if (nw != 2 || strcmp(w[0], "gpushare-tpcmap") || strcmp(w[1], "1"))
				return gs_fail(err, errlen, -EINVAL, "line %u: expected %s", lineno, expected[want]);
			want = DRIVER;
			break;
		case DRIVER:
			if (nw != 2 || strcmp(w[0], "driver"))
				return gs_fail(err, errlen, -EINVAL, "line %u: expected %s", lineno, expected[want]);
			snprintf(c->driver, sizeof c->driver, "%s", w[1]);
			if (strlen(w[1]) >= sizeof c->driver || !driver_ok(c->driver, sizeof c->driver))
				return gs_fail(err, errlen, -EINVAL, "line %u: driver version \"%.80s\" is not 1 to %zu "
					       "printable characters", lineno, w[1], sizeof c->driver - 1);
			want = SMS;
			break;
		case SMS:
			if (nw != 2 || strcmp(w[0], "sms"))
				return gs_fail(err, errlen, -EINVAL, "line %u: expected %s", lineno, expected[want]);
			if (dec(w[1], GS_TPC_MAX_SMS, &v) || v == 0)
				return gs_fail(err, errlen, -EINVAL, "line %u: SM count \"%.20s\" is not 1 to %d", lineno,
					       w[1], GS_TPC_MAX_SMS);
			c->sm_count = v;
			want = TMD;
			break;
		case TMD: {
			const char *h = nw == 2 && strcmp(w[0], "tmd") == 0 ? w[1] : NULL;
			if (!h || strlen(h) != 4 || h[0] != '0' || h[1] != 'x' || !strchr("0123456789abcdef", h[2]) ||
			    !strchr("0123456789abcdef", h[3]) || !h[2] || !h[3])
				return gs_fail(err, errlen, -EINVAL, "line %u: expected %s (two lowercase hex digits)",
					       lineno, expected[want]);
			unsigned hi = (unsigned)(strchr("0123456789abcdef", h[2]) - "0123456789abcdef");
			unsigned lo = (unsigned)(strchr("0123456789abcdef", h[3]) - "0123456789abcdef");
			c->tmd_version = hi * 16 + lo;
			want = BITS;
			break;
		}
		case BITS:
			if (nw == 1 && strcmp(w[0], "end") == 0) {
				want = DONE;
				break;
			}
			if (nw < 3 || strcmp(w[0], "bit"))
				return gs_fail(err, errlen, -EINVAL, "line %u: expected %s", lineno, expected[want]);
			if (dec(w[1], GS_TPC_BITS - 1, &v))
				return gs_fail(err, errlen, -EINVAL, "line %u: bit \"%.20s\" is not 0 to %d", lineno, w[1],
					       GS_TPC_BITS - 1);
			if ((int)v <= last_bit)
				return gs_fail(err, errlen, -EINVAL, "line %u: bit %u after bit %d (bits go in order, once)",
					       lineno, v, last_bit);
			last_bit = (int)v;
			for (int k = 2, prev = -1; k < nw; k++) {
				unsigned sm;
				if (dec(w[k], GS_TPC_MAX_SMS - 1, &sm))
					return gs_fail(err, errlen, -EINVAL, "line %u: SM \"%.20s\" is not 0 to %d", lineno,
						       w[k], GS_TPC_MAX_SMS - 1);
				if ((int)sm <= prev)
					return gs_fail(err, errlen, -EINVAL,
						       "line %u: SM %u after SM %d (SMs go in order, once)", lineno, sm, prev);
				prev = (int)sm;
				c->sms[v][sm / 64] |= 1ull << (sm % 64);
			}
			break;
		case DONE:
			break;
		}
	}
	if (want != DONE)
		return gs_fail(err, errlen, -EINVAL, "line %u: the text ends where %s was expected", lineno + 1,
			       expected[want]);
	char why[160];
	if (gs_tpc_calib_check(c, why, sizeof why))
		return gs_fail(err, errlen, -EINVAL, "the map cannot be used: %s", why);
	return 0;
}

/* Appends to buf at *at; false once it no longer fits. */
static bool put(char *buf, size_t len, size_t *at, const char *fmt, ...) GS_PRINTF(4, 5);
static bool put(char *buf, size_t len, size_t *at, const char *fmt, ...)
{
	if (*at >= len)
		return false;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf + *at, len - *at, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len - *at)
		return false;
	*at += (size_t)n;
	return true;
}

int gs_tpc_calib_format(const struct gs_tpc_calib *c, char *buf, size_t len)
{
	size_t at = 0;
	bool ok = put(buf, len, &at, "gpushare-tpcmap 1\ndriver %s\nsms %u\ntmd 0x%02x\n", c->driver, c->sm_count,
		      c->tmd_version);
	for (unsigned b = 0; ok && b < GS_TPC_BITS; b++) {
		if (!bit_live(c, b))
			continue;
		ok = put(buf, len, &at, "bit %u", b);
		for (unsigned sm = 0; ok && sm < GS_TPC_MAX_SMS; sm++)
			if (sm_has(c->sms[b], sm))
				ok = put(buf, len, &at, " %u", sm);
		ok = ok && put(buf, len, &at, "\n");
	}
	ok = ok && put(buf, len, &at, "end\n");
	return ok ? (int)at : -ENOSPC;
}

void gs_tpc_bits_in(const struct gs_tpc_calib *c, unsigned start, unsigned count, uint32_t bits[GS_TPC_WORDS])
{
	unsigned long end = (unsigned long)start + count;
	memset(bits, 0, GS_TPC_WORDS * sizeof *bits);
	for (unsigned b = 0; b < GS_TPC_BITS; b++) {
		if (!bit_live(c, b))
			continue;
		bool inside = true;
		for (unsigned sm = 0; inside && sm < GS_TPC_MAX_SMS; sm++)
			if (sm_has(c->sms[b], sm) && (sm < start || sm >= end))
				inside = false;
		if (inside)
			bits[b / 32] |= 1u << (b % 32);
	}
}

void gs_tpc_bits_all(const struct gs_tpc_calib *c, uint32_t bits[GS_TPC_WORDS])
{
	gs_tpc_bits_in(c, 0, GS_TPC_MAX_SMS, bits);
}

unsigned gs_tpc_sm_count(const struct gs_tpc_calib *c, const uint32_t bits[GS_TPC_WORDS])
{
	uint64_t u[SM_WORDS] = { 0 };
	for (unsigned b = 0; b < GS_TPC_BITS; b++)
		if (bit_has(bits, b))
			for (unsigned w = 0; w < SM_WORDS; w++)
				u[w] |= c->sms[b][w];
	unsigned n = 0;
	for (unsigned w = 0; w < SM_WORDS; w++)
		n += (unsigned)__builtin_popcountll(u[w]);
	return n;
}

void gs_tpc_bits_first(const struct gs_tpc_calib *c, const uint32_t bits[GS_TPC_WORDS], unsigned n,
		       uint32_t out[GS_TPC_WORDS])
{
	uint32_t got[GS_TPC_WORDS] = { 0 };
	for (unsigned b = 0; n && b < GS_TPC_BITS; b++)
		if (bit_has(bits, b) && bit_live(c, b)) {
			got[b / 32] |= 1u << (b % 32);
			n--;
		}
	memcpy(out, got, sizeof got);
}

void gs_tpc_disabled(const uint32_t enabled[GS_TPC_WORDS], uint32_t words[GS_TPC_WORDS])
{
	for (unsigned w = 0; w < GS_TPC_WORDS; w++)
		words[w] = ~enabled[w];
}

bool gs_tpc_any_live(const struct gs_tpc_calib *c, const uint32_t bits[GS_TPC_WORDS])
{
	for (unsigned b = 0; b < GS_TPC_BITS; b++)
		if (bit_has(bits, b) && bit_live(c, b))
			return true;
	return false;
}

unsigned gs_tpc_live_count(const struct gs_tpc_calib *c)
{
	unsigned n = 0;
	for (unsigned b = 0; b < GS_TPC_BITS; b++)
		n += bit_live(c, b);
	return n;
}

int gs_tpc_file_name(const char *gpu_uuid, char *out, size_t len)
{
	struct gs_uuid u;
	if (strncmp(gpu_uuid, "GPU-", 4) || strlen(gpu_uuid) != 40 || gs_uuid_parse(gpu_uuid + 4, &u))
		return -EINVAL;
	int n = snprintf(out, len, "tpcmap-%s", gpu_uuid);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int gs_tpc_failed_format(const char *reason, char *buf, size_t len)
{
	size_t at = 0;
	if (!put(buf, len, &at, "%s ", GS_TPC_FAILED))
		return -ENOSPC;
	/* one line, printable: what gpushare-smi shows */
	for (const char *r = reason && *reason ? reason : "unknown"; *r && at + 2 < len && at < 512; r++)
		buf[at++] = *r < ' ' || *r > '~' ? ' ' : *r;
	if (at + 2 > len)
		return -ENOSPC;
	buf[at++] = '\n';
	buf[at] = '\0';
	return (int)at;
}

int gs_tpc_failed_parse(const char *text, size_t len, char *reason, size_t reasonlen)
{
	size_t p = strlen(GS_TPC_FAILED);
	if (len < p + 3 || memcmp(text, GS_TPC_FAILED " ", p + 1) || text[len - 1] != '\n')
		return -EINVAL;
	const char *r = text + p + 1;
	size_t n = len - p - 2;
	for (size_t i = 0; i < n; i++)
		if (r[i] < ' ' || r[i] > '~')
			return -EINVAL;
	snprintf(reason, reasonlen, "%.*s", (int)n, r);
	return 0;
}

int gs_tpc_driver_token(const char *text, char *out, size_t len)
{
	/* "NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.159.04  Thu ..."
	 * (the open module says "Open Kernel Module for x86_64"): the first
	 * word of digits and dots, with a dot, on the first line */
	const char *end = strchr(text, '\n');
	if (!end)
		end = text + strlen(text);
	for (const char *p = text; p < end;) {
		while (p < end && *p == ' ')
			p++;
		const char *q = p;
		bool digits = true, dot = false;
		while (q < end && *q != ' ' && *q != '\t') {
			if (*q == '.')
				dot = true;
			else if (*q < '0' || *q > '9')
				digits = false;
			q++;
		}
		if (q > p && digits && dot && p[0] != '.' && q[-1] != '.') {
			if ((size_t)(q - p) >= len)
				return -ENAMETOOLONG;
			memcpy(out, p, (size_t)(q - p));
			out[q - p] = '\0';
			return 0;
		}
		p = q > p ? q : q + 1;
	}
	return -ENOENT;
}

void gs_tpc_bits_touching(const struct gs_tpc_calib *c, unsigned start, unsigned count, uint32_t bits[GS_TPC_WORDS])
{
	memset(bits, 0, GS_TPC_WORDS * sizeof *bits);
	for (unsigned b = 0; b < GS_TPC_BITS; b++)
		for (unsigned sm = start; sm < start + count && sm < GS_TPC_MAX_SMS; sm++)
			if (c->sms[b][sm / 64] >> (sm % 64) & 1) {
				bits[b / 32] |= 1u << (b % 32);
				break;
			}
}
