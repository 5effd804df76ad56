/* cmd-cdi.c: `gpushare cdi generate`: a CDI spec (the Container Device
 * Interface, which container runtimes read from /etc/cdi)
 * with one device per lasting slice, gpushare.io/slice=MIG-<uuid> (and
 * =<name> for a named slice), holding what gpushare-device-plugin's Allocate
 * gives a container: the same edits, from container.c. */
#include "cli.h"
#include "container.h"
#include "gs.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CDI_VERSION "0.5.0" /* the first with deviceNodes' hostPath */
#define MAX_SLICES 1024

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* the start of an object of two paths: {"k1": "v1", "k2": "v2" (left open) */
static void json_paths(FILE *f, bool first, const char *k1, const char *v1, const char *k2, const char *v2)
{
	fprintf(f, "%s{\"%s\": ", first ? "" : ", ", k1);
	json_str(f, v1);
	fprintf(f, ", \"%s\": ", k2);
	json_str(f, v2);
}

/* CDI's rule for a device's name: letters, digits, '_', '.', ':' and '-',
 * starting with a letter or digit */
static bool cdi_name_ok(const char *s)
{
	if (!isalnum((unsigned char)*s))
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("_.:-", *s))
			return false;
	return true;
}

static void device(FILE *f, const char *name, const struct k8s_edits *e, bool first)
{
	fprintf(f, "%s\n    {\n      \"name\": ", first ? "" : ",");
	json_str(f, name);
	fprintf(f, ",\n      \"containerEdits\": {\n        \"env\": [");
	for (size_t i = 0; i < e->n_env; i++) {
		char kv[sizeof e->env[0].key + sizeof e->env[0].value + 2];
		snprintf(kv, sizeof kv, "%s=%s", e->env[i].key, e->env[i].value);
		fprintf(f, "%s", i ? ", " : "");
		json_str(f, kv);
	}
	fprintf(f, "],\n        \"deviceNodes\": [");
	for (size_t i = 0; i < e->n_devices; i++) {
		json_paths(f, i == 0, "path", e->device[i].container, "hostPath", e->device[i].host);
		fprintf(f, ", \"permissions\": \"rw\"}");
	}
	fprintf(f, "],\n        \"mounts\": [");
	for (size_t i = 0; i < e->n_mounts; i++) {
		json_paths(f, i == 0, "hostPath", e->mount[i].host, "containerPath", e->mount[i].container);
		fprintf(f, ", \"options\": [\"%s\", \"nosuid\", \"nodev\", \"bind\"]}", e->mount[i].read_only ? "ro" : "rw");
	}
	fprintf(f, "]\n      }\n    }");
}

static int spec(FILE *f, const struct k8s_slice *s, size_t n, const struct k8s_paths *p)
{
	fprintf(f, "{\n  \"cdiVersion\": \"" CDI_VERSION "\",\n  \"kind\": \"" K8S_CDI_KIND "\",\n  \"devices\": [");
	for (size_t i = 0; i < n; i++) {
		struct k8s_edits e;
		k8s_container_edits(&s[i], p, &e);
		device(f, s[i].uuid, &e, i == 0);
		if (s[i].name[0] && cdi_name_ok(s[i].name))
			device(f, s[i].name, &e, false);
	}
	fprintf(f, "\n  ]\n}\n");
	return ferror(f) ? -EIO : 0;
}

/* out written whole or not at all: a temporary file beside it, renamed
 * over it (rename replaces a link there, never follows it) */
static int write_spec(const char *out, const struct k8s_slice *s, size_t n, const struct k8s_paths *p)
{
	if (strcmp(out, "-") == 0)
		return spec(stdout, s, n, p) || fflush(stdout) ? -EIO : 0;
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof tmp, "%s.XXXXXX", out) >= (int)sizeof tmp)
		return -ENAMETOOLONG;
	int fd = mkstemp(tmp);
	if (fd < 0)
		return -errno;
	FILE *f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		unlink(tmp);
		return -ENOMEM;
	}
	int rc = spec(f, s, n, p);
	if (!rc && (fchmod(fd, 0644) || fflush(f) || fsync(fd)))
		rc = -errno;
	if (fclose(f) && !rc)
		rc = -EIO;
	if (!rc && rename(tmp, out))
		rc = -errno;
	if (rc)
		unlink(tmp);
	return rc;
}

