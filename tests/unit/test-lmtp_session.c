/* test-lmtp_session.c: whole LMTP sessions over a socketpair, with the
 * session, command and delivery code of the worker (lmtp_session.c,
 * lmtp_cmd.c, lmtp_txn.c) on a real loop and job pool, and the store
 * and user lookups replaced (lmtp_store_ops, lmtp_host_ops):
 *
 *  - each recipient's reply is sent as soon as it is stored, before a
 *    later recipient's store finishes (decided by ordering: the slow
 *    store waits until the client has read the earlier reply);
 *  - a store slower than lmtp_recipient_timeout gets 451 4.2.0 for that
 *    recipient alone, and the next recipient is still delivered;
 *  - an RCPT whose lookup never ends gets 451 4.2.0 at the limit;
 *  - a message of many spool chunks (written by jobs) reaches the spool
 *    whole and unstuffed;
 *  - a connection closed in the middle of DATA stores nothing and frees
 *    its spool;
 *  - a remote session (lmtp_auth.c): without a TLS context neither
 *    STARTTLS (454) nor AUTH (538) works and MAIL is 530; with one,
 *    STARTTLS (a real handshake, certificate made with the openssl
 *    command), the reset after it, AUTH PLAIN with a wrong password,
 *    a long response after 334, then the right one, and a delivery;
 *    lmtp_allow_insecure_remote lets MAIL through unauthenticated. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "config/config.h"
#include "deliver/lmtp_server.h"
#include "deliver/lmtp_session.h"
#include "net/ioloop.h"
#include "net/tls.h"
#include "util/jobpool.h"
#include "unit.h"

/* --- the fake store (its functions run on pool threads) --- */

struct delivery_spool {
	char *data;
	size_t len;
};

static pthread_mutex_t fake_lock = PTHREAD_MUTEX_INITIALIZER;
static char fake_stored[16][64];
static char fake_data[256];
static char *fake_full;           /* the last message stored, whole */
static size_t fake_full_len;
static unsigned fake_nstored, fake_spools;
static sem_t slow_go;

static int fake_create(const struct delivery_settings *set,
		       struct delivery_spool **spool_r, const char **error_r)
{
	*spool_r = calloc(1, sizeof(**spool_r));
	pthread_mutex_lock(&fake_lock);
	fake_spools++;
	pthread_mutex_unlock(&fake_lock);
	return 0;
}

static int fake_write(struct delivery_spool *spool, const void *data,
		      size_t len, const char **error_r)
{
	spool->data = realloc(spool->data, spool->len + len + 1);
	memcpy(spool->data + spool->len, data, len);
	spool->len += len;
	spool->data[spool->len] = '\0';
	return 0;
}

static int fake_finish(struct delivery_spool *spool,
		       const struct delivery_envelope *env,
		       struct delivery_result *res)
{
	res->status = DELIVERY_OK;
	return 0;
}

static const char *fake_message_id(const struct delivery_spool *spool)
{
	return "<fake@test>";
}

static enum delivery_status fake_store(struct delivery_spool *spool,
				       const struct delivery_target *t,
				       struct delivery_result *res)
{
	if (strstr(t->rcpt, "slow") != NULL) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 10;
		while (sem_timedwait(&slow_go, &ts) < 0 && errno == EINTR)
			;
	}
	pthread_mutex_lock(&fake_lock);
	if (fake_nstored < 16)
		snprintf(fake_stored[fake_nstored++], 64, "%s", t->rcpt);
	snprintf(fake_data, sizeof(fake_data), "%s",
		 spool->data != NULL ? spool->data : "");
	free(fake_full);
	fake_full = malloc(spool->len + 1);
	memcpy(fake_full, spool->data != NULL ? spool->data : "", spool->len);
	fake_full_len = spool->len;
	pthread_mutex_unlock(&fake_lock);
	res->status = DELIVERY_OK;
	res->enhanced = "2.0.0";
	res->text = "stored";
	res->size = spool->len;
	return DELIVERY_OK;
}

