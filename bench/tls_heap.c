/* tls_heap.c: what OpenSSL itself keeps on the heap for one idle
 * server-side TLS connection, by allocation site (issue 14: the floor
 * under satchel's idle TLS memory).
 *
 *     build/bench-tls-heap CERT KEY [tls1.2]     (make bench-tls-heap)
 *
 * The server context is set up as net/tls.c does (SSL_MODE_RELEASE_
 * BUFFERS, no session cache, no tickets). A forked client handshakes
 * over a socketpair, sends one command and reads the reply; the first
 * connection warms OpenSSL's shared caches (method store, name maps),
 * the second is measured: every allocation made through
 * CRYPTO_set_mem_functions from its SSL_new until it is idle and still
 * alive, grouped by OpenSSL's file and line. A development tool: it
 * exits on any error. */
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

/* Live allocations (pointer, usable size, site), found by a linear scan:
 * a few thousand at most here. */
#define TRACK_MAX 65536

struct tracked {
	void *p;
	size_t size;
	const char *file;
	int line;
};

static struct tracked tracked[TRACK_MAX];
static size_t live_bytes, live_blocks;

static void track(void *p, const char *file, int line)
{
	for (size_t i = 0; i < TRACK_MAX; i++) {
		if (tracked[i].p == NULL) {
			tracked[i] = (struct tracked){ p, malloc_usable_size(p),
						       file, line };
			live_bytes += tracked[i].size;
			live_blocks++;
			return;
		}
	}
	fprintf(stderr, "tls_heap: too many live allocations\n");
	exit(1);
}

static void untrack(void *p)
{
	for (size_t i = 0; i < TRACK_MAX; i++) {
		if (tracked[i].p == p) {
			live_bytes -= tracked[i].size;
			live_blocks--;
			tracked[i].p = NULL;
			return;
		}
	}
}

static void *heap_malloc(size_t n, const char *file, int line)
{
	void *p = malloc(n);

	if (p != NULL)
		track(p, file, line);
	return p;
}

static void *heap_realloc(void *old, size_t n, const char *file, int line)
{
	void *p;

	if (old != NULL)
		untrack(old);
	p = realloc(old, n);
	if (p != NULL)
		track(p, file, line);
	else if (old != NULL)
		track(old, file, line);
	return p;
}

static void heap_free(void *p, const char *file, int line)
{
	if (p != NULL)
		untrack(p);
	free(p);
}

static void fail(const char *what)
{
	fprintf(stderr, "tls_heap: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

/* The forked peer: handshake, one command, wait for the close. */
static void client(int fd, bool tls12)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl;
	char buf[64];

	if (ctx == NULL || (ssl = SSL_new(ctx)) == NULL)
		_exit(1);
	if (tls12)
		SSL_set_max_proto_version(ssl, TLS1_2_VERSION);
	if (SSL_set_fd(ssl, fd) != 1 || SSL_connect(ssl) != 1 ||
	    SSL_write(ssl, "NOOP\r\n", 6) != 6)
		_exit(1);
	(void)SSL_read(ssl, buf, sizeof(buf));
	(void)SSL_read(ssl, buf, sizeof(buf)); /* until the server closes */
	_exit(0);
}

/* One connection up to idle; returns it with its socket in *fd_r. */
static SSL *serve_one(SSL_CTX *ctx, bool tls12, int *fd_r, pid_t *pid_r)
{
	int sv[2];
	char buf[64];
	SSL *ssl;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		fail("socketpair");
	*pid_r = fork();
	if (*pid_r < 0)
		fail("fork");
	if (*pid_r == 0) {
		close(sv[0]);
		client(sv[1], tls12);
	}
	close(sv[1]);
	ssl = SSL_new(ctx);
	if (ssl == NULL || SSL_set_fd(ssl, sv[0]) != 1 ||
	    SSL_accept(ssl) != 1)
		fail("handshake");
	if (SSL_read(ssl, buf, sizeof(buf)) <= 0 ||
	    SSL_write(ssl, "+OK\r\n", 5) != 5)
		fail("exchange");
	*fd_r = sv[0];
	return ssl;
}

static void end_one(SSL *ssl, int fd, pid_t pid)
{
	(void)SSL_shutdown(ssl);
	SSL_free(ssl);
	close(fd);
	(void)waitpid(pid, NULL, 0);
}

/* Prints the live allocations grouped by site, largest first. */
static void report(void)
{
	for (;;) {
		size_t best = 0, count = 0, i;
		const char *file = NULL;
		int line = 0;

		for (i = 0; i < TRACK_MAX; i++) {
			size_t sum = 0, n = 0, j;

			if (tracked[i].p == NULL || tracked[i].file == NULL)
				continue;
			for (j = i; j < TRACK_MAX; j++) {
				if (tracked[j].p != NULL &&
				    tracked[j].file == tracked[i].file &&
				    tracked[j].line == tracked[i].line) {
					sum += tracked[j].size;
					n++;
				}
			}
			if (sum > best) {
				best = sum;
				count = n;
				file = tracked[i].file;
				line = tracked[i].line;
			}
		}
		if (file == NULL)
			return;
		printf("  %6zu octets %3zu blocks  %s:%d\n", best, count, file,
		       line);
		for (i = 0; i < TRACK_MAX; i++) {
			if (tracked[i].p != NULL && tracked[i].file == file &&
			    tracked[i].line == line)
				tracked[i].file = NULL; /* reported */
		}
	}
}

int main(int argc, char **argv)
{
	bool tls12 = argc > 3 && strcmp(argv[3], "tls1.2") == 0;
	size_t base_bytes, base_blocks;
	SSL_CTX *ctx;
	SSL *ssl;
	pid_t pid;
	int fd;

	if (argc < 3) {
		fprintf(stderr, "usage: %s CERT KEY [tls1.2]\n", argv[0]);
		return 2;
	}
	if (CRYPTO_set_mem_functions(heap_malloc, heap_realloc,
				     heap_free) != 1)
		fail("CRYPTO_set_mem_functions");
	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL)
		fail("SSL_CTX_new");
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS |
			 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
			 SSL_MODE_ENABLE_PARTIAL_WRITE);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
			    SSL_OP_IGNORE_UNEXPECTED_EOF |
			    SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 0);
	if (SSL_CTX_use_certificate_chain_file(ctx, argv[1]) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, argv[2], SSL_FILETYPE_PEM) != 1)
		fail("certificate or key");
	/* the first connection fills OpenSSL's shared caches */
	ssl = serve_one(ctx, tls12, &fd, &pid);
	end_one(ssl, fd, pid);
	for (size_t i = 0; i < TRACK_MAX; i++)
		tracked[i].file = NULL; /* not this connection's */
	base_bytes = live_bytes;
	base_blocks = live_blocks;
	ssl = serve_one(ctx, tls12, &fd, &pid);
	if (SSL_free_buffers(ssl) != 1)
		printf("(SSL_free_buffers: nothing to free or refused)\n");
	printf("%s, %s: one idle connection holds %zu octets in %zu blocks\n",
	       OpenSSL_version(OPENSSL_VERSION), SSL_get_version(ssl),
	       live_bytes - base_bytes, live_blocks - base_blocks);
	report();
	end_one(ssl, fd, pid);
	SSL_CTX_free(ctx);
	return 0;
}
