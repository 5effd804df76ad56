/* idmap.h: a map from 32-bit ids (not 0) to pointers, for the trace's CUPTI
 * backend: launches waiting for their kernel's record, and records that
 * came before their launch, by correlation id. Open addressing with linear
 * probing, grown by doubling up to a bound; used by one thread at a time. */
#ifndef GS_IDMAP_H
#define GS_IDMAP_H

#include <stddef.h>
#include <stdint.h>

struct gs__idmap {
	struct gs__idmap_slot {
		uint32_t id;     /* 0: free */
		void *val;
	} *slots;
	size_t cap, n, max;      /* cap a power of two (or 0); n used; max: what cap may grow to */
};

/* An empty map that may hold up to max/2 ids (max a power of two). */
void gs__idmap_init(struct gs__idmap *m, size_t max);
/* Adds id -> val (id not 0): 0, -EEXIST when id is there already (nothing
 * changed), or -ENOMEM when full (or no memory to grow). */
int gs__idmap_put(struct gs__idmap *m, uint32_t id, void *val);
/* Removes id: its value, NULL when it is not there. */
void *gs__idmap_take(struct gs__idmap *m, uint32_t id);
/* Calls fn for each entry; an entry fn returns true for is removed (the
 * caller owns its value then). fn may see an entry it kept twice (a
 * removal shifts entries back), never one it removed; it must not change
 * the map. */
void gs__idmap_sweep(struct gs__idmap *m, int (*fn)(void *arg, uint32_t id, void *val), void *arg);
/* Frees the table (not the values). */
void gs__idmap_free(struct gs__idmap *m);

#endif
