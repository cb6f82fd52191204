/* lmtp_worker.c: an LMTP worker process started by `satchel serve`
 * (lmtp_worker_run, lmtp.h): one event loop over the lmtp_listen
 * sockets, recipient lookups through the auth process (AUTH_REQ_USERDB,
 * replies matched by id), the AUTH PLAIN of remote sessions through it
 * too (AUTH_REQ_PASS, secured: only asked under TLS), store jobs on a
 * pool. A connection is remote when its local address (getsockname) is
 * neither loopback nor a unix socket: it gets STARTTLS with the
 * generation's TLS context and must authenticate (lmtp_auth.c).
 * SIGTERM stops (sessions are told 421; deliveries already running
 * complete), SIGUSR1 drains (no new connections; exit when the sessions
 * and deliveries end).
 *
 * The worker listens at once, without waiting for the auth process's
 * AUTH_HELLO (which it ignores): LMTP offers nothing that depends on the
 * auth process's files, and a lookup sent before the hello simply waits
 * in the socket. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sysexits.h>
#include <unistd.h>

#include "deliver/lmtp.h"
#include "deliver/lmtp_limits.h"
#include "deliver/lmtp_server.h"
#include "deliver/lmtp_session.h"
#include "net/ioloop.h"
#include "net/listener.h"
#include "util/fdtable.h"
#include "util/jobpool.h"
#include "util/log.h"

/* Request ids: the socket fd (low 20 bits) and a request counter (44
 * bits: never wraps), so a late reply (a closed session, a lookup that
 * timed out) can never answer a later request. */
#define ID_FD_BITS 20
#define ID_FD_MASK ((UINT64_C(1) << ID_FD_BITS) - 1)

struct lmtp_worker;

struct lmtp_worker_listener {
	struct lmtp_worker *worker;
	struct listener *listener;
	struct io *io;
};

struct lmtp_worker {
	struct lmtp_server srv;
	int auth_fd;
	struct io *auth_io;
	int signal_fd;
	struct io *signal_io;
	struct io *jobs_io;
	struct lmtp_worker_listener listen[LISTENER_MAX];
	size_t nlisteners;
	struct fdtable by_fd;          /* sessions indexed by socket fd */
	uint64_t requests;             /* userdb requests sent */
};

/* The session whose pending lookup has this id, or NULL. */
static struct lmtp_session *session_by_id(struct lmtp_worker *w,
					  uint64_t id)
{
	size_t fd = id & ID_FD_MASK;
	struct lmtp_session *s;

	if ((s = fdtable_get(&w->by_fd, fd)) == NULL)
		return NULL;
	return (s->lookup_pending || s->auth_pending) && s->lookup_id == id ?
	       s : NULL;
}

/* --- the host ops --- */

/* Sends req (its id made here, the session waits for it). 0 or -1. */
static int worker_send(struct lmtp_worker *w, struct lmtp_session *s,
		       struct auth_request *req)
{
	ssize_t n;

	req->id = ((uint64_t)s->fd & ID_FD_MASK) |
		  (++w->requests << ID_FD_BITS);
	s->lookup_id = req->id;
	snprintf(req->client_addr, sizeof(req->client_addr), "%s", s->addr);
	n = send(w->auth_fd, req, sizeof(*req), MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n != (ssize_t)sizeof(*req)) {
		log_error("auth request not sent: %s",
			  n < 0 ? strerror(errno) : "short send");
		return -1;
	}
	return 0;
}

static int worker_lookup(struct lmtp_server *srv, struct lmtp_session *s,
			 const char *address)
{
	struct lmtp_worker *w = srv->host;
	struct auth_request req;

	if (w->auth_fd < 0 || strlen(address) >= sizeof(req.user))
		return -1;
	memset(&req, 0, sizeof(req));
	req.type = AUTH_REQ_USERDB;
	/* the address exactly as in RCPT, without <> (auth_userdb.h) */
	snprintf(req.user, sizeof(req.user), "%s", address);
	return worker_send(w, s, &req);
}

static int worker_authenticate(struct lmtp_server *srv,
			       struct lmtp_session *s, const char *user,
			       const char *password)
{
	struct lmtp_worker *w = srv->host;
	struct auth_request req;
	int ret;

	if (w->auth_fd < 0 || strlen(user) >= sizeof(req.user) ||
	    strlen(password) >= sizeof(req.secret))
		return -1;
	memset(&req, 0, sizeof(req));
	req.type = AUTH_REQ_PASS;
	snprintf(req.user, sizeof(req.user), "%s", user);
	snprintf(req.secret, sizeof(req.secret), "%s", password);
	/* lmtp_auth.c asks only under TLS; the auth process checks it */
	req.secured = conn_is_tls(&s->conn);
	ret = worker_send(w, s, &req);
	explicit_bzero(&req, sizeof(req));
	return ret;
}

static void worker_lookup_cancel(struct lmtp_server *srv,
				 struct lmtp_session *s)
{
	/* the id is not awaited any more: a late reply is dropped */
	s->lookup_id = 0;
}

