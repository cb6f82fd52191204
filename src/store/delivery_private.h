/* delivery_private.h: what the write side's files share (private to
 * src/store): delivery.c holds the spool and runs one recipient's
 * delivery; delivery_maildir.c writes a Maildir file; delivery_name.c
 * makes Maildir names. */
#ifndef SATCHEL_DELIVERY_PRIVATE_H
#define SATCHEL_DELIVERY_PRIVATE_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

#include "store/dedup.h"
#include "store/delivery.h"
#include "store/msgconv.h"
#include "store/msghdr.h"

#define DELIVERY_SPOOL_BUF (64 * 1024)
/* RFC 1939 7.: the base name of a Maildir file is the UIDL when it fits */
#define DELIVERY_NAME_MAX 70
/* Names tried when link() or O_EXCL finds the name taken (another
 * process, another host on the same store): each try is a new name. */
#define DELIVERY_NAME_TRIES 16

struct delivery_spool {
	struct delivery_settings set;
	int fd;                         /* the spool file (unlinked) */
	char buf[DELIVERY_SPOOL_BUF];   /* filtered output not written yet */
	size_t buf_len;
	int write_errno;                /* first write error, 0 = none */
	struct msghdr hdr;
	void *md;                       /* EVP_MD_CTX: SHA-256 of the spool */
	struct msgsize wsize;           /* its LIST size */
	uint64_t size;                  /* octets in the spool file */
	bool finished;
	const char *sender;             /* "" = null sender (points into
					   sender_buf or hdr) */
	char sender_buf[MSGHDR_FROM_LINE_MAX + 1];
	unsigned char body_digest[DEDUP_BODY_DIGEST];
	bool single_recipient;
	/* the original recipient (ORCPT, -a) as an rfc822 address, for
	 * X-Original-To; "" = none or not usable */
	char orig_rcpt[321];
	time_t received;
	/* Multi-recipient: the file stored for an earlier recipient, to be
	 * hard-linked for the next ones (the same bytes: no Delivered-To).
	 * reuse_dir_fd -1 = none yet. */
	int reuse_dir_fd;
	char reuse_name[DELIVERY_NAME_MAX + 64];
	dev_t reuse_dev;
	ino_t reuse_ino;
	uid_t reuse_uid;
};

/* What one recipient gets: the prefix (Return-Path, Delivered-To) and
 * the spool after it. */
struct delivery_message {
	const struct iovec *prefix;
	size_t nprefix;
	uint64_t size;                  /* prefix + spool octets (S=) */
	uint64_t wsize;                 /* their LIST size (W=) */
	struct timespec deadline;       /* CLOCK_MONOTONIC: lock waits end */
	/* Maildir: the pending entry written just before each link into
	 * new/ (dedup.h); NULL: no duplicate check */
	struct dedup *dedup;
	const char *delivery_id;
};

/* Fills *res (static texts). */
void delivery_result_set(struct delivery_result *res,
			 enum delivery_status status, const char *enhanced,
			 const char *text);
/* An errno of a file operation as a result: ENOSPC and EDQUOT are
 * "mail system full" (4.3.1), ELOOP (a refused symlink) 4.3.5 with
 * text, anything else 4.3.0 with text. */
void delivery_result_errno(struct delivery_result *res, int err,
			   const char *text);

/* delivery_maildir.c: stores msg into the Maildir at target->path (made
 * when missing), durably (delivery.h); fills *res. */
enum delivery_status delivery_maildir_store(struct delivery_spool *spool,
					    const struct delivery_target *t,
					    const struct delivery_message *msg,
					    struct delivery_result *res);
/* Is name (a new/ name) in the Maildir at path, in new/ as it is or in
 * cur/ with any info (":2,...") after it? An unreadable Maildir says
 * no. */
bool delivery_maildir_has(const char *path, const char *name);
/* Opens the directory path for writing into it, refusing a symlink not
 * owned by root on the way (see delivery_maildir.c); creates missing
 * directories (mode 0700) when create. Returns an O_DIRECTORY fd, or -1
 * with errno (ELOOP: a refused symlink) and *error_r. */
int delivery_open_dir(const char *path, bool create, const char **error_r);

#endif