static void fake_destroy(struct delivery_spool **spoolp)
{
	if (*spoolp == NULL)
		return;
	free((*spoolp)->data);
	free(*spoolp);
	*spoolp = NULL;
	pthread_mutex_lock(&fake_lock);
	fake_spools--;
	pthread_mutex_unlock(&fake_lock);
}

static const struct lmtp_store_ops fake_ops = {
	.spool_create = fake_create, .spool_write = fake_write,
	.spool_finish = fake_finish, .message_id = fake_message_id,
	.store = fake_store, .spool_destroy = fake_destroy,
};

/* --- the fake host: alice, bob and slow exist, answered from a timer
 * (never from inside the lookup call, as lmtp_server.h requires) --- */

struct fake_lookup {
	struct lmtp_session *session;
	struct auth_reply reply;
	struct timer *timer;
	/* lmtp_session_lookup_done or lmtp_session_auth_done */
	void (*done)(struct lmtp_session *s, const struct auth_reply *reply);
};

static struct fake_lookup lookup_state = {
	.done = lmtp_session_lookup_done,
};
/* AUTH: alice's password is "right" */
static struct fake_lookup auth_state = { .done = lmtp_session_auth_done };

static void lookup_fire(void *context)
{
	struct fake_lookup *l = context;
	struct lmtp_session *s = l->session;

	l->timer = NULL;
	l->session = NULL;
	if (s != NULL)
		l->done(s, &l->reply);
}

static int fake_lookup(struct lmtp_server *srv, struct lmtp_session *s,
		       const char *address)
{
	struct fake_lookup *l = &lookup_state;
	const char *at = strchr(address, '@');
	size_t len = at != NULL ? (size_t)(at - address) : strlen(address);

	memset(&l->reply, 0, AUTH_REPLY_HDR);
	l->reply.quota_bytes = l->reply.quota_messages = -1;
	if ((len == 5 && strncmp(address, "alice", 5) == 0) ||
	    (len == 3 && strncmp(address, "bob", 3) == 0) ||
	    (len == 4 && strncmp(address, "slow", 4) == 0)) {
		l->reply.result = AUTH_OK;
		snprintf(l->reply.user, sizeof(l->reply.user), "%.*s",
			 (int)len, address);
		snprintf(l->reply.mail_path, sizeof(l->reply.mail_path),
			 "/nonexistent/%.*s", (int)len, address);
	} else if (len == 4 && strncmp(address, "hang", 4) == 0) {
		/* a user database that never answers */
		l->session = s;
		return 0;
	} else {
		l->reply.result = AUTH_FAILED;
	}
	l->session = s;
	l->timer = timer_add(srv->loop, 0, lookup_fire, l);
	return 0;
}

static void fake_cancel(struct lmtp_server *srv, struct lmtp_session *s)
{
	lookup_state.session = NULL;
	timer_remove(&lookup_state.timer);
}

static int fake_authenticate(struct lmtp_server *srv,
			     struct lmtp_session *s, const char *user,
			     const char *password)
{
	struct fake_lookup *l = &auth_state;

	memset(&l->reply, 0, AUTH_REPLY_HDR);
	l->reply.result = strcmp(user, "alice") == 0 &&
			  strcmp(password, "right") == 0 ? AUTH_OK :
			  AUTH_FAILED;
	if (l->reply.result == AUTH_OK)
		snprintf(l->reply.user, sizeof(l->reply.user), "alice");
	l->session = s;
	l->timer = timer_add(srv->loop, 0, lookup_fire, l);
	return 0;
}

static void fake_gone(struct lmtp_server *srv, struct lmtp_session *s)
{
	if (lookup_state.session == s) {
		lookup_state.session = NULL;
		timer_remove(&lookup_state.timer);
	}
	if (auth_state.session == s) {
		auth_state.session = NULL;
		timer_remove(&auth_state.timer);
	}
}

static const struct lmtp_host_ops host_ops = {
	.lookup = fake_lookup, .lookup_cancel = fake_cancel,
	.authenticate = fake_authenticate, .session_gone = fake_gone,
};

