/* lmtp_client.c: one connection of `satchel bench --lmtp`: an LMTP client
 * (RFC 2033) that says LHLO once, then delivers a fixed ~4 KB message with
 * a unique Message-ID to its recipients again and again, timing each from
 * its final dot to the last per-recipient reply.
 *
 * MAIL, the RCPTs and DATA go out in one write (RFC 2920 PIPELINING, which
 * every LMTP server we measure announces; DATA ends the group, so the
 * message waits for the 354). Replies are untrusted data: parsed with
 * bounds, never echoed; anything unexpected ends the connection with one
 * counted error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench.h"
#include "net/conn.h"
#include "net/ioloop.h"

#define LMTP_IN_BUF 8192
/* RFC 5321 4.5.3.1.5: a reply line is at most 512 octets; be lenient up
 * to a few KB before calling it a framing error. */
#define LMTP_LINE_MAX 4096
/* The envelope of one message: MAIL, BENCH_RCPTS_MAX RCPTs of user names
 * under 256 octets, DATA; or the message itself with its final dot. */
#define LMTP_OUT_BUF (BENCH_RCPTS_MAX * 300 + BENCH_LMTP_MESSAGE + 1024)
#define LMTP_BODY_LINE 76

enum lmtp_step {
	LSTEP_NONE, LSTEP_CONNECTING, LSTEP_GREETING, LSTEP_LHLO,
	LSTEP_ENVELOPE, LSTEP_DATA, LSTEP_QUIT,
};

struct bench_lmtp {
	struct bench *b;
	unsigned slot, group;
	struct bench_conn bc;
	enum lmtp_step step;
	unsigned replies;         /* replies received in this step */
	uint64_t seq;             /* messages started on this connection */

	char in[LMTP_IN_BUF];
	size_t in_len;
	char out[LMTP_OUT_BUF];   /* bc.out */
	size_t msg_octets;        /* of the message being sent, as sent */

	uint64_t dot_us;
	bool dot_pending;         /* the final dot is queued, not yet sent */
};

/* The body: lines of printable text, one starting with a dot (so the
 * server un-stuffs one), to BENCH_LMTP_MESSAGE octets with the headers. */
static size_t lmtp_body(char *buf, size_t size, size_t header_len)
{
	size_t len = 0;
	unsigned line = 0;

	while (header_len + len + LMTP_BODY_LINE + 2 <= BENCH_LMTP_MESSAGE &&
	       len + LMTP_BODY_LINE + 2 < size) {
		int n = snprintf(buf + len, size - len, "%s%-*u %.*s\r\n",
				 line == 3 ? ".." : "", 6, line,
				 LMTP_BODY_LINE - 7 - (line == 3 ? 2 : 0),
				 "The quick brown fox jumps over the lazy dog "
				 "while the benchmark counts every reply.");

		if (n < 0 || (size_t)n >= size - len)
			break;
		len += (size_t)n;
		line++;
	}
	return len;
}

/* About 35 KB with its buffers: one allocation per connection. */
struct bench_lmtp *bench_lmtp_create(struct bench *b, unsigned slot)
{
	struct bench_lmtp *c = calloc(1, sizeof(*c));

	if (c != NULL) {
		c->b = b;
		c->slot = slot;
		bench_conn_init(&c->bc, c->out);
	}
	return c;
}

void bench_lmtp_destroy(struct bench_lmtp **cp)
{
	if (*cp != NULL) {
		bench_conn_close(&(*cp)->bc);
		free(*cp);
		*cp = NULL;
	}
}

bool bench_lmtp_busy(const struct bench_lmtp *c)
{
	return c->step != LSTEP_NONE;
}

unsigned bench_lmtp_group(const struct bench_lmtp *c)
{
	return c->group;
}

/* Closes the connection; ok after the 221 of QUIT, else kind is counted.
 * The bench may start the slot's next connection. */
static void lmtp_end(struct bench_lmtp *c, bool ok, enum bench_error kind)
{
	/* A connection that failed before its first message counts as
	 * one message tried, so -n ends against a server that refuses
	 * every connection instead of retrying until --max-time. */
	if (!ok && c->step <= LSTEP_LHLO)
		(void)bench_lmtp_next_message(c->b);
	bench_conn_close(&c->bc);
	c->step = LSTEP_NONE;
	if (!ok)
		bench_count_failure(c->b, kind);
	bench_lmtp_done(c->b, c->slot, ok);
}

static void lmtp_fail(struct bench_lmtp *c, enum bench_error kind)
{
	lmtp_end(c, false, kind);
}

void bench_lmtp_abort(struct bench_lmtp *c)
{
	if (c->step != LSTEP_NONE)
		lmtp_fail(c, BERR_UNFINISHED);
}

/* Writes what is queued; notes when the final dot left. false when the
 * connection failed. */
