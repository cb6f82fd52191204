/* metrics_text.h: the counters of metrics.h in the Prometheus text
 * exposition format (version 0.0.4), every name starting satchel_. */
#ifndef SATCHEL_METRICS_TEXT_H
#define SATCHEL_METRICS_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "net/outbuf.h"

struct metrics;
struct delivery_stats;

/* A live worker as the master knows it (its per-worker series). */
struct metrics_worker {
	unsigned slot;         /* its row */
	unsigned generation;
	bool lmtp;
};

struct metrics_text_input {
	const struct metrics *metrics;
	const struct delivery_stats *deliveries; /* the LMTP workers' */
	const struct metrics_worker *workers;
	size_t nworkers;
	unsigned generation;   /* the newest one */
	bool ready;            /* it said ready */
};

/* Appends the whole page to out. 0, or -1 on out of memory (out then
 * holds a part of it: the caller drops it). */
int metrics_text_render(const struct metrics_text_input *in,
			struct outbuf *out);

#endif
