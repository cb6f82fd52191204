/* delivery_stats.c: shared delivery counters (delivery_stats.h). */
#include "store/delivery_stats.h"

#include <string.h>

#include "util/shmem.h"

const char *const delivery_stats_names[DELIVERY_STATS_RESULTS] = {
	[DELIVERY_STATS_STORED] = "stored",
	[DELIVERY_STATS_DUPLICATE] = "duplicate",
	[DELIVERY_STATS_TEMPFAIL] = "tempfail",
	[DELIVERY_STATS_PERMFAIL] = "permfail",
};

struct delivery_stats {
	unsigned rows;
	uint64_t row[][DELIVERY_STATS_RESULTS];
};

struct delivery_stats *delivery_stats_create(unsigned rows)
{
	struct delivery_stats *st = shmem_create(
		sizeof(*st) + rows * sizeof(st->row[0]));

	if (st == NULL)
		return NULL;
	st->rows = rows;
	return st;
}

void delivery_stats_count(struct delivery_stats *st, unsigned row,
			  const struct delivery_result *res)
{
	enum delivery_stats_result r;

	if (st == NULL || row >= st->rows)
		return;
	if (res->status == DELIVERY_OK)
		r = res->duplicate ? DELIVERY_STATS_DUPLICATE :
				     DELIVERY_STATS_STORED;
	else
		r = res->status == DELIVERY_TEMP ? DELIVERY_STATS_TEMPFAIL :
						   DELIVERY_STATS_PERMFAIL;
	/* one writer per row; atomics keep the master's reads whole */
	__atomic_fetch_add(&st->row[row][r], 1, __ATOMIC_RELAXED);
}

void delivery_stats_read(const struct delivery_stats *st,
			 uint64_t out[DELIVERY_STATS_RESULTS])
{
	memset(out, 0, DELIVERY_STATS_RESULTS * sizeof(out[0]));
	for (unsigned i = 0; st != NULL && i < st->rows; i++)
		for (unsigned r = 0; r < DELIVERY_STATS_RESULTS; r++)
			out[r] += __atomic_load_n(&st->row[i][r],
						  __ATOMIC_RELAXED);
}
