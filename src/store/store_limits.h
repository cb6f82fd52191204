/* store_limits.h: the fixed limits of the mail store, each with its
 * reason. Limits an administrator may want to change are config keys
 * (lock_stale_timeout) handed down in maildrop_settings. */
#ifndef SATCHEL_STORE_LIMITS_H
#define SATCHEL_STORE_LIMITS_H

/* A session lock whose holder stopped refreshing it is stale after this
 * long (the default of lock_stale_timeout). */
#define LOCK_STALE_SECS_DEFAULT 300
/* A dotlock older than this is stale: mutt and procmail use 5 minutes. */
#define LOCK_DOTLOCK_STALE_SECS 300
/* Total wait for all mbox locks (dotlock, fcntl, flock) before
 * -ERR [IN-USE]; the wait runs in a store job, never on the loop. */
#define LOCK_RETRY_MSECS 2000

/* Delivery ids kept per maildrop (dedup.c). A retried transaction comes
 * back within hours, so the newest ids are the ones that matter: at most
 * this many are kept (about 44 octets each, so the file read at every
 * delivery stays under 3 MB), the oldest dropped at compaction. */
#define DEDUP_MAX_ENTRIES 50000
/* Compaction only once the file has this many lines (a small file is
 * cheaper to read than to rewrite). */
#define DEDUP_COMPACT_MIN 1024

#endif
