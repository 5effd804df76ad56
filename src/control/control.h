/* control.h: gpushare-control, the MPS control daemon of gpushare: its
 * protocol, its state and its command table (used by the daemon, the client
 * and the help text alike).
 *
 * Protocol (version GS_CONTROL_PROTOCOL): a peer sends one command per line;
 * the daemon answers each with zero or more "R <text>" lines and one
 * "E <status>" line; "W <text>" lines say what gpushare adds (why a command
 * was refused, a hint). The front end prints the R texts on stdout, as
 * nvidia-cuda-mps-control prints its answers, the W texts on stderr, and
 * exits 1 when a command's status was not 0. A connection the daemon refuses or closes on
 * its own (too many of the user's, idle too long) gets one "C <why>" line,
 * then EOF. */
#ifndef GS_CONTROL_H
#define GS_CONTROL_H

#include "gs.h"
#include "line.h"
#include "slice.h"
#include "mpsval.h"

#include <stdarg.h>
#include <stdio.h>
#include <sys/types.h>

#define GS_CONTROL_PROTOCOL 2
#define CONTROL_MAX_LIMITS 32
#define CONTROL_MAX_SERVERS 256
#define CONTROL_MAX_GPUS 16

struct control_reply;
struct control_peer;
struct gs_tpc_calib;

/* A GPU as NVML reports it (device_query, pinned limits by ordinal, the
 * slice layer's model). */
struct control_gpu {
	unsigned index, sms;
	char uuid[48], name[96], bus[32];
	uint64_t memory;
	struct gs_slice_gpu slice;
	struct gs_tpc_calib *tpc;                /* its TPC map: masks confine its slices (NULL: green contexts) */
	char tpc_why[200];                       /* how its SMs are confined, or why not by masks */
};

/* A server: one per (slice, user), started when its first client arrives,
 * kept after its clients leave, as MPS keeps its servers. On the simulated
 * GPU it is a gpushare process running as the user (servers.c). */
enum control_server_state { SERVER_INITIALIZING, SERVER_ACTIVE };
struct control_server {
	pid_t pid;
	uint64_t start;                          /* with pid: this process, not a reused pid */
	uid_t uid;
	char slice[96];                          /* MIG-<uuid>, or "-" for the whole GPU */
	enum control_server_state state;
	bool child;                              /* ours to reap; else adopted after a restart */
	bool stopping;                           /* shutdown_server: exits once its clients have */
	bool told;                               /* told to shut down */
	int conn;                                /* its connection once ready, -1 before */
	double pct;
	struct mpsval_dev_limit limits[CONTROL_MAX_LIMITS];
	size_t n_limits;
	int priority;
	unsigned next_client_id;
};

/* NVIDIA MPS supervised by the daemon on real GPUs (mps.c). */
struct control_mps {
	bool on;
	char bin[1024], pipe[1024], logs[1024];
	uint64_t started_ns;                     /* when it was last started (0: found running) */
};

/* What the daemon counts as it goes, for its metrics (metrics.c). */
struct control_counters {
	uint64_t connections_open;               /* now */
	uint64_t connections, connections_refused;
	uint64_t commands, commands_refused;     /* lines answered; answered with status 1 */
	uint64_t registrations, registrations_refused;
};

struct control_state {
	double default_pct;                      /* set_default_active_thread_percentage */
	struct mpsval_dev_limit default_limits[CONTROL_MAX_LIMITS];
	size_t n_default_limits;
	int default_priority;
	bool quitting;
	FILE *log;                               /* control.log */
	char state_dir[4000];                    /* the slice store, and settings kept across a crash */
	char pipe_dir[1024], log_dir[1024];
	char cgroup_root[256];                   /* where cgroup v2 is mounted ("" : none), for bound slices */
	struct control_mps mps;
	struct control_server servers[CONTROL_MAX_SERVERS];
	size_t n_servers;
	struct control_gpu gpus[CONTROL_MAX_GPUS];
	size_t n_gpus;
	int quit_conn;                           /* who asked to quit: answered when servers are gone */
	int quit_status;                         /* 0 unless a server had to be forced down */
	uint64_t quit_deadline_ns;               /* quit -t: servers forced down after it, 0: none */
	FILE *records;                           /* accounting.log: a line per program gone (records.c) */
	FILE *server_log;                        /* server.log: lines of servers (log pipe) and of the daemon for them */
	uint64_t settle_ns;                      /* after a restart that adopted servers or NVIDIA's MPS: the
						  * programs already running register again until then */
	struct control_counters counters;
};

