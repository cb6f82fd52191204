/* delivery.h: the write side of the store: one message from an MTA into
 * the maildrops of its recipients (satchel deliver and LMTP both use it).
 *
 * Order of use, for one message:
 *
 *	delivery_spool_create()            once per message
 *	delivery_spool_write() ...         the bytes as received
 *	delivery_spool_finish()            end of data: headers parsed
 *	delivery_store() ...               once per recipient, in RCPT order
 *	delivery_spool_destroy()
 *
 * The spool holds the message once (a file in spool_dir, unlinked while
 * open), with the incoming trace-like headers that a sender could forge
 * (X-UIDL, Status, X-Status, X-Keywords, Content-Length, Lines, ...)
 * and any incoming Return-Path already removed. The bytes are otherwise
 * stored as they came: LF or CRLF, 8-bit, long lines; a leading mbox
 * "From " line is dropped (its address is the sender when none was
 * given). delivery_store() writes what one recipient gets: the spool,
 * preceded by "Return-Path: <sender>" (RFC 5321 4.4) and, when the
 * message has a single recipient, "X-Original-To: orcpt" (when the
 * envelope's original recipient is another address: the one before
 * aliasing, as Postfix's local writes it) and "Delivered-To: rcpt".
 *
 * Every function below is blocking (file system, fsync, lock waits up to
 * the deadline): call it from a job, a child process or a tool, never
 * from an event loop thread.
 *
 * Durability: delivery_store() returns DELIVERY_OK only when the message
 * file and its directory entry are on disk (Maildir: tmp/ write, fsync,
 * link into new/ under a name never used before, fsync new/; mbox:
 * append, fsync). On any error nothing of this message is left behind
 * for that recipient (tmp file unlinked, mbox truncated back). */
#ifndef SATCHEL_DELIVERY_H
#define SATCHEL_DELIVERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "store/maildrop.h"

enum delivery_status {
	DELIVERY_OK = 0,        /* stored (or already stored: duplicate) */
	DELIVERY_TEMP = 1,      /* try again later: 4.x.x, exit 75 */
	DELIVERY_PERM = 2,      /* never: 5.x.x, exit 77 */
};

/* Options of the whole delivery (config keys, see satchel.conf.5). */
struct delivery_settings {
	const char *spool_dir;     /* where the spool file lives ("" or NULL:
				      /tmp: the spool is made before any
				      recipient's Maildir is known) */
	bool mboxrd;               /* mbox quoting: mboxrd, else mboxo */
	bool nul_refuse;           /* a NUL in the message: refuse (5.6.0)
				      rather than store it */
	bool quota_permanent;      /* over quota: 5.2.2 / 77, else 4.2.2 */
	unsigned dedup_days;       /* keep delivery ids this long; 0 = off */
	unsigned deadline_secs;    /* lock waits and retries end by then */
	const char *hostname;      /* in Maildir names (sanitised there) */
	const char *store_marker;  /* storeroot.h; NULL or "": none */
	/* The fetch client: the message is stored as written, without the
	 * header filter, Return-Path, Delivered-To or the loop check (it
	 * is a copy of a stored message, not new mail from an MTA) */
	bool verbatim;
	/* Maildir: a key (up to DELIVERY_KEY_MAX of [0-9a-f]) put into the
	 * file's name, found again by delivery_maildir_keys(); NULL: none.
	 * The string must outlive the spool. */
	const char *name_key;
	/* Maildir: leave new/'s fsync to delivery_maildir_sync(), once
	 * for many messages (the fetch client's group commit). A message
	 * is then durable only after that call succeeds. */
	bool defer_dir_sync;
	/* The spool becomes the stored file (fsync'd and linked straight
	 * into new/, no copy, no tmp/ name) when it is on the Maildir's
	 * file system: set spool_dir to the Maildir's tmp/. For verbatim
	 * single copies only. */
	bool link_spool;
	/* verbatim, but Return-Path (the envelope's sender) and
	 * Delivered-To (the target's rcpt) before it: what a multidrop
	 * server said of the envelope (the fetch client's SDPS) */
	bool envelope_prefix;
};

#define DELIVERY_KEY_MAX 16

/* The envelope of the message (MAIL FROM / -f, ORCPT / -a). */
struct delivery_envelope {
	const char *sender;        /* without <>; "" = the null sender; NULL:
				      take it from a leading From line, else
				      "MAILER-DAEMON" */
	const char *orig_rcpt;     /* ORCPT "rfc822;addr" or -a's addr;
				      NULL when not given */
	bool single_recipient;     /* add Delivered-To (one RCPT only) */
};

