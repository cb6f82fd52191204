/* userdb_ldap.c: the LDAP driver (userdb_private.h), `users = ldap:URIS`.
 *
 * A user is the one entry under ldap_base that ldap_user_filter matches
 * (%u %n %d escaped, ldap_query.h); its attributes fill the record's
 * fields as ldap_attributes maps them, through the same row-to-record
 * mapping as the SQL drivers (userdb_sqlrow.h), so the password is a
 * scheme-prefixed hash ({CRYPT}, {SSHA}, ...) verified like any other.
 * No entry is an unknown user; two entries are an error, never a login.
 *
 * The searches never block (ldap_pool.h): in asynchronous mode a user
 * the cache cannot answer for gets USERDB_PENDING, the search is queued
 * for the next connection that is up, and its answer goes into the cache
 * (usercache.h), where the request asking again finds it. When the
 * directory cannot answer (a search fails or times out, or every URI is
 * down) a cached entry past its TTL still answers, logged as stale; a
 * user never seen gets USERDB_ERROR ([SYS/TEMP]). Failures are never
 * cached: they are remembered only until the next userdb_process(). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "auth/ldap_bind.h"
#include "auth/ldap_pool.h"
#include "auth/ldap_query.h"
#include "auth/password.h"
#include "auth/usercache.h"
#include "auth/userdb_private.h"
#include "util/fileio.h"
#include "util/log.h"

#define LDAP_LOOKUPS_MAX 4096
#define LDAP_FINISHED_MAX 4096
#define LDAP_FILTER_MAX 2048

struct ldap_lookup {
	struct ldap_lookup *next;
	bool sent, retried, found, many;
	uint64_t queued_ms;
	struct sqlrow_line line;
	char user[];
};

/* A lookup that finished in the last process(): the requests that
 * waited for it take its outcome, whatever the TTL (0 included). */
struct ldap_finished {
	struct ldap_finished *next;
	bool ok;                       /* answered: the cache holds it */
	char user[];
};

struct userdb_ldap {
	char *uris;
	char base[AUTH_SETTING_STR];
	int scope;
	char filter[AUTH_SETTING_STR];
	struct ldap_map map;
	char *attrs[LDAP_MAP_MAX + 1];
	char bind_dn[AUTH_SETTING_STR];
	char bind_password[256];
	char cafile[AUTH_SETTING_STR];
	bool auth_bind;                /* {LDAP-BIND}dn records */
	struct ldap_pool_settings pool_set;
	struct ldap_pool *pool;        /* made at first use */
	struct usercache *cache;
	bool async;
	struct ldap_lookup *lookups;   /* queued and in flight */
	unsigned n_lookups;
	struct ldap_finished *finished;
	unsigned n_finished;
	bool completed;
};

static uint64_t ldap_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void ldap_lookup_free(struct ldap_lookup *l)
{
	sqlrow_line_wipe(&l->line);
	free(l);
}

static void ldap_finished_clear(struct userdb_ldap *s)
{
	while (s->finished != NULL) {
		struct ldap_finished *f = s->finished;

		s->finished = f->next;
		free(f);
	}
	s->n_finished = 0;
}

static const struct ldap_finished *ldap_finished_find(
	const struct userdb_ldap *s, const char *user)
{
	const struct ldap_finished *f;

	for (f = s->finished; f != NULL; f = f->next) {
		if (strcmp(f->user, user) == 0)
			return f;
	}
	return NULL;
}

static void ldap_finished_add(struct userdb_ldap *s, const char *user,
			      bool ok)
{
	size_t len = strlen(user);
	struct ldap_finished *f;

	if (s->n_finished >= LDAP_FINISHED_MAX ||
	    (f = malloc(sizeof(*f) + len + 1)) == NULL)
		return;
	memcpy(f->user, user, len + 1);
	f->ok = ok;
	f->next = s->finished;
	s->finished = f;
	s->n_finished++;
}

static void userdb_ldap_close(void *state)
{
	struct userdb_ldap *s = state;
	unsigned i;

	ldap_pool_destroy(&s->pool);
	while (s->lookups != NULL) {
		struct ldap_lookup *l = s->lookups;

		s->lookups = l->next;
		ldap_lookup_free(l);
	}
	ldap_finished_clear(s);
	usercache_destroy(&s->cache);
	for (i = 0; i < LDAP_MAP_MAX; i++)
		free(s->attrs[i]);
	free(s->uris);
	explicit_bzero(s->bind_password, sizeof(s->bind_password));
	free(s);
}

/* ---- lookups ---- */

