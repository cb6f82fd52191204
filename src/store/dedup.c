/* dedup.c: the delivery ids remembered per maildrop, so a retried
 * transaction is not stored twice (dedup.h).
 *
 * Locking: the flock is on "<file>.lock", a file that is created once and
 * never replaced or removed, not on the id file itself. Compaction
 * replaces the id file by rename (fileio_replace); a lock on its inode
 * would then sit on a file nobody opens any more, and a process that had
 * opened the old name and was waiting for that lock would get it and
 * read (and append to) the replaced file. Every user takes the lock
 * first and opens the id file only under it, so it always reads and
 * appends to the current one.
 *
 * Bounds: the file is read once at open (at most DEDUP_READ_MAX octets,
 * the newest end when it is larger) and scanned linearly, O(entries);
 * at most DEDUP_MAX_ENTRIES ids are kept (store_limits.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "store/dedup.h"
#include "store/store_limits.h"
#include "util/fileio.h"
#include "util/strnum.h"

/* "id epoch[ name]\n": 32 + 1 + up to 20 + 1 + a name + 1 octets */
#define DEDUP_LINE_MAX (DEDUP_ID_HEX + 23 + DEDUP_NAME_MAX)
#define DEDUP_READ_MAX ((size_t)DEDUP_MAX_ENTRIES * 2 * DEDUP_LINE_MAX)
#define DEDUP_DAY_SECS 86400

struct dedup {
	char *path;
	int lock_fd;       /* flock held on "<path>.lock" */
	int fd;            /* the id file, O_APPEND */
	bool created;      /* made by this open: its directory needs a sync */
	bool needs_nl;     /* the file ends in a partial line (a crash) */
	bool truncated;    /* only the newest end was read: compact */
	char *buf;         /* the file's content (see truncated) */
	size_t len;
	unsigned days;     /* from the last dedup_seen: what "old" means */
	bool counted;      /* lines and stale are set */
	size_t lines;      /* lines of buf, and the old (or broken) ones */
	size_t stale;      /* before the first fresh entry */
};

static bool dedup_id_valid(const char *id, size_t len)
{
	size_t i;

	if (len != DEDUP_ID_HEX)
		return false;
	for (i = 0; i < len; i++) {
		if (!((id[i] >= '0' && id[i] <= '9') ||
		      (id[i] >= 'a' && id[i] <= 'f')))
			return false;
	}
	return true;
}

/* A stored name: what Maildir names are made of (delivery_name.c), no
 * blank, no colon, no slash. */
static bool dedup_name_valid(const char *name, size_t len)
{
	size_t i;

	if (len == 0 || len > DEDUP_NAME_MAX)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c <= ' ' || c >= 0x7f || c == ':' || c == '/')
			return false;
	}
	return true;
}

/* One line without its LF: "id epoch" (done) or "id epoch name"
 * (pending). Anything else (a line cut by a crash, junk) is not an entry
 * and is dropped at the next compaction. *name_r and *name_len_r: the name,
 * length 0 for a done entry. */
static bool dedup_parse_line(const char *line, size_t len, uint64_t *epoch_r,
			     const char **name_r, size_t *name_len_r)
{
	char num[24];
	const char *sp;
	size_t nlen;

	if (len <= DEDUP_ID_HEX + 1 || line[DEDUP_ID_HEX] != ' ' ||
	    !dedup_id_valid(line, DEDUP_ID_HEX))
		return false;
	nlen = len - DEDUP_ID_HEX - 1;
	sp = memchr(line + DEDUP_ID_HEX + 1, ' ', nlen);
	*name_r = NULL;
	*name_len_r = 0;
	if (sp != NULL) {
		*name_r = sp + 1;
		*name_len_r = (size_t)(line + len - (sp + 1));
		if (!dedup_name_valid(*name_r, *name_len_r))
			return false;
		nlen = (size_t)(sp - (line + DEDUP_ID_HEX + 1));
	}
	if (nlen == 0 || nlen >= sizeof(num))
		return false;
	memcpy(num, line + DEDUP_ID_HEX + 1, nlen);
	num[nlen] = '\0';
	return strnum_parse_u64(num, INT64_MAX, epoch_r) == 0;
}