/* A Maildir opened once for many stores (the fetch client): the path
 * walked and checked once, tmp/ cleaned once, the directories kept
 * open. delivery_maildir_open() fills it. */
struct delivery_maildir {
	int dir_fd;
	int tmp_fd, new_fd, cur_fd;
};

/* One recipient's maildrop, from the user database. */
struct delivery_target {
	const char *user;          /* canonical user name (logs) */
	const char *rcpt;          /* final recipient address (Delivered-To,
				      loop check, delivery id) */
	enum maildrop_kind kind;
	const char *path;          /* Maildir directory or mbox file */
	uint64_t quota_bytes;      /* 0 = no limit */
	uint64_t quota_messages;   /* 0 = no limit */
	/* Maildir: path already opened (it must be the same Maildir);
	 * NULL: opened for this store */
	const struct delivery_maildir *maildir;
	/* link_spool: the caller made the spool's data durable already
	 * (delivery_spool_sync): no fsync of the file here */
	bool spool_synced;
};

/* What happened to one recipient. The strings are static or point into
 * the struct; they stay valid until the next call with it. */
struct delivery_result {
	enum delivery_status status;
	const char *enhanced;      /* RFC 3463 code: "2.0.0", "4.2.2", ... */
	const char *text;          /* short human-readable reason */
	bool duplicate;            /* already stored by an earlier attempt
				      (same delivery id): nothing written */
	char delivery_id[33];      /* hex digest, "" before finish */
	char stored_name[160];     /* Maildir file name or "mbox@OFFSET" */
	uint64_t size;             /* octets stored */
};

struct delivery_spool;

/* Creates an empty spool. 0, or -1 with *error_r. */
int delivery_spool_create(const struct delivery_settings *set,
			  struct delivery_spool **spool_r,
			  const char **error_r);
/* Appends len octets of the message as received (already dot-unstuffed
 * for LMTP). 0, or -1 with *error_r (disk full, size limit). */
int delivery_spool_write(struct delivery_spool *spool, const void *data,
			 size_t len, const char **error_r);
/* End of the message: filters the header, reads Message-ID and every
 * Delivered-To. No fsync: the spool is never visible, so that would
 * make nothing durable; each stored copy is fsync'd. 0, or -1 with *res
 * (TEMP on I/O errors, PERM for a refused NUL, a loop of more than 100
 * Delivered-To, an over-long From_ line when it gives the sender). */
int delivery_spool_finish(struct delivery_spool *spool,
			  const struct delivery_envelope *env,
			  struct delivery_result *res);
/* The Message-ID as found ("" when none), for logs. */
const char *delivery_spool_message_id(const struct delivery_spool *spool);
/* Stores the spooled message for one recipient (see the top of the file
 * for durability); fills *res and returns its status. A message that
 * carries "Delivered-To: rcpt" already (below a Received field: one
 * above them all is the MTA's own for this delivery, msghdr.h) is
 * refused as a loop (5.4.6); one whose delivery id was stored within
 * dedup_days answers DELIVERY_OK with res->duplicate set and writes
 * nothing. */
enum delivery_status delivery_store(struct delivery_spool *spool,
				    const struct delivery_target *target,
				    struct delivery_result *res);
void delivery_spool_destroy(struct delivery_spool **spoolp);

/* Opens the Maildir at path, creating it (and tmp/ new/ cur/) when
 * missing, mode 0700, refusing symlinks not owned by root on the way;
 * removes stale tmp/ files. 0, or -1 with *error_r (md then holds no
 * open fd). */
int delivery_maildir_open(const char *path, struct delivery_maildir *md,
			  const char **error_r);
void delivery_maildir_close(struct delivery_maildir *md);

/* fsyncs the spool's file (after delivery_spool_finish; link_spool:
 * it is the file to be stored). Safe to call for different spools on
 * different threads at once: the fetch client syncs a batch of them
 * in parallel, then stores each with spool_synced. 0 or -1 (errno). */
int delivery_spool_sync(struct delivery_spool *spool);

/* fsyncs new/ and cur/ of the Maildir: the names of messages stored
 * with defer_dir_sync (and of any moved to cur/ since) are then
 * durable. 0, or -1 with *error_r. */
int delivery_maildir_sync(const struct delivery_maildir *md,
			  const char **error_r);

/* Calls fn with the key of every file in the Maildir at path (new/ and
 * cur/) whose name carries one (delivery_settings.name_key); fn returns
 * false to stop. 0, or -1 with *error_r (a missing Maildir is 0: it
 * holds no keys). */
int delivery_maildir_keys(const char *path,
			  bool (*fn)(const char *key, size_t len,
				     void *context),
			  void *context, const char **error_r);

#endif
