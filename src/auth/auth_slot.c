/* auth_slot.c: the auth process's side of the worker sockets (see
 * auth_proto.h): each message read, checked for its exact length and
 * NUL-terminated fields, dispatched to the login flow or the SASL server,
 * and its reply sent, kept while the worker's socket is full. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth/auth_server.h"
#include "auth/auth_userdb.h"
#include "net/fdpass.h"
#include "util/log.h"

/* Requests taken from one worker per wakeup, so one busy worker cannot
 * starve the others. */
#define AUTH_BATCH_MAX 16

void auth_reply_init(struct auth_reply *reply, uint64_t id)
{
	memset(reply, 0, AUTH_REPLY_HDR);
	reply->id = id;
	reply->uid = reply->gid = -1;
	reply->expire_days = reply->login_delay = -1;
	reply->workarounds = -1;
}

void auth_slot_close(struct auth_server *srv, uint32_t slot)
{
	if (srv->slot_fd[slot] < 0)
		return;
	close(srv->slot_fd[slot]);
	srv->slot_fd[slot] = -1;
	srv->pending[slot] = false;
	if (srv->pending_fd[slot] >= 0) {
		close(srv->pending_fd[slot]);
		srv->pending_fd[slot] = -1;
	}
	srv->slot_gen[slot]++; /* verifications under way are void now */
	auth_users_forget_slot(&srv->users, slot);
	if (srv->sasl != NULL)
		sasl_server_forget_slot(srv->sasl, slot);
}

/* When the worker's socket is full the reply is kept and the slot is
 * not read again until it went out (backpressure, and the auth process
 * never blocks on one worker). */
void auth_slot_send_fd(struct auth_server *srv, uint32_t slot,
		       const struct auth_reply *reply, int fd)
{
	size_t len = AUTH_REPLY_HDR + reply->data_len;
	int ret;

	do {
		errno = 0;
		ret = fdpass_send_flags(srv->slot_fd[slot], reply, len, fd,
					MSG_DONTWAIT);
	} while (ret < 0 && errno == EINTR);
	if (ret == 0)
		return;
	if (errno == EAGAIN || errno == EWOULDBLOCK) {
		if (reply != &srv->pending_reply[slot])
			memcpy(&srv->pending_reply[slot], reply, len);
		if (fd >= 0 && fd != srv->pending_fd[slot]) {
			srv->pending_fd[slot] = dup(fd);
			if (srv->pending_fd[slot] < 0) {
				/* the worker answers [SYS/TEMP] */
				srv->pending_reply[slot].agent =
					AUTH_AGENT_FAILED;
			}
		}
		srv->pending[slot] = true;
		return;
	}
	log_warn("worker slot %u: send: %s; closing it", slot,
		 errno != 0 ? strerror(errno) : "short write");
	auth_slot_close(srv, slot);
}

void auth_slot_send(struct auth_server *srv, uint32_t slot,
		    const struct auth_reply *reply)
{
	if (reply != &srv->pending_reply[slot] &&
	    auth_agent_wanted(srv, slot, reply)) {
		struct auth_reply copy;

		memcpy(&copy, reply, AUTH_REPLY_HDR + reply->data_len);
		auth_agent_request(srv, slot, &copy);
		explicit_bzero(&copy, sizeof(copy));
		return;
	}
	auth_slot_send_fd(srv, slot, reply, -1);
}

void auth_slot_flush(struct auth_server *srv, uint32_t slot)
{
	int fd = srv->pending_fd[slot];

	srv->pending[slot] = false;
	srv->pending_fd[slot] = -1;
	auth_slot_send_fd(srv, slot, &srv->pending_reply[slot], fd);
	if (fd >= 0)
		close(fd);
}

bool auth_sasl_reply(struct auth_server *srv, uint32_t slot,
		     const char *client_addr, enum sasl_result res,
		     struct sasl_outcome *o, struct auth_reply *reply)
{
	char user_log[AUTH_LOG_USER_MAX], rip[AUTH_ADDR_MAX];
	char mech[AUTH_MECH_MAX];