/* What run_session() makes of the next session. */
static bool session_remote;
static struct tls_ctx *session_tls;

/* --- the client, on its own thread --- */

struct client {
	int fd;
	SSL *ssl;                    /* after STARTTLS */
	char buf[8192];
	size_t len;
	bool ok;
	char failure[256];
	void (*script)(struct client *c);
};

static void client_send(struct client *c, const char *text)
{
	size_t len = strlen(text), off = 0;

	while (off < len) {
		ssize_t n = c->ssl != NULL ?
			SSL_write(c->ssl, text + off, (int)(len - off)) :
			write(c->fd, text + off, len - off);

		if (n <= 0)
			return;
		off += (size_t)n;
	}
}

/* The next line (without CRLF) within 10 s, or "" on EOF / timeout. */
static const char *client_line(struct client *c)
{
	static __thread char line[1024];
	char *lf;

	while ((lf = memchr(c->buf, '\n', c->len)) == NULL) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		ssize_t n;

		if ((c->ssl == NULL || SSL_pending(c->ssl) == 0) &&
		    poll(&p, 1, 10000) <= 0)
			return "";
		n = c->ssl != NULL ?
			SSL_read(c->ssl, c->buf + c->len,
				 (int)(sizeof(c->buf) - c->len)) :
			read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
		if (n <= 0)
			return "";
		c->len += (size_t)n;
	}
	*lf = '\0';
	snprintf(line, sizeof(line), "%.1000s", c->buf);
	if (strlen(line) > 0 && line[strlen(line) - 1] == '\r')
		line[strlen(line) - 1] = '\0';
	c->len -= (size_t)(lf + 1 - c->buf);
	memmove(c->buf, lf + 1, c->len);
	return line;
}

static void client_expect(struct client *c, const char *want)
{
	const char *got;

	if (!c->ok)
		return;
	got = client_line(c);
	if (strcmp(got, want) != 0) {
		c->ok = false;
		snprintf(c->failure, sizeof(c->failure), "got \"%s\", want "
			 "\"%s\"", got, want);
	}
}

static void client_greet(struct client *c, const char *rcpts)
{
	client_expect(c, "220 test.example LMTP satchel ready");
	client_send(c, "LHLO client\r\n");
	while (c->ok && strcmp(client_line(c), "250 DSN") != 0)
		;
	client_send(c, "MAIL FROM:<s@example.net>\r\n");
	client_expect(c, "250 2.1.0 Sender OK");
	client_send(c, rcpts);
}

static void *client_main(void *arg)
{
	struct client *c = arg;

	c->script(c);
	if (c->ssl != NULL) {
		SSL_CTX *ctx = SSL_get_SSL_CTX(c->ssl);

		SSL_free(c->ssl);
		SSL_CTX_free(ctx);
	}
	close(c->fd);
	return NULL;
}

/* Runs one session with script as the client; false when the script
 * failed (c->failure says why). */
static bool run_session(struct config *cfg, void (*script)(struct client *),
			struct client *c)
{
	struct lmtp_server srv;
	struct lmtp_session *s;
	struct io *jobs_io;
	pthread_t thread;
	int pair[2];

	memset(c, 0, sizeof(*c));
	c->ok = true;
	c->script = script;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) < 0)
		return false;
	fcntl(pair[0], F_SETFL, O_NONBLOCK);
	lmtp_server_init(&srv, cfg);
	srv.ops = &host_ops;
	srv.store = &fake_ops;
	srv.draining = true; /* the loop ends with the session */
	srv.loop = ioloop_create();
	srv.jobs = jobpool_create(2);
	jobs_io = io_add(srv.loop, jobpool_fd(srv.jobs), IO_READ, false,
			 (io_callback *)(void (*)(void))jobpool_complete,
			 srv.jobs);
	srv.tls = session_tls;
	s = lmtp_session_create(&srv, pair[0], "test");
	s->remote = session_remote;
	c->fd = pair[1];
	pthread_create(&thread, NULL, client_main, c);
	lmtp_session_start(s);
	if (srv.nsessions > 0 || srv.active_txns > 0)
		ioloop_run(srv.loop);
	pthread_join(thread, NULL);
	srv.stopping = true;
	io_remove(&jobs_io);
	jobpool_destroy(&srv.jobs);
	ioloop_destroy(&srv.loop);
	return c->ok;
}

