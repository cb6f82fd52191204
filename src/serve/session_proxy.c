/* session_proxy.c: proxy mode's backend link (session_proxy.h): the
 * connect, the PROXY v2 header, the backend login, then the relay. */
#include "serve/session_proxy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "net/backendlist.h"
#include "net/ioloop.h"
#include "net/listener.h"
#include "net/proxyproto.h"
#include "serve/limits.h"
#include "serve/metrics.h"
#include "serve/session.h"
#include "serve/worker.h"
#include "util/log.h"

struct relay_buf {
	unsigned char data[PROXY_RELAY_BUF];
	size_t start, len;
};

enum proxy_step {
	STEP_CONNECT,   /* the non-blocking connect runs */
	STEP_HEADER,    /* the PROXY header is being written, in clear */
	STEP_HANDSHAKE, /* proxy_tls: the TLS handshake after the header */
	STEP_GREETING,  /* the greeting is awaited */
	STEP_CAPA,      /* CAPA sent: this worker learns the backend's */
	STEP_USER,      /* USER sent */
	STEP_PASS,      /* PASS sent */
	STEP_RELAY,     /* logged in: bytes go both ways */
};

struct session_proxy {
	struct session *s;
	const struct backend_addr *backend;
	struct backend_addr own_host;  /* the record's proxy_host */
	struct conn conn;        /* to the backend; owns its socket */
	struct io *io;
	struct timer *timer;     /* the login's bound */
	struct timer *retry;     /* the next connect, after a failed one */
	unsigned tries;          /* connects made */
	enum proxy_step step;
	char user[AUTH_USER_MAX];
	char secret[AUTH_SECRET_MAX];
	char line[PROXY_LINE_MAX + 1]; /* a backend reply being read */
	size_t line_len;
	struct relay_buf up;     /* to the backend */
	struct relay_buf down;   /* to the client */
	bool client_eof, backend_eof, backend_shut;
	bool capa_listing;       /* STEP_CAPA: past its +OK line */
	unsigned capa;           /* STEP_CAPA: PROXY_CAPA_* seen so far */
};

/* The capabilities of the backends' that CAPA before login intersects
 * (session_proxy.h): bit i is proxy_capa_names[i]. */
static const char *const proxy_capa_names[] = {
	"TOP", "UIDL", "PIPELINING", "RESP-CODES", "XTND", "SDPS",
};
#define PROXY_CAPA_COUNT (sizeof(proxy_capa_names) / sizeof(*proxy_capa_names))

/* The index of the login's backend in proxy_backends, or -1 (a
 * record's own proxy_host: not one that CAPA speaks for). */
static int proxy_backend_index(const struct session_proxy *p)
{
	const struct backendlist *bl = &p->s->worker->cfg->proxy_backend_list;

	if (p->backend < bl->addr || p->backend >= bl->addr + bl->count)
		return -1;
	return (int)(p->backend - bl->addr);
}

bool session_proxy_capa_offered(const struct session *s, const char *name)
{
	const struct worker *w = s->worker;
	size_t bit;

	if (!w->cfg->proxy)
		return true;
	for (bit = 0; bit < PROXY_CAPA_COUNT; bit++) {
		if (strcmp(proxy_capa_names[bit], name) == 0)
			break;
	}
	if (bit == PROXY_CAPA_COUNT)
		return true;
	for (size_t i = 0; w->proxy_capa != NULL &&
			   i < w->cfg->proxy_backend_list.count; i++) {
		if (__atomic_load_n(&w->proxy_capa->learned_at[i],
				    __ATOMIC_RELAXED) != 0 &&
		    !(__atomic_load_n(&w->proxy_capa->bits[i],
				      __ATOMIC_RELAXED) & (1u << bit)))
			return false;
	}
	return true;
}

static const char reply_unavailable[] =
	"-ERR [SYS/TEMP] mail server unavailable, try again later";

/* --- buffers --- */

