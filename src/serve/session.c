/* session.c: the life of one POP3 connection: greeting, reading lines,
 * dispatching them in order (PIPELINING), writing replies in large writes,
 * timeouts, TLS, and the end of the session. Commands live in commands.c,
 * long replies in session_long.c, the login flow in session_login.c and
 * the store jobs in session_store.c. */
#include "serve/session.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "net/ioloop.h"
#include "serve/cmd_auth.h"
#include "serve/cmd_xtnd.h"
#include "serve/commands.h"
#include "serve/limits.h"
#include "serve/metrics.h"
#include "serve/session_proxy.h"
#include "serve/worker.h"
#include "store/utf8wrap.h"
#include "serve/session_kpop.h"
#include "store/node.h"
#include "util/log.h"

static void session_io(void *context, unsigned ready);
static void session_process(struct session *s);
static void session_begin_handshake(struct session *s);
static void make_timestamp(struct session *s);

static const struct config *cfg_of(const struct session *s)
{
	return s->worker->cfg;
}

bool session_plaintext_allowed(const struct session *s)
{
	switch (cfg_of(s)->auth.plaintext_auth) {
	case PLAINTEXT_ALWAYS:
		return true;
	case PLAINTEXT_TLS_OR_LOOPBACK:
		return s->secured || s->loopback;
	case PLAINTEXT_NEVER:
		return false;
	}
	return false;
}

uint64_t session_msg_size(const struct session *s, unsigned idx)
{
	uint64_t size = maildrop_msg(s->drop, idx)->size;

	if (s->wrap_size != NULL && s->wrap_size[idx] > 0)
		return s->wrap_size[idx];
	return s->no_eoh != NULL && s->no_eoh[idx] ? size + 2 : size;
}

int session_keep_secret(struct session *s, const char *secret, size_t len)
{
	session_wipe_secret(s);
	if (len >= AUTH_SECRET_MAX)
		return -1;
	s->proxy_secret = malloc(AUTH_SECRET_MAX);
	if (s->proxy_secret == NULL)
		return -1;
	memcpy(s->proxy_secret, secret, len);
	s->proxy_secret[len] = '\0';
	return 0;
}

void session_wipe_secret(struct session *s)
{
	if (s->proxy_secret == NULL)
		return;
	explicit_bzero(s->proxy_secret, AUTH_SECRET_MAX);
	free(s->proxy_secret);
	s->proxy_secret = NULL;
}

/* An allocation failure here loses the reply; the session is closed
 * rather than left answering out of step. */
void session_out_of_memory(struct session *s)
{
	log_error("out of memory for client %s", s->addr);
	s->closing = true;
	s->end_reason = "out of memory";
}

static void session_vreply(struct session *s, bool stuff, const char *fmt,
			   va_list args)
{
	char line[512];
	int n = vsnprintf(line, sizeof(line) - 2, fmt, args);

	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 3)
		n = sizeof(line) - 3;
	line[n++] = '\r';
	line[n++] = '\n';
	/* RFC 1939 3.: lines of a multi-line reply that begin with '.' are
	 * byte-stuffed; the terminating "." line itself is written as is. */
	if (stuff && line[0] == '.' && n > 3 &&
	    outbuf_append(&s->out, ".", 1) < 0) {
		session_out_of_memory(s);
		return;
	}
	if (outbuf_append(&s->out, line, (size_t)n) < 0)
		session_out_of_memory(s);
}

void session_reply(struct session *s, const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	session_vreply(s, false, fmt, args);
	va_end(args);
}

void session_reply_line(struct session *s, const char *fmt, ...)
{
	va_list args;

	va_start(args, fmt);
	session_vreply(s, true, fmt, args);
	va_end(args);
}

/* --- timers --- */

static void session_timeout(void *context);

/* When the running limit started: the pre-auth and handshake limits run
 * from connect (chatter must not keep an unauthenticated connection open
 * for ever); autologout runs from the last activity. */
static uint64_t session_since_ms(const struct session *s)
{
	if (s->conn.state == CONN_HANDSHAKE)
		return s->handshake_started_ms;
	if (s->state == STATE_AUTHORIZATION)
		return s->started_ms;
	return s->last_activity_ms;
}

static uint64_t session_limit_ms(const struct session *s)
{
	const struct config *cfg = cfg_of(s);

	if (s->conn.state == CONN_HANDSHAKE)
		return 1000ull * cfg->tls.handshake_timeout;
	return 1000ull * (s->state == STATE_AUTHORIZATION ?
			  cfg->auth.preauth_timeout : cfg->autologout);
}