	log_sanitize(o->user, strlen(o->user), user_log, sizeof(user_log));
	log_sanitize(client_addr, strlen(client_addr), rip, sizeof(rip));
	log_sanitize(o->mech, strlen(o->mech), mech, sizeof(mech));
	switch (res) {
	case SASL_RESULT_NONE:
		return false;
	case SASL_RESULT_DB_PENDING:
		/* the same message again once the lookup finished */
		srv->db_pending = true;
		return false;
	case SASL_RESULT_PENDING:
		if (o->pending.kind == SASL_PENDING_PASSWORD) {
			struct auth_verify_req vr = {
				.slot = slot, .id = reply->id,
				.user = o->pending.user,
				.password = o->pending.password,
				.mech = mech, .client_addr = client_addr,
				.refuse = o->pending.refuse,
			};

			auth_verify_password(srv, &vr);
		} else {
			auth_verify_scram_keys(srv, slot, reply->id,
					       client_addr, &o->pending);
		}
		/* the caller wipes o->pending */
		return false;
	case SASL_RESULT_CONTINUE:
		reply->result = AUTH_CONTINUE;
		reply->data_len = (uint32_t)o->out_len;
		return true;
	case SASL_RESULT_SUCCESS:
		auth_grant(srv, slot, o->entry, reply, user_log, rip);
		return true;
	case SASL_RESULT_FAILED:
		reply->result = AUTH_FAILED;
		log_info("auth failed: mech=%s user=%s rip=%s (%s)", mech,
			 user_log, rip, o->why);
		return true;
	case SASL_RESULT_TEMPFAIL:
		break;
	}
	reply->result = AUTH_TEMPFAIL;
	log_warn("auth tempfail: mech=%s user=%s rip=%s (%s)", mech,
		 user_log, rip, o->why);
	return true;
}

/* Handles one SASL message (sasl.h); false when no reply is due. */
static bool auth_handle_sasl(struct auth_server *srv, uint32_t slot,
			     struct auth_sasl_request *req,
			     struct auth_reply *reply)
{
	struct sasl_outcome o;
	enum sasl_result res;
	bool due;

	req->mech[sizeof(req->mech) - 1] = '\0';
	req->client_addr[sizeof(req->client_addr) - 1] = '\0';
	req->peer_cn[sizeof(req->peer_cn) - 1] = '\0';
	auth_reply_init(reply, req->id);
	if (srv->slot_kind[slot] == AUTH_SLOT_LMTP) {
		log_warn("worker slot %u: SASL refused on an LMTP worker's "
			 "socket", slot);
		reply->result = AUTH_PERMFAIL;
		return req->type != AUTH_REQ_SASL_ABORT;
	}
	if (srv->sasl == NULL) {
		reply->result = AUTH_TEMPFAIL;
		return req->type != AUTH_REQ_SASL_ABORT;
	}
	/* the same reload check as for PASS, at every step */
	if (req->type != AUTH_REQ_SASL_ABORT)
		auth_db_check(srv, false);
	memset(&o, 0, sizeof(o));
	o.out = reply->data;
	o.out_size = sizeof(reply->data);
	res = sasl_server_handle(srv->sasl, slot, req, srv->db, &o);
	/* the exchange's mechanism; a START that failed early: its own */
	if (o.mech == NULL || o.mech[0] == '\0')
		o.mech = req->mech;
	due = auth_sasl_reply(srv, slot, req->client_addr, res, &o, reply);
	explicit_bzero(&o.pending, sizeof(o.pending));
	return due;
}

/* AUTH_REQ_USERDB from an LMTP worker: the recipient's record, with no
 * secret, no session counted and no LOGIN-DELAY (delivery is not a
 * login), through the one lookup satchel deliver uses too. */
static void auth_handle_userdb(struct auth_server *srv, uint32_t slot,
			       const struct auth_request *req,
			       struct auth_reply *reply)
{
	char user_log[AUTH_LOG_USER_MAX];
	const char *error = "";
	enum auth_result res;

	/* the same reload check as a login: a user just added receives */
	auth_db_check(srv, false);
	if (auth_userdb_pending(srv->set, srv->db, req->user)) {
		srv->db_pending = true;  /* again when the answer is in */
		return;
	}
	res = auth_userdb_lookup(srv->set, srv->db, req->user, reply, &error);
	if (res == AUTH_OK)
		return;
	log_sanitize(req->user, strlen(req->user), user_log,
		     sizeof(user_log));
	/* the LMTP worker logs the recipient's result */
	if (res == AUTH_FAILED)
		log_debug("userdb: slot %u: no user %s", slot, user_log);
	else if (res == AUTH_TEMPFAIL)
		log_warn("userdb tempfail: user=%s (%s)", user_log, error);
	else
		log_error("bad user record: user=%s: %s", user_log, error);
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