static void script_streaming(struct client *c)
{
	client_greet(c, "RCPT TO:<alice@example.org>\r\n"
		     "RCPT TO:<slow@example.org>\r\n"
		     "RCPT TO:<bob@example.org>\r\nDATA\r\n");
	client_expect(c, "250 2.1.5 <alice@example.org> OK");
	client_expect(c, "250 2.1.5 <slow@example.org> OK");
	client_expect(c, "250 2.1.5 <bob@example.org> OK");
	client_expect(c, "354 End data with <CR><LF>.<CR><LF>");
	client_send(c, "Subject: t\r\n\r\n..body\r\n.\r\n");
	/* the slow store is blocked until this reply has been read: it
	 * can only come if alice's reply did not wait for the others */
	client_expect(c, "250 2.0.0 <alice@example.org> stored");
	sem_post(&slow_go);
	client_expect(c, "250 2.0.0 <slow@example.org> stored");
	client_expect(c, "250 2.0.0 <bob@example.org> stored");
	client_send(c, "QUIT\r\n");
	client_expect(c, "221 2.0.0 test.example closing connection");
}

static void script_timeout(struct client *c)
{
	client_greet(c, "RCPT TO:<slow@example.org>\r\n"
		     "RCPT TO:<bob@example.org>\r\nDATA\r\n");
	client_expect(c, "250 2.1.5 <slow@example.org> OK");
	client_expect(c, "250 2.1.5 <bob@example.org> OK");
	client_expect(c, "354 End data with <CR><LF>.<CR><LF>");
	client_send(c, "Subject: t\r\n\r\nbody\r\n.\r\n");
	client_expect(c, "451 4.2.0 <slow@example.org> delivery took too "
		      "long, try again later");
	sem_post(&slow_go);
	client_expect(c, "250 2.0.0 <bob@example.org> stored");
	client_send(c, "QUIT\r\n");
	client_expect(c, "221 2.0.0 test.example closing connection");
}

/* A message of many spool chunks: lines that start with a dot land on
 * every chunk border somewhere. */
#define BIG_LINES 60000
static char *big_sent, *big_want;
static size_t big_sent_len, big_want_len;

static void make_big(void)
{
	big_sent = malloc(BIG_LINES * 16 + 8);
	big_want = malloc(BIG_LINES * 16 + 8);
	for (unsigned i = 0; i < BIG_LINES; i++) {
		char line[16];
		int n = snprintf(line, sizeof(line), "%s%u\r\n",
				 i % 3 == 0 ? "." : "", i);

		/* the MTA stuffs a leading dot; we must remove it */
		if (line[0] == '.') {
			big_sent[big_sent_len++] = '.';
		}
		memcpy(big_sent + big_sent_len, line, (size_t)n);
		big_sent_len += (size_t)n;
		memcpy(big_want + big_want_len, line, (size_t)n);
		big_want_len += (size_t)n;
	}
	memcpy(big_sent + big_sent_len, ".\r\n", 3);
	big_sent_len += 3;
	big_sent[big_sent_len] = '\0';
}

static void script_big(struct client *c)
{
	client_greet(c, "RCPT TO:<alice@example.org>\r\nDATA\r\n");
	client_expect(c, "250 2.1.5 <alice@example.org> OK");
	client_expect(c, "354 End data with <CR><LF>.<CR><LF>");
	client_send(c, big_sent);
	client_expect(c, "250 2.0.0 <alice@example.org> stored");
	client_send(c, "QUIT\r\n");
	client_expect(c, "221 2.0.0 test.example closing connection");
}

