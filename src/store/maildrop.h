/* maildrop.h: what every mail store (Maildir, mbox) offers a POP3 session.
 *
 * A maildrop is opened at login: the store takes an exclusive session lock
 * (another session gets MAILDROP_IN_USE) and a snapshot of the messages
 * (count, exact sizes, UIDLs). Mail arriving later is not in the snapshot.
 * DELE only marks; nothing changes on disk until maildrop_commit() (the
 * POP3 UPDATE state). maildrop_close() without commit changes nothing.
 *
 * Sizes are the octets RETR sends after LF -> CRLF conversion (a final
 * CRLF added to a message that lacks one counts), before dot-stuffing and
 * without the terminating ".CRLF" (see msgconv.h).
 *
 * Ownership: the session owns the struct maildrop and must destroy it with
 * maildrop_close() or maildrop_commit(); both free it and set *dropp = NULL.
 */
#ifndef SATCHEL_MAILDROP_H
#define SATCHEL_MAILDROP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Error codes returned by the functions below (0 = success). They map to
 * RFC 2449/3206 response codes in the session. */
enum maildrop_error {
	MAILDROP_OK = 0,
	MAILDROP_IN_USE = -1,    /* another session holds the lock: [IN-USE] */
	MAILDROP_TEMP = -2,      /* I/O error, out of memory: [SYS/TEMP] */
	MAILDROP_PERM = -3,      /* misconfigured/corrupt store: [SYS/PERM] */
};

/* MAILDROP_AGENT: the maildrop is held by a mail agent, a process with
 * the user's uid, and reached over agent_fd (agent_proto.h,
 * maildrop_agent.c); the agent has the path and the format. */
enum maildrop_kind { MAILDROP_MAILDIR, MAILDROP_MBOX, MAILDROP_AGENT };

#define MAILDROP_UIDL_MAX 70 /* RFC 1939: 1-70 octets of 0x21-0x7E */

struct maildrop_settings {
	enum maildrop_kind kind;
	const char *path;          /* Maildir directory or mbox file */
	unsigned lock_stale_secs;  /* a lock not refreshed for this long is stale */
	unsigned expire_days;      /* 0 = never; else delete messages retrieved
				      more than this many days ago at commit */
	bool create;               /* create an empty Maildir when missing */
	const char *store_marker;  /* storeroot.h; NULL or "": none */
	/* Maildir: a node-local directory for the index cache (sizes,
	 * listing); NULL or "": the whole index in the Maildir. The facts
	 * that cannot be recomputed (retrieval times, UIDLs other than the
	 * base name) stay in the Maildir either way (docs/scaling.md). */
	const char *index_dir;
	/* Fill in utf8 and wrap_size of every message (struct
	 * maildrop_msg), for a client that did not send UTF8 (RFC 6856):
	 * from the index when it knows them, else by reading the message
	 * once and recording the answer in the index (Maildir), so a warm
	 * login reads no message for it. */
	bool scan_utf8;
	/* MAILDROP_AGENT: the socket to the agent, which maildrop_open
	 * takes over whatever it returns (closed with the maildrop, or at
	 * once on a failure: the agent then exits) */
	int agent_fd;
};

/* Whether a message needs UTF-8 mode (RFC 6856 5., store/mimescan.h). */
enum maildrop_utf8 {
	MAILDROP_UTF8_UNKNOWN = 0, /* not asked for, or it could not be read */
	MAILDROP_UTF8_NO,
	MAILDROP_UTF8_YES,
};

struct maildrop_msg {
	uint64_t size;                      /* see top of file */
	char uidl[MAILDROP_UIDL_MAX + 1];   /* NUL-terminated */
	bool deleted;                       /* DELE in this session */
	bool retrieved;                     /* RETR in this session */
	bool seen;                          /* retrieved in an earlier session
					       and kept (a retrieval time in
					       the index): persistent LAST */
	unsigned char utf8;                 /* enum maildrop_utf8 */
	uint64_t wrap_size;                 /* MAILDROP_UTF8_YES: the size of
					       its ASCII surrogate
					       (utf8wrap.h), 0 when none
					       could be made */
};

