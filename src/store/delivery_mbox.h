/* delivery_mbox.h: appending one message to an mbox file (private to
 * src/store; delivery.c calls it), compatible with Postfix local, mutt
 * and procmail on Debian. */
#ifndef SATCHEL_DELIVERY_MBOX_H
#define SATCHEL_DELIVERY_MBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <time.h>

struct dedup;

struct delivery_mbox_message {
	const char *sender;        /* for the "From sender date" line; ""
				      is written as MAILER-DAEMON */
	time_t received;           /* the date of that line */
	int fd;                    /* the message (spool): read from offset
				      0 to its end ... */
	const struct iovec *prefix; /* ... after these parts (Delivered-To),
				      which are quoted like the rest */
	size_t nprefix;
	bool mboxrd;               /* mboxrd quoting, else mboxo */
	struct timespec deadline;  /* CLOCK_MONOTONIC: lock waits end here */
	/* the pending entry "mbox@OFFSET" written under the lock before the
	 * first octet (dedup.h); NULL: no duplicate check */
	struct dedup *dedup;
	const char *delivery_id;
};

/* Appends the message to the mbox at path (created mode 0600 when
 * missing): dotlock + fcntl + flock, each taken without blocking and
 * released before any back-off; the file checked after locking to be the
 * one opened (same inode) with one link; "From " line, the message with
 * From_ quoting and a LF (or CRLF, as the message uses) line end added
 * when missing, an empty line; fsync. On any error the file is truncated
 * back to its old size. Returns 0 with *offset_r (where the message's
 * From line starts) and *size_r (octets appended), or -1 with *error_r
 * and *temporary_r (true: try later; false: a permanent refusal such as
 * a path that is not a regular file). */
int delivery_mbox_append(const char *path,
			 const struct delivery_mbox_message *msg,
			 uint64_t *offset_r, uint64_t *size_r,
			 bool *temporary_r, const char **error_r);

/* A retry's check (dedup.h: a pending "mbox@OFFSET" entry): does the mbox
 * hold msg whole at offset, as an attempt killed before its done entry
 * left it? The bytes are compared as append would write them, except
 * the date of the From_ line (each attempt has its own). Under the
 * locks; a copy found is fdatasync'd (the attempt may have died before
 * its sync). 0 with *found_r, or -1 with *error_r (a lock not had in
 * time: the caller fails temporarily). */
int delivery_mbox_holds(const char *path,
			const struct delivery_mbox_message *msg,
			uint64_t offset, bool *found_r, const char **error_r);

#endif
