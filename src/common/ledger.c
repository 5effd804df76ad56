/* ledger.c: the cross-process memory ledger (see ledger.h). */
#include "ledger.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
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
	uint32_t reserved;     /* held: the process is suspended, its charges wait (gs_ledger_set_hold) */
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
	bool ro;               /* mapped read-only: used and usage only */
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

/* Checks and maps an open ledger file, initialising it when it is new (its
 * size 0). Initialisation is serialised by flock; it is not on any hot path. */
static bool initialised(int fd)
{
	struct stat st;
	uint32_t magic;
	return fstat(fd, &st) == 0 && st.st_size == sizeof(struct shm) &&
	       pread(fd, &magic, sizeof magic, offsetof(struct shm, magic)) == sizeof magic && magic == LEDGER_MAGIC;
}

/* The initialisation lock, taken only for a ledger not yet initialised and
 * for 2 s at most: a reader of the file (any user, where the directory lets
 * them) can hold it, but never stop a program for good. */
static int init_lock(int fd)
{
	for (int i = 0; i < 200; i++) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return -errno;
		usleep(10000);
	}
	return -EAGAIN;
}

static int map(int fd, bool ro, uint64_t limit, struct gs_ledger **out)
{
	bool locked = !ro && !initialised(fd);
	int lrc = locked ? init_lock(fd) : 0;
	if (lrc)
		return lrc;
	struct stat st;
	int rc = 0;
	if (fstat(fd, &st))
		rc = -errno;
	else if (!S_ISREG(st.st_mode))
		rc = -EINVAL;
	else if (st.st_size == 0 && (ro || ftruncate(fd, sizeof(struct shm))))
		rc = ro ? -EPROTO : -errno;
	else if (st.st_size != 0 && st.st_size != sizeof(struct shm))
		rc = -EPROTO;
	struct shm *m = MAP_FAILED;
	if (!rc) {
		m = mmap(NULL, sizeof *m, ro ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (m == MAP_FAILED)
			rc = -errno;
	}
	if (!rc && m->magic != LEDGER_MAGIC && !ro) {
		pthread_mutexattr_t a;
		pthread_mutexattr_init(&a);
		pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
		pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
		pthread_mutex_init(&m->lock, &a);
		pthread_mutexattr_destroy(&a);
		m->limit = limit;
		m->version = LEDGER_VERSION;
		__atomic_store_n(&m->magic, LEDGER_MAGIC, __ATOMIC_RELEASE);
	} else if (!rc && (__atomic_load_n(&m->magic, __ATOMIC_ACQUIRE) != LEDGER_MAGIC || m->version != LEDGER_VERSION)) {
		rc = -EPROTO;
	}
	if (locked)
		flock(fd, LOCK_UN);
	struct gs_ledger *l = rc ? NULL : calloc(1, sizeof *l);
	if (!rc && !l)
		rc = -ENOMEM;
	if (rc) {
		if (m != MAP_FAILED)
			munmap(m, sizeof *m);
		return rc;
	}
	l->shm = m;
	l->slot = -1;
	l->ro = ro;
	*out = l;
	return 0;
}

/* A new ledger: made whole in a file of its own (0600, so nobody else can
 * open it, let alone lock it, meanwhile), given its mode, then linked in
 * place; where another process linked one first, that one is used. */
static int create(const char *path, uint64_t limit, unsigned mode, struct gs_ledger **out)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof tmp, "%s.new.%ld", path, (long)getpid()) >= (int)sizeof tmp)
		return -ENAMETOOLONG;
	unlink(tmp); /* one a killed process of this pid left */
	int fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	int rc = map(fd, false, limit, out);
	if (!rc && fchmod(fd, mode)) /* the mode asked for, whatever the umask */
		rc = -errno;
	if (!rc && link(tmp, path)) {
		rc = -errno;
		gs_ledger_close(*out);
		if (rc == -EEXIST) /* made by another process meanwhile */
			rc = gs_ledger_open(path, limit, 0, out);
	}
	unlink(tmp);
	close(fd);
	return rc;
}

int gs_ledger_open(const char *path, uint64_t limit, unsigned mode, struct gs_ledger **out)
{
	int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && mode)
		return create(path, limit, mode, out);
	if (fd < 0)
		return -errno;
	int rc = map(fd, false, limit, out);
	close(fd);
	return rc;
}

int gs_ledger_open_fd(int fd, struct gs_ledger **out)
{
	return map(fd, false, 0, out);
}

int gs_ledger_open_ro(const char *path, struct gs_ledger **out)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = map(fd, true, 0, out);
	close(fd);
	return rc;
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
	if (l->ro)
		return -EROFS;
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
	if (l->ro)
		return;
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

/* The slot of process pid started at start (its start time now where 0),
 * or -1; called with the lock held. */
static int slot_of(const struct shm *m, pid_t pid, uint64_t start)
{
	if (!start && gs_proc_start(pid, &start))
		return -1;
	for (int i = 0; i < GS_LEDGER_SLOTS; i++)
		if (m->slots[i].pid == pid && m->slots[i].start_time == start)
			return i;
	return -1;
}

