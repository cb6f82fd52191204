/* xmit_relay.h: hands a message XTND XMIT received to the mail system,
 * blocking (it runs on the worker's relay pool, never on its loop):
 * over SMTP to xtnd_xmit_relay (RFC 5321: EHLO or HELO, MAIL, one RCPT
 * per recipient, DATA), or to a sendmail program (sendmail -i -f SENDER
 * -- RCPT...: the recipients XTND XMIT checked, Bcc: already removed),
 * both bounded by one deadline. */
#ifndef SATCHEL_XMIT_RELAY_H
#define SATCHEL_XMIT_RELAY_H

#include <stddef.h>

#include "serve/xmit_msg.h"

struct xmit_relay_settings {
	char host[256];      /* "" = run sendmail */
	char port[8];
	char sendmail[256];  /* absolute path */
	char helo[256];      /* our name in EHLO */
	unsigned timeout_secs; /* the whole hand-over */
};

enum xmit_relay_result {
	XMIT_RELAY_OK = 0,
	XMIT_RELAY_TEMP = -1,   /* 4xx, no connection, timeout, EX_TEMPFAIL */
	XMIT_RELAY_PERM = -2,   /* 5xx, any other sendmail failure */
};

/* Sends the len octets at msg (CRLF lines, not dot-stuffed) from sender
 * to every address of rcpts. Returns XMIT_RELAY_OK, or TEMP / PERM with
 * reason set (printable ASCII only, for the client and the log: the
 * relay's reply is untrusted text). */
int xmit_relay_send(const struct xmit_relay_settings *set,
		    const char *sender, const struct xmit_addrs *rcpts,
		    const char *msg, size_t len, char *reason,
		    size_t reason_size);

#endif
