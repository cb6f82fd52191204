/* lock.c: session lock files and mbox locking: dotlock, fcntl, flock
 * (lock.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "store/lock.h"
#include "store/lockowner.h"
#include "store/node.h"
#include "util/fileio.h"
#include "util/log.h"

#define LOCK_BREAK_STALE_SECS 30 /* a "<path>.break" lives microseconds */
#define LOCK_TAKE_TRIES 8
#define LOCK_NFS_SUPER_MAGIC 0x6969 /* statfs(2) */

struct lock_file {
	char *path;
	int fd;
	dev_t dev;
	ino_t ino;
	char token[NODE_TOKEN_LEN + 1]; /* ours, in the owner line */
};

struct lock_mbox {
	char *dotlock;   /* "<mbox>.lock" */
	bool dotlock_held;
	dev_t dev;       /* of our dotlock */
	ino_t ino;
	int fd;          /* -1 when we hold no fcntl lock */
	int flock_fd;    /* -1 when we hold no flock */
};

static char *lock_path_with(const char *path, const char *suffix)
{
	size_t plen = strlen(path), slen = strlen(suffix);
	char *p = malloc(plen + slen + 1);

	if (p == NULL)
		return NULL;
	memcpy(p, path, plen);
	memcpy(p + plen, suffix, slen + 1);
	return p;
}

static void lock_sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static uint64_t lock_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Writes the owner line (lockowner.h) with token. */
static int lock_write_owner(int fd, const char *token)
{
	struct lock_owner self;
	char buf[LOCKOWNER_LINE_MAX];
	int len;

	lockowner_self(&self, token);
	len = lockowner_format(&self, buf, sizeof(buf));
	if (len < 0)
		return -1;
	return fileio_write_all(fd, buf, (size_t)len);
}

/* The create and the write of lock_create_owned, for a file system
 * without hard links. */
static int lock_create_owned_in_place(const char *path, const char *token,
				      mode_t mode, struct stat *st_r)
{
	int fd, err;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  mode);
	if (fd < 0)
		return -1;
	if (lock_write_owner(fd, token) < 0 || fstat(fd, st_r) < 0) {
		err = errno;
		unlink(path);
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

/* Creates path with our owner line in it, without a moment in which path
 * exists empty: the line goes into a temporary file that is then
 * hard-linked to path. A process killed between an O_EXCL create and the
 * write would leave a lock whose owner nobody can judge, so every session
 * (or delivery) waited for it to go stale: minutes. A kill here leaves at
 * most the temporary "<path>.<pid>.<n>.new", never a lock. Returns a
 * descriptor open for writing on the new lock with its stat in st_r, or
 * -1 with errno (EEXIST: path exists). */
static int lock_create_owned(const char *path, const char *token, mode_t mode,
			     struct stat *st_r)
{
	static unsigned counter; /* deliveries run on several threads */
	char tmp[PATH_MAX];
	int fd, len, err;

	len = snprintf(tmp, sizeof(tmp), "%s.%ld.%u.new", path,
		       (long)getpid(),
		       __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED));
	if (len < 0 || (size_t)len >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  mode);
	if (fd < 0)
		return -1;
	if (lock_write_owner(fd, token) < 0)
		goto out_fail;
	if (link(tmp, path) < 0) {
		err = errno;
		if (err == EPERM || err == EOPNOTSUPP || err == ENOSYS) {
			/* a file system without hard links: the create
			 * and the write, with their window */
			unlink(tmp);
			close(fd);
			return lock_create_owned_in_place(path, token, mode,
							  st_r);
		}
		/* NFS: a retransmitted link can fail although the first
		 * one made it; the link count says what happened */
		if (fstat(fd, st_r) < 0 || st_r->st_nlink != 2) {
			errno = err;
			goto out_fail;
		}
	}
	if (fstat(fd, st_r) < 0) {
		err = errno;
		unlink(path);
		errno = err;
		goto out_fail;
	}
	unlink(tmp);
	return fd;

out_fail:
	err = errno;
	unlink(tmp);
	close(fd);
	errno = err;
	return -1;
}

/* True when the owner line names this node and a holder that is gone: a
 * process that no longer exists, or one of an earlier boot. Unparsable
 * content is not proof of anything: only mtime decides then. */
