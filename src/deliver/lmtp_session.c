/* lmtp_session.c: the life of one LMTP connection (see lmtp_session.h):
 * greeting, input in command, DATA and BDAT modes, replies, timeouts and
 * the end. Commands live in lmtp_cmd.c, the delivery in lmtp_txn.c. */
#include "deliver/lmtp_session.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "deliver/lmtp_limits.h"
#include "deliver/lmtp_server.h"
#include "deliver/lmtp_txn.h"
#include "net/ioloop.h"
#include "util/log.h"

static void session_io(void *context, unsigned ready);
static void session_settle(struct lmtp_session *s);
static void session_begin_tls(struct lmtp_session *s);

void lmtp_session_reply(struct lmtp_session *s, const char *fmt, ...)
{
	char line[LMTP_LINE_MAX];
	va_list args;
	int n;

	va_start(args, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, args);
	va_end(args);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 3)
		n = sizeof(line) - 3;
	line[n++] = '\r';
	line[n++] = '\n';
	if (outbuf_append(&s->out, line, (size_t)n) < 0) {
		/* a lost reply would put every later one out of step */
		log_error("out of memory for client %s", s->addr);
		s->closing = true;
		s->end_reason = "out of memory";
	}
}

/* --- timers --- */

static void session_timeout(void *context)
{
	struct lmtp_session *s = context;
	uint64_t now = ioloop_now_ms(s->srv->loop);

	s->timer = NULL;
	if (s->conn.state == CONN_HANDSHAKE) {
		log_info("TLS handshake timed out: rip=%s", s->addr);
		s->end_reason = "TLS handshake timeout";
		lmtp_session_destroy(&s);
		return;
	}
	if (s->closing) {
		/* the last reply could not be written within the grace */
		lmtp_session_destroy(&s);
		return;
	}
	if (!s->waiting &&
	    now - s->last_activity_ms >= LMTP_IDLE_TIMEOUT_MS) {
		/* RFC 5321 4.5.3.2.7 / 3.8: 421 before closing */
		lmtp_session_close_with(s, "421 4.4.2 Idle for too long, "
					"closing connection", "timeout");
		return;
	}
	s->timer = timer_add(s->srv->loop, LMTP_IDLE_TIMEOUT_MS,
			     session_timeout, s);
}

/* --- output --- */

static void session_update_events(struct lmtp_session *s)
{
	bool want_read = !s->peer_closed && !s->closing &&
			 !s->stls_pending && s->in_len < LMTP_INPUT_BUF;
	unsigned events = conn_wanted(&s->conn, want_read,
				      outbuf_pending(&s->out) > 0);

	if (s->peer_closed && events == 0) {
		/* a closed pipe or socket reports HUP for as long as it is
		 * watched: unwatched while the delivery runs */
		io_remove(&s->io);
		return;
	}
	if (s->io == NULL) {
		s->io = io_add(s->srv->loop, s->fd, events, false, session_io,
			       s);
		if (s->io == NULL) {
			log_error("epoll: %s", strerror(errno));
			s->closing = true;
		}
		return;
	}
	if (io_set_events(s->io, events) < 0) {
		log_error("epoll: %s", strerror(errno));
		s->closing = true;
	}
}

/* Writes what the socket takes. -1 when the peer is gone. */
static int session_flush(struct lmtp_session *s)
{
	while (outbuf_pending(&s->out) > 0) {
		ssize_t n = conn_write(&s->conn, outbuf_head(&s->out),
				       outbuf_pending(&s->out));

		if (n == CONN_AGAIN)
			return 0;
		if (n < 0) {
			if (s->end_reason == NULL)
				s->end_reason = "write error";
			return -1;
		}
		outbuf_consume(&s->out, (size_t)n);
	}
	return 0;
}

/* --- input --- */

static void session_consume(struct lmtp_session *s, size_t n)
{
	s->in_start += n;
	s->in_len -= n;
	if (s->in_len == 0)
		s->in_start = 0;
}

