/* proxyticket.h: a proxy's word for a login it checked (proxy mode).
 *
 * A proxy that authenticated a client by a mechanism that never hands it
 * the password (SCRAM, GSSAPI, OAUTHBEARER, EXTERNAL, APOP) cannot repeat
 * the client's login at the backend, and one that could should not have
 * to pass the password on. With proxy_ticket_key set, the proxy's auth
 * process gives each granted login a ticket, which the proxy's worker
 * sends to the backend as the password (PASS):
 *
 *     satchel-ticket:1:EXPIRY:NONCE:MAC
 *
 * EXPIRY is a Unix time PROXYTICKET_SECS ahead, NONCE 32 hex digits of
 * randomness, MAC the hex HMAC-SHA256 of "1:EXPIRY:NONCE:USER" under the
 * key the proxies and backends share. A backend's auth process takes it
 * in place of the user's password only on a session that came through a
 * trusted proxy (a PROXY header from proxy_trusted), for the user named
 * in the MAC, before EXPIRY, and each NONCE once. A stolen ticket is one
 * user's, for seconds, and on one backend. */
#ifndef SATCHEL_PROXYTICKET_H
#define SATCHEL_PROXYTICKET_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define PROXYTICKET_SECS 20         /* how long a ticket is good */
#define PROXYTICKET_SKEW_SECS 30    /* clock difference tolerated */
#define PROXYTICKET_MAX 136         /* the text, with its NUL */
#define PROXYTICKET_KEY_MIN 32      /* octets of the key file */
#define PROXYTICKET_KEY_MAX 256

struct proxyticket_key {
	unsigned char octets[PROXYTICKET_KEY_MAX];
	size_t len;                     /* 0: no key, tickets off */
};

/* Reads the key file (at least PROXYTICKET_KEY_MIN octets, not readable
 * by group or others). 0, or -1 with *error_r. */
int proxyticket_key_load(const char *path, struct proxyticket_key *key,
			 const char **error_r);

/* A ticket for user, good from now on. 0, or -1 (no randomness, or out
 * too small). */
int proxyticket_mint(const struct proxyticket_key *key, const char *user,
		     time_t now, char *out, size_t size);

/* True when text has the form of a ticket (it is then never checked as
 * a password). */
bool proxyticket_is_ticket(const char *text);

/* True when ticket is good for user at now and its nonce was not seen
 * before (it is remembered until it expires). */
bool proxyticket_accept(const struct proxyticket_key *key, const char *user,
			const char *ticket, time_t now);

#endif
