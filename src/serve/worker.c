/* worker.c: a worker process: accepts connections on the inherited
 * listeners, runs their sessions in one event loop, and relays login
 * requests to the auth process. */
#include "serve/worker.h"
#include "serve/worker_proxy.h"
#include "serve/session_kpop.h"
#include "util/strhash.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <malloc.h>
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

#include "net/fdpass.h"
#include "net/ioloop.h"
#include "net/proxyproto.h"
#include "serve/connlimit.h"
#include "serve/faildelay.h"
#include "serve/xmitrate.h"
#include "serve/metrics.h"
#include "serve/session.h"
#include "store/maildrop.h"
#include "util/jobpool.h"
#include "util/log.h"

/* Request ids carry the socket fd (low 20 bits) and the session serial
 * (44 bits: never wraps), so a late reply for a closed session cannot
 * reach a later session on the same fd. */
#define ID_FD_BITS 20
#define ID_FD_MASK ((UINT64_C(1) << ID_FD_BITS) - 1)

static uint64_t request_id(const struct session *s)
{
	return ((uint64_t)s->fd & ID_FD_MASK) | (s->serial << ID_FD_BITS);
}

static struct session *session_by_id(struct worker *w, uint64_t id)
{
	size_t fd = id & ID_FD_MASK;
	struct session *s;

	if ((s = fdtable_get(&w->by_fd, fd)) == NULL)
		return NULL;
	return request_id(s) == id ? s : NULL;
}

/* The auth queue depth of the metrics: sessions waiting for an answer
 * of the auth process (counted per session, not per message, so a
 * reply that never comes for a session that left cannot skew it). */
static void worker_auth_waits(struct worker *w, struct session *s,
			      bool waits)
{
	if (s->auth_pending == waits)
		return;
	s->auth_pending = waits;
	metrics_gauge_add(w->metrics, w->index, METRICS_AUTH_PENDING,
			  waits ? 1 : -1);
}

int worker_auth_send(struct worker *w, struct session *s,
		     struct auth_request *req)
{
	ssize_t n;

	if (w->auth_fd < 0)
		return -1;
	req->id = request_id(s);
	n = send(w->auth_fd, req, sizeof(*req), MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n != (ssize_t)sizeof(*req)) {
		log_error("auth request not sent: %s",
			  n < 0 ? strerror(errno) : "short send");
		return -1;
	}
	worker_auth_waits(w, s, true);
	return 0;
}

int worker_auth_send_sasl(struct worker *w, struct session *s,
			  struct auth_sasl_request *req)
{
	size_t len = AUTH_SASL_REQUEST_HDR + req->data_len;
	ssize_t n;

	if (w->auth_fd < 0 || req->data_len > AUTH_SASL_DATA_MAX)
		return -1;
	req->id = request_id(s);
	n = send(w->auth_fd, req, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n != (ssize_t)len) {
		log_error("auth request not sent: %s",
			  n < 0 ? strerror(errno) : "short send");
		return -1;
	}
	/* SASL_ABORT is not answered: the session waits for nothing */
	worker_auth_waits(w, s, req->type != AUTH_REQ_SASL_ABORT);
	return 0;
}

/* A note to the auth process (LOGOUT, LOGIN_DONE) that did not fit the
 * auth socket waits here, in order: a lost LOGOUT would leave a session
 * counted against the user for good, a lost LOGIN_DONE a login that
 * LOGIN-DELAY never sees. */
struct pending_note {
	struct pending_note *next;
	uint32_t type;
	char user[AUTH_USER_MAX];
	char client_addr[AUTH_ADDR_MAX];
};

static bool worker_send_note(struct worker *w, const struct pending_note *p)
{
	struct auth_request req;
	ssize_t n;

	memset(&req, 0, sizeof(req));
	req.type = p->type;
	snprintf(req.user, sizeof(req.user), "%s", p->user);
	snprintf(req.client_addr, sizeof(req.client_addr), "%s",
		 p->client_addr);
	n = send(w->auth_fd, &req, sizeof(req), MSG_NOSIGNAL | MSG_DONTWAIT);
	return n == (ssize_t)sizeof(req);
}

