/* fetch_header.h: fields of a message header as the fetch client reads
 * them (a TOP n 0 reply, the start of a stored file): the first field
 * of a name (matched without case), unfolded, runs of white space made
 * one space, the ends trimmed, CRs in values ignored (CRLF and LF read
 * alike).
 * The header ends at the first empty line or at the end of the text. */
#ifndef SATCHEL_FETCH_HEADER_H
#define SATCHEL_FETCH_HEADER_H

#include <stdbool.h>
#include <stddef.h>

/* The value of field name of the header at the start of msg into out
 * (NUL-terminated, cut at size - 1 octets; size >= 1). true when the
 * header has the field. */
bool fetch_header_get(const char *msg, size_t len, const char *name,
		      char *out, size_t size);

#endif
