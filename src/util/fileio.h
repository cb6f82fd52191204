/* fileio.h: the file-writing steps every durable write here needs, and
 * the one atomic replace built from them. */
#ifndef SATCHEL_FILEIO_H
#define SATCHEL_FILEIO_H

#include <stddef.h>
#include <sys/types.h>

/* Writes all len bytes, retrying short writes and EINTR. 0 or -1 (errno). */
int fileio_write_all(int fd, const void *buf, size_t len);

/* fsyncs the directory holding path, so a rename or create in it is on
 * disk. 0 or -1 (errno). */
int fileio_fsync_parent(const char *path);

/* Replaces path atomically with len bytes of data: a unique temporary
 * file in the same directory (O_EXCL, so concurrent writers, threads or
 * processes, never share one), write_all, fsync, rename over path, fsync
 * of the directory. Readers see the old file or the new one, never a
 * mix, even after a crash. 0, or -1 with *error_r (static text) and
 * errno; the temporary file is removed on failure. */
int fileio_replace(const char *path, const void *data, size_t len,
		   mode_t mode, const char **error_r);

#endif
