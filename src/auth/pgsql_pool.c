/* pgsql_pool.c: non-blocking PostgreSQL connections, host by host, with
 * a circuit breaker (see pgsql_pool.h). */
#include "auth/pgsql_pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/strnum.h"

#define PGSQL_BACKOFF_MIN_MS 1000
#define PGSQL_BACKOFF_MAX_MS 30000
/* conninfo keywords, plus what we add for one host */
#define PGSQL_PARAMS_MAX 64
#define PGSQL_HOST_MAX 256

enum pgsql_host_state { HOST_NEW, HOST_UP, HOST_DOWN };

struct pgsql_host {
	char host[PGSQL_HOST_MAX];     /* "" = libpq's default */
	char hostaddr[64];
	char port[16];
	enum pgsql_host_state state;
	uint64_t retry_ms;             /* DOWN: next attempt */
	uint64_t backoff_ms;
	bool probing;                  /* a connection is being tried */
};

enum pgsql_conn_state { CONN_NONE, CONN_CONNECTING, CONN_SETUP, CONN_IDLE,
			CONN_BUSY };

struct pgsql_conn {
	enum pgsql_conn_state state;
	PGconn *pg;
	unsigned host;
	bool want_write;               /* connecting: POLLOUT; busy: flush */
	bool listening;
	uint64_t deadline_ms;
	void *tag;                     /* BUSY: the query's; NULL: dropped */
	PGresult *res;                 /* BUSY: the first result */
};

struct pgsql_pool {
	struct pgsql_pool_ops ops;
	void *context;
	unsigned size, query_timeout_ms, connect_timeout_ms;
	char *channel_sql;             /* "LISTEN ..." or NULL */
	struct pgsql_host hosts[PGSQL_HOSTS_MAX];
	unsigned n_hosts;
	/* the conninfo's own keywords, host/hostaddr/port/options left out */
	const char *keys[PGSQL_PARAMS_MAX], *vals[PGSQL_PARAMS_MAX];
	unsigned n_keys;
	char *options;                 /* theirs + our statement_timeout */
	PQconninfoOption *parsed;
	struct pgsql_conn conns[PGSQL_POOL_MAX];
	bool was_listening;
};

static void pgsql_notice(void *arg, const char *message)
{
	(void)arg;
	log_debug("pgsql: %s", message);
}

/* The i-th item of a comma-separated list into buf ("" past its end;
 * a list of one applies to every i). -1 when it does not fit. */
static int pgsql_list_item(const char *list, unsigned i, char *buf,
			   size_t size)
{
	const char *p = list;
	unsigned k;
	size_t len;

	buf[0] = '\0';
	if (list == NULL)
		return 0;
	if (strchr(list, ',') == NULL)
		i = 0;
	for (k = 0; k < i && p != NULL; k++) {
		p = strchr(p, ',');
		if (p != NULL)
			p++;
	}
	if (p == NULL)
		return 0;
	len = strcspn(p, ",");
	if (len >= size)
		return -1;
	memcpy(buf, p, len);
	buf[len] = '\0';
	return 0;
}

static unsigned pgsql_list_count(const char *list)
{
	unsigned n = 1;

	if (list == NULL || list[0] == '\0')
		return 1;
	for (; *list != '\0'; list++)
		n += *list == ',';
	return n;
}

