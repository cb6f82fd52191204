/* httpreq.h: the head of an HTTP/1.x request (RFC 9112), as the metrics
 * endpoint needs it: the request line and the end of the header fields.
 * The bytes are untrusted (any peer that can reach metrics_listen). */
#ifndef SATCHEL_HTTPREQ_H
#define SATCHEL_HTTPREQ_H

#include <stddef.h>

#define HTTPREQ_METHOD_MAX 16
#define HTTPREQ_TARGET_MAX 256

enum httpreq_status {
	HTTPREQ_MORE,   /* the head is not complete yet */
	HTTPREQ_DONE,   /* req is filled; *used_r octets were the head */
	HTTPREQ_BAD,    /* not a request we answer: 400 with *error_r */
};

struct httpreq {
	char method[HTTPREQ_METHOD_MAX];   /* a token, as sent */
	char target[HTTPREQ_TARGET_MAX];   /* the path, query cut off */
	unsigned version_minor;            /* HTTP/1.0 or HTTP/1.1 */
};

/* Parses buf[0..len): the request line, then header field lines (their
 * form is checked, their content ignored) up to the empty line. A bare
 * LF ends a line like CRLF (RFC 9112 2.2 allows it). Lines starting with
 * blanks (obsolete folding) and a request line longer than the target
 * or method bounds are HTTPREQ_BAD. The caller bounds len. */
enum httpreq_status httpreq_parse(const char *buf, size_t len,
				  struct httpreq *req, size_t *used_r,
				  const char **error_r);

#endif
