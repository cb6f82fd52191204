/* sasl_simple.c: the PLAIN (RFC 4616) and LOGIN mechanisms. Both only
 * carry a user name and a password; the check itself is USER/PASS's
 * (SASL_PENDING_PASSWORD, run by auth_verify.c on the hash pool), so the
 * three ways of sending a password cost and answer the same. */
#include <stdio.h>
#include <string.h>

#include "auth/sasl_exchange.h"

/* LOGIN's challenges, as gsasl and the clients in the field use them
 * (the mechanism has no RFC; draft-murchison-sasl-login-00). */
#define SASL_LOGIN_ASK_USER "User Name"
#define SASL_LOGIN_ASK_PASSWORD "Password"

static enum sasl_result sasl_simple_challenge(struct sasl_outcome *o,
					      const char *text)
{
	size_t len = strlen(text);

	if (len > o->out_size) {
		o->why = "challenge too large";
		return SASL_RESULT_TEMPFAIL;
	}
	memcpy(o->out, text, len);
	o->out_len = len;
	return SASL_RESULT_CONTINUE;
}

/* Copies the len octets at p (no NUL among them) into out as a string.
 * -1 when it does not fit. */
static int sasl_simple_copy(const unsigned char *p, size_t len, char *out,
			    size_t size)
{
	if (len >= size || memchr(p, '\0', len) != NULL)
		return -1;
	memcpy(out, p, len);
	out[len] = '\0';
	return 0;
}

/* The password is the last thing either mechanism needs: hands it to the
 * pool. authzid: PLAIN's, "" when absent (no proxy authorization: only
 * the user itself; another name still pays for the check). */
static enum sasl_result sasl_simple_pending(struct sasl_exchange *ex,
					    const char *authzid,
					    const unsigned char *pw,
					    size_t pw_len,
					    struct sasl_outcome *o)
{
	struct sasl_pending *p = &o->pending;

	/* the worker checks this too; this process trusts nothing */
	if (!sasl_plaintext_ok(ex)) {
		o->why = "plaintext login on an unprotected connection";
		return SASL_RESULT_FAILED;
	}
	/* a NUL would cut the password short in crypt(): refused before
	 * any user is looked up, so it tells nothing */
	if (sasl_simple_copy(pw, pw_len, p->password,
			     sizeof(p->password)) < 0) {
		explicit_bzero(p->password, sizeof(p->password));
		o->why = "malformed or over-long password";
		return SASL_RESULT_FAILED;
	}
	p->kind = SASL_PENDING_PASSWORD;
	snprintf(p->user, sizeof(p->user), "%s", ex->user);
	p->refuse = authzid[0] != '\0' && strcmp(authzid, ex->user) != 0;
	return SASL_RESULT_PENDING;
}

/* RFC 4616 2.: message = [authzid] NUL authcid NUL passwd. */
static enum sasl_result sasl_plain_step(struct sasl_exchange *ex,
					const unsigned char *in, size_t len,
					struct sasl_outcome *o)
{
	const unsigned char *nul1, *nul2, *pw;
	char authzid[AUTH_USER_MAX];

	if (in == NULL) {
		o->out_len = 0; /* RFC 4422 5.: ask for the message */
		return SASL_RESULT_CONTINUE;
	}
	o->why = "malformed PLAIN message";
	nul1 = memchr(in, '\0', len);
	if (nul1 == NULL)
		return SASL_RESULT_FAILED;
	nul2 = memchr(nul1 + 1, '\0', len - (size_t)(nul1 + 1 - in));
	if (nul2 == NULL || nul2 == nul1 + 1)
		return SASL_RESULT_FAILED;
	pw = nul2 + 1;
	if (sasl_simple_copy(in, (size_t)(nul1 - in), authzid,
			     sizeof(authzid)) < 0 ||
	    sasl_simple_copy(nul1 + 1, (size_t)(nul2 - nul1 - 1), ex->user,
			     sizeof(ex->user)) < 0) {
		ex->user[0] = '\0';
		return SASL_RESULT_FAILED;
	}
	o->why = "";
	return sasl_simple_pending(ex, authzid, pw, len - (size_t)(pw - in),
				   o);
}

/* LOGIN: "User Name", the name, "Password", the password. Clients that
 * send the name as the initial response (curl --sasl-ir) skip the first
 * challenge. */
static enum sasl_result sasl_login_step(struct sasl_exchange *ex,
					const unsigned char *in, size_t len,
					struct sasl_outcome *o)
{
	switch (ex->login_state) {
	case 0:
		if (in == NULL || len == 0) {
			ex->login_state = 1;
			return sasl_simple_challenge(o, SASL_LOGIN_ASK_USER);
		}
		/* the initial response is the name */
		__attribute__((fallthrough));
	case 1:
		if (in == NULL ||
		    sasl_simple_copy(in, len, ex->user, sizeof(ex->user)) < 0) {
			ex->user[0] = '\0';
			o->why = "malformed or over-long user name";
			return SASL_RESULT_FAILED;
		}
		ex->login_state = 2;
		return sasl_simple_challenge(o, SASL_LOGIN_ASK_PASSWORD);
	default:
		if (in == NULL) {
			o->why = "no password";
			return SASL_RESULT_FAILED;
		}
		return sasl_simple_pending(ex, "", in, len, o);
	}
}

enum sasl_result sasl_simple_step(struct sasl_exchange *ex,
				  const unsigned char *in, size_t in_len,
				  struct sasl_outcome *o)
{
	if (strcmp(ex->mech->name, "PLAIN") == 0)
		return sasl_plain_step(ex, in, in_len, o);
	return sasl_login_step(ex, in, in_len, o);
}