void session_arm_timer(struct session *s)
{
	const struct config *cfg = cfg_of(s);
	uint64_t limit_ms, now = ioloop_now_ms(s->worker->loop), wait_ms;

	limit_ms = session_limit_ms(s);
	wait_ms = session_since_ms(s) + limit_ms > now ?
		  session_since_ms(s) + limit_ms - now : 0;
	/* The maildrop lock must be refreshed well before it goes stale. */
	if (s->drop != NULL && wait_ms > cfg->lock_stale_timeout * 1000ull / 3)
		wait_ms = cfg->lock_stale_timeout * 1000ull / 3;
	/* ... and, on a shared store, checked often enough that a fenced
	 * node ends its sessions within about the heartbeat timeout */
	if (s->drop != NULL && node_heartbeats_enabled() &&
	    wait_ms > node_heartbeat_timeout() * 1000ull / 2)
		wait_ms = node_heartbeat_timeout() * 1000ull / 2;
	timer_remove(&s->timer);
	s->timer = timer_add(s->worker->loop, wait_ms + 1, session_timeout, s);
}

static void session_timeout(void *context)
{
	struct session *s = context;
	uint64_t limit_ms, now = ioloop_now_ms(s->worker->loop);

	s->timer = NULL;
	if (s->closing) {
		/* The last reply could not be delivered in CLOSE_GRACE_MS:
		 * a client that stops reading must not keep the session. */
		session_destroy(&s);
		return;
	}
	limit_ms = session_limit_ms(s);
	if (s->conn.state == CONN_HANDSHAKE &&
	    now - session_since_ms(s) >= limit_ms) {
		/* Nothing can be said on a half-made TLS connection. */
		log_info("TLS handshake timeout: rip=%s", s->log_client);
		s->end_reason = "TLS handshake timeout";
		session_destroy(&s);
		return;
	}
	if (now - session_since_ms(s) >= limit_ms && !s->closing) {
		/* RFC 1939 3.: an expired autologout timer ends the session
		 * without entering UPDATE; we say why before closing. */
		session_close_with(s, s->state == STATE_AUTHORIZATION ?
				   "-ERR [SYS/TEMP] timeout: no login within "
				   "the time allowed, closing" :
				   "-ERR [SYS/TEMP] autologout: idle for too "
				   "long, closing", "timeout");
		return;
	}
	if (s->drop != NULL && maildrop_refresh_lock(s->drop) != MAILDROP_OK) {
		session_close_with(s, "-ERR [SYS/TEMP] lost the maildrop lock, "
				   "closing", "lock lost");
		return;
	}
	session_arm_timer(s);
}

/* --- output --- */

static void session_update_events(struct session *s)
{
	bool want_read = false;
	unsigned events;

	if (!s->peer_closed && !s->closing && !s->stls_pending &&
	    !session_kpop_holds(s))
		want_read = linereader_room(&s->in) > 0 ||
			    session_kpop_reading(s);
	events = conn_wanted(&s->conn, want_read, outbuf_pending(&s->out) > 0);
	if (io_set_events(s->io, events) < 0) {
		log_error("epoll: %s", strerror(errno));
		s->closing = true;
	}
}

/* Writes as much as the socket takes. Returns -1 when the peer is gone. */
static int session_flush(struct session *s)
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
		metrics_count(s->worker->metrics, s->worker->index,
			      METRICS_BYTES_SENT, (uint64_t)n);
		s->last_activity_ms = ioloop_now_ms(s->worker->loop);
	}
	return 0;
}

/* --- input --- */

static void session_handle_line(struct session *s, char *line, size_t len)
{
	enum cmd_outcome outcome;

	if (s->sasl_active) {
		/* RFC 5034 4.: lines are SASL responses until it ends */
		outcome = cmd_auth_continue(s, line, len);
	} else if (s->xmit != NULL) {
		/* XTND XMIT: message lines until "." */
		outcome = cmd_xtnd_line(s, line, len);
	} else if (s->in.nul_seen) {
		session_reply(s, "-ERR invalid character in command");
		outcome = CMD_BAD;
	} else {
		outcome = commands_dispatch(s, line);
	}
	/* The line may hold a password; do not leave it in the buffer. */
	explicit_bzero(line, len);
	switch (outcome) {
	case CMD_DONE:
	case CMD_WAIT:
		break;
	case CMD_BAD:
		s->bad_lines++;
		break;
	case CMD_CLOSE:
		s->closing = true;
		break;
	}
}

