/* stream.c: plain or TLS client connections for the load generator. */
#include "bench/stream.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "net/ioloop.h"

void *bstream_tls_ctx_create(const char *cafile, const char **error_r)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL) {
		*error_r = "cannot create a TLS context";
		return NULL;
	}
	(void)SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (cafile != NULL) {
		if (SSL_CTX_load_verify_locations(ctx, cafile, NULL) != 1) {
			*error_r = "cannot load the CA file";
			SSL_CTX_free(ctx);
			return NULL;
		}
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	}
	/* Every session is a new client: no resumption, full handshakes,
	 * the server's worst case. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	(void)SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	return ctx;
}

void bstream_tls_ctx_destroy(void *ctx)
{
	SSL_CTX_free(ctx);
}

int bstream_connect(struct bstream *bs, const struct sockaddr *addr,
		    socklen_t addrlen)
{
	int one = 1;

	memset(bs, 0, sizeof(*bs));
	bs->read_wants = IO_READ;
	bs->write_wants = IO_WRITE;
	bs->fd = socket(addr->sa_family,
			SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (bs->fd < 0)
		return -1;
	/* Commands are small and sent one at a time: never hold them. */
	(void)setsockopt(bs->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(bs->fd, addr, addrlen) < 0 && errno != EINPROGRESS) {
		int saved = errno;

		close(bs->fd);
		bs->fd = -1;
		errno = saved;
		return -1;
	}
	return 0;
}

int bstream_connect_result(struct bstream *bs)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(bs->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return -1;
	if (err != 0) {
		errno = err;
		return -1;
	}
	return 0;
}

void bstream_close(struct bstream *bs)
{
	if (bs->ssl != NULL) {
		SSL_free(bs->ssl);
		bs->ssl = NULL;
	}
	if (bs->fd >= 0)
		close(bs->fd);
	bs->fd = -1;
	ERR_clear_error();
}

int bstream_start_tls(struct bstream *bs, void *ctx, const char *sni)
{
	SSL *ssl = SSL_new(ctx);

	if (ssl == NULL || SSL_set_fd(ssl, bs->fd) != 1) {
		SSL_free(ssl);
		return -1;
	}
	if (sni != NULL) {
		(void)SSL_set_tlsext_host_name(ssl, sni);
		if (SSL_CTX_get_verify_mode(ctx) != SSL_VERIFY_NONE)
			(void)SSL_set1_host(ssl, sni);
	}
	SSL_set_connect_state(ssl);
	bs->ssl = ssl;
	bs->handshaking = true;
	return 0;
}

static ssize_t bstream_ssl_result(struct bstream *bs, int ret,
				  unsigned *wants_r)
{
	switch (SSL_get_error(bs->ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		*wants_r = IO_READ;
		return BSTREAM_AGAIN;
	case SSL_ERROR_WANT_WRITE:
		*wants_r = IO_WRITE;
		return BSTREAM_AGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return BSTREAM_EOF;
	case SSL_ERROR_SYSCALL:
		ERR_clear_error();
		return errno == 0 ? BSTREAM_EOF : BSTREAM_ERROR;
	default:
		ERR_clear_error();
		return BSTREAM_ERROR;
	}
}

int bstream_handshake(struct bstream *bs)
{
	int ret;

	errno = 0;
	ret = SSL_do_handshake(bs->ssl);
	if (ret == 1) {
		bs->handshaking = false;
		bs->read_wants = IO_READ;
		bs->write_wants = IO_WRITE;
		return 1;
	}
	return bstream_ssl_result(bs, ret, &bs->read_wants) == BSTREAM_AGAIN ?
	       0 : -1;
}

ssize_t bstream_read(struct bstream *bs, void *buf, size_t len)
{
	ssize_t n;
	int ret;

	if (bs->ssl == NULL) {
		do {
			n = read(bs->fd, buf, len);
		} while (n < 0 && errno == EINTR);
		if (n > 0)
			return n;
		if (n == 0)
			return BSTREAM_EOF;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			bs->read_wants = IO_READ;
			return BSTREAM_AGAIN;
		}
		return errno == ECONNRESET ? BSTREAM_EOF : BSTREAM_ERROR;
	}
	if (bs->handshaking)
		return BSTREAM_AGAIN;
	errno = 0;
	ret = SSL_read(bs->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
	if (ret > 0)
		return ret;
	return bstream_ssl_result(bs, ret, &bs->read_wants);
}

ssize_t bstream_write(struct bstream *bs, const void *buf, size_t len)
{
	ssize_t n;
	int ret;

	if (bs->ssl == NULL) {
		do {
			n = send(bs->fd, buf, len, MSG_NOSIGNAL);
		} while (n < 0 && errno == EINTR);
		if (n >= 0)
			return n;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			bs->write_wants = IO_WRITE;
			return BSTREAM_AGAIN;
		}
		return BSTREAM_ERROR;
	}
	if (bs->handshaking)
		return BSTREAM_AGAIN;
	errno = 0;
	ret = SSL_write(bs->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
	if (ret > 0)
		return ret;
	return bstream_ssl_result(bs, ret, &bs->write_wants);
}

bool bstream_has_buffered(const struct bstream *bs)
{
	return bs->ssl != NULL && !bs->handshaking && SSL_pending(bs->ssl) > 0;
}

unsigned bstream_wanted(const struct bstream *bs, bool want_write)
{
	if (bs->handshaking)
		return bs->read_wants;
	return bs->read_wants | (want_write ? bs->write_wants : 0);
}
