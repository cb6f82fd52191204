/* userdb_pgsql.c: the PostgreSQL driver (userdb_private.h).
 *
 * The same queries as SQLite's (sql_password_query, then sql_user_query
 * when set; sql_iterate_query for listing), %u %n %d sent as parameters
 * $1 $2 $3, never pasted into the SQL; rows become records as in every
 * SQL driver (userdb_sqlrow.h). The connections (pgsql_pool.h) never
 * block: in asynchronous mode (the auth process) a user the cache cannot
 * answer for gets USERDB_PENDING, the lookup is queued for the next idle
 * connection, and its answer goes into the cache (usercache.h), where
 * the request asking again finds it.
 *
 * When the database cannot answer (a query fails or times out, or the
 * circuit is open because every host is down) a cached entry past its
 * TTL still answers, logged as stale; a user never seen gets
 * USERDB_ERROR at once ([SYS/TEMP]). Failures are never cached: they
 * are remembered only until the next userdb_process(), so the requests
 * that waited for that lookup get the error when they ask again.
 *
 * A NOTIFY on the channel (pgsql_notify_channel) with a user name as
 * payload drops that user's entry on every node (an empty payload or
 * "*": every entry); after a time without any listening connection the
 * entries are marked expired, since invalidations may have been missed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/pgsql_pool.h"
#include "auth/usercache.h"
#include "auth/userdb_private.h"
#include "auth/userdb_remote.h"
#include "auth/userdb_sqlrow.h"
#include "util/log.h"

struct userdb_pgsql {
	char *conninfo;
	char *password_sql, *user_sql, *iterate_sql;
	struct pgsql_pool_settings pool_set;
	char channel[128];
	struct pgsql_pool *pool;       /* made at first use */
	struct remote_db remote;       /* cache and lookups */
	bool async;
};

