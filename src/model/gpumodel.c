/* gpumodel.c: GPU models and MIG profile tables (reference B.2 to B.5). */
#include "gpumodel.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Allowed logical starts per profile shape (reference B.3). */
#define ST_1 0x7f /* 0..6 */
#define ST_15 0x55 /* 0,2,4,6 */
#define ST_2 0x15 /* 0,2,4 */
#define ST_3 0x11 /* 0,4 */
#define ST_4 0x01
#define ST_7 0x01

/* id, enum, name, g, size, max, MiB, SM, CE, DEC, ENC, JPEG, OFA, starts, full CI */
#define GI(id, en, nm, g, sz, mx, mib, sm, ce, dec, enc, jpg, ofa, st, ci) \
	{ id, en, nm, g, sz, mx, mib, sm, ce, dec, enc, jpg, ofa, st, ci }

static const struct gs_gi_profile a100_40[] = {
	GI(19, 0x0, "1g.5gb", 1, 1, 7, 4864, 14, 1, 0, 0, 0, 0, ST_1, 0),
	GI(20, 0x7, "1g.5gb+me", 1, 1, 1, 4864, 14, 1, 1, 0, 1, 1, ST_1, 0),
	GI(15, 0x9, "1g.10gb", 1, 2, 4, 9984, 14, 1, 1, 0, 0, 0, ST_15, 7),
	GI(14, 0x1, "2g.10gb", 2, 2, 3, 9984, 28, 2, 1, 0, 0, 0, ST_2, 1),
	GI(9, 0x2, "3g.20gb", 3, 4, 2, 20096, 42, 3, 2, 0, 0, 0, ST_3, 2),
	GI(5, 0x3, "4g.20gb", 4, 4, 1, 20096, 56, 4, 2, 0, 0, 0, ST_4, 3),
	GI(0, 0x4, "7g.40gb", 7, 8, 1, 40320, 98, 7, 5, 0, 1, 1, ST_7, 4),
};

static const struct gs_gi_profile a100_80[] = {
	GI(19, 0x0, "1g.10gb", 1, 1, 7, 9728, 14, 1, 0, 0, 0, 0, ST_1, 0),
	GI(20, 0x7, "1g.10gb+me", 1, 1, 1, 9728, 14, 1, 1, 0, 1, 1, ST_1, 0),
	GI(15, 0x9, "1g.20gb", 1, 2, 4, 19968, 14, 1, 1, 0, 0, 0, ST_15, 7),
	GI(14, 0x1, "2g.20gb", 2, 2, 3, 19968, 28, 2, 1, 0, 0, 0, ST_2, 1),
	GI(9, 0x2, "3g.40gb", 3, 4, 2, 40192, 42, 3, 2, 0, 0, 0, ST_3, 2),
	GI(5, 0x3, "4g.40gb", 4, 4, 1, 40192, 56, 4, 2, 0, 0, 0, ST_4, 3),
	GI(0, 0x4, "7g.80gb", 7, 8, 1, 80896, 98, 7, 5, 0, 1, 1, ST_7, 4),
};

static const struct gs_gi_profile h100_sxm[] = {
	GI(19, 0x0, "1g.10gb", 1, 1, 7, 9984, 16, 1, 1, 0, 1, 0, ST_1, 0),
	GI(20, 0x7, "1g.10gb+me", 1, 1, 1, 9984, 16, 1, 1, 0, 1, 1, ST_1, 0),
	GI(15, 0x9, "1g.20gb", 1, 2, 4, 20096, 26, 1, 1, 0, 1, 0, ST_15, 7),
	GI(14, 0x1, "2g.20gb", 2, 2, 3, 20096, 32, 2, 2, 0, 2, 0, ST_2, 1),
	GI(9, 0x2, "3g.40gb", 3, 4, 2, 40448, 60, 3, 3, 0, 3, 0, ST_3, 2),
	GI(5, 0x3, "4g.40gb", 4, 4, 1, 40448, 64, 4, 4, 0, 4, 0, ST_4, 3),
	GI(0, 0x4, "7g.80gb", 7, 8, 1, 81152, 132, 8, 7, 0, 7, 1, ST_7, 4),
};

