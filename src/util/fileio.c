/* fileio.c: full writes and directory syncs (see fileio.h). */
#include "util/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

int fileio_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int fileio_fsync_parent(const char *path)
{
	const char *slash = strrchr(path, '/');
	char dir[PATH_MAX];
	int fd, ret;

	if (slash == NULL) {
		strcpy(dir, ".");
	} else if (slash == path) {
		strcpy(dir, "/");
	} else if ((size_t)(slash - path) >= sizeof(dir)) {
		errno = ENAMETOOLONG;
		return -1;
	} else {
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ret = fsync(fd);
	close(fd);
	return ret;
}

/* Tries this many random names before giving up (a clash is a 2^-64
 * event; EEXIST more than once means something else is wrong). */
#define FILEIO_TMP_TRIES 4

int fileio_replace(const char *path, const void *data, size_t len,
		   mode_t mode, const char **error_r)
{
	char tmp[PATH_MAX];
	int fd = -1, tries, n;

	for (tries = 0; tries < FILEIO_TMP_TRIES && fd < 0; tries++) {
		unsigned long long r = 0;

		if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
			r ^= (unsigned long long)getpid() << 32 ^
			     (unsigned long long)(size_t)&r;
		n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld.%016llx", path,
			     (long)getpid(), r);
		if (n < 0 || (size_t)n >= sizeof(tmp)) {
			errno = ENAMETOOLONG;
			*error_r = "path too long";
			return -1;
		}
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
			       O_CLOEXEC, mode);
		if (fd < 0 && errno != EEXIST) {
			*error_r = "cannot create the temporary file";
			return -1;
		}
	}
	if (fd < 0) {
		*error_r = "cannot create the temporary file";
		return -1;
	}
	/* the mode asked for, whatever the umask */
	if (fchmod(fd, mode) < 0 || fileio_write_all(fd, data, len) < 0 ||
	    fsync(fd) < 0) {
		*error_r = "cannot write the temporary file";
		goto out_unlink;
	}
	if (close(fd) < 0) {
		fd = -1;
		*error_r = "cannot write the temporary file";
		goto out_unlink;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		*error_r = "cannot rename the temporary file";
		goto out_unlink;
	}
	if (fileio_fsync_parent(path) < 0) {
		*error_r = "cannot sync the directory";
		return -1; /* the new file is in place, maybe not durable */
	}
	return 0;

out_unlink:
	n = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	errno = n;
	return -1;
}
