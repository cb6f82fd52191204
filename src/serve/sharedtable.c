/* sharedtable.c: shared tables with a robust lock (sharedtable.h). */
#include "serve/sharedtable.h"

#include <errno.h>
#include <sys/mman.h>

#include "util/shmem.h"

void *sharedtable_create(size_t size)
{
	void *mem = shmem_create(size);
	pthread_mutexattr_t attr;
	int err;

	if (mem == NULL)
		return NULL;
	err = pthread_mutexattr_init(&attr);
	if (err == 0)
		err = pthread_mutexattr_setpshared(&attr,
						   PTHREAD_PROCESS_SHARED);
	if (err == 0)
		err = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
	if (err == 0)
		err = pthread_mutex_init((pthread_mutex_t *)mem, &attr);
	(void)pthread_mutexattr_destroy(&attr);
	if (err != 0) {
		(void)munmap(mem, size);
		errno = err;
		return NULL;
	}
	return mem;
}

bool sharedtable_lock(pthread_mutex_t *lock)
{
	int err = pthread_mutex_lock(lock);

	if (err == EOWNERDEAD)
		err = pthread_mutex_consistent(lock);
	return err == 0;
}
