/* main.c: gpushare-smi, nvidia-smi's MIG commands on any GPU. Parses
 * nvidia-smi's option syntax and runs the one command it names. */
#include "smi.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const struct smi_cmd *const commands[] = {
	&smi_cmd_lgip, &smi_cmd_lgipp, &smi_cmd_cgi, &smi_cmd_dgi, &smi_cmd_lgi, &smi_cmd_lcip,
	&smi_cmd_cci, &smi_cmd_dci, &smi_cmd_lci, &smi_cmd_list, &smi_cmd_mig_mode,
	&smi_cmd_query_gpu, &smi_cmd_query, &smi_cmd_models,
};

/* nvidia-smi's long names for the same options. */
static const struct { const char *lng, *shrt; } aliases[] = {
	{ "--list-gpu-instance-profiles", "-lgip" },
	{ "--list-gpu-instance-possible-placements", "-lgipp" },
	{ "--create-gpu-instance", "-cgi" },
	{ "--destroy-gpu-instance", "-dgi" },
	{ "--list-gpu-instances", "-lgi" },
	{ "--list-compute-instance-profiles", "-lcip" },
	{ "--create-compute-instance", "-cci" },
	{ "--destroy-compute-instance", "-dci" },
	{ "--list-compute-instances", "-lci" },
	{ "--list-gpus", "-L" },
	{ "--multi-instance-gpu", "-mig" },
	{ "--id", "-i" },
	{ "--gpu-instance-id", "-gi" },
	{ "--compute-instance-id", "-ci" },
	{ "--default-compute-instance", "-C" },
	{ "--query", "-q" },
};

static void usage(FILE *f, bool mig)
{
	fprintf(f, "gpushare-smi: nvidia-smi's MIG commands for every NVIDIA GPU.\n\n");
	if (!mig) {
		fprintf(f, "    gpushare-smi [-i ID]                        the status table\n"
			   "    gpushare-smi [-i ID] -L                     GPUs and MIG devices\n"
			   "    gpushare-smi -i ID -mig 0|1                 soft MIG mode off/on\n"
			   "    gpushare-smi --query-gpu=F,.. --format=csv[,noheader][,nounits]\n"
			   "    gpushare-smi -q                             which MIG backend serves each GPU\n"
			   "    gpushare-smi --models                       GPU models gpushare knows\n"
			   "    gpushare-smi mig -h                         the MIG commands\n"
			   "    gpushare-smi --version                      gpushare's version\n");
		return;
	}
	fprintf(f, "    gpushare-smi mig [-i ID] [-gi IDS] [-ci IDS] <command>\n\n");
	for (size_t i = 0; i < GS_ARRAY_LEN(commands); i++)
		if (commands[i]->mig)
			fprintf(f, "    %-8s %s %s\n", commands[i]->flag, commands[i]->takes_arg ? "<arg>" : "     ",
				commands[i]->usage);
	fprintf(f, "    -C                 with -cgi: also create the default compute instance\n"
		   "    --overcommit       with -cgi: let custom sizes exceed the GPU (soft slices)\n\n"
		   "Profiles: a name (3g.20gb, \"MIG 3g.20gb\") or ID, optionally :<start>;\n"
		   "gpushare custom sizes: <SMs>sm.<N>gb or <SMs>sm.<N>mb.\n");
}

static const char *canonical(const char *a)
{
	for (size_t i = 0; i < GS_ARRAY_LEN(aliases); i++)
		if (strcmp(a, aliases[i].lng) == 0)
			return aliases[i].shrt;
	return a;
}

