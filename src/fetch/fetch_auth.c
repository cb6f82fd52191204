/* fetch_auth.c: the fetch client's login (fetch_auth.h). */
#include <gsasl.h>
#include <krb5.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fetch/fetch_auth.h"

/* RFC 2449 4.: commands are at most 255 octets with CRLF; RFC 5034 4.:
 * a longer initial response waits for the server's empty challenge. */
#define FETCH_COMMAND_MAX 255

/* ;AUTH=* order, strongest first. -PLUS only over TLS (the channel
 * binding is what makes them stronger); PLAIN and LOGIN send the
 * password itself, so they come after everything that does not. */
static const char *const fetch_auth_preference[] = {
	"SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256",
	"SCRAM-SHA-1", "CRAM-MD5", "+APOP", "PLAIN", "LOGIN", "+USER",
};

static Gsasl *fetch_gsasl;

void fetch_auth_stamp(const char *text, size_t len, char *stamp,
		      size_t size)
{
	const char *lt = memchr(text, '<', len), *gt, *at;
	size_t n, i;

	stamp[0] = '\0';
	if (lt == NULL)
		return;
	gt = memchr(lt, '>', len - (size_t)(lt - text));
	if (gt == NULL)
		return;
	n = (size_t)(gt - lt) + 1;
	at = memchr(lt, '@', n);
	/* msg-id form (RFC 822): <local@domain>, nothing unprintable */
	if (at == NULL || at == lt + 1 || at == gt - 1 || n >= size)
		return;
	for (i = 1; i + 1 < n; i++) {
		unsigned char c = (unsigned char)lt[i];

		if (c <= 0x20 || c >= 0x7f || c == '<' || c == '>')
			return;
	}
	memcpy(stamp, lt, n);
	stamp[n] = '\0';
}

/* Is word in the space-separated list? */
static bool fetch_auth_listed(const char *list, const char *word)
{
	size_t len = strlen(word);
	const char *p = list;

	while ((p = strcasestr(p, word)) != NULL) {
		if ((p == list || p[-1] == ' ') &&
		    (p[len] == '\0' || p[len] == ' '))
			return true;
		p += len;
	}
	return false;
}

static bool fetch_auth_offered(const struct fetch_offer *offer,
			       const char *mech, bool tls)
{
	if (strcmp(mech, "+USER") == 0)
		return offer->user;
	if (strcmp(mech, "+APOP") == 0)
		return offer->apop_stamp[0] != '\0';
	if (strstr(mech, "-PLUS") != NULL && !tls)
		return false;
	if (!fetch_auth_listed(offer->sasl, mech))
		return false;
	return fetch_gsasl != NULL &&
	       gsasl_client_support_p(fetch_gsasl, mech);
}

/* The mechanism to use, "+USER", "+APOP" or a SASL name; NULL: none. */
static const char *fetch_auth_choose(const struct popurl *url,
				     const struct fetch_offer *offer,
				     bool tls)
{
	size_t i;

	switch (url->auth) {
	case POPURL_AUTH_USER:
		return "+USER";
	case POPURL_AUTH_APOP:
		return "+APOP";
	case POPURL_AUTH_SASL:
		return url->mech;
	case POPURL_AUTH_ANY:
		break;
	}
	for (i = 0; i < sizeof(fetch_auth_preference) /
				sizeof(fetch_auth_preference[0]);
	     i++) {
		if (fetch_auth_offered(offer, fetch_auth_preference[i], tls))
			return fetch_auth_preference[i];
	}
	return NULL;
}

/* RFC 2449 / 3206 codes that make a refused login one to try later. */
static const struct {
	const char *code, *why;
} fetch_auth_temp_codes[] = {
	{ "SYS/TEMP", "login deferred by the server [SYS/TEMP]" },
	{ "IN-USE", "login deferred by the server [IN-USE]: the maildrop "
		    "is in use" },
	{ "LOGIN-DELAY", "login deferred by the server [LOGIN-DELAY]: too "
			 "soon after the last login" },
};

