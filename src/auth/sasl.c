/* sasl.c: SASL exchanges in the auth process with GNU SASL (see sasl.h).
 * gsasl runs the mechanisms; the callback below hands it the secrets of
 * the user it asks about, and decides PLAIN/LOGIN, EXTERNAL and GSSAPI.
 * OAUTHBEARER and XOAUTH2 are run here with sasl_oauth.c. */
#include "auth/sasl.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <gsasl.h>
#include <krb5.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "auth/mailpath.h"
#include "auth/password.h"
#include "auth/sasl_mech.h"
#include "auth/sasl_oauth.h"
#include "auth/scram.h"
#include "auth/scram_server.h"
#include "util/log.h"

struct sasl_exchange {
	uint32_t slot;
	uint64_t id;
	Gsasl_session *gs;
	const struct sasl_mech *mech;
	struct sasl_server *ss;
	const struct passwd_db *db;   /* set for the length of one step */
	time_t last_used;
	bool secured;
	bool success_sent;            /* waiting for the empty response */
	bool oauth_error_sent;        /* waiting for the dummy response */
	const char *oauth_why;        /* why the token was refused */
	char oauth_user[AUTH_USER_MAX]; /* OAuth: the user, for logs */
	char peer_cn[AUTH_USER_MAX];
	bool client_data_seen;        /* gsasl has had a client message */
	bool has_exporter;            /* START came with tls-exporter data */
	/* START's RFC 5929 tls-server-end-point data, if any */
	unsigned char cb_endpoint[AUTH_CB_MAX];
	size_t cb_endpoint_len;
	/* a -PLUS exchange with tls-server-end-point runs here, gs NULL */
	struct scram_server *scram;
	bool scram_known;             /* the user has a usable secret */
};

struct sasl_server {
	const struct config *cfg;
	Gsasl *ctx;
	struct sasl_exchange *ex[SASL_EXCHANGES_MAX];
	size_t n_ex;
	/* keys fake SCRAM salts of users without a SCRAM secret, so the
	 * salt a prober sees does not tell who exists */
	unsigned char fake_key[32];
	/* GSSAPI: the acceptor's host name and the realm users are in */
	char gss_hostname[256];
	char gss_realm[256];
	struct sasl_oauth *oauth;     /* NULL: OAuth logins TEMPFAIL */
};

/* ---- the callback: secrets and decisions ---- */

static const struct passwd_entry *sasl_lookup(const struct sasl_exchange *ex,
					      const char *user)
{
	const struct passwd_entry *e;

	/* names that could leave the mail directory are never looked up */
	if (user == NULL || ex->db == NULL || !mailpath_user_valid(user))
		return NULL;
	e = passwd_db_lookup(ex->db, user);
	return e != NULL && !e->disabled ? e : NULL;
}

static bool sasl_plaintext_ok(const struct sasl_exchange *ex)
{
	enum plaintext_auth p = ex->ss->cfg->plaintext_auth;

	return p == PLAINTEXT_ALWAYS ||
	       (p == PLAINTEXT_TLS_OR_LOOPBACK && ex->secured);
}

/* No proxy authorization: an authzid, when given, names the user. */
static bool sasl_authzid_ok(Gsasl_session *gs, const char *user)
{
	const char *authzid = gsasl_property_fast(gs, GSASL_AUTHZID);

	return authzid == NULL || authzid[0] == '\0' ||
	       strcmp(authzid, user) == 0;
}

/* PLAIN and LOGIN (RFC 4616): the password against the password field,
 * whatever its scheme; unknown users pay for a hash too. */
static int sasl_validate_simple(struct sasl_exchange *ex, Gsasl_session *gs)
{
	const char *authid = gsasl_property_fast(gs, GSASL_AUTHID);
	const char *password = gsasl_property_fast(gs, GSASL_PASSWORD);
	const struct passwd_entry *e;

	if (!sasl_plaintext_ok(ex) || password == NULL || authid == NULL)
		return GSASL_AUTHENTICATION_ERROR;
	e = sasl_lookup(ex, authid);
	if (e == NULL || password[0] == '\0' || !sasl_authzid_ok(gs, authid) ||
	    !password_scheme_known(e->password)) {
		password_dummy_verify(password);
		return GSASL_AUTHENTICATION_ERROR;
	}
	return password_verify(e->password, password) ? GSASL_OK :
	       GSASL_AUTHENTICATION_ERROR;
}

/* The {PLAIN} secret of user, or NULL. */
static const char *sasl_plain_secret(const struct sasl_exchange *ex,
				     const char *user)
{
	const struct passwd_entry *e = sasl_lookup(ex, user);
	const char *stored;

	if (e == NULL || (stored = passwd_entry_secret(e, "PLAIN")) == NULL)
		return NULL;
	return password_plain_secret(stored);
}

