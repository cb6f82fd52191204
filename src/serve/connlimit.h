/* connlimit.h: connection counters shared by all workers (a MAP_SHARED
 * mapping made by the master before forking). Each worker writes only its
 * own row, so a crashed worker's counts are dropped by zeroing its row
 * when it is restarted; readers sum the rows. Client addresses are hashed
 * into buckets; a collision can only make a limit stricter, never looser. */
#ifndef SATCHEL_CONNLIMIT_H
#define SATCHEL_CONNLIMIT_H

#include <stdbool.h>

struct connlimit;

/* NULL on failure. rows = worker slots. */
struct connlimit *connlimit_create(unsigned rows);
void connlimit_reset_row(struct connlimit *cl, unsigned row);

/* Counts a new connection from addr in row, unless that would exceed
 * max_total or max_per_addr. Returns true when admitted; else *which_r
 * says why to the client and *per_addr_r whether it was max_per_addr. */
bool connlimit_admit(struct connlimit *cl, unsigned row, const char *addr,
		     unsigned max_total, unsigned max_per_addr,
		     const char **which_r, bool *per_addr_r);
void connlimit_release(struct connlimit *cl, unsigned row, const char *addr);

#endif
