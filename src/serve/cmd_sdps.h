/* cmd_sdps.h: Demon Internet's Standard Dial-up POP3 Service (SDPS) on
 * the server side: "*ENV n" tells a multidrop client (one account that
 * collects a whole domain's mail: fetchmail's proto SDPS, getmail's
 * MultidropSDPSRetriever, satchel fetch --sdps) the SMTP envelope of
 * message n, so it can hand each message to its own recipient:
 *
 *   C: *ENV 1
 *   S: +OK envelope follows
 *   S: the login name               (ignored by the clients)
 *   S: the message's UIDL           (ignored by the clients)
 *   S: the envelope sender          (an empty line for <>)
 *   S: the envelope recipient
 *   S: .
 *
 * The envelope is what the final delivery wrote on top of the message
 * (store/envelope.h: Return-Path, X-Original-To, Delivered-To). fetchmail
 * reads the five lines without looking at the status, so a message
 * whose delivery recorded no recipient still gets all of them: the
 * recipient is then the account itself (its name, with @hostname when
 * it has no domain), where a client without SDPS would have put it.
 *
 * Opt-in (sdps = yes, or a list of domains whose users get it): the
 * envelope tells who else a message went to at that domain. CAPA lists
 * SDPS exactly where *ENV answers; the "user+host" logins are
 * login_sdps (auth/loginname.h). */
#ifndef SATCHEL_CMD_SDPS_H
#define SATCHEL_CMD_SDPS_H

#include "serve/cmdparse.h"

struct session;

enum cmd_outcome cmd_sdps_env(struct session *s, const struct cmd_args *args);
/* The CAPA line: before login when any user may have SDPS, after login
 * when this one has. */
void cmd_sdps_capa(struct session *s);

#endif