static int pgsql_query(const char *tmpl, char **sql_r, const char **error_r)
{
	char sql[AUTH_SETTING_STR * 2];

	*sql_r = NULL;
	if (tmpl[0] == '\0')
		return 0;
	if (sqlrow_template(tmpl, SQLROW_DOLLAR, sql, sizeof(sql),
			    error_r) < 0)
		return -1;
	*sql_r = strdup(sql);
	if (*sql_r == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	return 0;
}

static void userdb_pgsql_close(void *state)
{
	struct userdb_pgsql *s = state;

	pgsql_pool_destroy(&s->pool);
	remote_db_deinit(&s->remote);
	free(s->password_sql);
	free(s->user_sql);
	free(s->iterate_sql);
	if (s->conninfo != NULL)
		explicit_bzero(s->conninfo, strlen(s->conninfo));
	free(s->conninfo);
	free(s);
}

/* ---- lookups ---- */

static const char *pgsql_stage_sql(const struct userdb_pgsql *s,
				   const struct remote_lookup *l)
{
	return l->stage == 0 ? s->password_sql : s->user_sql;
}

/* Sends what is queued while connections are idle. */
static void pgsql_pump(struct userdb_pgsql *s, uint64_t now)
{
	struct remote_lookup *l;

	for (l = s->remote.lookups; l != NULL; l = l->next) {
		const char *values[SQLROW_PARAMS];
		int lens[SQLROW_PARAMS];

		if (l->sent)
			continue;
		sqlrow_params(l->user, values, lens);
		if (pgsql_pool_send(s->pool, now, pgsql_stage_sql(s, l),
				    SQLROW_PARAMS, values, lens, l) < 0)
			return;
		l->sent = true;
	}
}

static void pgsql_done(void *context, void *tag, PGresult *res,
		       const char *error, bool retry)
{
	struct userdb_pgsql *s = context;
	struct remote_lookup *l = tag;
	uint64_t now = remote_now_ms();
	int i, n;

	l->sent = false;
	l->queued_ms = now;   /* waits again for a connection */
	if (res == NULL) {
		/* a connection lost before its answer: once more on
		 * another, when there is one */
		if (retry && !l->retried && pgsql_pool_available(s->pool)) {
			l->retried = true;
			return;
		}
		remote_lookup_failed(&s->remote, l, error);
		return;
	}
	if (PQntuples(res) > 1) {
		PQclear(res);
		remote_lookup_failed(&s->remote, l, "more than one row for a user");
		return;
	}
	if (PQntuples(res) == 1) {
		n = PQnfields(res);
		for (i = 0; i < n; i++)
			sqlrow_column(&l->line, PQfname(res, i),
				      PQgetisnull(res, 0, i) ? NULL :
				      PQgetvalue(res, 0, i),
				      (size_t)PQgetlength(res, 0, i));
		l->found = true;
	}
	PQclear(res);
	if (l->stage == 0 && l->found && s->user_sql != NULL) {
		l->stage = 1;  /* the delivery fields */
		return;
	}
	remote_lookup_finish(&s->remote, l, now);
}

static void pgsql_notify(void *context, const char *payload)
{
	struct userdb_pgsql *s = context;
	char user_log[PASSWD_USER_MAX + 1];
	struct remote_lookup *l;

	log_sanitize(payload, strlen(payload), user_log, sizeof(user_log));
	if (payload[0] == '\0' || strcmp(payload, "*") == 0) {
		usercache_clear(s->remote.cache);
		log_info("pgsql: NOTIFY: every cached user dropped");
		return;
	}
	usercache_drop(s->remote.cache, payload);
	log_debug("pgsql: NOTIFY: %s dropped from the cache", user_log);
	/* an answer under way may predate the change: asked again */
	for (l = s->remote.lookups; l != NULL; l = l->next) {
		if (strcmp(l->user, payload) != 0)
			continue;
		if (l->sent)
			pgsql_pool_cancel(s->pool, l);
		l->sent = l->found = false;
		l->stage = s->password_sql != NULL ? 0 : 1;
		sqlrow_line_wipe(&l->line);
	}
}

static void pgsql_listening(void *context)
{
	struct userdb_pgsql *s = context;

	usercache_expire_all(s->remote.cache, remote_now_ms());
}

static const struct pgsql_pool_ops pgsql_ops = {
	.done = pgsql_done,
	.notify = pgsql_notify,
	.listening = pgsql_listening,
};

static int pgsql_pool_ensure(struct userdb_pgsql *s)
{
	const char *error;

	if (s->pool != NULL)
		return 0;
	/* only the auth process listens: the tools ask once and leave */
	s->pool_set.channel = s->async ? s->channel : "";
	if (pgsql_pool_create(&s->pool_set, &pgsql_ops, s, &s->pool,
			      &error) < 0) {
		log_error("pgsql: %s", error);
		return -1;
	}
	return 0;
}

/* ---- the driver ---- */

/* At config time, in the master: libpq is loaded there, before any
 * fork, and a missing one is a config error. */
static int userdb_pgsql_spec_check(const char *conninfo, const char **error_r)
{
	(void)conninfo;
	return libpq_load(error_r);
}

static int userdb_pgsql_open(const char *conninfo,
			     const struct auth_settings *set, void **state_r,
			     const char **error_r)
{
	struct userdb_pgsql *s;
	char *err = NULL;
	PQconninfoOption *check;

	if (libpq_load(error_r) < 0)
		return -1;
	s = calloc(1, sizeof(*s));
	if (s == NULL || (s->conninfo = strdup(conninfo)) == NULL) {
		free(s);
		*error_r = "out of memory";
		return -1;
	}
	check = PQconninfoParse(conninfo, &err);
	if (check == NULL) {
		PQfreemem(err);
		*error_r = "the PostgreSQL conninfo does not parse";
		goto out_close;
	}
	PQconninfoFree(check);
	if (pgsql_query(set->sql_password_query, &s->password_sql,
			error_r) < 0 ||
	    pgsql_query(set->sql_user_query, &s->user_sql, error_r) < 0 ||
	    pgsql_query(set->sql_iterate_query, &s->iterate_sql,
			error_r) < 0)
		goto out_close;
	if (s->password_sql == NULL && s->user_sql == NULL) {
		*error_r = "sql_password_query and sql_user_query are empty";
		goto out_close;
	}
	snprintf(s->channel, sizeof(s->channel), "%s",
		 set->pgsql_notify_channel);
	s->pool_set.conninfo = s->conninfo;
	s->pool_set.size = set->pgsql_connections;
	s->pool_set.query_timeout_ms = set->pgsql_statement_timeout;
	if (remote_db_init(&s->remote, "pgsql", set, error_r) < 0)
		goto out_close;
	*state_r = s;
	return 0;

out_close:
	userdb_pgsql_close(s);
	return -1;
}

static void userdb_pgsql_set_async(void *state, bool async)
{
	struct userdb_pgsql *s = state;

	s->async = async;
	/* in the auth process: connect (and LISTEN) before the first
	 * login asks */
	if (async)
		(void)pgsql_pool_ensure(s);
}

static bool userdb_pgsql_check(void *state, bool force)
{
	struct userdb_pgsql *s = state;

	remote_db_check(&s->remote, force);
	return false;
}

static enum userdb_status userdb_pgsql_get(void *state, const char *user,
					   bool cached_only,
					   const struct passwd_entry **entry_r)
{
	struct userdb_pgsql *s = state;
	struct remote_lookup *l;
	enum userdb_status st;
	bool available = !cached_only && pgsql_pool_ensure(s) == 0 &&
			 pgsql_pool_available(s->pool);

	st = remote_db_get(&s->remote, user, cached_only, available, entry_r,
			   &l);
	if (l != NULL) {
		l->stage = s->password_sql != NULL ? 0 : 1;
		pgsql_pump(s, l->queued_ms);
	}
	return st;
}

static size_t userdb_pgsql_poll_fds(void *state, struct pollfd *fds,
				    size_t max, int *timeout_ms)
{
	struct userdb_pgsql *s = state;
	uint64_t now = remote_now_ms();
	size_t n;

	if (s->pool == NULL)
		return 0;
	n = pgsql_pool_poll_fds(s->pool, fds, max, now, timeout_ms);
	/* a queued lookup waits at most the query timeout */
	remote_db_timeout(&s->remote, now, s->pool_set.query_timeout_ms,
			  timeout_ms);
	return n;
}

static bool userdb_pgsql_process(void *state)
{
	struct userdb_pgsql *s = state;
	uint64_t now = remote_now_ms();

	remote_db_round(&s->remote);
	if (s->pool == NULL)
		return false;
	pgsql_pool_process(s->pool, now);
	remote_db_expire(&s->remote, pgsql_pool_available(s->pool), now,
			 s->pool_set.query_timeout_ms, "no database host is up",
			 "no connection free within the statement timeout");
	pgsql_pump(s, now);
	return s->remote.completed;
}

static void userdb_pgsql_flush(void *state, const char *user)
{
	struct userdb_pgsql *s = state;

	remote_db_flush(&s->remote, user);
}

/* Listing blocks: only the tools ask (satchel user list); the auth
 * process lists nothing here (its dummy hash comes from the first user
 * it looks up, auth_db.c). */
static void userdb_pgsql_each(void *state, userdb_each_fn *fn, void *context)
{
	struct userdb_pgsql *s = state;
	PGconn *pg;
	PGresult *res;
	int i, k, n, nf;

	if (s->async || s->iterate_sql == NULL)
		return;
	pg = PQconnectdb(s->conninfo);
	if (pg == NULL || PQstatus(pg) != CONNECTION_OK) {
		log_error("pgsql: %s", pg != NULL ? PQerrorMessage(pg) :
			  "out of memory");
		PQfinish(pg);
		return;
	}
	res = PQexecParams(pg, s->iterate_sql, 0, NULL, NULL, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		log_error("pgsql: %s", PQresultErrorMessage(res));
		goto out_clear;
	}
	n = PQntuples(res);
	nf = PQnfields(res);
	for (i = 0; i < n; i++) {
		struct sqlrow_line *l = calloc(1, sizeof(*l));
		struct sqlrow_record *r;
		const char *error;
		bool go_on;

		if (l == NULL)
			break;
		for (k = 0; k < nf; k++)
			sqlrow_column(l, PQfname(res, k),
				      PQgetisnull(res, i, k) ? NULL :
				      PQgetvalue(res, i, k),
				      (size_t)PQgetlength(res, i, k));
		r = sqlrow_record_make(l, NULL, "pgsql", &error);
		sqlrow_line_wipe(l);
		free(l);
		if (r == NULL)
			continue;
		go_on = fn(&r->entry, context);
		sqlrow_record_free(&r);
		if (!go_on)
			break;
	}
out_clear:
	PQclear(res);
	PQfinish(pg);
}

const struct userdb_driver userdb_pgsql_driver = {
	.name = "pgsql",
	.spec_check = userdb_pgsql_spec_check,
	.open = userdb_pgsql_open,
	.check = userdb_pgsql_check,
	.get = userdb_pgsql_get,
	.each = userdb_pgsql_each,
	.close = userdb_pgsql_close,
	.set_async = userdb_pgsql_set_async,
	.poll_fds = userdb_pgsql_poll_fds,
	.process = userdb_pgsql_process,
	.flush = userdb_pgsql_flush,
};
