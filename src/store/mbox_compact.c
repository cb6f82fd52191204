/* mbox_compact.c: in-place removal of mbox messages through a journal
 * (mbox_compact.h).
 *
 * The journal is one header line, then the new tail (LEN octets):
 *
 *     satchel-compact 1 INO START LEN SIZE STALE\n
 *
 * INO is the mbox inode (a journal never applies to another file), START
 * where the tail goes, SIZE the mbox size when the journal was written,
 * STALE a digest of the mbox octets [START + LEN, SIZE): the old octets
 * the final truncation removes.
 *
 * Recovery after a crash must know where mail appended after the crash
 * begins (an MDA that only takes fcntl locks may append before the next
 * open; one honouring the dotlock waits until it is stale). With the
 * current size N:
 *   - N < SIZE: the truncation happened; appended mail starts at
 *     START + LEN;
 *   - else, if [START + LEN, SIZE) still digests to STALE, it did not;
 *     appended mail starts at SIZE;
 *   - else the truncation happened and more than SIZE - START - LEN
 *     octets were appended since, starting at START + LEN.
 * The one case this gets wrong is an MDA appending, after the crash,
 * exactly the octets that were the old end of the file (the same
 * messages again): that repeated copy is dropped, nothing else.
 * Appended mail is added to the journal's tail (a new journal, replaced
 * atomically), then the journal is applied as after a normal commit. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/maildrop.h"
#include "store/mbox_compact.h"
#include "store/uidl.h"
#include "util/fileio.h"
#include "util/strnum.h"

#define MBOX_JOURNAL_MAGIC "satchel-compact 1"
#define MBOX_JOURNAL_HEADER_MAX 200
#define MBOX_COPY_CHUNK (256 * 1024)

struct mbox_journal {
	uint64_t ino, start, len, size;
	char stale[UIDL_DIGEST_HEX + 1];
	size_t header_len;
};

static char *mbox_journal_path(const char *path)
{
	size_t plen = strlen(path), slen = strlen(MBOX_JOURNAL_SUFFIX);
	char *p = malloc(plen + slen + 1);

	if (p != NULL) {
		memcpy(p, path, plen);
		memcpy(p + plen, MBOX_JOURNAL_SUFFIX, slen + 1);
	}
	return p;
}

/* Digest of map[from, to). */
static int mbox_stale_digest(const char *map, uint64_t from, uint64_t to,
			     char *out)
{
	struct iovec part = { (void *)(map != NULL ? map + from : ""),
			      (size_t)(to - from) };

	return uidl_digest(&part, 1, out);
}

static int mbox_fsync(int fd)
{
	while (fsync(fd) < 0) {
		if (errno != EINTR)
			return -1;
	}
	return 0;
}

/* Copies len octets from in at in_off to out at out_off. */
static int mbox_copy(int in, uint64_t in_off, int out, uint64_t out_off,
		     uint64_t len)
{
	char *buf = malloc(MBOX_COPY_CHUNK);
	int ret = -1;

	if (buf == NULL)
		return -1;
	while (len > 0) {
		size_t want = len < MBOX_COPY_CHUNK ? (size_t)len :
						      MBOX_COPY_CHUNK;
		ssize_t got = pread(in, buf, want, (off_t)in_off);
		size_t done = 0;

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			goto out_free; /* 0: the journal is shorter than said */
		while (done < (size_t)got) {
			ssize_t n = pwrite(out, buf + done, (size_t)got - done,
					   (off_t)(out_off + done));

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				goto out_free;
			done += (size_t)n;
		}
		in_off += (uint64_t)got;
		out_off += (uint64_t)got;
		len -= (uint64_t)got;
	}
	ret = 0;
out_free:
	free(buf);
	return ret;
}

/* Splits the header line into its 6 fields. Returns 0 or -1. */
static int mbox_journal_parse(char *line, struct mbox_journal *j)
{
	uint64_t *nums[4] = { &j->ino, &j->start, &j->len, &j->size };
	size_t mlen = strlen(MBOX_JOURNAL_MAGIC), i;
	char *p, *sp;

	if (strncmp(line, MBOX_JOURNAL_MAGIC " ", mlen + 1) != 0)
		return -1;
	p = line + mlen + 1;
	for (i = 0; i < 4; i++) {
		sp = strchr(p, ' ');
		if (sp == NULL)
			return -1;
		*sp = '\0';
		if (strnum_parse_u64(p, INT64_MAX, nums[i]) < 0)
			return -1;
		p = sp + 1;
	}
	if (strlen(p) != UIDL_DIGEST_HEX)
		return -1;
	memcpy(j->stale, p, UIDL_DIGEST_HEX + 1);
	/* the tail is at most what it replaces */
	if (j->start > j->size || j->len > j->size - j->start)
		return -1;
	return 0;
}

