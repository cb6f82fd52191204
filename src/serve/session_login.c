/* session_login.c: what a session does with a login result: the failed-
 * login delay, the RFC 3206 codes, and on success opening the maildrop
 * as a store job (session_store.c) before TRANSACTION is entered. Shared
 * by USER/PASS, APOP and AUTH. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "net/ioloop.h"
#include "serve/cmd_auth.h"
#include "serve/metrics.h"
#include "serve/session.h"
#include "serve/session_kpop.h"
#include "serve/session_proxy.h"
#include "serve/worker.h"
#include "util/log.h"

static const struct config *cfg_of(const struct session *s)
{
	return s->worker->cfg;
}

static void session_delay_done(void *context)
{
	struct session *s = context;

	s->delay_timer = NULL;
	session_reply(s, "%s", s->delayed_reply != NULL ? s->delayed_reply :
		      "-ERR [AUTH] invalid user name or password");
	session_resume(s);
}

/* reply must outlive the delay: a string literal. */
static void session_fail_login(struct session *s, const char *reply)
{
	unsigned delay_ms = worker_login_result(s->worker, s->addr, true);

	s->have_user = false;
	s->delayed_reply = reply;
	if (delay_ms == 0) {
		session_reply(s, "%s", reply);
		session_resume(s);
		return;
	}
	/* Keep waiting: no further command is read during the delay. */
	s->delay_timer = timer_add(s->worker->loop, delay_ms,
				   session_delay_done, s);
	if (s->delay_timer == NULL)
		session_delay_done(s);
}

static int reply_expire(const struct session *s, const struct auth_reply *r)
{
	return r->expire_days >= 0 ? r->expire_days : cfg_of(s)->expire_days;
}

/* Whether r's maildrop is a mail agent's: agent_fd (the socket that
 * came with the reply, -1 none) into set, consumed. A record of another
 * uid than ours, and every login with mail_process = per-user, must have
 * one: the worker never opens such a maildrop itself. 0, or -1 with the
 * reply queued. */
static int session_login_agent(struct session *s, const struct auth_reply *r,
			       int agent_fd, struct maildrop_settings *set)
{
	bool other_uid = (r->uid >= 0 && (uid_t)r->uid != geteuid()) ||
			 (r->gid >= 0 && (gid_t)r->gid != getegid());

	if (agent_fd >= 0) {
		set->kind = MAILDROP_AGENT;
		set->agent_fd = agent_fd;
		return 0;
	}
	if (r->agent == AUTH_AGENT_FAILED) {
		log_error("user=%s session=%s: no mail agent could be started "
			  "(see the auth process's log)", s->user, s->id);
		session_reply(s, "-ERR [SYS/TEMP] cannot open the maildrop, "
			      "try again later");
		return -1;
	}
	if (other_uid) {
		/* Workers run as mail_user only; a record asking for
		 * another uid is served by a mail agent, which needs the
		 * agent spawner (users = pam or mail_process = per-user) */
		log_error("user=%s session=%s: the record's uid/gid "
			  "%lld/%lld differ from mail_user's %lld/%lld and no "
			  "mail agent serves it (users has no pam and "
			  "mail_process is shared)", s->user, s->id,
			  (long long)r->uid, (long long)r->gid,
			  (long long)geteuid(), (long long)getegid());
		session_reply(s, "-ERR [SYS/PERM] account misconfigured, "
			      "contact the administrator");
		return -1;
	}
	if (cfg_of(s)->mail_process == MAIL_PROCESS_PER_USER) {
		log_error("user=%s session=%s: mail_process = per-user and no "
			  "mail agent came with the login", s->user, s->id);
		session_reply(s, "-ERR [SYS/TEMP] cannot open the maildrop, "
			      "try again later");
		return -1;
	}
	return 0;
}

/* Starts opening the maildrop. Returns true when the store job runs
 * (session_login_opened() follows), false when a reply is queued.
 * agent_fd: see session_login_agent (always consumed). */
