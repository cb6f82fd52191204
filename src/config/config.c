/* config.c: the table of configuration keys, their defaults, parsing and
 * validation. A key is described once, here; --check prints from the same
 * table, so the printed config cannot disagree with what is parsed. */
#include "config/config.h"
#include "config/config_sandbox.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "auth/proxyticket.h"
#include "auth/sasl_mech.h"
#include "auth/userdb.h"
#include "net/linereader.h"
#include "net/listener.h"
#include "net/netmatch.h"
#include "store/mailpath.h"
#include "store/msgconv.h"
#include "util/log.h"
#include "util/sandbox.h"
#include "util/strnum.h"

enum key_type { KEY_STR, KEY_UINT, KEY_BOOL, KEY_PLAINTEXT, KEY_EXPIRE,
		KEY_TLS_VERIFY, KEY_LISTEN, KEY_SASL_MECHS,
		KEY_LOGLEVEL, KEY_USERS, KEY_MAIL, KEY_LMTP_LISTEN, KEY_MODE,
		KEY_SIZE, KEY_U64, KEY_NETS, KEY_CHOICE, KEY_WORKAROUNDS };

struct config_key {
	const char *name;
	enum key_type type;
	size_t offset;
	size_t size;      /* KEY_STR: buffer size; KEY_SIZE: field size */
	uint64_t min, max; /* KEY_UINT, KEY_SIZE, KEY_U64 */
	const char *defval;
	const char *const *choices; /* KEY_CHOICE: NULL-terminated names,
				       the field is the unsigned index */
};

/* FIELD: the key's member of struct config, which may be inside one of
 * the embedded settings structs (tls.cert, auth.apop). */
#define STR(n, field, d) { n, KEY_STR, offsetof(struct config, field), \
			   sizeof(((struct config *)0)->field), 0, 0, d, NULL }
#define UINT(n, field, lo, hi, d) { n, KEY_UINT, \
				    offsetof(struct config, field), 0, lo, \
				    hi, d, NULL }
#define SPECIAL(n, t, field, d) { n, t, offsetof(struct config, field), \
				  sizeof(((struct config *)0)->field), 0, 0, \
				  d, NULL }
/* A number with an optional K, M or G suffix (powers of 1024) into an
 * unsigned or a uint64_t field; U64: plain digits into a uint64_t. */
#define SIZE(n, field, hi, d) { n, KEY_SIZE, offsetof(struct config, field), \
				sizeof(((struct config *)0)->field), 0, hi, d, \
				NULL }
/* One word of a list of names; the field (unsigned) holds its index. */
#define CHOICE(n, field, names, d) { n, KEY_CHOICE, \
				     offsetof(struct config, field), \
				     sizeof(unsigned), 0, 0, d, names }
#define U64(n, field, hi, d) { n, KEY_U64, offsetof(struct config, field), \
			       sizeof(uint64_t), 0, hi, d, NULL }

static const char *const last_command_names[] = {
	[LAST_COMMAND_OFF] = "off",
	[LAST_COMMAND_PERSISTENT] = "persistent",
	NULL,
};

static const char *const utf8_legacy_names[] = {
	[UTF8_LEGACY_SEND] = "send",
	[UTF8_LEGACY_REJECT] = "reject",
	[UTF8_LEGACY_WRAP] = "wrap",
	NULL,
};

static const char *const mail_process_names[] = {
	[MAIL_PROCESS_SHARED] = "shared",
	[MAIL_PROCESS_PER_USER] = "per-user",
	NULL,
};

static const char *const sandbox_seccomp_names[] = {
	[SANDBOX_SECCOMP_NO] = "no",
	[SANDBOX_SECCOMP_YES] = "yes",
	[SANDBOX_SECCOMP_LOG] = "log",
	NULL,
};

static const char *const lang_names[] = {
	[LANG_EN] = "en",
	[LANG_I_DEFAULT] = "i-default",
	NULL,
};

