/* fuzz-control-dispatch.c: any command line, privileged or not, gets an
 * answer of well-formed reply lines (R and W) and leaves the daemon's settings valid. */
#include "control.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* the daemon's connections are not part of this target; without a pipe
 * directory no server is started */
void control_each_client(control_client_fn fn, void *ctx)
{
	(void)fn;
	(void)ctx;
}

void control_send(int conn, const char *text)
{
	(void)conn;
	if (strchr(text, '\n') == NULL)
		abort(); /* whole lines only */
}

void control_send_fd(int conn, const char *text, int fd)
{
	if (fd >= 0)
		close(fd);
	control_send(conn, text);
}

/* the metrics (metrics.c, libmicrohttpd) are not part of this target */
void control_metrics_gone(const struct control_peer *p)
{
	(void)p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int control_relay(int conn, int fd, pid_t pid, int timeout_ms)
{
	(void)conn, (void)fd, (void)pid, (void)timeout_ms;
	abort(); /* NVIDIA's MPS never runs here */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct control_state s = { .default_pct = 100.0 };
	if (size > GS_LINE_MAX || memchr(data, '\n', size))
		return 0;
	char line[GS_LINE_MAX + 1];
	memcpy(line, data, size);
	line[size] = '\0';
	struct control_peer p = { .uid = size % 2 ? 0 : 65534, .pid = 1, .privileged = size % 3 == 0, .conn = 5,
				  .ledger_fd = -1 };
	struct control_reply r = { .pass_fd = -1 };
	control_dispatch(&s, &p, line, &r);
	if (r.pass_fd >= 0)
		close(r.pass_fd); /* a registration's ledger */
	if (p.ledger_fd >= 0)
		close(p.ledger_fd);
	for (size_t i = 0; i < r.len;) {
		/* answers (R) and gpushare's words for the front end's stderr (W) */
		if (r.len - i < 3 || (memcmp(r.buf + i, "R ", 2) && memcmp(r.buf + i, "W ", 2)))
			abort();
		char *nl = memchr(r.buf + i, '\n', r.len - i);
		if (!nl)
			abort();
		i = (size_t)(nl - r.buf) + 1;
	}
	if (!(s.default_pct > 0 && s.default_pct <= 100) || s.n_default_limits > CONTROL_MAX_LIMITS ||
	    (s.default_priority != 0 && s.default_priority != 1))
		abort();
	if (s.n_servers)
		abort(); /* none can start here */
	s.quitting = false;
	free(r.buf);
	return 0;
}