/* Counts n more octets of the message against the size limit. */
static void session_count(struct lmtp_session *s, size_t n)
{
	const struct config *cfg = s->srv->cfg;

	s->data_size += n;
	if (s->data_error == NULL && cfg->lmtp_max_message_size != 0 &&
	    s->data_size > cfg->lmtp_max_message_size) {
		/* RFC 1870 6.2: too big for the fixed limit; the rest is
		 * read and thrown away */
		s->data_error = "552 5.3.4 Message size exceeds fixed "
				"maximum message size";
		s->wlen = 0;
	}
}

/* DATA: unstuffs the buffered bytes into the chunk buffer (written to
 * the spool by jobs); at the end of data, back to command mode with
 * whatever follows. */
static void session_take_data(struct lmtp_session *s)
{
	size_t room = lmtp_spool_room(s), take, out_len, used;

	/* the unstuffer may give one octet more than it takes */
	take = s->in_len < room - 1 ? s->in_len : room - 1;
	used = lmtp_dot_feed(&s->dot, s->in + s->in_start, take,
			     s->wbuf + s->wlen, &out_len);
	session_consume(s, used);
	if (s->data_error == NULL)
		s->wlen += out_len;
	session_count(s, out_len);
	if (lmtp_dot_done(&s->dot)) {
		s->input = LMTP_INPUT_COMMAND;
		lmtp_session_data_end(s);
		return;
	}
	lmtp_spool_flush(s, false);
}

/* BDAT: exactly the chunk's octets (RFC 3030 2.: no dot-stuffing, no
 * end marker), then the chunk's reply. */
static void session_take_chunk(struct lmtp_session *s)
{
	size_t n = s->in_len < s->chunk_left ? s->in_len :
		   (size_t)s->chunk_left;

	if (s->chunk_reply == NULL && s->wbuf != NULL) {
		size_t room = lmtp_spool_room(s);

		if (n > room)
			n = room;
		if (s->data_error == NULL) {
			memcpy(s->wbuf + s->wlen, s->in + s->in_start, n);
			s->wlen += n;
		}
		session_count(s, n);
	}
	session_consume(s, n);
	s->chunk_left -= n;
	if (s->chunk_left > 0) {
		if (s->chunk_reply == NULL && s->wbuf != NULL)
			lmtp_spool_flush(s, false);
		return;
	}
	s->input = LMTP_INPUT_COMMAND;
	if (s->chunk_reply != NULL) {
		/* a refused BDAT is read all the same, then answered */
		lmtp_session_reply(s, "%s", s->chunk_reply);
		s->chunk_reply = NULL;
		s->bad_lines++;
	} else if (!s->chunk_last) {
		lmtp_session_reply(s, "250 2.0.0 %llu octets received",
				   (unsigned long long)s->data_size);
		lmtp_spool_flush(s, false);
	} else {
		lmtp_session_data_end(s);
	}
}

static void session_handle_line(struct lmtp_session *s, char *line,
				size_t len)
{
	enum lmtp_cmd_outcome outcome;

	if (memchr(line, '\0', len) != NULL) {
		s->auth_continue = false;
		lmtp_session_reply(s, "500 5.5.2 Invalid character in "
				   "command");
		outcome = LMTP_CMD_BAD;
	} else if (s->auth_continue) {
		/* RFC 4954 4.: the line after 334 is the response */
		outcome = lmtp_auth_response(s, line);
	} else {
		outcome = lmtp_cmd_dispatch(s, line);
	}
	/* an AUTH line holds a password: not left in the buffer */
	explicit_bzero(line, len);
	switch (outcome) {
	case LMTP_CMD_DONE:
	case LMTP_CMD_WAIT:
		break;
	case LMTP_CMD_BAD:
		s->bad_lines++;
		break;
	case LMTP_CMD_CLOSE:
		s->closing = true;
		break;
	}
}

