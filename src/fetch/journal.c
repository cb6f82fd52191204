/* journal.c: the fetch client's per-account record of delivered UIDLs
 * (journal.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fetch/journal.h"
#include "store/uidl.h"
#include "util/fileio.h"
#include "util/strhash.h"
#include "util/strnum.h"

/* A line is at most "+ " 20 digits " " 70 octets: anything longer is
 * not a record (and the reader does not need to keep it). */
#define JOURNAL_LINE_MAX 128
/* ... and at least "+ 1700000000 x" plus the line end: the shortest
 * record a real UIDL makes is longer, so size / this bounds the count */
#define JOURNAL_RECORD_MIN 16
#define JOURNAL_RESERVE_MAX (2u << 20)

struct journal_entry {
	char *uidl;            /* NULL: an empty slot */
	uint32_t hash;         /* strhash_len of uidl */
	uint8_t len;           /* strlen(uidl), <= MAILDROP_UIDL_MAX */
	time_t first_seen;
	bool live;             /* false: forgotten (the slot stays, so
				  probing past it still works) */
	bool pending;          /* a "?" with no "+" or "-" after it */
};

struct journal {
	char *path;
	int fd;                /* O_APPEND */
	int lock_fd;
	struct journal_entry *slots;
	size_t mask;           /* slots - 1, a power of two minus one */
	size_t used;           /* slots with a uidl */
	size_t live;
	size_t records;        /* lines in the file */
	bool dirty;            /* appended since the last sync */
	bool loaded;           /* the records are read (journal_load) */
};

static struct journal_entry *journal_find(const struct journal *j,
					  const char *uidl, size_t len,
					  uint32_t hash)
{
	size_t i = (size_t)hash & j->mask;

	while (j->slots[i].uidl != NULL) {
		const struct journal_entry *e = &j->slots[i];

		if (e->hash == hash && e->len == len &&
		    memcmp(e->uidl, uidl, len) == 0)
			return &j->slots[i];
		i = (i + 1) & j->mask;
	}
	return &j->slots[i];
}

static int journal_grow(struct journal *j)
{
	struct journal_entry *old = j->slots;
	size_t old_size = j->mask + 1, size = old_size * 2, i;

	j->slots = calloc(size, sizeof(*j->slots));
	if (j->slots == NULL) {
		j->slots = old;
		return -1;
	}
	j->mask = size - 1;
	for (i = 0; i < old_size; i++) {
		if (old[i].uidl != NULL)
			*journal_find(j, old[i].uidl, old[i].len,
				      old[i].hash) = old[i];
	}
	free(old);
	return 0;
}

/* An empty table sized for records entries at most half full, so the
 * read never regrows it. 0 or -1 (out of memory). */
static int journal_reserve(struct journal *j, size_t records)
{
	struct journal_entry *slots;
	size_t size = j->mask + 1;

	if (j->used > 0)
		return 0;
	if (records > JOURNAL_RESERVE_MAX)
		records = JOURNAL_RESERVE_MAX; /* a huge file grows as read */
	while (size < records * 2)
		size *= 2;
	if (size == j->mask + 1)
		return 0;
	slots = calloc(size, sizeof(*slots));
	if (slots == NULL)
		return -1;
	free(j->slots);
	j->slots = slots;
	j->mask = size - 1;
	return 0;
}

