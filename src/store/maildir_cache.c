/* maildir_cache.c: the warm snapshots of one process (a POP3 worker).
 *
 * A login to a large Maildir spends most of its time reading the index
 * and building the snapshot (sizes, UIDLs, order) that the last session
 * had already built. A session that ends without changing the
 * directories parks its snapshot here instead of freeing it; the next
 * login to the same Maildir in this process takes it back when nothing
 * it was built from has changed since:
 *  - new/ and cur/ as the trusted-listing rule wants them (the same rule
 *    and stamps as a listing recorded in the index, docs/store.md), and
 *  - satchel.index the same file (inode, size, mtime), stamped while the
 *    session still held the lock: anything another process learned about
 *    the messages (sizes, retrieval times, imported UIDLs) goes through
 *    a new index.
 * A snapshot is taken out of the cache while a session uses it (the
 * session lock makes that session the only one), so nothing is shared
 * between threads but this table. Bounded by octets (LRU); off unless
 * the process sets a budget. */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/maildir_private.h"

/* Smaller Maildirs snapshot in well under a millisecond: not worth the
 * memory. */
#define MAILDIR_CACHE_MIN_FILES 1000
#define MAILDIR_CACHE_SLOTS 16

struct maildir_cache_slot {
	struct maildir *md;
	uint64_t bytes;
	uint64_t last_use;
};

static pthread_mutex_t maildir_cache_mutex = PTHREAD_MUTEX_INITIALIZER;
static struct maildir_cache_slot maildir_cache_slots[MAILDIR_CACHE_SLOTS];
static uint64_t maildir_cache_budget, maildir_cache_used, maildir_cache_clock;

void maildrop_cache_set_budget(uint64_t bytes)
{
	pthread_mutex_lock(&maildir_cache_mutex);
	maildir_cache_budget = bytes;
	pthread_mutex_unlock(&maildir_cache_mutex);
}

static void maildir_stamp_index(const char *path,
				struct maildir_index_stamp *stamp)
{
	char file[PATH_MAX];
	struct stat st;

	memset(stamp, 0, sizeof(*stamp));
	if ((size_t)snprintf(file, sizeof(file), "%s/%s", path,
			     MAILDIR_INDEX_NAME) >= sizeof(file))
		return;
	stamp->known = true;
	if (stat(file, &st) < 0)
		return; /* no index is a state too (exists false) */
	stamp->exists = true;
	stamp->dev = (uint64_t)st.st_dev;
	stamp->ino = (uint64_t)st.st_ino;
	stamp->size = (uint64_t)st.st_size;
	stamp->mtime_sec = (int64_t)st.st_mtim.tv_sec;
	stamp->mtime_nsec = (int64_t)st.st_mtim.tv_nsec;
}

void maildir_cache_note_end(struct maildir *md)
{
	md->cacheable = false;
	if (md->lock == NULL || !md->listing.valid ||
	    md->files_count < MAILDIR_CACHE_MIN_FILES)
		return;
	pthread_mutex_lock(&maildir_cache_mutex);
	md->cacheable = maildir_cache_budget > 0;
	pthread_mutex_unlock(&maildir_cache_mutex);
	if (md->cacheable)
		maildir_stamp_index(md->path, &md->index_stamp);
}

static uint64_t maildir_cache_bytes(const struct maildir *md)
{
	const struct maildir_arena *a;
	uint64_t bytes = sizeof(*md) +
			 md->files_alloc * sizeof(*md->files) +
			 (md->files_count + 1) * sizeof(*md->drop.msgs);

	for (a = md->arena; a != NULL; a = a->next)
		bytes += sizeof(*a) + a->size;
	return bytes;
}

bool maildir_cache_put(struct maildir *md)
{
	struct maildir *evicted[MAILDIR_CACHE_SLOTS];
	size_t nevicted = 0, i;
	uint64_t bytes;

	if (!md->cacheable || md->lock != NULL)
		return false;
	bytes = maildir_cache_bytes(md);
	pthread_mutex_lock(&maildir_cache_mutex);
	if (bytes > maildir_cache_budget) {
		pthread_mutex_unlock(&maildir_cache_mutex);
		return false;
	}
	for (;;) {
		struct maildir_cache_slot *free_slot = NULL, *oldest = NULL;

		for (i = 0; i < MAILDIR_CACHE_SLOTS; i++) {
			struct maildir_cache_slot *s = &maildir_cache_slots[i];

			if (s->md == NULL)
				free_slot = s;
			else if (oldest == NULL || s->last_use < oldest->last_use)
				oldest = s;
		}
		if (free_slot != NULL &&
		    maildir_cache_used + bytes <= maildir_cache_budget) {
			free_slot->md = md;
			free_slot->bytes = bytes;
			free_slot->last_use = ++maildir_cache_clock;
			maildir_cache_used += bytes;
			break;
		}
		/* a full table, or too little room while bytes <= budget:
		 * either way some snapshot is cached, and the oldest goes */
		evicted[nevicted++] = oldest->md;
		maildir_cache_used -= oldest->bytes;
		oldest->md = NULL;
	}
	pthread_mutex_unlock(&maildir_cache_mutex);
	/* freeing 100,000 names takes a while: not under the mutex */
	for (i = 0; i < nevicted; i++)
		maildir_destroy(evicted[i]);
	return true;
}

struct maildir *maildir_cache_take(const char *path)
{
	struct maildir *md = NULL;
	size_t i;

	pthread_mutex_lock(&maildir_cache_mutex);
	for (i = 0; i < MAILDIR_CACHE_SLOTS; i++) {
		struct maildir_cache_slot *s = &maildir_cache_slots[i];

		if (s->md != NULL && strcmp(s->md->path, path) == 0) {
			md = s->md;
			maildir_cache_used -= s->bytes;
			s->md = NULL;
			break;
		}
	}
	pthread_mutex_unlock(&maildir_cache_mutex);
	return md;
}

bool maildir_cache_index_unchanged(const struct maildir *md)
{
	struct maildir_index_stamp now;
	const struct maildir_index_stamp *then = &md->index_stamp;

	maildir_stamp_index(md->path, &now);
	return then->known && now.known && then->exists == now.exists &&
	       then->dev == now.dev && then->ino == now.ino &&
	       then->size == now.size && then->mtime_sec == now.mtime_sec &&
	       then->mtime_nsec == now.mtime_nsec;
}
