/* maildir.c: the Maildir store (Maildir++ sizes, satchel.index cache):
 * open (lock, trusted listing or scan, snapshot), message readers, the
 * lock refresh and the driver table. Scanning is in maildir_scan.c,
 * UPDATE in maildir_commit.c. */
#include <dirent.h>
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
#include "store/node.h"
#include "store/uidl.h"
#include "util/log.h"

const char *const maildir_sub_names[MAILDIR_SUB_COUNT] = { "new", "cur" };

static int maildir_open_file(struct maildir *md, const struct maildir_file *f)
{
	char path[PATH_MAX];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s/%s", md->path,
			     maildir_sub_names[f->sub],
			     f->moved != NULL ? f->moved : f->name) >=
	    sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return maildir_open_regular(AT_FDCWD, path, 0);
}

int maildir_open_regular(int dir_fd, const char *name, int flags)
{
	struct stat st;
	int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW |
					     O_NONBLOCK | flags);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	return fd;
}

static int maildir_create(const char *path)
{
	char sub[PATH_MAX];
	static const char *const subs[] = { "", "/new", "/cur", "/tmp" };
	size_t i;

	for (i = 0; i < sizeof(subs) / sizeof(subs[0]); i++) {
		if ((size_t)snprintf(sub, sizeof(sub), "%s%s", path,
				     subs[i]) >= sizeof(sub))
			return -1;
		if (mkdir(sub, 0700) < 0 && errno != EEXIST)
			return -1;
	}
	return 0;
}

void maildir_destroy(struct maildir *md)
{
	size_t i;

	lock_file_release(&md->lock);
	for (i = 0; i < md->files_count; i++)
		free(md->files[i].moved);
	while (md->arena != NULL) {
		struct maildir_arena *next = md->arena->next;

		free(md->arena);
		md->arena = next;
	}
	free(md->files);
	free(md->drop.msgs);
	free(md->cache_index);
	free(md->path);
	free(md);
}

/* index_dir's file for this Maildir: a digest of its path, so any path
 * fits one flat directory. 0, or -1 (too long, out of memory). */
static int maildir_cache_index_path(struct maildir *md, const char *dir)
{
	struct iovec iov = { md->path, strlen(md->path) };
	char hex[UIDL_DIGEST_HEX + 1], path[PATH_MAX];

	if (uidl_digest(&iov, 1, hex) < 0 ||
	    (size_t)snprintf(path, sizeof(path), "%s/%s.index", dir, hex) >=
		    sizeof(path))
		return -1;
	md->cache_index = strdup(path);
	return md->cache_index == NULL ? -1 : 0;
}

/* The end of a session (after its commit, or without one): the snapshot
 * is parked for the next login when the session left it valid. */
static void maildir_free(struct maildrop *drop)
{
	struct maildir *md = (struct maildir *)drop;

	if (md->lock != NULL)
		maildir_cache_note_end(md);
	lock_file_release(&md->lock);
	if (!maildir_cache_put(md))
		maildir_destroy(md);
}

