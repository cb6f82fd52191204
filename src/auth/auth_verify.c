/* auth_verify.c: the one password verification path of the auth process
 * (see auth_server.h). USER/PASS, AUTH PLAIN and AUTH LOGIN all end here:
 * the check runs on the hash pool, never on the loop; an unknown,
 * disabled or unusable user is checked against the same dummy (a real
 * hash of the loaded file, so the same scheme and cost); the reply is
 * AUTH_FAILED for every failure and the log line the one fail2ban reads.
 * SCRAM key derivations go to the same pool and come back here too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "auth/auth_server.h"
#include "auth/loginname.h"
#include "auth/password.h"
#include "store/mailpath.h"
#include "util/log.h"

/* What a job needs to be finished on the main thread. */
struct auth_verify_ctx {
	uint32_t slot_gen;             /* the slot's, at submission */
	bool force_fail;               /* unknown user or refused: cost only */
	char user[AUTH_USER_MAX];
	char user_log[AUTH_LOG_USER_MAX];
	char rip[AUTH_ADDR_MAX];
	char mech[AUTH_MECH_MAX];      /* "" for USER/PASS */
	char client_addr[AUTH_ADDR_MAX];
};

static void auth_verify_free(struct hashjob *job)
{
	if (job->context != NULL) {
		explicit_bzero(job->context, sizeof(struct auth_verify_ctx));
		free(job->context);
	}
	hashpool_job_free(&job);
}

/* The stored secret still the one the job checked: compared in constant
 * time like every secret (docs/security.md); only the lengths, which a
 * reload may change, are compared plainly. */
static bool auth_verify_same_secret(const char *now, const char *checked)
{
	size_t len = strlen(checked);

	return strlen(now) == len && CRYPTO_memcmp(now, checked, len) == 0;
}

static void auth_verify_failed(const struct auth_verify_ctx *ctx,
			       const char *why)
{
	if (ctx->mech[0] == '\0')
		log_info("auth failed: user=%s rip=%s", ctx->user_log,
			 ctx->rip);
	else
		log_info("auth failed: mech=%s user=%s rip=%s (%s)", ctx->mech,
			 ctx->user_log, ctx->rip, why);
}

/* A password check came back: the login's reply. */
static void auth_verify_finish_password(struct auth_server *srv,
					struct hashjob *job,
					struct auth_reply *reply)
{
	const struct auth_verify_ctx *ctx = job->context;
	const struct passwd_entry *entry = NULL;

	/* a bind that could not be made is no wrong password ({LDAP-BIND}:
	 * the directory is down); an unknown user's dummy bind fails as
	 * unknown users do */
	if (job->unavailable && !ctx->force_fail) {
		log_warn("auth tempfail (user database unavailable): user=%s "
			 "rip=%s", ctx->user_log, ctx->rip);
		reply->result = AUTH_TEMPFAIL;
		return;
	}

	/* the file may have been reloaded meanwhile: the entry must still
	 * hold the secret that was checked (what is held: the lookup was
	 * made moments ago, and its answer may have passed its TTL since) */
	if (srv->db != NULL && job->matched && !ctx->force_fail)
		entry = userdb_lookup_cached(srv->db, ctx->user);
	if (entry == NULL || entry->disabled ||
	    !auth_verify_same_secret(entry->password, job->stored)) {
		reply->result = AUTH_FAILED;
		auth_verify_failed(ctx, job->matched && !ctx->force_fail ?
				   "user changed meanwhile" :
				   "wrong user or password");
		return;
	}
	auth_grant(srv, job->slot, entry, reply, ctx->user_log, ctx->rip);
}

/* Finishes job. false when it has to wait (the slot's previous reply is
 * still queued). */
static bool auth_verify_finish(struct auth_server *srv, struct hashjob *job)
{
	struct auth_verify_ctx *ctx = job->context;
	struct auth_reply reply;
	struct sasl_outcome o;
	enum sasl_result res;
	bool send = true;

	/* the worker of this request went away: nothing to answer */
	if (ctx->slot_gen != srv->slot_gen[job->slot] ||
	    srv->slot_fd[job->slot] < 0)
		return true;
	if (srv->pending[job->slot])
		return false;
	auth_reply_init(&reply, job->id);
	if (job->kind == HASHJOB_VERIFY) {
		auth_verify_finish_password(srv, job, &reply);
	} else if (srv->sasl == NULL) {
		reply.result = AUTH_TEMPFAIL;
	} else {
		memset(&o, 0, sizeof(o));
		o.out = reply.data;
		o.out_size = sizeof(reply.data);
		res = sasl_server_resume(srv->sasl, job->slot, job->id, srv->db,
					 job->failed ? NULL : &job->scram, &o);
		send = auth_sasl_reply(srv, job->slot, ctx->client_addr, res,
				       &o, &reply);
		explicit_bzero(&o.pending, sizeof(o.pending));
	}
	if (send)
		auth_slot_send(srv, job->slot, &reply);
	explicit_bzero(&reply, sizeof(reply));
	return true;
}

