/* maildir_commit.c: POP3 UPDATE for a Maildir (deletions, retrieved
 * messages moved to cur/ with the S flag, fsyncs) and the index write. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/maildir_private.h"
#include "store/quota.h"

/* The facts of md (index_dir set): entries of the messages with a
 * retrieval time or a UIDL apart from their base name, to the Maildir's
 * satchel.index, where every node reads them (sizes too, so a node
 * without index_dir that reads the file gets them right). */
static int maildir_write_facts(struct maildir *md, const bool *gone,
			       const char **error_r)
{
	struct index_entry *entries;
	char path[PATH_MAX];
	size_t i, n = 0;
	int ret;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", md->path,
			     MAILDIR_INDEX_NAME) >= sizeof(path)) {
		*error_r = "path too long";
		return -1;
	}
	entries = calloc(md->files_count + 1, sizeof(*entries));
	if (entries == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	for (i = 0; i < md->files_count; i++) {
		const struct maildir_file *f = &md->files[i];
		const struct maildrop_msg *m = &md->drop.msgs[i];

		if ((gone != NULL && gone[i]) ||
		    (f->retrieved == 0 && strcmp(m->uidl, f->base) == 0))
			continue;
		entries[n].key = f->base;
		entries[n].size = m->size;
		entries[n].uidl = m->uidl;
		entries[n].retrieved = f->retrieved;
		n++;
	}
	ret = index_write(path, entries, n, error_r);
	free(entries);
	if (ret == 0)
		md->facts_dirty = false;
	return ret;
}

/* Writes the index; with the listing recorded at open when it still
 * describes new/ and cur/ (listing non-NULL: nothing renamed or removed
 * since, and the stamps were old enough to be trusted). With index_dir,
 * the cache goes to its node-local file without the retrieval times
 * (the facts are the Maildir's; a cache needs no fsync). */
int maildir_write_index(struct maildir *md, const bool *gone,
			const struct index_listing *listing,
			const char **error_r)
{
	struct index_entry *entries;
	char path[PATH_MAX], *where, *p;
	size_t i, n = 0, where_size = 0;
	int ret, facts_ret = 0;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", md->path,
			     MAILDIR_INDEX_NAME) >= sizeof(path)) {
		*error_r = "path too long";
		return -1;
	}
	if (md->cache_index != NULL) {
		if (md->facts_dirty)
			facts_ret = maildir_write_facts(md, gone, error_r);
		/* index_dir itself is made on first use, as a cache is */
		snprintf(path, sizeof(path), "%s", md->cache_index);
		p = strrchr(path, '/');
		if (p != NULL && p != path) {
			*p = '\0';
			(void)mkdir(path, 0700);
			*p = '/';
		}
	}
	entries = calloc(md->files_count + 1, sizeof(*entries));
	for (i = 0; i < md->files_count; i++) {
		const struct maildir_file *f = &md->files[i];
		const char *name = f->moved != NULL ? f->moved : f->name;

		where_size += strlen(name + f->base_len) + 2;
	}
	where = malloc(where_size + 1);
	if (entries == NULL || where == NULL) {
		free(entries);
		free(where);
		*error_r = "out of memory";
		return -1;
	}
	for (i = 0, p = where; i < md->files_count; i++) {
		const struct maildir_file *f = &md->files[i];
		const char *name = f->moved != NULL ? f->moved : f->name;
		size_t info_len = strlen(name + f->base_len);

		if (gone != NULL && gone[i])
			continue;
		if (f->moved != NULL)
			listing = NULL; /* another MUA changed the dirs */
		/* "n"/"c" and the ":info" of the name (docs/store.md) */
		entries[n].where = p;
		*p++ = f->sub == MAILDIR_NEW ? 'n' : 'c';
		memcpy(p, name + f->base_len, info_len + 1);
		p += info_len + 1;
		entries[n].key = f->base;
		entries[n].size = md->drop.msgs[i].size;
		entries[n].uidl = md->drop.msgs[i].uidl;
		entries[n].retrieved = md->cache_index != NULL ? 0 :
				       f->retrieved;
		entries[n].utf8 =
			md->drop.msgs[i].utf8 == MAILDROP_UTF8_YES ?
				INDEX_UTF8_YES :
			md->drop.msgs[i].utf8 == MAILDROP_UTF8_NO ?
				INDEX_UTF8_NO : INDEX_UTF8_UNKNOWN;
		entries[n].wrap_size = md->drop.msgs[i].wrap_size;
		n++;
	}
	ret = index_write_listing(path, entries, n, listing, error_r);
	free(entries);
	free(where);
	if (ret == 0) {
		md->index_dirty = false;
		/* the directories were read after the log: its entries are
		 * in this index (unless it grew since) */
		if (md->arrivals_covered)
			arrivals_truncate(md->path, md->arrivals_size);
	}
	return ret < 0 ? ret : facts_ret;
}

static int maildir_flag_cmp(const void *a, const void *b)
{
	return *(const unsigned char *)a - *(const unsigned char *)b;
}

/* The cur/ name of a retrieved message: "base:2,FLAGS" with S added,
 * flags in ASCII order without duplicates (Maildir spec). Returns 0 and
 * sets *same_r when nothing changes, -1 when the name is too long. */
