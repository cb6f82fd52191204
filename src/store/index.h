/* index.h: the per-maildrop cache "satchel.index" (Maildir: keyed by base
 * name; mbox sidecar: keyed by UIDL). Format (docs/store.md):
 *
 *	"satchel-index 3" LF
 *	"listing -" LF   or
 *	"listing" 9 x (SP number) LF     (see struct index_listing)
 *	key SP size SP uidl SP retrieved-epoch SP where SP utf8 LF (per message)
 *
 * An empty uidl field means "the same as the key"; where is a location
 * the store defines (Maildir: "n" or "c" then the ":info" part of the
 * file name), "-" for none. utf8 caches whether the message needs UTF-8
 * mode (RFC 6856 5., store/mimescan.h), so a maildrop is read for it
 * once and not at every login: "-" not known yet, "a" no (ASCII
 * headers), or the size of its ASCII surrogate (store/utf8wrap.h) for a
 * message that needs it. Files of versions 1 (no listing line, four
 * fields) and 2 (five fields, no utf8) still load, so retrieval times
 * survive the upgrade, but index_is_current() is false and the store
 * rewrites them.
 *
 * It is only a cache: a missing, unreadable or corrupt file (any line
 * that does not parse) loads as an empty index, and the store rebuilds
 * it. Written to a temporary file, renamed (fsync'd first when needed). */
#ifndef SATCHEL_INDEX_H
#define SATCHEL_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct index_entry {
	const char *key;      /* 1-255 octets of 0x21-0x7E */
	uint64_t size;        /* LIST size (0 when the store does not use it) */
	const char *uidl;     /* valid UIDL */
	int64_t retrieved;    /* epoch of the first RETR kept, 0 = never */
	const char *where;    /* NULL, or 1-255 octets of 0x21-0x7E */
	/* set by index_load (ignored by index_write): */
	unsigned key_len, uidl_len, where_len;
	/* the utf8 field (enum index_utf8, 0 = not known: what a zeroed
	 * entry says); wrap_size with INDEX_UTF8_YES, > 0 */
	unsigned char utf8;
	uint64_t wrap_size;
};

enum index_utf8 { INDEX_UTF8_UNKNOWN = 0, INDEX_UTF8_NO, INDEX_UTF8_YES };

/* What a store needs to trust the entries as its whole directory
 * listing without reading the directories again (Maildir: new/, cur/;
 * the rule is in maildir.c and docs/store.md). */
#define INDEX_LISTING_DIRS 2
struct index_listing {
	bool valid;             /* false: "listing -" */
	uint64_t ino[INDEX_LISTING_DIRS];
	int64_t mtime_sec[INDEX_LISTING_DIRS];
	int64_t mtime_nsec[INDEX_LISTING_DIRS];
	int64_t listed_sec, listed_nsec; /* when the listing was read */
};

struct index;

/* Loads path. Returns 0 with *index_r (possibly empty; *index_r owns its
 * strings), or -1 only when out of memory. A file that did not load whole
 * sets index_is_complete() false so the store knows to rewrite it. */
int index_load(const char *path, struct index **index_r);
bool index_is_complete(const struct index *index);
/* False for a file of an older version (loaded, but to be rewritten). */
bool index_is_current(const struct index *index);
/* The listing line (valid == false when none or an old version). */
const struct index_listing *index_get_listing(const struct index *index);
/* Entry i (< index_count), in file order: sorted by key. */
const struct index_entry *index_entry_at(const struct index *index,
					 size_t i);
size_t index_count(const struct index *index);
/* The entry for key, or NULL (binary search over the sorted file, or a
 * hash table when the file was not sorted). */
const struct index_entry *index_lookup(const struct index *index,
				       const char *key);
/* The same, first trying the entry at *hint, then setting *hint past the
 * entry found: looking keys up in ascending order (a Maildir snapshot in
 * delivery order) costs one length compare and memcmp per key. key_len
 * is strlen(key). Start with *hint = 0. */
const struct index_entry *index_lookup_next(const struct index *index,
					    const char *key, size_t key_len,
					    size_t *hint);
void index_free(struct index **indexp);

/* True when key can be stored (the text format has no quoting). */
bool index_key_is_valid(const char *key);

/* Writes count entries to path atomically (temp file, rename; fsync
 * first unless every entry is pure cache: no retrieval time and a UIDL
 * equal to its key, which can all be recomputed after a crash).
 * Entries with an invalid key or UIDL are skipped. The array is sorted by
 * key in place (a stable file for diffs and tests). Returns 0, or -1
 * with *error_r. */
int index_write(const char *path, struct index_entry *entries, size_t count,
		const char **error_r);
/* The same with a listing line. The listing is written only when every
 * entry is written (no invalid or duplicate key, valid UIDL and where):
 * otherwise "listing -", since a store may take the entries for the whole
 * listing. */
int index_write_listing(const char *path, struct index_entry *entries,
			size_t count, const struct index_listing *listing,
			const char **error_r);

#endif