/* Reads and checks the header of the journal open on jfd. */
static int mbox_journal_read(int jfd, struct mbox_journal *j)
{
	char line[MBOX_JOURNAL_HEADER_MAX + 1], *lf;
	struct stat st;
	ssize_t n;

	memset(j, 0, sizeof(*j));
	do {
		n = pread(jfd, line, MBOX_JOURNAL_HEADER_MAX, 0);
	} while (n < 0 && errno == EINTR);
	if (n <= 0)
		return -1;
	line[n] = '\0';
	lf = memchr(line, '\n', (size_t)n);
	if (lf == NULL)
		return -1;
	*lf = '\0';
	j->header_len = (size_t)(lf - line) + 1;
	if (mbox_journal_parse(line, j) < 0 || fstat(jfd, &st) < 0)
		return -1;
	/* written whole and renamed into place: any other size is not ours */
	if ((uint64_t)st.st_size != j->header_len + j->len)
		return -1;
	return 0;
}

/* Copies the journal's tail into the mbox, truncates, syncs, removes the
 * journal. The journal at jpath has been checked to fit the mbox. */
static int mbox_journal_apply(const char *jpath, int jfd,
			      const struct mbox_journal *j, int fd,
			      const char **error_r)
{
	if (mbox_copy(jfd, j->header_len, fd, j->start, j->len) < 0 ||
	    mbox_fsync(fd) < 0 ||
	    ftruncate(fd, (off_t)(j->start + j->len)) < 0 ||
	    mbox_fsync(fd) < 0) {
		*error_r = "cannot write the compacted mbox";
		return MAILDROP_TEMP;
	}
	/* gone for good before the locks go: applied again after mail was
	 * appended, it would truncate that mail away */
	if (unlink(jpath) < 0 || fileio_fsync_parent(jpath) < 0) {
		*error_r = "cannot remove the mbox compaction journal";
		return MAILDROP_TEMP;
	}
	return MAILDROP_OK;
}