static void script_lookup_hangs(struct client *c)
{
	client_greet(c, "RCPT TO:<hang@example.org>\r\n"
		     "RCPT TO:<alice@example.org>\r\n");
	client_expect(c, "451 4.2.0 <hang@example.org>: recipient lookup "
		      "took too long, try again later");
	client_expect(c, "250 2.1.5 <alice@example.org> OK");
	client_send(c, "QUIT\r\n");
	client_expect(c, "221 2.0.0 test.example closing connection");
}

static void script_cut(struct client *c)
{
	client_greet(c, "RCPT TO:<alice@example.org>\r\nDATA\r\n");
	client_expect(c, "250 2.1.5 <alice@example.org> OK");
	client_expect(c, "354 End data with <CR><LF>.<CR><LF>");
	client_send(c, "Subject: cut\r\n\r\nhalf a messa");
}

/* --- remote sessions --- */

/* Reads the LHLO reply; "S" in *seen for STARTTLS, "A" for AUTH. */
static void client_lhlo(struct client *c, char *seen, size_t size)
{
	const char *line;

	seen[0] = '\0';
	client_send(c, "LHLO client\r\n");
	do {
		line = client_line(c);
		if (strcmp(line, "250-STARTTLS") == 0)
			strncat(seen, "S", size - strlen(seen) - 1);
		if (strcmp(line, "250-AUTH PLAIN") == 0)
			strncat(seen, "A", size - strlen(seen) - 1);
	} while (line[0] != '\0' && strcmp(line, "250 DSN") != 0);
	if (line[0] == '\0' && c->ok) {
		c->ok = false;
		snprintf(c->failure, sizeof(c->failure), "no LHLO reply");
	}
}

static void client_expect_seen(struct client *c, const char *seen,
			       const char *want)
{
	if (c->ok && strcmp(seen, want) != 0) {
		c->ok = false;
		snprintf(c->failure, sizeof(c->failure), "LHLO offered \"%s\","
			 " want \"%s\" (S STARTTLS, A AUTH)", seen, want);
	}
}

static void script_remote_no_tls(struct client *c)
{
	char seen[8];

	client_expect(c, "220 test.example LMTP satchel ready");
	client_lhlo(c, seen, sizeof(seen));
	client_expect_seen(c, seen, "");
	client_send(c, "STARTTLS\r\n");
	client_expect(c, "454 4.7.0 TLS not available");
	client_send(c, "AUTH PLAIN AGFsaWNlAHJpZ2h0\r\n");
	client_expect(c, "538 5.7.11 Encryption required for requested "
		      "authentication mechanism");
	client_send(c, "MAIL FROM:<s@example.net>\r\n");
	client_expect(c, "530 5.7.0 Authentication required");
	client_send(c, "QUIT\r\n");
	client_expect(c, "221 2.0.0 test.example closing connection");
}

static void script_remote_insecure(struct client *c)
{
	client_greet(c, "RCPT TO:<bob@example.org>\r\n");
	client_expect(c, "250 2.1.5 <bob@example.org> OK");
	client_send(c, "QUIT\r\n");
	client_expect(c, "221 2.0.0 test.example closing connection");
}

static void client_starttls(struct client *c)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	int flags = fcntl(c->fd, F_GETFL);

	fcntl(c->fd, F_SETFL, flags & ~O_NONBLOCK);
	c->ssl = ctx != NULL ? SSL_new(ctx) : NULL;
	if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1 ||
	    SSL_connect(c->ssl) != 1) {
		c->ok = false;
		snprintf(c->failure, sizeof(c->failure), "TLS handshake");
		if (c->ssl == NULL)
			SSL_CTX_free(ctx);
	}
}