static int maildir_seen_name(const struct maildir_file *f, const char *name,
			     char *out, size_t size, bool *same_r)
{
	const char *info = strchr(name, ':');
	char flags[NAME_MAX + 2];
	size_t n = 0, i, j;

	*same_r = false;
	if (info != NULL && strncmp(info, ":2,", 3) != 0) {
		/* unknown info semantics: only move it out of new/ */
		*same_r = f->sub == MAILDIR_CUR;
		return (size_t)snprintf(out, size, "%s", name) >= size ? -1 : 0;
	}
	if (info != NULL) {
		n = strlen(info + 3);
		if (n >= sizeof(flags) - 1)
			return -1;
		memcpy(flags, info + 3, n);
		if (memchr(flags, 'S', n) != NULL && f->sub == MAILDIR_CUR) {
			*same_r = true;
			return 0;
		}
	}
	flags[n++] = 'S';
	qsort(flags, n, 1, maildir_flag_cmp);
	for (i = 0, j = 0; i < n; i++) {
		if (j == 0 || flags[j - 1] != flags[i])
			flags[j++] = flags[i];
	}
	flags[j] = '\0';
	if ((size_t)snprintf(out, size, "%s:2,%s", f->base, flags) >= size)
		return -1;
	return 0;
}

int maildir_commit(struct maildrop *drop, unsigned *deleted_r,
			  const char **error_r)
{
	struct maildir *md = (struct maildir *)drop;
	int dirfd[MAILDIR_SUB_COUNT] = { -1, -1 };
	int64_t now = (int64_t)time(NULL);
	bool *gone = NULL, changed = false, failed = false, broken = false;
	bool quota;
	uint64_t freed_bytes = 0, freed_count = 0;
	size_t i;
	int s, ret = MAILDROP_OK;

	if (md->lock == NULL)
		return MAILDROP_OK; /* no Maildir: nothing to do */
	/* fencing (docs/scaling.md): a lock another node may have taken
	 * over while this one was unreachable protects nothing */
	if (lock_file_refresh(md->lock) < 0) {
		*error_r = LOCK_LOST_NOTHING_CHANGED;
		return MAILDROP_TEMP;
	}
	gone = calloc(md->files_count + 1, sizeof(*gone));
	if (gone == NULL) {
		*error_r = "out of memory";
		return MAILDROP_TEMP;
	}
	for (s = 0; s < MAILDIR_SUB_COUNT; s++) {
		dirfd[s] = maildir_open_sub(md, (enum maildir_sub)s);
		if (dirfd[s] < 0) {
			*error_r = "cannot open the Maildir";
			ret = MAILDROP_TEMP;
			goto out_close;
		}
	}
	/* Maildir++: another program's quota file is kept current */
	quota = quota_file_exists(md->path);
	for (i = 0; i < md->files_count; i++) {
		struct maildir_file *f = &md->files[i];
		struct maildrop_msg *m = &md->drop.msgs[i];
		const char *name = f->moved != NULL ? f->moved : f->name;
		char seen[NAME_MAX + 1];
		bool same;

		/* before new/ changes: the arrivals log must not chain over
		 * it (docs/store.md) */
		if (!broken && f->sub == MAILDIR_NEW &&
		    (m->deleted || m->retrieved ||
		     maildrop_msg_is_expired(drop, f->retrieved, now))) {
			arrivals_break(md->path);
			broken = true;
		}
		if (m->deleted ||
		    maildrop_msg_is_expired(drop, f->retrieved, now)) {
			/* unlink is atomic: the message is whole or gone */
			uint64_t size = f->s_size;
			struct stat st;

			if (quota && !f->has_s &&
			    fstatat(dirfd[f->sub], name, &st,
				    AT_SYMLINK_NOFOLLOW) == 0)
				size = (uint64_t)st.st_size;
			md->listing.valid = false; /* the dirs change */
			if (unlinkat(dirfd[f->sub], name, 0) == 0) {
				(*deleted_r)++;
				freed_bytes += size;
				freed_count++;
			} else if (errno != ENOENT) {
				failed = true;
				continue;
			}
			gone[i] = true;
			changed = true;
			/* its facts go with it */
			if (f->retrieved != 0 || strcmp(m->uidl, f->base) != 0)
				md->facts_dirty = true;
			continue;
		}
		if (!m->retrieved)
			continue;
		/* RFC 2449 EXPIRE counts from the first retrieval */
		if (f->retrieved == 0) {
			f->retrieved = now;
			changed = true;
			md->facts_dirty = true;
		}
		if (maildir_seen_name(f, name, seen, sizeof(seen), &same) < 0 ||
		    same)
			continue;
		md->listing.valid = false;
		if (renameat(dirfd[f->sub], name, dirfd[MAILDIR_CUR], seen) < 0 &&
		    errno != ENOENT)
			failed = true;
	}
	for (s = 0; s < MAILDIR_SUB_COUNT; s++) {
		if (fsync(dirfd[s]) < 0)
			failed = true;
	}
	if (quota && freed_count > 0)
		quota_add(md->path, NULL, -(int64_t)freed_bytes,
			  -(int64_t)freed_count);
	if (changed || md->index_dirty || md->facts_dirty) {
		const char *ignored;

		/* a cache: losing it costs time, never mail */
		(void)maildir_write_index(md, gone, &md->listing, &ignored);
	}
	if (failed) {
		*error_r = "some deleted messages not removed";
		ret = MAILDROP_TEMP;
	}
out_close:
	for (s = 0; s < MAILDIR_SUB_COUNT; s++) {
		if (dirfd[s] >= 0)
			close(dirfd[s]);
	}
	free(gone);
	maildir_cache_note_end(md);
	lock_file_release(&md->lock);
	return ret;
}
