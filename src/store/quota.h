/* quota.h: Maildir++ quota (the "maildirsize" file as Courier, Dovecot
 * and maildrop write it), so the numbers agree with other software on
 * the same Maildir.
 *
 * File: first line the limits ("1000000S,1000C"), then one line per
 * change "bytes count" (negative for removals). Updated in O(1) per
 * delivery by appending one line (O_APPEND, one write); recalculated
 * from the ,S= sizes of new/ and cur/ when missing, unreadable, or
 * over the size at which Maildir++ says to rebuild it (5120 octets). */
#ifndef SATCHEL_QUOTA_H
#define SATCHEL_QUOTA_H

#include <stdbool.h>
#include <stdint.h>

struct quota_limits {
	uint64_t bytes;            /* 0 = no limit */
	uint64_t messages;         /* 0 = no limit */
};

/* Would adding one message of size octets to the Maildir at path go
 * over limits? 0 with *over_r, or -1 with *error_r (an I/O error: the
 * caller answers a temporary failure). With both limits 0 it is always
 * 0 with *over_r false and touches nothing. */
int quota_check(const char *maildir, const struct quota_limits *limits,
		uint64_t size, bool *over_r, const char **error_r);
/* Records a delivered (count 1) or removed (count -1, bytes negative)
 * message: appends to an existing file only (a missing one is rebuilt at
 * the next check). Best effort: a failure only makes the next check
 * rebuild the file. No-op when there are no limits; limits NULL: the
 * limits are not known here (a POP3 session removing messages), append
 * whenever the file exists. */
void quota_add(const char *maildir, const struct quota_limits *limits,
	       int64_t bytes, int64_t count);
/* Is there a maildirsize file in the Maildir (kept current by
 * quota_add with limits NULL)? */
bool quota_file_exists(const char *maildir);

#endif
