/* client.c: one connection of the load generator: a POP3 client session
 * driven by socket events, which checks everything it receives.
 *
 * Server replies are untrusted data: they are parsed with bounds, never
 * echoed, and any deviation ends the session with one counted error. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "net/conn.h"
#include "net/ioloop.h"

/* Large enough that RETR streams in big reads; a line longer than this
 * is handled in pieces. */
#define CLIENT_IN_BUF (64 * 1024)
#define CLIENT_OUT_BUF 512
/* RFC 2449 4.: a status line is at most 512 octets with CRLF; be lenient
 * up to a few KB before calling it a framing error. */
#define STATUS_LINE_MAX 4096
#define UIDL_MAX_LEN 70

enum client_step {
	STEP_NONE, STEP_CONNECTING, STEP_HANDSHAKE, STEP_GREETING, STEP_STLS,
	STEP_USER, STEP_PASS, STEP_STAT, STEP_LIST, STEP_UIDL, STEP_RETR,
	STEP_TOP, STEP_IDLE, STEP_NOOP, STEP_QUIT,
};

struct bench_client {
	struct bench *b;
	unsigned slot;
	struct bench_conn bc;
	enum client_step step;
	unsigned serial;          /* bumped at every session end */
	char user[256];
	unsigned user_index;

	char *in;                 /* CLIENT_IN_BUF */
	size_t in_start, in_len;
	bool multi;               /* inside a multi-line body */
	bool mid_line;            /* a long line is being consumed in parts */
	char out[CLIENT_OUT_BUF];  /* bc.out */

	unsigned stat_count;
	uint64_t stat_octets;
	unsigned lines;           /* body lines of the current reply */
	uint64_t body_octets;     /* un-stuffed octets of the current body */
	uint64_t *sizes;          /* LIST sizes, stat_count of them */
	uint64_t *uid_hashes;     /* UIDL hashes, for the duplicate check */
	unsigned msg;             /* 1-based message being fetched */

	uint64_t start_us, next_noop_us;
	bool quit_requested;
};

static void client_io(void *context, unsigned ready);

struct bench_client *bench_client_create(struct bench *b, unsigned slot)
{
	struct bench_client *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->in = malloc(CLIENT_IN_BUF);
	if (c->in == NULL) {
		free(c);
		return NULL;
	}
	c->b = b;
	c->slot = slot;
	bench_conn_init(&c->bc, c->out);
	return c;
}

static void client_reset(struct bench_client *c)
{
	bench_conn_close(&c->bc);
	free(c->sizes);
	free(c->uid_hashes);
	c->sizes = NULL;
	c->uid_hashes = NULL;
	c->step = STEP_NONE;
	c->serial++;
}

void bench_client_destroy(struct bench_client **cp)
{
	struct bench_client *c = *cp;

	if (c == NULL)
		return;
	*cp = NULL;
	client_reset(c);
	free(c->in);
	free(c);
}

unsigned bench_client_user_index(const struct bench_client *c)
{
	return c->user_index;
}

bool bench_client_busy(const struct bench_client *c)
{
	return c->step != STEP_NONE;
}

/* Ends the session; the bench may start the next one at once. */
static void client_end(struct bench_client *c, bool ok)
{
	client_reset(c);
	bench_session_done(c->b, c, ok);
}

static void client_fail(struct bench_client *c, enum bench_error kind)
{
	bench_count_failure(c->b, kind);
	client_end(c, false);
}

void bench_client_abort(struct bench_client *c)
{
	if (c->step != STEP_NONE)
		client_fail(c, BERR_UNFINISHED);
}

/* Writes what is queued. false when the session failed. */
static bool client_flush(struct bench_client *c)
{
	if (bench_conn_flush(&c->bc) < 0) {
		client_fail(c, c->bc.conn.ssl != NULL ? BERR_TLS : BERR_CLOSED);
		return false;
	}
	return true;
}

