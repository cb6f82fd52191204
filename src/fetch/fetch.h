/* fetch.h: one account of `satchel fetch` and what fetching it ends
 * with. fetch_main.c fills the account from the command line (or an
 * accounts file), fetch_session.c connects and logs in, fetch_run.c
 * moves the mail exactly once. */
#ifndef SATCHEL_FETCH_H
#define SATCHEL_FETCH_H

#include <stdbool.h>
#include <stdint.h>

#include "fetch/popurl.h"

/* sysexits, as outside tools rely on them (satchel.1, fetch). */
enum fetch_exit {
	FETCH_EXIT_OK = 0,
	FETCH_EXIT_USAGE = 64,
	FETCH_EXIT_UNAVAILABLE = 69,   /* the server cannot serve us */
	FETCH_EXIT_IOERR = 74,         /* local delivery or state failed */
	FETCH_EXIT_TEMPFAIL = 75,      /* network, [IN-USE], [SYS/TEMP] */
	FETCH_EXIT_PROTOCOL = 76,      /* the server broke POP3 */
	FETCH_EXIT_NOPERM = 77,        /* login refused */
	FETCH_EXIT_CONFIG = 78,
};

enum fetch_tls {
	FETCH_TLS_DEFAULT,     /* implicit for pops://, else STARTTLS */
	FETCH_TLS_IMPLICIT,
	FETCH_TLS_STARTTLS,    /* required: no STLS, no login */
	FETCH_TLS_NONE,        /* loopback only, unless allow_plaintext */
};

/* STAT counts above this are a hostile or broken server */
#define FETCH_MESSAGES_MAX 1000000u

struct fetch_account {
	char name[600];             /* user@host:port, or the section */
	struct popurl url;
	enum fetch_tls tls;
	bool allow_plaintext;
	const char *cafile;         /* NULL: the system store */
	const char *pin;            /* sha256//BASE64 of the SPKI, or NULL */
	const char *cert;           /* a client certificate (PEM), or NULL */
	const char *key;            /* its key; NULL: in the cert's file */
	const char *dest;           /* fetch_dest.h spec */
	const char *rcpt;           /* LMTP/SMTP recipient */
	bool keep;                  /* leave the mail on the server */
	unsigned keep_days;         /* keep, then delete after N days */
	uint64_t skip_larger;       /* octets; 0: no limit */
	uint64_t delete_larger;     /* larger ones deleted unfetched; 0:
				       none */
	unsigned max_messages;      /* fetched per session; 0: no cap */
	uint64_t max_bytes;         /* octets fetched per session; 0: no
				       cap (a message is never cut) */
	bool ambiguous_skip;        /* a message whose delivery a kill
				       made unknown (MDA, LMTP, SMTP):
				       record it unfetched, not again */
	const char *password_file;
	const char *password_command;
	const char *state_dir;
	unsigned timeout_secs;      /* any step without progress */
	unsigned session_secs;      /* the whole session */
	bool accept_new_uidls;      /* a mass UIDL change: fetch anyway */
	bool match_headers;         /* ... or find the stored ones by their
				       headers (fetch_match.c) */
	bool sdps;                  /* ask *ENV for each message's
				       envelope (fetch_sdps.c) */
	bool preview;               /* list the new ones (TOP), fetch and
				       change nothing */
	const char *skip_header;    /* "Name: text": matching ones stay on
				       the server; NULL: none */
	bool json;                  /* events on stdout */
	bool quiet;                 /* no log line on success */
};

/* Is rule a --skip-header rule: "Name: text", a field name (printable
 * ASCII, no space or colon) and some text? */
bool fetch_skip_header_valid(const char *rule);

/* Fetches one account. Returns a fetch_exit. */
int fetch_run(const struct fetch_account *account);

/* Prints what the server offers (greeting, CAPA before and after
 * login, TLS). Returns a fetch_exit. */
int fetch_serverinfo(const struct fetch_account *account);

#endif
