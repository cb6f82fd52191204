/* auth_flush.c: the request side of satchel auth flush (auth_flush.h). */
#include "auth/auth_flush.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fileio.h"

int auth_flush_path(const char *state_dir, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s/auth-flush", state_dir);

	return n < 0 || (size_t)n >= size ? -1 : 0;
}

int auth_flush_request(const char *state_dir, const char *user,
		       const char **error_r)
{
	char path[1100], line[300];
	struct stat st;
	int fd, n;
	ssize_t w;

	if (auth_flush_path(state_dir, path, sizeof(path)) < 0) {
		errno = ENAMETOOLONG;
		*error_r = "state_dir too long";
		return -1;
	}
	n = snprintf(line, sizeof(line), "%s\n", user != NULL ? user : "*");
	if (n < 0 || (size_t)n >= sizeof(line) ||
	    (user != NULL && strpbrk(user, "\r\n") != NULL)) {
		errno = EINVAL;
		*error_r = "bad user name";
		return -1;
	}
	/* kept small: replaced whole (a new inode: the readers start over,
	 * and a flush read twice is harmless) */
	if (stat(path, &st) == 0 && st.st_size > AUTH_FLUSH_MAX_SIZE)
		return fileio_replace(path, line, (size_t)n, 0644, error_r);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		*error_r = "cannot open";
		return -1;
	}
	w = write(fd, line, (size_t)n);
	if (w != n) {
		*error_r = "cannot write";
		close(fd);
		return -1;
	}
	if (close(fd) < 0) {
		*error_r = "cannot write";
		return -1;
	}
	return 0;
}
