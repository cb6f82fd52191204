/* pgsql_pool.h: a few PostgreSQL connections driven without ever
 * blocking (libpq's PQconnectStartParams/PQconnectPoll and
 * PQsendQueryParams/PQconsumeInput/PQisBusy), for userdb_pgsql.c.
 *
 * The hosts of a multi-host conninfo (host=a,b port=p,q) are tried one by
 * one, in order, each connection to one host with its own deadline
 * (connect_timeout of the conninfo, default PGSQL_CONNECT_TIMEOUT_MS:
 * libpq leaves that to the caller of PQconnectPoll). A host whose
 * connection fails, breaks or does not answer a query in time is marked
 * down and tried again after a backoff (1 s, doubling up to 30 s) by a
 * background attempt; it serves again only once that attempt succeeded.
 * While no connection is up and no host is untried, the pool is
 * unavailable (the circuit is open): the caller answers at once instead
 * of waiting for a connect timeout per request.
 *
 * Every connection gets keepalives (unless the conninfo sets them), the
 * query timeout as the server's statement_timeout, and, with a channel,
 * LISTEN on it; notifications arrive through the ops. A query is
 * abandoned (the connection closed, the host marked down) when no answer
 * came within the query timeout plus PGSQL_TIMEOUT_GRACE_MS: a stopped
 * server never stops its statement timer, so the client keeps its own. */
#ifndef SATCHEL_PGSQL_POOL_H
#define SATCHEL_PGSQL_POOL_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/libpq_load.h"

#define PGSQL_POOL_MAX 16
#define PGSQL_HOSTS_MAX 8
#define PGSQL_CONNECT_TIMEOUT_MS 3000
#define PGSQL_TIMEOUT_GRACE_MS 250

struct pgsql_pool_settings {
	const char *conninfo;          /* libpq key=value or URI */
	unsigned size;                 /* connections, 1..PGSQL_POOL_MAX */
	unsigned query_timeout_ms;
	const char *channel;           /* LISTEN channel, "" for none */
};

struct pgsql_pool_ops {
	/* The query sent with tag finished: res (the caller PQclears it)
	 * or NULL with error (the query failed or timed out; retry: the
	 * connection broke before an answer, the query may be sent again). */
	void (*done)(void *context, void *tag, PGresult *res,
		     const char *error, bool retry);
	/* A NOTIFY on the channel; payload untrusted-ish (the database's). */
	void (*notify)(void *context, const char *payload);
	/* Notifications flow again after a time without any listening
	 * connection: what was missed meanwhile is unknown. */
	void (*listening)(void *context);
};

struct pgsql_pool;

/* Parses the conninfo (no connection yet). 0, or -1 with *error_r. */
int pgsql_pool_create(const struct pgsql_pool_settings *set,
		      const struct pgsql_pool_ops *ops, void *context,
		      struct pgsql_pool **pool_r, const char **error_r);
void pgsql_pool_destroy(struct pgsql_pool **poolp);

/* False while the circuit is open (see above). */
bool pgsql_pool_available(const struct pgsql_pool *pool);
/* Sends sql with nparams text parameters on an idle connection; tag
 * comes back in ops->done. 0, or -1 when no connection is idle (or the
 * send failed at once). */
int pgsql_pool_send(struct pgsql_pool *pool, uint64_t now_ms,
		    const char *sql, int nparams, const char *const *values,
		    const int *lens, void *tag);
/* Forgets tag: its result, when it comes, is dropped. */
void pgsql_pool_cancel(struct pgsql_pool *pool, void *tag);

/* The sockets to wait on (at most max) and, in *timeout_ms (lowered,
 * never raised; -1 = none), when process must run at the latest. */
size_t pgsql_pool_poll_fds(struct pgsql_pool *pool, struct pollfd *fds,
			   size_t max, uint64_t now_ms, int *timeout_ms);
/* Reads what came, finishes queries (ops->done), connects, times out.
 * Never blocks. */
void pgsql_pool_process(struct pgsql_pool *pool, uint64_t now_ms);

/* Connections up (idle or busy), for tests and the log. */
unsigned pgsql_pool_up(const struct pgsql_pool *pool);

#endif
