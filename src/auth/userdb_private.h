/* userdb_private.h: what a user database driver provides (userdb.c
 * chains them; userdb_passwd.c, userdb_sqlite.c, userdb_pgsql.c, userdb_ldap.c,
 * userdb_pam.c implement them). */
#ifndef SATCHEL_USERDB_PRIVATE_H
#define SATCHEL_USERDB_PRIVATE_H

#include "auth/userdb.h"

struct userdb_driver {
	const char *name;            /* the prefix in users = ("sqlite") */
	bool path_optional;          /* "pam" alone is "pam:" */
	/* optional: checks path without opening anything (the config's
	 * check). 0, or -1 with *error_r. */
	int (*spec_check)(const char *path, const char **error_r);
	/* optional: checks the driver's keys of set, opening nothing */
	int (*settings_check)(const struct auth_settings *set,
			      const char **error_r);
	/* Opens the database at path; *state_r is the driver's. 0, or -1
	 * with *error_r. */
	int (*open)(const char *path, const struct auth_settings *set,
		    void **state_r, const char **error_r);
	/* userdb_check() for this driver: true when users may have
	 * changed. */
	bool (*check)(void *state, bool force);
	/* cached_only: answer from what is held, never ask a server */
	enum userdb_status (*get)(void *state, const char *user,
				  bool cached_only,
				  const struct passwd_entry **entry_r);
	/* false from fn stops; the driver stops too when it cannot list */
	void (*each)(void *state, userdb_each_fn *fn, void *context);
	void (*close)(void *state);
	/* optional (NULL): drivers that ask a server (userdb.h) */
	void (*set_async)(void *state, bool async);
	size_t (*poll_fds)(void *state, struct pollfd *fds, size_t max,
			   int *timeout_ms);
	bool (*process)(void *state);
	/* forget user (NULL: all) */
	void (*flush)(void *state, const char *user);
	/* optional: true when its users' passwords can only be checked
	 * as sent (LDAP bind mode): no stored secret for SCRAM, CRAM-MD5,
	 * APOP */
	bool (*plaintext_only)(void *state);
	/* optional: drivers that check passwords themselves (userdb.h's
	 * userdb_verify_submit): -1 when stored is not theirs or the check
	 * cannot be made */
	int (*verify_submit)(void *state, const char *stored,
			     const struct userdb_verify *v);
	bool (*verify_take)(void *state, void **cookie_r,
			    enum userdb_verdict *verdict_r);
	/* optional: the secret unknown users are checked against, so they
	 * cost what this driver's users cost; NULL: none */
	const char *(*dummy)(void *state);
};

extern const struct userdb_driver userdb_passwd_driver;
extern const struct userdb_driver userdb_sqlite_driver;
extern const struct userdb_driver userdb_pgsql_driver;
extern const struct userdb_driver userdb_ldap_driver;
extern const struct userdb_driver userdb_pam_driver;

#endif
