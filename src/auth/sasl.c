/* sasl.c: the SASL server of the auth process (see sasl.h): the table of
 * exchanges, their start, and the dispatch of each step to the file that
 * runs its mechanism (sasl_simple.c, sasl_scram.c, sasl_gsasl.c,
 * sasl_bearer.c). */
#include "auth/sasl.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/sasl_exchange.h"
#include "auth/loginname.h"
#include "auth/sasl_oauth.h"
#include "store/mailpath.h"
#include "util/log.h"

/* ---- shared by the mechanisms ---- */

/* held: only what the databases hold (userdb_lookup_cached) */
static const struct passwd_entry *sasl_find_user(const struct sasl_exchange *ex,
						 const char *user, bool held)
{
	const struct passwd_entry *e;
	char name[AUTH_USER_MAX];

	/* the one normalisation (loginname.h); names that could leave the
	 * mail directory are never looked up */
	if (user == NULL || ex->db == NULL ||
	    loginname_normalize(ex->ss->set, user, name, sizeof(name)) < 0)
		return NULL;
	if (held) {
		e = userdb_lookup_cached(ex->db, name);
		return e != NULL && !e->disabled ? e : NULL;
	}
	switch (userdb_get(ex->db, name, &e)) {
	case USERDB_FOUND:
		break;
	case USERDB_PENDING:
		/* the step's result is void (sasl_server_handle) */
		ex->ss->db_pending = true;
		return NULL;
	default:
		return NULL;
	}
	return !e->disabled ? e : NULL;
}

const struct passwd_entry *sasl_lookup(const struct sasl_exchange *ex,
				       const char *user)
{
	return sasl_find_user(ex, user, false);
}

bool sasl_plaintext_ok(const struct sasl_exchange *ex)
{
	enum plaintext_auth p = ex->ss->set->plaintext_auth;

	return p == PLAINTEXT_ALWAYS ||
	       (p == PLAINTEXT_TLS_OR_LOOPBACK && ex->secured);
}

enum sasl_result sasl_success(struct sasl_exchange *ex, const char *user,
			      const char *authzid, struct sasl_outcome *o)
{
	/* the record an earlier step of this exchange looked up, even past
	 * its TTL since: a final step asks no database */
	o->entry = sasl_find_user(ex, user, true);
	if (o->entry == NULL || (authzid != NULL && authzid[0] != '\0' &&
				 strcmp(authzid, user) != 0)) {
		o->entry = NULL;
		o->why = "unknown user or other authorization identity";
		return SASL_RESULT_FAILED;
	}
	return SASL_RESULT_SUCCESS;
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
	time_t limit = (time_t)ss->set->preauth_timeout + 60;
	size_t i = 0;

	while (i < ss->n_ex) {
		if (now - ss->ex[i]->last_used > limit)
			sasl_drop_at(ss, i);
		else
			i++;
	}
}

/* ---- steps ---- */

