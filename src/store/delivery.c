/* delivery.c: the write side of the store (delivery.h): the spool (the
 * message once, header filtered by msghdr.c, its digest and sizes) and
 * one recipient's delivery (loop check, delivery id, quota, then the
 * Maildir writer in delivery_maildir.c or the mbox appender). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "store/dedup.h"
#include "store/delivery_mbox.h"
#include "store/delivery_private.h"
#include "store/quota.h"
#include "store/storeroot.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/strnum.h"

#define DELIVERY_DEDUP_NAME "satchel.delivered"
#define DELIVERY_DEDUP_SUFFIX ".satchel-delivered"
#define DELIVERY_DEFAULT_SPOOL "/tmp"
/* deadline_secs 0: the issue's default for satchel deliver */
#define DELIVERY_DEADLINE_DEFAULT 300
/* "Return-Path: <" + address + ">" CRLF, "Delivered-To: " ... */
#define DELIVERY_ADDR_MAX 1024

void delivery_result_set(struct delivery_result *res,
			 enum delivery_status status, const char *enhanced,
			 const char *text)
{
	res->status = status;
	res->enhanced = enhanced;
	res->text = text;
}

void delivery_result_errno(struct delivery_result *res, int err,
			   const char *text)
{
	if (err == ENOSPC || err == EDQUOT)
		delivery_result_set(res, DELIVERY_TEMP, "4.3.1",
				    "mail system full");
	else if (err == ELOOP)
		/* a refused symlink: configuration, so temporary */
		delivery_result_set(res, DELIVERY_TEMP, "4.3.5", text);
	else
		delivery_result_set(res, DELIVERY_TEMP, "4.3.0", text);
}

static void delivery_result_init(struct delivery_result *res)
{
	memset(res, 0, sizeof(*res));
	delivery_result_set(res, DELIVERY_OK, "2.0.0", "delivered");
}

/* O_TMPFILE: the spool is never visible, so a crash leaves nothing to
 * clean up; where the file system lacks it, a named file unlinked at
 * once. */
static int delivery_spool_open(const char *dir, bool linkable)
{
	char path[PATH_MAX];
	int fd;

	/* O_EXCL keeps it from ever being linked, unless that is the plan
	 * (link_spool) */
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC | (linkable ? 0 : O_EXCL),
		  0600);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR &&
			errno != EINVAL))
		return fd;
	if ((size_t)snprintf(path, sizeof(path), "%s/satchel-spool.XXXXXX",
			     dir) >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = mkostemp(path, O_CLOEXEC);
	if (fd >= 0)
		unlink(path);
	return fd;
}

static void delivery_spool_flush(struct delivery_spool *spool)
{
	if (spool->buf_len == 0)
		return;
	if (spool->write_errno == 0 &&
	    fileio_write_all(spool->fd, spool->buf, spool->buf_len) < 0)
		spool->write_errno = errno;
	spool->buf_len = 0;
}

/* msghdr's output: into the buffer, counted and digested. */
static void delivery_spool_out(void *ctx, const char *data, size_t n)
{
	struct delivery_spool *spool = ctx;

	/* the digest is the delivery id's (dedup); a verbatim copy has none */
	if (!spool->set.verbatim && EVP_DigestUpdate(spool->md, data, n) != 1 &&
	    spool->write_errno == 0)
		spool->write_errno = EIO;
	msgsize_feed(&spool->wsize, data, n);
	spool->size += n;
	while (n > 0) {
		size_t room = sizeof(spool->buf) - spool->buf_len;
		size_t k = n < room ? n : room;

		memcpy(spool->buf + spool->buf_len, data, k);
		spool->buf_len += k;
		data += k;
		n -= k;
		if (spool->buf_len == sizeof(spool->buf))
			delivery_spool_flush(spool);
	}
}

