/* migrate_main.c: `satchel migrate uidl --from SOURCE (--maildir PATH |
 * [-c CONFIG] --user NAME) [--format TEMPLATE] [--dry-run]`: finds the
 * Maildir, becomes its owner, loads the source and imports its UIDLs
 * (store/uidl_import.h). Exit codes: sysexits, as docs/satchel.1 says. */
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "auth/auth_userdb.h"
#include "config/config.h"
#include "migrate/migrate.h"
#include "store/node.h"
#include "util/privdrop.h"

#define MIGRATE_DEFAULT_CONFIG "/etc/satchel/satchel.conf"

struct migrate_args {
	const char *from, *maildir, *config, *user, *format;
	bool dry_run;
	char path[AUTH_PATH_MAX];     /* the Maildir found */
	unsigned lock_stale_secs;
};

struct migrate_action {
	const char *name;
	int (*run)(struct migrate_args *a);
	const char *summary;
};

static int migrate_uidl(struct migrate_args *a);

static const struct migrate_action migrate_actions[] = {
	{ "uidl", migrate_uidl, "import another server's POP3 UIDLs" },
};

static int migrate_usage(FILE *out)
{
	size_t i;

	fprintf(out, "usage: satchel migrate uidl --from SOURCE "
		"(--maildir PATH | [-c CONFIG] --user NAME)\n"
		"                       [--format TEMPLATE] [--dry-run]\n"
		"sources: %s\nactions:\n", migrate_source_names);
	for (i = 0; i < sizeof(migrate_actions) / sizeof(migrate_actions[0]);
	     i++)
		fprintf(out, "  %-6s %s\n", migrate_actions[i].name,
			migrate_actions[i].summary);
	return out == stdout ? EX_OK : EX_USAGE;
}

/* The config (the default file when there is one): the lock's stale
 * time always, and for --user the Maildir the server would open for that
 * user (the same user database lookup as delivery). */
static int migrate_find_maildir(struct migrate_args *a)
{
	const char *cfg_path = a->config, *error = NULL;
	struct auth_reply *rec = NULL;
	struct userdb *db = NULL;
	struct node_settings node_set = { .beats = false };
	struct config *cfg;
	char err[512];
	int ret = EX_CONFIG;

	cfg = calloc(1, sizeof(*cfg));
	rec = calloc(1, sizeof(*rec));
	if (cfg == NULL || rec == NULL) {
		fprintf(stderr, "satchel migrate: out of memory\n");
		ret = EX_OSERR;
		goto out;
	}
	if (cfg_path == NULL)
		cfg_path = MIGRATE_DEFAULT_CONFIG;
	if (config_load(cfg, cfg_path, a->config != NULL, NULL, 0, err,
			sizeof(err)) < 0) {
		fprintf(stderr, "satchel migrate: %s\n", err);
		goto out;
	}
	a->lock_stale_secs = cfg->lock_stale_timeout;
	/* its session lock names this node, and is judged by the others'
	 * heartbeats (store/node.h); a tool does not beat itself */
	node_set.node_id = cfg->node_id;
	node_set.heartbeat_dir = cfg->node_heartbeat_dir;
	node_set.heartbeat_timeout = cfg->node_heartbeat_timeout;
	if (node_init(&node_set, &error) < 0) {
		fprintf(stderr, "satchel migrate: node: %s\n", error);
		goto out;
	}
	if (a->user == NULL) {
		ret = EX_OK;
		goto out;
	}
	if (userdb_open(&cfg->auth, &db, &error) < 0) {
		fprintf(stderr, "satchel migrate: user database: %s\n", error);
		goto out;
	}
	switch (auth_userdb_lookup(&cfg->auth, db, a->user, rec, &error)) {
	case AUTH_OK:
		break;
	case AUTH_FAILED:
		fprintf(stderr, "satchel migrate: %s: no such user\n", a->user);
		ret = EX_NOUSER;
		goto out;
	default:
		fprintf(stderr, "satchel migrate: user lookup of %s: %s\n",
			a->user, error != NULL ? error : "failed");
		ret = EX_TEMPFAIL;
		goto out;
	}
	if (rec->mail_kind != MAILDROP_MAILDIR) {
		fprintf(stderr, "satchel migrate: %s: the mail store is not a "
			"Maildir (only Maildir UIDLs can be imported)\n",
			a->user);
		goto out;
	}
	snprintf(a->path, sizeof(a->path), "%s", rec->mail_path);
	ret = EX_OK;
out:
	userdb_close(&db);
	free(rec);
	free(cfg);
	return ret;
}

/* Run as root, become the Maildir's owner: the index and the lock must
 * stay the user's for the server, which never runs mail access as root
 * (DESIGN.md). A root-owned Maildir stays root's. */