/* Starts NVIDIA's control daemon in -multiuser-server mode with a private
 * pipe directory (<pipe>/nvidia-mps) when the GPU is NVIDIA's and the binary
 * is there (wait: until it listens, 5 s at most; else it is taken as on and
 * looked at again later); stops it; tells whether it listens. */
void control_mps_start(struct control_state *s, const char *pipe_dir, const char *log_dir, bool wait);
void control_mps_stop(struct control_state *s);
bool control_mps_listening(const struct control_state *s);
/* Passes one command line to NVIDIA's front end; its answer lines go to the
 * peer when it gives them (5 s at most), r is deferred. 0, or -1 when it
 * could not be started. */
int control_mps_forward(struct control_state *s, const struct control_peer *p, const char *line,
			struct control_reply *r);

/* Runs argv[0] with env (NAME=VALUE, NULL-ended, may be NULL) added and
 * LD_PRELOAD dropped, input on its stdin, its stdout and stderr into out (may be NULL):
 * its exit status, or -1 (also when it ran past timeout_ms and was killed). */
int control_exec(char *const argv[], char *const env[], const char *input, char *out, size_t outlen, int timeout_ms);
/* The same in two halves: started, its output on the returned non-blocking
 * fd (-1: it could not start); then, once that fd reads EOF (or the caller
 * gives up: kill_it), reaped: its exit status, or -1. */
int control_exec_start(char *const argv[], char *const env[], const char *input, pid_t *pid);
int control_exec_end(pid_t pid, bool kill_it);
/* The daemon's loop reads a started helper's output (fd) and answers the
 * connection conn with it, as "R" lines and "E 0", or "NVIDIA MPS gave no
 * answer" and "E 1" when it fails or runs past timeout_ms (daemon.c). */
int control_relay(int conn, int fd, pid_t pid, int timeout_ms);

/* Settings survive a crash of the daemon (kill -9 included) in its pipe
 * directory and are dropped by quit, as MPS drops them. */
void control_settings_save(struct control_state *s);
void control_settings_load(struct control_state *s);
void control_settings_forget(struct control_state *s);

/* A reply being built: lines for the peer, echoed to control.log. */
struct control_reply {
	char *buf;
	size_t len, cap;
	int status;
	bool deferred;                           /* its "E" line comes later, through control_send */
	bool logged;                             /* a change: its lines go to control.log */
	int pass_fd;                             /* an open file passed with its first line (SCM_RIGHTS),
						  * closed once sent; -1: none */
};

/* An answer line (the front end's stdout). */
void control_reply_line(struct control_reply *r, const char *fmt, ...) GS_PRINTF(2, 3);
/* A refusal in the words MPS uses for it: an answer line, status 1. */
void control_reply_error(struct control_reply *r, const char *fmt, ...) GS_PRINTF(2, 3);
/* gpushare's own refusal: a "W" line (the front end's stderr), status 1. */
void control_reply_fail(struct control_reply *r, const char *fmt, ...) GS_PRINTF(2, 3);
/* What gpushare adds to an answer MPS defines: a "W" line, status kept. */
void control_reply_hint(struct control_reply *r, const char *fmt, ...) GS_PRINTF(2, 3);
/* A percentage MPS refuses by answering the value in force: why, status 1. */
void control_percentage_refused(struct control_reply *r, const char *text, const char *in_force);

struct gs_ledger;

/* GPU busy time being counted (busy.c): of a process (n 0 or 1), or the
 * union of a slice's or a GPU's (n: its processes busy now). */
struct control_busy {
	unsigned n;
	uint64_t since;                          /* n > 0: when the busy time began */
	uint64_t last_end;                       /* the latest end told (busy time never counted twice) */
	uint64_t total;                          /* ended periods, ns */
	uint64_t shown;                          /* the most ever read: a counter never falls */
};

/* A program on its way to another GPU (migrate.c). */
struct control_mig {
	uint8_t step;                            /* migrate.c's MIG_*; 0: none */
	char from_slice[96], from_gpu[48];       /* where it was */
	char slice[96], gpu[48];                 /* where it goes */
	uint64_t bytes;                          /* its memory: on the host, or charged to the target slice (in_target) */
	bool in_target;
	bool waiting;                            /* its memory does not fit in the target slice now */
	bool move_job;                           /* its job slice moves with it: made_job on the target GPU */
	char made_job[96];                       /* the job slice made for it there ("": none) */
	int conn;                                /* the command's connection, answered when done (-1: nobody) */
	uint64_t t0, t_ckpt, t_told, t_restore;  /* when it began, was checkpointed, told, restore began */
	uint64_t retry, next_ns;                 /* waiting for memory: the wait before the next try, and when */
	pid_t helper;                            /* a killed daemon's helper still at work on it (pid, start) */
	uint64_t helper_start;
	bool restore_due;                        /* its restore starts once that helper is gone */
};

