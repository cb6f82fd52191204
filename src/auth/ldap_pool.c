/* ldap_pool.c: LDAP connections made on threads, searched from the loop
 * (see ldap_pool.h). */
#include "auth/ldap_pool.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"

enum ldap_slot_state { SLOT_DOWN, SLOT_CONNECTING, SLOT_UP };

struct ldap_uri {
	char *text;
	bool tls;                     /* ldaps:// */
	unsigned connecting;          /* threads trying it */
	unsigned backoff_ms;          /* 0: not down */
	uint64_t down_until;
};

struct ldap_search {
	int msgid;                    /* 0: free */
	void *tag;                    /* NULL: cancelled */
	uint64_t deadline;
};

struct ldap_slot {
	enum ldap_slot_state state;
	unsigned uri;
	LDAP *ld;
	int fd;
	struct ldap_search searches[LDAP_CONN_SEARCHES];
	unsigned n_searches;
	bool broken;                  /* a send failed: closed by process */
};

/* One connection being made: owned by its thread until it writes its
 * pointer into the pipe, then by the loop. */
struct ldap_connect {
	pthread_t thread;
	struct ldap_pool *pool;       /* read only on the thread */
	unsigned slot, uri;
	LDAP *ld;                     /* the result, NULL on failure */
	char error[256];
};

struct ldap_pool {
	struct ldap_pool_settings set;
	const struct ldap_pool_ops *ops;
	void *context;
	struct ldap_uri uris[LDAP_URIS_MAX];
	unsigned n_uris;
	struct ldap_slot slots[LDAP_POOL_MAX];
	struct ldap_connect *connects[LDAP_POOL_MAX];
	int pipe_fds[2];              /* threads -> loop: finished connects */
};

static void ldap_timeval(unsigned ms, struct timeval *tv)
{
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (ms % 1000) * 1000;
}

/* ---- on the connecting thread ---- */

/* why into error; ld (if any) unbound */
static void ldap_handle_fail(LDAP *ld, const char *step, int rc,
			     char *error, size_t size)
{
	char *diag = NULL;

	if (ld != NULL)
		(void)ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
	snprintf(error, size, "%s: %s%s%s", step, ldap_err2string(rc),
		 diag != NULL && diag[0] != '\0' ? ": " : "",
		 diag != NULL ? diag : "");
	ldap_memfree(diag);
	if (ld != NULL)
		ldap_unbind_ext(ld, NULL, NULL);
}

/* A boolean option is on for any non-NULL value (LDAP_OPT_ON points at a
 * variable inside liblber, which a library opened with dlopen cannot
 * hand to code linked without it). */
static const int ldap_opt_on = 1;

static int ldap_handle_options(const struct ldap_pool_settings *set,
			       LDAP *ld, bool tls, char *error, size_t size)
{
	int version = LDAP_VERSION3, demand = LDAP_OPT_X_TLS_DEMAND, zero = 0;
	struct timeval tv;
	int rc;

	ldap_timeval(set->network_timeout_ms, &tv);
	if ((rc = ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version)) ||
	    (rc = ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv)) ||
	    (rc = ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv)) ||
	    (rc = ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF)) ||
	    (rc = ldap_set_option(ld, LDAP_OPT_RESTART, &ldap_opt_on))) {
		ldap_handle_fail(ld, "options", rc, error, size);
		return -1;
	}
	if (!tls)
		return 0;
	/* the CA file is read here: an unreadable one fails here */
	if ((set->cafile[0] != '\0' &&
	     (rc = ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE,
				   set->cafile))) ||
	    (rc = ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT,
				  &demand)) ||
	    (rc = ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &zero))) {
		ldap_handle_fail(ld, "TLS settings (ldap_tls_cafile)", rc,
				 error, size);
		return -1;
	}
	return 0;
}

int ldap_pool_handle(const struct ldap_pool_settings *set, const char *uri,
		     LDAP **ld_r, char *error, size_t size)
{
	bool tls = ldap_is_ldaps_url(uri) != 0;
	LDAP *ld = NULL;
	int rc;

	*ld_r = NULL;
	rc = ldap_initialize(&ld, uri);
	if (rc != LDAP_SUCCESS) {
		ldap_handle_fail(NULL, "initialize", rc, error, size);
		return -1;
	}
	if (ldap_handle_options(set, ld, tls || set->starttls, error,
				size) < 0)
		return -1;
	if (!tls && set->starttls &&
	    (rc = ldap_start_tls_s(ld, NULL, NULL)) != LDAP_SUCCESS) {
		ldap_handle_fail(ld, "StartTLS", rc, error, size);
		return -1;
	}
	*ld_r = ld;
	return 0;
}

