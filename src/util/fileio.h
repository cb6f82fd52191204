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

/* Replaces the file at path with len bytes of data, atomically: a unique
 * temporary file in the same directory (mkstemp, so two writers never
 * share one), every byte written, fsync, rename over path, fsync of the
 * directory. A reader sees the old file or the new one, never a part, and
 * after 0 the new one survives a crash. The new file gets mode, and the
 * owner and group of the file it replaces when that exists and the
 * process may give them (root; otherwise it stays the process's own).
 * Returns 0, or -1 with errno and *error_r naming the step that failed (a
 * static string); the temporary file is removed, and path is unchanged
 * unless only the directory fsync failed ("syncing the directory"). */
int fileio_replace(const char *path, const void *data, size_t len,
		   mode_t mode, const char **error_r);

#endif