static int cdi(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "generate")) {
		fprintf(stderr, "usage: gpushare cdi generate [--output FILE] [--library PATH] [--pipe DIR] [--dev DIR]\n");
		return 2;
	}
	const char *out = "/etc/cdi/gpushare.json", *pipe = getenv("GPUSHARE_PIPE_DIRECTORY"), *dev = "/dev";
	char lib[PATH_MAX] = "";
	if (!pipe || !*pipe)
		pipe = "/tmp/gpushare";
	const char *library = cli_lib_path(lib, sizeof lib) ? NULL : lib;
	for (int i = 2; i < argc; i++) {
		const char **dst = strcmp(argv[i], "--output") == 0    ? &out
				   : strcmp(argv[i], "--library") == 0 ? &library
				   : strcmp(argv[i], "--pipe") == 0    ? &pipe
				   : strcmp(argv[i], "--dev") == 0     ? &dev
								       : NULL;
		if (!dst || i + 1 >= argc) {
			fprintf(stderr, "gpushare cdi generate: %s %s (the options: --output FILE, --library PATH, "
					"--pipe DIR, --dev DIR)\n",
				dst ? "no value after" : "unknown option", argv[i]);
			return 2;
		}
		*dst = argv[++i];
	}
	if (!library) {
		fprintf(stderr, "gpushare cdi generate: no libgpushare.so beside gpushare: say where with --library PATH\n");
		return 1;
	}
	struct k8s_paths paths = { library, pipe, dev };
	char dir[PATH_MAX], why[512];
	if (k8s_paths_check(&paths, why, sizeof why)) {
		fprintf(stderr, "gpushare cdi generate: %s\n", why);
		return 2;
	}
	if (gs_state_dir(dir, sizeof dir)) {
		fprintf(stderr, "gpushare cdi generate: no state directory (GPUSHARE_STATE_DIR, else /var/lib/gpushare)\n");
		return 1;
	}
	struct k8s_slice *s = calloc(MAX_SLICES, sizeof *s);
	size_t n = 0;
	if (!s) {
		fprintf(stderr, "gpushare cdi generate: out of memory\n");
		return 1;
	}
	struct k8s_gpus *gpus = k8s_gpus_find(why, sizeof why);
	int rc = gpus ? k8s_slices(dir, gpus, s, MAX_SLICES, &n, why, sizeof why) : -ENODEV;
	k8s_gpus_free(gpus);
	if (rc) {
		fprintf(stderr, "gpushare cdi generate: %s\n", why);
	} else if ((rc = write_spec(out, s, n, &paths))) {
		fprintf(stderr, "gpushare cdi generate: cannot write %s: %s\n", out, strerror(-rc));
	} else if (strcmp(out, "-")) {
		printf("wrote %s: %zu slice%s as %s=<uuid>\n", out, n, n == 1 ? "" : "s", K8S_CDI_KIND);
	}
	free(s);
	return rc ? 1 : 0;
}

const struct cli_cmd cli_cmd_cdi = {
	"cdi", "generate [options]", "write a CDI spec with a device per lasting slice, for container runtimes", cdi,
	"  --output FILE    where (/etc/cdi/gpushare.json; - for standard output)\n"
	"  --library PATH   libgpushare.so as containers load it (the one beside gpushare)\n"
	"  --pipe DIR       gpushare-control's pipe directory ($GPUSHARE_PIPE_DIRECTORY, else /tmp/gpushare)\n"
	"  --dev DIR        where the GPUs' device nodes are (/dev)\n"
	"  -h, --help       this text\n"
};