static void ldap_unlink(struct userdb_ldap *s, struct ldap_lookup *l)
{
	struct ldap_lookup **p;

	for (p = &s->lookups; *p != NULL; p = &(*p)->next) {
		if (*p == l) {
			*p = l->next;
			s->n_lookups--;
			return;
		}
	}
}

/* Not cached; the requests that wait get the error (or a stale entry)
 * when they ask again. */
static void ldap_lookup_failed(struct userdb_ldap *s, struct ldap_lookup *l,
			       const char *why)
{
	char user_log[PASSWD_USER_MAX + 1];

	log_sanitize(l->user, strlen(l->user), user_log, sizeof(user_log));
	log_warn("ldap: lookup of %s failed: %s", user_log, why);
	ldap_unlink(s, l);
	ldap_finished_add(s, l->user, false);
	ldap_lookup_free(l);
	s->completed = true;
}

static void ldap_lookup_finish(struct userdb_ldap *s, struct ldap_lookup *l,
			       uint64_t now)
{
	struct sqlrow_record *r = NULL;
	const char *error;

	if (l->many) {
		ldap_lookup_failed(s, l, "more than one entry matches");
		return;
	}
	if (l->found) {
		r = sqlrow_record_make(&l->line, l->user, "ldap", &error);
		if (r == NULL) {
			ldap_lookup_failed(s, l, error);
			return;
		}
	}
	if (usercache_put(s->cache, l->user, r, now) < 0) {
		ldap_lookup_failed(s, l, "out of memory");
		return;
	}
	ldap_unlink(s, l);
	ldap_finished_add(s, l->user, true);
	ldap_lookup_free(l);
	s->completed = true;
}

/* Sends what is queued while a connection can take it. */
static void ldap_pump(struct userdb_ldap *s, uint64_t now)
{
	struct ldap_lookup *l, *next;
	char filter[LDAP_FILTER_MAX];
	const char *error;

	for (l = s->lookups; l != NULL; l = next) {
		next = l->next;
		if (l->sent)
			continue;
		if (ldap_query_filter(s->filter, l->user, filter,
				      sizeof(filter), &error) < 0) {
			/* a name too long for any filter: nobody's */
			ldap_lookup_finish(s, l, now);
			continue;
		}
		if (ldap_pool_search(s->pool, now, s->base, s->scope, filter,
				     s->attrs, l) < 0)
			return;
		l->sent = true;
	}
}

/* The value of the password field: the first value whose scheme is
 * known (a directory may hold several, one per scheme). */
static const struct berval *ldap_pick(struct berval **vals, bool password)
{
	char buf[PASSWD_LINE_MAX];
	size_t i;

	for (i = 0; password && vals[i] != NULL; i++) {
		bool known;

		if (vals[i]->bv_len >= sizeof(buf))
			continue;
		memcpy(buf, vals[i]->bv_val, vals[i]->bv_len);
		buf[vals[i]->bv_len] = '\0';
		known = password_scheme_known(buf);
		explicit_bzero(buf, sizeof(buf));
		if (known)
			return vals[i];
	}
	return vals[0];
}

static void ldap_take_attr(struct userdb_ldap *s, struct ldap_lookup *l,
			   LDAP *ld, LDAPMessage *msg, const char *attr)
{
	const char *field = ldap_query_field(&s->map, attr);
	struct berval **vals;
	const struct berval *v;
	char buf[PASSWD_LINE_MAX];

	/* bind mode: the password is the directory's to check */
	if (field == NULL || (s->auth_bind && strcmp(field, "password") == 0))
		return;
	vals = ldap_get_values_len(ld, msg, attr);
	if (vals == NULL || vals[0] == NULL) {
		ldap_value_free_len(vals);
		return;
	}
	v = ldap_pick(vals, strcmp(field, "password") == 0);
	if (v->bv_len >= sizeof(buf)) {
		l->line.bad = true;
	} else {
		memcpy(buf, v->bv_val, v->bv_len);
		buf[v->bv_len] = '\0';
		/* a NUL inside makes the lengths differ: refused there */
		sqlrow_column(&l->line, field, buf, v->bv_len);
		explicit_bzero(buf, v->bv_len);
	}
	ldap_value_free_len(vals);
}