static void *ldap_connect_run(void *arg)
{
	struct ldap_connect *c = arg;
	const struct ldap_pool_settings *set = &c->pool->set;
	struct berval cred;
	LDAP *ld;
	int rc;

	if (ldap_pool_handle(set, c->pool->uris[c->uri].text, &ld, c->error,
			     sizeof(c->error)) < 0)
		goto out_done;
	/* the bind connects (and, for ldaps, handshakes) first */
	cred.bv_val = (char *)set->bind_password;
	cred.bv_len = strlen(set->bind_password);
	rc = ldap_sasl_bind_s(ld, set->bind_dn[0] != '\0' ? set->bind_dn :
			      NULL, LDAP_SASL_SIMPLE, &cred, NULL, NULL,
			      NULL);
	if (rc != LDAP_SUCCESS) {
		ldap_handle_fail(ld, "bind", rc, c->error, sizeof(c->error));
		goto out_done;
	}
	c->ld = ld;
out_done:
	/* a pointer is written whole (PIPE_BUF); the loop owns c now */
	if (write(c->pool->pipe_fds[1], &c, sizeof(c)) != sizeof(c))
		log_error("ldap: the connection's pipe: %s", strerror(errno));
	return NULL;
}

/* ---- on the loop ---- */

/* A URI that is up (or untried) takes every connection; one that is
 * down gets one probe at a time once its backoff has passed. */
static bool ldap_uri_eligible(const struct ldap_uri *u, uint64_t now)
{
	return u->backoff_ms == 0 ||
	       (u->connecting == 0 && now >= u->down_until);
}

static void ldap_uri_down(struct ldap_pool *pool, unsigned i, uint64_t now,
			  const char *why)
{
	struct ldap_uri *u = &pool->uris[i];

	if (u->backoff_ms != 0 && now < u->down_until)
		return; /* another connection to it failed just now */
	u->backoff_ms = u->backoff_ms == 0 ? LDAP_BACKOFF_MIN_MS :
			u->backoff_ms * 2 > LDAP_BACKOFF_MAX_MS ?
			LDAP_BACKOFF_MAX_MS : u->backoff_ms * 2;
	u->down_until = now + u->backoff_ms;
	log_warn("ldap: %s is down (%s); tried again in %u s", u->text, why,
		 u->backoff_ms / 1000);
}

/* Closes slot s; its searches end (retry: they may be sent again). */
static void ldap_slot_close(struct ldap_pool *pool, struct ldap_slot *s,
			    const char *why, bool retry)
{
	unsigned i;

	if (s->ld != NULL)
		ldap_unbind_ext(s->ld, NULL, NULL);
	s->ld = NULL;
	s->fd = -1;
	s->state = SLOT_DOWN;
	s->broken = false;
	for (i = 0; i < LDAP_CONN_SEARCHES; i++) {
		struct ldap_search *q = &s->searches[i];
		void *tag = q->tag;

		if (q->msgid == 0)
			continue;
		q->msgid = 0;
		q->tag = NULL;
		if (tag != NULL)
			pool->ops->done(pool->context, tag, why, retry);
	}
	s->n_searches = 0;
}

static void ldap_slot_start(struct ldap_pool *pool, unsigned i, uint64_t now)
{
	struct ldap_slot *s = &pool->slots[i];
	struct ldap_connect *c;
	sigset_t all, old;
	unsigned k;
	int rc;

	for (k = 0; k < pool->n_uris; k++) {
		if (ldap_uri_eligible(&pool->uris[k], now))
			break;
	}
	if (k == pool->n_uris)
		return;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return;
	c->pool = pool;
	c->slot = i;
	c->uri = k;
	/* the thread takes no signal: the loop's handlers stay the loop's */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&c->thread, NULL, ldap_connect_run, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		log_error("ldap: cannot start a connecting thread");
		free(c);
		return;
	}
	pool->connects[i] = c;
	pool->uris[k].connecting++;
	s->state = SLOT_CONNECTING;
	s->uri = k;
}

