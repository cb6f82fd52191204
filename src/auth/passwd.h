/* passwd.h: the passwd-file user database, Dovecot-compatible:
 *
 *   user:{SCHEME}secret:uid:gid:gecos:home:shell:extra fields
 *
 * Only the first two fields are required. Extra fields are blank-separated
 * key=value pairs: mail=maildir:~/Maildir (or userdb_mail=), expire=DAYS,
 * login_delay=SECONDS. Blank lines and lines starting with '#' are skipped.
 * A user may appear once; a duplicate is an error for the whole file. */
#ifndef SATCHEL_PASSWD_H
#define SATCHEL_PASSWD_H

#include <stdbool.h>
#include <stddef.h>

struct passwd_entry {
	char *user;
	char *password;     /* "{SCHEME}secret", or a bare crypt hash */
	long long uid, gid; /* -1 when empty */
	char *home;         /* NULL when empty */
	char *mail;         /* NULL when not set */
	int expire_days;    /* -1 when not set */
	int login_delay;    /* -1 when not set */
};

struct passwd_db;

/* Loads the file. Returns 0, or -1 with err (naming file and line). */
int passwd_db_load(const char *path, struct passwd_db **db_r,
		   char *err, size_t errsize);
/* NULL when the user is not there. The entry lives as long as the db. */
const struct passwd_entry *passwd_db_lookup(const struct passwd_db *db,
					    const char *user);
void passwd_db_destroy(struct passwd_db **dbp); /* wipes secrets */

/* Parses one line (modifies it). Returns 0, 1 for a blank/comment line,
 * or -1 with *error_r. Exposed for tests. */
int passwd_parse_line(char *line, struct passwd_entry *entry_r,
		      const char **error_r);

#endif
