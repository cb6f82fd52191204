/* lmtp_server.h: what an LMTP session needs from the process it runs in.
 * Two hosts run the same session code (lmtp_session.c, lmtp_cmd.c,
 * lmtp_txn.c): the LMTP worker (lmtp_worker.c: many sessions, user
 * lookups through the auth process) and `satchel lmtp --stdio`
 * (lmtp_stdio.c: one session on fd 0/1, lookups in the user database it
 * loaded itself). The host owns the loop and the job pool; sessions and
 * deliveries count themselves in and out, so the host stops only once
 * both are gone. */
#ifndef SATCHEL_LMTP_SERVER_H
#define SATCHEL_LMTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "store/delivery.h"

struct ioloop;
struct jobpool;
struct tls_ctx;
struct lmtp_session;
struct lmtp_server;

struct lmtp_host_ops {
	/* Starts the lookup of a recipient address (as given, without <>).
	 * The answer comes later, on the loop thread, through
	 * lmtp_session_lookup_done() (never from inside this call). 0, or
	 * -1 when no lookup can be made now (answered 451 4.3.0). */
	int (*lookup)(struct lmtp_server *srv, struct lmtp_session *s,
		      const char *address);
	/* The lookup of s took too long: its answer, if it still comes,
	 * must not reach s (nor its next lookup). */
	void (*lookup_cancel)(struct lmtp_server *srv, struct lmtp_session *s);
	/* Starts the check of an AUTH PLAIN user and password (RFC 4954;
	 * only remote sessions after STARTTLS ask). The answer comes
	 * later, on the loop thread, through lmtp_session_auth_done()
	 * (never from inside this call): AUTH_OK with the user's record,
	 * AUTH_FAILED, or a temporary failure. 0, or -1 when no check can
	 * be made now (454 4.7.0). NULL in a host whose sessions are
	 * never remote (satchel lmtp --stdio). */
	int (*authenticate)(struct lmtp_server *srv, struct lmtp_session *s,
			    const char *user, const char *password);
	/* The session is being destroyed: forget it (pending lookups). */
	void (*session_gone)(struct lmtp_server *srv, struct lmtp_session *s);
};

/* The store write side as the session calls it: delivery.h's functions
 * (lmtp_store_delivery), or a test's fakes. */
struct lmtp_store_ops {
	int (*spool_create)(const struct delivery_settings *set,
			    struct delivery_spool **spool_r,
			    const char **error_r);
	int (*spool_write)(struct delivery_spool *spool, const void *data,
			   size_t len, const char **error_r);
	int (*spool_finish)(struct delivery_spool *spool,
			    const struct delivery_envelope *env,
			    struct delivery_result *res);
	const char *(*message_id)(const struct delivery_spool *spool);
	enum delivery_status (*store)(struct delivery_spool *spool,
				      const struct delivery_target *target,
				      struct delivery_result *res);
	void (*spool_destroy)(struct delivery_spool **spoolp);
};

extern const struct lmtp_store_ops lmtp_store_delivery;

struct lmtp_server {
	const struct config *cfg;
	struct ioloop *loop;
	struct jobpool *jobs;              /* store jobs (lmtp_txn.c) */
	struct delivery_settings dset;     /* from cfg */
	char hostname[256];                /* greeting, LHLO, Maildir names */
	const struct lmtp_host_ops *ops;
	const struct lmtp_store_ops *store; /* lmtp_store_delivery */
	struct tls_ctx *tls;               /* STARTTLS on remote sessions;
					      NULL: none (not offered) */
	void *host;                        /* the host's own state */
	struct delivery_stats *stats;      /* the master's counters, row
					      stats_row; NULL: none */
	unsigned stats_row;
	uint64_t next_serial;
	unsigned nsessions;
	unsigned active_txns;              /* deliveries still running */
	bool draining;                     /* stop once both are 0 */
	bool stopping;                     /* the pool is going: no submit */
};

/* Fills the parts taken from the config (dset, hostname); store is
 * lmtp_store_delivery. */
void lmtp_server_init(struct lmtp_server *srv, const struct config *cfg);
/* Stops the loop when draining and no session or delivery is left. */
void lmtp_server_check_idle(struct lmtp_server *srv);

#endif
