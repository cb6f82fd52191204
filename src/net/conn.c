/* conn.c: plain and TLS byte streams, server and client side, behind one
 * interface (conn.h). */
#include "net/conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "net/ioloop.h"
#include "net/tls.h"

void conn_init(struct conn *c, int fd)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->out_fd = -1;
	c->state = CONN_PLAIN;
	c->read_wants = IO_READ;
	c->write_wants = IO_WRITE;
}

void conn_set_out_fd(struct conn *c, int out_fd)
{
	c->out_fd = out_fd;
}

/* The descriptor writes go to. */
static int conn_write_fd(const struct conn *c)
{
	return c->out_fd >= 0 ? c->out_fd : c->fd;
}

void conn_deinit(struct conn *c)
{
	if (c->ssl != NULL) {
		/* A close_notify is polite but must not block. */
		if (c->state == CONN_TLS)
			(void)SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->owns_fd && c->fd >= 0)
		close(c->fd);
	if (c->owns_fd)
		c->fd = -1;
	c->owns_fd = false;
	c->state = CONN_PLAIN;
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

int conn_connect(struct conn *c, const struct sockaddr *addr,
		 socklen_t addrlen)
{
	int one = 1;

	conn_init(c, -1);
	c->client = true;
	c->fd = socket(addr->sa_family,
		       SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		conn_set_error(c, "socket");
		return -1;
	}
	c->owns_fd = true;
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, addr, addrlen) == 0)
		return 0;
	if (errno != EINPROGRESS) {
		conn_set_error(c, "connect");
		conn_deinit(c);
		return -1;
	}
	c->state = CONN_CONNECTING;
	c->read_wants = c->write_wants = IO_WRITE;
	return 0;
}

int conn_connect_finish(struct conn *c)
{
	struct sockaddr_storage peer;
	socklen_t len = sizeof(int);
	int err = 0;

	if (c->state != CONN_CONNECTING)
		return c->fd >= 0 ? 1 : -1;
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) {
		conn_set_error(c, "connect");
		return -1;
	}
	if (err != 0) {
		errno = err;
		conn_set_error(c, "connect");
		return -1;
	}
	/* a wakeup before the connect ended leaves SO_ERROR 0 too */
	len = sizeof(peer);
	if (getpeername(c->fd, (struct sockaddr *)&peer, &len) < 0) {
		if (errno == ENOTCONN)
			return 0;
		conn_set_error(c, "connect");
		return -1;
	}
	c->state = CONN_PLAIN;
	c->read_wants = IO_READ;
	c->write_wants = IO_WRITE;
	return 1;
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
	if (c->state != CONN_TLS)
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
			n = write(conn_write_fd(c), buf, len);
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
	if (c->state != CONN_TLS)
		return CONN_AGAIN;
	errno = 0;
	ret = SSL_write(c->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
	if (ret > 0)
		return ret;
	return conn_ssl_result(c, ret, &c->write_wants, "TLS write");
}

/* A new SSL for the plain conn c, or NULL with c->error. */
static SSL *conn_new_ssl(struct conn *c, struct tls_ctx *ctx, bool client)
{
	SSL *ssl;

	if (c->state != CONN_PLAIN || c->ssl != NULL || c->fd < 0) {
		snprintf(c->error, sizeof(c->error),
			 "TLS setup: the connection is not plain");
		return NULL;
	}
	if (tls_ctx_is_client(ctx) != client) {
		snprintf(c->error, sizeof(c->error),
			 "TLS setup: a %s context on a %s connection",
			 client ? "server" : "client",
			 client ? "client" : "server");
		return NULL;
	}
	ssl = SSL_new(tls_ctx_ssl_ctx(ctx));
	if (ssl == NULL || SSL_set_rfd(ssl, c->fd) != 1 ||
	    SSL_set_wfd(ssl, conn_write_fd(c)) != 1) {
		conn_set_error(c, "TLS setup");
		SSL_free(ssl);
		return NULL;
	}
	return ssl;
}