static size_t relay_room(struct relay_buf *b, unsigned char **dst_r)
{
	if (b->len == 0)
		b->start = 0;
	if (b->start > 0 && b->start + b->len == sizeof(b->data)) {
		memmove(b->data, b->data + b->start, b->len);
		b->start = 0;
	}
	*dst_r = b->data + b->start + b->len;
	return sizeof(b->data) - b->start - b->len;
}

static int relay_append(struct relay_buf *b, const void *data, size_t len)
{
	unsigned char *dst;

	if (relay_room(b, &dst) < len)
		return -1;
	memcpy(dst, data, len);
	b->len += len;
	return 0;
}

/* Writes b to c. 0, or -1 when c failed (c->error). */
static int relay_write(struct conn *c, struct relay_buf *b, bool *progress)
{
	while (b->len > 0) {
		ssize_t n = conn_write(c, b->data + b->start, b->len);

		if (n == CONN_AGAIN)
			return 0;
		if (n < 0)
			return -1;
		b->start += (size_t)n;
		b->len -= (size_t)n;
		*progress = true;
	}
	return 0;
}

/* Reads from c into b while it has room. 0, or -1 when c failed; *eof
 * is set at the peer's close. */
static int relay_read(struct conn *c, struct relay_buf *b, bool *eof,
		      bool *progress)
{
	unsigned char *dst;
	size_t room;

	while (!*eof && (room = relay_room(b, &dst)) > 0) {
		ssize_t n = conn_read(c, dst, room);

		if (n == CONN_AGAIN)
			return 0;
		if (n == CONN_EOF) {
			*eof = true;
			*progress = true;
			return 0;
		}
		if (n < 0)
			return -1;
		b->len += (size_t)n;
		*progress = true;
	}
	return 0;
}

/* --- the end of the link --- */

static void proxy_free(struct session_proxy *p)
{
	io_remove(&p->io);
	timer_remove(&p->timer);
	timer_remove(&p->retry);
	conn_deinit(&p->conn);
	explicit_bzero(p, sizeof(*p));
	free(p);
}

void session_proxy_destroy(struct session *s)
{
	if (s->proxy == NULL)
		return;
	proxy_free(s->proxy);
	s->proxy = NULL;
}

bool session_proxy_relaying(const struct session *s)
{
	return s->proxy != NULL && s->proxy->step == STEP_RELAY;
}

/* The login did not get through: reply (ours or the backend's) goes to
 * the client. May destroy s. */
static void proxy_login_failed(struct session_proxy *p, const char *why,
			       const char *reply)
{
	struct session *s = p->s;
	char line[PROXY_LINE_MAX + 1];

	log_info("proxy login failed: user=%s rip=%s backend=%s: %s",
		 p->user, s->log_client, p->backend->text, why);
	snprintf(line, sizeof(line), "%s", reply);
	session_proxy_destroy(s);
	session_login_proxied(s, false, line);
}

static void proxy_timeout(void *context)
{
	struct session_proxy *p = context;

	p->timer = NULL;
	proxy_login_failed(p, "no answer in time", reply_unavailable);
}

static int proxy_connect(struct session_proxy *p);
static void proxy_unreachable(struct session_proxy *p, const char *why);

static void proxy_retry_now(void *context)
{
	struct session_proxy *p = context;

	p->retry = NULL;
	if (proxy_connect(p) < 0)
		proxy_unreachable(p, p->conn.error);
}

/* The next connect in PROXY_RETRY_MS. 0, or -1 when none is left or
 * there is no memory for the timer. */
static int proxy_retry_later(struct session_proxy *p, const char *why)
{
	if (p->tries >= PROXY_CONNECT_TRIES)
		return -1;
	log_info("proxy: user=%s rip=%s backend=%s: %s; trying again "
		 "(%u of %u)", p->user, p->s->log_client, p->backend->text,
		 why, p->tries + 1, PROXY_CONNECT_TRIES);
	io_remove(&p->io);
	conn_deinit(&p->conn);
	p->retry = timer_add(p->s->worker->loop, PROXY_RETRY_MS,
			     proxy_retry_now, p);
	return p->retry != NULL ? 0 : -1;
}

