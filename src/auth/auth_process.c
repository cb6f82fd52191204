/* auth_process.c: the auth process: answers the workers' login requests
 * from the passwd-file and enforces login_delay and sessions per user
 * (see auth_process.h). SASL exchanges run in sasl.c. */
#include "auth/auth_process.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "auth/auth_proto.h"
#include "auth/auth_users.h"
#include "auth/hashpool.h"
#include "auth/mailpath.h"
#include "auth/passwd.h"
#include "auth/password.h"
#include "auth/sasl.h"
#include "auth/sasl_mech.h"
#include "net/fdpass.h"
#include "util/log.h"
#include "util/strnum.h"

#define AUTH_SLOTS_MAX 256
/* Requests taken from one worker per wakeup, so one busy worker cannot
 * starve the others while each request costs a password hash. */
#define AUTH_BATCH_MAX 16
/* After a failed state write, wait this long before trying again so a
 * full disk does not fill the log once a second. */
#define AUTH_STATE_RETRY_SECS 60
#define AUTH_LOG_USER_MAX 128

struct auth_server {
	const struct config *cfg;
	struct passwd_db *db;

	/* identity of the passwd-file last loaded (or tried) */
	bool file_known, stat_failed;
	dev_t file_dev;
	ino_t file_ino;
	off_t file_size;
	struct timespec file_mtime;

	int slot_fd[AUTH_SLOTS_MAX];
	bool pending[AUTH_SLOTS_MAX];  /* a reply waits for POLLOUT */
	struct auth_reply pending_reply[AUTH_SLOTS_MAX];

	struct sasl_server *sasl;      /* NULL: SASL gets AUTH_TEMPFAIL */
	unsigned char *rx;             /* one received message */

	struct auth_users users;
	bool state_dirty;
	time_t state_saved, state_failed;

	/* PASS verifications run on threads (hashpool.h); a finished one
	 * whose slot has a reply waiting is kept in deferred */
	struct hashpool *pool;         /* NULL: verify inline */
	struct hashjob *deferred;
	uint32_t slot_gen[AUTH_SLOTS_MAX]; /* bumped when a slot closes */
	/* a real hash of the loaded file, verified for unknown users so
	 * they cost what a real user costs (same scheme, same rounds) */
	char dummy_stored[HASHPOOL_STORED_MAX];
};

/* What a PASS verification on the pool needs to finish the login. */
struct pending_login {
	uint32_t slot_gen;
	bool force_fail;               /* unknown user: the cost only */
	char user[AUTH_USER_MAX];
	char user_log[AUTH_LOG_USER_MAX];
	char rip[AUTH_ADDR_MAX];
};

static volatile sig_atomic_t auth_hup_flag, auth_term_flag;

static void auth_signal(int signo)
{
	if (signo == SIGHUP)
		auth_hup_flag = 1;
	else
		auth_term_flag = 1;
}

static int auth_user_delay(const struct auth_server *srv,
			   const struct passwd_entry *entry)
{
	if (entry != NULL && entry->login_delay >= 0)
		return entry->login_delay;
	return (int)srv->cfg->login_delay;
}

/* auth_users_save_state's view of the per-user delay. */
static int auth_delay_of(void *context, const char *name)
{
	const struct auth_server *srv = context;

	return auth_user_delay(srv, passwd_db_lookup(srv->db, name));
}

static void auth_state_maybe_save(struct auth_server *srv, bool force)
{
	time_t now = time(NULL);

	if (!srv->state_dirty)
		return;
	if (!force && (now == srv->state_saved ||
		       now - srv->state_failed < AUTH_STATE_RETRY_SECS))
		return;
	if (auth_users_save_state(&srv->users, srv->cfg->state_dir, now,
				  auth_delay_of, srv) < 0) {
		srv->state_failed = now;
		return;
	}
	srv->state_dirty = false;
	srv->state_saved = now;
}

/* ---- the passwd-file ---- */

