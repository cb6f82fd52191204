/* fetch_fingerprint.h: a message's identity from its header alone, for
 * finding the messages already fetched when a server changed all its
 * UIDLs (a migration): the header as TOP n 0 sends it here, and as the
 * stored copy has it there, give the same fingerprint.
 *
 * It is the digest of the unfolded values of Message-ID, Date, From and
 * Subject (the first of each; runs of white space made one space, ends
 * trimmed; names matched without case). A message that has none of the
 * four has no fingerprint: it is never matched, so it is fetched. */
#ifndef SATCHEL_FETCH_FINGERPRINT_H
#define SATCHEL_FETCH_FINGERPRINT_H

#include <stdbool.h>
#include <stddef.h>

#include "store/uidl.h"

#define FETCH_FINGERPRINT_HEX UIDL_DIGEST_HEX

struct fetch_fingerprint;

/* A reader fed the message (or its header) in pieces of any size; it
 * stops looking at the first empty line. */
struct fetch_fingerprint *fetch_fingerprint_new(void);
void fetch_fingerprint_feed(struct fetch_fingerprint *fp, const char *data,
			    size_t len);
/* The fingerprint into out (FETCH_FINGERPRINT_HEX + 1 octets): true, or
 * false when the header had none of the four fields. Resets the reader
 * for the next message. */
bool fetch_fingerprint_finish(struct fetch_fingerprint *fp, char *out);
void fetch_fingerprint_free(struct fetch_fingerprint **fpp);

#endif