struct control_peer {
	int conn;                                /* the connection's id, for control_send */
	uid_t uid;
	pid_t pid;
	uint64_t pid_start;                      /* pid's start time when it connected: the same process later */
	bool privileged;                         /* came through control_privileged */
	bool sees_all;                           /* root, the daemon's user or privileged: every user's
						  * servers and clients are listed to it, others see their own */
	bool client;                             /* a CUDA program that registered */
	bool pending;                            /* registered, waiting for its server */
	bool server;                             /* one of our servers (server_ready) */
	char slice[96];                          /* its slice, "-" for none */
	char gpu[48];                            /* its slice's GPU, "" when not told */
	unsigned sms;                            /* its slice's SMs (0: the whole GPU) */
	bool job;                                /* made a job slice (gpushare run): collected when it goes */
	int ledger_fd;                           /* its slice's ledger, passed with its admission; -1: none */
	pid_t server_pid;                        /* the server it is attached to, 0 none */
	unsigned id;                             /* the client's ID in its server (ps) */
	bool masked;                             /* its launches carry the TPC mask the daemon pushes (elastic.c) */
	bool busy;                               /* it launched within the idle interval */
	bool idle_pending;                       /* said idle sooner than an idle interval after busy */
	uint64_t busy_ns;                        /* when it last said busy */
	uint32_t mask[4];                        /* the TPC bits last pushed to it */
	bool paused;                             /* told its launches wait (a low-priority slice's, a critical one busy) */
	uint8_t susp;                            /* enum control_susp (suspend.c) */
	bool susp_turn;                          /* suspended for another slice's memory turn (memturn.c) */
	bool susp_refused;                       /* the driver refused to suspend it (an NVIDIA MPS client) */
	bool susp_lend;                          /* a borrower suspended for an owner's guarantee (lend.c) */
	pid_t lend_for;                          /* susp_lend: the owner it was suspended for, */
	uint64_t lend_for_start;                 /* that owner's start time, */
	unsigned lend_for_ask;                   /* which of its asks (lend_ask), */
	uint64_t lend_bytes;                     /* and what it held then */
	unsigned lend_ask;                       /* an owner: its asks so far */
	bool lend_pending;                       /* an owner waiting for its guarantee back (lend.c) */
	uint64_t lend_need, lend_begun;          /* what it is given back, and what suspensions begun for it free */
	uint64_t lend_window_ns;                 /* its questions' second (lend.c: a bounded number each) */
	unsigned lend_asked;
	bool susp_waiting;                       /* resuming: its memory does not fit in its slice now */
	pid_t susp_child;                        /* the helper at work on it, 0 none */
	pid_t susp_old;                          /* a killed daemon's helper at work on it, 0 none, */
	uint64_t susp_old_start;                 /* and its start time: a resume waits for it */
	int susp_pipe;                           /* the helper's answer */
	uint64_t susp_child_ns;                  /* when the helper started */
	uint64_t susp_retry, susp_next_ns;       /* resuming: the wait before the next try, and when */
	uint64_t susp_bytes;                     /* suspended: what it held, out of its slice's ledger */
	uint64_t susp_expect;                    /* suspending or migrating: what it held when that began (the host's share) */
	uint64_t susp_rss0;                      /* and its resident memory then */
	bool host_refused;                       /* its last suspend was refused for the host's memory (said once) */
	bool swap;                               /* told "swap 1": its interposer backs its memory so that it can move it */
	bool susp_swap;                          /* suspended by its interposer's swap, not the checkpoint API */
	bool susp_asked;                         /* the swap asked of its interposer ("S swap out|in"), no answer yet */
	uint64_t susp_put;                       /* resuming by the swap: what was put back in its slice's ledger */
	uint64_t acct_start;                     /* admitted (records.c): ms since the epoch; 0: not */
	uint64_t acct_peak;                      /* the most its slice's ledger held for it */
	char acct_command[32];
	struct gs_ledger *acct_ledger;           /* its slice's, kept open for the samples */
	unsigned turn_ms;                        /* in a timeslice slice (turns.c): its turn's length; 0: none */
	bool busy_turns;                         /* it launched within the idle interval, or waits to */
	bool has_turn;
	uint64_t turn_ns;                        /* when it got the turn, or last had it */
	uint64_t launches;                       /* its kernel launches, as its interposer last said (metrics.c) */
	bool gpu_counted;                        /* admitted: its busy time is counted (busy.c) */
	struct control_busy gpu_busy;
	uint64_t gpu_admitted_ns;                /* when it was admitted */
	struct control_mig mig;                  /* migrate.c */
};