/* Opens jpath and applies it to fd (checked against the inode). */
static int mbox_journal_open_apply(const char *jpath, int fd,
				   const char **error_r)
{
	struct mbox_journal j;
	struct stat st;
	int jfd, ret;

	jfd = open(jpath, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (jfd < 0) {
		*error_r = "cannot open the mbox compaction journal";
		return MAILDROP_TEMP;
	}
	if (mbox_journal_read(jfd, &j) < 0 || fstat(fd, &st) < 0 ||
	    j.ino != (uint64_t)st.st_ino) {
		*error_r = "cannot read the mbox compaction journal";
		ret = MAILDROP_TEMP;
	} else {
		ret = mbox_journal_apply(jpath, jfd, &j, fd, error_r);
	}
	close(jfd);
	return ret;
}

int mbox_compact_run(const struct mbox_compact *c, const char **error_r)
{
	char header[MBOX_JOURNAL_HEADER_MAX], stale[UIDL_DIGEST_HEX + 1];
	struct iovec *parts = NULL;
	struct stat st;
	uint64_t len = 0;
	char *jpath = NULL;
	size_t i;
	int hlen, ret = MAILDROP_TEMP;

	for (i = 0; i < c->count; i++)
		len += c->parts[i].iov_len;
	if (c->start + len > c->size) {
		*error_r = "mbox compaction larger than the file";
		return MAILDROP_TEMP;
	}
	if (len == 0) {
		/* nothing to move: one truncation is atomic by itself */
		if (ftruncate(c->fd, (off_t)c->start) < 0 ||
		    mbox_fsync(c->fd) < 0) {
			*error_r = "cannot truncate the mbox";
			return MAILDROP_TEMP;
		}
		return MAILDROP_OK;
	}
	if (fstat(c->fd, &st) < 0 ||
	    mbox_stale_digest(c->map, c->start + len, c->size, stale) < 0) {
		*error_r = "cannot prepare the mbox compaction";
		return MAILDROP_TEMP;
	}
	hlen = snprintf(header, sizeof(header), "%s %llu %llu %llu %llu %s\n",
			MBOX_JOURNAL_MAGIC, (unsigned long long)st.st_ino,
			(unsigned long long)c->start, (unsigned long long)len,
			(unsigned long long)c->size, stale);
	jpath = mbox_journal_path(c->path);
	parts = calloc(c->count + 1, sizeof(*parts));
	if (hlen < 0 || (size_t)hlen >= sizeof(header) || jpath == NULL ||
	    parts == NULL) {
		*error_r = "out of memory";
		goto out_free;
	}
	parts[0] = (struct iovec){ header, (size_t)hlen };
	memcpy(parts + 1, c->parts, c->count * sizeof(*parts));
	/* 0600: it holds mail; nobody but us and recovery reads it */
	if (fileio_replacev(jpath, parts, c->count + 1, 0600, error_r) < 0) {
		*error_r = "cannot write the mbox compaction journal";
		goto out_free;
	}
	ret = mbox_journal_open_apply(jpath, c->fd, error_r);
out_free:
	free(parts);
	free(jpath);
	return ret;
}

/* Where mail appended after the crash starts (see the top of the file),
 * or -1 when the mbox does not fit the journal. */
static int64_t mbox_appended_at(const struct mbox_journal *j,
				const char *map, uint64_t n)
{
	char digest[UIDL_DIGEST_HEX + 1];
	uint64_t end = j->start + j->len;

	if (n >= j->size) {
		if (mbox_stale_digest(map, end, j->size, digest) < 0)
			return -1;
		return strcmp(digest, j->stale) == 0 ? (int64_t)j->size :
						       (int64_t)end;
	}
	return n >= end ? (int64_t)end : -1;
}

int mbox_compact_recover(const char *path, int fd, const char **error_r)
{
	struct mbox_journal j;
	struct stat st;
	char *jpath, *map = NULL, *jmap = NULL;
	int64_t appended;
	int jfd, ret = MAILDROP_TEMP;

	jpath = mbox_journal_path(path);
	if (jpath == NULL) {
		*error_r = "out of memory";
		return MAILDROP_TEMP;
	}
	jfd = open(jpath, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (jfd < 0) {
		free(jpath);
		if (errno == ENOENT)
			return MAILDROP_OK; /* the usual case */
		*error_r = "cannot open the mbox compaction journal";
		return MAILDROP_TEMP;
	}
	*error_r = "the mbox compaction journal does not fit the mbox";
	if (mbox_journal_read(jfd, &j) < 0) {
		*error_r = "cannot read the mbox compaction journal";
		goto out_close;
	}
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_ino != j.ino ||
	    (uint64_t)st.st_size > SIZE_MAX)
		goto out_close;
	if (st.st_size > 0) {
		map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE,
			   fd, 0);
		if (map == MAP_FAILED) {
			map = NULL;
			goto out_close;
		}
	}
	appended = mbox_appended_at(&j, map, (uint64_t)st.st_size);
	if (appended < 0)
		goto out_unmap;
	if ((uint64_t)appended == (uint64_t)st.st_size) {
		ret = mbox_journal_apply(jpath, jfd, &j, fd, error_r);
	} else {
		/* the old tail plus what was appended: a new journal */
		size_t jsize = j.header_len + (size_t)j.len;
		struct iovec parts[2];
		struct mbox_compact c = {
			.path = path, .fd = fd, .map = map,
			.size = (uint64_t)st.st_size, .start = j.start,
			.parts = parts, .count = 2,
		};

		jmap = mmap(NULL, jsize, PROT_READ, MAP_PRIVATE, jfd, 0);
		if (jmap == MAP_FAILED) {
			jmap = NULL;
			goto out_unmap;
		}
		parts[0] = (struct iovec){ jmap + j.header_len,
					   (size_t)j.len };
		parts[1] = (struct iovec){
			map + appended,
			(size_t)((uint64_t)st.st_size - (uint64_t)appended)
		};
		ret = mbox_compact_run(&c, error_r);
		munmap(jmap, jsize);
	}
out_unmap:
	if (map != NULL)
		munmap(map, (size_t)st.st_size);
out_close:
	close(jfd);
	free(jpath);
	return ret;
}
