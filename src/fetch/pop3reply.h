/* pop3reply.h: the server's side of POP3 as the fetch client reads it:
 * status lines (RFC 1939 3., RFC 2449 8. response codes) and multi-line
 * bodies (byte-stuffed, ended by a line holding one dot).
 *
 * Everything parsed here is untrusted server data: every length is
 * bounded by the caller's buffer, nothing is NUL-terminated unless said,
 * and nothing is trusted to be printable. */
#ifndef SATCHEL_POP3REPLY_H
#define SATCHEL_POP3REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POP3_RESP_CODE_MAX 63

enum pop3_status_kind {
	POP3_OK,         /* "+OK" */
	POP3_ERR,        /* "-ERR" */
	POP3_CONTINUE,   /* "+ " (or a lone "+"): a SASL challenge */
	POP3_BAD,        /* anything else: a protocol error */
};

struct pop3_status {
	enum pop3_status_kind kind;
	/* the RFC 2449 response code without its brackets, e.g. "IN-USE",
	 * "SYS/TEMP", "AUTH" (NUL-terminated; "" when there is none or it
	 * is malformed: then the brackets stay part of text) */
	char code[POP3_RESP_CODE_MAX + 1];
	const char *text;  /* the rest of the line after the status and the
			      code, leading spaces skipped; points into the
			      line, not terminated */
	size_t text_len;
};

/* Parses one status line (without its CRLF or LF). The status word is
 * case-sensitive as RFC 1939 writes it, and must be followed by a space
 * or the end of the line. Returns st->kind. */
enum pop3_status_kind pop3_status_parse(const char *line, size_t len,
					struct pop3_status *st);

/* True when the code (as in pop3_status.code) is code or starts with
 * code followed by '/' (RFC 2449 8.: "SYS/TEMP" has the "SYS" root). */
bool pop3_code_is(const struct pop3_status *st, const char *code);

/* The decoder of one multi-line body, fed in pieces of any size. It
 * removes the byte-stuffing (a line's leading '.' is dropped when more
 * follows it), turns CRLF into LF (a server that ends lines with a bare
 * LF works too; a CR not followed by LF is kept), and stops after the
 * terminating line ("." then CRLF or LF). Every other octet, NUL and
 * 8-bit included, passes through. */
struct pop3_body {
	unsigned state;        /* private */
	bool done;             /* the terminating line was read */
	uint64_t octets;       /* octets written out so far */
	uint64_t lines;        /* lines written out so far */
};

void pop3_body_init(struct pop3_body *b);
/* Decodes from in[0..len) into out, which has room for len + 2 octets
 * (a CR held back from the previous call may be released). Returns the
 * number of input octets consumed: all of them, or fewer when the
 * terminator ended in this piece (what follows is the next reply's).
 * *out_len_r is the number of octets written to out. */
size_t pop3_body_decode(struct pop3_body *b, const char *in, size_t len,
			char *out, size_t *out_len_r);

#endif
