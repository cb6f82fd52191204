/* userdb_remote.c: the cache, queue and answer rules of the drivers that
 * ask a server (see userdb_remote.h). */
#include "auth/userdb_remote.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/log.h"

/* A lookup that finished in the last round: the requests that waited
 * for it take its outcome. */
struct remote_finished {
	struct remote_finished *next;
	bool ok;                       /* answered: the cache holds it */
	char user[];
};

uint64_t remote_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int remote_db_init(struct remote_db *r, const char *name,
		   const struct auth_settings *set, const char **error_r)
{
	struct usercache_settings cs;

	memset(r, 0, sizeof(*r));
	r->name = name;
	cs.positive_ttl_ms = (uint64_t)set->user_cache_ttl * 1000;
	cs.negative_ttl_ms = (uint64_t)set->user_cache_negative_ttl * 1000;
	cs.stale_max_ms = (uint64_t)set->user_cache_stale_max * 1000;
	cs.max_entries = set->user_cache_size;
	r->cache = usercache_create(&cs);
	if (r->cache == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	return 0;
}

static void remote_lookup_free(struct remote_lookup *l)
{
	sqlrow_line_wipe(&l->line);
	free(l);
}

void remote_db_round(struct remote_db *r)
{
	while (r->finished != NULL) {
		struct remote_finished *f = r->finished;

		r->finished = f->next;
		free(f);
	}
	r->n_finished = 0;
	r->completed = false;
}

void remote_db_deinit(struct remote_db *r)
{
	while (r->lookups != NULL) {
		struct remote_lookup *l = r->lookups;

		r->lookups = l->next;
		remote_lookup_free(l);
	}
	remote_db_round(r);
	usercache_destroy(&r->cache);
}

static const struct remote_finished *remote_finished_find(
	const struct remote_db *r, const char *user)
{
	const struct remote_finished *f;

	for (f = r->finished; f != NULL; f = f->next) {
		if (strcmp(f->user, user) == 0)
			return f;
	}
	return NULL;
}

static void remote_finished_add(struct remote_db *r, const char *user,
				bool ok)
{
	size_t len = strlen(user);
	struct remote_finished *f;

	if (r->n_finished >= REMOTE_FINISHED_MAX ||
	    (f = malloc(sizeof(*f) + len + 1)) == NULL)
		return;
	memcpy(f->user, user, len + 1);
	f->ok = ok;
	f->next = r->finished;
	r->finished = f;
	r->n_finished++;
}

static void remote_unlink(struct remote_db *r, struct remote_lookup *l)
{
	struct remote_lookup **p;

	for (p = &r->lookups; *p != NULL; p = &(*p)->next) {
		if (*p == l) {
			*p = l->next;
			r->n_lookups--;
			return;
		}
	}
}

void remote_lookup_failed(struct remote_db *r, struct remote_lookup *l,
			  const char *why)
{
	char user_log[PASSWD_USER_MAX + 1];

	log_sanitize(l->user, strlen(l->user), user_log, sizeof(user_log));
	log_warn("%s: lookup of %s failed: %s", r->name, user_log, why);
	remote_unlink(r, l);
	remote_finished_add(r, l->user, false);
	remote_lookup_free(l);
	r->completed = true;
}

void remote_lookup_finish(struct remote_db *r, struct remote_lookup *l,
			  uint64_t now_ms)
{
	struct sqlrow_record *rec = NULL;
	const char *error;

	if (l->found) {
		rec = sqlrow_record_make(&l->line, l->user, r->name, &error);
		if (rec == NULL) {
			remote_lookup_failed(r, l, error);
			return;
		}
	}
	if (usercache_put(r->cache, l->user, rec, now_ms) < 0) {
		remote_lookup_failed(r, l, "out of memory");
		return;
	}
	remote_unlink(r, l);
	remote_finished_add(r, l->user, true);
	remote_lookup_free(l);
	r->completed = true;
}

void remote_lookup_requeue(struct remote_lookup *l, uint64_t now_ms)
{
	l->sent = l->found = l->many = false;
	sqlrow_line_wipe(&l->line);
	l->queued_ms = now_ms;
}

/* What the cache holds when the server cannot answer now. */
static enum userdb_status remote_stale(const struct remote_db *r,
				       const char *user,
				       enum usercache_hit hit,
				       const struct sqlrow_record *rec,
				       uint64_t age_ms,
				       const struct passwd_entry **entry_r)
{
	char user_log[PASSWD_USER_MAX + 1];

	if (hit != USERCACHE_EXPIRED)
		return USERDB_ERROR;
	log_sanitize(user, strlen(user), user_log, sizeof(user_log));
	log_warn("%s: database unavailable: %s answered from the cache "
		 "(stale, %llu s old)", r->name, user_log,
		 (unsigned long long)(age_ms / 1000));
	if (rec == NULL)
		return USERDB_UNKNOWN;
	*entry_r = &rec->entry;
	return USERDB_FOUND;
}

enum userdb_status remote_db_get(struct remote_db *r, const char *user,
				 bool cached_only, bool available,
				 const struct passwd_entry **entry_r,
				 struct remote_lookup **new_r)
{
	const struct sqlrow_record *rec;
	const struct remote_finished *f;
	struct remote_lookup *l;
	uint64_t now = remote_now_ms(), age;
	enum usercache_hit hit;
	size_t len = strlen(user);

	*new_r = NULL;
	hit = usercache_find(r->cache, user, now, &rec, &age);
	f = remote_finished_find(r, user);
	if (hit == USERCACHE_FRESH ||
	    (hit != USERCACHE_MISS && (cached_only || (f != NULL && f->ok)))) {
		if (rec == NULL)
			return USERDB_UNKNOWN;
		*entry_r = &rec->entry;
		return USERDB_FOUND;
	}
	if (cached_only || len > PASSWD_USER_MAX)
		return USERDB_UNKNOWN; /* no record could hold it */
	if (!available || (f != NULL && !f->ok))
		return remote_stale(r, user, hit, rec, age, entry_r);
	for (l = r->lookups; l != NULL; l = l->next) {
		if (strcmp(l->user, user) == 0)
			return USERDB_PENDING;
	}
	if (r->n_lookups >= REMOTE_LOOKUPS_MAX ||
	    (l = calloc(1, sizeof(*l) + len + 1)) == NULL)
		return remote_stale(r, user, hit, rec, age, entry_r);
	memcpy(l->user, user, len + 1);
	l->queued_ms = now;
	l->next = r->lookups;
	r->lookups = l;
	r->n_lookups++;
	*new_r = l;
	return USERDB_PENDING;
}

void remote_db_expire(struct remote_db *r, bool up, uint64_t now_ms,
		      uint64_t wait_ms, const char *down_why,
		      const char *late_why)
{
	struct remote_lookup *l, *next;

	for (l = r->lookups; l != NULL; l = next) {
		next = l->next;
		if (l->sent)
			continue;
		if (!up)
			remote_lookup_failed(r, l, down_why);
		else if (now_ms >= l->queued_ms + wait_ms)
			remote_lookup_failed(r, l, late_why);
	}
}

void remote_db_timeout(const struct remote_db *r, uint64_t now_ms,
		       uint64_t wait_ms, int *timeout_ms)
{
	const struct remote_lookup *l;

	for (l = r->lookups; l != NULL; l = l->next) {
		uint64_t at = l->queued_ms + wait_ms;
		int ms = at > now_ms ? (int)(at - now_ms) : 0;

		if (!l->sent && (*timeout_ms < 0 || ms < *timeout_ms))
			*timeout_ms = ms;
	}
}

void remote_db_check(struct remote_db *r, bool force)
{
	/* SIGHUP: asked again, but kept for stale use */
	if (force)
		usercache_expire_all(r->cache, remote_now_ms());
}

void remote_db_flush(struct remote_db *r, const char *user)
{
	if (user == NULL)
		usercache_clear(r->cache);
	else
		usercache_drop(r->cache, user);
}