/* Whether p may see what belongs to uid (a server, a client) in a listing. */
static inline bool control_peer_sees(const struct control_peer *p, uid_t uid)
{
	return p->sees_all || p->uid == uid;
}

/* The registered clients, for list_clients: the daemon's connections. */
typedef void (*control_client_fn)(void *ctx, struct control_peer *p);
void control_each_client(control_client_fn fn, void *ctx);
/* Queues text (whole lines) to a connection; nothing when it has gone. */
void control_send(int conn, const char *text);
/* The same with an open file passed with its first line (SCM_RIGHTS); the
 * fd is the daemon's to close, sent or not. */
void control_send_fd(int conn, const char *text, int fd);

/* Where a registering program runs (placement.c): the daemon decides, in
 * order, from the slice bound to the program's cgroup, its job's ephemeral
 * slice, the slice it asked for (if open to its user), its user's default
 * slice, else its GPU's remainder (slice "-"). */
struct control_placement {
	char slice[GS_UUID_STR + 8];             /* MIG-<uuid>, or "-" for the remainder */
	char gpu[48];
	const char *how;                         /* "cgroup", "job", "named", "default", "remainder" */
	bool refuse_busy;
	uint64_t memory;                         /* the limit, bytes */
	uint64_t guarantee;                      /* what no other slice may take of it, bytes */
	unsigned sm_start, sms, sm_grid;         /* its SM run (smrun.h); sms 0: the whole GPU */
	int ledger_fd;                           /* its ledger, open read-write: the caller's to close */
};
/* 0, or -errno with why in err (-EPERM: the slice asked for is not open to
 * the user; -ENOENT: no such slice). */
int control_place(struct control_state *s, const struct control_peer *p, const char *asked, const char *gpu,
		  struct control_placement *out, char *err, size_t errlen);
/* A slice named by its MIG UUID, a unique prefix of it or its name: its full
 * UUID and its GPU as the daemon knows it (NULL if unknown). 0, or -errno
 * with why in r (cmd-slices.c). */
struct control_slice {
	char uuid[GS_UUID_STR + 4];
	const struct control_gpu *gpu;
	struct gs_sm_policy sm_policy; /* as the store holds it now */
};
int control_slice_find(struct control_state *s, const char *name, struct control_slice *out, struct control_reply *r);
/* Where the cgroup v2 hierarchy is mounted ("" when it is not). */
void control_cgroup_root(char *out, size_t len);
/* A client has gone: what it held goes back to its slice's ledger now, so
 * that the neighbours, who read the ledger without reclaiming, see it free. */
void control_reclaim(struct control_state *s, const struct control_peer *p);
/* Every tick: the ledgers of programs that were still exiting when they
 * went, reclaimed once they are dead. */
void control_reclaim_tick(struct control_state *s);
/* The ledger of a client's slice (or its GPU's remainder), read-write:
 * 0, or -errno. */
int control_peer_ledger(struct control_state *s, const struct control_peer *p, struct gs_ledger **out);
/* A slice (MIG-<uuid>, as the store names it) as control_place gives it,
 * for a program of uid (-EPERM: not open to it; -ENOENT: none); its ledger
 * open in out->ledger_fd, the caller's to close. */
int control_place_slice(struct control_state *s, const char *slice, uid_t uid, struct control_placement *out,
			char *err, size_t errlen);
/* What a process holds there: 0, or -ENOENT (no ledger yet). */
int control_remainder_process_bytes(const struct control_state *s, const char *gpu_uuid, pid_t pid, uint64_t *bytes);

/* Servers and the clients attached to them (servers.c). */
#define CONTROL_SETTLE_NS 2000000000ull
/* Something of a killed daemon was adopted: running programs come back first. */
static inline void control_settle(struct control_state *s)
{
	s->settle_ns = gs_now_ns() + CONTROL_SETTLE_NS;
}
void control_servers_init(struct control_state *s);
/* register_client: attaches p to its (slice, user) server, starting one,
 * queueing p or refusing it; answers now or once the server is ready. A
 * running program registering again names the server it runs with
 * (had_server, NULL otherwise) and goes back to it. */
void control_client_register(struct control_state *s, struct control_peer *p, const char *slice, const char *gpu,
			     const char *had_server, struct control_reply *r);
/* server_ready: a server of ours says it serves. */
void control_server_ready(struct control_state *s, struct control_peer *p, struct control_reply *r);
/* Removes job slices whose job has ended (and no program holds memory). */
void control_collect_jobs(struct control_state *s);
/* Removes the empty cgroups of jobs (cmd-slices.c). */
void control_jobs_cgroups_tidy(const struct control_state *s);
/* A connection closed: a client left or a server went away. */
void control_peer_gone(struct control_state *s, struct control_peer *p);
/* Reaps exited servers, checks adopted ones, forces quit -t; called from the
 * loop at least every 200 ms. */
