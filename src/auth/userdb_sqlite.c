/* userdb_sqlite.c: the SQLite driver (userdb_private.h).
 *
 * A user is read with sql_password_query (and sql_user_query, when set,
 * for the delivery fields), where %u (the name as given), %n (its local
 * part) and %d (its domain) become bound parameters ?1 ?2 ?3: never text
 * pasted into the SQL. Result columns are taken by name: user, password,
 * secrets (blank-separated {SCHEME} secrets), uid, gid, home, mail,
 * quota_bytes, quota_messages, login_delay, expire; others are ignored.
 * A row becomes a passwd-file line and goes through the passwd-file's
 * parser (passwd.h), so a record means the same whichever database holds
 * it, and a value the file could not hold (a ':' in a field, a blank in
 * an extra value) is refused as it would be there.
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
#include "util/log.h"

#define SQLITE_BUSY_MS 2000
/* records kept at most; more are dropped at the next check */
#define SQLITE_CACHE_MAX 65536
#define SQLITE_BUCKETS 1024

struct sqlite_record {
	struct sqlite_record *next;
	struct passwd_entry entry;     /* points into line */
	char line[];
};

struct userdb_sqlite {
	char *path;
	sqlite3 *db;
	sqlite3_stmt *password_stmt, *user_stmt, *iterate_stmt;
	sqlite3_stmt *version_stmt;
	int data_version;
	struct sqlite_record *buckets[SQLITE_BUCKETS];
	size_t cached;
};

/* "...%u..." into "...?1..." (%n ?2, %d ?3, %% %). -1 on another
 * variable or no room. */
static int sqlite_template(const char *tmpl, char *out, size_t size,
			   const char **error_r)
{
	size_t o = 0;
	const char *p;

	for (p = tmpl; *p != '\0'; p++) {
		const char *put = NULL;
		char one[2] = { *p, '\0' };

		if (*p == '%') {
			switch (p[1]) {
			case 'u': put = "?1"; break;
			case 'n': put = "?2"; break;
			case 'd': put = "?3"; break;
			case '%': put = "%"; break;
			default:
				*error_r = "a query may use only %u, %n, %d "
					   "and %%";
				return -1;
			}
			p++;
		} else {
			put = one;
		}
		if (o + strlen(put) >= size) {
			*error_r = "query too long";
			return -1;
		}
		memcpy(out + o, put, strlen(put));
		o += strlen(put);
	}
	out[o] = '\0';
	return 0;
}