static bool client_send(struct bench_client *c, enum client_step step,
			const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static bool client_send(struct bench_client *c, enum client_step step,
			const char *fmt, ...)
{
	va_list args;
	int n;

	va_start(args, fmt);
	n = vsnprintf(c->out, sizeof(c->out) - 2, fmt, args);
	va_end(args);
	if (n < 0 || (size_t)n >= sizeof(c->out) - 2)
		n = 0;
	c->out[n++] = '\r';
	c->out[n++] = '\n';
	c->bc.out_off = 0;
	c->bc.out_len = (size_t)n;
	c->step = step;
	c->lines = 0;
	c->body_octets = 0;
	return client_flush(c);
}

void bench_client_start(struct bench_client *c, const char *user,
			unsigned user_index)
{
	snprintf(c->user, sizeof(c->user), "%s", user);
	c->user_index = user_index;
	c->in_start = c->in_len = 0;
	c->multi = c->mid_line = false;
	c->stat_count = 0;
	c->stat_octets = 0;
	c->quit_requested = false;
	c->start_us = bench_now_us();
	c->step = STEP_CONNECTING;
	if (bench_conn_open(&c->bc, c->b, client_io, c) < 0)
		client_fail(c, BERR_CONNECT);
}

/* --- what follows each reply --- */

static void client_next_message(struct bench_client *c)
{
	const struct bench_options *opt = bench_options(c->b);

	if (c->msg > c->stat_count) {
		client_send(c, STEP_QUIT, "QUIT");
		return;
	}
	if (opt->scenario == SCENARIO_TOP)
		client_send(c, STEP_TOP, "TOP %u 0", c->msg);
	else
		client_send(c, STEP_RETR, "RETR %u", c->msg);
}

static void client_after_stat(struct bench_client *c)
{
	const struct bench_options *opt = bench_options(c->b);
	uint64_t now;

	switch (opt->scenario) {
	case SCENARIO_LOGIN:
	case SCENARIO_LMTP:       /* never here: lmtp_client.c runs those */
		client_send(c, STEP_QUIT, "QUIT");
		break;
	case SCENARIO_FETCH:
	case SCENARIO_LIST:
		c->sizes = calloc(c->stat_count + 1u, sizeof(*c->sizes));
		c->uid_hashes = calloc(c->stat_count + 1u,
				       sizeof(*c->uid_hashes));
		if (c->sizes == NULL || c->uid_hashes == NULL) {
			client_fail(c, BERR_PROTOCOL);
			return;
		}
		client_send(c, STEP_LIST, "LIST");
		break;
	case SCENARIO_TOP:
		c->msg = 1;
		client_next_message(c);
		break;
	case SCENARIO_IDLE:
		now = bench_now_us();
		c->step = STEP_IDLE;
		/* Spread the NOOPs: 0.5 to 1.5 times the interval. */
		c->next_noop_us = now + (uint64_t)(opt->noop_interval * 1e6 *
			(0.5 + (double)(random() % 1000) / 1000.0));
		bench_idle_ready(c->b);
		break;
	}
}

static bool parse_u64(const char *p, size_t len, uint64_t *value_r,
		      size_t *used_r)
{
	uint64_t v = 0;
	size_t i = 0;

	while (i < len && p[i] >= '0' && p[i] <= '9' && i < 19) {
		v = v * 10 + (uint64_t)(p[i] - '0');
		i++;
	}
	if (i == 0)
		return false;
	*value_r = v;
	*used_r = i;
	return true;
}

/* "+OK nn mm ..." of STAT (RFC 1939 5.). */
static bool parse_stat(struct bench_client *c, const char *line, size_t len)
{
	uint64_t count, octets;
	size_t used, pos = 4;

	if (len < 4 || line[3] != ' ' ||
	    !parse_u64(line + pos, len - pos, &count, &used) ||
	    count > 100000000)
		return false;
	pos += used;
	if (pos >= len || line[pos] != ' ')
		return false;
	pos++;
	if (!parse_u64(line + pos, len - pos, &octets, &used))
		return false;
	c->stat_count = (unsigned)count;
	c->stat_octets = octets;
	return true;
}

static void client_status(struct bench_client *c, const char *line,
			  size_t len)
{
	const struct bench_options *opt = bench_options(c->b);
	struct bench_stats *st = bench_stats(c->b);
	bool ok = len >= 3 && memcmp(line, "+OK", 3) == 0 &&
		  (len == 3 || line[3] == ' ');

	if (!ok) {
		bool err = len >= 4 && memcmp(line, "-ERR", 4) == 0;

		if (!err)
			client_fail(c, BERR_PROTOCOL);
		else if (c->step == STEP_GREETING)
			client_fail(c, BERR_GREETING);
		else if (len >= 12 && memcmp(line + 4, " [IN-USE]", 9) == 0)
			client_fail(c, BERR_IN_USE);
		else if (c->step == STEP_USER || c->step == STEP_PASS)
			client_fail(c, BERR_AUTH);
		else
			client_fail(c, BERR_ERR_REPLY);
		return;
	}
	switch (c->step) {
	case STEP_GREETING:
		if (opt->tls == BENCH_TLS_STARTTLS)
			client_send(c, STEP_STLS, "STLS");
		else
			client_send(c, STEP_USER, "USER %s", c->user);
		break;
	case STEP_STLS:
		/* RFC 2595 4.: nothing that came before the handshake
		 * may be used after it. */
		c->in_start = c->in_len = 0;
		if (conn_start_tls_client(&c->bc.conn, bench_tls_ctx(c->b),
					  opt->sni) < 0) {
			client_fail(c, BERR_TLS);
			return;
		}
		c->step = STEP_HANDSHAKE;
		break;
	case STEP_USER:
		client_send(c, STEP_PASS, "PASS %s", opt->password);
		break;
	case STEP_PASS:
		st->logins++;
		bench_samples_add(&st->login_us, bench_now_us() - c->start_us);
		client_send(c, STEP_STAT, "STAT");
		break;
	case STEP_STAT:
		if (!parse_stat(c, line, len)) {
			client_fail(c, BERR_PROTOCOL);
			return;
		}
		client_after_stat(c);
		break;
	case STEP_LIST:
	case STEP_UIDL:
	case STEP_RETR:
	case STEP_TOP:
		c->multi = true;
		break;
	case STEP_NOOP:
		st->noops++;
		if (c->quit_requested) {
			client_send(c, STEP_QUIT, "QUIT");
			break;
		}
		c->step = STEP_IDLE;
		c->next_noop_us = bench_now_us() +
				  (uint64_t)(opt->noop_interval * 1e6);
		break;
	case STEP_QUIT:
		st->sessions_ok++;
		if (opt->scenario != SCENARIO_IDLE)
			bench_samples_add(&st->session_us,
					  bench_now_us() - c->start_us);
		client_end(c, true);
		break;
	default:
		/* A reply nobody asked for. */
		client_fail(c, BERR_PROTOCOL);
		break;
	}
}

/* "n size" of LIST or "n uid" of UIDL: n must be the next message. */
static bool client_listing_line(struct bench_client *c, const char *line,
				size_t len)
{
	uint64_t n, size, h = 1469598103934665603ull;
	size_t used, pos;

	if (!parse_u64(line, len, &n, &used) || used >= len ||
	    line[used] != ' ' || n != c->lines || n > c->stat_count)
		return false;
	pos = used + 1;
	if (c->step == STEP_LIST) {
		if (!parse_u64(line + pos, len - pos, &size, &used) ||
		    pos + used != len)
			return false;
		c->sizes[n] = size;
		return true;
	}
	/* RFC 1939 7.: 1 to 70 characters in 0x21-0x7E. */
	if (len - pos < 1 || len - pos > UIDL_MAX_LEN)
		return false;
	for (size_t i = pos; i < len; i++) {
		unsigned char ch = (unsigned char)line[i];

		if (ch < 0x21 || ch > 0x7e)
			return false;
		h = (h ^ ch) * 1099511628211ull;
	}
	c->uid_hashes[n] = h;
	return true;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static bool uids_unique(struct bench_client *c)
{
	uint64_t *h = c->uid_hashes + 1;

	qsort(h, c->stat_count, sizeof(*h), cmp_u64);
	for (unsigned i = 1; i < c->stat_count; i++)
		if (h[i] == h[i - 1])
			return false;
	return true;
}

/* The "." line ended a multi-line reply. */
static void client_body_end(struct bench_client *c)
{
	struct bench_stats *st = bench_stats(c->b);
	const struct bench_options *opt = bench_options(c->b);

	c->multi = false;
	switch (c->step) {
	case STEP_LIST:
		if (c->lines != c->stat_count) {
			client_fail(c, BERR_COUNT);
			return;
		}
		client_send(c, STEP_UIDL, "UIDL");
		break;
	case STEP_UIDL:
		if (c->lines != c->stat_count) {
			client_fail(c, BERR_COUNT);
			return;
		}
		if (!uids_unique(c)) {
			client_fail(c, BERR_UIDL);
			return;
		}
		if (opt->scenario == SCENARIO_LIST) {
			client_send(c, STEP_QUIT, "QUIT");
			return;
		}
		c->msg = 1;
		client_next_message(c);
		break;
	case STEP_RETR:
		/* LIST sizes are the octets RETR sends, before stuffing
		 * and without the terminator (RFC 1939 5., 7.). */
		if (c->body_octets != c->sizes[c->msg]) {
			client_fail(c, BERR_SIZE);
			return;
		}
		/* fall through */
	case STEP_TOP:
		st->messages++;
		st->message_octets += c->body_octets;
		c->msg++;
		client_next_message(c);
		break;
	default:
		client_fail(c, BERR_PROTOCOL);
		break;
	}
}

/* Consumes complete lines from the input. Returns false when the session
 * ended (failed or finished) while parsing. */
static bool client_parse(struct bench_client *c)
{
	unsigned serial = c->serial;

	while (c->in_len > 0 && c->serial == serial) {
		char *p = c->in + c->in_start;
		char *lf = memchr(p, '\n', c->in_len);
		size_t len;

		if (!c->multi) {
			if (lf == NULL) {
				if (c->in_len > STATUS_LINE_MAX) {
					client_fail(c, BERR_FRAMING);
					return false;
				}
				break;
			}
			len = (size_t)(lf - p) + 1;
			if (len < 2 || p[len - 2] != '\r') {
				client_fail(c, BERR_FRAMING);
				return false;
			}
			c->in_start += len;
			c->in_len -= len;
			client_status(c, p, len - 2);
			/* STLS: the buffer was dropped for the handshake. */
			continue;
		}
		if (lf == NULL) {
			/* A line longer than the buffer: count what we have
			 * but keep the last byte, which may be its CR. */
			if (c->in_start == 0 && c->in_len == CLIENT_IN_BUF) {
				if (!c->mid_line && p[0] == '.' &&
				    p[1] != '.') {
					client_fail(c, BERR_STUFFING);
					return false;
				}
				len = c->in_len - 1;
				c->body_octets += len -
					(!c->mid_line && p[0] == '.');
				c->mid_line = true;
				c->in_start += len;
				c->in_len -= len;
			}
			break;
		}
		len = (size_t)(lf - p) + 1;
		c->in_start += len;
		c->in_len -= len;
		if (len < 2 || p[len - 2] != '\r') {
			client_fail(c, BERR_FRAMING);
			return false;
		}
		if (c->mid_line) {
			c->mid_line = false;
			c->body_octets += len;
			continue;
		}
		if (p[0] == '.') {
			if (len == 3) {
				client_body_end(c);
				continue;
			}
			if (p[1] != '.') {
				client_fail(c, BERR_STUFFING);
				return false;
			}
			p++;
			len--;
		}
		c->lines++;
		c->body_octets += len;
		if ((c->step == STEP_LIST || c->step == STEP_UIDL) &&
		    !client_listing_line(c, p, len - 2)) {
			client_fail(c, c->step == STEP_UIDL ? BERR_UIDL
							    : BERR_PROTOCOL);
			return false;
		}
	}
	if (c->serial != serial)
		return false;
	if (c->in_start > 0 && c->in_len > 0)
		memmove(c->in, c->in + c->in_start, c->in_len);
	c->in_start = 0;
	return true;
}

/* Reads and parses until the socket has nothing more. false when the
 * session ended. */
static bool client_read(struct bench_client *c)
{
	unsigned serial = c->serial;

	for (;;) {
		size_t room = CLIENT_IN_BUF - c->in_start - c->in_len;
		ssize_t n;

		if (c->step == STEP_HANDSHAKE)
			return true;
		if (room == 0) {
			/* client_parse always makes room in a body or fails
			 * a status line first; this is a safety net. */
			client_fail(c, BERR_FRAMING);
			return false;
		}
		n = bench_conn_read(&c->bc, c->in + c->in_start + c->in_len,
				    room);
		if (n == 0)
			return true;
		if (n < 0) {
			client_fail(c, n == CONN_ERROR && c->bc.conn.ssl != NULL ?
				    BERR_TLS : BERR_CLOSED);
			return false;
		}
		c->in_len += (size_t)n;
		if (!client_parse(c) || c->serial != serial)
			return false;
	}
}

static void client_io(void *context, unsigned ready)
{
	struct bench_client *c = context;
	const struct bench_options *opt = bench_options(c->b);
	unsigned serial = c->serial;
	int ret;

	if (c->step == STEP_CONNECTING) {
		ret = bench_conn_connected(&c->bc);
		if (ret < 0) {
			client_fail(c, BERR_CONNECT);
			return;
		}
		if (ret == 0)
			return;
		if (opt->tls == BENCH_TLS_IMPLICIT) {
			if (conn_start_tls_client(&c->bc.conn,
						  bench_tls_ctx(c->b),
						  opt->sni) < 0) {
				client_fail(c, BERR_TLS);
				return;
			}
			c->step = STEP_HANDSHAKE;
		} else {
			c->step = STEP_GREETING;
		}
	}
	for (;;) {
		if (c->step == STEP_HANDSHAKE) {
			ret = conn_handshake(&c->bc.conn);
			if (ret < 0) {
				client_fail(c, BERR_TLS);
				return;
			}
			if (ret == 0)
				break;
			c->bc.progress_us = bench_now_us();
			if (opt->tls == BENCH_TLS_STARTTLS) {
				if (!client_send(c, STEP_USER, "USER %s",
						 c->user))
					return;
			} else {
				c->step = STEP_GREETING;
			}
		}
		if (!client_flush(c) || !client_read(c) || c->serial != serial)
			return;
		if (c->step != STEP_HANDSHAKE)
			break;
		/* STLS was answered inside client_read: go on with the
		 * handshake now. */
	}
	bench_conn_update_events(&c->bc);
}

void bench_client_tick(struct bench_client *c, uint64_t now_us)
{
	if (c->step == STEP_NONE)
		return;
	if (c->step == STEP_IDLE) {
		if (now_us >= c->next_noop_us) {
			c->bc.progress_us = now_us;
			if (client_send(c, STEP_NOOP, "NOOP"))
				bench_conn_update_events(&c->bc);
		}
		return;
	}
	if (bench_conn_stalled(&c->bc, c->b, now_us))
		client_fail(c, BERR_TIMEOUT);
}

void bench_client_quit(struct bench_client *c)
{
	if (c->step == STEP_IDLE) {
		c->bc.progress_us = bench_now_us();
		if (client_send(c, STEP_QUIT, "QUIT"))
			bench_conn_update_events(&c->bc);
	} else if (c->step != STEP_NONE) {
		c->quit_requested = true;
	}
}
