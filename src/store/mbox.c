/* mbox.c: the mbox store ("/var/mail/%u"), read as mboxrd.
 *
 * A message starts at a "From " line at the start of the file or right
 * after an empty line. The From_ line and the empty line before the next
 * From_ (or at the end of the file) belong to the format, not to the
 * message. Whether a file was written as mboxo or mboxrd cannot be told,
 * so every line matching ^>+From  loses one '>' when read (mboxrd). For
 * mboxo files this is also the right un-quoting of the ">From " lines the
 * writer quoted; a ">From " that was in the original message comes out as
 * "From ", which mboxo cannot represent anyway (lossy by format).
 *
 * The file is scanned through mmap under dotlock + fcntl + flock, then
 * unlocked so the MTA can append during the session; messages are read
 * with pread() (a truncated file then gives an I/O error, not SIGBUS).
 * Deletions compact the file in place under the same locks, keeping every
 * octet after the snapshot (mail delivered meanwhile), through a journal
 * that the next open finishes after a crash (mbox_compact.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/driver.h"
#include "store/hdrline.h"
#include "store/index.h"
#include "store/lock.h"
#include "store/mbox_compact.h"
#include "store/msgconv.h"
#include "store/uidl.h"

#define MBOX_SESSION_LOCK_SUFFIX ".satchel-lock"
#define MBOX_INDEX_SUFFIX ".satchel-index"
#define MBOX_FROM "From "
#define MBOX_FROM_LEN 5

struct mbox_info {
	uint64_t from_off;   /* the From_ line */
	uint64_t body_off;   /* first octet of the message */
	uint64_t end_off;    /* end of the message (separator excluded) */
	uint64_t next_off;   /* next From_, or the snapshot end */
	size_t quote_first;  /* in mbox.quotes: '>' octets to drop */
	size_t quote_count;
	int64_t retrieved;
};

/* Header values found while scanning, as offsets into the map. */
struct mbox_headers {
	const char *uidl, *msgid, *date;
	size_t uidl_len, msgid_len, date_len;
};

struct mbox {
	struct maildrop drop;
	char *path;
	struct lock_file *lock;
	int fd;                 /* session fd, -1 when there is no file */
	dev_t dev;
	ino_t ino;
	uint64_t snap_size;     /* octets covered by the snapshot */
	struct mbox_info *info; /* parallel to drop.msgs */
	size_t info_alloc;
	uint64_t *quotes;
	size_t quotes_count, quotes_alloc;
	bool index_dirty;
};

struct mbox_reader {
	struct maildrop_reader reader;
	const struct mbox *mb;
	uint64_t pos, end;
	size_t q, q_end;
};

static char *mbox_path_with(const char *path, const char *suffix)
{
	size_t plen = strlen(path), slen = strlen(suffix);
	char *p = malloc(plen + slen + 1);

	if (p != NULL) {
		memcpy(p, path, plen);
		memcpy(p + plen, suffix, slen + 1);
	}
	return p;
}

static int mbox_add_quote(struct mbox *mb, uint64_t off)
{
	if (mb->quotes_count == mb->quotes_alloc) {
		size_t n = mb->quotes_alloc == 0 ? 64 : mb->quotes_alloc * 2;
		uint64_t *q;

		if (n > SIZE_MAX / sizeof(*q))
			return -1;
		q = realloc(mb->quotes, n * sizeof(*q));
		if (q == NULL)
			return -1;
		mb->quotes = q;
		mb->quotes_alloc = n;
	}
	mb->quotes[mb->quotes_count++] = off;
	return 0;
}

static struct mbox_info *mbox_new_info(struct mbox *mb)
{
	if (mb->drop.count == mb->info_alloc) {
		size_t n = mb->info_alloc == 0 ? 64 : mb->info_alloc * 2;
		struct mbox_info *info;

		if (n > UINT_MAX / 2)
			return NULL;
		info = realloc(mb->info, n * sizeof(*info));
		if (info == NULL)
			return NULL;
		mb->info = info;
		mb->info_alloc = n;
	}
	memset(&mb->info[mb->drop.count], 0, sizeof(*mb->info));
	return &mb->info[mb->drop.count];
}

static bool mbox_is_from_line(const char *line, size_t rest)
{
	return rest >= MBOX_FROM_LEN &&
	       /* callers pass the mapped file; NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker) */
	       memcmp(line, MBOX_FROM, MBOX_FROM_LEN) == 0;
}