/* The set's side of a record. 0 or -1 (out of memory). */
static int journal_apply(struct journal *j, int op, const char *uidl,
			 size_t len, time_t first_seen)
{
	uint32_t hash = (uint32_t)strhash_len(uidl, len);
	struct journal_entry *e = journal_find(j, uidl, len, hash);

	if (op == '-') {
		if (e->uidl != NULL && e->live) {
			e->live = false;
			j->live--;
		}
		if (e->uidl != NULL)
			e->pending = false;
		return 0;
	}
	if (e->uidl != NULL) {
		if (op == '?') {
			e->pending = !e->live;
			return 0;
		}
		e->pending = false;
		if (!e->live) {
			e->live = true;
			e->first_seen = first_seen;
			j->live++;
		}
		return 0;
	}
	/* at most half full, so probes stay short */
	if ((j->used + 1) * 2 > j->mask + 1) {
		if (journal_grow(j) < 0)
			return -1;
		e = journal_find(j, uidl, len, hash);
	}
	/* not strndup: the reader's lines are not NUL-terminated */
	e->uidl = malloc(len + 1);
	if (e->uidl == NULL)
		return -1;
	memcpy(e->uidl, uidl, len);
	e->uidl[len] = '\0';
	e->hash = hash;
	e->len = (uint8_t)len;
	e->first_seen = first_seen;
	e->live = op == '+';
	e->pending = op == '?';
	j->used++;
	if (e->live)
		j->live++;
	return 0;
}

int journal_parse_line(const char *line, size_t len, const char **uidl_r,
		       size_t *uidl_len_r, time_t *first_seen_r)
{
	char digits[24];
	const char *sp;
	uint64_t when = 0;
	size_t n;

	/* len octets are read; NOLINTNEXTLINE(clang-analyzer-core.UndefinedBinaryOperatorResult) */
	if (len < 3 || line[1] != ' ' ||
	    (line[0] != '+' && line[0] != '-' && line[0] != '?'))
		return 0;
	if (line[0] != '+') {
		*uidl_r = line + 2;
		*uidl_len_r = len - 2;
		*first_seen_r = 0;
		return uidl_is_valid(line + 2, len - 2) ? line[0] : 0;
	}
	sp = memchr(line + 2, ' ', len - 2);
	if (sp == NULL)
		return 0;
	n = (size_t)(sp - (line + 2));
	if (n == 0 || n >= sizeof(digits))
		return 0;
	memcpy(digits, line + 2, n);
	digits[n] = '\0';
	if (strnum_parse_u64(digits, (uint64_t)INT64_MAX, &when) < 0)
		return 0;
	*uidl_r = sp + 1;
	*uidl_len_r = len - n - 3;
	*first_seen_r = (time_t)when;
	return uidl_is_valid(*uidl_r, *uidl_len_r) ? '+' : 0;
}

/* Reads every whole line; a torn tail (no LF) is cut off, so the next
 * append starts a line of its own. */
