/* test-lmtp_worker.c: the LMTP worker process (lmtp_worker_run) in a
 * forked child, with this process as its auth process and its client:
 * the ready byte; recipient lookups sent as AUTH_REQ_USERDB with the
 * address as given and answered by id (known user 250, unknown 550,
 * lost auth process 451 4.3.0 and a drain); a message delivered into a
 * real Maildir (the store of src/store/); SIGUSR1 drains (open sessions
 * go on, the worker exits when they end); SIGTERM says 421 and exits;
 * max_connections answers 421 to the one too many; a lookup that is not
 * answered in lmtp_recipient_timeout is 451 4.2.0 and its late reply
 * answers nothing. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "auth/auth_proto.h"
#include "config/config.h"
#include "deliver/lmtp.h"
#include "unit.h"

static char root[64];
static struct config cfg;

struct worker_proc {
	pid_t pid;
	int auth_fd;          /* our end: we are its auth process */
	char sock_path[128];
};

static int listen_unix(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			0);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%.100s", path);
	unlink(path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    listen(fd, 16) < 0)
		return -1;
	return fd;
}

/* Starts a worker; true once it wrote its ready byte. */
static bool worker_start(struct worker_proc *w, const char *name)
{
	static struct listener listeners[1];
	struct lmtp_worker_setup setup = { .cfg = &cfg };
	int auth[2], ready[2];
	struct pollfd p;
	char byte;

	snprintf(w->sock_path, sizeof(w->sock_path), "%s/%s.sock", root,
		 name);
	listeners[0].fd = listen_unix(w->sock_path);
	snprintf(listeners[0].name, sizeof(listeners[0].name), "unix:%.70s",
		 w->sock_path);
	if (listeners[0].fd < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, auth) < 0 ||
	    pipe(ready) < 0)
		return false;
	fflush(stdout);
	w->pid = fork();
	if (w->pid == 0) {
		close(auth[0]);
		close(ready[0]);
		setup.auth_fd = auth[1];
		setup.ready_fd = ready[1];
		setup.listeners = listeners;
		setup.nlisteners = 1;
		_exit(lmtp_worker_run(&setup));
	}
	/* the worker alone holds the listener: a drain really closes it */
	close(listeners[0].fd);
	close(auth[1]);
	close(ready[1]);
	w->auth_fd = auth[0];
	p.fd = ready[0];
	p.events = POLLIN;
	byte = 0;
	if (poll(&p, 1, 10000) != 1 || read(ready[0], &byte, 1) != 1)
		byte = 0;
	close(ready[0]);
	return byte == 'R';
}