static void session_process(struct session *s)
{
	const struct config *cfg = cfg_of(s);

	while (!s->waiting && !s->closing && !s->stls_pending) {
		enum line_status status;
		char *line;
		size_t len;

		if (s->reply.kind != LONG_NONE) {
			if (!session_continue_long(s))
				break;
			continue;
		}
		if (outbuf_pending(&s->out) >= OUTPUT_HIGH_WATER)
			break;
		status = linereader_next(&s->in, &line, &len);
		if (status == LINE_NONE)
			break;
		s->last_activity_ms = ioloop_now_ms(s->worker->loop);
		if (status == LINE_TOO_LONG && s->sasl_active) {
			cmd_auth_too_long(s);
			s->bad_lines++;
		} else if (status == LINE_TOO_LONG && s->xmit != NULL) {
			cmd_xtnd_too_long(s);
		} else if (status == LINE_TOO_LONG) {
			session_reply(s, "-ERR line too long");
			s->bad_lines++;
		} else {
			session_handle_line(s, line, len);
		}
		if (s->bad_lines >= cfg->max_bad_lines && !s->closing) {
			session_reply(s, "-ERR too many bad commands, closing");
			s->closing = true;
			s->end_reason = "too many bad commands";
		}
	}
}

static void session_read(struct session *s)
{
	if (session_kpop_reading(s) || session_kpop_holds(s)) {
		session_kpop_read(s);
		return;
	}
	for (;;) {
		size_t room;
		char *dst;
		ssize_t n;

		if (s->closing || s->stls_pending)
			return;
		dst = linereader_space(&s->in, &room);
		if (dst == NULL) {
			session_out_of_memory(s);
			return;
		}
		if (room == 0)
			return;
		n = conn_read(&s->conn, dst, room);
		if (n == CONN_AGAIN)
			return;
		if (n == CONN_ERROR) {
			log_info("rip=%s: %s", s->log_client, s->conn.error);
			s->peer_closed = true;
			/* A reset socket reports EPOLLERR/HUP until closed:
			 * nothing can be delivered, so end it now. */
			s->io_failed = true;
			if (s->end_reason == NULL)
				s->end_reason = "read error";
			return;
		}
		if (n == CONN_EOF) {
			s->peer_closed = true;
			if (s->end_reason == NULL)
				s->end_reason = "disconnected";
			return;
		}
		linereader_added(&s->in, (size_t)n);
		s->last_activity_ms = ioloop_now_ms(s->worker->loop);
		session_process(s);
	}
}

/* Runs after every event: flush, then either close or wait for more.
 * May destroy s. */
static void session_settle(struct session *s)
{
	if (session_flush(s) < 0 || s->io_failed) {
		session_destroy(&s);
		return;
	}
	if (s->closing && !s->close_timer_armed) {
		/* From now on only the last reply is written, for a while. */
		timer_remove(&s->timer);
		s->timer = timer_add(s->worker->loop, CLOSE_GRACE_MS,
				     session_timeout, s);
		s->close_timer_armed = true;
	}
	/* Writing made room: continue a long reply or pipelined commands
	 * (even after the peer half-closed: it may still read replies). */
	while (!s->closing && !s->waiting && !s->stls_pending &&
	       outbuf_pending(&s->out) == 0 &&
	       (s->reply.kind != LONG_NONE || linereader_has_data(&s->in))) {
		size_t before = s->in.len;
		enum long_kind kind = s->reply.kind;

		session_process(s);
		if (session_flush(s) < 0) {
			session_destroy(&s);
			return;
		}
		if (outbuf_pending(&s->out) == 0 && s->in.len == before &&
		    kind == LONG_NONE && s->reply.kind == LONG_NONE)
			break; /* only a partial line is buffered */
	}
	if (outbuf_pending(&s->out) == 0) {
		if (s->closing || (s->peer_closed && !s->waiting &&
				   s->reply.kind == LONG_NONE)) {
			session_destroy(&s);
			return;
		}
		outbuf_release_if_empty(&s->out);
		if (s->stls_pending) {
			session_begin_handshake(s);
			return;
		}
	}
	/* TLS may hold decrypted input that epoll cannot report. */
	if (conn_has_buffered(&s->conn) && !s->closing && !s->peer_closed &&
	    !s->waiting && linereader_room(&s->in) > 0) {
		session_read(s);
		session_settle(s);
		return;
	}
	/* every line consumed: an idle session holds no input buffer */
	linereader_release_if_empty(&s->in);
	session_update_events(s);
}