int delivery_spool_create(const struct delivery_settings *set,
			  struct delivery_spool **spool_r,
			  const char **error_r)
{
	struct delivery_spool *spool;
	const char *dir = set->spool_dir != NULL && set->spool_dir[0] != '\0' ?
				  set->spool_dir : DELIVERY_DEFAULT_SPOOL;

	spool = calloc(1, sizeof(*spool));
	if (spool == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	spool->set = *set;
	spool->reuse_dir_fd = -1;
	spool->md = EVP_MD_CTX_new();
	if (spool->md == NULL ||
	    EVP_DigestInit_ex(spool->md, EVP_sha256(), NULL) != 1) {
		*error_r = "cannot start the message digest";
		goto out_free;
	}
	spool->fd = delivery_spool_open(dir, set->link_spool);
	if (spool->fd < 0) {
		*error_r = errno == ENOSPC || errno == EDQUOT ?
				   "mail system full" :
				   "cannot create the spool file";
		goto out_free;
	}
	msghdr_init(&spool->hdr, delivery_spool_out, spool);
	msgsize_init(&spool->wsize);
	spool->received = time(NULL);
	*spool_r = spool;
	return 0;

out_free:
	EVP_MD_CTX_free(spool->md);
	free(spool);
	return -1;
}

int delivery_spool_write(struct delivery_spool *spool, const void *data,
			 size_t len, const char **error_r)
{
	if (spool->finished) {
		*error_r = "message already ended";
		return -1;
	}
	if (spool->set.verbatim)
		delivery_spool_out(spool, data, len);
	else
		msghdr_feed(&spool->hdr, data, len);
	if (spool->write_errno != 0) {
		*error_r = spool->write_errno == ENOSPC ||
					   spool->write_errno == EDQUOT ?
				   "mail system full" :
				   "cannot write the spool file";
		return -1;
	}
	return 0;
}

static bool delivery_addr_ok(const char *addr)
{
	size_t i;

	/* an address goes into a header line: no line break, no control */
	for (i = 0; addr[i] != '\0'; i++) {
		if ((unsigned char)addr[i] < 0x20 || addr[i] == 0x7f)
			return false;
	}
	return i < DELIVERY_ADDR_MAX;
}

/* The sender: the envelope's, else the From_ line's, else
 * MAILER-DAEMON (delivery.h). -1 with *res on a bad one. */
static int delivery_spool_sender(struct delivery_spool *spool,
				 const struct delivery_envelope *env,
				 struct delivery_result *res)
{
	const char *sender = env->sender;

	if (sender == NULL) {
		if (spool->hdr.has_from_line && spool->hdr.from_overflow) {
			delivery_result_set(res, DELIVERY_PERM, "5.6.0",
					    "leading From line too long");
			return -1;
		}
		sender = msghdr_from_sender(&spool->hdr);
		if (sender == NULL)
			sender = "MAILER-DAEMON";
	}
	if (!delivery_addr_ok(sender)) {
		delivery_result_set(res, DELIVERY_PERM, "5.1.7",
				    "bad sender address");
		return -1;
	}
	memcpy(spool->sender_buf, sender, strlen(sender) + 1);
	spool->sender = spool->sender_buf;
	return 0;
}

/* RFC 3461 4.2: ORCPT is "type;address"; only an rfc822 address (or
 * -a's bare one) of printable ASCII becomes X-Original-To: it goes into
 * a header line as it is. */
static void delivery_orig_rcpt(struct delivery_spool *spool,
			       const char *orig)
{
	const char *semi;
	size_t len, i;

	spool->orig_rcpt[0] = '\0';
	if (orig == NULL)
		return;
	semi = strchr(orig, ';');
	if (semi != NULL) {
		if ((size_t)(semi - orig) != 6 ||
		    strncasecmp(orig, "rfc822", 6) != 0)
			return;
		orig = semi + 1;
	}
	len = strlen(orig);
	if (len == 0 || len >= sizeof(spool->orig_rcpt))
		return;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)orig[i];

		if (c <= 0x20 || c >= 0x7f || c == '<' || c == '>')
			return;
	}
	memcpy(spool->orig_rcpt, orig, len + 1);
}

