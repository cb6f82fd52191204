/* config.h: the effective configuration: defaults, then the config file,
 * then -o key=value overrides. Every key is described in the table in
 * config.c and in docs/satchel.conf.5. */
#ifndef SATCHEL_CONFIG_H
#define SATCHEL_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "auth/auth_settings.h"
#include "net/backendlist.h"
#include "net/tls.h"

#define CONFIG_STR_MAX 1024
/* The config file of every command when -c is not given. */
#define CONFIG_DEFAULT_PATH "/etc/satchel/satchel.conf"
/* Worker processes of one generation; the master keeps room for two
 * generations at once (a reload while the old one drains). */
#define CONFIG_WORKERS_MAX 32

enum last_command { LAST_COMMAND_OFF, LAST_COMMAND_PERSISTENT };
/* RFC 6856: what a client that did not send UTF8 gets of a message
 * whose headers need UTF-8 mode */
enum utf8_legacy { UTF8_LEGACY_SEND, UTF8_LEGACY_REJECT, UTF8_LEGACY_WRAP };
/* mail_process: who touches a logged-in user's maildrop. shared: the
 * workers as mail_user (system users of another uid: a mail agent);
 * per-user: a mail agent for every login (auth/sysspawn.h) and workers
 * with no mail root in their sandbox */
enum mail_process { MAIL_PROCESS_SHARED, MAIL_PROCESS_PER_USER };
/* LANG catalogues (serve/cmd_utf8.c) */
enum lang_tag { LANG_EN, LANG_I_DEFAULT };

/* What `satchel serve` runs with. The lower layers never see this struct:
 * each gets its own settings (tls for net/tls.c, auth for the auth
 * process; the store gets a maildrop_settings per session), which are
 * filled here in place, so no value exists twice. */
