/* jwt.h: checks a bearer token that is a signed JWT (RFC 7519, JWS compact
 * form RFC 7515) against one configured public key, for OAUTHBEARER and
 * XOAUTH2 (sasl_oauth.c). The one method satchel accepts:
 *
 *  - the key file is a PEM public key (or certificate); its type fixes the
 *    algorithm: RSA (>= 2048 bits) -> RS256, EC P-256 -> ES256. The
 *    header's "alg" must be exactly that; "none", HS* and everything else
 *    are refused, so a public key can never be used as an HMAC secret;
 *  - header: "crit" is refused (no extension is understood), "typ" when
 *    present is "JWT" or "at+jwt"; "kid", "jku", "x5u" are ignored
 *    (nothing is ever fetched);
 *  - claims: "exp" required and in the future, "nbf" (when present) not
 *    in the future, "iat" (when present) not in the future, each with
 *    JWT_LEEWAY seconds for clock skew; "iss" equal to the configured
 *    issuer; "aud" (string or array) containing the configured audience;
 *    the user claim a non-empty string.
 *  - JSON with duplicate member names is refused (a verifier and an issuer
 *    that disagree on which one counts is an attack).
 *
 * The token is secret: nothing here logs it, and error strings never
 * contain any part of it. */
#ifndef SATCHEL_JWT_H
#define SATCHEL_JWT_H

#include <stddef.h>
#include <time.h>

#include "auth/auth_limits.h"


struct jwt_key;

struct jwt_policy {
	const char *issuer;      /* "iss" must equal it */
	const char *audience;    /* "aud" must contain it */
	const char *user_claim;  /* e.g. "email" or "sub" */
	time_t now;
};

/* Loads a PEM public key or certificate. 0, or -1 with *error_r (static
 * text) on an unreadable file or an unsupported key type or size. */
int jwt_key_load(const char *path, struct jwt_key **key_r,
		 const char **error_r);
void jwt_key_destroy(struct jwt_key **keyp);
/* "RS256" or "ES256". */
const char *jwt_key_alg(const struct jwt_key *key);

/* Verifies token (len octets, not NUL-terminated) and copies the user
 * claim to user_r. 0, or -1 with *error_r (static text, never token
 * data): malformed, bad signature, wrong alg, expired, not yet valid,
 * wrong issuer or audience, missing or too long user claim. */
int jwt_verify(const struct jwt_key *key, const char *token, size_t len,
	       const struct jwt_policy *policy, char *user_r,
	       size_t user_size, const char **error_r);

#endif
