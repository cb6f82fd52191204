/* usercache.h: the user cache of the database drivers that ask a server
 * (userdb_pgsql.c): what the database answered for a login name, a
 * record (positive) or "no such user" (negative), each with its TTL.
 *
 * An entry past its TTL is no answer (the driver asks again) but stays
 * for stale_max more, so that while the database cannot answer a user
 * seen before still logs in: the driver uses it then and logs it as
 * stale. Errors are never put here. A record holds the user's stored
 * secrets, never a password a client sent: verification always runs
 * against it, so a wrong password cannot succeed from the cache.
 *
 * Names come from clients (negative entries): the two kinds are bounded
 * separately, oldest first out, so a flood of unknown names cannot push
 * real users out. Times are milliseconds of a monotonic clock, passed
 * in (the tests choose them). */
#ifndef SATCHEL_USERCACHE_H
#define SATCHEL_USERCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/userdb_sqlrow.h"

struct usercache_settings {
	uint64_t positive_ttl_ms;
	uint64_t negative_ttl_ms;
	uint64_t stale_max_ms;      /* use past the TTL, on errors only */
	size_t max_entries;         /* per kind */
};

enum usercache_hit {
	USERCACHE_MISS,             /* nothing, or older than TTL + stale */
	USERCACHE_FRESH,            /* within its TTL */
	USERCACHE_EXPIRED,          /* past its TTL, within stale_max */
};

struct usercache;

/* NULL when out of memory. */
struct usercache *usercache_create(const struct usercache_settings *set);
void usercache_destroy(struct usercache **cp);

/* The entry of user: *record_r is the record, NULL for "no such user";
 * *age_ms_r how long ago the database said so. A record stays valid
 * until the next usercache_put/drop/clear of any name (the drivers call
 * those only between requests). */
enum usercache_hit usercache_find(const struct usercache *c, const char *user,
				  uint64_t now_ms,
				  const struct sqlrow_record **record_r,
				  uint64_t *age_ms_r);
/* Stores the database's answer for user: record (taken over, freed by
 * the cache) or NULL for "no such user"; replaces an older entry. -1
 * when out of memory (record freed). */
int usercache_put(struct usercache *c, const char *user,
		  struct sqlrow_record *record, uint64_t now_ms);
/* Forgets user (a NOTIFY, satchel auth flush USER). */
void usercache_drop(struct usercache *c, const char *user);
/* Forgets everything. */
void usercache_clear(struct usercache *c);
/* Every entry past its TTL at once (kept for stale use): after a gap in
 * which invalidations may have been missed. */
void usercache_expire_all(struct usercache *c, uint64_t now_ms);
/* Entries held: positive and negative. */
size_t usercache_count(const struct usercache *c, bool positive);

#endif