/* Scans one message starting at the From_ line at pos. */
static int mbox_scan_message(struct mbox *mb, const char *map, size_t len,
			     size_t pos, struct mbox_headers *h,
			     struct mbox_info *info)
{
	const char *lf = memchr(map + pos, '\n', len - pos);
	size_t body = lf != NULL ? (size_t)(lf - map) + 1 : len;
	size_t ls = body, prev_ls = body;
	bool prev_empty = false, in_header = true;

	memset(h, 0, sizeof(*h));
	info->from_off = pos;
	info->body_off = body;
	info->quote_first = mb->quotes_count;
	info->next_off = len;
	info->end_off = len;
	while (ls < len) {
		const char *line = map + ls;
		size_t rest = len - ls, next_ls, llen;
		bool empty;

		lf = memchr(line, '\n', rest);
		next_ls = lf != NULL ? (size_t)(lf - map) + 1 : len;
		llen = next_ls - ls;
		if (prev_empty && mbox_is_from_line(line, rest)) {
			info->end_off = prev_ls;
			info->next_off = ls;
			return 0;
		}
		if (line[0] == '>') {
			size_t q = 1;

			while (q < rest && line[q] == '>')
				q++;
			if (mbox_is_from_line(line + q, rest - q) &&
			    mbox_add_quote(mb, ls) < 0)
				return -1;
		}
		empty = lf != NULL && (llen == 1 ||
				       (llen == 2 && line[0] == '\r'));
		if (in_header && empty) {
			in_header = false;
		} else if (in_header) {
			hdrline_value(line, llen, "X-UIDL:", &h->uidl,
				      &h->uidl_len);
			hdrline_value(line, llen, "Message-ID:", &h->msgid,
				      &h->msgid_len);
			hdrline_value(line, llen, "Date:", &h->date,
				      &h->date_len);
		}
		prev_empty = empty;
		prev_ls = ls;
		ls = next_ls;
	}
	/* the blank line a writer adds after the last message */
	if (prev_empty)
		info->end_off = prev_ls;
	return 0;
}

/* The fallback UIDL: a digest of what identifies the message and does
 * not change while it sits in the file (From_ line, Message-ID, Date,
 * size), so it is stable across sessions and other messages' deletion. */
static int mbox_digest(const char *map, const struct mbox_info *info,
		       const struct mbox_headers *h, uint64_t size, char *out)
{
	const char *from = map + info->from_off;
	size_t from_len = (size_t)(info->body_off - info->from_off);
	char size_text[24];
	struct iovec iov[4];

	while (from_len > 0 && (from[from_len - 1] == '\n' ||
				from[from_len - 1] == '\r'))
		from_len--;
	snprintf(size_text, sizeof(size_text), "%llu",
		 (unsigned long long)size);
	iov[0] = (struct iovec){ (void *)from, from_len };
	iov[1] = (struct iovec){ (void *)h->msgid,
				 h->msgid != NULL ? h->msgid_len : 0 };
	iov[2] = (struct iovec){ (void *)h->date,
				 h->date != NULL ? h->date_len : 0 };
	iov[3] = (struct iovec){ size_text, strlen(size_text) };
	return uidl_digest(iov, 4, out);
}

/* Splits the mapped file into messages and assigns sizes and UIDLs: an
 * X-UIDL header when valid and unused, else a digest made unique. */
