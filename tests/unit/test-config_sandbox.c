/* test-config_sandbox.c: the directories each kind of process may reach
 * once sandboxed (config/config_sandbox.c). */
#include <stdio.h>
#include <string.h>

#include "config/config_sandbox.h"
#include "unit.h"

static struct sandbox_settings set;

static void with(struct config *cfg, const char *mail, const char *roots)
{
	char a[1200], err[256];

	config_defaults(cfg);
	snprintf(a, sizeof(a), "mail=%s", mail);
	CHECK(config_override(cfg, a, err, sizeof(err)) == 0, a);
	snprintf(a, sizeof(a), "sandbox_mail_root=%s", roots);
	CHECK(config_override(cfg, a, err, sizeof(err)) == 0, a);
}

int main(void)
{
	struct config cfg;
	char err[256];

	with(&cfg, "maildir:/var/mail/vhosts/%d/%n", "");
	CHECK(config_sandbox(&cfg, SANDBOX_WORKER, &set, err,
			     sizeof(err)) == 0, "worker settings");
	CHECK(set.on && set.landlock && set.seccomp == SANDBOX_SECCOMP_YES,
	      "everything on by default");
	CHECK(set.landlock_off == NULL && set.paths.nrw == 1,
	      "one mail root");
	CHECK_STR(set.paths.rw[0], "/var/mail/vhosts", "the pattern's root");

	with(&cfg, "mbox:/var/mail/%u", "");
	CHECK(config_sandbox(&cfg, SANDBOX_LMTP, &set, err, sizeof(err)) == 0,
	      "lmtp settings");
	CHECK(set.paths.nrw == 2, "root and spool");
	CHECK_STR(set.paths.rw[0], "/var/mail", "mbox root");
	CHECK_STR(set.paths.rw[1], "/tmp", "the LMTP spool");

	with(&cfg, "maildir:/srv/mail/shared", "");
	(void)config_sandbox(&cfg, SANDBOX_WORKER, &set, err, sizeof(err));
	CHECK_STR(set.paths.rw[0], "/srv/mail", "no variable: the parent");

	with(&cfg, "maildir:/%u", "");
	(void)config_sandbox(&cfg, SANDBOX_WORKER, &set, err, sizeof(err));
	CHECK(set.landlock_off != NULL, "no fixed directory: no Landlock");

	with(&cfg, "maildir:~/Maildir", "");
	(void)config_sandbox(&cfg, SANDBOX_WORKER, &set, err, sizeof(err));
	CHECK(set.landlock_off != NULL &&
	      strstr(set.landlock_off, "sandbox_mail_root") != NULL,
	      "~: says to set sandbox_mail_root");

	with(&cfg, "maildir:~/Maildir", "/home, /srv/mail");
	(void)config_sandbox(&cfg, SANDBOX_WORKER, &set, err, sizeof(err));
	CHECK(set.landlock_off == NULL && set.paths.nrw == 2,
	      "the roots given");
	CHECK_STR(set.paths.rw[0], "/home", "first root");
	CHECK_STR(set.paths.rw[1], "/srv/mail", "second root");

	with(&cfg, "maildir:/srv/%u", "relative");
	(void)config_sandbox(&cfg, SANDBOX_WORKER, &set, err, sizeof(err));
	CHECK(set.landlock_off != NULL, "a relative root refused");

	with(&cfg, "maildir:/srv/%u", "");
	CHECK(config_sandbox(&cfg, SANDBOX_AUTH, &set, err, sizeof(err)) == 0 &&
	      set.landlock_off != NULL && set.paths.nrw == 0,
	      "auth: no Landlock");

	with(&cfg, "maildir:/srv/%u", "");
	CHECK(config_override(&cfg, "xtnd_xmit=yes", err, sizeof(err)) == 0,
	      "xtnd_xmit");
	(void)config_sandbox(&cfg, SANDBOX_WORKER, &set, err, sizeof(err));
	CHECK(set.landlock_off != NULL && set.seccomp_off != NULL,
	      "sendmail: both off for the POP3 workers");
	(void)config_sandbox(&cfg, SANDBOX_LMTP, &set, err, sizeof(err));
	CHECK(set.landlock_off == NULL && set.seccomp_off == NULL,
	      "but not for LMTP");

	with(&cfg, "maildir:/srv/%u", "");
	CHECK(config_sandbox_deliver(&cfg, "/srv/mail/bob", true, &set, err,
				     sizeof(err)) == 0, "deliver settings");
	CHECK_STR(set.paths.rw[0], "/srv/mail", "an mbox: its directory");
	CHECK(config_sandbox_deliver(&cfg, "/srv/bob", false, &set, err,
				     sizeof(err)) == 0, "deliver Maildir");
	CHECK_STR(set.paths.rw[0], "/srv/bob", "a Maildir: itself");

	CHECK(config_override(&cfg, "sandbox_seccomp=log", err,
			      sizeof(err)) == 0 &&
	      config_sandbox(&cfg, SANDBOX_WORKER, &set, err,
			     sizeof(err)) == 0 &&
	      set.seccomp == SANDBOX_SECCOMP_LOG, "sandbox_seccomp = log");
	CHECK(config_override(&cfg, "sandbox_seccomp=maybe", err,
			      sizeof(err)) < 0, "a bad value refused");
	with(&cfg, "maildir:/srv/%u", "srv/mail");
	CHECK(config_finish(&cfg, err, sizeof(err)) < 0 &&
	      strstr(err, "sandbox_mail_root") != NULL,
	      "config_finish refuses a relative root");
	with(&cfg, "maildir:/srv/%u", "/srv/a,/srv/b");
	CHECK(config_finish(&cfg, err, sizeof(err)) == 0,
	      "config_finish takes absolute roots");
	return unit_done();
}
