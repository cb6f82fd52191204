/* conn.h: one byte stream that hides TLS, for both ends of a connection.
 *
 * Server mode: the session accepts a socket, conn_init()s it and, for
 * implicit TLS or after STLS, conn_start_tls() with the server context.
 * Client mode (the bench, the fetch client): conn_connect() makes the
 * socket and starts a non-blocking connect; conn_connect_finish() when it
 * is writable; then conn_start_tls_client() right away (implicit TLS) or
 * after the server said +OK to STLS (RFC 2595 4.), on the same object.
 * After that both modes read and write the same way.
 *
 * All calls are non-blocking: when a call cannot progress it returns
 * CONN_AGAIN and conn_wanted() tells which socket event (IO_READ /
 * IO_WRITE of net/ioloop.h) to wait for, which with TLS may be the
 * opposite of the call (a read may need to write, and back). Bytes that
 * TLS has decrypted but not handed out are invisible to epoll: after a
 * read, check conn_has_buffered() before waiting again.
 *
 * Ownership: a conn_init() conn borrows its fd (the caller closes it); a
 * conn_connect() conn owns its socket and conn_deinit() closes it. A conn
 * borrows its tls_ctx, which must outlive it. conn holds no buffered
 * plaintext of its own, so a STARTTLS upgrade loses nothing of the conn's;
 * the caller must throw away whatever it read before the handshake (its
 * line reader): those bytes were not protected (the CVE-2011-0411 class,
 * in both directions).
 *
 * Errors: CONN_ERROR and -1 leave the reason in c->error (for logs; it may
 * quote OpenSSL's text, never peer data). Everything read is untrusted
 * peer data; conn does not look at it. A process using conn ignores
 * SIGPIPE: a write to a closed peer returns CONN_ERROR (EPIPE). */
#ifndef SATCHEL_CONN_H
#define SATCHEL_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

struct tls_ctx;

enum conn_result {
	CONN_AGAIN = -1,   /* would block; see conn_wanted() */
	CONN_EOF = -2,     /* orderly close by the peer (or a reset) */
	CONN_ERROR = -3,   /* I/O or TLS error; the connection is unusable */
};

enum conn_state {
	CONN_PLAIN,
	CONN_CONNECTING,   /* client: connect() in progress */
	CONN_HANDSHAKE,
	CONN_TLS,
};

struct conn {
	int fd;                  /* read from (and written to, see out_fd) */
	int out_fd;              /* written to when >= 0 (conn_set_out_fd);
				    -1: fd */
	enum conn_state state;
	void *ssl;               /* SSL *, NULL while plain */
	bool client;             /* conn_connect() made it, or TLS client */
	bool owns_fd;            /* conn_deinit() closes fd */
	unsigned read_wants;     /* events the last read/handshake waits on */
	unsigned write_wants;    /* events the last write waits on */
	char error[128];         /* why CONN_ERROR happened, for logs */
};

/* A plain conn over fd, which stays the caller's. fd may be -1: such a
 * conn can only be conn_deinit()ed or conn_connect()ed. */
void conn_init(struct conn *c, int fd);
/* Writes go to out_fd instead of fd (satchel serve --stdio: fd 0 and 1,
 * which may be two pipes). Events are still watched on fd only, so a
 * distinct out_fd must be blocking: a write then never returns
 * CONN_AGAIN. Call before any I/O and before TLS starts; out_fd stays
 * the caller's. */
void conn_set_out_fd(struct conn *c, int out_fd);
/* Frees TLS state (sending a close_notify that must not block) and closes
 * the fd when the conn owns it. Safe twice, and on a conn_init(-1). */
void conn_deinit(struct conn *c);

/* Client: initialises c, which holds no connection (new, or after
 * conn_deinit), with a new non-blocking TCP socket (close on exec,
 * TCP_NODELAY: POP3 commands are small and go one at a time) and starts
 * connecting to addr. 0: in progress (wait for IO_WRITE, then
 * conn_connect_finish), or -1 with c->error (c is then a closed conn). */
int conn_connect(struct conn *c, const struct sockaddr *addr,
		 socklen_t addrlen);
/* Client, once the socket is writable: 1 connected (c is plain now), 0
 * still connecting (wait again), -1 refused or failed (c->error). */
int conn_connect_finish(struct conn *c);

/* Returns bytes read (> 0), or a conn_result. */
ssize_t conn_read(struct conn *c, void *buf, size_t len);
/* Returns bytes written (> 0, maybe fewer than len), or a conn_result.
 * After CONN_AGAIN, retry with the same bytes (they may have moved). */
ssize_t conn_write(struct conn *c, const void *buf, size_t len);

/* Server: begins a TLS handshake on a plain conn with a server context.
 * 0, or -1 (c->error; c is unchanged and still plain). */
int conn_start_tls(struct conn *c, struct tls_ctx *ctx);
/* Client: begins a TLS handshake on a plain, connected conn with a client
 * context (tls_client_ctx_create). host is the name the user asked for
 * (copied): it goes out as SNI unless it is an IP literal (RFC 6066 3.)
 * and, when the context verifies, the certificate must match it (DNS name
 * or IP address, RFC 6125); NULL sends no SNI and is refused by a
 * verifying context (a chain check without a name proves nothing). For
 * STARTTLS, call it after reading the +OK to STLS, with the caller's
 * input buffer emptied. 0, or -1 (c->error; c is unchanged). */
int conn_start_tls_client(struct conn *c, struct tls_ctx *ctx,
			  const char *host);
/* Continues the handshake: 1 when done, 0 to wait (conn_wanted), -1 on
 * failure (c->error says why; for a client whose check of the server
 * certificate failed, "certificate verify failed: " and OpenSSL's reason,
 * e.g. "hostname mismatch"). */
int conn_handshake(struct conn *c);

/* Events to wait for to make progress on reading / writing. */
unsigned conn_wanted(const struct conn *c, bool want_read, bool want_write);
/* True when TLS holds decrypted bytes epoll cannot see. */
bool conn_has_buffered(const struct conn *c);
/* True when the connection is TLS now. */
bool conn_is_tls(const struct conn *c);

/* The peer's certificate subject CN when it was verified, else NULL: the
 * client certificate on a server, the server's on a client. */
const char *conn_peer_cn(struct conn *c, char *buf, size_t size);
/* Server: the SNI host name the client sent (untrusted: any octets the
 * client chose, checked by OpenSSL to be a host name), or NULL. */
const char *conn_server_name(const struct conn *c);
/* A TLS connection's protocol ("TLSv1.3"), cipher and the peer
 * certificate's SPKI pin (base64 of the SHA-256 of its public key, as
 * HPKP and curl's --pinnedpubkey write it), for --serverinfo and
 * pinning. 0, or -1 when not TLS or no peer certificate. */
int conn_tls_describe(struct conn *c, char *proto, size_t proto_size,
		      char *cipher, size_t cipher_size, char *pin,
		      size_t pin_size);
/* RFC 9266 tls-exporter or RFC 5929 tls-server-end-point channel binding
 * data into out (the server's certificate in both modes). Returns the
 * length, or -1 when unavailable. */
int conn_channel_binding(struct conn *c, const char *type,
			 unsigned char *out, size_t size);

#endif
