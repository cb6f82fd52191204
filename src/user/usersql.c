/* usersql.c: the SQLite side of `satchel user` (usersql.h): the schema
 * the server's default sql_*_query settings read, and add, passwd, del,
 * list and import on it.
 *
 * Every edit is one transaction (BEGIN IMMEDIATE: the write lock first,
 * so a check and its change cannot interleave with another editor), in
 * WAL mode, so the auth process's readers never wait for it and see the
 * change from their next request (PRAGMA data_version). */
#include "user/usersql.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>

#include <sqlite3.h>

#include "auth/userdb.h"
#include "config/config.h"
#include "user/userfile.h"

#define USERSQL_BUSY_MS 10000

static const char usersql_schema[] =
	"CREATE TABLE IF NOT EXISTS users ("
	" user TEXT PRIMARY KEY NOT NULL,"
	" password TEXT NOT NULL,"
	" secrets TEXT,"           /* blank-separated {SCHEME} secrets */
	" uid INTEGER, gid INTEGER, home TEXT,"
	" mail TEXT,"              /* maildir:... or mbox:... */
	" quota_bytes INTEGER, quota_messages INTEGER,"
	" login_delay INTEGER,"    /* seconds */
	" expire INTEGER"          /* days */
	")";

static void usersql_error(sqlite3 *db, const char *path, const char *what)
{
	fprintf(stderr, "satchel user: %s: %s: %s\n", path, what,
		db != NULL ? sqlite3_errmsg(db) : "out of memory");
}

/* create: make the file and the schema when missing (add, import).
 * EX_OK with *db_r, EX_NOINPUT (no database), EX_CANTCREAT. */
static int usersql_open(const char *path, bool create, sqlite3 **db_r)
{
	struct stat st;
	sqlite3 *db = NULL;
	mode_t old;
	int rc;

	if (!create && stat(path, &st) < 0) {
		fprintf(stderr, "satchel user: %s does not exist\n", path);
		return EX_NOINPUT;
	}
	old = umask(077); /* the database holds password hashes */
	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE |
			     (create ? SQLITE_OPEN_CREATE : 0), NULL);
	umask(old);
	if (rc != SQLITE_OK) {
		usersql_error(db, path, "cannot open");
		sqlite3_close(db);
		return create ? EX_CANTCREAT : EX_NOINPUT;
	}
	sqlite3_busy_timeout(db, USERSQL_BUSY_MS);
	if (sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL,
			 NULL) != SQLITE_OK ||
	    sqlite3_exec(db, usersql_schema, NULL, NULL, NULL) != SQLITE_OK) {
		usersql_error(db, path, "cannot set up the schema");
		sqlite3_close(db);
		return EX_CANTCREAT;
	}
	*db_r = db;
	return EX_OK;
}

/* 1 when name has a row, 0 when not, -1 on an error (printed). */
static int usersql_exists(sqlite3 *db, const char *path, const char *name)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db, "SELECT 1 FROM users WHERE user = ?1", -1,
			       &st, NULL) != SQLITE_OK ||
	    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC) != SQLITE_OK) {
		usersql_error(db, path, "cannot query");
		sqlite3_finalize(st);
		return -1;
	}
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		usersql_error(db, path, "cannot query");
		return -1;
	}
	return rc == SQLITE_ROW;
}

static int usersql_expect(sqlite3 *db, const char *path,
			  enum userfile_edit edit, const char *name)
{
	int exists = usersql_exists(db, path, name);

	if (exists < 0)
		return EX_IOERR;
	if (edit == USERFILE_ADD && exists) {
		fprintf(stderr, "satchel user: %s already exists\n", name);
		return EX_DATAERR;
	}
	if (edit != USERFILE_ADD && !exists) {
		fprintf(stderr, "satchel user: no user %s\n", name);
		return EX_NOUSER;
	}
	return EX_OK;
}

int usersql_check(const char *path, enum userfile_edit edit,
		  const char *name)
{
	sqlite3 *db;
	int ret;

	ret = usersql_open(path, edit == USERFILE_ADD, &db);
	if (ret != EX_OK)
		return ret;
	ret = usersql_expect(db, path, edit, name);
	sqlite3_close(db);
	return ret;
}