static const struct config_key config_keys[] = {
	SPECIAL("listen", KEY_LISTEN, listen, "127.0.0.1:110,[::1]:110"),
	SPECIAL("listen_tls", KEY_LISTEN, listen_tls, ""),
	SPECIAL("kpop_listen", KEY_LISTEN, kpop_listen, ""),
	STR("tls_cert", tls.cert, ""),
	STR("tls_key", tls.key, ""),
	STR("tls_min_version", tls.min_version, "TLSv1.2"),
	STR("tls_ciphers", tls.ciphers, ""),
	STR("tls_ca", tls.ca, ""),
	SPECIAL("tls_verify_client", KEY_TLS_VERIFY, tls.verify_client, "no"),
	UINT("tls_handshake_timeout", tls.handshake_timeout, 1, 600, "30"),
	SPECIAL("users", KEY_USERS, users, "passwd-file:/etc/satchel/passwd"),
	SPECIAL("mail", KEY_MAIL, mail, "maildir:/var/mail/vhosts/%d/%n"),
	STR("mail_user", mail_user, "satchel"),
	/* per-user: one mail agent per session, so a session can reach
	 * its own maildrop only (docs/security.md) */
	CHOICE("mail_process", mail_process, mail_process_names, "shared"),
	/* Its own account, so a compromised worker cannot read secrets. */
	STR("auth_user", auth_user, "satchel-auth"),
	STR("hostname", hostname, ""),
	STR("log", log, "stderr"),
	SPECIAL("log_level", KEY_LOGLEVEL, log_level, "info"),
	STR("state_dir", auth.state_dir, "/var/lib/satchel"),
	/* 0: one per online core, at most CONFIG_WORKERS_MAX */
	UINT("workers", workers, 0, CONFIG_WORKERS_MAX, "0"),
	SPECIAL("plaintext_auth", KEY_PLAINTEXT, auth.plaintext_auth,
		"tls-or-loopback"),
	SPECIAL("apop", KEY_BOOL, auth.apop, "no"),
	/* the login name (auth/loginname.h) */
	SPECIAL("login_lowercase", KEY_BOOL, auth.login_lowercase, "no"),
	SPECIAL("login_percent_domain", KEY_BOOL, auth.login_percent_domain,
		"no"),
	SPECIAL("login_sdps", KEY_BOOL, auth.login_sdps, "no"),
	STR("default_domain", auth.default_domain, ""),
	SPECIAL("expire", KEY_EXPIRE, expire_days, "never"),
	/* RFC 1460's LAST, dropped by RFC 1725: off, fetchmail then uses
	 * UIDL (a per-session "+OK 0" would make it fetch again in keep
	 * mode); persistent for old clients that know nothing else */
	CHOICE("last_command", last_command, last_command_names, "off"),
	/* RFC 6856 (serve/cmd_utf8.h) */
	SPECIAL("utf8", KEY_BOOL, utf8, "yes"),
	/* send: as stored, what every client got before RFC 6856 */
	CHOICE("utf8_legacy", utf8_legacy, utf8_legacy_names, "wrap"),
	CHOICE("lang_default", lang_default, lang_names, "en"),
	/* what old clients need (store/msgconv.h), off unless asked for;
	 * a user's client_workarounds= field replaces it */
	SPECIAL("client_workarounds", KEY_WORKAROUNDS, client_workarounds,
		""),
	/* a port of its own for old Outlooks, the others untouched */
	SPECIAL("client_workarounds_listen", KEY_LISTEN,
		client_workarounds_listen, ""),
	/* qpopper's send-through-POP (serve/cmd_xtnd.h), opt-in: it makes
	 * the POP3 server a mail submission service */
	SPECIAL("xtnd_xmit", KEY_BOOL, xtnd_xmit, "no"),
	STR("xtnd_xmit_relay", xtnd_xmit_relay, ""),
	STR("xtnd_xmit_sendmail", xtnd_xmit_sendmail, "/usr/sbin/sendmail"),
	STR("xtnd_xmit_domain", xtnd_xmit_domain, ""),
	SPECIAL("xtnd_xmit_any_from", KEY_BOOL, xtnd_xmit_any_from, "no"),
	/* Postfix's message_size_limit default */
	SIZE("xtnd_xmit_max_size", xtnd_xmit_max_size, 1ull << 30, "10M"),
	UINT("xtnd_xmit_rate", xtnd_xmit_rate, 0, 1000000, "20"),
	/* below Postfix's smtpd_timeout (300 s) for each step, for all */
	UINT("xtnd_xmit_timeout", xtnd_xmit_timeout, 1, 3600, "60"),
	/* Demon's multidrop envelopes (serve/cmd_sdps.h), opt-in: no,
	 * yes, or the domains whose users get them */
	STR("sdps", sdps, "no"),
	UINT("login_delay", auth.login_delay, 0, 86400 * 365, "0"),
	/* RFC 2449 section 4: command lines up to 255 octets incl. CRLF.
	 * At most what the line reader holds in its in-session buffer. */
	UINT("max_line", max_line, 255, LINEREADER_BUF, "255"),
	UINT("max_bad_lines", max_bad_lines, 1, 1000, "10"),
	UINT("preauth_timeout", auth.preauth_timeout, 1, 3600, "60"),
	/* RFC 1939 section 3: an autologout timer of at least 10 minutes;
	 * shorter values are accepted (with a warning) for testing. */
	UINT("autologout", autologout, 1, 86400, "600"),
	UINT("max_connections", max_connections, 1, 1000000, "10000"),
	UINT("max_connections_per_ip", max_connections_per_ip, 1, 1000000,
	     "50"),
	UINT("max_sessions_per_user", auth.max_sessions_per_user, 0,
	     1000000, "10"),
	UINT("lock_stale_timeout", lock_stale_timeout, 10, 86400, "300"),
	/* several nodes on one store (docs/scaling.md): "" = the host name */
	STR("node_id", node_id, ""),
	STR("mail_store_marker", mail_store_marker, ""),
	STR("node_heartbeat_dir", node_heartbeat_dir, ""),
	STR("node_heartbeat_pgsql", node_heartbeat_pgsql, ""),
	STR("index_dir", index_dir, ""),
	UINT("node_heartbeat_timeout", node_heartbeat_timeout, 1, 600, "3"),
	/* a 100,000-message snapshot is about 20 MB: a few per worker */
	SIZE("maildrop_cache_size", maildrop_cache_size, UINT64_MAX / 2,
	     "64M"),
	UINT("auth_fail_delay", auth_fail_delay_ms, 0, 60000, "500"),
	UINT("auth_fail_delay_max", auth_fail_delay_max_ms, 0, 600000,
	     "10000"),
	/* Only what every stored secret can serve: a client that picks the
	 * strongest mechanism offered does not fall back when it fails, so
	 * SCRAM and CRAM-MD5 are for the admin to enable once the
	 * passwd-file holds their secrets. "" disables AUTH. */
	SPECIAL("sasl_mechanisms", KEY_SASL_MECHS, sasl_mechanisms,
		"PLAIN LOGIN"),
	/* RFC 5034 4.: SASL responses are not bound by the 255-octet
	 * command line; GSSAPI and OAuth tokens need a few KB. At most
	 * 65536, which is what the auth protocol carries. */
	UINT("sasl_max_line", sasl_max_line, 256, 65536, "8192"),
	/* GSSAPI (RFC 4752): offered only when the keytab is readable */
	/* SQL user databases (userdb_sqlite.c); the defaults read the schema
	 * `satchel user` makes */
	/* "user" quoted: a reserved word (CURRENT_USER) in PostgreSQL, an
	 * identifier either way in SQLite */
	STR("sql_password_query", auth.sql_password_query,
	    "SELECT \"user\", password, secrets, uid, gid, home, mail, "
	    "quota_bytes, quota_messages, login_delay, expire FROM users "
	    "WHERE \"user\" = %u"),
	STR("sql_user_query", auth.sql_user_query, ""),
	STR("sql_iterate_query", auth.sql_iterate_query,
	    "SELECT \"user\", password, secrets FROM users"),
	/* PostgreSQL (auth/userdb_pgsql.c, pgsql_pool.c) */
	UINT("pgsql_connections", auth.pgsql_connections, 1, 16, "2"),
	UINT("pgsql_statement_timeout", auth.pgsql_statement_timeout, 100,
	     600000, "3000"),
	STR("pgsql_notify_channel", auth.pgsql_notify_channel,
	    "satchel_users"),
	/* LDAP (auth/userdb_ldap.c, ldap_pool.c): the user is the one entry
	 * under ldap_base the filter matches; the attributes fill the
	 * record's fields (the SQL column names) */
	STR("ldap_base", auth.ldap_base, ""),
	STR("ldap_scope", auth.ldap_scope, "sub"),
	STR("ldap_user_filter", auth.ldap_user_filter,
	    "(&(objectClass=posixAccount)(uid=%u))"),
	STR("ldap_attributes", auth.ldap_attributes,
	    "userPassword=password,uidNumber=uid,gidNumber=gid,"
	    "homeDirectory=home"),
	STR("ldap_bind_dn", auth.ldap_bind_dn, ""),
	STR("ldap_bind_password_file", auth.ldap_bind_password_file, ""),
	STR("ldap_tls_cafile", auth.ldap_tls_cafile, ""),
	SPECIAL("ldap_starttls", KEY_BOOL, auth.ldap_starttls, "no"),
	/* the password checked by a bind as the user: no hash is read,
	 * only USER/PASS, PLAIN and LOGIN can be served */
	SPECIAL("ldap_auth_bind", KEY_BOOL, auth.ldap_auth_bind, "no"),
	UINT("ldap_connections", auth.ldap_connections, 1, 8, "2"),
	UINT("ldap_network_timeout", auth.ldap_network_timeout, 100, 60000,
	     "3000"),
	UINT("ldap_timeout", auth.ldap_timeout, 100, 600000, "3000"),
	/* PAM and system users (auth/userdb_pam.c): the checks run in
	 * helper processes, each replaced after so many answers; below
	 * first_valid_uid an account is no mail user (Debian's first
	 * user is 1000; root never is) */
	STR("pam_confdir", auth.pam_confdir, ""),
	UINT("pam_helpers", auth.pam_helpers, 1, 16, "4"),
	UINT("pam_helper_requests", auth.pam_helper_requests, 1, 1000000,
	     "100"),
	UINT("pam_timeout", auth.pam_timeout, 100, 600000, "10000"),
	UINT("first_valid_uid", auth.first_valid_uid, 1, 4000000000u,
	     "1000"),
	/* the cache of database answers (auth/usercache.h): a user found
	 * is asked again after 5 minutes (a NOTIFY drops it at once), an
	 * unknown name after 30 s; while the database cannot answer, an
	 * entry up to a day past its TTL still serves */
	UINT("user_cache_ttl", auth.user_cache_ttl, 0, 86400, "300"),
	UINT("user_cache_negative_ttl", auth.user_cache_negative_ttl, 0,
	     86400, "30"),
	UINT("user_cache_stale_max", auth.user_cache_stale_max, 0,
	     86400 * 30, "86400"),
	UINT("user_cache_size", auth.user_cache_size, 1, 10000000,
	     "100000"),
	STR("gssapi_keytab", auth.gssapi_keytab, ""),
	/* RFC 5034 4.: the GSSAPI service name of POP3 is "pop" */
	STR("gssapi_service", auth.gssapi_service, "pop"),
	STR("gssapi_hostname", auth.gssapi_hostname, ""),
	STR("gssapi_realm", auth.gssapi_realm, ""),
	/* OAUTHBEARER (RFC 7628) and XOAUTH2: signed JWTs (jwt.h) */
	STR("oauth_public_key", auth.oauth_public_key, ""),
	STR("proxy_ticket_key", auth.proxy_ticket_key, ""),
	STR("oauth_issuer", auth.oauth_issuer, ""),
	STR("oauth_audience", auth.oauth_audience, ""),
	STR("oauth_user_claim", auth.oauth_user_claim, "email"),
	/* Delivery: LMTP (RFC 2033) in satchel serve, and satchel deliver */
	SPECIAL("lmtp_listen", KEY_LMTP_LISTEN, lmtp_listen, ""),
	/* PROXY protocol (net/proxyproto.h, serve/worker_proxy.c) */
	SPECIAL("proxy_trusted", KEY_NETS, proxy_trusted, ""),
	SPECIAL("proxy_trust_ssl", KEY_BOOL, proxy_trust_ssl, "no"),
	/* Proxy mode (issue 11, 4.): a front that logs users in and relays
	 * each to the backend SHA-256(user) picks from the list */
	SPECIAL("proxy", KEY_BOOL, proxy, "no"),
	SPECIAL("proxy_backends", KEY_LISTEN, proxy_backends, ""),
	/* connect, PROXY header, greeting and login at the backend; well
	 * below a client's own timeout (fetchmail: 300 s), so the client
	 * hears [SYS/TEMP] rather than giving up on its own */
	UINT("proxy_timeout", proxy_timeout, 1, 300, "10"),
	/* implicit TLS (RFC 8314) to the backends' listen_tls, after the
	 * PROXY header; the certificate must name the backend's address */
	SPECIAL("proxy_tls", KEY_BOOL, proxy_tls, "no"),
	STR("proxy_tls_ca", proxy_tls_ca, ""),
	/* GET /metrics, served by the master; no default port: it tells
	 * whoever can reach it how busy the server is and who fails */
	SPECIAL("metrics_listen", KEY_LISTEN, metrics_listen, ""),
	/* satchel reload/stop/status find the master through it; none by
	 * default, so test and second instances never fight over one */
	STR("pid_file", pid_file, ""),
	/* owner and group read-write: Postfix's lmtp(8) connects as postfix,
	 * the usual lmtp_socket_owner; nobody else */
	SPECIAL("lmtp_socket_mode", KEY_MODE, lmtp_socket_mode, "0660"),
	STR("lmtp_socket_owner", lmtp_socket_owner, ""),
	STR("lmtp_socket_group", lmtp_socket_group, ""),
	UINT("lmtp_workers", lmtp_workers, 1, CONFIG_WORKERS_MAX, "1"),
	/* 50 MB: five times Postfix's default message_size_limit (10 MB),
	 * so nothing a stock MTA accepts is refused, while one runaway
	 * sender cannot fill the disk of every recipient at once; 0 = no
	 * SIZE limit. 4 GB-1 at most: RFC 1870 sizes past that are never
	 * real mail. */
	SIZE("lmtp_max_message_size", lmtp_max_message_size, UINT32_MAX,
	     "50M"),
	/* RFC 2033 4.2: one recipient's reply must not hold the others;
	 * below Postfix's lmtp_data_done_timeout (600 s) with room to spare */
	UINT("lmtp_recipient_timeout", lmtp_recipient_timeout, 1, 3600, "30"),
	/* issue 8, 6.: STARTTLS and AUTH on non-loopback TCP; a remote
	 * port without both lets anyone who reaches it inject mail */
	SPECIAL("lmtp_allow_insecure_remote", KEY_BOOL,
		lmtp_allow_insecure_remote, "no"),
	STR("lmtp_auth_users", lmtp_auth_users, ""),
	/* below Postfix's command_time_limit (1000 s) and Exim's transport
	 * timeout (1 h), so satchel deliver ends with its own 75 first */
	UINT("delivery_deadline", delivery_deadline, 1, 86400, "300"),
	SIZE("quota_bytes", quota_bytes, UINT64_MAX / 2, "0"),
	U64("quota_messages", quota_messages, UINT64_MAX / 2, "0"),
	SPECIAL("quota_permanent", KEY_BOOL, quota_permanent, "no"),
	/* Debian's /var/mail is mboxo (Postfix local, procmail, mutt) */
	SPECIAL("mbox_rd", KEY_BOOL, mbox_rd, "no"),
	/* no_new_privs and no core dumps in auth and the workers */
	SPECIAL("sandbox", KEY_BOOL, sandbox, "yes"),
	/* the system call filter (util/sandbox_seccomp.c): yes kills a
	 * process that makes a call outside its list, log only logs it */
	CHOICE("sandbox_seccomp", sandbox_seccomp, sandbox_seccomp_names,
	       "yes"),
	/* workers limited to the mail roots (util/sandbox_landlock.c) */
	SPECIAL("sandbox_landlock", KEY_BOOL, sandbox_landlock, "yes"),
	/* "dir,dir": where maildrops may be; "" = the fixed leading
	 * directories of mail (config_sandbox.c) */
	STR("sandbox_mail_root", sandbox_mail_root, ""),
	SPECIAL("delivery_refuse_nul", KEY_BOOL, delivery_refuse_nul, "no"),
	UINT("delivery_dedup_days", delivery_dedup_days, 0, 365, "7"),
};

