/* stdio.h: `satchel serve --stdio`: one POP3 session on stdin/stdout
 * (inetd mode; the dialogue tests of tests/dialogue run through it).
 *
 * The session runs through the same code as the network server: an auth
 * process of its own (forked, connected by a socketpair, running as
 * auth_user, the only process that reads the user database), a worker
 * loop with the session and command code, and the same store, as
 * mail_user when started as root (as the current user otherwise). */
#ifndef SATCHEL_STDIO_H
#define SATCHEL_STDIO_H

#include "config/config.h"
#include "util/privdrop.h"

struct tls_ctx;

/* Call before log_init: inetd hands the client's socket over as fd 0, 1
 * and 2, so with log = stderr and fd 2 on the same file as fd 0 or 1 the
 * log goes to syslog instead (a log line must never reach the client). */
void stdio_log_guard(struct config *cfg);

/* Runs the session on fd 0 (read) and fd 1 (write), which may be one
 * socket or two pipes, until it ends (QUIT, EOF, timeout, SIGTERM).
 * tls (may be NULL) serves STLS. Returns a sysexits status: EX_OK,
 * EX_OSERR when the processes or descriptors cannot be set up,
 * EX_NOINPUT when fd 0 or fd 1 is not open. */
int stdio_run(const struct config *cfg, struct tls_ctx *tls,
	      const struct privdrop *mail_priv,
	      const struct privdrop *auth_priv);

#endif
