/* test-config.c: config parsing, overrides and error messages. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/userdb.h"
#include "config/config.h"
#include "store/msgconv.h"
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

static bool override_ok(struct config *cfg, const char *assignment)
{
	char err[512];

	return config_override(cfg, assignment, err, sizeof(err)) == 0;
}

/* The text --check prints for key. */
static bool printed(const struct config *cfg, const char *line)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	bool found;

	config_print(cfg, f);
	fclose(f);
	found = strstr(buf, line) != NULL;
	free(buf);
	return found;
}

static void test_delivery_keys(void)
{
	struct config cfg;

	config_defaults(&cfg);
	CHECK_STR(cfg.lmtp_listen, "", "LMTP off by default");
	CHECK_STR(cfg.lmtp_socket_mode, "0660", "socket mode default");
	CHECK(cfg.lmtp_workers == 1, "one LMTP worker by default");
	CHECK(cfg.lmtp_max_message_size == 50u << 20, "SIZE 50 MB");
	CHECK(cfg.lmtp_recipient_timeout == 30, "recipient timeout 30 s");
	CHECK(cfg.delivery_deadline == 300, "delivery deadline 300 s");
	CHECK(cfg.quota_bytes == 0 && cfg.quota_messages == 0, "no quota");
	CHECK(!cfg.quota_permanent && !cfg.mbox_rd &&
	      !cfg.delivery_refuse_nul, "booleans off");
	CHECK(cfg.delivery_dedup_days == 7, "dedup 7 days");

	CHECK(override_ok(&cfg, "lmtp_listen=127.0.0.1:2424,"
			  "unix:/var/spool/postfix/private/satchel,[::1]:24"),
	      "lmtp_listen with inet, unix and v6");
	CHECK(!override_ok(&cfg, "lmtp_listen=unix:relative/path"),
	      "relative unix path refused");
	CHECK(!override_ok(&cfg, "lmtp_listen=unix:"), "empty unix refused");
	CHECK(!override_ok(&cfg, "lmtp_listen=unix:/aaaaaaaaaaaaaaaaaaaaaaaa"
			   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
	      "unix path longer than sun_path refused");
	CHECK(!override_ok(&cfg, "lmtp_listen=localhost"), "no port refused");
	CHECK(!override_ok(&cfg, "listen=unix:/tmp/x"),
	      "unix: refused for POP3 listen");
	CHECK(override_ok(&cfg, "lmtp_socket_mode=600") &&
	      strcmp(cfg.lmtp_socket_mode, "600") == 0, "mode 600");
	CHECK(!override_ok(&cfg, "lmtp_socket_mode=0680"), "non-octal mode");
	CHECK(!override_ok(&cfg, "lmtp_socket_mode=4755"), "setuid mode");
	CHECK(!override_ok(&cfg, "lmtp_socket_mode="), "empty mode");
	CHECK(!override_ok(&cfg, "lmtp_workers=0"), "0 LMTP workers refused");
	CHECK(!override_ok(&cfg, "lmtp_workers=33"), "too many refused");
	CHECK(override_ok(&cfg, "lmtp_workers=4") && cfg.lmtp_workers == 4,
	      "lmtp_workers 4");
	CHECK(override_ok(&cfg, "lmtp_max_message_size=10K") &&
	      cfg.lmtp_max_message_size == 10240, "10K");
	CHECK(override_ok(&cfg, "lmtp_max_message_size=0") &&
	      cfg.lmtp_max_message_size == 0, "SIZE 0 = no limit");
	CHECK(!override_ok(&cfg, "lmtp_max_message_size=4G"),
	      "4G does not fit");
	CHECK(!override_ok(&cfg, "lmtp_max_message_size=M"), "bare suffix");
	CHECK(!override_ok(&cfg, "lmtp_max_message_size=10T"), "unknown unit");
	CHECK(override_ok(&cfg, "quota_bytes=2G") &&
	      cfg.quota_bytes == 2ull << 30, "quota 2G");
	CHECK(printed(&cfg, "quota_bytes = 2147483648\n"),
	      "--check prints octets");
	CHECK(override_ok(&cfg, "quota_messages=1000") &&
	      cfg.quota_messages == 1000, "quota_messages");
	CHECK(!override_ok(&cfg, "quota_messages=1K"),
	      "a message count takes no unit");
	CHECK(override_ok(&cfg, "quota_permanent=yes") && cfg.quota_permanent,
	      "quota_permanent");
	CHECK(!override_ok(&cfg, "mbox_rd=1"), "bool needs yes/no");
	CHECK(!override_ok(&cfg, "delivery_dedup_days=366"), "dedup max");
	CHECK(override_ok(&cfg, "delivery_dedup_days=0") &&
	      cfg.delivery_dedup_days == 0, "dedup off");
	CHECK(!override_ok(&cfg, "lmtp_recipient_timeout=0"),
	      "recipient timeout 0 refused");
	CHECK(!override_ok(&cfg, "delivery_deadline=0"), "deadline 0 refused");
	CHECK(override_ok(&cfg, "lmtp_socket_owner=postfix") &&
	      printed(&cfg, "lmtp_socket_owner = postfix\n"), "owner");
	CHECK(printed(&cfg, "lmtp_listen = 127.0.0.1:2424,unix:"),
	      "--check prints lmtp_listen");
	{
		char err[256];

		CHECK(override_ok(&cfg, "listen=") &&
		      config_finish(&cfg, err, sizeof(err)) == 0,
		      "LMTP alone: a delivery-only node");
		CHECK(override_ok(&cfg, "lmtp_listen=") &&
		      config_finish(&cfg, err, sizeof(err)) < 0,
		      "no listener at all refused");
		CHECK(override_ok(&cfg, "listen=127.0.0.1:110") &&
		      override_ok(&cfg, "lmtp_listen=unix:/run/x"), "restored");
	}
	CHECK(printed(&cfg, "lmtp_socket_mode = 600\n") &&
	      printed(&cfg, "mbox_rd = no\n") &&
	      printed(&cfg, "lmtp_max_message_size = 0\n"),
	      "--check prints the other keys");
}

/* A word from a list (KEY_CHOICE): the value, --check, the error. */
static void test_choice_keys(void)
{
	struct config cfg;
	char err[512];

	config_defaults(&cfg);
	CHECK(cfg.last_command == LAST_COMMAND_OFF, "LAST off by default");
	CHECK(printed(&cfg, "last_command = off\n"), "--check prints off");
	CHECK(override_ok(&cfg, "last_command=persistent") &&
	      cfg.last_command == LAST_COMMAND_PERSISTENT, "persistent");
	CHECK(printed(&cfg, "last_command = persistent\n"),
	      "--check prints persistent");
	CHECK(config_override(&cfg, "last_command=session", err,
			      sizeof(err)) < 0 &&
	      strstr(err, "expected off or persistent") != NULL &&
	      cfg.last_command == LAST_COMMAND_PERSISTENT,
	      "an unknown word refused, naming the choices");

	CHECK(cfg.client_workarounds_mask == 0, "no workarounds by default");
	CHECK(override_ok(&cfg, "client_workarounds=oe-ns-eoh outlook-no-nuls")
	      && cfg.client_workarounds_mask ==
	      (MSGCONV_ADD_EOH | MSGCONV_NO_NULS), "both workarounds");
	CHECK(printed(&cfg, "client_workarounds = oe-ns-eoh outlook-no-nuls\n"),
	      "--check prints them as written");
	CHECK(config_override(&cfg, "client_workarounds=outlook", err,
			      sizeof(err)) < 0 &&
	      cfg.client_workarounds_mask ==
	      (MSGCONV_ADD_EOH | MSGCONV_NO_NULS),
	      "an unknown workaround refused, the old value kept");
	CHECK(config_workarounds_on(&cfg, "127.0.0.1:110"),
	      "every listener when client_workarounds_listen is empty");
	CHECK(override_ok(&cfg, "client_workarounds_listen=127.0.0.1:1110") &&
	      !config_workarounds_on(&cfg, "127.0.0.1:110") &&
	      config_workarounds_on(&cfg, "127.0.0.1:1110"),
	      "only the listed listener");
	CHECK(config_finish(&cfg, err, sizeof(err)) < 0 &&
	      strstr(err, "client_workarounds_listen") != NULL,
	      "a listed address that is no listener is refused");
}

static void test_utf8_keys(void)
{
	struct config cfg;

	config_defaults(&cfg);
	CHECK(cfg.utf8 && cfg.utf8_legacy == UTF8_LEGACY_WRAP &&
	      cfg.lang_default == LANG_EN, "RFC 6856 defaults");
	CHECK(override_ok(&cfg, "utf8_legacy=reject") &&
	      cfg.utf8_legacy == UTF8_LEGACY_REJECT, "utf8_legacy reject");
	CHECK(override_ok(&cfg, "utf8_legacy=wrap") &&
	      cfg.utf8_legacy == UTF8_LEGACY_WRAP, "utf8_legacy wrap");
	CHECK(override_ok(&cfg, "utf8_legacy=send") &&
	      cfg.utf8_legacy == UTF8_LEGACY_SEND, "utf8_legacy send");
	CHECK(!override_ok(&cfg, "utf8_legacy=drop"), "an unknown mode");
	CHECK(override_ok(&cfg, "lang_default=i-default") &&
	      cfg.lang_default == LANG_I_DEFAULT &&
	      printed(&cfg, "lang_default = i-default\n"), "lang_default");
}

static void test_xtnd_keys(void)
{
	struct config cfg;
	char err[512];

	config_defaults(&cfg);
	CHECK(!cfg.xtnd_xmit && cfg.xtnd_xmit_relay[0] == '\0' &&
	      cfg.xtnd_xmit_max_size == 10u << 20 && cfg.xtnd_xmit_rate == 20 &&
	      !cfg.xtnd_xmit_any_from, "XTND XMIT defaults");
	CHECK(config_finish(&cfg, err, sizeof(err)) == 0, "defaults finish");
	CHECK(override_ok(&cfg, "xtnd_xmit_relay=[::1]:25") &&
	      config_finish(&cfg, err, sizeof(err)) == 0, "a v6 relay");
	CHECK(override_ok(&cfg, "xtnd_xmit_relay=mail.example") &&
	      config_finish(&cfg, err, sizeof(err)) < 0 &&
	      strstr(err, "xtnd_xmit_relay") != NULL, "a relay without port");
	CHECK(override_ok(&cfg, "xtnd_xmit_relay=") &&
	      override_ok(&cfg, "xtnd_xmit_sendmail=sendmail") &&
	      config_finish(&cfg, err, sizeof(err)) < 0 &&
	      strstr(err, "absolute") != NULL, "a relative sendmail");
}

/* kpop_listen: needs the keytab; enables the auth process's KPOP
 * exchange; KPOP is never a sasl_mechanisms name. */
static void test_kpop_keys(void)
{
	struct config cfg;
	char err[512];

	config_defaults(&cfg);
	CHECK(cfg.kpop_listen[0] == '\0' && !cfg.auth.kpop, "KPOP off");
	CHECK(override_ok(&cfg, "kpop_listen=127.0.0.1:1109") &&
	      config_finish(&cfg, err, sizeof(err)) < 0 &&
	      strstr(err, "gssapi_keytab") != NULL,
	      "kpop_listen without gssapi_keytab");
	CHECK(override_ok(&cfg, "gssapi_keytab=/etc/satchel/pop.keytab") &&
	      config_finish(&cfg, err, sizeof(err)) == 0 && cfg.auth.kpop,
	      "kpop_listen with a keytab");
	CHECK(!override_ok(&cfg, "sasl_mechanisms=KPOP"),
	      "KPOP is no sasl_mechanisms name");
}

int main(void)
{
	struct config cfg;
	char err[512], pgpath[256];
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

	/* users = a chain (auth/userdb.c) */
	config_defaults(&cfg);
	path = write_file("users = sqlite:/var/lib/s/u.db, "
			  "passwd-file:/etc/p2\n");
	CHECK(config_load_file(&cfg, path, err, sizeof(err)) == 0,
	      "a chain of sqlite and passwd-file loads");
	CHECK_STR(cfg.auth.users, "sqlite:/var/lib/s/u.db, passwd-file:/etc/p2",
		  "the chain kept for the auth process");
	CHECK_STR(cfg.auth.passwd_file, "/etc/p2", "its passwd-file found");
	unlink(path);
	/* a conninfo's own commas stay in it */
	config_defaults(&cfg);
	path = write_file("users = pgsql:host=a,b port=1,2 dbname=m, "
			  "passwd-file:/etc/p3\n");
	CHECK(config_load_file(&cfg, path, err, sizeof(err)) == 0,
	      "a multi-host pgsql conninfo in a chain loads");
	CHECK_STR(cfg.auth.passwd_file, "/etc/p3",
		  "the item after the conninfo is the passwd-file");
	CHECK(userdb_spec_path("pgsql:host=a,b port=1,2, sqlite:/x", "pgsql",
			       pgpath, sizeof(pgpath)) &&
	      strcmp(pgpath, "host=a,b port=1,2") == 0,
	      "the conninfo whole, up to the next driver");
	unlink(path);
	config_defaults(&cfg);
	path = write_file("users = mysql:db=x\n");
	CHECK(config_load_file(&cfg, path, err, sizeof(err)) < 0 &&
		      strstr(err, "sqlite:PATH") != NULL &&
		      strstr(err, "ldap:URIS") != NULL,
	      "an unknown database is refused, naming the known ones");
	unlink(path);
	config_defaults(&cfg);
	path = write_file("users = ldap:ldap://a ldap://b:3389/, "
			  "passwd-file:/etc/p\n"
			  "ldap_base = ou=people,dc=example,dc=org\n"
			  "ldap_auth_bind = yes\nldap_connections = 8\n"
			  "ldap_timeout = 500\n");
	CHECK(config_load_file(&cfg, path, err, sizeof(err)) == 0 &&
	      userdb_spec_path(cfg.auth.users, "ldap", pgpath,
			       sizeof(pgpath)) &&
	      strcmp(pgpath, "ldap://a ldap://b:3389/") == 0 &&
	      cfg.auth.ldap_auth_bind && cfg.auth.ldap_connections == 8 &&
	      cfg.auth.ldap_timeout == 500 &&
	      strcmp(cfg.auth.ldap_scope, "sub") == 0 &&
	      strcmp(cfg.auth.ldap_user_filter,
		     "(&(objectClass=posixAccount)(uid=%u))") == 0,
	      "ldap: with its URIs, the ldap_* keys and their defaults");
	unlink(path);
	config_defaults(&cfg);
	path = write_file("users = ldap:ldap://a db.example\n");
	CHECK(config_load_file(&cfg, path, err, sizeof(err)) < 0 &&
	      strstr(err, "ldaps://") != NULL,
	      "ldap: with something else than a URI refused");
	unlink(path);
	config_defaults(&cfg);
	path = write_file("users = ldap:ldap://a\n");
	CHECK(config_load_file(&cfg, path, err, sizeof(err)) == 0 &&
	      config_finish(&cfg, err, sizeof(err)) < 0 &&
	      strstr(err, "ldap_base") != NULL,
	      "ldap: without ldap_base refused when the config is checked");
	unlink(path);
	config_defaults(&cfg);
	path = write_file("users = ldap:ldap://a\nldap_base = dc=x\n"
			  "ldap_attributes = uidNumber=uid\n");
	CHECK(config_load_file(&cfg, path, err, sizeof(err)) == 0 &&
	      config_finish(&cfg, err, sizeof(err)) < 0 &&
	      strstr(err, "password") != NULL,
	      "a map without a password refused (no ldap_auth_bind)");
	unlink(path);
	config_defaults(&cfg);
	path = write_file("users = ldap:ldap://a\nldap_base = dc=x\n"
			  "ldap_attributes = uidNumber=uid\n"
			  "ldap_auth_bind = yes\n");
	CHECK(config_load_file(&cfg, path, err, sizeof(err)) == 0 &&
	      config_finish(&cfg, err, sizeof(err)) == 0,
	      "... accepted with ldap_auth_bind");
	unlink(path);
	config_defaults(&cfg);
	path = write_file("ldap_connections = 9\n");
	CHECK(config_load_file(&cfg, path, err, sizeof(err)) < 0,
	      "ldap_connections above 8 refused");
	unlink(path);
	config_defaults(&cfg);
	path = write_file("users = sqlite:\n");
	CHECK(config_load_file(&cfg, path, err, sizeof(err)) < 0,
	      "a database without a path is refused");
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
	test_delivery_keys();
	test_choice_keys();
	test_xtnd_keys();
	test_utf8_keys();
	test_kpop_keys();
	return unit_done();
}
