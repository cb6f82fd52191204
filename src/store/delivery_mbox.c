/* delivery_mbox.c: appending one message to an mbox (delivery_mbox.h).
 *
 * Written the way Postfix local, procmail and mutt write /var/mail on
 * Debian, so they and we can share a file: the locks of lock.h (dotlock
 * "<mbox>.lock", fcntl, flock; taken without blocking, released before
 * each back-off, until the message's deadline), then, still under them,
 * a check that the path names the inode we opened and locked (another
 * program may have renamed or replaced it while we waited) with a single
 * link. The message goes after a "From sender date" line, quoted so no
 * line of it starts a message of its own:
 *
 *   mboxo   (default, what those programs read): "From " -> ">From "
 *   mboxrd  ">*From " gets one more '>' (reversible: mbox.c removes one)
 *
 * The quoting streams: a line start that could still become "From " (or
 * ">>From ") is held back until it is decided, so a line crossing a read
 * boundary is quoted like any other. The message ends with a line end
 * (added when missing, CRLF when the message's first line ends so) and an
 * empty line, the separator the reader expects before the next From_.
 * Then fdatasync, and the directory's fsync when the file was created. On
 * any error the file is cut back to its old size (and synced), so a
 * reader never sees half a message. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/delivery_mbox.h"
#include "store/dedup.h"
#include "store/lock.h"
#include "util/fileio.h"
#include "util/log.h"

#define DELIVERY_MBOX_BUF 65536
/* RFC 5321 4.5.3.1.3: a path is at most 256 octets; room for more */
#define DELIVERY_MBOX_SENDER_MAX 1000
#define DELIVERY_MBOX_FROM "From "
#define DELIVERY_MBOX_FROM_LEN 5

struct delivery_mbox_out {
	int fd;
	bool mboxrd;
	char *buf;             /* DELIVERY_MBOX_BUF octets */
	size_t len;
	uint64_t written;      /* octets appended, through the buffer */
	/* at a line start, while it may still turn out "From " */
	bool holding;
	uint64_t gt;           /* '>' octets held (mboxrd) */
	unsigned from_n;       /* octets of "From " matched */
	bool seen_lf, crlf, any;
	char last;             /* the message's last octet */
	/* compare mode (delivery_mbox_holds): flushes compare with the file
	 * at cmp_pos instead of writing */
	bool compare, differs;
	uint64_t cmp_pos;
	char *cmp_buf;
};

static int delivery_mbox_flush(struct delivery_mbox_out *out)
{
	if (out->len == 0)
		return 0;
	if (out->compare) {
		ssize_t got = pread(out->fd, out->cmp_buf, out->len,
				    (off_t)out->cmp_pos);

		if (got != (ssize_t)out->len ||
		    memcmp(out->cmp_buf, out->buf, out->len) != 0)
			out->differs = true;
		out->cmp_pos += out->len;
	} else if (fileio_write_all(out->fd, out->buf, out->len) < 0) {
		return -1;
	}
	out->written += out->len;
	out->len = 0;
	return 0;
}

static int delivery_mbox_emit(struct delivery_mbox_out *out, const char *p,
			      size_t n)
{
	while (n > 0) {
		size_t room = DELIVERY_MBOX_BUF - out->len;
		size_t take = n < room ? n : room;

		memcpy(out->buf + out->len, p, take);
		out->len += take;
		p += take;
		n -= take;
		if (out->len == DELIVERY_MBOX_BUF &&
		    delivery_mbox_flush(out) < 0)
			return -1;
	}
	return 0;
}

static int delivery_mbox_emit_gt(struct delivery_mbox_out *out, uint64_t n)
{
	static const char gts[] = ">>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>>";

	while (n > 0) {
		size_t take = n < sizeof(gts) - 1 ? (size_t)n : sizeof(gts) - 1;

		if (delivery_mbox_emit(out, gts, take) < 0)
			return -1;
		n -= take;
	}
	return 0;
}

/* The held line start was not a From_ line after all: as it came. */
static int delivery_mbox_release(struct delivery_mbox_out *out)
{
	out->holding = false;
	return delivery_mbox_emit_gt(out, out->gt) < 0 ||
		       delivery_mbox_emit(out, DELIVERY_MBOX_FROM,
					  out->from_n) < 0 ?
		       -1 : 0;
}

/* One octet at a held line start. Returns 1 consumed, 0 decided (the
 * octet is not part of the pattern: emit it as usual), -1 error. */