/* -i: indexes, GPU UUIDs or PCI bus IDs, comma-separated. */
static int select_gpus(struct smi_ctx *c, const char *ids)
{
	if (!ids) {
		for (size_t i = 0; i < c->n_gpu; i++)
			c->selected[i] = true;
		return SMI_OK;
	}
	char buf[512];
	snprintf(buf, sizeof buf, "%s", ids);
	char *save = NULL;
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		bool found = false;
		unsigned long long v;
		for (size_t i = 0; i < c->n_gpu; i++) {
			const struct smi_gpu *g = &c->gpus[i];
			const char *bus = g->bus_id;
			if ((gs_parse_uint(t, 1000, &v) == 0 && v == i) || strcasecmp(t, g->uuid) == 0 ||
			    strcasecmp(t, bus) == 0 || (strlen(bus) > 4 && strcasecmp(t, bus + 4) == 0)) {
				c->selected[i] = true;
				found = true;
			}
		}
		if (!found) {
			fprintf(c->err, "No devices were found\n");
			return SMI_ENOTFOUND;
		}
	}
	return SMI_OK;
}

int main(int argc, char **argv)
{
	struct smi_ctx c = { .out = stdout, .err = stderr };
	setvbuf(stdout, NULL, _IOLBF, 0); /* keep messages in order with stderr */
	const struct smi_cmd *cmd = NULL;
	const char *ids = NULL;
	bool mig = argc > 1 && strcmp(argv[1], "mig") == 0;
	for (int i = mig ? 2 : 1; i < argc; i++) {
		char opt[64];
		const char *a = argv[i], *val = NULL;
		const char *eq = strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
		if (eq && (size_t)(eq - a) < sizeof opt) {
			memcpy(opt, a, (size_t)(eq - a));
			opt[eq - a] = '\0';
			a = opt;
			val = eq + 1;
		}
		a = canonical(a);
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout, mig);
			return SMI_OK;
		}
		if (strcmp(a, "--version") == 0) {
			printf("gpushare-smi %s\n", GS_VERSION);
			return SMI_OK;
		}
		bool needs = strcmp(a, "-i") == 0 || strcmp(a, "-gi") == 0 || strcmp(a, "-ci") == 0 ||
			     strcmp(a, "--format") == 0;
		const struct smi_cmd *found = NULL;
		for (size_t k = 0; k < GS_ARRAY_LEN(commands); k++)
			if (strcmp(a, commands[k]->flag) == 0 && commands[k]->mig == mig)
				found = commands[k];
		if (needs || (found && found->takes_arg)) {
			if (!val && i + 1 < argc && (found != &smi_cmd_cci || argv[i + 1][0] != '-'))
				val = argv[++i];
			if (!val && found != &smi_cmd_cci) {
				fprintf(stderr, "Option %s needs a value. Please run 'gpushare-smi%s -h' for help.\n", a,
					mig ? " mig" : "");
				return SMI_EINVAL;
			}
		}
		if (strcmp(a, "-i") == 0)
			ids = val;
		else if (strcmp(a, "-gi") == 0 && mig)
			c.gi_ids = val;
		else if (strcmp(a, "-ci") == 0 && mig)
			c.ci_ids = val;
		else if (strcmp(a, "--format") == 0)
			c.format = val;
		else if (strcmp(a, "-C") == 0 && mig)
			c.default_ci = true;
		else if (strcmp(a, "--overcommit") == 0 && mig)
			c.overcommit = true;
		else if (found) {
			if (cmd) {
				fprintf(stderr, "Invalid combination of input arguments. Please run 'gpushare-smi%s -h' for help.\n",
					mig ? " mig" : "");
				return SMI_EINVAL;
			}
			cmd = found;
			c.arg = val;
			if (found == &smi_cmd_query_gpu)
				c.query = val;
		} else {
			fprintf(stderr, "Invalid combination of input arguments. Please run 'gpushare-smi%s -h' for help.\n",
				mig ? " mig" : "");
			return SMI_EINVAL;
		}
	}
	if (!cmd) {
		if (mig) {
			usage(stderr, true);
			return SMI_EINVAL;
		}
		cmd = &smi_cmd_status;
	}
	if (cmd == &smi_cmd_models)
		return cmd->run(&c);
	int rc = smi_discover(&c);
	if (rc == SMI_OK)
		rc = select_gpus(&c, ids);
	if (rc == SMI_OK)
		rc = cmd->run(&c);
	smi_release(&c);
	return rc;
}