/* Sends queued notes in order; stops at the first that does not fit. */
static void worker_flush_notes(struct worker *w)
{
	while (w->notes != NULL && w->auth_fd >= 0 &&
	       worker_send_note(w, w->notes)) {
		struct pending_note *p = w->notes;

		w->notes = p->next;
		if (w->notes == NULL)
			w->notes_tail = &w->notes;
		free(p);
	}
	if (w->auth_io != NULL)
		(void)io_set_events(w->auth_io, w->notes != NULL ?
				    IO_READ | IO_WRITE : IO_READ);
}

static void worker_auth_note(struct worker *w, uint32_t type,
			     const char *user, const char *addr)
{
	struct pending_note note = { .type = type }, *p;

	if (w->auth_fd < 0)
		return;
	snprintf(note.user, sizeof(note.user), "%s", user);
	snprintf(note.client_addr, sizeof(note.client_addr), "%s", addr);
	if (w->notes == NULL && worker_send_note(w, &note))
		return;
	p = malloc(sizeof(*p));
	if (p == NULL) {
		log_error("out of memory: a note to the auth process about %s "
			  "is lost", user);
		return;
	}
	*p = note;
	*w->notes_tail = p;
	w->notes_tail = &p->next;
	worker_flush_notes(w);
}

void worker_auth_logout(struct worker *w, const char *user)
{
	worker_auth_note(w, AUTH_REQ_LOGOUT, user, "");
}

void worker_auth_login_done(struct worker *w, const char *user,
			    const char *addr)
{
	worker_auth_note(w, AUTH_REQ_LOGIN_DONE, user, addr);
}

/* --- failed-login delays, per client address, shared by all workers --- */

unsigned worker_login_result(struct worker *w, const char *addr,
			     bool failed)
{
	return faildelay_record(w->faildelay, addr, failed,
				w->cfg->auth_fail_delay_ms,
				w->cfg->auth_fail_delay_max_ms);
}

/* --- sessions --- */

static int worker_track(struct worker *w, struct session *s)
{
	if (fdtable_put(&w->by_fd, s->fd, s) < 0)
		return -1;
	w->nsessions++;
	metrics_count(w->metrics, w->index, METRICS_SESSIONS, 1);
	metrics_gauge_add(w->metrics, w->index, METRICS_SESSIONS_OPEN, 1);
	return 0;
}

void worker_session_gone(struct worker *w, struct session *s)
{
	worker_auth_waits(w, s, false);
	if (fdtable_drop(&w->by_fd, s->fd, s)) {
		w->nsessions--;
		connlimit_release(w->connlimit, w->index, s->addr);
		metrics_gauge_add(w->metrics, w->index, METRICS_SESSIONS_OPEN,
				  -1);
	}
	if (w->draining && w->nsessions == 0)
		ioloop_stop(w->loop);
}


/* Refuses a connection with a reason instead of a silent close. */
static void refuse(int fd, const char *why)
{
	char line[160];
	int len = snprintf(line, sizeof(line), "-ERR [SYS/TEMP] %s\r\n", why);

	if (write(fd, line, (size_t)len) < 0) {
		/* The client is gone already; nothing else to do. */
	}
	close(fd);
}

void worker_start_session(struct worker *w, struct listener *l, int fd,
			  const struct sockaddr_storage *client,
			  const struct proxy_info *via)
{
	const char *why = NULL;
	bool per_addr = false;
	struct session *s;
	char addr[64];
	int one = 1;

	listener_addr_text(client, addr, sizeof(addr));
	if (!connlimit_admit(w->connlimit, w->index, addr,
			     w->cfg->max_connections,
			     w->cfg->max_connections_per_ip, &why, &per_addr)) {
		log_warn("connection refused: rip=%s: %s", addr, why);
		metrics_refused(w->metrics, w->index, per_addr ?
				METRICS_REFUSED_PER_IP :
				METRICS_REFUSED_MAX_CONNECTIONS);
		refuse(fd, why);
		return;
	}
	/* Whole replies are written at once; Nagle would only add latency
	 * to the last segment of each. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	s = session_create(w, fd, addr,
			   listener_addr_is_loopback(
				   (const struct sockaddr *)client),
			   l->tls);
	if (s == NULL) {
		connlimit_release(w->connlimit, w->index, addr);
		metrics_refused(w->metrics, w->index, METRICS_REFUSED_SETUP);
		refuse(fd, "cannot set up the session");
		return;
	}
	s->workarounds_here = config_workarounds_on(w->cfg, l->name);
	if (l->kpop)
		session_kpop_begin(s);
	s->peer_ss = *client;
	{
		socklen_t local_len = sizeof(s->local_ss);

		if (getsockname(fd, (struct sockaddr *)&s->local_ss,
				&local_len) < 0)
			s->local_ss.ss_family = AF_UNSPEC;
	}
	/* the client spoke TLS to a trusted proxy: it counts only as
	 * configured, and never when the proxy says a verification failed */
	if (via != NULL && via->ssl && !via->ssl_verify_failed &&
	    w->cfg->proxy_trust_ssl)
		s->secured = true;
	if (via != NULL) {
		s->proxy_hops = via->satchel_hops;
		s->via_proxy = true;
	}
	if (worker_track(w, s) < 0) {
		/* session_destroy releases the count once tracked;
		 * untracked, release here. */
		connlimit_release(w->connlimit, w->index, addr);
		session_destroy(&s);
		return;
	}
	session_start(s);
}

