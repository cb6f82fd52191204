/* worker_proxy.h: the PROXY header stage of a worker (issue 11): a
 * connection from a proxy_trusted network must begin with a PROXY v1 or
 * v2 header (net/proxyproto.h) within PROXY_WAIT_MS; the session is then
 * made for the client the header names, so its address is the client's
 * everywhere (logs, per-address limits, failed-login delays, the auth
 * requests and the loopback rule of plaintext_auth), and implicit TLS
 * starts after the header. A v2 LOCAL header (a health check) is closed
 * without a session; a connection without a header, with a broken one
 * or too slow is closed. */
#ifndef SATCHEL_WORKER_PROXY_H
#define SATCHEL_WORKER_PROXY_H

#include <stdbool.h>
#include <sys/socket.h>

#include "serve/worker.h"

#define PROXY_WAIT_MS 5000

/* True when the peer must send a header first (w->proxy_trusted). */
bool worker_proxy_required(const struct worker *w,
			   const struct sockaddr_storage *peer);
/* Waits for fd's header; the stage owns fd from here (closes it on
 * every failure). */
void worker_proxy_begin(struct worker *w, struct listener *l, int fd,
			const struct sockaddr_storage *peer);
/* Drops the connections still waiting (the worker ends). */
void worker_proxy_free_all(struct worker *w);

#endif