static void worker_session_gone(struct lmtp_server *srv,
				struct lmtp_session *s)
{
	struct lmtp_worker *w = srv->host;

	(void)fdtable_drop(&w->by_fd, s->fd, s);
}

static const struct lmtp_host_ops worker_ops = {
	.lookup = worker_lookup,
	.lookup_cancel = worker_lookup_cancel,
	.authenticate = worker_authenticate,
	.session_gone = worker_session_gone,
};

static int worker_track(struct lmtp_worker *w, struct lmtp_session *s)
{
	return fdtable_put(&w->by_fd, s->fd, s);
}

/* --- connections --- */


/* True when the local address of a TCP connection is not loopback:
 * what the client reached decides (a wildcard listener serves both),
 * and an address that cannot be read counts as remote. */
static bool conn_remote(int fd)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return true;
	if (ss.ss_family == AF_UNIX)
		return false;
	return !listener_addr_is_loopback((const struct sockaddr *)&ss);
}

/* Says why before closing a connection it will not serve. */
static void refuse(int fd, const char *line)
{
	if (write(fd, line, strlen(line)) < 0) {
		/* the client is gone already */
	}
	close(fd);
}

static void worker_accept(void *context, unsigned ready)
{
	struct lmtp_worker_listener *wl = context;
	struct lmtp_worker *w = wl->worker;

	for (int i = 0; i < 16 && !w->srv.draining; i++) {
		struct sockaddr_storage ss = { 0 };
		socklen_t len = sizeof(ss);
		struct lmtp_session *s;
		char addr[64];
		int fd, one = 1;

		fd = accept4(wl->listener->fd, (struct sockaddr *)&ss, &len,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				log_error("accept on %s: %s",
					  wl->listener->name, strerror(errno));
			return;
		}
		listener_addr_text(&ss, addr, sizeof(addr));
		if (w->srv.nsessions >= w->srv.cfg->max_connections) {
			/* RFC 5321 4.5.3.2 / 3.8: 421 rather than a silent
			 * close; the MTA tries again later */
			log_warn("connection refused: rip=%s: too many "
				 "connections", addr);
			refuse(fd, "421 4.3.2 Too many connections, try again "
			       "later\r\n");
			continue;
		}
		/* Replies go out as whole lines, often one per write (the
		 * RCPT replies, then each recipient's after the dot as it is
		 * stored): with Nagle each later small write waited for the
		 * client's delayed ACK, 40 ms a message (bench/lmtp.py) */
		if (!wl->listener->is_unix)
			(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
					 sizeof(one));
		s = lmtp_session_create(&w->srv, fd, addr);
		if (s == NULL) {
			refuse(fd, "421 4.3.0 Cannot set up the session\r\n");
			continue;
		}
		s->remote = !wl->listener->is_unix && conn_remote(fd);
		if (worker_track(w, s) < 0) {
			lmtp_session_destroy(&s);
			continue;
		}
		lmtp_session_start(s);
	}
}

static void worker_stop_listening(struct lmtp_worker *w)
{
	for (size_t i = 0; i < w->nlisteners; i++) {
		io_remove(&w->listen[i].io);
		if (w->listen[i].listener->fd >= 0) {
			close(w->listen[i].listener->fd);
			w->listen[i].listener->fd = -1;
		}
	}
}

/* --- the auth process --- */

static void worker_auth_lost(struct lmtp_worker *w)
{
	struct auth_reply reply;

	if (w->srv.draining)
		log_info("auth process gone; finishing current sessions");
	else
		log_error("lost the auth process; finishing current "
			  "sessions");
	io_remove(&w->auth_io);
	close(w->auth_fd);
	w->auth_fd = -1;
	memset(&reply, 0, AUTH_REPLY_HDR);
	reply.result = AUTH_TEMPFAIL;
	for (size_t fd = 0; fd < w->by_fd.cap; fd++) {
		struct lmtp_session *s = fdtable_get(&w->by_fd, fd);

		if (s != NULL && s->lookup_pending)
			lmtp_session_lookup_done(s, &reply);
		else if (s != NULL && s->auth_pending)
			lmtp_session_auth_done(s, &reply);
	}
	/* the master starts a new generation; this one drains */
	w->srv.draining = true;
	worker_stop_listening(w);
	lmtp_server_check_idle(&w->srv);
}

static void worker_auth_io(void *context, unsigned ready)
{
	struct lmtp_worker *w = context;

	for (;;) {
		struct auth_reply reply;
		struct lmtp_session *s;
		/* MSG_TRUNC: a longer message shows its real length */
		ssize_t n = recv(w->auth_fd, &reply, sizeof(reply),
				 MSG_DONTWAIT | MSG_TRUNC);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			worker_auth_lost(w);
			return;
		}
		if (!auth_proto_check_reply(&reply, (size_t)n)) {
			log_error("malformed auth reply (%zd bytes)", n);
			continue;
		}
		if (reply.id == 0 && reply.result == AUTH_HELLO)
			continue; /* nothing in LMTP depends on it */
		s = session_by_id(w, reply.id);
		if (s == NULL)
			continue; /* the client left, or the lookup timed out */
		if (s->auth_pending)
			lmtp_session_auth_done(s, &reply);
		else
			lmtp_session_lookup_done(s, &reply);
	}
}

