/* faildelay.c: the shared failed-login delay table (see faildelay.h). */
#include "serve/faildelay.h"
#include "util/strhash.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "serve/limits.h"
#include "serve/sharedtable.h"

struct fail_entry {
	char addr[64];
	unsigned failures;
	uint64_t last_ms;
};

struct faildelay {
	pthread_mutex_t lock;   /* first: sharedtable.h */
	struct fail_entry entries[FAIL_TABLE_SIZE];
};

struct faildelay *faildelay_create(void)
{
	return sharedtable_create(sizeof(struct faildelay));
}

static uint64_t monotonic_ms(void)
{
	struct timespec ts;

	/* CLOCK_MONOTONIC is one clock for every process of the machine. */
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

unsigned faildelay_record(struct faildelay *fd, const char *addr,
			  bool failed, unsigned base_ms, unsigned max_ms)
{
	struct fail_entry *e = &fd->entries[strhash(addr) % FAIL_TABLE_SIZE];
	uint64_t now = monotonic_ms(), delay;
	unsigned failures;

	if (!sharedtable_lock(&fd->lock))
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
