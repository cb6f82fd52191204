/* sasl_oauth.h: the client messages of OAUTHBEARER (RFC 7628) and
 * XOAUTH2 (Google's), and their bearer token checked as a signed JWT
 * (jwt.h). The exchange itself (challenges, the error round trip) is run
 * by sasl.c; this file parses and decides.
 *
 * OAUTHBEARER: gs2-header "n,a=USER," or "n,," (RFC 5801; "p=" is refused:
 * the mechanism has no channel binding), ^A, key=value^A pairs with
 * "auth=Bearer TOKEN", then a final ^A (RFC 7628 3.1).
 * XOAUTH2: "user=USER^Aauth=Bearer TOKEN^A^A".
 * The user the token names (its user claim) must equal USER when the
 * client sends one (proxy authorization is not offered).
 *
 * Everything received here is untrusted; the token is a secret and is
 * never logged nor copied into a reason string. */
#ifndef SATCHEL_SASL_OAUTH_H
#define SATCHEL_SASL_OAUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "auth/auth_settings.h"

struct sasl_oauth;

enum sasl_oauth_status {
	SASL_OAUTH_OK,        /* *user_r is the token's user */
	SASL_OAUTH_MALFORMED, /* not a message of the mechanism: fail now */
	SASL_OAUTH_INVALID,   /* token refused: send the error challenge */
};

/* Loads oauth_public_key. 0, or -1 with *error_r (static text). */
int sasl_oauth_create(const struct auth_settings *set, struct sasl_oauth **so_r,
		      const char **error_r);
void sasl_oauth_destroy(struct sasl_oauth **sop);

/* Parses one client message (in_len octets) and checks its token at time
 * now. user_r gets, in every case, the name to log: the token's user on
 * OK, else the name the client claimed ("" when none). *why_r says why
 * on failure (static text). */
enum sasl_oauth_status sasl_oauth_check(const struct sasl_oauth *so,
					bool xoauth2,
					const unsigned char *in,
					size_t in_len, time_t now,
					char *user_r, size_t user_size,
					const char **why_r);

/* The error challenge sent after a refused token (RFC 7628 3.2.2 for
 * OAUTHBEARER; XOAUTH2 clients expect HTTP-style status), as text. The
 * client answers it with a dummy response and then gets -ERR. */
const char *sasl_oauth_error(bool xoauth2);

#endif
