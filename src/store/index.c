/* index.c: load and write the per-maildrop cache (index.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/index.h"
#include "util/strhash.h"
#include "store/uidl.h"
#include "util/fileio.h"

#define INDEX_VERSION_LINE "satchel-index 3\n"
#define INDEX_VERSION2_LINE "satchel-index 2\n"
#define INDEX_VERSION1_LINE "satchel-index 1\n"
#define INDEX_MAX_FILE (1024u * 1024 * 1024) /* ~10M messages: beyond is junk */
#define INDEX_KEY_MAX 255                     /* NAME_MAX */

struct index {
	char *text;                  /* the file; entries point into it */
	struct index_entry *entries;
	size_t count;
	size_t *slots;               /* hash table: entry index + 1, 0 = free;
					NULL while entries are sorted */
	size_t mask;
	struct index_listing listing;
	bool complete;
	bool current;                /* the version this code writes */
	bool sorted;                 /* keys strictly increasing (strcmp) */
};

static inline bool index_char_ok(unsigned char c)
{
	return c >= 0x21 && c <= 0x7e;
}

bool index_key_is_valid(const char *key)
{
	size_t i;

	for (i = 0; key[i] != '\0'; i++) {
		if (!index_char_ok((unsigned char)key[i]) || i >= INDEX_KEY_MAX)
			return false;
	}
	return i > 0;
}

static int index_entry_cmp(const void *a, const void *b)
{
	const struct index_entry *x = a, *y = b;

	return strcmp(x->key, y->key);
}

/* Up to the next SP (or the end): returns the field length, sets *next
 * past the SP (NULL at the end of the line). Every octet must be
 * 0x21-0x7E. Returns -1 on a bad octet. */
static long index_field(char *p, char **next)
{
	char *q = p;

	while (*q != ' ' && *q != '\0') {
		if (!index_char_ok((unsigned char)*q))
			return -1;
		q++;
	}
	if (*q == ' ') {
		*q = '\0';
		*next = q + 1;
	} else {
		*next = NULL;
	}
	return q - p;
}

