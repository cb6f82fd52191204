/* metrics_http.h: the master's HTTP endpoint on metrics_listen: GET
 * /metrics in the Prometheus text format, 404 for any other path, 405
 * for any other method, 400 for what is not an HTTP/1.x request. It runs
 * on the master's event loop and never blocks it: sockets are
 * non-blocking, a request head is at most METRICS_HTTP_REQUEST_MAX
 * octets, a connection lives at most METRICS_HTTP_TIMEOUT_MS, at most
 * METRICS_HTTP_CONNS_MAX are served at once (more are closed at
 * accept). One request per connection (Connection: close). */
#ifndef SATCHEL_METRICS_HTTP_H
#define SATCHEL_METRICS_HTTP_H

#include "net/outbuf.h"

struct ioloop;
struct metrics_http;

/* The request head limit: GET /metrics with a few headers is ~200 bytes;
 * Prometheus sends ~300. */
#define METRICS_HTTP_REQUEST_MAX 4096
/* From accept to the last byte of the response. */
#define METRICS_HTTP_TIMEOUT_MS 5000
#define METRICS_HTTP_CONNS_MAX 16

/* Appends the page to out. 0, or -1 (a 500 is sent). */
typedef int metrics_http_render_fn(void *context, struct outbuf *out);

/* Serves on listen_fd (bound, listening, non-blocking; owned by the
 * endpoint from now on). NULL on out of memory (listen_fd is closed). */
struct metrics_http *metrics_http_create(struct ioloop *loop, int listen_fd,
					 metrics_http_render_fn *render,
					 void *context);
/* Closes everything. NULL-safe, sets *hp = NULL. */
void metrics_http_destroy(struct metrics_http **hp);
/* In a child forked from the master: closes the descriptors only (the
 * loop is the parent's; nothing is freed or unwatched). NULL-safe. */
void metrics_http_close_fds(struct metrics_http *h);

#endif
