/* shmem.c: shared anonymous memory (see shmem.h). */
#include "util/shmem.h"

#include <sys/mman.h>

void *shmem_create(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}
