/* node.h: this node's identity and its heartbeat, so that session locks
 * on a store shared by several nodes (docs/scaling.md) can tell a lock of
 * a dead node from a lock of a live one in seconds rather than after
 * lock_stale_timeout.
 *
 * A node is one running satchel master and its children: node_id (config,
 * default the host name), the kernel's boot id, and an instance token the
 * master draws at start. With node_heartbeat_dir set (a directory on the
 * shared store), the master rewrites <dir>/<node_id> ("boot instance\n")
 * about every timeout / 3 seconds. Every age is judged by the store's
 * clock (the mtimes it sets), never by comparing this host's clock with
 * another's: a node whose heartbeat is older than node_heartbeat_timeout
 * next to a file just written to the same store is dead, and a live node
 * that finds its own heartbeat that old has been fenced off: its sessions
 * end with [SYS/TEMP] and change nothing.
 *
 * With node_heartbeat_pgsql instead, the heartbeat is a row of a
 * PostgreSQL table (node_pgsql.c): ages are judged by the database's
 * clock, and a node is fenced when its last successful beat began more
 * than the timeout ago (a monotonic time the master keeps in memory
 * shared with its children).
 *
 * Module state: one node per process, set once by node_init before the
 * master forks (children inherit it), read-only afterwards.
 */
#ifndef SATCHEL_NODE_H
#define SATCHEL_NODE_H

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#define NODE_ID_MAX 63        /* a file name in the heartbeat dir */
#define NODE_TOKEN_LEN 32     /* hex digits of instance and lock tokens */
#define NODE_BOOT_MAX 36      /* /proc/sys/kernel/random/boot_id */

struct node_settings {
	const char *node_id;        /* "" = the host name */
	const char *heartbeat_dir;  /* "" = no heartbeats: lock age decides */
	const char *heartbeat_pgsql; /* libpq conninfo; NULL or "" = none
					(at most one of the two is set) */
	unsigned heartbeat_timeout; /* seconds without a beat = dead */
	/* true in satchel serve (its master beats); false in one-shot
	 * tools, whose locks name no instance, so another node judges them
	 * by their node's heartbeat and their age only */
	bool beats;
};

/* Sets this process's node. Returns 0, or -1 with *error_r (a node_id
 * that cannot be a file name, a heartbeat dir that cannot be made, no
 * shared memory). */
int node_init(const struct node_settings *set, const char **error_r);

const char *node_id(void);
const char *node_boot_id(void);
/* The master's instance token, or "-" in a process that does not beat. */
const char *node_instance(void);
bool node_heartbeats_enabled(void);
unsigned node_heartbeat_timeout(void);
/* Milliseconds between beats (timeout / 3, at least 200). */
unsigned node_beat_interval_ms(void);

/* The master's beat: rewrites the heartbeat file (or upserts the row,
 * waiting at most a beat interval). Returns 0, or -1 with
 * *error_r; a master that keeps failing fences itself off, since its
 * heartbeat ages like a dead node's. */
int node_heartbeat_beat(const char **error_r);

/* Fills buf with NODE_TOKEN_LEN random hex digits and a NUL. Returns 0
 * or -1 (no randomness). */
int node_token(char *buf, size_t size);

enum node_verdict {
	NODE_UNKNOWN, /* no heartbeats, or none for that node: age decides */
	NODE_ALIVE,
	NODE_DEAD,    /* heartbeat too old, or the node restarted/rebooted */
};

/* What the heartbeats say about the owner of a lock: another node's
 * (node, boot, instance as the lock names them; instance "-" = a tool
 * that does not beat). store_now is a time the store itself just set (an
 * mtime). */
enum node_verdict node_judge_peer(const char *node, const char *boot,
				  const char *instance,
				  const struct timespec *store_now);

/* True when this node's own heartbeat is older than the timeout next to
 * store_now (or missing): another node may take our locks, so nothing
 * may be changed under them. False when heartbeats are off and in a
 * process that does not beat (a one-shot tool). */
bool node_is_fenced(const struct timespec *store_now);

#endif
