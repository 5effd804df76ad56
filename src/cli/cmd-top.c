/* cmd-top.c: `gpushare top`: a live view of GPU -> slice -> process from
 * gpushare-control's listings, redrawn every few seconds, as top's: a full
 * screen on a terminal (plain ANSI escapes, termios), plain frames on stdout
 * with -b. */
#include "cli.h"
#include "ctlclient.h"
#include "gs.h"
#include "sock.h"
#include "topframe.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* An answer past this is refused (the daemon's own bound on what a peer
 * leaves unread is 1 MiB too): a frame is never built from a cut document. */
#define TOP_ANSWER_MAX (1u << 20)
#define TOP_CONNECT_MS 1000
#define TOP_ANSWER_MS 5000

enum { ANSWER_SLICES, ANSWER_CLIENTS, ANSWER_SMS, ANSWERS };
static const char *const commands[ANSWERS] = { "list_slices --json", "list_clients --json", "list_sms --json" };

struct top {
	bool batch;
	double delay;             /* seconds between frames */
	unsigned long long iterations; /* 0: for ever */
	int fd;                   /* the daemon, -1 while none answers */
	char *answer[ANSWERS];
	size_t answer_len[ANSWERS];
	struct gs_json_node *nodes;
	struct topframe frame;
	struct topframe prev;     /* the last frame built, for the processes' BUSY% */
	bool have_prev;
	bool have_frame;
	char problem[1024];       /* why there is no frame ("" when there is) */
	/* the lines of the last frame, for a redraw at a new size */
	char *lines;
	size_t lines_len, lines_cap, n_lines;
	bool oom;
};

static volatile sig_atomic_t got_quit, got_winch;

static void on_quit(int sig)
{
	(void)sig;
	got_quit = 1;
}

static void on_winch(int sig)
{
	(void)sig;
	got_winch = 1;
}

static void add_line(void *ctx, const char *line)
{
	struct top *t = ctx;
	size_t n = strlen(line) + 1;
	if (t->lines_len + n > t->lines_cap) {
		size_t cap = t->lines_cap ? t->lines_cap * 2 : 16384;
		while (cap < t->lines_len + n)
			cap *= 2;
		char *l = realloc(t->lines, cap);
		if (!l) {
			t->oom = true;
			return;
		}
		t->lines = l;
		t->lines_cap = cap;
	}
	memcpy(t->lines + t->lines_len, line, n);
	t->lines_len += n;
	t->n_lines++;
}

/* Why no daemon answered, with where it was looked for. */
static void no_daemon(struct top *t, int rc)
{
	char paths[GS_CONTROL_PATHS][GS_CONTROL_SOCK_MAX], where[GS_CONTROL_PATHS * (GS_CONTROL_SOCK_MAX + 2)] = "";
	size_t n = gs_control_paths(paths);
	for (size_t i = 0; i < n; i++)
		snprintf(where + strlen(where), sizeof where - strlen(where), "%s%s", i ? ", " : "", paths[i]);
	if (rc == -ETIMEDOUT)
		snprintf(t->problem, sizeof t->problem, "gpushare-control does not accept connections (%s)", where);
	else
		snprintf(t->problem, sizeof t->problem,
			 "gpushare-control is not running: no daemon at %s (gpushare-control -d starts it)", where);
}

/* Asks the daemon for the three listings and builds the frame: 0, or -1 with
 * t->problem saying why. */
static int fetch(struct top *t)
{
	t->problem[0] = '\0';
	if (t->fd < 0) {
		int fd = ctlclient_connect(TOP_CONNECT_MS);
		if (fd < 0) {
			no_daemon(t, fd);
			return -1;
		}
		t->fd = fd;
	}
	bool have_sms = true;
	for (int i = 0; i < ANSWERS; i++) {
		char why[512];
		int rc = ctlclient_ask(t->fd, commands[i], t->answer[i], TOP_ANSWER_MAX + 1, &t->answer_len[i], TOP_ANSWER_MS,
				       why, sizeof why);
		if (rc > 0 && i == ANSWER_SMS) {
			have_sms = false; /* a daemon without TPC masks' listing: no NOW column */
			continue;
		}
		if (rc == -E2BIG) {
			snprintf(t->problem, sizeof t->problem, "%s", why);
			return -1; /* read to its end: the connection goes on */
		}
		if (rc < 0) {
			close(t->fd);
			t->fd = -1;
			snprintf(t->problem, sizeof t->problem, "%s", why[0] ? why : "lost the connection to gpushare-control");
			return -1;
		}
		if (rc > 0) {
			snprintf(t->problem, sizeof t->problem, "gpushare-control refused %s%s%s", commands[i], why[0] ? ": " : "",
				 why);
			return -1;
		}
	}
	char why[512];
	if (topframe_build(&t->frame, t->answer[ANSWER_SLICES], t->answer_len[ANSWER_SLICES], t->answer[ANSWER_CLIENTS],
			   t->answer_len[ANSWER_CLIENTS], have_sms ? t->answer[ANSWER_SMS] : NULL,
			   have_sms ? t->answer_len[ANSWER_SMS] : 0, t->nodes, TOPFRAME_MAX_NODES, why, sizeof why)) {
		snprintf(t->problem, sizeof t->problem, "%s", why);
		return -1;
	}
	topframe_busy(&t->frame, t->have_prev ? &t->prev : NULL);
	t->prev = t->frame;
	t->have_prev = true;
	return 0;
}