/* A connecting thread finished: the slot is up, or its URI down. */
static void ldap_slot_connected(struct ldap_pool *pool,
				struct ldap_connect *c, uint64_t now)
{
	struct ldap_slot *s = &pool->slots[c->slot];
	struct ldap_uri *u = &pool->uris[c->uri];
	Sockbuf *sb = NULL;

	(void)pthread_join(c->thread, NULL);
	pool->connects[c->slot] = NULL;
	u->connecting--;
	s->state = SLOT_DOWN;
	if (c->ld == NULL) {
		ldap_uri_down(pool, c->uri, now, c->error);
		goto out_free;
	}
	/* reads may then stop mid-message and go on when more comes */
	if (ldap_get_option(c->ld, LDAP_OPT_DESC, &s->fd) != LDAP_OPT_SUCCESS ||
	    ldap_get_option(c->ld, LDAP_OPT_SOCKBUF, &sb) != LDAP_OPT_SUCCESS ||
	    ber_sockbuf_ctrl(sb, LBER_SB_OPT_SET_NONBLOCK, (void *)1) != 1) {
		ldap_unbind_ext(c->ld, NULL, NULL);
		ldap_uri_down(pool, c->uri, now, "no descriptor");
		goto out_free;
	}
	if (u->backoff_ms != 0)
		log_info("ldap: %s is up again", u->text);
	u->backoff_ms = 0;
	s->ld = c->ld;
	s->state = SLOT_UP;
out_free:
	free(c);
}

static void ldap_pool_take_connects(struct ldap_pool *pool, uint64_t now)
{
	struct ldap_connect *c;

	while (read(pool->pipe_fds[0], &c, sizeof(c)) == sizeof(c))
		ldap_slot_connected(pool, c, now);
}

static struct ldap_search *ldap_slot_find(struct ldap_slot *s, int msgid)
{
	unsigned i;

	for (i = 0; i < LDAP_CONN_SEARCHES; i++) {
		if (s->searches[i].msgid == msgid)
			return &s->searches[i];
	}
	return NULL;
}

static void ldap_search_end(struct ldap_pool *pool, struct ldap_slot *s,
			    struct ldap_search *q, const char *error)
{
	void *tag = q->tag;

	q->msgid = 0;
	q->tag = NULL;
	s->n_searches--;
	if (tag != NULL)
		pool->ops->done(pool->context, tag, error, false);
}

static void ldap_slot_result(struct ldap_pool *pool, struct ldap_slot *s,
			     LDAPMessage *msg)
{
	struct ldap_search *q = ldap_slot_find(s, ldap_msgid(msg));
	int type = ldap_msgtype(msg), err = LDAP_OTHER;

	if (q == NULL)
		return;
	if (type == LDAP_RES_SEARCH_ENTRY) {
		if (q->tag != NULL)
			pool->ops->entry(pool->context, q->tag, s->ld, msg);
		return;
	}
	if (type != LDAP_RES_SEARCH_RESULT)
		return; /* references: referrals are not followed */
	if (ldap_parse_result(s->ld, msg, &err, NULL, NULL, NULL, NULL,
			      0) != LDAP_SUCCESS)
		err = LDAP_OTHER;
	ldap_search_end(pool, s, q, err == LDAP_SUCCESS ? NULL :
			ldap_err2string(err));
}

/* Reads every message that is there (libldap may hold some already
 * decrypted, so until it says none, not only when the fd is readable). */
static void ldap_slot_read(struct ldap_pool *pool, struct ldap_slot *s)
{
	struct timeval zero = { 0, 0 };

	while (s->state == SLOT_UP) {
		LDAPMessage *msg = NULL;
		int rc = ldap_result(s->ld, LDAP_RES_ANY, LDAP_MSG_ONE, &zero,
				     &msg);

		if (rc == 0)
			return;
		if (rc < 0) {
			ldap_msgfree(msg);
			ldap_slot_close(pool, s, "the connection closed",
					true);
			return;
		}
		ldap_slot_result(pool, s, msg);
		ldap_msgfree(msg);
	}
}

