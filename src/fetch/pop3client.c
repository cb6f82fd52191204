/* pop3client.c: the fetch client's POP3 connection (pop3client.h). */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fetch/pop3client.h"
#include "net/ioloop.h"

static int64_t pop3client_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int pop3client_fail(struct pop3client *pc, int err, const char *fmt,
			   ...) __attribute__((format(printf, 3, 4)));

static int pop3client_fail(struct pop3client *pc, int err, const char *fmt,
			   ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(pc->error, sizeof(pc->error), fmt, ap);
	va_end(ap);
	return err;
}

/* When a step begun now must have made progress: timeout_ms from now,
 * or the session's deadline when that is sooner. */
static int64_t pop3client_limit(const struct pop3client *pc)
{
	int64_t limit = pop3client_now_ms() + pc->timeout_ms;

	if (pc->deadline_ms > 0 && pc->deadline_ms < limit)
		limit = pc->deadline_ms;
	return limit;
}

/* Waits until the conn can make progress on what is wanted: 0, or
 * POP3C_TIMEOUT once limit has passed. The limit is the caller's, set
 * when its step began: a socket that is ready while the conn still
 * cannot progress (TLS records trickling in) ends at it too. */
static int pop3client_wait(struct pop3client *pc, bool want_read,
			   bool want_write, int64_t limit)
{
	unsigned events = conn_wanted(&pc->conn, want_read, want_write);
	struct pollfd p = { .fd = pc->conn.fd };
	int n;

	p.events = (short)((events & IO_READ ? POLLIN : 0) |
			   (events & IO_WRITE ? POLLOUT : 0));
	for (;;) {
		int64_t left = limit - pop3client_now_ms();

		if (left <= 0)
			return pop3client_fail(pc, POP3C_TIMEOUT,
					       "timed out");
		n = poll(&p, 1, (int)(left > 60000 ? 60000 : left));
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return pop3client_fail(pc, POP3C_NET, "poll: %s",
					       strerror(errno));
	}
}

static int pop3client_connect_one(struct pop3client *pc,
				  const struct addrinfo *ai)
{
	int ret;

	int64_t limit = pop3client_limit(pc);

	if (conn_connect(&pc->conn, ai->ai_addr, ai->ai_addrlen) < 0)
		return pop3client_fail(pc, POP3C_NET, "%s", pc->conn.error);
	for (;;) {
		ret = pop3client_wait(pc, false, true, limit);
		if (ret < 0)
			break;
		ret = conn_connect_finish(&pc->conn);
		if (ret > 0)
			return 0;
		if (ret < 0) {
			ret = pop3client_fail(pc, POP3C_NET, "%s",
					      pc->conn.error);
			break;
		}
	}
	conn_deinit(&pc->conn);
	return ret;
}

int pop3client_connect(struct pop3client *pc, const char *host,
		       const char *port, unsigned timeout_secs)
{
	struct addrinfo hints, *res, *ai;
	int ret;

	memset(pc, 0, sizeof(*pc));
	conn_init(&pc->conn, -1);
	pc->timeout_ms = timeout_secs * 1000u;
	pc->in = malloc(POP3CLIENT_IN_BUF);
	if (pc->in == NULL)
		return pop3client_fail(pc, POP3C_NET, "out of memory");
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_ADDRCONFIG;
	ret = getaddrinfo(host, port, &hints, &res);
	if (ret != 0)
		return pop3client_fail(pc, POP3C_NET, "cannot resolve: %s",
				       gai_strerror(ret));
	ret = pop3client_fail(pc, POP3C_NET, "no address");
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		ret = pop3client_connect_one(pc, ai);
		if (ret == 0)
			break;
	}
	freeaddrinfo(res);
	return ret;
}

void pop3client_close(struct pop3client *pc)
{
	conn_deinit(&pc->conn);
	free(pc->in);
	pc->in = NULL;
	pc->in_start = pc->in_len = 0;
}

int pop3client_start_tls(struct pop3client *pc, struct tls_ctx *ctx,
			 const char *host)
{
	int64_t limit = pop3client_limit(pc);
	int ret;

	if (pc->in_len > 0)
		return pop3client_fail(pc, POP3C_PROTO,
				       "the server sent data before the TLS "
				       "handshake (injection attempt?)");
	if (conn_start_tls_client(&pc->conn, ctx, host) < 0)
		return pop3client_fail(pc, POP3C_TLS, "%s", pc->conn.error);
	for (;;) {
		ret = conn_handshake(&pc->conn);
		if (ret > 0)
			return 0;
		if (ret < 0)
			return pop3client_fail(pc, POP3C_TLS, "%s",
					       pc->conn.error);
		/* conn_wanted knows which way the handshake waits */
		ret = pop3client_wait(pc, true, false, limit);
		if (ret < 0)
			return ret;
	}
}