static int sqlite_prepare(struct userdb_sqlite *s, const char *tmpl,
			  sqlite3_stmt **stmt_r, const char **error_r)
{
	char sql[AUTH_SETTING_STR * 2];

	*stmt_r = NULL;
	if (tmpl[0] == '\0')
		return 0;
	if (sqlite_template(tmpl, sql, sizeof(sql), error_r) < 0)
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
			struct sqlite_record *r = s->buckets[i];

			s->buckets[i] = r->next;
			explicit_bzero(r->line, strlen(r->line));
			free(r);
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

/* The line being built from one user's columns. */
struct sqlite_line {
	char user[PASSWD_USER_MAX + 1];
	char password[PASSWD_LINE_MAX];
	char ids[2][24];
	char home[PASSWD_LINE_MAX];
	char extra[PASSWD_LINE_MAX];
	size_t extra_len;
	bool bad;
};

static bool sqlite_value_ok(const char *v, bool in_extra)
{
	for (; *v != '\0'; v++) {
		if (*v == '\n' || *v == '\r' ||
		    (in_extra ? (*v == ' ' || *v == '\t') : *v == ':'))
			return false;
	}
	return true;
}

static void sqlite_copy(struct sqlite_line *l, char *dst, size_t size,
			const char *v)
{
	if (!sqlite_value_ok(v, false) || strlen(v) >= size)
		l->bad = true;
	else
		strcpy(dst, v);
}

static void sqlite_extra(struct sqlite_line *l, const char *key,
			 const char *v)
{
	int n;

	if (!sqlite_value_ok(v, true)) {
		l->bad = true;
		return;
	}
	n = snprintf(l->extra + l->extra_len, sizeof(l->extra) - l->extra_len,
		     "%s%s=%s", l->extra_len > 0 ? " " : "", key, v);
	if (n < 0 || (size_t)n >= sizeof(l->extra) - l->extra_len)
		l->bad = true;
	else
		l->extra_len += (size_t)n;
}

/* secrets: blank-separated, each a secret= field */
static void sqlite_secrets(struct sqlite_line *l, const char *v)
{
	char buf[PASSWD_LINE_MAX], *tok, *save = NULL;

	if (strlen(v) >= sizeof(buf)) {
		l->bad = true;
		return;
	}
	strcpy(buf, v);
	for (tok = strtok_r(buf, " \t", &save); tok != NULL;
	     tok = strtok_r(NULL, " \t", &save))
		sqlite_extra(l, "secret", tok);
	explicit_bzero(buf, sizeof(buf));
}

static const char *const sqlite_extra_columns[] = {
	"mail", "quota_bytes", "quota_messages", "login_delay", "expire",
};

static void sqlite_take_row(sqlite3_stmt *st, struct sqlite_line *l)
{
	int i, n = sqlite3_column_count(st);
	size_t k;

	for (i = 0; i < n; i++) {
		const char *name = sqlite3_column_name(st, i);
		const char *v = (const char *)sqlite3_column_text(st, i);

		if (name == NULL || v == NULL)
			continue; /* NULL: not set */
		if ((size_t)sqlite3_column_bytes(st, i) != strlen(v)) {
			l->bad = true; /* a NUL inside */
			continue;
		}
		if (strcmp(name, "user") == 0)
			sqlite_copy(l, l->user, sizeof(l->user), v);
		else if (strcmp(name, "password") == 0)
			sqlite_copy(l, l->password, sizeof(l->password), v);
		else if (strcmp(name, "uid") == 0)
			sqlite_copy(l, l->ids[0], sizeof(l->ids[0]), v);
		else if (strcmp(name, "gid") == 0)
			sqlite_copy(l, l->ids[1], sizeof(l->ids[1]), v);
		else if (strcmp(name, "home") == 0)
			sqlite_copy(l, l->home, sizeof(l->home), v);
		else if (strcmp(name, "secrets") == 0)
			sqlite_secrets(l, v);
		for (k = 0; k < sizeof(sqlite_extra_columns) /
				sizeof(sqlite_extra_columns[0]); k++) {
			if (strcmp(name, sqlite_extra_columns[k]) == 0)
				sqlite_extra(l, name, v);
		}
	}
}

/* Runs st for user: 1 with the row taken into l, 0 for no row, -1 on an
 * error (logged). */
static int sqlite_run(struct userdb_sqlite *s, sqlite3_stmt *st,
		      const char *user, struct sqlite_line *l)
{
	const char *at = strchr(user, '@');
	int local_len = at != NULL ? (int)(at - user) : (int)strlen(user);
	int rc, found = 0;

	const char *values[3] = { user, user, at != NULL ? at + 1 : "" };
	int lens[3] = { -1, local_len, -1 };
	int i, count;

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	/* a query may use only some of ?1 ?2 ?3 */
	count = sqlite3_bind_parameter_count(st);
	for (i = 0; i < 3 && i < count; i++) {
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

/* l as a passwd-file line, parsed into a new record. NULL when refused
 * (logged). */
static struct sqlite_record *sqlite_record_make(struct userdb_sqlite *s,
						const struct sqlite_line *l)
{
	struct sqlite_record *r;
	char line[PASSWD_LINE_MAX + 1];
	const char *error = "a value the passwd-file could not hold";
	int n;

	n = snprintf(line, sizeof(line), "%s:%s:%s:%s::%s::%s", l->user,
		     l->password, l->ids[0], l->ids[1], l->home, l->extra);
	if (l->bad || n < 0 || (size_t)n >= sizeof(line))
		goto out_refused;
	r = malloc(sizeof(*r) + (size_t)n + 1);
	if (r == NULL) {
		explicit_bzero(line, sizeof(line));
		return NULL;
	}
	memcpy(r->line, line, (size_t)n + 1);
	explicit_bzero(line, sizeof(line));
	if (passwd_parse_line(r->line, &r->entry, &error) != 0) {
		explicit_bzero(r->line, (size_t)n);
		free(r);
		goto out_refused;
	}
	return r;

out_refused:
	explicit_bzero(line, sizeof(line));
	log_error("sqlite %s: the record of %s is refused: %s", s->path,
		  l->user, error);
	return NULL;
}

static enum userdb_status userdb_sqlite_get(void *state, const char *user,
					    const struct passwd_entry **entry_r)
{
	struct userdb_sqlite *s = state;
	size_t b = sqlite_bucket(user);
	struct sqlite_record *r;
	struct sqlite_line *l;
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
	if (l->user[0] == '\0')
		snprintf(l->user, sizeof(l->user), "%s", user);
	if (strcmp(l->user, user) != 0) {
		/* the record names another user: never served for this
		 * name (a name must not select another's maildrop) */
		log_error("sqlite %s: the query for %s returned user %s",
			  s->path, user, l->user);
		goto out_error;
	}
	r = sqlite_record_make(s, l);
	explicit_bzero(l, sizeof(*l));
	free(l);
	if (r == NULL)
		return USERDB_ERROR;
	r->next = s->buckets[b];
	s->buckets[b] = r;
	s->cached++;
	*entry_r = &r->entry;
	return USERDB_FOUND;

out_error:
	explicit_bzero(l, sizeof(*l));
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
		struct sqlite_line *l = calloc(1, sizeof(*l));
		struct sqlite_record *r;
		bool go_on;

		if (l == NULL)
			break;
		sqlite_take_row(st, l);
		r = l->user[0] != '\0' ? sqlite_record_make(s, l) : NULL;
		explicit_bzero(l, sizeof(*l));
		free(l);
		if (r == NULL)
			continue;
		go_on = fn(&r->entry, context);
		explicit_bzero(r->line, strlen(r->line));
		free(r);
		if (!go_on)
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		log_error("sqlite %s: %s", s->path, sqlite3_errmsg(s->db));
	sqlite3_reset(st);
}

const struct userdb_driver userdb_sqlite_driver = {
	.name = "sqlite",
	.open = userdb_sqlite_open,
	.check = userdb_sqlite_check,
	.get = userdb_sqlite_get,
	.each = userdb_sqlite_each,
	.close = userdb_sqlite_close,
};
