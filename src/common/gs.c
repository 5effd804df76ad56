/* gs.c: the common layer: errors, UUIDs, sizes and crash-safe files. */
#include "gs.h"

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int gs_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

void gs_uuid_format(const struct gs_uuid *u, char out[GS_UUID_STR])
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[u->b[i] >> 4];
		out[o++] = hex[u->b[i] & 15];
	}
	out[o] = '\0';
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int gs_uuid_parse(const char *s, struct gs_uuid *u)
{
	int bi = 0;
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return -EINVAL;
			continue;
		}
		int hi = hexval((unsigned char)s[i]);
		if (hi < 0)
			return -EINVAL;
		i++;
		int lo = hexval((unsigned char)s[i]);
		if (lo < 0 || i == 8 || i == 13 || i == 18 || i == 23)
			return -EINVAL;
		u->b[bi++] = (uint8_t)(hi << 4 | lo);
	}
	return s[36] == '\0' ? 0 : -EINVAL;
}

static uint64_t fnv1a(const char *s, uint64_t h)
{
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	/* final avalanche so that near-identical words differ in every byte */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

void gs_uuid_derive(struct gs_uuid *u, const char *words)
{
	uint64_t a = fnv1a(words, 0xcbf29ce484222325ULL);
	uint64_t b = fnv1a(words, a ^ 0x9e3779b97f4a7c15ULL);
	for (int i = 0; i < 8; i++) {
		u->b[i] = (uint8_t)(a >> (56 - 8 * i));
		u->b[8 + i] = (uint8_t)(b >> (56 - 8 * i));
	}
	u->b[6] = (uint8_t)((u->b[6] & 0x0f) | 0x50);
	u->b[8] = (uint8_t)((u->b[8] & 0x3f) | 0x80);
}

int gs_parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
	unsigned long long v = 0;
	if (!s || !*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		unsigned d = (unsigned)(*s - '0');
		if (d > max || v > (max - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

int gs_parse_size(const char *s, uint64_t *bytes)
{
	char num[32];
	size_t n = 0;
	if (!s)
		return -EINVAL;
	while (s[n] >= '0' && s[n] <= '9')
		n++;
	if (n == 0 || n >= sizeof num)
		return n ? -ERANGE : -EINVAL;
	memcpy(num, s, n);
	num[n] = '\0';
	unsigned long long v;
	int rc = gs_parse_uint(num, UINT64_MAX, &v);
	if (rc)
		return rc;
	const char *suf = s + n;
	unsigned shift = 0;
	switch (toupper((unsigned char)*suf)) {
	case '\0': break;
	case 'K': shift = 10; suf++; break;
	case 'M': shift = 20; suf++; break;
	case 'G': shift = 30; suf++; break;
	case 'T': shift = 40; suf++; break;
	case 'B': break;
	default: return -EINVAL;
	}
	if (shift && (*suf == 'i' || *suf == 'I'))
		suf++;
	if (*suf == 'B' || *suf == 'b')
		suf++;
	if (*suf)
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*bytes = (uint64_t)v << shift;
	return 0;
}

static int fsync_dir_of(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	if (!slash) {
		strcpy(dir, ".");
	} else {
		size_t n = (size_t)(slash - path);
		if (n == 0)
			n = 1;
		if (n >= sizeof dir)
			return -ENAMETOOLONG;
		memcpy(dir, path, n);
		dir[n] = '\0';
	}
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = fsync(fd) ? -errno : 0;
	close(fd);
	return rc;
}

int gs_file_replace(const char *path, const void *data, size_t len)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
		return -ENAMETOOLONG;
	/* a stale temporary file (or a symlink planted in a shared directory) is
	 * removed, never followed or written through */
	unlink(tmp);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	const char *p = data;
	size_t left = len;
	while (left) {
		ssize_t w = write(fd, p, left);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			int rc = -errno;
			close(fd);
			unlink(tmp);
			return rc;
		}
		p += w;
		left -= (size_t)w;
	}
	if (fsync(fd) || close(fd)) {
		int rc = -errno;
		unlink(tmp);
		return rc;
	}
	if (rename(tmp, path)) {
		int rc = -errno;
		unlink(tmp);
		return rc;
	}
	return fsync_dir_of(path);
}

static int read_fd(int fd, size_t max, char **data, size_t *len);

int gs_file_read(const char *path, size_t max, char **data, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	return read_fd(fd, max, data, len);
}

int gs_file_read_owned(const char *path, uid_t owner, size_t max, char **data, size_t *len, char *why,
		       size_t whylen)
{
	/* O_NONBLOCK: a FIFO planted there does not block the open */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return errno == ELOOP ? gs_fail(why, whylen, -EPERM, "%s is a symbolic link", path)
				      : gs_fail(why, whylen, -errno, "%s: %s", path, strerror(errno));
	struct stat st;
	int rc = 0;
	if (fstat(fd, &st))
		rc = gs_fail(why, whylen, -errno, "%s: %s", path, strerror(errno));
	else if (!S_ISREG(st.st_mode))
		rc = gs_fail(why, whylen, -EPERM, "%s is not a regular file", path);
	else if (st.st_uid != owner)
		rc = gs_fail(why, whylen, -EPERM, "%s is owned by uid %u, not %u", path, (unsigned)st.st_uid,
			     (unsigned)owner);
	else if (st.st_mode & 022)
		rc = gs_fail(why, whylen, -EPERM, "%s is writable by its group or others (mode %03o)", path,
			     (unsigned)(st.st_mode & 0777));
	if (rc) {
		close(fd);
		return rc;
	}
	rc = read_fd(fd, max, data, len);
	return rc ? gs_fail(why, whylen, rc, "%s: %s", path, strerror(-rc)) : 0;
}

/* Reads fd to its end and closes it. */
static int read_fd(int fd, size_t max, char **data, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		if (n == cap) {
			if (cap >= max) {
				free(buf);
				close(fd);
				return -EFBIG;
			}
			cap *= 2;
			char *nb = realloc(buf, cap + 1);
			if (!nb) {
				free(buf);
				close(fd);
				return -ENOMEM;
			}
			buf = nb;
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int rc = -errno;
			free(buf);
			close(fd);
			return rc;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (n > max) {
		free(buf);
		return -EFBIG;
	}
	buf[n] = '\0';
	*data = buf;
	if (len)
		*len = n;
	return 0;
}

int gs_mkdir_p(const char *path, unsigned mode)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);
	if (n == 0 || n >= sizeof buf)
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;
			*p = '\0';
			if (mkdir(buf, mode) && errno != EEXIST)
				return -errno;
			*p = c;
			if (!c)
				break;
		}
	}
	struct stat st;
	if (stat(path, &st))
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int gs_lock_file(const char *path)
{
	/* 0600: a lock another user could open, they could hold (flock needs
	 * no write access), and stop every change */
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) == 0 && st.st_uid == geteuid() && (st.st_mode & 077))
		fchmod(fd, 0600); /* made by an older gpushare */
	while (flock(fd, LOCK_EX)) {
		if (errno != EINTR) {
			int rc = -errno;
			close(fd);
			return rc;
		}
	}
	return fd;
}