static void script_remote_tls(struct client *c)
{
	char seen[8], line[900];
	size_t n;

	client_expect(c, "220 test.example LMTP satchel ready");
	client_lhlo(c, seen, sizeof(seen));
	client_expect_seen(c, seen, "S");
	client_send(c, "MAIL FROM:<s@example.net>\r\n");
	client_expect(c, "530 5.7.0 Authentication required");
	client_send(c, "STARTTLS\r\n");
	client_expect(c, "220 2.0.0 Ready to start TLS");
	if (!c->ok)
		return;
	client_starttls(c);
	/* RFC 3207 4.2: the LHLO before the handshake is forgotten */
	client_send(c, "MAIL FROM:<s@example.net>\r\n");
	client_expect(c, "503 5.5.1 Send LHLO first");
	client_lhlo(c, seen, sizeof(seen));
	client_expect_seen(c, seen, "A");
	client_send(c, "STARTTLS\r\n");
	client_expect(c, "503 5.5.1 TLS already active");
	client_send(c, "MAIL FROM:<s@example.net>\r\n");
	client_expect(c, "530 5.7.0 Authentication required");
	/* "\0alice\0wrong" */
	client_send(c, "AUTH PLAIN AGFsaWNlAHdyb25n\r\n");
	client_expect(c, "535 5.7.8 Authentication credentials invalid");
	/* RFC 4954 4.: a response longer than 512 octets is taken:
	 * base64 of NUL, 200 x, NUL, 240 y (a valid PLAIN message) */
	client_send(c, "AUTH PLAIN\r\n");
	client_expect(c, "334 ");
	memset(line, 0, sizeof(line));
	{
		unsigned char msg[442];

		memset(msg, 'x', sizeof(msg));
		msg[0] = '\0';
		msg[201] = '\0';
		memset(msg + 202, 'y', 240);
		n = (size_t)EVP_EncodeBlock((unsigned char *)line, msg,
					    sizeof(msg));
	}
	memcpy(line + n, "\r\n", 3);
	client_send(c, line);
	client_expect(c, "535 5.7.8 Authentication credentials invalid");
	/* "\0alice\0right" after a 334 */
	client_send(c, "AUTH PLAIN\r\n");
	client_expect(c, "334 ");
	client_send(c, "AGFsaWNlAHJpZ2h0\r\n");
	client_expect(c, "235 2.7.0 Authentication successful");
	client_send(c, "AUTH PLAIN AGFsaWNlAHJpZ2h0\r\n");
	client_expect(c, "503 5.5.1 Already authenticated");
	client_send(c, "MAIL FROM:<s@example.net>\r\n");
	client_expect(c, "250 2.1.0 Sender OK");
	client_send(c, "RCPT TO:<alice@example.org>\r\nDATA\r\n");
	client_expect(c, "250 2.1.5 <alice@example.org> OK");
	client_expect(c, "354 End data with <CR><LF>.<CR><LF>");
	client_send(c, "Subject: tls\r\n\r\nover TLS\r\n.\r\n");
	client_expect(c, "250 2.0.0 <alice@example.org> stored");
	client_send(c, "QUIT\r\n");
	client_expect(c, "221 2.0.0 test.example closing connection");
}

/* A self-signed certificate made with the openssl command, as a server
 * context; NULL when that fails (reported). */
static struct tls_ctx *make_tls(void)
{
	static char dir[] = "/tmp/satchel-test-lmtp-XXXXXX";
	struct config cfg;
	struct tls_ctx *ctx = NULL;
	char cmd[512], err[256];

	if (mkdtemp(dir) == NULL)
		return NULL;
	snprintf(cmd, sizeof(cmd), "openssl req -x509 -newkey ec -pkeyopt "
		 "ec_paramgen_curve:prime256v1 -nodes -days 2 -subj "
		 "/CN=test.example -keyout %s/key.pem -out %s/cert.pem "
		 "2>/dev/null", dir, dir);
	config_defaults(&cfg);
	snprintf(cfg.tls.cert, sizeof(cfg.tls.cert), "%s/cert.pem", dir);
	snprintf(cfg.tls.key, sizeof(cfg.tls.key), "%s/key.pem", dir);
	if (system(cmd) != 0 ||
	    tls_ctx_create(&cfg.tls, &ctx, err, sizeof(err)) < 0)
		printf("# certificate: %s\n", err);
	unlink(cfg.tls.cert);
	unlink(cfg.tls.key);
	rmdir(dir);
	return ctx;
}

