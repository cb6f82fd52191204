/* lmtp_auth.c: STARTTLS (RFC 3207) and AUTH PLAIN (RFC 4954, RFC 4616)
 * on remote LMTP sessions, and the rule that such a session
 * authenticates before MAIL (issue 8, 6.: "STARTTLS and AUTH only on
 * non-loopback TCP"; see lmtp_session.h). The password goes to the host
 * (in a worker: the auth process, the one verification path); this file
 * only decides what is offered and allowed when, and says so. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "deliver/lmtp_server.h"
#include "deliver/lmtp_session.h"
#include "net/conn.h"
#include "util/log.h"

static const char reply_invalid[] =
	"535 5.7.8 Authentication credentials invalid";

static bool tls_offered(const struct lmtp_session *s)
{
	return s->remote && s->srv->tls != NULL && !conn_is_tls(&s->conn);
}

static bool auth_offered(const struct lmtp_session *s)
{
	return s->remote && conn_is_tls(&s->conn) &&
	       s->srv->ops->authenticate != NULL;
}

void lmtp_auth_lhlo(struct lmtp_session *s)
{
	/* RFC 3207 4.2: STARTTLS is not listed once TLS is on */
	if (tls_offered(s))
		lmtp_session_reply(s, "250-STARTTLS");
	/* RFC 4954 4.: a mechanism that sends the password in clear is
	 * offered only under TLS */
	if (auth_offered(s))
		lmtp_session_reply(s, "250-AUTH PLAIN");
}

bool lmtp_auth_required(const struct lmtp_session *s)
{
	return s->remote && s->auth_user[0] == '\0' &&
	       !s->srv->cfg->lmtp_allow_insecure_remote;
}

enum lmtp_cmd_outcome lmtp_auth_cmd_starttls(struct lmtp_session *s,
					     struct lmtp_args *args)
{
	if (conn_is_tls(&s->conn)) {
		lmtp_session_reply(s, "503 5.5.1 TLS already active");
		return LMTP_CMD_BAD;
	}
	if (!tls_offered(s)) {
		/* RFC 3207 4.: no certificate configured */
		lmtp_session_reply(s, "454 4.7.0 TLS not available");
		return LMTP_CMD_DONE;
	}
	/* the handshake starts once this reply is written; nothing the
	 * client sent after the command is kept (lmtp_session.c) */
	lmtp_session_reply(s, "220 2.0.0 Ready to start TLS");
	s->stls_pending = true;
	return LMTP_CMD_DONE;
}

/* A failed AUTH: the reply, and the connection closed after a few. */
static enum lmtp_cmd_outcome auth_fail(struct lmtp_session *s,
				       const char *reply)
{
	lmtp_session_reply(s, "%s", reply);
	if (++s->auth_failures < LMTP_AUTH_FAILURES_MAX)
		return LMTP_CMD_BAD;
	lmtp_session_reply(s, "421 4.7.0 Too many authentication failures, "
			   "closing connection");
	s->end_reason = "too many failed AUTH";
	return LMTP_CMD_CLOSE;
}

/* Decodes a PLAIN response and hands it to the host. */
static enum lmtp_cmd_outcome auth_start(struct lmtp_session *s,
					const char *b64)
{
	struct lmtp_auth_plain plain;
	const char *reply;
	int ret;

	if (lmtp_parse_auth_plain(b64, &plain, &reply) < 0)
		return auth_fail(s, reply);
	/* RFC 4616 2.: there is no proxy authorization here, so an
	 * authzid can only name the user itself */
	if (plain.authzid[0] != '\0' &&
	    strcmp(plain.authzid, plain.user) != 0) {
		explicit_bzero(&plain, sizeof(plain));
		return auth_fail(s, reply_invalid);
	}
	ret = s->srv->ops->authenticate(s->srv, s, plain.user,
					plain.password);
	explicit_bzero(&plain, sizeof(plain));
	if (ret < 0) {
		lmtp_session_reply(s, "454 4.7.0 Temporary authentication "
				   "failure");
		return LMTP_CMD_DONE;
	}
	s->auth_pending = true;
	s->waiting = true;
	return LMTP_CMD_WAIT;
}