static int mbox_scan(struct mbox *mb, const char *map, size_t len,
		     const char **error_r)
{
	struct mbox_headers h;
	struct uidl_set set;
	char (*digest)[UIDL_DIGEST_HEX + 1] = NULL;
	bool *have = NULL;
	size_t pos = 0, i;

	if (len > 0 && !mbox_is_from_line(map, len)) {
		*error_r = "the mailbox is not in mbox format";
		return MAILDROP_PERM;
	}
	while (pos < len) {
		struct mbox_info *info = mbox_new_info(mb);
		struct maildrop_msg *m;
		struct msgsize ms;
		void *p;

		if (info == NULL)
			goto out_nomem;
		m = realloc(mb->drop.msgs, mb->info_alloc * sizeof(*m));
		if (m == NULL)
			goto out_nomem;
		mb->drop.msgs = m;
		p = realloc(digest, mb->info_alloc * sizeof(*digest));
		if (p == NULL)
			goto out_nomem;
		digest = p;
		p = realloc(have, mb->info_alloc * sizeof(*have));
		if (p == NULL)
			goto out_nomem;
		have = p;
		if (mbox_scan_message(mb, map, len, pos, &h, info) < 0)
			goto out_nomem;
		info->quote_count = mb->quotes_count - info->quote_first;
		m = &mb->drop.msgs[mb->drop.count];
		memset(m, 0, sizeof(*m));
		msgsize_init(&ms);
		msgsize_feed(&ms, map + info->body_off,
			     (size_t)(info->end_off - info->body_off));
		/* each dropped '>' starts a line that goes on with "From " */
		m->size = msgsize_finish(&ms) - info->quote_count;
		if (mbox_digest(map, info, &h, m->size,
				digest[mb->drop.count]) < 0) {
			*error_r = "cannot compute a UIDL";
			goto out_fail;
		}
		have[mb->drop.count] = h.uidl != NULL &&
				       uidl_is_valid(h.uidl, h.uidl_len);
		if (have[mb->drop.count]) {
			memcpy(m->uidl, h.uidl, h.uidl_len);
			m->uidl[h.uidl_len] = '\0';
		}
		mb->drop.count++;
		pos = (size_t)info->next_off;
	}
	if (uidl_set_init(&set, mb->drop.count) < 0)
		goto out_nomem;
	/* X-UIDL first (first use wins), then digests made unique */
	for (i = 0; i < mb->drop.count; i++) {
		/* have grows with count; NOLINTNEXTLINE(clang-analyzer-core.NullDereference) */
		if (have[i] && !uidl_set_add(&set, mb->drop.msgs[i].uidl))
			have[i] = false;
	}
	for (i = 0; i < mb->drop.count; i++) {
		if (have[i])
			continue;
		memcpy(mb->drop.msgs[i].uidl, digest[i], sizeof(digest[i]));
		uidl_set_add_unique(&set, mb->drop.msgs[i].uidl);
	}
	uidl_set_deinit(&set);
	free(digest);
	free(have);
	return MAILDROP_OK;

out_nomem:
	*error_r = "out of memory";
out_fail:
	free(digest);
	free(have);
	return MAILDROP_TEMP;
}

static void mbox_load_index(struct mbox *mb)
{
	struct index *index = NULL;
	char *path;
	size_t i, matched = 0;

	path = mbox_path_with(mb->path, MBOX_INDEX_SUFFIX);
	if (path == NULL || index_load(path, &index) < 0) {
		free(path);
		return; /* a cache: go without */
	}
	for (i = 0; i < mb->drop.count; i++) {
		const struct index_entry *e =
			index_lookup(index, mb->drop.msgs[i].uidl);

		if (e != NULL) {
			struct maildrop_msg *m = &mb->drop.msgs[i];

			mb->info[i].retrieved = e->retrieved;
			m->seen = e->retrieved != 0;
			/* the utf8 answer, for the same size only: the UIDL
			 * may be a digest of a few headers */
			if (e->size == m->size && e->utf8 != INDEX_UTF8_UNKNOWN) {
				m->utf8 = e->utf8 == INDEX_UTF8_YES ?
						  MAILDROP_UTF8_YES :
						  MAILDROP_UTF8_NO;
				m->wrap_size = e->wrap_size;
			}
			matched++;
		}
	}
	mb->index_dirty = matched != index_count(index);
	index_free(&index);
	free(path);
}

/* gone: the messages removed (NULL: none). A cache: errors ignored. */
static void mbox_write_index(struct mbox *mb, const bool *gone)
{
	struct index_entry *entries;
	const char *ignored;
	char *path;
	size_t i, n = 0;

	path = mbox_path_with(mb->path, MBOX_INDEX_SUFFIX);
	entries = calloc(mb->drop.count + 1, sizeof(*entries));
	if (path == NULL || entries == NULL)
		goto out_free;
	for (i = 0; i < mb->drop.count; i++) {
		const struct maildrop_msg *m = &mb->drop.msgs[i];

		/* what the file cannot tell again (retrieval times) and what
		 * costs a read of the whole message (the utf8 answer) */
		if ((gone != NULL && gone[i]) ||
		    (mb->info[i].retrieved == 0 &&
		     m->utf8 == MAILDROP_UTF8_UNKNOWN))
			continue;
		entries[n].key = m->uidl;
		entries[n].uidl = m->uidl;
		entries[n].size = m->size;
		entries[n].retrieved = mb->info[i].retrieved;
		entries[n].utf8 = m->utf8 == MAILDROP_UTF8_YES ? INDEX_UTF8_YES :
				  m->utf8 == MAILDROP_UTF8_NO ? INDEX_UTF8_NO :
								 INDEX_UTF8_UNKNOWN;
		entries[n].wrap_size = m->wrap_size;
		n++;
	}
	(void)index_write(path, entries, n, &ignored);
out_free:
	free(entries);
	free(path);
}

