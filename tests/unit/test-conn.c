/* test-conn.c: net/conn.c in both modes against each other over loopback
 * TCP: non-blocking connect, handshake, SNI, certificate verification
 * (right CA and name; wrong name; untrusted certificate; IP literals),
 * data both ways with partial writes, and a STARTTLS upgrade. The CA and
 * certificates are made with the openssl command at test time. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "net/conn.h"
#include "net/ioloop.h"
#include "net/tls.h"
#include "unit.h"

#define HOST "mail.example.test"
/* every wait in here is bounded; a stuck handshake fails loudly */
#define DEADLINE_MS 10000

static char tmpdir[] = "/tmp/test-conn.XXXXXX";
static char ca_pem[300], srv_pem[300], srv_key[300], self_pem[300],
	    self_key[300];

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int sh(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

/* A CA, a server certificate it signed for HOST and 127.0.0.1, and a
 * self-signed certificate for the same names that nobody trusts. */
static int make_certs(void)
{
	const char *ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
			 "-nodes";

	snprintf(ca_pem, sizeof(ca_pem), "%s/ca.pem", tmpdir);
	snprintf(srv_pem, sizeof(srv_pem), "%s/srv.pem", tmpdir);
	snprintf(srv_key, sizeof(srv_key), "%s/srv.key", tmpdir);
	snprintf(self_pem, sizeof(self_pem), "%s/self.pem", tmpdir);
	snprintf(self_key, sizeof(self_key), "%s/self.key", tmpdir);
	return sh("cd %s && "
		  "openssl req -x509 %s -keyout ca.key -out ca.pem -days 2 "
		  "-subj /CN=satchel-test-ca 2>/dev/null && "
		  "openssl req -new %s -keyout srv.key -out srv.csr "
		  "-subj /CN=%s 2>/dev/null && "
		  "printf 'subjectAltName=DNS:%s,IP:127.0.0.1\\n' >ext.cnf && "
		  "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key "
		  "-CAcreateserial -days 2 -extfile ext.cnf -out srv.pem "
		  "2>/dev/null && "
		  "openssl req -x509 %s -keyout self.key -out self.pem -days 2 "
		  "-subj /CN=%s -addext subjectAltName=DNS:%s 2>/dev/null",
		  tmpdir, ec, ec, HOST, HOST, ec, HOST, HOST);
}

static struct tls_ctx *server_ctx(const char *cert, const char *key)
{
	struct config cfg;
	struct tls_ctx *ctx = NULL;
	char err[256];

	config_defaults(&cfg);
	snprintf(cfg.tls.cert, sizeof(cfg.tls.cert), "%s", cert);
	snprintf(cfg.tls.key, sizeof(cfg.tls.key), "%s", key);
	if (tls_ctx_create(&cfg.tls, &ctx, err, sizeof(err)) < 0)
		printf("# server ctx: %s\n", err);
	return ctx;
}

static struct tls_ctx *client_ctx(bool verify, const char *ca)
{
	struct tls_client_settings set = { .verify = verify, .ca_file = ca };
	struct tls_ctx *ctx = NULL;
	char err[256];

	if (tls_client_ctx_create(&set, &ctx, err, sizeof(err)) < 0)
		printf("# client ctx: %s\n", err);
	return ctx;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static short poll_events(unsigned wanted)
{
	return (short)((wanted & IO_READ ? POLLIN : 0) |
		       (wanted & IO_WRITE ? POLLOUT : 0));
}

/* Waits until one of the two conns can move on what it wants; false when
 * the deadline passed. */
static bool wait_both(struct conn *a, unsigned wa, struct conn *b,
		      unsigned wb, long long deadline)
{
	struct pollfd p[2] = {
		{ .fd = a->fd, .events = poll_events(wa) },
		{ .fd = b->fd, .events = poll_events(wb) },
	};
	long long left = deadline - now_ms();

	if (left <= 0)
		return false;
	return poll(p, 2, (int)left) > 0;
}

/* A listening loopback socket and its address. */
static int listen_loopback(struct sockaddr_in *sin)
{
	socklen_t len = sizeof(*sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)sin, sizeof(*sin)) < 0 ||
	    listen(fd, 4) < 0 ||
	    getsockname(fd, (struct sockaddr *)sin, &len) < 0) {
		perror("listen");
		exit(2);
	}
	return fd;
}

/* A client conn connected with conn_connect to a server conn over
 * loopback. false (and a failed check) when connecting did not work. */