	auth_reply_init(reply, req->id);
	/* an LMTP worker looks recipients up and checks an MTA's AUTH
	 * PLAIN (RFC 4954, after STARTTLS); everything else is POP3's */
	if (srv->slot_kind[slot] == AUTH_SLOT_LMTP ?
	    req->type != AUTH_REQ_USERDB && req->type != AUTH_REQ_PASS :
	    req->type == AUTH_REQ_USERDB) {
		log_warn("worker slot %u: request type %u refused on a%s "
			 "worker's socket", slot, req->type,
			 srv->slot_kind[slot] == AUTH_SLOT_LMTP ? "n LMTP" :
			 " POP3");
		reply->result = AUTH_PERMFAIL;
		/* LOGOUT and LOGIN_DONE have no reply */
		return req->type != AUTH_REQ_LOGOUT &&
		       req->type != AUTH_REQ_LOGIN_DONE;
	}
	switch (req->type) {
	case AUTH_REQ_PASS:
	case AUTH_REQ_APOP:
		return auth_login(srv, slot, req, reply);
	case AUTH_REQ_LOGOUT:
		auth_logout(srv, slot, req);
		return false;
	case AUTH_REQ_LOGIN_DONE:
		auth_login_done(srv, slot, req);
		return false;
	case AUTH_REQ_USERDB:
		auth_handle_userdb(srv, slot, req, reply);
		return true;
	default:
		log_warn("worker slot %u: unknown request type %u", slot,
			 req->type);
		reply->result = AUTH_PERMFAIL;
		return true;
	}
}

/* The size of the receive buffer: the largest request, plus one octet so
 * that a longer message shows (MSG_TRUNC reports its real length). */
#define AUTH_RX_SIZE (sizeof(struct auth_sasl_request) + 1)

size_t auth_rx_size(void)
{
	return AUTH_RX_SIZE;
}

void auth_slot_dispatch(struct auth_server *srv, uint32_t slot, void *msg,
			size_t n)
{
	struct auth_reply reply;
	enum auth_msg kind;
	unsigned char *copy = NULL;
	bool due = false;

	kind = auth_proto_check_request(msg, n);
	if (kind != AUTH_MSG_SASL && kind != AUTH_MSG_REQUEST) {
		log_warn("worker slot %u: dropped a malformed %zu-octet "
			 "message", slot, n);
		return;
	}
	/* the handlers NUL-terminate fields in place: a request parked
	 * for a lookup is kept as it came */
	copy = malloc(n);
	if (copy != NULL)
		memcpy(copy, msg, n);
	srv->db_pending = false;
	if (kind == AUTH_MSG_SASL)
		due = auth_handle_sasl(srv, slot, msg, &reply);
	else
		due = auth_handle(srv, slot, msg, &reply);
	if (srv->db_pending) {
		/* nothing was done: handled again when the lookup is in */
		srv->db_pending = false;
		due = false;
		if (copy == NULL || !auth_park_message(srv, slot, copy, n)) {
			log_warn("worker slot %u: too many requests wait for "
				 "the user database", slot);
			auth_reply_init(&reply, ((struct auth_request *)msg)->id);
			reply.result = AUTH_TEMPFAIL;
			due = true;
		}
	}
	if (due)
		auth_slot_send(srv, slot, &reply);
	if (copy != NULL) {
		explicit_bzero(copy, n);
		free(copy);
	}
	explicit_bzero(&reply, sizeof(reply));
}

void auth_slot_read(struct auth_server *srv, uint32_t slot)
{
	unsigned i;

	for (i = 0; i < AUTH_BATCH_MAX; i++) {
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
		auth_slot_dispatch(srv, slot, srv->rx, (size_t)n);
		/* client data and passwords: never left behind */
		explicit_bzero(srv->rx, (size_t)n < AUTH_RX_SIZE ?
			       (size_t)n : AUTH_RX_SIZE);
	}
}