int conn_start_tls(struct conn *c, struct tls_ctx *ctx)
{
	SSL *ssl = conn_new_ssl(c, ctx, false);

	if (ssl == NULL)
		return -1;
	SSL_set_accept_state(ssl);
	c->ssl = ssl;
	c->state = CONN_HANDSHAKE;
	c->read_wants = IO_READ;
	return 0;
}

static bool conn_is_ip_literal(const char *host)
{
	unsigned char addr[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, addr) == 1 ||
	       inet_pton(AF_INET6, host, addr) == 1;
}

int conn_start_tls_client(struct conn *c, struct tls_ctx *ctx,
			  const char *host)
{
	SSL *ssl = conn_new_ssl(c, ctx, true);
	bool ip, verify;
	int ok = 1;

	if (ssl == NULL)
		return -1;
	verify = SSL_get_verify_mode(ssl) != SSL_VERIFY_NONE;
	if (verify && (host == NULL || host[0] == '\0')) {
		snprintf(c->error, sizeof(c->error),
			 "TLS setup: verifying needs the server's name");
		goto out_free;
	}
	ip = host != NULL && conn_is_ip_literal(host);
	/* RFC 6066 3.: "Literal IPv4 and IPv6 addresses are not permitted
	 * in HostName" */
	if (host != NULL && host[0] != '\0' && !ip)
		ok = SSL_set_tlsext_host_name(ssl, host);
	/* the name the user asked for, not one the server offers: checked
	 * against the certificate's subjectAltName (RFC 6125) */
	if (ok == 1 && verify)
		ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
							host) :
		     SSL_set1_host(ssl, host);
	if (ok != 1) {
		conn_set_error(c, "TLS setup: server name");
		goto out_free;
	}
	SSL_set_connect_state(ssl);
	c->ssl = ssl;
	c->client = true;
	c->state = CONN_HANDSHAKE;
	c->read_wants = IO_WRITE;
	return 0;

out_free:
	SSL_free(ssl);
	return -1;
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
	if (c->client && SSL_get_verify_result(c->ssl) != X509_V_OK)
		snprintf(c->error, sizeof(c->error),
			 "TLS handshake: certificate verify failed: %s",
			 X509_verify_cert_error_string(
				 SSL_get_verify_result(c->ssl)));
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
	if (c->state == CONN_CONNECTING)
		return IO_WRITE;
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

const char *conn_server_name(const struct conn *c)
{
	if (c->ssl == NULL || c->client)
		return NULL;
	return SSL_get_servername(c->ssl, TLSEXT_NAMETYPE_host_name);
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
		 * hash, MD5 and SHA-1 upgraded to SHA-256; always the
		 * server's certificate, ours or the peer's. */
		X509 *cert = c->client ? SSL_get0_peer_certificate(c->ssl) :
			     SSL_get_certificate(c->ssl);
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

int conn_tls_describe(struct conn *c, char *proto, size_t proto_size,
		      char *cipher, size_t cipher_size, char *pin,
		      size_t pin_size)
{
	unsigned char *der = NULL, md[SHA256_DIGEST_LENGTH];
	X509 *cert;
	int len;

	if (c->state != CONN_TLS)
		return -1;
	snprintf(proto, proto_size, "%s", SSL_get_version(c->ssl));
	snprintf(cipher, cipher_size, "%s", SSL_get_cipher_name(c->ssl));
	cert = SSL_get0_peer_certificate(c->ssl);
	if (cert == NULL)
		return -1;
	len = i2d_PUBKEY(X509_get0_pubkey(cert), &der);
	if (len <= 0)
		return -1;
	SHA256(der, (size_t)len, md);
	OPENSSL_free(der);
	/* base64 of 32 octets: 44 characters and the NUL */
	if (pin_size < 45)
		return -1;
	EVP_EncodeBlock((unsigned char *)pin, md, sizeof(md));
	return 0;
}
