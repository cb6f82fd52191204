/* sasl_gsasl.c: the mechanisms GNU SASL runs in the auth process:
 * CRAM-MD5 (RFC 2195; its one HMAC-MD5 is cheap, so it stays inline),
 * EXTERNAL (RFC 4422 appendix A) and GSSAPI (RFC 4752). gsasl asks its
 * callback for secrets and decisions; the answers come from here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <krb5.h>

#include "auth/password.h"
#include "auth/sasl_exchange.h"
#include "util/log.h"

/* No proxy authorization: an authzid, when given, names the user. */
static bool sasl_gsasl_authzid_ok(Gsasl_session *gs, const char *user)
{
	const char *authzid = gsasl_property_fast(gs, GSASL_AUTHZID);

	return authzid == NULL || authzid[0] == '\0' ||
	       strcmp(authzid, user) == 0;
}

/* CRAM-MD5: the {PLAIN} secret, which gsasl's HMAC needs. */
static int sasl_gsasl_password(struct sasl_exchange *ex, Gsasl_session *gs)
{
	const struct passwd_entry *e;
	const char *stored, *plain;

	e = sasl_lookup(ex, gsasl_property_fast(gs, GSASL_AUTHID));
	if (e == NULL || (stored = passwd_entry_secret(e, "PLAIN")) == NULL ||
	    (plain = password_plain_secret(stored)) == NULL)
		return GSASL_NO_CALLBACK;
	return gsasl_property_set(gs, GSASL_PASSWORD, plain);
}

/* EXTERNAL: the identity is the verified client certificate's CN; the
 * worker only sends one when tls_verify_client is on, and we check the
 * setting again (this process trusts nothing). */
static int sasl_gsasl_external(struct sasl_exchange *ex, Gsasl_session *gs)
{
	const char *authzid = gsasl_property_fast(gs, GSASL_AUTHZID);
	const char *user = ex->peer_cn;

	if (!ex->ss->set->client_certs ||
	    ex->peer_cn[0] == '\0')
		return GSASL_AUTHENTICATION_ERROR;
	if (authzid != NULL && authzid[0] != '\0' &&
	    strcmp(authzid, ex->peer_cn) != 0)
		return GSASL_AUTHENTICATION_ERROR;
	if (sasl_lookup(ex, user) == NULL)
		return GSASL_AUTHENTICATION_ERROR;
	return gsasl_property_set(gs, GSASL_AUTHID, user);
}

/* GSSAPI (RFC 4752 3.1): gsasl has accepted the Kerberos context; the
 * principal "user@REALM" is the passwd-file user "user" when REALM is
 * ours. Other realms and principals with an instance ("user/admin") are
 * refused; the authzid, when sent, must be that same user. */
static int sasl_gsasl_gssapi(struct sasl_exchange *ex, Gsasl_session *gs)
{
	const char *name = gsasl_property_fast(gs, GSASL_GSSAPI_DISPLAY_NAME);
	char user[AUTH_USER_MAX];
	const char *at;
	size_t len;

	if (name == NULL || (at = strrchr(name, '@')) == NULL ||
	    strcmp(at + 1, ex->ss->gss_realm) != 0 ||
	    ex->ss->gss_realm[0] == '\0')
		return GSASL_AUTHENTICATION_ERROR;
	len = (size_t)(at - name);
	if (len == 0 || len >= sizeof(user) || memchr(name, '/', len) != NULL)
		return GSASL_AUTHENTICATION_ERROR;
	memcpy(user, name, len);
	user[len] = '\0';
	if (!sasl_gsasl_authzid_ok(gs, user) || sasl_lookup(ex, user) == NULL)
		return GSASL_AUTHENTICATION_ERROR;
	/* the success check reads the user from AUTHID, like the others */
	return gsasl_property_set(gs, GSASL_AUTHID, user);
}

static int sasl_gsasl_callback(Gsasl *ctx, Gsasl_session *gs,
			       Gsasl_property prop)
{
	struct sasl_exchange *ex = gsasl_session_hook_get(gs);

	if (ex == NULL)
		return GSASL_NO_CALLBACK;
	switch (prop) {
	case GSASL_VALIDATE_EXTERNAL:
		return sasl_gsasl_external(ex, gs);
	case GSASL_PASSWORD:
		return sasl_gsasl_password(ex, gs);
	case GSASL_SERVICE:
		return gsasl_property_set(gs, prop,
					  ex->ss->set->gssapi_service);
	case GSASL_HOSTNAME:
		return gsasl_property_set(gs, prop, ex->ss->gss_hostname);
	case GSASL_VALIDATE_GSSAPI:
		return sasl_gsasl_gssapi(ex, gs);
	default:
		/* PLAIN, LOGIN and SCRAM are not gsasl's here: no other
		 * property has a value */
		return GSASL_NO_CALLBACK;
	}
}

int sasl_gsasl_start(struct sasl_exchange *ex)
{
	if (gsasl_server_start(ex->ss->ctx, ex->mech->name, &ex->gs) !=
	    GSASL_OK) {
		ex->gs = NULL;
		return -1;
	}
	gsasl_session_hook_set(ex->gs, ex);
	return 0;
}