static bool lmtp_flush(struct bench_lmtp *c)
{
	if (bench_conn_flush(&c->bc) < 0) {
		lmtp_fail(c, BERR_CLOSED);
		return false;
	}
	if (c->dot_pending && bench_conn_flushed(&c->bc)) {
		c->dot_pending = false;
		c->dot_us = bench_now_us();
	}
	return true;
}

/* Queues len octets of out (already written there) for step. */
static bool lmtp_queue(struct bench_lmtp *c, enum lmtp_step step, size_t len)
{
	c->bc.out_off = 0;
	c->bc.out_len = len;
	c->step = step;
	c->replies = 0;
	return lmtp_flush(c);
}

static bool lmtp_command(struct bench_lmtp *c, enum lmtp_step step,
			 const char *line)
{
	int n = snprintf(c->out, LMTP_OUT_BUF, "%s\r\n", line);

	return lmtp_queue(c, step, n > 0 ? (size_t)n : 0);
}

/* MAIL, one RCPT per recipient of this connection's group, DATA. */
static bool lmtp_envelope(struct bench_lmtp *c)
{
	unsigned rcpts = bench_options(c->b)->rcpts;
	size_t len = 0;
	char user[256];
	int n;

	n = snprintf(c->out, LMTP_OUT_BUF, "MAIL FROM:<bench@localhost>\r\n");
	len = n > 0 ? (size_t)n : 0;
	for (unsigned i = 0; i < rcpts; i++) {
		bench_user_name(c->b, c->group * rcpts + i, user, sizeof(user));
		n = snprintf(c->out + len, LMTP_OUT_BUF - len,
			     "RCPT TO:<%s>\r\n", user);
		if (n < 0 || (size_t)n >= LMTP_OUT_BUF - len)
			return false;
		len += (size_t)n;
	}
	n = snprintf(c->out + len, LMTP_OUT_BUF - len, "DATA\r\n");
	if (n < 0 || (size_t)n >= LMTP_OUT_BUF - len)
		return false;
	c->seq++;
	return lmtp_queue(c, LSTEP_ENVELOPE, len + (size_t)n);
}

/* The message after the 354: headers with a Message-ID unique across
 * runs (pid, start time, slot, sequence), so satchel's delivery ids never
 * take a new message for a retried one, then the body and the dot. */
static bool lmtp_message(struct bench_lmtp *c)
{
	size_t len;
	int n;

	n = snprintf(c->out, LMTP_OUT_BUF,
		     "From: Bench <bench@localhost>\r\n"
		     "To: undisclosed-recipients:;\r\n"
		     "Subject: satchel bench delivery %llu\r\n"
		     "Date: Wed, 02 Dec 2026 06:00:00 +0000\r\n"
		     "Message-ID: <%ld.%llu.%u.%llu@bench.invalid>\r\n"
		     "MIME-Version: 1.0\r\n"
		     "Content-Type: text/plain; charset=us-ascii\r\n\r\n",
		     (unsigned long long)c->seq, (long)getpid(),
		     (unsigned long long)bench_start_us(c->b), c->slot,
		     (unsigned long long)c->seq);
	if (n < 0 || (size_t)n >= LMTP_OUT_BUF)
		return false;
	len = (size_t)n;
	len += lmtp_body(c->out + len, LMTP_OUT_BUF - len - 3, len);
	memcpy(c->out + len, ".\r\n", 3);
	c->msg_octets = len;
	c->dot_pending = true;
	return lmtp_queue(c, LSTEP_DATA, len + 3);
}

/* The next message, or QUIT when the run has no more. */
static void lmtp_next(struct bench_lmtp *c)
{
	if (bench_lmtp_next_message(c->b)) {
		if (!lmtp_envelope(c) && c->step != LSTEP_NONE)
			lmtp_fail(c, BERR_PROTOCOL);
		return;
	}
	lmtp_command(c, LSTEP_QUIT, "QUIT");
}

/* One per-recipient reply after the dot (RFC 2033 4.2), in RCPT order. */
static void lmtp_data_reply(struct bench_lmtp *c, unsigned code)
{
	const struct bench_options *opt = bench_options(c->b);
	struct bench_stats *st = bench_stats(c->b);
	unsigned user = c->group * opt->rcpts + c->replies;

	if (code / 100 != 2) {
		lmtp_fail(c, BERR_ERR_REPLY);
		return;
	}
	st->deliveries++;
	if (st->user_deliveries != NULL && user < opt->users)
		st->user_deliveries[user]++;
	if (++c->replies < opt->rcpts)
		return;
	st->messages++;
	st->message_octets += c->msg_octets;
	bench_samples_add(&st->session_us, bench_now_us() - c->dot_us);
	lmtp_next(c);
}