#define N_KEYS (sizeof(config_keys) / sizeof(config_keys[0]))

static const char *const plaintext_names[] = {
	[PLAINTEXT_ALWAYS] = "always",
	[PLAINTEXT_TLS_OR_LOOPBACK] = "tls-or-loopback",
	[PLAINTEXT_NEVER] = "never",
};

static const char *const tls_verify_names[] = {
	[TLS_VERIFY_NO] = "no",
	[TLS_VERIFY_OPTIONAL] = "optional",
	[TLS_VERIFY_REQUIRED] = "required",
};

static const struct config_key *config_find(const char *name)
{
	for (size_t i = 0; i < N_KEYS; i++) {
		if (strcmp(config_keys[i].name, name) == 0)
			return &config_keys[i];
	}
	return NULL;
}

static int copy_str(char *dst, size_t size, const char *value)
{
	size_t len = strlen(value);

	if (len >= size)
		return -1;
	memcpy(dst, value, len + 1);
	return 0;
}

/* The syntax of a listen list (unix:PATH items too when allow_unix);
 * binding may still fail later. */
static bool listen_list_valid(const char *list, bool allow_unix)
{
	char copy[CONFIG_STR_MAX], host[64], port[8];
	char *save = NULL, *item;

	if (strlen(list) >= sizeof(copy))
		return false;
	strcpy(copy, list);
	for (item = strtok_r(copy, ", ", &save); item != NULL;
	     item = strtok_r(NULL, ", ", &save)) {
		const char *path = listener_unix_path(item);

		if (path != NULL) {
			if (!allow_unix || !listener_unix_path_valid(path))
				return false;
			continue;
		}
		if (listener_parse_addr(item, host, sizeof(host), port,
					sizeof(port)) < 0)
			return false;
	}
	return true;
}

