/* node_pgsql.c: heartbeats as rows of a PostgreSQL table instead of
 * files in the store (node_heartbeat_pgsql, node.h, docs/scaling.md).
 *
 *	satchel_node_heartbeats (node_id text PRIMARY KEY, boot text,
 *	                         instance text, beat timestamptz)
 *
 * The master upserts its row with beat = now() every beat interval; a
 * peer's age is now() - beat, both on the database's clock, so the
 * nodes' clocks never meet. Every wait is bounded by a deadline with
 * non-blocking libpq (PQconnectStart, PQsendQueryParams, poll): a
 * database that hangs costs the master one beat interval, never its
 * loop. The master keeps one connection (module-global: only its loop
 * thread beats); a judgement opens its own (a store job thread, only
 * when a lock of another node is found). */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/libpq_load.h"

#include "store/node_pgsql.h"

static const char node_pgsql_create[] =
	"CREATE TABLE IF NOT EXISTS satchel_node_heartbeats ("
	"node_id text PRIMARY KEY, boot text NOT NULL, "
	"instance text NOT NULL, beat timestamptz NOT NULL)";
static const char node_pgsql_upsert[] =
	"INSERT INTO satchel_node_heartbeats (node_id, boot, instance, beat) "
	"VALUES ($1, $2, $3, now()) ON CONFLICT (node_id) DO UPDATE SET "
	"boot = EXCLUDED.boot, instance = EXCLUDED.instance, beat = now()";
static const char node_pgsql_select[] =
	"SELECT boot, instance, "
	"(extract(epoch FROM now() - beat) * 1000)::bigint "
	"FROM satchel_node_heartbeats WHERE node_id = $1";

/* the master's connection (see the top) */
static PGconn *node_pgsql_beat_conn;

static int64_t node_pgsql_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until conn's socket is readable (or writable) or deadline.
 * 0, or -1 on timeout or error. */
static int node_pgsql_wait(PGconn *conn, bool for_write, int64_t deadline)
{
	struct pollfd pfd = { .fd = PQsocket(conn),
			      .events = for_write ? POLLOUT : POLLIN };
	int64_t left;
	int n;

	if (pfd.fd < 0)
		return -1;
	do {
		left = deadline - node_pgsql_now_ms();
		if (left <= 0)
			return -1;
		n = poll(&pfd, 1, (int)left);
	} while (n < 0 && errno == EINTR);
	return n > 0 ? 0 : -1;
}

/* A connection made by deadline, or NULL with *error_r. The config's
 * conninfo is expanded last, so its own options override ours. */
int node_pgsql_load(const char **error_r)
{
	return libpq_load(error_r);
}

static PGconn *node_pgsql_connect(const char *conninfo, int64_t deadline,
				  const char **error_r)
{
	const char *const keys[] = { "application_name", "dbname", NULL };
	const char *const values[] = { "satchel-node", conninfo, NULL };
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	PGconn *conn;

	if (libpq_load(error_r) < 0)
		return NULL;
	conn = PQconnectStartParams(keys, values, 1);
	if (conn == NULL || PQstatus(conn) == CONNECTION_BAD) {
		*error_r = "cannot start a PostgreSQL connection";
		goto out_fail;
	}
	for (;;) {
		if (st == PGRES_POLLING_OK)
			break;
		if (st == PGRES_POLLING_FAILED ||
		    node_pgsql_wait(conn, st == PGRES_POLLING_WRITING,
				    deadline) < 0) {
			*error_r = st == PGRES_POLLING_FAILED ?
				"PostgreSQL connection failed" :
				"PostgreSQL connection timed out";
			goto out_fail;
		}
		st = PQconnectPoll(conn);
	}
	if (PQsetnonblocking(conn, 1) < 0) {
		*error_r = "PostgreSQL: cannot make the connection non-blocking";
		goto out_fail;
	}
	return conn;
out_fail:
	PQfinish(conn);
	return NULL;
}

/* Runs one statement by deadline. Returns its result (the caller
 * clears it) when it succeeded, else NULL with *error_r. */
