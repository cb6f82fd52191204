/* session_kpop.h: a kpop_listen connection (KPOP, Kerberos 5 POP as
 * fetchmail's `proto KPOP` speaks it): the sendauth handshake
 * (net/sendauth.h) before the greeting, read with bounded sizes under
 * the pre-auth timeout on the worker's loop; the AP_REQ is verified by
 * the auth process (the keytab is only there; auth_proto.h, "KPOP"),
 * whose AP_REP (mutual authentication) or KRB_ERROR is sent on. Then
 * the greeting, USER (which must name the ticket's user) and a PASS
 * whose text is ignored: the login is the ticket's. Kerberos IV is not
 * supported. */
#ifndef SATCHEL_SESSION_KPOP_H
#define SATCHEL_SESSION_KPOP_H

#include <stdbool.h>

#include "auth/auth_proto.h"
#include "serve/commands.h"

struct session;

/* Starts the handshake instead of the greeting (session_start). */
void session_kpop_begin(struct session *s);
/* True while the auth process verifies: no input is read. */
bool session_kpop_holds(const struct session *s);
/* True while the handshake reads raw octets (not lines). */
bool session_kpop_reading(const struct session *s);
/* Reads what the socket has for the handshake (session_read's place). */
void session_kpop_read(struct session *s);
/* An auth reply for s: true when it was the handshake's (consumed). */
bool session_kpop_reply(struct session *s, const struct auth_reply *r);
/* PASS on a KPOP session: the USER name to the auth process, which
 * answers with the login's result. */
enum cmd_outcome session_kpop_pass(struct session *s);
/* At the end of the session: the exchange in the auth process is
 * dropped, the buffer freed. */
void session_kpop_end(struct session *s);

#endif