static void ldap_slot_timeouts(struct ldap_pool *pool, struct ldap_slot *s,
			       uint64_t now)
{
	unsigned i;

	for (i = 0; i < LDAP_CONN_SEARCHES && s->state == SLOT_UP; i++) {
		struct ldap_search *q = &s->searches[i];

		if (q->msgid == 0 || now < q->deadline)
			continue;
		/* a hung server: this connection is done for; the others
		 * searching on it try once more elsewhere */
		ldap_search_end(pool, s, q, "no answer within the search "
				"timeout");
		ldap_uri_down(pool, s->uri, now, "a search timed out");
		ldap_slot_close(pool, s, "the server hangs", true);
	}
}

int ldap_pool_create(const struct ldap_pool_settings *set,
		     const struct ldap_pool_ops *ops, void *context,
		     struct ldap_pool **pool_r, const char **error_r)
{
	struct ldap_pool *pool;
	char *copy, *tok, *save = NULL;
	int version = LDAP_VERSION3;
	unsigned i;

	if (libldap_load(error_r) < 0)
		return -1;
	pool = calloc(1, sizeof(*pool));
	if (pool == NULL || (copy = strdup(set->uris)) == NULL) {
		free(pool);
		*error_r = "out of memory";
		return -1;
	}
	pool->set = *set;
	pool->ops = ops;
	pool->context = context;
	pool->pipe_fds[0] = pool->pipe_fds[1] = -1;
	for (i = 0; i < LDAP_POOL_MAX; i++)
		pool->slots[i].fd = -1;
	for (tok = strtok_r(copy, " \t", &save); tok != NULL;
	     tok = strtok_r(NULL, " \t", &save)) {
		struct ldap_uri *u = &pool->uris[pool->n_uris];

		if (pool->n_uris == LDAP_URIS_MAX) {
			*error_r = "more than 8 LDAP URIs";
			goto out_fail;
		}
		if (!ldap_is_ldap_url(tok) && !ldap_is_ldaps_url(tok)) {
			*error_r = "expected ldap://HOST[:PORT] or "
				   "ldaps://HOST[:PORT] URIs";
			goto out_fail;
		}
		u->tls = ldap_is_ldaps_url(tok) != 0;
		u->text = strdup(tok);
		if (u->text == NULL) {
			*error_r = "out of memory";
			goto out_fail;
		}
		pool->n_uris++;
	}
	if (pool->n_uris == 0) {
		*error_r = "no LDAP URI";
		goto out_fail;
	}
	if (pool->set.size < 1 || pool->set.size > LDAP_POOL_MAX)
		pool->set.size = 1;
	if (pipe2(pool->pipe_fds, O_CLOEXEC) < 0 ||
	    fcntl(pool->pipe_fds[0], F_SETFL, O_NONBLOCK) < 0) {
		*error_r = "cannot make a pipe";
		goto out_fail;
	}
	/* libldap's global options are set up here, on the loop, before
	 * any thread could race to do it */
	(void)ldap_set_option(NULL, LDAP_OPT_PROTOCOL_VERSION, &version);
	free(copy);
	*pool_r = pool;
	return 0;

out_fail:
	free(copy);
	ldap_pool_destroy(&pool);
	return -1;
}

void ldap_pool_destroy(struct ldap_pool **poolp)
{
	struct ldap_pool *pool = *poolp;
	unsigned i;

	if (pool == NULL)
		return;
	*poolp = NULL;
	for (i = 0; i < LDAP_POOL_MAX; i++) {
		struct ldap_connect *c = pool->connects[i];

		if (c == NULL)
			continue;
		(void)pthread_join(c->thread, NULL);
		if (c->ld != NULL)
			ldap_unbind_ext(c->ld, NULL, NULL);
		free(c);
	}
	for (i = 0; i < LDAP_POOL_MAX; i++) {
		if (pool->slots[i].ld != NULL)
			ldap_unbind_ext(pool->slots[i].ld, NULL, NULL);
	}
	for (i = 0; i < pool->n_uris; i++)
		free(pool->uris[i].text);
	if (pool->pipe_fds[0] >= 0)
		close(pool->pipe_fds[0]);
	if (pool->pipe_fds[1] >= 0)
		close(pool->pipe_fds[1]);
	free(pool);
}

bool ldap_pool_available(const struct ldap_pool *pool, uint64_t now_ms)
{
	unsigned i;

	for (i = 0; i < pool->set.size; i++) {
		if (pool->slots[i].state != SLOT_DOWN)
			return true;
	}
	for (i = 0; i < pool->n_uris; i++) {
		if (ldap_uri_eligible(&pool->uris[i], now_ms))
			return true;
	}
	return false;
}