int delivery_spool_finish(struct delivery_spool *spool,
			  const struct delivery_envelope *env,
			  struct delivery_result *res)
{
	unsigned md_len = 0;

	delivery_result_init(res);
	if (spool->finished) {
		delivery_result_set(res, DELIVERY_TEMP, "4.3.0",
				    "message already ended");
		return -1;
	}
	msghdr_finish(&spool->hdr);
	delivery_spool_flush(spool);
	spool->finished = true;
	spool->single_recipient = env->single_recipient;
	delivery_orig_rcpt(spool, env->orig_rcpt);
	if (spool->write_errno != 0) {
		delivery_result_errno(res, spool->write_errno,
				      "cannot write the spool file");
		return -1;
	}
	if (EVP_DigestFinal_ex(spool->md, spool->body_digest, &md_len) != 1 ||
	    md_len != DEDUP_BODY_DIGEST) {
		delivery_result_set(res, DELIVERY_TEMP, "4.3.0",
				    "cannot digest the message");
		return -1;
	}
	if (spool->hdr.nomem) {
		delivery_result_set(res, DELIVERY_TEMP, "4.3.0",
				    "out of memory");
		return -1;
	}
	if (spool->hdr.has_nul && spool->set.nul_refuse) {
		delivery_result_set(res, DELIVERY_PERM, "5.6.0",
				    "NUL octets in the message refused");
		return -1;
	}
	if (spool->hdr.too_many_delivered_to) {
		delivery_result_set(res, DELIVERY_PERM, "5.4.6",
				    "too many Delivered-To fields: mail loop");
		return -1;
	}
	/* No fsync here: the spool is never visible (O_TMPFILE or
	 * unlinked), so syncing it would make nothing durable. The copy a
	 * recipient gets is fsync'd before success (delivery_maildir.c),
	 * which keeps a single delivery at 2 fsyncs (file, new/). */
	return delivery_spool_sender(spool, env, res);
}

int delivery_spool_sync(struct delivery_spool *spool)
{
	return fsync(spool->fd);
}

const char *delivery_spool_message_id(const struct delivery_spool *spool)
{
	return spool->hdr.message_id;
}

void delivery_spool_destroy(struct delivery_spool **spoolp)
{
	struct delivery_spool *spool = *spoolp;

	if (spool == NULL)
		return;
	*spoolp = NULL;
	msghdr_deinit(&spool->hdr);
	EVP_MD_CTX_free(spool->md);
	if (spool->fd >= 0)
		close(spool->fd);
	if (spool->reuse_dir_fd >= 0)
		close(spool->reuse_dir_fd);
	free(spool);
}

/* The lines put before the spool for one recipient: Return-Path (RFC
 * 5321 4.4) and, with a single recipient, X-Original-To (when ORCPT
 * named another address) and Delivered-To, with the line end the
 * message uses. */
static size_t delivery_prefix(const struct delivery_spool *spool,
			      const struct delivery_target *t, char *buf,
			      size_t size)
{
	const char *eol = spool->hdr.crlf ? "\r\n" : "\n";
	int n;

	/* not twice when the MTA put the same one on top (Postfix local);
	 * X-Original-To, as Postfix's local writes it, when the original
	 * recipient was another address (an alias, a catch-all: what a
	 * multidrop client's SDPS *ENV tells, store/envelope.h) */
	if (spool->single_recipient &&
	    !msghdr_has_top_delivered_to(&spool->hdr, t->rcpt) &&
	    spool->orig_rcpt[0] != '\0' &&
	    strcasecmp(spool->orig_rcpt, t->rcpt) != 0)
		n = snprintf(buf, size, "Return-Path: <%s>%sX-Original-To: "
			     "%s%sDelivered-To: %s%s", spool->sender, eol,
			     spool->orig_rcpt, eol, t->rcpt, eol);
	else if (spool->single_recipient &&
		 !msghdr_has_top_delivered_to(&spool->hdr, t->rcpt))
		n = snprintf(buf, size, "Return-Path: <%s>%sDelivered-To: %s%s",
			     spool->sender, eol, t->rcpt, eol);
	else
		n = snprintf(buf, size, "Return-Path: <%s>%s", spool->sender,
			     eol);
	return n < 0 || (size_t)n >= size ? 0 : (size_t)n;
}