/* "0660": one to four octal digits, no set-id or sticky bits (a socket
 * file needs none). */
static bool mode_valid(const char *text)
{
	size_t len = strlen(text);

	if (len == 0 || len > 4 || strspn(text, "01234567") != len)
		return false;
	return strtoul(text, NULL, 8) <= 0777;
}

/* Digits with an optional K, M or G (powers of 1024, as Dovecot's quota
 * and Exim's sizes read them), at most max. 0 or -1. */
static int size_parse(const char *text, uint64_t max, uint64_t *value_r)
{
	static const struct { char suffix; unsigned shift; } units[] = {
		{ 'K', 10 }, { 'k', 10 }, { 'M', 20 }, { 'G', 30 },
	};
	char digits[24];
	size_t len = strlen(text);
	unsigned shift = 0;
	uint64_t num;

	for (size_t i = 0; len > 0 && i < sizeof(units) / sizeof(units[0]);
	     i++) {
		if (text[len - 1] == units[i].suffix) {
			shift = units[i].shift;
			len--;
			break;
		}
	}
	if (len == 0 || len >= sizeof(digits))
		return -1;
	memcpy(digits, text, len);
	digits[len] = '\0';
	if (strnum_parse_u64(digits, max >> shift, &num) < 0)
		return -1;
	*value_r = num << shift;
	return 0;
}

/* The reason text of a number out of range names the range. Module-global:
 * config parsing runs in the master alone, before any thread or child. */