/* --- jobs and signals --- */

static void worker_jobs_io(void *context, unsigned ready)
{
	struct lmtp_worker *w = context;

	(void)jobpool_complete(w->srv.jobs);
}

static void worker_drain(struct lmtp_worker *w, bool now)
{
	w->srv.draining = true;
	worker_stop_listening(w);
	if (now) {
		for (size_t fd = 0; fd < w->by_fd.cap; fd++) {
			struct lmtp_session *s = fdtable_get(&w->by_fd, fd);

			if (s != NULL)
				lmtp_session_close_with(s,
					"421 4.3.2 Server shutting down",
					"shutdown");
		}
	}
	lmtp_server_check_idle(&w->srv);
}

static void worker_signal(void *context, unsigned ready)
{
	struct lmtp_worker *w = context;
	struct signalfd_siginfo info;

	while (read(w->signal_fd, &info, sizeof(info)) == sizeof(info)) {
		if (info.ssi_signo == SIGTERM || info.ssi_signo == SIGINT)
			worker_drain(w, true);
		else if (info.ssi_signo == SIGUSR1)
			worker_drain(w, false);
	}
}

static int worker_setup(struct lmtp_worker *w,
			const struct lmtp_worker_setup *setup)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	w->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	w->srv.loop = ioloop_create();
	if (w->signal_fd < 0 || w->srv.loop == NULL)
		return -1;
	w->srv.jobs = jobpool_create(LMTP_STORE_THREADS);
	if (w->srv.jobs == NULL)
		return -1;
	w->signal_io = io_add(w->srv.loop, w->signal_fd, IO_READ, false,
			      worker_signal, w);
	w->auth_io = io_add(w->srv.loop, w->auth_fd, IO_READ, false,
			    worker_auth_io, w);
	w->jobs_io = io_add(w->srv.loop, jobpool_fd(w->srv.jobs), IO_READ,
			    false, worker_jobs_io, w);
	if (w->signal_io == NULL || w->auth_io == NULL || w->jobs_io == NULL)
		return -1;
	w->nlisteners = setup->nlisteners < LISTENER_MAX ?
			setup->nlisteners : LISTENER_MAX;
	for (size_t i = 0; i < w->nlisteners; i++) {
		w->listen[i].worker = w;
		w->listen[i].listener = &setup->listeners[i];
		w->listen[i].io = io_add(w->srv.loop, setup->listeners[i].fd,
					 IO_READ, true, worker_accept,
					 &w->listen[i]);
		if (w->listen[i].io == NULL)
			return -1;
	}
	return 0;
}

int lmtp_worker_run(const struct lmtp_worker_setup *setup)
{
	static const char ready = 'R';
	struct lmtp_worker *w = calloc(1, sizeof(*w));
	char role[32];
	int ret = EX_OK;

	if (w == NULL)
		return EX_OSERR;
	snprintf(role, sizeof(role), "lmtp %u", setup->index);
	log_set_role(role);
	(void)prctl(PR_SET_NAME, "satchel-lmtp", 0, 0, 0);
	lmtp_server_init(&w->srv, setup->cfg);
	w->srv.tls = setup->tls;
	w->srv.ops = &worker_ops;
	w->srv.host = w;
	w->srv.stats = setup->deliveries;
	w->srv.stats_row = setup->index;
	w->auth_fd = setup->auth_fd;
	w->signal_fd = -1;
	if (worker_setup(w, setup) < 0) {
		log_error("lmtp worker setup: %s", strerror(errno));
		ret = EX_OSERR;
		goto out_free;
	}
	if (setup->ready_fd >= 0) {
		if (write(setup->ready_fd, &ready, 1) != 1)
			log_warn("telling the master we are ready: %s",
				 strerror(errno));
		close(setup->ready_fd);
	}
	if (ioloop_run(w->srv.loop) < 0) {
		log_error("event loop: %s", strerror(errno));
		ret = EX_OSERR;
	}
out_free:
	for (size_t fd = 0; fd < w->by_fd.cap; fd++) {
		struct lmtp_session *s = fdtable_get(&w->by_fd, fd);

		if (s != NULL)
			lmtp_session_destroy(&s);
	}
	/* deliveries still running complete (their done callbacks submit
	 * nothing more: the recipients not reached get no reply and the
	 * MTA retries them) */
	w->srv.stopping = true;
	io_remove(&w->jobs_io);
	jobpool_destroy(&w->srv.jobs);
	io_remove(&w->signal_io);
	io_remove(&w->auth_io);
	for (size_t i = 0; i < w->nlisteners; i++)
		io_remove(&w->listen[i].io);
	if (w->signal_fd >= 0)
		close(w->signal_fd);
	if (w->auth_fd >= 0)
		close(w->auth_fd);
	ioloop_destroy(&w->srv.loop);
	fdtable_free(&w->by_fd);
	free(w);
	return ret;
}
