/* worker_proxy.c: the PROXY header stage (worker_proxy.h).
 *
 * The header is read without ever taking a byte past it: the socket is
 * peeked, and only bytes the parser has seen to be header are consumed,
 * so what follows (a TLS ClientHello, the first command) is the
 * session's. Every byte before the header's end is header, so a prefix
 * the parser calls incomplete may be consumed at once, which keeps a
 * level-triggered read event from spinning on it. */
#include "serve/worker_proxy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/ioloop.h"
#include "net/proxyproto.h"
#include "serve/metrics.h"
#include "util/log.h"

struct proxy_wait {
	struct proxy_wait *next, **prevp;
	struct worker *worker;
	struct listener *listener;
	int fd;
	struct io *io;
	struct timer *timer;
	struct sockaddr_storage peer;
	char peer_text[64];
	unsigned char buf[PROXY_HEADER_MAX];
	size_t len;                     /* consumed so far */
};

bool worker_proxy_required(const struct worker *w,
			   const struct sockaddr_storage *peer)
{
	return w->proxy_trusted.count > 0 &&
	       netmatch_has(&w->proxy_trusted,
			    (const struct sockaddr *)peer);
}

static void proxy_wait_end(struct proxy_wait *pw, bool close_fd)
{
	io_remove(&pw->io);
	timer_remove(&pw->timer);
	if (close_fd)
		close(pw->fd);
	*pw->prevp = pw->next;
	if (pw->next != NULL)
		pw->next->prevp = pw->prevp;
	free(pw);
}

static void proxy_wait_fail(struct proxy_wait *pw, const char *why)
{
	log_warn("connection closed: rip=%s: %s", pw->peer_text, why);
	metrics_refused(pw->worker->metrics, pw->worker->index,
			METRICS_REFUSED_PROXY);
	proxy_wait_end(pw, true);
}

/* Takes n octets the parser has seen from the socket. */
static int proxy_consume(struct proxy_wait *pw, size_t n)
{
	while (n > 0) {
		ssize_t r = read(pw->fd, pw->buf + pw->len, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		pw->len += (size_t)r;
		n -= (size_t)r;
	}
	return 0;
}

/* The header is read: a session, or for a health check (v2 LOCAL, v1
 * UNKNOWN) nothing to serve. */
static void proxy_serve(struct worker *w, struct listener *l, int fd,
			const char *peer_text, const struct proxy_info *info)
{
	if (info->local) {
		log_debug("proxy health check: rip=%s", peer_text);
		close(fd);
		return;
	}
	worker_start_session(w, l, fd, &info->src, info);
}

static void proxy_wait_done(struct proxy_wait *pw,
			    const struct proxy_info *info)
{
	struct worker *w = pw->worker;
	struct listener *l = pw->listener;
	char peer_text[sizeof(pw->peer_text)];
	int fd = pw->fd;

	memcpy(peer_text, pw->peer_text, sizeof(peer_text));
	proxy_wait_end(pw, false);
	proxy_serve(w, l, fd, peer_text, info);
}

static void proxy_wait_io(void *context, unsigned ready)
{
	struct proxy_wait *pw = context;
	unsigned char peek[PROXY_HEADER_MAX];
	struct proxy_info info;
	size_t room = sizeof(pw->buf) - pw->len;
	ssize_t n;

	n = recv(pw->fd, peek, room, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		proxy_wait_fail(pw, n == 0 ? "closed before a PROXY header" :
					     strerror(errno));
		return;
	}
	memcpy(pw->buf + pw->len, peek, (size_t)n);
	switch (proxy_parse(pw->buf, pw->len + (size_t)n, &info)) {
	case PROXY_NEED_MORE:
		if ((size_t)n == room || proxy_consume(pw, (size_t)n) < 0)
			proxy_wait_fail(pw, "PROXY header too long");
		return;
	case PROXY_BAD:
		proxy_wait_fail(pw, "no valid PROXY header from a "
				    "proxy_trusted address");
		return;
	case PROXY_DONE:
		break;
	}
	if (proxy_consume(pw, info.header_len - pw->len) < 0) {
		proxy_wait_fail(pw, "cannot read the PROXY header");
		return;
	}
	proxy_wait_done(pw, &info);
}

static void proxy_wait_timeout(void *context)
{
	struct proxy_wait *pw = context;

	pw->timer = NULL; /* fired: the loop has dropped it */
	proxy_wait_fail(pw, "no PROXY header in time");
}

/* A proxy sends its header right after the connect, so it has usually
 * arrived by the accept: when the whole header is there, read it and
 * start the session at once, without the wait's allocation, timer and
 * two epoll_ctl calls (a few percent of a short session's cost). True
 * when the connection was handled; false leaves every byte unread for
 * the wait. */
static bool proxy_read_at_accept(struct worker *w, struct listener *l, int fd,
				 const struct sockaddr_storage *peer)
{
	unsigned char peek[PROXY_HEADER_MAX];
	struct proxy_info info;
	char text[64];
	ssize_t n, r;

	n = recv(fd, peek, sizeof(peek), MSG_PEEK | MSG_DONTWAIT);
	if (n <= 0 || proxy_parse(peek, (size_t)n, &info) != PROXY_DONE)
		return false;
	do
		r = read(fd, peek, info.header_len);
	while (r < 0 && errno == EINTR);
	listener_addr_text(peer, text, sizeof(text));
	if (r != (ssize_t)info.header_len) {
		/* peeked whole, so only a reset ends up here */
		log_warn("connection closed: rip=%s: cannot read the PROXY "
			 "header", text);
		metrics_refused(w->metrics, w->index, METRICS_REFUSED_PROXY);
		close(fd);
		return true;
	}
	proxy_serve(w, l, fd, text, &info);
	return true;
}

void worker_proxy_begin(struct worker *w, struct listener *l, int fd,
			const struct sockaddr_storage *peer)
{
	struct proxy_wait *pw;

	if (proxy_read_at_accept(w, l, fd, peer))
		return;
	pw = calloc(1, sizeof(*pw));
	if (pw == NULL) {
		close(fd);
		return;
	}
	pw->worker = w;
	pw->listener = l;
	pw->fd = fd;
	pw->peer = *peer;
	listener_addr_text(peer, pw->peer_text, sizeof(pw->peer_text));
	pw->next = w->proxy_waits;
	pw->prevp = &w->proxy_waits;
	if (pw->next != NULL)
		pw->next->prevp = &pw->next;
	w->proxy_waits = pw;
	pw->io = io_add(w->loop, fd, IO_READ, false, proxy_wait_io, pw);
	pw->timer = timer_add(w->loop, PROXY_WAIT_MS, proxy_wait_timeout, pw);
	if (pw->io == NULL || pw->timer == NULL) {
		proxy_wait_fail(pw, "cannot wait for the PROXY header");
		return;
	}
}

void worker_proxy_free_all(struct worker *w)
{
	while (w->proxy_waits != NULL)
		/* proxy_wait_end unlinks the head through prevp; NOLINTNEXTLINE(clang-analyzer-unix.Malloc) */
		proxy_wait_end(w->proxy_waits, true);
}