/* Bind mode: "{LDAP-BIND}dn" as the password. */
static void ldap_bind_secret(struct ldap_lookup *l, LDAP *ld,
			     LDAPMessage *msg)
{
	char *dn = ldap_get_dn(ld, msg), buf[PASSWD_LINE_MAX];
	int n;

	if (dn == NULL) {
		l->line.bad = true;
		return;
	}
	n = snprintf(buf, sizeof(buf), "{LDAP-BIND}%s", dn);
	if (n < 0 || (size_t)n >= sizeof(buf))
		l->line.bad = true;
	else
		sqlrow_column(&l->line, "password", buf, (size_t)n);
	ldap_memfree(dn);
}

static void ldap_entry(void *context, void *tag, LDAP *ld, LDAPMessage *msg)
{
	struct userdb_ldap *s = context;
	struct ldap_lookup *l = tag;
	BerElement *ber = NULL;
	char *attr;

	if (l->found) {
		l->many = true;
		return;
	}
	l->found = true;
	for (attr = ldap_first_attribute(ld, msg, &ber); attr != NULL;
	     attr = ldap_next_attribute(ld, msg, ber)) {
		ldap_take_attr(s, l, ld, msg, attr);
		ldap_memfree(attr);
	}
	ber_free(ber, 0);
	if (s->auth_bind)
		ldap_bind_secret(l, ld, msg);
}

static void ldap_done(void *context, void *tag, const char *error,
		      bool retry)
{
	struct userdb_ldap *s = context;
	struct ldap_lookup *l = tag;
	uint64_t now = ldap_now_ms();

	l->sent = false;
	if (error == NULL) {
		ldap_lookup_finish(s, l, now);
		return;
	}
	/* a connection lost before its answer: once more on another */
	if (retry && !l->retried && ldap_pool_available(s->pool, now)) {
		l->retried = true;
		l->found = l->many = false;
		sqlrow_line_wipe(&l->line);
		l->queued_ms = now;
		return;
	}
	ldap_lookup_failed(s, l, error);
}

static const struct ldap_pool_ops ldap_ops = {
	.entry = ldap_entry,
	.done = ldap_done,
};

static int ldap_pool_ensure(struct userdb_ldap *s)
{
	const char *error;

	if (s->pool != NULL)
		return 0;
	if (!s->async)
		s->pool_set.size = 1; /* a tool asks once and leaves */
	if (ldap_pool_create(&s->pool_set, &ldap_ops, s, &s->pool,
			     &error) < 0) {
		log_error("ldap: %s", error);
		return -1;
	}
	return 0;
}

/* ---- the driver ---- */

struct ldap_scope_name {
	const char *name;
	int scope;
};

static const struct ldap_scope_name ldap_scopes[] = {
	{ "sub", LDAP_SCOPE_SUBTREE },
	{ "one", LDAP_SCOPE_ONELEVEL },
	{ "base", LDAP_SCOPE_BASE },
};

/* The service bind's password: the file's first line. */
static int ldap_read_password(struct userdb_ldap *s, const char *path,
			      const char **error_r)
{
	char text[sizeof(s->bind_password) + 1];
	ssize_t n;
	size_t len;
	int fd;

	if (path[0] == '\0')
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	n = fd < 0 ? -1 : fileio_read_full(fd, text, sizeof(text) - 1);
	if (fd >= 0)
		close(fd);
	if (n < 0) {
		*error_r = "ldap_bind_password_file cannot be read";
		return -1;
	}
	text[n] = '\0';
	len = strcspn(text, "\r\n");
	if ((size_t)n == sizeof(text) - 1 && len == (size_t)n) {
		explicit_bzero(text, sizeof(text));
		*error_r = "ldap_bind_password_file: longer than 255 octets";
		return -1;
	}
	memcpy(s->bind_password, text, len);
	s->bind_password[len] = '\0';
	explicit_bzero(text, sizeof(text));
	return 0;
}

static int ldap_settings(struct userdb_ldap *s,
			 const struct auth_settings *set,
			 const char **error_r)
{
	unsigned i;

	if (set->ldap_base[0] == '\0') {
		*error_r = "ldap_base is not set";
		return -1;
	}
	snprintf(s->base, sizeof(s->base), "%s", set->ldap_base);
	s->scope = -1;
	for (i = 0; i < sizeof(ldap_scopes) / sizeof(ldap_scopes[0]); i++) {
		if (strcmp(set->ldap_scope, ldap_scopes[i].name) == 0)
			s->scope = ldap_scopes[i].scope;
	}
	if (s->scope < 0) {
		*error_r = "ldap_scope: expected sub, one or base";
		return -1;
	}
	if (ldap_query_filter(set->ldap_user_filter, NULL, NULL, 0,
			      error_r) < 0 ||
	    ldap_query_map(set->ldap_attributes, &s->map, error_r) < 0)
		return -1;
	s->auth_bind = set->ldap_auth_bind;
	if (!s->auth_bind && !ldap_query_maps(&s->map, "password")) {
		*error_r = "ldap_attributes maps no attribute to password "
			   "(and ldap_auth_bind is off)";
		return -1;
	}
	snprintf(s->filter, sizeof(s->filter), "%s", set->ldap_user_filter);
	for (i = 0; i < s->map.n; i++) {
		s->attrs[i] = strdup(s->map.items[i].attr);
		if (s->attrs[i] == NULL) {
			*error_r = "out of memory";
			return -1;
		}
	}
	snprintf(s->bind_dn, sizeof(s->bind_dn), "%s", set->ldap_bind_dn);
	snprintf(s->cafile, sizeof(s->cafile), "%s", set->ldap_tls_cafile);
	return ldap_read_password(s, set->ldap_bind_password_file, error_r);
}