/* True when job is a {PLAIN} comparison: a constant-time memcmp of
 * microseconds, run here so it never queues behind the slow hashes a
 * burst of other logins keeps the pool threads busy with. */
static bool auth_verify_cheap(const struct hashjob *job)
{
	return job->kind == HASHJOB_VERIFY && !job->dummy &&
	       password_is_plain(job->stored);
}

/* A job whose secret a user database checks itself ({PAM}): handed to
 * it with the name and address; its verdict comes back through
 * userdb_verify_take() in auth_verify_collect(). */
static bool auth_verify_external(struct auth_server *srv, struct hashjob *job)
{
	const struct auth_verify_ctx *ctx = job->context;
	struct userdb_verify v = {
		.user = ctx->user,
		.password = job->password,
		.rhost = ctx->client_addr,
		.cookie = job,
	};
	int ret;

	if (job->kind != HASHJOB_VERIFY || !userdb_verify_own(job->stored))
		return false;
	ret = userdb_verify_submit(srv->db, job->stored, &v);
	explicit_bzero(job->password, sizeof(job->password));
	if (ret < 0) {
		/* no check could be made: neither match nor mismatch */
		job->unavailable = true;
		if (auth_verify_finish(srv, job)) {
			auth_verify_free(job);
		} else {
			job->next = srv->deferred;
			srv->deferred = job;
		}
	}
	return true;
}

/* Runs job on the pool, or here when there is none or it is cheap; a job
 * finished here is answered at once (or deferred like one from the
 * pool). */
static void auth_verify_run(struct auth_server *srv, struct hashjob *job)
{
	if (auth_verify_external(srv, job))
		return;
	if (srv->pool != NULL && !auth_verify_cheap(job)) {
		hashpool_submit(srv->pool, job);
		return;
	}
	hashpool_job_run(job);
	if (auth_verify_finish(srv, job)) {
		auth_verify_free(job);
		return;
	}
	job->next = srv->deferred;
	srv->deferred = job;
}

/* A job and its context for (slot, id), or NULL (logged, answered with
 * AUTH_TEMPFAIL). */
static struct hashjob *auth_verify_job(struct auth_server *srv,
				       uint32_t slot, uint64_t id,
				       const char *user,
				       const char *client_addr)
{
	struct auth_verify_ctx *ctx = calloc(1, sizeof(*ctx));
	struct hashjob *job = hashpool_job_new();
	struct auth_reply reply;

	if (job == NULL || ctx == NULL) {
		free(ctx);
		hashpool_job_free(&job);
		log_error("out of memory for a password check");
		auth_reply_init(&reply, id);
		reply.result = AUTH_TEMPFAIL;
		auth_slot_send(srv, slot, &reply);
		return NULL;
	}
	job->slot = slot;
	job->id = id;
	job->context = ctx;
	ctx->slot_gen = srv->slot_gen[slot];
	snprintf(ctx->user, sizeof(ctx->user), "%s", user);
	log_sanitize(user, strlen(user), ctx->user_log, sizeof(ctx->user_log));
	snprintf(ctx->client_addr, sizeof(ctx->client_addr), "%s",
		 client_addr);
	log_sanitize(client_addr, strlen(client_addr), ctx->rip,
		     sizeof(ctx->rip));
	return job;
}

/* A proxy ticket (proxyticket.h) instead of the password: checked here
 * (one HMAC), never hashed as a password, and only from a session that
 * came through a trusted proxy. True when job was finished or queued. */
static bool auth_verify_ticket(struct auth_server *srv,
			       const struct auth_verify_req *vr,
			       const struct passwd_entry *entry,
			       struct hashjob *job)
{
	struct auth_verify_ctx *ctx = job->context;

	if (!proxyticket_is_ticket(vr->password))
		return false;
	job->matched = vr->via_proxy && srv->ticket_key.len > 0 &&
		       !ctx->force_fail && entry != NULL &&
		       proxyticket_accept(&srv->ticket_key, entry->user,
					  vr->password, time(NULL));
	explicit_bzero(job->password, sizeof(job->password));
	if (!job->matched)
		ctx->force_fail = true;
	if (auth_verify_finish(srv, job)) {
		auth_verify_free(job);
	} else {
		job->next = srv->deferred;
		srv->deferred = job;
	}
	return true;
}

