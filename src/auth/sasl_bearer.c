/* sasl_bearer.c: the OAUTHBEARER (RFC 7628) and XOAUTH2 exchanges; the
 * client messages and tokens are checked by sasl_oauth.c. */
#include <string.h>
#include <time.h>

#include "auth/sasl_exchange.h"
#include "auth/sasl_oauth.h"

/* in is NULL when START came without an initial response. A refused
 * token gets the error challenge (RFC 7628 3.2.2) and the client's dummy
 * answer to it the failure. */
enum sasl_result sasl_bearer_step(struct sasl_exchange *ex,
				  const unsigned char *in, size_t in_len,
				  struct sasl_outcome *o)
{
	bool xoauth2 = strcmp(ex->mech->name, "XOAUTH2") == 0;
	enum sasl_oauth_status st;
	const char *error;

	if (ex->oauth_error_sent) {
		/* RFC 7628 3.2.3: "\x01" from OAUTHBEARER clients, an empty
		 * line from XOAUTH2 ones; either way it has failed */
		o->why = ex->oauth_why;
		return SASL_RESULT_FAILED;
	}
	if (in == NULL) {
		o->out_len = 0; /* RFC 4422 5.: ask for the client's message */
		return SASL_RESULT_CONTINUE;
	}
	/* a bearer token is as good as a password on the wire; the worker
	 * checks this too, but this process trusts nothing */
	if (!sasl_plaintext_ok(ex)) {
		o->why = "bearer token on an unprotected connection";
		return SASL_RESULT_FAILED;
	}
	if (ex->ss->oauth == NULL) {
		o->why = "no token key loaded";
		return SASL_RESULT_TEMPFAIL;
	}
	st = sasl_oauth_check(ex->ss->oauth, xoauth2, in, in_len, time(NULL),
			      ex->user, sizeof(ex->user), &o->why);
	if (st == SASL_OAUTH_MALFORMED)
		return SASL_RESULT_FAILED;
	if (st == SASL_OAUTH_OK) {
		o->entry = sasl_lookup(ex, ex->user);
		if (o->entry != NULL)
			return SASL_RESULT_SUCCESS;
		o->why = "token user not in the passwd-file";
	}
	error = sasl_oauth_error(xoauth2);
	if (strlen(error) > o->out_size) {
		o->why = "challenge too large";
		return SASL_RESULT_TEMPFAIL;
	}
	ex->oauth_error_sent = true;
	ex->oauth_why = o->why;
	memcpy(o->out, error, strlen(error));
	o->out_len = strlen(error);
	return SASL_RESULT_CONTINUE;
}