/* The longest line allowed at data: RFC 4954 4. lets AUTH and its
 * response be longer than other commands (remote sessions only). */
static size_t session_line_max(const struct lmtp_session *s,
			       const char *data, size_t len)
{
	if (!s->remote)
		return LMTP_LINE_MAX;
	if (s->auth_continue ||
	    (len >= 5 && strncasecmp(data, "AUTH ", 5) == 0))
		return LMTP_AUTH_LINE_MAX;
	return LMTP_LINE_MAX;
}

/* Says that a line was too long; a response to 334 ends the AUTH. */
static void session_line_too_long(struct lmtp_session *s)
{
	if (s->auth_continue) {
		s->auth_continue = false;
		lmtp_session_reply(s, "500 5.5.6 Authentication Exchange "
				   "line is too long");
	} else {
		lmtp_session_reply(s, "500 5.5.2 Line too long");
	}
	s->bad_lines++;
}

/* One command line from the buffer. false when none is complete. */
static bool session_take_line(struct lmtp_session *s)
{
	char *data = s->in + s->in_start;
	char *lf = memchr(data, '\n', s->in_len);
	size_t line_len, max = session_line_max(s, data, s->in_len);

	if (lf == NULL) {
		if (s->discarding) {
			session_consume(s, s->in_len);
			return false;
		}
		if (s->in_len >= max) {
			/* RFC 5321 4.5.3.1.4: never act on half a line */
			s->discarding = true;
			explicit_bzero(data, s->in_len);
			session_consume(s, s->in_len);
			session_line_too_long(s);
			return true;
		}
		return false;
	}
	line_len = (size_t)(lf - data) + 1;
	session_consume(s, line_len);
	if (s->discarding) {
		s->discarding = false;
		return true;
	}
	/* a bare LF counts as CRLF, so the limit is the same for both */
	if (line_len + (line_len >= 2 && lf[-1] == '\r' ? 0 : 1) > max) {
		explicit_bzero(data, line_len);
		session_line_too_long(s);
		return true;
	}
	line_len--;
	if (line_len > 0 && data[line_len - 1] == '\r')
		line_len--;
	data[line_len] = '\0';
	s->last_activity_ms = ioloop_now_ms(s->srv->loop);
	session_handle_line(s, data, line_len);
	return true;
}

static void session_process(struct lmtp_session *s)
{
	while (!s->waiting && !s->closing && !s->stls_pending) {
		if (s->input == LMTP_INPUT_DATA) {
			if (s->in_len == 0)
				break;
			session_take_data(s);
			continue;
		}
		if (s->input == LMTP_INPUT_CHUNK) {
			if (s->in_len == 0 && s->chunk_left > 0)
				break;
			session_take_chunk(s);
			continue;
		}
		if (outbuf_pending(&s->out) >= LMTP_OUTPUT_HIGH_WATER ||
		    s->in_len == 0 || !session_take_line(s))
			break;
		if (s->bad_lines >= LMTP_BAD_LINES_MAX && !s->closing) {
			lmtp_session_reply(s, "421 4.7.0 Too many errors, "
					   "closing connection");
			s->closing = true;
			s->end_reason = "too many bad commands";
		}
	}
}

static void session_read(struct lmtp_session *s)
{
	while (!s->closing && !s->peer_closed && !s->stls_pending) {
		ssize_t n;

		if (s->in_start > 0) {
			memmove(s->in, s->in + s->in_start, s->in_len);
			s->in_start = 0;
		}
		if (s->in_len == LMTP_INPUT_BUF)
			return;
		n = conn_read(&s->conn, s->in + s->in_len,
			      LMTP_INPUT_BUF - s->in_len);
		if (n == CONN_AGAIN)
			return;
		if (n == CONN_ERROR || n == CONN_EOF) {
			s->peer_closed = true;
			s->io_failed = n == CONN_ERROR;
			if (s->end_reason == NULL)
				s->end_reason = n == CONN_EOF ?
					"disconnected" : "read error";
			return;
		}
		s->in_len += (size_t)n;
		s->last_activity_ms = ioloop_now_ms(s->srv->loop);
		session_process(s);
	}
}

