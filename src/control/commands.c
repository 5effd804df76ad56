/* commands.c: the command table of gpushare-control and the commands of
 * NVIDIA's MPS control daemon that need no server yet (reference A.5):
 * outputs, messages and value syntax as nvidia-cuda-mps-control's. */
#include "control.h"
#include "slices.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* One line of a reply, tagged "R" (the answer, the front end's stdout) or
 * "W" (gpushare's explanation, its stderr). */
static void reply_vadd(struct control_reply *r, char tag, const char *fmt, va_list ap)
{
	char line[GS_LINE_MAX];
	int n = vsnprintf(line, sizeof line, fmt, ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof line)
		n = (int)sizeof line - 1;
	for (int i = 0; i < n; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' '; /* one line, whatever a text it quotes holds */
	size_t need = r->len + (size_t)n + 4;
	if (need > r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 256;
		while (cap < need)
			cap *= 2;
		char *nb = realloc(r->buf, cap);
		if (!nb)
			return;
		r->buf = nb;
		r->cap = cap;
	}
	r->buf[r->len] = tag;
	r->buf[r->len + 1] = ' ';
	memcpy(r->buf + r->len + 2, line, (size_t)n);
	r->len += (size_t)n + 2;
	r->buf[r->len++] = '\n';
}

void control_reply_line(struct control_reply *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	reply_vadd(r, 'R', fmt, ap);
	va_end(ap);
}

void control_reply_error(struct control_reply *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	reply_vadd(r, 'R', fmt, ap);
	va_end(ap);
	r->status = 1;
}

void control_reply_fail(struct control_reply *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	reply_vadd(r, 'W', fmt, ap);
	va_end(ap);
	r->status = 1;
}

void control_reply_hint(struct control_reply *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	reply_vadd(r, 'W', fmt, ap);
	va_end(ap);
}

void control_log_prefix(char *out, size_t len, const char *role, pid_t pid)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	struct tm tm;
	localtime_r(&tv.tv_sec, &tm);
	char when[32];
	strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(out, len, "[%s.%03ld %s %5d] ", when, (long)(tv.tv_usec / 1000), role, (int)pid);
}

void control_vlog(FILE *f, const char *role, pid_t pid, const char *fmt, va_list ap)
{
	if (!f)
		return;
	char prefix[128];
	control_log_prefix(prefix, sizeof prefix, role, pid);
	fputs(prefix, f);
	vfprintf(f, fmt, ap);
	fputc('\n', f);
	fflush(f);
}

void control_log(struct control_state *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	control_vlog(s->log, "Control", getpid(), fmt, ap);
	va_end(ap);
}

void control_percentage_refused(struct control_reply *r, const char *text, const char *in_force)
{
	control_reply_fail(r, "Invalid percentage \"%.32s\": a number in (0.0, 100.0], e.g. 50 or 33.3; %s stays in force",
			   text, in_force);
}

static void set_default_pct(struct control_state *s, struct control_peer *p, int argc, char **argv,
			    struct control_reply *r)
{
	(void)p, (void)argc;
	double v;
	char out[16];
	bool ok = mpsval_parse_pct(argv[1], &v) == 0;
	if (ok) {
		s->default_pct = v;
		control_settings_save(s);
	} else {
		control_log(s, "Invalid percentage, expected between (0.0, 100.0]");
	}
	/* MPS answers with the value in force, the old one when refused */
	mpsval_format_pct(s->default_pct, out);
	control_reply_line(r, "%s", out);
	if (!ok)
		control_percentage_refused(r, argv[1], out);
}

static void get_default_pct(struct control_state *s, struct control_peer *p, int argc, char **argv,
			    struct control_reply *r)
{
	(void)p, (void)argc, (void)argv;
	char out[16];
	mpsval_format_pct(s->default_pct, out);
	control_reply_line(r, "%s", out);
}

/* A default limit is kept under the device as it was given (NVIDIA's MPS is
 * told that string) and found by the GPU it names: an ordinal and a UUID
 * name the same one. */
static struct mpsval_dev_limit *find_limit(struct control_state *s, const struct control_gpu *g)
{
	for (size_t i = 0; i < s->n_default_limits; i++)
		if (control_gpu_by_dev(s, s->default_limits[i].dev) == g)
			return &s->default_limits[i];
	return NULL;
}

/* The GPU a command names, or NULL with why. */
static const struct control_gpu *gpu_arg(struct control_state *s, const char *dev, struct control_reply *r)
{
	const struct control_gpu *g = control_gpu_by_dev(s, dev);
	if (!g)
		control_reply_fail(r, "No GPU \"%.64s\": use an index from 0 to %zu or a GPU-<uuid> (nvidia-smi -L)", dev,
				   s->n_gpus ? s->n_gpus - 1 : 0);
	return g;
}

static void set_default_limit(struct control_state *s, struct control_peer *p, int argc, char **argv,
			      struct control_reply *r)
{
	(void)p, (void)argc;
	uint64_t bytes = 0;
	bool none = strcmp(argv[2], "0") == 0 || strcasecmp(argv[2], "0G") == 0 || strcasecmp(argv[2], "0M") == 0;
	if (!none && mpsval_parse_limit(argv[2], &bytes)) {
		control_reply_fail(r, "Invalid memory limit \"%.32s\": use an integer and G or M, e.g. 2G or 500M (0: none)",
				   argv[2]);
		return;
	}
	const struct control_gpu *g = gpu_arg(s, argv[1], r);
	if (!g)
		return;
	struct mpsval_dev_limit *l = find_limit(s, g);
	if (none) {
		if (l)
			*l = s->default_limits[--s->n_default_limits];
		control_settings_save(s);
		control_log(s, "set_default_device_pinned_mem_limit %s %s: no default limit.", argv[1], argv[2]);
		return;
	}
	if (!l) {
		if (s->n_default_limits == CONTROL_MAX_LIMITS || strlen(argv[1]) >= sizeof l->dev) {
			control_reply_fail(r, "Too many devices with a default pinned memory limit");
			return;
		}
		l = &s->default_limits[s->n_default_limits++];
	}
	snprintf(l->dev, sizeof l->dev, "%s", argv[1]);
	l->bytes = bytes;
	control_settings_save(s);
	control_log(s, "set_default_device_pinned_mem_limit %s %s.", argv[1], argv[2]);
}

static void get_default_limit(struct control_state *s, struct control_peer *p, int argc, char **argv,
			      struct control_reply *r)
{
	(void)p, (void)argc;
	const struct control_gpu *g = gpu_arg(s, argv[1], r);
	if (!g)
		return;
	const struct mpsval_dev_limit *l = find_limit(s, g);
	char out[32];
	if (!l) {
		/* MPS prints nothing */
		control_log(s, "No default pinned memory limit set for the device!");
		control_reply_hint(r, "No default pinned memory limit set for GPU %u", g->index);
		return;
	}
	mpsval_format_limit(l->bytes, out);
	control_reply_line(r, "%s", out);
}

static void set_default_priority(struct control_state *s, struct control_peer *p, int argc, char **argv,
				 struct control_reply *r)
{
	(void)p, (void)argc;
	if (strcmp(argv[1], "0") && strcmp(argv[1], "1")) {
		control_reply_error(r, "Invalid priority value - must be 0 or 1!");
		return;
	}
	s->default_priority = argv[1][0] - '0';
	control_settings_save(s);
}

static void get_default_priority(struct control_state *s, struct control_peer *p, int argc, char **argv,
				 struct control_reply *r)
{
	(void)p, (void)argc, (void)argv;
	control_reply_line(r, "%d", s->default_priority);
}

static void quit(struct control_state *s, struct control_peer *p, int argc, char **argv, struct control_reply *r)
{
	unsigned long long t = 0;
	if (argc == 3 && (strcmp(argv[1], "-t") || gs_parse_uint(argv[2], 86400, &t))) {
		control_reply_error(r, "Invalid arguments: quit [-t <seconds>]");
		return;
	}
	if (argc == 2) {
		control_reply_error(r, "Invalid arguments: quit [-t <seconds>]");
		return;
	}
	if (argc == 3) {
		control_log(s, "quit command issued with timeout of %llu", t);
		s->quit_deadline_ns = gs_now_ns() + t * 1000000000ull + 1;
	}
	/* answered once every server has gone: the status is 0 when all of
	 * them exited on their own */
	s->quitting = true;
	s->quit_conn = p->conn;
	r->deferred = true;
	control_servers_quit(s);
}

/* gpushare: a CUDA program in a slice says hello at CUDA init and is
 * attached to its server; the daemon knows it by SO_PEERCRED, not by what it
 * claims, until its connection closes (a SIGKILL closes it too). */
static void register_client(struct control_state *s, struct control_peer *p, int argc, char **argv,
			    struct control_reply *r)
{
	control_client_register(s, p, argv[1], argc >= 3 ? argv[2] : "-", argc == 4 ? argv[3] : NULL, r);
	s->counters.registrations++;
	s->counters.registrations_refused += !r->deferred && r->status;
}

/* An idle report's argument i, ns: how long ago the program's activity
 * ended, how long it was idle untold before (none, from an older
 * libgpushare.so, or a malformed one: 0). */
static uint64_t ns_arg(int argc, char **argv, int i)
{
	unsigned long long ns;
	return argc > i && !gs_parse_uint(argv[i], UINT64_MAX, &ns) ? ns : 0;
}

/* gpushare: a registered program's interposer says it launches again, or
 * has launched nothing for the idle interval (elastic.c, turns.c), and
 * since when (busy.c). */
static void sm_busy(struct control_state *s, struct control_peer *p, int argc, char **argv, struct control_reply *r)
{
	(void)argc, (void)argv, (void)r;
	control_elastic_activity(s, p, true);
	control_turns_activity(s, p, true);
	control_busy_report(s, p, true, 0, 0);
}

static void sm_idle(struct control_state *s, struct control_peer *p, int argc, char **argv, struct control_reply *r)
{
	(void)r;
	control_elastic_activity(s, p, false);
	control_turns_activity(s, p, false);
	control_busy_report(s, p, false, ns_arg(argc, argv, 1), 0);
}

/* gpushare: the same from a program in no lending or timeslice slice: its
 * busy time alone (busy.c), nothing lent or turned; an idle report also
 * says how long it was idle without saying so (its reports' rate bound). */
static void gpu_busy(struct control_state *s, struct control_peer *p, int argc, char **argv, struct control_reply *r)
{
	(void)argc, (void)argv, (void)r;
	control_busy_report(s, p, true, 0, 0);
}

static void gpu_idle(struct control_state *s, struct control_peer *p, int argc, char **argv, struct control_reply *r)
{
	(void)r;
	control_busy_report(s, p, false, ns_arg(argc, argv, 1), ns_arg(argc, argv, 2));
}

/* gpushare: a registered program's interposer says how many kernels it
 * has launched in all (count.c), for the metrics. */
static void launches(struct control_state *s, struct control_peer *p, int argc, char **argv, struct control_reply *r)
{
	(void)s, (void)argc, (void)r;
	unsigned long long n;
	if (p->client && !gs_parse_uint(argv[1], UINT64_MAX, &n) && n >= p->launches)
		p->launches = n; /* a count only grows */
}

/* gpushare: a program's interposer answers the swap asked of it
 * (suspend.c): swapped out <bytes> <regions>, swapped in, swap_failed
 * <CUresult> <why>. */
static void swap_answer(struct control_state *s, struct control_peer *p, int argc, char **argv, struct control_reply *r)
{
	(void)r;
	control_suspend_swap_answer(s, p, argc, argv);
}

/* gpushare: a program allocating within its slice's guarantee asks what
 * borrowers hold of it back (lend.c); answered later, "S reclaimed <bytes>". */
static void reclaim(struct control_state *s, struct control_peer *p, int argc, char **argv, struct control_reply *r)
{
	(void)argc;
	control_lend_reclaim(s, p, argv[1], r);
}

static void server_ready(struct control_state *s, struct control_peer *p, int argc, char **argv,
			 struct control_reply *r)
{
	(void)argc, (void)argv;
	control_server_ready(s, p, r);
}

struct clients_ctx {
	struct control_state *s;
	struct control_reply *r;
	const struct control_peer *viewer;
	bool json;
	unsigned n;
	struct gs_store *st; /* NULL when unreadable: no JOB shown */
};

/* The scheduler's job whose slice holds a client: a job slice's name
 * (attach_job names it slurm-<job id>), else "-". */
static const char *client_job(const struct clients_ctx *c, const char *slice)
{
	struct gs_store_gpu *g;
	struct gs_mig_ci *ci;
	if (!c->st || strcmp(slice, "-") == 0 || gs_slice_resolve(c->st, slice, &g, &ci, NULL, 0) || !ci->owner_pid ||
	    !ci->name[0])
		return "-";
	return ci->name;
}

static void client_row(void *ctx, struct control_peer *p)
{
	struct clients_ctx *c = ctx;
	if (!control_peer_sees(c->viewer, p->uid))
		return;
	char server[16] = "-", mem[32] = "-", user[64], command[32], gpu[16] = "-";
	if (p->server_pid)
		snprintf(server, sizeof server, "%ld", (long)p->server_pid);
	else if (p->pending)
		snprintf(server, sizeof server, "queued");
	uint64_t bytes;
	bool known = strcmp(p->slice, "-") ? gs_slices_process_bytes(c->s->state_dir, p->slice, p->pid, &bytes) == 0
					   : control_remainder_process_bytes(c->s, p->gpu, p->pid, &bytes) == 0;
	if (known)
		snprintf(mem, sizeof mem, "%lluMiB", (unsigned long long)(bytes >> 20));
	if (p->susp == CONTROL_SUSPENDED || p->susp == CONTROL_RESUMING ||
	    (p->susp == CONTROL_MIGRATING && p->susp_bytes)) /* within the column's 11 */
		snprintf(mem, sizeof mem, "%lluM@host", (unsigned long long)(p->susp_bytes >> 20));
	const struct control_gpu *g = p->gpu[0] ? control_gpu_by_dev(c->s, p->gpu) : NULL;
	if (g)
		snprintf(gpu, sizeof gpu, "%u", g->index);
	gs_slices_user_name(p->uid, user, sizeof user);
	gs_slices_command(p->pid, command, sizeof command);
	const char *job = client_job(c, p->slice);
	if (!c->json) {
		control_reply_line(c->r, "%-10ld%-12s%-10s%-12s%-5s%-42s%-14s%s", (long)p->pid, user, server, mem, gpu,
				   p->slice, job, command);
		return;
	}
	char server_json[16] = "null", used_json[24] = "null", busy_json[32] = "null", admitted_json[32] = "null";
	if (p->server_pid)
		snprintf(server_json, sizeof server_json, "%ld", (long)p->server_pid);
	if (known)
		snprintf(used_json, sizeof used_json, "%llu", (unsigned long long)bytes);
	if (p->gpu_counted) { /* admitted: its busy time, and the time it had to be busy */
		uint64_t now = gs_now_ns();
		snprintf(busy_json, sizeof busy_json, "%.3f", (double)control_busy_process_ns(p, now) / 1e9);
		snprintf(admitted_json, sizeof admitted_json, "%.3f", (double)(now - p->gpu_admitted_ns) / 1e9);
	}
	control_reply_line(c->r, "%s{\"pid\": %ld, \"uid\": %ld, \"user\": \"%s\", \"command\": \"%s\", \"server\": %s, "
			   "\"queued\": %s, \"gpu\": %s, \"gpu_uuid\": \"%s\", \"slice\": \"%s\", \"job\": %s%s%s, "
			   "\"used_bytes\": %s, \"state\": \"%s%s\", \"host_bytes\": %llu, \"gpu_busy_seconds\": %s, "
			   "\"admitted_seconds\": %s}",
			   c->n ? "," : "", (long)p->pid, (long)p->uid, user, command, server_json,
			   p->pending ? "true" : "false", g ? gpu : "null", p->gpu, p->slice, strcmp(job, "-") ? "\"" : "",
			   strcmp(job, "-") ? job : "null", strcmp(job, "-") ? "\"" : "", used_json, control_suspend_state(p),
			   p->susp_waiting ? " (waiting for memory)" : "", (unsigned long long)p->susp_bytes, busy_json,
			   admitted_json);
	c->n++;
}

/* gpushare: a client's (or a slice's clients') GPU memory to the host and
 * back (suspend.c) */
static void cmd_suspend(struct control_state *s, struct control_peer *p, int argc, char **argv, struct control_reply *r)
{
	(void)p, (void)argc;
	control_suspend_command(s, true, argv[1], r);
}

static void cmd_resume(struct control_state *s, struct control_peer *p, int argc, char **argv, struct control_reply *r)
{
	(void)p, (void)argc;
	control_suspend_command(s, false, argv[1], r);
}

/* gpushare: a client moved to another GPU (migrate.c), answered when done;
 * root, the daemon's user or the program's own user */
static void cmd_migrate(struct control_state *s, struct control_peer *p, int argc, char **argv, struct control_reply *r)
{
	control_migrate_command(s, p, argc, argv, r);
}

/* gpushare: a migrating program's interposer took its new slice, or not */
static void slice_answer(struct control_state *s, struct control_peer *p, int argc, char **argv,
			 struct control_reply *r)
{
	(void)r;
	control_migrate_answer(s, p, argc, argv);
}

/* gpushare: the registered clients, their user, server, memory, GPU, slice
 * and command; a user other than root or the daemon's sees their own.
 * list_clients [--json] */
static void list_clients(struct control_state *s, struct control_peer *p, int argc, char **argv,
			 struct control_reply *r)
{
	struct clients_ctx c = { s, r, p, argc == 2 && strcmp(argv[1], "--json") == 0, 0, malloc(sizeof *c.st) };
	if (argc == 2 && !c.json) {
		control_reply_fail(r, "Invalid arguments: list_clients [--json]");
		free(c.st);
		return;
	}
	if (c.st && gs_store_load(s->state_dir, c.st, NULL, 0)) {
		free(c.st);
		c.st = NULL;
	}
	if (c.json)
		control_reply_line(r, "{\"version\": 1, \"clients\": [");
	else
		control_reply_line(r, "%-10s%-12s%-10s%-12s%-5s%-42s%-14s%s", "PID", "USER", "SERVER", "MEMORY", "GPU",
				   "SLICE", "JOB", "COMMAND");
	control_each_client(client_row, &c);
	if (c.json)
		control_reply_line(r, "]}");
	free(c.st);
}

const struct control_cmd control_cmds[] = {
	{ "get_server_list", 0, 0, false, MPS_FORWARD, "", cmd_get_server_list },
	{ "get_server_status", 1, 1, false, MPS_FORWARD, "<PID>", cmd_get_server_status },
	{ "get_client_list", 1, 1, false, MPS_FORWARD, "<PID>", cmd_get_client_list },
	{ "start_server", 2, 4, true, MPS_FORWARD, "-uid <UID> [-slice <MIG-uuid>]", cmd_start_server },
	{ "shutdown_server", 1, 2, true, MPS_FORWARD, "<PID> [-f]", cmd_shutdown_server },
	{ "terminate_client", 2, 2, true, MPS_FORWARD, "<server PID> <client PID>", cmd_terminate_client },
	{ "get_active_thread_percentage", 1, 1, false, MPS_FORWARD, "<PID>", cmd_get_pct },
	{ "set_active_thread_percentage", 2, 2, true, MPS_FORWARD, "<PID> <percentage>", cmd_set_pct },
	{ "get_device_pinned_mem_limit", 2, 2, false, MPS_FORWARD, "<PID> <dev>", cmd_get_limit },
	{ "set_device_pinned_mem_limit", 3, 3, true, MPS_FORWARD, "<PID> <dev> <value>", cmd_set_limit },
	{ "get_device_client_list", 0, 1, false, MPS_FORWARD, "[<PID>]", cmd_get_device_client_list },
	{ "device_query", 0, 2, false, MPS_FORWARD, "[<PID>] [--csv]", cmd_device_query },
	{ "ps", 0, 2, false, MPS_FORWARD, "[-p <PID>]", cmd_ps },
	{ "set_default_active_thread_percentage", 1, 1, true, MPS_BOTH, "<percentage>", set_default_pct },
	{ "get_default_active_thread_percentage", 0, 0, false, MPS_LOCAL, "", get_default_pct },
	{ "set_default_device_pinned_mem_limit", 2, 2, true, MPS_BOTH, "<dev> <value>", set_default_limit },
	{ "get_default_device_pinned_mem_limit", 1, 1, false, MPS_LOCAL, "<dev>", get_default_limit },
	{ "set_default_client_priority", 1, 1, true, MPS_BOTH, "<0|1>", set_default_priority },
	{ "get_default_client_priority", 0, 0, false, MPS_LOCAL, "", get_default_priority },
	{ "quit", 0, 2, true, MPS_LOCAL, "[-t <seconds>]", quit },
	{ "list_slices", 0, 1, false, MPS_LOCAL, "[--json]", cmd_list_slices },
	{ "list_sms", 0, 1, false, MPS_LOCAL, "[--json]", cmd_list_sms },
	{ "create_slice", 2, 34, true, MPS_LOCAL,
	  "<SMs> <memory> [-gpu <index|UUID>] [-name <name>] [-users <user,...>|*] [-refuse] "
	  "[-overcommit [-guarantee <memory>]] [-cgroup <path>] [-shared|-isolated|-best-effort] [-lend on|off] "
	  "[-borrow on|off] [-priority critical|normal|low] [-floor <SMs>] [-weight <1-100>] [-timeslice <ms>|off] "
	  "[-oom-wait <seconds>] [-mem-turn <seconds>] [-borrow-memory on|off]",
	  cmd_create_slice },
	{ "create_job_slice", 2, 5, false, MPS_LOCAL, "<SMs> <memory> [-gpu <index|UUID>] [-overcommit]",
	  cmd_create_job_slice },
	{ "attach_job", 4, 8, true, MPS_LOCAL, "<name> <user> <size> <pid> [-gpu <index|UUID>] [-cgroup <path>]",
	  cmd_attach_job },
	{ "detach_job", 1, 1, true, MPS_LOCAL, "<name>", cmd_detach_job },
	{ "set_slice_default", 2, 2, true, MPS_LOCAL, "<slice> <user,...|->", cmd_set_slice_default },
	{ "resize_slice", 3, 4, true, MPS_LOCAL, "<slice> <SMs> <memory> [-overcommit]", cmd_resize_slice },
	{ "destroy_slice", 1, 1, true, MPS_LOCAL, "<slice>", cmd_destroy_slice },
	{ "set_slice_users", 2, 3, true, MPS_LOCAL, "<slice> <user,...|*> [queue|refuse]", cmd_set_slice_users },
	{ "set_slice_memory_limit", 2, 2, true, MPS_LOCAL, "<slice> <value>", cmd_set_slice_memory_limit },
	{ "set_slice_guarantee", 2, 2, true, MPS_LOCAL, "<slice> <memory|0>", cmd_set_slice_guarantee },
	{ "set_slice_oom_wait", 2, 2, true, MPS_LOCAL, "<slice> <seconds>", cmd_set_slice_oom_wait },
	{ "set_slice_mem_turn", 2, 2, true, MPS_LOCAL, "<slice> <seconds>", cmd_set_slice_mem_turn },
	{ "set_slice_borrow_memory", 2, 2, true, MPS_LOCAL, "<slice> on|off", cmd_set_slice_borrow_memory },
	{ "set_slice_sm_policy", 2, 14, true, MPS_LOCAL,
	  "<slice> [-shared|-isolated|-best-effort] [-lend on|off] [-borrow on|off] [-priority critical|normal|low] "
	  "[-floor <SMs>] [-weight <1-100>] [-timeslice <ms>|off]",
	  cmd_set_slice_sm_policy },
	{ "list_clients", 0, 1, false, MPS_LOCAL, "[--json]", list_clients },
	{ "suspend", 1, 1, true, MPS_LOCAL, "<PID|slice>", cmd_suspend },
	{ "resume", 1, 1, true, MPS_LOCAL, "<PID|slice>", cmd_resume },
	{ "migrate", 2, 4, false, MPS_LOCAL, "<PID> <GPU index|UUID> [-slice <name|MIG-uuid>]", cmd_migrate },
};
const size_t control_n_cmds = sizeof control_cmds / sizeof control_cmds[0];

const struct control_cmd control_internal_cmds[] = {
	{ "register_client", 1, 3, false, MPS_LOCAL, "<slice|-> [<GPU-uuid> [<server PID>]]", register_client },
	{ "server_ready", 0, 0, false, MPS_LOCAL, "", server_ready },
	{ "sm_busy", 0, 0, false, MPS_LOCAL, "", sm_busy },
	{ "sm_idle", 0, 1, false, MPS_LOCAL, "[<ns ago>]", sm_idle },
	{ "gpu_busy", 0, 0, false, MPS_LOCAL, "", gpu_busy },
	{ "gpu_idle", 1, 2, false, MPS_LOCAL, "<ns ago> [<ns idle untold>]", gpu_idle },
	{ "launches", 1, 1, false, MPS_LOCAL, "<count>", launches },
	{ "swapped", 1, 3, false, MPS_LOCAL, "out <bytes> <regions>|in", swap_answer },
	{ "swap_failed", 1, 32, false, MPS_LOCAL, "<CUresult> <why>", swap_answer },
	{ "reclaim", 1, 1, false, MPS_LOCAL, "<bytes>", reclaim },
	{ "slice_moved", 0, 0, false, MPS_LOCAL, "", slice_answer },
	{ "slice_failed", 0, 8, false, MPS_LOCAL, "<why>", slice_answer },
};
const size_t control_n_internal_cmds = sizeof control_internal_cmds / sizeof control_internal_cmds[0];

void control_dispatch(struct control_state *s, struct control_peer *p, char *line, struct control_reply *r)
{
	char *argv[40], *save = NULL; /* create_slice with every option: 35 words */
	int argc = 0;
	char copy[GS_LINE_MAX];
	snprintf(copy, sizeof copy, "%s", line);
	for (char *t = strtok_r(line, " \t", &save); t; t = strtok_r(NULL, " \t", &save)) {
		if (argc == (int)GS_ARRAY_LEN(argv)) {
			argc++;
			break;
		}
		argv[argc++] = t;
	}
	r->status = 0;
	if (argc == 0)
		return;
	const struct control_cmd *c = NULL;
	for (size_t i = 0; i < control_n_cmds && argc <= (int)GS_ARRAY_LEN(argv); i++)
		if (strcmp(argv[0], control_cmds[i].name) == 0)
			c = &control_cmds[i];
	for (size_t i = 0; i < control_n_internal_cmds && argc <= (int)GS_ARRAY_LEN(argv); i++)
		if (strcmp(argv[0], control_internal_cmds[i].name) == 0)
			c = &control_internal_cmds[i];
	if (!c) {
		control_reply_error(r, "Unknown command \"%s\"", copy);
		control_reply_hint(r, "gpushare-control --help lists the commands");
		return;
	}
	if (argc - 1 < c->min_args || argc - 1 > c->max_args) {
		control_reply_error(r, "Invalid arguments: %s%s%s", c->name, c->usage[0] ? " " : "", c->usage);
		control_reply_hint(r, "%s takes %s%d argument%s, not %d", c->name,
				   c->min_args == c->max_args ? "" : argc - 1 < c->min_args ? "at least " : "at most ",
				   argc - 1 < c->min_args ? c->min_args : c->max_args,
				   (argc - 1 < c->min_args ? c->min_args : c->max_args) == 1 ? "" : "s", argc - 1);
		return;
	}
	r->logged = c->admin;
	if (c->admin && !p->privileged && p->uid != 0 && p->uid != geteuid()) {
		control_reply_fail(r, "Permission denied: %s needs root or the daemon's user", c->name);
		return;
	}
	if (c->mps != MPS_LOCAL && s->mps.on) {
		struct control_reply local = { .pass_fd = -1 };
		if (c->mps == MPS_BOTH)
			c->run(s, p, argc, argv, &local); /* ours too: kept, saved, answered by get_* */
		bool refused = c->mps == MPS_BOTH && local.status;
		if (refused) {
			*r = local;
			return;
		}
		free(local.buf);
		if (control_mps_forward(s, p, copy, r)) {
			control_reply_line(r, "NVIDIA MPS gave no answer");
			r->status = 1;
		}
		return;
	}
	c->run(s, p, argc, argv, r);
	/* slices made, removed, resized or given another policy: the SMs
	 * their neighbours may borrow change (read again only when they did) */
	if (r->status == 0 && (c->admin || strstr(c->name, "job")))
		control_elastic_update_all(s);
}

/* The settings file, in the daemon's pipe directory (each daemon has its
 * own): "pct <v>", "priority <n>", "limit <dev> <bytes>". */
void control_settings_save(struct control_state *s)
{
	char path[4096 + 32], buf[8192];
	size_t len = (size_t)snprintf(buf, sizeof buf, "gpushare-control-settings 1\npct %.6f\npriority %d\n", s->default_pct,
				      s->default_priority);
	for (size_t i = 0; i < s->n_default_limits && len < sizeof buf - 128; i++)
		len += (size_t)snprintf(buf + len, sizeof buf - len, "limit %s %llu\n", s->default_limits[i].dev,
					(unsigned long long)s->default_limits[i].bytes);
	if (!s->pipe_dir[0])
		return; /* no daemon to keep them for */
	snprintf(path, sizeof path, "%s/control-settings", s->pipe_dir);
	if (gs_file_replace(path, buf, len))
		control_log(s, "cannot save the settings in %s", path);
}

void control_settings_load(struct control_state *s)
{
	char path[4096 + 32], *text;
	snprintf(path, sizeof path, "%s/control-settings", s->pipe_dir);
	if (gs_file_read(path, 1 << 16, &text, NULL))
		return;
	char *save = NULL;
	bool magic = false;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char dev[64];
		double v;
		int n, end = 0;
		unsigned long long b;
		/* each line whole: "pct 50junk" is no percentage */
		if (!magic) {
			magic = strcmp(line, "gpushare-control-settings 1") == 0;
			if (!magic)
				break;
		} else if (sscanf(line, "pct %lf%n", &v, &end) == 1 && !line[end] && v > 0 && v <= 100) {
			s->default_pct = v;
		} else if (sscanf(line, "priority %d%n", &n, &end) == 1 && !line[end] && (n == 0 || n == 1)) {
			s->default_priority = n;
		} else if (sscanf(line, "limit %63s %llu%n", dev, &b, &end) == 2 && !line[end] && b &&
			   s->n_default_limits < CONTROL_MAX_LIMITS) {
			struct mpsval_dev_limit *l = &s->default_limits[s->n_default_limits++];
			snprintf(l->dev, sizeof l->dev, "%s", dev);
			l->bytes = b;
		} else {
			control_log(s, "ignoring \"%s\" in %s", line, path);
		}
	}
	if (magic)
		control_log(s, "settings recovered from %s", path);
	free(text);
}

void control_settings_forget(struct control_state *s)
{
	char path[4096 + 32];
	snprintf(path, sizeof path, "%s/control-settings", s->pipe_dir);
	unlink(path);
}