struct config {
	char listen[CONFIG_STR_MAX];     /* "host:port,[v6]:port" */
	char listen_tls[CONFIG_STR_MAX];
	/* KPOP (Kerberos 5 sendauth before the greeting, port 1109): "" =
	 * off; needs gssapi_keytab */
	char kpop_listen[CONFIG_STR_MAX];
	struct tls_server_settings tls;
	struct auth_settings auth;
	char users[CONFIG_STR_MAX];      /* "passwd-file:PATH" (-> auth) */
	char mail[CONFIG_STR_MAX];       /* "maildir:PATTERN" (-> auth) */
	char mail_user[64];
	unsigned mail_process;           /* enum mail_process */
	char auth_user[64];              /* the auth process; "" = mail_user */
	char hostname[256];              /* used in the greeting and APOP */
	char log[CONFIG_STR_MAX];
	char log_level[16];
	unsigned workers;                /* after config_finish: the count */
	bool workers_auto;               /* 0 in the config: one per core */
	int expire_days;                 /* -1 = NEVER; 0 = delete on retrieval */
	unsigned last_command;           /* enum last_command */
	bool utf8;                       /* RFC 6856 UTF8 and LANG */
	unsigned utf8_legacy;            /* enum utf8_legacy */
	unsigned lang_default;           /* enum lang_tag: LANG * */
	char client_workarounds[256];    /* as written (-> the mask) */
	/* XTND XMIT (serve/cmd_xtnd.h) */
	bool xtnd_xmit;
	char xtnd_xmit_relay[CONFIG_STR_MAX]; /* host:port, "" = sendmail */
	char xtnd_xmit_sendmail[256];
	char xtnd_xmit_domain[256];      /* "" = hostname */
	bool xtnd_xmit_any_from;
	uint64_t xtnd_xmit_max_size;     /* octets, 0 = no limit */
	unsigned xtnd_xmit_rate;         /* messages per user and hour */
	unsigned xtnd_xmit_timeout;      /* seconds for the relay */
	unsigned client_workarounds_mask; /* store/msgconv.h bits */
	/* SDPS *ENV (serve/cmd_sdps.h): "no", "yes" (every user) or the
	 * domains whose users get it, as written */
	char sdps[CONFIG_STR_MAX];
	/* listen/listen_tls addresses client_workarounds applies on;
	 * "" = every listener */
	char client_workarounds_listen[CONFIG_STR_MAX];
	unsigned max_line;               /* octets including CRLF (RFC 2449: 255) */
	unsigned max_bad_lines;          /* over-long/garbage lines before close */
	unsigned autologout;             /* seconds, >= 600 (RFC 1939 3.) */
	unsigned max_connections;
	unsigned max_connections_per_ip;
	unsigned lock_stale_timeout;     /* seconds before a lock is stale */
	char node_id[64];                /* "" = host name (store/node.h) */
	char mail_store_marker[4096];    /* store/storeroot.h; "" = none */
	char node_heartbeat_dir[4096];   /* on the shared store; "" = none */
	char node_heartbeat_pgsql[4096]; /* libpq conninfo; "" = none */
	char index_dir[4096];            /* node-local Maildir index cache;
					    "" = in each Maildir */
	unsigned node_heartbeat_timeout; /* seconds: a later node is dead */
	uint64_t maildrop_cache_size;    /* octets of warm snapshots per
					    worker, 0 = none */
	unsigned auth_fail_delay_ms;     /* first failed-login delay, doubles */
	unsigned auth_fail_delay_max_ms;
	char sasl_mechanisms[CONFIG_STR_MAX]; /* as written (-> auth mask) */
	unsigned sasl_max_line;          /* octets of a SASL response line,
					  * with CRLF */
	/* Delivery (satchel deliver, LMTP; docs/satchel.conf.5). The
	 * config table in config.c owns names and defaults. */
	char lmtp_listen[CONFIG_STR_MAX];  /* "host:port,unix:PATH", "" = off */
	/* peers that must begin with a PROXY header ("" = none) */
	char proxy_trusted[CONFIG_STR_MAX];
	bool proxy_trust_ssl;   /* their SSL TLV makes a session TLS */
	/* Proxy mode (serve/session_proxy.c): log in locally, then relay
	 * to the user's backend */
	bool proxy;
	char proxy_backends[CONFIG_STR_MAX]; /* "host:port,..." */
	unsigned proxy_timeout;  /* s: connect + backend login */
	bool proxy_tls;          /* implicit TLS to the backends, verified */
	char proxy_tls_ca[CONFIG_STR_MAX]; /* their CA file, "" = system */
	struct backendlist proxy_backend_list; /* parsed by config_finish */
	/* Operations (serve/metrics_http.h, serve/control.c) */
	char metrics_listen[CONFIG_STR_MAX]; /* "host:port", "" = off */
	char pid_file[CONFIG_STR_MAX];       /* "" = none */
	char lmtp_socket_mode[8];          /* octal, unix: sockets */
	char lmtp_socket_owner[64];        /* "" = mail_user */
	char lmtp_socket_group[64];        /* "" = the owner's group */
	unsigned lmtp_workers;             /* LMTP worker processes */
	unsigned lmtp_max_message_size;    /* octets (SIZE), 0 = no limit */
	unsigned lmtp_recipient_timeout;   /* seconds per recipient (451) */
	/* non-loopback TCP: deliveries without STARTTLS and AUTH allowed
	 * (dangerous: anyone who can connect injects mail) */
	bool lmtp_allow_insecure_remote;
	char lmtp_auth_users[CONFIG_STR_MAX]; /* "a,b": who may AUTH; "" any */
	unsigned delivery_deadline;        /* seconds: satchel deliver's own */
	uint64_t quota_bytes;              /* default per user, 0 = none */
	uint64_t quota_messages;           /* default per user, 0 = none */
	bool quota_permanent;              /* over quota: 5.2.2 / 77 */
	bool mbox_rd;                      /* mboxrd quoting, else mboxo */
	bool delivery_refuse_nul;          /* NUL in a message: 5.6.0 */
	bool sandbox;                      /* util/sandbox.c in children */
	unsigned sandbox_seccomp;          /* enum sandbox_seccomp */
	bool sandbox_landlock;
	char sandbox_mail_root[CONFIG_STR_MAX]; /* "" = from mail */
	unsigned delivery_dedup_days;      /* 0 = no idempotent delivery */
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
/* What every command does: defaults, the file at path (a missing file
 * is fine unless path_given: the built-in defaults then apply), the -o
 * overrides in order, config_finish. 0 or -1 with err. */
int config_load(struct config *cfg, const char *path, bool path_given,
		char *const *overrides, int noverrides, char *err,
		size_t errsize);
/* The first TCP address of lmtp_listen that is not loopback (a wildcard
 * included) into item, or false when there is none: such a port needs
 * TLS and AUTH (issue 8, 6.; satchel serve checks it). */
bool config_lmtp_remote(const struct config *cfg, char *item, size_t size);

/* True when client_workarounds applies to sessions accepted on the
 * listener named name (as written in listen or listen_tls). */
bool config_workarounds_on(const struct config *cfg, const char *name);

/* True when SDPS's *ENV is on for user (a canonical name: the domain is
 * the part after its last '@'); user NULL: for anyone at all (CAPA
 * before login). */
bool config_sdps_on(const struct config *cfg, const char *user);

/* Logs a warning for each value that is used but unwise or adjusted
 * (workers clamped, autologout below RFC 1939's minimum, ...). */
void config_warn(const struct config *cfg);

/* Prints every key with its effective value, in file syntax. */
void config_print(const struct config *cfg, FILE *out);

#endif