static void worker_accept(void *context, unsigned ready)
{
	struct worker_listener *wl = context;
	struct worker *w = wl->worker;
	struct listener *l = wl->listener;

	for (int i = 0; i < ACCEPT_BATCH && !w->draining; i++) {
		struct sockaddr_storage ss = { 0 };
		socklen_t len = sizeof(ss);
		int fd;

		fd = accept4(l->fd, (struct sockaddr *)&ss, &len,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				log_error("accept on %s: %s", l->name,
					  strerror(errno));
			return;
		}
		if (worker_proxy_required(w, &ss))
			worker_proxy_begin(w, l, fd, &ss);
		else
			worker_start_session(w, l, fd, &ss, NULL);
	}
}

/* --- inetd mode (satchel serve --stdio) --- */

struct worker_stdio {
	int in_fd, out_fd;
	bool started;
};

/* Starts the one session on in_fd/out_fd (from worker_listen, so after
 * the auth process's hello). A TCP socket from inetd is a network client
 * (its address, the loopback rule of plaintext_auth); anything else
 * (pipes, a terminal, a UNIX socket) is local and counts as loopback. */
static void worker_stdio_start(struct worker *w)
{
	struct worker_stdio *st = w->stdio;
	struct sockaddr_storage ss = { 0 };
	socklen_t len = sizeof(ss);
	char addr[64] = "local";
	bool loopback = true;
	struct session *s;

	/* nothing to accept: the worker ends with its one session */
	w->draining = true;
	if (getpeername(st->in_fd, (struct sockaddr *)&ss, &len) == 0 &&
	    (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)) {
		listener_addr_text(&ss, addr, sizeof(addr));
		loopback = listener_addr_is_loopback(
			(const struct sockaddr *)&ss);
	}
	s = session_create(w, st->in_fd, addr, loopback, false);
	if (s == NULL) {
		log_error("cannot set up the stdio session: %s",
			  strerror(errno));
		ioloop_stop(w->loop);
		return;
	}
	conn_set_out_fd(&s->conn, st->out_fd);
	if (worker_track(w, s) < 0) {
		session_destroy(&s);
		ioloop_stop(w->loop);
		return;
	}
	st->started = true;
	session_start(s);
}

/* A session that never started still gets a reply, not a silent close. */
static void worker_stdio_end(struct worker *w)
{
	static const char line[] = "-ERR [SYS/TEMP] cannot set up the "
				   "session, try again later\r\n";

	if (!w->stdio->started &&
	    write(w->stdio->out_fd, line, sizeof(line) - 1) < 0) {
		/* The client is gone already; nothing else to do. */
	}
}

/* --- readiness --- */

/* Starts accepting (once) and tells the master this worker is ready.
 * Called when the auth process has said hello, so CAPA and AUTH are
 * true from the first connection; or (without_hello) when it has not said
 * it within AUTH_HELLO_WAIT_MS: the worker then serves without the
 * mechanisms that need the auth process's files. */
