/* xmit_relay.c: the SMTP client and the sendmail run of XTND XMIT
 * (xmit_relay.h). Blocking I/O with poll() against one deadline: this
 * runs on a pool thread, and a relay that stops answering costs that
 * thread xtnd_xmit_timeout seconds, never the worker's loop. */
#include "serve/xmit_relay.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

/* RFC 5321 4.5.3.1.5: a reply line is at most 512 octets; we hold a few
 * lines of a multi-line EHLO answer at once. */
#define RELAY_REPLY_BUF 4096
#define RELAY_WRITE_CHUNK 65536

struct relay_conn {
	int fd;
	uint64_t deadline_ms;
	char buf[RELAY_REPLY_BUF];
	size_t len;
	char last[160];        /* the last reply line, printable */
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Milliseconds left before the deadline (0 when it has passed). */
static int time_left(uint64_t deadline_ms)
{
	uint64_t now = now_ms();

	if (now >= deadline_ms)
		return 0;
	return deadline_ms - now > INT32_MAX ? INT32_MAX
					     : (int)(deadline_ms - now);
}

/* Client text from the relay: control bytes and 8-bit out. */
static void printable(char *dst, size_t size, const char *src, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len && n + 1 < size; i++) {
		unsigned char c = (unsigned char)src[i];

		dst[n++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	dst[n] = '\0';
}

static int wait_fd(int fd, short events, uint64_t deadline_ms)
{
	struct pollfd pfd = { .fd = fd, .events = events };

	for (;;) {
		int left = time_left(deadline_ms), n;

		if (left == 0)
			return -1;
		n = poll(&pfd, 1, left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -1;
	}
}

static int write_all(int fd, const char *data, size_t len,
		     uint64_t deadline_ms)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);

		if (n > 0) {
			data += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -1;
		if (wait_fd(fd, POLLOUT, deadline_ms) < 0)
			return -1;
	}
	return 0;
}

static int relay_connect(struct relay_conn *c,
			 const struct xmit_relay_settings *set)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res, *ai;

	c->fd = -1;
	if (getaddrinfo(set->host, set->port, &hints, &res) != 0)
		return -1;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
				SOCK_CLOEXEC, ai->ai_protocol);
		int err = 0;
		socklen_t err_len = sizeof(err);

		if (fd < 0)
			continue;
		if ((connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
		     (errno == EINPROGRESS &&
		      wait_fd(fd, POLLOUT, c->deadline_ms) == 0 &&
		      getsockopt(fd, SOL_SOCKET, SO_ERROR, &err,
				 &err_len) == 0 && err == 0))) {
			c->fd = fd;
			break;
		}
		close(fd);
	}
	freeaddrinfo(res);
	return c->fd >= 0 ? 0 : -1;
}

/* Reads one whole reply (every line of a multi-line one). Returns its
 * code, or 0 when the relay failed to give one in time. */
static unsigned relay_reply(struct relay_conn *c)
{
	for (;;) {
		char *lf = memchr(c->buf, '\n', c->len);
		ssize_t n;

		while (lf != NULL) {
			size_t line_len = (size_t)(lf - c->buf);
			unsigned code;
			bool more;

			if (line_len > 0 && c->buf[line_len - 1] == '\r')
				line_len--;
			if (xmit_smtp_reply_line(c->buf, line_len, &code,
						 &more) < 0)
				return 0;
			printable(c->last, sizeof(c->last), c->buf, line_len);
			c->len -= (size_t)(lf + 1 - c->buf);
			memmove(c->buf, lf + 1, c->len);
			if (!more)
				return code;
			lf = memchr(c->buf, '\n', c->len);
		}
		if (c->len == sizeof(c->buf))
			return 0; /* a line past RFC 5321's limit */
		n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
		if (n > 0) {
			c->len += (size_t)n;
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EINTR))
			return 0;
		if (wait_fd(c->fd, POLLIN, c->deadline_ms) < 0)
			return 0;
	}
}

/* Sends the command line head arg tail CRLF and reads the reply; its
 * code or 0. */
