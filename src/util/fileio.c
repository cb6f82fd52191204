/* fileio.c: full writes, directory syncs, atomic replace (fileio.h). */
#include "util/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

ssize_t fileio_read_full(int fd, void *buf, size_t size)
{
	char *p = buf;
	size_t len = 0;

	while (len < size) {
		ssize_t n = read(fd, p + len, size - len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	return (ssize_t)len;
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

int fileio_replace(const char *path, const void *data, size_t len,
		   mode_t mode, const char **error_r)
{
	struct iovec part = { (void *)data, len };

	return fileio_replacev(path, &part, 1, mode, error_r);
}

int fileio_replacev(const char *path, const struct iovec *parts,
		    size_t count, mode_t mode, const char **error_r)
{
	char tmp[PATH_MAX];
	struct stat st;
	size_t i;
	int fd, len, saved;

	len = snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path);
	if (len < 0 || (size_t)len >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		*error_r = "file name too long";
		return -1;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		*error_r = "cannot create a temporary file";
		return -1;
	}
	/* the owner first: a chown may clear mode bits; a failed chown
	 * (not root) leaves the file ours, which the caller can see */
	if (stat(path, &st) == 0 &&
	    (st.st_uid != geteuid() || st.st_gid != getegid()))
		(void)!fchown(fd, st.st_uid, st.st_gid);
	for (i = 0; i < count; i++) {
		if (fileio_write_all(fd, parts[i].iov_base,
				     parts[i].iov_len) < 0)
			goto out_write_fail;
	}
	/* mkstemp made it 0600; fchmod is not subject to the umask */
	if (fchmod(fd, mode) < 0 || fsync(fd) < 0)
		goto out_write_fail;
	if (close(fd) < 0) {
		fd = -1;
		goto out_write_fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0)
		goto out_write_fail;
	if (fileio_fsync_parent(path) < 0) {
		*error_r = "cannot sync the directory";
		return -1;
	}
	return 0;

out_write_fail:
	saved = errno;
	*error_r = "cannot write a temporary file";
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	errno = saved;
	return -1;
}