/* Reads the status line of the last command and classifies it. */
static int fetch_auth_result(struct pop3client *pc, struct pop3_status *st,
			     char *reply, size_t reply_size,
			     const char **why_r)
{
	int ret = pop3client_read_status(pc, st, reply, reply_size);

	if (ret < 0) {
		*why_r = pc->error;
		return FETCH_AUTH_IO;
	}
	if (st->kind == POP3_OK)
		return FETCH_AUTH_OK;
	if (st->kind == POP3_ERR) {
		size_t i;

		for (i = 0; i < sizeof(fetch_auth_temp_codes) /
					sizeof(fetch_auth_temp_codes[0]);
		     i++) {
			if (pop3_code_is(st, fetch_auth_temp_codes[i].code)) {
				*why_r = fetch_auth_temp_codes[i].why;
				return FETCH_AUTH_TEMP;
			}
		}
		*why_r = "login refused";
		return FETCH_AUTH_REFUSED;
	}
	if (st->kind == POP3_CONTINUE)
		return FETCH_AUTH_OK; /* the SASL loop looks at st->kind */
	*why_r = "bad reply to a login command";
	return FETCH_AUTH_IO;
}

static int fetch_auth_sent(struct pop3client *pc, int ret,
			   const char **why_r)
{
	if (ret < 0) {
		*why_r = pc->error;
		return FETCH_AUTH_IO;
	}
	return FETCH_AUTH_OK;
}

static int fetch_auth_user(struct pop3client *pc, const char *user,
			   const char *password, char *reply,
			   size_t reply_size, const char **why_r)
{
	struct pop3_status st = { 0 };
	int ret;

	ret = fetch_auth_sent(pc, pop3client_send(pc, "USER %s", user),
			      why_r);
	if (ret == FETCH_AUTH_OK)
		ret = fetch_auth_result(pc, &st, reply, reply_size, why_r);
	if (ret != FETCH_AUTH_OK)
		return ret;
	if (st.kind != POP3_OK) {
		*why_r = "bad reply to USER";
		return FETCH_AUTH_IO;
	}
	ret = fetch_auth_sent(pc, pop3client_send(pc, "PASS %s", password),
			      why_r);
	if (ret == FETCH_AUTH_OK)
		ret = fetch_auth_result(pc, &st, reply, reply_size, why_r);
	if (ret == FETCH_AUTH_OK && st.kind != POP3_OK) {
		*why_r = "bad reply to PASS";
		return FETCH_AUTH_IO;
	}
	return ret;
}

static int fetch_auth_apop(struct pop3client *pc, const char *user,
			   const char *stamp, const char *password,
			   char *reply, size_t reply_size, const char **why_r)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	unsigned md_len = 0, i;
	struct pop3_status st = { 0 };
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ret;

	/* RFC 1939 7.: MD5 over the timestamp and the shared secret */
	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_md5(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, stamp, strlen(stamp)) != 1 ||
	    /* APOP is never chosen without a password; NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker) */
	    EVP_DigestUpdate(ctx, password, strlen(password)) != 1 ||
	    EVP_DigestFinal_ex(ctx, md, &md_len) != 1) {
		EVP_MD_CTX_free(ctx);
		*why_r = "MD5 is not available (APOP)";
		return FETCH_AUTH_UNSUPPORTED;
	}
	EVP_MD_CTX_free(ctx);
	for (i = 0; i < md_len; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	ret = fetch_auth_sent(pc, pop3client_send(pc, "APOP %s %s", user,
						  hex),
			      why_r);
	explicit_bzero(md, sizeof(md));
	explicit_bzero(hex, sizeof(hex));
	if (ret == FETCH_AUTH_OK)
		ret = fetch_auth_result(pc, &st, reply, reply_size, why_r);
	if (ret == FETCH_AUTH_OK && st.kind != POP3_OK) {
		*why_r = "bad reply to APOP";
		return FETCH_AUTH_IO;
	}
	return ret;
}

/* XOAUTH2 (Google, Microsoft) and OAUTHBEARER (RFC 7628): user and
 * bearer token in one message, always sent after the server's empty
 * challenge (Office 365 wants this two-step form; a token is longer
 * than a command line may be anyway). On failure the server sends a
 * challenge with its error (JSON); XOAUTH2 answers it with an empty
 * line, OAUTHBEARER with a lone ^A (RFC 7628 3.2.3), and the -ERR
 * follows. */