void control_servers_tick(struct control_state *s);
/* quit: servers shut down once their clients have gone; true when none is left. */
void control_servers_quit(struct control_state *s);
struct control_server *control_server_find(struct control_state *s, const char *pid_text);
/* Runs the daemon loop's pending work for a server that may now exit. */
void control_server_maybe_stop(struct control_state *s, struct control_server *v);
/* Keeps the room of the daemon's argv (and environment, moved to the heap)
 * for its servers to name themselves in ps; from main, before the daemon. */
void control_proctitle_init(int argc, char **argv);
/* The server process (server.c), in the child the daemon forked. */
void control_server_main(const struct control_state *s, const struct control_server *v) __attribute__((noreturn));
/* For the server commands: start_server; shutdown_server -f (its clients
 * are terminated); terminate_client; a setting changed (told to the server,
 * kept in the pipe directory). */
int control_server_start(struct control_state *s, const char *slice, uid_t uid, struct control_reply *r);
/* A client moved to another slice (migrate): off its server, onto its
 * user's server of that slice (started when there is none). */
void control_server_move_client(struct control_state *s, struct control_peer *p, const char *slice);
/* Another user's server holding a slice (0: none). */
uid_t control_server_holder(struct control_state *s, const char *slice, uid_t uid);
/* A slice was destroyed: its servers go. */
void control_servers_slice_gone(struct control_state *s, const char *slice);
void control_server_force(struct control_state *s, struct control_server *v);
void control_server_terminate(struct control_state *s, struct control_server *v, struct control_peer *client);
void control_server_changed(struct control_state *s, struct control_server *v, const char *fmt, ...)
	GS_PRINTF(3, 4);
/* Writes "[YYYY-MM-DD HH:MM:SS.mmm Server %5d] text" to server.log. */
void control_server_log(struct control_state *s, pid_t server, const char *fmt, ...) GS_PRINTF(3, 4);
/* The GPUs, from gpushare-smi, once at start. */
void control_gpus_discover(struct control_state *s);
const struct control_gpu *control_gpu_by_dev(const struct control_state *s, const char *dev);

/* Elastic SMs (elastic.c): each GPU's TPC map taken at start (before the
 * control socket listens: calibration runs CUDA programs); a client
 * admitted into a slice of a mapped GPU gets its "mask" line; its busy and
 * idle reports, arrivals and departures push new masks to the programs
 * whose mask changed. */
void control_elastic_init(struct control_state *s);
void control_elastic_admit(struct control_state *s, struct control_peer *p, struct control_reply *r);
void control_elastic_activity(struct control_state *s, struct control_peer *p, bool busy);
void control_elastic_gone(struct control_state *s, struct control_peer *p);
/* Applies idle reports held back (from the daemon's loop, every 100 ms). */
void control_elastic_tick(struct control_state *s);
/* After slices or their policies changed. */
void control_elastic_update_all(struct control_state *s);
/* The SMs a slice's launches may use now (0: not masked). */
unsigned control_elastic_sms_now(struct control_state *s, const struct control_gpu *g, const char *slice);
unsigned control_elastic_idle_ms(void);
/* A slice's TPC masks now (its enabled bits and its own): false where its
 * GPU is not confined by masks. */
bool control_elastic_masks(struct control_state *s, const char *gpu, const char *slice, uint32_t mask[4],
			   uint32_t own[4]);

/* GPU busy time (busy.c): a program is busy from its admission, and from
 * each "busy" report, until an "idle" report (ago_ns before it) or until it
 * goes; a slice's and a GPU's time is the union of their programs', those
 * gone included. control_busy_look_ms is the interval the interposers
 * look at their launches in (their registration's "activity" line). */
unsigned control_busy_look_ms(void);
void control_busy_admit(struct control_state *s, struct control_peer *p);
/* gap_ns: idle untold within the busy time that ends (off the process's
 * own time, not its slice's or GPU's) */
void control_busy_report(struct control_state *s, struct control_peer *p, bool busy, uint64_t ago_ns,
			 uint64_t gap_ns);
void control_busy_gone(struct control_state *s, struct control_peer *p);
/* Busy ns so far (now: gs_now_ns()): of a process (0 before its
 * admission), of the slice of that GPU and name ("-": the GPU's
 * remainder), of a GPU. Each only grows from one call to the next. */