static int delivery_mbox_hold(struct delivery_mbox_out *out, char c)
{
	if (c == '>' && out->from_n == 0 && out->mboxrd) {
		out->gt++;
		return 1;
	}
	if (c == DELIVERY_MBOX_FROM[out->from_n]) {
		if (++out->from_n < DELIVERY_MBOX_FROM_LEN)
			return 1;
		/* a From_ line: one more '>' than it had */
		out->holding = false;
		return delivery_mbox_emit_gt(out, out->gt + 1) < 0 ||
			       delivery_mbox_emit(out, DELIVERY_MBOX_FROM,
						  DELIVERY_MBOX_FROM_LEN) < 0 ?
			       -1 : 1;
	}
	return delivery_mbox_release(out) < 0 ? -1 : 0;
}

static void delivery_mbox_line_start(struct delivery_mbox_out *out)
{
	out->holding = true;
	out->gt = 0;
	out->from_n = 0;
}

/* Quotes and writes len octets of the message. */
static int delivery_mbox_feed(struct delivery_mbox_out *out, const char *p,
			      size_t len)
{
	const char *end = p + len;

	while (p < end) {
		const char *lf;
		size_t run;

		if (out->holding) {
			int r = delivery_mbox_hold(out, *p);

			if (r < 0)
				return -1;
			if (r == 1) {
				out->last = *p++;
				out->any = true;
				continue;
			}
		}
		/* the rest of the line goes out as it is */
		lf = memchr(p, '\n', (size_t)(end - p));
		run = lf != NULL ? (size_t)(lf - p) + 1 : (size_t)(end - p);
		if (lf != NULL && !out->seen_lf) {
			out->seen_lf = true;
			out->crlf = lf > p ? lf[-1] == '\r' : out->last == '\r';
		}
		if (delivery_mbox_emit(out, p, run) < 0)
			return -1;
		out->last = p[run - 1];
		out->any = true;
		p += run;
		if (lf != NULL)
			delivery_mbox_line_start(out);
	}
	return 0;
}

/* End of the message: a held start as it was, a line end when the last
 * line has none, the empty separator line. */
static int delivery_mbox_finish(struct delivery_mbox_out *out)
{
	const char *eol = out->crlf ? "\r\n" : "\n";

	if (out->holding && delivery_mbox_release(out) < 0)
		return -1;
	if (out->any && out->last != '\n') {
		const char *add = out->last == '\r' && out->crlf ? "\n" : eol;

		if (delivery_mbox_emit(out, add, strlen(add)) < 0)
			return -1;
	}
	if (delivery_mbox_emit(out, eol, strlen(eol)) < 0)
		return -1;
	return delivery_mbox_flush(out);
}

/* "From sender Www Mmm dd hh:mm:ss yyyy\n" (asctime, local time, as
 * Postfix and procmail write it); the sender without blanks or control
 * octets, which would break the line. */
static int delivery_mbox_from_line(struct delivery_mbox_out *out,
				   const struct delivery_mbox_message *msg)
{
	char line[DELIVERY_MBOX_SENDER_MAX + 64], date[64];
	const char *sender = msg->sender != NULL && msg->sender[0] != '\0' ?
				     msg->sender : "MAILER-DAEMON";
	size_t n = DELIVERY_MBOX_FROM_LEN, i;
	struct tm tm;

	memcpy(line, DELIVERY_MBOX_FROM, n);
	for (i = 0; i < DELIVERY_MBOX_SENDER_MAX && sender[i] != '\0'; i++) {
		unsigned char c = (unsigned char)sender[i];

		line[n++] = c <= ' ' || c == 0x7f ? '_' : (char)c;
	}
	if (localtime_r(&msg->received, &tm) == NULL ||
	    asctime_r(&tm, date) == NULL)
		return -1;
	line[n++] = ' ';
	memcpy(line + n, date, strlen(date)); /* ends in '\n' */
	n += strlen(date);
	return delivery_mbox_emit(out, line, n);
}

/* What goes before our From_ line so that it follows an empty line:
 * nothing for an empty file or one ending in one; else the missing line
 * ends (a writer that left none). */
static int delivery_mbox_separator(int fd, uint64_t size, const char **sep_r)
{
	char tail[3];
	size_t n = size < sizeof(tail) ? (size_t)size : sizeof(tail);
	ssize_t got;

	*sep_r = "";
	if (size == 0)
		return 0;
	got = pread(fd, tail, n, (off_t)(size - n));
	if (got != (ssize_t)n)
		return -1;
	if (tail[n - 1] != '\n')
		*sep_r = "\n\n";
	else if (!(n >= 2 && tail[n - 2] == '\n') &&
		 !(n == 3 && tail[0] == '\n' && tail[1] == '\r'))
		*sep_r = "\n";
	return 0;
}

/* Copies the prefix and the spool (from offset 0, pread: the spool's
 * offset is shared by every recipient) through the quoting. */
