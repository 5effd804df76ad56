/* log.c: the interposer's log channel. Never stdout: GPUSHARE_LOG names a file
 * (or "stderr"); without it only warnings reach stderr. */
#include "interposer.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void gs__log(const char *fmt, ...)
{
	static int fd = -2;
	if (fd == -2) {
		const char *path = secure_getenv("GPUSHARE_LOG");
		if (!path || !*path)
			fd = -1;
		else if (strcmp(path, "stderr") == 0)
			fd = 2;
		else
			fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	}
	if (fd < 0)
		return;
	char buf[512];
	int n = snprintf(buf, sizeof buf, "gpushare[%ld]: ", (long)getpid());
	va_list ap;
	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof buf - 1)
		n = (int)sizeof buf - 2;
	buf[n++] = '\n';
	if (write(fd, buf, (size_t)n) < 0) {
		/* nowhere else to say it */
	}
}
