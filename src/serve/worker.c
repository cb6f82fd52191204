/* worker.c: a worker process: accepts connections on the inherited
 * listeners, runs their sessions in one event loop, and relays login
 * requests to the auth process. */
#include "serve/worker.h"
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

#include "net/ioloop.h"
#include "serve/connlimit.h"
#include "serve/session.h"
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

	if (fd >= w->by_fd_cap || (s = w->by_fd[fd]) == NULL)
		return NULL;
	return request_id(s) == id ? s : NULL;
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
	return 0;
}

/* A LOGOUT that did not fit the auth socket waits here: a lost one
 * would leave a session counted against the user for good. */
struct pending_logout {
	struct pending_logout *next;
	char user[AUTH_USER_MAX];
};

static bool worker_send_logout(struct worker *w, const char *user)
{
	struct auth_request req;
	ssize_t n;

	memset(&req, 0, sizeof(req));
	req.type = AUTH_REQ_LOGOUT;
	snprintf(req.user, sizeof(req.user), "%s", user);
	n = send(w->auth_fd, &req, sizeof(req), MSG_NOSIGNAL | MSG_DONTWAIT);
	return n == (ssize_t)sizeof(req);
}

/* Sends queued logouts in order; stops at the first that does not fit. */
static void worker_flush_logouts(struct worker *w)
{
	while (w->logouts != NULL && w->auth_fd >= 0 &&
	       worker_send_logout(w, w->logouts->user)) {
		struct pending_logout *p = w->logouts;

		w->logouts = p->next;
		if (w->logouts == NULL)
			w->logouts_tail = &w->logouts;
		free(p);
	}
	if (w->auth_io != NULL)
		(void)io_set_events(w->auth_io, w->logouts != NULL ?
				    IO_READ | IO_WRITE : IO_READ);
}

void worker_auth_logout(struct worker *w, const char *user)
{
	struct pending_logout *p;

	if (w->auth_fd < 0)
		return;
	if (w->logouts == NULL && worker_send_logout(w, user))
		return;
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		log_error("out of memory: logout of %s lost", user);
		return;
	}
	snprintf(p->user, sizeof(p->user), "%s", user);
	*w->logouts_tail = p;
	w->logouts_tail = &p->next;
	worker_flush_logouts(w);
}

/* --- failed-login delays, per client address --- */

static unsigned fail_slot(const char *addr)
{
	return (unsigned)(strhash(addr) % FAIL_TABLE_SIZE);
}

unsigned worker_login_result(struct worker *w, const char *addr,
			     bool failed)
{
	struct fail_entry *e = &w->fail_table[fail_slot(addr)];
	uint64_t now = ioloop_now_ms(w->loop), delay;
	const struct config *cfg = w->cfg;

	if (strcmp(e->addr, addr) != 0 ||
	    now - e->last_ms > FAIL_FORGET_SECS * 1000ull) {
		/* A different address in the slot or old failures: start
		 * over (a collision can only shorten someone's delay). */
		snprintf(e->addr, sizeof(e->addr), "%s", addr);
		e->failures = 0;
	}
	if (!failed) {
		e->failures = 0;
		return 0;
	}
	e->last_ms = now;
	if (e->failures < 32)
		e->failures++;
	if (cfg->auth_fail_delay_ms == 0)
		return 0;
	delay = (uint64_t)cfg->auth_fail_delay_ms << (e->failures - 1);
	if (delay > cfg->auth_fail_delay_max_ms)
		delay = cfg->auth_fail_delay_max_ms;
	return (unsigned)delay;
}

/* --- sessions --- */

static int worker_track(struct worker *w, struct session *s)
{
	if ((size_t)s->fd >= w->by_fd_cap) {
		size_t cap = w->by_fd_cap == 0 ? 1024 : w->by_fd_cap;
		struct session **by_fd;

		while (cap <= (size_t)s->fd)
			cap *= 2;
		by_fd = realloc(w->by_fd, cap * sizeof(*by_fd));
		if (by_fd == NULL)
			return -1;
		memset(by_fd + w->by_fd_cap, 0,
		       (cap - w->by_fd_cap) * sizeof(*by_fd));
		w->by_fd = by_fd;
		w->by_fd_cap = cap;
	}
	w->by_fd[s->fd] = s;
	w->nsessions++;
	return 0;
}

void worker_session_gone(struct worker *w, struct session *s)
{
	if ((size_t)s->fd < w->by_fd_cap && w->by_fd[s->fd] == s) {
		w->by_fd[s->fd] = NULL;
		w->nsessions--;
		connlimit_release(w->connlimit, w->index, s->addr);
	}
	if (w->draining && w->nsessions == 0)
		ioloop_stop(w->loop);
}

static bool addr_is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)ss;

		return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)ss;
		const uint8_t *b = sin6->sin6_addr.s6_addr;

		if (IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr))
			return true;
		return IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr) && b[12] == 127;
	}
	return false;
}

