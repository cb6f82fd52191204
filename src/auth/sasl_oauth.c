/* sasl_oauth.c: OAUTHBEARER and XOAUTH2 messages and token checks (see
 * sasl_oauth.h). */
#include "auth/sasl_oauth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/jwt.h"

/* RFC 7628 3.1: kvsep = %x01 */
#define KVSEP '\001'

struct sasl_oauth {
	const struct auth_settings *set;
	struct jwt_key *key;
};

int sasl_oauth_create(const struct auth_settings *set, struct sasl_oauth **so_r,
		      const char **error_r)
{
	struct sasl_oauth *so;

	so = calloc(1, sizeof(*so));
	if (so == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	so->set = set;
	if (jwt_key_load(set->oauth_public_key, &so->key, error_r) < 0) {
		free(so);
		return -1;
	}
	*so_r = so;
	return 0;
}

void sasl_oauth_destroy(struct sasl_oauth **sop)
{
	struct sasl_oauth *so = *sop;

	if (so == NULL)
		return;
	*sop = NULL;
	jwt_key_destroy(&so->key);
	free(so);
}

const char *sasl_oauth_error(bool xoauth2)
{
	/* no "scope" or "openid-configuration": satchel does not know
	 * where clients get tokens, and they are optional (RFC 7628
	 * 3.2.2) */
	return xoauth2 ? "{\"status\":\"401\",\"schemes\":\"bearer\"}" :
	       "{\"status\":\"invalid_token\"}";
}

/* RFC 5801 saslname: "=2C" is ',', "=3D" is '=', other '=' and ',' are
 * invalid. Decodes [p, end) into user_r. 0 or -1. */
static int sasl_oauth_saslname(const char *p, const char *end, char *user_r,
			       size_t size)
{
	size_t n = 0;

	for (; p < end; p++) {
		char c = *p;

		if (c == '=') {
			if (end - p >= 3 && strncmp(p, "=2C", 3) == 0)
				c = ',';
			else if (end - p >= 3 && strncmp(p, "=3D", 3) == 0)
				c = '=';
			else
				return -1;
			p += 2;
		} else if (c == ',') {
			return -1;
		}
		if (n + 1 >= size)
			return -1;
		user_r[n++] = c;
	}
	user_r[n] = '\0';
	return 0;
}

/* The gs2-header "n,[a=saslname]," (RFC 7628 3.1 over RFC 5801 4.);
 * *rest_r points after it. 0 or -1. */
static int sasl_oauth_gs2(const char *msg, char *authzid_r, size_t size,
			  const char **rest_r)
{
	const char *p = msg, *comma;

	authzid_r[0] = '\0';
	/* "y": the client could bind but thinks we cannot (true);
	 * "p=": binding requested, which OAUTHBEARER does not have */
	if ((p[0] != 'n' && p[0] != 'y') || p[1] != ',')
		return -1;
	p += 2;
	if (strncmp(p, "a=", 2) == 0) {
		comma = strchr(p + 2, ',');
		if (comma == NULL ||
		    sasl_oauth_saslname(p + 2, comma, authzid_r, size) < 0 ||
		    authzid_r[0] == '\0')
			return -1;
		p = comma;
	}
	if (p[0] != ',')
		return -1;
	*rest_r = p + 1;
	return 0;
}

/* key=value^A pairs up to the empty one that ends the message; the
 * values of "auth" and "user" are returned (pointers into msg, whose
 * separators are overwritten with NULs). 0 or -1. */
static int sasl_oauth_pairs(char *p, const char **auth_r, const char **user_r)
{
	*auth_r = NULL;
	*user_r = NULL;
	for (;;) {
		char *sep = strchr(p, KVSEP), *eq;

		if (sep == NULL)
			return -1;
		if (sep == p) /* the empty pair: must be the very end */
			return p[1] == '\0' ? 0 : -1;
		*sep = '\0';
		eq = strchr(p, '=');
		if (eq == NULL || eq == p)
			return -1;
		*eq = '\0';
		for (const char *k = p; *k != '\0'; k++) {
			/* RFC 7628 3.1: key = 1*(ALPHA) */
			if (!((*k >= 'a' && *k <= 'z') ||
			      (*k >= 'A' && *k <= 'Z')))
				return -1;
		}
		if (strcmp(p, "auth") == 0) {
			if (*auth_r != NULL)
				return -1;
			*auth_r = eq + 1;
		} else if (strcmp(p, "user") == 0) {
			if (*user_r != NULL)
				return -1;
			*user_r = eq + 1;
		}
		/* host=, port= and others are informational */
		p = sep + 1;
	}
}

/* "Bearer" 1*SP token (RFC 6750 2.1; the scheme is case-insensitive). */
static const char *sasl_oauth_bearer(const char *auth)
{
	if (strncasecmp(auth, "Bearer ", 7) != 0)
		return NULL;
	auth += 7;
	while (*auth == ' ')
		auth++;
	return *auth != '\0' ? auth : NULL;
}

enum sasl_oauth_status sasl_oauth_check(const struct sasl_oauth *so,
					bool xoauth2,
					const unsigned char *in,
					size_t in_len, time_t now,
					char *user_r, size_t user_size,
					const char **why_r)
{
	const struct auth_settings *set = so->set;
	struct jwt_policy policy = {
		.issuer = set->oauth_issuer,
		.audience = set->oauth_audience,
		.user_claim = set->oauth_user_claim,
		.now = now,
	};
	enum sasl_oauth_status st = SASL_OAUTH_MALFORMED;
	char claimed[256], token_user[256];
	const char *rest, *auth, *user, *token;
	char *msg;

	user_r[0] = '\0';
	claimed[0] = '\0';
	*why_r = "malformed message";
	/* a NUL inside would hide what follows it from the parser */
	if (in_len == 0 || memchr(in, '\0', in_len) != NULL)
		return SASL_OAUTH_MALFORMED;
	msg = malloc(in_len + 1);
	if (msg == NULL) {
		*why_r = "out of memory";
		return SASL_OAUTH_MALFORMED;
	}
	memcpy(msg, in, in_len);
	msg[in_len] = '\0';
	if (xoauth2) {
		rest = msg;
	} else if (sasl_oauth_gs2(msg, claimed, sizeof(claimed), &rest) < 0 ||
		   rest[0] != KVSEP) {
		goto out;
	} else {
		rest++;
	}
	if (sasl_oauth_pairs(msg + (rest - msg), &auth, &user) < 0 ||
	    auth == NULL)
		goto out;
	if (xoauth2) {
		if (user == NULL || user[0] == '\0' ||
		    strlen(user) >= sizeof(claimed))
			goto out;
		strcpy(claimed, user);
	}
	snprintf(user_r, user_size, "%s", claimed);
	token = sasl_oauth_bearer(auth);
	if (token == NULL) {
		*why_r = "no bearer token";
		goto out;
	}
	st = SASL_OAUTH_INVALID;
	if (jwt_verify(so->key, token, strlen(token), &policy, token_user,
		       sizeof(token_user), why_r) < 0)
		goto out;
	if (claimed[0] != '\0' && strcmp(claimed, token_user) != 0) {
		*why_r = "token of another user";
		goto out;
	}
	snprintf(user_r, user_size, "%s", token_user);
	st = SASL_OAUTH_OK;
out:
	explicit_bzero(msg, in_len);
	free(msg);
	return st;
}
