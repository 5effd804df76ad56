/* hostroom.c: whether the host can take a program's GPU memory, where a
 * suspend (the checkpoint's copy, the interposer's swap) or a migrate puts
 * it: the host's MemAvailable, less what suspends under way have still to
 * bring and less GPUSHARE_CONTROL_HOST_RESERVE; and the room its memory
 * cgroups leave (the host copy is charged there, and past the limit the
 * kernel kills the program). A simulated GPU's host is
 * GPUSHARE_SIM_HOST_MIB, or not checked. */
#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t host_reserve(struct control_state *s)
{
	static uint64_t reserve = UINT64_MAX;
	if (reserve == UINT64_MAX) {
		const char *v = getenv("GPUSHARE_CONTROL_HOST_RESERVE");
		reserve = 2ull << 30;
		if (v && *v && gs_parse_size(v, &reserve)) {
			reserve = 2ull << 30;
			control_log(s, "GPUSHARE_CONTROL_HOST_RESERVE=\"%.32s\" is no size (such as 4G or 512M): 2G kept free", v);
		}
	}
	return reserve;
}

struct host_use {
	uint64_t moving, parked;
};

uint64_t control_rss_bytes(pid_t pid)
{
	char path[64];
	unsigned long long pages = 0;
	snprintf(path, sizeof path, "/proc/%ld/statm", (long)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	if (fscanf(f, "%*u %llu", &pages) != 1)
		pages = 0;
	fclose(f);
	return (uint64_t)pages * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void host_use_one(void *ctx, struct control_peer *p)
{
	struct host_use *u = ctx;
	if (p->susp == CONTROL_SUSPENDING || p->susp == CONTROL_MIGRATING) {
		/* what is still to come: the host copy grows in its own memory,
		 * which MemAvailable counts already */
		uint64_t rss = control_rss_bytes(p->pid), came = rss > p->susp_rss0 ? rss - p->susp_rss0 : 0;
		u->moving += came < p->susp_expect ? p->susp_expect - came : 0;
	}
	else if (p->susp == CONTROL_SUSPENDED || p->susp == CONTROL_RESUMING)
		u->parked += p->susp_bytes;
}

/* Whether the GPUs are simulated (no NVIDIA driver here): then nothing
 * really moves to the host. */
static bool simulated(void)
{
	return !gs_nvidia_driver_present();
}

/* What the host has available now; false: not known, or a simulated
 * GPU's host without GPUSHARE_SIM_HOST_MIB (then nothing is refused for
 * it). */
static bool host_available(uint64_t parked, uint64_t *avail)
{
	unsigned long long n;
	if (simulated()) {
		const char *sim = getenv("GPUSHARE_SIM_HOST_MIB");
		if (!sim || !*sim || gs_parse_uint(sim, UINT64_MAX >> 20, &n))
			return false;
		uint64_t host = (uint64_t)n << 20;
		*avail = host > parked ? host - parked : 0; /* nothing really moves there */
		return true;
	}
	FILE *f = fopen("/proc/meminfo", "re");
	if (!f)
		return false;
	char line[128];
	bool found = false;
	while (!found && fgets(line, sizeof line, f))
		found = sscanf(line, "MemAvailable: %llu kB", &n) == 1;
	fclose(f);
	if (found)
		*avail = (uint64_t)n << 10;
	return found;
}

/* A number from a cgroup file ("max": none), false where unreadable. */
static bool cg_number(const char *dir, const char *name, uint64_t *out)
{
	char path[PATH_MAX], buf[64];
	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
		return false;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	unsigned long long v;
	if (strncmp(buf, "max", 3) == 0)
		v = UINT64_MAX;
	else if (sscanf(buf, "%llu", &v) != 1)
		return false;
	*out = v;
	return true;
}

/* The least room the memory cgroups of pid leave (its own and each above
 * it: a checkpoint's or a swap's host copy is charged to the program's
 * cgroup, and past its limit the kernel kills it): v2 memory.max less
 * memory.current, v1 memory.limit_in_bytes less memory.usage_in_bytes.
 * UINT64_MAX where nothing limits it; *where the cgroup that does. */
static uint64_t cgroup_room(pid_t pid, char *where, size_t len)
{
	char path[64], line[1024], v2root[512];
	uint64_t least = UINT64_MAX;
	snprintf(path, sizeof path, "/proc/%ld/cgroup", (long)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return least;
	control_cgroup_root(v2root, sizeof v2root);
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = '\0';
		char *rel = strchr(line, ':'), *cg;
		if (!rel || !(cg = strchr(rel + 1, ':')))
			continue;
		bool v2 = strncmp(line, "0::", 3) == 0;
		bool v1 = !v2 && (cg - rel - 1 == 6) && strncmp(rel + 1, "memory", 6) == 0;
		if ((!v2 && !v1) || (v2 && !v2root[0]) || strstr(cg + 1, ".."))
			continue;
		char dir[PATH_MAX];
		if ((size_t)snprintf(dir, sizeof dir, "%s%s", v2 ? v2root : "/sys/fs/cgroup/memory", cg + 1) >= sizeof dir)
			continue;
		/* the cgroup, then each one above it up to the mount */
		size_t base = strlen(v2 ? v2root : "/sys/fs/cgroup/memory");
		for (;;) {
			uint64_t limit, used;
			if (cg_number(dir, v2 ? "memory.max" : "memory.limit_in_bytes", &limit) &&
			    cg_number(dir, v2 ? "memory.current" : "memory.usage_in_bytes", &used) && limit != UINT64_MAX &&
			    limit < (1ull << 62)) { /* v1's "unlimited" is a page-rounded 2^63 */
				uint64_t room = limit > used ? limit - used : 0;
				if (room < least) {
					least = room;
					snprintf(where, len, "%s", dir);
				}
			}
			char *slash = strrchr(dir, '/');
			if (!slash || (size_t)(slash - dir) < base)
				break;
			*slash = '\0';
			if (strlen(dir) < base)
				break;
		}
	}
	fclose(f);
	return least;
}

int control_peer_host_room(struct control_state *s, pid_t pid, uint64_t bytes, char *why, size_t len)
{
	char cg[PATH_MAX];
	uint64_t cg_room = cgroup_room(pid, cg, sizeof cg);
	if (bytes > cg_room)
		return gs_fail(why, len, -ENOMEM,
			       "its %" PRIu64 " MiB do not fit in its memory cgroup's limit: %" PRIu64 " MiB free in %s",
			       bytes >> 20, cg_room >> 20, cg);
	struct host_use u = { 0, 0 };
	control_each_client(host_use_one, &u);
	uint64_t avail, reserve = host_reserve(s);
	if (!host_available(u.parked, &avail))
		return 0;
	uint64_t room = avail > u.moving ? avail - u.moving : 0;
	if (bytes <= room && reserve <= room - bytes) /* no sum to overflow */
		return 0;
	return gs_fail(why, len, -ENOMEM,
		       "its %" PRIu64 " MiB do not fit in the host's memory: %" PRIu64 " MiB available%s, %" PRIu64
		       " MiB of them kept free (GPUSHARE_CONTROL_HOST_RESERVE)",
		       bytes >> 20, avail >> 20, u.moving ? " with others' suspends under way" : "", reserve >> 20);
}