static void sasl_set_bindings(struct sasl_exchange *ex,
			      const struct auth_sasl_request *req)
{
	if (req->cb_exporter_len > 0 &&
	    req->cb_exporter_len <= sizeof(req->cb_exporter) &&
	    req->cb_exporter_len <= sizeof(ex->cb[0].data)) {
		snprintf(ex->cb[0].name, sizeof(ex->cb[0].name),
			 "tls-exporter");
		memcpy(ex->cb[0].data, req->cb_exporter, req->cb_exporter_len);
		ex->cb[0].len = req->cb_exporter_len;
	}
	if (req->cb2_type == AUTH_CB_TLS_SERVER_END_POINT &&
	    req->cb2_len > 0 && req->cb2_len <= sizeof(req->cb2) &&
	    req->cb2_len <= sizeof(ex->cb[1].data)) {
		snprintf(ex->cb[1].name, sizeof(ex->cb[1].name),
			 "tls-server-end-point");
		memcpy(ex->cb[1].data, req->cb2, req->cb2_len);
		ex->cb[1].len = req->cb2_len;
	}
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
	/* KPOP is no mechanism of sasl_mechanisms: kpop_listen enables it
	 * (and only a KPOP listener's stage asks for it) */
	if (mech == NULL ||
	    ((mech->flags & SASL_MECH_INTERNAL) ? !ss->set->kpop :
	     !(ss->set->sasl_mech_mask & (1u << bit))) ||
	    !sasl_mech_configured(mech, ss->set, true)) {
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
	sasl_set_bindings(ex, req);
	if (mech->backend == SASL_BACKEND_GSASL && sasl_gsasl_start(ex) < 0) {
		free(ex);
		*why_r = "gsasl cannot start the mechanism";
		return SASL_RESULT_TEMPFAIL;
	}
	ss->ex[ss->n_ex++] = ex;
	*ex_r = ex;
	return SASL_RESULT_CONTINUE;
}

static void sasl_claimed_user(const struct sasl_exchange *ex,
			      struct sasl_outcome *o)
{
	const char *u = NULL;

	if (ex->scram != NULL)
		u = ex->scram->cf.user;
	else if (ex->gs != NULL)
		u = sasl_gsasl_user(ex);
	else
		u = ex->user;
	snprintf(o->user, sizeof(o->user), "%s", u != NULL ? u : "");
}

/* One client message of exchange ex, to the mechanism's backend. */
static enum sasl_result sasl_step(struct sasl_exchange *ex,
				  const unsigned char *in, size_t in_len,
				  struct sasl_outcome *o)
{
	if (ex->success_sent) {
		/* RFC 5034 4.: only the empty answer to the final data */
		o->out_len = 0;
		if (in == NULL || in_len != 0) {
			o->why = "data after the final challenge";
			return SASL_RESULT_FAILED;
		}
		if (ex->scram != NULL)
			return sasl_success(ex, ex->scram->cf.user,
					    ex->scram->cf.authzid, o);
		return sasl_success(ex, sasl_gsasl_user(ex),
				    ex->gs != NULL ?
				    gsasl_property_fast(ex->gs,
							GSASL_AUTHZID) : NULL,
				    o);
	}
	switch (ex->mech->backend) {
	case SASL_BACKEND_SIMPLE:
		return sasl_simple_step(ex, in, in_len, o);
	case SASL_BACKEND_SCRAM:
		return sasl_scram_step(ex, in, in_len, o);
	case SASL_BACKEND_OAUTH:
		return sasl_bearer_step(ex, in, in_len, o);
	case SASL_BACKEND_KPOP:
		return sasl_kpop_step(ex, in, in_len, o);
	case SASL_BACKEND_GSASL:
		break;
	}
	return sasl_gsasl_step(ex, in, in_len, o);
}

/* XOAUTH2 clients (curl among them) answer the error challenge with "*"
 * rather than the dummy response: the refused token is still a failed
 * login, logged in the format fail2ban knows (as auth_verify.c does). */
static void sasl_log_refused_abort(struct sasl_server *ss, uint32_t slot,
				   const struct auth_sasl_request *req)
{
	const struct sasl_exchange *ex = sasl_find(ss, slot, req->id, NULL);
	char user[128], rip[AUTH_ADDR_MAX];

	if (ex == NULL || !ex->oauth_error_sent)
		return;
	log_sanitize(ex->user, strlen(ex->user), user, sizeof(user));
	log_sanitize(req->client_addr, strnlen(req->client_addr,
					       sizeof(req->client_addr)),
		     rip, sizeof(rip));
	log_info("auth failed: mech=%s user=%s rip=%s (%s, then cancelled)",
		 ex->mech->name, user, rip, ex->oauth_why);
}

static void sasl_outcome_reset(struct sasl_outcome *o)
{
	o->out_len = 0;
	o->entry = NULL;
	o->user[0] = '\0';
	o->mech = "";
	o->why = "";
}

/* After a step: the claimed user, the mechanism, and the exchange
 * dropped on a final result. */
static enum sasl_result sasl_after_step(struct sasl_server *ss,
					struct sasl_exchange *ex,
					enum sasl_result res,
					struct sasl_outcome *o)
{
	sasl_claimed_user(ex, o);
	o->mech = ex->mech->name;
	ex->db = NULL;
	/* a PLAIN/LOGIN password handed on ends the exchange: the check's
	 * result is the login's */
	if (res != SASL_RESULT_CONTINUE &&
	    !(res == SASL_RESULT_PENDING &&
	      o->pending.kind == SASL_PENDING_SCRAM_KEYS))
		sasl_drop(ss, ex->slot, ex->id);
	return res;
}

/* A step met a lookup that is under way: its result is void. The
 * message is handed in again when the lookup finished; for that the
 * exchange must be as before it: a START's is dropped (the replay makes
 * it anew), a SCRAM client-first's goes back to waiting for it. Other
 * steps (CRAM-MD5's response, GSSAPI's last token, a final SCRAM step
 * whose user's entry expired meanwhile) cannot be run twice: they fail
 * temporarily, and the lookup they started serves the client's retry. */
static enum sasl_result sasl_db_pending(struct sasl_server *ss,
					struct sasl_exchange *ex,
					const struct auth_sasl_request *req,
					bool scram_first,
					struct sasl_outcome *o)
{
	ss->db_pending = false;
	explicit_bzero(&o->pending, sizeof(o->pending));
	o->out_len = 0;
	o->entry = NULL;
	if (req->type == AUTH_REQ_SASL_START) {
		sasl_drop(ss, ex->slot, ex->id);
		return SASL_RESULT_DB_PENDING;
	}
	/* KPOP's second step (the USER name) only compares and looks up:
	 * it can run again */
	if (ex->mech->backend == SASL_BACKEND_KPOP && ex->login_state == 1)
		return SASL_RESULT_DB_PENDING;
	if (ex->mech->backend == SASL_BACKEND_SCRAM && scram_first &&
	    ex->scram != NULL) {
		scram_server_clear(ex->scram);
		free(ex->scram);
		ex->scram = NULL;
		ex->scram_known = false;
		ex->waiting = false;
		ex->db = NULL;
		return SASL_RESULT_DB_PENDING;
	}
	o->why = "the user database is still being asked";
	return SASL_RESULT_TEMPFAIL;
}

enum sasl_result sasl_server_handle(struct sasl_server *ss, uint32_t slot,
				    const struct auth_sasl_request *req,
				    struct userdb *db,
				    struct sasl_outcome *o)
{
	struct sasl_exchange *ex = NULL;
	const unsigned char *in = req->data;
	size_t in_len = req->data_len;
	enum sasl_result res;

	sasl_outcome_reset(o);
	switch (req->type) {
	case AUTH_REQ_SASL_ABORT:
		sasl_log_refused_abort(ss, slot, req);
		sasl_drop(ss, slot, req->id);
		return SASL_RESULT_NONE;
	case AUTH_REQ_SASL_START:
		res = sasl_start(ss, slot, req, &ex, &o->why);
		if (res != SASL_RESULT_CONTINUE)
			return res;
		if (!req->has_data)
			in = NULL; /* no initial response (RFC 4422 5.) */
		break;
	case AUTH_REQ_SASL_CONTINUE:
		ex = sasl_find(ss, slot, req->id, NULL);
		if (ex == NULL) {
			o->why = "no exchange in progress";
			return SASL_RESULT_FAILED;
		}
		break;
	default:
		return SASL_RESULT_NONE;
	}
	ex->db = db;
	ex->last_used = time(NULL);
	if (db == NULL) {
		o->why = "no user database";
		res = SASL_RESULT_TEMPFAIL;
	} else if (ex->waiting) {
		/* the worker sends one message per challenge */
		o->why = "client message while the server computes";
		res = SASL_RESULT_FAILED;
	} else {
		bool first = ex->scram == NULL;

		ss->db_pending = false;
		res = sasl_step(ex, in, in_len, o);
		if (ss->db_pending)
			res = sasl_db_pending(ss, ex, req, first, o);
	}
	if (res == SASL_RESULT_DB_PENDING)
		return res;
	return sasl_after_step(ss, ex, res, o);
}

enum sasl_result sasl_server_resume(struct sasl_server *ss, uint32_t slot,
				    uint64_t id, struct userdb *db,
				    const struct scram_secret *keys,
				    struct sasl_outcome *o)
{
	struct sasl_exchange *ex = sasl_find(ss, slot, id, NULL);
	enum sasl_result res;

	sasl_outcome_reset(o);
	if (ex == NULL || !ex->waiting)
		return SASL_RESULT_NONE; /* aborted meanwhile */
	ex->db = db;
	ex->last_used = time(NULL);
	if (db == NULL) {
		o->why = "no user database";
		res = SASL_RESULT_TEMPFAIL;
	} else {
		res = sasl_scram_resume(ex, keys, o);
	}
	return sasl_after_step(ss, ex, res, o);
}

/* ---- setup ---- */

static bool sasl_mech_wanted(const struct auth_settings *set, const char *name)
{
	size_t bit;
	const struct sasl_mech *m = sasl_mech_find(name, &bit);

	return m != NULL && (set->sasl_mech_mask & (1u << bit)) &&
	       sasl_mech_configured(m, set, true);
}

int sasl_server_create(const struct auth_settings *set, struct sasl_server **ss_r)
{
	struct sasl_server *ss;
	size_t i;

	ss = calloc(1, sizeof(*ss));
	if (ss == NULL)
		return -1;
	ss->set = set;
	if (gsasl_init(&ss->ctx) != GSASL_OK) {
		free(ss);
		return -1;
	}
	sasl_scram_key_load(ss);
	sasl_gsasl_setup(ss);
	if (sasl_mech_wanted(set, "OAUTHBEARER") ||
	    sasl_mech_wanted(set, "XOAUTH2")) {
		const char *error;

		if (sasl_oauth_create(set, &ss->oauth, &error) < 0)
			log_error("oauth_public_key %s: %s; OAUTHBEARER and "
				  "XOAUTH2 logins will fail",
				  set->oauth_public_key, error);
	}
	for (i = 0; i < sasl_mech_count(); i++) {
		const struct sasl_mech *m = sasl_mech_get(i);

		if ((set->sasl_mech_mask & (1u << i)) &&
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
	       (ss->set->sasl_mech_mask & (1u << bit));
}

struct sasl_db_count {
	size_t no_plain, no_sha256, no_sha1;
};

static bool sasl_db_count_one(const struct passwd_entry *e, void *context)
{
	struct sasl_db_count *c = context;
	bool plain = passwd_entry_secret(e, "PLAIN") != NULL;

	if (e->disabled)
		return true;
	c->no_plain += !plain;
	c->no_sha256 += !plain &&
			passwd_entry_secret(e, "SCRAM-SHA-256") == NULL;
	c->no_sha1 += !plain && passwd_entry_secret(e, "SCRAM-SHA-1") == NULL;
	return true;
}

void sasl_server_check_db(const struct sasl_server *ss, struct userdb *db)
{
	struct sasl_db_count c = { 0, 0, 0 };

	userdb_each(db, sasl_db_count_one, &c);
	if (c.no_plain > 0 && sasl_mech_enabled(ss, "CRAM-MD5"))
		log_info("CRAM-MD5 is enabled but %zu users have no {PLAIN} "
			 "secret and cannot use it", c.no_plain);
	if (c.no_sha256 > 0 && sasl_mech_enabled(ss, "SCRAM-SHA-256"))
		log_info("SCRAM-SHA-256 is enabled but %zu users have neither "
			 "a {SCRAM-SHA-256} nor a {PLAIN} secret and cannot "
			 "use it", c.no_sha256);
	if (c.no_sha1 > 0 && sasl_mech_enabled(ss, "SCRAM-SHA-1"))
		log_info("SCRAM-SHA-1 is enabled but %zu users have neither a "
			 "{SCRAM-SHA-1} nor a {PLAIN} secret and cannot use "
			 "it", c.no_sha1);
}
