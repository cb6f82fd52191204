/* metrics_http.c: the metrics endpoint (see metrics_http.h). */
#include "serve/metrics_http.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/httpreq.h"
#include "net/ioloop.h"
#include "util/log.h"

struct http_conn {
	struct metrics_http *owner;
	int fd;
	struct io *io;
	struct timer *timer;
	char in[METRICS_HTTP_REQUEST_MAX];
	size_t in_len;
	struct outbuf out;
	bool responding;
};

struct metrics_http {
	struct ioloop *loop;
	int listen_fd;
	struct io *listen_io;
	metrics_http_render_fn *render;
	void *context;
	struct http_conn *conns[METRICS_HTTP_CONNS_MAX];
};

static void conn_close(struct http_conn *c)
{
	struct metrics_http *h = c->owner;

	for (size_t i = 0; i < METRICS_HTTP_CONNS_MAX; i++) {
		if (h->conns[i] == c)
			h->conns[i] = NULL;
	}
	io_remove(&c->io);
	timer_remove(&c->timer);
	close(c->fd);
	outbuf_free(&c->out);
	free(c);
}

static void conn_timeout(void *context)
{
	struct http_conn *c = context;

	c->timer = NULL;
	conn_close(c);
}

/* Writes what the socket takes; closes when all is out or it fails. */
static void conn_flush(struct http_conn *c)
{
	while (outbuf_pending(&c->out) > 0) {
		ssize_t n = send(c->fd, outbuf_head(&c->out),
				 outbuf_pending(&c->out),
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			(void)io_set_events(c->io, IO_WRITE);
			return;
		}
		if (n <= 0) {
			conn_close(c);
			return;
		}
		outbuf_consume(&c->out, (size_t)n);
	}
	/* The client reads to EOF (Connection: close). */
	(void)shutdown(c->fd, SHUT_WR);
	conn_close(c);
}

static int respond_status(struct http_conn *c, const char *status,
			  const char *extra, const char *body)
{
	return outbuf_printf(&c->out, "HTTP/1.1 %s\r\nContent-Type: text/plain;"
			     " charset=utf-8\r\nContent-Length: %zu\r\n%s"
			     "Connection: close\r\n\r\n%s", status,
			     strlen(body), extra, body);
}

static int respond_metrics(struct http_conn *c)
{
	struct metrics_http *h = c->owner;
	struct outbuf page = { 0 };
	int ret;

	if (h->render(h->context, &page) < 0) {
		outbuf_free(&page);
		return respond_status(c, "500 Internal Server Error", "",
				      "out of memory\n");
	}
	/* version=0.0.4: the Prometheus text exposition format */
	ret = outbuf_printf(&c->out, "HTTP/1.1 200 OK\r\nContent-Type: "
			    "text/plain; version=0.0.4; charset=utf-8\r\n"
			    "Content-Length: %zu\r\nConnection: close\r\n\r\n",
			    outbuf_pending(&page));
	if (ret == 0)
		ret = outbuf_append(&c->out, outbuf_head(&page),
				    outbuf_pending(&page));
	outbuf_free(&page);
	return ret;
}

static void conn_respond(struct http_conn *c, enum httpreq_status st,
			 const struct httpreq *req, const char *error)
{
	int ret;

	c->responding = true;
	if (st == HTTPREQ_BAD) {
		log_info("metrics: bad request: %s", error);
		ret = respond_status(c, "400 Bad Request", "", "bad request\n");
	} else if (strcmp(req->method, "GET") != 0) {
		ret = respond_status(c, "405 Method Not Allowed",
				     "Allow: GET\r\n", "only GET\n");
	} else if (strcmp(req->target, "/metrics") != 0) {
		ret = respond_status(c, "404 Not Found", "",
				     "only /metrics is here\n");
	} else {
		ret = respond_metrics(c);
	}
	if (ret < 0) {
		log_error("metrics: out of memory for a response");
		conn_close(c);
		return;
	}
	conn_flush(c);
}

static void conn_read(struct http_conn *c)
{
	struct httpreq req;
	const char *error = NULL;
	enum httpreq_status st;
	size_t used;

	for (;;) {
		ssize_t n;

		if (c->in_len == sizeof(c->in)) {
			/* RFC 9110 15.5.20 would be 431; one 400 for all */
			conn_respond(c, HTTPREQ_BAD, NULL,
				     "request head too long");
			return;
		}
		n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len,
			 MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			conn_close(c);
			return;
		}
		c->in_len += (size_t)n;
		st = httpreq_parse(c->in, c->in_len, &req, &used, &error);
		if (st != HTTPREQ_MORE) {
			conn_respond(c, st, &req, error);
			return;
		}
	}
}

static void conn_io(void *context, unsigned ready)
{
	struct http_conn *c = context;

	if (c->responding)
		conn_flush(c);
	else if (ready & IO_READ)
		conn_read(c);
}

static void accept_one(struct metrics_http *h, int fd)
{
	struct http_conn *c = NULL;
	size_t slot;

	for (slot = 0; slot < METRICS_HTTP_CONNS_MAX; slot++) {
		if (h->conns[slot] == NULL)
			break;
	}
	if (slot == METRICS_HTTP_CONNS_MAX) {
		log_warn("metrics: %d connections already, closing one more",
			 METRICS_HTTP_CONNS_MAX);
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		close(fd);
		return;
	}
	c->owner = h;
	c->fd = fd;
	c->io = io_add(h->loop, fd, IO_READ, false, conn_io, c);
	c->timer = timer_add(h->loop, METRICS_HTTP_TIMEOUT_MS, conn_timeout, c);
	h->conns[slot] = c;
	if (c->io == NULL || c->timer == NULL) {
		log_error("metrics: cannot watch a connection: %s",
			  strerror(errno));
		conn_close(c);
	}
}

static void listen_io(void *context, unsigned ready)
{
	struct metrics_http *h = context;

	/* a few per round: the master has children to look after too */
	for (int i = 0; i < METRICS_HTTP_CONNS_MAX; i++) {
		int fd = accept4(h->listen_fd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				log_error("metrics: accept: %s",
					  strerror(errno));
			return;
		}
		accept_one(h, fd);
	}
}

struct metrics_http *metrics_http_create(struct ioloop *loop, int listen_fd,
					 metrics_http_render_fn *render,
					 void *context)
{
	struct metrics_http *h = calloc(1, sizeof(*h));

	if (h == NULL) {
		close(listen_fd);
		return NULL;
	}
	h->loop = loop;
	h->listen_fd = listen_fd;
	h->render = render;
	h->context = context;
	h->listen_io = io_add(loop, listen_fd, IO_READ, false, listen_io, h);
	if (h->listen_io == NULL) {
		close(listen_fd);
		free(h);
		return NULL;
	}
	return h;
}

void metrics_http_destroy(struct metrics_http **hp)
{
	struct metrics_http *h = *hp;

	if (h == NULL)
		return;
	*hp = NULL;
	for (size_t i = 0; i < METRICS_HTTP_CONNS_MAX; i++) {
		if (h->conns[i] != NULL)
			conn_close(h->conns[i]);
	}
	io_remove(&h->listen_io);
	close(h->listen_fd);
	free(h);
}

void metrics_http_close_fds(struct metrics_http *h)
{
	if (h == NULL)
		return;
	close(h->listen_fd);
	for (size_t i = 0; i < METRICS_HTTP_CONNS_MAX; i++) {
		if (h->conns[i] != NULL)
			close(h->conns[i]->fd);
	}
}
