/* delivery_maildir.c: one message into a Maildir, durably: the file made
 * with O_EXCL in tmp/, written, fsync'd, linked into new/ under a name
 * never used before (link(2) never replaces), new/ fsync'd, the tmp/
 * name removed; only then success. Every error removes what was made.
 * A spool made in tmp/ (link_spool) needs no tmp/ name: once fsync'd it
 * is linked from its open fd straight into new/.
 *
 * Paths are walked one component at a time with O_NOFOLLOW (openat), so
 * a maildrop cannot be redirected into another user's mail through a
 * symlink: a symlink on the way is followed only when root owns it (the
 * administrator's, e.g. /home -> /srv/home); one owned by anyone else
 * (a user can only make his own) is refused, as is a symlink for tmp/,
 * new/ or cur/ and for the message file. All later work is relative to
 * the directory fds, so a path swapped meanwhile changes nothing. */
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

#include "store/arrivals.h"
#include "store/delivery_name.h"
#include "store/delivery_private.h"
#include "util/fileio.h"
#include "util/log.h"

#define DELIVERY_COPY_BUF (64 * 1024)
/* tmp/ files left by a killed delivery are removed after this long
 * (the Maildir specification's 36 hours) */
#define DELIVERY_TMP_STALE_SECS (36 * 3600)

enum delivery_sub { DELIVERY_TMP, DELIVERY_NEW, DELIVERY_CUR,
		    DELIVERY_SUB_COUNT };
static const char *const delivery_sub_names[DELIVERY_SUB_COUNT] = {
	"tmp", "new", "cur",
};

/* openat of a directory on the way to a maildrop; where reading it is
 * refused (EACCES: a Landlock ruleset that opens only the mail roots
 * below it, util/sandbox_landlock.c) a path-only descriptor, which
 * still serves as the directory of the next openat or mkdirat. */
static int delivery_openat_dir(int dir_fd, const char *name, int flags)
{
	int fd = openat(dir_fd, name, flags);

	if (fd < 0 && errno == EACCES)
		fd = openat(dir_fd, name, O_PATH | (flags & (O_DIRECTORY |
			    O_NOFOLLOW | O_CLOEXEC)));
	return fd;
}

/* One component: openat with O_NOFOLLOW, a root-owned symlink followed,
 * a missing directory made when create. -1 with errno (ELOOP for a
 * refused symlink). */
