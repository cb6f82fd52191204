/* auth_users.c: per-user login state of the auth process (see
 * auth_users.h). */
#include "auth/auth_users.h"
#include "util/strhash.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/mailpath.h"
#include "util/fileio.h"
#include "util/log.h"
#include "util/strnum.h"

#define AUTH_STATE_FILE "last-login"
#define AUTH_STATE_LINE_MAX 512
#define CONFIG_PATH_MAX 1024

static size_t auth_users_hash(const char *s)
{
	return (size_t)strhash(s);
}

struct auth_user *auth_users_find(const struct auth_users *t,
					 const char *name)
{
	struct auth_user *u;

	if (t->n_buckets == 0)
		return NULL;
	for (u = t->buckets[auth_users_hash(name) % t->n_buckets]; u != NULL;
	     u = u->next) {
		if (strcmp(u->name, name) == 0)
			return u;
	}
	return NULL;
}

static int auth_users_grow(struct auth_users *t)
{
	size_t n = t->n_buckets == 0 ? 1024 : t->n_buckets * 2, i;
	struct auth_user **b, *u, *next;

	b = calloc(n, sizeof(*b));
	if (b == NULL)
		return -1;
	for (i = 0; i < t->n_buckets; i++) {
		for (u = t->buckets[i]; u != NULL; u = next) {
			size_t k = auth_users_hash(u->name) % n;

			next = u->next;
			u->next = b[k];
			b[k] = u;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->n_buckets = n;
	return 0;
}

/* Finds or creates the record of name. NULL when out of memory. */
struct auth_user *auth_users_get(struct auth_users *t,
					const char *name)
{
	struct auth_user *u = auth_users_find(t, name);
	size_t len, k;

	if (u != NULL)
		return u;
	if (t->count >= t->n_buckets && auth_users_grow(t) < 0 &&
	    t->n_buckets == 0)
		return NULL;
	len = strlen(name);
	u = calloc(1, sizeof(*u) + len + 1);
	if (u == NULL)
		return NULL;
	memcpy(u->name, name, len + 1);
	k = auth_users_hash(name) % t->n_buckets;
	u->next = t->buckets[k];
	t->buckets[k] = u;
	t->count++;
	return u;
}

int auth_user_session_add(struct auth_user *u, uint32_t slot)
{
	unsigned i;

	for (i = 0; i < u->n_slots; i++) {
		if (u->slots[i].slot == slot)
			break;
	}
	if (i == u->n_slots) {
		if (u->n_slots == u->cap_slots) {
			unsigned cap = u->cap_slots == 0 ? 2 : u->cap_slots * 2;
			struct auth_user_slot *s;

			s = reallocarray(u->slots, cap, sizeof(*s));
			if (s == NULL)
				return -1;
			u->slots = s;
			u->cap_slots = cap;
		}
		u->slots[i].slot = slot;
		u->slots[i].count = 0;
		u->n_slots++;
	}
	u->slots[i].count++;
	u->sessions++;
	return 0;
}

/* Drops count sessions (UINT32_MAX: all) of slot from u. A worker cannot
 * make the counters wrap by sending more logouts than logins. */
void auth_user_session_drop(struct auth_user *u, uint32_t slot,
				   uint32_t count)
{
	unsigned i;

	for (i = 0; i < u->n_slots; i++) {
		if (u->slots[i].slot != slot)
			continue;
		if (count > u->slots[i].count)
			count = u->slots[i].count;
		u->slots[i].count -= count;
		u->sessions -= count;
		if (u->slots[i].count == 0)
			u->slots[i] = u->slots[--u->n_slots];
		return;
	}
}

void auth_users_forget_slot(struct auth_users *t, uint32_t slot)
{
	struct auth_user *u;
	size_t i;

	for (i = 0; i < t->n_buckets; i++) {
		for (u = t->buckets[i]; u != NULL; u = u->next)
			auth_user_session_drop(u, slot, UINT32_MAX);
	}
}

void auth_users_free(struct auth_users *t)
{
	struct auth_user *u, *next;
	size_t i;

	for (i = 0; i < t->n_buckets; i++) {
		for (u = t->buckets[i]; u != NULL; u = next) {
			next = u->next;
			free(u->slots);
			free(u);
		}
	}
	free(t->buckets);
	memset(t, 0, sizeof(*t));
}

static int auth_state_path(const char *state_dir, const char *suffix,
			   char *out, size_t size)
{
	int n = snprintf(out, size, "%s/%s%s", state_dir, AUTH_STATE_FILE,
			 suffix);

	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* Reads "name TAB epoch" lines. A damaged file only weakens login_delay
 * for a while, so bad lines are skipped, not fatal. */
void auth_users_load_state(struct auth_users *users, const char *state_dir)
{
	char path[CONFIG_PATH_MAX + 32], line[AUTH_STATE_LINE_MAX];
	unsigned bad = 0;
	FILE *f;

	if (state_dir[0] == '\0')
		return;
	if (auth_state_path(state_dir, "", path, sizeof(path)) < 0) {
		log_warn("state_dir too long; last logins not loaded");
		return;
	}
	f = fopen(path, "re");
	if (f == NULL) {
		if (errno != ENOENT)
			log_warn("%s: %s", path, strerror(errno));
		return;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *tab, *nl = strchr(line, '\n');
		struct auth_user *u;
		uint64_t when;

		if (nl == NULL) {
			int c;

			/* over-long line: skip the rest of it */
			while ((c = getc(f)) != EOF && c != '\n')
				;
			bad++;
			continue;
		}
		*nl = '\0';
		tab = strchr(line, '\t');
		if (tab == NULL) {
			bad++;
			continue;
		}
		*tab++ = '\0';
		if (!mailpath_user_valid(line) ||
		    strnum_parse_u64(tab, INT64_MAX, &when) < 0) {
			bad++;
			continue;
		}
		u = auth_users_get(users, line);
		if (u == NULL) {
			log_error("out of memory loading %s", path);
			break;
		}
		u->last_login = (time_t)when;
	}
	if (ferror(f))
		log_warn("%s: read error", path);
	fclose(f);
	if (bad > 0)
		log_warn("%s: skipped %u malformed lines", path, bad);
}

/* Writes the users still inside their login_delay window with the one
 * atomic replace (a unique temporary name: during a reload the auth
 * processes of two generations may write at once), so a crash leaves
 * either the old or the new file. */
int auth_users_save_state(const struct auth_users *users,
			  const char *state_dir, time_t now,
			  auth_users_delay_fn *delay_of, void *context)
{
	char path[CONFIG_PATH_MAX + 32];
	const char *error;
	struct auth_user *u;
	char *buf = NULL;
	size_t i, len = 0;
	FILE *f;
	int ret = -1;

	if (auth_state_path(state_dir, "", path, sizeof(path)) < 0) {
		log_error("state_dir too long; last logins not saved");
		return -1;
	}
	f = open_memstream(&buf, &len);
	if (f == NULL) {
		log_error("%s: out of memory", path);
		return -1;
	}
	for (i = 0; i < users->n_buckets; i++) {
		for (u = users->buckets[i]; u != NULL; u = u->next) {
			int delay;

			if (u->last_login == 0)
				continue;
			delay = delay_of(context, u->name);
			if (delay <= 0 || u->last_login + delay <= now)
				continue;
			fprintf(f, "%s\t%lld\n", u->name,
				(long long)u->last_login);
		}
	}
	i = (size_t)ferror(f);
	if (fclose(f) != 0 || i != 0) {
		log_error("%s: out of memory", path);
		goto out_free;
	}
	if (fileio_replace(path, buf, len, 0600, &error) < 0) {
		log_error("%s: %s: %s", path, error, strerror(errno));
		goto out_free;
	}
	ret = 0;
out_free:
	free(buf);
	return ret;
}
