/* auth_settings.h: what the auth process (and the SASL mechanisms it runs)
 * is configured with. Filled by config/ from satchel.conf and handed to
 * auth_process_run(); nothing in auth/ sees the whole configuration. */
#ifndef SATCHEL_AUTH_SETTINGS_H
#define SATCHEL_AUTH_SETTINGS_H

#include <stdbool.h>

#include "store/maildrop.h"

#define AUTH_SETTING_STR 1024

/* When USER/PASS and the plaintext SASL mechanisms may be used. */
enum plaintext_auth { PLAINTEXT_ALWAYS, PLAINTEXT_TLS_OR_LOOPBACK,
		      PLAINTEXT_NEVER };

struct auth_settings {
	/* the user databases (userdb.h): "passwd-file:PATH,sqlite:PATH";
	 * "" = passwd-file:passwd_file */
	char users[AUTH_SETTING_STR];
	char passwd_file[AUTH_SETTING_STR];   /* the first passwd-file */
	/* the login name's normalisation (loginname.h) */
	bool login_lowercase;
	bool login_percent_domain;
	bool login_sdps;
	char default_domain[256];
	/* SQL user databases: queries with %u %n %d (bound, never pasted) */
	char sql_password_query[AUTH_SETTING_STR];
	char sql_user_query[AUTH_SETTING_STR];
	char sql_iterate_query[AUTH_SETTING_STR];
	/* PostgreSQL (userdb_pgsql.c) */
	unsigned pgsql_connections;           /* per auth process */
	unsigned pgsql_statement_timeout;     /* milliseconds */
	char pgsql_notify_channel[128];       /* "" = no LISTEN */
	/* LDAP (userdb_ldap.c, ldap_pool.h, ldap_query.h) */
	char ldap_base[AUTH_SETTING_STR];
	char ldap_scope[8];                   /* sub, one, base */
	char ldap_user_filter[AUTH_SETTING_STR]; /* %u %n %d escaped */
	char ldap_attributes[AUTH_SETTING_STR];  /* attr=field,... */
	char ldap_bind_dn[AUTH_SETTING_STR];  /* "" = anonymous */
	char ldap_bind_password_file[AUTH_SETTING_STR];
	char ldap_tls_cafile[AUTH_SETTING_STR]; /* "" = the system's */
	bool ldap_starttls;
	bool ldap_auth_bind;                  /* check by binding as the user */
	unsigned ldap_connections;            /* per auth process */
	unsigned ldap_network_timeout;        /* milliseconds */
	unsigned ldap_timeout;                /* search, milliseconds */
	/* PAM (userdb_pam.c, pampool.h) */
	char pam_confdir[AUTH_SETTING_STR];   /* "" = /etc/pam.d */
	unsigned pam_helpers;                 /* processes per auth process */
	unsigned pam_helper_requests;         /* answers, then replaced */
	unsigned pam_timeout;                 /* milliseconds per request */
	unsigned first_valid_uid;             /* system users below: none */
	/* the cache of the drivers that ask a server (usercache.h) */
	unsigned user_cache_ttl;              /* seconds */
	unsigned user_cache_negative_ttl;     /* seconds */
	unsigned user_cache_stale_max;        /* seconds past the TTL */
	unsigned user_cache_size;             /* entries per kind */
	enum maildrop_kind mail_kind;         /* default mail location */
	char mail_pattern[AUTH_SETTING_STR];  /* mailpath.h variables */
	char state_dir[AUTH_SETTING_STR];     /* last logins, salt key */
	enum plaintext_auth plaintext_auth;
	bool apop;
	unsigned login_delay;                 /* seconds, 0 = none */
	unsigned preauth_timeout;             /* seconds */
	unsigned max_sessions_per_user;       /* 0 = unlimited */
	unsigned sasl_mech_mask;              /* bit i: sasl_mech_get(i) */
	bool client_certs;                    /* TLS asks for them (EXTERNAL) */
	/* GSSAPI (Kerberos V5): offered only with a readable keytab */
	char gssapi_keytab[AUTH_SETTING_STR];
	char gssapi_service[64];              /* "pop" (RFC 5034 4.) */
	char gssapi_hostname[256];            /* "" = gethostname() */
	char gssapi_realm[256];               /* "" = krb5.conf default */
	/* kpop_listen is set: the KPOP exchange (sasl_kpop.c) with the
	 * same keytab, service, host name and realm */
	bool kpop;
	/* OAUTHBEARER / XOAUTH2: JWTs checked against a public key (jwt.h);
	 * offered only with a readable key */
	char oauth_public_key[AUTH_SETTING_STR];
	char oauth_issuer[AUTH_SETTING_STR];
	char oauth_audience[AUTH_SETTING_STR];
	char oauth_user_claim[64];
	/* proxy mode (proxyticket.h): a proxy mints tickets for the
	 * backend logins, a backend takes them from trusted proxies */
	bool proxy;
	char proxy_ticket_key[AUTH_SETTING_STR]; /* "" = no tickets */
};

#endif