static void maildir_stamp_dirs(struct maildir *md, struct index_listing *l)
{
	struct timespec now;
	char path[PATH_MAX];
	int s;

	memset(l, 0, sizeof(*l));
	if (clock_gettime(CLOCK_REALTIME, &now) < 0)
		return;
	l->listed_sec = (int64_t)now.tv_sec;
	l->listed_nsec = (int64_t)now.tv_nsec;
	for (s = 0; s < MAILDIR_SUB_COUNT; s++) {
		struct stat st;

		if ((size_t)snprintf(path, sizeof(path), "%s/%s", md->path,
				     maildir_sub_names[s]) >= sizeof(path) ||
		    stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
			return;
		l->ino[s] = (uint64_t)st.st_ino;
		l->mtime_sec[s] = (int64_t)st.st_mtim.tv_sec;
		l->mtime_nsec[s] = (int64_t)st.st_mtim.tv_nsec;
	}
	l->valid = true;
}

/* The rule (docs/store.md): a recorded listing stands for new/ and cur/
 * while both have the recorded inode and mtime, and each mtime was at
 * least MAILDIR_STAMP_MARGIN_SECS older than the moment the listing was
 * read; a change within the same tick of the kernel's coarse clock can
 * leave the mtime as it was, and it can only be that recent. A listing
 * read "in the future" (the clock went back since) is not trusted
 * either. With rec == now, says whether a listing read now will be
 * trusted later. Never on a store that several nodes share (node
 * heartbeats on, node.h): another node's change may not be in this
 * host's cached attributes of the directories yet (NFS acdirmin, FUSE
 * attr_timeout: open + fstat does not revalidate them), while readdir
 * sees it, so the directories are read at every open. */
static bool maildir_listing_usable(const struct index_listing *rec,
				   const struct index_listing *now)
{
	int s;

	if (!rec->valid || !now->valid || node_heartbeats_enabled())
		return false;
	if (rec->listed_sec > now->listed_sec ||
	    (rec->listed_sec == now->listed_sec &&
	     rec->listed_nsec > now->listed_nsec))
		return false;
	for (s = 0; s < MAILDIR_SUB_COUNT; s++) {
		int64_t old_sec = rec->mtime_sec[s] + MAILDIR_STAMP_MARGIN_SECS;

		if (rec->ino[s] != now->ino[s] ||
		    rec->mtime_sec[s] != now->mtime_sec[s] ||
		    rec->mtime_nsec[s] != now->mtime_nsec[s])
			return false;
		if (old_sec > rec->listed_sec ||
		    (old_sec == rec->listed_sec &&
		     rec->mtime_nsec[s] > rec->listed_nsec))
			return false;
	}
	return true;
}

/* The listing extended by the arrivals log (docs/store.md, "New mail
 * without readdir"): cur/ and the listing as the rule above wants them,
 * new/ the same inode, and the log's entries leading from the listed
 * mtime of new/ to its mtime now, for a listing read at most
 * ARRIVALS_TRUST_SECS ago. */
static bool maildir_arrivals_usable(const struct index_listing *rec,
				    const struct index_listing *now,
				    const struct arrivals *arr)
{
	struct index_listing virt;

	if (!rec->valid || !now->valid ||
	    rec->ino[MAILDIR_NEW] != now->ino[MAILDIR_NEW] ||
	    now->listed_sec - rec->listed_sec > ARRIVALS_TRUST_SECS)
		return false;
	if (!arrivals_chain(arr, rec->mtime_sec[MAILDIR_NEW],
			    rec->mtime_nsec[MAILDIR_NEW],
			    now->mtime_sec[MAILDIR_NEW],
			    now->mtime_nsec[MAILDIR_NEW]))
		return false;
	virt = *now;
	virt.mtime_sec[MAILDIR_NEW] = rec->mtime_sec[MAILDIR_NEW];
	virt.mtime_nsec[MAILDIR_NEW] = rec->mtime_nsec[MAILDIR_NEW];
	return maildir_listing_usable(rec, &virt);
}

/* The parked snapshot of the last session when nothing it was built from
 * has changed: the Maildir's directories by the listing rule (stamps
 * were read just now, under the lock), and its index. Takes over the
 * lock md holds and frees md; NULL (md untouched) when there is none. */
static struct maildir *maildir_take_parked(struct maildir *md,
					   const struct index_listing *stamps)
{
	struct maildir *parked = maildir_cache_take(md->path);
	size_t i;

	if (parked == NULL)
		return NULL;
	if (!maildir_listing_usable(&parked->listing, stamps) ||
	    !maildir_cache_index_unchanged(parked)) {
		maildir_destroy(parked);
		return NULL;
	}
	for (i = 0; i < parked->files_count; i++) {
		parked->drop.msgs[i].deleted = false;
		parked->drop.msgs[i].retrieved = false;
		/* the commit that parked it stamped this session's RETRs */
		parked->drop.msgs[i].seen = parked->files[i].retrieved != 0;
	}
	parked->drop.expire_days = md->drop.expire_days;
	parked->lock = md->lock;
	md->lock = NULL;
	parked->index_dirty = false;
	parked->cacheable = false;
	/* the arrivals log is not read again: it may not be emptied by an
	 * index write of this session (a later full open will) */
	parked->arrivals_covered = false;
	maildir_destroy(md);
	log_debug("%s: the last session's snapshot reused (%zu messages)",
		  parked->path, parked->files_count);
	return parked;
}

/* The clock, then new/ and cur/: *l is what the index records with a
 * listing read right after (valid false when a directory is missing). */
/* The files from the recorded listing (and the arrivals log when
 * with_log): 0 when loaded, 1 when the directories must be read, -1 out
 * of memory. */
static int maildir_reuse(struct maildir *md, const struct index *index,
			 const struct arrivals *arr, bool with_log)
{
	int ret = maildir_load_listing(md, index);

	if (ret == 0 && with_log) {
		ret = maildir_load_arrivals(md, index, arr);
		if (ret == 1)
			md->files_count = 0;
	}
	return ret;
}

static int maildir_open(const struct maildrop_settings *set,
			struct maildrop **drop_r, const char **error_r)
{
	struct maildir *md;
	struct index *index = NULL, *facts = NULL;
	struct arrivals *arr = NULL;
	struct index_listing stamps;
	char path[PATH_MAX];
	struct stat st;
	bool reused = false, with_log = false;
	int ret;

	md = calloc(1, sizeof(*md));
	if (md == NULL || (md->path = strdup(set->path)) == NULL) {
		free(md);
		*error_r = "out of memory";
		return MAILDROP_TEMP;
	}
	md->drop.driver = &maildir_driver;
	md->drop.expire_days = set->expire_days;
	if (set->index_dir != NULL && set->index_dir[0] != '\0' &&
	    maildir_cache_index_path(md, set->index_dir) < 0) {
		*error_r = "index_dir path too long";
		ret = MAILDROP_TEMP;
		goto out_fail;
	}
	if (stat(set->path, &st) < 0) {
		if (errno != ENOENT) {
			*error_r = "cannot access the Maildir";
			ret = MAILDROP_TEMP;
			goto out_fail;
		}
		if (!set->create) {
			/* no Maildir = no mail; nothing to lock */
			md->drop.msgs = calloc(1, sizeof(*md->drop.msgs));
			if (md->drop.msgs == NULL) {
				*error_r = "out of memory";
				ret = MAILDROP_TEMP;
				goto out_fail;
			}
			*drop_r = &md->drop;
			return MAILDROP_OK;
		}
	} else if (!S_ISDIR(st.st_mode)) {
		*error_r = "the Maildir path is not a directory";
		ret = MAILDROP_PERM;
		goto out_fail;
	}
	if (set->create && maildir_create(set->path) < 0) {
		*error_r = "cannot create the Maildir";
		ret = MAILDROP_TEMP;
		goto out_fail;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", set->path,
			     MAILDIR_LOCK_NAME) >= sizeof(path)) {
		*error_r = "Maildir path too long";
		ret = MAILDROP_PERM;
		goto out_fail;
	}
	ret = lock_file_take(path, set->lock_stale_secs, &md->lock, error_r);
	if (ret != MAILDROP_OK)
		goto out_fail;
	/* the clock first, then the stamps, then the listing (docs/store.md) */
	maildir_stamp_dirs(md, &stamps);
	{
		struct maildir *parked = maildir_take_parked(md, &stamps);

		if (parked != NULL) {
			/* parked by a session that did not ask for it */
			if (set->scan_utf8 &&
			    maildrop_utf8_scan(&parked->drop) > 0) {
				const char *ignored;

				(void)maildir_write_index(parked, NULL,
							  &parked->listing,
							  &ignored);
			}
			*drop_r = &parked->drop;
			return MAILDROP_OK;
		}
	}
	snprintf(path, sizeof(path), "%s/%s", set->path, MAILDIR_INDEX_NAME);
	/* with index_dir, the Maildir's satchel.index holds the facts and
	 * the node-local file the cache (docs/scaling.md) */
	if (index_load(md->cache_index != NULL ? md->cache_index : path,
		       &index) < 0 ||
	    (md->cache_index != NULL && index_load(path, &facts) < 0) ||
	    arrivals_load(set->path, &arr) < 0) {
		index_free(&index);
		index_free(&facts);
		*error_r = "out of memory";
		ret = MAILDROP_TEMP;
		goto out_fail;
	}
	md->arrivals_size = arr->size;
	if (!maildir_listing_usable(index_get_listing(index), &stamps))
		with_log = maildir_arrivals_usable(index_get_listing(index),
						   &stamps, arr);
	if (with_log ||
	    maildir_listing_usable(index_get_listing(index), &stamps)) {
		ret = maildir_reuse(md, index, arr, with_log);
		if (ret < 0) {
			index_free(&index);
			index_free(&facts);
			arrivals_free(&arr);
			*error_r = "out of memory";
			ret = MAILDROP_TEMP;
			goto out_fail;
		}
		reused = ret == 0;
	}
	arrivals_free(&arr);
	/* a listing that stood alone, or directories read now, hold every
	 * delivery the log names */
	md->arrivals_covered = !reused || !with_log;
	if (!reused && (maildir_scan_sub(md, MAILDIR_NEW) < 0 ||
			maildir_scan_sub(md, MAILDIR_CUR) < 0)) {
		index_free(&index);
		index_free(&facts);
		*error_r = "cannot read the Maildir";
		ret = MAILDROP_TEMP;
		goto out_fail;
	}
	ret = maildir_snapshot(md, index, facts, error_r);
	index_free(&facts);
	if (reused) {
		md->listing = *index_get_listing(index);
	} else if (maildir_listing_usable(&stamps, &stamps)) {
		/* read now, trustworthy next time: worth a write */
		md->listing = stamps;
		md->index_dirty = true;
	}
	index_free(&index);
	if (ret != MAILDROP_OK)
		goto out_fail;
	if (set->scan_utf8 && maildrop_utf8_scan(&md->drop) > 0)
		md->index_dirty = true;
	/* Save computed sizes (and utf8 answers) now, so a dropped
	 * connection does not waste the slow first scan. The index is a
	 * cache: failure is harmless. */
	if (md->index_dirty) {
		const char *ignored;

		(void)maildir_write_index(md, NULL, &md->listing, &ignored);
	}
	*drop_r = &md->drop;
	return MAILDROP_OK;

out_fail:
	maildir_destroy(md);
	return ret;
}

