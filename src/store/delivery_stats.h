/* delivery_stats.h: the recipients the LMTP workers delivered, counted
 * by result in memory shared with the master (util/shmem.h), which makes
 * it before it forks and reads it for its metrics page. The write side's
 * own counters, below both front ends: deliver/ counts, serve/ reads,
 * and neither includes the other. One row per worker slot, written only
 * by the process in that slot from its loop thread; counters only grow
 * (a restarted worker adds to its slot's counts). Every function takes a
 * NULL table (satchel lmtp --stdio, satchel deliver) and does nothing. */
#ifndef SATCHEL_DELIVERY_STATS_H
#define SATCHEL_DELIVERY_STATS_H

#include <stdint.h>

#include "store/delivery.h"

enum delivery_stats_result {
	DELIVERY_STATS_STORED,      /* written into the maildrop */
	DELIVERY_STATS_DUPLICATE,   /* already stored (delivery id): 2xx */
	DELIVERY_STATS_TEMPFAIL,    /* 4xx */
	DELIVERY_STATS_PERMFAIL,    /* 5xx */
	DELIVERY_STATS_RESULTS
};

/* The label of a result in the metrics ("stored", ...). */
extern const char *const delivery_stats_names[DELIVERY_STATS_RESULTS];

struct delivery_stats;

/* NULL on failure (errno set). rows = worker slots. */
struct delivery_stats *delivery_stats_create(unsigned rows);
/* Counts one recipient's final result in row (out of range: not
 * counted). */
void delivery_stats_count(struct delivery_stats *st, unsigned row,
			  const struct delivery_result *res);
/* The sum over every row (each counter read atomically). */
void delivery_stats_read(const struct delivery_stats *st,
			 uint64_t out[DELIVERY_STATS_RESULTS]);

#endif
