/* userdb_remote.h: what the drivers that ask a server over the network
 * (userdb_pgsql.c, userdb_ldap.c) share: the cache in front of them
 * (usercache.h), the queue of lookups under way, the outcomes of the
 * last round, and the rules of the answer:
 *
 *   - a fresh cache entry answers; an entry past its TTL answers only
 *     for cached_only asks and for the requests that waited for the
 *     lookup just finished (whatever the TTL, 0 included);
 *   - otherwise the server is asked (USERDB_PENDING), once per name
 *     however many requests wait for it;
 *   - when the server cannot answer (the driver says it is unavailable,
 *     or the lookup just failed) an entry past its TTL still answers,
 *     logged as stale; a name never seen gets USERDB_ERROR
 *     ([SYS/TEMP]). Failures are never cached: they are remembered only
 *     until the next round (remote_db_round). */
#ifndef SATCHEL_USERDB_REMOTE_H
#define SATCHEL_USERDB_REMOTE_H

#include <stdbool.h>
#include <stdint.h>

#include "auth/auth_settings.h"
#include "auth/usercache.h"
#include "auth/userdb.h"

/* lookups queued or in flight at most; more get the stale answer */
#define REMOTE_LOOKUPS_MAX 4096
#define REMOTE_FINISHED_MAX 4096

struct remote_lookup {
	struct remote_lookup *next;
	bool sent, retried, found;
	bool many;                     /* ldap: a second entry came */
	unsigned stage;                /* pgsql: 0 password, 1 user query */
	uint64_t queued_ms;            /* since when it waits to be sent */
	struct sqlrow_line line;       /* what the server said so far */
	char user[];
};

struct remote_finished;

struct remote_db {
	const char *name;              /* "pgsql": log lines and records */
	struct usercache *cache;
	struct remote_lookup *lookups; /* queued and in flight */
	unsigned n_lookups;
	struct remote_finished *finished; /* in the last round */
	unsigned n_finished;
	bool completed;                /* a lookup finished this round */
};

uint64_t remote_now_ms(void);

/* The cache sized by set's user_cache_* keys. 0, or -1 with *error_r. */
int remote_db_init(struct remote_db *r, const char *name,
		   const struct auth_settings *set, const char **error_r);
void remote_db_deinit(struct remote_db *r);

/* The answer for user by the rules above. available: the driver could
 * ask now. PENDING with *new_r set: a lookup was queued, the driver
 * fills in its stage and sends it; PENDING with *new_r NULL: one was
 * under way already. */
enum userdb_status remote_db_get(struct remote_db *r, const char *user,
				 bool cached_only, bool available,
				 const struct passwd_entry **entry_r,
				 struct remote_lookup **new_r);

/* l is answered: l->found with l->line, or no such user. Cached;
 * l freed. */
void remote_lookup_finish(struct remote_db *r, struct remote_lookup *l,
			  uint64_t now_ms);
/* l failed (logged with why): not cached; l freed. */
void remote_lookup_failed(struct remote_db *r, struct remote_lookup *l,
			  const char *why);
/* l waits to be sent again: what it gathered is dropped. */
void remote_lookup_requeue(struct remote_lookup *l, uint64_t now_ms);

/* The start of the driver's process(): the last round's outcomes go. */
void remote_db_round(struct remote_db *r);
/* Fails the lookups not sent: every one when !up (down_why), else those
 * waiting longer than wait_ms (late_why). */
void remote_db_expire(struct remote_db *r, bool up, uint64_t now_ms,
		      uint64_t wait_ms, const char *down_why,
		      const char *late_why);
/* Lowers *timeout_ms (-1 none) to when an unsent lookup has waited
 * wait_ms. */
void remote_db_timeout(const struct remote_db *r, uint64_t now_ms,
		       uint64_t wait_ms, int *timeout_ms);

/* userdb_check(force) and userdb_flush() for such a driver. */
void remote_db_check(struct remote_db *r, bool force);
void remote_db_flush(struct remote_db *r, const char *user);

#endif