static void mbox_free(struct maildrop *drop)
{
	struct mbox *mb = (struct mbox *)drop;

	if (mb->fd >= 0)
		close(mb->fd);
	lock_file_release(&mb->lock);
	free(mb->quotes);
	free(mb->info);
	free(mb->drop.msgs);
	free(mb->path);
	free(mb);
}

/* Maps the file under dotlock + fcntl + flock and scans it. */
static int mbox_snapshot(struct mbox *mb, const char **error_r)
{
	struct lock_mbox *lock = NULL;
	struct stat st;
	void *map = NULL;
	int ret;

	ret = lock_mbox_take(mb->path, mb->fd, &lock, error_r);
	if (ret != MAILDROP_OK)
		return ret;
	/* a compaction a crash interrupted is finished before reading */
	ret = mbox_compact_recover(mb->path, mb->fd, error_r);
	if (ret != MAILDROP_OK)
		goto out_unlock;
	if (fstat(mb->fd, &st) < 0) {
		*error_r = "cannot stat the mbox";
		ret = MAILDROP_TEMP;
		goto out_unlock;
	}
	if (!S_ISREG(st.st_mode)) {
		*error_r = "the mbox is not a regular file";
		ret = MAILDROP_PERM;
		goto out_unlock;
	}
	if ((uint64_t)st.st_size > SIZE_MAX) {
		*error_r = "the mbox is too large";
		ret = MAILDROP_PERM;
		goto out_unlock;
	}
	mb->dev = st.st_dev;
	mb->ino = st.st_ino;
	mb->snap_size = (uint64_t)st.st_size;
	if (st.st_size > 0) {
		map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE,
			   mb->fd, 0);
		if (map == MAP_FAILED) {
			*error_r = "cannot map the mbox";
			ret = MAILDROP_TEMP;
			goto out_unlock;
		}
		(void)posix_madvise(map, (size_t)st.st_size,
				    POSIX_MADV_SEQUENTIAL);
	}
	ret = mbox_scan(mb, map, (size_t)st.st_size, error_r);
	if (map != NULL)
		munmap(map, (size_t)st.st_size);
out_unlock:
	lock_mbox_release(&lock);
	return ret;
}

static int mbox_open(const struct maildrop_settings *set,
		     struct maildrop **drop_r, const char **error_r)
{
	struct mbox *mb;
	char *lock_path = NULL;
	int ret;

	mb = calloc(1, sizeof(*mb));
	if (mb == NULL || (mb->path = strdup(set->path)) == NULL ||
	    (mb->drop.msgs = calloc(1, sizeof(*mb->drop.msgs))) == NULL) {
		if (mb != NULL) {
			free(mb->path);
			free(mb);
		}
		*error_r = "out of memory";
		return MAILDROP_TEMP;
	}
	mb->fd = -1;
	mb->drop.driver = &mbox_driver;
	mb->drop.expire_days = set->expire_days;
	if (access(set->path, F_OK) < 0 && errno == ENOENT)
		goto out_empty; /* no mbox = no mail; nothing to lock */