static unsigned relay_command(struct relay_conn *c, const char *head,
			      const char *arg, const char *tail)
{
	char line[XMIT_ADDR_MAX + 300];
	int n = snprintf(line, sizeof(line), "%s%s%s\r\n", head, arg, tail);

	if (n < 0 || (size_t)n >= sizeof(line) ||
	    write_all(c->fd, line, (size_t)n, c->deadline_ms) < 0)
		return 0;
	return relay_reply(c);
}

/* The message, dot-stuffed (RFC 5321 4.5.2), then the final ".". */
static int relay_data(struct relay_conn *c, const char *msg, size_t len)
{
	char *chunk = malloc(RELAY_WRITE_CHUNK * 2 + 8);
	size_t pos = 0, n = 0;
	bool line_start = true;
	int ret = 0;

	if (chunk == NULL)
		return -1;
	while (pos < len && ret == 0) {
		if (line_start && msg[pos] == '.')
			chunk[n++] = '.';
		line_start = msg[pos] == '\n';
		chunk[n++] = msg[pos++];
		if (n >= RELAY_WRITE_CHUNK) {
			ret = write_all(c->fd, chunk, n, c->deadline_ms);
			n = 0;
		}
	}
	if (ret == 0 && !line_start) {
		chunk[n++] = '\r';
		chunk[n++] = '\n';
	}
	memcpy(chunk + n, ".\r\n", 3);
	n += 3;
	if (ret == 0)
		ret = write_all(c->fd, chunk, n, c->deadline_ms);
	free(chunk);
	return ret;
}

static int relay_fail(struct relay_conn *c, unsigned code,
		      const char *what, char *reason, size_t size)
{
	if (code == 0)
		snprintf(reason, size, "relay did not answer %s", what);
	else
		snprintf(reason, size, "relay refused %s: %s", what, c->last);
	return code >= 500 ? XMIT_RELAY_PERM : XMIT_RELAY_TEMP;
}

static int relay_smtp(const struct xmit_relay_settings *set,
		      const char *sender, const struct xmit_addrs *rcpts,
		      const char *msg, size_t len, char *reason, size_t size)
{
	struct relay_conn *c = calloc(1, sizeof(*c));
	unsigned code;
	int ret = XMIT_RELAY_OK;

	if (c == NULL) {
		snprintf(reason, size, "out of memory");
		return XMIT_RELAY_TEMP;
	}
	c->deadline_ms = now_ms() + 1000ull * set->timeout_secs;
	if (relay_connect(c, set) < 0) {
		snprintf(reason, size, "cannot connect to the relay");
		free(c);
		return XMIT_RELAY_TEMP;
	}
	if ((code = relay_reply(c)) != 220) {
		ret = relay_fail(c, code, "the connection", reason, size);
		goto out_close;
	}
	code = relay_command(c, "EHLO ", set->helo, "");
	if (code >= 500)
		code = relay_command(c, "HELO ", set->helo, "");
	if (code != 250) {
		ret = relay_fail(c, code, "EHLO", reason, size);
		goto out_close;
	}
	if ((code = relay_command(c, "MAIL FROM:<", sender, ">")) != 250) {
		ret = relay_fail(c, code, "the sender", reason, size);
		goto out_close;
	}
	for (unsigned i = 0; i < rcpts->count; i++) {
		code = relay_command(c, "RCPT TO:<", rcpts->addr[i], ">");
		if (code != 250 && code != 251) {
			ret = relay_fail(c, code, "a recipient", reason, size);
			goto out_close;
		}
	}
	if ((code = relay_command(c, "DATA", "", "")) != 354) {
		ret = relay_fail(c, code, "DATA", reason, size);
		goto out_close;
	}
	if (relay_data(c, msg, len) < 0 || (code = relay_reply(c)) != 250) {
		ret = relay_fail(c, code, "the message", reason, size);
		goto out_close;
	}
	(void)relay_command(c, "QUIT", "", "");
out_close:
	close(c->fd);
	free(c);
	return ret;
}

/* What sendmail's exit status means (sysexits.h, as Postfix and Exim
 * use it). */
static int sendmail_status(int status, char *reason, size_t size)
{
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return XMIT_RELAY_OK;
	if (WIFEXITED(status)) {
		snprintf(reason, size, "sendmail failed (exit status %d)",
			 WEXITSTATUS(status));
		return WEXITSTATUS(status) == EX_TEMPFAIL ? XMIT_RELAY_TEMP
							  : XMIT_RELAY_PERM;
	}
	snprintf(reason, size, "sendmail was killed");
	return XMIT_RELAY_TEMP;
}

