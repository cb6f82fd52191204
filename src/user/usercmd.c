/* usercmd.c: `satchel user`: options, the action and store tables and
 * dispatch (see usercmd.h). The passwd-file work is in userfile.c, the
 * SQLite work in usersql.c, the password in usersecret.c. */
#include "user/usercmd.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "auth/passwd.h"
#include "auth/saslprep.h"
#include "auth/userdb.h"
#include "config/config.h"
#include "store/mailpath.h"
#include "user/userfile.h"
#include "user/usersecret.h"
#include "user/usersql.h"

#define USERCMD_DEFAULT_CONFIG "/etc/satchel/satchel.conf"

/* Where the users are: one row per users = driver satchel user edits. */
struct usercmd_store {
	const char *driver;       /* as in users = ("sqlite") */
	int (*check)(const char *path, enum userfile_edit edit,
		     const char *name);
	int (*apply)(const char *path, enum userfile_edit edit,
		     const char *name, const char *hash, const char *extras);
	int (*list)(const char *path);
	int (*import)(const char *path, const char *from); /* NULL: none */
};

static const struct usercmd_store usercmd_stores[] = {
	{ "passwd-file", userfile_check, userfile_apply, userfile_list, NULL },
	{ "sqlite", usersql_check, usersql_apply, usersql_list,
	  usersql_import },
};

struct usercmd {
	const struct usercmd_action *action;
	const struct usercmd_store *store;
	const char *config_path;
	const char *file_opt;
	const char *db_opt;
	const char *scheme;
	bool use_stdin;
	const char *name;
	char name_buf[PASSWD_USER_MAX + 1]; /* add: the prepared name */
	char path[CONFIG_STR_MAX];
};

enum usercmd_name_rule {
	USERCMD_NO_NAME,      /* list */
	USERCMD_NEW_NAME,     /* add: a name the server could use */
	USERCMD_OLD_NAME,     /* passwd, del: any name a line may hold */
	USERCMD_FILE_NAME,    /* import: a passwd-file */
};

struct usercmd_action {
	const char *name;
	enum usercmd_name_rule name_rule;
	int (*run)(const struct usercmd *cmd);
	enum userfile_edit edit;  /* for usercmd_edit */
	bool new_password;        /* asks for one */
};

static int usercmd_edit(const struct usercmd *cmd);
static int usercmd_list(const struct usercmd *cmd);
static int usercmd_import(const struct usercmd *cmd);

static const struct usercmd_action usercmd_actions[] = {
	{ "add", USERCMD_NEW_NAME, usercmd_edit, USERFILE_ADD, true },
	{ "passwd", USERCMD_OLD_NAME, usercmd_edit, USERFILE_PASSWD, true },
	{ "del", USERCMD_OLD_NAME, usercmd_edit, USERFILE_DEL, false },
	{ "list", USERCMD_NO_NAME, usercmd_list, USERFILE_ADD, false },
	{ "import", USERCMD_FILE_NAME, usercmd_import, USERFILE_ADD, false },
};

static void usercmd_usage(FILE *out)
{
	fprintf(out,
		"usage: satchel user add|passwd|del|list [-c CONFIG] "
		"[-f PASSWD_FILE | --db DB]\n"
		"                    [--scheme SCHEME[,SCHEME...]] [--stdin] "
		"[NAME]\n"
		"       satchel user import [-c CONFIG] [--db sqlite:PATH] "
		"PASSWD_FILE\n"
		"DB: passwd-file:PATH or sqlite:PATH (default: the first of "
		"the config's users =)\n"
		"schemes: yescrypt (default), sha512-crypt, bcrypt, plain, "
		"scram-sha-256, scram-sha-1\n"
		"the first goes in the password field, the others in secret= "
		"fields;\nAPOP and CRAM-MD5 need plain, SCRAM-SHA-* need "
		"scram-sha-* or plain\n");
}