/* CRAM-MD5, and SCRAM for users with only a {PLAIN} secret. */
static int sasl_password(struct sasl_exchange *ex, Gsasl_session *gs)
{
	const char *plain;

	plain = sasl_plain_secret(ex, gsasl_property_fast(gs, GSASL_AUTHID));
	if (plain == NULL)
		return GSASL_NO_CALLBACK;
	return gsasl_property_set(gs, GSASL_PASSWORD, plain);
}

static enum scram_hash sasl_scram_hash(const struct sasl_exchange *ex)
{
	return strncmp(ex->mech->name, "SCRAM-SHA-1", 11) == 0 ?
	       SCRAM_SHA1 : SCRAM_SHA256;
}

/* What a SCRAM login of user gets, for gsasl's callbacks and for
 * scram_server.c alike. The user's stored secret for this exchange's
 * hash: returns 1 with all of *secret_r. Else (unknown, {PLAIN}-only,
 * crypt hashes) the iteration count and a salt derived from the name,
 * the same on every attempt, like a real one ({PLAIN} users then really
 * authenticate with it): returns 0 with iter and salt (binary and
 * base64) only. -1 on error. */
static int sasl_scram_lookup(const struct sasl_exchange *ex,
			     const char *user, struct scram_secret *secret_r)
{
	enum scram_hash hash = sasl_scram_hash(ex);
	const struct passwd_entry *e = sasl_lookup(ex, user);
	const char *stored;
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	char *salt64 = NULL;

	if (e != NULL &&
	    (stored = passwd_entry_secret(e, scram_scheme_name(hash))) != NULL &&
	    password_scram(stored, hash, secret_r) == 0)
		return 1;
	memset(secret_r, 0, sizeof(*secret_r));
	if (user == NULL ||
	    HMAC(EVP_sha256(), ex->ss->fake_key, sizeof(ex->ss->fake_key),
		 (const unsigned char *)user, strlen(user), mac,
		 &mac_len) == NULL ||
	    gsasl_base64_to((const char *)mac, 16, &salt64, NULL) != GSASL_OK)
		return -1;
	secret_r->hash = hash;
	secret_r->iter = SCRAM_ITER_DEFAULT;
	secret_r->key_len = scram_key_len(hash);
	memcpy(secret_r->salt, mac, 16);
	secret_r->salt_len = 16;
	snprintf(secret_r->salt_b64, sizeof(secret_r->salt_b64), "%s",
		 salt64);
	gsasl_free(salt64);
	return 0;
}

/* Iteration count and salt (RFC 5802 5.1 server-first-message). */
static int sasl_scram_params(struct sasl_exchange *ex, Gsasl_session *gs)
{
	struct scram_secret secret;
	char iter[16];
	int rc;

	if (sasl_scram_lookup(ex, gsasl_property_fast(gs, GSASL_AUTHID),
			      &secret) < 0)
		return GSASL_NO_CALLBACK;
	snprintf(iter, sizeof(iter), "%u", secret.iter);
	rc = gsasl_property_set(gs, GSASL_SCRAM_ITER, iter);
	if (rc == GSASL_OK)
		rc = gsasl_property_set(gs, GSASL_SCRAM_SALT, secret.salt_b64);
	scram_secret_clear(&secret);
	return rc;
}

/* StoredKey and ServerKey, base64 as gsasl 2.2 reads them. */
static int sasl_scram_keys(struct sasl_exchange *ex, Gsasl_session *gs)
{
	struct scram_secret secret;
	int rc;

	if (sasl_scram_lookup(ex, gsasl_property_fast(gs, GSASL_AUTHID),
			      &secret) != 1) {
		scram_secret_clear(&secret);
		return GSASL_NO_CALLBACK; /* gsasl falls back to PASSWORD */
	}
	rc = gsasl_property_set(gs, GSASL_SCRAM_STOREDKEY, secret.stored_b64);
	if (rc == GSASL_OK)
		rc = gsasl_property_set(gs, GSASL_SCRAM_SERVERKEY,
					secret.server_b64);
	scram_secret_clear(&secret);
	return rc;
}

/* EXTERNAL (RFC 4422 appendix A): the identity is the verified client
 * certificate's CN; the worker only sends one when tls_verify_client is
 * on, and we check the setting again (this process trusts nothing). */