static int fetch_auth_bearer(struct pop3client *pc, const char *mech,
			     const char *user, const char *token, char *reply,
			     size_t reply_size, const char **why_r)
{
	bool rfc7628 = strcasecmp(mech, "OAUTHBEARER") == 0;
	struct pop3_status st = { 0 };
	char *raw = NULL, *b64 = NULL;
	size_t b64_len = 0;
	int ret, n;

	n = rfc7628 ? asprintf(&raw, "n,a=%s,\001auth=Bearer %s\001\001", user,
			       token) :
		      asprintf(&raw, "user=%s\001auth=Bearer %s\001\001", user,
			       token);
	if (n < 0 ||
	    gsasl_base64_to(raw, (size_t)n, &b64, &b64_len) != GSASL_OK) {
		if (n >= 0) {
			explicit_bzero(raw, (size_t)n);
			free(raw);
		}
		*why_r = "out of memory";
		return FETCH_AUTH_IO;
	}
	explicit_bzero(raw, (size_t)n);
	free(raw);
	ret = fetch_auth_sent(pc, pop3client_send(pc, "AUTH %s",
						  rfc7628 ? "OAUTHBEARER" :
							    "XOAUTH2"),
			      why_r);
	if (ret == FETCH_AUTH_OK)
		ret = fetch_auth_result(pc, &st, reply, reply_size, why_r);
	if (ret == FETCH_AUTH_OK && st.kind == POP3_CONTINUE) {
		ret = fetch_auth_sent(pc, pop3client_send(pc, "%s", b64),
				      why_r);
		if (ret == FETCH_AUTH_OK)
			ret = fetch_auth_result(pc, &st, reply, reply_size,
						why_r);
		if (ret == FETCH_AUTH_OK && st.kind == POP3_CONTINUE) {
			ret = fetch_auth_sent(pc, pop3client_send(
						      pc, "%s",
						      rfc7628 ? "AQ==" : ""),
					      why_r);
			if (ret == FETCH_AUTH_OK)
				ret = fetch_auth_result(pc, &st, reply,
							reply_size, why_r);
			if (ret == FETCH_AUTH_OK)
				ret = FETCH_AUTH_REFUSED;
		}
	} else if (ret == FETCH_AUTH_OK && st.kind == POP3_OK) {
		*why_r = "the server accepted OAuth without credentials";
		ret = FETCH_AUTH_IO;
	}
	explicit_bzero(b64, b64_len);
	free(b64);
	return ret;
}

/* Mechanisms whose identity is the system's (a ticket, a certificate),
 * not the URL's: the URL's user must be asked for as the authzid. */
static bool fetch_auth_identity_from_system(const char *mech)
{
	static const char *const mechs[] = { "GSSAPI", "EXTERNAL" };
	size_t i;

	for (i = 0; mech != NULL && i < sizeof(mechs) / sizeof(mechs[0]); i++) {
		if (strcmp(mech, mechs[i]) == 0)
			return true;
	}
	return false;
}

static int fetch_auth_gsasl_props(Gsasl_session *gs, struct pop3client *pc,
				  const struct popurl *url,
				  const char *password, const char **why_r)
{
	unsigned char cb[64];
	char *cb64 = NULL;
	size_t cb64_len;
	int cb_len;

	gsasl_property_set(gs, GSASL_AUTHID, url->user);
	/* GSSAPI logs in as the ticket's principal, EXTERNAL as the
	 * certificate's: the URL's user goes out as the authzid, so a
	 * ticket or certificate of someone else is refused instead of
	 * fetching their mail (RFC 4752 3.1, RFC 4422 appendix A) */
	if (fetch_auth_identity_from_system(gsasl_mechanism_name(gs)))
		gsasl_property_set(gs, GSASL_AUTHZID, url->user);
	if (password != NULL)
		gsasl_property_set(gs, GSASL_PASSWORD, password);
	gsasl_property_set(gs, GSASL_SERVICE, "pop");
	gsasl_property_set(gs, GSASL_HOSTNAME, url->host);
	if (strstr(url->mech, "-PLUS") == NULL &&
	    gsasl_mechanism_name(gs) != NULL &&
	    strstr(gsasl_mechanism_name(gs), "-PLUS") == NULL)
		return 0;
	cb_len = conn_channel_binding(&pc->conn, "tls-exporter", cb,
				      sizeof(cb));
	if (cb_len <= 0 ||
	    gsasl_base64_to((char *)cb, (size_t)cb_len, &cb64, &cb64_len) !=
		    GSASL_OK) {
		*why_r = "no tls-exporter channel binding on this connection "
			 "(TLS 1.3, or 1.2 with extended master secret)";
		return -1;
	}
	gsasl_property_set(gs, GSASL_CB_TLS_EXPORTER, cb64);
	free(cb64);
	return 0;
}

