/* sasl_kpop.c: the KPOP exchange (auth_proto.h): the Kerberos 5 AP_REQ
 * of a sendauth handshake (net/sendauth.h) checked with krb5_rd_req
 * against gssapi_keytab, for the service principal
 * gssapi_service/gssapi_hostname in gssapi_realm (the key GSSAPI uses);
 * the client principal user@REALM of that realm, without an instance, is
 * the user "user", as for GSSAPI (sasl_gsasl.c). The replay cache is the
 * library's for that server principal: a replayed AP_REQ is refused.
 * Kerberos IV is not spoken. */
#include <stdio.h>
#include <string.h>

#include <krb5.h>

#include "auth/sasl_exchange.h"
#include "util/log.h"

/* One library context for the process: the steps all run on the auth
 * process's main thread. */
static krb5_context sasl_kpop_ctx;

static krb5_context sasl_kpop_context(void)
{
	if (sasl_kpop_ctx == NULL && krb5_init_context(&sasl_kpop_ctx) != 0)
		sasl_kpop_ctx = NULL;
	return sasl_kpop_ctx;
}

/* The ticket's client as a user name of ours, or -1. */
static int sasl_kpop_user(struct sasl_exchange *ex, krb5_context ctx,
			  krb5_const_principal client)
{
	char *name = NULL;
	const char *at;
	size_t len;
	int ret = -1;

	if (krb5_unparse_name(ctx, client, &name) != 0)
		return -1;
	at = strrchr(name, '@');
	if (at != NULL && ex->ss->gss_realm[0] != '\0' &&
	    strcmp(at + 1, ex->ss->gss_realm) == 0) {
		len = (size_t)(at - name);
		if (len > 0 && len < sizeof(ex->user) &&
		    memchr(name, '/', len) == NULL &&
		    memchr(name, '\\', len) == NULL) {
			memcpy(ex->user, name, len);
			ex->user[len] = '\0';
			ret = 0;
		}
	}
	krb5_free_unparsed_name(ctx, name);
	return ret;
}

/* The answer for the client: tag, then the message. */
static void sasl_kpop_out(struct sasl_outcome *o, unsigned char tag,
			  const krb5_data *msg)
{
	o->out_len = 0;
	if (o->out_size < 1)
		return;
	o->out[0] = tag;
	o->out_len = 1;
	if (msg != NULL && msg->length > 0 &&
	    (size_t)msg->length <= o->out_size - 1) {
		memcpy(o->out + 1, msg->data, msg->length);
		o->out_len += msg->length;
	}
}

/* A KRB_ERROR for code (RFC 4120 5.9.1; a code outside Kerberos' own
 * table goes as KRB_ERR_GENERIC), so the client's krb5_sendauth says
 * why. The exchange is refused from now on. */
static enum sasl_result sasl_kpop_refuse(struct sasl_exchange *ex,
					 krb5_context ctx,
					 krb5_principal server,
					 krb5_error_code code, const char *why,
					 struct sasl_outcome *o)
{
	krb5_error err;
	krb5_data out = { 0 };
	long e = (long)code - ERROR_TABLE_BASE_krb5;

	ex->login_state = 2;
	ex->kpop_why = why;
	memset(&err, 0, sizeof(err));
	err.error = e >= 0 && e < 128 ? (krb5_ui_4)e :
			    (krb5_ui_4)(KRB5KRB_ERR_GENERIC - ERROR_TABLE_BASE_krb5);
	err.server = server;
	err.text.data = (char *)"KPOP authentication refused";
	err.text.length = (unsigned)strlen(err.text.data);
	if (krb5_us_timeofday(ctx, &err.stime, &err.susec) == 0 &&
	    server != NULL && krb5_mk_error(ctx, &err, &out) == 0) {
		sasl_kpop_out(o, AUTH_KPOP_KRB_ERROR, &out);
		krb5_free_data_contents(ctx, &out);
	} else {
		sasl_kpop_out(o, AUTH_KPOP_KRB_ERROR, NULL);
	}
	return SASL_RESULT_CONTINUE;
}

