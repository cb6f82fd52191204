/* userdb_sqlite.c: the SQLite driver (userdb_private.h).
 *
 * A user is read with sql_password_query (and sql_user_query, when set,
 * for the delivery fields), where %u (the name as given), %n (its local
 * part) and %d (its domain) become bound parameters ?1 ?2 ?3: never text
 * pasted into the SQL. Result rows become records as in every SQL driver
 * (userdb_sqlrow.h: the columns by name, through the passwd-file's
 * parser).
 *
 * Records are kept (the positive cache) until another connection
 * commits: PRAGMA data_version, read at every userdb_check(), is cheap
 * (a few microseconds) and changes exactly then, so a `satchel user passwd` counts from the
 * next request. Unknown users are not kept. The connection only reads
 * (SELECT); WAL readers never wait for a writer, and a busy timeout
 * covers the short moments when they must (a checkpoint's restart). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "auth/userdb_private.h"
#include "auth/userdb_sqlrow.h"
#include "util/log.h"

#define SQLITE_BUSY_MS 2000
/* records kept at most; more are dropped at the next check */
#define SQLITE_CACHE_MAX 65536
#define SQLITE_BUCKETS 1024

struct userdb_sqlite {
	char *path;
	sqlite3 *db;
	sqlite3_stmt *password_stmt, *user_stmt, *iterate_stmt;
	sqlite3_stmt *version_stmt;
	int data_version;
	struct sqlrow_record *buckets[SQLITE_BUCKETS];
	size_t cached;
};

static int sqlite_prepare(struct userdb_sqlite *s, const char *tmpl,
			  sqlite3_stmt **stmt_r, const char **error_r)
{
	char sql[AUTH_SETTING_STR * 2];

	*stmt_r = NULL;
	if (tmpl[0] == '\0')
		return 0;
	if (sqlrow_template(tmpl, SQLROW_QMARK, sql, sizeof(sql), error_r) < 0)
		return -1;
	if (sqlite3_prepare_v2(s->db, sql, -1, stmt_r, NULL) != SQLITE_OK) {
		log_error("sqlite %s: %s: %s", s->path, sql,
			  sqlite3_errmsg(s->db));
		*error_r = "a query does not prepare (see the log)";
		return -1;
	}
	return 0;
}

static void sqlite_cache_clear(struct userdb_sqlite *s)
{
	size_t i;

	for (i = 0; i < SQLITE_BUCKETS; i++) {
		while (s->buckets[i] != NULL) {
			struct sqlrow_record *r = s->buckets[i];

			s->buckets[i] = r->next;
			sqlrow_record_free(&r);
		}
	}
	s->cached = 0;
}

static size_t sqlite_bucket(const char *user)
{
	size_t h = 5381;

	for (; *user != '\0'; user++)
		h = h * 33 + (unsigned char)*user;
	return h % SQLITE_BUCKETS;
}

static void userdb_sqlite_close(void *state)
{
	struct userdb_sqlite *s = state;

	sqlite_cache_clear(s);
	sqlite3_finalize(s->password_stmt);
	sqlite3_finalize(s->user_stmt);
	sqlite3_finalize(s->iterate_stmt);
	sqlite3_finalize(s->version_stmt);
	sqlite3_close(s->db);
	free(s->path);
	free(s);
}

/* PRAGMA data_version: a new value after another connection commits
 * (the pragma reads it in a read transaction of its own; the file
 * control of that name would not see a commit made meanwhile). */
static int sqlite_data_version(struct userdb_sqlite *s, int *version_r)
{
	int rc;

	sqlite3_reset(s->version_stmt);
	rc = sqlite3_step(s->version_stmt);
	if (rc == SQLITE_ROW)
		*version_r = sqlite3_column_int(s->version_stmt, 0);
	sqlite3_reset(s->version_stmt);
	return rc == SQLITE_ROW ? 0 : -1;
}

static int userdb_sqlite_open(const char *path,
			      const struct auth_settings *set, void **state_r,
			      const char **error_r)
{
	struct userdb_sqlite *s = calloc(1, sizeof(*s));

	if (s == NULL || (s->path = strdup(path)) == NULL) {
		free(s);
		*error_r = "out of memory";
		return -1;
	}
	/* read-write where the files allow, though it only reads: a WAL
	 * reader must be able to make the -shm index when no writer has
	 * (the database's directory must then be writable for it) */
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE |
			    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		sqlite3_close(s->db);
		s->db = NULL;
	}
	if (s->db == NULL &&
	    sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READONLY |
			    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		log_error("sqlite %s: %s", path, s->db != NULL ?
			  sqlite3_errmsg(s->db) : "out of memory");
		*error_r = "cannot open the SQLite user database";
		goto out_close;
	}
	sqlite3_busy_timeout(s->db, SQLITE_BUSY_MS);
	if (sqlite_prepare(s, set->sql_password_query, &s->password_stmt,
			   error_r) < 0 ||
	    sqlite_prepare(s, set->sql_user_query, &s->user_stmt,
			   error_r) < 0 ||
	    sqlite_prepare(s, set->sql_iterate_query, &s->iterate_stmt,
			   error_r) < 0)
		goto out_close;
	if (s->password_stmt == NULL && s->user_stmt == NULL) {
		*error_r = "sql_password_query and sql_user_query are empty";
		goto out_close;
	}
	if (sqlite3_prepare_v2(s->db, "PRAGMA data_version", -1,
			       &s->version_stmt, NULL) != SQLITE_OK ||
	    sqlite_data_version(s, &s->data_version) < 0) {
		*error_r = "cannot read the SQLite data version";
		goto out_close;
	}
	*state_r = s;
	return 0;

