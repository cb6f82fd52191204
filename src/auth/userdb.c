/* userdb.c: the chain of user databases (userdb.h): parsing users =,
 * opening each driver, and asking them in order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/userdb_private.h"

static const struct userdb_driver *const userdb_drivers[] = {
	&userdb_passwd_driver,
	&userdb_sqlite_driver,
	&userdb_pgsql_driver,
	&userdb_ldap_driver,
	&userdb_pam_driver,
};

struct userdb_link {
	const struct userdb_driver *driver;
	void *state;
};

struct userdb {
	struct userdb_link links[USERDB_CHAIN_MAX];
	unsigned n_links;
	bool async;
	char describe[AUTH_SETTING_STR + 16];
};

/* One "driver:path" item of spec [item, item + len). */
static const struct userdb_driver *userdb_item(const char *item, size_t len,
					       const char **path_r,
					       size_t *path_len_r)
{
	size_t i;

	for (i = 0; i < sizeof(userdb_drivers) / sizeof(userdb_drivers[0]);
	     i++) {
		const struct userdb_driver *d = userdb_drivers[i];
		size_t n = strlen(d->name);

		if (len > n + 1 && memcmp(item, d->name, n) == 0 &&
		    item[n] == ':') {
			*path_r = item + n + 1;
			*path_len_r = len - n - 1;
			return d;
		}
		/* "pam" alone: its default service */
		if (d->path_optional && len == n &&
		    memcmp(item, d->name, n) == 0) {
			*path_r = item + n;
			*path_len_r = 0;
			return d;
		}
	}
	return NULL;
}

/* The ',' that ends the item at p, or NULL: only one followed by a
 * driver's prefix, since a conninfo has commas of its own (host=a,b). */
static const char *userdb_item_end(const char *p)
{
	const char *c, *path;
	size_t path_len;

	for (c = strchr(p, ','); c != NULL; c = strchr(c + 1, ',')) {
		const char *q = c + 1;

		while (*q == ' ' || *q == '\t')
			q++;
		if (userdb_item(q, strcspn(q, ", \t"), &path, &path_len) !=
			    NULL ||
		    userdb_item(q, strlen(q), &path, &path_len) != NULL)
			return c;
	}
	return NULL;
}

/* Calls fn for each item; -1 with *error_r at the first bad one. */
static int userdb_spec_walk(const char *spec,
			    int (*fn)(const struct userdb_driver *d,
				      const char *path, void *context),
			    void *context, const char **error_r)
{
	const char *p = spec;
	unsigned n = 0;

	while (*p != '\0') {
		const char *end = userdb_item_end(p), *path;
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
		size_t path_len;
		const struct userdb_driver *d;
		char buf[AUTH_SETTING_STR];

		while (len > 0 && (*p == ' ' || *p == '\t')) {
			p++;
			len--;
		}
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		d = userdb_item(p, len, &path, &path_len);
		if (d == NULL) {
			*error_r = "expected passwd-file:PATH, "
				   "sqlite:PATH, pgsql:CONNINFO, ldap:URIS or "
				   "pam[:SERVICE] (comma-separated)";
			return -1;
		}
		if (++n > USERDB_CHAIN_MAX || path_len >= sizeof(buf)) {
			*error_r = n > USERDB_CHAIN_MAX ?
					   "too many user databases" :
					   "path too long";
			return -1;
		}
		memcpy(buf, path, path_len);
		buf[path_len] = '\0';
		if (fn != NULL && fn(d, buf, context) < 0) {
			*error_r = NULL; /* the callback's, see its caller */
			return -1;
		}
		if (end == NULL)
			break;
		p = end + 1;
	}
	if (n == 0) {
		*error_r = "no user database";
		return -1;
	}
	return 0;
}

static int userdb_check_cb(const struct userdb_driver *d, const char *path,
			   void *context)
{
	const char **error_r = context;

	return d->spec_check != NULL ? d->spec_check(path, error_r) : 0;
}

int userdb_spec_check(const char *spec, const char **error_r)
{
	const char *error = NULL;

	if (userdb_spec_walk(spec, userdb_check_cb, &error, error_r) < 0) {
		if (*error_r == NULL)
			*error_r = error;
		return -1;
	}
	return 0;
}

struct userdb_settings_walk {
	const struct auth_settings *set;
	const char *error;
};

static int userdb_settings_cb(const struct userdb_driver *d,
			      const char *path, void *context)
{
	struct userdb_settings_walk *w = context;

	(void)path;
	return d->settings_check != NULL ?
	       d->settings_check(w->set, &w->error) : 0;
}

