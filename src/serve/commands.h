/* commands.h: the POP3 command table (RFC 1939, RFC 2449) and CAPA. */
#ifndef SATCHEL_COMMANDS_H
#define SATCHEL_COMMANDS_H

#include "serve/cmdparse.h"

struct session;

/* Parses and runs one command line (NUL-terminated, no CRLF). Answers
 * wrong state and argument counts before any handler runs. */
enum cmd_outcome commands_dispatch(struct session *s, char *line);

/* RFC 1939 3.: arg as the number of a message not marked deleted, into
 * a 0-based index. 0, or -1 with the -ERR reply queued. */
int commands_msg_number(struct session *s, const char *arg,
			unsigned *index_r);

#endif