static char config_range_reason[160];

/* Sets one key from text. Returns 0 or -1 with *reason_r. */
static int config_set(struct config *cfg, const struct config_key *key,
		      const char *value, const char **reason_r)
{
	char *field = (char *)cfg + key->offset;
	uint64_t num;

	switch (key->type) {
	case KEY_STR:
		if (copy_str(field, key->size, value) < 0) {
			*reason_r = "value too long";
			return -1;
		}
		return 0;
	case KEY_UINT:
		if (strnum_parse_u64(value, key->max, &num) < 0 ||
		    num < key->min) {
			snprintf(config_range_reason,
				 sizeof(config_range_reason),
				 "expected a whole number from %llu to %llu",
				 (unsigned long long)key->min,
				 (unsigned long long)key->max);
			*reason_r = config_range_reason;
			return -1;
		}
		*(unsigned *)field = (unsigned)num;
		return 0;
	case KEY_BOOL:
		if (strcmp(value, "yes") == 0)
			*(bool *)field = true;
		else if (strcmp(value, "no") == 0)
			*(bool *)field = false;
		else {
			*reason_r = "expected yes or no";
			return -1;
		}
		return 0;
	case KEY_PLAINTEXT:
		for (int i = 0; i < 3; i++) {
			if (strcmp(value, plaintext_names[i]) == 0) {
				*(enum plaintext_auth *)field = i;
				return 0;
			}
		}
		*reason_r = "expected always, tls-or-loopback or never";
		return -1;
	case KEY_NETS: {
		struct netmatch nets;

		if (netmatch_parse(value, &nets, reason_r) < 0)
			return -1;
		return copy_str(field, key->size, value);
	}
	case KEY_LISTEN:
	case KEY_LMTP_LISTEN:
		/* checked before it is stored: a refused value leaves the
		 * field as it was */
		if (strlen(value) >= key->size) {
			*reason_r = "value too long";
			return -1;
		}
		if (!listen_list_valid(value, key->type == KEY_LMTP_LISTEN)) {
			*reason_r = key->type == KEY_LMTP_LISTEN ?
				    "expected host:port, [v6]:port or "
				    "unix:/absolute/path, comma-separated" :
				    "expected host:port or [v6]:port, "
				    "comma-separated";
			return -1;
		}
		return copy_str(field, key->size, value);
	case KEY_MODE:
		if (!mode_valid(value) ||
		    copy_str(field, key->size, value) < 0) {
			*reason_r = "expected an octal file mode such as 0660";
			return -1;
		}
		return 0;
	case KEY_SIZE:
	case KEY_U64:
		if ((key->type == KEY_SIZE ?
		     size_parse(value, key->max, &num) :
		     strnum_parse_u64(value, key->max, &num)) < 0) {
			snprintf(config_range_reason,
				 sizeof(config_range_reason),
				 key->type == KEY_SIZE ?
				 "expected a number (K, M or G after it: "
				 "times 1024, 1024^2, 1024^3) up to %llu" :
				 "expected a whole number up to %llu",
				 (unsigned long long)key->max);
			*reason_r = config_range_reason;
			return -1;
		}
		if (key->size == sizeof(unsigned))
			*(unsigned *)field = (unsigned)num;
		else
			*(uint64_t *)field = num;
		return 0;
	case KEY_CHOICE: {
		char expected[160];
		size_t used = 0;

		for (unsigned i = 0; key->choices[i] != NULL; i++) {
			if (strcmp(value, key->choices[i]) == 0) {
				*(unsigned *)field = i;
				return 0;
			}
		}
		for (unsigned i = 0; key->choices[i] != NULL; i++) {
			int n = snprintf(expected + used,
					 sizeof(expected) - used, "%s%s",
					 i == 0 ? "expected " :
					 key->choices[i + 1] == NULL ?
					 " or " : ", ", key->choices[i]);

			if (n < 0 || (size_t)n >= sizeof(expected) - used)
				break;
			used += (size_t)n;
		}
		snprintf(config_range_reason, sizeof(config_range_reason),
			 "%s", expected);
		*reason_r = config_range_reason;
		return -1;
	}
	case KEY_TLS_VERIFY:
		for (int i = 0; i < 3; i++) {
			if (strcmp(value, tls_verify_names[i]) == 0) {
				*(enum tls_verify *)field = i;
				return 0;
			}
		}
		*reason_r = "expected no, optional or required";
		return -1;
	case KEY_WORKAROUNDS: {
		const char *bad;

		if (msgconv_workarounds_parse(value,
					      &cfg->client_workarounds_mask,
					      &bad) < 0) {
			*reason_r = "expected outlook-no-nuls, oe-ns-eoh or "
				    "none";
			return -1;
		}
		if (copy_str(field, key->size, value) < 0) {
			*reason_r = "value too long";
			return -1;
		}
		return 0;
	}
	case KEY_SASL_MECHS: {
		const char *bad;

		if (sasl_mech_parse_list(value, &cfg->auth.sasl_mech_mask,
					 &bad) < 0) {
			*reason_r = "unknown SASL mechanism";
			return -1;
		}
		if (copy_str(field, key->size, value) < 0) {
			*reason_r = "value too long";
			return -1;
		}
		return 0;
	}
	case KEY_EXPIRE:
		if (strcmp(value, "never") == 0) {
			*(int *)field = -1;
			return 0;
		}
		if (strnum_parse_u64(value, 36500, &num) < 0) {
			*reason_r = "expected never or a number of days";
			return -1;
		}
		*(int *)field = (int)num;
		return 0;
	case KEY_LOGLEVEL: {
		enum log_level level;

		if (log_level_parse(value, &level) < 0) {
			*reason_r = "expected error, warn, info or debug";
			return -1;
		}
		return copy_str(field, key->size, value);
	}
	case KEY_USERS:
		/* the one parser of the chain (auth/userdb.c) */
		if (userdb_spec_check(value, reason_r) < 0)
			return -1;
		if (copy_str(cfg->users, sizeof(cfg->users), value) < 0 ||
		    copy_str(cfg->auth.users, sizeof(cfg->auth.users),
			     value) < 0) {
			*reason_r = "value too long";
			return -1;
		}
		if (!userdb_spec_path(value, "passwd-file",
				      cfg->auth.passwd_file,
				      sizeof(cfg->auth.passwd_file)))
			cfg->auth.passwd_file[0] = '\0';
		return 0;
	case KEY_MAIL: {
		const char *pattern;

		/* the one parser of mail locations (store/mailpath.c) */
		if (mailpath_parse(value, &cfg->auth.mail_kind, &pattern,
				   reason_r) < 0)
			return -1;
		if (copy_str(cfg->mail, sizeof(cfg->mail), value) < 0 ||
		    copy_str(cfg->auth.mail_pattern,
			     sizeof(cfg->auth.mail_pattern), pattern) < 0) {
			*reason_r = "value too long";
			return -1;
		}
		return 0;
	}
	}
	*reason_r = "internal error";
	return -1;
}