static bool lock_owner_is_dead(const struct lock_owner *owner)
{
	if (strcmp(owner->node, node_id()) != 0)
		return false;
	if (strcmp(owner->boot, "-") != 0 &&
	    strcmp(owner->boot, node_boot_id()) != 0)
		return true;
	return kill(owner->pid, 0) < 0 && errno == ESRCH;
}

/* A time the store itself just set: the mtime of a file made next to
 * path (so a lock is judged by the clock of the host that stamped it, not
 * by ours). Falls back to our clock when the probe cannot be made. */
static void lock_store_now(const char *path, struct timespec *now_r)
{
	char probe[PATH_MAX];
	struct stat st;
	int fd, len;

	clock_gettime(CLOCK_REALTIME, now_r);
	len = snprintf(probe, sizeof(probe), "%s.clock.%ld", path,
		       (long)getpid());
	if (len < 0 || (size_t)len >= sizeof(probe))
		return;
	fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0)
		*now_r = st.st_mtim;
	close(fd);
	(void)unlink(probe);
}

/* True when the lock named by owner belongs to another node that its
 * heartbeat shows dead (node.h): taken over at once, not after
 * stale_secs. */
static bool lock_peer_is_dead(const char *path, const struct lock_owner *owner)
{
	struct timespec now;

	if (!node_heartbeats_enabled() || strcmp(owner->node, node_id()) == 0 ||
	    strcmp(owner->boot, "-") == 0)
		return false;
	lock_store_now(path, &now);
	if (node_judge_peer(owner->node, owner->boot, owner->instance, &now) !=
	    NODE_DEAD)
		return false;
	return true;
}

/* Returns 1 stale (*why_r says why), 0 fresh, -1 with errno (ENOENT:
 * gone meanwhile). The stat of the lock judged is returned in st_r for
 * the removal check. */
static int lock_check_stale(const char *path, unsigned stale_secs,
			    struct stat *st_r, const char **why_r)
{
	char content[LOCKOWNER_LINE_MAX];
	ssize_t n;
	int fd, ret = 0;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, st_r) < 0) {
		ret = -1;
		goto out_close;
	}
	if (st_r->st_mtime + (time_t)stale_secs < time(NULL)) {
		*why_r = "not refreshed for lock_stale_timeout";
		ret = 1;
		goto out_close;
	}
	n = read(fd, content, sizeof(content) - 1);
	if (n > 0) {
		struct lock_owner owner;

		content[n] = '\0';
		if (lockowner_parse(content, &owner) != 0) {
			/* proves nothing */
		} else if (lock_owner_is_dead(&owner)) {
			*why_r = "its process on this node is gone";
			ret = 1;
		} else if (lock_peer_is_dead(path, &owner)) {
			*why_r = "its node missed its heartbeat or restarted";
			ret = 1;
		}
	}
out_close:
	close(fd);
	return ret;
}

/* Removes path only if it is still the file judged stale (same inode and
 * mtime): renames it aside, compares, and puts back a file that turned out
 * to be a fresh lock. rename() is atomic, so the fresh lock of someone
 * else is never lost except in a window where a third taker creates one
 * at the same instant (its holder then sees refresh fail). */