enum lmtp_cmd_outcome lmtp_auth_cmd_auth(struct lmtp_session *s,
					 struct lmtp_args *args)
{
	char mech[16];
	size_t len;

	if (!auth_offered(s)) {
		/* RFC 4954 6.: PLAIN is allowed only under TLS */
		lmtp_session_reply(s, "538 5.7.11 Encryption required for "
				   "requested authentication mechanism");
		return LMTP_CMD_BAD;
	}
	if (s->auth_user[0] != '\0') {
		/* RFC 4954 4.: one successful AUTH per session */
		lmtp_session_reply(s, "503 5.5.1 Already authenticated");
		return LMTP_CMD_BAD;
	}
	len = strcspn(args->argv[0], " ");
	mech[0] = '\0';
	if (len < sizeof(mech)) {
		memcpy(mech, args->argv[0], len);
		mech[len] = '\0';
	}
	if (strcasecmp(mech, "PLAIN") != 0) {
		lmtp_session_reply(s, "504 5.5.4 Unrecognized authentication "
				   "type");
		return LMTP_CMD_BAD;
	}
	if (args->argc == 1) {
		/* RFC 4954 4.: an empty challenge asks for the response */
		lmtp_session_reply(s, "334 ");
		s->auth_continue = true;
		return LMTP_CMD_DONE;
	}
	/* the initial response is the last token (spaces may follow) */
	args->argv[1][strcspn(args->argv[1], " ")] = '\0';
	return auth_start(s, args->argv[1]);
}

enum lmtp_cmd_outcome lmtp_auth_response(struct lmtp_session *s,
					 const char *line)
{
	s->auth_continue = false;
	if (strcmp(line, "*") == 0) {
		/* RFC 4954 4.: the client cancels with a 501 */
		lmtp_session_reply(s, "501 5.0.0 Authentication cancelled");
		return LMTP_CMD_BAD;
	}
	return auth_start(s, line);
}

/* True when user is one of lmtp_auth_users (comma- or space-separated),
 * or the list is empty. */
static bool auth_user_listed(const char *list, const char *user)
{
	size_t ulen = strlen(user);

	if (list[0] == '\0')
		return true;
	while (*list != '\0') {
		size_t len;

		list += strspn(list, ", ");
		len = strcspn(list, ", ");
		if (len > 0 && len == ulen && strncmp(list, user, len) == 0)
			return true;
		list += len;
	}
	return false;
}

void lmtp_session_auth_done(struct lmtp_session *s,
			    const struct auth_reply *reply)
{
	char user[AUTH_USER_MAX];

	s->auth_pending = false;
	log_sanitize(reply->user, strlen(reply->user), user, sizeof(user));
	if (reply->result == AUTH_OK &&
	    !auth_user_listed(s->srv->cfg->lmtp_auth_users, reply->user)) {
		/* the same reply as a wrong password: the list is policy
		 * the client need not learn */
		log_info("lmtp auth refused: user=%s rip=%s: not in "
			 "lmtp_auth_users", user, s->addr);
		if (auth_fail(s, reply_invalid) == LMTP_CMD_CLOSE)
			s->closing = true;
	} else if (reply->result == AUTH_OK) {
		snprintf(s->auth_user, sizeof(s->auth_user), "%s",
			 reply->user);
		lmtp_session_reply(s, "235 2.7.0 Authentication successful");
	} else if (reply->result == AUTH_FAILED) {
		/* the auth process logged it (the line fail2ban reads) */
		if (auth_fail(s, reply_invalid) == LMTP_CMD_CLOSE)
			s->closing = true;
	} else {
		/* RFC 4954 6.: a database that is down is temporary */
		lmtp_session_reply(s, "454 4.7.0 Temporary authentication "
				   "failure");
	}
	lmtp_session_resume(s);
}

void lmtp_auth_tls_done(struct lmtp_session *s)
{
	/* RFC 3207 4.2: back to the state after the greeting; nothing the
	 * client said before the handshake is kept (its LHLO included) */
	lmtp_session_reset(s);
	s->state = LMTP_STATE_INIT;
	s->auth_continue = false;
	s->auth_user[0] = '\0';
}
