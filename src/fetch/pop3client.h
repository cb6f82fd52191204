/* pop3client.h: one connection of the fetch client to a POP3 server:
 * connect, TLS (implicit or after STLS), commands out, status lines,
 * multi-line bodies and listings in, every step bounded by a timeout.
 *
 * The calls block (poll on the non-blocking conn of net/conn.h, with
 * a deadline per call): the fetch client runs one account per process,
 * so nothing else waits on it. Several commands may be written before
 * their replies are read (RFC 2449 PIPELINING): commands are small and
 * the caller bounds how many are in flight, so writing never waits on
 * the server reading.
 *
 * Every reply is untrusted server data: a status line longer than
 * POP3CLIENT_LINE_MAX, a listing line longer than that, a body
 * without its terminator or any read that times out ends the
 * connection with an error, and the caller never sees half of it. */
#ifndef SATCHEL_POP3CLIENT_H
#define SATCHEL_POP3CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fetch/pop3reply.h"
#include "net/conn.h"

/* RFC 2449 4.: a status line is at most 512 octets; be lenient up to a
 * few KB (some servers put long texts in -ERR) before calling it a
 * framing error. */
#define POP3CLIENT_LINE_MAX 4096
#define POP3CLIENT_IN_BUF (128 * 1024)

struct tls_ctx;

enum pop3client_error {
	POP3C_OK = 0,
	POP3C_NET = -1,       /* connect failed, reset, EOF: temporary */
	POP3C_TIMEOUT = -2,   /* no progress within the timeout */
	POP3C_PROTO = -3,     /* the server broke the protocol */
	POP3C_TLS = -4,       /* handshake or certificate check failed */
};

struct pop3client {
	struct conn conn;
	unsigned timeout_ms;           /* without progress */
	int64_t deadline_ms;           /* CLOCK_MONOTONIC ms, 0: none: the
					  whole session ends by then */
	char *in;                      /* POP3CLIENT_IN_BUF */
	size_t in_start, in_len;
	uint64_t bytes_in, bytes_out;  /* on the wire, for the log */
	char error[256];               /* why the last call failed */
};

/* Connects to host:port (every address getaddrinfo gives, in turn,
 * within the timeout). 0 or a pop3client_error with pc->error. */
int pop3client_connect(struct pop3client *pc, const char *host,
		       const char *port, unsigned timeout_secs);
/* Closes the connection and frees the buffer. Safe twice. */
void pop3client_close(struct pop3client *pc);

/* TLS handshake as a client (conn_start_tls_client: host name checked
 * when ctx verifies). For STARTTLS: fails with POP3C_PROTO when the
 * server sent anything after its +OK (bytes that came unprotected
 * would be read as if protected: the injection of CVE-2011-0411). */
int pop3client_start_tls(struct pop3client *pc, struct tls_ctx *ctx,
			 const char *host);

/* Writes one command (a CRLF is added). 0 or an error. */
int pop3client_send(struct pop3client *pc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Reads one status line into line (NUL-terminated, without CRLF) and
 * parses it into *st (st->text points into line). Returns 0 (whatever
 * the status; POP3_BAD included) or an error. */
int pop3client_read_status(struct pop3client *pc, struct pop3_status *st,
			   char *line, size_t size);

/* Reads a multi-line body, handing decoded pieces to fn, which returns
 * 0; -1 to fail the read (the rest of the body is still consumed so the
 * connection stays usable, and the call returns POP3C_OK with
 * *sink_failed_r set); or -2 to stop reading at once (POP3C_PROTO: a
 * body larger than any sane bound, which a hostile server could make
 * endless). 0 or an error. */
int pop3client_read_body(struct pop3client *pc,
			 int (*fn)(const char *data, size_t len,
				   void *context),
			 void *context, bool *sink_failed_r);

/* Reads a multi-line listing (CAPA, UIDL, LIST), calling fn per line
 * (without its LF, NUL-terminated, at most POP3CLIENT_LINE_MAX; a
 * longer line is a protocol error); fn returns false to fail with
 * POP3C_PROTO (and its reason in pc->error). 0 or an error. */
int pop3client_read_lines(struct pop3client *pc,
			  bool (*fn)(char *line, size_t len, void *context),
			  void *context);

/* Bytes received and not yet read by the caller. */
bool pop3client_has_input(const struct pop3client *pc);

#endif
