/* pidfile.c: the master's pid file (see pidfile.h).
 *
 * Why not fileio_replace: a rename would replace the file of a running
 * instance. The content goes to a temporary file that is locked first
 * and then linked to path with link(2), which never replaces anything:
 * the name appears with the pid in it and the lock already held. A file
 * that is there and unlocked was left by a process that died; it is
 * removed (while we hold its lock, so no other starter can take it at
 * the same time) and the link tried again. */
#include "util/pidfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fileio.h"
#include "util/strnum.h"

/* Attempts at link + stale removal before giving up (another starter
 * racing us each time is not a real case). */
#define PIDFILE_TRIES 5

/* The pid in fd's file, or 0. */
static pid_t read_pid(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	uint64_t v;

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	if (strnum_parse_u64(buf, INT32_MAX, &v) < 0 || v == 0)
		return 0;
	return (pid_t)v;
}

static bool same_file(int fd, const char *path)
{
	struct stat a, b;

	return fstat(fd, &a) == 0 && stat(path, &b) == 0 &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* path exists: PIDFILE_RUNNING if locked, else removes the stale file
 * and returns PIDFILE_OK (try the link again). */
static enum pidfile_result take_stale(const char *path, pid_t *pid_r,
				      char *err, size_t errsize)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0) {
		if (errno == ENOENT)
			return PIDFILE_OK; /* gone meanwhile: link again */
		snprintf(err, errsize, "%s: %s", path, strerror(errno));
		return PIDFILE_ERROR;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		enum pidfile_result r = PIDFILE_ERROR;

		if (errno == EWOULDBLOCK) {
			*pid_r = read_pid(fd);
			r = PIDFILE_RUNNING;
		} else {
			snprintf(err, errsize, "%s: lock: %s", path,
				 strerror(errno));
		}
		close(fd);
		return r;
	}
	/* ours to remove only if path is still the file we locked */
	if (same_file(fd, path) && unlink(path) < 0 && errno != ENOENT) {
		snprintf(err, errsize, "%s: removing a stale pid file: %s",
			 path, strerror(errno));
		close(fd);
		return PIDFILE_ERROR;
	}
	close(fd);
	return PIDFILE_OK;
}

enum pidfile_result pidfile_create(const char *path, struct pidfile *pf,
				   pid_t *pid_r, char *err, size_t errsize)
{
	char tmp[sizeof(pf->path) + 32], text[32];
	enum pidfile_result r = PIDFILE_ERROR;
	int fd, len;

	pf->fd = -1;
	*pid_r = 0;
	if (snprintf(pf->path, sizeof(pf->path), "%s", path) >=
		    (int)sizeof(pf->path) ||
	    snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path,
		     (long)getpid()) >= (int)sizeof(tmp)) {
		snprintf(err, errsize, "pid_file: path too long");
		return PIDFILE_ERROR;
	}
	fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		  0644);
	if (fd < 0) {
		snprintf(err, errsize, "%s: %s", tmp, strerror(errno));
		return PIDFILE_ERROR;
	}
	len = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
	if (flock(fd, LOCK_EX | LOCK_NB) < 0 ||
	    fileio_write_all(fd, text, (size_t)len) < 0) {
		snprintf(err, errsize, "%s: %s", tmp, strerror(errno));
		goto out_unlink;
	}
	for (int i = 0; i < PIDFILE_TRIES; i++) {
		if (link(tmp, path) == 0) {
			pf->fd = fd;
			r = PIDFILE_OK;
			goto out_unlink;
		}
		if (errno != EEXIST) {
			snprintf(err, errsize, "%s: %s", path, strerror(errno));
			goto out_unlink;
		}
		r = take_stale(path, pid_r, err, errsize);
		if (r != PIDFILE_OK)
			goto out_unlink;
		r = PIDFILE_ERROR;
	}
	snprintf(err, errsize, "%s: keeps reappearing; another instance "
		 "is starting", path);
out_unlink:
	(void)unlink(tmp);
	if (r != PIDFILE_OK)
		close(fd);
	return r;
}

void pidfile_remove(struct pidfile *pf)
{
	if (pf->fd < 0)
		return;
	if (same_file(pf->fd, pf->path))
		(void)unlink(pf->path);
	close(pf->fd);
	pf->fd = -1;
}

enum pidfile_result pidfile_read(const char *path, pid_t *pid_r, char *err,
				 size_t errsize)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	enum pidfile_result r = PIDFILE_ERROR;

	if (fd < 0) {
		snprintf(err, errsize, "%s: %s (is satchel serve running?)",
			 path, strerror(errno));
		return PIDFILE_ERROR;
	}
	/* a shared lock we can take means no one holds the exclusive one */
	if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
		snprintf(err, errsize, "%s: not locked: the process that "
			 "wrote it is gone", path);
	} else if (errno != EWOULDBLOCK) {
		snprintf(err, errsize, "%s: lock: %s", path, strerror(errno));
	} else if ((*pid_r = read_pid(fd)) == 0) {
		snprintf(err, errsize, "%s: holds no process id", path);
	} else {
		r = PIDFILE_OK;
	}
	close(fd);
	return r;
}

bool pidfile_locked(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	bool locked;

	if (fd < 0)
		return false;
	locked = flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd);
	return locked;
}
