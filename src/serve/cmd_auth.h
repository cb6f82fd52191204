/* cmd_auth.h: the AUTH command (RFC 5034, SASL over POP3) on the worker
 * side: mechanism choice, base64 framing of the exchange, and its line
 * limit. The mechanisms themselves run in the auth process (sasl.h),
 * which alone sees secrets; this file only relays decoded client data
 * and encoded challenges. */
#ifndef SATCHEL_CMD_AUTH_H
#define SATCHEL_CMD_AUTH_H

#include <stddef.h>

#include "auth/auth_proto.h"
#include "serve/cmdparse.h"

struct session;

/* AUTH: no argument lists the mechanisms usable now; "AUTH mech
 * [initial-response]" starts an exchange ("=" is an empty response). */
enum cmd_outcome cmd_auth(struct session *s, const struct cmd_args *args);

/* A client line while s->sasl_active: base64 response or "*" (cancel). */
enum cmd_outcome cmd_auth_continue(struct session *s, char *line,
				   size_t len);
/* A client line over sasl_max_line during the exchange: ends it. */
void cmd_auth_too_long(struct session *s);
/* The auth process answered during the exchange: a challenge, or the
 * final result (handed to session_auth_result). May destroy s. */
void cmd_auth_reply(struct session *s, const struct auth_reply *r);
/* The session ends mid-exchange: tells the auth process to drop it. */
void cmd_auth_abort(struct session *s);

/* Queues the CAPA "SASL ..." line when a mechanism is usable now
 * (RFC 2449 6.3). */
void cmd_auth_capa(struct session *s);

#endif
