/* worker_setup.h: what the master (serve/) hands an LMTP worker process
 * (deliver/). It lives below both front ends so that neither includes
 * the other: main.c gives the master deliver's lmtp_worker_run. */
#ifndef SATCHEL_WORKER_SETUP_H
#define SATCHEL_WORKER_SETUP_H

#include <stddef.h>

#include "config/config.h"
#include "net/listener.h"

struct tls_ctx;
struct delivery_stats;

/* The worker owns auth_fd and ready_fd; the rest is the master's and
 * outlives it. */
struct lmtp_worker_setup {
	const struct config *cfg;
	struct tls_ctx *tls;       /* the generation's (tls_cert), for
				      STARTTLS on non-loopback TCP; NULL:
				      none configured */
	unsigned index;            /* its slot (logs, process title) */
	int auth_fd;               /* SOCK_SEQPACKET to this generation's
				      auth process (AUTH_REQ_USERDB;
				      AUTH_REQ_PASS for LMTP AUTH) */
	int ready_fd;              /* one byte when listening; -1: none */
	struct listener *listeners; /* lmtp_listen, already bound */
	size_t nlisteners;
	struct delivery_stats *deliveries; /* store/delivery_stats.h: row
					      index is this worker's */
};

/* The entry point the master calls in the forked, privilege-dropped
 * child. Returns a sysexits status (the child's exit code). */
typedef int lmtp_worker_run_fn(const struct lmtp_worker_setup *setup);

#endif
