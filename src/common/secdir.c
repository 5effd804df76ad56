/* secdir.c: checked daemon directories (see secdir.h). */
#include "secdir.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void owner_name(uid_t uid, char *out, size_t len)
{
	struct passwd *pw = getpwuid(uid);
	if (pw)
		snprintf(out, len, "%s (uid %ld)", pw->pw_name, (long)uid);
	else
		snprintf(out, len, "uid %ld", (long)uid);
}

/* The last component, just made or already there: a directory of ours. */
static int check_last(const char *path, bool made, unsigned mode, const char *what, char *err, size_t errlen)
{
	char who[96], me[96];
	owner_name(geteuid(), me, sizeof me);
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		int rc = -errno;
		struct stat st;
		if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
			return gs_fail(err, errlen, -ELOOP, "%s %s is a symlink: it must be a directory owned by %s", what,
				       path, me);
		return gs_fail(err, errlen, rc, "%s %s cannot be opened: %s", what, path, strerror(-rc));
	}
	struct stat st;
	int rc = 0;
	if (fstat(fd, &st))
		rc = gs_fail(err, errlen, -errno, "%s %s: %s", what, path, strerror(errno));
	else if (made && st.st_uid == geteuid() && fchmod(fd, mode))
		rc = gs_fail(err, errlen, -errno, "%s %s: cannot set its mode: %s", what, path, strerror(errno));
	else if (made)
		st.st_mode = (st.st_mode & ~07777u) | mode;
	if (rc == 0 && (st.st_uid != geteuid() || (st.st_mode & 022))) {
		owner_name(st.st_uid, who, sizeof who);
		rc = gs_fail(err, errlen, -EPERM,
			     "%s %s is owned by %s with mode %04o: it must be owned by %s and not writable by group or "
			     "others (remove it, or choose another directory)",
			     what, path, who, (unsigned)(st.st_mode & 07777), me);
	}
	close(fd);
	return rc;
}

int gs_secdir(const char *path, unsigned mode, const char *what, char *err, size_t errlen)
{
	char buf[PATH_MAX];
	size_t n = 0;
	if (!path[0])
		return gs_fail(err, errlen, -EINVAL, "%s is empty", what);
	if (path[0] != '/') {
		if (!getcwd(buf, sizeof buf - 1))
			return gs_fail(err, errlen, -errno, "%s %s: cannot tell the current directory", what, path);
		n = strlen(buf);
		buf[n++] = '/';
	}
	if (n + strlen(path) >= sizeof buf)
		return gs_fail(err, errlen, -ENAMETOOLONG, "%s %s: name too long", what, path);
	memcpy(buf + n, path, strlen(path) + 1);
	while ((n = strlen(buf)) > 1 && buf[n - 1] == '/')
		buf[n - 1] = '\0';
	/* every directory above the last, from the root down */
	for (char *p = buf + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		bool last = c == '\0';
		struct stat st;
		bool made = false;
		if (lstat(buf, &st)) {
			if (errno != ENOENT)
				return gs_fail(err, errlen, -errno, "%s %s: %s: %s", what, path, buf, strerror(errno));
			if (mkdir(buf, last ? 0700 : 0755) && errno != EEXIST)
				return gs_fail(err, errlen, -errno, "%s %s: cannot create %s: %s", what, path, buf,
					       strerror(errno));
			made = true;
			if (lstat(buf, &st))
				return gs_fail(err, errlen, -errno, "%s %s: %s: %s", what, path, buf, strerror(errno));
		}
		if (last)
			return check_last(buf, made, mode, what, err, errlen);
		char who[96];
		if (S_ISLNK(st.st_mode)) {
			/* only a link nobody else can replace: then what it names */
			if (st.st_uid != 0 && st.st_uid != geteuid()) {
				owner_name(st.st_uid, who, sizeof who);
				return gs_fail(err, errlen, -EPERM, "%s %s: %s is a symlink made by %s", what, path, buf, who);
			}
			if (stat(buf, &st))
				return gs_fail(err, errlen, -errno, "%s %s: %s: %s", what, path, buf, strerror(errno));
		}
		if (!S_ISDIR(st.st_mode))
			return gs_fail(err, errlen, -ENOTDIR, "%s %s: %s is not a directory", what, path, buf);
		if ((st.st_uid != 0 && st.st_uid != geteuid()) || ((st.st_mode & 022) && !(st.st_mode & S_ISVTX))) {
			owner_name(st.st_uid, who, sizeof who);
			return gs_fail(err, errlen, -EPERM,
				       "%s %s: %s above it is owned by %s with mode %04o: the directories above it must be "
				       "owned by root or the daemon's user and not writable by group or others unless "
				       "sticky (as /tmp)",
				       what, path, buf, who, (unsigned)(st.st_mode & 07777));
		}
		*p = c;
	}
}