/* extras as userfile has them (" secret=A secret=B") into the secrets
 * column ("A B"). */
static void usersql_secrets(const char *extras, char *out, size_t size)
{
	const char *p = extras;
	size_t o = 0;

	out[0] = '\0';
	while ((p = strstr(p, "secret=")) != NULL) {
		size_t len;

		p += strlen("secret=");
		len = strcspn(p, " \t");
		if (o + len + 2 > size)
			break;
		if (o > 0)
			out[o++] = ' ';
		memcpy(out + o, p, len);
		o += len;
		out[o] = '\0';
		p += len;
	}
}

static const char *const usersql_edit_sql[] = {
	[USERFILE_ADD] = "INSERT INTO users (user, password, secrets) "
			 "VALUES (?1, ?2, NULLIF(?3, ''))",
	[USERFILE_PASSWD] = "UPDATE users SET password = ?2, "
			    "secrets = NULLIF(?3, '') WHERE user = ?1",
	[USERFILE_DEL] = "DELETE FROM users WHERE user = ?1",
};

static int usersql_run_edit(sqlite3 *db, const char *path,
			    enum userfile_edit edit, const char *name,
			    const char *hash, const char *secrets)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(db, usersql_edit_sql[edit], -1, &st, NULL) !=
		    SQLITE_OK ||
	    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC) != SQLITE_OK ||
	    (edit != USERFILE_DEL &&
	     (sqlite3_bind_text(st, 2, hash, -1, SQLITE_STATIC) != SQLITE_OK ||
	      sqlite3_bind_text(st, 3, secrets, -1, SQLITE_STATIC) !=
		      SQLITE_OK))) {
		usersql_error(db, path, "cannot prepare the change");
		sqlite3_finalize(st);
		return EX_IOERR;
	}
	rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		usersql_error(db, path, "cannot change");
		return rc == SQLITE_BUSY ? EX_TEMPFAIL : EX_IOERR;
	}
	return EX_OK;
}

int usersql_apply(const char *path, enum userfile_edit edit,
		  const char *name, const char *hash, const char *extras)
{
	char secrets[USERSQL_SECRETS_MAX];
	sqlite3 *db;
	int ret, rc;

	ret = usersql_open(path, edit == USERFILE_ADD, &db);
	if (ret != EX_OK)
		return ret;
	usersql_secrets(extras, secrets, sizeof(secrets));
	rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		usersql_error(db, path, "cannot lock");
		sqlite3_close(db);
		return rc == SQLITE_BUSY ? EX_TEMPFAIL : EX_IOERR;
	}
	/* again under the write lock: another editor may have been first */
	ret = usersql_expect(db, path, edit, name);
	if (ret == EX_OK)
		ret = usersql_run_edit(db, path, edit, name, hash, secrets);
	if (ret == EX_OK &&
	    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		usersql_error(db, path, "cannot commit");
		ret = EX_IOERR;
	}
	if (ret != EX_OK)
		(void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	explicit_bzero(secrets, sizeof(secrets));
	sqlite3_close(db);
	return ret;
}

static bool usersql_print_one(const struct passwd_entry *e, void *context)
{
	userfile_print_entry(e);
	return true;
}

int usersql_list(const char *path)
{
	struct config cfg;
	struct userdb *udb;
	const char *error;
	sqlite3 *db;
	int ret;

	/* made here if missing only as far as the schema goes: the reading
	 * is the server's own driver, so list shows what the server sees */
	ret = usersql_open(path, false, &db);
	if (ret != EX_OK)
		return ret;
	sqlite3_close(db);
	config_defaults(&cfg);
	if (snprintf(cfg.auth.users, sizeof(cfg.auth.users), "sqlite:%s",
		     path) >= (int)sizeof(cfg.auth.users)) {
		fprintf(stderr, "satchel user: path too long\n");
		return EX_USAGE;
	}
	if (userdb_open(&cfg.auth, &udb, &error) < 0) {
		fprintf(stderr, "satchel user: %s: %s\n", path, error);
		return EX_IOERR;
	}
	userdb_each(udb, usersql_print_one, NULL);
	userdb_close(&udb);
	return fflush(stdout) != 0 ? EX_IOERR : EX_OK;
}