static int userdb_ldap_open(const char *uris, const struct auth_settings *set,
			    void **state_r, const char **error_r)
{
	struct userdb_ldap *s = calloc(1, sizeof(*s));
	struct usercache_settings cs;
	struct ldap_pool *probe = NULL;

	if (s == NULL || (s->uris = strdup(uris)) == NULL) {
		free(s);
		*error_r = "out of memory";
		return -1;
	}
	if (ldap_settings(s, set, error_r) < 0)
		goto out_close;
	s->pool_set.uris = s->uris;
	s->pool_set.size = set->ldap_connections;
	s->pool_set.network_timeout_ms = set->ldap_network_timeout;
	s->pool_set.search_timeout_ms = set->ldap_timeout;
	s->pool_set.starttls = set->ldap_starttls;
	s->pool_set.cafile = s->cafile;
	s->pool_set.bind_dn = s->bind_dn;
	s->pool_set.bind_password = s->bind_password;
	/* the URIs are checked now, the connections made later */
	if (ldap_pool_create(&s->pool_set, &ldap_ops, s, &probe,
			     error_r) < 0)
		goto out_close;
	ldap_pool_destroy(&probe);
	if (s->auth_bind && ldap_bind_setup(&s->pool_set) < 0) {
		*error_r = "ldap_auth_bind: the URIs or ldap_tls_cafile are "
			   "too long";
		goto out_close;
	}
	if (s->auth_bind && set->apop)
		log_warn("ldap: with ldap_auth_bind no stored secret is known: "
			 "APOP fails for the directory's users");
	cs.positive_ttl_ms = (uint64_t)set->user_cache_ttl * 1000;
	cs.negative_ttl_ms = (uint64_t)set->user_cache_negative_ttl * 1000;
	cs.stale_max_ms = (uint64_t)set->user_cache_stale_max * 1000;
	cs.max_entries = set->user_cache_size;
	s->cache = usercache_create(&cs);
	if (s->cache == NULL) {
		*error_r = "out of memory";
		goto out_close;
	}
	*state_r = s;
	return 0;

out_close:
	userdb_ldap_close(s);
	return -1;
}

static void userdb_ldap_set_async(void *state, bool async)
{
	struct userdb_ldap *s = state;

	s->async = async;
	/* in the auth process: connect before the first login asks */
	if (async && ldap_pool_ensure(s) == 0)
		ldap_pool_process(s->pool, ldap_now_ms());
}

static bool userdb_ldap_check(void *state, bool force)
{
	struct userdb_ldap *s = state;

	/* SIGHUP: asked again, but kept for stale use */
	if (force)
		usercache_expire_all(s->cache, ldap_now_ms());
	return false;
}

/* What the cache holds when the directory cannot answer now. */
static enum userdb_status ldap_stale(const char *user, enum usercache_hit hit,
				     const struct sqlrow_record *r,
				     uint64_t age_ms,
				     const struct passwd_entry **entry_r)
{
	char user_log[PASSWD_USER_MAX + 1];

	if (hit != USERCACHE_EXPIRED)
		return USERDB_ERROR;
	log_sanitize(user, strlen(user), user_log, sizeof(user_log));
	log_warn("ldap: directory unavailable: %s answered from the cache "
		 "(stale, %llu s old)", user_log,
		 (unsigned long long)(age_ms / 1000));
	if (r == NULL)
		return USERDB_UNKNOWN;
	*entry_r = &r->entry;
	return USERDB_FOUND;
}

