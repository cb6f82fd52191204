/* test-fetch_config.c: the accounts file of satchel fetch
 * (fetch_config.c): sections, keys, every kind of bad line, and which
 * exit of several accounts wins; the Maildir keys of the write side
 * (delivery_maildir_keys) that make fetching exactly once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fetch/fetch_config.h"
#include "store/delivery.h"
#include "unit.h"

static char dir[] = "/tmp/test-fetch_config.XXXXXX";

static int read_text(const char *text, struct fetch_config *cfg, char *err,
		     size_t errsize)
{
	struct fetch_account base;
	char path[256];
	FILE *f;

	memset(&base, 0, sizeof(base));
	base.timeout_secs = 60;
	snprintf(path, sizeof(path), "%s/fetch.conf", dir);
	f = fopen(path, "w");
	if (f == NULL)
		abort();
	fputs(text, f);
	fclose(f);
	return fetch_config_read(path, &base, cfg, err, errsize);
}

static void test_good(void)
{
	struct fetch_config cfg;
	char err[512] = "";
	int ret;

	ret = read_text("# accounts\nstate_dir = /var/lib/f\nparallel = 2\n\n"
			"[work]\nurl = pops://alice@pop.example.com\n"
			"to = maildir:/home/alice/Maildir\n"
			"password_file = /p\nkeep = 30d\n"
			"[club]\n  url = pop://bob;AUTH=*@[::1]:1110  \n"
			"to = mda:/usr/bin/procmail -d bob\ntls = none\n"
			"skip_larger = 1000000\ntimeout = 5\n"
			"delete_larger = 9000000\nmax_messages = 50\n"
			"max_bytes = 2000000\nambiguous = skip\n"
			"allow_plaintext = yes\n",
			&cfg, err, sizeof(err));
	CHECK(ret == 0 && cfg.count == 2 && cfg.parallel == 2, err);
	if (ret != 0)
		return;
	CHECK_STR(cfg.accounts[0].name, "work", "config: section name");
	CHECK(cfg.accounts[0].url.implicit_tls &&
		      cfg.accounts[0].url.port == 995 &&
		      cfg.accounts[0].tls == FETCH_TLS_IMPLICIT,
	      "config: pops:// is implicit TLS on 995");
	CHECK(cfg.accounts[0].keep && cfg.accounts[0].keep_days == 30,
	      "config: keep = 30d");
	CHECK_STR(cfg.accounts[0].state_dir, "/var/lib/f",
		  "config: state_dir reaches every account");
	CHECK_STR(cfg.accounts[0].rcpt, "alice",
		  "config: rcpt defaults to the URL's user");
	CHECK_STR(cfg.accounts[1].dest, "mda:/usr/bin/procmail -d bob",
		  "config: a value with spaces, trimmed at the ends");
	CHECK(cfg.accounts[1].tls == FETCH_TLS_NONE &&
		      cfg.accounts[1].url.auth == POPURL_AUTH_ANY &&
		      cfg.accounts[1].url.port == 1110 &&
		      cfg.accounts[1].skip_larger == 1000000 &&
		      cfg.accounts[1].timeout_secs == 5 &&
		      !cfg.accounts[1].keep,
	      "config: the second account's keys");
	CHECK(cfg.accounts[1].delete_larger == 9000000 &&
		      cfg.accounts[1].max_messages == 50 &&
		      cfg.accounts[1].max_bytes == 2000000 &&
		      cfg.accounts[1].ambiguous_skip &&
		      cfg.accounts[1].allow_plaintext &&
		      !cfg.accounts[0].ambiguous_skip &&
		      cfg.accounts[0].max_messages == 0,
	      "config: caps, delete_larger, ambiguous, a yes/no key");
	CHECK(cfg.accounts[1].timeout_secs == 5 &&
		      cfg.accounts[0].timeout_secs == 60,
	      "config: defaults from the command line, per account");
	fetch_config_free(&cfg);
}

static void test_bad(void)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
		{ "state_dir = /s\n[a]\nurl = pop://u@h\n", "needs url and to" },
		{ "state_dir = /s\n[a]\nto = maildir:/m\n", "needs url and to" },
		{ "state_dir = /s\nurl = pop://u@h\n", "before any [account]" },
		{ "state_dir = /s\n[a]\nbogus = 1\n", "unknown key: bogus" },
		{ "state_dir = /s\n[a]\nkeep = maybe\n", "yes or no" },
		{ "state_dir = /s\n[a]\nkeep = 0d\n", "not a number" },
		{ "state_dir = /s\n[a]\ntls = ssl\n", "implicit, starttls" },
		{ "state_dir = /s\n[a]\nurl = pop://u:pw@h\n", "password" },
		{ "state_dir = /s\n[a]\nnovalue\n", "expected key = value" },
		{ "state_dir = /s\n[a\n", "a section is [NAME]" },
		{ "state_dir = /s\n[a]\n[a]\n", "account named twice" },
		{ "state_dir = /s\nparallel = 0\n", "not a number" },
		{ "state_dir = /s\n[a]\ntimeout = 5s\n", "not a number" },
		{ "state_dir = /s\n[a]\nambiguous = maybe\n", "redeliver or skip" },
		{ "state_dir = /s\n[a]\nmax_messages = 2000000\n", "not a number" },
		{ "state_dir = /s\n[a]\nallow_plaintext = 1\n", "yes or no" },
		{ "[a]\nurl = pop://u@h\nto = maildir:/m\n", "no state_dir" },
	};
	struct fetch_config cfg;
	char err[512], name[600];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int ret;

		err[0] = '\0';
		ret = read_text(cases[i].text, &cfg, err, sizeof(err));
		snprintf(name, sizeof(name), "config: refused (%s): %s",
			 cases[i].want, err);
		CHECK(ret < 0 && strstr(err, cases[i].want) != NULL &&
			      strstr(err, "fetch.conf:") != NULL,
		      name);
		fetch_config_free(&cfg);
	}
}

static void test_worst(void)
{
	CHECK(fetch_exit_worst(0, 0) == 0, "worst: 0 and 0");
	CHECK(fetch_exit_worst(0, 75) == 75 && fetch_exit_worst(75, 0) == 75,
	      "worst: 75 over 0");
	CHECK(fetch_exit_worst(75, 69) == 69, "worst: a server's over 75");
	CHECK(fetch_exit_worst(69, 74) == 74, "worst: local over server");
	CHECK(fetch_exit_worst(77, 74) == 77, "worst: login over local");
	CHECK(fetch_exit_worst(77, 78) == 78, "worst: config over login");
}

static bool count_key(const char *key, size_t len, void *context)
{
	char **want = context;

	if (len == strlen(*want) && memcmp(key, *want, len) == 0)
		*want = "";
	return true;
}

static void test_keys(void)
{
	char md[300], path[400], *want;
	const char *error;

	snprintf(md, sizeof(md), "%s/Maildir", dir);
	snprintf(path, sizeof(path), "%s/new", md);
	mkdir(md, 0700);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/cur", md);
	mkdir(path, 0700);
	snprintf(path, sizeof(path),
		 "%s/cur/1700000000.M1P2Q3K0123456789ab.host,S=5,W=6:2,S",
		 md);
	fclose(fopen(path, "w"));
	snprintf(path, sizeof(path), "%s/new/1700000000.M1P2Q4R1234.host",
		 md);
	fclose(fopen(path, "w"));
	want = "0123456789ab";
	CHECK(delivery_maildir_keys(md, count_key, &want, &error) == 0 &&
		      want[0] == '\0',
	      "keys: a key in cur/ (with flags) is found");
	want = "1234";
	CHECK(delivery_maildir_keys(md, count_key, &want, &error) == 0 &&
		      want[0] != '\0',
	      "keys: the random part of a key-less name is no key");
	want = "x";
	snprintf(path, sizeof(path), "%s/none", dir);
	CHECK(delivery_maildir_keys(path, count_key, &want, &error) == 0,
	      "keys: a missing Maildir holds none");
}

int main(void)
{
	if (mkdtemp(dir) == NULL)
		return 1;
	test_good();
	test_bad();
	test_worst();
	test_keys();
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			return 1;
	}
	return unit_done();
}