static int pgsql_parse(struct pgsql_pool *p, const char *conninfo,
		       const char **error_r)
{
	const char *host = NULL, *hostaddr = NULL, *port = NULL;
	uint64_t secs;
	const char *options = "", *timeout = NULL;
	bool keepalives = false, appname = false;
	char *err = NULL;
	PQconninfoOption *o;
	unsigned i, n;
	size_t olen;

	p->parsed = PQconninfoParse(conninfo, &err);
	if (p->parsed == NULL) {
		if (err != NULL)
			log_error("pgsql conninfo: %s", err);
		PQfreemem(err);
		*error_r = "the PostgreSQL conninfo does not parse (see the "
			   "log)";
		return -1;
	}
	for (o = p->parsed; o->keyword != NULL; o++) {
		if (o->val == NULL)
			continue;
		if (strcmp(o->keyword, "host") == 0)
			host = o->val;
		else if (strcmp(o->keyword, "hostaddr") == 0)
			hostaddr = o->val;
		else if (strcmp(o->keyword, "port") == 0)
			port = o->val;
		else if (strcmp(o->keyword, "options") == 0)
			options = o->val;
		else if (p->n_keys + 12 < PGSQL_PARAMS_MAX) {
			if (strcmp(o->keyword, "connect_timeout") == 0)
				timeout = o->val;
			keepalives |= strncmp(o->keyword, "keepalives", 10) == 0;
			appname |= strcmp(o->keyword, "application_name") == 0;
			p->keys[p->n_keys] = o->keyword;
			p->vals[p->n_keys++] = o->val;
		}
	}
	n = pgsql_list_count(host);
	if (pgsql_list_count(hostaddr) > n)
		n = pgsql_list_count(hostaddr);
	if (n > PGSQL_HOSTS_MAX) {
		*error_r = "too many PostgreSQL hosts";
		return -1;
	}
	for (i = 0; i < n; i++) {
		struct pgsql_host *h = &p->hosts[i];

		if (pgsql_list_item(host, i, h->host, sizeof(h->host)) < 0 ||
		    pgsql_list_item(hostaddr, i, h->hostaddr,
				    sizeof(h->hostaddr)) < 0 ||
		    pgsql_list_item(port, i, h->port, sizeof(h->port)) < 0) {
			*error_r = "a PostgreSQL host or port is too long";
			return -1;
		}
		h->backoff_ms = PGSQL_BACKOFF_MIN_MS;
	}
	p->n_hosts = n;
	p->connect_timeout_ms = PGSQL_CONNECT_TIMEOUT_MS;
	/* libpq's connect_timeout, in seconds; anything else keeps ours */
	if (timeout != NULL && strnum_parse_u64(timeout, 3600, &secs) == 0 &&
	    secs > 0)
		p->connect_timeout_ms = (unsigned)secs * 1000;
	/* the server's own timer; the client keeps one too (a stopped
	 * server runs no timer) */
	olen = strlen(options) + 64;
	p->options = malloc(olen);
	if (p->options == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	snprintf(p->options, olen, "%s%s-c statement_timeout=%u", options,
		 options[0] != '\0' ? " " : "", p->query_timeout_ms);
	if (!keepalives) {
		static const char *const ka[][2] = {
			{ "keepalives", "1" }, { "keepalives_idle", "10" },
			{ "keepalives_interval", "5" },
			{ "keepalives_count", "3" },
		};

		for (i = 0; i < 4; i++) {
			p->keys[p->n_keys] = ka[i][0];
			p->vals[p->n_keys++] = ka[i][1];
		}
	}
	if (!appname) {
		p->keys[p->n_keys] = "application_name";
		p->vals[p->n_keys++] = "satchel-auth";
	}
	return 0;
}

int pgsql_pool_create(const struct pgsql_pool_settings *set,
		      const struct pgsql_pool_ops *ops, void *context,
		      struct pgsql_pool **pool_r, const char **error_r)
{
	struct pgsql_pool *p;

	if (libpq_load(error_r) < 0)
		return -1;
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	p->ops = *ops;
	p->context = context;
	p->size = set->size < 1 ? 1 : set->size > PGSQL_POOL_MAX ?
		  PGSQL_POOL_MAX : set->size;
	p->query_timeout_ms = set->query_timeout_ms;
	if (pgsql_parse(p, set->conninfo, error_r) < 0)
		goto out_destroy;
	if (set->channel[0] != '\0') {
		/* the channel as a quoted identifier: "..." with inner
		 * quotes doubled (PQescapeIdentifier needs a connection) */
		char *o = malloc(strlen(set->channel) * 2 + 16);
		const char *ch;

		if (o == NULL) {
			*error_r = "out of memory";
			goto out_destroy;
		}
		p->channel_sql = o;
		o += sprintf(o, "LISTEN \"");
		for (ch = set->channel; *ch != '\0'; ch++) {
			if (*ch == '"')
				*o++ = '"';
			*o++ = *ch;
		}
		strcpy(o, "\"");
	}
	*pool_r = p;
	return 0;

out_destroy:
	pgsql_pool_destroy(&p);
	return -1;
}

static void pgsql_conn_close(struct pgsql_conn *c)
{
	if (c->res != NULL)
		PQclear(c->res);
	if (c->pg != NULL)
		PQfinish(c->pg);
	c->res = NULL;
	c->pg = NULL;
	c->tag = NULL;
	c->state = CONN_NONE;
	c->listening = false;
	c->want_write = false;
}

void pgsql_pool_destroy(struct pgsql_pool **poolp)
{
	struct pgsql_pool *p = *poolp;
	unsigned i;

	if (p == NULL)
		return;
	*poolp = NULL;
	for (i = 0; i < PGSQL_POOL_MAX; i++)
		pgsql_conn_close(&p->conns[i]);
	PQconninfoFree(p->parsed);
	free(p->options);
	free(p->channel_sql);
	free(p);
}

static const char *pgsql_host_name(const struct pgsql_host *h)
{
	return h->host[0] != '\0' ? h->host :
	       h->hostaddr[0] != '\0' ? h->hostaddr : "(default)";
}

static void pgsql_host_down(struct pgsql_pool *p, unsigned i, uint64_t now,
			    const char *why)
{
	struct pgsql_host *h = &p->hosts[i];

	if (h->state != HOST_DOWN)
		log_warn("pgsql: host %s%s%s is down (%s); retrying in the "
			 "background", pgsql_host_name(h),
			 h->port[0] != '\0' ? ":" : "", h->port, why);
	else if (h->backoff_ms < PGSQL_BACKOFF_MAX_MS)
		h->backoff_ms *= 2;
	if (h->backoff_ms > PGSQL_BACKOFF_MAX_MS)
		h->backoff_ms = PGSQL_BACKOFF_MAX_MS;
	h->state = HOST_DOWN;
	h->retry_ms = now + h->backoff_ms;
	h->probing = false;
}

/* One line of a libpq error (they end in newlines). */
static const char *pgsql_errline(const char *msg, char *buf, size_t size)
{
	size_t len = strcspn(msg, "\n");

	if (len >= size)
		len = size - 1;
	memcpy(buf, msg, len);
	buf[len] = '\0';
	return buf;
}

/* The connection c broke or timed out: its host is down; a query on it
 * ends with error. */
static void pgsql_conn_fail(struct pgsql_pool *p, struct pgsql_conn *c,
			    uint64_t now, const char *why, bool retry)
{
	void *tag = c->state == CONN_BUSY ? c->tag : NULL;
	bool busy = c->state == CONN_BUSY;

	pgsql_host_down(p, c->host, now, why);
	pgsql_conn_close(c);
	if (busy && tag != NULL)
		p->ops.done(p->context, tag, NULL, why, retry);
}

/* A host for a new connection: an untried or working one in conninfo
 * order, else a down one due for its background attempt. */
static int pgsql_pick_host(struct pgsql_pool *p, uint64_t now)
{
	unsigned i;

	for (i = 0; i < p->n_hosts; i++) {
		if (p->hosts[i].state != HOST_DOWN)
			return (int)i;
	}
	for (i = 0; i < p->n_hosts; i++) {
		if (!p->hosts[i].probing && p->hosts[i].retry_ms <= now)
			return (int)i;
	}
	return -1;
}

static void pgsql_conn_start(struct pgsql_pool *p, struct pgsql_conn *c,
			     uint64_t now)
{
	const char *keys[PGSQL_PARAMS_MAX + 5], *vals[PGSQL_PARAMS_MAX + 5];
	char errbuf[160];
	struct pgsql_host *h;
	unsigned n = 0, i;
	int pick = pgsql_pick_host(p, now);

	if (pick < 0)
		return;
	h = &p->hosts[pick];
	for (i = 0; i < p->n_keys; i++) {
		keys[n] = p->keys[i];
		vals[n++] = p->vals[i];
	}
	if (h->host[0] != '\0') {
		keys[n] = "host";
		vals[n++] = h->host;
	}
	if (h->hostaddr[0] != '\0') {
		keys[n] = "hostaddr";
		vals[n++] = h->hostaddr;
	}
	if (h->port[0] != '\0') {
		keys[n] = "port";
		vals[n++] = h->port;
	}
	keys[n] = "options";
	vals[n++] = p->options;
	keys[n] = NULL;
	vals[n] = NULL;
	c->host = (unsigned)pick;
	c->pg = PQconnectStartParams(keys, vals, 0);
	if (c->pg == NULL) {
		log_error("pgsql: out of memory");
		return;
	}
	if (h->state == HOST_DOWN)
		h->probing = true;
	PQsetNoticeProcessor(c->pg, pgsql_notice, NULL);
	if (PQstatus(c->pg) == CONNECTION_BAD) {
		pgsql_conn_fail(p, c, now,
				pgsql_errline(PQerrorMessage(c->pg), errbuf,
					      sizeof(errbuf)), false);
		return;
	}
	c->state = CONN_CONNECTING;
	c->want_write = true;  /* as if PQconnectPoll said WRITING */
	c->deadline_ms = now + p->connect_timeout_ms;
}

static unsigned pgsql_listening(const struct pgsql_pool *p)
{
	unsigned i, n = 0;

	for (i = 0; i < p->size; i++)
		n += p->conns[i].listening;
	return n;
}

static void pgsql_conn_ready(struct pgsql_pool *p, struct pgsql_conn *c,
			     uint64_t now)
{
	struct pgsql_host *h = &p->hosts[c->host];
	char errbuf[160];

	if (h->state == HOST_DOWN)
		log_info("pgsql: host %s%s%s is back", pgsql_host_name(h),
			 h->port[0] != '\0' ? ":" : "", h->port);
	h->state = HOST_UP;
	h->probing = false;
	h->backoff_ms = PGSQL_BACKOFF_MIN_MS;
	if (PQsetnonblocking(c->pg, 1) != 0) {
		pgsql_conn_fail(p, c, now, "cannot make it non-blocking",
				false);
		return;
	}
	if (p->channel_sql == NULL) {
		c->state = CONN_IDLE;
		return;
	}
	if (PQsendQuery(c->pg, p->channel_sql) != 1) {
		pgsql_conn_fail(p, c, now,
				pgsql_errline(PQerrorMessage(c->pg), errbuf,
					      sizeof(errbuf)), false);
		return;
	}
	c->state = CONN_SETUP;
	c->deadline_ms = now + p->query_timeout_ms + PGSQL_TIMEOUT_GRACE_MS;
	c->want_write = PQflush(c->pg) == 1;
}

static void pgsql_conn_connecting(struct pgsql_pool *p, struct pgsql_conn *c,
				  uint64_t now)
{
	struct pollfd pfd;
	char errbuf[160];
	PostgresPollingStatusType st;

	pfd.fd = PQsocket(c->pg);
	pfd.events = c->want_write ? POLLOUT : POLLIN;
	pfd.revents = 0;
	/* PQconnectPoll only once its socket is ready (libpq's rule) */
	if (pfd.fd >= 0 && poll(&pfd, 1, 0) == 0) {
		if (now >= c->deadline_ms)
			pgsql_conn_fail(p, c, now, "connect timeout", false);
		return;
	}
	st = PQconnectPoll(c->pg);
	switch (st) {
	case PGRES_POLLING_OK:
		pgsql_conn_ready(p, c, now);
		return;
	case PGRES_POLLING_READING:
		c->want_write = false;
		break;
	case PGRES_POLLING_WRITING:
		c->want_write = true;
		break;
	default:
		pgsql_conn_fail(p, c, now,
				pgsql_errline(PQerrorMessage(c->pg), errbuf,
					      sizeof(errbuf)), false);
		return;
	}
	if (now >= c->deadline_ms)
		pgsql_conn_fail(p, c, now, "connect timeout", false);
}

static void pgsql_conn_notifies(struct pgsql_pool *p, struct pgsql_conn *c)
{
	PGnotify *n;

	while (c->pg != NULL && (n = PQnotifies(c->pg)) != NULL) {
		p->ops.notify(p->context, n->extra != NULL ? n->extra : "");
		PQfreemem(n);
	}
}

/* Reads what came on a connected c; finishes its query or LISTEN. */
static void pgsql_conn_read(struct pgsql_pool *p, struct pgsql_conn *c,
			    uint64_t now)
{
	char errbuf[160];
	PGresult *r;

	if (c->want_write) {
		int f = PQflush(c->pg);

		if (f < 0)
			goto out_broken;
		c->want_write = f == 1;
	}
	if (PQconsumeInput(c->pg) != 1 || PQstatus(c->pg) == CONNECTION_BAD)
		goto out_broken;
	pgsql_conn_notifies(p, c);
	if (c->state == CONN_IDLE)
		return;
	while (!PQisBusy(c->pg)) {
		r = PQgetResult(c->pg);
		if (r == NULL)
			break;
		if (c->res == NULL)
			c->res = r;
		else
			PQclear(r);
	}
	if (PQisBusy(c->pg)) {
		if (now >= c->deadline_ms)
			pgsql_conn_fail(p, c, now, "no answer within the "
					"query timeout", false);
		return;
	}
	/* the query is over */
	r = c->res;
	c->res = NULL;
	if (PQstatus(c->pg) == CONNECTION_BAD) {
		PQclear(r);
		goto out_broken;
	}
	if (c->state == CONN_SETUP) {
		bool was = pgsql_listening(p) > 0;

		c->listening = r != NULL &&
			       PQresultStatus(r) == PGRES_COMMAND_OK;
		if (!c->listening)
			log_warn("pgsql: LISTEN on host %s failed (%s): cache "
				 "invalidations only by TTL while on it",
				 pgsql_host_name(&p->hosts[c->host]),
				 r != NULL ? pgsql_errline(
					 PQresultErrorMessage(r), errbuf,
					 sizeof(errbuf)) : "no result");
		PQclear(r);
		c->state = CONN_IDLE;
		if (!was && c->listening && p->ops.listening != NULL)
			p->ops.listening(p->context);
		return;
	}
	c->state = CONN_IDLE;
	if (c->tag == NULL) {
		PQclear(r);
		return;
	}
	{
		void *tag = c->tag;

		c->tag = NULL;
		if (r == NULL || PQresultStatus(r) != PGRES_TUPLES_OK) {
			const char *e = r != NULL ? pgsql_errline(
				PQresultErrorMessage(r), errbuf,
				sizeof(errbuf)) : "no result";

			PQclear(r);
			p->ops.done(p->context, tag, NULL, e, false);
			return;
		}
		p->ops.done(p->context, tag, r, NULL, false);
	}
	return;

out_broken:
	pgsql_conn_fail(p, c, now,
			pgsql_errline(PQerrorMessage(c->pg), errbuf,
				      sizeof(errbuf)), true);
}

void pgsql_pool_process(struct pgsql_pool *p, uint64_t now)
{
	unsigned i;

	for (i = 0; i < p->size; i++) {
		struct pgsql_conn *c = &p->conns[i];

		switch (c->state) {
		case CONN_NONE:
			pgsql_conn_start(p, c, now);
			break;
		case CONN_CONNECTING:
			pgsql_conn_connecting(p, c, now);
			break;
		case CONN_SETUP:
		case CONN_IDLE:
		case CONN_BUSY:
			pgsql_conn_read(p, c, now);
			break;
		}
	}
	if (p->was_listening && pgsql_listening(p) == 0)
		log_warn("pgsql: no connection listens for invalidations now");
	p->was_listening = pgsql_listening(p) > 0;
}

bool pgsql_pool_available(const struct pgsql_pool *p)
{
	unsigned i;

	for (i = 0; i < p->size; i++) {
		enum pgsql_conn_state s = p->conns[i].state;

		if (s == CONN_IDLE || s == CONN_BUSY || s == CONN_SETUP ||
		    (s == CONN_CONNECTING &&
		     p->hosts[p->conns[i].host].state != HOST_DOWN))
			return true;
	}
	for (i = 0; i < p->n_hosts; i++) {
		if (p->hosts[i].state == HOST_NEW)
			return true;
	}
	return false;
}

int pgsql_pool_send(struct pgsql_pool *p, uint64_t now, const char *sql,
		    int nparams, const char *const *values, const int *lens,
		    void *tag)
{
	/* text parameters: unused ones ($2 when a query has only $1)
	 * then need no type of their own */
	static const Oid types[8] = { 25, 25, 25, 25, 25, 25, 25, 25 };
	int formats[8] = { 0 };
	unsigned i;

	if (nparams > 8)
		return -1;
	for (i = 0; i < p->size; i++) {
		struct pgsql_conn *c = &p->conns[i];
		int f;

		if (c->state != CONN_IDLE)
			continue;
		if (PQsendQueryParams(c->pg, sql, nparams, types, values, lens,
				      formats, 0) != 1)
			continue; /* found broken at the next process */
		f = PQflush(c->pg);
		if (f < 0)
			continue;
		c->want_write = f == 1;
		c->state = CONN_BUSY;
		c->tag = tag;
		c->deadline_ms = now + p->query_timeout_ms +
				 PGSQL_TIMEOUT_GRACE_MS;
		return 0;
	}
	return -1;
}

void pgsql_pool_cancel(struct pgsql_pool *p, void *tag)
{
	unsigned i;

	for (i = 0; i < p->size; i++) {
		if (p->conns[i].state == CONN_BUSY && p->conns[i].tag == tag)
			p->conns[i].tag = NULL;
	}
}

static void pgsql_lower(int *timeout_ms, uint64_t at, uint64_t now)
{
	uint64_t d = at > now ? at - now : 0;
	int ms = d > 60000 ? 60000 : (int)d;

	if (*timeout_ms < 0 || ms < *timeout_ms)
		*timeout_ms = ms;
}

size_t pgsql_pool_poll_fds(struct pgsql_pool *p, struct pollfd *fds,
			   size_t max, uint64_t now, int *timeout_ms)
{
	size_t n = 0;
	unsigned i;

	for (i = 0; i < p->size; i++) {
		struct pgsql_conn *c = &p->conns[i];

		if (c->state == CONN_NONE) {
			int pick = pgsql_pick_host(p, now);
			unsigned k;

			if (pick >= 0) {
				pgsql_lower(timeout_ms, now, now);
				continue;
			}
			/* the next background attempt */
			for (k = 0; k < p->n_hosts; k++) {
				if (!p->hosts[k].probing)
					pgsql_lower(timeout_ms,
						    p->hosts[k].retry_ms, now);
			}
			continue;
		}
		if (n == max || PQsocket(c->pg) < 0)
			continue;
		fds[n].fd = PQsocket(c->pg);
		fds[n].events = POLLIN | (c->want_write ? POLLOUT : 0);
		if (c->state == CONN_CONNECTING && c->want_write)
			fds[n].events = POLLOUT;
		fds[n].revents = 0;
		n++;
		if (c->state != CONN_IDLE)
			pgsql_lower(timeout_ms, c->deadline_ms, now);
	}
	return n;
}

unsigned pgsql_pool_up(const struct pgsql_pool *p)
{
	unsigned i, n = 0;

	for (i = 0; i < p->size; i++)
		n += p->conns[i].state == CONN_IDLE ||
		     p->conns[i].state == CONN_BUSY;
	return n;
}
