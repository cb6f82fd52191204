/* fetch_auth.h: logging in to a POP3 server as the fetch client: USER/
 * PASS, APOP (RFC 1939 7.) and SASL (RFC 5034) through GNU SASL's
 * client side, plus XOAUTH2 (Google's and Microsoft's form) by hand.
 *
 * The mechanism is chosen once, before anything is sent: the one the
 * URL names, or for ;AUTH=* the strongest the server offers (SCRAM
 * with channel binding over TLS first, USER/PASS last). A refusal is
 * final: no weaker mechanism is tried after it (an active attacker
 * could otherwise make a refusal happen and harvest the weaker
 * exchange). */
#ifndef SATCHEL_FETCH_AUTH_H
#define SATCHEL_FETCH_AUTH_H

#include <stdbool.h>

#include "fetch/pop3client.h"
#include "fetch/popurl.h"

#define FETCH_APOP_STAMP_MAX 255

/* What the server offers, from its greeting and CAPA. */
struct fetch_offer {
	bool user;                            /* CAPA USER (or no CAPA) */
	char sasl[512];                       /* CAPA SASL's names, spaced */
	char apop_stamp[FETCH_APOP_STAMP_MAX + 1];  /* "" when none */
};

enum fetch_auth_result {
	FETCH_AUTH_OK = 0,
	FETCH_AUTH_REFUSED = 1,     /* -ERR: credentials refused, or
				       none to offer (GSSAPI without a
				       usable ticket) (77) */
	FETCH_AUTH_TEMP = 2,        /* -ERR [SYS/TEMP], [IN-USE],
				       [LOGIN-DELAY]: try later (75) */
	FETCH_AUTH_UNSUPPORTED = 3, /* nothing acceptable offered (69) */
	FETCH_AUTH_IO = 4,          /* the connection failed (75/76) */
};

/* Takes the APOP timestamp out of a greeting's text when it has a
 * well-formed one (RFC 1939 7.: <...@...>, printable, no spaces);
 * stamp gets "" otherwise. */
void fetch_auth_stamp(const char *text, size_t len, char *stamp,
		      size_t size);

/* Logs in as url->user with password (may be NULL for EXTERNAL and
 * GSSAPI; GSSAPI sends url->user as the authzid, the ticket's
 * principal must be that user). With XOAUTH2/OAUTHBEARER the password
 * is the token.
 * *why_r (static, or pc->error, or reply text copied into reply) tells
 * what happened for the log; reply (size >= POP3CLIENT_LINE_MAX) gets
 * the server's last status line. *code_r the server's response code. */
int fetch_auth_login(struct pop3client *pc, const struct popurl *url,
		     const struct fetch_offer *offer, const char *password,
		     char *reply, size_t reply_size, const char **why_r);

#endif