void session_greet(struct session *s)
{
	if (s->worker->cfg->auth.apop) {
		make_timestamp(s);
		session_reply(s, "+OK satchel ready. %s", s->timestamp);
	} else {
		session_reply(s, "+OK satchel ready.");
	}
}

/* Runs the TLS handshake. Returns true once it is done; false while it
 * waits or after it failed (then s is destroyed). */
static bool session_handshake(struct session **sp)
{
	struct session *s = *sp;
	int ret = conn_handshake(&s->conn);

	if (ret == 0) {
		session_update_events(s);
		return false;
	}
	if (ret < 0) {
		log_info("TLS handshake failed: rip=%s: %s", s->log_client,
			 s->conn.error);
		s->end_reason = "TLS handshake failed";
		session_destroy(sp);
		return false;
	}
	s->secured = true;
	s->last_activity_ms = ioloop_now_ms(s->worker->loop);
	session_arm_timer(s);
	/* Implicit TLS (RFC 8314): the greeting comes after the handshake.
	 * After STLS nothing is sent: the client speaks next. */
	if (!s->greeted) {
		s->greeted = true;
		session_greet(s);
	}
	return true;
}

static void session_begin_handshake(struct session *s)
{
	s->stls_pending = false;
	/* RFC 2595 4. / CVE-2011-0411: whatever arrived in clear after
	 * STLS must not be acted on once the connection is encrypted, and
	 * what was said in clear before it (USER) is forgotten. */
	linereader_clear(&s->in);
	s->have_user = false;
	explicit_bzero(s->user, sizeof(s->user));
	if (conn_start_tls(&s->conn, s->worker->tls) < 0) {
		log_error("rip=%s: %s", s->log_client, s->conn.error);
		s->end_reason = "TLS setup failed";
		session_destroy(&s);
		return;
	}
	s->handshake_started_ms = ioloop_now_ms(s->worker->loop);
	session_arm_timer(s);
	if (session_handshake(&s))
		session_settle(s);
}

void session_start_tls(struct session *s)
{
	s->stls_pending = true;
}

static void session_io(void *context, unsigned ready)
{
	struct session *s = context;

	if (session_proxy_relaying(s)) {
		session_proxy_client_io(s, ready);
		return;
	}
	if (s->conn.state == CONN_HANDSHAKE && !session_handshake(&s))
		return;
	/* A TLS read may wait for the socket to become writable. */
	if ((ready & (IO_READ | s->conn.read_wants)) && !s->peer_closed &&
	    !s->closing)
		session_read(s);
	session_settle(s);
}

void session_resume(struct session *s)
{
	s->waiting = false;
	session_process(s);
	session_settle(s);
}

void session_close_with(struct session *s, const char *reply,
			const char *reason)
{
	if (session_proxy_relaying(s)) {
		/* a line of ours would land inside the backend's replies:
		 * the relay just ends (the backend enters no UPDATE) */
		s->end_reason = reason;
		session_destroy(&s);
		return;
	}
	if (s->reply.kind == LONG_NONE)
		session_reply(s, "%s", reply);
	else
		session_long_end(s);
	s->closing = true;
	s->end_reason = reason;
	session_settle(s);
}

/* --- creation and end --- */

/* The session id: random, so ids from workers, restarts and nodes do
 * not collide in one log. */
static void make_id(struct session *s)
{
	uint64_t bits;

	if (getrandom(&bits, sizeof(bits), 0) != sizeof(bits))
		bits = ((uint64_t)getpid() << 40) ^ s->serial;
	snprintf(s->id, sizeof(s->id), "%016llx", (unsigned long long)bits);
	snprintf(s->log_client, sizeof(s->log_client), "%s session=%s",
		 s->addr, s->id);
}

static void make_timestamp(struct session *s)
{
	uint32_t random_bits = 0;

	if (getrandom(&random_bits, sizeof(random_bits), 0) !=
	    sizeof(random_bits))
		random_bits = (uint32_t)s->serial * 2654435761u;
	/* Letters, digits and dots only: mpop ignores a timestamp with '='. */
	snprintf(s->timestamp, sizeof(s->timestamp), "<%d.%llu.%08x@%.64s>",
		 (int)getpid(), (unsigned long long)time(NULL), random_bits,
		 s->worker->hostname);
}

