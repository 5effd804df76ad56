/* ledger.c: the cross-process memory ledger (see ledger.h). */
#include "ledger.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define LEDGER_MAGIC 0x6773686cu /* "gshl" */
#define LEDGER_VERSION 1

struct slot {
	int32_t pid;           /* 0: free */
	uint32_t reserved;
	uint64_t start_time;   /* /proc/<pid>/stat field 22, to survive pid reuse */
	uint64_t bytes;
};

struct shm {
	uint32_t magic, version;
	pthread_mutex_t lock;
	uint64_t limit;
	uint64_t used;         /* cache of the sum of slots; rebuilt after a crash */
	struct slot slots[GS_LEDGER_SLOTS];
};

struct gs_ledger {
	struct shm *shm;
	pid_t pid;             /* the process that owns slot; refreshed after fork */
	uint64_t start_time;
	int slot;              /* -1 until the first charge */
};

static bool slot_alive(const struct slot *s)
{
	if (kill(s->pid, 0) && errno == ESRCH)
		return false;
	uint64_t st;
	int rc = gs_proc_start(s->pid, &st);
	return rc == -EIO || (rc == 0 && st == s->start_time); /* unreadable /proc: assume alive */
}

static void lock(struct shm *m)
{
	int rc = pthread_mutex_lock(&m->lock);
	if (rc == EOWNERDEAD) {
		/* the holder died mid-update: the slots are the truth */
		uint64_t sum = 0;
		for (int i = 0; i < GS_LEDGER_SLOTS; i++)
			sum += m->slots[i].bytes;
		m->used = sum;
		pthread_mutex_consistent(&m->lock);
	}
}

static void unlock(struct shm *m)
{
	pthread_mutex_unlock(&m->lock);
}

int gs_ledger_open(const char *path, uint64_t limit, struct gs_ledger **out)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	if (fd < 0)
		return -errno;
	fchmod(fd, 0666); /* a slice is shared by its users whatever their umask */
	/* initialisation is serialised by flock; it is not on any hot path */
	if (flock(fd, LOCK_EX)) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	struct stat st;
	int rc = 0;
	if (fstat(fd, &st))
		rc = -errno;
	else if (st.st_size == 0 && ftruncate(fd, sizeof(struct shm)))
		rc = -errno;
	else if (st.st_size != 0 && st.st_size != sizeof(struct shm))
		rc = -EPROTO;
	struct shm *m = MAP_FAILED;
	if (!rc) {
		m = mmap(NULL, sizeof *m, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (m == MAP_FAILED)
			rc = -errno;
	}
	if (!rc && m->magic != LEDGER_MAGIC) {
		pthread_mutexattr_t a;
		pthread_mutexattr_init(&a);
		pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
		pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
		pthread_mutex_init(&m->lock, &a);
		pthread_mutexattr_destroy(&a);
		m->limit = limit;
		m->version = LEDGER_VERSION;
		__atomic_store_n(&m->magic, LEDGER_MAGIC, __ATOMIC_RELEASE);
	} else if (!rc && m->version != LEDGER_VERSION) {
		rc = -EPROTO;
	}
	flock(fd, LOCK_UN);
	close(fd);
	if (rc) {
		if (m != MAP_FAILED)
			munmap(m, sizeof *m);
		return rc;
	}
	struct gs_ledger *l = calloc(1, sizeof *l);
	if (!l) {
		munmap(m, sizeof *m);
		return -ENOMEM;
	}
	l->shm = m;
	l->slot = -1;
	*out = l;
	return 0;
}

void gs_ledger_close(struct gs_ledger *l)
{
	if (!l)
		return;
	munmap(l->shm, sizeof *l->shm);
	free(l);
}

/* Finds or claims the calling process's slot; called with the lock held. */
static int my_slot(struct gs_ledger *l)
{
	pid_t pid = getpid();
	if (l->slot >= 0 && l->pid == pid)
		return l->slot;
	if (l->pid != pid) {
		l->pid = pid;
		l->start_time = gs_proc_start_time(pid);
	}
	struct shm *m = l->shm;
	int free_slot = -1;
	for (int i = 0; i < GS_LEDGER_SLOTS; i++) {
		if (m->slots[i].pid == pid && m->slots[i].start_time == l->start_time)
			return l->slot = i;
		if (free_slot < 0 && m->slots[i].pid == 0)
			free_slot = i;
	}
	if (free_slot < 0)
		return -ENOSPC;
	m->slots[free_slot] = (struct slot){ .pid = pid, .start_time = l->start_time };
	return l->slot = free_slot;
}

static uint64_t reclaim_locked(struct shm *m, pid_t self)
{
	uint64_t freed = 0;
	for (int i = 0; i < GS_LEDGER_SLOTS; i++) {
		struct slot *s = &m->slots[i];
		if (s->pid == 0 || s->pid == self || slot_alive(s))
			continue;
		freed += s->bytes;
		m->used -= s->bytes;
		memset(s, 0, sizeof *s);
	}
	return freed;
}

int gs_ledger_charge(struct gs_ledger *l, uint64_t bytes)
{
	struct shm *m = l->shm;
	lock(m);
	int slot = my_slot(l);
	if (slot < 0) {
		reclaim_locked(m, getpid());
		slot = my_slot(l);
	}
	if (slot < 0) {
		unlock(m);
		return slot;
	}
	if (m->used + bytes > m->limit || m->used + bytes < m->used) {
		/* slow path only: look for charges of dead processes */
		reclaim_locked(m, l->pid);
		if (m->used + bytes > m->limit || m->used + bytes < m->used) {
			unlock(m);
			return -ENOMEM;
		}
	}
	m->slots[slot].bytes += bytes;
	m->used += bytes;
	unlock(m);
	return 0;
}

void gs_ledger_uncharge(struct gs_ledger *l, uint64_t bytes)
{
	struct shm *m = l->shm;
	lock(m);
	int slot = my_slot(l);
	if (slot >= 0) {
		struct slot *s = &m->slots[slot];
		if (bytes > s->bytes)
			bytes = s->bytes;
		s->bytes -= bytes;
		m->used -= bytes;
	}
	unlock(m);
}

uint64_t gs_ledger_used(struct gs_ledger *l)
{
	return __atomic_load_n(&l->shm->used, __ATOMIC_RELAXED);
}

uint64_t gs_ledger_held(struct gs_ledger *l)
{
	struct shm *m = l->shm;
	lock(m);
	int slot = my_slot(l);
	uint64_t bytes = slot >= 0 ? m->slots[slot].bytes : 0;
	unlock(m);
	return bytes;
}

uint64_t gs_ledger_limit(struct gs_ledger *l)
{
	return __atomic_load_n(&l->shm->limit, __ATOMIC_RELAXED);
}

void gs_ledger_set_limit(struct gs_ledger *l, uint64_t limit)
{
	__atomic_store_n(&l->shm->limit, limit, __ATOMIC_RELAXED);
}

uint64_t gs_ledger_reclaim(struct gs_ledger *l)
{
	lock(l->shm);
	uint64_t freed = reclaim_locked(l->shm, 0);
	unlock(l->shm);
	return freed;
}

size_t gs_ledger_usage(struct gs_ledger *l, struct gs_ledger_usage *out, size_t max)
{
	size_t n = 0;
	lock(l->shm);
	reclaim_locked(l->shm, 0);
	for (int i = 0; i < GS_LEDGER_SLOTS && n < max; i++) {
		const struct slot *s = &l->shm->slots[i];
		if (s->pid && s->bytes)
			out[n++] = (struct gs_ledger_usage){ s->pid, s->bytes };
	}
	unlock(l->shm);
	return n;
}