static int usercmd_edit(const struct usercmd *cmd)
{
	char hash[USERSECRET_HASH_MAX] = "";
	char extras[USERSECRET_EXTRAS_MAX] = "";
	enum userfile_edit edit = cmd->action->edit;
	int ret;

	/* a first look before asking for the password, so a typo in the
	 * name is reported at once; userfile_apply checks again under the
	 * lock */
	ret = cmd->store->check(cmd->path, edit, cmd->name);
	if (ret != EX_OK)
		return ret;
	if (cmd->action->new_password) {
		ret = usersecret_make(cmd->scheme, cmd->use_stdin, hash,
				      sizeof(hash), extras, sizeof(extras));
		if (ret != EX_OK)
			return ret;
	}
	ret = cmd->store->apply(cmd->path, edit, cmd->name, hash, extras);
	explicit_bzero(hash, sizeof(hash));
	explicit_bzero(extras, sizeof(extras));
	return ret;
}

static int usercmd_list(const struct usercmd *cmd)
{
	return cmd->store->list(cmd->path);
}

static int usercmd_import(const struct usercmd *cmd)
{
	if (cmd->store->import == NULL) {
		fprintf(stderr, "satchel user: import goes into an SQLite "
			"database (--db sqlite:PATH)\n");
		return EX_USAGE;
	}
	return cmd->store->import(cmd->path, cmd->name);
}

/* The store of spec's first driver satchel user can edit, its path into
 * cmd->path. */
static int usercmd_pick_store(struct usercmd *cmd, const char *spec)
{
	const char *error;
	size_t i;

	if (userdb_spec_check(spec, &error) < 0) {
		fprintf(stderr, "satchel user: %s: %s\n", spec, error);
		return EX_USAGE;
	}
	for (i = 0; i < sizeof(usercmd_stores) / sizeof(usercmd_stores[0]);
	     i++) {
		const char *d = usercmd_stores[i].driver;
		size_t n = strlen(d);

		/* the first item of spec decides */
		if (strncmp(spec, d, n) == 0 && spec[n] == ':' &&
		    userdb_spec_path(spec, d, cmd->path, sizeof(cmd->path))) {
			cmd->store = &usercmd_stores[i];
			return EX_OK;
		}
	}
	fprintf(stderr, "satchel user: no user database to edit in %s\n",
		spec);
	return EX_CONFIG;
}

/* The database: --db, -f (a passwd-file), else the first of the
 * config's users =. */
static int usercmd_find_path(struct usercmd *cmd)
{
	struct config cfg;
	char err[512];
	const char *cfg_path = cmd->config_path;
	int n;

	if (cmd->db_opt != NULL)
		return usercmd_pick_store(cmd, cmd->db_opt);
	if (cmd->file_opt != NULL) {
		cmd->store = &usercmd_stores[0];
		n = snprintf(cmd->path, sizeof(cmd->path), "%s",
			     cmd->file_opt);
		goto out_check;
	}
	config_defaults(&cfg);
	if (cfg_path == NULL) {
		cfg_path = USERCMD_DEFAULT_CONFIG;
		/* no config file at the default place: the defaults */
		if (access(cfg_path, F_OK) < 0 && errno == ENOENT)
			cfg_path = NULL;
	}
	if (cfg_path != NULL &&
	    config_load_file(&cfg, cfg_path, err, sizeof(err)) < 0) {
		fprintf(stderr, "satchel user: %s\n", err);
		return EX_CONFIG;
	}
	if (config_finish(&cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "satchel user: %s\n", err);
		return EX_CONFIG;
	}
	return usercmd_pick_store(cmd, cfg.users);
out_check:
	if (n < 0 || (size_t)n >= sizeof(cmd->path) || cmd->path[0] == '\0') {
		fprintf(stderr, "satchel user: bad passwd-file path\n");
		return EX_USAGE;
	}
	return EX_OK;
}

/* add: a name the server could use, safe in a path and in the file
 * format; passwd and del: any name a line can hold, so a bad entry can
 * still be fixed or removed. */
static bool usercmd_name_ok(const char *name, enum usercmd_name_rule rule)
{
	if (rule == USERCMD_NEW_NAME)
		return mailpath_user_valid(name) &&
		       strlen(name) <= PASSWD_USER_MAX &&
		       strpbrk(name, ": \t#") == NULL;
	return name[0] != '\0' && strpbrk(name, ":\n") == NULL;
}

