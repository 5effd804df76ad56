/* control.h: gpushare-control, the MPS control daemon of gpushare: its
 * protocol, its state and its command table (used by the daemon, the client
 * and the help text alike).
 *
 * Protocol (version GS_CONTROL_PROTOCOL): a peer sends one command per line;
 * the daemon answers each with zero or more "R <text>" lines and one
 * "E <status>" line. The front end prints the R texts, as nvidia-cuda-mps-
 * control prints its answers. */
#ifndef GS_CONTROL_H
#define GS_CONTROL_H

#include "gs.h"
#include "line.h"
#include "mpsval.h"

#include <stdio.h>
#include <sys/types.h>

#define GS_CONTROL_PROTOCOL 1
#define CONTROL_MAX_LIMITS 32

struct control_reply;

/* NVIDIA MPS supervised by the daemon on real GPUs (mps.c). */
struct control_mps {
	bool on;
	char bin[1024], pipe[1024], logs[1024];
};

struct control_state {
	double default_pct;                      /* set_default_active_thread_percentage */
	struct mpsval_dev_limit default_limits[CONTROL_MAX_LIMITS];
	size_t n_default_limits;
	int default_priority;
	bool quitting;
	FILE *log;                               /* control.log */
	char state_dir[4000];                    /* the slice store, and settings kept across a crash */
	struct control_mps mps;
};

/* Starts NVIDIA's control daemon in -multiuser-server mode with a private
 * pipe directory (<pipe>/nvidia-mps) when the GPU is NVIDIA's and the binary
 * is there; stops it; tells whether it listens. */
void control_mps_start(struct control_state *s, const char *pipe_dir, const char *log_dir);
void control_mps_stop(struct control_state *s);
bool control_mps_listening(const struct control_state *s);
/* Passes one command line to NVIDIA's front end and its answer lines into r
 * (5 s at most). 0, or -1 when it gave no answer. */
int control_mps_forward(struct control_state *s, const char *line, struct control_reply *r);

/* Settings survive a crash of the daemon (kill -9 included) in the state
 * dir and are dropped by quit, as MPS drops them. */
void control_settings_save(struct control_state *s);
void control_settings_load(struct control_state *s);
void control_settings_forget(struct control_state *s);

/* A reply being built: lines for the peer, echoed to control.log. */
struct control_reply {
	char *buf;
	size_t len, cap;
	int status;
};

void control_reply_line(struct control_reply *r, const char *fmt, ...) GS_PRINTF(2, 3);

struct control_peer {
	uid_t uid;
	pid_t pid;
	bool privileged;                         /* came through control_privileged */
	bool client;                             /* a CUDA program that registered */
	char slice[96];                          /* its slice, "-" for none */
};

/* The registered clients, for list_clients: the daemon's connections. */
typedef void (*control_client_fn)(void *ctx, const struct control_peer *p);
void control_each_client(control_client_fn fn, void *ctx);

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

extern const struct control_cmd control_cmds[];
extern const size_t control_n_cmds;

/* Runs one command line: splits it, finds the command by its exact name,
 * checks arguments and privilege, and fills the reply. */
void control_dispatch(struct control_state *s, struct control_peer *p, char *line, struct control_reply *r);

/* Writes "[YYYY-MM-DD HH:MM:SS.mmm Control %5d] text" to control.log. */
void control_log(struct control_state *s, const char *fmt, ...) GS_PRINTF(2, 3);

/* Runs the daemon in the pipe and log directories; returns its exit status. */
int control_daemon(const char *pipe_dir, const char *log_dir, bool foreground);

#endif
