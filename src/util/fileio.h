/* fileio.h: the two file-writing steps every durable write here needs. */
#ifndef SATCHEL_FILEIO_H
#define SATCHEL_FILEIO_H

#include <stddef.h>

/* Writes all len bytes, retrying short writes and EINTR. 0 or -1 (errno). */
int fileio_write_all(int fd, const void *buf, size_t len);

/* fsyncs the directory holding path, so a rename or create in it is on
 * disk. 0 or -1 (errno). */
int fileio_fsync_parent(const char *path);

#endif