/* What the mbox writer gets of one recipient's message. */
static void delivery_mbox_message_init(const struct delivery_spool *spool,
				       const struct delivery_message *m,
				       struct delivery_mbox_message *msg)
{
	memset(msg, 0, sizeof(*msg));
	msg->sender = spool->sender;
	msg->received = spool->received;
	msg->fd = spool->fd;
	msg->prefix = m->prefix;
	msg->nprefix = m->nprefix;
	msg->mboxrd = spool->set.mboxrd;
	msg->deadline = m->deadline;
	msg->dedup = m->dedup;
	msg->delivery_id = m->delivery_id;
}

static enum delivery_status delivery_mbox(struct delivery_spool *spool,
					  const struct delivery_target *t,
					  const struct delivery_message *m,
					  struct delivery_result *res)
{
	struct delivery_mbox_message msg;
	uint64_t offset = 0, size = 0;
	bool temporary = true;
	const char *error = "cannot append to the mbox";

	delivery_mbox_message_init(spool, m, &msg);
	if (delivery_mbox_append(t->path, &msg, &offset, &size, &temporary,
				 &error) < 0) {
		int err = errno; /* kept for write errors (delivery_mbox.c) */

		if (!temporary)
			delivery_result_set(res, DELIVERY_PERM, "5.2.0", error);
		else if (strstr(error, "lock") != NULL)
			delivery_result_set(res, DELIVERY_TEMP, "4.2.0", error);
		else
			delivery_result_errno(res, err, error);
		if (res->status == DELIVERY_TEMP && err != ENOSPC &&
		    err != EDQUOT)
			log_error("delivery to %s: %s", t->path, error);
		return res->status;
	}
	snprintf(res->stored_name, sizeof(res->stored_name), "mbox@%llu",
		 (unsigned long long)offset);
	res->size = size;
	return DELIVERY_OK;
}

