/* cmd_xtnd.h: XTND (RFC 1082's extension command, as qpopper offers it)
 * with its one subcommand here, XMIT: a client sends a message through
 * its POP3 session (xtnd_xmit = yes; after login; TLS or loopback only).
 *
 *   C: XTND XMIT
 *   S: +OK Start sending message.
 *   C: the message, dot-stuffed, then "."
 *   S: +OK Message sent        or   -ERR why
 *
 * The envelope sender is the logged-in user (user@xtnd_xmit_domain when
 * the login name has no domain); a From: or Sender: of anyone else is
 * refused unless xtnd_xmit_any_from. The recipients are To:, Cc: and
 * Bcc: (Bcc: removed), the size and the count per user and hour are
 * limited, and the relay (xmit_relay.h) runs on the worker's relay pool
 * while the session waits, as it does for a store job. */
#ifndef SATCHEL_CMD_XTND_H
#define SATCHEL_CMD_XTND_H

#include <stddef.h>

#include "serve/cmdparse.h"

struct session;

enum cmd_outcome cmd_xtnd(struct session *s, const struct cmd_args *args);
/* While s->xmit is set: one line of the message (NUL-terminated, without
 * CRLF; s->in.nul_seen says whether it held a NUL). */
enum cmd_outcome cmd_xtnd_line(struct session *s, char *line, size_t len);
/* A message line longer than XMIT_LINE_MAX was dropped: the message is
 * refused at its end. */
void cmd_xtnd_too_long(struct session *s);
/* The CAPA line, when XTND XMIT is usable on this connection now. */
void cmd_xtnd_capa(struct session *s);
/* The session ends: a message being received is dropped; a relay that
 * runs completes without the session (the message was whole). */
void cmd_xtnd_detach(struct session *s);

#endif
