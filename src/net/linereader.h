/* linereader.h: a bounded line reader over a fixed input buffer.
 *
 * Bytes are appended as they arrive; lines ending in LF (CRLF or bare LF;
 * the CR is stripped) are handed out one at a time. A line longer than
 * max_line octets (counting its CRLF, RFC 2449 section 4) is reported once
 * as LINE_TOO_LONG and the rest of it, up to its LF, is thrown away: we
 * never act on half a line.
 *
 * The buffer (LINEREADER_BUF octets) is allocated when bytes arrive and
 * freed by linereader_release_if_empty() once they are all consumed, so
 * an idle connection holds none (1 KB each: a worker holds thousands).
 * linereader_set_limit() can raise the limit for a while (a SASL
 * exchange, RFC 5034 4.); a buffer of that size is kept until the limit
 * is lowered again and the unread bytes fit the ordinary one. */
#ifndef SATCHEL_LINEREADER_H
#define SATCHEL_LINEREADER_H

#include <stdbool.h>
#include <stddef.h>

#include "net/net_limits.h"


enum line_status {
	LINE_NONE,      /* no complete line buffered */
	LINE_OK,        /* *line_r points at a NUL-terminated line */
	LINE_TOO_LONG,  /* an over-long line was dropped */
};

struct linereader {
	char *data;         /* cap + 1 octets, or NULL when none is held */
	size_t cap;         /* size of the buffer (to be) used */
	size_t start, len;  /* unread bytes are data[start .. start+len) */
	size_t max_line;    /* including CRLF */
	bool discarding;    /* inside the tail of an over-long line */
	bool nul_seen;      /* the returned line contained a NUL byte */
};

void linereader_init(struct linereader *lr, size_t max_line);
/* Wipes and frees the buffer, if any. */
void linereader_deinit(struct linereader *lr);
/* Wipes and frees the buffer when nothing is buffered and the limit is
 * the ordinary one (the connection went idle). */
void linereader_release_if_empty(struct linereader *lr);
/* Sets the line limit (with CRLF). Above LINEREADER_BUF the buffer grows
 * to max_line octets at the next linereader_space() (which gives no room
 * when that fails), never during the call: a line taken from the buffer
 * stays valid until it is handled. The big buffer goes once it is
 * drained down to what the ordinary one holds. Returns 0. */
int linereader_set_limit(struct linereader *lr, size_t max_line);
/* Where to put new bytes, and how many fit (0 when full: consume lines
 * first). Allocates the buffer when none is held: NULL with *size_r 0
 * when out of memory. */
char *linereader_space(struct linereader *lr, size_t *size_r);
void linereader_added(struct linereader *lr, size_t n);
/* Next line. LINE_OK lines stay valid until the next call. *len_r excludes
 * the line end. nul_seen is set when the line held a NUL byte. */
enum line_status linereader_next(struct linereader *lr, char **line_r,
				 size_t *len_r);
/* Octets that can be added before lines must be consumed (a hint: the
 * space may grow when linereader_space() compacts). */
size_t linereader_room(const struct linereader *lr);
/* The unread bytes (a partial line), without consuming them: *len_r
 * octets, valid until the next call. */
const char *linereader_pending(const struct linereader *lr, size_t *len_r);
/* Drops everything buffered (STLS: bytes sent before the handshake); the
 * buffer stays (a line handed out may still be in use). */
void linereader_clear(struct linereader *lr);
/* True when bytes are buffered (a pipelined command may be waiting). */
bool linereader_has_data(const struct linereader *lr);

#endif