static enum userdb_status userdb_ldap_get(void *state, const char *user,
					  bool cached_only,
					  const struct passwd_entry **entry_r)
{
	struct userdb_ldap *s = state;
	const struct sqlrow_record *r;
	const struct ldap_finished *f;
	struct ldap_lookup *l;
	uint64_t now = ldap_now_ms(), age;
	enum usercache_hit hit;
	size_t len = strlen(user);

	hit = usercache_find(s->cache, user, now, &r, &age);
	f = ldap_finished_find(s, user);
	if (hit == USERCACHE_FRESH ||
	    (hit != USERCACHE_MISS && (cached_only || (f != NULL && f->ok)))) {
		if (r == NULL)
			return USERDB_UNKNOWN;
		*entry_r = &r->entry;
		return USERDB_FOUND;
	}
	if (cached_only || len > PASSWD_USER_MAX)
		return USERDB_UNKNOWN; /* no record could hold it */
	if (ldap_pool_ensure(s) < 0 || (f != NULL && !f->ok) ||
	    !ldap_pool_available(s->pool, now))
		return ldap_stale(user, hit, r, age, entry_r);
	for (l = s->lookups; l != NULL; l = l->next) {
		if (strcmp(l->user, user) == 0)
			return USERDB_PENDING;
	}
	if (s->n_lookups >= LDAP_LOOKUPS_MAX ||
	    (l = calloc(1, sizeof(*l) + len + 1)) == NULL)
		return ldap_stale(user, hit, r, age, entry_r);
	memcpy(l->user, user, len + 1);
	l->queued_ms = now;
	l->next = s->lookups;
	s->lookups = l;
	s->n_lookups++;
	ldap_pump(s, now);
	return USERDB_PENDING;
}

static size_t userdb_ldap_poll_fds(void *state, struct pollfd *fds,
				   size_t max, int *timeout_ms)
{
	struct userdb_ldap *s = state;
	uint64_t now = ldap_now_ms();
	const struct ldap_lookup *l;
	size_t n;

	if (s->pool == NULL)
		return 0;
	n = ldap_pool_poll_fds(s->pool, fds, max, now, timeout_ms);
	/* a queued lookup waits for a connection at most the network
	 * timeout and the search timeout */
	for (l = s->lookups; l != NULL; l = l->next) {
		uint64_t at = l->queued_ms + s->pool_set.network_timeout_ms +
			      s->pool_set.search_timeout_ms;
		int ms = at > now ? (int)(at - now) : 0;

		if (!l->sent && (*timeout_ms < 0 || ms < *timeout_ms))
			*timeout_ms = ms;
	}
	return n;
}

static bool userdb_ldap_process(void *state)
{
	struct userdb_ldap *s = state;
	struct ldap_lookup *l, *next;
	uint64_t now = ldap_now_ms();
	bool up;

	ldap_finished_clear(s);
	s->completed = false;
	if (s->pool == NULL)
		return false;
	ldap_pool_process(s->pool, now);
	up = ldap_pool_available(s->pool, now);
	for (l = s->lookups; l != NULL; l = next) {
		next = l->next;
		if (l->sent)
			continue;
		if (!up)
			ldap_lookup_failed(s, l, "no directory server is up");
		else if (now >= l->queued_ms + s->pool_set.network_timeout_ms +
				 s->pool_set.search_timeout_ms)
			ldap_lookup_failed(s, l, "no connection within the "
					   "timeouts");
	}
	ldap_pump(s, now);
	return s->completed;
}

static void userdb_ldap_flush(void *state, const char *user)
{
	struct userdb_ldap *s = state;

	if (user == NULL)
		usercache_clear(s->cache);
	else
		usercache_drop(s->cache, user);
}

/* Listing a directory is not offered (satchel user list shows the
 * passwd-file and SQL users): the auth process's dummy hash comes from
 * the first user it looks up (auth_db.c). */
static void userdb_ldap_each(void *state, userdb_each_fn *fn, void *context)
{
	(void)state;
	(void)fn;
	(void)context;
}

static bool userdb_ldap_plaintext_only(void *state)
{
	const struct userdb_ldap *s = state;

	return s->auth_bind;
}

const struct userdb_driver userdb_ldap_driver = {
	.name = "ldap",
	.open = userdb_ldap_open,
	.check = userdb_ldap_check,
	.get = userdb_ldap_get,
	.each = userdb_ldap_each,
	.close = userdb_ldap_close,
	.set_async = userdb_ldap_set_async,
	.poll_fds = userdb_ldap_poll_fds,
	.process = userdb_ldap_process,
	.flush = userdb_ldap_flush,
	.plaintext_only = userdb_ldap_plaintext_only,
};
