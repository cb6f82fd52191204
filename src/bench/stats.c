/* stats.c: latency samples and their quantiles for `satchel bench`. */
#include <stdlib.h>

#include "bench/bench.h"

/* 16M samples (64 MB) is far more sessions than one bounded run makes;
 * past it, further samples are dropped rather than the run failing. */
#define SAMPLES_MAX (16u * 1024 * 1024)

const char *const bench_error_names[BERR_COUNT_KINDS] = {
	[BERR_CONNECT] = "connect",
	[BERR_TLS] = "tls",
	[BERR_GREETING] = "greeting",
	[BERR_AUTH] = "auth",
	[BERR_IN_USE] = "in_use",
	[BERR_ERR_REPLY] = "err_reply",
	[BERR_PROTOCOL] = "protocol",
	[BERR_FRAMING] = "framing",
	[BERR_STUFFING] = "stuffing",
	[BERR_SIZE] = "size_mismatch",
	[BERR_COUNT] = "count_mismatch",
	[BERR_UIDL] = "bad_uidl",
	[BERR_CLOSED] = "closed",
	[BERR_TIMEOUT] = "timeout",
	[BERR_UNFINISHED] = "unfinished",
};

void bench_samples_add(struct bench_samples *s, uint64_t us)
{
	if (s->len == s->cap) {
		size_t cap = s->cap == 0 ? 4096 : s->cap * 2;
		uint32_t *v;

		if (cap > SAMPLES_MAX)
			return;
		v = realloc(s->v, cap * sizeof(*v));
		if (v == NULL)
			return;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->len++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

double bench_samples_quantile_ms(struct bench_samples *s, double q)
{
	size_t i;

	if (s->len == 0)
		return 0;
	qsort(s->v, s->len, sizeof(*s->v), cmp_u32);
	/* Nearest rank: the ceil(q * n)-th smallest. */
	i = (size_t)(q * (double)s->len);
	if ((double)i < q * (double)s->len)
		i++;
	if (i > 0)
		i--;
	if (i >= s->len)
		i = s->len - 1;
	return s->v[i] / 1000.0;
}

void bench_samples_free(struct bench_samples *s)
{
	free(s->v);
	s->v = NULL;
	s->len = s->cap = 0;
}