/* The worker's exit status within 10 s, or -1. */
static int worker_wait(struct worker_proc *w)
{
	for (int i = 0; i < 1000; i++) {
		int status;

		if (waitpid(w->pid, &status, WNOHANG) == w->pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		usleep(10000);
	}
	kill(w->pid, SIGKILL);
	waitpid(w->pid, NULL, 0);
	return -1;
}

static int client_connect(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%.100s", path);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Waits (up to ms) for connections to path to be refused: the worker
 * closed its listener. */
static bool refused_within(const char *path, int ms)
{
	for (int waited = 0; waited < ms; waited += 10) {
		int fd = client_connect(path);

		if (fd < 0)
			return true;
		close(fd);
		usleep(10000);
	}
	return false;
}

/* One reply line (CRLF stripped) within 10 s; "" on EOF or timeout.
 * Reads a byte at a time: the test's replies are short. */
static const char *get_line(int fd)
{
	static char line[512];
	size_t n = 0;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		char c;

		if (poll(&p, 1, 10000) != 1 || read(fd, &c, 1) != 1)
			break;
		if (c == '\n')
			break;
		if (n < sizeof(line) - 1)
			line[n++] = c;
	}
	if (n > 0 && line[n - 1] == '\r')
		n--;
	line[n] = '\0';
	return line;
}

static void put(int fd, const char *text)
{
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		printf("# short write\n");
}

/* Reads the LHLO reply up to its last line. */
static bool lhlo(int fd)
{
	if (strncmp(get_line(fd), "220 ", 4) != 0)
		return false;
	put(fd, "LHLO test\r\n");
	for (int i = 0; i < 20; i++) {
		if (strcmp(get_line(fd), "250 DSN") == 0)
			return true;
	}
	return false;
}

/* Receives one request as the auth process; its type and user. */
static bool auth_receive(struct worker_proc *w, struct auth_request *req)
{
	struct pollfd p = { .fd = w->auth_fd, .events = POLLIN };

	return poll(&p, 1, 10000) == 1 &&
	       recv(w->auth_fd, req, sizeof(*req), 0) ==
	       (ssize_t)sizeof(*req);
}

static void auth_answer(struct worker_proc *w,
			const struct auth_request *req, bool known)
{
	struct auth_reply reply;

	memset(&reply, 0, sizeof(reply));
	reply.id = req->id;
	reply.uid = reply.gid = -1;
	reply.quota_bytes = reply.quota_messages = -1;
	reply.result = known ? AUTH_OK : AUTH_FAILED;
	if (known) {
		snprintf(reply.user, sizeof(reply.user), "alice");
		snprintf(reply.mail_path, sizeof(reply.mail_path),
			 "%s/alice", root);
		reply.mail_kind = MAILDROP_MAILDIR;
	}
	if (send(w->auth_fd, &reply, AUTH_REPLY_HDR, 0) !=
	    (ssize_t)AUTH_REPLY_HDR)
		printf("# auth reply not sent\n");
}

static unsigned count_new(void)
{
	char path[128];
	unsigned n = 0;
	FILE *ls;

	snprintf(path, sizeof(path), "ls %s/alice/new 2>/dev/null", root);
	ls = popen(path, "r");
	while (ls != NULL && fgets(path, sizeof(path), ls) != NULL)
		n++;
	if (ls != NULL)
		pclose(ls);
	return n;
}

static void test_delivery_and_drain(void)
{
	struct worker_proc w;
	struct auth_request req;
	int fd, fd2;

	CHECK(worker_start(&w, "a"), "the worker says it is ready");
	fd = client_connect(w.sock_path);
	CHECK(fd >= 0 && lhlo(fd), "LHLO on the unix socket");
	put(fd, "MAIL FROM:<s@example.net>\r\nRCPT TO:<alice@example.org>\r\n");
	CHECK_STR(get_line(fd), "250 2.1.0 Sender OK", "MAIL");
	CHECK(auth_receive(&w, &req) && req.type == AUTH_REQ_USERDB,
	      "RCPT asks the auth process (AUTH_REQ_USERDB)");
	CHECK_STR(req.user, "alice@example.org",
		  "the address is sent as given, without <>");
	CHECK(req.secret[0] == '\0', "no secret in a userdb request");
	auth_answer(&w, &req, true);
	CHECK_STR(get_line(fd), "250 2.1.5 <alice@example.org> OK",
		  "a known user is accepted");
	put(fd, "RCPT TO:<nobody@example.org>\r\n");
	CHECK(auth_receive(&w, &req), "second lookup");
	auth_answer(&w, &req, false);
	CHECK_STR(get_line(fd), "550 5.1.1 <nobody@example.org>: no such "
		  "user here", "an unknown user is refused at RCPT");
	put(fd, "DATA\r\n");
	CHECK_STR(get_line(fd), "354 End data with <CR><LF>.<CR><LF>",
		  "DATA");
	put(fd, "Subject: worker\r\nMessage-ID: <w.1@example.net>\r\n\r\n"
	    "hello\r\n.\r\n");
	CHECK(strncmp(get_line(fd), "250 2.0.0 <alice@example.org> ", 30) == 0,
	      "the one accepted recipient is delivered");
	CHECK(count_new() == 1, "one message in the Maildir's new/");

	fd2 = client_connect(w.sock_path);
	CHECK(fd2 >= 0 && lhlo(fd2), "a second session");
	kill(w.pid, SIGUSR1);
	put(fd, "NOOP\r\n");
	CHECK_STR(get_line(fd), "250 2.0.0 OK",
		  "after SIGUSR1 an open session goes on");
	CHECK(refused_within(w.sock_path, 5000),
	      "after SIGUSR1 no new connection is taken");
	put(fd, "QUIT\r\n");
	CHECK_STR(get_line(fd), "221 2.0.0 test.example closing connection",
		  "QUIT");
	close(fd);
	usleep(100000);
	CHECK(waitpid(w.pid, NULL, WNOHANG) == 0,
	      "the worker waits for its last session");
	put(fd2, "QUIT\r\n");
	get_line(fd2);
	close(fd2);
	CHECK(worker_wait(&w) == 0, "drained: exits 0 after the last session");
	close(w.auth_fd);
}

static void test_sigterm(void)
{
	struct worker_proc w;
	int fd;

	CHECK(worker_start(&w, "b"), "second worker ready");
	fd = client_connect(w.sock_path);
	CHECK(fd >= 0 && lhlo(fd), "its session");
	kill(w.pid, SIGTERM);
	CHECK_STR(get_line(fd), "421 4.3.2 Server shutting down",
		  "SIGTERM: the session is told 421");
	CHECK(worker_wait(&w) == 0, "SIGTERM: the worker exits 0");
	close(fd);
	close(w.auth_fd);
}

static void test_auth_lost(void)
{
	struct worker_proc w;
	struct auth_request req;
	int fd;

	CHECK(worker_start(&w, "c"), "third worker ready");
	fd = client_connect(w.sock_path);
	CHECK(fd >= 0 && lhlo(fd), "its session");
	put(fd, "MAIL FROM:<>\r\nRCPT TO:<alice@example.org>\r\n");
	get_line(fd);
	CHECK(auth_receive(&w, &req), "the lookup arrives");
	close(w.auth_fd);
	CHECK_STR(get_line(fd), "451 4.3.0 <alice@example.org>: temporary "
		  "user lookup failure", "auth lost: the pending RCPT is 451");
	put(fd, "RCPT TO:<alice@example.org>\r\n");
	CHECK_STR(get_line(fd), "451 4.3.0 <alice@example.org>: user lookup "
		  "unavailable", "auth lost: later RCPTs are 451");
	put(fd, "QUIT\r\n");
	get_line(fd);
	close(fd);
	CHECK(worker_wait(&w) == 0, "auth lost: the worker drains and exits");
}

static void test_lookup_timeout(void)
{
	struct worker_proc w;
	struct auth_request first, second;
	unsigned saved = cfg.lmtp_recipient_timeout;
	int fd;

	cfg.lmtp_recipient_timeout = 1;
	CHECK(worker_start(&w, "e"), "fifth worker ready");
	cfg.lmtp_recipient_timeout = saved;
	fd = client_connect(w.sock_path);
	CHECK(fd >= 0 && lhlo(fd), "its session");
	put(fd, "MAIL FROM:<>\r\nRCPT TO:<alice@example.org>\r\n");
	get_line(fd);
	CHECK(auth_receive(&w, &first), "the lookup arrives");
	/* no answer: the worker answers the recipient itself */
	CHECK_STR(get_line(fd), "451 4.2.0 <alice@example.org>: recipient "
		  "lookup took too long, try again later",
		  "an unanswered lookup: 451 4.2.0 at lmtp_recipient_timeout");
	put(fd, "RCPT TO:<nobody@example.org>\r\n");
	CHECK(auth_receive(&w, &second) && second.id != first.id,
	      "the next lookup has a new id");
	/* the late answer to the first must not answer the second */
	auth_answer(&w, &first, true);
	auth_answer(&w, &second, false);
	CHECK_STR(get_line(fd), "550 5.1.1 <nobody@example.org>: no such "
		  "user here", "a late reply is dropped, not taken for the "
		  "next RCPT");
	kill(w.pid, SIGTERM);
	get_line(fd);
	close(fd);
	CHECK(worker_wait(&w) == 0, "fifth worker exits");
	close(w.auth_fd);
}

static void test_connection_limit(void)
{
	struct worker_proc w;
	unsigned saved = cfg.max_connections;
	int fd, fd2;

	cfg.max_connections = 1;
	CHECK(worker_start(&w, "d"), "fourth worker ready");
	cfg.max_connections = saved;
	fd = client_connect(w.sock_path);
	CHECK(fd >= 0 && lhlo(fd), "the one session allowed");
	fd2 = client_connect(w.sock_path);
	CHECK_STR(fd2 >= 0 ? get_line(fd2) : "", "421 4.3.2 Too many "
		  "connections, try again later",
		  "max_connections: the next one is told 421");
	if (fd2 >= 0)
		close(fd2);
	kill(w.pid, SIGTERM);
	get_line(fd);
	close(fd);
	CHECK(worker_wait(&w) == 0, "fourth worker exits");
	close(w.auth_fd);
}

int main(void)
{
	char err[256];

	snprintf(root, sizeof(root), "/tmp/test-lmtp_worker.XXXXXX");
	if (mkdtemp(root) == NULL)
		return 1;
	config_defaults(&cfg);
	if (config_finish(&cfg, err, sizeof(err)) < 0)
		return 1;
	snprintf(cfg.hostname, sizeof(cfg.hostname), "test.example");
	cfg.delivery_dedup_days = 0;
	signal(SIGPIPE, SIG_IGN);
	test_delivery_and_drain();
	test_sigterm();
	test_auth_lost();
	test_connection_limit();
	test_lookup_timeout();
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
		if (system(cmd) != 0)
			printf("# cleanup failed\n");
	}
	return unit_done();
}
