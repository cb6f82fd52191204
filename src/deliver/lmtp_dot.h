/* lmtp_dot.h: the end of DATA and dot-unstuffing (RFC 5321 4.5.2), as a
 * stream: input may be split anywhere, even inside "\r\n.\r\n".
 *
 * A line starts after LF (CRLF or a bare LF, as Postfix and most MTAs
 * treat a bare LF as a line end). At a line start a '.' is removed; a
 * line that is "." alone (followed by CRLF, or a bare LF) ends the data
 * and is not part of it. All other bytes, line ends included, pass
 * through unchanged (the store keeps CRLF, 8-bit bytes and long lines
 * as they came). */
#ifndef SATCHEL_LMTP_DOT_H
#define SATCHEL_LMTP_DOT_H

#include <stdbool.h>
#include <stddef.h>

enum lmtp_dot_state {
	LMTP_DOT_LINE_START,
	LMTP_DOT_MIDDLE,
	LMTP_DOT_DOT,      /* a '.' at a line start, held back */
	LMTP_DOT_DOT_CR,   /* ".\r" at a line start, held back */
	LMTP_DOT_DONE,
};

struct lmtp_dot {
	enum lmtp_dot_state state;
};

void lmtp_dot_init(struct lmtp_dot *dot);
/* Feeds len octets of DATA; out (room for len + 1 octets: a held-back
 * CR may come out) receives the unstuffed bytes, *out_len_r their
 * count. Returns the input octets consumed: all of them, or fewer when
 * the end of data was reached (the rest is the next command). */
size_t lmtp_dot_feed(struct lmtp_dot *dot, const char *in, size_t len,
		     char *out, size_t *out_len_r);
/* True once the terminating "." line has been seen. */
bool lmtp_dot_done(const struct lmtp_dot *dot);

#endif
