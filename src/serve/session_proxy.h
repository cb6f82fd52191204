/* session_proxy.h: proxy mode (proxy = yes): after the local login the
 * session connects to the user's backend (net/backendlist.h), sends a
 * PROXY v2 header naming the real client, logs in there with USER/PASS
 * and then relays bytes both ways until either side closes.
 *
 * All on the worker's loop: a non-blocking connect, one bound for the
 * connect, the greeting and the login (proxy_timeout), and two bounded
 * relay buffers; a side is read only while the buffer towards the other
 * side has room (backpressure). The backend's answer to PASS is the
 * client's answer: its +OK, or its -ERR with the backend's own response
 * code ([IN-USE], [SYS/TEMP], [AUTH]) unchanged. A backend that cannot be
 * reached or does not answer in time is -ERR [SYS/TEMP]. With
 * proxy_tls the link is implicit TLS after the PROXY header (the
 * backend's listen_tls), the certificate verified against proxy_tls_ca
 * and the backend's address. */
#ifndef SATCHEL_SESSION_PROXY_H
#define SATCHEL_SESSION_PROXY_H

#include <stdbool.h>
#include <stdint.h>

#include "net/backendlist.h"

struct session;
struct session_proxy;

/* Starts the backend login of s's user (the canonical name) with the
 * password the client gave (copied; the caller wipes its own), at host
 * (the user record's proxy_host) or, when it is "", the backend the
 * user's hash picks. The
 * session waits; the outcome arrives through session_login_proxied()
 * (session.h). 0, or -1 when nothing could be started (a reply is
 * queued then, and the caller ends the login). */
int session_proxy_start(struct session *s, const char *user,
			const char *secret, const char *host);
/* The login went through: from now on s's client connection is relayed
 * (the session's own reader and timers stop). May destroy s. */
void session_proxy_relay(struct session *s);
/* True while s relays (its I/O belongs to session_proxy.c). */
bool session_proxy_relaying(const struct session *s);

/* CAPA before login in proxy mode lists a capability of the backends'
 * (TOP, UIDL, PIPELINING, RESP-CODES, XTND, SDPS) only when every backend
 * of proxy_backends whose CAPA this worker learned lists it: the
 * intersection. Each backend's is learned with one CAPA before the USER
 * of a login, at the first login and again after PROXY_CAPA_TTL; a
 * backend not asked yet counts as listing everything. True outside
 * proxy mode. name is the capability's first word. */
bool session_proxy_capa_offered(const struct session *s, const char *name);

/* What the backends of proxy_backends said to CAPA, in shared memory
 * (made by the master, so every worker answers CAPA alike). Each entry
 * is written whole by one worker at a time at most; a torn read costs
 * one wrong CAPA line until the next learning. */
struct proxy_capa_table {
	int64_t learned_at[BACKENDLIST_MAX]; /* time(); 0: not yet */
	uint32_t bits[BACKENDLIST_MAX];      /* of proxy_capa_names */
};
/* The client socket's events while relaying. May destroy s. */
void session_proxy_client_io(struct session *s, unsigned ready);
/* Closes the backend link (nothing is said to the backend: without a
 * QUIT it does not enter UPDATE). NULL-safe; sets s->proxy to NULL. */
void session_proxy_destroy(struct session *s);

#endif
