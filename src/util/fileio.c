/* fileio.c: full writes, directory syncs and the atomic replace (see
 * fileio.h). */
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
	char tmp[PATH_MAX];
	int fd, n, saved;

	n = snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		*error_r = "path too long";
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		*error_r = "cannot create the temporary file";
		return -1;
	}
	if (fchmod(fd, mode) < 0) {
		*error_r = "cannot set the mode of the temporary file";
		goto out_close;
	}
	if (fileio_write_all(fd, data, len) < 0) {
		*error_r = "cannot write the temporary file";
		goto out_close;
	}
	if (fsync(fd) < 0) {
		*error_r = "cannot fsync the temporary file";
		goto out_close;
	}
	if (close(fd) < 0) {
		fd = -1;
		*error_r = "cannot close the temporary file";
		goto out_close;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		*error_r = "cannot rename the temporary file";
		goto out_close;
	}
	if (fileio_fsync_parent(path) < 0) {
		/* the new file is in place; only its durability is unsure */
		*error_r = "cannot fsync the directory";
		return -1;
	}
	return 0;

out_close:
	saved = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	errno = saved;
	return -1;
}
