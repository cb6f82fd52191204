/* loginname.h: the one normalisation of a login name, applied before
 * every lookup of a name a client sent (USER, APOP, the SASL mechanisms'
 * authentication identity), so every way of logging in finds the same
 * user:
 *
 *   - a UTF-8 name is SASLprep'd (RFC 4013, auth/saslprep.h), so its
 *     Unicode form does not matter (the stored names are prepared too:
 *     `satchel user` writes them so);
 *   - the domain (after the last separator) is lower-cased: DNS names
 *     are case-insensitive (RFC 4343);
 *   - login_percent_domain: "user%domain" is "user@domain" (the form of
 *     clients whose '@' is taken by a relay);
 *   - login_sdps: "user+host" is "user@host" (Demon's SDPS logins);
 *   - default_domain: a name without a domain gets it;
 *   - login_lowercase: the local part is lower-cased too.
 *
 * The result must still be a name mailpath_user_valid() accepts and has
 * at most one '@', else it is no name at all: it never selects another
 * user's maildrop, and the login fails as an unknown user does. The
 * canonical name the auth reply carries is the database's, so the lock,
 * the limits and the mail path follow that. */
#ifndef SATCHEL_LOGINNAME_H
#define SATCHEL_LOGINNAME_H

#include <stddef.h>

#include "auth/auth_settings.h"

/* in into out (size octets). 0, or -1 when the name is not usable. */
int loginname_normalize(const struct auth_settings *set, const char *in,
			char *out, size_t size);
/* Delivery addresses (LMTP RCPT, satchel deliver -d): only the domain
 * is lower-cased, and the local part with login_lowercase; '%' and '+'
 * keep their meaning in an address (RFC 5321; '+' is a subaddress). */
int loginname_normalize_address(const struct auth_settings *set,
				const char *in, char *out, size_t size);

#endif
