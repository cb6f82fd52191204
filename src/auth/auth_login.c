/* auth_login.c: the login flow of the auth process after the
 * credentials (see auth_server.h): USER/PASS handed to the verification
 * path, APOP, and for every mechanism the grant (login_delay, sessions
 * per user, the user's record in the reply), logouts and the saved
 * last-login state. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "auth/auth_limits.h"
#include "auth/auth_server.h"
#include "auth/auth_userdb.h"
#include "auth/loginname.h"
#include "auth/password.h"
#include "store/mailpath.h"
#include "util/log.h"

static int auth_user_delay(const struct auth_server *srv,
			   const struct passwd_entry *entry)
{
	if (entry != NULL && entry->login_delay >= 0)
		return entry->login_delay;
	return (int)srv->set->login_delay;
}

/* auth_users_save_state's view of the per-user delay. */
static int auth_delay_of(void *context, const char *name)
{
	const struct auth_server *srv = context;

	/* what is held only: a save must not query every user */
	return auth_user_delay(srv, userdb_lookup_cached(srv->db, name));
}

void auth_state_maybe_save(struct auth_server *srv, bool force)
{
	time_t now = time(NULL);

	if (!srv->state_dirty)
		return;
	if (!force && (now == srv->state_saved ||
		       now - srv->state_failed < AUTH_STATE_RETRY_SECS))
		return;
	if (auth_users_save_state(&srv->users, srv->set->state_dir, now,
				  auth_delay_of, srv) < 0) {
		srv->state_failed = now;
		return;
	}
	srv->state_dirty = false;
	srv->state_saved = now;
}

/* The worker enforces plaintext_auth too; checked again here because
 * this process trusts nothing it receives. */
bool auth_plaintext_ok(const struct auth_server *srv, bool secured)
{
	return srv->set->plaintext_auth == PLAINTEXT_ALWAYS ||
	       (srv->set->plaintext_auth == PLAINTEXT_TLS_OR_LOOPBACK &&
		secured);
}

static bool auth_check_apop(const struct auth_server *srv,
			    const struct passwd_entry *entry,
			    const struct auth_request *req)
{
	if (!srv->set->apop || req->timestamp[0] != '<')
		return false;
	if (entry == NULL || entry->disabled) {
		/* same MD5 cost as a real check */
		(void)password_verify_apop("{PLAIN}", req->timestamp,
					   req->secret);
		return false;
	}
	/* only {PLAIN} secrets can succeed (RFC 1939 7.: the server needs
	 * the shared secret itself) */
	return password_verify_apop(entry->password, req->timestamp,
				    req->secret);
}

bool auth_login(struct auth_server *srv, uint32_t slot,
		const struct auth_request *req, struct auth_reply *reply)
{
	char user_log[AUTH_LOG_USER_MAX], rip[AUTH_ADDR_MAX];
	char name[AUTH_USER_MAX];
	const struct passwd_entry *entry = NULL;
	enum userdb_status st;

	/* the name as looked up (loginname.h); "" for one that is none,
	 * which fails as an unknown user does, hash and all */
	if (loginname_normalize(srv->set, req->user, name, sizeof(name)) < 0)
		name[0] = '\0';
	log_sanitize(name[0] != '\0' ? name : req->user,
		     strlen(name[0] != '\0' ? name : req->user), user_log,
		     sizeof(user_log));
	log_sanitize(req->client_addr, strlen(req->client_addr), rip,
		     sizeof(rip));
	/* a stat() (about a microsecond, against milliseconds for a hash)
	 * per login: a request sent after an edit always sees the edit */
	auth_db_check(srv, false);
	/* a database that cannot answer is no wrong password: the client
	 * is told to try later ([SYS/TEMP]), never [AUTH] */
	st = srv->db == NULL ? USERDB_ERROR : name[0] == '\0' ?
	     USERDB_UNKNOWN : userdb_get(srv->db, name, &entry);
	if (st == USERDB_PENDING) {
		/* nothing done yet: handled again once the answer is in
		 * (auth_park.c) */
		srv->db_pending = true;
		return false;
	}
	if (st == USERDB_ERROR) {
		reply->result = AUTH_TEMPFAIL;
		log_warn("auth tempfail (user database unavailable): user=%s "
			 "rip=%s", user_log, rip);
		return true;
	}
	entry = NULL;
	if (req->type == AUTH_REQ_PASS) {
		struct auth_verify_req vr = {
			.slot = slot, .id = req->id, .user = name,
			.password = req->secret, .mech = "",
			.client_addr = req->client_addr,
			.via_proxy = req->via_proxy != 0,
		};

		/* an LMTP worker asks only after STARTTLS (its AUTH PLAIN
		 * is refused in clear, 538); plaintext_auth is POP3's */
		bool allowed = srv->slot_kind[slot] == AUTH_SLOT_LMTP ?
			req->secured != 0 :
			auth_plaintext_ok(srv, req->secured);

		if (!allowed) {
			log_warn("worker sent a plaintext login the "
				 "plaintext_auth setting does not allow");
			reply->result = AUTH_FAILED;
			log_info("auth failed: user=%s rip=%s", user_log, rip);
			return true;
		}
		auth_verify_password(srv, &vr);
		return false;
	}
	/* APOP: one MD5, cheaper than queueing it */
	if (name[0] != '\0')
		entry = userdb_lookup(srv->db, name);
	if (!auth_check_apop(srv, entry, req)) {
		reply->result = AUTH_FAILED;
		log_info("auth failed: user=%s rip=%s", user_log, rip);
		return true;
	}
	auth_grant(srv, slot, entry, reply, user_log, rip);
	return true;
}