static void auth_db_warn_schemes(const struct passwd_db *db)
{
	size_t i, n = passwd_db_count(db), unknown = 0;
	const struct passwd_entry *first = NULL;

	for (i = 0; i < n; i++) {
		const struct passwd_entry *e = passwd_db_entry(db, i);

		if (!password_scheme_known(e->password)) {
			if (first == NULL)
				first = e;
			unknown++;
		}
	}
	if (unknown > 0) {
		log_warn("%zu users have an unknown password scheme and "
			 "cannot log in (first: %s)", unknown, first->user);
	}
}

/* Picks the first hashed (not {PLAIN}) secret of the file as the one an
 * unknown user's password is checked against, so the reply to a wrong
 * user name takes as long as the reply to a wrong password. */
static void auth_pick_dummy(struct auth_server *srv)
{
	size_t n = passwd_db_count(srv->db);

	srv->dummy_stored[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		const struct passwd_entry *e = passwd_db_entry(srv->db, i);

		if (password_scheme_known(e->password) &&
		    !password_is_plain(e->password) &&
		    strlen(e->password) < sizeof(srv->dummy_stored)) {
			strcpy(srv->dummy_stored, e->password);
			return;
		}
	}
}

/* Reloads the passwd-file when forced or when it changed. On failure the
 * loaded users stay in service. */
static void auth_db_check(struct auth_server *srv, bool force)
{
	const char *path = srv->cfg->passwd_file;
	struct passwd_db *db;
	char err[512];
	struct stat st;

	if (stat(path, &st) < 0) {
		if (!srv->stat_failed) {
			log_error("%s: %s%s", path, strerror(errno),
				  srv->db != NULL ?
				  "; keeping the loaded users" : "");
		}
		srv->stat_failed = true;
		srv->file_known = false;
		return;
	}
	srv->stat_failed = false;
	if (!force && srv->file_known && st.st_dev == srv->file_dev &&
	    st.st_ino == srv->file_ino && st.st_size == srv->file_size &&
	    st.st_mtim.tv_sec == srv->file_mtime.tv_sec &&
	    st.st_mtim.tv_nsec == srv->file_mtime.tv_nsec)
		return;
	/* remembered even if the load fails: retry when it changes again */
	srv->file_known = true;
	srv->file_dev = st.st_dev;
	srv->file_ino = st.st_ino;
	srv->file_size = st.st_size;
	srv->file_mtime = st.st_mtim;
	if (passwd_db_load(path, &db, err, sizeof(err)) < 0) {
		log_error("passwd-file not loaded: %s%s", err,
			  srv->db != NULL ?
			  "; keeping the previous users" : "");
		return;
	}
	passwd_db_destroy(&srv->db);
	srv->db = db;
	auth_pick_dummy(srv);
	log_info("loaded %zu users from %s", passwd_db_count(db), path);
	auth_db_warn_schemes(db);
	if (srv->sasl != NULL)
		sasl_server_check_db(srv->sasl, db);
}

/* ---- requests ---- */

static void auth_dummy_verify(const struct auth_server *srv,
			      const char *password)
{
	if (srv->dummy_stored[0] != '\0')
		(void)password_verify(srv->dummy_stored, password);
	else
		password_dummy_verify(password);
}

/* The worker enforces plaintext_auth too; checked again here because
 * this process trusts nothing it receives. */
static bool auth_plaintext_ok(const struct auth_server *srv,
			      const struct auth_request *req)
{
	return srv->cfg->plaintext_auth == PLAINTEXT_ALWAYS ||
	       (srv->cfg->plaintext_auth == PLAINTEXT_TLS_OR_LOOPBACK &&
		req->secured);
}

static bool auth_check_pass(const struct auth_server *srv,
			    const struct passwd_entry *entry,
			    const struct auth_request *req)
{
	if (!auth_plaintext_ok(srv, req)) {
		log_warn("worker sent a plaintext login the plaintext_auth "
			 "setting does not allow");
		return false;
	}
	/* unknown, disabled and unusable accounts pay for a hash too, so
	 * timing does not tell them from a wrong password */
	if (entry == NULL || entry->disabled || req->secret[0] == '\0' ||
	    !password_scheme_known(entry->password)) {
		auth_dummy_verify(srv, req->secret);
		return false;
	}
	return password_verify(entry->password, req->secret);
}

