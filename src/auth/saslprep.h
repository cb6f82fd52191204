/* saslprep.h: SASLprep (RFC 4013, through GNU SASL's gsasl_saslprep),
 * the one preparation of user names and passwords that are Unicode, so
 * a name typed in another normalisation form (NFD "o" + U+0308 against
 * NFC U+00F6), or with a no-break space, is the same name:
 *
 *   - the session prepares what a client sends in UTF-8 mode (RFC 6856
 *     3., serve/cmd_utf8.h) as a query (unassigned code points allowed);
 *   - loginname_normalize() prepares every non-ASCII name before a
 *     lookup, so USER, APOP and the SASL mechanisms find the same user;
 *   - `satchel user` stores names and new passwords prepared as stored
 *     strings (unassigned code points refused, RFC 4013 2.).
 *
 * ASCII without control characters is its own preparation: no call is
 * made for it, so every ASCII name and password stays as it was. */
#ifndef SATCHEL_SASLPREP_H
#define SATCHEL_SASLPREP_H

#include <stdbool.h>
#include <stddef.h>

enum saslprep_profile {
	SASLPREP_QUERY,   /* what a client sent */
	SASLPREP_STORED,  /* what a database is to hold */
};

/* RFC 3629 UTF-8: no NUL, no overlongs, no surrogates, <= U+10FFFF. */
bool saslprep_utf8_valid(const char *s, size_t len);
/* Whether any octet of s is 0x80 or above. */
bool saslprep_non_ascii(const char *s);

/* in (NUL-terminated UTF-8) prepared into out (size octets). 0, or -1
 * when it is not UTF-8, SASLprep refuses it (prohibited or, as a stored
 * string, unassigned code points; bidi rules), the result is empty, or
 * does not fit. Intermediate copies are wiped (passwords pass here). */
int saslprep_string(const char *in, enum saslprep_profile profile,
		    char *out, size_t size);

#endif