uint64_t control_busy_process_ns(struct control_peer *p, uint64_t now);
uint64_t control_busy_slice_ns(const char *gpu, const char *slice, uint64_t now);
uint64_t control_busy_gpu_ns(const char *gpu, uint64_t now);
/* Forgets the slices that are gone (there: false) and none of whose
 * programs is busy. */
void control_busy_forget(bool (*there)(void *ctx, const char *gpu, const char *slice), void *ctx);

/* Accounting records (records.c): a program admitted, sampled every tick,
 * its line written as it goes. */
void control_records_admit(struct control_state *s, struct control_peer *p);
void control_records_tick(struct control_state *s);
void control_records_gone(struct control_state *s, struct control_peer *p);

/* Suspend and resume (suspend.c): the commands, the helpers' results every
 * tick, a program registering (suspended before a restart: resumed) and
 * going; the suspended programs of before a restart read at start. */
enum control_susp { CONTROL_RUNNING, CONTROL_SUSPENDING, CONTROL_SUSPENDED, CONTROL_RESUMING, CONTROL_MIGRATING };
void control_suspend_init(struct control_state *s);
void control_suspend_command(struct control_state *s, bool suspend, const char *what, struct control_reply *r);
void control_suspend_tick(struct control_state *s);
void control_suspend_admit(struct control_state *s, struct control_peer *p);
void control_suspend_gone(struct control_state *s, struct control_peer *p);
/* One program, for memory turns (memturn.c): suspended (resume false) or
 * resumed; whether it was begun. A new program held before it allocates. */
bool control_suspend_peer(struct control_state *s, struct control_peer *p, bool resume);
/* A resume still waiting for memory (nothing put back, no helper at work)
 * withdrawn: suspended again; false where it is past that. */
bool control_suspend_unwait(struct control_state *s, struct control_peer *p);
void control_suspend_hold_new(struct control_state *s, struct control_peer *p);
/* Whether a registering program in SLICE of GPU is told to back its memory
 * for the swap ("swap 1"; GPUSHARE_CONTROL_SWAP: turns, the default, under
 * NVIDIA's MPS, whose clients the checkpoint API refuses, a program of a
 * -mem-turn or -borrow-memory slice; mps: every client of NVIDIA's MPS; all: every program;
 * off), and
 * its interposer's answers to "S swap out|in" (the internal commands
 * swapped and swap_failed). */
bool control_suspend_swap_offer(const struct control_state *s, const char *gpu, const char *slice);
void control_suspend_swap_answer(struct control_state *s, struct control_peer *p, int argc, char **argv);

/* Memory turns (memturn.c): the slices of a GPU made with -mem-turn take
 * turns at its memory, the others' programs suspended. */
void control_memturn_admit(struct control_state *s, struct control_peer *p);
void control_memturn_tick(struct control_state *s);
/* A slice's memory turn in seconds (the store as last read; 0: none). */
unsigned control_slice_mem_turn(struct control_state *s, const char *gpu, const char *slice);
bool control_slice_borrows_memory(struct control_state *s, const char *gpu, const char *slice);
/* What a slice's programs hold past its guarantee now (lend.c). */
uint64_t control_lend_borrowed(struct control_state *s, const char *gpu, const char *slice);
const char *control_suspend_state(const struct control_peer *p);
/* What migrate.c shares of suspend.c: the helper of the driver's checkpoint
 * calls (to the host, or back: restored onto to_gpu where from_gpu is not
 * NULL), its result once it exited (0, or -1 while it runs; *result a
 * CUresult), what a CUresult means here, the hold on a program's slot of its
 * slice's ledger, and the suspended file written again. */
int control_suspend_helper(struct control_state *s, struct control_peer *p, bool to_host, const char *from_gpu,
			   const char *to_gpu);
int control_suspend_helper_done(struct control_peer *p, int *result);
/* Whether a helper (of a daemon killed before this one) still runs: pid
 * of that start time, not exited. */
bool control_helper_alive(pid_t pid, uint64_t start);
/* hostroom.c: a process's resident memory, 0 where unknown; whether pid's
 * bytes fit in the host's memory (MemAvailable, less what suspends and
 * migrations under way will still put there (what they held less what
 * their resident memory grew since), less the reserve
 * GPUSHARE_CONTROL_HOST_RESERVE keeps free) and in the room its memory
 * cgroups leave: 0, else -ENOMEM with why. On the simulated GPU, its host
 * is GPUSHARE_SIM_HOST_MIB, where set, less what is suspended; unset, only
 * the cgroups bound it. */
uint64_t control_rss_bytes(pid_t pid);
int control_peer_host_room(struct control_state *s, pid_t pid, uint64_t bytes, char *why, size_t len);
const char *control_suspend_why(int rc);
void control_suspend_hold(struct control_state *s, struct control_peer *p, bool on);
void control_suspend_save(struct control_state *s);