static int migrate_become_owner(const char *path)
{
	struct privdrop pd = { .active = true };
	struct passwd *pw;
	struct stat st;
	char err[256];

	if (stat(path, &st) < 0) {
		fprintf(stderr, "satchel migrate: %s: %s\n", path,
			strerror(errno));
		return errno == ENOENT ? EX_NOINPUT : EX_IOERR;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "satchel migrate: %s: not a directory\n", path);
		return EX_NOINPUT;
	}
	if (geteuid() != 0 || st.st_uid == 0)
		return EX_OK;
	pd.uid = st.st_uid;
	pd.gid = st.st_gid;
	pw = getpwuid(st.st_uid);
	if (pw != NULL)
		snprintf(pd.name, sizeof(pd.name), "%s", pw->pw_name);
	if (privdrop_apply(&pd, err, sizeof(err)) < 0) {
		fprintf(stderr, "satchel migrate: %s\n", err);
		return EX_OSERR;
	}
	return EX_OK;
}

static int migrate_exit(int maildrop_ret)
{
	switch (maildrop_ret) {
	case MAILDROP_OK:
		return EX_OK;
	case MAILDROP_IN_USE:
	case MAILDROP_TEMP:
		return EX_TEMPFAIL;
	default:
		return EX_DATAERR;
	}
}

static int migrate_uidl(struct migrate_args *a)
{
	struct maildrop_settings set = {
		.kind = MAILDROP_MAILDIR,
		.lock_stale_secs = a->lock_stale_secs,
	};
	struct uidl_import_stats st;
	struct migrate_pairs pairs;
	const char *error = NULL;
	int ret;

	ret = migrate_become_owner(a->path);
	if (ret != EX_OK)
		return ret;
	ret = migrate_source_load(a->from, a->path, a->format, &pairs);
	if (ret != EX_OK)
		return ret;
	set.path = a->path;
	ret = uidl_import_maildir(&set, pairs.pairs, pairs.count, a->dry_run,
				  &st, &error);
	migrate_pairs_free(&pairs);
	if (ret != MAILDROP_OK) {
		fprintf(stderr, "satchel migrate: %s: %s%s\n", a->path, error,
			ret == MAILDROP_IN_USE ?
			" (a POP3 session is open: try again)" : "");
		return migrate_exit(ret);
	}
	printf("%s: %zu messages, %zu imported, %zu renamed duplicates, "
	       "%zu changed, %zu listed but gone, %zu invalid, %zu names the "
	       "index cannot hold; %s\n",
	       a->path, st.messages, st.imported, st.renamed, st.changed,
	       st.unmatched, st.invalid, st.unstorable,
	       st.written ? "index written" :
	       a->dry_run ? "dry run, nothing written" : "index unchanged");
	return EX_OK;
}

static int migrate_parse_args(int argc, char **argv, struct migrate_args *a)
{
	static const struct option options[] = {
		{ "from", required_argument, NULL, 'F' },
		{ "maildir", required_argument, NULL, 'm' },
		{ "config", required_argument, NULL, 'c' },
		{ "user", required_argument, NULL, 'u' },
		{ "format", required_argument, NULL, 'f' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 0; /* glibc: full re-initialisation */
	while ((c = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
		switch (c) {
		case 'F': a->from = optarg; break;
		case 'm': a->maildir = optarg; break;
		case 'c': a->config = optarg; break;
		case 'u': a->user = optarg; break;
		case 'f': a->format = optarg; break;
		case 'n': a->dry_run = true; break;
		case 'h': return migrate_usage(stdout) == EX_OK ? 1 : -1;
		default: return -1;
		}
	}
	if (a->from == NULL || (a->maildir == NULL) == (a->user == NULL)) {
		fprintf(stderr, "satchel migrate: --from and exactly one of "
			"--maildir or --user are needed\n");
		return -1;
	}
	return 0;
}

int migrate_main(int argc, char **argv)
{
	struct migrate_args a = { .from = NULL };
	const struct migrate_action *act = NULL;
	size_t i;
	int ret;

	if (argc < 2)
		return migrate_usage(stderr);
	for (i = 0; i < sizeof(migrate_actions) / sizeof(migrate_actions[0]);
	     i++)
		if (strcmp(argv[1], migrate_actions[i].name) == 0)
			act = &migrate_actions[i];
	if (act == NULL) {
		if (strcmp(argv[1], "--help") == 0 ||
		    strcmp(argv[1], "-h") == 0)
			return migrate_usage(stdout);
		fprintf(stderr, "satchel migrate: unknown action '%s'\n",
			argv[1]);
		return migrate_usage(stderr);
	}
	ret = migrate_parse_args(argc - 1, argv + 1, &a);
	if (ret != 0)
		return ret > 0 ? EX_OK : migrate_usage(stderr);
	if (a.maildir != NULL &&
	    snprintf(a.path, sizeof(a.path), "%s", a.maildir) >=
	    (int)sizeof(a.path)) {
		fprintf(stderr, "satchel migrate: path too long\n");
		return EX_USAGE;
	}
	ret = migrate_find_maildir(&a);
	if (ret != EX_OK)
		return ret;
	return act->run(&a);
}
