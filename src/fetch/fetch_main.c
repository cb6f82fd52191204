/* fetch_main.c: `satchel fetch`: the command line (fetch.h). */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fetch/fetch.h"
#include "fetch/fetch_config.h"
#include "fetch/fetch_configure.h"
#include "fetch/fetch_daemon.h"
#include "fetch/fetch_import.h"
#include "fetch/fetch_main.h"
#include "util/strnum.h"

#define FETCH_TIMEOUT_DEFAULT 60
#define FETCH_SESSION_DEFAULT (6 * 3600)
#define FETCH_INTERVAL_DEFAULT 300

static void fetch_usage(FILE *out)
{
	fprintf(out,
		"usage: satchel fetch URL --to DEST [options]\n"
		"       satchel fetch -c FILE [ACCOUNT...]\n"
		"       satchel fetch --serverinfo URL [options]\n"
		"       satchel fetch --configure ADDRESS [--to DEST]\n"
		"\n"
		"URL   pop://user;AUTH=mech@host:port (STLS required) or\n"
		"      pops://user@host (implicit TLS); RFC 2384\n"
		"DEST  maildir:PATH, mbox:PATH, mda:COMMAND, lmtp:HOST:PORT,\n"
		"      lmtp:unix:PATH or smtp:HOST:PORT\n"
		"\n"
		"  --keep                 leave the mail on the server\n"
		"  --keep-days N          ... and delete it N days after\n"
		"  --password-file FILE   the password (mode 0600)\n"
		"  --password-command CMD its first output line\n"
		"  --cafile FILE          trust these CAs, not the system's\n"
		"  --pin sha256//BASE64   and the server's key must be this\n"
		"  --cert FILE [--key FILE]  a client certificate (EXTERNAL)\n"
		"  --tls implicit|starttls|none\n"
		"  --allow-plaintext      --tls none beyond loopback\n"
		"  --state-dir DIR        where the journal lives\n"
		"  --rcpt ADDRESS         recipient for lmtp: and smtp:\n"
		"  --skip-larger OCTETS   leave larger messages alone\n"
		"  --delete-larger OCTETS delete larger ones unfetched\n"
		"  --max-messages N       fetch at most N per session\n"
		"  --max-bytes OCTETS     ... and at most this much\n"
		"  --ambiguous redeliver|skip  a message a kill left unsure\n"
		"  --timeout SECS         per step (default %d)\n"
		"  --session-timeout SECS whole session (default %d)\n"
		"  --accept-new-uidls     fetch even when every UIDL changed\n"
		"  --match-headers        ... or find them stored by header\n"
		"  --sdps                 each message's envelope from *ENV\n"
		"  --preview              list the new ones (TOP), fetch none\n"
		"  --skip-header 'Name: text'  leave the matching ones there\n"
		"  --import-uidls mpop:FILE|fetchmail:FILE|getmail:FILE\n"
		"                         take another fetcher's state\n"
		"  --daemon               poll until SIGTERM (LOGIN-DELAY kept)\n"
		"  --interval SECS        between polls (default %d)\n"
		"  --json                 events on stdout, one per line\n"
		"  --quiet                no log line unless it failed\n"
		"\nexit: 0 ok, 75 try later, 77 login refused, 69/76 server,\n"
		"74 local delivery, 64/78 usage or config (satchel(1))\n",
		FETCH_TIMEOUT_DEFAULT, FETCH_SESSION_DEFAULT,
		FETCH_INTERVAL_DEFAULT);
}

enum fetch_option {
	OPT_TO = 256, OPT_KEEP, OPT_KEEP_DAYS, OPT_PASSWORD_FILE,
	OPT_PASSWORD_COMMAND, OPT_CAFILE, OPT_TLS, OPT_ALLOW_PLAINTEXT,
	OPT_STATE_DIR, OPT_RCPT, OPT_SKIP_LARGER, OPT_DELETE_LARGER,
	OPT_MAX_MESSAGES, OPT_MAX_BYTES, OPT_AMBIGUOUS, OPT_MATCH_HEADERS,
	OPT_SDPS, OPT_PREVIEW, OPT_SKIP_HEADER, OPT_CERT, OPT_KEY,
	OPT_TIMEOUT,
	OPT_SESSION_TIMEOUT, OPT_ACCEPT_NEW_UIDLS, OPT_JSON, OPT_QUIET,
	OPT_SERVERINFO, OPT_IMPORT_UIDLS, OPT_DAEMON, OPT_INTERVAL, OPT_PIN,
	OPT_CONFIGURE,
};

