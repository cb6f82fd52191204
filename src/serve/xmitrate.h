/* xmitrate.h: how many messages each user sent with XTND XMIT in the
 * current hour, shared by every worker of the server (a MAP_SHARED table
 * made by the master before it forks, like faildelay.h), so spreading
 * sessions over workers does not multiply the limit. A user name is
 * hashed to a slot; a collision replaces the older user's count: the
 * table is sized so that this is rare among the few users who send. */
#ifndef SATCHEL_XMITRATE_H
#define SATCHEL_XMITRATE_H

#include <stdbool.h>

struct xmitrate;

/* The shared table, or NULL with errno set. Never unmapped. */
struct xmitrate *xmitrate_create(void);

/* Counts one message for user and returns true when it is within
 * per_hour messages of the user's current hour (the hour starts with
 * the user's first message in it); false (nothing counted) when the
 * limit is reached or the table cannot be locked. per_hour 0: no limit. */
bool xmitrate_take(struct xmitrate *rate, const char *user,
		   unsigned per_hour);

#endif