/* Decimal digits, no sign, at most max; the whole field. */
static int index_number(const char *p, size_t len, uint64_t max,
			uint64_t *value_r)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0 || len > 20)
		return -1;
	for (i = 0; i < len; i++) {
		unsigned d = (unsigned)(unsigned char)p[i] - '0';

		if (d > 9 || v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (v > max)
		return -1;
	*value_r = v;
	return 0;
}

/* The utf8 field (index.h): "-", "a" or a size above 0. */
static int index_parse_utf8(const char *p, size_t len, struct index_entry *e)
{
	e->utf8 = INDEX_UTF8_UNKNOWN;
	e->wrap_size = 0;
	if (len == 1 && p[0] == '-')
		return 0;
	if (len == 1 && p[0] == 'a') {
		e->utf8 = INDEX_UTF8_NO;
		return 0;
	}
	if (index_number(p, len, UINT64_MAX, &e->wrap_size) < 0 ||
	    e->wrap_size == 0)
		return -1;
	e->utf8 = INDEX_UTF8_YES;
	return 0;
}

/* Splits one line (NUL-terminated, no LF) in place into an entry:
 * 4 fields (version 1), 5 (version 2) or 6 (version 3). One pass over
 * the octets. */
static int index_parse_line(char *line, struct index_entry *e,
			    unsigned version)
{
	char *field[6], *next = line;
	long len[6];
	uint64_t value;
	unsigned i, nfields = version + 3;
	bool v2 = version >= 2;

	for (i = 0; i < nfields; i++) {
		if (next == NULL)
			return -1;
		field[i] = next;
		len[i] = index_field(field[i], &next);
		if (len[i] < 0)
			return -1;
	}
	if (next != NULL)
		return -1; /* extra field */
	if (len[0] == 0 || len[0] > INDEX_KEY_MAX)
		return -1;
	e->key = field[0];
	e->key_len = (unsigned)len[0];
	if (len[2] == 0 && v2) {
		e->uidl = e->key;  /* the common case, written as "" */
		e->uidl_len = e->key_len;
	} else {
		e->uidl = field[2];
		e->uidl_len = (unsigned)len[2];
	}
	if (e->uidl_len < 1 || e->uidl_len > MAILDROP_UIDL_MAX)
		return -1;
	if (index_number(field[1], (size_t)len[1], UINT64_MAX, &e->size) < 0 ||
	    index_number(field[3], (size_t)len[3], INT64_MAX, &value) < 0)
		return -1;
	e->retrieved = (int64_t)value;
	e->where = NULL;
	e->where_len = 0;
	if (v2) {
		if (len[4] == 0 || len[4] > INDEX_KEY_MAX)
			return -1;
		if (!(len[4] == 1 && field[4][0] == '-')) {
			e->where = field[4];
			e->where_len = (unsigned)len[4];
		}
	}
	if (version >= 3)
		return index_parse_utf8(field[5], (size_t)len[5], e);
	e->utf8 = INDEX_UTF8_UNKNOWN;
	e->wrap_size = 0;
	return 0;
}

/* "listing -" or "listing" and 9 numbers (index.h). */
static int index_parse_listing(char *line, struct index_listing *l)
{
	uint64_t v[9];
	char *next;
	unsigned i;

	if (strcmp(line, "listing -") == 0)
		return 0;
	if (strncmp(line, "listing ", 8) != 0)
		return -1;
	next = line + 8;
	for (i = 0; i < 9; i++) {
		char *f = next;
		long len;

		if (f == NULL)
			return -1;
		len = index_field(f, &next);
		if (len < 0 || index_number(f, (size_t)len,
					    (i == 2 || i == 5 || i == 7) ?
						    999999999 : INT64_MAX,
					    &v[i]) < 0)
			return -1;
	}
	if (next != NULL)
		return -1;
	for (i = 0; i < INDEX_LISTING_DIRS; i++) {
		l->ino[i] = v[3 * i];
		l->mtime_sec[i] = (int64_t)v[3 * i + 1];
		l->mtime_nsec[i] = (int64_t)v[3 * i + 2];
	}
	l->listed_sec = (int64_t)v[6];
	l->listed_nsec = (int64_t)v[7];
	/* v[8]: reserved, 0 */
	l->valid = true;
	return 0;
}

/* A hash table over the keys makes the warm open O(n) in
 * lookups instead of n binary searches over long common prefixes. */
static size_t index_hash(const char *key)
{
	return (size_t)strhash(key);
}

/* Returns 0, -1 on a duplicate key (corrupt), -2 out of memory. */
static int index_build_table(struct index *index)
{
	size_t size = 16, i;

	while (size < index->count * 2 + 16)
		size *= 2;
	index->slots = calloc(size, sizeof(*index->slots));
	if (index->slots == NULL)
		return -2;
	index->mask = size - 1;
	for (i = 0; i < index->count; i++) {
		const char *key = index->entries[i].key;
		size_t s = index_hash(key) & index->mask;

		while (index->slots[s] != 0) {
			if (strcmp(index->entries[index->slots[s] - 1].key,
				   key) == 0)
				return -1;
			s = (s + 1) & index->mask;
		}
		index->slots[s] = i + 1;
	}
	return 0;
}

/* Parses the whole file or nothing: a cache that is partly wrong is
 * worse than none. */
static int index_parse(struct index *index, size_t len)
{
	size_t vlen = strlen(INDEX_VERSION_LINE), lines = 0;
	char *p, *end = index->text + len;
	unsigned version;

	if (len < vlen)
		return -1;
	if (memcmp(index->text, INDEX_VERSION_LINE, vlen) == 0)
		version = 3;
	else if (memcmp(index->text, INDEX_VERSION2_LINE, vlen) == 0)
		version = 2;
	else if (memcmp(index->text, INDEX_VERSION1_LINE, vlen) == 0)
		version = 1;
	else
		return -1;
	if (end[-1] != '\n')
		return -1; /* truncated write */
	p = index->text + vlen;
	if (version >= 2) {
		char *lf = memchr(p, '\n', (size_t)(end - p));

		if (lf == NULL)
			return -1;
		*lf = '\0';
		if (index_parse_listing(p, &index->listing) < 0)
			return -1;
		p = lf + 1;
	}
	/* memchr, not a byte loop: this count is a large part of a login
	 * on a big maildrop */
	for (char *q = p; q < end && (q = memchr(q, '\n',
						  (size_t)(end - q))) != NULL;
	     q++)
		lines++;
	index->entries = calloc(lines == 0 ? 1 : lines,
				sizeof(*index->entries));
	if (index->entries == NULL)
		return -2;
	index->sorted = true;
	while (p < end) {
		char *lf = memchr(p, '\n', (size_t)(end - p));
		struct index_entry *e = &index->entries[index->count];

		*lf = '\0';
		if (index_parse_line(p, e, version) < 0)
			return -1;
		if (index->count > 0 && index->sorted &&
		    strcmp(e[-1].key, e->key) >= 0)
			index->sorted = false;
		index->count++;
		p = lf + 1;
	}
	index->current = version == 3;
	/* index_write sorts by key: strictly increasing keys also prove
	 * there is no duplicate, and lookups need no hash table. A file
	 * written otherwise gets the table (which rejects duplicates). */
	if (index->sorted)
		return 0;
	return index_build_table(index);
}

int index_load(const char *path, struct index **index_r)
{
	struct index *index;
	struct stat st;
	size_t got = 0;
	int fd, r;

	index = calloc(1, sizeof(*index));
	if (index == NULL)
		return -1;
	*index_r = index;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size <= 0 || (uint64_t)st.st_size > INDEX_MAX_FILE)
		goto out_close;
	index->text = malloc((size_t)st.st_size + 1);
	if (index->text == NULL) {
		close(fd);
		index_free(index_r);
		return -1;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, index->text + got,
				 (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto out_close;
		got += (size_t)n;
	}
	index->text[got] = '\0';
	r = index_parse(index, got);
	if (r == -2) {
		close(fd);
		index_free(index_r);
		return -1;
	}
	if (r == 0)
		index->complete = true;
out_close:
	close(fd);
	if (!index->complete) {
		index->count = 0;
		index->current = false;
		memset(&index->listing, 0, sizeof(index->listing));
	}
	if (!index->current)
		index->listing.valid = false;
	return 0;
}

bool index_is_complete(const struct index *index)
{
	return index->complete;
}

size_t index_count(const struct index *index)
{
	return index->count;
}

bool index_is_current(const struct index *index)
{
	return index->current;
}

const struct index_listing *index_get_listing(const struct index *index)
{
	return &index->listing;
}

const struct index_entry *index_entry_at(const struct index *index, size_t i)
{
	return &index->entries[i];
}

static const struct index_entry *index_bsearch(const struct index *index,
					       const char *key)
{
	size_t lo = 0, hi = index->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(index->entries[mid].key, key);

		if (c == 0)
			return &index->entries[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const struct index_entry *index_lookup_next(const struct index *index,
					    const char *key, size_t key_len,
					    size_t *hint)
{
	const struct index_entry *e;

	if (index->count == 0)
		return NULL;
	if (*hint < index->count && index->entries[*hint].key_len == key_len &&
	    memcmp(index->entries[*hint].key, key, key_len) == 0) {
		e = &index->entries[*hint];
	} else {
		e = index_lookup(index, key);
		if (e == NULL)
			return NULL;
	}
	*hint = (size_t)(e - index->entries) + 1;
	return e;
}

const struct index_entry *index_lookup(const struct index *index,
				       const char *key)
{
	size_t s;

	if (index->count == 0)
		return NULL;
	if (index->slots == NULL)
		return index_bsearch(index, key);
	for (s = index_hash(key) & index->mask; index->slots[s] != 0;
	     s = (s + 1) & index->mask) {
		const struct index_entry *e = &index->entries[index->slots[s] - 1];

		if (strcmp(e->key, key) == 0)
			return e;
	}
	return NULL;
}

void index_free(struct index **indexp)
{
	struct index *index = *indexp;

	if (index == NULL)
		return;
	*indexp = NULL;
	free(index->slots);
	free(index->entries);
	free(index->text);
	free(index);
}

static char *index_put_u64(char *p, uint64_t v)
{
	char tmp[20];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	while (n > 0)
		*p++ = tmp[--n];
	return p;
}

static char *index_put_str(char *p, const char *s, size_t len)
{
	memcpy(p, s, len);
	return p + len;
}

/* Whether entry i is written (the file would not parse otherwise, or
 * would hold a key twice). entries are sorted. */
static bool index_entry_ok(const struct index_entry *entries, size_t count,
			   size_t i)
{
	const struct index_entry *e = &entries[i];

	return index_key_is_valid(e->key) &&
	       uidl_is_valid(e->uidl, strlen(e->uidl)) && e->retrieved >= 0 &&
	       (e->where == NULL || index_key_is_valid(e->where)) &&
	       !(i + 1 < count && strcmp(e->key, e[1].key) == 0);
}

static bool index_listing_writable(const struct index_listing *l)
{
	for (unsigned d = 0; d < INDEX_LISTING_DIRS; d++) {
		if (l->mtime_sec[d] < 0 || l->mtime_nsec[d] < 0 ||
		    l->mtime_nsec[d] > 999999999)
			return false;
	}
	return l->listed_sec >= 0 && l->listed_nsec >= 0 &&
	       l->listed_nsec <= 999999999;
}

static bool index_is_sorted(const struct index_entry *entries, size_t count)
{
	for (size_t i = 1; i < count; i++) {
		if (strcmp(entries[i - 1].key, entries[i].key) > 0)
			return false;
	}
	return true;
}

int index_write(const char *path, struct index_entry *entries, size_t count,
		const char **error_r)
{
	return index_write_listing(path, entries, count, NULL, error_r);
}

/* The most octets entry e takes on its line: key, size (20 digits),
 * uidl, retrieved time (20), where, utf8 (20), five spaces and the
 * newline. */
static size_t index_line_max(const struct index_entry *e)
{
	return strlen(e->key) + strlen(e->uidl) +
	       (e->where != NULL ? strlen(e->where) : 1) + 20 + 20 + 20 + 6;
}

/* "listing", per directory (ino, mtime sec, nsec), listed sec and nsec,
 * each a space and up to 20 digits, then " 0\n" */
#define INDEX_LISTING_LINE_MAX (7 + (3 * INDEX_LISTING_DIRS + 2) * 21 + 3)

int index_write_listing(const char *path, struct index_entry *entries,
			size_t count, const struct index_listing *listing,
			const char **error_r)
{
	bool *ok = NULL, all_ok = true;
	size_t i, size;
	char *buf, *p;
	int ret;

	ok = malloc(count + 1);
	if (ok == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	/* a store's delivery order is usually the key order already */
	if (!index_is_sorted(entries, count))
		qsort(entries, count, sizeof(*entries), index_entry_cmp);
	size = strlen(INDEX_VERSION_LINE) + INDEX_LISTING_LINE_MAX;
	for (i = 0; i < count; i++) {
		ok[i] = index_entry_ok(entries, count, i);
		all_ok = all_ok && ok[i];
		if (ok[i])
			size += index_line_max(&entries[i]);
	}
	buf = malloc(size);
	if (buf == NULL) {
		free(ok);
		*error_r = "out of memory";
		return -1;
	}
	p = index_put_str(buf, INDEX_VERSION_LINE, strlen(INDEX_VERSION_LINE));
	if (listing != NULL && listing->valid && all_ok &&
	    index_listing_writable(listing)) {
		p = index_put_str(p, "listing", 7);
		for (unsigned d = 0; d < INDEX_LISTING_DIRS; d++) {
			*p++ = ' ';
			p = index_put_u64(p, listing->ino[d]);
			*p++ = ' ';
			p = index_put_u64(p, (uint64_t)listing->mtime_sec[d]);
			*p++ = ' ';
			p = index_put_u64(p, (uint64_t)listing->mtime_nsec[d]);
		}
		*p++ = ' ';
		p = index_put_u64(p, (uint64_t)listing->listed_sec);
		*p++ = ' ';
		p = index_put_u64(p, (uint64_t)listing->listed_nsec);
		p = index_put_str(p, " 0\n", 3);
	} else {
		p = index_put_str(p, "listing -\n", 10);
	}
	for (i = 0; i < count; i++) {
		const struct index_entry *e = &entries[i];
		size_t klen, ulen;

		if (!ok[i])
			continue;
		klen = strlen(e->key);
		ulen = strlen(e->uidl);
		p = index_put_str(p, e->key, klen);
		*p++ = ' ';
		p = index_put_u64(p, e->size);
		*p++ = ' ';
		if (ulen != klen || memcmp(e->key, e->uidl, klen) != 0)
			p = index_put_str(p, e->uidl, ulen);
		*p++ = ' ';
		p = index_put_u64(p, (uint64_t)e->retrieved);
		*p++ = ' ';
		if (e->where != NULL)
			p = index_put_str(p, e->where, strlen(e->where));
		else
			*p++ = '-';
		*p++ = ' ';
		if (e->utf8 == INDEX_UTF8_YES && e->wrap_size > 0)
			p = index_put_u64(p, e->wrap_size);
		else
			*p++ = e->utf8 == INDEX_UTF8_NO ? 'a' : '-';
		*p++ = '\n';
	}
	free(ok);
	/* The one atomic replace (util/fileio.h). Its fsyncs run in a
	 * store job (serve/session_store.c), never on a worker's loop. */
	ret = fileio_replace(path, buf, (size_t)(p - buf), 0600, error_r);
	free(buf);
	if (ret < 0)
		*error_r = "cannot write the index file";
	return ret;
}