int userdb_settings_check(const struct auth_settings *set,
			  const char **error_r)
{
	struct userdb_settings_walk w = { set, NULL };

	if (set->users[0] == '\0')
		return 0;
	if (userdb_spec_walk(set->users, userdb_settings_cb, &w,
			     error_r) < 0) {
		if (*error_r == NULL)
			*error_r = w.error;
		return -1;
	}
	return 0;
}

struct userdb_path_find {
	const char *driver;
	char *buf;
	size_t size;
	bool found;
};

static int userdb_path_cb(const struct userdb_driver *d, const char *path,
			  void *context)
{
	struct userdb_path_find *f = context;

	if (!f->found && strcmp(d->name, f->driver) == 0 &&
	    strlen(path) < f->size) {
		strcpy(f->buf, path);
		f->found = true;
	}
	return 0;
}

bool userdb_spec_path(const char *spec, const char *driver, char *buf,
		      size_t size)
{
	struct userdb_path_find f = { driver, buf, size, false };
	const char *error;

	return userdb_spec_walk(spec, userdb_path_cb, &f, &error) == 0 &&
	       f.found;
}

static int userdb_has_cb(const struct userdb_driver *d, const char *path,
			 void *context)
{
	struct userdb_path_find *f = context;

	(void)path;
	if (strcmp(d->name, f->driver) == 0)
		f->found = true;
	return 0;
}

bool userdb_spec_has(const char *spec, const char *driver)
{
	struct userdb_path_find f = { driver, NULL, 0, false };
	const char *error;

	return userdb_spec_walk(spec, userdb_has_cb, &f, &error) == 0 &&
	       f.found;
}

struct userdb_opening {
	struct userdb *db;
	const struct auth_settings *set;
	const char *error;
};

static int userdb_open_cb(const struct userdb_driver *d, const char *path,
			  void *context)
{
	struct userdb_opening *o = context;
	struct userdb_link *l = &o->db->links[o->db->n_links];

	if (d->open(path, o->set, &l->state, &o->error) < 0)
		return -1;
	l->driver = d;
	o->db->n_links++;
	return 0;
}

