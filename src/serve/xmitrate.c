/* xmitrate.c: the shared XTND XMIT rate table (see xmitrate.h). */
#include "serve/xmitrate.h"
#include "util/strhash.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "auth/auth_proto.h"
#include "serve/limits.h"
#include "serve/sharedtable.h"

struct rate_entry {
	char user[AUTH_USER_MAX];
	uint64_t window_start_ms;
	unsigned count;
};

struct xmitrate {
	pthread_mutex_t lock;   /* first: sharedtable.h */
	struct rate_entry entries[XMIT_RATE_TABLE_SIZE];
};

struct xmitrate *xmitrate_create(void)
{
	return sharedtable_create(sizeof(struct xmitrate));
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

	if (per_hour == 0)
		return true;
	e = &rate->entries[strhash(user) % XMIT_RATE_TABLE_SIZE];
	if (!sharedtable_lock(&rate->lock))
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