static int dedup_read(struct dedup *dedup, const char **error_r)
{
	struct stat st;
	off_t from = 0;
	size_t want, got = 0;
	char *nl;

	if (fstat(dedup->fd, &st) < 0) {
		*error_r = "cannot stat the delivery id file";
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		*error_r = "the delivery id file is not a regular file";
		return -1;
	}
	want = (size_t)st.st_size;
	if (want > DEDUP_READ_MAX) {
		from = st.st_size - (off_t)DEDUP_READ_MAX;
		want = DEDUP_READ_MAX;
		dedup->truncated = true;
	}
	dedup->buf = malloc(want + 1);
	if (dedup->buf == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	while (got < want) {
		ssize_t n = pread(dedup->fd, dedup->buf + got, want - got,
				  from + (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*error_r = "cannot read the delivery id file";
			return -1;
		}
		if (n == 0)
			break; /* shorter than stat said: fine */
		got += (size_t)n;
	}
	dedup->len = got;
	dedup->needs_nl = got > 0 && dedup->buf[got - 1] != '\n';
	if (dedup->truncated && (nl = memchr(dedup->buf, '\n', got)) != NULL) {
		/* drop the partial first line of the tail */
		dedup->len = got - (size_t)(nl + 1 - dedup->buf);
		memmove(dedup->buf, nl + 1, dedup->len);
	}
	return 0;
}

static int dedup_open_file(struct dedup *dedup, const char **error_r)
{
	dedup->fd = open(dedup->path, O_RDWR | O_APPEND | O_CREAT | O_EXCL |
				      O_NOFOLLOW | O_CLOEXEC, 0600);
	dedup->created = dedup->fd >= 0;
	if (dedup->fd < 0 && errno == EEXIST)
		dedup->fd = open(dedup->path, O_RDWR | O_APPEND | O_NOFOLLOW |
					      O_CLOEXEC);
	if (dedup->fd < 0) {
		*error_r = "cannot open the delivery id file";
		return -1;
	}
	return 0;
}

static int64_t dedup_ms_until(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)(deadline->tv_sec - now.tv_sec) * 1000 +
	       (deadline->tv_nsec - now.tv_nsec) / 1000000;
}

/* Takes the flock: blocking without a deadline (the holder keeps it for
 * one store, which its own deadline bounds, and a holder that dies
 * releases it), else retried without blocking until the deadline. */
static int dedup_lock(int fd, const struct timespec *deadline,
		      const char **error_r)
{
	long delay = 5;

	for (;;) {
		int64_t left;

		if (flock(fd, deadline == NULL ? LOCK_EX : LOCK_EX | LOCK_NB) ==
		    0)
			return 0;
		if (errno != EINTR && errno != EWOULDBLOCK) {
			*error_r = "cannot lock the delivery id file";
			return -1;
		}
		if (deadline == NULL || errno == EINTR)
			continue;
		left = dedup_ms_until(deadline);
		if (left <= 0) {
			*error_r = "timed out waiting for the delivery id lock";
			errno = ETIMEDOUT;
			return -1;
		}
		{
			long ms = left < delay ? (long)left : delay;
			struct timespec ts = { ms / 1000,
					       (ms % 1000) * 1000000L };

			nanosleep(&ts, NULL);
		}
		if (delay < 100)
			delay *= 2;
	}
}

int dedup_open(const char *file_path, struct dedup **dedup_r,
	       const char **error_r)
{
	return dedup_open_until(file_path, NULL, dedup_r, error_r);
}

int dedup_open_until(const char *file_path, const struct timespec *deadline,
		     struct dedup **dedup_r, const char **error_r)
{
	struct dedup *dedup;
	size_t plen = strlen(file_path);
	char *lock_path;

	dedup = calloc(1, sizeof(*dedup));
	lock_path = malloc(plen + sizeof(".lock"));
	if (dedup == NULL || lock_path == NULL ||
	    (dedup->path = strdup(file_path)) == NULL) {
		free(dedup);
		free(lock_path);
		*error_r = "out of memory";
		return -1;
	}
	memcpy(lock_path, file_path, plen);
	memcpy(lock_path + plen, ".lock", sizeof(".lock"));
	dedup->fd = -1;
	dedup->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_NOFOLLOW |
					 O_CLOEXEC, 0600);
	free(lock_path);
	if (dedup->lock_fd < 0) {
		*error_r = "cannot open the delivery id lock file";
		goto out_free;
	}
	if (dedup_lock(dedup->lock_fd, deadline, error_r) < 0)
		goto out_free;
	if (dedup_open_file(dedup, error_r) < 0 ||
	    dedup_read(dedup, error_r) < 0)
		goto out_free;
	*dedup_r = dedup;
	return 0;

out_free:
	dedup_close(&dedup);
	return -1;
}

static uint64_t dedup_cutoff(unsigned days)
{
	uint64_t now = (uint64_t)time(NULL), span = (uint64_t)days *
						   DEDUP_DAY_SECS;

	return now > span ? now - span : 0;
}

