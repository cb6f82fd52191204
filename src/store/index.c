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
#include "store/uidl.h"
#include "util/strnum.h"

#define INDEX_VERSION_LINE "satchel-index 1\n"
#define INDEX_MAX_FILE (1024u * 1024 * 1024) /* ~10M messages: beyond is junk */
#define INDEX_KEY_MAX 255                     /* NAME_MAX */
#define INDEX_WBUF 65536

struct index {
	char *text;                  /* the file; entries point into it */
	struct index_entry *entries;
	size_t count;
	size_t *slots;               /* hash table: entry index + 1, 0 = free;
					NULL while entries are sorted */
	size_t mask;
	bool complete;
	bool sorted;                 /* keys strictly increasing (strcmp) */
};

bool index_key_is_valid(const char *key)
{
	size_t i;

	for (i = 0; key[i] != '\0'; i++) {
		unsigned char c = (unsigned char)key[i];

		if (c < 0x21 || c > 0x7e || i >= INDEX_KEY_MAX)
			return false;
	}
	return i > 0;
}

static int index_entry_cmp(const void *a, const void *b)
{
	const struct index_entry *x = a, *y = b;

	return strcmp(x->key, y->key);
}

/* Splits one line (NUL-terminated, no LF) in place into an entry. */
static int index_parse_line(char *line, struct index_entry *e)
{
	char *field[4];
	uint64_t value;
	unsigned i;

	field[0] = line;
	for (i = 1; i < 4; i++) {
		char *sp = strchr(field[i - 1], ' ');

		if (sp == NULL)
			return -1;
		*sp = '\0';
		field[i] = sp + 1;
	}
	if (!index_key_is_valid(field[0]) ||
	    !uidl_is_valid(field[2], strlen(field[2])))
		return -1;
	e->key = field[0];
	e->uidl = field[2];
	if (strnum_parse_u64(field[1], UINT64_MAX, &e->size) < 0 ||
	    strnum_parse_u64(field[3], INT64_MAX, &value) < 0)
		return -1;
	e->retrieved = (int64_t)value;
	return 0;
}

/* FNV-1a over the key: a hash table makes the warm open O(n) in
 * lookups instead of n binary searches over long common prefixes. */
static size_t index_hash(const char *key)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *key != '\0'; key++) {
		h ^= (unsigned char)*key;
		h *= 1099511628211ULL;
	}
	/* FNV's low bits cluster on keys that differ only in digits:
	 * mix before masking (splitmix64 finaliser). */
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 31;
	return (size_t)h;
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

	if (len < vlen || memcmp(index->text, INDEX_VERSION_LINE, vlen) != 0)
		return -1;
	if (end[-1] != '\n')
		return -1; /* truncated write */
	for (p = index->text + vlen; p < end; p++)
		lines += *p == '\n';
	index->entries = calloc(lines == 0 ? 1 : lines,
				sizeof(*index->entries));
	if (index->entries == NULL)
		return -2;
	index->sorted = true;
	for (p = index->text + vlen; p < end;) {
		char *lf = memchr(p, '\n', (size_t)(end - p));
		struct index_entry *e = &index->entries[index->count];

		*lf = '\0';
		if (index_parse_line(p, e) < 0)
			return -1;
		if (index->count > 0 && index->sorted &&
		    strcmp(e[-1].key, e->key) >= 0)
			index->sorted = false;
		index->count++;
		p = lf + 1;
	}
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
	if (!index->complete)
		index->count = 0;
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
					    const char *key, size_t *hint)
{
	const struct index_entry *e;

	if (index->count == 0)
		return NULL;
	if (*hint < index->count &&
	    strcmp(index->entries[*hint].key, key) == 0) {
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

struct index_writer {
	int fd;
	size_t used;
	char buf[INDEX_WBUF];
};

static int index_flush(struct index_writer *w)
{
	size_t off = 0;

	while (off < w->used) {
		ssize_t n = write(w->fd, w->buf + off, w->used - off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		off += (size_t)n;
	}
	w->used = 0;
	return 0;
}

/* Whether losing this content in a crash could change what a client
 * sees: a retrieval time (EXPIRE) or a UIDL that is not simply the key
 * (a digest, possibly made unique) must survive; sizes can always be
 * computed again. */
static bool index_needs_durability(const struct index_entry *entries,
				   size_t count)
{
	for (size_t i = 0; i < count; i++) {
		if (entries[i].retrieved != 0 ||
		    strcmp(entries[i].key, entries[i].uidl) != 0)
			return true;
	}
	return false;
}

int index_write(const char *path, struct index_entry *entries, size_t count,
		const char **error_r)
{
	struct index_writer *w;
	char tmp[PATH_MAX];
	size_t i;
	int len;

	len = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	if (len < 0 || (size_t)len >= sizeof(tmp)) {
		*error_r = "index path too long";
		return -1;
	}
	w = malloc(sizeof(*w));
	if (w == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	qsort(entries, count, sizeof(*entries), index_entry_cmp);
	w->used = 0;
	w->fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
			       O_CLOEXEC, 0600);
	if (w->fd < 0) {
		*error_r = "cannot create the index file";
		free(w);
		return -1;
	}
	memcpy(w->buf, INDEX_VERSION_LINE, strlen(INDEX_VERSION_LINE));
	w->used = strlen(INDEX_VERSION_LINE);
	for (i = 0; i < count; i++) {
		const struct index_entry *e = &entries[i];
		int n;

		if (!index_key_is_valid(e->key) ||
		    !uidl_is_valid(e->uidl, strlen(e->uidl)) ||
		    e->retrieved < 0 ||
		    (i + 1 < count && strcmp(e->key, e[1].key) == 0))
			continue;
		/* key <= 255 + size <= 20 + uidl <= 70 + time <= 19 */
		if (sizeof(w->buf) - w->used < 400 && index_flush(w) < 0)
			goto out_fail;
		n = snprintf(w->buf + w->used, sizeof(w->buf) - w->used,
			     "%s %" PRIu64 " %s %" PRId64 "\n", e->key,
			     e->size, e->uidl, e->retrieved);
		if (n < 0 || (size_t)n >= sizeof(w->buf) - w->used)
			goto out_fail;
		w->used += (size_t)n;
	}
	/* fsync blocks the worker's event loop for as long as the journal
	 * takes (seconds under write load); a pure cache does not need it:
	 * after a crash a torn file fails index_parse and is rebuilt. */
	if (index_flush(w) < 0 ||
	    (index_needs_durability(entries, count) && fsync(w->fd) < 0))
		goto out_fail;
	if (close(w->fd) < 0) {
		w->fd = -1;
		goto out_fail;
	}
	w->fd = -1;
	if (rename(tmp, path) < 0)
		goto out_fail;
	free(w);
	return 0;

out_fail:
	if (w->fd >= 0)
		close(w->fd);
	unlink(tmp);
	free(w);
	*error_r = "cannot write the index file";
	return -1;
}