	lock_path = mbox_path_with(set->path, MBOX_SESSION_LOCK_SUFFIX);
	if (lock_path == NULL) {
		*error_r = "out of memory";
		ret = MAILDROP_TEMP;
		goto out_fail;
	}
	ret = lock_file_take(lock_path, set->lock_stale_secs, &mb->lock,
			     error_r);
	free(lock_path);
	if (ret != MAILDROP_OK)
		goto out_fail;
	/* O_RDWR: fcntl write locks need a writable fd */
	mb->fd = open(set->path, O_RDWR | O_CLOEXEC);
	if (mb->fd < 0) {
		if (errno == ENOENT)
			goto out_empty;
		*error_r = errno == EACCES ? "no access to the mbox" :
					     "cannot open the mbox";
		ret = errno == EACCES ? MAILDROP_PERM : MAILDROP_TEMP;
		goto out_fail;
	}
	ret = mbox_snapshot(mb, error_r);
	if (ret != MAILDROP_OK)
		goto out_fail;
	mbox_load_index(mb);
	/* recorded now, so a session that ends without QUIT keeps them */
	if (set->scan_utf8 && maildrop_utf8_scan(&mb->drop) > 0)
		mbox_write_index(mb, NULL);
out_empty:
	*drop_r = &mb->drop;
	return MAILDROP_OK;

out_fail:
	mbox_free(&mb->drop);
	return ret;
}

static int mbox_refresh_lock(struct maildrop *drop)
{
	struct mbox *mb = (struct mbox *)drop;

	if (mb->lock == NULL)
		return MAILDROP_OK;
	return lock_file_refresh(mb->lock) < 0 ? MAILDROP_TEMP : MAILDROP_OK;
}

static ssize_t mbox_reader_read(struct maildrop_reader *reader, char *buf,
				size_t size)
{
	struct mbox_reader *r = (struct mbox_reader *)reader;

	while (r->pos < r->end) {
		uint64_t limit = r->end;
		ssize_t n;

		if (r->q < r->q_end && r->mb->quotes[r->q] == r->pos) {
			r->pos++; /* the mboxrd quoting '>' */
			r->q++;
			continue;
		}
		if (r->q < r->q_end && r->mb->quotes[r->q] < limit)
			limit = r->mb->quotes[r->q];
		if (size > limit - r->pos)
			size = (size_t)(limit - r->pos);
		do {
			n = pread(r->mb->fd, buf, size, (off_t)r->pos);
		} while (n < 0 && errno == EINTR);
		if (n == 0) {
			errno = EIO; /* truncated by someone else */
			return -1;
		}
		if (n > 0)
			r->pos += (uint64_t)n;
		return n;
	}
	return 0;
}

static void mbox_reader_free(struct maildrop_reader *reader)
{
	free(reader);
}

static const struct maildrop_reader_vfuncs mbox_reader_vfuncs = {
	.read = mbox_reader_read,
	.free = mbox_reader_free,
};

static int mbox_reader_open(struct maildrop *drop, unsigned idx,
			    struct maildrop_reader **reader_r,
			    const char **error_r)
{
	struct mbox *mb = (struct mbox *)drop;
	const struct mbox_info *info = &mb->info[idx];
	struct mbox_reader *r;
	char from[MBOX_FROM_LEN];

	/* cheap check that nobody rewrote the file in place under us */
	if (pread(mb->fd, from, sizeof(from), (off_t)info->from_off) !=
		    (ssize_t)sizeof(from) ||
	    memcmp(from, MBOX_FROM, MBOX_FROM_LEN) != 0) {
		*error_r = "the mbox was changed by another program";
		return MAILDROP_TEMP;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		*error_r = "out of memory";
		return MAILDROP_TEMP;
	}
	r->reader.v = &mbox_reader_vfuncs;
	r->mb = mb;
	r->pos = info->body_off;
	r->end = info->end_off;
	r->q = info->quote_first;
	r->q_end = info->quote_first + info->quote_count;
	*reader_r = &r->reader;
	return MAILDROP_OK;
}

/* Removes the gone messages in place (mbox_compact.h says why not by
 * rename), keeping every octet after the snapshot: mail delivered during
 * the session. Called under dotlock + fcntl + flock. */
