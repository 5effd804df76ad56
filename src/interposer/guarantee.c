/* guarantee.c: memory guarantees between the slices of one GPU.
 *
 * A slice made without over-commit is guaranteed its whole limit; one made
 * with it is guaranteed what gpushare-control's set_slice_guarantee gave it
 * (nothing by default), and the guarantees of a GPU always fit in its memory.
 * Below its guarantee a slice allocates freely. Above it, an allocation is
 * admitted only out of memory no other slice's unused guarantee needs:
 *
 *     sum over the other slices of max(used, guarantee) + ours <= the GPU's
 *
 * A slice made -borrow-memory on lends nothing of its own but borrows what
 * the others are guaranteed and do not use: above its guarantee it is
 * admitted while the sum over the other slices of their use alone, plus
 * ours, fits. It borrows only from slices of its priority or above (those
 * that may take it back: a program is never suspended for a slice it
 * out-ranks), and under NVIDIA MPS only with its memory backed for the swap
 * (the only way such a program can be suspended). An owner (any slice) allocating within its guarantee while
 * borrowers hold what it is owed asks gpushare-control for it back
 * (gs__guarantee_shortfall, lend.c): the daemon suspends borrowers.
 *
 * A program outside every slice (the remainder) is guaranteed nothing: all
 * it takes is checked so. The other slices' ledgers (read-only: only their
 * own programs write them) and guarantees come from the store, read again
 * when it changes (looked at no more than every 100 ms); an allocation
 * within the guarantee takes no lock, only one above it reads their ledgers. */
#include "interposer.h"
#include "slice.h"
#include "store.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define RECHECK_NS 100000000ull

