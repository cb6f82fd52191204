/* test-fileio.c: fileio_replace / fileio_replacev (atomic replace). */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fileio.h"
#include "unit.h"

static char root[] = "/tmp/satchel-fileio-XXXXXX";

static char *read_file(const char *path)
{
	static char buf[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n < 0 ? 0 : n] = '\0';
	return buf;
}

static unsigned entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	unsigned n = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

int main(void)
{
	struct iovec parts[3] = {
		{ "one ", 4 }, { "", 0 }, { "two\n", 4 },
	};
	char path[600], missing[600];
	const char *error = NULL;
	struct stat st;

	if (mkdtemp(root) == NULL)
		abort();
	snprintf(path, sizeof(path), "%s/file", root);
	snprintf(missing, sizeof(missing), "%s/no/file", root);
	CHECK(fileio_replace(path, "first\n", 6, 0640, &error) == 0,
	      "replace creates the file");
	CHECK_STR(read_file(path), "first\n", "content written");
	{
		char buf[16];
		int fd = open(path, O_RDONLY);

		CHECK(fd >= 0 && fileio_read_full(fd, buf, 4) == 4 &&
		      memcmp(buf, "firs", 4) == 0, "read_full: a full buffer");
		CHECK(fd >= 0 && fileio_read_full(fd, buf, sizeof(buf)) == 2,
		      "read_full: short at the end");
		CHECK(fileio_read_full(-1, buf, 1) < 0, "read_full: an error");
		if (fd >= 0)
			close(fd);
	}
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0640,
	      "mode as asked");
	CHECK(fileio_replacev(path, parts, 3, 0600, &error) == 0,
	      "replacev over an existing file");
	CHECK_STR(read_file(path), "one two\n", "parts joined in order");
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600,
	      "new mode");
	CHECK(entries(root) == 1, "no temporary file left");
	error = NULL;
	CHECK(fileio_replace(missing, "x", 1, 0600, &error) < 0 &&
		      error != NULL,
	      "missing directory: -1 with a reason");
	unlink(path);
	rmdir(root);
	return unit_done();
}