/* Counts the lines, and the old ones at the start (entries are appended
 * in time order, so the old ones are a prefix: counting stops at the
 * first fresh entry, which keeps a record O(old entries), not O(file)).
 * A broken line counts as old: compaction drops it. */
static void dedup_count(struct dedup *dedup, uint64_t cutoff)
{
	const char *p = dedup->buf, *end = dedup->buf + dedup->len, *name;
	bool in_prefix = true;
	size_t name_len;
	uint64_t epoch;

	dedup->lines = dedup->stale = 0;
	dedup->counted = true;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl != NULL ? nl : end) - p);

		dedup->lines++;
		if (in_prefix) {
			if (dedup_parse_line(p, len, &epoch, &name, &name_len) &&
			    epoch >= cutoff)
				in_prefix = false;
			else
				dedup->stale++;
		}
		p += len + 1;
	}
}

/* The state of id among the fresh entries: done when any entry says so,
 * else pending with the name of the newest pending entry. The id is
 * searched in the raw text (memmem) and only lines that start with it
 * are parsed, so a lookup costs a scan of the file, not a parse of it. */
static enum dedup_state dedup_find(const struct dedup *dedup, const char *id,
				   uint64_t cutoff, char *name_r,
				   size_t name_size)
{
	const char *p = dedup->buf, *end = dedup->buf + dedup->len, *hit;
	enum dedup_state state = DEDUP_NEW;

	while (p < end && (hit = memmem(p, (size_t)(end - p), id,
					DEDUP_ID_HEX)) != NULL) {
		const char *nl = memchr(hit, '\n', (size_t)(end - hit));
		size_t len = (size_t)((nl != NULL ? nl : end) - hit);
		const char *name;
		size_t name_len;
		uint64_t epoch;

		if ((hit == dedup->buf || hit[-1] == '\n') &&
		    dedup_parse_line(hit, len, &epoch, &name, &name_len) &&
		    epoch >= cutoff) {
			if (name_len == 0)
				return DEDUP_DONE;
			if (name_len < name_size) {
				state = DEDUP_PENDING;
				memcpy(name_r, name, name_len);
				name_r[name_len] = '\0';
			}
		}
		p = hit + 1;
	}
	return state;
}

enum dedup_state dedup_lookup(struct dedup *dedup, const char *id,
			      unsigned days, char *name_r, size_t name_size)
{
	dedup->days = days;
	if (days == 0 || !dedup_id_valid(id, strlen(id)))
		return DEDUP_NEW;
	return dedup_find(dedup, id, dedup_cutoff(days), name_r, name_size);
}

/* Rewrites the file with the fresh entries only (the newest
 * DEDUP_MAX_ENTRIES / 2 of them when there are more) and then line,
 * under the lock; reopens the new file for later appends. */
static int dedup_compact(struct dedup *dedup, const char *line, size_t llen,
			 const char **error_r)
{
	uint64_t cutoff = dedup->days > 0 ? dedup_cutoff(dedup->days) : 0;
	uint64_t epoch;
	size_t keep_max = DEDUP_MAX_ENTRIES / 2, skip, n = 0, out = 0;
	size_t name_len;
	const char *p, *end = dedup->buf + dedup->len, *name;
	char *nbuf;

	nbuf = malloc(dedup->len + llen);
	if (nbuf == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	/* two passes: count the fresh entries, then copy the newest */
	for (p = dedup->buf; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl != NULL ? nl : end) - p);

		if (nl != NULL &&
		    dedup_parse_line(p, len, &epoch, &name, &name_len) &&
		    epoch >= cutoff)
			n++;
		p += len + 1;
	}
	skip = n > keep_max ? n - keep_max : 0;
	for (p = dedup->buf; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl != NULL ? nl : end) - p);

		if (nl != NULL &&
		    dedup_parse_line(p, len, &epoch, &name, &name_len) &&
		    epoch >= cutoff) {
			if (skip > 0) {
				skip--;
			} else {
				memcpy(nbuf + out, p, len + 1);
				out += len + 1;
			}
		}
		p += len + 1;
	}
	memcpy(nbuf + out, line, llen);
	out += llen;
	if (fileio_replace(dedup->path, nbuf, out, 0600, error_r) < 0) {
		free(nbuf);
		return -1;
	}
	free(dedup->buf);
	dedup->buf = nbuf;
	dedup->len = out;
	dedup->needs_nl = dedup->truncated = dedup->created = false;
	dedup->counted = false; /* counted again at the next record */
	close(dedup->fd);
	if (dedup_open_file(dedup, error_r) < 0)
		return -1;
	return 0;
}