/* Does the default credentials cache (KRB5CCNAME, else krb5.conf's
 * default_ccache_name) hold a principal's tickets? */
static bool fetch_auth_has_krb5_ccache(void)
{
	krb5_context kctx;
	krb5_ccache cc;
	krb5_principal princ;
	bool found = false;

	if (krb5_init_context(&kctx) != 0)
		return false;
	if (krb5_cc_default(kctx, &cc) == 0) {
		if (krb5_cc_get_principal(kctx, cc, &princ) == 0) {
			krb5_free_principal(kctx, princ);
			found = true;
		}
		krb5_cc_close(kctx, cc);
	}
	krb5_free_context(kctx);
	return found;
}

/* GSSAPI's first step failed, before anything was sent: the client has
 * no credentials to offer, a login failure (77) and not a mechanism
 * this client lacks. gsasl does not say why; the ccache tells a
 * missing ticket from one that got no service ticket. */
static int fetch_auth_gssapi_failed(const char **why_r)
{
	if (!fetch_auth_has_krb5_ccache())
		*why_r = "GSSAPI: no Kerberos credentials were found (kinit, "
			 "or KRB5CCNAME)";
	else
		*why_r = "GSSAPI: the Kerberos credentials got no service "
			 "ticket for the server (expired? kinit again), or "
			 "the KDC did not answer";
	return FETCH_AUTH_REFUSED;
}

/* RFC 5034 4.: AUTH, then challenge and response lines in base64 until
 * the server's +OK or -ERR; a client-first mechanism's initial
 * response goes on the AUTH line when it fits. A +OK before the
 * mechanism has verified the server (SCRAM's server signature) is a
 * failure: that server did not prove it knows the password. */
