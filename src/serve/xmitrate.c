/* xmitrate.c: the shared XTND XMIT rate table (see xmitrate.h). */
#include "serve/xmitrate.h"
#include "util/strhash.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "auth/auth_proto.h"
#include "serve/limits.h"

struct rate_entry {
	char user[AUTH_USER_MAX];
	uint64_t window_start_ms;
	unsigned count;
};

struct xmitrate {
	/* robust, as faildelay's: a worker killed holding it stops no one */
	pthread_mutex_t lock;
	struct rate_entry entries[XMIT_RATE_TABLE_SIZE];
};

struct xmitrate *xmitrate_create(void)
{
	struct xmitrate *rate = mmap(NULL, sizeof(*rate),
				     PROT_READ | PROT_WRITE,
				     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pthread_mutexattr_t attr;
	int err;

	if (rate == MAP_FAILED)
		return NULL;
	err = pthread_mutexattr_init(&attr);
	if (err == 0)
		err = pthread_mutexattr_setpshared(&attr,
						   PTHREAD_PROCESS_SHARED);
	if (err == 0)
		err = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
	if (err == 0)
		err = pthread_mutex_init(&rate->lock, &attr);
	(void)pthread_mutexattr_destroy(&attr);
	if (err != 0) {
		(void)munmap(rate, sizeof(*rate));
		errno = err;
		return NULL;
	}
	return rate;
}

static uint64_t monotonic_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

bool xmitrate_take(struct xmitrate *rate, const char *user,
		   unsigned per_hour)
{
	struct rate_entry *e;
	uint64_t now = monotonic_ms();
	bool allowed;
	int err;

	if (per_hour == 0)
		return true;
	e = &rate->entries[strhash(user) % XMIT_RATE_TABLE_SIZE];
	err = pthread_mutex_lock(&rate->lock);
	if (err == EOWNERDEAD)
		err = pthread_mutex_consistent(&rate->lock);
	if (err != 0)
		return false; /* never more than the limit */
	if (strcmp(e->user, user) != 0 ||
	    now - e->window_start_ms >= 3600 * 1000ull) {
		snprintf(e->user, sizeof(e->user), "%s", user);
		e->window_start_ms = now;
		e->count = 0;
	}
	allowed = e->count < per_hour;
	if (allowed)
		e->count++;
	(void)pthread_mutex_unlock(&rate->lock);
	return allowed;
}
