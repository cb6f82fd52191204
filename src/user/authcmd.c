/* authcmd.c: `satchel auth flush [USER] [-c FILE]`: asks the running
 * auth processes of this node to forget what their user databases hold
 * about USER (without one: everyone), so the next login asks the
 * database again (auth/auth_flush.h). */
#include "user/authcmd.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sysexits.h>

#include "auth/auth_flush.h"
#include "config/config.h"

static void authcmd_usage(FILE *out)
{
	fprintf(out, "usage: satchel auth flush [USER] [-c FILE]\n"
		"  forgets the cached user records of the running server "
		"(state_dir/auth-flush)\n");
}

int authcmd_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cfg_path = NULL, *user = NULL, *error;
	struct config cfg;
	char err[512];
	int c;

	if (argc < 2 || strcmp(argv[1], "flush") != 0) {
		authcmd_usage(stderr);
		return argc >= 2 && strcmp(argv[1], "--help") == 0 ? EX_OK :
								      EX_USAGE;
	}
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			cfg_path = optarg;
			break;
		case 'h':
			authcmd_usage(stdout);
			return EX_OK;
		default:
			authcmd_usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind < argc)
		user = argv[optind++];
	if (optind < argc) {
		authcmd_usage(stderr);
		return EX_USAGE;
	}
	if (config_load(&cfg, cfg_path != NULL ? cfg_path :
			CONFIG_DEFAULT_PATH, cfg_path != NULL, NULL, 0, err,
			sizeof(err)) < 0) {
		fprintf(stderr, "satchel auth: %s\n", err);
		return EX_CONFIG;
	}
	if (cfg.auth.state_dir[0] == '\0') {
		fprintf(stderr, "satchel auth: state_dir is empty: no running "
			"server can be asked\n");
		return EX_CONFIG;
	}
	if (auth_flush_request(cfg.auth.state_dir, user, &error) < 0) {
		fprintf(stderr, "satchel auth: %s/auth-flush: %s: %s\n",
			cfg.auth.state_dir, error, strerror(errno));
		return errno == EINVAL ? EX_USAGE : EX_CANTCREAT;
	}
	printf("flush of %s requested; the auth processes apply it within "
	       "a second\n", user != NULL ? user : "every user");
	return EX_OK;
}
