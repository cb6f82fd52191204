/* fetch_fingerprint.h: a message's identity from its header alone, for
 * finding the messages already fetched when a server changed all its
 * UIDLs (a migration): the header as TOP n 0 sends it there, and as the
 * stored copy has it here, give the same fingerprint.
 *
 * It is the digest of the values (fetch_header.h: unfolded, white space
 * runs one space) of the first Message-ID, Date, From and Subject. A
 * message that has none of the four has no fingerprint: it is never
 * matched, so it is fetched. */
#ifndef SATCHEL_FETCH_FINGERPRINT_H
#define SATCHEL_FETCH_FINGERPRINT_H

#include <stdbool.h>
#include <stddef.h>

#include "store/uidl.h"

#define FETCH_FINGERPRINT_HEX UIDL_DIGEST_HEX

/* The fingerprint of the message (or header) msg into out
 * (FETCH_FINGERPRINT_HEX + 1 octets): true, or false when it has none. */
bool fetch_fingerprint(const char *msg, size_t len, char *out);

#endif