/* The backend could not be reached, or closed before its greeting:
 * nothing of the login has gone to it, so it is tried again,
 * PROXY_CONNECT_TRIES times in all (proxy_timeout still bounds the
 * whole). May destroy s. */
static void proxy_unreachable(struct session_proxy *p, const char *why)
{
	char text[PROXY_LINE_MAX];

	if (proxy_retry_later(p, why) == 0)
		return;
	snprintf(text, sizeof(text), "%s (%u tries)", why, p->tries);
	proxy_login_failed(p, text, reply_unavailable);
}

/* --- the login --- */

static void proxy_update_events(struct session_proxy *p)
{
	bool want_read = p->step >= STEP_GREETING && !p->backend_eof &&
			 (p->step != STEP_RELAY ||
			  p->down.len < sizeof(p->down.data));
	/* connecting and the handshake: conn says what it waits for */
	unsigned events = conn_wanted(&p->conn, want_read, p->up.len > 0);

	if (io_set_events(p->io, events) < 0)
		log_error("epoll: %s", strerror(errno));
}

static int proxy_send_command(struct session_proxy *p, const char *verb,
			      const char *arg)
{
	char cmd[AUTH_SECRET_MAX + 16];
	int n = snprintf(cmd, sizeof(cmd), "%s %s\r\n", verb, arg);
	int ret;

	ret = n > 0 && (size_t)n < sizeof(cmd) ?
	      relay_append(&p->up, cmd, (size_t)n) : -1;
	explicit_bzero(cmd, sizeof(cmd));
	return ret;
}

/* The backend logged us in: line is its +OK (CRLF stripped), rest what
 * followed it. May destroy s. */
static void proxy_login_ok(struct session_proxy *p, const char *line,
			   const char *rest, size_t rest_len)
{
	struct session *s = p->s;
	char copy[PROXY_LINE_MAX + 1];

	timer_remove(&p->timer);
	p->step = STEP_RELAY;
	/* a backend says nothing unasked; should it, it is relayed */
	if (rest_len > 0)
		(void)relay_append(&p->down, rest, rest_len);
	log_info("proxy: user=%s rip=%s backend=%s", p->user, s->log_client,
		 p->backend->text);
	snprintf(copy, sizeof(copy), "%s", line);
	session_login_proxied(s, true, copy);
}

/* True when this worker should learn the login's backend's CAPA now. */
static bool proxy_capa_due(const struct session_proxy *p)
{
	const struct worker *w = p->s->worker;
	int i = proxy_backend_index(p);
	int64_t at;

	if (i < 0 || w->proxy_capa == NULL)
		return false;
	at = __atomic_load_n(&w->proxy_capa->learned_at[i], __ATOMIC_RELAXED);
	return at == 0 || (int64_t)time(NULL) - at >= PROXY_CAPA_TTL;
}

/* One line of the backend's CAPA answer: the capability's first word.
 * True at the terminating ".", where the answer is learned. */
static bool proxy_capa_line(struct session_proxy *p, const char *line)
{
	struct worker *w = p->s->worker;
	size_t len = strcspn(line, " ");
	int i;

	if (strcmp(line, ".") != 0) {
		for (size_t bit = 0; bit < PROXY_CAPA_COUNT; bit++) {
			if (strlen(proxy_capa_names[bit]) == len &&
			    strncasecmp(line, proxy_capa_names[bit], len) == 0)
				p->capa |= 1u << bit;
		}
		return false;
	}
	i = proxy_backend_index(p);
	if (i >= 0 && w->proxy_capa != NULL) {
		__atomic_store_n(&w->proxy_capa->bits[i], p->capa,
				 __ATOMIC_RELAXED);
		__atomic_store_n(&w->proxy_capa->learned_at[i],
				 (int64_t)time(NULL), __ATOMIC_RELEASE);
	}
	return true;
}

/* The backend's CAPA answer (STEP_CAPA): its +OK line, then capability
 * lines up to "."; an -ERR (no CAPA: RFC 2449 predates some servers)
 * is learned as none. Lines may come several in one read. Returns 1
 * when the answer is whole, 0 for more, -1 for a line too long. */
