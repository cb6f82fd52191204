/* main.c: `satchel COMMAND ...`: dispatch to the subcommands. */
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "bench/bench.h"
#include "deliver/lmtp.h"
#include "fetch/fetch_main.h"
#include "migrate/migrate.h"
#include "serve/control.h"
#include "serve/master.h"
#include "user/authcmd.h"
#include "user/usercmd.h"

struct subcommand {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct subcommand subcommands[] = {
	{ "serve", master_main, "run the POP3 server" },
	{ "reload", control_reload_main, "make the running server reload" },
	{ "stop", control_stop_main, "stop the running server and wait" },
	{ "status", control_status_main, "show the running server's counters" },
	{ "deliver", deliver_main, "deliver one message (LDA)" },
	{ "lmtp", lmtp_main, "one LMTP session on stdin/stdout" },
	{ "fetch", fetch_main, "fetch mail from a POP3 server" },
	{ "user", usercmd_main, "manage the passwd-file users" },
	{ "auth", authcmd_main, "flush the running server's user cache" },
	{ "migrate", migrate_main, "import UIDLs from another server" },
	{ "bench", bench_main, "load-test a POP3 server" },
};

static int usage(FILE *out)
{
	fprintf(out, "usage: satchel COMMAND [options]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]);
	     i++)
		fprintf(out, "  %-8s %s\n", subcommands[i].name,
			subcommands[i].summary);
	fprintf(out, "\nsee satchel(1); satchel --version prints the "
		"version\n");
	return out == stdout ? EX_OK : EX_USAGE;
}

int main(int argc, char **argv)
{
	/* serve/ runs deliver/'s LMTP workers without including deliver/
	 * (front ends never include each other) */
	master_set_lmtp_worker(lmtp_worker_run);
	if (argc < 2)
		return usage(stderr);
	if (strcmp(argv[1], "--version") == 0) {
		printf("satchel %s\n", SATCHEL_VERSION);
		return EX_OK;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		return usage(stdout);
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]);
	     i++) {
		if (strcmp(argv[1], subcommands[i].name) == 0)
			return subcommands[i].run(argc - 1, argv + 1);
	}
	fprintf(stderr, "satchel: unknown command '%s'\n", argv[1]);
	return usage(stderr);
}
