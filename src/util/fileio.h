/* fileio.h: the file-writing steps every durable write here needs. */
#ifndef SATCHEL_FILEIO_H
#define SATCHEL_FILEIO_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Writes all len bytes, retrying short writes and EINTR. 0 or -1 (errno). */
int fileio_write_all(int fd, const void *buf, size_t len);
/* Reads until size bytes are in buf or the file ends, retrying short
 * reads and EINTR. Returns the count (< size only at the end), or -1
 * (errno). */
ssize_t fileio_read_full(int fd, void *buf, size_t size);

/* fsyncs the directory holding path, so a rename or create in it is on
 * disk. 0 or -1 (errno). */
int fileio_fsync_parent(const char *path);

/* Atomically replaces path with data: a unique temporary file in the same
 * directory (mkstemp, so two writers never share one), all bytes written,
 * fsync, mode set, rename over path, fsync of the directory. Readers see
 * the old file or the whole new one, also after a crash. The new file gets
 * mode, and the owner and group of the file it replaces when that exists
 * and the process may give them (root; otherwise it stays the process's).
 * Returns 0, or -1 with *error_r (static text) and errno; the temporary
 * file is removed, and path is unchanged unless only the directory fsync
 * failed ("cannot sync the directory"). */
int fileio_replace(const char *path, const void *data, size_t len,
		   mode_t mode, const char **error_r);
/* The same with the content gathered from count parts (any count). */
int fileio_replacev(const char *path, const struct iovec *parts,
		    size_t count, mode_t mode, const char **error_r);

#endif
