/* faildelay.h: failed-login delays per client address, shared by every
 * worker of the server (a MAP_SHARED table made by the master before it
 * forks), so an attacker spreading attempts over N workers meets the same
 * doubling delay as one who does not. The table outlives generations. A
 * client address is hashed to a slot; a collision replaces the older
 * address, which can only shorten someone's delay, never lengthen it. */
#ifndef SATCHEL_FAILDELAY_H
#define SATCHEL_FAILDELAY_H

#include <stdbool.h>

struct faildelay;

/* The shared table, or NULL with errno set. It lives until the process
 * tree exits (never unmapped: children use it to the end). */
struct faildelay *faildelay_create(void);

/* Records a login from addr (failed, or successful which forgets the
 * address's failures) and returns how long to hold back the failure
 * reply: base_ms doubled per consecutive failure, at most max_ms; 0 for
 * a success or when base_ms is 0. Safe from any process sharing it. */
unsigned faildelay_record(struct faildelay *fd, const char *addr,
			  bool failed, unsigned base_ms, unsigned max_ms);

#endif