static int fetch_auth_sasl(struct pop3client *pc, const char *mech,
			   const struct popurl *url, const char *password,
			   char *reply, size_t reply_size, const char **why_r)
{
	Gsasl_session *gs = NULL;
	struct pop3_status st = { 0 };
	char *out = NULL, challenge[POP3CLIENT_LINE_MAX + 1];
	int ret, rc;

	if (fetch_gsasl == NULL && gsasl_init(&fetch_gsasl) != GSASL_OK) {
		fetch_gsasl = NULL;
		*why_r = "GNU SASL failed to start";
		return FETCH_AUTH_UNSUPPORTED;
	}
	if (!gsasl_client_support_p(fetch_gsasl, mech) ||
	    gsasl_client_start(fetch_gsasl, mech, &gs) != GSASL_OK) {
		*why_r = "this SASL mechanism is not supported here";
		return FETCH_AUTH_UNSUPPORTED;
	}
	if (fetch_auth_gsasl_props(gs, pc, url, password, why_r) < 0) {
		gsasl_finish(gs);
		return FETCH_AUTH_UNSUPPORTED;
	}
	/* Without tickets GSSAPI cannot start, and Debian 12's MIT krb5
	 * (1.20) may crash in gss_init_sec_context on an empty FILE:
	 * ccache (krb5_cccol_have_content frees a principal it never got):
	 * look first, so no such ccache reaches it. */
	if (strcmp(mech, "GSSAPI") == 0 && !fetch_auth_has_krb5_ccache()) {
		ret = fetch_auth_gssapi_failed(why_r);
		goto out_finish;
	}
	rc = gsasl_step64(gs, "", &out);
	if (rc != GSASL_OK && rc != GSASL_NEEDS_MORE &&
	    strcmp(mech, "GSSAPI") == 0) {
		ret = fetch_auth_gssapi_failed(why_r);
		goto out_finish;
	}
	if (rc != GSASL_OK && rc != GSASL_NEEDS_MORE) {
		*why_r = "SASL client failed";
		ret = FETCH_AUTH_UNSUPPORTED;
		goto out_finish;
	}
	if (out != NULL && out[0] == '\0') {
		free(out); /* server-first (CRAM-MD5): nothing to send */
		out = NULL;
	}
	/* client-first mechanisms (PLAIN, SCRAM) have a response now */
	if (out != NULL && out[0] != '\0' &&
	    strlen("AUTH ") + strlen(mech) + 1 + strlen(out) + 2 <=
		    FETCH_COMMAND_MAX) {
		ret = fetch_auth_sent(pc, pop3client_send(pc, "AUTH %s %s",
							  mech, out),
				      why_r);
		free(out);
		out = NULL;
	} else {
		ret = fetch_auth_sent(pc, pop3client_send(pc, "AUTH %s",
							  mech),
				      why_r);
	}
	while (ret == FETCH_AUTH_OK) {
		ret = fetch_auth_result(pc, &st, reply, reply_size, why_r);
		if (ret != FETCH_AUTH_OK)
			break;
		if (st.kind == POP3_OK) {
			if (rc != GSASL_OK) {
				*why_r = "the server ended SASL before proving "
					 "itself";
				ret = FETCH_AUTH_IO;
			}
			break;
		}
		/* a challenge: a pending response (a too-long initial one)
		 * first, else the next step */
		if (out == NULL) {
			size_t n = st.text_len < sizeof(challenge) - 1 ?
					   st.text_len :
					   sizeof(challenge) - 1;

			memcpy(challenge, st.text, n);
			challenge[n] = '\0';
			rc = gsasl_step64(gs, challenge, &out);
			if (rc != GSASL_OK && rc != GSASL_NEEDS_MORE) {
				/* RFC 5034 4.: "*" cancels */
				pop3client_send(pc, "*");
				fetch_auth_result(pc, &st, reply, reply_size,
						  why_r);
				*why_r = "the server's SASL challenge did not "
					 "verify";
				ret = FETCH_AUTH_IO;
				break;
			}
		}
		ret = fetch_auth_sent(pc, pop3client_send(pc, "%s",
							  out ? out : ""),
				      why_r);
		free(out);
		out = NULL;
	}
out_finish:
	free(out);
	gsasl_finish(gs);
	return ret;
}

int fetch_auth_login(struct pop3client *pc, const struct popurl *url,
		     const struct fetch_offer *offer, const char *password,
		     char *reply, size_t reply_size, const char **why_r)
{
	bool tls = conn_is_tls(&pc->conn);
	const char *mech;

	reply[0] = '\0';
	if (fetch_gsasl == NULL && gsasl_init(&fetch_gsasl) != GSASL_OK)
		fetch_gsasl = NULL;
	mech = fetch_auth_choose(url, offer, tls);
	if (mech == NULL) {
		*why_r = "the server offers no login mechanism this client "
			 "accepts";
		return FETCH_AUTH_UNSUPPORTED;
	}
	if (password == NULL && strcmp(mech, "EXTERNAL") != 0 &&
	    strcmp(mech, "GSSAPI") != 0) {
		*why_r = "no password given";
		return FETCH_AUTH_UNSUPPORTED;
	}
	if (strcmp(mech, "+USER") == 0)
		return fetch_auth_user(pc, url->user, password, reply,
				       reply_size, why_r);
	if (strcmp(mech, "+APOP") == 0) {
		if (offer->apop_stamp[0] == '\0') {
			*why_r = "APOP asked for, but the greeting has no "
				 "valid timestamp";
			return FETCH_AUTH_UNSUPPORTED;
		}
		return fetch_auth_apop(pc, url->user, offer->apop_stamp,
				       password, reply, reply_size, why_r);
	}
	if (strcasecmp(mech, "XOAUTH2") == 0 ||
	    strcasecmp(mech, "OAUTHBEARER") == 0)
		return fetch_auth_bearer(pc, mech, url->user, password, reply,
					 reply_size, why_r);
	return fetch_auth_sasl(pc, mech, url, password, reply, reply_size,
			       why_r);
}
