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
	struct stat st;
	int fd, saved;

	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >=
	    (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		*error_r = "naming the temporary file";
		return -1;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		*error_r = "creating the temporary file";
		return -1;
	}
	/* the owner first: a chown may clear mode bits; a failed chown
	 * (not root) leaves the file ours, which the caller can see */
	if (stat(path, &st) == 0 &&
	    (st.st_uid != geteuid() || st.st_gid != getegid()))
		(void)!fchown(fd, st.st_uid, st.st_gid);
	if (fchmod(fd, mode) < 0) {
		*error_r = "setting the mode of the temporary file";
		goto out_unlink;
	}
	if (fileio_write_all(fd, data, len) < 0) {
		*error_r = "writing the temporary file";
		goto out_unlink;
	}
	if (fsync(fd) < 0) {
		*error_r = "syncing the temporary file";
		goto out_unlink;
	}
	if (close(fd) < 0) {
		fd = -1;
		*error_r = "closing the temporary file";
		goto out_unlink;
	}
	fd = -1;
	if (rename(tmp, path) < 0) {
		*error_r = "renaming the temporary file";
		goto out_unlink;
	}
	if (fileio_fsync_parent(path) < 0) {
		*error_r = "syncing the directory";
		return -1;
	}
	return 0;

out_unlink:
	saved = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	errno = saved;
	return -1;
}