/* A whole reply (its last line) with code arrived. */
static void lmtp_reply(struct bench_lmtp *c, unsigned code)
{
	unsigned rcpts = bench_options(c->b)->rcpts;

	switch (c->step) {
	case LSTEP_GREETING:
		if (code != 220) {
			lmtp_fail(c, BERR_GREETING);
			return;
		}
		lmtp_command(c, LSTEP_LHLO, "LHLO bench.invalid");
		return;
	case LSTEP_LHLO:
		if (code != 250) {
			lmtp_fail(c, BERR_GREETING);
			return;
		}
		lmtp_next(c);
		return;
	case LSTEP_ENVELOPE:
		/* MAIL, rcpts RCPTs, then DATA's 354 */
		if (c->replies <= rcpts ? code / 100 != 2 : code != 354) {
			lmtp_fail(c, BERR_ERR_REPLY);
			return;
		}
		if (c->replies++ == rcpts + 1 && !lmtp_message(c) &&
		    c->step != LSTEP_NONE)
			lmtp_fail(c, BERR_PROTOCOL);
		return;
	case LSTEP_DATA:
		lmtp_data_reply(c, code);
		return;
	case LSTEP_QUIT:
		if (code != 221) {
			lmtp_fail(c, BERR_ERR_REPLY);
			return;
		}
		bench_stats(c->b)->sessions_ok++;
		lmtp_end(c, true, BERR_COUNT_KINDS);
		return;
	default:
		/* a reply nobody asked for */
		lmtp_fail(c, BERR_PROTOCOL);
		return;
	}
}

/* "ddd-text" continues a reply, "ddd text" or "ddd" ends it (RFC 5321
 * 4.2.1). Returns false when the connection ended while parsing. */
static bool lmtp_parse(struct bench_lmtp *c)
{
	size_t start = 0;
	enum lmtp_step step = c->step;

	while (start < c->in_len && c->step == step) {
		char *p = c->in + start;
		char *lf = memchr(p, '\n', c->in_len - start);
		size_t len;
		unsigned code;

		if (lf == NULL)
			break;
		len = (size_t)(lf - p) + 1;
		start += len;
		if (len < 5 || p[len - 2] != '\r') {
			lmtp_fail(c, BERR_FRAMING);
			return false;
		}
		if (p[0] < '2' || p[0] > '5' || p[1] < '0' || p[1] > '9' ||
		    p[2] < '0' || p[2] > '9' ||
		    (len > 5 && p[3] != ' ' && p[3] != '-')) {
			lmtp_fail(c, BERR_PROTOCOL);
			return false;
		}
		if (len > 5 && p[3] == '-')
			continue;
		code = (unsigned)(p[0] - '0') * 100 +
		       (unsigned)(p[1] - '0') * 10 + (unsigned)(p[2] - '0');
		lmtp_reply(c, code);
		if (c->step == LSTEP_NONE)
			return false;
		/* a step change (LHLO -> envelope...) keeps parsing: a
		 * server may answer ahead of what we sent only by error,
		 * and that shows as an unexpected reply */
		step = c->step;
	}
	if (start < c->in_len && c->in_len - start > LMTP_LINE_MAX) {
		lmtp_fail(c, BERR_FRAMING);
		return false;
	}
	memmove(c->in, c->in + start, c->in_len - start);
	c->in_len -= start;
	return true;
}

/* Reads and parses until the socket has nothing more. false when the
 * connection ended. */
static bool lmtp_read(struct bench_lmtp *c)
{
	ssize_t n;

	/* lmtp_parse leaves at most LMTP_LINE_MAX octets: there is room */
	while ((n = bench_conn_read(&c->bc, c->in + c->in_len,
				    sizeof(c->in) - c->in_len)) != 0) {
		if (n < 0) {
			lmtp_fail(c, BERR_CLOSED);
			return false;
		}
		c->in_len += (size_t)n;
		if (!lmtp_parse(c))
			return false;
	}
	return true;
}

static void lmtp_io(void *context, unsigned ready)
{
	struct bench_lmtp *c = context;

	if (c->step == LSTEP_CONNECTING) {
		switch (bench_conn_connected(&c->bc)) {
		case 0:
			return;
		case 1:
			c->step = LSTEP_GREETING;
			break;
		default:
			lmtp_fail(c, BERR_CONNECT);
			return;
		}
	}
	if (!lmtp_flush(c) || !lmtp_read(c))
		return;
	bench_conn_update_events(&c->bc);
}

void bench_lmtp_start(struct bench_lmtp *c, unsigned group)
{
	c->group = group;
	c->in_len = 0;
	c->dot_pending = false;
	c->step = LSTEP_CONNECTING;
	if (bench_conn_open(&c->bc, c->b, lmtp_io, c) < 0)
		lmtp_fail(c, BERR_CONNECT);
}

void bench_lmtp_tick(struct bench_lmtp *c, uint64_t now_us)
{
	if (c->step != LSTEP_NONE && bench_conn_stalled(&c->bc, c->b, now_us))
		lmtp_fail(c, BERR_TIMEOUT);
}
