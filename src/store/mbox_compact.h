/* mbox_compact.h: removing messages from an mbox in place, crash-safe
 * (private to the mbox driver).
 *
 * Why in place and not "temporary file, rename": an MDA (Postfix local,
 * procmail) opens the mbox and then waits for its fcntl or flock lock; if
 * the file were renamed over meanwhile, it would get the lock on the old,
 * unlinked inode and append the message there, where nobody sees it
 * again. So the mbox keeps its inode: the bytes from the first removed
 * message on are replaced by what follows it that is kept.
 *
 * Crash safety: that tail is first written, whole, to a journal
 * "<mbox>.satchel-compact" (fileio_replacev: temporary file, fsync,
 * rename, fsync dir), then copied into the mbox, which is truncated,
 * fsync'ed, and the journal removed (and the directory fsync'ed) before
 * the locks are released. A crash leaves either no journal (the mbox is
 * the old or the new file) or a complete one, which mbox_compact_recover()
 * applies under the locks at the next open. Every message ends whole or
 * gone, and mail an MDA appended after the crash is kept (see
 * mbox_compact.c for how it is told apart from the old tail).
 */
#ifndef SATCHEL_MBOX_COMPACT_H
#define SATCHEL_MBOX_COMPACT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define MBOX_JOURNAL_SUFFIX ".satchel-compact"

struct mbox_compact {
	const char *path;           /* the mbox */
	int fd;                     /* the mbox, O_RDWR, all locks held */
	const char *map;            /* the mbox mapped from 0 to size */
	uint64_t size;              /* its size, read under the locks */
	uint64_t start;             /* the octets before stay untouched */
	const struct iovec *parts;  /* what follows start, in order */
	size_t count;
};

/* Makes the mbox [0, start) followed by the parts. Returns MAILDROP_OK,
 * or MAILDROP_TEMP with *error_r (static text): when the journal could
 * not be written the mbox is unchanged; after that, the journal is left
 * for mbox_compact_recover(). */
int mbox_compact_run(const struct mbox_compact *c, const char **error_r);

/* Finishes a compaction a crash interrupted, if "<path>.satchel-compact"
 * exists. Call with all locks held on fd before reading the mbox. Returns
 * MAILDROP_OK (also when there was nothing to do), or MAILDROP_TEMP with
 * *error_r when the journal is unreadable or does not fit the mbox (both
 * are left as they are, for an administrator). */
int mbox_compact_recover(const char *path, int fd, const char **error_r);

#endif
