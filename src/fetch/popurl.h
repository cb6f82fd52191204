/* popurl.h: RFC 2384 POP URLs, as `satchel fetch` takes them.
 *
 *	pop://user;AUTH=mech@host:port       (STLS, port 110 by default)
 *	pops://user;AUTH=mech@host:port      (implicit TLS, RFC 8314, 995)
 *
 * pop3:// and pop3s:// are aliases. user and mech are %-decoded (RFC
 * 2384 3.: "achar"s, with ';' '@' ':' '/' and '%' escaped); host is a
 * DNS name, an IPv4 literal or an IPv6 literal in brackets ([::1]). A
 * password in the URL (user:password@) is refused: RFC 2384 gives no
 * place for one. A path, query or fragment other than an empty "/" is
 * refused. The scheme and "AUTH=" are case-insensitive. */
#ifndef SATCHEL_POPURL_H
#define SATCHEL_POPURL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POPURL_USER_MAX 255
#define POPURL_HOST_MAX 255
#define POPURL_AUTH_MAX 40     /* SASL names are at most 20 (RFC 4422) */

enum popurl_auth {
	POPURL_AUTH_USER,      /* no ;AUTH=: USER/PASS (RFC 2384 3.) */
	POPURL_AUTH_ANY,       /* ;AUTH=*: the best the server offers */
	POPURL_AUTH_APOP,      /* ;AUTH=+APOP */
	POPURL_AUTH_SASL,      /* ;AUTH=NAME: that SASL mechanism only */
};

struct popurl {
	bool implicit_tls;                 /* pops:// or pop3s:// */
	char user[POPURL_USER_MAX + 1];    /* decoded; "" when absent */
	enum popurl_auth auth;
	char mech[POPURL_AUTH_MAX + 1];    /* SASL name, upper-cased, for
					      POPURL_AUTH_SASL; else "" */
	char host[POPURL_HOST_MAX + 1];    /* without brackets for IPv6 */
	uint16_t port;                     /* given, else 110 or 995 */
};

/* Parses text into *url. 0, or -1 with *error_r (static text saying
 * what is wrong: "a password in the URL is not allowed (RFC 2384)",
 * "unknown scheme", "bad port", ...). A decoded user holding a NUL or
 * a control byte is refused. */
int popurl_parse(const char *text, struct popurl *url, const char **error_r);

/* Writes the URL back (user and mech %-encoded where needed), for logs
 * and --serverinfo. Returns the length, or -1 when size is too small. */
int popurl_format(const struct popurl *url, char *out, size_t size);

#endif