static int proxy_capa_take(struct session_proxy *p)
{
	char *start = p->line, *lf;

	while ((lf = memchr(start, '\n', p->line_len -
			    (size_t)(start - p->line))) != NULL) {
		char *line = start;
		bool done;

		*lf = '\0';
		if (lf > line && lf[-1] == '\r')
			lf[-1] = '\0';
		start = lf + 1;
		if (!p->capa_listing) {
			p->capa_listing = true;
			p->capa = 0;
			done = strncmp(line, "+OK", 3) != 0 &&
			       proxy_capa_line(p, ".");
		} else {
			done = proxy_capa_line(p, line);
		}
		if (done) {
			size_t rest = p->line_len - (size_t)(start - p->line);

			memmove(p->line, start, rest);
			p->line_len = rest;
			p->line[rest] = '\0';
			return 1;
		}
	}
	memmove(p->line, start, p->line_len - (size_t)(start - p->line));
	p->line_len -= (size_t)(start - p->line);
	p->line[p->line_len] = '\0';
	return p->line_len >= PROXY_LINE_MAX ? -1 : 0;
}

/* One complete backend reply line (CRLF stripped) during the login.
 * May destroy s. */
static void proxy_login_line(struct session_proxy *p, char *line,
			     const char *rest, size_t rest_len)
{
	bool ok = strncmp(line, "+OK", 3) == 0 &&
		  (line[3] == '\0' || line[3] == ' ');
	bool err = strncmp(line, "-ERR", 4) == 0 &&
		   (line[4] == '\0' || line[4] == ' ');

	/* backend text goes to the client and the logs: no control bytes */
	for (char *c = line; *c != '\0'; c++) {
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	}
	if (!ok) {
		/* its -ERR, with its response code, is the client's answer
		 * ([IN-USE], [SYS/TEMP], [AUTH]); anything else is not POP3 */
		proxy_login_failed(p, line, err ? line : reply_unavailable);
		return;
	}
	switch (p->step) {
	case STEP_GREETING:
		if (proxy_capa_due(p)) {
			if (relay_append(&p->up, "CAPA\r\n", 6) < 0) {
				proxy_login_failed(p, "cannot send CAPA",
						   reply_unavailable);
				return;
			}
			p->step = STEP_CAPA;
			break;
		}
		/* fall through */
	case STEP_CAPA:
		if (proxy_send_command(p, "USER", p->user) < 0) {
			proxy_login_failed(p, "cannot send USER",
					   reply_unavailable);
			return;
		}
		p->step = STEP_USER;
		break;
	case STEP_USER:
		if (proxy_send_command(p, "PASS", p->secret) < 0) {
			proxy_login_failed(p, "cannot send PASS",
					   reply_unavailable);
			return;
		}
		explicit_bzero(p->secret, sizeof(p->secret));
		p->step = STEP_PASS;
		break;
	case STEP_PASS:
		proxy_login_ok(p, line, rest, rest_len);
		return;
	default:
		break;
	}
	proxy_update_events(p);
}