static bool connect_pair(struct conn *client, struct conn *server)
{
	struct sockaddr_in sin;
	long long deadline = now_ms() + DEADLINE_MS;
	int lfd = listen_loopback(&sin), sfd, ret;

	conn_init(client, -1);
	conn_init(server, -1);
	if (conn_connect(client, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		printf("# connect: %s\n", client->error);
		close(lfd);
		return false;
	}
	while ((ret = conn_connect_finish(client)) == 0) {
		struct pollfd p = { .fd = client->fd,
				    .events = poll_events(
					    conn_wanted(client, true, true)) };

		if (poll(&p, 1, (int)(deadline - now_ms())) <= 0)
			break;
	}
	sfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	close(lfd);
	if (ret != 1 || sfd < 0) {
		printf("# connect: %s\n", client->error);
		if (sfd >= 0)
			close(sfd);
		conn_deinit(client);
		return false;
	}
	conn_init(server, sfd);
	return true;
}

static void close_pair(struct conn *client, struct conn *server)
{
	int sfd = server->fd;

	conn_deinit(client);
	conn_deinit(server);
	/* the server side borrows its fd, as a session does */
	if (sfd >= 0)
		close(sfd);
}

/* Runs both handshakes. Returns 1 when both finished, else -1 with the
 * results in *cr / *sr (1 done, 0 still waiting, -1 failed). */
static int handshake_pair(struct conn *client, struct conn *server,
			  int *cr, int *sr)
{
	long long deadline = now_ms() + DEADLINE_MS;

	*cr = *sr = 0;
	for (;;) {
		if (*cr == 0)
			*cr = conn_handshake(client);
		if (*sr == 0)
			*sr = conn_handshake(server);
		if (*cr == 1 && *sr == 1)
			return 1;
		/* the side that failed sent an alert or closed: the other
		 * side gets one more chance to see it */
		if (*cr < 0 || *sr < 0) {
			if (*cr == 0)
				*cr = conn_handshake(client);
			if (*sr == 0)
				*sr = conn_handshake(server);
			return -1;
		}
		if (!wait_both(client, conn_wanted(client, true, false),
			       server, conn_wanted(server, true, false),
			       deadline)) {
			printf("# handshake: deadline passed\n");
			return -1;
		}
	}
}

/* Sends len pseudo-random bytes from one conn to the other and checks
 * they arrive whole and in order. */
static bool transfer(struct conn *from, struct conn *to, size_t len)
{
	unsigned char *out = malloc(len), *in = malloc(len);
	size_t sent = 0, got = 0;
	long long deadline = now_ms() + DEADLINE_MS;
	bool ok = false;

	if (out == NULL || in == NULL)
		goto out_free;
	for (size_t i = 0; i < len; i++)
		out[i] = (unsigned char)(i * 2654435761u >> 13);
	while (got < len) {
		ssize_t n;

		if (sent < len) {
			n = conn_write(from, out + sent, len - sent);
			if (n > 0)
				sent += (size_t)n;
			else if (n != CONN_AGAIN) {
				printf("# write: %zd %s\n", n, from->error);
				goto out_free;
			}
		}
		do {
			n = conn_read(to, in + got, len - got);
			if (n > 0)
				got += (size_t)n;
		} while (n > 0 && got < len && conn_has_buffered(to));
		if (n < 0 && n != CONN_AGAIN) {
			printf("# read: %zd %s\n", n, to->error);
			goto out_free;
		}
		if (got < len && n == CONN_AGAIN &&
		    !wait_both(from, conn_wanted(from, false, sent < len),
			       to, conn_wanted(to, true, false), deadline)) {
			printf("# transfer: deadline passed at %zu/%zu\n", got,
			       len);
			goto out_free;
		}
	}
	ok = memcmp(in, out, len) == 0;
out_free:
	free(out);
	free(in);
	return ok;
}

static void test_connect_refused(void)
{
	struct sockaddr_in sin;
	struct conn c;
	int lfd = listen_loopback(&sin), ret;
	long long deadline = now_ms() + DEADLINE_MS;

	close(lfd); /* nobody listens there now */
	conn_init(&c, -1);
	ret = conn_connect(&c, (struct sockaddr *)&sin, sizeof(sin));
	while (ret == 0 && (ret = conn_connect_finish(&c)) == 0) {
		struct pollfd p = { .fd = c.fd, .events = POLLOUT };

		if (poll(&p, 1, (int)(deadline - now_ms())) <= 0)
			break;
	}
	CHECK(ret < 0 && strstr(c.error, "connect") != NULL,
	      "connect to a closed port fails with a reason");
	conn_deinit(&c);
	CHECK(c.fd == -1, "deinit leaves no socket behind");
}

static void test_verified(struct tls_ctx *srv, struct tls_ctx *cli)
{
	struct conn client, server;
	unsigned char cb_c[64], cb_s[64];
	char cn[256];
	int cr, sr, lc, ls;

	if (!connect_pair(&client, &server)) {
		CHECK(false, "loopback connect");
		return;
	}
	CHECK(conn_read(&client, cn, 1) == CONN_AGAIN,
	      "a plain read on an idle client conn waits");
	CHECK(conn_start_tls(&server, srv) == 0 &&
	      conn_start_tls_client(&client, cli, HOST) == 0,
	      "both TLS starts");
	CHECK(handshake_pair(&client, &server, &cr, &sr) == 1,
	      "handshake with the right CA and host name");
	CHECK(conn_is_tls(&client) && conn_is_tls(&server), "both are TLS");
	CHECK_STR(conn_server_name(&server), HOST, "the server sees the SNI");
	CHECK_STR(conn_peer_cn(&client, cn, sizeof(cn)), HOST,
	      "the client sees the verified server CN");
	CHECK(conn_peer_cn(&server, cn, sizeof(cn)) == NULL,
	      "no client certificate on the server");
	lc = conn_channel_binding(&client, "tls-server-end-point", cb_c,
				  sizeof(cb_c));
	ls = conn_channel_binding(&server, "tls-server-end-point", cb_s,
				  sizeof(cb_s));
	CHECK(lc == 32 && ls == lc && memcmp(cb_c, cb_s, 32) == 0,
	      "tls-server-end-point is the same on both sides");
	lc = conn_channel_binding(&client, "tls-exporter", cb_c, sizeof(cb_c));
	ls = conn_channel_binding(&server, "tls-exporter", cb_s, sizeof(cb_s));
	CHECK(lc == 32 && ls == lc && memcmp(cb_c, cb_s, 32) == 0,
	      "tls-exporter is the same on both sides");
	CHECK(transfer(&client, &server, 1000), "client to server");
	/* more than the socket buffers hold: partial writes and waits */
	CHECK(transfer(&server, &client, 8u << 20), "8 MB server to client");
	CHECK(transfer(&client, &server, 3u << 20), "3 MB client to server");
	close_pair(&client, &server);
}

static void test_ip_literal(struct tls_ctx *srv, struct tls_ctx *cli)
{
	struct conn client, server;
	int cr, sr;

	if (!connect_pair(&client, &server)) {
		CHECK(false, "loopback connect");
		return;
	}
	CHECK(conn_start_tls(&server, srv) == 0 &&
	      conn_start_tls_client(&client, cli, "127.0.0.1") == 0 &&
	      handshake_pair(&client, &server, &cr, &sr) == 1,
	      "an IP literal host is checked against the IP SAN");
	CHECK(conn_server_name(&server) == NULL,
	      "no SNI for an IP literal (RFC 6066 3.)");
	close_pair(&client, &server);
}

/* The client refuses the server; *error_r gets the client's reason. */
static void expect_refused(struct tls_ctx *srv, struct tls_ctx *cli,
			   const char *host, const char *want,
			   const char *name)
{
	struct conn client, server;
	int cr, sr;

	if (!connect_pair(&client, &server)) {
		CHECK(false, "loopback connect");
		return;
	}
	CHECK(conn_start_tls(&server, srv) == 0 &&
	      conn_start_tls_client(&client, cli, host) == 0 &&
	      handshake_pair(&client, &server, &cr, &sr) < 0 && cr < 0 &&
	      sr != 1, name);
	if (strstr(client.error, want) == NULL)
		printf("# client error: %s\n", client.error);
	CHECK(strstr(client.error, "certificate verify failed") != NULL &&
	      strstr(client.error, want) != NULL,
	      "the client says why it refused");
	close_pair(&client, &server);
}

static void test_misuse(struct tls_ctx *srv, struct tls_ctx *cli)
{
	struct conn client, server;

	if (!connect_pair(&client, &server)) {
		CHECK(false, "loopback connect");
		return;
	}
	CHECK(conn_start_tls_client(&client, cli, NULL) < 0 &&
	      !conn_is_tls(&client),
	      "a verifying client needs a host name");
	CHECK(conn_start_tls_client(&client, srv, HOST) < 0,
	      "a server context on a client conn is refused");
	CHECK(conn_start_tls(&server, cli) < 0,
	      "a client context on a server conn is refused");
	CHECK(conn_start_tls(&server, srv) == 0 &&
	      conn_start_tls(&server, srv) < 0,
	      "TLS cannot start twice");
	close_pair(&client, &server);
}

/* RFC 2595 4.: plain greeting and STLS, then TLS on the same objects. */
static void test_starttls(struct tls_ctx *srv, struct tls_ctx *cli)
{
	struct conn client, server;
	char buf[64];
	int cr, sr;

	if (!connect_pair(&client, &server)) {
		CHECK(false, "loopback connect");
		return;
	}
	CHECK(conn_write(&client, "STLS\r\n", 6) == 6, "plain STLS sent");
	{
		long long deadline = now_ms() + DEADLINE_MS;
		ssize_t n;

		while ((n = conn_read(&server, buf, sizeof(buf))) ==
		       CONN_AGAIN &&
		       wait_both(&server, IO_READ, &client, 0, deadline))
			;
		CHECK(n == 6 && memcmp(buf, "STLS\r\n", 6) == 0,
		      "the server reads it in plain");
		CHECK(conn_write(&server, "+OK\r\n", 5) == 5, "+OK sent");
		while ((n = conn_read(&client, buf, sizeof(buf))) ==
		       CONN_AGAIN &&
		       wait_both(&client, IO_READ, &server, 0, deadline))
			;
		CHECK(n == 5 && memcmp(buf, "+OK\r\n", 5) == 0,
		      "the client reads +OK in plain");
	}
	CHECK(!conn_is_tls(&client) && !conn_is_tls(&server),
	      "plain before the upgrade");
	CHECK(conn_start_tls(&server, srv) == 0 &&
	      conn_start_tls_client(&client, cli, HOST) == 0 &&
	      handshake_pair(&client, &server, &cr, &sr) == 1,
	      "STARTTLS handshake on the plain connection");
	CHECK(conn_is_tls(&client) && conn_is_tls(&server) &&
	      conn_server_name(&server) != NULL,
	      "TLS after the upgrade, with SNI");
	CHECK(transfer(&client, &server, 100000) &&
	      transfer(&server, &client, 100000), "data both ways after STLS");
	close_pair(&client, &server);
}

static void test_ctx_errors(void)
{
	struct tls_client_settings set = { .verify = true,
					   .ca_file = "/nonexistent/ca.pem" };
	struct tls_ctx *ctx = NULL;
	char err[256] = "";

	CHECK(tls_client_ctx_create(&set, &ctx, err, sizeof(err)) < 0 &&
	      ctx == NULL && strstr(err, "/nonexistent/ca.pem") != NULL,
	      "a missing CA file is an error naming it");
	set.ca_file = NULL;
	set.min_version = "SSLv3";
	CHECK(tls_client_ctx_create(&set, &ctx, err, sizeof(err)) < 0,
	      "a bad minimum version is an error");
}

int main(void)
{
	struct tls_ctx *srv, *self, *cli, *cli_any, *cli_system;

	signal(SIGPIPE, SIG_IGN);
	if (mkdtemp(tmpdir) == NULL || make_certs() != 0) {
		printf("not ok - making test certificates with openssl\n");
		return 1;
	}
	srv = server_ctx(srv_pem, srv_key);
	self = server_ctx(self_pem, self_key);
	cli = client_ctx(true, ca_pem);
	cli_any = client_ctx(false, NULL);
	cli_system = client_ctx(true, NULL);
	CHECK(srv != NULL && self != NULL && cli != NULL && cli_any != NULL &&
	      cli_system != NULL, "contexts (the system store loads)");
	if (srv == NULL || self == NULL || cli == NULL || cli_any == NULL ||
	    cli_system == NULL)
		return unit_done();

	test_connect_refused();
	test_verified(srv, cli);
	test_ip_literal(srv, cli);
	expect_refused(srv, cli, "other.example.test", "mismatch",
		       "a wrong host name is refused");
	expect_refused(self, cli, HOST, "self-signed",
		       "an untrusted certificate is refused");
	expect_refused(srv, cli_system, HOST, "local issuer",
		       "the system store does not trust the test CA");
	{
		struct conn client, server;
		int cr, sr;

		CHECK(connect_pair(&client, &server) &&
		      conn_start_tls(&server, self) == 0 &&
		      conn_start_tls_client(&client, cli_any, HOST) == 0 &&
		      handshake_pair(&client, &server, &cr, &sr) == 1,
		      "a non-verifying client accepts any certificate");
		close_pair(&client, &server);
	}
	test_misuse(srv, cli);
	test_starttls(srv, cli);
	test_ctx_errors();

	tls_ctx_destroy(&srv);
	tls_ctx_destroy(&self);
	tls_ctx_destroy(&cli);
	tls_ctx_destroy(&cli_any);
	tls_ctx_destroy(&cli_system);
	CHECK(srv == NULL && cli == NULL, "destroy clears the pointers");
	sh("rm -rf %s", tmpdir);
	return unit_done();
}
