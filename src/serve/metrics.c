/* metrics.c: the shared counters (see metrics.h). */
#include "serve/metrics.h"

#include <string.h>

#include "util/shmem.h"

/* 1 ms .. 10 s: a warm open takes about a millisecond, a cold
 * 100,000-message Maildir seconds, an mbox lock wait up to 2 s. */
const uint64_t metrics_open_bounds_us[METRICS_OPEN_BUCKETS] = {
	1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 10000000,
};

struct metrics {
	unsigned rows;
	struct metrics_row row[];
};

struct metrics *metrics_create(unsigned rows)
{
	size_t size = sizeof(struct metrics) +
		      rows * sizeof(struct metrics_row);
	struct metrics *m = shmem_create(size);

	if (m == NULL)
		return NULL;
	m->rows = rows;
	return m;
}

unsigned metrics_rows(const struct metrics *m)
{
	return m != NULL ? m->rows : 0;
}

static struct metrics_row *row_of(struct metrics *m, unsigned row)
{
	return m != NULL && row < m->rows ? &m->row[row] : NULL;
}

void metrics_reset_gauges(struct metrics *m, unsigned row)
{
	struct metrics_row *r = row_of(m, row);

	for (unsigned g = 0; r != NULL && g < METRICS_GAUGES; g++)
		__atomic_store_n(&r->gauge[g], 0, __ATOMIC_RELAXED);
}

/* Only the row's own worker adds, from one thread; atomics keep the
 * master's concurrent reads whole. */
static void add(uint64_t *p, uint64_t n)
{
	__atomic_fetch_add(p, n, __ATOMIC_RELAXED);
}

void metrics_count(struct metrics *m, unsigned row, enum metrics_counter c,
		   uint64_t n)
{
	struct metrics_row *r = row_of(m, row);

	if (r != NULL && c < METRICS_COUNTERS)
		add(&r->counter[c], n);
}

void metrics_gauge_add(struct metrics *m, unsigned row, enum metrics_gauge g,
		       int64_t delta)
{
	struct metrics_row *r = row_of(m, row);

	if (r != NULL && g < METRICS_GAUGES)
		__atomic_fetch_add(&r->gauge[g], delta, __ATOMIC_RELAXED);
}

void metrics_gauge_set(struct metrics *m, unsigned row, enum metrics_gauge g,
		       int64_t value)
{
	struct metrics_row *r = row_of(m, row);

	if (r != NULL && g < METRICS_GAUGES)
		__atomic_store_n(&r->gauge[g], value, __ATOMIC_RELAXED);
}

void metrics_login(struct metrics *m, unsigned row, unsigned mech,
		   enum metrics_login_result result)
{
	struct metrics_row *r = row_of(m, row);

	if (r != NULL && mech < METRICS_MECHS_MAX &&
	    result < METRICS_LOGIN_RESULTS)
		add(&r->login[mech][result], 1);
}

void metrics_refused(struct metrics *m, unsigned row, enum metrics_refusal why)
{
	struct metrics_row *r = row_of(m, row);

	if (r != NULL && why < METRICS_REFUSALS)
		add(&r->refused[why], 1);
}

void metrics_open_latency(struct metrics *m, unsigned row, uint64_t usec)
{
	struct metrics_row *r = row_of(m, row);
	unsigned b = 0;

	if (r == NULL)
		return;
	while (b < METRICS_OPEN_BUCKETS && usec > metrics_open_bounds_us[b])
		b++;
	add(&r->open_bucket[b], 1);
	add(&r->open_sum_us, usec);
	add(&r->open_count, 1);
}

/* The row as uint64_t words: every field is one (metrics.h). */
_Static_assert(sizeof(struct metrics_row) % sizeof(uint64_t) == 0,
	       "metrics rows are whole 64-bit words");
#define ROW_WORDS (sizeof(struct metrics_row) / sizeof(uint64_t))

static void read_into(const struct metrics_row *r, uint64_t *out, bool sum)
{
	const uint64_t *in = (const uint64_t *)r;

	for (size_t i = 0; i < ROW_WORDS; i++) {
		uint64_t v = __atomic_load_n(&in[i], __ATOMIC_RELAXED);

		out[i] = sum ? out[i] + v : v;
	}
}

void metrics_read_row(const struct metrics *m, unsigned row,
		      struct metrics_row *out)
{
	memset(out, 0, sizeof(*out));
	if (m != NULL && row < m->rows)
		read_into(&m->row[row], (uint64_t *)out, false);
}

void metrics_read_total(const struct metrics *m, struct metrics_row *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; m != NULL && i < m->rows; i++)
		read_into(&m->row[i], (uint64_t *)out, true);
}