/* Reads the backend's reply during the login. May destroy s. */
static void proxy_login_read(struct session_proxy *p)
{
	for (;;) {
		size_t room = PROXY_LINE_MAX - p->line_len;
		char *lf;
		ssize_t n;

		if (p->step == STEP_CAPA) {
			int r = proxy_capa_take(p);

			if (r < 0) {
				proxy_login_failed(p, "CAPA line too long",
						   reply_unavailable);
				return;
			}
			if (r > 0) {
				if (p->line_len > 0) {
					proxy_login_failed(p, "unexpected data",
							   reply_unavailable);
					return;
				}
				/* learned: on to USER */
				proxy_login_line(p, (char[]){ "+OK" }, "", 0);
				return;
			}
			room = PROXY_LINE_MAX - p->line_len;
			goto read_more;
		}
		lf = memchr(p->line, '\n', p->line_len);
		if (lf != NULL) {
			size_t used = (size_t)(lf - p->line) + 1;
			char rest[PROXY_LINE_MAX];
			size_t rest_len = p->line_len - used;

			memcpy(rest, lf + 1, rest_len);
			*lf = '\0';
			if (lf > p->line && lf[-1] == '\r')
				lf[-1] = '\0';
			p->line_len = 0;
			if (p->step != STEP_PASS && rest_len > 0) {
				/* a reply before the command was sent */
				proxy_login_failed(p, "unexpected data",
						   reply_unavailable);
				return;
			}
			proxy_login_line(p, p->line, rest, rest_len);
			return;
		}
		if (room == 0) {
			proxy_login_failed(p, "reply line too long",
					   reply_unavailable);
			return;
		}
read_more:
		n = conn_read(&p->conn, p->line + p->line_len, room);
		if (n == CONN_AGAIN) {
			proxy_update_events(p);
			return;
		}
		if (n < 0 && p->step == STEP_GREETING && p->line_len == 0) {
			proxy_unreachable(p, n == CONN_EOF ?
					  "closed before its greeting" :
					  p->conn.error);
			return;
		}
		if (n < 0) {
			proxy_login_failed(p, n == CONN_EOF ? "closed" :
					   p->conn.error, reply_unavailable);
			return;
		}
		p->line_len += (size_t)n;
		p->line[p->line_len] = '\0';
	}
}

/* --- the relay --- */

/* Moves what can be moved, both ways, until nothing moves; ends the
 * session when a side is done. May destroy s. */
static void proxy_pump(struct session_proxy *p)
{
	struct session *s = p->s;
	bool progress = true, want_read;
	const char *why = NULL;

	while (progress && why == NULL) {
		size_t down_before = p->down.len;

		progress = false;
		/* the session's last replies (the +OK of the login) first */
		while (outbuf_pending(&s->out) > 0) {
			ssize_t n = conn_write(&s->conn, outbuf_head(&s->out),
					       outbuf_pending(&s->out));

			if (n == CONN_AGAIN)
				break;
			if (n < 0) {
				why = "client write error";
				break;
			}
			outbuf_consume(&s->out, (size_t)n);
			progress = true;
		}
		if (why == NULL && outbuf_pending(&s->out) == 0 &&
		    relay_write(&s->conn, &p->down, &progress) < 0)
			why = "client write error";
		/* the relayed replies count as the session's own would */
		if (p->down.len < down_before)
			metrics_count(s->worker->metrics, s->worker->index,
				      METRICS_BYTES_SENT,
				      down_before - p->down.len);
		if (why == NULL && relay_write(&p->conn, &p->up, &progress) < 0)
			why = "backend write error";
		if (why == NULL &&
		    relay_read(&s->conn, &p->up, &p->client_eof, &progress) < 0)
			why = "client read error";
		if (why == NULL &&
		    relay_read(&p->conn, &p->down, &p->backend_eof,
			       &progress) < 0)
			why = "backend read error";
	}
	if (why == NULL && p->client_eof && p->up.len == 0 &&
	    conn_is_tls(&p->conn))
		why = "disconnected"; /* TLS has no half-close to pass on */
	if (why == NULL && p->client_eof && p->up.len == 0 &&
	    !p->backend_shut) {
		/* the client is done sending: so is the backend's input, and
		 * its last replies still reach a client that reads them */
		(void)shutdown(p->conn.fd, SHUT_WR);
		p->backend_shut = true;
	}
	if (why == NULL && p->backend_eof && p->down.len == 0 &&
	    outbuf_pending(&s->out) == 0)
		why = "backend closed";
	if (why == NULL && p->client_eof && p->backend_eof)
		why = "disconnected";
	if (why != NULL) {
		if (s->end_reason == NULL)
			s->end_reason = why;
		session_destroy(&s);
		return;
	}
	want_read = !p->client_eof && p->up.len < sizeof(p->up.data);
	if (io_set_events(s->io, conn_wanted(&s->conn, want_read,
					     outbuf_pending(&s->out) > 0 ||
					     p->down.len > 0)) < 0)
		log_error("epoll: %s", strerror(errno));
	proxy_update_events(p);
}