/* An MTA's AUTH on an LMTP worker (RFC 4954): it may deliver, which is
 * no POP3 login: no session is counted (no LOGOUT follows) and
 * LOGIN-DELAY is neither checked nor started, as for AUTH_REQ_USERDB.
 * The reply carries the canonical name only: the account may be the
 * MTA's own, with no usable maildrop. */
static void auth_grant_lmtp(const struct passwd_entry *entry,
			    struct auth_reply *reply, const char *user_log,
			    const char *rip)
{
	snprintf(reply->user, sizeof(reply->user), "%s", entry->user);
	reply->result = AUTH_OK;
	log_info("lmtp auth: user=%s rip=%s", user_log, rip);
}

void auth_grant(struct auth_server *srv, uint32_t slot,
		const struct passwd_entry *entry, struct auth_reply *reply,
		const char *user_log, const char *rip)
{
	const char *error;
	struct auth_user *u;
	time_t now;
	int delay;

	if (srv->slot_kind[slot] == AUTH_SLOT_LMTP) {
		auth_grant_lmtp(entry, reply, user_log, rip);
		return;
	}
	/* RFC 2449 8.1.2: LOGIN-DELAY is checked only after the
	 * credentials were right, so it reveals nothing to a guesser */
	now = time(NULL);
	delay = auth_user_delay(srv, entry);
	u = auth_users_find(&srv->users, entry->user);
	/* a last login in the future means the clock went back: do not
	 * lock the user out until it catches up */
	if (delay > 0 && u != NULL && u->last_login != 0 &&
	    u->last_login <= now && now - u->last_login < delay) {
		reply->result = AUTH_LOGIN_DELAY;
		log_info("login refused (login delay): user=%s rip=%s",
			 user_log, rip);
		return;
	}
	if (srv->set->max_sessions_per_user > 0 && u != NULL &&
	    u->sessions >= srv->set->max_sessions_per_user) {
		reply->result = AUTH_TOO_MANY;
		log_info("login refused (too many sessions): user=%s rip=%s",
			 user_log, rip);
		return;
	}
	if (auth_userdb_fill(srv->set, entry, reply, &error) < 0) {
		memset(reply->mail_path, 0, sizeof(reply->mail_path));
		reply->result = AUTH_PERMFAIL;
		log_error("bad user record: user=%s: %s", user_log, error);
		return;
	}
	if (u == NULL)
		u = auth_users_get(&srv->users, entry->user);
	if (u == NULL || auth_user_session_add(u, slot) < 0) {
		reply->result = AUTH_TEMPFAIL;
		log_error("out of memory: user=%s rip=%s", user_log, rip);
		return;
	}
	/* LOGIN-DELAY counts the login once the worker says its maildrop
	 * opened (auth_login_done): RFC 2449 8.1.2 is about logins that gave
	 * the user their mail, not about a refused maildrop */
	/* proxy mode: the backend login's password, so the client's never
	 * leaves this server and any mechanism can be proxied */
	if (srv->set->proxy && srv->ticket_key.len > 0 &&
	    proxyticket_mint(&srv->ticket_key, entry->user, now,
			     reply->proxy_ticket,
			     sizeof(reply->proxy_ticket)) < 0) {
		auth_user_session_drop(u, slot, 1);
		reply->result = AUTH_TEMPFAIL;
		log_error("no proxy ticket for user=%s rip=%s", user_log, rip);
		return;
	}
	reply->result = AUTH_OK;
	log_debug("authenticated: user=%s rip=%s", user_log, rip);
}

void auth_login_done(struct auth_server *srv, uint32_t slot,
		     const struct auth_request *req)
{
	struct auth_user *u = auth_users_find(&srv->users, req->user);
	char user_log[AUTH_LOG_USER_MAX], rip[AUTH_ADDR_MAX];
	bool counted = false;

	/* only a user this process granted to this worker (and still
	 * counts there): a worker cannot set another's last login */
	for (unsigned i = 0; u != NULL && i < u->n_slots; i++)
		counted |= u->slots[i].slot == slot && u->slots[i].count > 0;
	if (!counted)
		return;
	u->last_login = time(NULL);
	if (srv->set->state_dir[0] != '\0' && srv->db != NULL &&
	    auth_user_delay(srv, userdb_lookup_cached(srv->db,
						      req->user)) > 0)
		srv->state_dirty = true;
	log_sanitize(req->user, strlen(req->user), user_log,
		     sizeof(user_log));
	log_sanitize(req->client_addr, strlen(req->client_addr), rip,
		     sizeof(rip));
	log_info("login: user=%s rip=%s", user_log, rip);
}

void auth_logout(struct auth_server *srv, uint32_t slot,
		 const struct auth_request *req)
{
	struct auth_user *u = auth_users_find(&srv->users, req->user);

	if (u != NULL)
		auth_user_session_drop(u, slot, 1);
}
