/* fetch_configure.h: `satchel fetch --configure ADDRESS`: finds the
 * POP3 server of an e-mail address by the SRV records of its domain
 * (RFC 6186; RFC 8314 5.1: _pop3s._tcp, implicit TLS, before
 * _pop3._tcp, STLS) and prints an account block of the accounts file
 * (fetch_config.h) for the user to review, with every record found as
 * a comment. Nothing is connected to, and no host name is guessed: a
 * domain without the records gets none.
 *
 * ADDRESS is local@domain: the local part an RFC 5322 dot-atom of
 * ASCII (a quoted local part, or a bare domain, is refused: the local
 * part is the login name the block needs), the domain an ASCII host
 * name (an internationalized one in its xn-- form). */
#ifndef SATCHEL_FETCH_CONFIGURE_H
#define SATCHEL_FETCH_CONFIGURE_H

#include <stddef.h>
#include <stdio.h>

#include "fetch/fetch_srv.h"

#define FETCH_CONFIGURE_LOCAL_MAX 64     /* RFC 5321 4.5.3.1.1 */
#define FETCH_CONFIGURE_DOMAIN_MAX 253   /* the longest DNS name */

/* The services asked for, in the order of preference. */
enum fetch_configure_service {
	FETCH_CONFIGURE_POP3S,   /* _pop3s._tcp: pops:// */
	FETCH_CONFIGURE_POP3,    /* _pop3._tcp: pop://, STLS required */
	FETCH_CONFIGURE_SERVICES,
};

/* What the lookups found for one address. */
struct fetch_configure_found {
	const char *local;       /* checked by fetch_configure_address */
	const char *domain;
	const char *dest;        /* the block's "to" */
	struct fetch_srv_list lists[FETCH_CONFIGURE_SERVICES]; /* sorted */
};

/* Splits address into its local part and its domain (lower-cased,
 * without a final dot, short enough to take "_pop3s._tcp." before it).
 * 0, or -1 with *error_r (static text). */
int fetch_configure_address(const char *address, char *local,
			    size_t local_size, char *domain,
			    size_t domain_size, const char **error_r);

/* Writes to out the records of f as comment lines and the [local@domain]
 * block whose url is the first usable record (a host name, a port) of
 * the first service that has one. FETCH_EXIT_OK; FETCH_EXIT_UNAVAILABLE
 * with nothing written when there is none; FETCH_EXIT_IOERR when out
 * fails. *error_r (static text) says why it is not OK. */
int fetch_configure_print(FILE *out, const struct fetch_configure_found *f,
			  const char **error_r);

/* Writes the records of f as comment lines (also for an error). */
void fetch_configure_records(FILE *out,
			     const struct fetch_configure_found *f);

/* The whole of --configure: dest is the block's "to" (NULL:
 * maildir:$HOME/Maildir). Prints the block on stdout, reasons on
 * stderr. Returns FETCH_EXIT_OK; FETCH_EXIT_USAGE for a bad address or
 * dest; FETCH_EXIT_UNAVAILABLE when the domain has no usable POP3 SRV
 * record (none, or only "." targets: not offered, RFC 2782);
 * FETCH_EXIT_TEMPFAIL when a lookup failed (SERVFAIL, timeout,
 * REFUSED): its answer might have changed the choice; FETCH_EXIT_IOERR
 * when stdout fails. */
int fetch_configure(const char *address, const char *dest);

#endif