void auth_verify_password(struct auth_server *srv,
			  const struct auth_verify_req *vr)
{
	const struct passwd_entry *entry = NULL;
	struct auth_verify_ctx *ctx;
	struct hashjob *job;
	char name[AUTH_USER_MAX];
	bool usable;

	/* every mechanism's name the same way (loginname.h); "" for one
	 * that is no name: the dummy is checked all the same */
	if (loginname_normalize(srv->set, vr->user, name, sizeof(name)) < 0)
		name[0] = '\0';
	/* names that could leave the mail directory are never looked up */
	if (srv->db != NULL && name[0] != '\0') {
		enum userdb_status st = userdb_get(srv->db, name, &entry);

		if (st == USERDB_PENDING) {
			/* asked for: checked when the answer is in, exactly
			 * as now (auth_park.c) */
			if (!auth_park_verify(srv, vr)) {
				struct auth_reply reply;

				auth_reply_init(&reply, vr->id);
				reply.result = AUTH_TEMPFAIL;
				auth_slot_send(srv, vr->slot, &reply);
			}
			return;
		}
		if (st == USERDB_ERROR) {
			struct auth_reply reply;
			char user_log[AUTH_LOG_USER_MAX], rip[AUTH_ADDR_MAX];

			/* never [AUTH] for a database that cannot answer */
			log_sanitize(name, strlen(name), user_log,
				     sizeof(user_log));
			log_sanitize(vr->client_addr, strlen(vr->client_addr),
				     rip, sizeof(rip));
			log_warn("auth tempfail (user database unavailable): "
				 "user=%s rip=%s", user_log, rip);
			auth_reply_init(&reply, vr->id);
			reply.result = AUTH_TEMPFAIL;
			auth_slot_send(srv, vr->slot, &reply);
			return;
		}
		if (st != USERDB_FOUND)
			entry = NULL;
	}
	job = auth_verify_job(srv, vr->slot, vr->id,
			      name[0] != '\0' ? name : vr->user,
			      vr->client_addr);
	if (job == NULL)
		return;
	ctx = job->context;
	snprintf(ctx->mech, sizeof(ctx->mech), "%s", vr->mech);
	usable = entry != NULL && !entry->disabled &&
		 vr->password[0] != '\0' &&
		 password_scheme_known(entry->password) &&
		 strlen(entry->password) < sizeof(job->stored) &&
		 strlen(vr->password) < sizeof(job->password);
	job->kind = HASHJOB_VERIFY;
	/* unknown, disabled and unusable accounts pay for a hash too, so
	 * timing does not tell them from a wrong password */
	if (usable)
		auth_db_learn_dummy(srv, entry);
	if (usable)
		strcpy(job->stored, entry->password);
	else if (srv->dummy_stored[0] != '\0')
		strcpy(job->stored, srv->dummy_stored);
	else
		job->dummy = true;
	if (strlen(vr->password) < sizeof(job->password))
		strcpy(job->password, vr->password);
	ctx->force_fail = !usable || vr->refuse;
	if (auth_verify_ticket(srv, vr, entry, job))
		return;
	auth_verify_run(srv, job);
}

void auth_verify_scram_keys(struct auth_server *srv, uint32_t slot,
			    uint64_t id, const char *client_addr,
			    struct sasl_pending *p)
{
	struct hashjob *job;

	/* the exchange knows its user; the job only the keys' inputs */
	job = auth_verify_job(srv, slot, id, "", client_addr);
	if (job != NULL) {
		job->kind = HASHJOB_SCRAM_KEYS;
		job->scram = p->scram;
		memcpy(job->password, p->password, sizeof(job->password));
		job->password[sizeof(job->password) - 1] = '\0';
	}
	explicit_bzero(p, sizeof(*p));
	if (job != NULL)
		auth_verify_run(srv, job);
}

void auth_verify_collect(struct auth_server *srv)
{
	struct hashjob *job, *still = NULL, **tail = &still;
	enum userdb_verdict verdict;
	void *cookie;

	/* checks the user databases made (PAM), their delays waited out */
	while (userdb_verify_take(srv->db, &cookie, &verdict)) {
		job = cookie;
		job->matched = verdict == USERDB_VERDICT_MATCH;
		job->unavailable = verdict == USERDB_VERDICT_UNAVAILABLE;
		job->next = srv->deferred;
		srv->deferred = job;
	}

	while ((job = srv->deferred) != NULL) {
		srv->deferred = job->next;
		if (auth_verify_finish(srv, job)) {
			auth_verify_free(job);
		} else {
			job->next = NULL;
			*tail = job;
			tail = &job->next;
		}
	}
	while (srv->pool != NULL && (job = hashpool_take(srv->pool)) != NULL) {
		if (auth_verify_finish(srv, job)) {
			auth_verify_free(job);
		} else {
			job->next = NULL;
			*tail = job;
			tail = &job->next;
		}
	}
	srv->deferred = still;
}

void auth_verify_deinit(struct auth_server *srv)
{
	while (srv->deferred != NULL) {
		struct hashjob *job = srv->deferred;

		srv->deferred = job->next;
		auth_verify_free(job);
	}
}