/* Waits for pid until the deadline (a pidfd, so no SIGCHLD handling in
 * a process whose loop owns the signals), then kills it. */
static int sendmail_wait(pid_t pid, uint64_t deadline_ms, int *status_r)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	bool done = false;

	if (pidfd >= 0) {
		done = wait_fd(pidfd, POLLIN, deadline_ms) == 0;
		close(pidfd);
	}
	if (!done && pidfd >= 0)
		(void)kill(pid, SIGKILL);
	while (waitpid(pid, status_r, 0) < 0) {
		if (errno != EINTR)
			return -1;
	}
	return done || pidfd < 0 ? 0 : -1;
}

/* The message with LF line ends, as local submission reads it. */
static int sendmail_write(int fd, const char *msg, size_t len,
			  uint64_t deadline_ms)
{
	char *chunk = malloc(RELAY_WRITE_CHUNK);
	size_t pos = 0, n = 0;
	int ret = 0;

	if (chunk == NULL)
		return -1;
	while (pos < len && ret == 0) {
		if (!(msg[pos] == '\r' && pos + 1 < len &&
		      msg[pos + 1] == '\n'))
			chunk[n++] = msg[pos];
		pos++;
		if (n == RELAY_WRITE_CHUNK) {
			ret = write_all(fd, chunk, n, deadline_ms);
			n = 0;
		}
	}
	if (ret == 0 && n > 0)
		ret = write_all(fd, chunk, n, deadline_ms);
	free(chunk);
	return ret;
}

static int relay_sendmail(const struct xmit_relay_settings *set,
			  const char *sender, const struct xmit_addrs *rcpts,
			  const char *msg, size_t len, char *reason,
			  size_t size)
{
	char *argv[XMIT_RCPT_MAX + 8];
	char *envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	uint64_t deadline_ms = now_ms() + 1000ull * set->timeout_secs;
	posix_spawn_file_actions_t fa;
	int pipefd[2], status = 0, argc = 0, err, wrote;
	pid_t pid;

	argv[argc++] = "sendmail";
	argv[argc++] = "-i";      /* a lone "." line is not the end */
	argv[argc++] = "-f";
	argv[argc++] = (char *)sender;
	argv[argc++] = "--";
	for (unsigned i = 0; i < rcpts->count; i++)
		argv[argc++] = (char *)rcpts->addr[i];
	argv[argc] = NULL;
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		snprintf(reason, size, "cannot run sendmail: %s",
			 strerror(errno));
		return XMIT_RELAY_TEMP;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pipefd[0], STDIN_FILENO);
	posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null",
					 O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null",
					 O_WRONLY, 0);
	err = posix_spawn(&pid, set->sendmail, &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	close(pipefd[0]);
	if (err != 0) {
		close(pipefd[1]);
		snprintf(reason, size, "cannot run %s: %s", set->sendmail,
			 strerror(err));
		return XMIT_RELAY_TEMP;
	}
	(void)fcntl(pipefd[1], F_SETFL, O_NONBLOCK);
	wrote = sendmail_write(pipefd[1], msg, len, deadline_ms);
	close(pipefd[1]);
	if (sendmail_wait(pid, deadline_ms, &status) < 0) {
		snprintf(reason, size, "sendmail did not finish in time");
		return XMIT_RELAY_TEMP;
	}
	if (wrote < 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		snprintf(reason, size, "sendmail did not read the message");
		return XMIT_RELAY_TEMP;
	}
	return sendmail_status(status, reason, size);
}

int xmit_relay_send(const struct xmit_relay_settings *set,
		    const char *sender, const struct xmit_addrs *rcpts,
		    const char *msg, size_t len, char *reason,
		    size_t reason_size)
{
	reason[0] = '\0';
	if (set->host[0] != '\0')
		return relay_smtp(set, sender, rcpts, msg, len, reason,
				  reason_size);
	return relay_sendmail(set, sender, rcpts, msg, len, reason,
			      reason_size);
}