static bool session_login(struct session *s, const struct auth_reply *r,
			  int agent_fd)
{
	const struct config *cfg = cfg_of(s);
	struct maildrop_settings set = { 0 };

	snprintf(s->user, sizeof(s->user), "%s", r->user);
	s->counted = true;
	if (cfg->proxy) {
		/* proxy mode: the backend holds the maildrop; with tickets
		 * it is given one (auth/proxyticket.h), never the client's
		 * password */
		if (agent_fd >= 0)
			close(agent_fd);
		int ret = session_proxy_start(s, r->user,
					      r->proxy_ticket[0] != '\0' ?
					      r->proxy_ticket :
					      s->proxy_secret != NULL ?
					      s->proxy_secret : "",
					      r->proxy_host);

		session_wipe_secret(s);
		return ret == 0;
	}
	if (session_login_agent(s, r, agent_fd, &set) < 0)
		return false;
	if (set.kind != MAILDROP_AGENT) {
		set.kind = r->mail_kind == MAILDROP_MBOX ? MAILDROP_MBOX :
			   MAILDROP_MAILDIR;
		set.agent_fd = -1;
	}
	set.path = r->mail_path;
	set.lock_stale_secs = cfg->lock_stale_timeout;
	s->expire_days = reply_expire(s, r);
	set.expire_days = s->expire_days > 0 ? (unsigned)s->expire_days : 0;
	set.create = true;
	set.store_marker = cfg->mail_store_marker;
	set.index_dir = cfg->index_dir;
	s->login_delay = r->login_delay >= 0 ? (unsigned)r->login_delay
					     : cfg->auth.login_delay;
	/* the user's own field, else the config's on its listeners */
	s->workarounds = r->workarounds >= 0 ? (unsigned)r->workarounds :
			 s->workarounds_here ? cfg->client_workarounds_mask : 0;
	if (session_store_open(s, &set) < 0) {
		if (set.kind == MAILDROP_AGENT)
			close(set.agent_fd);
		log_error("user=%s session=%s: out of memory for the maildrop "
			  "open", s->user, s->id);
		session_reply(s, "-ERR [SYS/TEMP] cannot open the maildrop, "
			      "try again later");
		return false;
	}
	return true;
}

/* The end of every login attempt: a session that did not reach
 * TRANSACTION gives its slot back to the auth process. May destroy s. */
static void session_login_end(struct session *s)
{
	if (s->state != STATE_TRANSACTION && s->counted) {
		worker_auth_logout(s->worker, s->user);
		s->counted = false;
	}
	s->have_user = false;
	session_resume(s);
}

void session_login_proxied(struct session *s, bool ok, const char *reply)
{
	session_reply(s, "%s", reply);
	if (!ok || s->closing) {
		if (ok)
			session_proxy_destroy(s);
		session_login_end(s);
		return;
	}
	s->state = STATE_TRANSACTION;
	worker_auth_login_done(s->worker, s->user, s->log_client);
	worker_memory_used(s->worker);
	session_proxy_relay(s);
}

void session_login_opened(struct session *s, int ret, struct maildrop *drop,
			  const char *error)
{
	unsigned count = 0;
	uint64_t octets = 0;

	if (ret != MAILDROP_OK) {
		log_info("maildrop open failed: user=%s rip=%s: %s", s->user,
			 s->log_client,
			 error != NULL ? error : "unknown error");
		if (ret == MAILDROP_IN_USE)
			session_reply(s, "-ERR [IN-USE] maildrop is locked by "
				      "another session");
		else if (ret == MAILDROP_PERM)
			session_reply(s, "-ERR [SYS/PERM] cannot open the "
				      "maildrop");
		else
			session_reply(s, "-ERR [SYS/TEMP] cannot open the "
				      "maildrop, try again later");
		session_login_end(s);
		return;
	}
	if (s->closing) {
		/* timed out or shut down while opening: change nothing */
		maildrop_close(&drop);
		session_login_end(s);
		return;
	}
	s->drop = drop;
	s->state = STATE_TRANSACTION;
	worker_auth_login_done(s->worker, s->user, s->log_client);
	/* A burst of logins leaves the handshakes' and opens' buffers free
	 * between sessions that may stay idle for hours: 17 KB a TLS
	 * session of touched pages nothing reuses (1,000 at once). */
	worker_memory_used(s->worker);
	for (unsigned i = 0; i < maildrop_count(s->drop); i++) {
		count++;
		octets += session_msg_size(s, i);
		if (maildrop_msg(s->drop, i)->seen)
			s->last_base = i + 1;
	}
	s->last_now = s->last_base;
	session_reply(s, "+OK maildrop has %u messages (%llu octets)", count,
		      (unsigned long long)octets);
	session_arm_timer(s);
	session_login_end(s);
}