static const struct usercmd_action *usercmd_find_action(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(usercmd_actions) / sizeof(usercmd_actions[0]);
	     i++) {
		if (strcmp(name, usercmd_actions[i].name) == 0)
			return &usercmd_actions[i];
	}
	return NULL;
}

static int usercmd_parse_args(int argc, char **argv, struct usercmd *cmd)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "file", required_argument, NULL, 'f' },
		{ "db", required_argument, NULL, 'd' },
		{ "scheme", required_argument, NULL, 's' },
		{ "stdin", no_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c, nargs;

	memset(cmd, 0, sizeof(*cmd));
	cmd->scheme = "yescrypt";
	optind = 0; /* glibc: full re-initialisation, main may have parsed */
	while ((c = getopt_long(argc, argv, "c:f:s:h", options, NULL)) != -1) {
		switch (c) {
		case 'c':
			cmd->config_path = optarg;
			break;
		case 'f':
			cmd->file_opt = optarg;
			break;
		case 'd':
			cmd->db_opt = optarg;
			break;
		case 's':
			cmd->scheme = optarg;
			break;
		case 'i':
			cmd->use_stdin = true;
			break;
		case 'h':
			usercmd_usage(stdout);
			exit(EX_OK);
		default:
			usercmd_usage(stderr);
			return EX_USAGE;
		}
	}
	if (!usersecret_schemes_valid(cmd->scheme)) {
		fprintf(stderr, "satchel user: unknown scheme %s\n",
			cmd->scheme);
		return EX_USAGE;
	}
	nargs = argc - optind;
	if (nargs < 1) {
		usercmd_usage(stderr);
		return EX_USAGE;
	}
	cmd->action = usercmd_find_action(argv[optind]);
	if (cmd->action == NULL) {
		fprintf(stderr, "satchel user: unknown action %s\n",
			argv[optind]);
		usercmd_usage(stderr);
		return EX_USAGE;
	}
	if (nargs != (cmd->action->name_rule == USERCMD_NO_NAME ? 1 : 2)) {
		usercmd_usage(stderr);
		return EX_USAGE;
	}
	if (cmd->action->name_rule == USERCMD_NO_NAME)
		return EX_OK;
	cmd->name = argv[optind + 1];
	if (cmd->action->name_rule == USERCMD_FILE_NAME)
		return EX_OK;
	/* add: a UTF-8 name is stored SASLprep'd, the form every login is
	 * looked up in (auth/saslprep.h); passwd and del take the name as
	 * the line holds it */
	if (cmd->action->name_rule == USERCMD_NEW_NAME &&
	    saslprep_non_ascii(cmd->name)) {
		if (saslprep_string(cmd->name, SASLPREP_STORED,
				    cmd->name_buf, sizeof(cmd->name_buf)) < 0) {
			fprintf(stderr, "satchel user: a non-ASCII user name "
				"must be UTF-8 that SASLprep (RFC 4013) "
				"accepts\n");
			return EX_DATAERR;
		}
		if (strcmp(cmd->name_buf, cmd->name) != 0)
			fprintf(stderr, "satchel user: the name is stored in "
				"its SASLprep form %s\n", cmd->name_buf);
		cmd->name = cmd->name_buf;
	}
	if (!usercmd_name_ok(cmd->name, cmd->action->name_rule)) {
		fprintf(stderr, "satchel user: bad user name (no '/', ':', "
			"blanks, control characters or leading '.'; at most "
			"%d octets)\n", PASSWD_USER_MAX);
		return EX_DATAERR;
	}
	return EX_OK;
}

int usercmd_main(int argc, char **argv)
{
	struct usercmd cmd;
	int ret;

	ret = usercmd_parse_args(argc, argv, &cmd);
	if (ret != EX_OK)
		return ret;
	ret = usercmd_find_path(&cmd);
	if (ret != EX_OK)
		return ret;
	return cmd.action->run(&cmd);
}
