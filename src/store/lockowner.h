/* lockowner.h: the line a lock file holds, naming who holds it.
 *
 *   "node boot instance pid token time\n"
 *
 * node: node_id; boot: the kernel's boot id; instance: the holder's
 * master (node.h; "-" for a tool); pid: the holding process; token:
 * random, drawn per lock, so the holder can tell its own lock from a
 * lock someone else made at the same path after breaking ours (inode
 * numbers repeat, on NFS too); time: seconds since the epoch, for admins.
 * The older "host pid time" line (earlier satchel) parses with boot,
 * instance and token "-". Content from disk is untrusted: any field may
 * be missing or malformed, and then the line is not proof of anything.
 */
#ifndef SATCHEL_LOCKOWNER_H
#define SATCHEL_LOCKOWNER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "store/node.h"

#define LOCKOWNER_LINE_MAX 256

struct lock_owner {
	char node[NODE_ID_MAX + 1];
	char boot[NODE_BOOT_MAX + 1];
	char instance[NODE_TOKEN_LEN + 1];
	char token[NODE_TOKEN_LEN + 1];
	pid_t pid;
};

/* This process as the owner of a new lock with the given token. */
void lockowner_self(struct lock_owner *owner, const char *token);
/* Formats the line into buf. Returns its length, or -1 if it does not
 * fit. */
int lockowner_format(const struct lock_owner *owner, char *buf,
		     size_t size);
/* Parses the first line of text. Returns 0, or -1 when it is not a lock
 * line of either format. */
int lockowner_parse(const char *text, struct lock_owner *owner_r);

#endif
