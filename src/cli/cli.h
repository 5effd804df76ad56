/* cli.h: the `gpushare` command: one file per subcommand, one table. */
#ifndef GS_CLI_H
#define GS_CLI_H

#include <stdbool.h>

struct cli_cmd {
	const char *name;
	const char *args;
	const char *usage;
	int (*run)(int argc, char **argv);
	const char *options;     /* its options, one per line, for --help (NULL: none) */
};

extern const struct cli_cmd cli_cmd_run, cli_cmd_status, cli_cmd_mps_stop, cli_cmd_preload, cli_cmd_apply,
	cli_cmd_assert, cli_cmd_export, cli_cmd_cdi, cli_cmd_top, cli_cmd_timeline;

/* Directory of the running executable (for build/bin -> build/lib). */
int cli_exe_dir(char *out, unsigned long len);
/* libgpushare.so as `gpushare run` preloads it: $GPUSHARE_LIB, else beside
 * this executable (build/bin -> build/lib, bin -> lib/gpushare); 0 or -errno. */
int cli_lib_path(char *out, unsigned long len);
/* The MPS pipe directory gpushare uses for this user. */
void cli_mps_pipe_dir(char *out, unsigned long len);

#endif
