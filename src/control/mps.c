/* mps.c: NVIDIA MPS under gpushare-control, on real GPUs: one control
 * daemon in -multiuser-server mode with a private pipe directory
 * (<pipe>/nvidia-mps), so programs of several users run side by side, each
 * in its gpushare slice (docs/control.md); MPS's server commands are passed
 * to it and its answers relayed. */
#include "control.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Runs nvidia-cuda-mps-control with the private directories: as a daemon,
 * or as the front end with input on its stdin and its stdout into out
 * (may be NULL). Returns its exit status, or -1 (also after 5 s). */
static int mps_run(const struct control_mps *m, bool daemon, const char *input, char *out, size_t outlen)
{
	char pipe[sizeof m->pipe + 32], logs[sizeof m->logs + 32];
	snprintf(pipe, sizeof pipe, "CUDA_MPS_PIPE_DIRECTORY=%s", m->pipe);
	snprintf(logs, sizeof logs, "CUDA_MPS_LOG_DIRECTORY=%s", m->logs);
	char *env[] = { pipe, logs, NULL };
	char *d[] = { (char *)m->bin, "-d", "-multiuser-server", NULL }, *ui[] = { (char *)m->bin, NULL };
	return control_exec(daemon ? d : ui, env, input, out, outlen, 5000);
}

bool control_mps_listening(const struct control_state *s)
{
	return gs_mps_running(s->mps.pipe);
}

void control_mps_start(struct control_state *s, const char *pipe_dir, const char *log_dir, bool wait)
{
	struct control_mps *m = &s->mps;
	const char *off = getenv("GPUSHARE_NO_MPS");
	if ((off && *off) || !gs_nvidia_driver_present() || gs_find_program("nvidia-cuda-mps-control", m->bin, sizeof m->bin))
		return;
	snprintf(m->pipe, sizeof m->pipe, "%s/nvidia-mps", pipe_dir);
	snprintf(m->logs, sizeof m->logs, "%s/nvidia-mps", log_dir);
	if (control_mps_listening(s)) {
		/* ours from before a kill -9: its servers and clients are running */
		m->on = true;
		control_settle(s); /* its programs register again first */
		control_log(s, "Supervising NVIDIA MPS (-multiuser-server) in %s, already running", m->pipe);
		return;
	}
	if (gs_mkdir_p(m->pipe, 0755) || gs_mkdir_p(m->logs, 0755) || mps_run(m, true, NULL, NULL, 0) != 0) {
		control_log(s, "NVIDIA MPS did not start in %s: programs in slices will time-slice", m->pipe);
		return;
	}
	m->started_ns = gs_now_ns();
	if (!wait) {
		/* brought back from the daemon's loop, which it must not hold up:
		 * it is looked at again once it has had time to listen */
		m->on = true;
		control_log(s, "Starting NVIDIA MPS (-multiuser-server) in %s again", m->pipe);
		return;
	}
	for (int i = 0; i < 50 && !control_mps_listening(s); i++)
		usleep(100000);
	m->on = control_mps_listening(s);
	control_log(s, m->on ? "Supervising NVIDIA MPS (-multiuser-server) in %s" : "NVIDIA MPS did not start in %s", m->pipe);
}

void control_mps_stop(struct control_state *s)
{
	if (!s->mps.on)
		return;
	int rc = mps_run(&s->mps, false, "quit\n", NULL, 0);
	control_log(s, "Stopped NVIDIA MPS in %s (status %d)", s->mps.pipe, rc);
	s->mps.on = false;
}

int control_mps_forward(struct control_state *s, const struct control_peer *p, const char *line,
			struct control_reply *r)
{
	const struct control_mps *m = &s->mps;
	char input[GS_LINE_MAX + 2], pipe[sizeof m->pipe + 32], logs[sizeof m->logs + 32];
	snprintf(input, sizeof input, "%s\n", line);
	snprintf(pipe, sizeof pipe, "CUDA_MPS_PIPE_DIRECTORY=%s", m->pipe);
	snprintf(logs, sizeof logs, "CUDA_MPS_LOG_DIRECTORY=%s", m->logs);
	char *env[] = { pipe, logs, NULL }, *argv[] = { (char *)m->bin, NULL };
	pid_t pid;
	int fd = control_exec_start(argv, env, input, &pid);
	if (fd < 0)
		return -1;
	if (control_relay(p->conn, fd, pid, 5000)) {
		close(fd);
		control_exec_end(pid, true);
		return -1;
	}
	r->deferred = true;
	return 0;
}
