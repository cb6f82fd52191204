/* libpq_load.h: libpq, the PostgreSQL client library,
 * loaded with dlopen when a feature that needs it is configured
 * (users = pgsql:..., node_heartbeat_pgsql) instead of linked into
 * every satchel command: its dependencies were a third of the dynamic loader's work at each
 * start of `satchel deliver`, `fetch` or `user`, which never use them.
 *
 * Include this instead of libpq-fe.h: after it, the names used here
 * (PQclear, ...) call through a table that libpq_load() fills; calling
 * one before a successful libpq_load() is a bug (a NULL call). */
#ifndef SATCHEL_LIBPQ_LOAD_H
#define SATCHEL_LIBPQ_LOAD_H

#include <libpq-fe.h>

#define LIBPQ_FUNCTIONS(X) \
	X(PQclear) \
	X(PQconnectPoll) \
	X(PQconnectStartParams) \
	X(PQconnectdb) \
	X(PQconninfoFree) \
	X(PQconninfoParse) \
	X(PQconsumeInput) \
	X(PQerrorMessage) \
	X(PQexecParams) \
	X(PQfinish) \
	X(PQflush) \
	X(PQfname) \
	X(PQfreemem) \
	X(PQgetResult) \
	X(PQgetisnull) \
	X(PQgetlength) \
	X(PQgetvalue) \
	X(PQisBusy) \
	X(PQnfields) \
	X(PQnotifies) \
	X(PQntuples) \
	X(PQresultErrorMessage) \
	X(PQresultStatus) \
	X(PQsendQuery) \
	X(PQsendQueryParams) \
	X(PQsetNoticeProcessor) \
	X(PQsetnonblocking) \
	X(PQsocket) \
	X(PQstatus)

struct libpq_api {
/* f is a declarator here: it cannot take parentheses */
/* NOLINTNEXTLINE(bugprone-macro-parentheses) */
#define LIBPQ_MEMBER(f) __typeof__(f) *f;
	LIBPQ_FUNCTIONS(LIBPQ_MEMBER)
#undef LIBPQ_MEMBER
};

extern struct libpq_api libpq_api;

/* Loads the library once per process (later calls only say how the first
 * went; thread-safe). 0, or -1 with *error_r (static) naming what is
 * missing and the package to install. */
int libpq_load(const char **error_r);

#ifndef LIBPQ_LOAD_SELF
#define PQclear (libpq_api.PQclear)
#define PQconnectPoll (libpq_api.PQconnectPoll)
#define PQconnectStartParams (libpq_api.PQconnectStartParams)
#define PQconnectdb (libpq_api.PQconnectdb)
#define PQconninfoFree (libpq_api.PQconninfoFree)
#define PQconninfoParse (libpq_api.PQconninfoParse)
#define PQconsumeInput (libpq_api.PQconsumeInput)
#define PQerrorMessage (libpq_api.PQerrorMessage)
#define PQexecParams (libpq_api.PQexecParams)
#define PQfinish (libpq_api.PQfinish)
#define PQflush (libpq_api.PQflush)
#define PQfname (libpq_api.PQfname)
#define PQfreemem (libpq_api.PQfreemem)
#define PQgetResult (libpq_api.PQgetResult)
#define PQgetisnull (libpq_api.PQgetisnull)
#define PQgetlength (libpq_api.PQgetlength)
#define PQgetvalue (libpq_api.PQgetvalue)
#define PQisBusy (libpq_api.PQisBusy)
#define PQnfields (libpq_api.PQnfields)
#define PQnotifies (libpq_api.PQnotifies)
#define PQntuples (libpq_api.PQntuples)
#define PQresultErrorMessage (libpq_api.PQresultErrorMessage)
#define PQresultStatus (libpq_api.PQresultStatus)
#define PQsendQuery (libpq_api.PQsendQuery)
#define PQsendQueryParams (libpq_api.PQsendQueryParams)
#define PQsetNoticeProcessor (libpq_api.PQsetNoticeProcessor)
#define PQsetnonblocking (libpq_api.PQsetnonblocking)
#define PQsocket (libpq_api.PQsocket)
#define PQstatus (libpq_api.PQstatus)
#endif

#endif