void session_auth_reply(struct session *s, const struct auth_reply *r)
{
	if (s->sasl_active)
		cmd_auth_reply(s, r);
	else if (!session_kpop_reply(s, r))
		session_auth_result(s, r);
}

/* The metrics' name of a final answer (enum auth_result). */
static enum metrics_login_result login_result(uint32_t result)
{
	static const enum metrics_login_result by_result[] = {
		[AUTH_OK] = METRICS_LOGIN_OK,
		[AUTH_FAILED] = METRICS_LOGIN_FAILED,
		[AUTH_LOGIN_DELAY] = METRICS_LOGIN_DELAY,
		[AUTH_TOO_MANY] = METRICS_LOGIN_TOO_MANY,
		[AUTH_TEMPFAIL] = METRICS_LOGIN_TEMPFAIL,
		[AUTH_PERMFAIL] = METRICS_LOGIN_PERMFAIL,
	};

	/* anything else is answered as a temporary failure below */
	return result < sizeof(by_result) / sizeof(by_result[0]) &&
	       result != AUTH_CONTINUE ? by_result[result] :
	       METRICS_LOGIN_TEMPFAIL;
}

void session_auth_result(struct session *s, const struct auth_reply *r)
{
	/* the agent's socket is this result's or nobody's */
	int agent_fd = s->agent_fd;

	s->agent_fd = -1;
	if (r->result != AUTH_OK && agent_fd >= 0) {
		close(agent_fd);
		agent_fd = -1;
	}
	metrics_login(s->worker->metrics, s->worker->index, s->login_mech,
		      login_result(r->result));
	if (r->result != AUTH_OK)
		session_wipe_secret(s);
	switch (r->result) {
	case AUTH_OK:
		(void)worker_login_result(s->worker, s->addr, false);
		if (session_login(s, r, agent_fd))
			return; /* waits for the store job */
		break;
	case AUTH_FAILED:
		session_fail_login(s, "-ERR [AUTH] invalid user name or "
				   "password");
		return;
	case AUTH_LOGIN_DELAY:
		session_reply(s, "-ERR [LOGIN-DELAY] logged in too recently, "
			      "try again later");
		break;
	case AUTH_TOO_MANY:
		session_reply(s, "-ERR [IN-USE] too many sessions for this "
			      "user");
		break;
	case AUTH_PERMFAIL:
		session_reply(s, "-ERR [SYS/PERM] account misconfigured, "
			      "contact the administrator");
		break;
	default:
		session_reply(s, "-ERR [SYS/TEMP] authentication temporarily "
			      "unavailable");
		break;
	}
	session_login_end(s);
}

void session_quit_done(struct session *s, int ret, unsigned deleted,
		       const char *error)
{
	s->dele_count = deleted;
	/* The commit released the session lock before this reply is even
	 * queued: a client reconnecting the moment it reads +OK finds the
	 * maildrop free (no [IN-USE] race with our own UPDATE). */
	if (ret != MAILDROP_OK) {
		log_error("update failed: user=%s session=%s: %s", s->user,
			  s->id,
			  error != NULL ? error : "unknown error");
		session_reply(s, "-ERR [SYS/TEMP] some deleted messages were "
			      "not removed");
	} else {
		session_reply(s, "+OK satchel signing off (%u messages "
			      "deleted)", deleted);
	}
	s->closing = true;
	session_resume(s);
}
