/* passwd.h: the passwd-file user database, Dovecot-compatible:
 *
 *   user:{SCHEME}secret:uid:gid:gecos:home:shell:extra fields
 *
 * Only the first two fields are required. Everything after the seventh ':'
 * is the extra fields: blank-separated key=value pairs (a "userdb_" prefix
 * is accepted on each key): mail=maildir:~/Maildir, expire=DAYS,
 * login_delay=SECONDS, quota_bytes=OCTETS, quota_messages=COUNT (the
 * delivery quota), client_workarounds=WORD,WORD (store/msgconv.h: the
 * user's client workarounds instead of the config's; "none" for none),
 * and secret={SCHEME}... (repeatable): more secrets
 * for the same password in other schemes, so one user can have, say, a
 * {CRYPT} hash for USER/PASS and a {SCRAM-SHA-256} secret for SCRAM
 * (the password field stays the one Dovecot reads; each scheme at most
 * once per user, at most PASSWD_SECRETS_MAX extra). Other keys are ignored, except Dovecot's
 * restrictions satchel does not implement ("nologin", "allow_nets"), which
 * disable the account rather than being silently dropped.
 * Blank lines and lines starting with '#' are skipped. A user may appear
 * once; a duplicate is an error for the whole file, as is a line longer
 * than PASSWD_LINE_MAX, a NUL byte, a bad number, a user name with control
 * bytes or longer than PASSWD_USER_MAX, a relative home, or an extra
 * field starting with ':' (a miscounted line).
 * The file is trusted (admin-written) but parsed defensively. */
#ifndef SATCHEL_PASSWD_H
#define SATCHEL_PASSWD_H

#include <stdbool.h>
#include <stddef.h>

#include "auth/auth_limits.h"


struct passwd_entry {
	char *user;
	char *password;     /* "{SCHEME}secret", or a bare crypt hash */
	char *secrets[PASSWD_SECRETS_MAX]; /* secret= extra fields */
	unsigned n_secrets;
	long long uid, gid; /* -1 when empty */
	char *home;         /* NULL when empty */
	char *mail;         /* NULL when not set */
	/* proxy mode: this user's backend, one numeric host:port
	 * (proxy_host=), checked at load; NULL when not set */
	char *proxy_host;
	int expire_days;    /* -1 when not set */
	int login_delay;    /* -1 when not set */
	/* delivery quota (quota_bytes=, quota_messages=): -1 when not set
	 * (the config's default applies), 0 = no limit for this user */
	long long quota_bytes, quota_messages;
	/* client_workarounds= (store/msgconv.h bits): -1 when not set */
	int workarounds;
	bool disabled;      /* nologin / allow_nets: never authenticates */
};

struct passwd_db;

/* Loads the file. Returns 0, or -1 with err (naming file and line). */
int passwd_db_load(const char *path, struct passwd_db **db_r,
		   char *err, size_t errsize);
/* NULL when the user is not there. The entry lives as long as the db. */
const struct passwd_entry *passwd_db_lookup(const struct passwd_db *db,
					    const char *user);
/* Number of users in the db, and the i-th of them (0 <= i < count) in
 * name order. */
size_t passwd_db_count(const struct passwd_db *db);
const struct passwd_entry *passwd_db_entry(const struct passwd_db *db,
					   size_t i);
void passwd_db_destroy(struct passwd_db **dbp); /* wipes secrets */

/* Finds the user's secret whose scheme name (between the braces, case
 * insensitive) is scheme: the password field first, then the secret=
 * fields. NULL when there is none. For "PLAIN", {CLEAR} and {CLEARTEXT}
 * count too. */
const char *passwd_entry_secret(const struct passwd_entry *entry,
				const char *scheme);

/* Parses one line (modifies it). Returns 0, 1 for a blank/comment line,
 * or -1 with *error_r. Exposed for tests. */
int passwd_parse_line(char *line, struct passwd_entry *entry_r,
		      const char **error_r);

/* ---- line by line, for tools that edit the file in place ----
 *
 * The iterator walks a passwd-file's text (the caller's, not copied, not
 * modified) and yields every line: its raw bytes, where its fields are,
 * and what passwd_parse_line makes of it, under the same rules as
 * passwd_db_load (except duplicates, which need the whole file). Lines it
 * cannot parse are yielded too, so an editor can keep them as they are. */

enum passwd_line_kind {
	PASSWD_LINE_USER,   /* a record: entry is filled in */
	PASSWD_LINE_SKIP,   /* blank or a comment */
	PASSWD_LINE_BAD,    /* refused by the parser: error says why */
};

/* user:password:uid:gid:gecos:home:shell and the extra fields */
#define PASSWD_FIELDS 8

struct passwd_span {
	size_t off, len;    /* within passwd_line.raw */
};

struct passwd_line {
	enum passwd_line_kind kind;
	unsigned lineno;            /* 1-based */
	const char *raw;            /* the line in the text, without ending */
	size_t len;
	const char *ending;         /* "\n", "\r\n", "\r" or "" at the end */
	size_t ending_len;
	/* the line split at its first seven ':' as the parser splits it,
	 * whatever its kind: n_fields is 1 for a line without ':', and
	 * fields[7] (when n_fields == 8) is the extra fields verbatim */
	struct passwd_span fields[PASSWD_FIELDS];
	unsigned n_fields;
	struct passwd_entry entry;  /* USER: points into the iterator */
	const char *error;          /* BAD: static text */
};

struct passwd_iter {
	const char *pos, *end;
	unsigned lineno;
	char copy[PASSWD_LINE_MAX + 1]; /* the parsed line entry points to */
};

void passwd_iter_init(struct passwd_iter *it, const char *text, size_t len);
/* The next line into *line_r (valid until the next call or deinit), or
 * false at the end of the text. */
bool passwd_iter_next(struct passwd_iter *it, struct passwd_line *line_r);
/* Wipes the parsed copy (it may hold a plaintext secret). */
void passwd_iter_deinit(struct passwd_iter *it);
/* True when the extra field [field, field + len) is a secret= field
 * ("userdb_secret=" too), the rule the parser applies. */
bool passwd_extra_is_secret(const char *field, size_t len);

#endif