static int sasl_validate_external(struct sasl_exchange *ex,
				  Gsasl_session *gs)
{
	const char *authzid = gsasl_property_fast(gs, GSASL_AUTHZID);
	const char *user = ex->peer_cn;

	if (ex->ss->cfg->tls_verify_client == TLS_VERIFY_NO ||
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
static int sasl_validate_gssapi(struct sasl_exchange *ex, Gsasl_session *gs)
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
	if (!sasl_authzid_ok(gs, user) || sasl_lookup(ex, user) == NULL)
		return GSASL_AUTHENTICATION_ERROR;
	/* sasl_success() reads the user from AUTHID, like the others */
	return gsasl_property_set(gs, GSASL_AUTHID, user);
}

static int sasl_callback(Gsasl *ctx, Gsasl_session *gs, Gsasl_property prop)
{
	struct sasl_exchange *ex = gsasl_session_hook_get(gs);

	if (ex == NULL)
		return GSASL_NO_CALLBACK;
	switch (prop) {
	case GSASL_VALIDATE_SIMPLE:
		return sasl_validate_simple(ex, gs);
	case GSASL_VALIDATE_EXTERNAL:
		return sasl_validate_external(ex, gs);
	case GSASL_PASSWORD:
		return sasl_password(ex, gs);
	case GSASL_SCRAM_ITER:
	case GSASL_SCRAM_SALT:
		return sasl_scram_params(ex, gs);
	case GSASL_SCRAM_STOREDKEY:
	case GSASL_SCRAM_SERVERKEY:
		return sasl_scram_keys(ex, gs);
	case GSASL_SERVICE:
		return gsasl_property_set(gs, prop,
					  ex->ss->cfg->gssapi_service);
	case GSASL_HOSTNAME:
		return gsasl_property_set(gs, prop, ex->ss->gss_hostname);
	case GSASL_VALIDATE_GSSAPI:
		return sasl_validate_gssapi(ex, gs);
	default:
		/* channel bindings are set before the first step; no
		 * other property has a value here */
		return GSASL_NO_CALLBACK;
	}
}

/* ---- the exchange table ---- */

static struct sasl_exchange *sasl_find(struct sasl_server *ss, uint32_t slot,
				       uint64_t id, size_t *index_r)
{
	size_t i;

	for (i = 0; i < ss->n_ex; i++) {
		if (ss->ex[i]->slot == slot && ss->ex[i]->id == id) {
			if (index_r != NULL)
				*index_r = i;
			return ss->ex[i];
		}
	}
	return NULL;
}

static void sasl_drop_at(struct sasl_server *ss, size_t i)
{
	struct sasl_exchange *ex = ss->ex[i];

	/* gsasl_finish frees (and gsasl wipes) the session's properties */
	if (ex->gs != NULL)
		gsasl_finish(ex->gs);
	if (ex->scram != NULL) {
		scram_server_clear(ex->scram);
		free(ex->scram);
	}
	explicit_bzero(ex, sizeof(*ex));
	free(ex);
	ss->ex[i] = ss->ex[--ss->n_ex];
	ss->ex[ss->n_ex] = NULL;
}

static void sasl_drop(struct sasl_server *ss, uint32_t slot, uint64_t id)
{
	size_t i;

	if (sasl_find(ss, slot, id, &i) != NULL)
		sasl_drop_at(ss, i);
}

void sasl_server_forget_slot(struct sasl_server *ss, uint32_t slot)
{
	size_t i = 0;

	while (i < ss->n_ex) {
		if (ss->ex[i]->slot == slot)
			sasl_drop_at(ss, i);
		else
			i++;
	}
}

/* Drops exchanges idle for longer than a client may stay unauthenticated
 * (a worker that lost an abort must not fill the table for good). */
static void sasl_reap(struct sasl_server *ss, time_t now)
{
	time_t limit = (time_t)ss->cfg->preauth_timeout + 60;
	size_t i = 0;

	while (i < ss->n_ex) {
		if (now - ss->ex[i]->last_used > limit)
			sasl_drop_at(ss, i);
		else
			i++;
	}
}

/* ---- steps ---- */

static int sasl_set_channel_binding(struct sasl_exchange *ex,
				    const struct auth_sasl_request *req)
{
	char *b64 = NULL;
	int rc;

	if (req->cb_exporter_len == 0)
		return GSASL_OK;
	if (req->cb_exporter_len > sizeof(req->cb_exporter))
		return GSASL_AUTHENTICATION_ERROR;
	rc = gsasl_base64_to((const char *)req->cb_exporter,
			     req->cb_exporter_len, &b64, NULL);
	if (rc != GSASL_OK)
		return rc;
	/* set for non-PLUS exchanges too: gsasl then refuses a client
	 * that says "y" (it would use binding had we offered it), which
	 * is how RFC 5802 6. detects a stripped -PLUS */
	rc = gsasl_property_set(ex->gs, GSASL_CB_TLS_EXPORTER, b64);
	gsasl_free(b64);
	return rc;
}

static enum sasl_result sasl_start(struct sasl_server *ss, uint32_t slot,
				   const struct auth_sasl_request *req,
				   struct sasl_exchange **ex_r,
				   const char **why_r)
{
	const struct sasl_mech *mech;
	struct sasl_exchange *ex;
	char mech_name[AUTH_MECH_MAX];
	size_t bit;
	time_t now = time(NULL);

	sasl_drop(ss, slot, req->id);
	memcpy(mech_name, req->mech, sizeof(mech_name));
	mech_name[sizeof(mech_name) - 1] = '\0';
	mech = sasl_mech_find(mech_name, &bit);
	if (mech == NULL || !(ss->cfg->sasl_mech_mask & (1u << bit)) ||
	    !sasl_mech_configured(mech, ss->cfg, true)) {
		*why_r = "mechanism not enabled";
		return SASL_RESULT_FAILED;
	}
	if ((mech->flags & SASL_MECH_CHANNEL_BINDING) &&
	    req->cb_exporter_len == 0 && req->cb2_len == 0) {
		*why_r = "-PLUS without channel binding data";
		return SASL_RESULT_FAILED;
	}
	if (ss->n_ex == SASL_EXCHANGES_MAX)
		sasl_reap(ss, now);
	if (ss->n_ex == SASL_EXCHANGES_MAX) {
		*why_r = "too many SASL exchanges in progress";
		return SASL_RESULT_TEMPFAIL;
	}
	ex = calloc(1, sizeof(*ex));
	if (ex == NULL) {
		*why_r = "out of memory";
		return SASL_RESULT_TEMPFAIL;
	}
	ex->slot = slot;
	ex->id = req->id;
	ex->mech = mech;
	ex->ss = ss;
	ex->secured = req->secured != 0;
	ex->last_used = now;
	memcpy(ex->peer_cn, req->peer_cn, sizeof(ex->peer_cn));
	ex->peer_cn[sizeof(ex->peer_cn) - 1] = '\0';
	ex->has_exporter = req->cb_exporter_len > 0;
	if (req->cb2_type == AUTH_CB_TLS_SERVER_END_POINT &&
	    req->cb2_len <= sizeof(req->cb2)) {
		memcpy(ex->cb_endpoint, req->cb2, req->cb2_len);
		ex->cb_endpoint_len = req->cb2_len;
	}
	if (mech->backend == SASL_BACKEND_OAUTH) {
		ss->ex[ss->n_ex++] = ex;
		*ex_r = ex;
		return SASL_RESULT_CONTINUE;
	}
	if (gsasl_server_start(ss->ctx, mech->name, &ex->gs) != GSASL_OK) {
		free(ex);
		*why_r = "gsasl cannot start the mechanism";
		return SASL_RESULT_TEMPFAIL;
	}
	gsasl_session_hook_set(ex->gs, ex);
	ss->ex[ss->n_ex++] = ex;
	if (sasl_set_channel_binding(ex, req) != GSASL_OK) {
		sasl_drop(ss, slot, req->id);
		*why_r = "out of memory";
		return SASL_RESULT_TEMPFAIL;
	}
	*ex_r = ex;
	return SASL_RESULT_CONTINUE;
}

static void sasl_claimed_user(const struct sasl_exchange *ex, char *user_r,
			      size_t size)
{
	const char *u;

	if (ex->scram != NULL) {
		snprintf(user_r, size, "%s", ex->scram->cf.user);
		return;
	}
	if (ex->gs == NULL) {
		snprintf(user_r, size, "%s", ex->oauth_user);
		return;
	}
	u = gsasl_property_fast(ex->gs, GSASL_AUTHID);
	if (u == NULL && strcmp(ex->mech->name, "EXTERNAL") == 0)
		u = ex->peer_cn;
	if (u == NULL && strcmp(ex->mech->name, "GSSAPI") == 0)
		u = gsasl_property_fast(ex->gs, GSASL_GSSAPI_DISPLAY_NAME);
	snprintf(user_r, size, "%s", u != NULL ? u : "");
}

/* The exchange ended well in gsasl (or scram_server.c): who is it? */
static enum sasl_result sasl_success(struct sasl_exchange *ex,
				     const struct passwd_entry **entry_r,
				     const char **why_r)
{
	const char *user, *authzid;

	if (ex->scram != NULL) {
		user = ex->scram->cf.user;
		authzid = ex->scram->cf.authzid;
	} else {
		user = gsasl_property_fast(ex->gs, GSASL_AUTHID);
		authzid = gsasl_property_fast(ex->gs, GSASL_AUTHZID);
	}
	*entry_r = sasl_lookup(ex, user);
	if (*entry_r == NULL || (authzid != NULL && authzid[0] != '\0' &&
				 strcmp(authzid, user) != 0)) {
		*why_r = "unknown user or other authorization identity";
		return SASL_RESULT_FAILED;
	}
	return SASL_RESULT_SUCCESS;
}

static enum sasl_result sasl_step(struct sasl_exchange *ex,
				  const unsigned char *in, size_t in_len,
				  unsigned char *out, size_t out_size,
				  size_t *out_len_r,
				  const struct passwd_entry **entry_r,
				  const char **why_r)
{
	char *o = NULL;
	size_t o_len = 0;
	enum sasl_result res;
	int rc;

	if (in != NULL && in_len > 0)
		ex->client_data_seen = true;
	rc = gsasl_step(ex->gs, (const char *)in, in_len, &o, &o_len);
	if (rc != GSASL_OK && rc != GSASL_NEEDS_MORE) {
		*why_r = gsasl_strerror_name(rc);
		res = rc == GSASL_MALLOC_ERROR || rc == GSASL_CRYPTO_ERROR ?
		      SASL_RESULT_TEMPFAIL : SASL_RESULT_FAILED;
		goto out_free;
	}
	if (o_len > out_size) {
		*why_r = "challenge too large";
		res = SASL_RESULT_TEMPFAIL;
		goto out_free;
	}
	if (rc == GSASL_OK) {
		res = sasl_success(ex, entry_r, why_r);
		if (res != SASL_RESULT_SUCCESS || o_len == 0)
			goto out_free;
		/* RFC 5034 4.: data with success goes out as one more
		 * challenge; the empty answer completes the exchange */
		ex->success_sent = true;
	}
	if (o_len > 0)
		memcpy(out, o, o_len);
	*out_len_r = o_len;
	res = SASL_RESULT_CONTINUE;
out_free:
	if (o != NULL) {
		explicit_bzero(o, o_len);
		gsasl_free(o);
	}
	return res;
}

/* ---- SCRAM with tls-server-end-point (scram_server.c) ---- */

#define SASL_GS2_ENDPOINT "p=tls-server-end-point,"

/* True when in is the first client message of a -PLUS exchange and
 * asks for tls-server-end-point: this process runs it, not gsasl. */
static bool sasl_wants_endpoint(const struct sasl_exchange *ex,
				const unsigned char *in, size_t in_len)
{
	size_t n = sizeof(SASL_GS2_ENDPOINT) - 1;

	return ex->gs != NULL && !ex->client_data_seen &&
	       (ex->mech->flags & SASL_MECH_CHANNEL_BINDING) && in != NULL &&
	       in_len >= n && memcmp(in, SASL_GS2_ENDPOINT, n) == 0;
}

/* A non-PLUS SCRAM client says "y" (it would bind had we offered it)
 * while we could bind with tls-server-end-point only: a stripped -PLUS
 * (RFC 5802 6.). With tls-exporter data gsasl sees to it itself. */
static bool sasl_downgrade_endpoint(const struct sasl_exchange *ex,
				    const unsigned char *in, size_t in_len)
{
	return ex->gs != NULL && !ex->client_data_seen &&
	       strncmp(ex->mech->name, "SCRAM-", 6) == 0 &&
	       !(ex->mech->flags & SASL_MECH_CHANNEL_BINDING) &&
	       !ex->has_exporter && ex->cb_endpoint_len > 0 && in != NULL &&
	       in_len >= 2 && in[0] == 'y' && in[1] == ',';
}

/* The client-first message: the user's salt and keys (stored, derived
 * from {PLAIN} with the same salt gsasl would send, or made up from a
 * dummy password for users without either, so they cost the same and
 * fail at the proof) and the server-first message. */
static enum sasl_result sasl_scram_first(struct sasl_exchange *ex,
					 const unsigned char *in,
					 size_t in_len, unsigned char *out,
					 size_t out_size, size_t *out_len_r,
					 const char **why_r)
{
	struct scram_secret secret;
	const char *plain = NULL;
	enum sasl_result res = SASL_RESULT_FAILED;
	int found;

	gsasl_finish(ex->gs);
	ex->gs = NULL;
	ex->scram = malloc(sizeof(*ex->scram));
	if (ex->scram == NULL) {
		*why_r = "out of memory";
		return SASL_RESULT_TEMPFAIL;
	}
	scram_server_init(ex->scram, sasl_scram_hash(ex),
			  "tls-server-end-point", ex->cb_endpoint,
			  ex->cb_endpoint_len);
	if (scram_server_client_first(ex->scram, in, in_len, why_r) < 0)
		return SASL_RESULT_FAILED;
	found = sasl_scram_lookup(ex, ex->scram->cf.user, &secret);
	if (found < 0) {
		*why_r = "out of memory";
		return SASL_RESULT_TEMPFAIL;
	}
	ex->scram_known = found == 1;
	if (found == 0) {
		plain = sasl_plain_secret(ex, ex->scram->cf.user);
		ex->scram_known = plain != NULL;
		if (scram_keys_from_password(secret.hash,
					     plain != NULL ? plain : "",
					     secret.salt, secret.salt_len,
					     secret.iter, secret.stored_key,
					     secret.server_key) < 0) {
			*why_r = "crypto error";
			res = SASL_RESULT_TEMPFAIL;
			goto out_wipe;
		}
	}
	if (scram_server_first(ex->scram, secret.iter, secret.salt,
			       secret.salt_len, secret.stored_key,
			       secret.server_key, out, out_size,
			       out_len_r) < 0) {
		*why_r = "cannot make the server-first message";
		res = SASL_RESULT_TEMPFAIL;
		goto out_wipe;
	}
	res = SASL_RESULT_CONTINUE;
out_wipe:
	scram_secret_clear(&secret);
	return res;
}

/* The client-final message: proof, binding, then v= as one more
 * challenge (RFC 5034 4.), as on the gsasl path. */
static enum sasl_result sasl_scram_final(struct sasl_exchange *ex,
					 const unsigned char *in,
					 size_t in_len, unsigned char *out,
					 size_t out_size, size_t *out_len_r,
					 const struct passwd_entry **entry_r,
					 const char **why_r)
{
	enum sasl_result res;

	if (scram_server_client_final(ex->scram, in, in_len, out, out_size,
				      out_len_r, why_r) < 0) {
		*out_len_r = 0;
		return SASL_RESULT_FAILED;
	}
	if (!ex->scram_known) {
		*out_len_r = 0;
		*why_r = "no SCRAM secret for the user";
		return SASL_RESULT_FAILED;
	}
	res = sasl_success(ex, entry_r, why_r);
	if (res != SASL_RESULT_SUCCESS) {
		*out_len_r = 0;
		return res;
	}
	*entry_r = NULL;
	ex->success_sent = true;
	return SASL_RESULT_CONTINUE;
}

/* One OAUTHBEARER or XOAUTH2 step. in is NULL when START came without
 * an initial response. A refused token gets the error challenge (RFC
 * 7628 3.2.2) and the client's dummy answer to it the failure. */
static enum sasl_result sasl_oauth_step(struct sasl_exchange *ex,
					const unsigned char *in,
					size_t in_len, unsigned char *out,
					size_t out_size, size_t *out_len_r,
					const struct passwd_entry **entry_r,
					const char **why_r)
{
	bool xoauth2 = strcmp(ex->mech->name, "XOAUTH2") == 0;
	enum sasl_oauth_status st;
	const char *error;

	if (ex->oauth_error_sent) {
		/* RFC 7628 3.2.3: "\x01" from OAUTHBEARER clients, an empty
		 * line from XOAUTH2 ones; either way it has failed */
		*why_r = ex->oauth_why;
		return SASL_RESULT_FAILED;
	}
	if (in == NULL) {
		*out_len_r = 0; /* RFC 4422 5.: ask for the client's message */
		return SASL_RESULT_CONTINUE;
	}
	/* a bearer token is as good as a password on the wire; the worker
	 * checks this too, but this process trusts nothing */
	if (!sasl_plaintext_ok(ex)) {
		*why_r = "bearer token on an unprotected connection";
		return SASL_RESULT_FAILED;
	}
	if (ex->ss->oauth == NULL) {
		*why_r = "no token key loaded";
		return SASL_RESULT_TEMPFAIL;
	}
	st = sasl_oauth_check(ex->ss->oauth, xoauth2, in, in_len, time(NULL),
			      ex->oauth_user, sizeof(ex->oauth_user), why_r);
	if (st == SASL_OAUTH_MALFORMED)
		return SASL_RESULT_FAILED;
	if (st == SASL_OAUTH_OK) {
		*entry_r = sasl_lookup(ex, ex->oauth_user);
		if (*entry_r != NULL)
			return SASL_RESULT_SUCCESS;
		*why_r = "token user not in the passwd-file";
	}
	error = sasl_oauth_error(xoauth2);
	if (strlen(error) > out_size) {
		*why_r = "challenge too large";
		return SASL_RESULT_TEMPFAIL;
	}
	ex->oauth_error_sent = true;
	ex->oauth_why = *why_r;
	memcpy(out, error, strlen(error));
	*out_len_r = strlen(error);
	return SASL_RESULT_CONTINUE;
}

/* XOAUTH2 clients (curl among them) answer the error challenge with "*"
 * rather than the dummy response: the refused token is still a failed
 * login, logged in the format fail2ban knows (as auth_process.c does). */
static void sasl_log_refused_abort(struct sasl_server *ss, uint32_t slot,
				   const struct auth_sasl_request *req)
{
	const struct sasl_exchange *ex = sasl_find(ss, slot, req->id, NULL);
	char user[128], rip[AUTH_ADDR_MAX];

	if (ex == NULL || !ex->oauth_error_sent)
		return;
	log_sanitize(ex->oauth_user, strlen(ex->oauth_user), user,
		     sizeof(user));
	log_sanitize(req->client_addr, strnlen(req->client_addr,
					       sizeof(req->client_addr)),
		     rip, sizeof(rip));
	log_info("auth failed: mech=%s user=%s rip=%s (%s, then cancelled)",
		 ex->mech->name, user, rip, ex->oauth_why);
}

enum sasl_result sasl_server_handle(struct sasl_server *ss, uint32_t slot,
				    const struct auth_sasl_request *req,
				    const struct passwd_db *db,
				    unsigned char *out, size_t out_size,
				    size_t *out_len_r,
				    const struct passwd_entry **entry_r,
				    char *user_r, size_t user_size,
				    const char **mech_r, const char **why_r)
{
	struct sasl_exchange *ex = NULL;
	const unsigned char *in = req->data;
	size_t in_len = req->data_len;
	enum sasl_result res;

	*out_len_r = 0;
	*entry_r = NULL;
	user_r[0] = '\0';
	*mech_r = "";
	*why_r = "";
	switch (req->type) {
	case AUTH_REQ_SASL_ABORT:
		sasl_log_refused_abort(ss, slot, req);
		sasl_drop(ss, slot, req->id);
		return SASL_RESULT_NONE;
	case AUTH_REQ_SASL_START:
		res = sasl_start(ss, slot, req, &ex, why_r);
		if (res != SASL_RESULT_CONTINUE)
			return res;
		if (!req->has_data)
			in = NULL; /* no initial response (RFC 4422 5.) */
		/* gsasl's LOGIN ignores a first message, but clients send
		 * the user name as the initial response (curl --sasl-ir):
		 * run the empty first step, then the name */
		if (req->has_data && in_len > 0 &&
		    strcmp(ex->mech->name, "LOGIN") == 0) {
			ex->db = db;
			res = sasl_step(ex, NULL, 0, out, out_size, out_len_r,
					entry_r, why_r);
			if (res != SASL_RESULT_CONTINUE)
				goto out_done;
		}
		break;
	case AUTH_REQ_SASL_CONTINUE:
		ex = sasl_find(ss, slot, req->id, NULL);
		if (ex == NULL) {
			*why_r = "no exchange in progress";
			return SASL_RESULT_FAILED;
		}
		break;
	default:
		return SASL_RESULT_NONE;
	}
	ex->db = db;
	ex->last_used = time(NULL);
	if (db == NULL) {
		*why_r = "no user database";
		res = SASL_RESULT_TEMPFAIL;
	} else if (ex->mech->backend == SASL_BACKEND_OAUTH) {
		res = sasl_oauth_step(ex, in, in_len, out, out_size, out_len_r,
				      entry_r, why_r);
	} else if (sasl_wants_endpoint(ex, in, in_len)) {
		res = sasl_scram_first(ex, in, in_len, out, out_size,
				       out_len_r, why_r);
	} else if (ex->scram != NULL && !ex->success_sent) {
		res = sasl_scram_final(ex, in, in_len, out, out_size,
				       out_len_r, entry_r, why_r);
	} else if (sasl_downgrade_endpoint(ex, in, in_len)) {
		*why_r = "SCRAM client says y: channel binding downgrade";
		res = SASL_RESULT_FAILED;
	} else if (ex->success_sent) {
		*out_len_r = 0;
		res = in_len == 0 ? sasl_success(ex, entry_r, why_r) :
		      SASL_RESULT_FAILED;
		if (in_len != 0)
			*why_r = "data after the final challenge";
	} else {
		res = sasl_step(ex, in, in_len, out, out_size, out_len_r,
				entry_r, why_r);
	}
out_done:
	sasl_claimed_user(ex, user_r, user_size);
	*mech_r = ex->mech->name;
	ex->db = NULL;
	if (res != SASL_RESULT_CONTINUE)
		sasl_drop(ss, slot, req->id);
	return res;
}

/* ---- setup ---- */

static bool sasl_mech_wanted(const struct config *cfg, const char *name)
{
	size_t bit;
	const struct sasl_mech *m = sasl_mech_find(name, &bit);

	return m != NULL && (cfg->sasl_mech_mask & (1u << bit)) &&
	       sasl_mech_configured(m, cfg, true);
}

/* GSSAPI: the keytab for gss_acquire_cred (MIT reads KRB5_KTNAME when
 * it opens the default keytab), the host name of the service principal
 * and the realm users belong to. Errors are logged: GSSAPI then fails,
 * the rest works. */
static void sasl_gssapi_setup(struct sasl_server *ss)
{
	const struct config *cfg = ss->cfg;
	char ktname[CONFIG_STR_MAX + 8];
	krb5_context kctx;
	char *realm = NULL;

	snprintf(ktname, sizeof(ktname), "FILE:%s", cfg->gssapi_keytab);
	if (setenv("KRB5_KTNAME", ktname, 1) < 0)
		log_error("GSSAPI: cannot set the keytab: out of memory");
	if (cfg->gssapi_hostname[0] != '\0')
		snprintf(ss->gss_hostname, sizeof(ss->gss_hostname), "%s",
			 cfg->gssapi_hostname);
	else if (gethostname(ss->gss_hostname, sizeof(ss->gss_hostname)) < 0)
		ss->gss_hostname[sizeof(ss->gss_hostname) - 1] = '\0';
	ss->gss_hostname[sizeof(ss->gss_hostname) - 1] = '\0';
	if (cfg->gssapi_realm[0] != '\0') {
		snprintf(ss->gss_realm, sizeof(ss->gss_realm), "%s",
			 cfg->gssapi_realm);
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
		 cfg->gssapi_service, ss->gss_hostname, ss->gss_realm);
}

int sasl_server_create(const struct config *cfg, struct sasl_server **ss_r)
{
	struct sasl_server *ss;
	size_t i;

	ss = calloc(1, sizeof(*ss));
	if (ss == NULL)
		return -1;
	ss->cfg = cfg;
	if (RAND_bytes(ss->fake_key, sizeof(ss->fake_key)) != 1 ||
	    gsasl_init(&ss->ctx) != GSASL_OK) {
		free(ss);
		return -1;
	}
	gsasl_callback_set(ss->ctx, sasl_callback);
	if (sasl_mech_wanted(cfg, "GSSAPI"))
		sasl_gssapi_setup(ss);
	if (sasl_mech_wanted(cfg, "OAUTHBEARER") ||
	    sasl_mech_wanted(cfg, "XOAUTH2")) {
		const char *error;

		if (sasl_oauth_create(cfg, &ss->oauth, &error) < 0)
			log_error("oauth_public_key %s: %s; OAUTHBEARER and "
				  "XOAUTH2 logins will fail",
				  cfg->oauth_public_key, error);
	}
	for (i = 0; i < sasl_mech_count(); i++) {
		const struct sasl_mech *m = sasl_mech_get(i);

		if ((cfg->sasl_mech_mask & (1u << i)) &&
		    m->backend == SASL_BACKEND_GSASL &&
		    !gsasl_server_support_p(ss->ctx, m->name))
			log_error("sasl_mechanisms: this GNU SASL library "
				  "cannot serve %s; it will fail", m->name);
	}
	*ss_r = ss;
	return 0;
}

void sasl_server_destroy(struct sasl_server **ssp)
{
	struct sasl_server *ss = *ssp;

	if (ss == NULL)
		return;
	*ssp = NULL;
	while (ss->n_ex > 0)
		sasl_drop_at(ss, ss->n_ex - 1);
	gsasl_done(ss->ctx);
	sasl_oauth_destroy(&ss->oauth);
	explicit_bzero(ss, sizeof(*ss));
	free(ss);
}

static bool sasl_mech_enabled(const struct sasl_server *ss, const char *name)
{
	size_t bit;

	return sasl_mech_find(name, &bit) != NULL &&
	       (ss->cfg->sasl_mech_mask & (1u << bit));
}

void sasl_server_check_db(const struct sasl_server *ss,
			  const struct passwd_db *db)
{
	size_t i, n = passwd_db_count(db), no_plain = 0, no_sha256 = 0,
	       no_sha1 = 0;

	for (i = 0; i < n; i++) {
		const struct passwd_entry *e = passwd_db_entry(db, i);
		bool plain = passwd_entry_secret(e, "PLAIN") != NULL;

		if (e->disabled)
			continue;
		no_plain += !plain;
		no_sha256 += !plain &&
			     passwd_entry_secret(e, "SCRAM-SHA-256") == NULL;
		no_sha1 += !plain &&
			   passwd_entry_secret(e, "SCRAM-SHA-1") == NULL;
	}
	if (no_plain > 0 && sasl_mech_enabled(ss, "CRAM-MD5"))
		log_info("CRAM-MD5 is enabled but %zu users have no {PLAIN} "
			 "secret and cannot use it", no_plain);
	if (no_sha256 > 0 && sasl_mech_enabled(ss, "SCRAM-SHA-256"))
		log_info("SCRAM-SHA-256 is enabled but %zu users have neither "
			 "a {SCRAM-SHA-256} nor a {PLAIN} secret and cannot "
			 "use it", no_sha256);
	if (no_sha1 > 0 && sasl_mech_enabled(ss, "SCRAM-SHA-1"))
		log_info("SCRAM-SHA-1 is enabled but %zu users have neither a "
			 "{SCRAM-SHA-1} nor a {PLAIN} secret and cannot use "
			 "it", no_sha1);
}