/* Migrate (migrate.c): migrate <pid> <gpu> [-slice <slice>], answered when
 * done; each tick's step of a migrating program; its line in the suspended
 * file (the suffix into out, the bytes its line gives), which a next daemon
 * goes on from when it registers again (recover: true when it took it on;
 * false: resumed where it was, as any suspended program); a program gone
 * while migrating; its interposer's answer (slice_moved, slice_failed). */
void control_migrate_command(struct control_state *s, struct control_peer *asker, int argc, char **argv,
			     struct control_reply *r);
void control_migrate_tick_one(struct control_state *s, struct control_peer *p);
uint64_t control_migrate_record(const struct control_peer *p, char *out, size_t len);
bool control_migrate_recover(struct control_state *s, struct control_peer *p, const char *from_slice, uint64_t bytes,
			     const char *record);
void control_migrate_gone(struct control_state *s, struct control_peer *p);
void control_migrate_answer(struct control_state *s, struct control_peer *p, int argc, char **argv);

/* Lending memory (lend.c): an owner's "reclaim <bytes>" (a program
 * allocating within its guarantee what borrowers hold) suspends borrowers
 * of its GPU, lowest priority and latest started first, and is answered
 * "S reclaimed <bytes>" once their memory is off the GPU (a connection that
 * is no program refused in r); the tick goes on
 * with it and resumes borrowers whose memory fits again. */
void control_lend_reclaim(struct control_state *s, struct control_peer *p, const char *bytes, struct control_reply *r);
void control_lend_tick(struct control_state *s);
/* The slice store as last read (elastic.c; NULL when it cannot be read). */
struct gs_store *control_store(struct control_state *s);

/* The policy of a slice of a GPU (from the store as last read); false: no
 * such slice, or the store cannot be read (elastic.c). */
bool control_slice_policy(struct control_state *s, const char *gpu, const char *slice, struct gs_sm_policy *out);

/* Turns in timeslice slices (turns.c): a program admitted into one gets its
 * "turns <ms> <holds it>" line into line ("" for other slices); its busy and
 * idle reports and its going move the turn on; control_turns_tick moves on
 * the turns whose time is up, and says in how many ms the next one is (-1:
 * none). */
void control_turns_admit(struct control_state *s, struct control_peer *p, char *line, size_t len);
void control_turns_activity(struct control_state *s, struct control_peer *p, bool busy);
void control_turns_gone(struct control_state *s, struct control_peer *p);
int control_turns_tick(struct control_state *s);

/* Prometheus metrics (metrics.c), when GPUSHARE_CONTROL_METRICS names an
 * address: init serves them from libmicrohttpd's thread (a bad address or a
 * build without libmicrohttpd: a line in control.log, and none); tick, from
 * every turn of the loop, renders them again once a second and says in how
 * many ms it is due next (-1: no metrics); stop ends it all. */
void control_metrics_init(struct control_state *s);
int control_metrics_tick(struct control_state *s);
void control_metrics_stop(void);
/* A program's launches, kept for its slice's total when it goes. */
void control_metrics_gone(const struct control_peer *p);

/* What a command does where NVIDIA MPS runs under the daemon. */
enum control_mps_role {
	MPS_LOCAL,                               /* gpushare's own, answered here */
	MPS_FORWARD,                             /* MPS's servers: NVIDIA's answer */
	MPS_BOTH,                                /* a default: kept here, passed on to MPS */
};

struct control_cmd {
	const char *name;
	int min_args, max_args;
	bool admin;                              /* changes state: privileged socket or root */
	enum control_mps_role mps;
	const char *usage;
	void (*run)(struct control_state *s, struct control_peer *p, int argc, char **argv,
		    struct control_reply *r);
};

#define CONTROL_CMD_FN(fn) \
	void fn(struct control_state *s, struct control_peer *p, int argc, char **argv, struct control_reply *r)