static const struct option fetch_options[] = {
	{ "to", required_argument, NULL, OPT_TO },
	{ "keep", no_argument, NULL, OPT_KEEP },
	{ "keep-days", required_argument, NULL, OPT_KEEP_DAYS },
	{ "password-file", required_argument, NULL, OPT_PASSWORD_FILE },
	{ "password-command", required_argument, NULL, OPT_PASSWORD_COMMAND },
	{ "cafile", required_argument, NULL, OPT_CAFILE },
	{ "pin", required_argument, NULL, OPT_PIN },
	{ "cert", required_argument, NULL, OPT_CERT },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "tls", required_argument, NULL, OPT_TLS },
	{ "allow-plaintext", no_argument, NULL, OPT_ALLOW_PLAINTEXT },
	{ "state-dir", required_argument, NULL, OPT_STATE_DIR },
	{ "rcpt", required_argument, NULL, OPT_RCPT },
	{ "skip-larger", required_argument, NULL, OPT_SKIP_LARGER },
	{ "delete-larger", required_argument, NULL, OPT_DELETE_LARGER },
	{ "max-messages", required_argument, NULL, OPT_MAX_MESSAGES },
	{ "max-bytes", required_argument, NULL, OPT_MAX_BYTES },
	{ "ambiguous", required_argument, NULL, OPT_AMBIGUOUS },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "session-timeout", required_argument, NULL, OPT_SESSION_TIMEOUT },
	{ "accept-new-uidls", no_argument, NULL, OPT_ACCEPT_NEW_UIDLS },
	{ "match-headers", no_argument, NULL, OPT_MATCH_HEADERS },
	{ "sdps", no_argument, NULL, OPT_SDPS },
	{ "preview", no_argument, NULL, OPT_PREVIEW },
	{ "skip-header", required_argument, NULL, OPT_SKIP_HEADER },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "quiet", no_argument, NULL, OPT_QUIET },
	{ "serverinfo", no_argument, NULL, OPT_SERVERINFO },
	{ "import-uidls", required_argument, NULL, OPT_IMPORT_UIDLS },
	{ "daemon", no_argument, NULL, OPT_DAEMON },
	{ "interval", required_argument, NULL, OPT_INTERVAL },
	{ "configure", required_argument, NULL, OPT_CONFIGURE },
	{ "config", required_argument, NULL, 'c' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static const struct {
	const char *name;
	enum fetch_tls tls;
} fetch_tls_names[] = {
	{ "implicit", FETCH_TLS_IMPLICIT },
	{ "starttls", FETCH_TLS_STARTTLS },
	{ "none", FETCH_TLS_NONE },
};

static int fetch_number(const char *opt, const char *text, uint64_t max,
			uint64_t *value_r)
{
	if (strnum_parse_u64(text, max, value_r) == 0)
		return 0;
	fprintf(stderr, "satchel fetch: --%s: not a number up to %llu: %s\n",
		opt, (unsigned long long)max, text);
	return -1;
}

/* A number from 1 to max: a count, a size or a period of 0 is never
 * meant. */
static int fetch_count(const char *opt, const char *text, uint64_t max,
		       uint64_t *value_r)
{
	if (strnum_parse_u64(text, max, value_r) == 0 && *value_r > 0)
		return 0;
	fprintf(stderr, "satchel fetch: --%s: a number from 1 to %llu, not "
		"%s\n", opt, (unsigned long long)max, text);
	return -1;
}

static int fetch_parse_tls(const char *text, enum fetch_tls *tls_r)
{
	size_t i;

	for (i = 0; i < sizeof(fetch_tls_names) / sizeof(fetch_tls_names[0]);
	     i++) {
		if (strcasecmp(text, fetch_tls_names[i].name) == 0) {
			*tls_r = fetch_tls_names[i].tls;
			return 0;
		}
	}
	fprintf(stderr, "satchel fetch: --tls: implicit, starttls or none, "
		"not %s\n", text);
	return -1;
}

/* $XDG_STATE_HOME/satchel/fetch, else ~/.local/state/satchel/fetch. */
static const char *fetch_default_state_dir(char *buf, size_t size)
{
	const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	int n;

	if (xdg != NULL && xdg[0] == '/')
		n = snprintf(buf, size, "%s/satchel/fetch", xdg);
	else if (home != NULL && home[0] == '/')
		n = snprintf(buf, size, "%s/.local/state/satchel/fetch", home);
	else
		return NULL;
	return n < 0 || (size_t)n >= size ? NULL : buf;
}

static int fetch_parse_option(struct fetch_account *a, int opt,
			      const char *arg, bool *serverinfo)
{
	uint64_t n;

	switch (opt) {
	case OPT_TO: a->dest = arg; break;
	case OPT_KEEP: a->keep = true; break;
	case OPT_KEEP_DAYS:
		if (fetch_count("keep-days", arg, 100000, &n) < 0)
			return -1;
		a->keep = true;
		a->keep_days = (unsigned)n;
		break;
	case OPT_PASSWORD_FILE: a->password_file = arg; break;
	case OPT_PASSWORD_COMMAND: a->password_command = arg; break;
	case OPT_CAFILE: a->cafile = arg; break;
	case OPT_PIN: a->pin = arg; break;
	case OPT_CERT: a->cert = arg; break;
	case OPT_KEY: a->key = arg; break;
	case OPT_TLS: return fetch_parse_tls(arg, &a->tls);
	case OPT_ALLOW_PLAINTEXT: a->allow_plaintext = true; break;
	case OPT_STATE_DIR: a->state_dir = arg; break;
	case OPT_RCPT: a->rcpt = arg; break;
	case OPT_SKIP_LARGER:
		if (fetch_number("skip-larger", arg, UINT64_MAX / 2, &n) < 0)
			return -1;
		a->skip_larger = n;
		break;
	case OPT_DELETE_LARGER:
		if (fetch_count("delete-larger", arg, UINT64_MAX / 2, &n) < 0)
			return -1;
		a->delete_larger = n;
		break;
	case OPT_MAX_MESSAGES:
		if (fetch_count("max-messages", arg, FETCH_MESSAGES_MAX, &n) < 0)
			return -1;
		a->max_messages = (unsigned)n;
		break;
	case OPT_MAX_BYTES:
		if (fetch_count("max-bytes", arg, UINT64_MAX / 2, &n) < 0)
			return -1;
		a->max_bytes = n;
		break;
	case OPT_AMBIGUOUS:
		if (strcmp(arg, "redeliver") != 0 && strcmp(arg, "skip") != 0) {
			fprintf(stderr, "satchel fetch: --ambiguous: redeliver "
				"or skip\n");
			return -1;
		}
		a->ambiguous_skip = arg[0] == 's';
		break;
	case OPT_TIMEOUT:
		if (fetch_count("timeout", arg, 86400, &n) < 0)
			return -1;
		a->timeout_secs = (unsigned)n;
		break;
	case OPT_SESSION_TIMEOUT:
		if (fetch_number("session-timeout", arg, 7 * 86400, &n) < 0)
			return -1;
		a->session_secs = (unsigned)n;
		break;
	case OPT_ACCEPT_NEW_UIDLS: a->accept_new_uidls = true; break;
	case OPT_MATCH_HEADERS: a->match_headers = true; break;
	case OPT_SDPS: a->sdps = true; break;
	case OPT_PREVIEW: a->preview = true; break;
	case OPT_SKIP_HEADER:
		if (!fetch_skip_header_valid(arg)) {
			fprintf(stderr, "satchel fetch: --skip-header: 'Name: "
				"text', not %s\n", arg);
			return -1;
		}
		a->skip_header = arg;
		break;
	case OPT_JSON: a->json = true; break;
	case OPT_QUIET: a->quiet = true; break;
	case OPT_SERVERINFO: *serverinfo = true; break;
	default: return -1;
	}
	return 0;
}

/* text for an error message, a password in its user part (RFC 2384
 * forbids one, users still try) replaced by "***". */
static const char *fetch_url_masked(const char *text, char *out,
				    size_t size)
{
	const char *auth = strstr(text, "://"), *end, *at, *colon;

	snprintf(out, size, "%s", text);
	if (auth == NULL)
		return out;
	auth += 3;
	end = auth + strcspn(auth, "/?#");
	at = memrchr(auth, '@', (size_t)(end - auth));
	colon = at == NULL ? NULL : memchr(auth, ':', (size_t)(at - auth));
	if (colon != NULL)
		snprintf(out, size, "%.*s:***%s", (int)(colon - text), text,
			 at);
	return out;
}

/* The account of a URL given on the command line. */
static int fetch_account_from_url(struct fetch_account *a, const char *text)
{
	const char *why;

	if (popurl_parse(text, &a->url, &why) < 0) {
		char shown[1024];

		fprintf(stderr, "satchel fetch: %s: %s\n",
			fetch_url_masked(text, shown, sizeof(shown)), why);
		return -1;
	}
	if (a->url.user[0] == '\0' && a->url.auth != POPURL_AUTH_SASL) {
		fprintf(stderr, "satchel fetch: %s: the URL names no user\n",
			text);
		return -1;
	}
	snprintf(a->name, sizeof(a->name), "%s@%s:%u", a->url.user,
		 a->url.host, a->url.port);
	if (a->tls == FETCH_TLS_DEFAULT)
		a->tls = a->url.implicit_tls ? FETCH_TLS_IMPLICIT :
					       FETCH_TLS_STARTTLS;
	if (a->rcpt == NULL)
		a->rcpt = a->url.user;
	return 0;
}

/* How the accounts run: once, or as a daemon every interval seconds
 * (0: once). */
static unsigned fetch_interval;

/* -c FILE: the accounts of the file (all, or those named). */
static int fetch_accounts(const char *path, struct fetch_account *base,
			  char **names, size_t nnames)
{
	struct fetch_config cfg;
	char err[1024];
	int ret;

	if (fetch_config_read(path, base, &cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "satchel fetch: %s\n", err);
		fetch_config_free(&cfg);
		return FETCH_EXIT_CONFIG;
	}
	ret = fetch_interval > 0 ?
		      fetch_daemon(&cfg, names, nnames, fetch_interval) :
		      fetch_config_run(&cfg, names, nnames);
	fetch_config_free(&cfg);
	return ret;
}

/* --daemon with a URL: a config of that one account. */
static int fetch_daemon_one(struct fetch_account *a)
{
	struct fetch_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.accounts = a;
	cfg.count = 1;
	cfg.parallel = 1;
	return fetch_daemon(&cfg, NULL, 0, fetch_interval);
}

int fetch_main(int argc, char **argv)
{
	struct fetch_account a;
	char state_dir[4096];
	const char *config = NULL, *import = NULL, *configure = NULL;
	bool serverinfo = false, daemon = false;
	uint64_t n;
	int opt;

	memset(&a, 0, sizeof(a));
	a.timeout_secs = FETCH_TIMEOUT_DEFAULT;
	a.session_secs = FETCH_SESSION_DEFAULT;
	while ((opt = getopt_long(argc, argv, "c:h", fetch_options, NULL)) !=
	       -1) {
		if (opt == 'h') {
			fetch_usage(stdout);
			return FETCH_EXIT_OK;
		}
		if (opt == 'c') {
			config = optarg;
			continue;
		}
		if (opt == OPT_IMPORT_UIDLS) {
			import = optarg;
			continue;
		}
		if (opt == OPT_DAEMON) {
			daemon = true;
			continue;
		}
		if (opt == OPT_CONFIGURE) {
			configure = optarg;
			continue;
		}
		if (opt == OPT_INTERVAL) {
			if (fetch_count("interval", optarg, 7 * 86400, &n) < 0)
				return FETCH_EXIT_USAGE;
			fetch_interval = (unsigned)n;
			continue;
		}
		if (opt == '?' ||
		    fetch_parse_option(&a, opt, optarg, &serverinfo) < 0) {
			fetch_usage(stderr);
			return FETCH_EXIT_USAGE;
		}
	}
	/* conn.h: a write to a closed peer must return EPIPE, not kill */
	signal(SIGPIPE, SIG_IGN);
	if (daemon && fetch_interval == 0)
		fetch_interval = FETCH_INTERVAL_DEFAULT;
	if (!daemon)
		fetch_interval = 0;
	if (a.state_dir == NULL)
		a.state_dir = fetch_default_state_dir(state_dir,
						      sizeof(state_dir));
	/* it only prints a block to review: nothing else may come along */
	if (configure != NULL) {
		if (config != NULL || optind != argc) {
			fetch_usage(stderr);
			return FETCH_EXIT_USAGE;
		}
		return fetch_configure(configure, a.dest);
	}
	if (config != NULL)
		return fetch_accounts(config, &a, argv + optind,
				      (size_t)(argc - optind));
	if (optind + 1 != argc) {
		fprintf(stderr, "satchel fetch: give one URL\n");
		fetch_usage(stderr);
		return FETCH_EXIT_USAGE;
	}
	if (fetch_account_from_url(&a, argv[optind]) < 0)
		return FETCH_EXIT_USAGE;
	if (serverinfo)
		return fetch_serverinfo(&a);
	if (import != NULL && a.state_dir != NULL)
		return fetch_import(&a, import);
	if (a.dest == NULL) {
		fprintf(stderr, "satchel fetch: --to DEST is required\n");
		return FETCH_EXIT_USAGE;
	}
	if (a.state_dir == NULL) {
		fprintf(stderr, "satchel fetch: no HOME: give --state-dir\n");
		return FETCH_EXIT_CONFIG;
	}
	return fetch_interval > 0 ? fetch_daemon_one(&a) : fetch_run(&a);
}