static int lock_remove_if_same(const char *path, const struct stat *judged)
{
	char aside[PATH_MAX];
	struct stat st;
	int len;

	len = snprintf(aside, sizeof(aside), "%s.stale.%ld", path,
		       (long)getpid());
	if (len < 0 || (size_t)len >= sizeof(aside)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (rename(path, aside) < 0)
		return errno == ENOENT ? 0 : -1;
	if (lstat(aside, &st) < 0)
		return -1;
	if (st.st_dev == judged->st_dev && st.st_ino == judged->st_ino &&
	    st.st_mtime == judged->st_mtime)
		return unlink(aside) < 0 && errno != ENOENT ? -1 : 0;
	if (link(aside, path) < 0 && errno != EEXIST)
		return -1;
	if (unlink(aside) < 0 && errno != ENOENT)
		return -1;
	return 0;
}

/* Breaks a stale session lock under "<path>.break" so that two takers do
 * not both judge and remove. Returns 0 (broken or someone else is at it)
 * or -1 on an I/O error. */
static int lock_break(const char *path, unsigned stale_secs,
		      const struct stat *judged)
{
	struct stat st, again;
	const char *why = "";
	char *brk;
	int fd, ret = -1;

	brk = lock_path_with(path, ".break");
	if (brk == NULL)
		return -1;
	fd = open(brk, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	if (fd < 0) {
		if (errno != EEXIST)
			goto out_free;
		/* a breaker died between its open and unlink */
		if (stat(brk, &st) == 0 &&
		    st.st_mtime + LOCK_BREAK_STALE_SECS < time(NULL))
			lock_remove_if_same(brk, &st);
		ret = 0;
		goto out_free;
	}
	/* re-check under the break lock: still the same stale file? */
	ret = 0;
	if (lock_check_stale(path, stale_secs, &again, &why) == 1 &&
	    again.st_dev == judged->st_dev &&
	    again.st_ino == judged->st_ino) {
		ret = lock_remove_if_same(path, &again);
		if (ret == 0)
			log_info("session lock %s: broken (%s)", path, why);
	}
	if (unlink(brk) < 0 && errno != ENOENT)
		ret = -1;
	close(fd);
out_free:
	free(brk);
	return ret;
}

int lock_file_take(const char *path, unsigned stale_secs,
		   struct lock_file **lock_r, const char **error_r)
{
	char token[NODE_TOKEN_LEN + 1];
	struct lock_file *lock;
	struct stat st;
	const char *why = "";
	unsigned tries;
	int fd = -1;

	if (stale_secs == 0)
		stale_secs = LOCK_STALE_SECS_DEFAULT;
	if (node_token(token, sizeof(token)) < 0)
		goto out_temp;
	for (tries = 0; tries < LOCK_TAKE_TRIES; tries++) {
		int stale;

		fd = lock_create_owned(path, token, 0600, &st);
		if (fd >= 0)
			break;
		if (errno == EACCES || errno == EROFS || errno == EPERM) {
			*error_r = "cannot create the session lock file: "
				   "permission denied";
			return MAILDROP_PERM;
		}
		if (errno != EEXIST)
			goto out_temp;
		stale = lock_check_stale(path, stale_secs, &st, &why);
		if (stale == 0) {
			*error_r = "the maildrop is locked by another session";
			return MAILDROP_IN_USE;
		}
		if (stale < 0) {
			if (errno == ENOENT)
				continue; /* released meanwhile */
			goto out_temp;
		}
		if (lock_break(path, stale_secs, &st) < 0)
			goto out_temp;
		if (tries > 0)
			lock_sleep_ms(20 * tries);
	}
	if (fd < 0) {
		*error_r = "the session lock kept changing while taken";
		return MAILDROP_IN_USE;
	}

	lock = calloc(1, sizeof(*lock));
	if (lock == NULL)
		goto out_unlink;
	lock->fd = fd;
	lock->path = strdup(path);
	if (lock->path == NULL) {
		free(lock);
		goto out_unlink;
	}
	memcpy(lock->token, token, sizeof(lock->token));
	lock->dev = st.st_dev;
	lock->ino = st.st_ino;
	*lock_r = lock;
	return MAILDROP_OK;

out_unlink:
	unlink(path);
	close(fd);
out_temp:
	*error_r = "cannot create the session lock file";
	return MAILDROP_TEMP;
}

/* True when the file at the lock's path is still the one we made: same
 * inode and our token in it. open + fstat rather than stat, so an NFS
 * client revalidates its cached attributes (close-to-open). */
static bool lock_file_is_ours(const struct lock_file *lock)
{
	char content[LOCKOWNER_LINE_MAX];
	struct lock_owner owner;
	struct stat st;
	ssize_t n;
	bool ours = false;
	int fd;

	fd = open(lock->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return false;
	if (fstat(fd, &st) < 0 || st.st_dev != lock->dev ||
	    st.st_ino != lock->ino)
		goto out_close;
	n = read(fd, content, sizeof(content) - 1);
	if (n <= 0)
		goto out_close;
	content[n] = '\0';
	ours = lockowner_parse(content, &owner) == 0 &&
	       strcmp(owner.token, lock->token) == 0;
out_close:
	close(fd);
	return ours;
}

int lock_file_refresh(struct lock_file *lock)
{
	struct stat st;

	if (futimens(lock->fd, NULL) < 0 || fstat(lock->fd, &st) < 0)
		return -1;
	if (!lock_file_is_ours(lock))
		return -1;
	/* the mtime just set is the store's now: a node whose own heartbeat
	 * is older than the timeout may already have lost this lock */
	if (node_is_fenced(&st.st_mtim)) {
		log_error("session lock %s: this node's heartbeat is late; "
			  "other nodes may take its locks", lock->path);
		return -1;
	}
	return 0;
}

void lock_file_release(struct lock_file **lockp)
{
	struct lock_file *lock = *lockp;

	if (lock == NULL)
		return;
	*lockp = NULL;
	/* only our own file: someone may have broken and retaken it */
	if (lock_file_is_ours(lock))
		unlink(lock->path);
	close(lock->fd);
	free(lock->path);
	free(lock);
}

/* True when the dotlock at path was made by a process of this host that
 * is gone (our own format; a bare pid, as other MDAs write, or a lock of
 * another host on a shared /var/mail proves nothing: age decides). */
static bool lock_dotlock_owner_is_dead(const char *path)
{
	char content[LOCKOWNER_LINE_MAX];
	struct lock_owner owner;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return false;
	n = read(fd, content, sizeof(content) - 1);
	close(fd);
	if (n <= 0)
		return false;
	content[n] = '\0';
	return lockowner_parse(content, &owner) == 0 &&
	       lock_owner_is_dead(&owner);
}

/* One attempt at the dotlock. Returns 1 taken, 0 busy, 2 not allowed to
 * create it (fcntl alone then), -1 error. */
static int lock_dotlock_try(struct lock_mbox *lock, const char *path)
{
	struct stat st;
	int fd;

	/* who holds it, as in the session lock: a delivery killed while
	 * holding it (one round lasts microseconds, but a SIGKILL can land
	 * there) leaves a lock that this host can see is dead, instead of
	 * one that blocks every MDA for LOCK_DOTLOCK_STALE_SECS */
	fd = lock_create_owned(path, "-", 0644, &st);
	if (fd >= 0) {
		close(fd);
		lock->dev = st.st_dev;
		lock->ino = st.st_ino;
		lock->dotlock_held = true;
		return 1;
	}
	if (errno == EACCES || errno == EPERM || errno == EROFS)
		return 2;
	if (errno != EEXIST)
		return -1;
	if (stat(path, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	if ((st.st_mtime + LOCK_DOTLOCK_STALE_SECS < time(NULL) ||
	     lock_dotlock_owner_is_dead(path)) &&
	    lock_remove_if_same(path, &st) < 0)
		return -1;
	return 0;
}

/* One attempt at flock(2). Returns 1 taken or not needed, 0 busy, -1
 * error. On NFS Linux emulates flock with a whole-file fcntl lock owned
 * by the open file, which would conflict with our own fcntl lock; there
 * an MDA's flock is such an fcntl lock, already excluded by ours. */
static int lock_flock_try(struct lock_mbox *lock, int fd)
{
	struct statfs sfs;

	if (fstatfs(fd, &sfs) == 0 && sfs.f_type == LOCK_NFS_SUPER_MAGIC)
		return 1;
	if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
		lock->flock_fd = fd;
		return 1;
	}
	if (errno == EWOULDBLOCK || errno == EINTR)
		return 0;
	/* a file system without flock: nobody can flock it either */
	return errno == EOPNOTSUPP || errno == ENOLCK || errno == EINVAL ?
		       1 : -1;
}

/* Drops every lock held, keeps the struct for another round. */
static void lock_mbox_unlock(struct lock_mbox *lock)
{
	struct stat st;

	if (lock->fd >= 0) {
		struct flock fl;

		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_UNLCK;
		fl.l_whence = SEEK_SET;
		(void)fcntl(lock->fd, F_SETLK, &fl);
		lock->fd = -1;
	}
	if (lock->flock_fd >= 0) {
		(void)flock(lock->flock_fd, LOCK_UN);
		lock->flock_fd = -1;
	}
	if (lock->dotlock_held) {
		if (stat(lock->dotlock, &st) == 0 && st.st_dev == lock->dev &&
		    st.st_ino == lock->ino)
			unlink(lock->dotlock);
		lock->dotlock_held = false;
	}
}

/* One round: dotlock, fcntl, flock, each without blocking, skipping
 * those held from an earlier round. Returns 1 all taken, 0 one was busy,
 * -1 with *error_r. When one is busy and release is set, everything is
 * released again, so whoever holds it and waits for another of ours can
 * go on. */
static int lock_mbox_try(struct lock_mbox *lock, int fd, bool release,
			 bool *no_dotlock, const char **error_r)
{
	struct flock fl;
	int r;

	if (!*no_dotlock && !lock->dotlock_held) {
		r = lock_dotlock_try(lock, lock->dotlock);
		if (r < 0) {
			*error_r = "cannot create the mbox dotlock";
			return -1;
		}
		if (r == 0)
			return 0;
		*no_dotlock = r == 2; /* fcntl alone in this directory */
	}
	if (fd < 0)
		return 1;
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (lock->fd < 0) {
		if (fcntl(fd, F_SETLK, &fl) < 0) {
			if (errno != EACCES && errno != EAGAIN) {
				*error_r = "cannot fcntl-lock the mbox";
				return -1;
			}
			goto out_busy;
		}
		lock->fd = fd;
	}
	r = lock_flock_try(lock, fd);
	if (r < 0) {
		*error_r = "cannot flock the mbox";
		return -1;
	}
	if (r == 1)
		return 1;
out_busy:
	if (release)
		lock_mbox_unlock(lock);
	return 0;
}

/* Rounds until all are taken or end_ms (CLOCK_MONOTONIC) passes. */
static int lock_mbox_take_loop(const char *mbox_path, int fd, uint64_t end_ms,
			       bool release, struct lock_mbox **lock_r,
			       const char **error_r)
{
	unsigned delay = 10;
	struct lock_mbox *lock;
	bool no_dotlock = false;

	lock = calloc(1, sizeof(*lock));
	if (lock == NULL ||
	    (lock->dotlock = lock_path_with(mbox_path, ".lock")) == NULL) {
		free(lock);
		*error_r = "out of memory";
		return MAILDROP_TEMP;
	}
	lock->fd = -1;
	lock->flock_fd = -1;
	for (;;) {
		uint64_t now;
		int r = lock_mbox_try(lock, fd, release, &no_dotlock, error_r);

		if (r < 0) {
			lock_mbox_release(&lock);
			return MAILDROP_TEMP;
		}
		if (r == 1)
			break;
		now = lock_now_ms();
		if (now >= end_ms) {
			lock_mbox_release(&lock);
			*error_r = "the mbox is locked by another program";
			return MAILDROP_IN_USE;
		}
		lock_sleep_ms((unsigned)(end_ms - now < delay ? end_ms - now :
								delay));
		if (delay < 200)
			delay *= 2;
	}
	*lock_r = lock;
	return MAILDROP_OK;
}

/* The session's scan and commit keep what they hold while waiting for
 * the rest (taken in a fixed order, bounded by LOCK_RETRY_MSECS: an MDA
 * taking them in another order only delays us). */
int lock_mbox_take(const char *mbox_path, int fd, struct lock_mbox **lock_r,
		   const char **error_r)
{
	return lock_mbox_take_loop(mbox_path, fd,
				   lock_now_ms() + LOCK_RETRY_MSECS, false,
				   lock_r, error_r);
}

int lock_mbox_take_until(const char *mbox_path, int fd,
			 const struct timespec *deadline,
			 struct lock_mbox **lock_r, const char **error_r)
{
	uint64_t end = (uint64_t)deadline->tv_sec * 1000 +
		       (uint64_t)deadline->tv_nsec / 1000000;

	return lock_mbox_take_loop(mbox_path, fd, end, true, lock_r, error_r);
}

void lock_mbox_release(struct lock_mbox **lockp)
{
	struct lock_mbox *lock = *lockp;

	if (lock == NULL)
		return;
	*lockp = NULL;
	lock_mbox_unlock(lock);
	free(lock->dotlock);
	free(lock);
}