static PGresult *node_pgsql_exec(PGconn *conn, const char *sql, int nparams,
				 const char *const *params, int64_t deadline,
				 const char **error_r)
{
	PGresult *res, *last = NULL;
	int flushed;

	if (!PQsendQueryParams(conn, sql, nparams, NULL, params, NULL, NULL,
			       0)) {
		*error_r = "PostgreSQL: cannot send the statement";
		return NULL;
	}
	while ((flushed = PQflush(conn)) == 1) {
		if (node_pgsql_wait(conn, true, deadline) < 0)
			goto out_timeout;
	}
	if (flushed < 0) {
		*error_r = "PostgreSQL: cannot send the statement";
		return NULL;
	}
	for (;;) {
		while (PQisBusy(conn)) {
			if (node_pgsql_wait(conn, false, deadline) < 0)
				goto out_timeout;
			if (!PQconsumeInput(conn)) {
				*error_r = "PostgreSQL: connection lost";
				PQclear(last);
				return NULL;
			}
		}
		res = PQgetResult(conn);
		if (res == NULL)
			break;
		PQclear(last);
		last = res;
	}
	if (last == NULL || (PQresultStatus(last) != PGRES_COMMAND_OK &&
			     PQresultStatus(last) != PGRES_TUPLES_OK)) {
		*error_r = "PostgreSQL: the statement failed";
		PQclear(last);
		return NULL;
	}
	return last;
out_timeout:
	PQclear(last);
	*error_r = "PostgreSQL: no answer in time";
	return NULL;
}

int node_pgsql_beat(const char *conninfo, const char *node_id,
		    const char *boot, const char *instance, unsigned wait_ms,
		    const char **error_r)
{
	int64_t deadline = node_pgsql_now_ms() + wait_ms;
	const char *params[3] = { node_id, boot, instance };
	PGresult *res;

	if (node_pgsql_beat_conn != NULL &&
	    PQstatus(node_pgsql_beat_conn) != CONNECTION_OK) {
		PQfinish(node_pgsql_beat_conn);
		node_pgsql_beat_conn = NULL;
	}
	if (node_pgsql_beat_conn == NULL) {
		node_pgsql_beat_conn = node_pgsql_connect(conninfo, deadline,
							  error_r);
		if (node_pgsql_beat_conn == NULL)
			return -1;
		res = node_pgsql_exec(node_pgsql_beat_conn, node_pgsql_create,
				      0, NULL, deadline, error_r);
		if (res == NULL)
			goto out_drop;
		PQclear(res);
	}
	res = node_pgsql_exec(node_pgsql_beat_conn, node_pgsql_upsert, 3,
			      params, deadline, error_r);
	if (res == NULL)
		goto out_drop;
	PQclear(res);
	return 0;
out_drop:
	/* a statement may still be running: start afresh next time */
	PQfinish(node_pgsql_beat_conn);
	node_pgsql_beat_conn = NULL;
	return -1;
}

enum node_verdict node_pgsql_judge(const char *conninfo, const char *peer,
				   const char *boot, const char *instance,
				   unsigned timeout_secs, unsigned wait_ms)
{
	int64_t deadline = node_pgsql_now_ms() + wait_ms;
	const char *params[1] = { peer };
	enum node_verdict verdict = NODE_UNKNOWN;
	const char *error = NULL;
	PGconn *conn;
	PGresult *res;

	conn = node_pgsql_connect(conninfo, deadline, &error);
	if (conn == NULL)
		return NODE_UNKNOWN; /* no word from the database: age decides */
	res = node_pgsql_exec(conn, node_pgsql_select, 1, params, deadline,
			      &error);
	if (res != NULL && PQntuples(res) == 1 && PQnfields(res) == 3) {
		long long age = strtoll(PQgetvalue(res, 0, 2), NULL, 10);

		if (strcmp(boot, PQgetvalue(res, 0, 0)) != 0 ||
		    (strcmp(instance, "-") != 0 &&
		     strcmp(instance, PQgetvalue(res, 0, 1)) != 0))
			verdict = NODE_DEAD; /* rebooted or restarted since */
		else if (age > (long long)timeout_secs * 1000)
			verdict = NODE_DEAD;
		else
			verdict = NODE_ALIVE;
	}
	PQclear(res);
	PQfinish(conn);
	return verdict;
}