void config_defaults(struct config *cfg)
{
	const char *reason;

	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < N_KEYS; i++) {
		/* The defaults are constants above; they always parse. */
		(void)config_set(cfg, &config_keys[i], config_keys[i].defval,
				 &reason);
	}
}

static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		end--;
	*end = '\0';
	return s;
}

/* Splits "key = value" (or "key=value"), sets it. 0 or -1 + err. */
static int config_assign(struct config *cfg, char *line, const char *where,
			 char *err, size_t errsize)
{
	char *eq = strchr(line, '=');
	const struct config_key *key;
	const char *reason = NULL;
	char *name, *value;

	if (eq == NULL) {
		snprintf(err, errsize, "%s: expected key = value", where);
		return -1;
	}
	*eq = '\0';
	name = trim(line);
	value = trim(eq + 1);
	key = config_find(name);
	if (key == NULL) {
		snprintf(err, errsize, "%s: unknown key '%.64s'", where, name);
		return -1;
	}
	if (config_set(cfg, key, value, &reason) < 0) {
		snprintf(err, errsize, "%s: key '%s': bad value '%.128s': %s",
			 where, name, value, reason);
		return -1;
	}
	return 0;
}

int config_load_file(struct config *cfg, const char *path,
		     char *err, size_t errsize)
{
	char line[CONFIG_STR_MAX + 128];
	char where[CONFIG_STR_MAX + 32];
	unsigned lineno = 0;
	int ret = 0;
	FILE *f;

	f = fopen(path, "re");
	if (f == NULL) {
		snprintf(err, errsize, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *text;

		lineno++;
		snprintf(where, sizeof(where), "%s:%u", path, lineno);
		if (strchr(line, '\n') == NULL && !feof(f)) {
			snprintf(err, errsize, "%s: line too long", where);
			ret = -1;
			break;
		}
		text = trim(line);
		if (*text == '\0' || *text == '#')
			continue;
		if (config_assign(cfg, text, where, err, errsize) < 0) {
			ret = -1;
			break;
		}
	}
	if (ret == 0 && ferror(f)) {
		snprintf(err, errsize, "%s: read error", path);
		ret = -1;
	}
	fclose(f);
	return ret;
}

int config_override(struct config *cfg, const char *assignment,
		    char *err, size_t errsize)
{
	char copy[CONFIG_STR_MAX + 128];

	if (copy_str(copy, sizeof(copy), assignment) < 0) {
		snprintf(err, errsize, "-o: override too long");
		return -1;
	}
	return config_assign(cfg, copy, "-o", err, errsize);
}

/* True when item is one of the comma/blank-separated words of list. */
static bool list_has(const char *list, const char *item)
{
	size_t n = strlen(item);

	for (const char *p = list; *p != '\0';) {
		size_t len;

		p += strspn(p, ", \t");
		len = strcspn(p, ", \t");
		if (len == n && len > 0 && memcmp(p, item, n) == 0)
			return true;
		p += len;
	}
	return false;
}

bool config_workarounds_on(const struct config *cfg, const char *name)
{
	return cfg->client_workarounds_listen[0] == '\0' ||
	       list_has(cfg->client_workarounds_listen, name);
}

/* sdps: "no", "yes", or domain names (letters, digits, '-', '.'). */
static int config_sdps_check(const char *value, char *err, size_t errsize)
{
	if (strcmp(value, "no") == 0 || strcmp(value, "yes") == 0)
		return 0;
	for (const char *p = value; *p != '\0';) {
		size_t len;

		p += strspn(p, ", \t");
		len = strcspn(p, ", \t");
		if (len == 0)
			break;
		if (strspn(p, "abcdefghijklmnopqrstuvwxyz"
			   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") < len) {
			snprintf(err, errsize, "sdps: expected no, yes or "
				 "domain names, not %.*s", (int)(len > 64 ?
				 64 : len), p);
			return -1;
		}
		p += len;
	}
	return 0;
}

bool config_sdps_on(const struct config *cfg, const char *user)
{
	const char *at, *p;
	size_t n;

	if (strcmp(cfg->sdps, "no") == 0 || cfg->sdps[0] == '\0')
		return false;
	if (user == NULL || strcmp(cfg->sdps, "yes") == 0)
		return true;
	at = strrchr(user, '@');
	if (at == NULL)
		return false;
	n = strlen(at + 1);
	for (p = cfg->sdps; *p != '\0';) {
		size_t len;

		p += strspn(p, ", \t");
		len = strcspn(p, ", \t");
		/* DNS names are case-insensitive (RFC 4343) */
		if (len == n && len > 0 && strncasecmp(p, at + 1, n) == 0)
			return true;
		p += len;
	}
	return false;
}

bool config_lmtp_remote(const struct config *cfg, char *item, size_t size)
{
	char copy[CONFIG_STR_MAX], host[64], port[8];
	char *save = NULL, *it;

	if (strlen(cfg->lmtp_listen) >= sizeof(copy))
		return false;
	strcpy(copy, cfg->lmtp_listen);
	for (it = strtok_r(copy, ", ", &save); it != NULL;
	     it = strtok_r(NULL, ", ", &save)) {
		if (listener_unix_path(it) != NULL ||
		    listener_parse_addr(it, host, sizeof(host), port,
					sizeof(port)) < 0 ||
		    listener_host_is_loopback(host))
			continue;
		snprintf(item, size, "%s", it);
		return true;
	}
	return false;
}

/* Proxy mode: a backend list, never one of our own listeners (a proxy
 * that is its own backend would recurse until it runs out of sockets),
 * and only logins that hand us the password to pass on. */
static int config_proxy_check(struct config *cfg, char *err, size_t errsize)
{
	const char *error;

	if (backendlist_parse(cfg->proxy_backends, &cfg->proxy_backend_list,
			      &error) < 0) {
		snprintf(err, errsize, "proxy_backends: %s", error);
		return -1;
	}
	if (!cfg->proxy)
		return 0;
	if (cfg->proxy_backend_list.count == 0) {
		snprintf(err, errsize, "proxy = yes needs proxy_backends");
		return -1;
	}
	if (backendlist_overlaps(&cfg->proxy_backend_list, cfg->listen) ||
	    backendlist_overlaps(&cfg->proxy_backend_list, cfg->listen_tls)) {
		snprintf(err, errsize, "proxy_backends: a backend is one of "
			 "this server's own listen addresses (a proxy loop)");
		return -1;
	}
	if (cfg->auth.apop && cfg->auth.proxy_ticket_key[0] == '\0') {
		snprintf(err, errsize, "proxy = yes cannot offer APOP without "
			 "proxy_ticket_key: the backend login needs the "
			 "password itself");
		return -1;
	}
	return 0;
}

/* The key of proxy tickets (auth/proxyticket.h), read once here so a
 * bad one is a config error, not failed logins. */
static int config_ticket_check(struct config *cfg, char *err, size_t errsize)
{
	struct proxyticket_key key;
	const char *error;

	cfg->auth.proxy = cfg->proxy;
	if (cfg->auth.proxy_ticket_key[0] == '\0')
		return 0;
	if (proxyticket_key_load(cfg->auth.proxy_ticket_key, &key,
				 &error) < 0) {
		snprintf(err, errsize, "%s", error);
		return -1;
	}
	explicit_bzero(&key, sizeof(key));
	return 0;
}

int config_finish(struct config *cfg, char *err, size_t errsize)
{

	/* a delivery-only node (LMTP, no POP3) is a valid setup */
	if (cfg->listen[0] == '\0' && cfg->listen_tls[0] == '\0' &&
	    cfg->kpop_listen[0] == '\0' && cfg->lmtp_listen[0] == '\0') {
		snprintf(err, errsize, "no listen address configured");
		return -1;
	}
	if (strcmp(cfg->tls.min_version, "TLSv1.2") != 0 &&
	    strcmp(cfg->tls.min_version, "TLSv1.3") != 0) {
		snprintf(err, errsize, "tls_min_version: expected TLSv1.2 or "
			 "TLSv1.3");
		return -1;
	}
	if (cfg->kpop_listen[0] != '\0' && cfg->auth.gssapi_keytab[0] == '\0') {
		snprintf(err, errsize, "kpop_listen needs gssapi_keytab");
		return -1;
	}
	if (cfg->kpop_listen[0] != '\0' && cfg->proxy_backends[0] != '\0') {
		snprintf(err, errsize, "kpop_listen and proxy mode "
			 "(proxy_backends) do not go together");
		return -1;
	}
	cfg->auth.kpop = cfg->kpop_listen[0] != '\0';
	if (cfg->listen_tls[0] != '\0' && cfg->tls.cert[0] == '\0') {
		snprintf(err, errsize, "listen_tls needs tls_cert and tls_key");
		return -1;
	}
	if (cfg->auth.oauth_public_key[0] != '\0' &&
	    (cfg->auth.oauth_issuer[0] == '\0' || cfg->auth.oauth_audience[0] == '\0' ||
	     cfg->auth.oauth_user_claim[0] == '\0')) {
		snprintf(err, errsize, "oauth_public_key needs oauth_issuer, "
			 "oauth_audience and oauth_user_claim");
		return -1;
	}
	if (strchr(cfg->auth.gssapi_service, '@') != NULL ||
	    strchr(cfg->auth.gssapi_hostname, '@') != NULL) {
		snprintf(err, errsize, "gssapi_service and gssapi_hostname "
			 "cannot contain '@'");
		return -1;
	}
	if (cfg->client_workarounds_listen[0] != '\0') {
		char copy[CONFIG_STR_MAX], *save = NULL, *it;

		snprintf(copy, sizeof(copy), "%s",
			 cfg->client_workarounds_listen);
		for (it = strtok_r(copy, ", \t", &save); it != NULL;
		     it = strtok_r(NULL, ", \t", &save)) {
			if (!list_has(cfg->listen, it) &&
			    !list_has(cfg->listen_tls, it)) {
				snprintf(err, errsize, "client_workarounds_"
					 "listen: %.128s is not an address of "
					 "listen or listen_tls", it);
				return -1;
			}
		}
	}
	if (cfg->xtnd_xmit_relay[0] != '\0') {
		char host[256], port[8];

		if (listener_parse_addr(cfg->xtnd_xmit_relay, host,
					sizeof(host), port, sizeof(port)) < 0) {
			snprintf(err, errsize, "xtnd_xmit_relay: expected "
				 "host:port or [v6]:port");
			return -1;
		}
	}
	if (cfg->xtnd_xmit_sendmail[0] != '/') {
		snprintf(err, errsize, "xtnd_xmit_sendmail: expected an "
			 "absolute path");
		return -1;
	}
	if (config_sdps_check(cfg->sdps, err, errsize) < 0)
		return -1;
	if (strchr(cfg->metrics_listen, ',') != NULL) {
		snprintf(err, errsize, "metrics_listen: one host:port only");
		return -1;
	}
	if (cfg->pid_file[0] != '\0' && cfg->pid_file[0] != '/') {
		snprintf(err, errsize, "pid_file: an absolute path");
		return -1;
	}
	if (cfg->node_heartbeat_dir[0] != '\0' &&
	    cfg->node_heartbeat_pgsql[0] != '\0') {
		snprintf(err, errsize, "node_heartbeat_dir and "
			 "node_heartbeat_pgsql: set one of them");
		return -1;
	}
	if (cfg->index_dir[0] != '\0' && cfg->index_dir[0] != '/') {
		snprintf(err, errsize, "index_dir: an absolute path");
		return -1;
	}
	if (config_sandbox_check(cfg, err, errsize) < 0)
		return -1;
	if (config_proxy_check(cfg, err, errsize) < 0 ||
	    config_ticket_check(cfg, err, errsize) < 0)
		return -1;
	{
		const char *error;

		if (userdb_settings_check(&cfg->auth, &error) < 0) {
			snprintf(err, errsize, "users: %s", error);
			return -1;
		}
	}
	if (cfg->auth_fail_delay_max_ms < cfg->auth_fail_delay_ms)
		cfg->auth_fail_delay_max_ms = cfg->auth_fail_delay_ms;
	/* EXTERNAL needs client certificates asked for (RFC 4422 A.) */
	cfg->auth.client_certs = cfg->tls.verify_client != TLS_VERIFY_NO;
	cfg->workers_auto = cfg->workers == 0;
	if (cfg->workers_auto) {
		long cores = sysconf(_SC_NPROCESSORS_ONLN);

		cfg->workers = cores > 0 ? (unsigned)cores : 1;
		if (cfg->workers > CONFIG_WORKERS_MAX)
			cfg->workers = CONFIG_WORKERS_MAX;
	}
	return 0;
}

int config_load(struct config *cfg, const char *path, bool path_given,
		char *const *overrides, int noverrides, char *err,
		size_t errsize)
{
	config_defaults(cfg);
	if (path_given || access(path, F_OK) == 0) {
		if (config_load_file(cfg, path, err, errsize) < 0)
			return -1;
	}
	for (int i = 0; i < noverrides; i++) {
		if (config_override(cfg, overrides[i], err, errsize) < 0)
			return -1;
	}
	return config_finish(cfg, err, errsize);
}

void config_warn(const struct config *cfg)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);

	if (cfg->workers_auto && cores > CONFIG_WORKERS_MAX)
		log_warn("workers = 0: %ld cores online, using %u workers "
			 "(the most there can be)", cores, cfg->workers);
	if (cfg->autologout < 600)
		log_warn("autologout = %u is below the 10 minutes RFC 1939 "
			 "requires", cfg->autologout);
	/* RFC 2033 4.2: each recipient's reply must come before the MTA
	 * gives up on the whole transaction, or it retries them all */
	if (cfg->lmtp_listen[0] != '\0' && cfg->lmtp_recipient_timeout >= 600)
		log_warn("lmtp_recipient_timeout = %u is not below Postfix's "
			 "lmtp_data_done_timeout (600 s): a slow recipient can "
			 "make it retry the others",
			 cfg->lmtp_recipient_timeout);
	if (cfg->lmtp_allow_insecure_remote && cfg->lmtp_listen[0] != '\0')
		log_warn("lmtp_allow_insecure_remote = yes: any host that "
			 "reaches a non-loopback lmtp_listen address may "
			 "deliver mail without authenticating");
	if (cfg->auth.plaintext_auth == PLAINTEXT_ALWAYS)
		log_warn("plaintext_auth = always: passwords may cross the "
			 "network in clear text");
	/* PAM holds no secret APOP could use (auth/userdb_pam.c) */
	if (cfg->auth.apop && userdb_spec_has(cfg->auth.users, "pam"))
		log_warn("apop = yes with users = pam: APOP fails for the "
			 "system users (only USER/PASS, PLAIN and LOGIN serve "
			 "them)");
	/* the helpers read /etc/shadow; the spawner forks them as root */
	if (userdb_spec_has(cfg->auth.users, "pam") && geteuid() != 0)
		log_warn("users = pam without root: PAM modules that need "
			 "root (pam_unix reading /etc/shadow) will refuse "
			 "every password");
}