struct session *session_create(struct worker *worker, int fd,
			       const char *addr, bool loopback,
			       bool implicit_tls)
{
	struct session *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->worker = worker;
	s->fd = fd;
	s->agent_fd = -1;
	s->serial = worker->next_serial++;
	s->loopback = loopback;
	snprintf(s->addr, sizeof(s->addr), "%s", addr);
	make_id(s);
	s->state = STATE_AUTHORIZATION;
	s->expire_days = worker->cfg->expire_days;
	s->lang = worker->cfg->lang_default;
	/* --stdio has no listener: the global workarounds apply */
	s->workarounds_here = true;
	s->started_ms = s->last_activity_ms = ioloop_now_ms(worker->loop);
	s->handshake_started_ms = s->started_ms;
	linereader_init(&s->in, worker->cfg->max_line);
	conn_init(&s->conn, fd);
	s->io = io_add(worker->loop, fd, IO_READ, false, session_io, s);
	if (s->io == NULL) {
		free(s);
		return NULL;
	}
	if (implicit_tls && conn_start_tls(&s->conn, worker->tls) < 0) {
		log_error("rip=%s: %s", addr, s->conn.error);
		io_remove(&s->io);
		conn_deinit(&s->conn);
		free(s);
		return NULL;
	}
	return s;
}

void session_start(struct session *s)
{
	session_arm_timer(s);
	if (s->kpop != NULL || s->closing) {
		/* KPOP: the greeting follows the sendauth handshake */
		session_settle(s);
		return;
	}
	if (s->conn.state == CONN_HANDSHAKE) {
		/* Implicit TLS: the greeting waits for the handshake. */
		session_update_events(s);
		return;
	}
	s->greeted = true;
	session_greet(s);
	session_settle(s);
}

void session_uidl_hash(struct session *s)
{
	if (s->uidl_hash[0] == '\0' && s->drop != NULL)
		snprintf(s->uidl_hash, sizeof(s->uidl_hash), "%s",
			 maildrop_uidl_hash(s->drop));
}

void session_destroy(struct session **sessionp)
{
	struct session *s = *sessionp;
	uint64_t now;

	if (s == NULL)
		return;
	*sessionp = NULL;
	now = ioloop_now_ms(s->worker->loop);
	session_uidl_hash(s);
	if (s->state == STATE_TRANSACTION || s->counted)
		log_info("logout: user=%s rip=%s retr=%u bytes=%llu dele=%u "
			 "duration=%.3fs end=%s%s%s", s->user, s->log_client,
			 s->retr_count, (unsigned long long)s->retr_bytes,
			 s->dele_count, (double)(now - s->started_ms) / 1000.0,
			 s->end_reason != NULL ? s->end_reason : "closed",
			 s->uidl_hash[0] != '\0' ? " uidls=" : "",
			 s->uidl_hash);
	else
		log_debug("disconnect: rip=%s end=%s", s->log_client,
			  s->end_reason != NULL ? s->end_reason : "closed");
	if (s->counted)
		worker_auth_logout(s->worker, s->user);
	if (s->sasl_active)
		cmd_auth_abort(s);
	session_kpop_end(s);
	/* a relay running completes without us (cmd_xtnd.c) */
	cmd_xtnd_detach(s);
	utf8wrap_destroy(&s->reply.wrap);
	maildrop_reader_destroy(&s->reply.reader);
	session_proxy_destroy(s);
	session_wipe_secret(s);
	/* A running open or commit finishes without us (session_store.c). */
	session_store_detach(s);
	/* No QUIT: RFC 1939 6. says no UPDATE; nothing is deleted (an
	 * agent whose socket closes exits the same way). */
	maildrop_close(&s->drop);
	if (s->agent_fd >= 0)
		close(s->agent_fd);
	free(s->no_eoh);
	free(s->needs_utf8);
	free(s->wrap_size);
	if (s->state == STATE_TRANSACTION)
		worker_memory_used(s->worker);
	timer_remove(&s->timer);
	timer_remove(&s->delay_timer);
	io_remove(&s->io);
	worker_session_gone(s->worker, s);
	conn_deinit(&s->conn);
	close(s->fd);
	outbuf_free(&s->out);
	linereader_deinit(&s->in);
	explicit_bzero(&s->in, sizeof(s->in));
	free(s);
}
