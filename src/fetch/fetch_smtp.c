/* fetch_smtp.c: the LMTP (RFC 2033) and SMTP (RFC 5321) destinations
 * of the fetch client (fetch_dest.h): one connection for the whole
 * run, one transaction per message, delivered at the 250 after the
 * data. The socket blocks, with SO_RCVTIMEO/SO_SNDTIMEO as the bound
 * on every read and write (this is a local, trusted peer chosen by the
 * user; the POP3 server is the hostile one). */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "fetch/fetch_dest_private.h"
#include "util/fileio.h"

#define FETCH_SMTP_LINE_MAX 4096
#define FETCH_SMTP_OUT_BUF (64 * 1024)

struct fetch_smtp {
	bool lmtp;
	int fd;
	char in[FETCH_SMTP_LINE_MAX * 2];
	size_t in_len;
	char out[FETCH_SMTP_OUT_BUF];
	size_t out_len;
	bool line_start;       /* the next octet begins a line */
	bool failed;           /* a write failed: the session is unusable */
};

static int fetch_smtp_connect_unix(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* HOST:PORT, with [IPv6]:PORT. */
static int fetch_smtp_connect_tcp(const char *spec)
{
	char host[256];
	const char *colon = strrchr(spec, ':'), *h = spec;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	size_t hl;
	int fd = -1;

	if (colon == NULL || colon[1] == '\0') {
		errno = EINVAL;
		return -1;
	}
	hl = (size_t)(colon - spec);
	if (hl >= 2 && spec[0] == '[' && spec[hl - 1] == ']') {
		h = spec + 1;
		hl -= 2;
	}
	if (hl == 0 || hl >= sizeof(host)) {
		errno = EINVAL;
		return -1;
	}
	memcpy(host, h, hl);
	host[hl] = '\0';
	if (getaddrinfo(host, colon + 1, &hints, &res) != 0) {
		errno = EHOSTUNREACH;
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

static int fetch_smtp_flush(struct fetch_smtp *s)
{
	if (s->failed)
		return -1;
	if (s->out_len > 0 && fileio_write_all(s->fd, s->out, s->out_len) < 0)
		s->failed = true;
	s->out_len = 0;
	return s->failed ? -1 : 0;
}

static int fetch_smtp_put(struct fetch_smtp *s, const char *data, size_t len)
{
	while (len > 0) {
		size_t room = sizeof(s->out) - s->out_len;
		size_t n = len < room ? len : room;

		memcpy(s->out + s->out_len, data, n);
		s->out_len += n;
		data += n;
		len -= n;
		if (s->out_len == sizeof(s->out) && fetch_smtp_flush(s) < 0)
			return -1;
	}
	return 0;
}

/* Reads one reply (all its lines); its code, or -1 on I/O errors or a
 * malformed reply. The last line's text goes into text. */
static int fetch_smtp_reply(struct fetch_smtp *s, char *text, size_t size)
{
	for (;;) {
		char *lf = memchr(s->in, '\n', s->in_len);
		ssize_t n;

		if (lf != NULL) {
			size_t len = (size_t)(lf - s->in) + 1;
			bool last = len >= 4 && s->in[3] != '-';
			int code = -1;

			if (len >= 4 && s->in[0] >= '2' && s->in[0] <= '5' &&
			    s->in[1] >= '0' && s->in[1] <= '9' &&
			    s->in[2] >= '0' && s->in[2] <= '9')
				code = (s->in[0] - '0') * 100 +
				       (s->in[1] - '0') * 10 + (s->in[2] - '0');
			snprintf(text, size, "%.*s", (int)(len - 1), s->in);
			text[strcspn(text, "\r")] = '\0';
			memmove(s->in, s->in + len, s->in_len - len);
			s->in_len -= len;
			if (code < 0)
				return -1;
			if (last)
				return code;
			continue;
		}
		if (s->in_len == sizeof(s->in))
			return -1;
		n = read(s->fd, s->in + s->in_len, sizeof(s->in) - s->in_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		s->in_len += (size_t)n;
	}
}

/* Sends a command and reads its reply: the code or -1. */
static int fetch_smtp_command(struct fetch_dest *dest, const char *cmd,
			      const char *arg)
{
	struct fetch_smtp *s = dest->impl;

	if (fetch_smtp_put(s, cmd, strlen(cmd)) < 0 ||
	    fetch_smtp_put(s, arg, strlen(arg)) < 0 ||
	    fetch_smtp_put(s, "\r\n", 2) < 0 || fetch_smtp_flush(s) < 0)
		return -1;
	return fetch_smtp_reply(s, dest->error_buf, sizeof(dest->error_buf));
}

static int fetch_smtp_open(struct fetch_dest *dest, const char *arg,
			   bool lmtp, const char **error_r)
{
	struct timeval tv = { .tv_sec = dest->set.timeout_secs };
	struct fetch_smtp *s = calloc(1, sizeof(*s));
	int code;

	if (s == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	s->lmtp = lmtp;
	dest->impl = s;
	s->fd = lmtp && strncmp(arg, "unix:", 5) == 0 ?
			fetch_smtp_connect_unix(arg + 5) :
			fetch_smtp_connect_tcp(arg);
	if (s->fd < 0) {
		snprintf(dest->error_buf, sizeof(dest->error_buf),
			 "%s: cannot connect to %s: %s", lmtp ? "lmtp" : "smtp",
			 arg, strerror(errno));
		*error_r = dest->error_buf;
		return -1;
	}
	if (tv.tv_sec == 0)
		tv.tv_sec = 60;
	setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(s->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	code = fetch_smtp_reply(s, dest->error_buf, sizeof(dest->error_buf));
	if (code == 220)
		code = fetch_smtp_command(dest, lmtp ? "LHLO " : "EHLO ",
					  dest->set.hostname);
	if (code != 250) {
		*error_r = code < 0 ? "no valid greeting from the LMTP/SMTP "
				      "server" :
				      dest->error_buf;
		return -1;
	}
	return 0;
}

static int fetch_lmtp_open(struct fetch_dest *dest, const char *arg,
			   const char **error_r)
{
	return fetch_smtp_open(dest, arg, true, error_r);
}

static int fetch_smtp_open_smtp(struct fetch_dest *dest, const char *arg,
				const char **error_r)
{
	return fetch_smtp_open(dest, arg, false, error_r);
}

static void fetch_smtp_close(struct fetch_dest *dest)
{
	struct fetch_smtp *s = dest->impl;

	if (s == NULL)
		return;
	if (s->fd >= 0) {
		if (!s->failed)
			fetch_smtp_command(dest, "QUIT", "");
		close(s->fd);
	}
	free(s);
}

static enum fetch_dest_result fetch_smtp_result(struct fetch_dest *dest,
						int code,
						const char **error_r)
{
	if (code >= 200 && code < 300)
		return FETCH_DEST_OK;
	if (code < 0)
		snprintf(dest->error_buf, sizeof(dest->error_buf),
			 "the LMTP/SMTP connection failed");
	*error_r = dest->error_buf;
	return code >= 500 ? FETCH_DEST_PERM : FETCH_DEST_TEMP;
}

static int fetch_smtp_begin(struct fetch_dest *dest, const char *key,
			    const struct fetch_envelope *env,
			    const char **error_r)
{
	struct fetch_smtp *s = dest->impl;
	char rcpt[600];
	int code;

	if (s->failed) {
		*error_r = "the LMTP/SMTP connection failed";
		return -1;
	}
	/* the null sender: a fetched message must never bounce back */
	code = fetch_smtp_command(dest, "MAIL FROM:<>", "");
	if (code == 250) {
		snprintf(rcpt, sizeof(rcpt), "<%s>",
			 env != NULL ? env->rcpt : dest->set.rcpt);
		code = fetch_smtp_command(dest, "RCPT TO:", rcpt);
	}
	if (code == 250 || code == 251)
		code = fetch_smtp_command(dest, "DATA", "");
	if (code != 354) {
		char why[sizeof(dest->error_buf)];

		/* the refusal is what to report, not RSET's 250 after it */
		memcpy(why, dest->error_buf, sizeof(why));
		if (code > 0)
			fetch_smtp_command(dest, "RSET", "");
		memcpy(dest->error_buf, why, sizeof(why));
		fetch_smtp_result(dest, code < 300 ? -1 : code, error_r);
		return -1;
	}
	s->line_start = true;
	return 0;
}

/* The data with CRLF line ends and dot-stuffing (RFC 5321 4.5.2). */
static int fetch_smtp_write(struct fetch_dest *dest, const char *data,
			    size_t len, const char **error_r)
{
	struct fetch_smtp *s = dest->impl;
	const char *end = data + len;

	while (data < end) {
		const char *lf = memchr(data, '\n', (size_t)(end - data));
		const char *stop = lf != NULL ? lf : end;

		if (s->line_start && data < end && *data == '.' &&
		    fetch_smtp_put(s, ".", 1) < 0)
			goto out_fail;
		if (fetch_smtp_put(s, data, (size_t)(stop - data)) < 0)
			goto out_fail;
		s->line_start = false;
		if (lf == NULL)
			break;
		if (fetch_smtp_put(s, "\r\n", 2) < 0)
			goto out_fail;
		s->line_start = true;
		data = lf + 1;
	}
	return 0;

out_fail:
	*error_r = "cannot write to the LMTP/SMTP server";
	return -1;
}

static enum fetch_dest_result fetch_smtp_commit(struct fetch_dest *dest,
						const char **error_r)
{
	struct fetch_smtp *s = dest->impl;
	int code;

	if ((!s->line_start && fetch_smtp_put(s, "\r\n", 2) < 0) ||
	    fetch_smtp_put(s, ".\r\n", 3) < 0 || fetch_smtp_flush(s) < 0)
		return fetch_smtp_result(dest, -1, error_r);
	/* LMTP: one reply per recipient, and there is one */
	code = fetch_smtp_reply(s, dest->error_buf, sizeof(dest->error_buf));
	return fetch_smtp_result(dest, code, error_r);
}

static void fetch_smtp_abort(struct fetch_dest *dest)
{
	struct fetch_smtp *s = dest->impl;

	/* a DATA cannot be taken back: only dropping the connection makes
	 * the server throw the message away */
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->failed = true;
}

const struct fetch_dest_ops fetch_dest_lmtp_ops = {
	"lmtp:", fetch_lmtp_open, fetch_smtp_close, fetch_smtp_begin,
	fetch_smtp_write, fetch_smtp_commit, fetch_smtp_abort, NULL,
};

const struct fetch_dest_ops fetch_dest_smtp_ops = {
	"smtp:", fetch_smtp_open_smtp, fetch_smtp_close, fetch_smtp_begin,
	fetch_smtp_write, fetch_smtp_commit, fetch_smtp_abort, NULL,
};