/* After every event: flush, then close or wait. May destroy s. */
static void session_settle(struct lmtp_session *s)
{
	if (session_flush(s) < 0 || s->io_failed) {
		lmtp_session_destroy(&s);
		return;
	}
	if (s->closing && !s->close_timer_armed) {
		timer_remove(&s->timer);
		s->timer = timer_add(s->srv->loop, LMTP_CLOSE_GRACE_MS,
				     session_timeout, s);
		s->close_timer_armed = true;
	}
	/* writing made room: pipelined commands held back by the output */
	while (!s->closing && !s->waiting && outbuf_pending(&s->out) == 0 &&
	       s->in_len > 0) {
		size_t before = s->in_len;

		session_process(s);
		if (session_flush(s) < 0) {
			lmtp_session_destroy(&s);
			return;
		}
		if (s->in_len == before)
			break; /* only a partial line is buffered */
	}
	if (outbuf_pending(&s->out) == 0) {
		/* a peer that left mid-DATA or mid-command is done; one
		 * that half-closed after its commands gets every reply */
		if (s->closing || (s->peer_closed && !s->waiting)) {
			lmtp_session_destroy(&s);
			return;
		}
		outbuf_release_if_empty(&s->out);
		if (s->stls_pending) {
			/* the 220 went out in clear: now the handshake */
			session_begin_tls(s);
			return;
		}
	}
	/* TLS may hold decrypted input that epoll cannot report */
	if (conn_has_buffered(&s->conn) && !s->closing && !s->peer_closed &&
	    !s->waiting && s->in_len < LMTP_INPUT_BUF) {
		session_read(s);
		session_settle(s);
		return;
	}
	session_update_events(s);
}

/* Runs the TLS handshake after STARTTLS. true once it is done; false
 * while it waits or after it failed (then s is destroyed). */
static bool session_handshake(struct lmtp_session **sp)
{
	struct lmtp_session *s = *sp;
	int ret = conn_handshake(&s->conn);

	if (ret == 0) {
		session_update_events(s);
		return false;
	}
	if (ret < 0) {
		log_info("TLS handshake failed: rip=%s: %s", s->addr,
			 s->conn.error);
		s->end_reason = "TLS handshake failed";
		lmtp_session_destroy(sp);
		return false;
	}
	lmtp_auth_tls_done(s);
	s->last_activity_ms = ioloop_now_ms(s->srv->loop);
	timer_remove(&s->timer);
	s->timer = timer_add(s->srv->loop, LMTP_IDLE_TIMEOUT_MS,
			     session_timeout, s);
	return true;
}

static void session_begin_tls(struct lmtp_session *s)
{
	const struct config *cfg = s->srv->cfg;

	s->stls_pending = false;
	/* RFC 3207 6. / CVE-2011-0411: what arrived in clear after
	 * STARTTLS is never taken for a command sent under TLS */
	explicit_bzero(s->in, s->in_start + s->in_len);
	s->in_start = s->in_len = 0;
	s->discarding = false;
	if (conn_start_tls(&s->conn, s->srv->tls) < 0) {
		log_error("rip=%s: %s", s->addr, s->conn.error);
		s->end_reason = "TLS setup failed";
		lmtp_session_destroy(&s);
		return;
	}
	/* the handshake has its own, shorter limit */
	timer_remove(&s->timer);
	s->timer = timer_add(s->srv->loop,
			     1000ull * cfg->tls.handshake_timeout,
			     session_timeout, s);
	if (session_handshake(&s))
		session_settle(s);
}