static bool dedup_wants_compaction(const struct dedup *dedup)
{
	if (dedup->truncated || dedup->lines + 1 > DEDUP_MAX_ENTRIES)
		return true;
	/* old (or broken) entries are most of a file worth rewriting */
	return dedup->days > 0 && dedup->lines >= DEDUP_COMPACT_MIN &&
	       dedup->stale * 2 > dedup->lines;
}

int dedup_record(struct dedup *dedup, const char *id, const char *name,
		 const char **error_r)
{
	char line[DEDUP_LINE_MAX + 1];
	size_t off = dedup->needs_nl ? 1 : 0;
	char *nbuf;
	int len;

	if (!dedup_id_valid(id, strlen(id)) ||
	    (name != NULL && !dedup_name_valid(name, strlen(name)))) {
		*error_r = "invalid delivery id";
		return -1;
	}
	line[0] = '\n'; /* ends a line a crash left without its LF */
	len = snprintf(line + off, sizeof(line) - off, "%s %lld%s%s\n", id,
		       (long long)time(NULL), name != NULL ? " " : "",
		       name != NULL ? name : "");
	if (len < 0 || (size_t)len >= sizeof(line) - off) {
		*error_r = "invalid delivery id";
		return -1;
	}
	if (!dedup->counted)
		dedup_count(dedup,
			    dedup->days > 0 ? dedup_cutoff(dedup->days) : 0);
	if (dedup_wants_compaction(dedup))
		return dedup_compact(dedup, line + off, (size_t)len, error_r);
	len += (int)off;
	/* one write under the lock, so no reader sees half a line; no
	 * fsync (dedup.h: what a crash of the machine may cost) */
	if (fileio_write_all(dedup->fd, line, (size_t)len) < 0) {
		*error_r = "cannot write the delivery id file";
		return -1;
	}
	if (dedup->created) {
		if (fileio_fsync_parent(dedup->path) < 0) {
			*error_r = "cannot sync the delivery id directory";
			return -1;
		}
		dedup->created = false;
	}
	dedup->needs_nl = false;
	dedup->lines++;
	nbuf = realloc(dedup->buf, dedup->len + (size_t)len);
	if (nbuf != NULL) {
		/* so a later dedup_seen on this handle sees it too */
		memcpy(nbuf + dedup->len, line, (size_t)len);
		dedup->buf = nbuf;
		dedup->len += (size_t)len;
	}
	return 0;
}

void dedup_close(struct dedup **dedupp)
{
	struct dedup *dedup = *dedupp;

	if (dedup == NULL)
		return;
	*dedupp = NULL;
	if (dedup->fd >= 0)
		close(dedup->fd);
	if (dedup->lock_fd >= 0)
		close(dedup->lock_fd); /* releases the flock */
	free(dedup->buf);
	free(dedup->path);
	free(dedup);
}

static void dedup_digest_part(EVP_MD_CTX *ctx, const char *s)
{
	size_t len = s != NULL ? strlen(s) : 0;
	unsigned char be[8];
	int i;

	/* length-prefixed, so ("ab","c") and ("a","bc") differ */
	for (i = 0; i < 8; i++)
		be[i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
	EVP_DigestUpdate(ctx, be, sizeof(be));
	if (len > 0)
		EVP_DigestUpdate(ctx, s, len);
}

void dedup_make_id(const unsigned char body_digest[DEDUP_BODY_DIGEST],
		   const char *sender, const char *rcpt,
		   const char *message_id, char *id_r)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t i;

	memset(md, 0, sizeof(md));
	if (ctx == NULL ||
	    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, body_digest, DEDUP_BODY_DIGEST) != 1) {
		/* no id can be made: one that matches nothing stored */
		EVP_MD_CTX_free(ctx);
		id_r[0] = '\0';
		return;
	}
	dedup_digest_part(ctx, sender);
	dedup_digest_part(ctx, rcpt);
	dedup_digest_part(ctx, message_id);
	if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen < 16) {
		EVP_MD_CTX_free(ctx);
		id_r[0] = '\0';
		return;
	}
	EVP_MD_CTX_free(ctx);
	for (i = 0; i < DEDUP_ID_HEX / 2; i++) {
		id_r[2 * i] = hex[md[i] >> 4];
		id_r[2 * i + 1] = hex[md[i] & 15];
	}
	id_r[DEDUP_ID_HEX] = '\0';
}