static int usersql_insert_entry(sqlite3_stmt *st,
				const struct passwd_entry *e)
{
	char secrets[USERSQL_SECRETS_MAX] = "";
	size_t o = 0;
	unsigned k;
	int rc;

	for (k = 0; k < e->n_secrets; k++) {
		int n = snprintf(secrets + o, sizeof(secrets) - o, "%s%s",
				 o > 0 ? " " : "", e->secrets[k]);

		if (n < 0 || (size_t)n >= sizeof(secrets) - o)
			return -1;
		o += (size_t)n;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	sqlite3_bind_text(st, 1, e->user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, e->password, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, secrets, -1, SQLITE_TRANSIENT);
	if (e->uid >= 0)
		sqlite3_bind_int64(st, 4, e->uid);
	if (e->gid >= 0)
		sqlite3_bind_int64(st, 5, e->gid);
	if (e->home != NULL)
		sqlite3_bind_text(st, 6, e->home, -1, SQLITE_STATIC);
	if (e->mail != NULL)
		sqlite3_bind_text(st, 7, e->mail, -1, SQLITE_STATIC);
	if (e->quota_bytes >= 0)
		sqlite3_bind_int64(st, 8, e->quota_bytes);
	if (e->quota_messages >= 0)
		sqlite3_bind_int64(st, 9, e->quota_messages);
	if (e->login_delay >= 0)
		sqlite3_bind_int(st, 10, e->login_delay);
	if (e->expire_days >= 0)
		sqlite3_bind_int(st, 11, e->expire_days);
	rc = sqlite3_step(st);
	explicit_bzero(secrets, sizeof(secrets));
	return rc == SQLITE_DONE ? 0 : -1;
}

int usersql_import(const char *path, const char *passwd_path)
{
	struct passwd_db *pdb;
	sqlite3_stmt *st = NULL;
	char err[512];
	sqlite3 *db;
	size_t i, n, added;
	int ret;

	if (passwd_db_load(passwd_path, &pdb, err, sizeof(err)) < 0) {
		fprintf(stderr, "satchel user: %s\n", err);
		return EX_DATAERR;
	}
	ret = usersql_open(path, true, &db);
	if (ret != EX_OK)
		goto out_pdb;
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
		    SQLITE_OK ||
	    sqlite3_prepare_v2(db,
			       "INSERT INTO users (user, password, secrets, "
			       "uid, gid, home, mail, quota_bytes, "
			       "quota_messages, login_delay, expire) VALUES "
			       "(?1, ?2, NULLIF(?3, ''), ?4, ?5, ?6, ?7, ?8, "
			       "?9, ?10, ?11)", -1, &st, NULL) != SQLITE_OK) {
		usersql_error(db, path, "cannot start the import");
		ret = EX_IOERR;
		goto out_db;
	}
	n = passwd_db_count(pdb);
	for (i = 0, added = 0; i < n; i++) {
		const struct passwd_entry *e = passwd_db_entry(pdb, i);

		if (e->disabled) {
			/* nologin, allow_nets: the database has no such
			 * restriction, so the account is not carried over */
			fprintf(stderr, "satchel user: %s is disabled in %s: "
				"not imported\n", e->user, passwd_path);
			continue;
		}
		if (usersql_insert_entry(st, e) < 0) {
			usersql_error(db, path, e->user);
			ret = sqlite3_errcode(db) == SQLITE_CONSTRAINT ?
				      EX_DATAERR : EX_IOERR;
			goto out_db;
		}
		added++;
	}
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		usersql_error(db, path, "cannot commit");
		ret = EX_IOERR;
		goto out_db;
	}
	printf("imported %zu users from %s\n", added, passwd_path);
	ret = EX_OK;

out_db:
	sqlite3_finalize(st);
	if (ret != EX_OK)
		(void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(db);
out_pdb:
	passwd_db_destroy(&pdb);
	return ret;
}