static void session_io(void *context, unsigned ready)
{
	struct lmtp_session *s = context;

	if (s->conn.state == CONN_HANDSHAKE && !session_handshake(&s))
		return;
	/* a TLS read may wait for the socket to become writable */
	if ((ready & (IO_READ | s->conn.read_wants)) && !s->peer_closed &&
	    !s->closing)
		session_read(s);
	session_settle(s);
}

static void session_rcpt_timeout(void *context)
{
	struct lmtp_session *s = context;
	char address[LMTP_PATH_MAX];

	s->rcpt_timer = NULL;
	if (s->lookup_pending) {
		s->lookup_pending = false;
		s->srv->ops->lookup_cancel(s->srv, s);
	}
	lmtp_quota_detach(s);
	log_warn("recipient %s: lookup or quota check took longer than "
		 "%u s", log_sanitize(s->pending.address,
				      strlen(s->pending.address), address,
				      sizeof(address)),
		 s->srv->cfg->lmtp_recipient_timeout);
	/* issue 8, 6.: a bounded time per recipient, 451 4.2.0 for it */
	lmtp_session_reply(s, "451 4.2.0 <%s>: recipient lookup took too "
			   "long, try again later", s->pending.address);
	lmtp_session_resume(s);
}

void lmtp_session_rcpt_timer(struct lmtp_session *s)
{
	timer_remove(&s->rcpt_timer);
	s->rcpt_timer = timer_add(s->srv->loop,
				  1000ull * s->srv->cfg->lmtp_recipient_timeout,
				  session_rcpt_timeout, s);
}

void lmtp_session_resume(struct lmtp_session *s)
{
	/* every wait ends here: an RCPT's time limit with it */
	timer_remove(&s->rcpt_timer);
	s->waiting = false;
	session_process(s);
	session_settle(s);
}

void lmtp_session_flush_replies(struct lmtp_session *s)
{
	session_settle(s);
}

void lmtp_session_close_with(struct lmtp_session *s, const char *reply,
			     const char *reason)
{
	lmtp_session_reply(s, "%s", reply);
	s->closing = true;
	s->end_reason = reason;
	session_settle(s);
}

/* --- the transaction --- */

void lmtp_session_reset(struct lmtp_session *s)
{
	lmtp_spool_end(s);
	s->nrcpts = 0;
	s->data_size = 0;
	s->data_error = NULL;
	memset(&s->mail, 0, sizeof(s->mail));
	if (s->state != LMTP_STATE_INIT)
		s->state = LMTP_STATE_READY;
}

void lmtp_session_data_end(struct lmtp_session *s)
{
	if (s->data_error != NULL) {
		/* RFC 2033 4.2: one reply per accepted recipient */
		for (unsigned i = 0; i < s->nrcpts; i++)
			lmtp_session_reply(s, "%s", s->data_error);
		log_info("message from %s refused: %s", s->addr,
			 s->data_error);
		lmtp_session_reset(s);
		return;
	}
	if (lmtp_txn_start(s) < 0) {
		for (unsigned i = 0; i < s->nrcpts; i++)
			lmtp_session_reply(s, "451 4.3.0 Out of memory");
		lmtp_session_reset(s);
		return;
	}
	s->messages++;
}

void lmtp_session_txn_done(struct lmtp_session *s)
{
	s->txn = NULL;
	lmtp_session_reset(s);
	lmtp_session_resume(s);
}

