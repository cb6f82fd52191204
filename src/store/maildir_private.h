/* maildir_private.h: what the Maildir store's files share (private to
 * src/store): maildir.c opens, reads and frees; maildir_scan.c lists the
 * directories and builds the snapshot (sizes, UIDLs); maildir_commit.c
 * applies UPDATE and writes the index. */
#ifndef SATCHEL_MAILDIR_PRIVATE_H
#define SATCHEL_MAILDIR_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/types.h>

#include "store/arrivals.h"
#include "store/driver.h"
#include "store/index.h"
#include "store/lock.h"

#define MAILDIR_LOCK_NAME "satchel.lock"
#define MAILDIR_INDEX_NAME "satchel.index"
/* Name arena blocks: the first is small and each next one twice the
 * last, up to the largest; a 5-message Maildir held by an idle session
 * then costs a few hundred octets of names, not a 256 KB block (of which
 * malloc's header and the names touch a page or two, plus fragmentation
 * around it), and a 100,000-message one still few blocks. */
#define MAILDIR_ARENA_FIRST 512
#define MAILDIR_ARENA_BLOCK (256 * 1024)
/* Reading files to count sizes: a thread per core up to this many, only
 * for at least MAILDIR_THREAD_MIN files (else a thread costs more than it
 * saves); each claims MAILDIR_THREAD_CHUNK files at a time. */
#define MAILDIR_THREADS_MAX 4
#define MAILDIR_THREAD_MIN 512
#define MAILDIR_THREAD_CHUNK 64
#define MAILDIR_SIZE_BUF (64 * 1024)
/* A recorded listing is trusted only for directories whose mtime was at
 * least this much older than the time it was read (docs/store.md). */
#define MAILDIR_STAMP_MARGIN_SECS 2

enum maildir_sub { MAILDIR_NEW, MAILDIR_CUR, MAILDIR_SUB_COUNT };
extern const char *const maildir_sub_names[MAILDIR_SUB_COUNT];

struct maildir_arena {
	struct maildir_arena *next;
	size_t used, size;
	char data[];
};

struct maildir_file {
	const char *name;     /* file name in its sub-directory (arena) */
	const char *base;     /* name up to ':' (arena) */
	char *moved;          /* malloc'd new name after a move, or NULL */
	enum maildir_sub sub;
	uint64_t s_size, w_size;
	uint64_t lead;        /* leading number of the base (sort key) */
	unsigned lead_len;    /* its digits; 0 = none or too long */
	unsigned base_len;    /* strlen(base) */
	bool has_s, has_w;
	bool uidl_is_base;    /* the snapshot's UIDL is the base name */
	int64_t retrieved;
	const struct index_entry *entry; /* during open only */
};

/* satchel.index as a snapshot was built from it (maildir_cache.c) */
struct maildir_index_stamp {
	bool known, exists;
	uint64_t dev, ino, size;
	int64_t mtime_sec, mtime_nsec;
};

struct maildir {
	struct maildrop drop;
	char *path;
	struct lock_file *lock;
	struct maildir_arena *arena;
	struct maildir_file *files;  /* parallel to drop.msgs */
	size_t files_count, files_alloc;
	/* new/ and cur/ as read at open, when they may be trusted later
	 * (valid false otherwise); written with the index. */
	struct index_listing listing;
	bool index_dirty;
	/* index_dir (maildrop_settings): the node-local file of the index
	 * cache, or NULL when the whole index is the Maildir's
	 * satchel.index. With it, satchel.index keeps only the facts
	 * (retrieval times, UIDLs apart from the base), rewritten when
	 * facts_dirty. */
	char *cache_index;
	bool facts_dirty;
	/* The arrivals log (arrivals.h) as read at open: its size, and
	 * whether the directories were read after it (then an index write
	 * may empty it, if nothing was appended since). */
	off_t arrivals_size;
	bool arrivals_covered;
	/* set under the lock at the end of a session that left the
	 * directories as listed: the snapshot may be parked for the next
	 * login (maildir_cache.c) */
	bool cacheable;
	struct maildir_index_stamp index_stamp;
};

struct maildir_reader {
	struct maildrop_reader reader;
	int fd;
};

/* maildir.c: frees a snapshot (its lock released already). */
void maildir_destroy(struct maildir *md);

/* maildir.c: an O_DIRECTORY fd of new/ or cur/, or -1 (errno). */
int maildir_open_sub(struct maildir *md, enum maildir_sub sub);

/* Opens a message file for reading: openat(dir_fd, name) never through
 * a symlink and never blocking (a FIFO), and only a regular file (else
 * -1 with errno ELOOP or EINVAL). A symlink in a Maildir could point at
 * another user's mail or any file the mail user can read; none is a
 * message. flags are added (O_NOATIME). */
int maildir_open_regular(int dir_fd, const char *name, int flags);

/* maildir_scan.c: adds the files of one sub-directory (0, or -1 on an
 * I/O error or out of memory). */
int maildir_scan_sub(struct maildir *md, enum maildir_sub sub);
/* Adds the files of a trusted index listing: 0, 1 when it names a file
 * the scan could not have produced (nothing added), -1 out of memory. */
int maildir_load_listing(struct maildir *md, const struct index *index);
/* Adds the files of new/ that the arrivals log names and the index
 * does not: 0, 1 when a name could not come from a scan (nothing
 * added), -1 out of memory. */
int maildir_load_arrivals(struct maildir *md, const struct index *index,
			  const struct arrivals *arr);
/* Sorts the files and builds drop.msgs (sizes, unique UIDLs): sizes
 * from index, UIDLs and retrieval times from facts (NULL: from index
 * too). Returns MAILDROP_OK or MAILDROP_TEMP with *error_r. */
int maildir_snapshot(struct maildir *md, struct index *index,
		     const struct index *facts, const char **error_r);

/* maildir_commit.c: writes the index without the files marked in gone
 * (NULL: none), with listing when it still describes the directories;
 * with md->cache_index, to that file, and the facts to the Maildir's
 * satchel.index when md->facts_dirty. 0 or -1 with *error_r. */
int maildir_write_index(struct maildir *md, const bool *gone,
			const struct index_listing *listing,
			const char **error_r);
/* The driver's commit (driver.h). */
int maildir_commit(struct maildrop *drop, unsigned *deleted_r,
		   const char **error_r);

/* maildir_cache.c: with the lock still held at the end of a session,
 * decides whether its snapshot may be parked, and stamps the index. */
void maildir_cache_note_end(struct maildir *md);
/* Parks a snapshot whose lock is released; false when it is not to be
 * kept (the caller frees it). */
bool maildir_cache_put(struct maildir *md);
/* The parked snapshot of the Maildir at path, taken out of the cache,
 * or NULL. The caller checks it (maildir_cache_index_unchanged and the
 * listing rule) and frees it when it no longer holds. */
struct maildir *maildir_cache_take(const char *path);
/* True when satchel.index is still the file md was built from (with
 * index_dir: the facts; the node-local cache is this node's alone). */
bool maildir_cache_index_unchanged(const struct maildir *md);

#endif