/* START: the AP_REQ. */
static enum sasl_result sasl_kpop_ap_req(struct sasl_exchange *ex,
					 const unsigned char *in,
					 size_t in_len,
					 struct sasl_outcome *o)
{
	const struct auth_settings *set = ex->ss->set;
	krb5_context ctx = sasl_kpop_context();
	krb5_principal server = NULL;
	krb5_auth_context ac = NULL;
	krb5_keytab kt = NULL;
	krb5_ticket *ticket = NULL;
	krb5_flags options = 0;
	krb5_data req, rep = { 0 };
	char ktname[AUTH_SETTING_STR + 8];
	krb5_error_code code;
	enum sasl_result res;

	if (ctx == NULL) {
		o->why = "cannot start the Kerberos library";
		return SASL_RESULT_TEMPFAIL;
	}
	if (in == NULL || in_len == 0) {
		o->why = "no AP_REQ";
		return SASL_RESULT_FAILED;
	}
	snprintf(ktname, sizeof(ktname), "FILE:%s", set->gssapi_keytab);
	code = krb5_build_principal(ctx, &server,
				    (unsigned)strlen(ex->ss->gss_realm),
				    ex->ss->gss_realm, set->gssapi_service,
				    ex->ss->gss_hostname, (char *)NULL);
	if (code != 0) {
		o->why = "no service principal";
		return SASL_RESULT_TEMPFAIL;
	}
	code = krb5_kt_resolve(ctx, ktname, &kt);
	if (code == 0)
		code = krb5_auth_con_init(ctx, &ac);
	if (code != 0) {
		res = sasl_kpop_refuse(ex, ctx, server, code,
				       "keytab unusable", o);
		goto out_free;
	}
	req.magic = 0;
	req.length = (unsigned)in_len;
	req.data = (char *)in;
	code = krb5_rd_req(ctx, &ac, &req, server, kt, &options, &ticket);
	if (code != 0) {
		const char *msg = krb5_get_error_message(ctx, code);

		log_info("KPOP: AP_REQ refused: %s", msg);
		krb5_free_error_message(ctx, msg);
		res = sasl_kpop_refuse(ex, ctx, server, code,
				       "AP_REQ refused", o);
		goto out_free;
	}
	if (ticket->enc_part2 == NULL ||
	    sasl_kpop_user(ex, ctx, ticket->enc_part2->client) < 0) {
		res = sasl_kpop_refuse(ex, ctx, server,
				       KRB5KRB_AP_ERR_BADMATCH,
				       "client principal of another realm "
				       "or with an instance", o);
		goto out_free;
	}
	if ((options & AP_OPTS_MUTUAL_REQUIRED) &&
	    (code = krb5_mk_rep(ctx, ac, &rep)) != 0) {
		res = sasl_kpop_refuse(ex, ctx, server, code,
				       "cannot make the AP_REP", o);
		goto out_free;
	}
	ex->login_state = 1;
	sasl_kpop_out(o, AUTH_KPOP_AP_REP,
		      (options & AP_OPTS_MUTUAL_REQUIRED) ? &rep : NULL);
	krb5_free_data_contents(ctx, &rep);
	res = SASL_RESULT_CONTINUE;
out_free:
	if (ticket != NULL)
		krb5_free_ticket(ctx, ticket);
	if (ac != NULL)
		krb5_auth_con_free(ctx, ac);
	if (kt != NULL)
		krb5_kt_close(ctx, kt);
	krb5_free_principal(ctx, server);
	return res;
}

enum sasl_result sasl_kpop_step(struct sasl_exchange *ex,
				const unsigned char *in, size_t in_len,
				struct sasl_outcome *o)
{
	char user[AUTH_USER_MAX];

	switch (ex->login_state) {
	case 0:
		return sasl_kpop_ap_req(ex, in, in_len, o);
	case 1:
		/* PASS: USER must name the ticket's user (a client cannot
		 * log in as another user with its own ticket) */
		if (in == NULL || in_len == 0 || in_len >= sizeof(user)) {
			o->why = "no USER name";
			return SASL_RESULT_FAILED;
		}
		memcpy(user, in, in_len);
		user[in_len] = '\0';
		if (strcmp(user, ex->user) != 0) {
			o->why = "USER names another user than the ticket";
			return SASL_RESULT_FAILED;
		}
		return sasl_success(ex, ex->user, NULL, o);
	default:
		o->why = ex->kpop_why != NULL ? ex->kpop_why : "refused";
		return SASL_RESULT_FAILED;
	}
}