void session_proxy_client_io(struct session *s, unsigned ready)
{
	if (s->conn.state == CONN_HANDSHAKE) {
		/* cannot be: TLS was up before the login */
		session_destroy(&s);
		return;
	}
	proxy_pump(s->proxy);
}

void session_proxy_relay(struct session *s)
{
	struct session_proxy *p = s->proxy;
	char *line;
	size_t len;

	/* commands the client pipelined after PASS go to the backend as
	 * they came (whole lines, each with CRLF again) */
	while (linereader_next(&s->in, &line, &len) == LINE_OK) {
		if (relay_append(&p->up, line, len) < 0 ||
		    relay_append(&p->up, "\r\n", 2) < 0)
			break;
		explicit_bzero(line, len);
	}
	if (linereader_has_data(&s->in)) {
		/* a partial line: its bytes as they are */
		size_t rest_len;
		const char *rest = linereader_pending(&s->in, &rest_len);

		(void)relay_append(&p->up, rest, rest_len);
	}
	linereader_clear(&s->in);
	linereader_release_if_empty(&s->in);
	/* the backend runs the autologout timer from here on */
	timer_remove(&s->timer);
	proxy_pump(p);
}

/* --- the backend's socket --- */

/* The header is out: TLS to the backend when proxy_tls says so (the
 * certificate must name the backend's address), else the greeting.
 * 0, or -1 when the login failed (s may be gone). */
static int proxy_begin_tls(struct session_proxy *p)
{
	struct worker *w = p->s->worker;
	char host[64], port[8];

	if (!w->cfg->proxy_tls) {
		p->step = STEP_GREETING;
		return 0;
	}
	if (w->proxy_tls == NULL ||
	    listener_parse_addr(p->backend->text, host, sizeof(host), port,
				sizeof(port)) < 0 ||
	    conn_start_tls_client(&p->conn, w->proxy_tls, host) < 0) {
		proxy_login_failed(p, w->proxy_tls == NULL ?
				   "no TLS context (see proxy_tls above)" :
				   p->conn.error, reply_unavailable);
		return -1;
	}
	p->step = STEP_HANDSHAKE;
	return 0;
}

/* The result of a connect or handshake step (1 done, 0 wait, -1
 * failed): true when done; else it waits, or the login failed (s may be
 * gone). */
static bool proxy_step_done(struct session_proxy *p, int ret)
{
	if (ret == 0)
		proxy_update_events(p);
	else if (ret < 0)
		proxy_login_failed(p, p->conn.error, reply_unavailable);
	return ret > 0;
}

static void proxy_io(void *context, unsigned ready)
{
	struct session_proxy *p = context;
	bool progress = false;

	if (p->step == STEP_CONNECT) {
		int ret = conn_connect_finish(&p->conn);

		if (ret < 0) {
			proxy_unreachable(p, p->conn.error);
			return;
		}
		if (!proxy_step_done(p, ret))
			return;
		p->step = STEP_HEADER;
	}
	if (p->step == STEP_RELAY) {
		proxy_pump(p);
		return;
	}
	if (p->step != STEP_HANDSHAKE &&
	    relay_write(&p->conn, &p->up, &progress) < 0) {
		if (p->step == STEP_HEADER)
			proxy_unreachable(p, p->conn.error);
		else
			proxy_login_failed(p, p->conn.error, reply_unavailable);
		return;
	}
	if (p->step == STEP_HEADER) {
		if (p->up.len > 0) {
			proxy_update_events(p);
			return;
		}
		if (proxy_begin_tls(p) < 0)
			return;
	}
	if (p->step == STEP_HANDSHAKE) {
		if (!proxy_step_done(p, conn_handshake(&p->conn)))
			return;
		p->step = STEP_GREETING;
	}
	proxy_login_read(p);
}

/* The record's own backend, when it names one: never one of our own
 * listeners (the loop guard of proxy_backends, per user). 0, or -1
 * (logged). */
