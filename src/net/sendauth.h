/* sendauth.h: the server side of the Kerberos 5 "sendauth" exchange
 * (MIT krb5_sendauth / krb5_recvauth; Heimdal speaks the same), which
 * KPOP (fetchmail's `proto KPOP` with `auth kerberos_v5`, port 1109)
 * runs before the POP3 greeting. Only the framing: verifying the AP_REQ
 * needs the keytab, which only the auth process holds.
 *
 * On the wire every message is a 4-octet big-endian length and that many
 * octets:
 *
 *	client: "KRB5_SENDAUTH_V1.0" NUL    (the protocol's version)
 *	client: application version NUL     (fetchmail: "KPOPV1.0")
 *	server: one octet, 0 = go on, 1 = not that sendauth version,
 *	        2 = not that application version (then the server closes)
 *	client: the AP_REQ (RFC 4120 5.5.1), ticket for "pop/<host>"
 *	server: an empty message when the AP_REQ verified, else a
 *	        KRB_ERROR (RFC 4120 5.9.1) and the server closes
 *	server: the AP_REP (RFC 4120 5.5.2) when the AP_REQ asked for
 *	        mutual authentication (fetchmail always does)
 *
 * after which the connection is plain POP3 (the greeting, then USER and
 * a PASS whose text is not checked). Kerberos IV's "KPOPV0.1" exchange is
 * not this and is refused (reply octet 2).
 *
 * Every length is bounded before anything is buffered, so a peer cannot
 * make a worker hold more than SENDAUTH_AP_REQ_MAX octets. Untrusted
 * input; the parsers never read past len. */
#ifndef SATCHEL_SENDAUTH_H
#define SATCHEL_SENDAUTH_H

#include <stddef.h>
#include <stdint.h>

#define SENDAUTH_VERSION "KRB5_SENDAUTH_V1.0"
/* The application version fetchmail's kerberos5_auth sends. */
#define SENDAUTH_KPOP_VERSION "KPOPV1.0"
/* A version string longer than this (its NUL included) is not one we
 * know: refused when its length arrives. */
#define SENDAUTH_VERSION_MAX 64
/* An AP_REQ is a ticket and an authenticator: ~600 octets from an MIT
 * KDC, up to ~12 KB with an Active Directory PAC of many groups. The
 * bound is what the auth protocol carries (AUTH_SASL_DATA_MAX). */
#define SENDAUTH_AP_REQ_MAX 49152
/* Octets of a message's length field. */
#define SENDAUTH_LEN_OCTETS 4

/* The reply octet after the two version strings. */
enum sendauth_reply {
	SENDAUTH_REPLY_OK = 0,
	SENDAUTH_REPLY_BAD_VERSION = 1,
	SENDAUTH_REPLY_BAD_APPL = 2,
};

enum sendauth_result {
	SENDAUTH_MORE,   /* a valid beginning: read more */
	SENDAUTH_DONE,   /* parsed: *used_r octets */
	SENDAUTH_BAD,    /* refused: *error_r (and for the versions a reply
			    octet to send before closing) */
};

/* The client's two version strings at the start of buf (len octets).
 * DONE when both are there, SENDAUTH_VERSION and appl_version exactly
 * (each sent with its NUL), with *used_r their octets. BAD with
 * *reply_r (SENDAUTH_REPLY_BAD_*) and *error_r (static text) for another
 * version or a length above SENDAUTH_VERSION_MAX, known as soon as its
 * length field has arrived. */
enum sendauth_result sendauth_parse_versions(const unsigned char *buf,
					     size_t len,
					     const char *appl_version,
					     size_t *used_r,
					     enum sendauth_reply *reply_r,
					     const char **error_r);

/* One message of at most max octets at the start of buf: DONE with
 * *msg_r pointing into buf, *msg_len_r its length (0 is refused: no
 * AP_REQ is empty) and *used_r the octets with the length field. BAD
 * with *error_r for an empty message or a length above max, known as
 * soon as the length field has arrived. */
enum sendauth_result sendauth_parse_message(const unsigned char *buf,
					    size_t len, size_t max,
					    const unsigned char **msg_r,
					    size_t *msg_len_r, size_t *used_r,
					    const char **error_r);

/* Writes msg (len octets, 0 for sendauth's empty "no error" message)
 * with its length field to out. Returns the octets written, or -1 when
 * they do not fit in size or len does not fit the length field. */
long sendauth_encode_message(const void *msg, size_t len, unsigned char *out,
			     size_t size);

#endif