static bool auth_check_apop(const struct auth_server *srv,
			    const struct passwd_entry *entry,
			    const struct auth_request *req)
{
	if (!srv->cfg->apop || req->timestamp[0] != '<')
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

static int auth_fill_reply(const struct auth_server *srv,
			   const struct passwd_entry *entry,
			   struct auth_reply *reply, const char **error_r)
{
	enum mail_kind kind = srv->cfg->mail_kind;
	const char *pattern = srv->cfg->mail_pattern;
	int n;

	/* DESIGN.md: uid 0 is refused for mail access */
	if (entry->uid == 0 || entry->gid == 0) {
		*error_r = "uid or gid 0 refused for mail access";
		return -1;
	}
	n = snprintf(reply->user, sizeof(reply->user), "%s", entry->user);
	if (n < 0 || (size_t)n >= sizeof(reply->user)) {
		*error_r = "user name too long";
		return -1;
	}
	if (entry->mail != NULL &&
	    mailpath_parse(entry->mail, &kind, &pattern, error_r) < 0)
		return -1;
	if (mailpath_expand(pattern, entry->user, entry->home,
			    reply->mail_path, sizeof(reply->mail_path),
			    error_r) < 0)
		return -1;
	reply->mail_kind = (uint32_t)kind;
	reply->uid = entry->uid;
	reply->gid = entry->gid;
	reply->expire_days = entry->expire_days;
	reply->login_delay = entry->login_delay;
	return 0;
}

static void auth_grant(struct auth_server *srv, uint32_t slot,
		       const struct passwd_entry *entry,
		       struct auth_reply *reply, const char *user_log,
		       const char *rip);

/* Hands a PASS check to the pool. true when submitted (the reply comes
 * from auth_pool_done), false when it must be done inline. */
static bool auth_pass_submit(struct auth_server *srv, uint32_t slot,
			     const struct auth_request *req,
			     const struct passwd_entry *entry,
			     const char *user_log, const char *rip)
{
	struct pending_login *pl;
	struct hashjob *job;
	bool usable;

	if (srv->pool == NULL || !auth_plaintext_ok(srv, req))
		return false;
	usable = entry != NULL && !entry->disabled &&
		 req->secret[0] != '\0' &&
		 password_scheme_known(entry->password);
	if (usable && strlen(entry->password) >= HASHPOOL_STORED_MAX)
		return false;
	if (strlen(req->secret) >= HASHPOOL_PASSWORD_MAX)
		return false;
	job = hashpool_job_new();
	pl = calloc(1, sizeof(*pl));
	if (job == NULL || pl == NULL) {
		hashpool_job_free(&job);
		free(pl);
		return false;
	}
	job->slot = slot;
	job->id = req->id;
	if (usable)
		strcpy(job->stored, entry->password);
	else if (srv->dummy_stored[0] != '\0')
		strcpy(job->stored, srv->dummy_stored);
	else
		job->dummy = true;
	strcpy(job->password, req->secret);
	pl->slot_gen = srv->slot_gen[slot];
	pl->force_fail = !usable;
	snprintf(pl->user, sizeof(pl->user), "%s", req->user);
	snprintf(pl->user_log, sizeof(pl->user_log), "%s", user_log);
	snprintf(pl->rip, sizeof(pl->rip), "%s", rip);
	job->context = pl;
	hashpool_submit(srv->pool, job);
	return true;
}

/* Returns true when a reply is due now (false: it comes from the pool). */
static bool auth_login(struct auth_server *srv, uint32_t slot,
		       const struct auth_request *req, struct auth_reply *reply)
{
	char user_log[AUTH_LOG_USER_MAX], rip[AUTH_ADDR_MAX];
	const struct passwd_entry *entry = NULL;
	bool ok;

	log_sanitize(req->user, strlen(req->user), user_log,
		     sizeof(user_log));
	log_sanitize(req->client_addr, strlen(req->client_addr), rip,
		     sizeof(rip));
	/* a stat() (about a microsecond, against milliseconds for a hash)
	 * per login: a request sent after an edit always sees the edit */
	auth_db_check(srv, false);
	if (srv->db == NULL) {
		reply->result = AUTH_TEMPFAIL;
		log_warn("auth tempfail (no user database): user=%s rip=%s",
			 user_log, rip);
		return true;
	}
	/* names that could leave the mail directory are never looked up */
	if (mailpath_user_valid(req->user))
		entry = passwd_db_lookup(srv->db, req->user);
	if (req->type == AUTH_REQ_PASS &&
	    auth_pass_submit(srv, slot, req, entry, user_log, rip))
		return false;
	if (req->type == AUTH_REQ_APOP)
		ok = auth_check_apop(srv, entry, req);
	else
		ok = auth_check_pass(srv, entry, req);
	if (!ok) {
		reply->result = AUTH_FAILED;
		log_info("auth failed: user=%s rip=%s", user_log, rip);
		return true;
	}
	auth_grant(srv, slot, entry, reply, user_log, rip);
	return true;
}

/* The credentials of entry were right: applies login_delay and sessions
 * per user, fills the reply. Shared by PASS, APOP and SASL. */
static void auth_grant(struct auth_server *srv, uint32_t slot,
		       const struct passwd_entry *entry,
		       struct auth_reply *reply, const char *user_log,
		       const char *rip)
{
	const char *error;
	struct auth_user *u;
	time_t now;
	int delay;

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
	if (srv->cfg->max_sessions_per_user > 0 && u != NULL &&
	    u->sessions >= srv->cfg->max_sessions_per_user) {
		reply->result = AUTH_TOO_MANY;
		log_info("login refused (too many sessions): user=%s rip=%s",
			 user_log, rip);
		return;
	}
	if (auth_fill_reply(srv, entry, reply, &error) < 0) {
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
	u->last_login = now;
	if (delay > 0 && srv->cfg->state_dir[0] != '\0')
		srv->state_dirty = true;
	reply->result = AUTH_OK;
	log_info("login: user=%s rip=%s", user_log, rip);
}

static void auth_logout(struct auth_server *srv, uint32_t slot,
			const struct auth_request *req)
{
	struct auth_user *u = auth_users_find(&srv->users, req->user);

	if (u != NULL)
		auth_user_session_drop(u, slot, 1);
}

/* Handles one SASL message (sasl.h); false when no reply is due. */
static bool auth_handle_sasl(struct auth_server *srv, uint32_t slot,
			     struct auth_sasl_request *req,
			     struct auth_reply *reply)
{
	char user[AUTH_USER_MAX], user_log[AUTH_LOG_USER_MAX];
	char rip[AUTH_ADDR_MAX], mech[AUTH_MECH_MAX];
	const struct passwd_entry *entry = NULL;
	enum sasl_result res;
	const char *why = "", *ex_mech = "";
	size_t out_len = 0;

	req->mech[sizeof(req->mech) - 1] = '\0';
	req->client_addr[sizeof(req->client_addr) - 1] = '\0';
	req->peer_cn[sizeof(req->peer_cn) - 1] = '\0';
	memset(reply, 0, AUTH_REPLY_HDR);
	reply->id = req->id;
	reply->uid = reply->gid = -1;
	reply->expire_days = reply->login_delay = -1;
	if (srv->sasl == NULL) {
		reply->result = AUTH_TEMPFAIL;
		return req->type != AUTH_REQ_SASL_ABORT;
	}
	/* the same reload check as for PASS, at every step */
	if (req->type != AUTH_REQ_SASL_ABORT)
		auth_db_check(srv, false);
	res = sasl_server_handle(srv->sasl, slot, req, srv->db, reply->data,
				 sizeof(reply->data), &out_len, &entry, user,
				 sizeof(user), &ex_mech, &why);
	log_sanitize(user, strlen(user), user_log, sizeof(user_log));
	log_sanitize(req->client_addr, strlen(req->client_addr), rip,
		     sizeof(rip));
	/* the exchange's mechanism; a START that failed early: its own */
	if (ex_mech[0] == '\0')
		ex_mech = req->mech;
	log_sanitize(ex_mech, strlen(ex_mech), mech, sizeof(mech));
	switch (res) {
	case SASL_RESULT_NONE:
		return false;
	case SASL_RESULT_CONTINUE:
		reply->result = AUTH_CONTINUE;
		reply->data_len = (uint32_t)out_len;
		return true;
	case SASL_RESULT_SUCCESS:
		auth_grant(srv, slot, entry, reply, user_log, rip);
		return true;
	case SASL_RESULT_FAILED:
		reply->result = AUTH_FAILED;
		log_info("auth failed: mech=%s user=%s rip=%s (%s)", mech,
			 user_log, rip, why);
		return true;
	case SASL_RESULT_TEMPFAIL:
		break;
	}
	reply->result = AUTH_TEMPFAIL;
	log_warn("auth tempfail: mech=%s user=%s rip=%s (%s)", mech,
		 user_log, rip, why);
	return true;
}

/* Handles one request; false when no reply is due. */
static bool auth_handle(struct auth_server *srv, uint32_t slot,
			struct auth_request *req, struct auth_reply *reply)
{
	/* trust nothing: every string ends inside its field */
	req->user[sizeof(req->user) - 1] = '\0';
	req->secret[sizeof(req->secret) - 1] = '\0';
	req->timestamp[sizeof(req->timestamp) - 1] = '\0';
	req->client_addr[sizeof(req->client_addr) - 1] = '\0';

	memset(reply, 0, AUTH_REPLY_HDR);
	reply->id = req->id;
	reply->uid = reply->gid = -1;
	reply->expire_days = reply->login_delay = -1;
	switch (req->type) {
	case AUTH_REQ_PASS:
	case AUTH_REQ_APOP:
		return auth_login(srv, slot, req, reply);
	case AUTH_REQ_LOGOUT:
		auth_logout(srv, slot, req);
		return false;
	default:
		log_warn("worker slot %u: unknown request type %u", slot,
			 req->type);
		reply->result = AUTH_PERMFAIL;
		return true;
	}
}

/* ---- worker sockets ---- */

static void auth_slot_close(struct auth_server *srv, uint32_t slot)
{
	if (srv->slot_fd[slot] < 0)
		return;
	close(srv->slot_fd[slot]);
	srv->slot_fd[slot] = -1;
	srv->pending[slot] = false;
	srv->slot_gen[slot]++; /* verifications under way are void now */
	auth_users_forget_slot(&srv->users, slot);
	if (srv->sasl != NULL)
		sasl_server_forget_slot(srv->sasl, slot);
}

/* Sends reply; when the worker's socket is full it is kept and the slot
 * is not read again until it went out (backpressure, and the auth
 * process never blocks on one worker). */
static void auth_slot_send(struct auth_server *srv, uint32_t slot,
			   const struct auth_reply *reply)
{
	size_t len = AUTH_REPLY_HDR + reply->data_len;
	ssize_t n;

	do {
		n = send(srv->slot_fd[slot], reply, len,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
	} while (n < 0 && errno == EINTR);
	if (n == (ssize_t)len)
		return;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		if (reply != &srv->pending_reply[slot])
			memcpy(&srv->pending_reply[slot], reply, len);
		srv->pending[slot] = true;
		return;
	}
	log_warn("worker slot %u: send: %s; closing it", slot,
		 n < 0 ? strerror(errno) : "short write");
	auth_slot_close(srv, slot);
}

static void auth_slot_flush(struct auth_server *srv, uint32_t slot)
{
	srv->pending[slot] = false;
	auth_slot_send(srv, slot, &srv->pending_reply[slot]);
}

/* The size of the receive buffer: the largest request, plus one octet so
 * that a longer message shows (MSG_TRUNC reports its real length). */
#define AUTH_RX_SIZE (sizeof(struct auth_sasl_request) + 1)

static void auth_slot_read(struct auth_server *srv, uint32_t slot)
{
	struct auth_request *req = (struct auth_request *)srv->rx;
	struct auth_sasl_request *sreq = (struct auth_sasl_request *)srv->rx;
	struct auth_reply reply;
	unsigned i;

	for (i = 0; i < AUTH_BATCH_MAX; i++) {
		enum auth_msg kind;
		ssize_t n;

		if (srv->slot_fd[slot] < 0 || srv->pending[slot])
			break;
		/* MSG_TRUNC: the real length of a longer message, so it
		 * is rejected instead of read as a cut-off request */
		n = recv(srv->slot_fd[slot], srv->rx, AUTH_RX_SIZE,
			 MSG_DONTWAIT | MSG_TRUNC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			if (n < 0)
				log_warn("worker slot %u: recv: %s", slot,
					 strerror(errno));
			auth_slot_close(srv, slot);
			break;
		}
		kind = auth_proto_check_request(srv->rx, (size_t)n);
		if (kind == AUTH_MSG_SASL) {
			if (auth_handle_sasl(srv, slot, sreq, &reply))
				auth_slot_send(srv, slot, &reply);
		} else if (kind == AUTH_MSG_REQUEST) {
			if (auth_handle(srv, slot, req, &reply))
				auth_slot_send(srv, slot, &reply);
		} else {
			log_warn("worker slot %u: dropped a malformed "
				 "%zd-octet message", slot, n);
		}
		/* client data and passwords: never left behind */
		explicit_bzero(srv->rx, (size_t)n < AUTH_RX_SIZE ?
			       (size_t)n : AUTH_RX_SIZE);
		explicit_bzero(&reply, sizeof(reply));
	}
}

/* Finishes a PASS whose verification came back from the pool. Returns
 * false when it has to wait (the slot's previous reply is still queued). */
static bool auth_pool_finish(struct auth_server *srv, struct hashjob *job)
{
	struct pending_login *pl = job->context;
	const struct passwd_entry *entry = NULL;
	struct auth_reply reply;

	/* the worker of this request went away: nothing to answer */
	if (pl->slot_gen != srv->slot_gen[job->slot] ||
	    srv->slot_fd[job->slot] < 0)
		return true;
	if (srv->pending[job->slot])
		return false;
	memset(&reply, 0, AUTH_REPLY_HDR);
	reply.id = job->id;
	reply.uid = reply.gid = -1;
	reply.expire_days = reply.login_delay = -1;
	/* the file may have been reloaded meanwhile: the entry must still
	 * hold the secret that was checked */
	if (srv->db != NULL && job->matched && !pl->force_fail)
		entry = passwd_db_lookup(srv->db, pl->user);
	if (entry == NULL || strcmp(entry->password, job->stored) != 0) {
		reply.result = AUTH_FAILED;
		log_info("auth failed: user=%s rip=%s", pl->user_log, pl->rip);
	} else {
		auth_grant(srv, job->slot, entry, &reply, pl->user_log,
			   pl->rip);
	}
	auth_slot_send(srv, job->slot, &reply);
	explicit_bzero(&reply, sizeof(reply));
	return true;
}

static void auth_job_free(struct hashjob *job)
{
	free(job->context);
	hashpool_job_free(&job);
}

/* Takes finished verifications; earlier deferred ones go first. */
static void auth_pool_collect(struct auth_server *srv)
{
	struct hashjob *job, *still = NULL, **tail = &still;

	while ((job = srv->deferred) != NULL) {
		srv->deferred = job->next;
		if (auth_pool_finish(srv, job)) {
			auth_job_free(job);
		} else {
			job->next = NULL;
			*tail = job;
			tail = &job->next;
		}
	}
	while (srv->pool != NULL && (job = hashpool_take(srv->pool)) != NULL) {
		if (auth_pool_finish(srv, job)) {
			auth_job_free(job);
		} else {
			job->next = NULL;
			*tail = job;
			tail = &job->next;
		}
	}
	srv->deferred = still;
}

/* Tells a new worker which mechanisms that need files this process can
 * serve, so its CAPA does not offer one the auth process cannot run (the
 * workers run as another user and cannot check the files themselves). */
static void auth_send_hello(struct auth_server *srv, uint32_t slot)
{
	struct auth_reply reply;
	uint32_t mask = 0;

	for (size_t i = 0; i < sasl_mech_count(); i++) {
		const struct sasl_mech *m = sasl_mech_get(i);

		if (m != NULL && sasl_mech_configured(m, srv->cfg, true))
			mask |= 1u << i;
	}
	memset(&reply, 0, AUTH_REPLY_HDR);
	reply.result = AUTH_HELLO;
	reply.data_len = sizeof(mask);
	memcpy(reply.data, &mask, sizeof(mask));
	auth_slot_send(srv, slot, &reply);
}

/* Returns 1 on EOF, 0 when handled, -1 on a fatal error. */
static int auth_control_read(struct auth_server *srv, int control_fd)
{
	struct auth_control ctl;
	ssize_t n;
	int fd, type = 0;
	socklen_t len = sizeof(type);

	n = fdpass_recv(control_fd, &ctl, sizeof(ctl), &fd);
	if (n == 0)
		return 1;
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		log_error("control socket: %s", strerror(errno));
		return -1;
	}
	if (n != (ssize_t)sizeof(ctl) || ctl.slot >= AUTH_SLOTS_MAX) {
		log_warn("control socket: bad message (%zd octets)", n);
		goto out_close;
	}
	auth_slot_close(srv, ctl.slot);
	if (fd < 0)
		return 0; /* no descriptor: the slot just goes away */
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 ||
	    type != SOCK_SEQPACKET) {
		log_warn("worker slot %u: not a SOCK_SEQPACKET socket",
			 ctl.slot);
		goto out_close;
	}
	srv->slot_fd[ctl.slot] = fd;
	auth_send_hello(srv, ctl.slot);
	log_debug("worker slot %u connected", ctl.slot);
	return 0;

out_close:
	if (fd >= 0)
		close(fd);
	return 0;
}

