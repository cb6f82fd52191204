/* xmit_msg.h: what XTND XMIT needs from a message a client sends (all of
 * it untrusted): the From: and Sender: addresses to check against the
 * logged-in user, the recipients from To:, Cc: and Bcc: (as sendmail -t
 * takes them), and the message without its Bcc: fields. */
#ifndef SATCHEL_XMIT_MSG_H
#define SATCHEL_XMIT_MSG_H

#include <stdbool.h>
#include <stddef.h>

/* RFC 5321 4.5.3.1.3: a path is at most 256 octets with its <>. */
#define XMIT_ADDR_MAX 254
/* RFC 5321 4.5.3.1.8: 100 recipients is the least a server must take;
 * a message for more is not what XTND XMIT is for. */
#define XMIT_RCPT_MAX 100

struct xmit_addrs {
	unsigned count;
	char addr[XMIT_RCPT_MAX][XMIT_ADDR_MAX + 1];
};

/* Adds the addresses of one address-list value (RFC 5322 3.4: display
 * names, quoted strings, comments, angle addresses, groups; CR, LF and
 * blanks between tokens are ignored, so a folded value can be passed as
 * it stands) to list, each once (compared case-insensitively). Returns 0,
 * or -1 with *error_r (static text for the client): a malformed list, an
 * address that is not local@domain in printable ASCII, too long, or more
 * than XMIT_RCPT_MAX in all. */
int xmit_addr_list(const char *value, size_t len, struct xmit_addrs *list,
		   const char **error_r);

/* True for local@domain in printable ASCII (a blank only in a quoted
 * local part), at most XMIT_ADDR_MAX
 * octets, without <> (what may go in MAIL FROM and RCPT TO). */
bool xmit_addr_valid(const char *addr);

/* True when two addresses are the same mailbox as we compare them (ASCII
 * case-insensitive: the local part too, as every MTA here treats it). */
bool xmit_addr_equal(const char *a, const char *b);

/* Reads the header of the len octets at msg (CRLF or LF lines; it ends
 * at the first empty line or at the end): From: and Sender: addresses
 * into from, To:, Cc: and Bcc: into rcpts, and writes the message
 * without its Bcc: fields (continuation lines included) to out, which has
 * room for len octets (*out_len_r set). Returns 0, or -1 with *error_r:
 * a header line that is neither a field nor a continuation, or a bad
 * address list as xmit_addr_list() says. */
int xmit_msg_parse(const char *msg, size_t len, struct xmit_addrs *from,
		   struct xmit_addrs *rcpts, char *out, size_t *out_len_r,
		   const char **error_r);

/* One SMTP reply line (without CRLF; RFC 5321 4.2: three digits, then
 * '-' for a line that more follow, ' ' or nothing for the last). Returns
 * 0 with the code and *more_r, -1 for anything else. */
int xmit_smtp_reply_line(const char *line, size_t len, unsigned *code_r,
			 bool *more_r);

#endif
