/* ldap_pool.h: a few connections to an LDAP directory for
 * userdb_ldap.c, searched without ever blocking the caller's loop.
 *
 * Searches are libldap's asynchronous ones (ldap_search_ext gives a
 * message id; ldap_result with a zero timeout reads what came, when the
 * connection's descriptor, LDAP_OPT_DESC, is readable). Setting a
 * connection up is not asynchronous in libldap (the TCP connect honours
 * LDAP_OPT_NETWORK_TIMEOUT but waits for it; StartTLS, the TLS handshake
 * and the bind have synchronous calls only that are safe to use), so
 * each connection is made on a short-lived thread of its own, bounded by
 * the network timeout per step, which hands the finished handle to the
 * loop through a pipe; from then on only the loop touches it.
 *
 * The URIs (blank-separated: "ldap://a ldap://b", or ldaps://) are tried
 * in order. One whose connection fails, or whose search gets no answer
 * within the search timeout (a hung server), is marked down and tried
 * again after a backoff (1 s, doubling up to 30 s) by a background
 * attempt. While no connection is up and every URI is down, the pool is
 * unavailable (the circuit is open): the caller answers at once. A
 * connection that closes (the server restarted, an idle timeout) is
 * made again at once, its searches sent again once.
 *
 * TLS: ldaps:// URIs, or StartTLS on ldap:// ones (starttls), verifying
 * the server's certificate against cafile (the system's CAs when empty)
 * and its name against the URI's host; a connection that cannot verify
 * is a failed one. The service bind (bind_dn, bind_password; anonymous
 * when bind_dn is empty) is a simple bind. */
#ifndef SATCHEL_LDAP_POOL_H
#define SATCHEL_LDAP_POOL_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/libldap_load.h"

#define LDAP_POOL_MAX 8
#define LDAP_URIS_MAX 8
#define LDAP_CONN_SEARCHES 64     /* in flight on one connection */
#define LDAP_BACKOFF_MIN_MS 1000
#define LDAP_BACKOFF_MAX_MS 30000

struct ldap_pool_settings {
	const char *uris;
	unsigned size;                 /* connections, 1..LDAP_POOL_MAX */
	unsigned network_timeout_ms;   /* connect, StartTLS, bind each */
	unsigned search_timeout_ms;
	bool starttls;
	const char *cafile;            /* "" = the system's CAs */
	const char *bind_dn;           /* "" = anonymous */
	const char *bind_password;
};

struct ldap_pool_ops {
	/* One entry of the search sent with tag (msg is freed after). */
	void (*entry)(void *context, void *tag, LDAP *ld, LDAPMessage *msg);
	/* The search finished: error NULL when it succeeded, else why it
	 * failed; retry: the connection went away before the answer, the
	 * search may be sent again. */
	void (*done)(void *context, void *tag, const char *error, bool retry);
};

struct ldap_pool;

/* Parses the URIs (no connection yet). 0, or -1 with *error_r. */
int ldap_pool_create(const struct ldap_pool_settings *set,
		     const struct ldap_pool_ops *ops, void *context,
		     struct ldap_pool **pool_r, const char **error_r);
/* Waits for the connecting threads (each bounded by its timeouts). */
void ldap_pool_destroy(struct ldap_pool **poolp);

/* False while the circuit is open (see above). */
bool ldap_pool_available(const struct ldap_pool *pool, uint64_t now_ms);
/* Sends a search for one entry on a connection that is up; tag comes
 * back in the ops. 0, or -1 when none can take it now. */
int ldap_pool_search(struct ldap_pool *pool, uint64_t now_ms,
		     const char *base, int scope, const char *filter,
		     char **attrs, void *tag);
/* Forgets tag: what comes for it is dropped. */
void ldap_pool_cancel(struct ldap_pool *pool, void *tag);

/* Descriptors to wait on (at most max), and in *timeout_ms (lowered,
 * never raised; -1 = none) when process must run at the latest. */
size_t ldap_pool_poll_fds(struct ldap_pool *pool, struct pollfd *fds,
			  size_t max, uint64_t now_ms, int *timeout_ms);
/* Reads answers, takes finished connections, times out, starts
 * connections. Never blocks. */
void ldap_pool_process(struct ldap_pool *pool, uint64_t now_ms);

/* A handle for uri with set's options (timeouts, TLS, no referrals),
 * StartTLS done when set asks for it, not bound yet. Blocks (within the
 * network timeout per step): threads only. 0, or -1 with the reason in
 * error. */
int ldap_pool_handle(const struct ldap_pool_settings *set, const char *uri,
		     LDAP **ld_r, char *error, size_t size);

/* Connections up, for tests and the log. */
unsigned ldap_pool_up(const struct ldap_pool *pool);

#endif
