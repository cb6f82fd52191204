/* connlimit.c: shared connection counters (see connlimit.h). */
#include "serve/connlimit.h"
#include "util/strhash.h"

#include <stdint.h>
#include <string.h>

#include "serve/limits.h"
#include "util/shmem.h"

struct connlimit_row {
	uint32_t total;
	uint16_t per_bucket[CONN_BUCKETS];
};

struct connlimit {
	unsigned rows;
	struct connlimit_row row[];
};

static unsigned addr_bucket(const char *addr)
{
	return (unsigned)(strhash(addr) % CONN_BUCKETS);
}

struct connlimit *connlimit_create(unsigned rows)
{
	size_t size = sizeof(struct connlimit) +
		      rows * sizeof(struct connlimit_row);
	struct connlimit *cl = shmem_create(size);

	if (cl == NULL)
		return NULL;
	cl->rows = rows;
	return cl;
}

void connlimit_reset_row(struct connlimit *cl, unsigned row)
{
	memset(&cl->row[row], 0, sizeof(cl->row[row]));
}

bool connlimit_admit(struct connlimit *cl, unsigned row, const char *addr,
		     unsigned max_total, unsigned max_per_addr,
		     const char **which_r, bool *per_addr_r)
{
	unsigned bucket = addr_bucket(addr);
	uint64_t total = 0, same = 0;

	for (unsigned r = 0; r < cl->rows; r++) {
		/* Other rows change under us; a slightly stale sum only
		 * admits or refuses one connection early or late. */
		total += __atomic_load_n(&cl->row[r].total, __ATOMIC_RELAXED);
		same += __atomic_load_n(&cl->row[r].per_bucket[bucket],
					__ATOMIC_RELAXED);
	}
	if (total >= max_total) {
		*which_r = "too many connections";
		*per_addr_r = false;
		return false;
	}
	if (same >= max_per_addr || cl->row[row].per_bucket[bucket] == UINT16_MAX) {
		*which_r = "too many connections from your address";
		*per_addr_r = true;
		return false;
	}
	__atomic_store_n(&cl->row[row].total, cl->row[row].total + 1,
			 __ATOMIC_RELAXED);
	__atomic_store_n(&cl->row[row].per_bucket[bucket],
			 cl->row[row].per_bucket[bucket] + 1, __ATOMIC_RELAXED);
	return true;
}

void connlimit_release(struct connlimit *cl, unsigned row, const char *addr)
{
	unsigned bucket = addr_bucket(addr);

	if (cl->row[row].total > 0)
		__atomic_store_n(&cl->row[row].total, cl->row[row].total - 1,
				 __ATOMIC_RELAXED);
	if (cl->row[row].per_bucket[bucket] > 0)
		__atomic_store_n(&cl->row[row].per_bucket[bucket],
				 cl->row[row].per_bucket[bucket] - 1,
				 __ATOMIC_RELAXED);
}
