/* worker.h: a worker process: one event loop serving many sessions.
 * Runs unprivileged; it reads client input, talks to the auth process over
 * its socket and reads the maildrops. */
#ifndef SATCHEL_WORKER_H
#define SATCHEL_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/auth_proto.h"
#include "config/config.h"
#include "net/listener.h"
#include "net/netmatch.h"
#include "serve/limits.h"
#include "util/fdtable.h"

struct ioloop;
struct io;
struct session;
struct connlimit;
struct faildelay;
struct metrics;
struct timer;
struct tls_ctx;
struct jobpool;
struct worker_stdio;
struct proxy_wait;
struct xmitrate;

struct worker_listener {
	struct worker *worker;
	struct listener *listener;
};

struct worker {
	const struct config *cfg;
	struct tls_ctx *tls;       /* NULL: no TLS configured */
	/* proxy mode with proxy_tls: the verifying client context of the
	 * backend links (made by the worker: NULL when it could not be) */
	struct tls_ctx *proxy_tls;
	struct ioloop *loop;
	unsigned index;
	int auth_fd;
	struct io *auth_io;
	struct io *signal_io;
	int signal_fd;
	struct listener *listeners;
	size_t nlisteners;
	struct io *listen_io[LISTENER_MAX];
	struct worker_listener listen_ctx[LISTENER_MAX];
	struct connlimit *connlimit;
	struct faildelay *faildelay;
	struct metrics *metrics;   /* its row is index; NULL: none kept */
	struct fdtable by_fd;      /* sessions indexed by socket fd */
	unsigned nsessions;
	uint64_t next_serial;
	/* From the auth process's AUTH_HELLO: mechanisms (by sasl_mech
	 * index) whose keytab or key it can read; 0 until it arrives. */
	uint32_t auth_mech_files;
	bool auth_hello_seen;      /* auth_mech_files is the auth process's
				      word on every mechanism */
	struct timer *hello_timer; /* bounded wait for that hello */
	bool listening;            /* accepting since hello (or timeout) */
	int ready_fd;              /* one byte to the master when listening */
	struct timer *trim_timer;  /* gives heap back when quiet */
	struct jobpool *jobs;      /* store jobs (session_store.c) */
	struct io *jobs_io;        /* its completion eventfd */
	/* XTND XMIT (xtnd_xmit = yes): relays to the MTA, apart from the
	 * store jobs (a slow relay must not hold a login); else NULL */
	struct jobpool *relay_jobs;
	struct io *relay_jobs_io;
	struct xmitrate *xmitrate; /* shared: messages per user and hour */
	struct pending_note *notes;       /* notes to auth waiting for room */
	struct pending_note **notes_tail;
	bool draining;             /* no new connections; exit when empty */
	struct worker_stdio *stdio; /* --stdio: its one session, else NULL */
	struct netmatch proxy_trusted;   /* peers that send a PROXY header */
	struct proxy_wait *proxy_waits;  /* connections waiting for one */
	/* shared: what each of proxy_backends said to CAPA (session_proxy.h);
	 * NULL: not learned (--stdio) */
	struct proxy_capa_table *proxy_capa;
	char hostname[256];
};

/* What the master hands a new worker; the worker owns auth_fd and
 * ready_fd, the rest is shared and outlives it. */
struct worker_setup {
	const struct config *cfg;
	struct tls_ctx *tls;       /* NULL: no TLS configured */
	unsigned index;            /* slot: its row in the shared counters */
	int auth_fd;               /* socket to this generation's auth */
	int ready_fd;              /* -1: no one to tell */
	struct listener *listeners;
	size_t nlisteners;
	struct connlimit *connlimit;
	struct faildelay *faildelay;
	struct xmitrate *xmitrate;
	struct proxy_capa_table *proxy_capa;
	struct metrics *metrics;   /* NULL: none kept (--stdio) */
	/* satchel serve --stdio: no listeners; one session reading fd 0
	 * and writing fd 1 (a distinct fd 1 must be blocking, see
	 * conn_set_out_fd), started like accepting (after the hello); the
	 * worker ends with it */
	bool stdio;
};

/* Runs the worker until SIGTERM, or until drained after SIGUSR1 (graceful
 * reload). It accepts only once the auth process on auth_fd has said
 * hello (or AUTH_HELLO_WAIT_MS passed), then writes one byte to ready_fd
 * and closes it. Returns a sysexits status. */
int worker_run(const struct worker_setup *setup);

/* Sends a request for session s (fills req->id). 0, or -1 when the auth
 * process cannot be reached. */
int worker_auth_send(struct worker *w, struct session *s,
		     struct auth_request *req);
/* Sends a SASL request (header + req->data_len octets) for session s
 * (fills req->id). 0, or -1 when the auth process cannot be reached. */
int worker_auth_send_sasl(struct worker *w, struct session *s,
			  struct auth_sasl_request *req);
/* Tells auth that a counted session of user ended. */
void worker_auth_logout(struct worker *w, const char *user);
/* Tells auth that a counted session of user (from addr) reached
 * TRANSACTION: the login counts for LOGIN-DELAY from now. */
void worker_auth_login_done(struct worker *w, const char *user,
			    const char *addr);

/* Records a failed (failed = true) or successful login from addr in the
 * table shared by all workers and returns how long to delay the failure
 * reply, in milliseconds. */
unsigned worker_login_result(struct worker *w, const char *addr,
			     bool failed);

/* A session freed a maildrop, or logged in (its TLS handshake and
 * maildrop open left freed buffers between the sessions that stay): the
 * free pages of the heap go back to the system once the worker has been
 * quiet for a few seconds. */
void worker_memory_used(struct worker *w);

/* Called by session_destroy. */
void worker_session_gone(struct worker *w, struct session *s);

/* The session for an accepted fd and its client (the peer, or the one
 * a PROXY header named): the connection limits, then the session, its
 * greeting or its TLS handshake. via: the trusted proxy's header (TLS
 * at the proxy, satchel proxies passed), NULL for a direct connection.
 * Owns fd (a refusal closes it). */
struct proxy_info;
void worker_start_session(struct worker *w, struct listener *l, int fd,
			  const struct sockaddr_storage *client,
			  const struct proxy_info *via);

#endif