static int proxy_own_host(struct session_proxy *p, const char *host)
{
	const struct config *cfg = p->s->worker->cfg;

	if (backendlist_parse_one(host, &p->own_host) < 0 ||
	    backendlist_addr_overlaps(&p->own_host, cfg->listen) ||
	    backendlist_addr_overlaps(&p->own_host, cfg->listen_tls)) {
		log_error("proxy: user=%s: proxy_host %s is not a usable "
			  "backend (one numeric host:port, not this server)",
			  p->user, host);
		return -1;
	}
	p->backend = &p->own_host;
	return 0;
}

/* One connect to the backend, with the PROXY header queued (it names
 * the client and the satchel proxies passed, this one included). 0, or
 * -1 with p->conn.error set. */
static int proxy_connect(struct session_proxy *p)
{
	struct session *s = p->s;
	unsigned char header[PROXY_V2_ENCODE_MAX];
	int n;

	p->tries++;
	p->step = STEP_CONNECT;
	p->up.start = p->up.len = 0;
	p->line_len = 0;
	conn_init(&p->conn, -1);
	/* the backend must see the client, not us: its logs, limits and
	 * failed-login delays are per client address */
	n = proxy_encode_v2(&s->peer_ss, &s->local_ss, s->proxy_hops + 1,
			    header, sizeof(header));
	if (n < 0 || relay_append(&p->up, header, (size_t)n) < 0) {
		snprintf(p->conn.error, sizeof(p->conn.error),
			 "no PROXY header for this client's address family");
		return -1;
	}
	if (conn_connect(&p->conn, (const struct sockaddr *)&p->backend->ss,
			 p->backend->len) < 0)
		return -1;
	p->io = io_add(s->worker->loop, p->conn.fd, IO_WRITE, false,
		       proxy_io, p);
	if (p->io == NULL) {
		snprintf(p->conn.error, sizeof(p->conn.error),
			 "out of memory");
		return -1;
	}
	return 0;
}

int session_proxy_start(struct session *s, const char *user,
			const char *secret, const char *host)
{
	const struct config *cfg = s->worker->cfg;
	struct session_proxy *p;

	if (s->proxy_hops >= PROXY_HOPS_MAX) {
		/* proxy_backends (or a proxy_host) of some proxy on the way
		 * leads back into proxy mode */
		log_error("proxy loop: user=%s rip=%s: the session has "
			  "passed %u satchel proxies already; check the "
			  "proxies' proxy_backends and proxy_host", user,
			  s->log_client, s->proxy_hops);
		session_reply(s, "%s", reply_unavailable);
		return -1;
	}
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		log_error("user=%s session=%s: out of memory for the backend "
			  "link", user, s->id);
		session_reply(s, "%s", reply_unavailable);
		return -1;
	}
	p->s = s;
	p->backend = backendlist_pick(&cfg->proxy_backend_list, user);
	snprintf(p->user, sizeof(p->user), "%s", user);
	snprintf(p->secret, sizeof(p->secret), "%s", secret);
	conn_init(&p->conn, -1);
	if (host[0] != '\0' && proxy_own_host(p, host) < 0)
		goto out_fail;
	if (p->backend == NULL) {
		log_error("proxy: user=%s: no backend", user);
		goto out_fail;
	}
	p->timer = timer_add(s->worker->loop, 1000ull * cfg->proxy_timeout,
			     proxy_timeout, p);
	if (p->timer == NULL) {
		log_error("user=%s session=%s: out of memory for the backend "
			  "link", user, s->id);
		goto out_fail;
	}
	s->proxy = p;
	if (proxy_connect(p) < 0 && proxy_retry_later(p, p->conn.error) < 0) {
		log_info("proxy login failed: user=%s rip=%s backend=%s: %s",
			 user, s->log_client, p->backend->text,
			 p->conn.error);
		s->proxy = NULL;
		goto out_fail;
	}
	return 0;
out_fail:
	proxy_free(p);
	session_reply(s, "%s", reply_unavailable);
	return -1;
}
