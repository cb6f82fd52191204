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
#include <unistd.h>

#include "auth/ldap_bind.h"
#include "auth/ldap_pool.h"
#include "auth/ldap_query.h"
#include "auth/password.h"
#include "auth/userdb_private.h"
#include "auth/userdb_remote.h"
#include "util/fileio.h"
#include "util/log.h"

#define LDAP_FILTER_MAX 2048

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
	struct remote_db remote;       /* cache and lookups */
	bool async;
};

static void userdb_ldap_close(void *state)
{
	struct userdb_ldap *s = state;
	unsigned i;

	ldap_pool_destroy(&s->pool);
	remote_db_deinit(&s->remote);
	for (i = 0; i < LDAP_MAP_MAX; i++)
		free(s->attrs[i]);
	free(s->uris);
	explicit_bzero(s->bind_password, sizeof(s->bind_password));
	free(s);
}

/* ---- lookups ---- */

/* Sends what is queued while a connection can take it. */
static void ldap_pump(struct userdb_ldap *s, uint64_t now)
{
	struct remote_lookup *l, *next;
	char filter[LDAP_FILTER_MAX];
	const char *error;

	for (l = s->remote.lookups; l != NULL; l = next) {
		next = l->next;
		if (l->sent)
			continue;
		if (ldap_query_filter(s->filter, l->user, filter,
				      sizeof(filter), &error) < 0) {
			/* a name too long for any filter: nobody's */
			remote_lookup_finish(&s->remote, l, now);
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

static void ldap_take_attr(struct userdb_ldap *s, struct remote_lookup *l,
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
static void ldap_bind_secret(struct remote_lookup *l, LDAP *ld,
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
	struct remote_lookup *l = tag;
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
	struct remote_lookup *l = tag;
	uint64_t now = remote_now_ms();

	l->sent = false;
	if (error == NULL) {
		if (l->many)
			remote_lookup_failed(&s->remote, l, "more than one "
					     "entry matches");
		else
			remote_lookup_finish(&s->remote, l, now);
		return;
	}
	/* a connection lost before its answer: once more on another */
	if (retry && !l->retried && ldap_pool_available(s->pool, now)) {
		l->retried = true;
		remote_lookup_requeue(l, now);
		return;
	}
	remote_lookup_failed(&s->remote, l, error);
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
	return 0;
}

/* The ldap_* keys as the config's check sees them (nothing read). */
static int userdb_ldap_settings_check(const struct auth_settings *set,
				      const char **error_r)
{
	struct userdb_ldap *s = calloc(1, sizeof(*s));
	unsigned i;
	int ret;

	if (s == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	ret = ldap_settings(s, set, error_r);
	for (i = 0; i < LDAP_MAP_MAX; i++)
		free(s->attrs[i]);
	free(s);
	return ret;
}

/* users = ldap:URIS as the config's check sees it: URIs only */
static int userdb_ldap_spec_check(const char *uris, const char **error_r)
{
	char copy[AUTH_SETTING_STR], *tok, *save = NULL;
	unsigned n = 0;

	/* at config time, in the master: libldap is loaded there, before
	 * any fork, and a missing one is a config error */
	if (libldap_load(error_r) < 0)
		return -1;
	if (strlen(uris) >= sizeof(copy)) {
		*error_r = "the LDAP URIs are too long";
		return -1;
	}
	strcpy(copy, uris);
	for (tok = strtok_r(copy, " \t", &save); tok != NULL;
	     tok = strtok_r(NULL, " \t", &save)) {
		if ((!ldap_is_ldap_url(tok) && !ldap_is_ldaps_url(tok)) ||
		    ++n > LDAP_URIS_MAX) {
			*error_r = "ldap: takes up to 8 ldap://HOST[:PORT] or "
				   "ldaps://HOST[:PORT] URIs, blank-separated";
			return -1;
		}
	}
	if (n == 0) {
		*error_r = "ldap: needs a URI";
		return -1;
	}
	return 0;
}

static int userdb_ldap_open(const char *uris, const struct auth_settings *set,
			    void **state_r, const char **error_r)
{
	struct ldap_pool *probe = NULL;
	struct userdb_ldap *s;

	if (libldap_load(error_r) < 0)
		return -1;
	s = calloc(1, sizeof(*s));
	if (s == NULL || (s->uris = strdup(uris)) == NULL) {
		free(s);
		*error_r = "out of memory";
		return -1;
	}
	if (ldap_settings(s, set, error_r) < 0 ||
	    ldap_read_password(s, set->ldap_bind_password_file, error_r) < 0)
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
	if (remote_db_init(&s->remote, "ldap", set, error_r) < 0)
		goto out_close;
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
		ldap_pool_process(s->pool, remote_now_ms());
}

static bool userdb_ldap_check(void *state, bool force)
{
	struct userdb_ldap *s = state;

	remote_db_check(&s->remote, force);
	return false;
}

static enum userdb_status userdb_ldap_get(void *state, const char *user,
					  bool cached_only,
					  const struct passwd_entry **entry_r)
{
	struct userdb_ldap *s = state;
	struct remote_lookup *l;
	enum userdb_status st;
	bool available = !cached_only && ldap_pool_ensure(s) == 0 &&
			 ldap_pool_available(s->pool, remote_now_ms());

	st = remote_db_get(&s->remote, user, cached_only, available, entry_r,
			   &l);
	if (l != NULL)
		ldap_pump(s, l->queued_ms);
	return st;
}

/* a queued lookup waits for a connection at most the network timeout
 * and the search timeout */
static uint64_t ldap_wait_ms(const struct userdb_ldap *s)
{
	return (uint64_t)s->pool_set.network_timeout_ms +
	       s->pool_set.search_timeout_ms;
}

static size_t userdb_ldap_poll_fds(void *state, struct pollfd *fds,
				   size_t max, int *timeout_ms)
{
	struct userdb_ldap *s = state;
	uint64_t now = remote_now_ms();
	size_t n;

	if (s->pool == NULL)
		return 0;
	n = ldap_pool_poll_fds(s->pool, fds, max, now, timeout_ms);
	remote_db_timeout(&s->remote, now, ldap_wait_ms(s), timeout_ms);
	return n;
}

static bool userdb_ldap_process(void *state)
{
	struct userdb_ldap *s = state;
	uint64_t now = remote_now_ms();

	remote_db_round(&s->remote);
	if (s->pool == NULL)
		return false;
	ldap_pool_process(s->pool, now);
	remote_db_expire(&s->remote, ldap_pool_available(s->pool, now), now,
			 ldap_wait_ms(s), "no directory server is up",
			 "no connection within the timeouts");
	ldap_pump(s, now);
	return s->remote.completed;
}

static void userdb_ldap_flush(void *state, const char *user)
{
	struct userdb_ldap *s = state;

	remote_db_flush(&s->remote, user);
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
	.spec_check = userdb_ldap_spec_check,
	.settings_check = userdb_ldap_settings_check,
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
