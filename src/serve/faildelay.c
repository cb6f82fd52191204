/* faildelay.c: the shared failed-login delay table (see faildelay.h). */
#include "serve/faildelay.h"
#include "util/strhash.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "serve/limits.h"
#include "util/shmem.h"

struct fail_entry {
	char addr[64];
	unsigned failures;
	uint64_t last_ms;
};

struct faildelay {
	/* Robust: a worker killed while holding it does not stop the
	 * others; the next locker takes it over (the entry it was writing
	 * is at worst a wrong count for one address). */
	pthread_mutex_t lock;
	struct fail_entry entries[FAIL_TABLE_SIZE];
};

struct faildelay *faildelay_create(void)
{
	struct faildelay *fd = shmem_create(sizeof(*fd));
	pthread_mutexattr_t attr;
	int err;

	if (fd == NULL)
		return NULL;
	err = pthread_mutexattr_init(&attr);
	if (err == 0)
		err = pthread_mutexattr_setpshared(&attr,
						   PTHREAD_PROCESS_SHARED);
	if (err == 0)
		err = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
	if (err == 0)
		err = pthread_mutex_init(&fd->lock, &attr);
	(void)pthread_mutexattr_destroy(&attr);
	if (err != 0) {
		(void)munmap(fd, sizeof(*fd));
		errno = err;
		return NULL;
	}
	return fd;
}

static uint64_t monotonic_ms(void)
{
	struct timespec ts;

	/* CLOCK_MONOTONIC is one clock for every process of the machine. */
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool faildelay_lock(struct faildelay *fd)
{
	int err = pthread_mutex_lock(&fd->lock);

	if (err == EOWNERDEAD)
		err = pthread_mutex_consistent(&fd->lock);
	return err == 0;
}

unsigned faildelay_record(struct faildelay *fd, const char *addr,
			  bool failed, unsigned base_ms, unsigned max_ms)
{
	struct fail_entry *e = &fd->entries[strhash(addr) % FAIL_TABLE_SIZE];
	uint64_t now = monotonic_ms(), delay;
	unsigned failures;

	if (!faildelay_lock(fd))
		return failed ? max_ms : 0; /* never weaker than the limit */
	if (strcmp(e->addr, addr) != 0 ||
	    now - e->last_ms > FAIL_FORGET_SECS * 1000ull) {
		snprintf(e->addr, sizeof(e->addr), "%s", addr);
		e->failures = 0;
	}
	if (failed) {
		e->last_ms = now;
		if (e->failures < 32)
			e->failures++;
	} else {
		e->failures = 0;
	}
	failures = e->failures;
	(void)pthread_mutex_unlock(&fd->lock);
	if (!failed || base_ms == 0)
		return 0;
	delay = (uint64_t)base_ms << (failures - 1);
	return delay > max_ms ? max_ms : (unsigned)delay;
}
