/* lock.h: the locks a maildrop session takes.
 *
 * Session lock: a file made with O_EXCL holding "hostname pid timestamp",
 * held for the whole POP3 session (RFC 1939 8.: exclusive access), so a
 * second login gets [IN-USE]. It works across processes and hosts that
 * share the store. The holder refreshes its mtime; a lock is stale when
 * its mtime is older than stale_secs, or when it names this host and a pid
 * that no longer exists. A stale lock is removed under a short-lived
 * "<path>.break" lock and re-checked by inode after renaming it aside, so
 * two takers never remove each other's fresh lock.
 *
 * Mbox lock: "<mbox>.lock" dotlock (as Postfix, procmail and mutt make it)
 * plus an fcntl write lock and a flock on the mbox fd, in that order, so
 * every MDA that locks at all waits (Debian's Postfix local and procmail:
 * dotlock + fcntl; flock where configured). Taken only while scanning or
 * compacting, so the MTA can append during the session, and by the
 * appender (delivery_mbox.c). All are retried for at most about 2 seconds
 * (the appender: until its deadline), which blocks the caller that long
 * at worst.
 */
#ifndef SATCHEL_LOCK_H
#define SATCHEL_LOCK_H

#include <time.h>

#include "store/maildrop.h"
#include "store/store_limits.h"


/* What UPDATE answers when lock_file_refresh fails just before it. */
#define LOCK_LOST_NOTHING_CHANGED \
	"the session lock is no longer this session's (taken over while " \
	"this node was unreachable): nothing deleted"

struct lock_file;
struct lock_mbox;

/* Takes the session lock at path (stale_secs 0 = default). Returns
 * MAILDROP_OK with *lock_r, or MAILDROP_IN_USE / MAILDROP_TEMP /
 * MAILDROP_PERM with *error_r set (always: the log shows it). */
int lock_file_take(const char *path, unsigned stale_secs,
		   struct lock_file **lock_r, const char **error_r);
/* Touches the lock and checks it is still ours: the file at its path is
 * the one we made (open + fstat, our token inside), and, with node
 * heartbeats (node.h), this node's heartbeat is not older than the
 * timeout next to the mtime just set. Returns 0, or -1 when the lock is
 * no longer ours (removed or replaced by someone who judged it stale) or
 * may be taken at any moment (this node is fenced off). UPDATE calls it
 * before changing anything. */
int lock_file_refresh(struct lock_file *lock);
/* Removes the lock file if it is still ours, frees, sets *lockp = NULL.
 * NULL-safe. */
void lock_file_release(struct lock_file **lockp);

/* Takes "<mbox_path>.lock", an fcntl write lock and a flock on fd (fd -1:
 * the mbox does not exist; dotlock only; no flock on NFS, see lock.c). A directory where we may not create the
 * dotlock (EACCES, as /var/mail often is without a mail group) means
 * fcntl only. Returns MAILDROP_OK with *lock_r, MAILDROP_IN_USE after
 * LOCK_RETRY_MSECS, or MAILDROP_TEMP with *error_r. */
int lock_mbox_take(const char *mbox_path, int fd, struct lock_mbox **lock_r,
		   const char **error_r);
/* The same, waiting until deadline (CLOCK_MONOTONIC) rather than
 * LOCK_RETRY_MSECS (an MDA's append, bounded by its delivery deadline),
 * and when one lock is busy, all those taken in that round are released
 * before the back-off (lock_mbox_take keeps them), so a program taking
 * them in another order, or waiting for one we hold, can go on while we
 * wait. Every attempt is non-blocking in both. */
int lock_mbox_take_until(const char *mbox_path, int fd,
			 const struct timespec *deadline,
			 struct lock_mbox **lock_r, const char **error_r);
/* Drops the flock and fcntl lock and removes the dotlock. NULL-safe. */
void lock_mbox_release(struct lock_mbox **lockp);

#endif
