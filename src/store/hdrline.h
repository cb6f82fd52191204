/* hdrline.h: one header field's value from the raw lines of a stored
 * message (untrusted bytes): what the mbox reader takes X-UIDL,
 * Message-ID and Date from, and what `satchel migrate uidl --from x-uidl`
 * reads from Maildir files. No unfolding: the fields looked up here are
 * one-line tokens. */
#ifndef SATCHEL_HDRLINE_H
#define SATCHEL_HDRLINE_H

#include <stddef.h>

/* When *value_r is still NULL (the first occurrence wins) and the line of
 * len octets (its LF included, if any) is the field name (with its ':',
 * case-insensitive), points *value_r into line at the value with the
 * blanks around it and the line end stripped. */
void hdrline_value(const char *line, size_t len, const char *name,
		   const char **value_r, size_t *value_len_r);

/* The first field name (with ':') in the header section of the len
 * octets at msg (until the first empty line, LF or CRLF). Returns 1 with
 * the value as hdrline_value gives it, 0 when there is none in those
 * octets, -1 when the field is folded (its value goes on on the next
 * line: not a one-line token). */
int hdrline_find(const char *msg, size_t len, const char *name,
		 const char **value_r, size_t *value_len_r);

#endif