/* The frame's text: a title, then the frame or why there is none. */
static void compose(struct top *t)
{
	t->lines_len = t->n_lines = 0;
	t->oom = false;
	char title[1400], when[16], every[32];
	time_t now = time(NULL);
	struct tm tm;
	strftime(when, sizeof when, "%H:%M:%S", localtime_r(&now, &tm));
	snprintf(every, sizeof every, "%g s", t->delay);
	if (t->problem[0]) {
		snprintf(title, sizeof title, "gpushare top - %s - %s%s%s", when, t->problem,
			 t->batch ? "" : " - trying again every ", t->batch ? "" : every);
		add_line(t, title);
		return;
	}
	const struct topframe *f = &t->frame;
	size_t slices = 0;
	for (size_t i = 0; i < f->n_slices; i++)
		slices += !f->slices[i].remainder;
	snprintf(title, sizeof title, "gpushare top - %s - every %s - %zu slice%s, %zu process%s: %zu running, %zu queued%s",
		 when, every, slices, slices == 1 ? "" : "s", f->n_procs, f->n_procs == 1 ? "" : "es", f->running, f->queued,
		 t->batch ? "" : " - q quits");
	add_line(t, title);
	topframe_render(f, add_line, t);
}

static int write_all(const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(STDOUT_FILENO, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The lines as a batch frame: as they are, a blank line after. */
static int print_batch(struct top *t)
{
	const char *l = t->lines;
	for (size_t i = 0; i < t->n_lines; i++, l += strlen(l) + 1)
		if (printf("%s\n", l) < 0)
			return -1;
	return printf("\n") < 0 || fflush(stdout) ? -1 : 0;
}

/* The lines on the whole screen, each cut to its width (never wrapped), as
 * many as its height holds, the last saying how many more there are. */
static int draw(struct top *t)
{
	struct winsize ws;
	size_t cols = 80, rows = 24;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col && ws.ws_row) {
		cols = ws.ws_col;
		rows = ws.ws_row;
	}
	size_t cap = 16 + rows * (cols + 8), len = 0;
	char *screen = malloc(cap);
	if (!screen)
		return -1;
	len += (size_t)snprintf(screen, cap, "\033[H");
	const char *l = t->lines;
	char more[64];
	for (size_t i = 0; i < t->n_lines && i < rows; i++, l += strlen(l) + 1) {
		const char *text = l;
		if (i == rows - 1 && t->n_lines > rows) {
			snprintf(more, sizeof more, "... %zu more lines: a taller terminal shows them", t->n_lines - i);
			text = more;
		}
		size_t n = strlen(text);
		if (n > cols)
			n = cols;
		memcpy(screen + len, text, n);
		len += n;
		/* the rest of the line cleared; no newline after the last one,
		 * which would scroll the screen */
		len += (size_t)snprintf(screen + len, cap - len, "\033[K%s", i + 1 < rows && i + 1 < t->n_lines ? "\r\n" : "");
	}
	len += (size_t)snprintf(screen + len, cap - len, "\033[J");
	int rc = write_all(screen, len);
	free(screen);
	return rc;
}

static struct termios saved_termios;

/* The terminal as top holds it: no echo, keys one at a time, the other
 * screen, no cursor, no wrapping; Ctrl-C still a signal, Ctrl-Z none (a
 * stopped top would leave the terminal so). */
static int term_enter(void)
{
	if (tcgetattr(STDIN_FILENO, &saved_termios))
		return -1;
	struct termios raw = saved_termios;
	raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	raw.c_cc[VMIN] = 1;
	raw.c_cc[VTIME] = 0;
	raw.c_cc[VSUSP] = _POSIX_VDISABLE;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &raw))
		return -1;
	const char enter[] = "\033[?1049h\033[?25l\033[?7l\033[H\033[2J";
	return write_all(enter, sizeof enter - 1);
}

static void term_leave(void)
{
	const char leave[] = "\033[?7h\033[?25h\033[?1049l";
	write_all(leave, sizeof leave - 1);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_termios);
}

/* Waits until the next frame is due, reading keys: 1 to quit, 0 for the
 * next frame (now, for a space), 2 to redraw at a new size. */
static int wait_frame(struct top *t, uint64_t due)
{
	for (;;) {
		if (got_quit)
			return 1;
		if (got_winch) {
			got_winch = 0;
			return 2;
		}
		uint64_t now = gs_now_ns();
		if (now >= due)
			return 0;
		int ms = (int)((due - now) / 1000000) + 1;
		struct pollfd p = { STDIN_FILENO, POLLIN, 0 };
		int rc = poll(&p, t->batch ? 0 : 1, ms);
		if (rc < 0 && errno != EINTR)
			return 1;
		if (rc > 0) {
			char c;
			ssize_t n = read(STDIN_FILENO, &c, 1);
			if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
				return 1; /* the terminal has gone */
			if (n == 1 && (c == 'q' || c == 'Q'))
				return 1;
			if (n == 1 && c == ' ')
				return 0;
		}
	}
}