CONTROL_CMD_FN(cmd_get_server_list);
CONTROL_CMD_FN(cmd_get_server_status);
CONTROL_CMD_FN(cmd_get_client_list);
CONTROL_CMD_FN(cmd_start_server);
CONTROL_CMD_FN(cmd_shutdown_server);
CONTROL_CMD_FN(cmd_terminate_client);
CONTROL_CMD_FN(cmd_get_pct);
CONTROL_CMD_FN(cmd_set_pct);
CONTROL_CMD_FN(cmd_get_limit);
CONTROL_CMD_FN(cmd_set_limit);
CONTROL_CMD_FN(cmd_get_device_client_list);
CONTROL_CMD_FN(cmd_device_query);
CONTROL_CMD_FN(cmd_ps);
CONTROL_CMD_FN(cmd_list_slices);
CONTROL_CMD_FN(cmd_list_sms);
CONTROL_CMD_FN(cmd_create_slice);
CONTROL_CMD_FN(cmd_resize_slice);
CONTROL_CMD_FN(cmd_destroy_slice);
CONTROL_CMD_FN(cmd_set_slice_users);
CONTROL_CMD_FN(cmd_set_slice_memory_limit);
CONTROL_CMD_FN(cmd_set_slice_guarantee);
CONTROL_CMD_FN(cmd_set_slice_oom_wait);
CONTROL_CMD_FN(cmd_set_slice_mem_turn);
CONTROL_CMD_FN(cmd_set_slice_borrow_memory);
CONTROL_CMD_FN(cmd_set_slice_sm_policy);
CONTROL_CMD_FN(cmd_set_slice_default);
CONTROL_CMD_FN(cmd_create_job_slice);
CONTROL_CMD_FN(cmd_attach_job);
CONTROL_CMD_FN(cmd_detach_job);

/* The commands of users and administrators (--help lists them), then the
 * messages of gpushare's own programs (a CUDA program registering, a server
 * saying it serves). */
extern const struct control_cmd control_cmds[];
extern const size_t control_n_cmds;
extern const struct control_cmd control_internal_cmds[];
extern const size_t control_n_internal_cmds;

/* Runs one command line: splits it, finds the command by its exact name,
 * checks arguments and privilege, and fills the reply. */
void control_dispatch(struct control_state *s, struct control_peer *p, char *line, struct control_reply *r);

/* Writes "[YYYY-MM-DD HH:MM:SS.mmm Control %5d] text" to control.log. */
void control_log(struct control_state *s, const char *fmt, ...) GS_PRINTF(2, 3);
/* The line prefix of MPS's logs, for a role ("Control", "Server", "Other"). */
void control_log_prefix(char *out, size_t len, const char *role, pid_t pid);
/* One prefixed line into f (nothing when f is NULL). */
void control_vlog(FILE *f, const char *role, pid_t pid, const char *fmt, va_list ap);

/* A GPU's TPC map (tpcmask.h), measured once per GPU and driver
 * (calibrate.c). The measuring runs in a forked child outside NVIDIA MPS,
 * killed past the timeout; the daemon must not reap children with
 * waitpid(-1) meanwhile. Options may be NULL: NVIDIA's libcuda.so.1 where it
 * is (else the simulated one beside the program), 20 s. */
#define CONTROL_TPC_TIMEOUT_MS 20000
struct gs_tpc_calib;
struct control_tpc_opts {
	const char *libcuda;                     /* the driver library to measure with; NULL: as above */
	int timeout_ms;                          /* 0: CONTROL_TPC_TIMEOUT_MS */
};
/* Measures the GPU of that UUID (dev_ordinal: the CUDA ordinal tried first).
 * 0 with *out filled and checked, or -errno with why in err: -ETIMEDOUT
 * (killed), -ENOTSUP (no launch callback, an unknown task descriptor),
 * -ENODEV (no such GPU), -ENOENT (no driver), -EPROTO (the map did not
 * hold), -EIO (a driver call failed, the child died). */
/* The CUDA driver a helper of the daemon loads: NVIDIA's where its driver
 * is, else the simulated one beside the daemon (GPUSHARE_SIM_LIB_DIR). */
void control_libcuda(char *out, size_t len);
int control_tpc_calibrate(unsigned dev_ordinal, const char *gpu_uuid, const struct control_tpc_opts *o,
			  struct gs_tpc_calib *out, char *err, size_t errlen);
/* The map kept in <state_dir>/tpcmap-<gpu_uuid> when it is the daemon's
 * (owned by its euid, no symbolic link, writable by nobody else) and of the
 * driver in force; else measured again and written there (atomically, 0644).
 * 0 with *out filled (why: "" or a note that the file could not be
 * written), or control_tpc_calibrate's -errno with why, the file then
 * holding "gpushare-tpcmap-failed <why>" for gpushare-smi. */
int control_tpc_map(const char *state_dir, unsigned dev_ordinal, const char *gpu_uuid,
		    const struct control_tpc_opts *o, struct gs_tpc_calib *out, char *why, size_t whylen);
/* The version of NVIDIA's kernel module (/proc/driver/nvidia/version): 0,
 * or -ENOENT where there is none. */
int control_tpc_driver_proc(char *out, size_t len);

/* Runs the daemon in the pipe and log directories; returns its exit status. */
int control_daemon(const char *pipe_dir, const char *log_dir, bool foreground);

#endif