static int pop3client_write_all(struct pop3client *pc, const char *buf,
				size_t len)
{
	int64_t limit = pop3client_limit(pc);

	while (len > 0) {
		ssize_t n = conn_write(&pc->conn, buf, len);
		int ret;

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			pc->bytes_out += (uint64_t)n;
			limit = pop3client_limit(pc);
			continue;
		}
		if (n != CONN_AGAIN)
			return pop3client_fail(pc, POP3C_NET,
					       "connection lost: %s",
					       n == CONN_EOF ? "closed" :
							       pc->conn.error);
		ret = pop3client_wait(pc, false, true, limit);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int pop3client_send(struct pop3client *pc, const char *fmt, ...)
{
	char line[POP3CLIENT_LINE_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2)
		return pop3client_fail(pc, POP3C_PROTO, "command too long");
	line[n++] = '\r';
	line[n++] = '\n';
	n = pop3client_write_all(pc, line, (size_t)n);
	explicit_bzero(line, sizeof(line)); /* PASS, AUTH responses */
	return n;
}

/* Reads more into the buffer (moving what is left to its start when
 * needed). 0, or an error (EOF included: every read here expects
 * more). */
static int pop3client_fill(struct pop3client *pc)
{
	int64_t limit = pop3client_limit(pc);
	ssize_t n;
	int ret;

	if (pc->conn.state != CONN_PLAIN && pc->conn.state != CONN_TLS)
		return pop3client_fail(pc, POP3C_NET, "not connected");
	if (pc->in_start > 0 &&
	    pc->in_start + pc->in_len > POP3CLIENT_IN_BUF / 2) {
		memmove(pc->in, pc->in + pc->in_start, pc->in_len);
		pc->in_start = 0;
	}
	if (pc->in_start + pc->in_len == POP3CLIENT_IN_BUF)
		return pop3client_fail(pc, POP3C_PROTO, "input buffer full");
	for (;;) {
		n = conn_read(&pc->conn, pc->in + pc->in_start + pc->in_len,
			      POP3CLIENT_IN_BUF - pc->in_start - pc->in_len);
		if (n > 0) {
			pc->in_len += (size_t)n;
			pc->bytes_in += (uint64_t)n;
			return 0;
		}
		if (n == CONN_EOF)
			return pop3client_fail(pc, POP3C_NET,
					       "connection closed by the "
					       "server");
		if (n != CONN_AGAIN)
			return pop3client_fail(pc, POP3C_NET,
					       "connection lost: %s",
					       pc->conn.error);
		ret = pop3client_wait(pc, true, false, limit);
		if (ret < 0)
			return ret;
	}
}

/* One line of at most POP3CLIENT_LINE_MAX octets (LF end; a CR before
 * it dropped) into line, NUL-terminated. */
static int pop3client_read_line(struct pop3client *pc, char *line,
				size_t size, size_t *len_r)
{
	size_t scanned = 0, max = size - 1;

	if (max > POP3CLIENT_LINE_MAX)
		max = POP3CLIENT_LINE_MAX;
	for (;;) {
		char *start = pc->in + pc->in_start;
		char *lf = memchr(start + scanned, '\n',
				  pc->in_len - scanned);
		int ret;

		if (lf != NULL) {
			size_t len = (size_t)(lf - start);

			pc->in_start += len + 1;
			pc->in_len -= len + 1;
			if (len > 0 && start[len - 1] == '\r')
				len--;
			if (len > max)
				return pop3client_fail(pc, POP3C_PROTO,
						       "line too long");
			memcpy(line, start, len);
			line[len] = '\0';
			*len_r = len;
			if (pc->in_len == 0)
				pc->in_start = 0;
			return 0;
		}
		scanned = pc->in_len;
		if (scanned > max + 1)
			return pop3client_fail(pc, POP3C_PROTO,
					       "line too long");
		ret = pop3client_fill(pc);
		if (ret < 0)
			return ret;
	}
}

int pop3client_read_status(struct pop3client *pc, struct pop3_status *st,
			   char *line, size_t size)
{
	size_t len = 0;
	int ret = pop3client_read_line(pc, line, size, &len);

	if (ret < 0)
		return ret;
	pop3_status_parse(line, len, st);
	return 0;
}

int pop3client_read_body(struct pop3client *pc,
			 int (*fn)(const char *data, size_t len,
				   void *context),
			 void *context, bool *sink_failed_r)
{
	/* decoded output of one input chunk: at most its size + 2 */
	static char out[POP3CLIENT_IN_BUF + 2];
	struct pop3_body body;
	int ret;

	*sink_failed_r = false;
	pop3_body_init(&body);
	for (;;) {
		size_t out_len = 0, used;

		if (pc->in_len > 0) {
			used = pop3_body_decode(&body, pc->in + pc->in_start,
						pc->in_len, out, &out_len);
			pc->in_start += used;
			pc->in_len -= used;
			if (pc->in_len == 0)
				pc->in_start = 0;
			if (out_len > 0 && !*sink_failed_r) {
				int r = fn(out, out_len, context);

				if (r == -2)
					return pop3client_fail(
						pc, POP3C_PROTO,
						"message much larger than "
						"the server said");
				if (r < 0)
					*sink_failed_r = true;
			}
			if (body.done)
				return 0;
		}
		ret = pop3client_fill(pc);
		if (ret < 0)
			return ret;
	}
}

int pop3client_read_lines(struct pop3client *pc,
			  bool (*fn)(char *line, size_t len, void *context),
			  void *context)
{
	char line[POP3CLIENT_LINE_MAX + 1];
	size_t len = 0;
	int ret;

	for (;;) {
		ret = pop3client_read_line(pc, line, sizeof(line), &len);
		if (ret < 0)
			return ret;
		if (len == 1 && line[0] == '.')
			return 0;
		/* byte-stuffing (RFC 1939 3.) */
		/* read_line wrote len >= 0 octets; NOLINTNEXTLINE(clang-analyzer-core.UndefinedBinaryOperatorResult) */
		if (line[0] == '.') {
			memmove(line, line + 1, len);
			len--;
		}
		if (!fn(line, len, context))
			return POP3C_PROTO;
	}
}

bool pop3client_has_input(const struct pop3client *pc)
{
	return pc->in_len > 0 || conn_has_buffered(&pc->conn);
}