int gs_ledger_take_part(struct gs_ledger *l, pid_t pid, uint64_t start, uint64_t most, uint64_t *bytes)
{
	*bytes = 0;
	if (l->ro)
		return -EROFS;
	struct shm *m = l->shm;
	lock(m);
	int i = slot_of(m, pid, start);
	if (i >= 0) {
		uint64_t n = m->slots[i].bytes < most ? m->slots[i].bytes : most;
		*bytes = n;
		m->used -= n;
		m->slots[i].bytes -= n;
	}
	unlock(m);
	return 0;
}

int gs_ledger_take_out(struct gs_ledger *l, pid_t pid, uint64_t start, uint64_t *bytes)
{
	return gs_ledger_take_part(l, pid, start, UINT64_MAX, bytes);
}

int gs_ledger_put_back(struct gs_ledger *l, pid_t pid, uint64_t start, uint64_t bytes)
{
	if (l->ro)
		return -EROFS;
	struct shm *m = l->shm;
	uint64_t st;
	/* that process, alive: a pid taken by another since is nobody to charge */
	if (gs_proc_start(pid, &st) || (start && st != start))
		return -ESRCH;
	lock(m);
	int i = slot_of(m, pid, st);
	if (i < 0) { /* reclaimed meanwhile, or never charged: a slot of its own again */
		for (int k = 0; k < GS_LEDGER_SLOTS && i < 0; k++)
			if (m->slots[k].pid == 0)
				i = k;
		if (i < 0) {
			unlock(m);
			return -ENOSPC;
		}
		m->slots[i] = (struct slot){ .pid = pid, .start_time = st };
	}
	if (m->used + bytes > m->limit || m->used + bytes < m->used) {
		reclaim_locked(m, 0);
		if (m->used + bytes > m->limit || m->used + bytes < m->used) {
			unlock(m);
			return -ENOMEM;
		}
	}
	m->slots[i].bytes += bytes;
	m->used += bytes;
	unlock(m);
	return 0;
}

int gs_ledger_set_hold(struct gs_ledger *l, pid_t pid, uint64_t start, bool on)
{
	if (l->ro)
		return -EROFS;
	struct shm *m = l->shm;
	lock(m);
	int i = slot_of(m, pid, start);
	if (i >= 0)
		__atomic_store_n(&m->slots[i].reserved, on ? 1u : 0u, __ATOMIC_RELEASE);
	unlock(m);
	return i >= 0 ? 0 : -ESRCH;
}

bool gs_ledger_held_here(const struct gs_ledger *l)
{
	/* the pid (a system call) only when the flag is up: every call of the
	 * simulated driver asks */
	return l->slot >= 0 && __atomic_load_n(&l->shm->slots[l->slot].reserved, __ATOMIC_ACQUIRE) != 0 &&
	       l->pid == getpid();
}

uint64_t gs_ledger_used(struct gs_ledger *l)
{
	return __atomic_load_n(&l->shm->used, __ATOMIC_RELAXED);
}

uint64_t gs_ledger_held(struct gs_ledger *l)
{
	if (l->ro)
		return 0;
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
	if (l->ro)
		return;
	__atomic_store_n(&l->shm->limit, limit, __ATOMIC_RELAXED);
}

uint64_t gs_ledger_reclaim(struct gs_ledger *l)
{
	if (l->ro)
		return 0;
	lock(l->shm);
	uint64_t freed = reclaim_locked(l->shm, 0);
	unlock(l->shm);
	return freed;
}

size_t gs_ledger_usage(struct gs_ledger *l, struct gs_ledger_usage *out, size_t max)
{
	size_t n = 0;
	if (!l->ro) {
		lock(l->shm);
		reclaim_locked(l->shm, 0);
	}
	for (int i = 0; i < GS_LEDGER_SLOTS && n < max; i++) {
		struct slot s = l->shm->slots[i];
		/* read-only: a snapshot, without the dead (a writer reclaims them) */
		if (s.pid && s.bytes && (!l->ro || slot_alive(&s)))
			out[n++] = (struct gs_ledger_usage){ s.pid, s.bytes };
	}
	if (!l->ro)
		unlock(l->shm);
	return n;
}

uint64_t gs_ledger_live(struct gs_ledger *l)
{
	if (!l->ro) {
		gs_ledger_reclaim(l);
		return gs_ledger_used(l);
	}
	uint64_t sum = 0;
	for (int i = 0; i < GS_LEDGER_SLOTS; i++) {
		struct slot s = l->shm->slots[i];
		if (s.pid && s.bytes && slot_alive(&s))
			sum += s.bytes;
	}
	return sum;
}

unsigned gs_ledger_mode(const char *dir)
{
	struct stat d;
	return stat(dir, &d) == 0 && (d.st_mode & 0055) ? 0644 : 0600;
}

uint64_t gs_ledger_pid_bytes(struct gs_ledger *l, pid_t pid)
{
	uint64_t sum = 0;
	for (int i = 0; i < GS_LEDGER_SLOTS; i++) {
		struct slot s = l->shm->slots[i];
		if (s.pid == pid)
			sum += s.bytes;
	}
	return sum;
}