static const struct gs_gi_profile h100_pcie[] = {
	GI(19, 0x0, "1g.10gb", 1, 1, 7, 9984, 14, 1, 1, 0, 1, 0, ST_1, 0),
	GI(20, 0x7, "1g.10gb+me", 1, 1, 1, 9984, 14, 1, 1, 0, 1, 1, ST_1, 0),
	GI(15, 0x9, "1g.20gb", 1, 2, 4, 20096, 14, 1, 1, 0, 1, 0, ST_15, 7),
	GI(14, 0x1, "2g.20gb", 2, 2, 3, 20096, 30, 2, 2, 0, 2, 0, ST_2, 1),
	GI(9, 0x2, "3g.40gb", 3, 4, 2, 40448, 46, 3, 3, 0, 3, 0, ST_3, 2),
	GI(5, 0x3, "4g.40gb", 4, 4, 1, 40448, 62, 4, 4, 0, 4, 0, ST_4, 3),
	GI(0, 0x4, "7g.80gb", 7, 8, 1, 81152, 114, 8, 7, 0, 7, 1, ST_7, 4),
};

static const struct gs_gi_profile h100_nvl[] = {
	GI(19, 0x0, "1g.12gb", 1, 1, 7, 11008, 16, 1, 1, 0, 1, 0, ST_1, 0),
	GI(20, 0x7, "1g.12gb+me", 1, 1, 1, 11008, 16, 1, 1, 0, 1, 1, ST_1, 0),
	GI(15, 0x9, "1g.24gb", 1, 2, 4, 22144, 26, 1, 1, 0, 1, 0, ST_15, 7),
	GI(14, 0x1, "2g.24gb", 2, 2, 3, 22144, 32, 2, 2, 0, 2, 0, ST_2, 1),
	GI(9, 0x2, "3g.47gb", 3, 4, 2, 47488, 60, 3, 3, 0, 3, 0, ST_3, 2),
	GI(5, 0x3, "4g.47gb", 4, 4, 1, 47488, 64, 4, 4, 0, 4, 0, ST_4, 3),
	GI(0, 0x4, "7g.94gb", 7, 8, 1, 95360, 132, 8, 7, 0, 7, 1, ST_7, 4),
};

/* The 4g row is inferred from the H100 pattern; no capture of it exists. */
static const struct gs_gi_profile h200[] = {
	GI(19, 0x0, "1g.18gb", 1, 1, 7, 16384, 16, 1, 1, 0, 1, 0, ST_1, 0),
	GI(20, 0x7, "1g.18gb+me", 1, 1, 1, 16384, 16, 1, 1, 0, 1, 1, ST_1, 0),
	GI(15, 0x9, "1g.35gb", 1, 2, 4, 33280, 26, 1, 1, 0, 1, 0, ST_15, 7),
	GI(14, 0x1, "2g.35gb", 2, 2, 3, 33280, 32, 2, 2, 0, 2, 0, ST_2, 1),
	GI(9, 0x2, "3g.71gb", 3, 4, 2, 71424, 60, 3, 3, 0, 3, 0, ST_3, 2),
	GI(5, 0x3, "4g.71gb", 4, 4, 1, 71424, 64, 4, 4, 0, 4, 0, ST_4, 3),
	GI(0, 0x4, "7g.141gb", 7, 8, 1, 143360, 132, 8, 7, 0, 7, 1, ST_7, 4),
};

#define PROFILES(t) t, sizeof(t) / sizeof((t)[0])
#define NO_MIG NULL, 0

/* key, name, PCI id (NVML's pciDeviceId: device << 16 | vendor 0x10DE; the
 * MIG parts' from mig-parted's configs, the L40S's and L4's from the PCI ID
 * database), SMs, MiB, cc, power cap W, BAR1 MiB, memory slices, swapped,
 * SMs per compute slice, idle GI KiB per slice, BAR1 KiB per slice */
