/* stream.h: the load generator's client side of a connection: a
 * non-blocking TCP socket, optionally wrapped in TLS (OpenSSL).
 *
 * Every call is non-blocking. When a call cannot progress it returns
 * BSTREAM_AGAIN and bstream_wanted() says which socket events (IO_READ /
 * IO_WRITE of net/ioloop.h) to wait for; with TLS that may be the opposite
 * of the call. Server data is untrusted; nothing here interprets it. */
#ifndef SATCHEL_BENCH_STREAM_H
#define SATCHEL_BENCH_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

enum bstream_result {
	BSTREAM_AGAIN = -1,
	BSTREAM_EOF = -2,
	BSTREAM_ERROR = -3,
};

struct bstream {
	int fd;
	void *ssl;            /* SSL *, NULL while plain */
	bool handshaking;
	unsigned read_wants, write_wants;
};

/* A TLS client context: verifies the server against cafile when given
 * (then the host name must match too), else accepts any certificate.
 * NULL on failure, *error_r says why. */
void *bstream_tls_ctx_create(const char *cafile, const char **error_r);
void bstream_tls_ctx_destroy(void *ctx);

/* Starts a non-blocking connect. 0 (in progress or done) or -1 (errno). */
int bstream_connect(struct bstream *bs, const struct sockaddr *addr,
		    socklen_t addrlen);
/* After the socket became writable: 0 when connected, else -1 (errno). */
int bstream_connect_result(struct bstream *bs);
/* Closes the socket and frees TLS state. Safe on a closed stream. */
void bstream_close(struct bstream *bs);

/* Begins a client TLS handshake; sni may be NULL. 0 or -1. */
int bstream_start_tls(struct bstream *bs, void *ctx, const char *sni);
/* 1 when the handshake is done, 0 to wait, -1 on failure. */
int bstream_handshake(struct bstream *bs);

/* Bytes (> 0) or a bstream_result. */
ssize_t bstream_read(struct bstream *bs, void *buf, size_t len);
ssize_t bstream_write(struct bstream *bs, const void *buf, size_t len);
/* True when TLS holds decrypted bytes that epoll cannot report. */
bool bstream_has_buffered(const struct bstream *bs);
/* Events to wait for. */
unsigned bstream_wanted(const struct bstream *bs, bool want_write);

#endif