void lmtp_session_lookup_done(struct lmtp_session *s,
			      const struct auth_reply *reply)
{
	const struct config *cfg = s->srv->cfg;
	struct lmtp_rcpt *r = &s->pending;

	s->lookup_pending = false;
	switch (reply->result) {
	case AUTH_OK:
		snprintf(r->user, sizeof(r->user), "%s", reply->user);
		snprintf(r->path, sizeof(r->path), "%s", reply->mail_path);
		r->kind = reply->mail_kind == MAILDROP_MBOX ? MAILDROP_MBOX :
			  MAILDROP_MAILDIR;
		r->quota_bytes = reply->quota_bytes >= 0 ?
			(uint64_t)reply->quota_bytes : cfg->quota_bytes;
		r->quota_messages = reply->quota_messages >= 0 ?
			(uint64_t)reply->quota_messages : cfg->quota_messages;
		if (r->kind == MAILDROP_MAILDIR &&
		    (r->quota_bytes != 0 || r->quota_messages != 0)) {
			if (lmtp_quota_check(s) == 0)
				return; /* the job replies */
			lmtp_session_reply(s, "451 4.3.0 Out of memory");
			break;
		}
		lmtp_cmd_rcpt_accept(s);
		break;
	case AUTH_FAILED:
		lmtp_session_reply(s, "550 5.1.1 <%s>: no such user here",
				   r->address);
		break;
	default:
		/* issue 8: a database that is down and a bad user record
		 * (an admin's mistake) are temporary: no mail bounces */
		lmtp_session_reply(s, "451 4.3.0 <%s>: temporary user lookup "
				   "failure", r->address);
		break;
	}
	lmtp_session_resume(s);
}

/* --- creation and end --- */

struct lmtp_session *lmtp_session_create(struct lmtp_server *srv, int fd,
					 const char *addr)
{
	struct lmtp_session *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->in = malloc(LMTP_INPUT_BUF);
	if (s->in == NULL)
		goto out_free;
	s->srv = srv;
	s->fd = fd;
	s->serial = srv->next_serial++;
	snprintf(s->addr, sizeof(s->addr), "%s", addr);
	s->state = LMTP_STATE_INIT;
	s->last_activity_ms = ioloop_now_ms(srv->loop);
	conn_init(&s->conn, fd);
	s->io = io_add(srv->loop, fd, IO_READ, false, session_io, s);
	if (s->io == NULL)
		goto out_free;
	srv->nsessions++;
	return s;
out_free:
	free(s->in);
	free(s);
	return NULL;
}

void lmtp_session_start(struct lmtp_session *s)
{
	s->timer = timer_add(s->srv->loop, LMTP_IDLE_TIMEOUT_MS,
			     session_timeout, s);
	/* RFC 2033 4.: the greeting says LMTP */
	lmtp_session_reply(s, "220 %s LMTP satchel ready", s->srv->hostname);
	session_settle(s);
}

void lmtp_session_destroy(struct lmtp_session **sp)
{
	struct lmtp_session *s = *sp;
	struct lmtp_server *srv;
	char user[AUTH_USER_MAX];

	if (s == NULL)
		return;
	*sp = NULL;
	srv = s->srv;
	if (s->input != LMTP_INPUT_COMMAND || s->spool != NULL)
		/* issue 8: a connection closed mid-DATA delivers nothing;
		 * the spool is discarded below */
		log_info("connection from %s closed during the data: "
			 "nothing delivered", s->addr);
	log_debug("disconnect: rip=%s%s%s%s messages=%u end=%s", s->addr,
		  s->remote && conn_is_tls(&s->conn) ? " tls" : "",
		  s->auth_user[0] != '\0' ? " user=" : "",
		  s->auth_user[0] != '\0' ? log_sanitize(s->auth_user,
			strlen(s->auth_user), user, sizeof(user)) : "",
		  s->messages, s->end_reason != NULL ? s->end_reason :
		  "closed");
	srv->ops->session_gone(srv, s);
	lmtp_quota_detach(s);
	if (s->txn != NULL)
		lmtp_txn_detach(s->txn);
	lmtp_spool_end(s);
	timer_remove(&s->rcpt_timer);
	timer_remove(&s->timer);
	io_remove(&s->io);
	conn_deinit(&s->conn);
	close(s->fd);
	outbuf_free(&s->out);
	free(s->rcpts);
	free(s->in);
	free(s);
	srv->nsessions--;
	lmtp_server_check_idle(srv);
}