struct maildrop;
struct maildrop_reader;

/* Locks and snapshots the maildrop. A missing Maildir/mbox is an empty
 * maildrop (and a Maildir is created when set->create). Returns MAILDROP_OK
 * with *drop_r set, or MAILDROP_IN_USE / MAILDROP_TEMP / MAILDROP_PERM with
 * *error_r set to a static or drop-independent human-readable reason. */
int maildrop_open(const struct maildrop_settings *set,
		  struct maildrop **drop_r, const char **error_r);

/* Number of messages in the snapshot (deleted ones included). */
unsigned maildrop_count(const struct maildrop *drop);
/* Message idx (0-based, < maildrop_count). The session may set the
 * deleted and retrieved flags directly. */
struct maildrop_msg *maildrop_msg(struct maildrop *drop, unsigned idx);

/* Keeps the session lock fresh; call at least every lock_stale_secs / 3.
 * Returns 0, or MAILDROP_TEMP if the lock was lost. */
int maildrop_refresh_lock(struct maildrop *drop);

/* Streams message idx as stored (line ends as on disk, mboxrd/mboxo From_
 * quoting already undone where the format allows), for msgconv to convert.
 * Returns MAILDROP_OK with *reader_r set, or MAILDROP_TEMP with *error_r
 * (e.g. the file vanished). */
int maildrop_reader_open(struct maildrop *drop, unsigned idx,
			 struct maildrop_reader **reader_r,
			 const char **error_r);
/* Reads up to size bytes. Returns the count, 0 at the end of the message,
 * or -1 on an I/O error. */
ssize_t maildrop_reader_read(struct maildrop_reader *reader,
			     char *buf, size_t size);
void maildrop_reader_destroy(struct maildrop_reader **readerp);
/* The reader's descriptor whose whole content is what reads give (a
 * Maildir file: the mail agent passes it on), owned by the reader, or -1
 * when the format has none (mbox: the bytes must be read). */
int maildrop_reader_fd(struct maildrop_reader *reader);

/* POP3 UPDATE: removes messages marked deleted and (with expire_days)
 * expired ones, records retrievals (Maildir: new/ -> cur/ with the S
 * flag; retrieval times in the index for EXPIRE), writes the index,
 * releases the lock and frees the maildrop. Every message ends either
 * whole or gone, even if the process dies midway. Returns MAILDROP_OK or
 * MAILDROP_TEMP with *error_r; the maildrop is freed either way, and
 * *deleted_r is the number of messages actually removed. */
int maildrop_commit(struct maildrop **dropp, unsigned *deleted_r,
		    const char **error_r);

/* A hash of the snapshot's UIDL list, in message order, as 16 hex
 * digits: 64-bit FNV-1a over each UIDL and a LF, so a log can show when
 * the list a client was shown changed (a migration gone wrong makes
 * clients fetch everything again). Not cryptographic: a change
 * detector. Made once per snapshot (a warm one keeps it: 3 ms for
 * 100,000 messages, most of a no-news poll's session otherwise). */
#define MAILDROP_UIDL_HASH_LEN 16
const char *maildrop_uidl_hash(struct maildrop *drop);

/* Releases the lock and frees without changing anything. NULL-safe. */
void maildrop_close(struct maildrop **dropp);

/* Lets this process keep the snapshots of large Maildirs (1,000
 * messages and more) that sessions closed without changing the
 * directories, up to bytes octets in all (least recently used dropped
 * first; 0, the default, keeps none), so the next login to the same
 * Maildir skips reading its index and rebuilding the snapshot when
 * nothing changed (maildir_cache.c says how that is checked). For a
 * POP3 worker; a one-shot tool has nothing to gain. */
void maildrop_cache_set_budget(uint64_t bytes);

#endif