static void test_remote(struct config *cfg)
{
	struct client c;
	bool ok;

	session_remote = true;
	ok = run_session(cfg, script_remote_no_tls, &c);
	CHECK(ok, "remote without TLS: no STARTTLS (454), AUTH 538, MAIL "
	      "530");
	if (!ok)
		printf("# %s\n", c.failure);
	cfg->lmtp_allow_insecure_remote = true;
	ok = run_session(cfg, script_remote_insecure, &c);
	CHECK(ok, "lmtp_allow_insecure_remote: MAIL without AUTH");
	if (!ok)
		printf("# %s\n", c.failure);
	cfg->lmtp_allow_insecure_remote = false;

	session_tls = make_tls();
	CHECK(session_tls != NULL, "a server TLS context");
	fake_nstored = 0;
	ok = session_tls != NULL && run_session(cfg, script_remote_tls, &c);
	CHECK(ok, "remote with TLS: STARTTLS, the reset, AUTH PLAIN, "
	      "delivery");
	if (!ok)
		printf("# %s\n", c.failure);
	CHECK(fake_nstored == 1 && strcmp(fake_data, "Subject: tls\r\n\r\n"
					  "over TLS\r\n") == 0,
	      "the message sent under TLS stored");
	tls_ctx_destroy(&session_tls);
	session_remote = false;
}

int main(void)
{
	struct config cfg;
	struct client c;
	bool ok;

	/* conn.h: a process using conn ignores SIGPIPE (the close_notify
	 * after QUIT may meet a client that already closed) */
	signal(SIGPIPE, SIG_IGN);
	sem_init(&slow_go, 0, 0);
	config_defaults(&cfg);
	snprintf(cfg.hostname, sizeof(cfg.hostname), "test.example");

	ok = run_session(&cfg, script_streaming, &c);
	CHECK(ok, "each reply streamed as soon as its recipient is stored");
	if (!ok)
		printf("# %s\n", c.failure);
	CHECK(fake_nstored == 3 &&
	      strcmp(fake_stored[0], "alice@example.org") == 0 &&
	      strcmp(fake_stored[1], "slow@example.org") == 0 &&
	      strcmp(fake_stored[2], "bob@example.org") == 0,
	      "stored in RCPT order");
	CHECK_STR(fake_data, "Subject: t\r\n\r\n.body\r\n",
		  "the spool got the unstuffed data");
	CHECK(fake_spools == 0, "spool freed after delivery");

	fake_nstored = 0;
	cfg.lmtp_recipient_timeout = 1;
	ok = run_session(&cfg, script_timeout, &c);
	CHECK(ok, "a slow recipient gets 451 4.2.0, the next one 250");
	if (!ok)
		printf("# %s\n", c.failure);
	CHECK(fake_nstored == 2 &&
	      strcmp(fake_stored[1], "bob@example.org") == 0,
	      "the late store completed, then the next recipient");
	CHECK(fake_spools == 0, "spool freed after the late store");

	ok = run_session(&cfg, script_lookup_hangs, &c);
	CHECK(ok, "a lookup that never answers: 451 4.2.0 at the limit, "
	      "and the next RCPT is served");
	if (!ok)
		printf("# %s\n", c.failure);

	fake_nstored = 0;
	make_big();
	ok = run_session(&cfg, script_big, &c);
	CHECK(ok, "a message of many spool chunks");
	CHECK(fake_nstored == 1 && fake_full_len == big_want_len &&
	      memcmp(fake_full, big_want, big_want_len) == 0,
	      "its chunks reach the spool whole, in order, unstuffed");
	CHECK(fake_spools == 0, "its spool freed");

	fake_nstored = 0;
	ok = run_session(&cfg, script_cut, &c);
	CHECK(ok, "the client cut the connection in the middle of DATA");
	CHECK(fake_nstored == 0, "a cut DATA stores nothing");
	CHECK(fake_spools == 0, "a cut DATA frees its spool");

	test_remote(&cfg);
	return unit_done();
}
