/* idmap.c: ids to pointers (idmap.h), linear probing with deletion by
 * backward shift (no tombstones: a long trace's churn never slows it). */
#include "idmap.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

void gs__idmap_init(struct gs__idmap *m, size_t max)
{
	*m = (struct gs__idmap){ .max = max };
}

static size_t home(const struct gs__idmap *m, uint32_t id)
{
	return (size_t)(id * 2654435761u) & (m->cap - 1); /* Knuth's multiplicative hash */
}

static void insert(struct gs__idmap *m, uint32_t id, void *val)
{
	size_t i = home(m, id);
	while (m->slots[i].id)
		i = (i + 1) & (m->cap - 1);
	m->slots[i] = (struct gs__idmap_slot){ id, val };
	m->n++;
}

/* Doubles the table (the first: 1024 slots); kept under half full. */
static int grow(struct gs__idmap *m)
{
	size_t cap = m->cap ? 2 * m->cap : 1024;
	if (cap > m->max)
		return -ENOMEM;
	struct gs__idmap_slot *old = m->slots, *s = calloc(cap, sizeof *s);
	if (!s)
		return -ENOMEM;
	size_t old_cap = m->cap;
	m->slots = s, m->cap = cap, m->n = 0;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].id)
			insert(m, old[i].id, old[i].val);
	free(old);
	return 0;
}

static bool has(const struct gs__idmap *m, uint32_t id)
{
	if (!m->cap)
		return false;
	for (size_t i = home(m, id); m->slots[i].id; i = (i + 1) & (m->cap - 1))
		if (m->slots[i].id == id)
			return true;
	return false;
}

int gs__idmap_put(struct gs__idmap *m, uint32_t id, void *val)
{
	if (!id)
		return -EINVAL;
	if (has(m, id))
		return -EEXIST; /* one value per id: a second would be freed twice */
	if (2 * (m->n + 1) > m->cap && grow(m))
		return -ENOMEM;
	insert(m, id, val);
	return 0;
}

/* Empties slot i, moving back the entries after it that probed past it. */
static void remove_at(struct gs__idmap *m, size_t i)
{
	size_t mask = m->cap - 1;
	m->slots[i].id = 0;
	m->n--;
	for (size_t j = (i + 1) & mask; m->slots[j].id; j = (j + 1) & mask) {
		size_t h = home(m, m->slots[j].id);
		/* j's entry may move to i when its home is not in (i, j] */
		bool stays = i <= j ? (h > i && h <= j) : (h > i || h <= j);
		if (!stays) {
			m->slots[i] = m->slots[j];
			m->slots[j].id = 0;
			i = j;
		}
	}
}

void *gs__idmap_take(struct gs__idmap *m, uint32_t id)
{
	if (!id || !m->cap)
		return NULL;
	for (size_t i = home(m, id); m->slots[i].id; i = (i + 1) & (m->cap - 1))
		if (m->slots[i].id == id) {
			void *v = m->slots[i].val;
			remove_at(m, i);
			return v;
		}
	return NULL;
}

void gs__idmap_sweep(struct gs__idmap *m, int (*fn)(void *arg, uint32_t id, void *val), void *arg)
{
	/* a removal shifts later entries back into slots already passed:
	 * look at slot i again after removing there */
	for (size_t i = 0; i < m->cap;) {
		if (m->slots[i].id && fn(arg, m->slots[i].id, m->slots[i].val)) {
			remove_at(m, i);
			continue;
		}
		i++;
	}
}

void gs__idmap_free(struct gs__idmap *m)
{
	free(m->slots);
	*m = (struct gs__idmap){ .max = m->max };
}