static int delivery_mbox_copy(struct delivery_mbox_out *out,
			      const struct delivery_mbox_message *msg,
			      const char **error_r)
{
	char *buf;
	off_t off = 0;
	size_t i;
	int ret = -1;

	for (i = 0; i < msg->nprefix; i++) {
		if (delivery_mbox_feed(out, msg->prefix[i].iov_base,
				       msg->prefix[i].iov_len) < 0)
			goto out_write;
	}
	buf = malloc(DELIVERY_MBOX_BUF);
	if (buf == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	for (;;) {
		ssize_t n = pread(msg->fd, buf, DELIVERY_MBOX_BUF, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*error_r = "cannot read the spooled message";
			goto out_free;
		}
		if (n == 0)
			break;
		if (delivery_mbox_feed(out, buf, (size_t)n) < 0)
			goto out_free_write;
		off += n;
	}
	if (delivery_mbox_finish(out) < 0)
		goto out_free_write;
	ret = 0;
	goto out_free;
out_free_write:
	*error_r = "cannot write to the mbox";
out_free:
	free(buf);
	return ret;
out_write:
	*error_r = "cannot write to the mbox";
	return -1;
}

/* Opens path for appending, never through a symlink, never blocking on
 * a FIFO. Returns the fd, or -1 with *error_r and *temporary_r. */
static int delivery_mbox_open(const char *path, bool *created_r,
			      bool *temporary_r, const char **error_r)
{
	int flags = O_RDWR | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
		    O_CLOEXEC;
	struct stat st;
	int fd;

	fd = open(path, flags | O_CREAT | O_EXCL, 0600);
	*created_r = fd >= 0;
	if (fd < 0 && errno == EEXIST)
		fd = open(path, flags);
	if (fd < 0) {
		*temporary_r = errno != ELOOP && errno != EISDIR;
		*error_r = errno == ELOOP ? "the mbox is a symbolic link" :
			   errno == EISDIR ? "the mbox is a directory" :
					     "cannot open the mbox";
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		*temporary_r = false;
		*error_r = "the mbox is not a regular file";
		close(fd);
		return -1;
	}
	if (fcntl(fd, F_SETFL, O_RDWR | O_APPEND) < 0) {
		*error_r = "cannot open the mbox";
		close(fd);
		return -1;
	}
	return fd;
}

/* Under the locks: path still names the inode fd has, with one link (a
 * second name would be a second mailbox written through this one). */
static int delivery_mbox_same_file(const char *path, int fd, struct stat *st_r,
				   const char **error_r)
{
	struct stat lst;

	if (fstat(fd, st_r) < 0 || lstat(path, &lst) < 0 ||
	    st_r->st_dev != lst.st_dev || st_r->st_ino != lst.st_ino) {
		*error_r = "the mbox was replaced while it was being locked";
		return -1;
	}
	if (st_r->st_nlink != 1) {
		*error_r = "the mbox has more than one link";
		return -1;
	}
	return 0;
}

int delivery_mbox_append(const char *path,
			 const struct delivery_mbox_message *msg,
			 uint64_t *offset_r, uint64_t *size_r,
			 bool *temporary_r, const char **error_r)
{
	struct delivery_mbox_out out;
	struct lock_mbox *lock = NULL;
	const char *sep;
	struct stat st;
	bool created;
	int fd, r, saved_errno = 0, ret = -1;

	*temporary_r = true;
	fd = delivery_mbox_open(path, &created, temporary_r, error_r);
	if (fd < 0)
		return -1;
	r = lock_mbox_take_until(path, fd, &msg->deadline, &lock, error_r);
	if (r != MAILDROP_OK) {
		if (r == MAILDROP_IN_USE)
			*error_r = "timed out waiting for the mbox locks";
		goto out_close;
	}
	if (delivery_mbox_same_file(path, fd, &st, error_r) < 0)
		goto out_unlock;
	if (delivery_mbox_separator(fd, (uint64_t)st.st_size, &sep) < 0) {
		*error_r = "cannot read the end of the mbox";
		goto out_unlock;
	}
	memset(&out, 0, sizeof(out));
	out.fd = fd;
	out.mboxrd = msg->mboxrd;
	out.buf = malloc(DELIVERY_MBOX_BUF);
	if (out.buf == NULL) {
		*error_r = "out of memory";
		goto out_unlock;
	}
	if (msg->dedup != NULL) {
		char name[32];
		const char *dedup_error;

		/* a kill from here on leaves the offset for the retry */
		snprintf(name, sizeof(name), "mbox@%llu",
			 (unsigned long long)st.st_size + strlen(sep));
		if (dedup_record(msg->dedup, msg->delivery_id, name,
				 &dedup_error) < 0)
			log_error("delivery to %s: delivery id not recorded: %s",
				  path, dedup_error);
	}
	delivery_mbox_line_start(&out);
	if (delivery_mbox_emit(&out, sep, strlen(sep)) < 0 ||
	    delivery_mbox_from_line(&out, msg) < 0) {
		*error_r = "cannot write to the mbox";
		goto out_truncate;
	}
	if (delivery_mbox_copy(&out, msg, error_r) < 0)
		goto out_truncate;
	if (fdatasync(fd) < 0) {
		*error_r = "cannot sync the mbox";
		goto out_truncate;
	}
	if (created && fileio_fsync_parent(path) < 0) {
		*error_r = "cannot sync the mbox directory";
		goto out_truncate;
	}
	*offset_r = (uint64_t)st.st_size + strlen(sep);
	*size_r = out.written - strlen(sep);
	ret = 0;
	goto out_free;

out_truncate:
	saved_errno = errno;
	/* whatever part went out is cut off: whole or nothing */
	if (ftruncate(fd, st.st_size) < 0 || fdatasync(fd) < 0)
		*error_r = "cannot write to the mbox, nor cut it back to its "
			   "old size";
out_free:
	free(out.buf);
out_unlock:
	lock_mbox_release(&lock);
out_close:
	close(fd);
	if (ret < 0 && saved_errno != 0)
		errno = saved_errno; /* ENOSPC, EDQUOT, EIO for the caller */
	return ret;
}

/* The From_ line an attempt wrote at offset: "From " and the sender as
 * delivery_mbox_from_line makes it, then a date up to the LF. Its length
 * (with the LF), or 0 when it is not one. */
static size_t delivery_mbox_from_at(int fd, uint64_t offset,
				    const struct delivery_mbox_message *msg)
{
	struct delivery_mbox_out probe;
	char line[DELIVERY_MBOX_SENDER_MAX + 64];
	ssize_t got = pread(fd, line, sizeof(line), (off_t)offset);
	const char *lf, *sp;
	size_t len = 0;

	if (got <= 0 || (lf = memchr(line, '\n', (size_t)got)) == NULL)
		return 0;
	/* the line this message would get, up to its date (the From_ line
	 * fits the probe's buffer long before it would flush) */
	memset(&probe, 0, sizeof(probe));
	probe.buf = malloc(DELIVERY_MBOX_BUF);
	if (probe.buf != NULL && delivery_mbox_from_line(&probe, msg) == 0 &&
	    (sp = memchr(probe.buf + DELIVERY_MBOX_FROM_LEN, ' ',
			 probe.len - DELIVERY_MBOX_FROM_LEN)) != NULL &&
	    (size_t)(lf - line) >= (size_t)(sp - probe.buf) &&
	    memcmp(line, probe.buf, (size_t)(sp - probe.buf) + 1) == 0)
		len = (size_t)(lf - line) + 1;
	free(probe.buf);
	return len;
}

int delivery_mbox_holds(const char *path,
			const struct delivery_mbox_message *msg,
			uint64_t offset, bool *found_r, const char **error_r)
{
	struct delivery_mbox_out out;
	struct lock_mbox *lock = NULL;
	struct stat st;
	size_t from_len;
	int fd, r, ret = -1;

	*found_r = false;
	/* never made here: a missing mbox holds nothing */
	fd = open(path, O_RDWR | O_APPEND | O_NOFOLLOW | O_NONBLOCK |
			O_NOCTTY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    fcntl(fd, F_SETFL, O_RDWR | O_APPEND) < 0) {
		*error_r = "cannot open the mbox";
		if (fd >= 0)
			close(fd);
		return -1;
	}
	r = lock_mbox_take_until(path, fd, &msg->deadline, &lock, error_r);
	if (r != MAILDROP_OK) {
		if (r == MAILDROP_IN_USE)
			*error_r = "timed out waiting for the mbox locks";
		goto out_close;
	}
	ret = 0;
	if (fstat(fd, &st) < 0 || offset >= (uint64_t)st.st_size ||
	    (from_len = delivery_mbox_from_at(fd, offset, msg)) == 0)
		goto out_unlock;
	memset(&out, 0, sizeof(out));
	out.fd = fd;
	out.mboxrd = msg->mboxrd;
	out.compare = true;
	out.cmp_pos = offset + from_len;
	out.buf = malloc(DELIVERY_MBOX_BUF);
	out.cmp_buf = malloc(DELIVERY_MBOX_BUF);
	if (out.buf == NULL || out.cmp_buf == NULL) {
		*error_r = "out of memory";
		ret = -1;
		goto out_free;
	}
	delivery_mbox_line_start(&out);
	if (delivery_mbox_copy(&out, msg, error_r) < 0) {
		ret = -1;
		goto out_free;
	}
	*found_r = !out.differs && out.cmp_pos <= (uint64_t)st.st_size;
	if (*found_r && fdatasync(fd) < 0) {
		*error_r = "cannot sync the mbox";
		ret = -1;
	}
out_free:
	free(out.buf);
	free(out.cmp_buf);
out_unlock:
	lock_mbox_release(&lock);
out_close:
	close(fd);
	return ret;
}