int ldap_pool_search(struct ldap_pool *pool, uint64_t now_ms,
		     const char *base, int scope, const char *filter,
		     char **attrs, void *tag)
{
	struct ldap_slot *best = NULL;
	struct ldap_search *q;
	struct timeval limit;
	unsigned i;
	int msgid, rc;

	for (i = 0; i < pool->set.size; i++) {
		struct ldap_slot *s = &pool->slots[i];

		if (s->state == SLOT_UP && !s->broken &&
		    s->n_searches < LDAP_CONN_SEARCHES &&
		    (best == NULL || s->n_searches < best->n_searches))
			best = s;
	}
	if (best == NULL)
		return -1;
	/* the server's own limit, in whole seconds, at least one */
	limit.tv_sec = (pool->set.search_timeout_ms + 999) / 1000;
	limit.tv_usec = 0;
	/* two entries at most: a second one is an error the caller sees */
	rc = ldap_search_ext(best->ld, base, scope, filter, attrs, 0, NULL,
			     NULL, &limit, 2, &msgid);
	if (rc != LDAP_SUCCESS) {
		/* closed from process: the caller may be walking its
		 * lookups, which the close would end */
		best->broken = true;
		return -1;
	}
	q = ldap_slot_find(best, 0);
	q->msgid = msgid;
	q->tag = tag;
	q->deadline = now_ms + pool->set.search_timeout_ms;
	best->n_searches++;
	return 0;
}

void ldap_pool_cancel(struct ldap_pool *pool, void *tag)
{
	unsigned i, k;

	for (i = 0; i < pool->set.size; i++) {
		for (k = 0; k < LDAP_CONN_SEARCHES; k++) {
			if (pool->slots[i].searches[k].tag == tag)
				pool->slots[i].searches[k].tag = NULL;
		}
	}
}

size_t ldap_pool_poll_fds(struct ldap_pool *pool, struct pollfd *fds,
			  size_t max, uint64_t now_ms, int *timeout_ms)
{
	size_t n = 0;
	unsigned i, k;

#define LOWER(at)                                                      \
	do {                                                           \
		int ms_ = (at) > now_ms ? (int)((at) - now_ms) : 0;    \
		if (*timeout_ms < 0 || ms_ < *timeout_ms)              \
			*timeout_ms = ms_;                             \
	} while (0)
	if (n < max) {
		fds[n].fd = pool->pipe_fds[0];
		fds[n].events = POLLIN;
		fds[n++].revents = 0;
	}
	for (i = 0; i < pool->set.size; i++) {
		struct ldap_slot *s = &pool->slots[i];

		if (s->state == SLOT_DOWN) {
			/* a background attempt when a URI comes due */
			for (k = 0; k < pool->n_uris; k++) {
				if (ldap_uri_eligible(&pool->uris[k], now_ms) ||
				    pool->uris[k].connecting == 0)
					LOWER(pool->uris[k].down_until);
			}
			continue;
		}
		if (s->state != SLOT_UP)
			continue;
		if (n < max) {
			fds[n].fd = s->fd;
			fds[n].events = POLLIN;
			fds[n++].revents = 0;
		}
		for (k = 0; k < LDAP_CONN_SEARCHES; k++) {
			if (s->searches[k].msgid != 0)
				LOWER(s->searches[k].deadline);
		}
	}
#undef LOWER
	return n;
}

void ldap_pool_process(struct ldap_pool *pool, uint64_t now_ms)
{
	unsigned i;

	ldap_pool_take_connects(pool, now_ms);
	for (i = 0; i < pool->set.size; i++) {
		struct ldap_slot *s = &pool->slots[i];

		if (s->state == SLOT_UP && s->broken)
			ldap_slot_close(pool, s, "a search could not be sent",
					true);
		if (s->state == SLOT_UP) {
			ldap_slot_read(pool, s);
			ldap_slot_timeouts(pool, s, now_ms);
		}
		if (s->state == SLOT_DOWN)
			ldap_slot_start(pool, i, now_ms);
	}
}

unsigned ldap_pool_up(const struct ldap_pool *pool)
{
	unsigned i, n = 0;

	for (i = 0; i < pool->set.size; i++)
		n += pool->slots[i].state == SLOT_UP;
	return n;
}