/* ---- the loop ---- */

static int auth_signals_setup(sigset_t *wait_mask_r, sigset_t *old_mask_r)
{
	struct sigaction sa;
	sigset_t block;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = auth_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART: the signal must end the wait */
	if (sigaction(SIGHUP, &sa, NULL) < 0 ||
	    sigaction(SIGTERM, &sa, NULL) < 0)
		return -1;
	/* Ctrl-C reaches the whole foreground group: the master stops the
	 * workers first and lets the auth process go after them (EOF on
	 * the control socket), so their last logouts still arrive. */
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGINT, &sa, NULL) < 0 ||
	    sigaction(SIGPIPE, &sa, NULL) < 0)
		return -1;
	/* blocked except inside ppoll(), so a signal arriving just before
	 * the wait is not missed until the next request */
	sigemptyset(&block);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	if (sigprocmask(SIG_BLOCK, &block, old_mask_r) < 0)
		return -1;
	*wait_mask_r = *old_mask_r;
	sigdelset(wait_mask_r, SIGHUP);
	sigdelset(wait_mask_r, SIGTERM);
	sigdelset(wait_mask_r, SIGINT);
	return 0;
}

static int auth_loop(struct auth_server *srv, int control_fd,
		     const sigset_t *wait_mask)
{
	struct pollfd fds[AUTH_SLOTS_MAX + 2];
	uint32_t slots[AUTH_SLOTS_MAX + 2];

	for (;;) {
		const struct timespec one_second = { 1, 0 };
		nfds_t nfds, i;
		int n, ret;
		uint32_t s;

		fds[0].fd = control_fd;
		fds[0].events = POLLIN;
		fds[1].fd = srv->pool != NULL ? hashpool_fd(srv->pool) : -1;
		fds[1].events = POLLIN;
		nfds = 2;
		for (s = 0; s < AUTH_SLOTS_MAX; s++) {
			if (srv->slot_fd[s] < 0)
				continue;
			fds[nfds].fd = srv->slot_fd[s];
			fds[nfds].events = srv->pending[s] ? POLLOUT : POLLIN;
			slots[nfds++] = s;
		}
		n = ppoll(fds, nfds, srv->state_dirty || srv->deferred != NULL ?
			  &one_second : NULL, wait_mask);
		if (n < 0 && errno != EINTR) {
			log_error("ppoll: %s", strerror(errno));
			return EX_OSERR;
		}
		if (auth_term_flag)
			return EX_OK;
		if (auth_hup_flag) {
			auth_hup_flag = 0;
			auth_db_check(srv, true);
		}
		for (i = 2; n > 0 && i < nfds; i++) {
			s = slots[i];
			if (fds[i].revents == 0 || srv->slot_fd[s] != fds[i].fd)
				continue;
			if (srv->pending[s] && (fds[i].revents & POLLOUT))
				auth_slot_flush(srv, s);
			if (srv->slot_fd[s] >= 0 && !srv->pending[s])
				auth_slot_read(srv, s);
		}
		auth_pool_collect(srv);
		/* after the workers: a new socket for a slot must not be
		 * confused with the old one the poll results talk about */
		if (n > 0 && fds[0].revents != 0) {
			ret = auth_control_read(srv, control_fd);
			if (ret > 0)
				return EX_OK;
			if (ret < 0)
				return EX_OSERR;
		}
		auth_state_maybe_save(srv, false);
	}
}

