/* envelope.h: the SMTP envelope of a stored message, as the final
 * delivery recorded it at the top of the message (untrusted bytes):
 * what SDPS's *ENV tells a multidrop client (serve/cmd_sdps.h).
 *
 * Only the leading block of delivery fields counts: Return-Path,
 * Delivered-To and X-Original-To from the first line down to the first
 * field of another name. satchel's delivery (store/delivery.h) and
 * Postfix's local, virtual and pipe put them there; anything below is
 * text the message's sender wrote, which must not pick the recipient.
 *
 *   - sender: the first Return-Path's address, without <>, "" for the
 *     null sender <>;
 *   - recipient: the first X-Original-To (the address before aliasing,
 *     which a multidrop client maps to a local user), else the first
 *     Delivered-To (the final recipient: satchel writes it when a
 *     delivery had one recipient).
 *
 * An address is kept only when it is 1-ENVELOPE_ADDR_MAX octets of
 * printable ASCII without blanks or angle brackets, so it can go out
 * as one reply line and back into an SMTP path unchanged. */
#ifndef SATCHEL_ENVELOPE_H
#define SATCHEL_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>

/* RFC 5321 4.5.3.1: a 64-octet local part, '@', a 255-octet domain */
#define ENVELOPE_ADDR_MAX 320
/* what of a message is read for it: the block is at the very top */
#define ENVELOPE_HEAD_MAX 8192

struct envelope {
	bool have_sender, have_rcpt;
	char sender[ENVELOPE_ADDR_MAX + 1];   /* "" = the null sender */
	char rcpt[ENVELOPE_ADDR_MAX + 1];
};

/* Reads the block from the len octets at msg (the start of a message,
 * LF or CRLF lines; a last line without its end is ignored: it may be
 * cut). Never fails: what is absent or unusable is not "have". */
void envelope_parse(const char *msg, size_t len, struct envelope *env_r);

/* Whether addr (NUL-terminated) is usable as an envelope address. */
bool envelope_addr_valid(const char *addr);

#endif
