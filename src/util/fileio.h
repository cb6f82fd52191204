/* fileio.h: durable file writes: full writes, directory syncs, and the
 * one atomic replace of a whole file. */
#ifndef SATCHEL_FILEIO_H
#define SATCHEL_FILEIO_H

#include <stddef.h>
#include <sys/types.h>

/* Writes all len bytes, retrying short writes and EINTR. 0 or -1 (errno). */
int fileio_write_all(int fd, const void *buf, size_t len);

/* fsyncs the directory holding path, so a rename or create in it is on
 * disk. 0 or -1 (errno). */
int fileio_fsync_parent(const char *path);

/* Replaces path with the len octets of data, atomically: a reader (and
 * a crash) sees the old file or the new one, never a mix. Writes a
 * temporary file with a unique name in the same directory (mkstemp, so
 * two processes replacing the same file at once do not share one), with
 * mode, then write_all, fsync, rename over path, fsync of the directory.
 * 0, or -1 with *error_r (a static string naming the step that failed)
 * and errno set; the temporary file is removed on failure. */
int fileio_replace(const char *path, const void *data, size_t len,
		   mode_t mode, const char **error_r);

#endif