void config_print(const struct config *cfg, FILE *out)
{
	for (size_t i = 0; i < N_KEYS; i++) {
		const struct config_key *key = &config_keys[i];
		const char *field = (const char *)cfg + key->offset;
		int expire;

		fprintf(out, "%s = ", key->name);
		switch (key->type) {
		case KEY_STR:
		case KEY_LISTEN:
		case KEY_LMTP_LISTEN:
		case KEY_NETS:
		case KEY_MODE:
		case KEY_SASL_MECHS:
		case KEY_WORKAROUNDS:
		case KEY_LOGLEVEL:
		case KEY_USERS:
		case KEY_MAIL:
			fprintf(out, "%s\n", field);
			break;
		case KEY_UINT:
			fprintf(out, "%u\n", *(const unsigned *)field);
			break;
		case KEY_SIZE:
		case KEY_U64:
			/* in octets: what the limit is, whatever was written */
			if (key->size == sizeof(unsigned))
				fprintf(out, "%u\n", *(const unsigned *)field);
			else
				fprintf(out, "%llu\n", (unsigned long long)
					*(const uint64_t *)field);
			break;
		case KEY_BOOL:
			fprintf(out, "%s\n", *(const bool *)field ? "yes" : "no");
			break;
		case KEY_PLAINTEXT:
			fprintf(out, "%s\n", plaintext_names[
				*(const enum plaintext_auth *)field]);
			break;
		case KEY_CHOICE:
			fprintf(out, "%s\n", key->choices[
				*(const unsigned *)field]);
			break;
		case KEY_TLS_VERIFY:
			fprintf(out, "%s\n", tls_verify_names[
				*(const enum tls_verify *)field]);
			break;
		case KEY_EXPIRE:
			expire = *(const int *)field;
			if (expire < 0)
				fprintf(out, "never\n");
			else
				fprintf(out, "%d\n", expire);
			break;
		}
	}
}