static void worker_listen(struct worker *w, bool without_hello)
{
	static const char ready = 'R';

	timer_remove(&w->hello_timer);
	if (w->listening || w->draining)
		return;
	if (without_hello)
		log_warn("listening without the mechanisms that need the "
			 "auth process's files");
	for (size_t i = 0; i < w->nlisteners; i++) {
		w->listen_ctx[i].worker = w;
		w->listen_ctx[i].listener = &w->listeners[i];
		w->listen_io[i] = io_add(w->loop, w->listeners[i].fd, IO_READ,
					 true, worker_accept,
					 &w->listen_ctx[i]);
		if (w->listen_io[i] == NULL) {
			/* Without its listener this worker is of no use;
			 * the master restarts it. */
			log_error("watching %s: %s", w->listeners[i].name,
				  strerror(errno));
			ioloop_stop(w->loop);
			return;
		}
	}
	w->listening = true;
	if (w->stdio != NULL)
		worker_stdio_start(w);
	if (w->ready_fd >= 0) {
		if (write(w->ready_fd, &ready, 1) != 1)
			log_warn("telling the master we are ready: %s",
				 strerror(errno));
		close(w->ready_fd);
		w->ready_fd = -1;
	}
}

static void worker_hello_timeout(void *context)
{
	struct worker *w = context;

	w->hello_timer = NULL;
	log_warn("the auth process has not said hello within %u ms",
		 (unsigned)AUTH_HELLO_WAIT_MS);
	worker_listen(w, true);
}

/* --- auth replies --- */

static void worker_auth_lost(struct worker *w)
{
	/* At shutdown the auth process may simply have gone first. */
	if (w->draining)
		log_info("auth process gone; finishing current sessions");
	else
		log_error("lost the auth process; finishing current "
			  "sessions");
	io_remove(&w->auth_io);
	close(w->auth_fd);
	w->auth_fd = -1;

	for (size_t fd = 0; fd < w->by_fd.cap; fd++) {
		struct session *s = fdtable_get(&w->by_fd, fd);
		struct auth_reply reply;

		if (s == NULL || !s->waiting || s->delay_timer != NULL ||
		    s->store_job != NULL)
			continue;
		memset(&reply, 0, AUTH_REPLY_HDR);
		reply.result = AUTH_TEMPFAIL;
		worker_auth_waits(w, s, false);
		session_auth_reply(s, &reply);
	}
	/* The master starts a new generation; this one drains. */
	w->draining = true;
	for (size_t i = 0; i < w->nlisteners; i++)
		io_remove(&w->listen_io[i]);
	if (w->nsessions == 0)
		ioloop_stop(w->loop);
}

static void worker_auth_io(void *context, unsigned ready)
{
	struct worker *w = context;

	if (ready & IO_WRITE)
		worker_flush_notes(w);
	if (!(ready & IO_READ))
		return;

	for (;;) {
		struct auth_reply reply;
		struct session *s;
		int agent_fd = -1;
		/* MSG_TRUNC: a longer message shows its real length; a
		 * granted login may bring its mail agent's socket */
		ssize_t n = fdpass_recv_flags(w->auth_fd, &reply,
					      sizeof(reply),
					      MSG_DONTWAIT | MSG_TRUNC,
					      &agent_fd);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			worker_auth_lost(w);
			return;
		}
		if (!auth_proto_check_reply(&reply, (size_t)n)) {
			log_error("malformed auth reply (%zd bytes)", n);
			if (agent_fd >= 0)
				close(agent_fd);
			continue;
		}
		if (agent_fd >= 0 && (reply.result != AUTH_OK ||
				      reply.agent != AUTH_AGENT_ATTACHED)) {
			close(agent_fd);
			agent_fd = -1;
		}

		if (reply.id == 0 && reply.result == AUTH_HELLO) {
			if (reply.data_len == sizeof(w->auth_mech_files)) {
				memcpy(&w->auth_mech_files, reply.data,
				       sizeof(w->auth_mech_files));
				w->auth_hello_seen = true;
			}
			worker_listen(w, false);
			continue;
		}
		s = session_by_id(w, reply.id);
		if (s == NULL || !s->waiting || s->store_job != NULL) {
			/* The client left while auth worked: free its slot
			 * (a SASL exchange was aborted when it left); its
			 * agent exits with the socket closed. */
			if (reply.result == AUTH_OK)
				worker_auth_logout(w, reply.user);
			if (agent_fd >= 0)
				close(agent_fd);
			continue;
		}
		if (s->agent_fd >= 0)
			close(s->agent_fd);
		s->agent_fd = agent_fd;
		worker_auth_waits(w, s, false);
		session_auth_reply(s, &reply);
	}
}