int auth_process_run(const struct config *cfg, int control_fd)
{
	struct auth_server *srv;
	sigset_t wait_mask, old_mask;
	uint32_t s;
	int ret;

	log_set_role("auth");
	srv = calloc(1, sizeof(*srv));
	if (srv == NULL) {
		log_error("out of memory");
		return EX_OSERR;
	}
	srv->cfg = cfg;
	for (s = 0; s < AUTH_SLOTS_MAX; s++)
		srv->slot_fd[s] = -1;
	srv->rx = malloc(AUTH_RX_SIZE);
	if (srv->rx == NULL) {
		log_error("out of memory");
		free(srv);
		return EX_OSERR;
	}
	if (sasl_server_create(cfg, &srv->sasl) < 0)
		log_error("SASL unavailable: GNU SASL did not initialise");
	if (auth_signals_setup(&wait_mask, &old_mask) < 0) {
		log_error("signals: %s", strerror(errno));
		sasl_server_destroy(&srv->sasl);
		free(srv->rx);
		free(srv);
		return EX_OSERR;
	}
	/* created with the signals blocked, so they reach this thread */
	{
		long cores = sysconf(_SC_NPROCESSORS_ONLN);

		srv->pool = hashpool_create(cores > 0 ? (unsigned)cores : 1);
		if (srv->pool == NULL)
			log_warn("password hashing threads unavailable (%s); "
				 "verifying inline", strerror(errno));
	}
	/* without users every login gets AUTH_TEMPFAIL until the file
	 * can be loaded */
	auth_db_check(srv, true);
	auth_users_load_state(&srv->users, cfg->state_dir);

	ret = auth_loop(srv, control_fd, &wait_mask);

	auth_state_maybe_save(srv, true);
	for (s = 0; s < AUTH_SLOTS_MAX; s++) {
		if (srv->slot_fd[s] >= 0)
			close(srv->slot_fd[s]);
	}
	hashpool_destroy(&srv->pool);
	while (srv->deferred != NULL) {
		struct hashjob *job = srv->deferred;

		srv->deferred = job->next;
		auth_job_free(job);
	}
	auth_users_free(&srv->users);
	sasl_server_destroy(&srv->sasl);
	passwd_db_destroy(&srv->db);
	explicit_bzero(srv->rx, AUTH_RX_SIZE);
	free(srv->rx);
	explicit_bzero(srv->pending_reply, sizeof(srv->pending_reply));
	free(srv);
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	return ret;
}