static const struct gs_gpu_model models[] = {
	{ "a100-sxm4-40gb", "NVIDIA A100-SXM4-40GB", 0x20B010DE, 108, 40960, 8, 0, 400, 65536, 8, true, 14,
	  36352, 3126016, PROFILES(a100_40) },
	{ "a100-sxm4-80gb", "NVIDIA A100-SXM4-80GB", 0x20B210DE, 108, 81920, 8, 0, 400, 131072, 8, true, 14,
	  36352, 6252032, PROFILES(a100_80) },
	{ "h100-sxm5-80gb", "NVIDIA H100 80GB HBM3", 0x233010DE, 132, 81559, 9, 0, 700, 131072, 8, false, 16,
	  36352, 6252032, PROFILES(h100_sxm) },
	{ "h100-pcie-80gb", "NVIDIA H100 PCIe", 0x233110DE, 114, 81559, 9, 0, 350, 131072, 8, true, 14,
	  36352, 6252032, PROFILES(h100_pcie) },
	{ "h100-nvl-94gb", "NVIDIA H100 NVL", 0x232110DE, 132, 95830, 9, 0, 400, 131072, 8, true, 16,
	  36352, 7314432, PROFILES(h100_nvl) },
	{ "h200-sxm-141gb", "NVIDIA H200", 0x233510DE, 132, 143771, 9, 0, 700, 262144, 8, false, 16,
	  36352, 10993664, PROFILES(h200) },
	{ "l40s", "NVIDIA L40S", 0x26B910DE, 142, 46068, 8, 9, 350, 65536, 0, false, 0, 0, 0, NO_MIG },
	{ "l4", "NVIDIA L4", 0x27B810DE, 58, 23034, 8, 9, 72, 32768, 0, false, 0, 0, 0, NO_MIG },
};

size_t gs_model_count(void)
{
	return sizeof(models) / sizeof(models[0]);
}

const struct gs_gpu_model *gs_model_at(size_t i)
{
	return i < gs_model_count() ? &models[i] : NULL;
}

const struct gs_gpu_model *gs_model_default(void)
{
	return &models[0];
}

int gs_model_apply_slice_order(struct gs_gpu_model *m)
{
	const char *o = getenv("GPUSHARE_SLICE_ORDER");
	if (!o || !*o)
		return 0;
	if (strcmp(o, "identity") == 0)
		m->swapped = false;
	else if (strcmp(o, "swapped") == 0)
		m->swapped = true;
	else
		return -EINVAL;
	return 0;
}

const struct gs_gpu_model *gs_model_find(const char *key)
{
	for (size_t i = 0; i < gs_model_count(); i++)
		if (strcasecmp(models[i].key, key) == 0)
			return &models[i];
	return NULL;
}

const struct gs_gpu_model *gs_model_by_name(const char *name)
{
	for (size_t i = 0; i < gs_model_count(); i++)
		if (strcmp(models[i].name, name) == 0)
			return &models[i];
	return NULL;
}

const struct gs_gi_profile *gs_model_gi_by_id(const struct gs_gpu_model *m, unsigned id)
{
	for (size_t i = 0; i < m->n_gi; i++)
		if (m->gi[i].id == id)
			return &m->gi[i];
	return NULL;
}

const struct gs_gi_profile *gs_model_gi_by_name(const struct gs_gpu_model *m, const char *s)
{
	if (strncmp(s, "MIG ", 4) == 0)
		s += 4;
	if (*s >= '0' && *s <= '9' && strspn(s, "0123456789") == strlen(s)) {
		if (strlen(s) > 3)
			return NULL;
		return gs_model_gi_by_id(m, (unsigned)atoi(s));
	}
	for (size_t i = 0; i < m->n_gi; i++)
		if (strcmp(m->gi[i].name, s) == 0)
			return &m->gi[i];
	return NULL;
}

/* CI profile IDs by the number of compute slices they take (NVML enum). */
static int ci_id_for_slices(unsigned c)
{
	switch (c) {
	case 1: return 0;
	case 2: return 1;
	case 3: return 2;
	case 4: return 3;
	case 7: return 4;
	default: return -1;
	}
}

size_t gs_model_ci_profiles(const struct gs_gpu_model *m, const struct gs_gi_profile *gi,
			    struct gs_ci_profile *out, size_t max)
{
	static const unsigned sizes[] = { 1, 2, 3, 4, 7 };
	size_t n = 0;
	const char *base = gi->name;
	for (unsigned i = 0; i < sizeof sizes / sizeof sizes[0] && n < max; i++) {
		unsigned c = sizes[i];
		if (c > gi->g)
			break;
		if (gi->g == 4 && c == 3)
			continue; /* a 4g GI has no 3c profile */
		struct gs_ci_profile *p = &out[n++];
		bool full = c == gi->g;
		p->c = c;
		p->id = full ? gi->ci_full_id : (unsigned)ci_id_for_slices(c);
		p->max_instances = gi->g / c;
		p->sm = full ? gi->sm : c * m->sm_per_slice;
		p->is_default = full;
		if (full)
			snprintf(p->name, sizeof p->name, "%.24s", base);
		else
			snprintf(p->name, sizeof p->name, "%uc.%.24s", c, base);
	}
	return n;
}