/* --- memory --- */


static void worker_memory_trim(void *context)
{
	struct worker *w = context;

	w->trim_timer = NULL;
	(void)malloc_trim(0);
}

void worker_memory_used(struct worker *w)
{
	timer_remove(&w->trim_timer);
	w->trim_timer = timer_add(w->loop, MEMORY_TRIM_MS, worker_memory_trim,
				  w);
}

static void worker_memory_setup(struct worker *w)
{
	(void)mallopt(M_MMAP_THRESHOLD, 64 << 20);
	(void)mallopt(M_TRIM_THRESHOLD, 256 << 20);
	/* One arena for the loop and the store job threads: a maildrop
	 * opened in a job is freed on the loop, and glibc would otherwise
	 * keep a 100,000-message listing's pages in the job thread's arena
	 * for good (73 MB per worker after one big open, measured), where
	 * the trim below cannot give them back. The job threads allocate
	 * little, so sharing the arena's lock costs nothing measurable. */
	(void)mallopt(M_ARENA_MAX, 1);
	worker_memory_used(w);
}

/* --- store jobs --- */


static void worker_jobs_io(void *context, unsigned ready)
{
	struct worker *w = context;

	(void)jobpool_complete(w->jobs);
}

static void worker_relay_jobs_io(void *context, unsigned ready)
{
	struct worker *w = context;

	(void)jobpool_complete(w->relay_jobs);
}

static int worker_jobs_setup(struct worker *w)
{
	w->jobs = jobpool_create(WORKER_STORE_THREADS);
	if (w->jobs == NULL)
		return -1;
	w->jobs_io = io_add(w->loop, jobpool_fd(w->jobs), IO_READ, false,
			    worker_jobs_io, w);
	if (w->jobs_io == NULL)
		return -1;
	if (!w->cfg->xtnd_xmit)
		return 0;
	w->relay_jobs = jobpool_create(WORKER_RELAY_THREADS);
	if (w->relay_jobs == NULL)
		return -1;
	w->relay_jobs_io = io_add(w->loop, jobpool_fd(w->relay_jobs), IO_READ,
				  false, worker_relay_jobs_io, w);
	return w->relay_jobs_io == NULL ? -1 : 0;
}

/* Proxy mode's TLS to the backends: a verifying client context. Made
 * here, after the privileges are dropped, so proxy_tls_ca must be
 * readable by mail_user; without it every proxied login is [SYS/TEMP]
 * (logged) rather than sent in clear. */
static void worker_proxy_tls_setup(struct worker *w)
{
	struct tls_client_settings set = {
		.verify = true,
		.ca_file = w->cfg->proxy_tls_ca,
		.min_version = w->cfg->tls.min_version,
	};
	char err[256];

	if (!w->cfg->proxy || !w->cfg->proxy_tls)
		return;
	if (tls_client_ctx_create(&set, &w->proxy_tls, err, sizeof(err)) < 0)
		log_error("proxy_tls: %s; proxied logins will fail", err);
}

/* --- signals --- */

static void worker_drain(struct worker *w, bool now)
{
	w->draining = true;
	for (size_t i = 0; i < w->nlisteners; i++) {
		io_remove(&w->listen_io[i]);
		close(w->listeners[i].fd);
		w->listeners[i].fd = -1;
	}
	if (now) {
		for (size_t fd = 0; fd < w->by_fd.cap; fd++) {
			struct session *s = fdtable_get(&w->by_fd, fd);

			if (s != NULL)
				session_close_with(s,
					"-ERR [SYS/TEMP] server shutting "
					"down, closing", "shutdown");
		}
	}
	if (w->nsessions == 0)
		ioloop_stop(w->loop);
}

static void worker_signal(void *context, unsigned ready)
{
	struct worker *w = context;
	struct signalfd_siginfo info;

	while (read(w->signal_fd, &info, sizeof(info)) == sizeof(info)) {
		if (info.ssi_signo == SIGTERM || info.ssi_signo == SIGINT)
			worker_drain(w, true);
		else if (info.ssi_signo == SIGUSR1)
			worker_drain(w, false);
	}
}