static int journal_read(struct journal *j, const char **error_r)
{
	struct stat st;
	char *buf, *p, *end, *lf;
	size_t size, got = 0;
	ssize_t n;

	if (fstat(j->fd, &st) < 0) {
		*error_r = "cannot stat the journal";
		return -1;
	}
	size = (size_t)st.st_size;
	buf = malloc(size + 1);
	if (buf == NULL || journal_reserve(j, size / JOURNAL_RECORD_MIN) < 0) {
		free(buf);
		*error_r = "out of memory";
		return -1;
	}
	while (got < size) {
		n = pread(j->fd, buf + got, size - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	p = buf;
	end = buf + got;
	while ((lf = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		const char *uidl;
		size_t ulen;
		time_t when;
		int op = journal_parse_line(p, (size_t)(lf - p), &uidl, &ulen,
					    &when);

		if (op != 0 && journal_apply(j, op, uidl, ulen, when) < 0) {
			free(buf);
			*error_r = "out of memory";
			return -1;
		}
		j->records++;
		p = lf + 1;
	}
	if (p != end && ftruncate(j->fd, (off_t)(p - buf)) < 0) {
		free(buf);
		*error_r = "cannot cut the torn end of the journal";
		return -1;
	}
	free(buf);
	return 0;
}

/* mkdir -p with mode 0700 for what is missing. */
static int journal_mkdirs(const char *path)
{
	char dir[4096];
	size_t i, len = strlen(path);

	if (len >= sizeof(dir))
		return -1;
	memcpy(dir, path, len + 1);
	/* the directory of the file: up to its last '/' */
	while (len > 0 && dir[len - 1] != '/')
		len--;
	if (len <= 1)
		return 0;
	dir[len - 1] = '\0';
	for (i = 1; i <= len - 1; i++) {
		if (dir[i] != '/' && dir[i] != '\0')
			continue;
		dir[i] = '\0';
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			return -1;
		if (i < len - 1)
			dir[i] = '/';
	}
	return 0;
}

int journal_open_unread(const char *path, struct journal **journal_r,
			const char **error_r)
{
	struct journal *j;
	char lock[4200];

	if (snprintf(lock, sizeof(lock), "%s.lock", path) >=
	    (int)sizeof(lock)) {
		*error_r = "journal path too long";
		return JOURNAL_ERROR;
	}
	if (journal_mkdirs(path) < 0) {
		*error_r = "cannot create the state directory";
		return JOURNAL_ERROR;
	}
	j = calloc(1, sizeof(*j));
	if (j == NULL || (j->path = strdup(path)) == NULL) {
		free(j);
		*error_r = "out of memory";
		return JOURNAL_ERROR;
	}
	j->fd = -1;
	j->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
			  0600);
	if (j->lock_fd < 0) {
		*error_r = "cannot open the lock file";
		goto out_fail;
	}
	if (flock(j->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		journal_close(&j);
		return JOURNAL_BUSY;
	}
	j->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC |
				   O_NOFOLLOW, 0600);
	if (j->fd < 0) {
		*error_r = "cannot open the journal";
		goto out_fail;
	}
	j->mask = 63;
	j->slots = calloc(j->mask + 1, sizeof(*j->slots));
	if (j->slots == NULL) {
		*error_r = "out of memory";
		goto out_fail;
	}
	*journal_r = j;
	return JOURNAL_OK;

out_fail:
	journal_close(&j);
	return JOURNAL_ERROR;
}

int journal_load(struct journal *j, const char **error_r)
{
	if (j->loaded)
		return 0;
	if (journal_read(j, error_r) < 0)
		return -1;
	j->loaded = true;
	return 0;
}

int journal_open(const char *path, struct journal **journal_r,
		 const char **error_r)
{
	int ret = journal_open_unread(path, journal_r, error_r);

	if (ret != JOURNAL_OK)
		return ret;
	if (journal_load(*journal_r, error_r) < 0) {
		journal_close(journal_r);
		return JOURNAL_ERROR;
	}
	return JOURNAL_OK;
}

void journal_close(struct journal **journalp)
{
	struct journal *j = *journalp;
	size_t i;

	if (j == NULL)
		return;
	if (j->fd >= 0)
		close(j->fd);
	if (j->lock_fd >= 0)
		close(j->lock_fd); /* releases the flock */
	if (j->slots != NULL) {
		for (i = 0; i <= j->mask; i++)
			free(j->slots[i].uidl);
	}
	free(j->slots);
	free(j->path);
	free(j);
	*journalp = NULL;
}

bool journal_has(const struct journal *j, const char *uidl, size_t len,
		 time_t *first_seen_r)
{
	const struct journal_entry *e =
		journal_find(j, uidl, len, (uint32_t)strhash_len(uidl, len));

	if (e->uidl == NULL || !e->live)
		return false;
	if (first_seen_r != NULL)
		*first_seen_r = e->first_seen;
	return true;
}

size_t journal_count(const struct journal *j)
{
	return j->live;
}

static int journal_append(struct journal *j, const char *line, size_t len,
			  const char **error_r)
{
	if (fileio_write_all(j->fd, line, len) < 0) {
		*error_r = errno == ENOSPC ? "no space for the journal" :
					     "cannot write the journal";
		return -1;
	}
	j->records++;
	j->dirty = true;
	return 0;
}

/* Appends one record ('+' with its time, '-' or '?') and applies it.
 * 0, or -1 with *error_r. */
static int journal_record(struct journal *j, int op, const char *uidl,
			  size_t len, time_t first_seen, const char **error_r)
{
	char line[JOURNAL_LINE_MAX];
	int n = op == '+' ? snprintf(line, sizeof(line), "+ %lld %.*s\n",
				     (long long)first_seen, (int)len, uidl) :
			    snprintf(line, sizeof(line), "%c %.*s\n", op,
				     (int)len, uidl);

	if (n < 0 || (size_t)n >= sizeof(line)) {
		*error_r = "record too long";
		return -1;
	}
	if (journal_append(j, line, (size_t)n, error_r) < 0)
		return -1;
	if (journal_apply(j, op, uidl, len, first_seen) < 0) {
		*error_r = "out of memory";
		return -1;
	}
	return 0;
}

int journal_add(struct journal *j, const char *uidl, size_t len,
		time_t first_seen, const char **error_r)
{
	if (!uidl_is_valid(uidl, len)) {
		*error_r = "not a valid UIDL";
		return -1;
	}
	if (journal_has(j, uidl, len, NULL))
		return 0;
	return journal_record(j, '+', uidl, len, first_seen, error_r);
}

int journal_forget(struct journal *j, const char *uidl, size_t len,
		   const char **error_r)
{
	if (!journal_has(j, uidl, len, NULL) && !journal_pending(j, uidl, len))
		return 0;
	return journal_record(j, '-', uidl, len, 0, error_r);
}

int journal_begin(struct journal *j, const char *uidl, size_t len,
		  const char **error_r)
{
	if (!uidl_is_valid(uidl, len)) {
		*error_r = "not a valid UIDL";
		return -1;
	}
	if (journal_has(j, uidl, len, NULL))
		return 0;
	return journal_record(j, '?', uidl, len, 0, error_r);
}

bool journal_pending(const struct journal *j, const char *uidl, size_t len)
{
	const struct journal_entry *e =
		journal_find(j, uidl, len, (uint32_t)strhash_len(uidl, len));

	return e->uidl != NULL && e->pending;
}

int journal_sync(struct journal *j, const char **error_r)
{
	if (!j->dirty)
		return 0;
	if (fdatasync(j->fd) < 0) {
		*error_r = "cannot sync the journal";
		return -1;
	}
	j->dirty = false;
	return 0;
}

void journal_foreach(const struct journal *j,
		     bool (*fn)(const char *uidl, time_t first_seen,
				void *context),
		     void *context)
{
	size_t i;

	for (i = 0; i <= j->mask; i++) {
		if (j->slots[i].uidl != NULL && j->slots[i].live &&
		    !fn(j->slots[i].uidl, j->slots[i].first_seen, context))
			return;
	}
}

int journal_compact(struct journal *j, bool force, const char **error_r)
{
	char *buf, *p;
	size_t i, cap;
	int fd;

	if (!force && j->records <= 2 * j->live + 16)
		return 0;
	cap = j->used * JOURNAL_LINE_MAX + 1;
	buf = malloc(cap);
	if (buf == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	p = buf;
	for (i = 0; i <= j->mask; i++) {
		const struct journal_entry *e = &j->slots[i];

		if (e->uidl != NULL && e->live)
			p += snprintf(p, (size_t)(buf + cap - p),
				      "+ %lld %s\n", (long long)e->first_seen,
				      e->uidl);
		else if (e->uidl != NULL && e->pending)
			p += snprintf(p, (size_t)(buf + cap - p), "? %s\n",
				      e->uidl);
	}
	/* pending appends first: a failed replace leaves them whole */
	if (journal_sync(j, error_r) < 0 ||
	    fileio_replace(j->path, buf, (size_t)(p - buf), 0600, error_r) <
		    0) {
		free(buf);
		return -1;
	}
	free(buf);
	fd = open(j->path, O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		*error_r = "cannot reopen the compacted journal";
		return -1;
	}
	close(j->fd);
	j->fd = fd;
	j->records = j->live;
	return 0;
}