/* The id file of a maildrop (dedup.h). */
static int delivery_dedup_path(const struct delivery_target *t, char *buf,
			       size_t size)
{
	int n = t->kind == MAILDROP_MAILDIR ?
			snprintf(buf, size, "%s/%s", t->path,
				 DELIVERY_DEDUP_NAME) :
			snprintf(buf, size, "%s%s", t->path,
				 DELIVERY_DEDUP_SUFFIX);

	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* Was this delivery stored before? Done, or pending (killed between
 * the store and the done entry) with its copy still there: a Maildir
 * file by its name, an mbox message at its offset. -1 when that cannot
 * be told now (an mbox lock not had in time). */
static int delivery_seen(struct dedup *dedup,
			 const struct delivery_target *t,
			 const struct delivery_spool *spool,
			 const struct delivery_message *m,
			 const struct delivery_result *res, bool *seen_r)
{
	char name[DEDUP_NAME_MAX + 1];
	struct delivery_mbox_message msg;
	const char *error;
	uint64_t offset;

	*seen_r = false;
	switch (dedup_lookup(dedup, res->delivery_id, spool->set.dedup_days,
			     name, sizeof(name))) {
	case DEDUP_DONE:
		*seen_r = true;
		return 0;
	case DEDUP_PENDING:
		if (t->kind == MAILDROP_MAILDIR) {
			*seen_r = delivery_maildir_has(t->path, name);
			return 0;
		}
		if (strncmp(name, "mbox@", 5) != 0 ||
		    strnum_parse_u64(name + 5, UINT64_MAX, &offset) < 0)
			return 0;
		delivery_mbox_message_init(spool, m, &msg);
		msg.dedup = NULL;
		if (delivery_mbox_holds(t->path, &msg, offset, seen_r,
					&error) < 0) {
			log_error("delivery to %s: %s", t->path, error);
			return -1;
		}
		return 0;
	case DEDUP_NEW:
		break;
	}
	return 0;
}

/* Quota (Maildir++, Maildir only) and the store itself. */
static enum delivery_status delivery_write(struct delivery_spool *spool,
					   const struct delivery_target *t,
					   const struct delivery_message *msg,
					   struct delivery_result *res)
{
	struct quota_limits limits = { t->quota_bytes, t->quota_messages };
	const char *error;
	bool over = false;

	if (t->kind == MAILDROP_MBOX)
		return delivery_mbox(spool, t, msg, res);
	if (quota_check(t->path, &limits, msg->size, &over, &error) < 0) {
		log_error("delivery to %s: quota: %s", t->path, error);
		delivery_result_set(res, DELIVERY_TEMP, "4.3.0",
				    "cannot read the quota");
		return DELIVERY_TEMP;
	}
	if (over) {
		if (spool->set.quota_permanent)
			delivery_result_set(res, DELIVERY_PERM, "5.2.2",
					    "mailbox full");
		else
			delivery_result_set(res, DELIVERY_TEMP, "4.2.2",
					    "mailbox full");
		return res->status;
	}
	if (delivery_maildir_store(spool, t, msg, res) != DELIVERY_OK)
		return res->status;
	quota_add(t->path, &limits, (int64_t)msg->size, 1);
	return DELIVERY_OK;
}

/* Before anything is opened in the maildrop: a Maildir exists (the id
 * file lives in it); neither it nor an mbox's directory is reached
 * through a refused symlink, and an mbox is no such symlink itself. */
static int delivery_check_path(const struct delivery_target *t,
			       struct delivery_result *res)
{
	const char *error = "cannot open the maildrop";
	char dir[PATH_MAX];
	const char *slash;
	struct stat st;
	int fd;

	if (t->kind == MAILDROP_MAILDIR && t->maildir != NULL)
		return 0; /* walked and checked when opened */
	if (t->kind == MAILDROP_MAILDIR) {
		fd = delivery_open_dir(t->path, true, &error);
	} else {
		slash = strrchr(t->path, '/');
		if (slash == NULL || (size_t)(slash - t->path) >= sizeof(dir)) {
			delivery_result_set(res, DELIVERY_TEMP, "4.3.5",
					    "mbox path is not absolute");
			return -1;
		}
		memcpy(dir, t->path, (size_t)(slash - t->path));
		dir[slash - t->path] = '\0';
		fd = delivery_open_dir(dir[0] != '\0' ? dir : "/", false,
				       &error);
		if (fd >= 0 && fstatat(fd, slash + 1, &st,
				       AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISLNK(st.st_mode) && st.st_uid != 0) {
			close(fd);
			log_error("delivery to %s: refused: the mbox is a "
				  "symlink not owned by root", t->path);
			delivery_result_set(res, DELIVERY_TEMP, "4.3.5",
					    "maildrop path is a symlink");
			return -1;
		}
	}
	if (fd < 0) {
		delivery_result_errno(res, errno, error);
		return -1;
	}
	close(fd);
	return 0;
}

enum delivery_status delivery_store(struct delivery_spool *spool,
				    const struct delivery_target *t,
				    struct delivery_result *res)
{
	char prefix_buf[3 * DELIVERY_ADDR_MAX + 96], id_path[PATH_MAX];
	struct delivery_message msg;
	struct iovec prefix;
	struct msgsize ms;
	struct dedup *dedup = NULL;
	const char *error = "path too long";
	bool seen = false;
	enum delivery_status status;

	delivery_result_init(res);
	if (!spool->finished || spool->sender == NULL) {
		delivery_result_set(res, DELIVERY_TEMP, "4.3.0",
				    "message not ended");
		return DELIVERY_TEMP;
	}
	if (!delivery_addr_ok(t->rcpt)) {
		delivery_result_set(res, DELIVERY_PERM, "5.1.3",
				    "bad recipient address");
		return DELIVERY_PERM;
	}
	/* RFC 3463 4.3.0: the store is not there; the MTA keeps it queued */
	if (storeroot_check(spool->set.store_marker, &error) < 0) {
		delivery_result_set(res, DELIVERY_TEMP, "4.3.0", error);
		return DELIVERY_TEMP;
	}
	/* RFC 5598 / the Postfix and qmail convention: our own trace
	 * header already names this recipient */
	if (!spool->set.verbatim && msghdr_has_delivered_to(&spool->hdr, t->rcpt)) {
		delivery_result_set(res, DELIVERY_PERM, "5.4.6",
				    "mail loop: already delivered to this "
				    "recipient");
		return DELIVERY_PERM;
	}
	dedup_make_id(spool->body_digest, spool->sender, t->rcpt,
		      spool->hdr.message_id, res->delivery_id);
	prefix.iov_base = prefix_buf;
	prefix.iov_len = spool->set.verbatim && !spool->set.envelope_prefix ?
				 0 :
				 delivery_prefix(spool, t, prefix_buf,
						 sizeof(prefix_buf));
	msgsize_init(&ms);
	msgsize_feed(&ms, prefix_buf, prefix.iov_len);
	msg.prefix = &prefix;
	msg.nprefix = 1;
	msg.size = prefix.iov_len + spool->size;
	msg.dedup = NULL;
	msg.delivery_id = NULL;
	msg.wsize = msgsize_finish(&ms) + msgsize_finish(&spool->wsize);
	/* every lock wait of this recipient ends here (delivery.h) */
	clock_gettime(CLOCK_MONOTONIC, &msg.deadline);
	msg.deadline.tv_sec += spool->set.deadline_secs > 0 ?
				       spool->set.deadline_secs :
				       DELIVERY_DEADLINE_DEFAULT;
	if (delivery_check_path(t, res) < 0)
		return res->status;
	if (spool->set.dedup_days > 0) {
		/* Without the id file (an mbox in /var/mail where we may
		 * not create files) the mail still goes in, only without
		 * the protection against a retried transaction: deferring
		 * it would hold it until it bounces. But a lock not had in
		 * time is another delivery to this maildrop, maybe of this
		 * very message: try later. */
		errno = 0;
		if (delivery_dedup_path(t, id_path, sizeof(id_path)) < 0 ||
		    dedup_open_until(id_path, &msg.deadline, &dedup,
				     &error) < 0) {
			if (errno == ETIMEDOUT) {
				delivery_result_set(res, DELIVERY_TEMP, "4.2.0",
						    error);
				return DELIVERY_TEMP;
			}
			log_error("delivery to %s: delivery ids: %s (delivered "
				  "without the duplicate check)", t->path,
				  error);
			dedup = NULL;
		}
		if (dedup != NULL &&
		    delivery_seen(dedup, t, spool, &msg, res, &seen) < 0) {
			dedup_close(&dedup);
			delivery_result_set(res, DELIVERY_TEMP, "4.2.0",
					    "cannot tell whether an earlier "
					    "attempt stored the message");
			return DELIVERY_TEMP;
		}
		if (seen) {
			/* stored by an earlier attempt: success, no copy */
			dedup_close(&dedup);
			res->duplicate = true;
			res->size = msg.size;
			delivery_result_set(res, DELIVERY_OK, "2.0.0",
					    "already delivered");
			return DELIVERY_OK;
		}
	}
	msg.dedup = dedup;
	msg.delivery_id = res->delivery_id;
	status = delivery_write(spool, t, &msg, res);
	/* only now that the message is durable (dedup.h) */
	if (status == DELIVERY_OK && dedup != NULL &&
	    dedup_record(dedup, res->delivery_id, NULL, &error) < 0)
		log_error("delivery to %s: delivery id not recorded: %s",
			  t->path, error);
	dedup_close(&dedup);
	return status;
}
