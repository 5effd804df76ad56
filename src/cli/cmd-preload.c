/* cmd-preload.c: `gpushare preload install|remove|status`: puts the installed
 * libgpushare.so in /etc/ld.so.preload (and takes it out), so that programs
 * nobody started through gpushare are confined and counted too. Every program
 * on the node then loads that file, so it must be one only root can change. */
#include "cli.h"
#include "gs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define PRELOAD_DIR "/etc"
#define PRELOAD_NAME "ld.so.preload"
#define PRELOAD_FILE PRELOAD_DIR "/" PRELOAD_NAME
/* ld.so.preload names a few libraries: anything larger is not one */
#define PRELOAD_MAX (64 * 1024)

/* Checks that only root can change the library: the file and every directory
 * above it owned by root and writable by no one else. The path is canonical
 * (realpath), so lstat sees each component itself. */
static int trusted(const char *path, char *err, size_t errlen)
{
	char p[PATH_MAX];
	snprintf(p, sizeof p, "%s", path);
	for (bool file = true;; file = false) {
		struct stat st;
		const char *name = p[0] ? p : "/";
		if (lstat(name, &st))
			return gs_fail(err, errlen, -errno, "cannot check %s: %s", name, strerror(errno));
		if (file && !S_ISREG(st.st_mode))
			return gs_fail(err, errlen, -EINVAL, "%s is not a regular file", name);
		if (!file && !S_ISDIR(st.st_mode))
			return gs_fail(err, errlen, -EINVAL, "%s is not a directory", name);
		if (st.st_uid != 0)
			return gs_fail(err, errlen, -EPERM, "%s is owned by uid %ld, not root", name, (long)st.st_uid);
		if (st.st_mode & (S_IWGRP | S_IWOTH))
			return gs_fail(err, errlen, -EPERM, "%s is writable by %s (mode %04o)", name,
				       st.st_mode & S_IWOTH ? "everyone" : "its group", (unsigned)(st.st_mode & 07777));
		if (!p[0])
			return 0;
		char *slash = strrchr(p, '/');
		*slash = '\0'; /* "/usr" becomes "", which stands for "/" */
	}
}

/* Reads /etc/ld.so.preload into a malloc'ed, NUL-terminated *text the caller
 * frees; a missing file reads as empty. A symbolic link is refused: we would
 * replace the link, not what it points to. */
