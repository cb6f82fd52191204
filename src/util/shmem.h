/* shmem.h: memory shared with every process forked after it is made
 * (MAP_SHARED | MAP_ANONYMOUS, zero-filled), for the master's tables its
 * workers write (connection counts, failed-login delays, metrics). It
 * lives as long as the processes that have it; nobody else can map it. */
#ifndef SATCHEL_SHMEM_H
#define SATCHEL_SHMEM_H

#include <stddef.h>

/* NULL on failure (errno set). */
void *shmem_create(size_t size);

#endif
