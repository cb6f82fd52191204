/* config.h: the effective configuration: defaults, then the config file,
 * then -o key=value overrides. Every key is described in the table in
 * config.c and in docs/satchel.conf.5. */
#ifndef SATCHEL_CONFIG_H
#define SATCHEL_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum plaintext_auth { PLAINTEXT_ALWAYS, PLAINTEXT_TLS_OR_LOOPBACK, PLAINTEXT_NEVER };
enum mail_kind { MAIL_MAILDIR, MAIL_MBOX };
enum tls_verify { TLS_VERIFY_NO, TLS_VERIFY_OPTIONAL, TLS_VERIFY_REQUIRED };

#define CONFIG_STR_MAX 1024
/* Worker processes of one generation; the master keeps room for two
 * generations at once (a reload while the old one drains). */
#define CONFIG_WORKERS_MAX 32

struct config {
	char listen[CONFIG_STR_MAX];     /* "host:port,[v6]:port" */
	char listen_tls[CONFIG_STR_MAX];
	char tls_cert[CONFIG_STR_MAX];
	char tls_key[CONFIG_STR_MAX];
	char tls_min_version[16];        /* TLSv1.2 or TLSv1.3 */
	char tls_ciphers[CONFIG_STR_MAX]; /* TLS 1.2 cipher list; "" = default */
	char tls_ca[CONFIG_STR_MAX];     /* CAs for client certificates */
	enum tls_verify tls_verify_client;
	unsigned tls_handshake_timeout;  /* seconds */
	char users[CONFIG_STR_MAX];      /* "passwd-file:PATH" */
	char passwd_file[CONFIG_STR_MAX]; /* PATH part of users */
	char mail[CONFIG_STR_MAX];       /* "maildir:PATTERN" / "mbox:PATTERN" */
	enum mail_kind mail_kind;
	char mail_pattern[CONFIG_STR_MAX]; /* PATTERN part of mail */
	char mail_user[64];
	char auth_user[64];              /* the auth process; "" = mail_user */
	char hostname[256];              /* used in the greeting and APOP */
	char log[CONFIG_STR_MAX];
	char log_level[16];
	char state_dir[CONFIG_STR_MAX];  /* auth's persistent state (last logins) */
	unsigned workers;                /* after config_finish: the count */
	bool workers_auto;               /* 0 in the config: one per core */
	enum plaintext_auth plaintext_auth;
	bool apop;
	int expire_days;                 /* -1 = NEVER; 0 = delete on retrieval */
	unsigned login_delay;            /* seconds, 0 = not advertised */
	unsigned max_line;               /* octets including CRLF (RFC 2449: 255) */
	unsigned max_bad_lines;          /* over-long/garbage lines before close */
	unsigned preauth_timeout;        /* seconds */
	unsigned autologout;             /* seconds, >= 600 (RFC 1939 3.) */
	unsigned max_connections;
	unsigned max_connections_per_ip;
	unsigned max_sessions_per_user;
	unsigned lock_stale_timeout;     /* seconds before a lock is stale */
	unsigned auth_fail_delay_ms;     /* first failed-login delay, doubles */
	unsigned auth_fail_delay_max_ms;
	char sasl_mechanisms[CONFIG_STR_MAX]; /* as written */
	unsigned sasl_mech_mask;         /* bit i: sasl_mech_get(i) enabled */
	unsigned sasl_max_line;          /* octets of a SASL response line,
					  * with CRLF */
	/* GSSAPI (Kerberos V5): offered only with a readable keytab */
	char gssapi_keytab[CONFIG_STR_MAX];
	char gssapi_service[64];         /* "pop" (RFC 5034 4.) */
	char gssapi_hostname[256];       /* "" = gethostname() */
	char gssapi_realm[256];          /* "" = krb5.conf default_realm */
	/* OAUTHBEARER / XOAUTH2: JWTs checked against a public key
	 * (jwt.h); offered only with a readable key */
	char oauth_public_key[CONFIG_STR_MAX];
	char oauth_issuer[CONFIG_STR_MAX];
	char oauth_audience[CONFIG_STR_MAX];
	char oauth_user_claim[64];
};

/* Fills cfg with the built-in defaults. */
void config_defaults(struct config *cfg);

/* Reads a key = value file. Returns 0, or -1 with a message naming the
 * file, line and key in err (size errsize). */
int config_load_file(struct config *cfg, const char *path,
		     char *err, size_t errsize);

/* Applies one "key=value" override (-o). Returns 0 or -1 with err set. */
int config_override(struct config *cfg, const char *assignment,
		    char *err, size_t errsize);

/* Checks cross-key constraints after everything is set. 0 or -1 + err. */
int config_finish(struct config *cfg, char *err, size_t errsize);
/* Logs a warning for each value that is used but unwise or adjusted
 * (workers clamped, autologout below RFC 1939's minimum, ...). */
void config_warn(const struct config *cfg);

/* Prints every key with its effective value, in file syntax. */
void config_print(const struct config *cfg, FILE *out);

#endif
