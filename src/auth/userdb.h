/* userdb.h: the user databases behind `users =`, one interface for all of
 * them: a comma-separated chain of drivers (userdb_private.h), asked in
 * order; the first that knows a user answers for it.
 *
 *   passwd-file:PATH   the Dovecot-compatible file (passwd.h), held in
 *                      memory, reloaded when it changes
 *   sqlite:PATH        an SQLite database (the schema `satchel user`
 *                      makes, or the admin's own through the sql_*_query
 *                      settings), read per user with bound parameters
 *   pgsql:CONNINFO     PostgreSQL (userdb_pgsql.c): the same queries,
 *                      asked without blocking, answers cached
 *   ldap:URIS          an LDAP directory (userdb_ldap.c): one search per
 *                      user, without blocking, answers cached
 *   pam[:SERVICE]      the system's accounts (userdb_pam.c), passwords
 *                      checked by PAM in helper processes
 *
 * Every driver hands out the same record, struct passwd_entry, so the
 * verification path, the mechanisms and delivery never know where a user
 * came from. A record stays valid until the next userdb_check() (which
 * the auth process runs before each request), userdb_process() or
 * userdb_flush(): a driver may drop or replace its records only there.
 *
 * Asynchronous mode (the auth process, userdb_set_async): a driver that
 * has to ask a server answers USERDB_PENDING and asks; the caller waits
 * on userdb_poll_fds(), runs userdb_process() and, when that says a
 * lookup finished, asks again: the answer is then held (or the failure
 * remembered) and comes at once. Without it (the tools: satchel deliver,
 * user, migrate) userdb_get() waits for the answer itself. */
#ifndef SATCHEL_USERDB_H
#define SATCHEL_USERDB_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>

#include "auth/auth_settings.h"
#include "auth/passwd.h"

#define USERDB_CHAIN_MAX 4

enum userdb_status {
	USERDB_FOUND,
	USERDB_UNKNOWN,
	USERDB_ERROR,   /* the database could not answer: a temporary
			   failure, never a wrong password */
	USERDB_PENDING, /* asynchronous mode only: asked, ask again after
			   userdb_process() says a lookup finished */
};

/* What a check a database makes itself (userdb_verify_submit) says. */
enum userdb_verdict {
	USERDB_VERDICT_MATCH,
	USERDB_VERDICT_MISMATCH,     /* wrong password, unknown user, or an
					account refused (expired) */
	USERDB_VERDICT_UNAVAILABLE,  /* could not be checked: [SYS/TEMP] */
};

struct userdb_verify {
	const char *user;            /* the canonical login name */
	const char *password;        /* copied: the caller may wipe it */
	const char *rhost;           /* the client's address, for the log */
	void *cookie;                /* the caller's, handed back */
};

/* descriptors userdb_poll_fds() may return at most */
#define USERDB_POLL_MAX 32

struct userdb;

/* Checks a users = value without opening anything (the config's check).
 * 0, or -1 with *error_r. */
int userdb_spec_check(const char *spec, const char **error_r);
/* Checks the settings of the drivers set->users names (ldap_base is
 * set, the filter and the map parse), opening nothing. 0, or -1 with
 * *error_r. */
int userdb_settings_check(const struct auth_settings *set,
			  const char **error_r);
/* The path of the first driver named driver ("passwd-file", "sqlite")
 * in spec into buf; false when there is none. */
bool userdb_spec_path(const char *spec, const char *driver, char *buf,
		      size_t size);
/* True when spec names driver ("pam"). */
bool userdb_spec_has(const char *spec, const char *driver);

/* Opens every driver of set->users. A passwd-file that cannot be read
 * yet is no error (it is loaded when it appears: lookups fail
 * temporarily meanwhile); a bad spec or an SQLite database that cannot
 * be opened is. 0, or -1 with *error_r. */
int userdb_open(const struct auth_settings *set, struct userdb **db_r,
		const char **error_r);
/* Notices changes (cheap: a stat, a pragma): reloads a changed
 * passwd-file, drops SQLite records read before a commit of another
 * process. force: reload whatever changed or not (SIGHUP). True when
 * the set of users may have changed (callers recompute what they
 * derive from all users). */
bool userdb_check(struct userdb *db, bool force);
/* Looks user up along the chain. */
enum userdb_status userdb_get(struct userdb *db, const char *user,
			      const struct passwd_entry **entry_r);
/* The same, NULL for unknown users, errors and pending lookups alike. */
const struct passwd_entry *userdb_lookup(struct userdb *db, const char *user);
/* Only what the drivers hold, fresh or past its TTL; never asks a
 * server (never PENDING: what is not held is UNKNOWN). For the second
 * look at a user during one login (after its hash) and for bookkeeping
 * (LOGIN-DELAY of every user), which must not cause queries. */
const struct passwd_entry *userdb_lookup_cached(struct userdb *db,
						const char *user);

/* Asynchronous mode on (see above). */
void userdb_set_async(struct userdb *db, bool async);
/* The descriptors the drivers wait on (at most max), and in *timeout_ms
 * (lowered, never raised; -1 none) when userdb_process must run. */
size_t userdb_poll_fds(struct userdb *db, struct pollfd *fds, size_t max,
		       int *timeout_ms);
/* Lets the drivers read, connect and time out; never blocks. True when
 * a lookup finished (requests that got USERDB_PENDING may ask again). */
bool userdb_process(struct userdb *db);
/* Forgets what the drivers hold about user (NULL: everyone), so the
 * next lookup asks the database (satchel auth flush). */
void userdb_flush(struct userdb *db, const char *user);

/* Calls fn for every user each driver can list (a passwd-file always,
 * SQLite with its sql_iterate_query), until fn returns false. */
typedef bool userdb_each_fn(const struct passwd_entry *entry, void *context);
void userdb_each(struct userdb *db, userdb_each_fn *fn, void *context);
/* True when a driver of the chain checks passwords only as sent (LDAP
 * bind mode): mechanisms that need a stored secret cannot serve its
 * users, so they are not offered (auth_process.c's hello). */
bool userdb_plaintext_only(const struct userdb *db);
/* True when stored is a secret a driver checks itself ({PAM}SERVICE):
 * it goes to userdb_verify_submit, never to a hash. */
bool userdb_verify_own(const char *stored);
/* Asynchronous mode: hands the check of v against stored to the driver
 * that makes it; its verdict comes back from userdb_verify_take() after
 * a userdb_process() (with a failure delay already waited out). 0, or
 * -1 when no driver can check it now (the caller answers [SYS/TEMP]). */
int userdb_verify_submit(struct userdb *db, const char *stored,
			 const struct userdb_verify *v);
/* A finished check: true with its cookie and verdict, false when none
 * is ready. */
bool userdb_verify_take(struct userdb *db, void **cookie_r,
			enum userdb_verdict *verdict_r);
/* The secret the first driver that has one wants unknown users checked
 * against (PAM: "{PAM}SERVICE", so an unknown name goes through PAM and
 * its delay like a wrong password); NULL when none has. */
const char *userdb_dummy(const struct userdb *db);

/* Users the chain holds in memory or could list (for the log). */
const char *userdb_describe(const struct userdb *db);

void userdb_close(struct userdb **dbp);

#endif