out_close:
	userdb_sqlite_close(s);
	return -1;
}

static bool userdb_sqlite_check(void *state, bool force)
{
	struct userdb_sqlite *s = state;
	int version;

	if (sqlite_data_version(s, &version) < 0)
		version = s->data_version + 1; /* unknown: forget all */
	if (!force && version == s->data_version &&
	    s->cached < SQLITE_CACHE_MAX)
		return false;
	s->data_version = version;
	sqlite_cache_clear(s);
	/* the records go; what is derived from every user (the dummy, the
	 * mechanism counts: a pass over sql_iterate_query) is redone only on
	 * open and SIGHUP, not at every commit (satchel.conf.5) */
	return force;
}

static void sqlite_take_row(sqlite3_stmt *st, struct sqlrow_line *l)
{
	int i, n = sqlite3_column_count(st);

	for (i = 0; i < n; i++) {
		const char *v = (const char *)sqlite3_column_text(st, i);

		sqlrow_column(l, sqlite3_column_name(st, i), v,
			      v != NULL ? (size_t)sqlite3_column_bytes(st, i) :
					  0);
	}
}

/* Runs st for user: 1 with the row taken into l, 0 for no row, -1 on an
 * error (logged). */
static int sqlite_run(struct userdb_sqlite *s, sqlite3_stmt *st,
		      const char *user, struct sqlrow_line *l)
{
	const char *values[SQLROW_PARAMS];
	int lens[SQLROW_PARAMS];
	int i, count, rc, found = 0;

	sqlrow_params(user, values, lens);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	/* a query may use only some of ?1 ?2 ?3 */
	count = sqlite3_bind_parameter_count(st);
	for (i = 0; i < SQLROW_PARAMS && i < count; i++) {
		if (sqlite3_bind_text(st, i + 1, values[i], lens[i],
				      SQLITE_STATIC) != SQLITE_OK)
			goto out_error;
	}
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		sqlite_take_row(st, l);
		found = 1;
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			log_error("sqlite %s: more than one row for a user",
				  s->path);
			sqlite3_reset(st);
			return -1;
		}
	}
	if (rc != SQLITE_DONE)
		goto out_error;
	sqlite3_reset(st);
	return found;

out_error:
	log_error("sqlite %s: %s", s->path, sqlite3_errmsg(s->db));
	sqlite3_reset(st);
	return -1;
}

static enum userdb_status userdb_sqlite_get(void *state, const char *user,
					    bool cached_only,
					    const struct passwd_entry **entry_r)
{
	struct userdb_sqlite *s = state;
	size_t b = sqlite_bucket(user);
	struct sqlrow_record *r;
	struct sqlrow_line *l;
	const char *error;
	int found = 0, more;

	for (r = s->buckets[b]; r != NULL; r = r->next) {
		if (strcmp(r->entry.user, user) == 0) {
			*entry_r = &r->entry;
			return USERDB_FOUND;
		}
	}
	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return USERDB_ERROR;
	if (s->password_stmt != NULL &&
	    (found = sqlite_run(s, s->password_stmt, user, l)) < 0)
		goto out_error;
	if (s->user_stmt != NULL && (found > 0 || s->password_stmt == NULL)) {
		more = sqlite_run(s, s->user_stmt, user, l);
		if (more < 0)
			goto out_error;
		found |= more;
	}
	if (found == 0) {
		free(l);
		return USERDB_UNKNOWN;
	}
	r = sqlrow_record_make(l, user, s->path, &error);
	sqlrow_line_wipe(l);
	free(l);
	if (r == NULL)
		return USERDB_ERROR;
	r->next = s->buckets[b];
	s->buckets[b] = r;
	s->cached++;
	*entry_r = &r->entry;
	return USERDB_FOUND;

out_error:
	sqlrow_line_wipe(l);
	free(l);
	return USERDB_ERROR;
}

static void userdb_sqlite_each(void *state, userdb_each_fn *fn, void *context)
{
	struct userdb_sqlite *s = state;
	sqlite3_stmt *st = s->iterate_stmt;
	int rc;

	if (st == NULL)
		return;
	sqlite3_reset(st);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct sqlrow_line *l = calloc(1, sizeof(*l));
		struct sqlrow_record *r;
		const char *error;
		bool go_on;

		if (l == NULL)
			break;
		sqlite_take_row(st, l);
		r = sqlrow_record_make(l, NULL, s->path, &error);
		sqlrow_line_wipe(l);
		free(l);
		if (r == NULL)
			continue;
		go_on = fn(&r->entry, context);
		sqlrow_record_free(&r);
		if (!go_on)
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		log_error("sqlite %s: %s", s->path, sqlite3_errmsg(s->db));
	sqlite3_reset(st);
}

/* satchel auth flush: the records are read again */
static void userdb_sqlite_flush(void *state, const char *user)
{
	(void)user;
	sqlite_cache_clear(state);
}

const struct userdb_driver userdb_sqlite_driver = {
	.name = "sqlite",
	.open = userdb_sqlite_open,
	.check = userdb_sqlite_check,
	.get = userdb_sqlite_get,
	.each = userdb_sqlite_each,
	.close = userdb_sqlite_close,
	.flush = userdb_sqlite_flush,
};
