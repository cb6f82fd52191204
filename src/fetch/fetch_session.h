/* fetch_session.h: a logged-in POP3 session of the fetch client:
 * connect, TLS as the account asks (implicit, STLS required, or none
 * on loopback only), the greeting, CAPA before and after login (some
 * servers, Gmail among them, advertise PIPELINING only after it), and
 * the login (fetch_auth.h). Nothing is sent in the clear that the
 * user did not allow: with STARTTLS the credentials wait for the
 * verified handshake. */
#ifndef SATCHEL_FETCH_SESSION_H
#define SATCHEL_FETCH_SESSION_H

#include <stdbool.h>

#include "fetch/fetch.h"
#include "fetch/fetch_auth.h"
#include "fetch/pop3client.h"

struct tls_ctx;

struct fetch_caps {
	bool known;            /* CAPA answered +OK */
	bool pipelining, uidl, top, stls, user, resp_codes;
	char sasl[512];
	long login_delay;      /* seconds; -1: not advertised */
	long expire;           /* days; -1: not advertised, -2: NEVER */
};

struct fetch_session {
	struct pop3client pc;
	struct tls_ctx *tls;
	struct fetch_caps caps;       /* the latest CAPA */
	struct fetch_caps caps_before; /* before login (serverinfo) */
	char greeting[POP3CLIENT_LINE_MAX + 1];
	char reply[POP3CLIENT_LINE_MAX + 1];  /* the last status line */
	char error[512];              /* why the session failed */
	bool connected;
};

/* Connects and logs in (password may be NULL for EXTERNAL/GSSAPI).
 * FETCH_EXIT_OK, or another fetch_exit with s->error. */
int fetch_session_open(struct fetch_session *s,
		       const struct fetch_account *a, const char *password);
/* Reads CAPA into *caps. FETCH_EXIT_OK (also when CAPA is refused:
 * caps->known false) or an exit with s->error. */
int fetch_session_capa(struct fetch_session *s, struct fetch_caps *caps);
/* Sends QUIT when still connected and closes; returns whether the
 * server said +OK to it (RFC 1939 6.: the deletions are done then). */
bool fetch_session_close(struct fetch_session *s);

/* The exit for a failed pop3client call (timeout and network: 75,
 * protocol: 76, TLS: 69), with s->error set from what. */
int fetch_session_io_exit(struct fetch_session *s, int err,
			  const char *what);

/* Escapes untrusted server text for a terminal (control and 8-bit
 * octets as \xNN) into out. */
void fetch_untrusted(const char *text, size_t len, char *out, size_t size);

#endif
