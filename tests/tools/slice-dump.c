/* slice-dump.c: the slice store of a state dir and every memory ledger in it,
 * read under the store's lock (one consistent instant), one record a line,
 * so that shell tests can check what a crash left behind:
 *
 *   slice-dump DIR [LEDGER...]
 *   gpu <uuid> sms <n> unit <n> mib <n>
 *   gi <gpu> <id> serial <n> sm <n> start <n|-> mib <n> guarantee <n> cis <n> ledger <limit bytes|none>
 *   ci <gpu> <gi> <id> <MIG-uuid> sm <n> users <uid,...|*> busy <queue|refuse>
 *   ledger <file> limit <bytes> used <bytes> held <bytes> live <n> instance <1|0>
 *
 * used is the ledger's total once the charges of dead processes are
 * reclaimed, held the sum of what its live processes hold; instance says
 * whether the ledger is a GPU instance's of the store. LEDGER...: more
 * ledgers (a simulated GPU's memory) as "ledger" lines, instance 0. Exits 1
 * when the store cannot be read. */
#include "ledger.h"
#include "store.h"

#include <dirent.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* One ledger line; 0, or -1 when there is no ledger at path (never made). */
static int dump_ledger(const char *path, const char *shown, bool instance)
{
	struct gs_ledger *l;
	if (access(path, F_OK) || gs_ledger_open(path, 0, 0, &l))
		return -1;
	static struct gs_ledger_usage u[GS_LEDGER_SLOTS];
	size_t n = gs_ledger_usage(l, u, GS_LEDGER_SLOTS);
	uint64_t held = 0;
	for (size_t i = 0; i < n; i++)
		held += u[i].bytes;
	printf("ledger %s limit %" PRIu64 " used %" PRIu64 " held %" PRIu64 " live %zu instance %d\n", shown,
	       gs_ledger_limit(l), gs_ledger_used(l), held, n, instance ? 1 : 0);
	gs_ledger_close(l);
	return 0;
}

/* The limit of a GPU instance's ledger, or -1 when it has none. */
static int64_t ledger_limit(const char *path)
{
	struct gs_ledger *l;
	if (access(path, F_OK) || gs_ledger_open(path, 0, 0, &l))
		return -1;
	int64_t limit = (int64_t)gs_ledger_limit(l);
	gs_ledger_close(l);
	return limit;
}

static bool of_instance(const struct gs_store *st, const char *dir, const char *name)
{
	for (size_t i = 0; i < st->n_gpu; i++)
		for (size_t k = 0; k < st->gpu[i].layout.n_gi; k++) {
			char path[PATH_MAX];
			gs_store_ledger_path(dir, st->gpu[i].uuid, &st->gpu[i].layout.gi[k], path, sizeof path);
			if (strcmp(strrchr(path, '/') + 1, name) == 0)
				return true;
		}
	return false;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: slice-dump DIR [LEDGER...]\n");
		return 2;
	}
	const char *dir = argv[1];
	static struct gs_store st;
	char err[512];
	int lock = gs_store_lock(dir);
	if (lock < 0) {
		printf("unreadable cannot lock %s\n", dir);
		return 1;
	}
	if (gs_store_load(dir, &st, err, sizeof err)) {
		printf("unreadable %s\n", err);
		return 1;
	}
	for (size_t i = 0; i < st.n_gpu; i++) {
		const struct gs_store_gpu *g = &st.gpu[i];
		printf("gpu %s sms %u unit %u mib %" PRIu32 "\n", g->uuid, g->sm_count, g->sm_unit, g->memory_mib);
		for (size_t k = 0; k < g->layout.n_gi; k++) {
			const struct gs_mig_gi *gi = &g->layout.gi[k];
			char path[PATH_MAX], start[16] = "-", limit[32] = "none";
			unsigned cis = 0;
			for (size_t c = 0; c < g->layout.n_ci; c++)
				cis += g->layout.ci[c].gi == gi->id;
			if (gi->sm_placed)
				snprintf(start, sizeof start, "%u", gi->sm_start);
			gs_store_ledger_path(dir, g->uuid, gi, path, sizeof path);
			int64_t l = ledger_limit(path);
			if (l >= 0)
				snprintf(limit, sizeof limit, "%" PRId64, l);
			printf("gi %s %u serial %" PRIu64 " sm %u start %s mib %" PRIu32 " guarantee %" PRIu32
			       " cis %u ledger %s\n", g->uuid, gi->id, gi->serial, gi->sm, start, gi->memory_mib,
			       gi->guarantee_mib, cis, limit);
		}
		for (size_t c = 0; c < g->layout.n_ci; c++) {
			const struct gs_mig_ci *ci = &g->layout.ci[c];
			char uuid[GS_UUID_STR + 4], users[GS_SLICE_MAX_USERS * 11 + 2] = "*";
			gs_store_ci_uuid(g->uuid, ci, uuid);
			for (unsigned u = 0, len = 0; u < ci->n_users; u++)
				len += (unsigned)snprintf(users + len, sizeof users - len, "%s%" PRIu32, u ? "," : "",
							  ci->users[u]);
			printf("ci %s %u %u %s sm %u users %s busy %s\n", g->uuid, ci->gi, ci->id, uuid, ci->sm, users,
			       ci->refuse_busy ? "refuse" : "queue");
		}
	}
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char path[PATH_MAX];
		if (strncmp(e->d_name, "ledger-", 7))
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		dump_ledger(path, e->d_name, of_instance(&st, dir, e->d_name));
	}
	if (d)
		closedir(d);
	for (int i = 2; i < argc; i++)
		if (dump_ledger(argv[i], argv[i], false))
			printf("ledger %s none\n", argv[i]);
	fflush(stdout);
	close(lock);
	return 0;
}
