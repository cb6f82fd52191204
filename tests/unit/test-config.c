/* test-config.c: config parsing, overrides and error messages. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "config/config.h"
#include "unit.h"

static const char *write_file(const char *text)
{
	static char path[64];
	int fd;
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/satchel-test-config-XXXXXX");
	fd = mkstemp(path);
	f = fdopen(fd, "w");

	fputs(text, f);
	fclose(f);
	return path;
}

int main(void)
{
	struct config cfg;
	char err[512];
	const char *path;

	config_defaults(&cfg);
	CHECK(cfg.max_line == 255, "default max_line is RFC 2449's 255");
	CHECK(cfg.autologout == 600, "default autologout is 10 minutes");
	CHECK(cfg.expire_days == -1, "default expire is never");
	CHECK(cfg.auth.plaintext_auth == PLAINTEXT_TLS_OR_LOOPBACK,
	      "default plaintext_auth");
	CHECK(!cfg.auth.apop, "APOP off by default");

	path = write_file("# comment\n\nlisten = 127.0.0.1:1110\n"
			  "mail = mbox:/var/mail/%u\napop=yes\n"
			  "expire = 0\nusers = passwd-file:/etc/p\n");
	CHECK(config_load_file(&cfg, path, err, sizeof(err)) == 0,
	      "valid file loads");
	CHECK_STR(cfg.listen, "127.0.0.1:1110", "listen read");
	CHECK(cfg.auth.mail_kind == MAILDROP_MBOX, "mbox kind");
	CHECK_STR(cfg.auth.mail_pattern, "/var/mail/%u", "mail pattern");
	CHECK_STR(cfg.auth.passwd_file, "/etc/p", "passwd path");
	CHECK(cfg.auth.apop && cfg.expire_days == 0, "apop and expire 0");
	unlink(path);

	config_defaults(&cfg);
	path = write_file("listen = 127.0.0.1:1110\nbogus_key = 1\n");
	CHECK(config_load_file(&cfg, path, err, sizeof(err)) < 0,
	      "unknown key refused");
	CHECK(strstr(err, ":2:") != NULL && strstr(err, "bogus_key") != NULL,
	      "error names line and key");
	unlink(path);

	path = write_file("max_line = 100\n");
	CHECK(config_load_file(&cfg, path, err, sizeof(err)) < 0,
	      "max_line below 255 refused");
	unlink(path);

	CHECK(config_override(&cfg, "workers=3", err, sizeof(err)) == 0 &&
	      cfg.workers == 3, "-o override");
	CHECK(config_override(&cfg, "apop=maybe", err, sizeof(err)) < 0,
	      "bad bool refused");
	CHECK(config_override(&cfg, "plaintext_auth=never", err,
			      sizeof(err)) == 0 &&
	      cfg.auth.plaintext_auth == PLAINTEXT_NEVER, "plaintext_auth never");
	CHECK(config_override(&cfg, "mail=imap:x", err, sizeof(err)) < 0,
	      "unknown mail kind refused");
	CHECK(config_override(&cfg, "login_delay=-5", err, sizeof(err)) < 0,
	      "negative number refused");
	return unit_done();
}