static void addr_text(const struct sockaddr_storage *ss, char *out,
		      size_t size)
{
	const void *raw = ss->ss_family == AF_INET6 ?
		(const void *)&((const struct sockaddr_in6 *)(const void *)ss)->sin6_addr :
		(const void *)&((const struct sockaddr_in *)(const void *)ss)->sin_addr;

	if (inet_ntop(ss->ss_family, raw, out, (socklen_t)size) == NULL)
		snprintf(out, size, "unknown");
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

static void worker_accept(void *context, unsigned ready)
{
	struct worker_listener *wl = context;
	struct worker *w = wl->worker;
	struct listener *l = wl->listener;

	for (int i = 0; i < ACCEPT_BATCH && !w->draining; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		const char *why = NULL;
		struct session *s;
		char addr[64];
		int fd, one = 1;

		fd = accept4(l->fd, (struct sockaddr *)&ss, &len,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				log_error("accept on %s: %s", l->name,
					  strerror(errno));
			return;
		}
		addr_text(&ss, addr, sizeof(addr));
		if (!connlimit_admit(w->connlimit, w->index, addr,
				     w->cfg->max_connections,
				     w->cfg->max_connections_per_ip, &why)) {
			log_warn("connection refused: rip=%s: %s", addr, why);
			refuse(fd, why);
			continue;
		}
		/* Whole replies are written at once; Nagle would only add
		 * latency to the last segment of each. */
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
				 sizeof(one));
		s = session_create(w, fd, addr, addr_is_loopback(&ss), l->tls);
		if (s == NULL) {
			connlimit_release(w->connlimit, w->index, addr);
			refuse(fd, "cannot set up the session");
			continue;
		}
		if (worker_track(w, s) < 0) {
			/* session_destroy releases the count once tracked;
			 * untracked, release here. */
			connlimit_release(w->connlimit, w->index, addr);
			session_destroy(&s);
			continue;
		}
		session_start(s);
	}
}

/* --- inetd mode (satchel serve --stdio) --- */

/* How long the one session waits for the auth process's hello before it
 * greets anyway (its CAPA may then leave out GSSAPI and OAuth). */
#define STDIO_HELLO_WAIT_MS 5000

struct worker_stdio {
	int in_fd, out_fd;
	bool started;
	struct timer *hello_timer;
};

/* Starts the one session on in_fd/out_fd. A TCP socket from inetd is a
 * network client (its address, the loopback rule of plaintext_auth);
 * anything else (pipes, a terminal, a UNIX socket) is local and counts
 * as loopback. */
static void worker_stdio_start(struct worker *w)
{
	struct worker_stdio *st = w->stdio;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char addr[64] = "local";
	bool loopback = true;
	struct session *s;

	if (st->started)
		return;
	st->started = true;
	timer_remove(&st->hello_timer);
	if (getpeername(st->in_fd, (struct sockaddr *)&ss, &len) == 0 &&
	    (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)) {
		addr_text(&ss, addr, sizeof(addr));
		loopback = addr_is_loopback(&ss);
	}
	s = session_create(w, st->in_fd, addr, loopback, false);
	if (s == NULL) {
		log_error("cannot set up the stdio session: %s",
			  strerror(errno));
		st->started = false; /* worker_stdio_end refuses */
		ioloop_stop(w->loop);
		return;
	}
	conn_set_out_fd(&s->conn, st->out_fd);
	if (worker_track(w, s) < 0) {
		session_destroy(&s);
		st->started = false;
		ioloop_stop(w->loop);
		return;
	}
	session_start(s);
}

static void worker_stdio_hello_late(void *context)
{
	struct worker *w = context;

	w->stdio->hello_timer = NULL;
	log_warn("no hello from the auth process within %u ms; starting "
		 "the session anyway", STDIO_HELLO_WAIT_MS);
	worker_stdio_start(w);
}

static int worker_stdio_wait(struct worker *w)
{
	w->stdio->hello_timer = timer_add(w->loop, STDIO_HELLO_WAIT_MS,
					  worker_stdio_hello_late, w);
	if (w->stdio->hello_timer == NULL) {
		log_error("worker setup: %s", strerror(ENOMEM));
		return -1;
	}
	return 0;
}

