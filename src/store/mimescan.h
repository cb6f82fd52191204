/* mimescan.h: does a stored message need UTF-8 mode (RFC 6856 5.)? It
 * does when a header, of the message or of any MIME part (RFC 2046
 * multipart bodies, and the header of a message/rfc822 or message/global
 * part), has an octet above 0x7F. Bodies may hold 8-bit text: a client
 * without UTF8 has always taken that (8BITMIME).
 *
 * One streaming pass over the message as stored (any line ends, lines of
 * any length: only their first MIMESCAN_LINE_MAX octets are looked at
 * for boundaries and Content-Type). Untrusted input. */
#ifndef SATCHEL_MIMESCAN_H
#define SATCHEL_MIMESCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* RFC 2046 5.1.1: a boundary is at most 70 characters. */
#define MIMESCAN_BOUNDARY_MAX 70
/* Nested multiparts followed; deeper ones are scanned as bodies. */
#define MIMESCAN_DEPTH_MAX 16
/* Octets of a line kept (a boundary line, a Content-Type field). */
#define MIMESCAN_LINE_MAX 1024

struct mimescan {
	bool in_header;        /* in the header of the message or a part */
	bool found;            /* a header octet above 0x7F was seen */
	bool field_is_ct;      /* the field being read is Content-Type */
	bool part_is_message;  /* that Content-Type is message/rfc822|global */
	char line[MIMESCAN_LINE_MAX];
	size_t line_len;       /* octets kept (the line may be longer) */
	char ct[MIMESCAN_LINE_MAX]; /* the unfolded Content-Type value */
	size_t ct_len;
	unsigned depth;
	char boundary[MIMESCAN_DEPTH_MAX][MIMESCAN_BOUNDARY_MAX + 1];
};

void mimescan_init(struct mimescan *ms);
/* Feeds the next len octets; returns true once the answer is known
 * (found: no more input is needed). */
bool mimescan_feed(struct mimescan *ms, const char *data, size_t len);
/* The answer after the whole message was fed. */
bool mimescan_needs_utf8(struct mimescan *ms);

/* The whole pass over a message read through read(ctx, buf, size) (a
 * count, 0 at the end, -1 on error): 1 when it needs UTF-8 mode, 0 when
 * not, -1 on a read error. */
int mimescan_message(ssize_t (*read)(void *ctx, char *buf, size_t size),
		     void *ctx);

#endif
