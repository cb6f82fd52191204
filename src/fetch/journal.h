/* journal.h: the per-account state of the fetch client: which UIDLs
 * are already delivered and durable here, and since when.
 *
 * The file is append-only between compactions, one record per line:
 *
 *	+ FIRST_SEEN UIDL     delivered and durable locally (epoch seconds
 *	                      of the first delivery)
 *	- UIDL                forgotten: gone from the server (or pruned)
 *	                      (also: a begun delivery that failed)
 *	? UIDL                a delivery begun (MDA, LMTP, SMTP): with no
 *	                      "+" or "-" after it, a kill left unknown
 *	                      whether it arrived
 *
 * A record counts only when its line is whole and valid: a torn tail
 * (a kill or crash mid-append), a line of zeros (a crash after the
 * file grew), or any malformed line is skipped, so the reader never
 * fails on what a crash can leave. UIDLs are RFC 1939 ids (1-70 octets
 * 0x21-0x7E, store/uidl.h uidl_is_valid); others are refused by
 * journal_add.
 *
 * Ordering contract (fetch exactly once): a UIDL goes in with
 * journal_add() only after its message is durable at the destination,
 * and journal_sync() returns before any DELE for it is sent. Many adds
 * share one sync (group commit).
 *
 * Concurrency: journal_open() takes an exclusive lock (flock on
 * PATH.lock, never blocking): a second fetch of the same account gets
 * JOURNAL_BUSY. The lock is held until journal_close(). */
#ifndef SATCHEL_JOURNAL_H
#define SATCHEL_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct journal;

enum journal_result {
	JOURNAL_OK = 0,
	JOURNAL_ERROR = -1,     /* I/O error or out of memory: *error_r */
	JOURNAL_BUSY = -2,      /* another process holds the lock */
};

/* Opens (creating with mode 0600, and the directory with 0700 when
 * missing) and reads the journal at path. Returns JOURNAL_OK and
 * *journal_r, JOURNAL_BUSY, or JOURNAL_ERROR with *error_r. */
int journal_open(const char *path, struct journal **journal_r,
		 const char **error_r);
/* The same without reading the records yet: the lock is taken, and
 * journal_load() reads them when they are wanted (a poll that finds
 * nothing new reads none: fetch_mark.h). Until then the journal must
 * not be asked or added to. */
int journal_open_unread(const char *path, struct journal **journal_r,
			const char **error_r);
/* Reads the records (once; later calls return 0). 0, or -1 with
 * *error_r. */
int journal_load(struct journal *j, const char **error_r);
/* Closes without syncing what was not synced (call journal_sync
 * first). Releases the lock. Sets *journalp to NULL; safe on NULL. */
void journal_close(struct journal **journalp);

/* True when uidl is recorded as delivered; *first_seen_r (may be NULL)
 * gets when. len is the UIDL's length (it need not be terminated). */
bool journal_has(const struct journal *j, const char *uidl, size_t len,
		 time_t *first_seen_r);
/* Number of UIDLs recorded as delivered. */
size_t journal_count(const struct journal *j);

/* Records uidl as delivered at first_seen: appended to the file (no
 * fsync) and to the set. Adding a present uidl does nothing. 0, or -1
 * with *error_r (invalid UIDL, write error). */
int journal_add(struct journal *j, const char *uidl, size_t len,
		time_t first_seen, const char **error_r);
/* Records that uidl is forgotten (no fsync). Absent: nothing. 0 or -1. */
int journal_forget(struct journal *j, const char *uidl, size_t len,
		   const char **error_r);
/* fsyncs what was appended since the last sync (nothing appended: no
 * fsync). 0, or -1 with *error_r. */
int journal_sync(struct journal *j, const char **error_r);
/* Records that the delivery of uidl begins (no sync: a crash that loses
 * the line makes the message look never begun, so it is delivered
 * again, never lost). 0, or -1 with *error_r. */
int journal_begin(struct journal *j, const char *uidl, size_t len,
		  const char **error_r);
/* True when a begun delivery of uidl has neither been recorded nor
 * forgotten since: its outcome is unknown. */
bool journal_pending(const struct journal *j, const char *uidl,
		     size_t len);

/* Calls fn for each delivered UIDL (any order); fn returns false to
 * stop. For pruning: the caller collects, then forgets. */
void journal_foreach(const struct journal *j,
		     bool (*fn)(const char *uidl, time_t first_seen,
				void *context),
		     void *context);

/* Rewrites the file with only the live records (fileio_replace:
 * atomic, durable), when the file holds more than twice as many
 * records as are live (or always when force). 0, or -1 with *error_r;
 * on failure the old file stays and the journal is still usable. */
int journal_compact(struct journal *j, bool force, const char **error_r);

/* Parses one line (without its LF) for the reader and the fuzz target:
 * returns '+' or '-' and sets the UIDL and time, or 0 when the line is
 * not a valid record. */
int journal_parse_line(const char *line, size_t len, const char **uidl_r,
		       size_t *uidl_len_r, time_t *first_seen_r);

#endif