const char *sasl_gsasl_user(const struct sasl_exchange *ex)
{
	const char *u;

	if (ex->gs == NULL)
		return NULL;
	u = gsasl_property_fast(ex->gs, GSASL_AUTHID);
	if (u == NULL && strcmp(ex->mech->name, "EXTERNAL") == 0)
		u = ex->peer_cn;
	if (u == NULL && strcmp(ex->mech->name, "GSSAPI") == 0)
		u = gsasl_property_fast(ex->gs, GSASL_GSSAPI_DISPLAY_NAME);
	return u;
}

enum sasl_result sasl_gsasl_step(struct sasl_exchange *ex,
				 const unsigned char *in, size_t in_len,
				 struct sasl_outcome *o)
{
	char *out = NULL;
	size_t out_len = 0;
	enum sasl_result res;
	int rc;

	rc = gsasl_step(ex->gs, (const char *)in, in_len, &out, &out_len);
	if (rc != GSASL_OK && rc != GSASL_NEEDS_MORE) {
		o->why = gsasl_strerror_name(rc);
		res = rc == GSASL_MALLOC_ERROR || rc == GSASL_CRYPTO_ERROR ?
		      SASL_RESULT_TEMPFAIL : SASL_RESULT_FAILED;
		goto out_free;
	}
	if (out_len > o->out_size) {
		o->why = "challenge too large";
		res = SASL_RESULT_TEMPFAIL;
		goto out_free;
	}
	if (rc == GSASL_OK) {
		res = sasl_success(ex, gsasl_property_fast(ex->gs,
							   GSASL_AUTHID),
				   gsasl_property_fast(ex->gs, GSASL_AUTHZID),
				   o);
		if (res != SASL_RESULT_SUCCESS || out_len == 0)
			goto out_free;
		/* RFC 5034 4.: data with success goes out as one more
		 * challenge; the empty answer completes the exchange */
		o->entry = NULL;
		ex->success_sent = true;
	}
	if (out_len > 0)
		memcpy(o->out, out, out_len);
	o->out_len = out_len;
	res = SASL_RESULT_CONTINUE;
out_free:
	if (out != NULL) {
		explicit_bzero(out, out_len);
		gsasl_free(out);
	}
	return res;
}

/* GSSAPI: the keytab for gss_acquire_cred (MIT reads KRB5_KTNAME when
 * it opens the default keytab), the host name of the service principal
 * and the realm users belong to. Errors are logged: GSSAPI then fails,
 * the rest works. */
static void sasl_gsasl_gssapi_setup(struct sasl_server *ss)
{
	const struct auth_settings *set = ss->set;
	char ktname[AUTH_SETTING_STR + 8];
	krb5_context kctx;
	char *realm = NULL;

	snprintf(ktname, sizeof(ktname), "FILE:%s", set->gssapi_keytab);
	if (setenv("KRB5_KTNAME", ktname, 1) < 0)
		log_error("GSSAPI: cannot set the keytab: out of memory");
	if (set->gssapi_hostname[0] != '\0')
		snprintf(ss->gss_hostname, sizeof(ss->gss_hostname), "%s",
			 set->gssapi_hostname);
	else if (gethostname(ss->gss_hostname, sizeof(ss->gss_hostname)) < 0)
		ss->gss_hostname[sizeof(ss->gss_hostname) - 1] = '\0';
	ss->gss_hostname[sizeof(ss->gss_hostname) - 1] = '\0';
	if (set->gssapi_realm[0] != '\0') {
		snprintf(ss->gss_realm, sizeof(ss->gss_realm), "%s",
			 set->gssapi_realm);
	} else if (krb5_init_context(&kctx) == 0) {
		if (krb5_get_default_realm(kctx, &realm) == 0) {
			snprintf(ss->gss_realm, sizeof(ss->gss_realm), "%s",
				 realm);
			krb5_free_default_realm(kctx, realm);
		}
		krb5_free_context(kctx);
	}
	if (ss->gss_realm[0] == '\0')
		log_error("GSSAPI: gssapi_realm is not set and krb5.conf has "
			  "no default_realm; GSSAPI logins will fail");
	log_info("GSSAPI: service %s@%s, users of realm %s",
		 set->gssapi_service, ss->gss_hostname, ss->gss_realm);
}

void sasl_gsasl_setup(struct sasl_server *ss)
{
	size_t bit;
	const struct sasl_mech *m = sasl_mech_find("GSSAPI", &bit);

	gsasl_callback_set(ss->ctx, sasl_gsasl_callback);
	/* KPOP (sasl_kpop.c) takes the same host name and realm */
	if ((m != NULL && (ss->set->sasl_mech_mask & (1u << bit)) &&
	     sasl_mech_configured(m, ss->set, true)) ||
	    (ss->set->kpop && ss->set->gssapi_keytab[0] != '\0'))
		sasl_gsasl_gssapi_setup(ss);
}