static int maildir_refresh_lock(struct maildrop *drop)
{
	struct maildir *md = (struct maildir *)drop;

	if (md->lock == NULL)
		return MAILDROP_OK;
	return lock_file_refresh(md->lock) < 0 ? MAILDROP_TEMP : MAILDROP_OK;
}

/* Another MUA may have moved the file (new/ -> cur/, flags changed) since
 * the scan: find it again by its base name. Returns 0 or -1. */
static int maildir_find_moved(struct maildir *md, struct maildir_file *f)
{
	size_t blen = strlen(f->base);
	char path[PATH_MAX];
	struct dirent *d;
	int s, ret = -1;

	for (s = 0; s < MAILDIR_SUB_COUNT && ret < 0; s++) {
		DIR *dir;

		snprintf(path, sizeof(path), "%s/%s", md->path,
			 maildir_sub_names[s]);
		dir = opendir(path);
		if (dir == NULL)
			continue;
		while ((d = readdir(dir)) != NULL) {
			char *moved;

			if (strncmp(d->d_name, f->base, blen) != 0 ||
			    (d->d_name[blen] != ':' && d->d_name[blen] != '\0'))
				continue;
			moved = strdup(d->d_name);
			if (moved == NULL)
				break;
			free(f->moved);
			f->moved = moved;
			f->sub = (enum maildir_sub)s;
			ret = 0;
			break;
		}
		closedir(dir);
	}
	return ret;
}