struct peer {
	struct gs_ledger *ledger;
	uint64_t guarantee;
	bool borrower;           /* -borrow-memory: may hold what we are owed */
	unsigned rank;           /* low 0, normal 1, critical 2 */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct peer peers[GS_MIG_MAX_GI + 1]; /* the other slices, and the remainder */
static size_t n_peers;
static uint64_t own_guarantee = UINT64_MAX; /* unknown (no store): no check */
static bool own_borrows; /* this slice borrows the others' unused guarantees */
static unsigned own_rank;
static bool lent; /* some other slice of the GPU borrows: within the guarantee is checked too */
/* the store cannot be read (a private state dir): placed by the daemon, a
 * program takes no more than its guarantee, since it cannot see what the
 * others are owed */
static bool blind;
static uint64_t gpu_bytes, checked_ns;
static struct timespec store_mtime;

static void forget_peers(void)
{
	for (size_t i = 0; i < n_peers; i++)
		gs_ledger_close(peers[i].ledger);
	n_peers = 0;
}

static unsigned rank_of(unsigned priority)
{
	return priority == GS_PRIO_LOW ? 0 : priority == GS_PRIO_CRITICAL ? 2 : 1;
}

/* A ledger's figure, never more than the GPU: a slice's programs write
 * their own ledger, and no figure of theirs may stand for more. */
static uint64_t capped(uint64_t v)
{
	return gpu_bytes && v > gpu_bytes ? gpu_bytes : v;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

/* The guarantees and the other slices' ledgers, if the store changed since
 * it was last read. */
static void read_store(void)
{
	char path[sizeof gs__slice.store_dir + 16];
	struct stat st;
	snprintf(path, sizeof path, "%s/slices", gs__slice.store_dir);
	static struct gs_store s;
	if (stat(path, &st) || gs_store_load(gs__slice.store_dir, &s, NULL, 0)) {
		if (errno == ENOENT && !stat(gs__slice.store_dir, &st))
			return; /* no store yet: no slice to share with */
		/* the remainder's own limit already leaves every guarantee free */
		blind = gs__slice.placed && !gs__slice.remainder;
		if (blind)
			__atomic_store_n(&own_guarantee, gs__slice.guarantee, __ATOMIC_RELAXED);
		return;
	}
	if (st.st_mtim.tv_sec == store_mtime.tv_sec && st.st_mtim.tv_nsec == store_mtime.tv_nsec && !blind)
		return;
	store_mtime = st.st_mtim;
	blind = false;
	struct gs_store_gpu *g = NULL;
	struct gs_mig_ci *ci = NULL;
	if (gs__slice.remainder) {
		/* outside every slice: guaranteed nothing, every slice a neighbour */
		__atomic_store_n(&own_guarantee, 0, __ATOMIC_RELAXED);
		g = gs_store_gpu(&s, gs__slice.gpu_uuid, false);
	} else if (gs_slice_resolve(&s, gs__slice.name, &g, &ci, NULL, 0)) {
		return;
	}
	forget_peers();
	bool any_borrower = false;
	/* under NVIDIA MPS or TPC masks the checkpoint API refuses it: only the
	 * swap suspends it */
	bool checkpointable = !gs__client.mps && !__atomic_load_n(&gs__mask_on, __ATOMIC_RELAXED);
	own_borrows = ci && ci->borrow_mem && (checkpointable || __atomic_load_n(&gs__swap_on, __ATOMIC_RELAXED));
	own_rank = ci ? rank_of(ci->sm_policy.priority) : 1;
	for (size_t i = 0; g && i < g->layout.n_gi; i++) {
		const struct gs_mig_gi *gi = &g->layout.gi[i];
		if (ci && gi->id == ci->gi) {
			__atomic_store_n(&own_guarantee, (uint64_t)gi->guarantee_mib << 20, __ATOMIC_RELAXED);
			continue;
		}
		bool borrower = false;
		unsigned rank = 0;
		for (size_t k = 0; k < g->layout.n_ci; k++)
			if (g->layout.ci[k].gi == gi->id) {
				borrower |= g->layout.ci[k].borrow_mem;
				unsigned r = rank_of(g->layout.ci[k].sm_policy.priority);
				rank = r > rank ? r : rank;
			}
		any_borrower |= borrower;
		char lpath[PATH_MAX];
		struct gs_ledger *l;
		if (gs_store_ledger_path(gs__slice.store_dir, g->uuid, gi, lpath, sizeof lpath) == 0 &&
		    gs_ledger_open_ro(lpath, &l) == 0)
			peers[n_peers++] = (struct peer){ l, (uint64_t)gi->guarantee_mib << 20, borrower, rank };
	}
	/* the remainder is guaranteed nothing: it has no promise to keep */
	__atomic_store_n(&lent, any_borrower && !gs__slice.remainder, __ATOMIC_RELAXED);
	/* for a slice, what programs outside every slice hold: guaranteed nothing */
	char rpath[PATH_MAX];
	struct gs_ledger *r;
	if (!gs__slice.remainder && n_peers < GS_ARRAY_LEN(peers) &&
	    gs_store_remainder_path(gs__slice.store_dir, gs__slice.gpu_uuid, rpath, sizeof rpath) == 0 &&
	    gs_ledger_open_ro(rpath, &r) == 0)
		peers[n_peers++] = (struct peer){ r, 0, false, 0 };
	if (!gpu_bytes)
		gpu_bytes = gs__nvml_total_bytes(gs__slice.gpu_uuid);
}

/* At most every RECHECK_NS; called with the lock held. */
static void refresh(void)
{
	uint64_t now = gs_now_ns();
	if (checked_ns && now - checked_ns < RECHECK_NS)
		return;
	read_store();
	__atomic_store_n(&checked_ns, now, __ATOMIC_RELEASE); /* what read_store set is visible first */
}

bool gs__guarantee_admits(uint64_t used)
{
	if (!gs__slice.store_dir[0])
		return true; /* limits from the environment: no slices to share with */
	/* the usual allocation: within the guarantee, read not long ago; no lock */
	uint64_t now = gs_now_ns(), checked = __atomic_load_n(&checked_ns, __ATOMIC_ACQUIRE);
	if (checked && now - checked < RECHECK_NS && used <= __atomic_load_n(&own_guarantee, __ATOMIC_RELAXED))
		return true;
	pthread_mutex_lock(&lock);
	refresh();
	bool ok = true;
	if (used > own_guarantee && blind) {
		ok = false;
		gs__log("refused: %llu MiB would pass the slice's guarantee, and the other slices' use cannot be read "
			"(%s)", (unsigned long long)(used >> 20), gs__slice.store_dir);
	} else if (used > own_guarantee && gpu_bytes) {
		uint64_t others = 0;
		for (size_t i = 0; i < n_peers; i++) {
			uint64_t u = capped(gs_ledger_live(peers[i].ledger)); /* the dead left out: nobody reclaims through a read-only map */
			/* a borrower takes what the others are owed and do not use,
			 * to be given back when they ask (the daemon suspends it) */
			bool borrowable = own_borrows && peers[i].rank >= own_rank;
			others = add_sat(others, u > peers[i].guarantee || borrowable ? u : peers[i].guarantee);
		}
		ok = others + used <= gpu_bytes;
		if (!ok)
			gs__log("refused: %llu MiB would take memory other slices %s (%llu MiB %s of %llu MiB)",
				(unsigned long long)(used >> 20), own_borrows ? "use" : "are guaranteed",
				(unsigned long long)(others >> 20), own_borrows ? "in use" : "held or guaranteed",
				(unsigned long long)(gpu_bytes >> 20));
	}
	pthread_mutex_unlock(&lock);
	return ok;
}

uint64_t gs__guarantee_shortfall(uint64_t used)
{
	if (!gs__slice.store_dir[0])
		return 0;
	uint64_t now = gs_now_ns(), checked = __atomic_load_n(&checked_ns, __ATOMIC_ACQUIRE);
	if (checked && now - checked < RECHECK_NS &&
	    (!__atomic_load_n(&lent, __ATOMIC_RELAXED) || used > __atomic_load_n(&own_guarantee, __ATOMIC_RELAXED)))
		return 0; /* the usual allocation: nobody borrows what we are owed (or none is owed); no lock */
	pthread_mutex_lock(&lock);
	refresh();
	uint64_t short_by = 0;
	if (lent && !blind && gpu_bytes && used <= own_guarantee) {
		/* the ledgers' totals first, the dead's charges in them: at most
		 * what live programs hold, so that no syscall is made (a look at
		 * each holder) unless it may be short */
		uint64_t others = 0;
		for (size_t i = 0; i < n_peers; i++)
			others = add_sat(others, capped(gs_ledger_used(peers[i].ledger)));
		if (add_sat(others, used) > gpu_bytes) {
			/* short only by what borrowers we may take it back from hold
			 * past their own guarantee: a figure another slice wrote in
			 * its own ledger asks nobody for anything */
			uint64_t borrowed = 0;
			others = 0;
			for (size_t i = 0; i < n_peers; i++) {
				uint64_t u = capped(gs_ledger_live(peers[i].ledger));
				others = add_sat(others, u);
				if (peers[i].borrower && peers[i].rank <= own_rank && u > peers[i].guarantee)
					borrowed = add_sat(borrowed, u - peers[i].guarantee);
			}
			uint64_t over = add_sat(others, used) > gpu_bytes ? add_sat(others, used) - gpu_bytes : 0;
			short_by = over < borrowed ? over : borrowed;
		}
	}
	pthread_mutex_unlock(&lock);
	return short_by;
}

bool gs__guarantee_lent(uint64_t used)
{
	if (!gs__slice.store_dir[0])
		return false;
	pthread_mutex_lock(&lock);
	refresh();
	bool owed = lent && !blind && used <= own_guarantee;
	/* and some borrower it may take back from holds past its own guarantee */
	bool held = false;
	for (size_t i = 0; owed && !held && i < n_peers; i++)
		held = peers[i].borrower && peers[i].rank <= own_rank &&
		       capped(gs_ledger_live(peers[i].ledger)) > peers[i].guarantee;
	pthread_mutex_unlock(&lock);
	return owed && held;
}

bool gs__guarantee_admits_in(const struct gs__slice *s, uint64_t used)
{
	if (s == &gs__slice)
		return gs__guarantee_admits(used);
	/* a further slice of the program: within its guarantee, which the
	 * GPU's guarantees always leave it (an over-committed one's past it is
	 * not looked for in the other slices' ledgers: refused) */
	if (!s->store_dir[0] || used <= s->guarantee)
		return true;
	gs__log("refused: %llu MiB would pass slice %s's guarantee of %llu MiB (a program's further slice takes no "
		"more than its guarantee)", (unsigned long long)(used >> 20), s->name,
		(unsigned long long)(s->guarantee >> 20));
	return false;
}