static int delivery_open_component(int dir_fd, const char *name, bool create,
				   int flags, bool *made_r)
{
	struct stat st;
	int fd;

	fd = delivery_openat_dir(dir_fd, name, flags | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT && create) {
		if (mkdirat(dir_fd, name, 0700) < 0 && errno != EEXIST)
			return -1;
		*made_r = true;
		fd = delivery_openat_dir(dir_fd, name, flags | O_NOFOLLOW);
	}
	if (fd >= 0 || (errno != ELOOP && errno != ENOTDIR))
		return fd;
	if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -1;
	if (!S_ISLNK(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	if (st.st_uid != 0) {
		errno = ELOOP;
		return -1;
	}
	return delivery_openat_dir(dir_fd, name, flags);
}

int delivery_open_dir(const char *path, bool create, const char **error_r)
{
	char comp[NAME_MAX + 1];
	const char *p = path;
	int fd, next;

	if (path[0] != '/') {
		errno = EINVAL;
		*error_r = "maildrop path is not absolute";
		return -1;
	}
	fd = delivery_openat_dir(AT_FDCWD, "/",
				 O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	while (fd >= 0) {
		size_t len;
		bool made = false;

		while (*p == '/')
			p++;
		len = strcspn(p, "/");
		if (len == 0)
			return fd;
		if (len > NAME_MAX) {
			close(fd);
			errno = ENAMETOOLONG;
			*error_r = "maildrop path too long";
			return -1;
		}
		memcpy(comp, p, len);
		comp[len] = '\0';
		p += len;
		if (strcmp(comp, ".") == 0 || strcmp(comp, "..") == 0) {
			close(fd);
			errno = EINVAL;
			*error_r = "maildrop path with . or ..";
			return -1;
		}
		next = delivery_open_component(fd, comp, create,
					       O_RDONLY | O_DIRECTORY |
						       O_CLOEXEC, &made);
		if (next >= 0 && made)
			(void)fsync(fd); /* the new directory's entry */
		if (next < 0 && errno == ELOOP) {
			log_error("delivery to %s: refused: \"%s\" is a "
				  "symlink not owned by root", path, comp);
			*error_r = "maildrop path escapes through a symlink";
		} else if (next < 0) {
			*error_r = errno == ENOENT ?
					   "maildrop directory missing" :
					   "cannot open the maildrop directory";
		}
		close(fd);
		fd = next;
	}
	return -1;
}

/* tmp/, new/ and cur/ of the Maildir md_fd (made when missing; never
 * through a symlink). 0 or -1 with errno and *error_r. */
static int delivery_open_subs(int md_fd, int fds[DELIVERY_SUB_COUNT],
			      const char **error_r)
{
	bool made = false;
	int s;

	for (s = 0; s < DELIVERY_SUB_COUNT; s++)
		fds[s] = -1;
	for (s = 0; s < DELIVERY_SUB_COUNT; s++) {
		fds[s] = openat(md_fd, delivery_sub_names[s],
				O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					O_CLOEXEC);
		if (fds[s] < 0 && errno == ENOENT) {
			if (mkdirat(md_fd, delivery_sub_names[s], 0700) < 0 &&
			    errno != EEXIST)
				goto out_fail;
			made = true;
			fds[s] = openat(md_fd, delivery_sub_names[s],
					O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
						O_CLOEXEC);
		}
		if (fds[s] < 0)
			goto out_fail;
	}
	if (made && fsync(md_fd) < 0)
		goto out_fail;
	return 0;

out_fail:
	*error_r = errno == ELOOP || errno == ENOTDIR ?
			   "tmp/, new/ or cur/ is not a directory" :
			   "cannot open the Maildir";
	for (s = 0; s < DELIVERY_SUB_COUNT; s++) {
		if (fds[s] >= 0) {
			int saved = errno;

			close(fds[s]);
			errno = saved;
		}
	}
	return -1;
}

/* Files a delivery killed mid-way left in tmp/ go once they are older
 * than the Maildir spec's 36 hours (a delivery in progress is never that
 * old). tmp/ is empty but for those, so this costs one getdents. */
static void delivery_clean_tmp(int tmp_fd)
{
	time_t old = time(NULL) - DELIVERY_TMP_STALE_SECS;
	struct dirent *d;
	struct stat st;
	DIR *dir;
	int fd = dup(tmp_fd);

	if (fd < 0)
		return;
	dir = fdopendir(fd);
	if (dir == NULL) {
		close(fd);
		return;
	}
	while ((d = readdir(dir)) != NULL) {
		if (d->d_name[0] == '.' ||
		    fstatat(tmp_fd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISREG(st.st_mode) && st.st_mtime < old &&
		    st.st_atime < old)
			unlinkat(tmp_fd, d->d_name, 0);
	}
	closedir(dir);
}

/* The spool after the prefix into fd: copy_file_range where the kernel
 * can, else read and write. 0 or -1 (errno). */
static int delivery_copy_spool(const struct delivery_spool *spool, int fd)
{
	char buf[DELIVERY_COPY_BUF];
	loff_t in_off = 0;
	uint64_t left = spool->size;

	while (left > 0) {
		ssize_t n = copy_file_range(spool->fd, &in_off, fd, NULL,
					    left, 0);

		if (n > 0) {
			left -= (uint64_t)n;
			continue;
		}
		if (n == 0) {
			errno = EIO; /* the spool is shorter than written */
			return -1;
		}
		if (errno == EINTR)
			continue;
		if (errno != EXDEV && errno != EINVAL && errno != ENOSYS &&
		    errno != EOPNOTSUPP && errno != EBADF)
			return -1;
		break;
	}
	while (left > 0) {
		ssize_t n = pread(spool->fd, buf,
				  left < sizeof(buf) ? left : sizeof(buf),
				  in_off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		if (fileio_write_all(fd, buf, (size_t)n) < 0)
			return -1;
		in_off += n;
		left -= (uint64_t)n;
	}
	return 0;
}

/* link_spool: may the spool file itself be the message (no prefix to
 * write before it)? */
static bool delivery_spool_linkable(const struct delivery_spool *spool,
				    const struct delivery_message *msg)
{
	size_t i;

	if (!spool->set.link_spool)
		return false;
	for (i = 0; i < msg->nprefix; i++) {
		if (msg->prefix[i].iov_len > 0)
			return false;
	}
	return true;
}

/* Writes the message into a new file in tmp/ (named into name): O_EXCL,
 * never through a symlink, fsync'd. 0 or -1 with errno; on -1 nothing
 * is left in tmp/. */
static int delivery_write_tmp(const struct delivery_spool *spool,
			      const struct delivery_message *msg, int tmp_fd,
			      char *name, size_t name_size)
{
	unsigned tries;
	size_t i;
	int fd = -1, saved;

	for (tries = 0; tries < DELIVERY_NAME_TRIES; tries++) {
		if (delivery_name_make(spool->set.hostname,
				       spool->set.name_key, msg->size,
				       msg->wsize, name, name_size) < 0) {
			errno = ENAMETOOLONG;
			return -1;
		}
		fd = openat(tmp_fd, name,
			    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
				    O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	if (fd < 0)
		return -1;
	for (i = 0; i < msg->nprefix; i++) {
		if (fileio_write_all(fd, msg->prefix[i].iov_base,
				     msg->prefix[i].iov_len) < 0)
			goto out_unlink;
	}
	if (delivery_copy_spool(spool, fd) < 0 || fsync(fd) < 0)
		goto out_unlink;
	if (close(fd) < 0) {
		fd = -1;
		goto out_unlink;
	}
	return 0;

out_unlink:
	saved = errno;
	if (fd >= 0)
		close(fd);
	unlinkat(tmp_fd, name, 0);
	errno = saved;
	return -1;
}

/* Multi-recipient: the file stored for an earlier recipient, linked into
 * tmp/ under a new name when the file system and owner allow. 0 when
 * linked (name set), -1 when the caller must copy. */
static int delivery_link_reuse(const struct delivery_spool *spool,
			       const struct delivery_message *msg, int md_fd,
			       int tmp_fd, char *name, size_t name_size)
{
	struct stat st;
	unsigned tries;

	if (spool->reuse_dir_fd < 0 || fstat(md_fd, &st) < 0 ||
	    st.st_dev != spool->reuse_dev || st.st_uid != spool->reuse_uid)
		return -1;
	for (tries = 0; tries < DELIVERY_NAME_TRIES; tries++) {
		if (delivery_name_make(spool->set.hostname,
				       spool->set.name_key, msg->size,
				       msg->wsize, name, name_size) < 0)
			return -1;
		if (linkat(spool->reuse_dir_fd, spool->reuse_name, tmp_fd,
			   name, 0) == 0)
			break;
		if (errno != EEXIST)
			return -1; /* moved or removed meanwhile, EXDEV, ... */
	}
	if (tries == DELIVERY_NAME_TRIES)
		return -1;
	/* still the file we wrote (not one put in its place since) */
	if (fstatat(tmp_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    st.st_ino != spool->reuse_ino || st.st_dev != spool->reuse_dev) {
		unlinkat(tmp_fd, name, 0);
		return -1;
	}
	return 0;
}

/* A file into new/ under a name never used (a new one when taken),
 * logged in the arrivals log around the link: tmp/name, or the spool
 * itself through /proc when name is NULL (link_spool). new_name gets the
 * name. 0 or -1 with errno and *error_r; tmp/name is left for the
 * caller. */
static int delivery_link_new(const struct delivery_spool *spool,
			     const struct delivery_message *msg,
			     const struct delivery_maildir *md,
			     const char *name, char *new_name,
			     size_t new_size, const char **error_r)
{
	struct arrivals_append log;
	const char *dedup_error;
	char proc[64];
	unsigned tries;
	int from_fd = md->tmp_fd, flags = 0, linked;

	if (name == NULL) {
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", spool->fd);
		from_fd = AT_FDCWD;
		flags = AT_SYMLINK_FOLLOW;
	}
	if (delivery_name_make(spool->set.hostname, spool->set.name_key,
			       msg->size, msg->wsize, new_name,
			       new_size) < 0) {
		errno = ENAMETOOLONG;
		*error_r = "message name too long";
		return -1;
	}
	for (tries = 0; tries < DELIVERY_NAME_TRIES; tries++) {
		if (arrivals_begin(md->dir_fd, md->new_fd, new_name,
				   msg->wsize, &msg->deadline, &log,
				   error_r) < 0)
			return -1;
		/* a kill from here on leaves the name for the retry */
		if (msg->dedup != NULL &&
		    dedup_record(msg->dedup, msg->delivery_id, new_name,
				 &dedup_error) < 0)
			log_error("delivery: delivery id not recorded: %s",
				  dedup_error);
		linked = linkat(from_fd, name != NULL ? name : proc,
				md->new_fd, new_name, flags);
		if (linked == 0) {
			arrivals_end(&log, md->new_fd);
			return 0;
		}
		arrivals_abort(&log);
		if (errno != EEXIST) {
			*error_r = "cannot link the message into new/";
			return -1;
		}
		if (delivery_name_make(spool->set.hostname,
				       spool->set.name_key, msg->size,
				       msg->wsize, new_name, new_size) < 0)
			break;
	}
	errno = EEXIST;
	*error_r = "no unused name in new/";
	return -1;
}

bool delivery_maildir_has(const char *path, const char *name)
{
	const char *error;
	size_t len = strlen(name);
	struct dirent *de;
	struct stat st;
	bool found = false;
	DIR *dir;
	int md_fd, fd;

	md_fd = delivery_open_dir(path, false, &error);
	if (md_fd < 0)
		return false;
	fd = openat(md_fd, "new", O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
				       O_CLOEXEC);
	if (fd >= 0) {
		found = fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
		close(fd);
	}
	/* cur/: read through, only on a retry after a kill */
	fd = found ? -1 : openat(md_fd, "cur", O_RDONLY | O_DIRECTORY |
						       O_NOFOLLOW | O_CLOEXEC);
	close(md_fd);
	if (fd < 0)
		return found;
	dir = fdopendir(fd);
	if (dir == NULL) {
		close(fd);
		return false;
	}
	while (!found && (de = readdir(dir)) != NULL) {
		found = strncmp(de->d_name, name, len) == 0 &&
			(de->d_name[len] == '\0' || de->d_name[len] == ':');
	}
	closedir(dir);
	return found;
}

static void delivery_remember(struct delivery_spool *spool, int new_fd,
			      const char *name)
{
	struct stat st;

	if (spool->single_recipient || spool->reuse_dir_fd >= 0 ||
	    fstatat(new_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return;
	spool->reuse_dir_fd = dup(new_fd);
	if (spool->reuse_dir_fd < 0)
		return;
	snprintf(spool->reuse_name, sizeof(spool->reuse_name), "%s", name);
	spool->reuse_dev = st.st_dev;
	spool->reuse_ino = st.st_ino;
	spool->reuse_uid = st.st_uid;
}

enum delivery_status delivery_maildir_store(struct delivery_spool *spool,
					    const struct delivery_target *t,
					    const struct delivery_message *msg,
					    struct delivery_result *res)
{
	char name[DELIVERY_NAME_MAX + 64], new_name[DELIVERY_NAME_MAX + 64];
	const struct delivery_maildir *md = t->maildir;
	struct delivery_maildir own = { -1, -1, -1, -1 };
	const char *error = "cannot open the Maildir", *tmp_name = NULL;
	int err;

	if (md == NULL) {
		if (delivery_maildir_open(t->path, &own, &error) < 0) {
			delivery_result_errno(res, errno, error);
			return res->status;
		}
		md = &own;
	}
	/* the spool itself, fsync'd, straight into new/; else a file in
	 * tmp/ (a hard link of an earlier recipient's, or a copy) */
	if (delivery_spool_linkable(spool, msg) &&
	    (t->spool_synced || fsync(spool->fd) == 0) &&
	    delivery_link_new(spool, msg, md, NULL, new_name,
			      sizeof(new_name), &error) == 0)
		goto linked;
	if (errno == ETIMEDOUT) {
		err = errno;
		goto out_fail;
	}
	if (delivery_link_reuse(spool, msg, md->dir_fd, md->tmp_fd, name,
				sizeof(name)) < 0 &&
	    delivery_write_tmp(spool, msg, md->tmp_fd, name,
			       sizeof(name)) < 0) {
		err = errno;
		error = "cannot write the message file";
		goto out_fail;
	}
	tmp_name = name;
	if (delivery_link_new(spool, msg, md, name, new_name,
			      sizeof(new_name), &error) < 0) {
		err = errno;
		unlinkat(md->tmp_fd, name, 0);
		goto out_fail;
	}
linked:
	/* the data is durable; now its name in new/ (or, deferred, at
	 * the caller's delivery_maildir_sync) */
	if (!spool->set.defer_dir_sync && fsync(md->new_fd) < 0) {
		err = errno;
		unlinkat(md->new_fd, new_name, 0);
		if (tmp_name != NULL)
			unlinkat(md->tmp_fd, tmp_name, 0);
		/* its log line names a file no longer there */
		arrivals_break(t->path);
		error = "cannot sync new/";
		goto out_fail;
	}
	/* The tmp/ name only: its removal need not be durable (a crash
	 * leaves a second name of a delivered file, which Maildir readers
	 * clean up after 36 hours). */
	if (tmp_name != NULL)
		unlinkat(md->tmp_fd, tmp_name, 0);
	delivery_remember(spool, md->new_fd, new_name);
	snprintf(res->stored_name, sizeof(res->stored_name), "%s", new_name);
	res->size = msg->size;
	delivery_maildir_close(&own);
	return DELIVERY_OK;

out_fail:
	if (err != ENOSPC && err != EDQUOT)
		log_error("delivery to %s: %s: %s", t->path, error,
			  strerror(err));
	delivery_result_errno(res, err, error);
	if (err == ETIMEDOUT)
		delivery_result_set(res, DELIVERY_TEMP, "4.2.0",
				    "delivery log lock timed out");
	delivery_maildir_close(&own);
	return res->status;
}

/* The key of a name made with one (delivery_name.h): the hex digits
 * after the 'K' that follows the Q counter, in the part between the
 * first two dots. Returns its length (0: none) and *key_r. */
static size_t delivery_name_key(const char *name, const char **key_r)
{
	const char *unique = strchr(name, '.'), *q, *end;
	size_t len = 0;

	if (unique == NULL)
		return 0;
	unique++;
	end = strchr(unique, '.');
	if (end == NULL)
		end = unique + strlen(unique);
	q = memchr(unique, 'Q', (size_t)(end - unique));
	if (q == NULL)
		return 0;
	for (q++; q < end && *q >= '0' && *q <= '9'; q++)
		;
	if (q == end || *q != 'K')
		return 0;
	*key_r = ++q;
	while (q + len < end && len <= DELIVERY_KEY_MAX &&
	       ((q[len] >= '0' && q[len] <= '9') ||
		(q[len] >= 'a' && q[len] <= 'f')))
		len++;
	return q + len == end && len <= DELIVERY_KEY_MAX ? len : 0;
}

int delivery_maildir_keys(const char *path,
			  bool (*fn)(const char *key, size_t len,
				     void *context),
			  void *context, const char **error_r)
{
	static const char *const subs[] = { "new", "cur" };
	struct dirent *de;
	const char *key;
	bool go_on = true;
	size_t i, len;
	DIR *dir;
	int md_fd, fd;

	md_fd = delivery_open_dir(path, false, error_r);
	if (md_fd < 0)
		return errno == ENOENT ? 0 : -1;
	for (i = 0; go_on && i < sizeof(subs) / sizeof(subs[0]); i++) {
		fd = openat(md_fd, subs[i], O_RDONLY | O_DIRECTORY |
						    O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT)
			continue;
		dir = fd < 0 ? NULL : fdopendir(fd);
		if (dir == NULL) {
			if (fd >= 0)
				close(fd);
			close(md_fd);
			*error_r = "cannot read the Maildir";
			return -1;
		}
		while (go_on && (de = readdir(dir)) != NULL) {
			len = de->d_name[0] == '.' ?
				      0 :
				      delivery_name_key(de->d_name, &key);
			if (len > 0)
				go_on = fn(key, len, context);
		}
		closedir(dir);
	}
	close(md_fd);
	return 0;
}

int delivery_maildir_sync(const struct delivery_maildir *md,
			  const char **error_r)
{
	if (fsync(md->new_fd) < 0 || fsync(md->cur_fd) < 0) {
		*error_r = "cannot sync the Maildir";
		return -1;
	}
	return 0;
}

int delivery_maildir_open(const char *path, struct delivery_maildir *md,
			  const char **error_r)
{
	int fds[DELIVERY_SUB_COUNT];

	md->tmp_fd = md->new_fd = md->cur_fd = -1;
	md->dir_fd = delivery_open_dir(path, true, error_r);
	if (md->dir_fd < 0)
		return -1;
	if (delivery_open_subs(md->dir_fd, fds, error_r) < 0) {
		int saved = errno;

		log_error("delivery to %s: %s: %s", path, *error_r,
			  strerror(saved));
		close(md->dir_fd);
		md->dir_fd = -1;
		errno = saved;
		return -1;
	}
	md->tmp_fd = fds[DELIVERY_TMP];
	md->new_fd = fds[DELIVERY_NEW];
	md->cur_fd = fds[DELIVERY_CUR];
	delivery_clean_tmp(md->tmp_fd);
	return 0;
}

void delivery_maildir_close(struct delivery_maildir *md)
{
	int *fds[] = { &md->dir_fd, &md->tmp_fd, &md->new_fd, &md->cur_fd };
	size_t i;

	for (i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}