static ssize_t maildir_reader_read(struct maildrop_reader *reader, char *buf,
				   size_t size)
{
	struct maildir_reader *r = (struct maildir_reader *)reader;
	ssize_t n;

	do {
		n = read(r->fd, buf, size);
	} while (n < 0 && errno == EINTR);
	return n;
}

static void maildir_reader_free(struct maildrop_reader *reader)
{
	struct maildir_reader *r = (struct maildir_reader *)reader;

	close(r->fd);
	free(r);
}

static int maildir_reader_fd(struct maildrop_reader *reader)
{
	return ((struct maildir_reader *)reader)->fd;
}

static const struct maildrop_reader_vfuncs maildir_reader_vfuncs = {
	.read = maildir_reader_read,
	.free = maildir_reader_free,
	.fd = maildir_reader_fd,
};

static int maildir_reader_open(struct maildrop *drop, unsigned idx,
			       struct maildrop_reader **reader_r,
			       const char **error_r)
{
	struct maildir *md = (struct maildir *)drop;
	struct maildir_file *f = &md->files[idx];
	struct maildir_reader *r;
	int fd;

	fd = maildir_open_file(md, f);
	if (fd < 0 && errno == ENOENT && maildir_find_moved(md, f) == 0)
		fd = maildir_open_file(md, f);
	if (fd < 0) {
		*error_r = errno == ENOENT ? "the message has vanished" :
			   errno == ELOOP || errno == EINVAL ?
				   "the message is not a regular file" :
				   "cannot open the message";
		return MAILDROP_TEMP;
	}
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	r = malloc(sizeof(*r));
	if (r == NULL) {
		close(fd);
		*error_r = "out of memory";
		return MAILDROP_TEMP;
	}
	r->reader.v = &maildir_reader_vfuncs;
	r->fd = fd;
	*reader_r = &r->reader;
	return MAILDROP_OK;
}

int maildir_open_sub(struct maildir *md, enum maildir_sub sub)
{
	char path[PATH_MAX];

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", md->path,
			     maildir_sub_names[sub]) >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

const struct maildrop_driver maildir_driver = {
	.open = maildir_open,
	.refresh_lock = maildir_refresh_lock,
	.reader_open = maildir_reader_open,
	.commit = maildir_commit,
	.free = maildir_free,
};