int userdb_open(const struct auth_settings *set, struct userdb **db_r,
		const char **error_r)
{
	struct userdb_opening o = { NULL, set, NULL };
	char spec[AUTH_SETTING_STR + 16];

	o.db = calloc(1, sizeof(*o.db));
	if (o.db == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	if (set->users[0] != '\0')
		snprintf(spec, sizeof(spec), "%s", set->users);
	else
		snprintf(spec, sizeof(spec), "passwd-file:%s",
			 set->passwd_file);
	snprintf(o.db->describe, sizeof(o.db->describe), "%s", spec);
	if (userdb_spec_walk(spec, userdb_open_cb, &o, error_r) < 0) {
		if (*error_r == NULL)
			*error_r = o.error;
		userdb_close(&o.db);
		return -1;
	}
	*db_r = o.db;
	return 0;
}

bool userdb_check(struct userdb *db, bool force)
{
	bool changed = false;
	unsigned i;

	for (i = 0; db != NULL && i < db->n_links; i++)
		changed |= db->links[i].driver->check(db->links[i].state,
						      force);
	return changed;
}

/* The chain's answer, in either mode. */
static enum userdb_status userdb_ask(struct userdb *db, const char *user,
				     bool cached_only,
				     const struct passwd_entry **entry_r)
{
	unsigned i;

	*entry_r = NULL;
	if (db == NULL)
		return USERDB_ERROR;
	for (i = 0; i < db->n_links; i++) {
		enum userdb_status st =
			db->links[i].driver->get(db->links[i].state, user,
						 cached_only, entry_r);

		/* an earlier database that cannot answer (yet) might have
		 * known the user: a later one must not answer for it */
		if (st != USERDB_UNKNOWN)
			return st;
	}
	return USERDB_UNKNOWN;
}

/* Blocking mode: waits for the drivers until the lookup is answered
 * (each driver bounds its lookups by its timeouts). */
static void userdb_wait(struct userdb *db)
{
	struct pollfd fds[USERDB_POLL_MAX];
	int timeout = -1;
	size_t n = userdb_poll_fds(db, fds, USERDB_POLL_MAX, &timeout);

	if (n > 0 || timeout >= 0)
		(void)poll(fds, n, timeout < 0 || timeout > 1000 ? 1000 :
			   timeout);
	(void)userdb_process(db);
}

enum userdb_status userdb_get(struct userdb *db, const char *user,
			      const struct passwd_entry **entry_r)
{
	enum userdb_status st = userdb_ask(db, user, false, entry_r);

	while (st == USERDB_PENDING && !db->async) {
		userdb_wait(db);
		st = userdb_ask(db, user, false, entry_r);
	}
	return st;
}

const struct passwd_entry *userdb_lookup(struct userdb *db, const char *user)
{
	const struct passwd_entry *entry;

	return userdb_get(db, user, &entry) == USERDB_FOUND ? entry : NULL;
}

const struct passwd_entry *userdb_lookup_cached(struct userdb *db,
						const char *user)
{
	const struct passwd_entry *entry;

	return userdb_ask(db, user, true, &entry) == USERDB_FOUND ? entry :
								    NULL;
}

void userdb_set_async(struct userdb *db, bool async)
{
	unsigned i;

	db->async = async;
	for (i = 0; i < db->n_links; i++) {
		if (db->links[i].driver->set_async != NULL)
			db->links[i].driver->set_async(db->links[i].state,
						       async);
	}
}

size_t userdb_poll_fds(struct userdb *db, struct pollfd *fds, size_t max,
		       int *timeout_ms)
{
	size_t n = 0;
	unsigned i;

	for (i = 0; db != NULL && i < db->n_links; i++) {
		if (db->links[i].driver->poll_fds != NULL)
			n += db->links[i].driver->poll_fds(
				db->links[i].state, fds + n, max - n,
				timeout_ms);
	}
	return n;
}

bool userdb_process(struct userdb *db)
{
	bool done = false;
	unsigned i;

	for (i = 0; db != NULL && i < db->n_links; i++) {
		if (db->links[i].driver->process != NULL)
			done |= db->links[i].driver->process(
				db->links[i].state);
	}
	return done;
}

void userdb_flush(struct userdb *db, const char *user)
{
	unsigned i;

	for (i = 0; db != NULL && i < db->n_links; i++) {
		if (db->links[i].driver->flush != NULL)
			db->links[i].driver->flush(db->links[i].state, user);
	}
}

struct userdb_each_chain {
	struct userdb *db;
	unsigned link;
	userdb_each_fn *fn;
	void *context;
	bool stopped;
};

/* A user an earlier database holds is that one's (the chain's rule). */
static bool userdb_each_cb(const struct passwd_entry *entry, void *context)
{
	struct userdb_each_chain *c = context;
	const struct passwd_entry *earlier;
	unsigned i;

	for (i = 0; i < c->link; i++) {
		if (c->db->links[i].driver->get(c->db->links[i].state,
						entry->user, true, &earlier) !=
		    USERDB_UNKNOWN)
			return true;
	}
	if (!c->fn(entry, c->context))
		c->stopped = true;
	return !c->stopped;
}

void userdb_each(struct userdb *db, userdb_each_fn *fn, void *context)
{
	struct userdb_each_chain c = { db, 0, fn, context, false };

	for (c.link = 0; db != NULL && c.link < db->n_links && !c.stopped;
	     c.link++)
		db->links[c.link].driver->each(db->links[c.link].state,
					       userdb_each_cb, &c);
}

bool userdb_plaintext_only(const struct userdb *db)
{
	unsigned i;

	for (i = 0; db != NULL && i < db->n_links; i++) {
		if (db->links[i].driver->plaintext_only != NULL &&
		    db->links[i].driver->plaintext_only(db->links[i].state))
			return true;
	}
	return false;
}

bool userdb_verify_own(const char *stored)
{
	return strncmp(stored, "{PAM}", 5) == 0;
}

int userdb_verify_submit(struct userdb *db, const char *stored,
			 const struct userdb_verify *v)
{
	unsigned i;

	for (i = 0; db != NULL && db->async && i < db->n_links; i++) {
		const struct userdb_driver *d = db->links[i].driver;

		if (d->verify_submit != NULL &&
		    d->verify_submit(db->links[i].state, stored, v) == 0)
			return 0;
	}
	return -1;
}

bool userdb_verify_take(struct userdb *db, void **cookie_r,
			enum userdb_verdict *verdict_r)
{
	unsigned i;

	for (i = 0; db != NULL && i < db->n_links; i++) {
		const struct userdb_driver *d = db->links[i].driver;

		if (d->verify_take != NULL &&
		    d->verify_take(db->links[i].state, cookie_r, verdict_r))
			return true;
	}
	return false;
}

const char *userdb_dummy(const struct userdb *db)
{
	unsigned i;

	for (i = 0; db != NULL && i < db->n_links; i++) {
		const struct userdb_driver *d = db->links[i].driver;
		const char *dummy;

		if (d->dummy != NULL &&
		    (dummy = d->dummy(db->links[i].state)) != NULL)
			return dummy;
	}
	return NULL;
}

const char *userdb_describe(const struct userdb *db)
{
	return db != NULL ? db->describe : "(none)";
}

void userdb_close(struct userdb **dbp)
{
	struct userdb *db = *dbp;
	unsigned i;

	if (db == NULL)
		return;
	*dbp = NULL;
	for (i = 0; i < db->n_links; i++)
		db->links[i].driver->close(db->links[i].state);
	free(db);
}
