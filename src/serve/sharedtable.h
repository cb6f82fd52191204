/* sharedtable.h: the memory of a table every worker of the server shares
 * (faildelay.c, xmitrate.c): made by the master before it forks
 * (util/shmem.h), never unmapped (children use it to the end), its first
 * member a process-shared robust mutex, so a worker killed while holding
 * it stops nobody: the next locker takes it over (the entry it was
 * writing is at worst one wrong count). */
#ifndef SATCHEL_SHAREDTABLE_H
#define SATCHEL_SHAREDTABLE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

/* size octets of zeroed shared memory whose first member is the
 * pthread_mutex_t, initialised; NULL with errno set. */
void *sharedtable_create(size_t size);
/* Locks it (taking over from a dead owner). False when that fails: the
 * caller then answers as its limit demands. */
bool sharedtable_lock(pthread_mutex_t *lock);

#endif