int gs_state_dir(char *out, size_t len)
{
	const char *env = secure_getenv("GPUSHARE_STATE_DIR");
	int n;
	if (env && *env)
		n = snprintf(out, len, "%s", env);
	else if (geteuid() == 0)
		n = snprintf(out, len, "/var/lib/gpushare");
	else if ((env = secure_getenv("XDG_STATE_HOME")) && *env)
		n = snprintf(out, len, "%s/gpushare", env);
	else if ((env = secure_getenv("HOME")) && *env)
		n = snprintf(out, len, "%s/.local/state/gpushare", env);
	else
		n = snprintf(out, len, "/tmp/gpushare-state-%ld", (long)geteuid());
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

uint64_t gs_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int gs_find_program(const char *name, char *out, size_t len)
{
	const char *env = secure_getenv("PATH");
	char dirs[4096];
	snprintf(dirs, sizeof dirs, "%s:/usr/local/nvidia/bin:/usr/bin:/usr/local/bin", env ? env : "");
	char *save = NULL, self[PATH_MAX], real[PATH_MAX];
	/* never this program itself, nor gpushare-control in another's place:
	 * its nvidia-cuda-mps-control link (mps-compat/) first on PATH is not
	 * the NVIDIA daemon that gpushare-control and gpushare run look for */
	bool known = realpath("/proc/self/exe", self) != NULL;
	for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		if (snprintf(out, len, "%s/%s", d, name) >= (int)len || access(out, X_OK))
			continue;
		if (!realpath(out, real))
			return 0;
		const char *base = strrchr(real, '/');
		if (!(known && strcmp(real, self) == 0) &&
		    (strcmp(name, "gpushare-control") == 0 || strcmp(base ? base + 1 : real, "gpushare-control") != 0))
			return 0;
	}
	return -ENOENT;
}

bool gs_nvidia_driver_present(void)
{
	const char *sim = secure_getenv("GPUSHARE_SIMULATE");
	if (sim && *sim)
		return false;
	void *h = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
	bool real = h && !dlsym(h, "gpushare_simulated");
	if (h)
		dlclose(h);
	return real;
}

int gs_proc_start(pid_t pid, uint64_t *start)
{
	return gs_proc_stat(pid, NULL, start);
}

int gs_proc_stat(pid_t pid, pid_t *parent, uint64_t *start)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -EIO;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return n == 0 ? -ESRCH : -EIO;
	buf[n] = '\0';
	/* the command name may hold spaces: fields start after the last ')' */
	char *p = strrchr(buf, ')');
	unsigned long long v = 0;
	long pp = 0;
	char state = 0;
	/* after ')' come fields 3..; the state is field 3, the parent 4, the
	 * start time 22 */
	if (!p || sscanf(p + 2, "%c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
			 &state, &pp, &v) != 3)
		return -EIO;
	if (state == 'Z' || state == 'X')
		return -ESRCH; /* a zombie holds nothing any more */
	if (parent)
		*parent = (pid_t)pp;
	if (start)
		*start = v;
	return 0;
}

uint64_t gs_proc_start_time(pid_t pid)
{
	uint64_t v;
	return gs_proc_start(pid, &v) ? 0 : v;
}

bool gs_mps_running(const char *pipe_dir)
{
	char path[PATH_MAX], *text;
	if (snprintf(path, sizeof path, "%s/nvidia-cuda-mps-control.pid", pipe_dir) >= (int)sizeof path ||
	    gs_file_read(path, 64, &text, NULL))
		return false;
	unsigned long long pid;
	text[strcspn(text, "\n")] = '\0';
	bool alive = gs_parse_uint(text, INT_MAX, &pid) == 0 && pid > 0 &&
		     (kill((pid_t)pid, 0) == 0 || errno == EPERM) && gs_proc_start_time((pid_t)pid) != 0;
	free(text);
	return alive;
}