int worker_run(const struct worker_setup *setup)
{
	struct worker *w = calloc(1, sizeof(*w));
	const struct config *cfg = setup->cfg;
	struct worker_stdio stdio = { .in_fd = STDIN_FILENO,
				      .out_fd = STDOUT_FILENO };
	char role[32];
	sigset_t mask;
	int ret = EX_OK;

	if (w == NULL)
		return EX_OSERR;
	snprintf(role, sizeof(role), "worker %u", setup->index);
	log_set_role(role);
	(void)prctl(PR_SET_NAME, "satchel-worker", 0, 0, 0);
	w->cfg = cfg;
	w->tls = setup->tls;
	w->notes_tail = &w->notes;
	w->index = setup->index;
	w->auth_fd = setup->auth_fd;
	w->ready_fd = setup->ready_fd;
	w->listeners = setup->listeners;
	w->nlisteners = setup->nlisteners;
	w->connlimit = setup->connlimit;
	w->faildelay = setup->faildelay;
	w->xmitrate = setup->xmitrate;
	w->proxy_capa = setup->proxy_capa;
	w->metrics = setup->metrics;
	maildrop_cache_set_budget(cfg->maildrop_cache_size);
	{
		const char *error;

		/* checked when the config was read */
		if (netmatch_parse(cfg->proxy_trusted, &w->proxy_trusted,
				   &error) < 0)
			log_error("proxy_trusted: %s", error);
	}
	if (setup->stdio)
		w->stdio = &stdio;
	if (cfg->hostname[0] != '\0')
		snprintf(w->hostname, sizeof(w->hostname), "%s",
			 cfg->hostname);
	else if (gethostname(w->hostname, sizeof(w->hostname) - 1) < 0)
		snprintf(w->hostname, sizeof(w->hostname), "localhost");
	w->loop = ioloop_create();
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	w->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (w->loop == NULL || w->signal_fd < 0) {
		log_error("worker setup: %s", strerror(errno));
		ret = EX_OSERR;
		goto out_free;
	}
	/* before the job threads start: they must share the loop's arena */
	worker_memory_setup(w);
	w->signal_io = io_add(w->loop, w->signal_fd, IO_READ, false,
			      worker_signal, w);
	w->auth_io = io_add(w->loop, w->auth_fd, IO_READ, false,
			    worker_auth_io, w);
	if (w->signal_io == NULL || w->auth_io == NULL ||
	    worker_jobs_setup(w) < 0) {
		log_error("worker setup: %s", strerror(errno));
		ret = EX_OSERR;
		goto out_free;
	}
	worker_proxy_tls_setup(w);
	/* Listening waits for the auth process's hello (worker_listen). */
	w->hello_timer = timer_add(w->loop, AUTH_HELLO_WAIT_MS,
				   worker_hello_timeout, w);
	if (w->hello_timer == NULL) {
		log_error("worker setup: %s", strerror(errno));
		ret = EX_OSERR;
		goto out_free;
	}
	if (ioloop_run(w->loop) < 0) {
		log_error("event loop: %s", strerror(errno));
		ret = EX_OSERR;
	}
out_free:
	if (w->stdio != NULL)
		worker_stdio_end(w);
	timer_remove(&w->hello_timer);
	if (w->ready_fd >= 0)
		close(w->ready_fd);
	/* finishes jobs of sessions that already left (a started commit
	 * completes, an opened maildrop's lock is released) */
	io_remove(&w->jobs_io);
	jobpool_destroy(&w->jobs);
	/* a relay that started completes (the message was whole) */
	io_remove(&w->relay_jobs_io);
	jobpool_destroy(&w->relay_jobs);
	/* the loop does not own its ios (--stdio returns through main,
	 * where LeakSanitizer would see them) */
	io_remove(&w->signal_io);
	io_remove(&w->auth_io);
	for (size_t i = 0; i < w->nlisteners; i++)
		io_remove(&w->listen_io[i]);
	if (w->signal_fd >= 0)
		close(w->signal_fd);
	while (w->notes != NULL) {
		struct pending_note *p = w->notes;

		w->notes = p->next;
		free(p);
	}
	worker_proxy_free_all(w);
	tls_ctx_destroy(&w->proxy_tls);
	ioloop_destroy(&w->loop);
	fdtable_free(&w->by_fd);
	free(w);
	return ret;
}
