/* auth_users.h: what the auth process remembers per user: the last
 * successful login (for LOGIN-DELAY, persisted in state_dir) and the
 * logged-in sessions per worker slot (for max_sessions_per_user). Names
 * come from the passwd-file or our own state file, never straight from a
 * client. */
#ifndef SATCHEL_AUTH_USERS_H
#define SATCHEL_AUTH_USERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct auth_user_slot {
	uint32_t slot;
	uint32_t count;
};

/* One per canonical user name that logged in (or was in the state file).
 * Names come from the passwd-file or our own state file, never straight
 * from a client, so a simple hash is not a flooding risk. */
struct auth_user {
	struct auth_user *next;
	time_t last_login;             /* 0 = none known */
	unsigned sessions;             /* sum of slots[].count */
	unsigned n_slots, cap_slots;
	struct auth_user_slot *slots;
	char name[];
};

struct auth_users {
	struct auth_user **buckets;
	size_t n_buckets, count;
};

/* NULL when unknown. */
struct auth_user *auth_users_find(const struct auth_users *t,
				  const char *name);
/* Finds or creates the record of name. NULL when out of memory. */
struct auth_user *auth_users_get(struct auth_users *t, const char *name);
/* Counts one more session of u on slot. 0 or -1 (out of memory). */
int auth_user_session_add(struct auth_user *u, uint32_t slot);
/* Drops count sessions (UINT32_MAX: all) of slot from u. */
void auth_user_session_drop(struct auth_user *u, uint32_t slot,
			    uint32_t count);
/* A worker slot went away: forgets all its sessions. */
void auth_users_forget_slot(struct auth_users *t, uint32_t slot);
void auth_users_free(struct auth_users *t);

/* The login delay in force for a user, in seconds (<= 0: none). */
typedef int auth_users_delay_fn(void *context, const char *name);

/* Loads "name TAB epoch" lines from state_dir/last-login ("" = none);
 * bad lines are skipped with a warning. */
void auth_users_load_state(struct auth_users *users, const char *state_dir);
/* Writes the users still inside their delay window (fileio_replace).
 * 0 or -1 (logged). */
int auth_users_save_state(const struct auth_users *users,
			  const char *state_dir, time_t now,
			  auth_users_delay_fn *delay_of, void *context);

#endif
