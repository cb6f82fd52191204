/* conn.h: a client connection as a byte stream that hides TLS.
 *
 * Session code reads and writes through conn_read/conn_write whether the
 * bytes go through OpenSSL or not. STLS swaps the transport under the same
 * object (conn_start_tls). All calls are non-blocking: when a call cannot
 * progress it returns CONN_AGAIN and conn_wanted() tells which socket
 * event (IO_READ / IO_WRITE) to wait for, which with TLS may be the
 * opposite of the call (a read may need to write, and back). */
#ifndef SATCHEL_CONN_H
#define SATCHEL_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct tls_ctx;

enum conn_result {
	CONN_AGAIN = -1,   /* would block; see conn_wanted() */
	CONN_EOF = -2,     /* orderly close by the peer */
	CONN_ERROR = -3,   /* I/O or TLS error; the connection is unusable */
};

enum conn_state { CONN_PLAIN, CONN_HANDSHAKE, CONN_TLS };

struct conn {
	int fd;                  /* read from (and written to, see out_fd) */
	int out_fd;              /* written to: fd unless conn_set_out_fd */
	enum conn_state state;
	void *ssl;               /* SSL *, NULL while plain */
	unsigned read_wants;     /* events the last read/handshake waits on */
	unsigned write_wants;    /* events the last write waits on */
	char error[128];         /* why CONN_ERROR happened, for logs */
};

void conn_init(struct conn *c, int fd);
/* Writes go to out_fd instead of fd (satchel serve --stdio: fd 0 and 1,
 * which may be two pipes). Events are still watched on fd only, so a
 * distinct out_fd must be blocking: a write then never returns
 * CONN_AGAIN. Call before any I/O and before conn_start_tls. */
void conn_set_out_fd(struct conn *c, int out_fd);
/* Frees TLS state; does not close fd. */
void conn_deinit(struct conn *c);

/* Returns bytes read (> 0), or a conn_result. */
ssize_t conn_read(struct conn *c, void *buf, size_t len);
/* Returns bytes written (> 0), or a conn_result. */
ssize_t conn_write(struct conn *c, const void *buf, size_t len);

/* Begins a server-side TLS handshake on the socket. 0 or -1. */
int conn_start_tls(struct conn *c, struct tls_ctx *ctx);
/* Continues the handshake: 1 when done, 0 to wait (conn_wanted), -1 on
 * failure (c->error says why). */
int conn_handshake(struct conn *c);

/* Events to wait for to make progress on reading / writing. */
unsigned conn_wanted(const struct conn *c, bool want_read, bool want_write);
/* True when TLS holds decrypted bytes epoll cannot see. */
bool conn_has_buffered(const struct conn *c);
/* True when the connection is TLS now. */
bool conn_is_tls(const struct conn *c);

/* Client certificate subject CN when one was verified, else NULL. */
const char *conn_peer_cn(struct conn *c, char *buf, size_t size);
/* RFC 9266 tls-exporter or RFC 5929 tls-server-end-point channel binding
 * data into out. Returns the length, or -1 when unavailable. */
int conn_channel_binding(struct conn *c, const char *type,
			 unsigned char *out, size_t size);

#endif