static int mbox_remove(struct mbox *mb, const bool *gone,
		       const char **error_r)
{
	struct mbox_compact c = { .path = mb->path, .fd = mb->fd };
	struct iovec *parts = NULL;
	struct stat st, path_st;
	char *map = NULL;
	size_t i, first, n = 0, len;
	int ret = MAILDROP_TEMP;

	if (fstat(mb->fd, &st) < 0 || stat(mb->path, &path_st) < 0) {
		*error_r = "cannot stat the mbox";
		return MAILDROP_TEMP;
	}
	if (path_st.st_dev != mb->dev || path_st.st_ino != mb->ino ||
	    (uint64_t)st.st_size < mb->snap_size ||
	    (uint64_t)st.st_size > SIZE_MAX) {
		*error_r = "the mbox was changed by another program";
		return MAILDROP_TEMP;
	}
	len = (size_t)st.st_size;
	if (len > 0) {
		map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, mb->fd, 0);
		if (map == MAP_FAILED) {
			*error_r = "cannot map the mbox";
			return MAILDROP_TEMP;
		}
	}
	for (i = 0; i < mb->drop.count; i++) {
		/* count > 0: map is set; NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker) */
		if (memcmp(map + mb->info[i].from_off, MBOX_FROM,
			   MBOX_FROM_LEN) != 0) {
			*error_r = "the mbox was changed by another program";
			goto out_unmap;
		}
	}
	for (first = 0; first < mb->drop.count && !gone[first]; first++)
		;
	parts = calloc(mb->drop.count - first + 1, sizeof(*parts));
	if (parts == NULL) {
		*error_r = "out of memory";
		goto out_unmap;
	}
	/* the kept messages after the first gone one, runs joined */
	for (i = first; i < mb->drop.count; i++) {
		size_t from = (size_t)mb->info[i].from_off, to;

		if (gone[i])
			continue;
		to = (size_t)mb->info[i].next_off;
		while (i + 1 < mb->drop.count && !gone[i + 1])
			to = (size_t)mb->info[++i].next_off;
		parts[n++] = (struct iovec){ map + from, to - from };
	}
	if (len > mb->snap_size)
		parts[n++] = (struct iovec){ map + mb->snap_size,
					     len - (size_t)mb->snap_size };
	c.map = map;
	c.size = len;
	c.start = mb->info[first].from_off;
	c.parts = parts;
	c.count = n;
	ret = mbox_compact_run(&c, error_r);
out_unmap:
	if (map != NULL)
		munmap(map, len);
	free(parts);
	return ret;
}

static int mbox_commit(struct maildrop *drop, unsigned *deleted_r,
		       const char **error_r)
{
	struct mbox *mb = (struct mbox *)drop;
	int64_t now = (int64_t)time(NULL);
	struct lock_mbox *lock = NULL;
	bool *gone, changed = mb->index_dirty;
	unsigned removed = 0;
	size_t i;
	int ret = MAILDROP_OK;

	/* fencing, as in maildir_commit */
	if (mb->lock != NULL && lock_file_refresh(mb->lock) < 0) {
		*error_r = LOCK_LOST_NOTHING_CHANGED;
		ret = MAILDROP_TEMP;
		goto out_unlock_session;
	}
	if (mb->fd < 0 || mb->drop.count == 0)
		goto out_unlock_session;
	gone = calloc(mb->drop.count, sizeof(*gone));
	if (gone == NULL) {
		*error_r = "out of memory";
		ret = MAILDROP_TEMP;
		goto out_unlock_session;
	}
	for (i = 0; i < mb->drop.count; i++) {
		const struct maildrop_msg *m = &mb->drop.msgs[i];

		if (m->deleted || maildrop_msg_is_expired(drop,
							  mb->info[i].retrieved,
							  now)) {
			gone[i] = true;
			removed++;
		} else if (m->retrieved && mb->info[i].retrieved == 0) {
			/* RFC 2449 EXPIRE counts from the first retrieval */
			mb->info[i].retrieved = now;
			changed = true;
		}
	}
	if (removed > 0) {
		ret = lock_mbox_take(mb->path, mb->fd, &lock, error_r);
		if (ret == MAILDROP_IN_USE) {
			*error_r = "the mbox is locked by another program";
			ret = MAILDROP_TEMP;
		}
		if (ret == MAILDROP_OK)
			ret = mbox_remove(mb, gone, error_r);
		lock_mbox_release(&lock);
		if (ret == MAILDROP_OK) {
			*deleted_r = removed;
			changed = true;
		} else {
			memset(gone, 0, mb->drop.count * sizeof(*gone));
		}
	}
	if (changed)
		mbox_write_index(mb, gone);
	free(gone);
out_unlock_session:
	lock_file_release(&mb->lock);
	return ret;
}

const struct maildrop_driver mbox_driver = {
	.open = mbox_open,
	.refresh_lock = mbox_refresh_lock,
	.reader_open = mbox_reader_open,
	.commit = mbox_commit,
	.free = mbox_free,
};