/* A session that never started still gets a reply, not a silent close. */
static void worker_stdio_end(struct worker *w)
{
	static const char line[] = "-ERR [SYS/TEMP] cannot set up the "
				   "session, try again later\r\n";

	timer_remove(&w->stdio->hello_timer);
	if (!w->stdio->started &&
	    write(w->stdio->out_fd, line, sizeof(line) - 1) < 0) {
		/* The client is gone already; nothing else to do. */
	}
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
	for (size_t fd = 0; fd < w->by_fd_cap; fd++) {
		struct session *s = w->by_fd[fd];
		struct auth_reply reply;

		if (s == NULL || !s->waiting || s->delay_timer != NULL)
			continue;
		memset(&reply, 0, AUTH_REPLY_HDR);
		reply.result = AUTH_TEMPFAIL;
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
		worker_flush_logouts(w);
	if (!(ready & IO_READ))
		return;

	for (;;) {
		struct auth_reply reply;
		struct session *s;
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
		if (reply.id == 0 && reply.result == AUTH_HELLO) {
			if (reply.data_len == sizeof(w->auth_mech_files))
				memcpy(&w->auth_mech_files, reply.data,
				       sizeof(w->auth_mech_files));
			if (w->stdio != NULL)
				worker_stdio_start(w);
			continue;
		}
		s = session_by_id(w, reply.id);
		if (s == NULL || !s->waiting) {
			/* The client left while auth worked: free its slot
			 * (a SASL exchange was aborted when it left). */
			if (reply.result == AUTH_OK)
				worker_auth_logout(w, reply.user);
			continue;
		}
		session_auth_reply(s, &reply);
	}
}

/* --- memory --- */

/* Opening a big maildrop allocates tens of MB (names, index, UIDLs)
 * that glibc would map and unmap per session, paying a page fault per
 * page every time (15% of a warm 100,000-message listing). The worker
 * keeps that memory while it is busy and gives it back once it has been
 * quiet for a while, so idle memory stays small. */
#define MEMORY_TRIM_MS 5000

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
	worker_memory_used(w);
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
		for (size_t fd = 0; fd < w->by_fd_cap; fd++) {
			if (w->by_fd[fd] != NULL)
				session_close_with(w->by_fd[fd],
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

/* The life of a worker once w is filled in (worker_run or
 * worker_run_stdio); frees w. */
static int worker_serve(struct worker *w)
{
	const struct config *cfg = w->cfg;
	struct listener *listeners = w->listeners;
	size_t nlisteners = w->nlisteners;
	sigset_t mask;
	int ret = EX_OK;

	w->logouts_tail = &w->logouts;
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
	w->signal_io = io_add(w->loop, w->signal_fd, IO_READ, false,
			      worker_signal, w);
	w->auth_io = io_add(w->loop, w->auth_fd, IO_READ, false,
			    worker_auth_io, w);
	if (w->signal_io == NULL || w->auth_io == NULL) {
		log_error("worker setup: %s", strerror(errno));
		ret = EX_OSERR;
		goto out_free;
	}
	for (size_t i = 0; i < nlisteners; i++) {
		w->listen_ctx[i].worker = w;
		w->listen_ctx[i].listener = &listeners[i];
		w->listen_io[i] = io_add(w->loop, listeners[i].fd, IO_READ,
					 true, worker_accept,
					 &w->listen_ctx[i]);
		if (w->listen_io[i] == NULL) {
			log_error("watching %s: %s", listeners[i].name,
				  strerror(errno));
			ret = EX_OSERR;
			goto out_free;
		}
	}
	if (w->stdio != NULL && worker_stdio_wait(w) < 0) {
		ret = EX_OSERR;
		goto out_free;
	}
	worker_memory_setup(w);
	if (ioloop_run(w->loop) < 0) {
		log_error("event loop: %s", strerror(errno));
		ret = EX_OSERR;
	}
out_free:
	if (w->stdio != NULL)
		worker_stdio_end(w);
	/* the loop does not own its ios (--stdio returns through main,
	 * where LeakSanitizer would see them) */
	io_remove(&w->signal_io);
	io_remove(&w->auth_io);
	for (size_t i = 0; i < w->nlisteners; i++)
		io_remove(&w->listen_io[i]);
	if (w->signal_fd >= 0)
		close(w->signal_fd);
	while (w->logouts != NULL) {
		struct pending_logout *p = w->logouts;

		w->logouts = p->next;
		free(p);
	}
	ioloop_destroy(&w->loop);
	free(w->by_fd);
	free(w);
	return ret;
}

int worker_run(const struct config *cfg, struct tls_ctx *tls,
	       unsigned index, int auth_fd,
	       struct listener *listeners, size_t nlisteners,
	       struct connlimit *connlimit)
{
	struct worker *w = calloc(1, sizeof(*w));
	char role[32];

	if (w == NULL)
		return EX_OSERR;
	snprintf(role, sizeof(role), "worker %u", index);
	log_set_role(role);
	(void)prctl(PR_SET_NAME, "satchel-worker", 0, 0, 0);
	w->cfg = cfg;
	w->tls = tls;
	w->index = index;
	w->auth_fd = auth_fd;
	w->listeners = listeners;
	w->nlisteners = nlisteners;
	w->connlimit = connlimit;
	return worker_serve(w);
}

int worker_run_stdio(const struct config *cfg, struct tls_ctx *tls,
		     int auth_fd, int in_fd, int out_fd,
		     struct connlimit *connlimit)
{
	struct worker_stdio stdio = { .in_fd = in_fd, .out_fd = out_fd };
	struct worker *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return EX_OSERR;
	log_set_role("worker stdio");
	w->cfg = cfg;
	w->tls = tls;
	w->auth_fd = auth_fd;
	w->connlimit = connlimit;
	w->stdio = &stdio;
	/* Nothing to accept: the worker ends with its one session. */
	w->draining = true;
	return worker_serve(w);
}