static int parse_args(struct top *t, int argc, char **argv)
{
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt(argc, argv, "+bd:n:")) != -1) {
		char *end;
		unsigned long long n;
		switch (c) {
		case 'b':
			t->batch = true;
			break;
		case 'd':
			errno = 0;
			t->delay = strtod(optarg, &end);
			if (errno || end == optarg || *end || !isfinite(t->delay) || t->delay < 0.1 || t->delay > 86400) {
				fprintf(stderr, "gpushare top: -d %s: give seconds between frames, 0.1 to 86400\n", optarg);
				return -1;
			}
			break;
		case 'n':
			if (gs_parse_uint(optarg, 1000000000, &n) || n == 0) {
				fprintf(stderr, "gpushare top: -n %s: give how many frames, 1 or more\n", optarg);
				return -1;
			}
			t->iterations = n;
			break;
		default:
			fprintf(stderr, "gpushare top: unknown option -%c\nusage: gpushare top [-b] [-d SECONDS] [-n FRAMES]\n",
				optopt);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "gpushare top: unexpected \"%s\"\nusage: gpushare top [-b] [-d SECONDS] [-n FRAMES]\n",
			argv[optind]);
		return -1;
	}
	return 0;
}

/* Batch frames until -n is reached: 0, or 1 when the daemon gave none. */
static int run_batch(struct top *t)
{
	for (unsigned long long i = 0; !got_quit && (!t->iterations || i < t->iterations); i++) {
		uint64_t due = gs_now_ns() + (uint64_t)(t->delay * 1e9);
		if (fetch(t)) {
			fprintf(stderr, "gpushare top: %s\n", t->problem);
			return 1;
		}
		compose(t);
		if (t->oom || print_batch(t))
			return 1;
		if (t->iterations && i + 1 == t->iterations)
			break;
		if (wait_frame(t, due) == 1)
			break;
	}
	return 0;
}

static int run_screen(struct top *t)
{
	if (term_enter()) {
		fprintf(stderr, "gpushare top: cannot set up the terminal: %s\n", strerror(errno));
		return 1;
	}
	int status = 0;
	for (unsigned long long i = 0; !t->iterations || i < t->iterations; i++) {
		uint64_t due = gs_now_ns() + (uint64_t)(t->delay * 1e9);
		fetch(t); /* no daemon, a bad answer: said on the screen, and tried again */
		compose(t);
		if (t->oom || draw(t)) {
			status = 1;
			break;
		}
		if (t->iterations && i + 1 == t->iterations)
			break;
		int w;
		while ((w = wait_frame(t, due)) == 2)
			draw(t);
		if (w == 1)
			break;
	}
	term_leave();
	return status;
}

static int top(int argc, char **argv)
{
	struct top *t = calloc(1, sizeof *t);
	if (!t)
		return 1;
	t->delay = 1;
	t->fd = -1;
	int status = 2;
	if (parse_args(t, argc, argv))
		goto out;
	status = 1;
	if (!t->batch && !(isatty(STDIN_FILENO) && isatty(STDOUT_FILENO))) {
		fprintf(stderr, "gpushare top: not on a terminal: give -b for plain frames on stdout\n");
		status = 2;
		goto out;
	}
	for (int i = 0; i < ANSWERS; i++)
		if (!(t->answer[i] = malloc(TOP_ANSWER_MAX + 1)))
			goto out;
	if (!(t->nodes = calloc(TOPFRAME_MAX_NODES, sizeof *t->nodes)))
		goto out;
	struct sigaction sa = { .sa_handler = on_quit };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = on_winch;
	sigaction(SIGWINCH, &sa, NULL);
	status = t->batch ? run_batch(t) : run_screen(t);
out:
	if (t->fd >= 0)
		close(t->fd);
	for (int i = 0; i < ANSWERS; i++)
		free(t->answer[i]);
	free(t->nodes);
	free(t->lines);
	free(t);
	return status;
}

const struct cli_cmd cli_cmd_top = {
	"top", "[-b] [-d SECONDS] [-n FRAMES]", "a live view of GPUs, slices and their processes, as top's", top,
	"  -b               batch: plain frames on stdout, no terminal control (exits 1 when no daemon answers)\n"
	"  -d SECONDS       seconds between frames (1; 0.1 or more)\n"
	"  -n FRAMES        stop after that many frames\n"
	"  -h, --help       this text\n"
	"Keys: q (or Ctrl-C) quits, space redraws now. Each slice shows its own SMs, those it may use now\n"
	"(list_sms), its memory limit, guarantee and use, its policy and sharing; each process its pid,\n"
	"user, state (running, queued), memory, the part of the time since the last frame it was busy on\n"
	"the GPU (BUSY%; on the first frame, since it was admitted) and command: what gpushare-control\n"
	"lists, no more.\n"
};
