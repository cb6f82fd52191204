/* conn.c: plain and TLS byte streams behind one interface (conn.h). */
#include "net/conn.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "net/ioloop.h"
#include "net/tls.h"

void conn_init(struct conn *c, int fd)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->out_fd = fd;
	c->state = CONN_PLAIN;
	c->read_wants = IO_READ;
	c->write_wants = IO_WRITE;
}

void conn_set_out_fd(struct conn *c, int out_fd)
{
	c->out_fd = out_fd;
}

void conn_deinit(struct conn *c)
{
	if (c->ssl != NULL) {
		/* A close_notify is polite but must not block. */
		(void)SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	ERR_clear_error();
}

static void conn_set_error(struct conn *c, const char *what)
{
	unsigned long code = ERR_get_error();

	if (code != 0) {
		char reason[120];

		ERR_error_string_n(code, reason, sizeof(reason));
		snprintf(c->error, sizeof(c->error), "%s: %s", what, reason);
	} else if (errno != 0) {
		snprintf(c->error, sizeof(c->error), "%s: %s", what,
			 strerror(errno));
	} else {
		snprintf(c->error, sizeof(c->error), "%s", what);
	}
	ERR_clear_error();
}

/* Maps an SSL_get_error() to a result and the event to wait for. */
static ssize_t conn_ssl_result(struct conn *c, int ret, unsigned *wants_r,
			       const char *what)
{
	switch (SSL_get_error(c->ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		*wants_r = IO_READ;
		return CONN_AGAIN;
	case SSL_ERROR_WANT_WRITE:
		*wants_r = IO_WRITE;
		return CONN_AGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return CONN_EOF;
	case SSL_ERROR_SYSCALL:
		if (errno == 0 || errno == ECONNRESET || errno == EPIPE) {
			snprintf(c->error, sizeof(c->error),
				 "%s: connection closed", what);
			return CONN_EOF;
		}
		conn_set_error(c, what);
		return CONN_ERROR;
	default:
		conn_set_error(c, what);
		return CONN_ERROR;
	}
}

ssize_t conn_read(struct conn *c, void *buf, size_t len)
{
	ssize_t n;
	int ret;

	if (c->state == CONN_PLAIN) {
		do {
			n = read(c->fd, buf, len);
		} while (n < 0 && errno == EINTR);
		if (n > 0)
			return n;
		if (n == 0)
			return CONN_EOF;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			c->read_wants = IO_READ;
			return CONN_AGAIN;
		}
		conn_set_error(c, "read");
		return CONN_ERROR;
	}
	if (c->state == CONN_HANDSHAKE)
		return CONN_AGAIN;
	errno = 0;
	ret = SSL_read(c->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
	if (ret > 0)
		return ret;
	return conn_ssl_result(c, ret, &c->read_wants, "TLS read");
}

ssize_t conn_write(struct conn *c, const void *buf, size_t len)
{
	ssize_t n;
	int ret;

	if (c->state == CONN_PLAIN) {
		do {
			n = write(c->out_fd, buf, len);
		} while (n < 0 && errno == EINTR);
		if (n >= 0)
			return n;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			c->write_wants = IO_WRITE;
			return CONN_AGAIN;
		}
		conn_set_error(c, "write");
		return CONN_ERROR;
	}
	if (c->state == CONN_HANDSHAKE)
		return CONN_AGAIN;
	errno = 0;
	ret = SSL_write(c->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
	if (ret > 0)
		return ret;
	return conn_ssl_result(c, ret, &c->write_wants, "TLS write");
}

int conn_start_tls(struct conn *c, struct tls_ctx *ctx)
{
	SSL *ssl = SSL_new(tls_ctx_ssl_ctx(ctx));

	if (ssl == NULL || SSL_set_rfd(ssl, c->fd) != 1 ||
	    SSL_set_wfd(ssl, c->out_fd) != 1) {
		conn_set_error(c, "TLS setup");
		SSL_free(ssl);
		return -1;
	}
	SSL_set_accept_state(ssl);
	c->ssl = ssl;
	c->state = CONN_HANDSHAKE;
	c->read_wants = IO_READ;
	return 0;
}

int conn_handshake(struct conn *c)
{
	int ret;
	ssize_t result;

	errno = 0;
	ret = SSL_do_handshake(c->ssl);
	if (ret == 1) {
		c->state = CONN_TLS;
		c->read_wants = IO_READ;
		c->write_wants = IO_WRITE;
		return 1;
	}
	result = conn_ssl_result(c, ret, &c->read_wants, "TLS handshake");
	if (result == CONN_AGAIN)
		return 0;
	if (result == CONN_EOF && c->error[0] == '\0')
		snprintf(c->error, sizeof(c->error),
			 "TLS handshake: connection closed");
	return -1;
}

unsigned conn_wanted(const struct conn *c, bool want_read, bool want_write)
{
	unsigned events = 0;

	if (c->state == CONN_HANDSHAKE)
		return c->read_wants;
	if (want_read)
		events |= c->read_wants;
	if (want_write)
		events |= c->write_wants;
	return events;
}

bool conn_has_buffered(const struct conn *c)
{
	return c->state == CONN_TLS && SSL_pending(c->ssl) > 0;
}

bool conn_is_tls(const struct conn *c)
{
	return c->state == CONN_TLS;
}

const char *conn_peer_cn(struct conn *c, char *buf, size_t size)
{
	X509 *cert;
	int len;

	if (c->state != CONN_TLS ||
	    SSL_get_verify_result(c->ssl) != X509_V_OK)
		return NULL;
	cert = SSL_get1_peer_certificate(c->ssl);
	if (cert == NULL)
		return NULL;
	len = X509_NAME_get_text_by_NID(X509_get_subject_name(cert),
					NID_commonName, buf, (int)size);
	X509_free(cert);
	/* A CN with an embedded NUL must not pass for a shorter name. */
	return len > 0 && (size_t)len < size && strlen(buf) == (size_t)len ?
	       buf : NULL;
}

int conn_channel_binding(struct conn *c, const char *type,
			 unsigned char *out, size_t size)
{
	if (c->state != CONN_TLS)
		return -1;
	if (strcmp(type, "tls-exporter") == 0) {
		/* RFC 9266: 32 bytes, label EXPORTER-Channel-Binding, no
		 * context; defined for TLS 1.3 (and 1.2 with EMS). */
		static const char label[] = "EXPORTER-Channel-Binding";

		/* RFC 9266 3.: on TLS 1.2 only with the extended master
		 * secret, else the exporter does not bind the session */
		if (SSL_version(c->ssl) < TLS1_3_VERSION &&
		    SSL_get_extms_support(c->ssl) != 1)
			return -1;
		if (size < 32 ||
		    SSL_export_keying_material(c->ssl, out, 32, label,
					       sizeof(label) - 1, NULL, 0,
					       0) != 1)
			return -1;
		return 32;
	}
	if (strcmp(type, "tls-server-end-point") == 0) {
		/* RFC 5929 4.1: hash of our certificate with its signature
		 * hash, MD5 and SHA-1 upgraded to SHA-256. */
		X509 *cert = SSL_get_certificate(c->ssl);
		const EVP_MD *md = NULL;
		unsigned int len = 0;
		int nid;

		if (cert == NULL ||
		    !OBJ_find_sigid_algs(X509_get_signature_nid(cert), &nid,
					 NULL))
			return -1;
		if (nid == NID_md5 || nid == NID_sha1)
			md = EVP_sha256();
		else
			md = EVP_get_digestbynid(nid);
		if (md == NULL || (size_t)EVP_MD_get_size(md) > size ||
		    X509_digest(cert, md, out, &len) != 1)
			return -1;
		return (int)len;
	}
	return -1;
}
