/* arrivals.h: "satchel.arrivals", the append-only log of deliveries into
 * a Maildir's new/ (private to src/store), so that the next POP3 session
 * finds new mail without reading the directories again (docs/store.md,
 * "New mail without readdir").
 *
 * One line per delivery, written by the delivery under an flock(2) of
 * the log, in two writes around the link into new/:
 *
 *	NAME SP WSIZE SP BEFORE-SEC.NSEC SP          (before link())
 *	AFTER-SEC.NSEC LF                            (after link())
 *
 * BEFORE and AFTER are new/'s mtime stat'ed right before and right after
 * the link. A delivery that dies between the two leaves a line without
 * its end: the log is broken (not trusted) until a session that read the
 * directories truncates it. "-" LF is a break marker, written before a
 * POP3 commit changes new/ and when the log is cut for size.
 *
 * A session trusts its index listing plus the log when the entries
 * chain: the listing's new/ mtime == the first BEFORE, each AFTER == the
 * next BEFORE, the last AFTER == new/'s mtime now. Truncating the log is
 * always safe (the chain then cannot reach new/'s current mtime). */
#ifndef SATCHEL_ARRIVALS_H
#define SATCHEL_ARRIVALS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define ARRIVALS_NAME "satchel.arrivals"
/* Beyond this the log is cut to a break marker by the next delivery
 * (about 10,000 deliveries without a session that read the dirs). */
#define ARRIVALS_MAX_SIZE (1024 * 1024)
/* A listing this old is not extended by the log: the directories are
 * read again, so a change no stamp can show (docs/store.md) is seen
 * within this bound. */
#define ARRIVALS_TRUST_SECS 3600

struct arrivals_entry {
	const char *name;          /* in new/ (points into the log text) */
	size_t name_len;
	uint64_t wsize;
	struct timespec before, after;
};

/* The delivery side: one line in progress, under the flock. */
struct arrivals_append {
	int fd;
	off_t start;               /* size before the line (rollback) */
	bool written;              /* the first part is in the file */
};

/* Opens (creates, mode 0600) the log in the Maildir md_fd, takes its
 * flock (retried without blocking until deadline, CLOCK_MONOTONIC), and
 * writes the first part of the line for name, stat'ing new_fd. 0, or -1
 * with *error_r and errno (ETIMEDOUT: the lock was not had in time). */
int arrivals_begin(int md_fd, int new_fd, const char *name, uint64_t wsize,
		   const struct timespec *deadline, struct arrivals_append *a,
		   const char **error_r);
/* After a successful link(): ends the line (new/'s mtime now) and
 * unlocks. An error only leaves the line unended (the log is broken,
 * the next session reads the directories). */
void arrivals_end(struct arrivals_append *a, int new_fd);
/* The link failed: removes the line and unlocks. */
void arrivals_abort(struct arrivals_append *a);

/* The session side. */
struct arrivals {
	char *text;
	struct arrivals_entry *entries;
	size_t count;
	off_t size;                /* of the file when read, 0 when none */
	bool intact;               /* every line complete and parsed */
};

/* Reads the log of the Maildir at path (a missing log is intact and
 * empty). Returns 0 with *a_r, or -1 out of memory. */
int arrivals_load(const char *maildir, struct arrivals **a_r);
/* True when the entries lead from new/'s mtime from to to (above); an
 * empty log never does (the plain listing rule covers it). */
bool arrivals_chain(const struct arrivals *a, int64_t from_sec,
		    int64_t from_nsec, int64_t to_sec, int64_t to_nsec);
void arrivals_free(struct arrivals **ap);

/* Empties the log when its size is still expected (nothing appended
 * since it was read), under its flock; skipped when the lock is busy.
 * Best effort. */
void arrivals_truncate(const char *maildir, off_t expected);
/* Appends the break marker under the flock (best effort). */
void arrivals_break(const char *maildir);

#endif