static int read_preload(int dirfd, char **text, size_t *len, char *err, size_t errlen)
{
	*len = 0;
	if (!(*text = malloc(PRELOAD_MAX + 1)))
		return -ENOMEM;
	(*text)[0] = '\0';
	int fd = openat(dirfd, PRELOAD_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return 0;
	int rc = 0;
	struct stat st;
	if (fd < 0)
		rc = gs_fail(err, errlen, -errno, "cannot open %s: %s%s", PRELOAD_FILE, strerror(errno),
			     errno == ELOOP ? " (a symbolic link: make it a regular file)" : "");
	else if (fstat(fd, &st) || !S_ISREG(st.st_mode))
		rc = gs_fail(err, errlen, -EINVAL, "%s is not a regular file", PRELOAD_FILE);
	while (!rc && *len < PRELOAD_MAX) {
		ssize_t r = read(fd, *text + *len, PRELOAD_MAX - *len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			rc = gs_fail(err, errlen, -errno, "cannot read %s: %s", PRELOAD_FILE, strerror(errno));
		if (r <= 0)
			break;
		*len += (size_t)r;
	}
	if (!rc && *len == PRELOAD_MAX)
		rc = gs_fail(err, errlen, -EFBIG, "%s is larger than %d bytes: not a list of libraries", PRELOAD_FILE,
			     PRELOAD_MAX);
	if (fd >= 0)
		close(fd);
	if (rc) {
		free(*text);
		*text = NULL;
		return rc;
	}
	(*text)[*len] = '\0';
	return 0;
}

/* Replaces /etc/ld.so.preload with text at once: a program starting at any
 * instant reads the old list or the new one, never half of one. No line
 * left: the file goes, as it was before gpushare added one. Written here
 * rather than with gs_file_replace: mode 0644 whatever the umask (every
 * user's programs read it) and a temporary file no one could have put there
 * first (O_EXCL, O_NOFOLLOW). */
static int write_preload(int dirfd, const char *text, size_t len, char *err, size_t errlen)
{
	if (len == 0) {
		if (unlinkat(dirfd, PRELOAD_NAME, 0) && errno != ENOENT)
			return gs_fail(err, errlen, -errno, "cannot remove %s: %s", PRELOAD_FILE, strerror(errno));
		return fsync(dirfd) ? gs_fail(err, errlen, -errno, "cannot sync %s: %s", PRELOAD_DIR, strerror(errno)) : 0;
	}
	char tmp[64];
	snprintf(tmp, sizeof tmp, ".%s.gpushare.%ld", PRELOAD_NAME, (long)getpid());
	int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return gs_fail(err, errlen, -errno, "cannot create %s/%s: %s", PRELOAD_DIR, tmp, strerror(errno));
	int rc = fchmod(fd, 0644) ? -errno : 0;
	for (size_t done = 0; !rc && done < len;) {
		ssize_t w = write(fd, text + done, len - done);
		if (w < 0 && errno != EINTR)
			rc = -errno;
		if (w > 0)
			done += (size_t)w;
	}
	if (!rc && fsync(fd))
		rc = -errno;
	if (close(fd) && !rc)
		rc = -errno;
	if (!rc && renameat(dirfd, tmp, dirfd, PRELOAD_NAME))
		rc = -errno;
	if (rc) {
		unlinkat(dirfd, tmp, 0);
		return gs_fail(err, errlen, rc, "cannot replace %s: %s", PRELOAD_FILE, strerror(-rc));
	}
	return fsync(dirfd) ? gs_fail(err, errlen, -errno, "cannot sync %s: %s", PRELOAD_DIR, strerror(errno)) : 0;
}

/* A line of the file without its surrounding blanks, into out. */
static void trimmed(const char *line, size_t n, char *out, size_t outlen)
{
	while (n && (*line == ' ' || *line == '\t'))
		line++, n--;
	while (n && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r'))
		n--;
	snprintf(out, outlen, "%.*s", (int)(n < outlen ? n : outlen - 1), line);
}

/* Walks the lines: *ours tells whether one is lib; another libgpushare.so
 * (an older install) goes to other. With keep, the lines that are not lib
 * are copied to keep (as long as text), so removing changes nothing else. */
static void scan(const char *text, const char *lib, bool *ours, char *other, size_t otherlen, char *keep, size_t *keeplen)
{
	*ours = false;
	other[0] = '\0';
	size_t k = 0;
	for (const char *p = text; *p;) {
		size_t n = strcspn(p, "\n");
		char line[PATH_MAX];
		trimmed(p, n, line, sizeof line);
		const char *base = strrchr(line, '/');
		if (strcmp(line, lib) == 0)
			*ours = true;
		else if (base && strcmp(base, "/libgpushare.so") == 0 && !other[0])
			snprintf(other, otherlen, "%s", line);
		if (keep && strcmp(line, lib) != 0) {
			memcpy(keep + k, p, n);
			k += n;
			if (p[n] == '\n')
				keep[k++] = '\n';
		}
		p += n + (p[n] == '\n');
	}
	if (keeplen)
		*keeplen = k;
}

static int preload(int argc, char **argv)
{
	const char *verb = argc == 2 ? argv[1] : "";
	bool install = strcmp(verb, "install") == 0, remove = strcmp(verb, "remove") == 0;
	if (!install && !remove && strcmp(verb, "status") != 0) {
		fprintf(stderr, "usage: gpushare preload install|remove|status\n");
		return 2;
	}
	if ((install || remove) && geteuid() != 0) {
		fprintf(stderr, "gpushare preload %s: only root may change %s, which every program reads\n", verb,
			PRELOAD_FILE);
		return 1;
	}
	char found[PATH_MAX + 64], lib[PATH_MAX], err[PATH_MAX + 128];
	if (cli_lib_path(found, sizeof found) || !realpath(found, lib)) {
		fprintf(stderr, "gpushare preload: cannot find the installed libgpushare.so (looked for %s: %s)\n", found,
			strerror(errno));
		return 1;
	}
	if (install && trusted(lib, err, sizeof err)) {
		fprintf(stderr, "gpushare preload install: refusing %s: %s; every program would load it, so it and "
				"every directory above it must be root's and writable by root alone "
				"(install gpushare under a root-owned prefix, e.g. make install PREFIX=/usr/local)\n",
			lib, err);
		return 1;
	}
	int dirfd = open(PRELOAD_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		fprintf(stderr, "gpushare preload: cannot open %s: %s\n", PRELOAD_DIR, strerror(errno));
		return 1;
	}
	/* two gpushare preload at once: one reads after the other wrote */
	if (install || remove)
		while (flock(dirfd, LOCK_EX) && errno == EINTR)
			;
	char *text = NULL, other[PATH_MAX];
	size_t len;
	bool ours;
	int rc = 1;
	if (read_preload(dirfd, &text, &len, err, sizeof err)) {
		fprintf(stderr, "gpushare preload %s: %s\n", verb, err);
		goto out;
	}
	char *keep = remove ? malloc(len + 1) : NULL;
	size_t keeplen = 0;
	if (remove && !keep)
		goto out;
	scan(text, lib, &ours, other, sizeof other, keep, remove ? &keeplen : NULL);
	if (install && !ours && other[0]) {
		fprintf(stderr, "gpushare preload install: %s already preloads another libgpushare.so, %s; "
				"take that line out first (the one listed first would win)\n",
			PRELOAD_FILE, other);
	} else if (install && !ours) {
		/* one line, added after the others; a last line without its
		 * newline gets one first */
		if (len && text[len - 1] != '\n')
			text[len++] = '\n';
		size_t n = strlen(lib);
		if (len + n + 1 > PRELOAD_MAX) {
			fprintf(stderr, "gpushare preload install: %s would pass %d bytes\n", PRELOAD_FILE, PRELOAD_MAX);
		} else {
			memcpy(text + len, lib, n);
			len += n;
			text[len++] = '\n';
			if (write_preload(dirfd, text, len, err, sizeof err))
				fprintf(stderr, "gpushare preload install: %s\n", err);
			else
				printf("libgpushare.so preloaded into every program: %s in %s\n", lib, PRELOAD_FILE), rc = 0;
		}
	} else if (install) {
		printf("libgpushare.so already preloaded: %s in %s\n", lib, PRELOAD_FILE);
		rc = 0;
	} else if (remove && ours) {
		if (write_preload(dirfd, keep, keeplen, err, sizeof err))
			fprintf(stderr, "gpushare preload remove: %s\n", err);
		else
			printf("libgpushare.so no longer preloaded: %s taken out of %s\n", lib, PRELOAD_FILE), rc = 0;
	} else if (remove) {
		printf("libgpushare.so was not preloaded: %s has no line %s\n", PRELOAD_FILE, lib);
		rc = 0;
	} else {
		/* status: 0 when preloaded, 1 when not, for scripts */
		if (ours)
			printf("preloaded: %s in %s\n", lib, PRELOAD_FILE);
		else
			printf("not preloaded: %s has no line %s%s%s\n", PRELOAD_FILE, lib,
			       other[0] ? "; it preloads another libgpushare.so, " : "", other);
		rc = ours ? 0 : 1;
	}
	free(keep);
out:
	free(text);
	close(dirfd);
	return rc;
}

const struct cli_cmd cli_cmd_preload = { "preload", "install|remove|status",
					 "as root: preload libgpushare.so into every program (/etc/ld.so.preload), "
					 "take it out, or say whether it is in (status exits 1 when not)",
					 preload,
					 "  install          add libgpushare.so to /etc/ld.so.preload (root)\n"
					 "  remove           take that line out again, keeping the others (root)\n"
					 "  status           whether it is in (exit 0) or not (exit 1)\n" };
