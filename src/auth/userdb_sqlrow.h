/* userdb_sqlrow.h: what every SQL user database driver (userdb_sqlite.c,
 * userdb_pgsql.c) shares: the query template (%u %n %d as numbered
 * parameters, never text pasted into the SQL), the parameter values for
 * a login name, and the mapping of one result row to a user record.
 *
 * Columns are taken by name: user, password, secrets (blank-separated
 * {SCHEME} secrets), uid, gid, home, mail, quota_bytes, quota_messages,
 * login_delay, expire (Dovecot's documented names), client_workarounds
 * (comma-separated); others are ignored,
 * a NULL value is "not set". The row becomes a passwd-file line and goes
 * through the passwd-file's parser (passwd.h), so a record means the
 * same whichever database holds it, and a value the file could not hold
 * (a ':' in a field, a blank in an extra value) is refused as it would
 * be there. */
#ifndef SATCHEL_USERDB_SQLROW_H
#define SATCHEL_USERDB_SQLROW_H

#include <stdbool.h>
#include <stddef.h>

#include "auth/passwd.h"

/* The parameters %u (the name as given), %n (its local part), %d (its
 * domain, "" without one) are numbered 1, 2, 3. */
#define SQLROW_PARAMS 3

enum sqlrow_style {
	SQLROW_QMARK,    /* SQLite: ?1 ?2 ?3 */
	SQLROW_DOLLAR,   /* PostgreSQL: $1 $2 $3 */
};

/* tmpl with %u %n %d turned into parameters of style (%% is %) into
 * out. 0, or -1 with *error_r (another variable, no room). */
int sqlrow_template(const char *tmpl, enum sqlrow_style style, char *out,
		    size_t size, const char **error_r);

/* The values of the parameters for user: values[i] (not NUL-terminated
 * for %n) of lens[i] octets. They point into user. */
void sqlrow_params(const char *user, const char *values[SQLROW_PARAMS],
		   int lens[SQLROW_PARAMS]);

/* One user's columns, gathered from one or two rows (the password and
 * the user query). Holds secrets: sqlrow_line_wipe() when done. */
struct sqlrow_line {
	char user[PASSWD_USER_MAX + 1];
	char password[PASSWD_LINE_MAX];
	char ids[2][24];
	char home[PASSWD_LINE_MAX];
	char extra[PASSWD_LINE_MAX];
	size_t extra_len;
	bool bad;                /* a value the passwd-file could not hold */
};

/* Takes column name's value (len octets, and a NUL after them, as
 * PQgetvalue and sqlite3_column_text give it; a NUL inside marks the
 * line bad). NULL value: not set. */
void sqlrow_column(struct sqlrow_line *l, const char *name,
		   const char *value, size_t len);

/* A user record: its entry points into line. */
struct sqlrow_record {
	struct sqlrow_record *next;    /* for the caller's lists */
	struct passwd_entry entry;
	size_t line_len;               /* the parser cuts line at fields */
	char line[];
};

/* l (found for the login name user) as a record. The row may omit the
 * user column (then it is user); a row that names another user is
 * refused (a name must never select another's maildrop). NULL with
 * *error_r when refused or out of memory; db names the database in the
 * log line of a refusal. */
struct sqlrow_record *sqlrow_record_make(struct sqlrow_line *l,
					 const char *user, const char *db,
					 const char **error_r);
/* Wipes the record's secrets and frees it; *rp = NULL. */
void sqlrow_record_free(struct sqlrow_record **rp);

void sqlrow_line_wipe(struct sqlrow_line *l);

#endif
